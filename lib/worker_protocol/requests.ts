/**
 * Worker protocol requests: the op number, then its fields, for the
 * operations buildhost serves. Paths are checked to be store paths of the
 * store directory in use; sets are read sorted without duplicates.
 *
 * | op | fields (after the u64 op) |
 * |---|---|
 * | 1 IsValidPath, 6 QueryReferrers, 10 EnsurePath, 11 AddTempRoot, 18 QueryDeriver, 26 QueryPathInfo, 38 NarFromPath | path |
 * | 9 BuildPaths | derived paths; (>= 1.15) build mode |
 * | 13 SyncWithGC, 23 QueryAllValidPaths | none |
 * | 19 SetOptions | keepFailed, keepGoing, tryFallback, verbosity, maxBuildJobs, maxSilentTime, (obsolete) useBuildHook, verboseBuild (a level), (obsolete) logType, (obsolete) printBuildTrace, buildCores, useSubstitutes; (>= 1.12) overrides: count, then name/value pairs |
 * | 30 QuerySubstitutablePathInfos | (< 1.22) paths; else count of (path, ca) |
 * | 31 QueryValidPaths | paths; (>= 1.27) substitute |
 * | 32 QuerySubstitutablePaths | paths |
 * | 36 BuildDerivation | drvPath, BasicDerivation (as in the serve protocol), build mode |
 * | 39 AddToStoreNar | path, deriver, narHash (base16), references, registrationTime, narSize, ultimate, sigs, ca, repair, dontCheckSigs; then the NAR: framed (>= 1.23) or pulled with STDERR_READ (1.21, 1.22) |
 * | 40 QueryMissing | derived paths |
 * | 44 AddMultipleToStore | repair, dontCheckSigs; then a framed stream: count, then per path its info (as AddToStoreNar's) and NAR |
 * | 46 BuildPathsWithResults | derived paths, build mode |
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import type { BasicDerivation } from "../derivation/derivation.ts";
import { derivationNameFromPath } from "../derivation/derivation.ts";
import { DerivationError } from "../derivation/derivation_error.ts";
import { FieldReader, FieldWriter, MAX_U32 } from "../serve_protocol/fields.ts";
import type { ServeCodecOptions } from "../serve_protocol/protocol.ts";
import {
  readBasicDerivation,
  writeBasicDerivation,
} from "../serve_protocol/basic_derivation_codec.ts";
import {
  type AddToStoreNarHeader,
  readAddToStoreNarHeader,
  writeAddToStoreNarHeader,
} from "../serve_protocol/add_to_store_nar.ts";
import { WORKER_LIMITS, WorkerOp, type WorkerOpName, workerOpName } from "./protocol.ts";
import { workerMinor, type WorkerVersion } from "./protocol.ts";
import { type DerivedPath, formatDerivedPath, parseDerivedPath } from "./derived_path.ts";
import { UnknownOpError } from "./worker_protocol_error.ts";
import { WireError } from "../wire/wire_error.ts";

/** Build modes (Nix's `BuildMode`). */
export type BuildMode = "normal" | "repair" | "check";
const BUILD_MODES: BuildMode[] = ["normal", "repair", "check"];

/** The client's settings (SetOptions). */
export interface ClientOptions {
  keepFailed: boolean;
  keepGoing: boolean;
  tryFallback: boolean;
  verbosity: number;
  maxBuildJobs: number;
  maxSilentTime: number;
  /** Whether builds are verbose (sent as a verbosity level: Error when so). */
  verboseBuild: boolean;
  buildCores: number;
  useSubstitutes: boolean;
  /** Other settings by name (`build-timeout`, `max-log-size`, ...). */
  overrides: Map<string, string>;
}

/** A request of an op that carries one store path. */
type PathOp =
  | "IsValidPath"
  | "QueryReferrers"
  | "EnsurePath"
  | "AddTempRoot"
  | "QueryDeriver"
  | "QueryPathInfo"
  | "NarFromPath";

