/**
 * A `BasicDerivation` on the wire, as BuildDerivation sends it after the
 * `.drv` path (which gives the derivation's name; it is not sent
 * otherwise, nor are the input derivations):
 *
 * ```
 * u64 outputs count, then per output (sorted by name):
 *     str name, str path, str hashAlgo, str hash     (`lib/derivation/output_triple.ts`, as in the .drv file:
 *     input-addressed: path, "", ""; fixed: computed path, [r:]algo, base16;
 *     floating: "", [r:]algo, ""; impure: "", [r:]algo, "impure"; deferred: "", "", "")
 * strings inputSrcs     sorted; ALL inputs: sources and outputs of input derivations
 * str platform
 * str builder
 * strings args
 * u64 env count, then (str key, str value) pairs sorted by key
 * ```
 *
 * Strings are Nix strings: any bytes round-trip (see `nix_string.ts`).
 * Where Nix is looser, the reader is stricter: a duplicate output name or
 * env key (Nix keeps the first output, the last env value) is an error, as
 * is a hash without a hash algorithm or a floating or impure output with a
 * path (Nix asserts). Like Nix, it does not check that a fixed output's
 * path is the one its hash gives; the writer always sends the computed one.
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import type { BasicDerivation, DerivationOutput } from "../derivation/derivation.ts";
import { outputFromTriple, type OutputTriple, outputTriple } from "../derivation/output_triple.ts";
import { DerivationError } from "../derivation/derivation_error.ts";
import { compareUtf8 } from "../wire/utf8_order.ts";
import { FieldReader, FieldWriter } from "./_fields.ts";
import { SERVE_LIMITS, type ServeCodecOptions } from "./protocol.ts";

/**
 * Options of the derivation codec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BasicDerivationCodecOptions } from "./basic_derivation_codec.ts";
 * const o: BasicDerivationCodecOptions = { storeDir: "/nix/store" };
 * assert.equal(o.command, undefined);
 * ```
 */
export interface BasicDerivationCodecOptions extends ServeCodecOptions {
  /** What is being read or written, for error messages (default `"BuildDerivation request"`). */
  command?: string;
}

const COMMAND = "BuildDerivation request";

/**
 * Read a derivation as BuildDerivation sends it (after the `.drv` path).
 *
 * @param r The stream.
 * @param name The derivation's name (from its `.drv` path).
 * @param options The store directory, the command for error messages.
 * @returns The derivation; outputs, input sources and env sorted.
 * @throws {ServeProtocolError} On a short stream, a bad path, output or hash, a duplicate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { readBasicDerivation, writeBasicDerivation } from "./basic_derivation_codec.ts";
 * const drv = {
 *   name: "hello", outputs: new Map([["out", { kind: "inputAddressed" as const,
 *     path: "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-hello" }]]),
 *   inputSrcs: [], platform: "x86_64-linux", builder: "/bin/sh", args: ["-c", "echo hi > $out"],
 *   env: new Map([["out", "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-hello"]]),
 * };
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeBasicDerivation(w, drv);
 * await w.flush();
 * assert.deepEqual(await readBasicDerivation(new WireReader(ReadableStream.from([sink.bytes()])), "hello"), drv);
 * ```
 */
