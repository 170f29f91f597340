import assert from "node:assert/strict";
import fc from "fast-check";
import { Hash } from "../../lib/hash/hash.ts";
import {
  BUILD_STATUSES,
  buildStatusCode,
  readBuildResult,
  writeBuildResult,
} from "../../lib/serve_protocol/build_result.ts";
import type { BuildResult, Realisation } from "../../lib/derivation/build_result.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import {
  arbOutputName,
  arbPath,
  arbSafe,
  arbSha256,
  arbText,
  arbTextSet,
  arbU32,
  decode,
  encode,
  MINORS,
  reader,
  rejectsTyped,
  sp,
  throwsTyped,
  v,
  wire,
} from "./_codec.ts";

const HEX = "5b75e08b60d120f7c45fcf80e871e0491c5ae5996325be2720eac2ee39e434df";
const DRV_HASH = Hash.parse(`sha256:${HEX}`);
const ZERO = "sha256:" + "0".repeat(64);
const BASE_A = "2h1hs7di835bwxjnjd72izy08367yxaj-a";
const BASE_B = "2h1hs7di835bwxjnjd72izy08367yxaj-b";

Deno.test("BUILD_STATUSES has Nix's codes and names (build-result.hh)", () => {
  assert.deepEqual(
    BUILD_STATUSES.map((s) => `${buildStatusCode(s)} ${s}`),
    [
      "0 Built",
      "1 Substituted",
      "2 AlreadyValid",
      "3 PermanentFailure",
      "4 InputRejected",
      "5 OutputRejected",
      "6 TransientFailure",
      "7 CachedFailure",
      "8 TimedOut",
      "9 MiscFailure",
      "10 DependencyFailed",
      "11 LogLimitExceeded",
      "12 NotDeterministic",
      "13 ResolvesToAlreadyValid",
      "14 NoSubstituters",
    ],
  );
});

/** A success with two outputs, with every field set. */
const SUCCESS: BuildResult = {
  status: "Built",
  errorMsg: "",
  timesBuilt: 1,
  isNonDeterministic: false,
  startTime: 30,
  stopTime: 50,
  builtOutputs: new Map<string, Realisation>([
    ["a", {
      outPath: sp("a"),
      signatures: [],
      drvHash: DRV_HASH,
      dependentRealisations: new Map(),
    }],
    ["b", { outPath: sp("b"), signatures: ["k1:c2ln", "k2:c2ln"], drvHash: DRV_HASH }],
  ]),
};

/** Hand-built: what Nix sends for SUCCESS at each group of minors. */
function successGolden(m: number): Uint8Array {
  const items: (number | string)[] = [0, ""];
  if (m >= 3) items.push(1, 0, 30, 50);
  if (m >= 8) {
    // Nix 2.35: count, then output name, full out path, signature set.
    items.push(2, "a", sp("a"), 0, "b", sp("b"), 2, "k1:c2ln", "k2:c2ln");
  } else if (m >= 6) {
    // Nix 2.8: count, then DrvOutput id and the Realisation JSON, keys sorted.
    items.push(
      2,
      `sha256:${HEX}!a`,
      `{"dependentRealisations":{},"id":"sha256:${HEX}!a","outPath":"${BASE_A}","signatures":[]}`,
      `sha256:${HEX}!b`,
      `{"id":"sha256:${HEX}!b","outPath":"${BASE_B}","signatures":["k1:c2ln","k2:c2ln"]}`,
    );
  }
  return wire(...items);
}

/** What reading SUCCESS back at minor `m` gives. */
function successAt(m: number): BuildResult {
  const r: BuildResult = { status: "Built", errorMsg: "" };
  if (m >= 3) {
    Object.assign(r, { timesBuilt: 1, isNonDeterministic: false, startTime: 30, stopTime: 50 });
  }
  if (m >= 8) {
    r.builtOutputs = new Map([
      ["a", { outPath: sp("a"), signatures: [] }],
      ["b", { outPath: sp("b"), signatures: ["k1:c2ln", "k2:c2ln"] }],
    ]);
  } else if (m >= 6) r.builtOutputs = SUCCESS.builtOutputs!;
  return r;
}

Deno.test("writeBuildResult() and readBuildResult() match hand-built bytes at every minor", async () => {
  for (const m of MINORS) {
    const bytes = successGolden(m);
    assert.deepEqual(await encode((w) => writeBuildResult(w, SUCCESS, v(m))), bytes, `2.${m}`);
    assert.deepStrictEqual(
      await decode(bytes, (r) => readBuildResult(r, v(m))),
      successAt(m),
      `2.${m}`,
    );
  }
});

Deno.test("readBuildResult() leaves out the fields a minor does not have", async () => {
  const r2 = await decode(successGolden(2), (r) => readBuildResult(r, v(2)));
  assert.deepEqual(Object.keys(r2), ["status", "errorMsg"]);
  const r5 = await decode(successGolden(5), (r) => readBuildResult(r, v(5)));
  assert.ok(!("builtOutputs" in r5));
  const r8 = await decode(successGolden(8), (r) => readBuildResult(r, v(8)));
  for (const real of r8.builtOutputs!.values()) {
    assert.ok(!("drvHash" in real) && !("dependentRealisations" in real));
  }
});