/** The ops buildhost serves, each with its fields. */
export type WorkerRequest =
  | { op: PathOp; path: string }
  | { op: "SyncWithGC" | "QueryAllValidPaths" }
  | { op: "BuildPaths" | "BuildPathsWithResults"; paths: DerivedPath[]; mode: BuildMode }
  | { op: "QueryMissing"; paths: DerivedPath[] }
  | { op: "SetOptions"; options: ClientOptions }
  | { op: "QueryValidPaths"; paths: string[]; substitute: boolean }
  | { op: "QuerySubstitutablePaths" | "QuerySubstitutablePathInfos"; paths: string[] }
  | { op: "BuildDerivation"; drvPath: string; drv: BasicDerivation; mode: BuildMode }
  | {
    op: "AddToStoreNar";
    info: AddToStoreNarHeader;
    repair: boolean;
    dontCheckSigs: boolean;
  }
  | { op: "AddMultipleToStore"; repair: boolean; dontCheckSigs: boolean };

/** The names of the ops buildhost serves. */
export const SERVED_OPS: readonly WorkerOpName[] = [
  "IsValidPath",
  "QueryReferrers",
  "BuildPaths",
  "EnsurePath",
  "AddTempRoot",
  "SyncWithGC",
  "QueryDeriver",
  "SetOptions",
  "QueryAllValidPaths",
  "QueryPathInfo",
  "QuerySubstitutablePathInfos",
  "QueryValidPaths",
  "QuerySubstitutablePaths",
  "BuildDerivation",
  "NarFromPath",
  "AddToStoreNar",
  "QueryMissing",
  "AddMultipleToStore",
  "BuildPathsWithResults",
];

const PATH_OPS: readonly string[] = [
  "IsValidPath",
  "QueryReferrers",
  "EnsurePath",
  "AddTempRoot",
  "QueryDeriver",
  "QueryPathInfo",
  "NarFromPath",
];

/**
 * Read the next op number; undefined when the stream ends cleanly first.
 *
 * @param r The client's stream.
 * @returns The op's name.
 * @throws {UnknownOpError} For a number that is no op, or an op not served.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readOp } from "./requests.ts";
 * assert.equal(await readOp(new WireReader(ReadableStream.from([encodeU64(26)]))), "QueryPathInfo");
 * assert.equal(await readOp(new WireReader(ReadableStream.from([]))), undefined);
 * ```
 */
export async function readOp(r: WireReader): Promise<WorkerOpName | undefined> {
  if (await r.atEnd()) return undefined;
  const at = r.offset;
  let code: bigint;
  try {
    code = await r.readU64();
  } catch (e) {
    if (e instanceof WireError) throw new UnknownOpError(at, -1n);
    throw e;
  }
  const name = workerOpName(code);
  if (name === undefined) throw new UnknownOpError(at, code);
  if (!SERVED_OPS.includes(name)) throw new UnknownOpError(at, code, name);
  return name;
}

async function readMode(fr: FieldReader): Promise<BuildMode> {
  const at = fr.wire.offset;
  const n = await fr.u64("buildMode");
  const mode = BUILD_MODES[Number(n)];
  if (n > 2n || mode === undefined) return fr.fail(at, "buildMode", `${n} is no build mode`);
  return mode;
}

async function readDerivedPaths(fr: FieldReader): Promise<DerivedPath[]> {
  const n = await fr.count("paths", WORKER_LIMITS.pathCount);
  const out: DerivedPath[] = [];
  for (let i = 0; i < n; i++) {
    const at = fr.wire.offset;
    const text = await fr.text(`paths[${i}]`, 64 << 10);
    const p = parseDerivedPath(text);
    fr.checkPath(p.path, at, `paths[${i}]`);
    if (p.outputs !== undefined && p.outputs.some((o) => o === "")) {
      fr.fail(at, `paths[${i}]`, `"${text}" names an empty output`);
    }
    out.push(p);
  }
  return out;
}

