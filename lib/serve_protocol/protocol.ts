/**
 * Nix's serve protocol (`nix-store --serve`, the `ssh://` store and remote
 * builds): constants, versions and commands. The codecs of the other files
 * in `lib/serve_protocol/` are pure: they read from a `WireReader` and write to a
 * `WireWriter` and touch no store.
 *
 * All integers are u64 little-endian, strings are length + bytes + zero
 * padding to 8, lists are a count + items (see `lib/wire/wire_reader.ts`).
 *
 * Session:
 * ```
 * client: u64 SERVE_MAGIC_1, u64 client version
 * server: u64 SERVE_MAGIC_2, u64 server version   (sent right after magic 1)
 * client: u64 command, request fields   server: reply     (repeated)
 * client: closes its side between two commands
 * ```
 * A version is `major << 8 | minor`; only major 2 exists. Fields added in a
 * later minor are sent only when the peer's minor has them; the
 * negotiated version is the lower of the two (Nix 2.8's own client and
 * server gate on the peer's version, which comes to the same as long as
 * each side only knows fields up to its own minor).
 *
 * | command | request | reply |
 * |---|---|---|
 * | 1 QueryValidPaths | bool lock, bool substitute, paths | valid paths |
 * | 2 QueryPathInfos | paths | per valid path: path, info (`path_infos.ts`); then `""` |
 * | 3 DumpStorePath | path | the NAR, unframed |
 * | 4 ImportPaths | an export stream (`nix-store --export`) | u64 1 |
 * | 5 ExportPaths | bool sign (ignored), paths | an export stream |
 * | 6 BuildPaths | strings `<drv>!<outputs>`, build options | u64 0, or u64 status + error message |
 * | 7 QueryClosure | bool includeOutputs, paths | the closure |
 * | 8 BuildDerivation | drv path, `BasicDerivation`, build options | `BuildResult` |
 * | 9 AddToStoreNar (>= 2.5) | path info header, then the NAR (narSize bytes, unframed) | u64 1 |
 *
 * Minors: 2.2 maxLogSize; 2.3 nrRepeats, enforceDeterminism and the build
 * result's times; 2.4 narHash, ca and sigs in path infos; 2.5 AddToStoreNar;
 * 2.6 builtOutputs; 2.7 keepFailed; 2.8 (Nix 2.35) builtOutputs as
 * output name -> (store path, signatures) instead of DrvOutput id -> JSON.
 * Nix 2.8 speaks 2.7; Lix stays at 2.7 for good; Nix 2.35 speaks 2.8 (and
 * its server no longer has ExportPaths).
 *
 * Readers throw a `ServeProtocolError` naming the command, the field and
 * the byte offset, never a stray `TypeError` or `RangeError`. Writers
 * throw one for a value that has no wire form (a path outside the store, a
 * negative number); part of the message may then already be buffered, so
 * the stream is no longer usable.
 *
 * @module
 */

/**
 * The first u64 a client sends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SERVE_MAGIC_1 } from "./protocol.ts";
 * assert.equal(SERVE_MAGIC_1, 0x390c9deb);
 * ```
 */
export const SERVE_MAGIC_1 = 0x390c9deb;

/**
 * The first u64 a server sends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SERVE_MAGIC_2 } from "./protocol.ts";
 * assert.equal(SERVE_MAGIC_2, 0x5452eecb);
 * ```
 */
export const SERVE_MAGIC_2 = 0x5452eecb;

/**
 * A serve protocol version in its wire form, `major << 8 | minor`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ProtocolVersion } from "./protocol.ts";
 * const v: ProtocolVersion = 0x207;
 * assert.equal(v >> 8, 2);
 * ```
 */
export type ProtocolVersion = number;

/**
 * The version buildhost announces: Nix 2.8's (2.7), so that sessions are
 * byte for byte those of `nix-store --serve` from Nix 2.8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SERVE_PROTOCOL_VERSION } from "./protocol.ts";
 * assert.equal(SERVE_PROTOCOL_VERSION, 0x207);
 * ```
 */
export const SERVE_PROTOCOL_VERSION: ProtocolVersion = 0x207;

/**
 * The newest version the codecs know (2.8, Nix 2.35).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LATEST_PROTOCOL_VERSION } from "./protocol.ts";
 * assert.equal(LATEST_PROTOCOL_VERSION, 0x208);
 * ```
 */
export const LATEST_PROTOCOL_VERSION: ProtocolVersion = 0x208;