export async function readBasicDerivation(
  r: WireReader,
  name: string,
  options: BasicDerivationCodecOptions = {},
): Promise<BasicDerivation> {
  const fr = new FieldReader(r, options.command ?? COMMAND, options);
  const n = await fr.count("drv.outputs", SERVE_LIMITS.itemCount);
  const outputs = new Map<string, DerivationOutput>();
  for (let i = 0; i < n; i++) {
    const field = `drv.outputs[${i}]`;
    const at = r.offset;
    const outName = await fr.text(`${field}.name`, SERVE_LIMITS.shortLength);
    const pathAt = r.offset;
    const path = await fr.text(`${field}.path`, SERVE_LIMITS.pathLength);
    const algoAt = r.offset;
    const algo = await fr.text(`${field}.hashAlgo`, SERVE_LIMITS.shortLength);
    const hashAt = r.offset;
    const hash = await fr.text(`${field}.hash`, SERVE_LIMITS.shortLength);
    if (outputs.has(outName)) fr.fail(at, `${field}.name`, `output "${outName}" appears twice`);
    const offsets = { path: pathAt, hashAlgo: algoAt, hash: hashAt };
    outputs.set(
      outName,
      outputFromTriple([path, algo, hash], {
        checkPath: (p) => fr.checkPath(p, pathAt, `${field}.path`),
        fail: (f, detail, cause) => fr.fail(offsets[f], `${field}.${f}`, detail, cause),
      }),
    );
  }
  const inputSrcs = await fr.pathSet("drv.inputSrcs");
  const platform = await fr.text("drv.platform", SERVE_LIMITS.shortLength);
  const builder = await fr.text("drv.builder", SERVE_LIMITS.textLength);
  const args = await fr.texts("drv.args", SERVE_LIMITS.itemCount, SERVE_LIMITS.textLength);
  const envCount = await fr.count("drv.env", SERVE_LIMITS.itemCount);
  const env = new Map<string, string>();
  for (let i = 0; i < envCount; i++) {
    const at = r.offset;
    const key = await fr.text(`drv.env[${i}].key`, SERVE_LIMITS.textLength);
    const value = await fr.text(`drv.env[${i}].value`, SERVE_LIMITS.textLength);
    if (env.has(key)) fr.fail(at, `drv.env[${i}].key`, `env key "${key}" appears twice`);
    env.set(key, value);
  }
  return {
    name,
    outputs: new Map([...outputs].sort(([a], [b]) => compareUtf8(a, b))),
    inputSrcs,
    platform,
    builder,
    args,
    env: new Map([...env].sort(([a], [b]) => compareUtf8(a, b))),
  };
}

/**
 * Write a derivation as BuildDerivation sends it (after the `.drv` path):
 * sorted as Nix's maps and sets, a fixed output with the path its hash
 * gives.
 *
 * @param w The stream.
 * @param drv The derivation.
 * @param options The store directory, the command for error messages.
 * @throws {ServeProtocolError} When a path or string has no wire form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeBasicDerivation } from "./basic_derivation_codec.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeBasicDerivation(w, {
 *   name: "x", outputs: new Map([["out", { kind: "deferred" }]]), inputSrcs: [],
 *   platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map(),
 * });
 * await w.flush();
 * // 1 output: "out", "", "", ""; no inputs; platform; builder; no args; no env
 * assert.equal(sink.bytes().length, 8 + 16 + 3 * 8 + 8 + 24 + 16 + 8 + 8);
 * ```
 */
export function writeBasicDerivation(
  w: WireWriter,
  drv: BasicDerivation,
  options: BasicDerivationCodecOptions = {},
): void {
  const fw = new FieldWriter(w, options.command ?? COMMAND, options);
  const outputs = [...drv.outputs].sort(([a], [b]) => compareUtf8(a, b));
  fw.u64("drv.outputs count", outputs.length);
  outputs.forEach(([name, o], i) => {
    const field = `drv.outputs[${i}]`;
    if (o.kind === "inputAddressed") fw.checkPath(`${field}.path`, o.path);
    let triple: OutputTriple;
    try {
      triple = outputTriple(drv.name, name, o, fw.storeDir);
    } catch (e) {
      if (!(e instanceof DerivationError)) throw e;
      return fw.fail(`${field}.path`, e.message, e);
    }
    fw.text(`${field}.name`, name, SERVE_LIMITS.shortLength);
    fw.text(`${field}.path`, triple[0], SERVE_LIMITS.pathLength);
    fw.text(`${field}.hashAlgo`, triple[1], SERVE_LIMITS.shortLength);
    fw.text(`${field}.hash`, triple[2], SERVE_LIMITS.shortLength);
  });
  fw.pathSet("drv.inputSrcs", drv.inputSrcs);
  fw.text("drv.platform", drv.platform, SERVE_LIMITS.shortLength);
  fw.text("drv.builder", drv.builder);
  fw.texts("drv.args", drv.args, SERVE_LIMITS.textLength);
  const env = [...drv.env].sort(([a], [b]) => compareUtf8(a, b));
  fw.u64("drv.env count", env.length);
  env.forEach(([key, value], i) => {
    fw.text(`drv.env[${i}].key`, key);
    fw.text(`drv.env[${i}].value`, value);
  });
}
