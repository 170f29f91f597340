/**
 * Worker protocol replies (after STDERR_LAST) other than build results:
 *
 * | op | reply |
 * |---|---|
 * | 1 IsValidPath | u64 bool |
 * | 6 QueryReferrers, 23 QueryAllValidPaths, 31 QueryValidPaths, 32 QuerySubstitutablePaths | paths |
 * | 9 BuildPaths, 10 EnsurePath, 11 AddTempRoot, 13 SyncWithGC | u64 1 |
 * | 18 QueryDeriver | path or "" |
 * | 26 QueryPathInfo | (>= 1.17) u64 valid, then if valid: deriver, narHash (base16), references, registrationTime, narSize, (>= 1.16) ultimate, sigs, ca |
 * | 30 QuerySubstitutablePathInfos | u64 count of infos (0: no substituters) |
 * | 38 NarFromPath | the NAR, unframed |
 * | 40 QueryMissing | willBuild, willSubstitute, unknown (path sets), u64 downloadSize, u64 narSize |
 * | 19 SetOptions, 39 AddToStoreNar, 44 AddMultipleToStore | nothing |
 *
 * @module
 */
import type { Hash } from "../hash/hash.ts";
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { FieldReader, FieldWriter } from "../serve_protocol/fields.ts";
import type { ServeCodecOptions } from "../serve_protocol/protocol.ts";
import { WORKER_LIMITS, workerMinor, type WorkerVersion } from "./protocol.ts";

/** A path's metadata as QueryPathInfo answers it. */
export interface WorkerPathInfo {
  deriver?: string;
  narHash: Hash;
  references: string[];
  registrationTime: number;
  narSize: number;
  ultimate: boolean;
  sigs: string[];
  ca?: string;
}

/**
 * Write QueryPathInfo's reply.
 *
 * @param w Where to write.
 * @param info The path's info, or undefined when it is not valid (from 1.17;
 *   before, the server answers with an error instead).
 * @param version The negotiated version.
 * @param options The store directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writePathInfoReply } from "./replies.ts";
 * const out = new BufferSink();
 * const w = new WireWriter(out);
 * writePathInfoReply(w, undefined, 0x122);
 * await w.flush();
 * assert.equal(out.bytes().length, 8);
 * ```
 */
export function writePathInfoReply(
  w: WireWriter,
  info: WorkerPathInfo | undefined,
  version: WorkerVersion,
  options: ServeCodecOptions = {},
): void {
  const fw = new FieldWriter(w, "QueryPathInfo reply", options);
  const minor = workerMinor(version);
  if (minor >= 17) fw.bool("valid", info !== undefined);
  if (info === undefined) return;
  fw.optionalPath("deriver", info.deriver);
  fw.text("narHash", info.narHash.toString("base16"));
  fw.pathSet("references", info.references);
  fw.u64("registrationTime", info.registrationTime).u64("narSize", info.narSize);
  if (minor >= 16) {
    fw.bool("ultimate", info.ultimate);
    fw.textSet("sigs", info.sigs, WORKER_LIMITS.shortLength);
    fw.text("ca", info.ca ?? "", WORKER_LIMITS.shortLength);
  }
}

/**
 * Read QueryPathInfo's reply (the client side, from 1.17).
 *
 * @param r The server's stream.
 * @param version The negotiated version.
 * @param options The store directory.
 * @returns The info, or undefined when the path is not valid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readPathInfoReply } from "./replies.ts";
 * assert.equal(await readPathInfoReply(new WireReader(ReadableStream.from([encodeU64(0)])), 0x122), undefined);
 * ```
 */