/**
 * Read the fields of an op (after its number).
 *
 * @param r The client's stream.
 * @param op The op, from {@linkcode readOp}.
 * @param version The negotiated version.
 * @param options The store directory.
 * @returns The request. For AddToStoreNar and AddMultipleToStore the NAR
 *   data follows on the stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeString, encodeU64 } from "../wire/wire_writer.ts";
 * import { readRequestBody } from "./requests.ts";
 * const p = "/nix/store/ffffffffffffffffffffffffffffffff-x";
 * const r = new WireReader(ReadableStream.from([encodeU64(1), encodeString(p), encodeU64(0)]));
 * assert.deepEqual(await readRequestBody(r, "QueryValidPaths", 0x122), {
 *   op: "QueryValidPaths", paths: [p], substitute: false,
 * });
 * ```
 */
export async function readRequestBody(
  r: WireReader,
  op: WorkerOpName,
  version: WorkerVersion,
  options: ServeCodecOptions = {},
): Promise<WorkerRequest> {
  const fr = new FieldReader(r, `${op} request`, options);
  const minor = workerMinor(version);
  if (PATH_OPS.includes(op)) return { op: op as PathOp, path: await fr.path("path") };
  switch (op) {
    case "SyncWithGC":
    case "QueryAllValidPaths":
      return { op };
    case "BuildPaths":
    case "BuildPathsWithResults": {
      const paths = await readDerivedPaths(fr);
      const mode = op === "BuildPaths" && minor < 15 ? "normal" : await readMode(fr);
      return { op, paths, mode };
    }
    case "QueryMissing":
      return { op, paths: await readDerivedPaths(fr) };
    case "SetOptions": {
      const n = (f: string) => fr.number(f, MAX_U32);
      const o: ClientOptions = {
        keepFailed: (await n("keepFailed")) !== 0,
        keepGoing: (await n("keepGoing")) !== 0,
        tryFallback: (await n("tryFallback")) !== 0,
        verbosity: await n("verbosity"),
        maxBuildJobs: await n("maxBuildJobs"),
        maxSilentTime: await fr.number("maxSilentTime"),
        verboseBuild: false,
        buildCores: 0,
        useSubstitutes: false,
        overrides: new Map(),
      };
      await fr.u64("useBuildHook");
      o.verboseBuild = (await fr.u64("verboseBuild")) === 0n;
      await fr.u64("logType");
      await fr.u64("printBuildTrace");
      o.buildCores = await n("buildCores");
      o.useSubstitutes = (await n("useSubstitutes")) !== 0;
      if (minor >= 12) {
        const count = await fr.count("overrides", WORKER_LIMITS.itemCount);
        for (let i = 0; i < count; i++) {
          const name = await fr.text(`overrides[${i}].name`, WORKER_LIMITS.shortLength);
          o.overrides.set(name, await fr.text(`overrides[${i}].value`, WORKER_LIMITS.textLength));
        }
      }
      return { op, options: o };
    }
    case "QueryValidPaths": {
      const paths = await fr.pathSet("paths");
      const substitute = minor >= 27 ? (await fr.u64("substitute")) !== 0n : false;
      return { op, paths, substitute };
    }
    case "QuerySubstitutablePaths":
      return { op, paths: await fr.pathSet("paths") };
    case "QuerySubstitutablePathInfos": {
      if (minor < 22) return { op, paths: await fr.pathSet("paths") };
      const count = await fr.count("paths", WORKER_LIMITS.pathCount);
      const paths: string[] = [];
      for (let i = 0; i < count; i++) {
        paths.push(await fr.path(`paths[${i}].path`));
        await fr.text(`paths[${i}].ca`, WORKER_LIMITS.shortLength);
      }
      return { op, paths };
    }
    case "BuildDerivation": {
      const at = r.offset;
      const drvPath = await fr.path("drvPath");
      let name: string;
      try {
        name = derivationNameFromPath(drvPath);
      } catch (e) {
        if (!(e instanceof DerivationError)) throw e;
        return fr.fail(at, "drvPath", e.message, e);
      }
      const drv = await readBasicDerivation(r, name, { ...options, command: `${op} request` });
      return { op, drvPath, drv, mode: await readMode(fr) };
    }
    case "AddToStoreNar": {
      const info = await readAddToStoreNarHeader(r, options);
      const repair = await fr.bool("repair");
      const dontCheckSigs = await fr.bool("dontCheckSigs");
      return { op, info, repair, dontCheckSigs };
    }
    case "AddMultipleToStore": {
      const repair = await fr.bool("repair");
      const dontCheckSigs = await fr.bool("dontCheckSigs");
      return { op, repair, dontCheckSigs };
    }
  }
  throw new UnknownOpError(r.offset, BigInt(WorkerOp[op]), op);
}