Deno.test("a failure carries its message and no outputs at every minor", async () => {
  const failure: BuildResult = {
    status: "NotDeterministic",
    errorMsg: "\x1b[31;1merror:\x1b[0m no idea why",
    timesBuilt: 3,
    isNonDeterministic: true,
    startTime: 30,
    stopTime: 50,
  };
  for (const m of MINORS) {
    const items: (number | string)[] = [12, failure.errorMsg];
    if (m >= 3) items.push(3, 1, 30, 50);
    if (m >= 6) items.push(0);
    const bytes = await encode((w) => writeBuildResult(w, failure, v(m)));
    assert.deepEqual(bytes, wire(...items), `2.${m}`);
    const back = await decode(bytes, (r) => readBuildResult(r, v(m)));
    assert.equal(back.errorMsg, failure.errorMsg);
    if (m >= 6) assert.deepEqual(back.builtOutputs, new Map());
  }
});

Deno.test("Nix 2.35's answer to a 2.7 peer (zero hash, only id and outPath) round-trips", async () => {
  const bytes = wire(
    0,
    "",
    1,
    0,
    30,
    50,
    1,
    `${ZERO}!out`,
    `{"id":"${ZERO}!out","outPath":"${BASE_A}"}`,
  );
  const res = await decode(bytes, (r) => readBuildResult(r, v(7)));
  const out = res.builtOutputs!.get("out")!;
  assert.deepEqual(out, { outPath: sp("a"), drvHash: Hash.parse(ZERO) });
  assert.deepEqual(await encode((w) => writeBuildResult(w, res, v(7))), bytes);
  // Written without a drvHash (as from a 2.8 session), the id gets the zero hash, as Nix 2.35 does.
  const from8 = { ...res, builtOutputs: new Map([["out", { outPath: sp("a") }]]) };
  assert.deepEqual(await encode((w) => writeBuildResult(w, from8, v(7))), bytes);
});

Deno.test("readBuildResult() reads dependentRealisations and other hash encodings", async () => {
  const dep = `sha256:${HEX}!dev`;
  const json = `{"dependentRealisations":{"${dep}":"${BASE_B}"},"id":"sha256:${HEX}!out",` +
    `"outPath":"${BASE_A}","signatures":["z","a"]}`;
  const bytes = wire(0, "", 1, 0, 0, 0, 1, `sha256:${HEX}!out`, json);
  const res = await decode(bytes, (r) => readBuildResult(r, v(6)));
  const out = res.builtOutputs!.get("out")!;
  assert.deepEqual(out.dependentRealisations, new Map([[dep, sp("b")]]));
  assert.deepEqual(out.signatures, ["a", "z"]);
  // Written back with the signatures sorted, as Nix's StringSet.
  const again = await encode((w) => writeBuildResult(w, res, v(6)));
  assert.ok(new TextDecoder().decode(again).includes(`"signatures":["a","z"]`));
  // An id in nix32 is read (Nix's parseAnyPrefixed) and written back in base16, as Nix does.
  const id32 = `${DRV_HASH.toString("base32", true)}!out`;
  const ok32 = await decode(
    wire(0, "", 1, 0, 0, 0, 1, id32, `{"id":"${id32}","outPath":"${BASE_A}"}`),
    (r) => readBuildResult(r, v(6)),
  );
  assert.ok(ok32.builtOutputs!.get("out")!.drvHash!.equals(DRV_HASH));
  assert.ok(
    new TextDecoder().decode(await encode((w) => writeBuildResult(w, ok32, v(6)))).includes(
      `"id":"sha256:${HEX}!out"`,
    ),
  );
});

