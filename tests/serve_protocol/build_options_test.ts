import assert from "node:assert/strict";
import fc from "fast-check";
import {
  readBuildOptions,
  type ServeBuildOptions,
  writeBuildOptions,
} from "../../lib/serve_protocol/build_options.ts";
import {
  arbSafe,
  arbU32,
  decode,
  encode,
  MINORS,
  reader,
  rejectsTyped,
  throwsTyped,
  v,
  wire,
} from "./_codec.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";

const FULL: Required<ServeBuildOptions> = {
  maxSilentTime: 10,
  buildTimeout: 20,
  maxLogSize: 30,
  nrRepeats: 2,
  enforceDeterminism: false,
  keepFailed: true,
};

/** The fields of `o` that minor `m` has. */
function project(o: Required<ServeBuildOptions>, m: number): ServeBuildOptions {
  const p: ServeBuildOptions = { maxSilentTime: o.maxSilentTime, buildTimeout: o.buildTimeout };
  if (m >= 2) p.maxLogSize = o.maxLogSize;
  if (m >= 3) {
    p.nrRepeats = o.nrRepeats;
    p.enforceDeterminism = o.enforceDeterminism;
  }
  if (m >= 7) p.keepFailed = o.keepFailed;
  return p;
}

/** Hand-built: the u64s Nix sends at minor `m` (serve-protocol.cc's gates 2, 3, 7). */
function golden(m: number): Uint8Array {
  const items = [10, 20];
  if (m >= 2) items.push(30);
  if (m >= 3) items.push(2, 0);
  if (m >= 7) items.push(1);
  return wire(...items);
}

Deno.test("writeBuildOptions() and readBuildOptions() match hand-built bytes at every minor", async () => {
  for (const m of MINORS) {
    const bytes = golden(m);
    assert.deepEqual(await encode((w) => writeBuildOptions(w, FULL, v(m))), bytes, `2.${m}`);
    const got = await decode(bytes, (r) => readBuildOptions(r, v(m)));
    assert.deepStrictEqual(got, project(FULL, m), `2.${m}`);
  }
  assert.equal(golden(1).length, 16);
  assert.equal(golden(2).length, 24);
  assert.equal(golden(6).length, 40);
  assert.equal(golden(8).length, 48);
});

Deno.test("readBuildOptions() leaves out the fields a minor does not have", async () => {
  const o = await decode(golden(2), (r) => readBuildOptions(r, v(2)));
  assert.ok(!("nrRepeats" in o) && !("enforceDeterminism" in o) && !("keepFailed" in o));
  const o0 = await decode(golden(0), (r) => readBuildOptions(r, v(0)));
  assert.deepEqual(Object.keys(o0), ["maxSilentTime", "buildTimeout"]);
});

Deno.test("writeBuildOptions() sends Nix 2.8's defaults for fields left out", async () => {
  assert.deepEqual(
    await encode((w) => writeBuildOptions(w, { maxSilentTime: 1, buildTimeout: 2 }, v(7))),
    wire(1, 2, 0, 0, 1, 0),
  );
});

Deno.test("readBuildOptions() rejects bools other than 0/1 and u32 overflows, naming the field", async () => {
  const e = await rejectsTyped(
    readBuildOptions(reader(wire(0, 0, 0, 0, 2)), v(3)),
    /field "options.enforceDeterminism": 2 is not a bool/,
    32,
  );
  assert.equal(e.command, "BuildDerivation request");
  await rejectsTyped(
    readBuildOptions(reader(wire(0x100000000n, 0)), v(0), { command: "BuildPaths request" }),
    /BuildPaths request at byte 0, field "options.maxSilentTime": 4294967296 is above the limit/,
  );
  await rejectsTyped(readBuildOptions(reader(wire(0, 0, 1n << 60n)), v(2)), /maxLogSize/, 16);
  await rejectsTyped(readBuildOptions(reader(wire(0, 0, 0, 0, 0, 7)), v(7)), /keepFailed/, 40);
});

Deno.test("readBuildOptions() gives a typed error for every truncation", async () => {
  const bytes = golden(7);
  for (let n = 0; n < bytes.length; n++) {
    await rejectsTyped(readBuildOptions(reader(bytes.subarray(0, n)), v(7)), /ended/);
  }
});

Deno.test("writeBuildOptions() refuses numbers without a wire form", () => {
  throwsTyped(
    () =>
      writeBuildOptions(
        new WireWriter(new BufferSink()),
        { maxSilentTime: -1, buildTimeout: 0 },
        v(7),
      ),
    /Cannot write BuildDerivation request at byte 0, field "options.maxSilentTime"/,
  );
  throwsTyped(
    () =>
      writeBuildOptions(
        new WireWriter(new BufferSink()),
        { maxSilentTime: 0, buildTimeout: 0.5 },
        v(7),
      ),
    /buildTimeout/,
  );
});

Deno.test("readBuildOptions(writeBuildOptions(x)) is x at every minor (property)", async () => {
  const arb = fc.record({
    maxSilentTime: arbU32,
    buildTimeout: arbU32,
    maxLogSize: arbSafe,
    nrRepeats: arbU32,
    enforceDeterminism: fc.boolean(),
    keepFailed: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(arb, fc.constantFrom(...MINORS), async (o, m) => {
      const bytes = await encode((w) => writeBuildOptions(w, o, v(m)));
      assert.deepStrictEqual(await decode(bytes, (r) => readBuildOptions(r, v(m))), project(o, m));
    }),
    { numRuns: 100 },
  );
});
