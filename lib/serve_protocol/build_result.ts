/**
 * The reply to BuildDerivation: a build result (`BuildResult` of
 * `lib/derivation/build_result.ts`, read and written as it is).
 *
 * ```
 * u64 status                 BuildStatus code (0 Built ... 14 NoSubstituters)
 * str errorMsg               "" on success; Nix's message, ANSI colours included, on failure
 * u64 timesBuilt             (>= 2.3)
 * u64 isNonDeterministic     (>= 2.3) bool
 * u64 startTime, stopTime    (>= 2.3) unix seconds
 * builtOutputs               (>= 2.6) u64 count, then per output:
 *   2.6, 2.7:  str DrvOutput id  "sha256:<hex hash modulo of the drv>!<output>"
 *              str Realisation   JSON, keys sorted, no spaces (Nix 2.8):
 *              {"dependentRealisations":{},"id":"<the id>","outPath":"<hash>-<name>","signatures":[]}
 *   2.8:       str output name, str out path (full), strings signatures (sorted)
 * ```
 *
 * Minor 2.8 (Nix 2.35) keys a realisation by derivation path instead of
 * hash modulo; its BuildResult therefore sends built outputs by output
 * name: the out path and the signatures, no JSON, no id. Nix 2.35 still
 * answers older peers in the 2.6 form, with an all-zero
 * `sha256:` hash in the ids and only `id` and `outPath` in the JSON (old
 * clients read only the output name and path); as there, a realisation
 * without {@linkcode Realisation.drvHash} is written with the zero hash.
 * The JSON keys present are written in sorted order, so both Nix 2.8's
 * four-key form and Nix 2.35's two-key form round-trip byte for byte.
 *
 * Nix 2.8's own server writes builtOutputs to every client (its minor test
 * is mistyped); a client below 2.6 never reads them. Here they are written
 * only from 2.6 on, as Nix does since.
 *
 * @module
 */
import { Hash, HashError } from "../hash/hash.ts";
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { compareUtf8 } from "../wire/utf8_order.ts";
import { StorePath, StorePathError } from "../store_path/store_path.ts";
import type { BuildResult, BuildStatus, Realisation } from "../derivation/build_result.ts";
import { FieldReader, FieldWriter, MAX_U32, sortedSet } from "./_fields.ts";
import {
  protocolMinor,
  type ProtocolVersion,
  SERVE_LIMITS,
  type ServeCodecOptions,
} from "./protocol.ts";

/**
 * The wire codes of Nix's build statuses: the index in this list is the
 * code (Nix 2.8's `BuildResult::Status`). The worker protocol uses the same.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUILD_STATUSES } from "./build_result.ts";
 * assert.equal(BUILD_STATUSES[3], "PermanentFailure");
 * assert.equal(BUILD_STATUSES.length, 15);
 * ```
 */
export const BUILD_STATUSES = [
  "Built",
  "Substituted",
  "AlreadyValid",
  "PermanentFailure",
  "InputRejected",
  "OutputRejected",
  "TransientFailure",
  "CachedFailure",
  "TimedOut",
  "MiscFailure",
  "DependencyFailed",
  "LogLimitExceeded",
  "NotDeterministic",
  "ResolvesToAlreadyValid",
  "NoSubstituters",
] as const satisfies readonly BuildStatus[];

/** Every status has a code (a compile-time check). */
const _EVERY_STATUS_CODED: [Exclude<BuildStatus, typeof BUILD_STATUSES[number]>] extends [never]
  ? true
  : false = true;

/**
 * The wire code of a status.
 *
 * @param status The status.
 * @returns Its code, 0 to 14.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildStatusCode } from "./build_result.ts";
 * assert.equal(buildStatusCode("NoSubstituters"), 14);
 * ```
 */
export function buildStatusCode(status: BuildStatus): number {
  return BUILD_STATUSES.indexOf(status);
}

/**
 * The status of a wire code.
 *
 * @param code The code read.
 * @returns The status, or undefined for a number that is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildStatusOf } from "./build_result.ts";
 * assert.equal(buildStatusOf(8n), "TimedOut");
 * assert.equal(buildStatusOf(15n), undefined);
 * ```
 */
export function buildStatusOf(code: bigint): BuildStatus | undefined {
  return code < BigInt(BUILD_STATUSES.length) ? BUILD_STATUSES[Number(code)] : undefined;
}