/**
 * Write a request: its op number and fields (the client side). The NAR data
 * of AddToStoreNar / AddMultipleToStore is written by the caller after it.
 *
 * @param w Where to write.
 * @param req The request.
 * @param version The negotiated version.
 * @param options The store directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeRequest } from "./requests.ts";
 * const out = new BufferSink();
 * const w = new WireWriter(out);
 * writeRequest(w, { op: "SyncWithGC" }, 0x122);
 * await w.flush();
 * assert.equal(out.bytes()[0], 13);
 * ```
 */
export function writeRequest(
  w: WireWriter,
  req: WorkerRequest,
  version: WorkerVersion,
  options: ServeCodecOptions = {},
): void {
  const fw = new FieldWriter(w, `${req.op} request`, options);
  const minor = workerMinor(version);
  fw.u64("op", WorkerOp[req.op]);
  switch (req.op) {
    case "IsValidPath":
    case "QueryReferrers":
    case "EnsurePath":
    case "AddTempRoot":
    case "QueryDeriver":
    case "QueryPathInfo":
    case "NarFromPath":
      fw.path("path", req.path);
      return;
    case "SyncWithGC":
    case "QueryAllValidPaths":
      return;
    case "BuildPaths":
    case "BuildPathsWithResults":
    case "QueryMissing": {
      fw.u64("paths count", req.paths.length);
      req.paths.forEach((p, i) => {
        fw.checkPath(`paths[${i}]`, p.path);
        fw.text(`paths[${i}]`, formatDerivedPath(p));
      });
      if (req.op !== "QueryMissing" && (req.op === "BuildPathsWithResults" || minor >= 15)) {
        fw.u64("buildMode", BUILD_MODES.indexOf(req.mode));
      }
      return;
    }
    case "SetOptions": {
      const o = req.options;
      fw.bool("keepFailed", o.keepFailed).bool("keepGoing", o.keepGoing);
      fw.bool("tryFallback", o.tryFallback).u64("verbosity", o.verbosity);
      fw.u64("maxBuildJobs", o.maxBuildJobs).u64("maxSilentTime", o.maxSilentTime);
      fw.u64("useBuildHook", 1).u64("verboseBuild", o.verboseBuild ? 0 : 7);
      fw.u64("logType", 0).u64("printBuildTrace", 0);
      fw.u64("buildCores", o.buildCores).bool("useSubstitutes", o.useSubstitutes);
      if (minor >= 12) {
        fw.u64("overrides count", o.overrides.size);
        for (const [k, v] of o.overrides) fw.text("override name", k).text("override value", v);
      }
      return;
    }
    case "QueryValidPaths":
      fw.pathSet("paths", req.paths);
      if (minor >= 27) fw.bool("substitute", req.substitute);
      return;
    case "QuerySubstitutablePaths":
      fw.pathSet("paths", req.paths);
      return;
    case "QuerySubstitutablePathInfos":
      if (minor < 22) fw.pathSet("paths", req.paths);
      else {
        fw.u64("paths count", req.paths.length);
        req.paths.forEach((p, i) => fw.path(`paths[${i}]`, p).text(`paths[${i}].ca`, ""));
      }
      return;
    case "BuildDerivation":
      fw.path("drvPath", req.drvPath);
      writeBasicDerivation(w, req.drv, { ...options, command: `${req.op} request` });
      fw.u64("buildMode", BUILD_MODES.indexOf(req.mode));
      return;
    case "AddToStoreNar":
      writeAddToStoreNarHeader(w, req.info, options);
      fw.bool("repair", req.repair).bool("dontCheckSigs", req.dontCheckSigs);
      return;
    case "AddMultipleToStore":
      fw.bool("repair", req.repair).bool("dontCheckSigs", req.dontCheckSigs);
      return;
  }
}