export async function readPathInfoReply(
  r: WireReader,
  version: WorkerVersion,
  options: ServeCodecOptions = {},
): Promise<WorkerPathInfo | undefined> {
  const fr = new FieldReader(r, "QueryPathInfo reply", options);
  const minor = workerMinor(version);
  if (minor >= 17 && !(await fr.bool("valid"))) return undefined;
  const deriver = await fr.optionalPath("deriver");
  const narHash = await fr.hash("narHash", WORKER_LIMITS.shortLength);
  const info: WorkerPathInfo = {
    narHash,
    references: await fr.pathSet("references"),
    registrationTime: await fr.number("registrationTime"),
    narSize: await fr.number("narSize"),
    ultimate: false,
    sigs: [],
  };
  if (deriver !== undefined) info.deriver = deriver;
  if (minor >= 16) {
    info.ultimate = await fr.bool("ultimate");
    info.sigs = await fr.textSet("sigs", WORKER_LIMITS.itemCount, WORKER_LIMITS.shortLength);
    const ca = await fr.text("ca", WORKER_LIMITS.shortLength);
    if (ca !== "") info.ca = ca;
  }
  return info;
}

/**
 * Write a set of store paths (sorted, no duplicates).
 *
 * @param w Where to write.
 * @param paths The paths.
 * @param what The reply's name, for errors.
 * @param options The store directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writePathSet } from "./replies.ts";
 * const out = new BufferSink();
 * const w = new WireWriter(out);
 * writePathSet(w, [], "QueryValidPaths reply");
 * await w.flush();
 * assert.equal(out.bytes().length, 8);
 * ```
 */
export function writePathSet(
  w: WireWriter,
  paths: Iterable<string>,
  what: string,
  options: ServeCodecOptions = {},
): void {
  new FieldWriter(w, what, options).pathSet("paths", paths);
}

/**
 * Read a set of store paths.
 *
 * @param r The stream.
 * @param what The reply's name, for errors.
 * @param options The store directory.
 * @returns The paths, sorted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readPathSet } from "./replies.ts";
 * assert.deepEqual(await readPathSet(new WireReader(ReadableStream.from([encodeU64(0)])), "x"), []);
 * ```
 */
export async function readPathSet(
  r: WireReader,
  what: string,
  options: ServeCodecOptions = {},
): Promise<string[]> {
  return await new FieldReader(r, what, options).pathSet("paths");
}

/** QueryMissing's reply. */
export interface MissingPaths {
  willBuild: string[];
  willSubstitute: string[];
  unknown: string[];
  downloadSize: number;
  narSize: number;
}

/**
 * Write QueryMissing's reply.
 *
 * @param w Where to write.
 * @param m What is missing.
 * @param options The store directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeMissingReply } from "./replies.ts";
 * const out = new BufferSink();
 * const w = new WireWriter(out);
 * writeMissingReply(w, { willBuild: [], willSubstitute: [], unknown: [], downloadSize: 0, narSize: 0 });
 * await w.flush();
 * assert.equal(out.bytes().length, 40);
 * ```
 */
export function writeMissingReply(
  w: WireWriter,
  m: MissingPaths,
  options: ServeCodecOptions = {},
): void {
  const fw = new FieldWriter(w, "QueryMissing reply", options);
  fw.pathSet("willBuild", m.willBuild).pathSet("willSubstitute", m.willSubstitute);
  fw.pathSet("unknown", m.unknown).u64("downloadSize", m.downloadSize).u64("narSize", m.narSize);
}

/**
 * Read QueryMissing's reply (the client side).
 *
 * @param r The server's stream.
 * @param options The store directory.
 * @returns What is missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readMissingReply } from "./replies.ts";
 * const r = new WireReader(ReadableStream.from([0, 0, 0, 0, 0].map((n) => encodeU64(n))));
 * assert.deepEqual((await readMissingReply(r)).unknown, []);
 * ```
 */
export async function readMissingReply(
  r: WireReader,
  options: ServeCodecOptions = {},
): Promise<MissingPaths> {
  const fr = new FieldReader(r, "QueryMissing reply", options);
  return {
    willBuild: await fr.pathSet("willBuild"),
    willSubstitute: await fr.pathSet("willSubstitute"),
    unknown: await fr.pathSet("unknown"),
    downloadSize: await fr.number("downloadSize"),
    narSize: await fr.number("narSize"),
  };
}