/**
 * Options of {@linkcode readBuildResult} and {@linkcode writeBuildResult}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BuildResultCodecOptions } from "./build_result.ts";
 * const o: BuildResultCodecOptions = { storeDir: "/nix/store", command: "BuildDerivation reply" };
 * assert.ok(o.command);
 * ```
 */
export interface BuildResultCodecOptions extends ServeCodecOptions {
  /** What is being read or written, for error messages (default `"BuildDerivation reply"`). */
  command?: string;
}

const ZERO_SHA256 = new Hash("sha256", new Uint8Array(32));
const JSON_KEYS = ["dependentRealisations", "id", "outPath", "signatures"];

/**
 * Read a build result.
 *
 * @param r The stream.
 * @param version The session's version (its minor gates the fields).
 * @param options The store directory, the command for error messages.
 * @returns The result, without the fields the minor does not have.
 * @throws {ServeProtocolError} On a short stream, an unknown status, a bad
 *   bool, a number out of range, a bad id, JSON or store path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeString, encodeU64 } from "../wire/wire_writer.ts";
 * import { readBuildResult } from "./build_result.ts";
 * const bytes = [encodeU64(3), encodeString("failed")];
 * const res = await readBuildResult(new WireReader(ReadableStream.from(bytes)), 0x202);
 * assert.deepEqual(res, { status: "PermanentFailure", errorMsg: "failed" });
 * ```
 */
export async function readBuildResult(
  r: WireReader,
  version: ProtocolVersion,
  options: BuildResultCodecOptions = {},
): Promise<BuildResult> {
  const fr = new FieldReader(r, options.command ?? "BuildDerivation reply", options);
  const minor = protocolMinor(version);
  const statusAt = r.offset;
  const code = await fr.u64("status");
  const status = buildStatusOf(code);
  if (status === undefined) {
    return fr.fail(
      statusAt,
      "status",
      `${code} is no build status (0 to ${BUILD_STATUSES.length - 1})`,
    );
  }
  const res: BuildResult = { status, errorMsg: await fr.text("errorMsg") };
  if (minor >= 3) {
    res.timesBuilt = await fr.number("timesBuilt", MAX_U32);
    res.isNonDeterministic = await fr.bool("isNonDeterministic");
    res.startTime = await fr.number("startTime");
    res.stopTime = await fr.number("stopTime");
  }
  if (minor >= 8) res.builtOutputs = await readOutputsByName(fr);
  else if (minor >= 6) res.builtOutputs = await readOutputsById(fr);
  return res;
}

/** 2.8: output name -> (out path, signatures). */
async function readOutputsByName(fr: FieldReader): Promise<Map<string, Realisation>> {
  const n = await fr.count("builtOutputs", SERVE_LIMITS.itemCount);
  const out = new Map<string, Realisation>();
  for (let i = 0; i < n; i++) {
    const at = fr.wire.offset;
    const name = await fr.text(`builtOutputs[${i}].name`, SERVE_LIMITS.shortLength);
    const outPath = await fr.path(`builtOutputs[${i}].outPath`);
    const signatures = await fr.textSet(
      `builtOutputs[${i}].signatures`,
      SERVE_LIMITS.itemCount,
      SERVE_LIMITS.shortLength,
    );
    if (out.has(name)) fr.fail(at, `builtOutputs[${i}].name`, `output "${name}" appears twice`);
    out.set(name, { outPath, signatures });
  }
  return sortedMap(out);
}

/** 2.6, 2.7: DrvOutput id -> Realisation JSON. */
/**
 * Read built outputs keyed by derivation output id (`sha256:<hex>!<name>` and
 * the realisation as JSON): serve 2.6-2.7 and worker protocol >= 1.28 (shared).
 *
 * @param fr The field reader of the reply.
 * @returns Realisations by output name.
 */
