import assert from "node:assert/strict";
import fc from "fast-check";
import { Hash } from "../../lib/hash/hash.ts";
import {
  type BasicDerivation,
  type DerivationOutput,
  fixedOutputPath,
} from "../../lib/derivation/derivation.ts";
import {
  readBasicDerivation,
  writeBasicDerivation,
} from "../../lib/serve_protocol/basic_derivation_codec.ts";
import { BufferSink, encodeString, WireWriter } from "../../lib/wire/wire_writer.ts";
import {
  arbName,
  arbOutputName,
  arbPathSet,
  arbSha256,
  arbText,
  concat,
  decode,
  encode,
  reader,
  rejectsTyped,
  sp,
  throwsTyped,
  wire,
} from "./_codec.ts";

const DRV: BasicDerivation = {
  name: "hello",
  outputs: new Map<string, DerivationOutput>([
    ["dev", { kind: "inputAddressed", path: sp("hello-dev") }],
    ["out", { kind: "inputAddressed", path: sp("hello") }],
  ]),
  inputSrcs: [sp("a-src"), sp("b-dep")],
  platform: "x86_64-linux",
  builder: "/bin/sh",
  args: ["-c", "echo hi > $out"],
  env: new Map([["bytes", "a\udcff"], ["out", sp("hello")]]),
};

/** Hand-built: DRV on the wire (env value "a" + raw byte 0xff). */
const GOLDEN = concat(
  wire(2, "dev", sp("hello-dev"), "", "", "out", sp("hello"), "", ""),
  wire(2, sp("a-src"), sp("b-dep"), "x86_64-linux", "/bin/sh", 2, "-c", "echo hi > $out"),
  wire(2, "bytes"),
  encodeString(new Uint8Array([0x61, 0xff])),
  wire("out", sp("hello")),
);

Deno.test("writeBasicDerivation() and readBasicDerivation() match hand-built bytes", async () => {
  assert.deepEqual(await encode((w) => writeBasicDerivation(w, DRV)), GOLDEN);
  assert.deepStrictEqual(await decode(GOLDEN, (r) => readBasicDerivation(r, "hello")), DRV);
});

Deno.test("readBasicDerivation() sorts outputs, inputs and env as Nix's maps and sets", async () => {
  const bytes = wire(
    2,
    "out",
    sp("x"),
    "",
    "",
    "dev",
    sp("x-dev"),
    "",
    "",
    2,
    sp("z"),
    sp("a"),
    "p",
    "b",
    0,
    2,
    "z",
    "1",
    "a",
    "2",
  );
  const drv = await decode(bytes, (r) => readBasicDerivation(r, "x"));
  assert.deepEqual([...drv.outputs.keys()], ["dev", "out"]);
  assert.deepEqual(drv.inputSrcs, [sp("a"), sp("z")]);
  assert.deepEqual([...drv.env.keys()], ["a", "z"]);
});

Deno.test("readBasicDerivation() reads each kind of output as Nix 2.8 writes it", async () => {
  const out = async (path: string, algo: string, hash: string) => {
    const bytes = wire(1, "out", path, algo, hash, 0, "p", "b", 0, 0);
    const drv = await decode(bytes, (r) => readBasicDerivation(r, "f"));
    assert.deepEqual(await encode((w) => writeBasicDerivation(w, drv)), bytes);
    return drv.outputs.get("out")!;
  };
  assert.deepEqual(await out("", "", ""), { kind: "deferred" });
  assert.deepEqual(await out("", "r:sha256", ""), {
    kind: "floating",
    method: "recursive",
    hashAlgo: "sha256",
  });
  assert.deepEqual(await out("", "sha512", "impure"), {
    kind: "impure",
    method: "flat",
    hashAlgo: "sha512",
  });
  const hash = Hash.of("sha256", "fixed");
  const path = fixedOutputPath("f", "out", { method: "recursive", hash });
  assert.deepEqual(await out(path, "r:sha256", hash.toString("base16")), {
    kind: "fixed",
    path,
    method: "recursive",
    hash,
  });
});

Deno.test("writeBasicDerivation() sends a fixed output's computed path, as Nix does", async () => {
  const hash = Hash.of("sha1", "x");
  const drv: BasicDerivation = {
    ...DRV,
    name: "f",
    outputs: new Map([["out", { kind: "fixed", path: sp("stale"), method: "flat", hash }]]),
  };
  const bytes = await encode((w) => writeBasicDerivation(w, drv));
  const back = await readBasicDerivation(reader(bytes), "f");
  const o = back.outputs.get("out")!;
  assert.equal(o.kind, "fixed");
  assert.equal((o as { path: string }).path, fixedOutputPath("f", "out", { method: "flat", hash }));
  // A nix32 hash on the wire is read (Nix parses any bare encoding) and written back as base16.
  const b32 = wire(
    1,
    "out",
    (o as { path: string }).path,
    "sha1",
    hash.toString("base32"),
    0,
    "p",
    "b",
    0,
    0,
  );
  const fromB32 = await readBasicDerivation(reader(b32), "f");
  assert.ok((fromB32.outputs.get("out") as { hash: Hash }).hash.equals(hash));
});

