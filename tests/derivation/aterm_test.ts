import assert from "node:assert/strict";
import fc from "fast-check";
import { parseDerivation, printDerivation } from "../../lib/derivation/aterm.ts";
import {
  type Derivation,
  DerivationError,
  type DerivationOutput,
} from "../../lib/derivation/derivation.ts";

const hashPart = fc.string({
  unit: fc.constantFrom(..."0123456789abcdfghijklmnpqrsvwxyz"),
  minLength: 32,
  maxLength: 32,
});
const nameArb = fc.string({
  unit: fc.constantFrom(..."abcXYZ019+-._?="),
  minLength: 1,
  maxLength: 20,
});
const storePath = fc.tuple(hashPart, nameArb).map(([h, n]) => `/nix/store/${h}-${n}`);
/** Strings with every escape and non-ASCII text. */
const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom('"', "\\", "\n", "\r", "\t", "(", ")", ",", "[", "]", "ü", "日", "🙂"),
    fc.string({ minLength: 1, maxLength: 1, unit: "binary" }),
  ),
  maxLength: 30,
});
const output: fc.Arbitrary<DerivationOutput> = fc.oneof(
  storePath.map((path) => ({ kind: "inputAddressed" as const, path })),
  fc.record({
    kind: fc.constant("fixed" as const),
    path: storePath,
    method: fc.constantFrom("flat" as const, "recursive" as const),
    hashAlgo: fc.constantFrom("sha1", "sha256", "sha512", "md5"),
    hash: fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 32, maxLength: 64 }),
  }, { noNullPrototype: true }),
  fc.record({
    kind: fc.constant("floating" as const),
    method: fc.constantFrom("flat" as const, "recursive" as const),
    hashAlgo: fc.constant("sha256"),
  }, { noNullPrototype: true }),
  fc.constant({ kind: "deferred" as const }),
);
const sortedMap = <V>(entries: [string, V][]) =>
  new Map(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
const drvArb: fc.Arbitrary<Derivation> = fc.record({
  name: nameArb,
  outputs: fc.uniqueArray(fc.tuple(nameArb, output), {
    selector: ([n]) => n,
    minLength: 1,
    maxLength: 4,
  })
    .map(sortedMap),
  inputDrvs: fc.uniqueArray(
    fc.tuple(
      storePath.map((p) => `${p}.drv`),
      fc.uniqueArray(nameArb, { minLength: 1, maxLength: 3 }).map((a) => a.sort()),
    ),
    { selector: ([p]) => p, maxLength: 3 },
  ).map(sortedMap),
  inputSrcs: fc.uniqueArray(storePath, { maxLength: 4 }).map((a) => a.sort()),
  platform: text,
  builder: text,
  args: fc.array(text, { maxLength: 4 }),
  env: fc.uniqueArray(fc.tuple(text, text), { selector: ([k]) => k, maxLength: 6 }).map(sortedMap),
}, { noNullPrototype: true });

Deno.test("printDerivation() then parseDerivation() gives back the derivation", () => {
  fc.assert(
    fc.property(drvArb, (drv) => {
      const text = printDerivation(drv);
      const back = parseDerivation(text, drv.name);
      assert.deepEqual(back, drv);
      assert.equal(printDerivation(back), text);
    }),
    { numRuns: 200 },
  );
});

const SAMPLE =
  'Derive([("out","/nix/store/ffffffffffffffffffffffffffffffff-x","","")],[("/nix/store/ffffffffffffffffffffffffffffffff-y.drv",["out"])],["/nix/store/ffffffffffffffffffffffffffffffff-src"],"x86_64-linux","/bin/sh",["-c","echo \\"a\\\\b\\n\\""],[("out","/nix/store/ffffffffffffffffffffffffffffffff-x")])';

Deno.test("parseDerivation() reads escapes as Nix does", () => {
  const d = parseDerivation(SAMPLE, "x");
  assert.equal(d.args[1], 'echo "a\\b\n"');
  assert.equal(printDerivation(d), SAMPLE);
  // an unknown escape stands for the character itself
  const odd = parseDerivation(SAMPLE.replace('"x86_64-linux"', '"x86\\_64"'), "x");
  assert.equal(odd.platform, "x86_64");
});

Deno.test("parseDerivation() rejects truncation at every offset with a DerivationError", () => {
  for (let cut = 0; cut < SAMPLE.length; cut++) {
    assert.throws(() => parseDerivation(SAMPLE.slice(0, cut), "x"), (e) => {
      assert.ok(e instanceof DerivationError, `cut ${cut}: ${e}`);
      assert.match(e.message, /at offset \d+/);
      return true;
    });
  }
});

Deno.test("parseDerivation() names the field and offset of malformed input", () => {
  const bad: [string, RegExp][] = [
    [SAMPLE.replace("Derive(", "Derivx("), /offset 0: expected "Derive\("/],
    [SAMPLE + " ", /text after the derivation/],
    [SAMPLE.replace('"x86_64-linux",', '"x86_64-linux"'), /expected ","/],
    [
      SAMPLE.replace(
        "ffffffffffffffffffffffffffffffff-src",
        "ffffffffffffffffffffffffffffffff-s/../rc",
      ),
      /input source/,
    ],
    [
      SAMPLE.replace(
        "ffffffffffffffffffffffffffffffff-src",
        "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-src",
      ),
      /input source.*invalid character "e"/,
    ],
    [
      SAMPLE.replace(
        "/nix/store/ffffffffffffffffffffffffffffffff-y.drv",
        "/tmp/ffffffffffffffffffffffffffffffff-y.drv",
      ),
      /input derivation path/,
    ],
    [
      SAMPLE.replace(
        '"out","/nix/store/ffffffffffffffffffffffffffffffff-x","",""',
        '"out","/nix/store/ffffffffffffffffffffffffffffffff-x","md4","00"',
      ),
      /unknown hash algorithm/,
    ],
    [
      SAMPLE.replace(
        '[("out","/nix/store/ffffffffffffffffffffffffffffffff-x")]',
        '[("k","v"),("k","w")]',
      ),
      /env key "k" appears twice/,
    ],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => parseDerivation(text, "x"),
      (e) => e instanceof DerivationError && re.test(e.message),
      text,
    );
  }
});

Deno.test("parseDerivation() throws only DerivationError on mutated input", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.nat(SAMPLE.length - 1),
          fc.constantFrom('"', "\\", "(", ")", ",", "[", "]", "x", "/", ""),
        ),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
      (edits) => {
        let s = SAMPLE;
        for (const [i, c] of edits) s = s.slice(0, i) + c + s.slice(i + 1);
        try {
          parseDerivation(s, "x");
        } catch (e) {
          assert.ok(e instanceof DerivationError, `unexpected ${e}`);
        }
      },
    ),
    { numRuns: 500 },
  );
});
