/**
 * Nix's worker ("daemon") protocol: what `nix-daemon` speaks on its socket
 * and, for `ssh-ng://` stores, on the stdin/stdout of `nix-daemon --stdio`.
 * This folder holds the pure codecs (no I/O beyond the streams handed in);
 * `lib/daemon/` runs sessions over them.
 *
 * All numbers are u64 little-endian; strings are a u64 length, the bytes and
 * zero padding to 8; lists are a u64 count and the items.
 *
 * Session (server side, per Nix's daemon.cc and worker-protocol-connection.cc):
 * 1. client: magic 0x6e697863; server: magic 0x6478696f and its version;
 *    client: its version. Both then use the lower of the two versions.
 * 2. (>= 1.38) client: its feature strings; server: its feature strings; the
 *    features in use are those both sides listed.
 * 3. client: (>= 1.14) u64 CPU affinity flag, and a u64 if it is set
 *    (obsolete); (>= 1.11) u64 reserveSpace (obsolete).
 * 4. server: (>= 1.33) its Nix version string; (>= 1.35) whether it trusts
 *    the client (0 unknown, 1 trusted, 2 not trusted); then stderr messages
 *    ending with STDERR_LAST (or STDERR_ERROR when it refuses the client).
 * 5. Operations until the client closes its side: a u64 op and its fields;
 *    the server answers with stderr messages (logs, activities) ending with
 *    STDERR_LAST then the op's reply, or with STDERR_ERROR and no reply.
 *
 * Version gates used here: 1.16 path-info ultimate/sigs/ca; 1.17 QueryPathInfo
 * answers a valid flag; 1.23 AddToStoreNar sends its NAR framed; 1.26 errors
 * as structured Error records (before: text and exit status); 1.27
 * QueryValidPaths carries a substitute flag; 1.28 BuildResult builtOutputs;
 * 1.29 BuildResult times; 1.30 derived paths as `drv!out1,out2`; 1.33 daemon
 * version string; 1.35 trust status; 1.37 BuildResult CPU times; 1.38 feature
 * exchange.
 *
 * @module
 */

/** The client's magic number, first on the wire. */
export const WORKER_MAGIC_1 = 0x6e697863;
/** The server's magic number, its first answer. */
export const WORKER_MAGIC_2 = 0x6478696f;

/** A protocol version: `major << 8 | minor` as on the wire. */
export type WorkerVersion = number;

/**
 * A version from its parts.
 *
 * @param major The major version (1).
 * @param minor The minor version.
 * @returns The version as on the wire.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workerVersion } from "./protocol.ts";
 * assert.equal(workerVersion(1, 34), 0x122);
 * ```
 */
export function workerVersion(major: number, minor: number): WorkerVersion {
  return (major << 8) | minor;
}

/**
 * The minor part of a version.
 *
 * @param v The version.
 * @returns Its minor number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workerMinor } from "./protocol.ts";
 * assert.equal(workerMinor(0x122), 34);
 * ```
 */
export function workerMinor(v: WorkerVersion): number {
  return v & 0xff;
}

/**
 * A version as `major.minor`.
 *
 * @param v The version.
 * @returns The text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatWorkerVersion } from "./protocol.ts";
 * assert.equal(formatWorkerVersion(0x126), "1.38");
 * ```
 */
export function formatWorkerVersion(v: WorkerVersion): string {
  return `${v >> 8}.${v & 0xff}`;
}

/** The newest version spoken (Nix master's, with its feature exchange). */
export const WORKER_PROTOCOL_VERSION: WorkerVersion = 0x126;
/** The version Nix 2.8 speaks. */
export const NIX_2_8_WORKER_VERSION: WorkerVersion = 0x122;
/** The oldest client version accepted (Nix 2.3's). */
export const OLDEST_WORKER_VERSION: WorkerVersion = 0x115;