Deno.test("readBasicDerivation() rejects malformed derivations with typed errors naming the field", async () => {
  const read = (...items: (number | bigint | string)[]) =>
    readBasicDerivation(reader(wire(...items)), "f");
  const rest = [0, "p", "b", 0, 0];
  await rejectsTyped(
    read(2, "out", "", "", "", "out", "", "", "", ...rest),
    /field "drv.outputs\[1\].name": output "out" appears twice/,
    48,
  );
  await rejectsTyped(
    read(1, "out", "", "", "abc", ...rest),
    /drv.outputs\[0\].hash.*without a hash algorithm/,
  );
  await rejectsTyped(
    read(1, "out", "", "sha3", "", ...rest),
    /drv.outputs\[0\].hashAlgo.*unknown hash algorithm/,
  );
  await rejectsTyped(
    read(1, "out", sp("x"), "sha256", "", ...rest),
    /a floating output has no path/,
  );
  await rejectsTyped(
    read(1, "out", sp("x"), "sha256", "impure", ...rest),
    /an impure output has no path/,
  );
  await rejectsTyped(
    read(1, "out", "/tmp/x", "", "", ...rest),
    /drv.outputs\[0\].path.*not a store path/,
  );
  await rejectsTyped(read(1, "out", sp("x"), "sha256", "sha256:00", ...rest), /not a bare/);
  await rejectsTyped(read(1, "out", sp("x"), "sha256", "0011", ...rest), /drv.outputs\[0\].hash/);
  await rejectsTyped(read(0, 1, "nope", "p", "b", 0, 0), /drv.inputSrcs\[0\]/);
  await rejectsTyped(read(0, 0, "p", "b", 0, 2, "k", "1", "k", "2"), /env key "k" appears twice/);
  await rejectsTyped(read(1n << 40n), /drv.outputs count.*above the limit/);
  await rejectsTyped(read(0, 0, "p", "b", 1n << 40n), /drv.args count/);
  for (let n = 0; n < GOLDEN.length; n++) {
    await rejectsTyped(readBasicDerivation(reader(GOLDEN.subarray(0, n)), "hello"), /ended/);
  }
});

Deno.test("writeBasicDerivation() refuses values without a wire form", () => {
  const w = () => new WireWriter(new BufferSink());
  throwsTyped(() => writeBasicDerivation(w(), { ...DRV, inputSrcs: ["/tmp/x"] }), /inputSrcs\[0\]/);
  throwsTyped(
    () => writeBasicDerivation(w(), { ...DRV, builder: "\ud800" }),
    /drv.builder.*surrogate/,
  );
  throwsTyped(
    () =>
      writeBasicDerivation(w(), {
        ...DRV,
        outputs: new Map([["out", { kind: "inputAddressed", path: "/tmp/x" }]]),
      }),
    /drv.outputs\[0\].path/,
  );
});

const arbOutput = (drvName: string, outName: string): fc.Arbitrary<DerivationOutput> =>
  fc.oneof(
    fc.constant<DerivationOutput>({ kind: "deferred" }),
    arbPathSet.filter((a) => a.length > 0).map((a): DerivationOutput => ({
      kind: "inputAddressed",
      path: a[0]!,
    })),
    fc.tuple(fc.constantFrom("flat" as const, "recursive" as const), arbSha256).map((
      [method, hash],
    ): DerivationOutput => ({
      kind: "fixed",
      path: fixedOutputPath(drvName, outName, { method, hash }),
      method,
      hash,
    })),
    fc.tuple(
      fc.constantFrom("flat" as const, "recursive" as const),
      fc.constantFrom("md5" as const, "sha1" as const, "sha256" as const, "sha512" as const),
      fc.constantFrom("floating" as const, "impure" as const),
    ).map(([method, hashAlgo, kind]): DerivationOutput => ({ kind, method, hashAlgo })),
  );

Deno.test("readBasicDerivation(writeBasicDerivation(x)) is x (property)", async () => {
  const arb = arbName.filter((n) => n.length < 150).chain((name) =>
    fc.record({
      name: fc.constant(name),
      outputs: fc.uniqueArray(arbOutputName, { minLength: 1, maxLength: 3 }).chain((names) =>
        fc.tuple(...names.sort().map((n) => arbOutput(name, n).map((o) => [n, o] as const)))
      ).map((es) => new Map<string, DerivationOutput>(es)),
      inputSrcs: arbPathSet,
      platform: arbText,
      builder: arbText,
      args: fc.array(arbText, { maxLength: 4 }),
      env: fc.uniqueArray(fc.tuple(fc.string({ maxLength: 8 }), arbText), {
        maxLength: 4,
        selector: ([k]) => k,
      }).map((es) => new Map(es.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))),
    }, { noNullPrototype: true })
  );
  await fc.assert(
    fc.asyncProperty(arb, async (drv) => {
      const bytes = await encode((w) => writeBasicDerivation(w, drv));
      assert.deepStrictEqual(await decode(bytes, (r) => readBasicDerivation(r, drv.name)), drv);
    }),
    { numRuns: 100 },
  );
});
