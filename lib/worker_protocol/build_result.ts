/**
 * BuildResult (`lib/derivation/build_result.ts`, read and written as it is)
 * as the worker protocol carries it (BuildDerivation's reply, and keyed by
 * derived path in BuildPathsWithResults' reply):
 *
 * ```
 * u64 status, str errorMsg     (the serve protocol's status codes)
 * (>= 1.29) u64 timesBuilt, u64 isNonDeterministic, u64 startTime, u64 stopTime
 * (>= 1.37) cpuUser, cpuSystem: each u64 0 (none) or u64 1 and the microseconds
 * (>= 1.28) builtOutputs: count, then "sha256:<hex>!<name>" and the realisation as JSON
 * ```
 *
 * The builtOutputs map is the serve protocol's (2.6-2.7) field for field, so
 * its codec is shared with `lib/serve_protocol/build_result.ts`. (Nix master's
 * `realisation-with-path-not-hash` feature changes it; buildhost does not
 * offer that feature, so it is never in use.)
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { FieldReader, FieldWriter, MAX_U32 } from "../serve_protocol/fields.ts";
import type { ServeCodecOptions } from "../serve_protocol/protocol.ts";
import type { BuildResult, Realisation } from "../derivation/build_result.ts";
import {
  buildStatusCode,
  buildStatusOf,
  readOutputsById,
  writeOutputsById,
} from "../serve_protocol/build_result.ts";
import { workerMinor, type WorkerVersion } from "./protocol.ts";
import { type DerivedPath, formatDerivedPath, parseDerivedPath } from "./derived_path.ts";

/**
 * Write a build result in the format of the version in use.
 *
 * @param w Where to write.
 * @param res The result.
 * @param version The negotiated version.
 * @param options The store directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeWorkerBuildResult } from "./build_result.ts";
 * const out = new BufferSink();
 * const w = new WireWriter(out);
 * writeWorkerBuildResult(w, { status: "AlreadyValid", errorMsg: "" }, 0x122);
 * await w.flush();
 * assert.equal(out.bytes().length, 7 * 8); // status, "", 4 numbers, 0 outputs
 * ```
 */
export function writeWorkerBuildResult(
  w: WireWriter,
  res: BuildResult,
  version: WorkerVersion,
  options: ServeCodecOptions = {},
): void {
  const fw = new FieldWriter(w, "BuildResult", options);
  const minor = workerMinor(version);
  const code = buildStatusCode(res.status);
  if (code < 0) fw.fail("status", `"${String(res.status)}" is no build status`);
  fw.u64("status", code).text("errorMsg", res.errorMsg);
  if (minor >= 29) {
    fw.u64("timesBuilt", res.timesBuilt ?? 0, MAX_U32);
    fw.bool("isNonDeterministic", res.isNonDeterministic ?? false);
    fw.u64("startTime", res.startTime ?? 0).u64("stopTime", res.stopTime ?? 0);
  }
  if (minor >= 37) {
    for (const [field, t] of [["cpuUser", res.cpuUser], ["cpuSystem", res.cpuSystem]] as const) {
      if (t === undefined) fw.u64(field, 0);
      else fw.u64(field, 1).u64(field, t);
    }
  }
  if (minor >= 28) writeOutputsById(fw, res.builtOutputs ?? new Map<string, Realisation>());
}

/**
 * Read a build result (the client side).
 *
 * @param r The server's stream.
 * @param version The negotiated version.
 * @param options The store directory.
 * @returns The result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { readWorkerBuildResult, writeWorkerBuildResult } from "./build_result.ts";
 * const out = new BufferSink();
 * const w = new WireWriter(out);
 * writeWorkerBuildResult(w, { status: "Built", errorMsg: "", timesBuilt: 1 }, 0x122);
 * await w.flush();
 * const back = await readWorkerBuildResult(new WireReader(ReadableStream.from([out.bytes()])), 0x122);
 * assert.equal(back.status, "Built");
 * assert.equal(back.timesBuilt, 1);
 * ```
 */
export async function readWorkerBuildResult(
  r: WireReader,
  version: WorkerVersion,
  options: ServeCodecOptions = {},
): Promise<BuildResult> {
  const fr = new FieldReader(r, "BuildResult", options);
  const minor = workerMinor(version);
  const at = r.offset;
  const code = await fr.u64("status");
  const status = buildStatusOf(code);
  if (status === undefined) return fr.fail(at, "status", `${code} is no build status`);
  const res: BuildResult = { status, errorMsg: await fr.text("errorMsg") };
  if (minor >= 29) {
    res.timesBuilt = await fr.number("timesBuilt", MAX_U32);
    res.isNonDeterministic = await fr.bool("isNonDeterministic");
    res.startTime = await fr.number("startTime");
    res.stopTime = await fr.number("stopTime");
  }
  if (minor >= 37) {
    for (const field of ["cpuUser", "cpuSystem"] as const) {
      const tagAt = r.offset;
      const tag = await fr.u64(field);
      if (tag === 1n) res[field] = await fr.u64(field);
      else if (tag !== 0n) fr.fail(tagAt, field, `optional tag ${tag} is neither 0 nor 1`);
    }
  }
  if (minor >= 28) res.builtOutputs = await readOutputsById(fr);
  return res;
}

/**
 * Write BuildPathsWithResults' reply: a count, then per derived path its
 * text and its build result.
 *
 * @param w Where to write.
 * @param results Each derived path and its result.
 * @param version The negotiated version.
 * @param options The store directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeKeyedBuildResults } from "./build_result.ts";
 * const out = new BufferSink();
 * const w = new WireWriter(out);
 * writeKeyedBuildResults(w, [], 0x122);
 * await w.flush();
 * assert.equal(out.bytes().length, 8);
 * ```
 */
export function writeKeyedBuildResults(
  w: WireWriter,
  results: readonly { path: DerivedPath; result: BuildResult }[],
  version: WorkerVersion,
  options: ServeCodecOptions = {},
): void {
  const fw = new FieldWriter(w, "BuildPathsWithResults reply", options);
  fw.u64("results count", results.length);
  results.forEach(({ path, result }, i) => {
    fw.checkPath(`results[${i}].path`, path.path);
    fw.text(`results[${i}].path`, formatDerivedPath(path));
    writeWorkerBuildResult(w, result, version, options);
  });
}

/**
 * Read BuildPathsWithResults' reply (the client side).
 *
 * @param r The server's stream.
 * @param version The negotiated version.
 * @param options The store directory.
 * @returns Each derived path and its result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readKeyedBuildResults } from "./build_result.ts";
 * assert.deepEqual(await readKeyedBuildResults(new WireReader(ReadableStream.from([encodeU64(0)])), 0x122), []);
 * ```
 */
export async function readKeyedBuildResults(
  r: WireReader,
  version: WorkerVersion,
  options: ServeCodecOptions = {},
): Promise<{ path: DerivedPath; result: BuildResult }[]> {
  const fr = new FieldReader(r, "BuildPathsWithResults reply", options);
  const n = await fr.count("results", 1 << 22);
  const out: { path: DerivedPath; result: BuildResult }[] = [];
  for (let i = 0; i < n; i++) {
    const at = r.offset;
    const path = parseDerivedPath(await fr.text(`results[${i}].path`, 64 << 10));
    fr.checkPath(path.path, at, `results[${i}].path`);
    out.push({ path, result: await readWorkerBuildResult(r, version, options) });
  }
  return out;
}