Deno.test("readBuildResult() rejects malformed replies with typed errors naming the field", async () => {
  await rejectsTyped(
    readBuildResult(reader(wire(15, "")), v(2)),
    /field "status": 15 is no build status/,
    0,
  );
  await rejectsTyped(
    readBuildResult(reader(wire(0, "", 1, 2, 0, 0)), v(3)),
    /isNonDeterministic/,
    24,
  );
  const one = (id: string, json: string) =>
    readBuildResult(reader(wire(0, "", 0, 0, 0, 0, 1, id, json)), v(7));
  const id = `sha256:${HEX}!out`;
  await rejectsTyped(one("nobang", "{}"), /builtOutputs\[0\]\.id.*no derivation output id/);
  await rejectsTyped(one("md4:00!out", "{}"), /builtOutputs\[0\]\.id.*unknown algorithm/);
  await rejectsTyped(one(id, "{"), /builtOutputs\[0\]\.realisation.*not JSON/);
  await rejectsTyped(one(id, "[]"), /not a JSON object/);
  await rejectsTyped(one(id, `{"id":"x","outPath":"${BASE_A}"}`), /differs from the key/);
  await rejectsTyped(one(id, `{"id":"${id}"}`), /"outPath" is missing/);
  await rejectsTyped(one(id, `{"id":"${id}","outPath":"bad"}`), /not a store path base name/);
  await rejectsTyped(
    one(id, `{"id":"${id}","outPath":"${BASE_A}","signatures":[1]}`),
    /signatures/,
  );
  await rejectsTyped(
    one(id, `{"id":"${id}","outPath":"${BASE_A}","dependentRealisations":{"x":"${BASE_B}"}}`),
    /dependentRealisations.*no derivation output id/,
  );
  const twice = wire(0, "", 0, 0, 0, 0, 2, "a", sp("a"), 0, "a", sp("b"), 0);
  await rejectsTyped(readBuildResult(reader(twice), v(8)), /output "a" appears twice/);
  await rejectsTyped(
    readBuildResult(reader(wire(0, "", 0, 0, 0, 0, 1, "out", "/tmp/x", 0)), v(8)),
    /builtOutputs\[0\]\.outPath.*not a store path/,
  );
  await rejectsTyped(
    readBuildResult(reader(wire(0, "", 0, 0, 0, 0, 1n << 40n)), v(8)),
    /builtOutputs count.*above the limit/,
  );
});

Deno.test("readBuildResult() gives a typed error for every truncation", async () => {
  for (const m of [3, 7, 8]) {
    const bytes = successGolden(m);
    for (let n = 0; n < bytes.length; n++) {
      await rejectsTyped(readBuildResult(reader(bytes.subarray(0, n)), v(m)), /ended/);
    }
  }
});

Deno.test("writeBuildResult() refuses values without a wire form", () => {
  const w = () => new WireWriter(new BufferSink());
  throwsTyped(
    () => writeBuildResult(w(), { status: "Nope" as "Built", errorMsg: "" }, v(7)),
    /no build status/,
  );
  throwsTyped(
    () =>
      writeBuildResult(
        w(),
        { ...SUCCESS, builtOutputs: new Map([["out", { outPath: "/tmp/x" }]]) },
        v(8),
      ),
    /outPath/,
  );
  throwsTyped(
    () =>
      writeBuildResult(
        w(),
        { ...SUCCESS, builtOutputs: new Map([["out", { outPath: "/tmp/x" }]]) },
        v(7),
      ),
    /outPath/,
  );
  throwsTyped(() => writeBuildResult(w(), { ...SUCCESS, timesBuilt: 2 ** 32 }, v(3)), /timesBuilt/);
});

/** A Realisation as minor `m` carries it. */
function arbRealisation(m: number): fc.Arbitrary<Realisation> {
  if (m >= 8) {
    return fc.record({ outPath: arbPath, signatures: arbTextSet }, { noNullPrototype: true });
  }
  const arbDeps = fc.uniqueArray(fc.tuple(arbSha256, arbOutputName, arbPath), {
    maxLength: 3,
    selector: ([h, n]) => `${h.toString("base16")}!${n}`,
  }).map((deps) =>
    new Map(
      deps.map(([h, n, p]) => [`${h.toString("base16", true)}!${n}`, p] as [string, string])
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    )
  );
  return fc.record(
    {
      outPath: arbPath,
      drvHash: arbSha256,
      signatures: arbTextSet,
      dependentRealisations: arbDeps,
    },
    { requiredKeys: ["outPath", "drvHash"], noNullPrototype: true },
  );
}

Deno.test("readBuildResult(writeBuildResult(x)) is x at every minor (property)", async () => {
  const arb = fc.constantFrom(...MINORS).chain((m) =>
    fc.tuple(
      fc.constant(m),
      fc.record({
        status: fc.constantFrom(...BUILD_STATUSES),
        errorMsg: arbText,
        timesBuilt: arbU32,
        isNonDeterministic: fc.boolean(),
        startTime: arbSafe,
        stopTime: arbSafe,
        builtOutputs: fc.uniqueArray(fc.tuple(arbOutputName, arbRealisation(m)), {
          maxLength: 3,
          selector: ([n]) => n,
        }).map((es) => new Map(es.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))),
      }),
    )
  );
  await fc.assert(
    fc.asyncProperty(arb, async ([m, full]) => {
      const want: BuildResult = { status: full.status, errorMsg: full.errorMsg };
      if (m >= 3) {
        Object.assign(want, {
          timesBuilt: full.timesBuilt,
          isNonDeterministic: full.isNonDeterministic,
          startTime: full.startTime,
          stopTime: full.stopTime,
        });
      }
      if (m >= 6) want.builtOutputs = full.builtOutputs;
      const bytes = await encode((w) => writeBuildResult(w, full, v(m)));
      assert.deepStrictEqual(await decode(bytes, (r) => readBuildResult(r, v(m))), want);
    }),
    { numRuns: 150 },
  );
});