/**
 * The oldest version the codecs know (2.0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OLDEST_PROTOCOL_VERSION } from "./protocol.ts";
 * assert.equal(OLDEST_PROTOCOL_VERSION, 0x200);
 * ```
 */
export const OLDEST_PROTOCOL_VERSION: ProtocolVersion = 0x200;

/**
 * Make a version from its parts.
 *
 * @param major The major version (2).
 * @param minor The minor version, 0 to 255.
 * @returns The wire form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { protocolVersion } from "./protocol.ts";
 * assert.equal(protocolVersion(2, 7), 0x207);
 * ```
 */
export function protocolVersion(major: number, minor: number): ProtocolVersion {
  return ((major & 0xff) << 8) | (minor & 0xff);
}

/**
 * The major part of a version.
 *
 * @param version The wire form.
 * @returns `version >> 8` (of its low 16 bits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { protocolMajor } from "./protocol.ts";
 * assert.equal(protocolMajor(0x207), 2);
 * ```
 */
export function protocolMajor(version: ProtocolVersion): number {
  return (version & 0xff00) >> 8;
}

/**
 * The minor part of a version: what every version gate looks at.
 *
 * @param version The wire form.
 * @returns Its low byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { protocolMinor } from "./protocol.ts";
 * assert.equal(protocolMinor(0x207), 7);
 * ```
 */
export function protocolMinor(version: ProtocolVersion): number {
  return version & 0xff;
}

/**
 * A version as `major.minor`.
 *
 * @param version The wire form.
 * @returns E.g. `"2.7"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatProtocolVersion } from "./protocol.ts";
 * assert.equal(formatProtocolVersion(0x207), "2.7");
 * ```
 */
export function formatProtocolVersion(version: ProtocolVersion): string {
  return `${protocolMajor(version)}.${protocolMinor(version)}`;
}

/**
 * The commands and their numbers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServeCommand } from "./protocol.ts";
 * assert.equal(ServeCommand.BuildDerivation, 8);
 * ```
 */
export const ServeCommand = {
  QueryValidPaths: 1,
  QueryPathInfos: 2,
  DumpStorePath: 3,
  ImportPaths: 4,
  ExportPaths: 5,
  BuildPaths: 6,
  QueryClosure: 7,
  BuildDerivation: 8,
  AddToStoreNar: 9,
} as const;

/**
 * The name of a command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ServeCommandName } from "./protocol.ts";
 * const c: ServeCommandName = "QueryClosure";
 * assert.equal(c, "QueryClosure");
 * ```
 */
export type ServeCommandName = keyof typeof ServeCommand;

const NAMES: readonly ServeCommandName[] = Object.keys(ServeCommand) as ServeCommandName[];

/**
 * The name of a command number.
 *
 * @param code The number read from the wire.
 * @returns The name, or undefined for a number that is no command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveCommandName } from "./protocol.ts";
 * assert.equal(serveCommandName(9n), "AddToStoreNar");
 * assert.equal(serveCommandName(42n), undefined);
 * ```
 */
export function serveCommandName(code: bigint | number): ServeCommandName | undefined {
  const n = BigInt(code);
  return NAMES.find((name) => BigInt(ServeCommand[name]) === n);
}

/**
 * The limits the readers enforce before allocating (Nix has none; these
 * are far above anything a real session sends).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SERVE_LIMITS } from "./protocol.ts";
 * assert.equal(SERVE_LIMITS.pathLength, 4096);
 * ```
 */
export const SERVE_LIMITS = {
  /** Bytes in a store path (also a `<drv>!<outputs>` string). */
  pathLength: 4096,
  /** Paths in one list (a closure can be large). */
  pathCount: 1 << 22,
  /** Bytes in a free text: an argument, an env value, an error message, a JSON realisation. */
  textLength: 64 << 20,
  /** Items in other lists and maps: outputs, arguments, env entries, signatures. */
  itemCount: 1 << 20,
  /** Bytes in a short string: a hash, a signature, a content address, an output name. */
  shortLength: 64 << 10,
} as const;

/**
 * Options shared by the codecs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ServeCodecOptions } from "./protocol.ts";
 * const o: ServeCodecOptions = { storeDir: "/nix/store" };
 * assert.equal(o.storeDir, "/nix/store");
 * ```
 */
export interface ServeCodecOptions {
  /** The store directory every store path must be in (default `/nix/store`). */
  storeDir?: string;
}