export async function readOutputsById(fr: FieldReader): Promise<Map<string, Realisation>> {
  const n = await fr.count("builtOutputs", SERVE_LIMITS.itemCount);
  const out = new Map<string, Realisation>();
  for (let i = 0; i < n; i++) {
    const idField = `builtOutputs[${i}].id`;
    const jsonField = `builtOutputs[${i}].realisation`;
    const idAt = fr.wire.offset;
    const id = await fr.text(idField, SERVE_LIMITS.shortLength);
    const { drvHash, outputName } = parseDrvOutputId(fr, id, idAt, idField);
    const jsonAt = fr.wire.offset;
    const text = await fr.text(jsonField, SERVE_LIMITS.textLength);
    const bad = (detail: string): never => fr.fail(jsonAt, jsonField, detail);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return bad(`it is not JSON: ${(e as Error).message}`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return bad("it is not a JSON object");
    }
    const obj = json as Record<string, unknown>;
    if (obj.id !== id) bad(`its "id" ${JSON.stringify(obj.id)} differs from the key "${id}"`);
    if (typeof obj.outPath !== "string") bad(`"outPath" is missing or not a string`);
    const realisation: Realisation = {
      outPath: baseNameToPath(fr, obj.outPath as string, jsonAt, `${jsonField}.outPath`),
      drvHash,
    };
    if ("signatures" in obj) {
      const sigs = obj.signatures;
      if (!Array.isArray(sigs) || !sigs.every((s) => typeof s === "string")) {
        bad(`"signatures" is not a list of strings`);
      }
      realisation.signatures = sortedSet(sigs as string[]);
    }
    if ("dependentRealisations" in obj) {
      const deps = obj.dependentRealisations;
      if (typeof deps !== "object" || deps === null || Array.isArray(deps)) {
        bad(`"dependentRealisations" is not an object`);
      }
      const map = new Map<string, string>();
      for (const [depId, depPath] of Object.entries(deps as Record<string, unknown>)) {
        const f = `${jsonField}.dependentRealisations`;
        parseDrvOutputId(fr, depId, jsonAt, f);
        if (typeof depPath !== "string") bad(`the path of "${depId}" is not a string`);
        map.set(depId, baseNameToPath(fr, depPath as string, jsonAt, f));
      }
      realisation.dependentRealisations = new Map(
        [...map].sort(([a], [b]) => compareUtf8(a, b)),
      );
    }
    if (out.has(outputName)) fr.fail(idAt, idField, `output "${outputName}" appears twice`);
    out.set(outputName, realisation);
  }
  return sortedMap(out);
}

/** Split `sha256:<hash>!<output>` as Nix's `DrvOutput::parse`. */
function parseDrvOutputId(
  fr: FieldReader,
  id: string,
  at: number,
  field: string,
): { drvHash: Hash; outputName: string } {
  const bang = id.indexOf("!");
  if (bang < 0) fr.fail(at, field, `"${id}" is no derivation output id (<hash>!<output>)`);
  try {
    return { drvHash: Hash.parse(id.slice(0, bang)), outputName: id.slice(bang + 1) };
  } catch (e) {
    if (!(e instanceof HashError)) throw e;
    return fr.fail(at, field, e.message, e);
  }
}

function baseNameToPath(fr: FieldReader, base: string, at: number, field: string): string {
  try {
    return StorePath.fromBaseName(base).toString(fr.storeDir);
  } catch (e) {
    if (!(e instanceof StorePathError)) throw e;
    return fr.fail(at, field, `"${base}" is not a store path base name: ${e.detail}`, e);
  }
}

function sortedMap<V>(map: Map<string, V>): Map<string, V> {
  return new Map([...map].sort(([a], [b]) => compareUtf8(a, b)));
}

/**
 * Write a build result: the fields the minor has, 0, false or empty for
 * those left out.
 *
 * @param w The stream.
 * @param res The result.
 * @param version The session's version (its minor gates the fields).
 * @param options The store directory, the command for error messages.
 * @throws {ServeProtocolError} When a number, path or string has no wire form.
 *
 * @example The reply Nix 2.8 gave in recordings/c1, at 2.7 and at 2.8
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeBuildResult } from "./build_result.ts";
 * const drvHash = Hash.parse("sha256:5b75e08b60d120f7c45fcf80e871e0491c5ae5996325be2720eac2ee39e434df");
 * const outPath = "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-harness-c-ok";
 * const res = {
 *   status: "Built" as const, errorMsg: "", timesBuilt: 1, isNonDeterministic: false,
 *   startTime: 1795561454, stopTime: 1795561454,
 *   builtOutputs: new Map([["out", { outPath, signatures: [], drvHash, dependentRealisations: new Map() }]]),
 * };
 * const encode = async (v: number) => {
 *   const sink = new BufferSink();
 *   const w = new WireWriter(sink);
 *   writeBuildResult(w, res, v);
 *   await w.flush();
 *   return new TextDecoder().decode(sink.bytes());
 * };
 * assert.ok((await encode(0x207)).includes(
 *   `{"dependentRealisations":{},"id":"sha256:5b75e08b60d120f7c45fcf80e871e0491c5ae5996325be2720eac2ee39e434df!out","outPath":"2h1hs7di835bwxjnjd72izy08367yxaj-harness-c-ok","signatures":[]}`,
 * ));
 * assert.ok((await encode(0x208)).includes(outPath));
 * assert.ok(!(await encode(0x208)).includes("sha256"));
 * ```
 */