/** Operation numbers (Nix's `WorkerProto::Op`). */
export const WorkerOp = {
  IsValidPath: 1,
  HasSubstitutes: 3,
  QueryPathHash: 4,
  QueryReferences: 5,
  QueryReferrers: 6,
  AddToStore: 7,
  AddTextToStore: 8,
  BuildPaths: 9,
  EnsurePath: 10,
  AddTempRoot: 11,
  AddIndirectRoot: 12,
  SyncWithGC: 13,
  FindRoots: 14,
  ExportPath: 16,
  QueryDeriver: 18,
  SetOptions: 19,
  CollectGarbage: 20,
  QuerySubstitutablePathInfo: 21,
  QueryDerivationOutputs: 22,
  QueryAllValidPaths: 23,
  QueryFailedPaths: 24,
  ClearFailedPaths: 25,
  QueryPathInfo: 26,
  ImportPaths: 27,
  QueryDerivationOutputNames: 28,
  QueryPathFromHashPart: 29,
  QuerySubstitutablePathInfos: 30,
  QueryValidPaths: 31,
  QuerySubstitutablePaths: 32,
  QueryValidDerivers: 33,
  OptimiseStore: 34,
  VerifyStore: 35,
  BuildDerivation: 36,
  AddSignatures: 37,
  NarFromPath: 38,
  AddToStoreNar: 39,
  QueryMissing: 40,
  QueryDerivationOutputMap: 41,
  RegisterDrvOutput: 42,
  QueryRealisation: 43,
  AddMultipleToStore: 44,
  AddBuildLog: 45,
  BuildPathsWithResults: 46,
  AddPermRoot: 47,
} as const;

/** The name of an operation. */
export type WorkerOpName = keyof typeof WorkerOp;

/**
 * The name of an operation number, if it is one.
 *
 * @param code The number from the wire.
 * @returns Its name, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workerOpName } from "./protocol.ts";
 * assert.equal(workerOpName(36), "BuildDerivation");
 * assert.equal(workerOpName(99), undefined);
 * ```
 */
export function workerOpName(code: bigint | number): WorkerOpName | undefined {
  const n = Number(code);
  for (const [name, value] of Object.entries(WorkerOp)) {
    if (value === n) return name as WorkerOpName;
  }
  return undefined;
}

/** Stderr channel message tags (server to client). */
export const Stderr = {
  NEXT: 0x6f6c6d67,
  READ: 0x64617461,
  WRITE: 0x64617416,
  LAST: 0x616c7473,
  ERROR: 0x63787470,
  START_ACTIVITY: 0x53545254,
  STOP_ACTIVITY: 0x53544f50,
  RESULT: 0x52534c54,
} as const;

/** Activity types (Nix's `ActivityType`) used in build sessions. */
export const ActivityType = {
  Unknown: 0,
  CopyPath: 100,
  FileTransfer: 101,
  Realise: 102,
  CopyPaths: 103,
  Builds: 104,
  Build: 105,
  OptimiseStore: 106,
  VerifyPaths: 107,
  Substitute: 108,
  QueryPathInfo: 109,
  PostBuildHook: 110,
  BuildWaiting: 111,
} as const;

/** Result types (Nix's `ResultType`). */
export const ResultType = {
  FileLinked: 100,
  BuildLogLine: 101,
  UntrustedPath: 102,
  CorruptedPath: 103,
  SetPhase: 104,
  Progress: 105,
  SetExpected: 106,
  PostBuildLogLine: 107,
} as const;

/** Verbosity levels (Nix's `Verbosity`). */
export const Verbosity = {
  Error: 0,
  Warn: 1,
  Notice: 2,
  Info: 3,
  Talkative: 4,
  Chatty: 5,
  Debug: 6,
  Vomit: 7,
} as const;

/** Limits on what a peer may send; every length is checked before reading. */
export const WORKER_LIMITS = {
  /** One frame of a framed stream. */
  frameLength: 1 << 24,
  /** A log line or message. */
  textLength: 1 << 26,
  /** Setting names and values, feature names. */
  shortLength: 64 << 10,
  /** Settings, features, fields. */
  itemCount: 1 << 16,
  /** Paths in one AddMultipleToStore. */
  pathCount: 1 << 22,
} as const;