export function writeBuildResult(
  w: WireWriter,
  res: BuildResult,
  version: ProtocolVersion,
  options: BuildResultCodecOptions = {},
): void {
  const fw = new FieldWriter(w, options.command ?? "BuildDerivation reply", options);
  const minor = protocolMinor(version);
  const code = buildStatusCode(res.status);
  if (code < 0) fw.fail("status", `"${String(res.status)}" is no build status`);
  fw.u64("status", code);
  fw.text("errorMsg", res.errorMsg);
  if (minor >= 3) {
    fw.u64("timesBuilt", res.timesBuilt ?? 0, MAX_U32);
    fw.bool("isNonDeterministic", res.isNonDeterministic ?? false);
    fw.u64("startTime", res.startTime ?? 0);
    fw.u64("stopTime", res.stopTime ?? 0);
  }
  const outputs = res.builtOutputs ?? new Map<string, Realisation>();
  if (minor >= 8) writeOutputsByName(fw, outputs);
  else if (minor >= 6) writeOutputsById(fw, outputs);
}

function writeOutputsByName(fw: FieldWriter, outputs: Map<string, Realisation>): void {
  const entries = [...outputs].sort(([a], [b]) => compareUtf8(a, b));
  fw.u64("builtOutputs count", entries.length);
  entries.forEach(([name, real], i) => {
    fw.text(`builtOutputs[${i}].name`, name, SERVE_LIMITS.shortLength);
    fw.path(`builtOutputs[${i}].outPath`, real.outPath);
    fw.textSet(
      `builtOutputs[${i}].signatures`,
      real.signatures ?? [],
      SERVE_LIMITS.shortLength,
    );
  });
}

/**
 * Write built outputs keyed by derivation output id, as
 * {@linkcode readOutputsById} reads them (shared with the worker protocol).
 *
 * @param fw The field writer of the reply.
 * @param outputs Realisations by output name.
 */
export function writeOutputsById(fw: FieldWriter, outputs: Map<string, Realisation>): void {
  const entries = [...outputs].map(([name, real]) => {
    const hash = real.drvHash ?? ZERO_SHA256;
    return [`${hash.toString("base16", true)}!${name}`, real] as const;
  }).sort(([a], [b]) => compareUtf8(a, b));
  fw.u64("builtOutputs count", entries.length);
  entries.forEach(([id, real], i) => {
    const field = `builtOutputs[${i}].realisation`;
    const json: Record<string, unknown> = {
      id,
      outPath: fw.checkPath(`${field}.outPath`, real.outPath).baseName,
    };
    if (real.signatures !== undefined) json.signatures = sortedSet(real.signatures);
    if (real.dependentRealisations !== undefined) {
      const deps: Record<string, string> = {};
      for (
        const [depId, depPath] of [...real.dependentRealisations].sort(([a], [b]) =>
          compareUtf8(a, b)
        )
      ) {
        deps[depId] = fw.checkPath(`${field}.dependentRealisations`, depPath).baseName;
      }
      json.dependentRealisations = deps;
    }
    fw.text(`builtOutputs[${i}].id`, id, SERVE_LIMITS.shortLength);
    fw.text(field, stringifySorted(json, JSON_KEYS));
  });
}

/** JSON of an object with its keys in the given (sorted) order, as nlohmann's `dump()`. */
function stringifySorted(obj: Record<string, unknown>, keys: readonly string[]): string {
  const parts: string[] = [];
  for (const k of keys) {
    if (k in obj) parts.push(`${JSON.stringify(k)}:${JSON.stringify(obj[k])}`);
  }
  return `{${parts.join(",")}}`;
}
