import assert from "node:assert/strict";
import fc from "fast-check";
import { Hash, type HashAlgorithm } from "../../lib/hash/hash.ts";
import { encodeDerivation, parseDerivation, printDerivation } from "../../lib/derivation/aterm.ts";
import {
  type Derivation,
  type DerivationOutput,
  fixedOutputPath,
} from "../../lib/derivation/derivation.ts";
import { decodeNixString, sortByNixKey } from "../../lib/derivation/nix_string.ts";
import { compareUtf8 } from "../../lib/wire/utf8_order.ts";

const H = "ffffffffffffffffffffffffffffffff";
const BASE: Derivation = {
  name: "x",
  outputs: new Map<string, DerivationOutput>([
    ["dev", { kind: "inputAddressed", path: `/nix/store/${H}-x-dev` }],
    ["out", { kind: "inputAddressed", path: `/nix/store/${H}-x` }],
  ]),
  inputDrvs: new Map([[`/nix/store/${H}-y.drv`, ["out"]]]),
  inputSrcs: [`/nix/store/${H}-src`],
  platform: "x86_64-linux",
  builder: "/bin/sh",
  args: ["-c", "true"],
  env: new Map([
    ["dev", `/nix/store/${H}-x-dev`],
    ["name", "x"],
    ["out", `/nix/store/${H}-x`],
  ]),
};

Deno.test("printDerivation() masks output paths and their env variables only", () => {
  assert.equal(
    printDerivation(BASE, { maskOutputs: true }),
    `Derive([("dev","","",""),("out","","","")],[("/nix/store/${H}-y.drv",["out"])],` +
      `["/nix/store/${H}-src"],"x86_64-linux","/bin/sh",["-c","true"],` +
      `[("dev",""),("name","x"),("out","")])`,
  );
});

Deno.test("printDerivation() prints replaced input derivations sorted and as they are", () => {
  const text = printDerivation(BASE, {
    inputDrvs: new Map<string, Iterable<string>>([["bb", new Set(["out", "dev"])], ["aa", [
      "lib",
    ]]]),
  });
  assert.ok(text.includes(`[("aa",["lib"]),("bb",["dev","out"])]`), text);
});

Deno.test("printDerivation() escapes builder, args and env, nothing else, as Nix 2.8", () => {
  const odd = 'q"b\\n\nr\rt\t';
  const text = printDerivation({
    ...BASE,
    outputs: new Map([["out", { kind: "deferred" }]]),
    platform: odd,
    builder: odd,
    args: [odd],
    env: new Map([[odd, odd]]),
  });
  const esc = 'q\\"b\\\\n\\nr\\rt\\t';
  assert.ok(text.includes(`,"${odd}","${esc}",["${esc}"],[("${esc}","${esc}")])`), text);
});

Deno.test("printDerivation() computes fixed output paths from the hash, as Nix 2.8", () => {
  const hash = Hash.of("sha256", "");
  const drv: Derivation = {
    ...BASE,
    name: "f",
    outputs: new Map([["out", {
      kind: "fixed",
      path: `/nix/store/${H}-wrong`,
      method: "flat",
      hash,
    }]]),
  };
  assert.ok(
    printDerivation(drv).startsWith(
      `Derive([("out","/nix/store/i8yf3p9li8bd9rwjsr5nkg63lxs367am-f","sha256","${
        hash.toString("base16")
      }")]`,
    ),
  );
});

Deno.test("printDerivation() sorts keys by UTF-8 bytes, not UTF-16 code units", () => {
  const drv = { ...BASE, env: new Map([["🙂", "1"], ["\uff5a", "2"], ["é", "3"], ["Z", "4"]]) };
  assert.ok(printDerivation(drv).endsWith(`[("Z","4"),("é","3"),("\uff5a","2"),("🙂","1")])`));
});

// ---- round trip of random derivations ----

const nix32 = fc.constantFrom(..."0123456789abcdfghijklmnpqrsvwxyz");
const hashPart = fc.string({ unit: nix32, minLength: 32, maxLength: 32 });
const nameArb = fc.string({
  unit: fc.constantFrom(..."abcXYZ019+-._?="),
  minLength: 1,
  maxLength: 20,
});
const storePath = fc.tuple(hashPart, nameArb).map(([h, n]) => `/nix/store/${h}-${n}`);
const encoder = new TextEncoder();
/** Any Nix string's bytes: every escape, control bytes, non-ASCII and non-UTF-8 bytes. */
const nixBytes = fc.array(
  fc.oneof(
    fc.constantFrom('"', "\\", "\n", "\r", "\t", "(", ")", ",", "[", "]", "ü", "日", "🙂", "\x00")
      .map((s) => encoder.encode(s)),
    fc.string({ unit: "binary", maxLength: 4 }).map((s) => encoder.encode(s)),
    fc.uint8Array({ maxLength: 4 }),
  ),
  { maxLength: 8 },
).map((parts) => {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.length;
  }
  return bytes;
});
/** Any Nix string, decoded so that it encodes back to the same bytes. */
const nixString = nixBytes.map(decodeNixString);
/**
 * Strings Nix prints without escaping must not hold `"` or `\` to read back.
 * The bytes are dropped before decoding: dropping characters afterwards could
 * join two invalid bytes into a valid UTF-8 sequence.
 */
const unescaped = nixBytes.map((b) => decodeNixString(b.filter((x) => x !== 0x22 && x !== 0x5c)));
const algo = fc.constantFrom<HashAlgorithm>("md5", "sha1", "sha256", "sha512");
const method = fc.constantFrom("flat" as const, "recursive" as const);

const outputArb: fc.Arbitrary<(drvName: string, outName: string) => DerivationOutput> = fc.oneof(
  storePath.map((path) => () => ({ kind: "inputAddressed" as const, path })),
  fc.tuple(method, algo, fc.uint8Array({ minLength: 64, maxLength: 64 })).map(
    ([method, a, bytes]) => (drvName: string, outName: string) => {
      const hash = Hash.of(a, bytes);
      return {
        kind: "fixed" as const,
        method,
        hash,
        path: fixedOutputPath(drvName, outName, { method, hash }),
      };
    },
  ),
  fc.tuple(method, algo).map(([method, hashAlgo]) => () => ({
    kind: "floating" as const,
    method,
    hashAlgo,
  })),
  fc.tuple(method, algo).map(([method, hashAlgo]) => () => ({
    kind: "impure" as const,
    method,
    hashAlgo,
  })),
  fc.constant(() => ({ kind: "deferred" as const })),
);

const drvArb: fc.Arbitrary<Derivation> = fc.record({
  name: nameArb,
  outputs: fc.uniqueArray(fc.tuple(nameArb, outputArb), { selector: ([n]) => n, maxLength: 4 }),
  inputDrvs: fc.uniqueArray(
    fc.tuple(storePath.map((p) => `${p}.drv`), fc.uniqueArray(unescaped, { maxLength: 3 })),
    { selector: ([p]) => p, maxLength: 3 },
  ),
  inputSrcs: fc.uniqueArray(storePath, { maxLength: 4 }),
  platform: unescaped,
  builder: nixString,
  args: fc.array(nixString, { maxLength: 4 }),
  env: fc.uniqueArray(fc.tuple(nixString, nixString), { selector: ([k]) => k, maxLength: 6 }),
}, { noNullPrototype: true }).map((r) => ({
  name: r.name,
  outputs: new Map(sortByNixKey(new Map(r.outputs.map(([n, mk]) => [n, mk(r.name, n)])))),
  inputDrvs: new Map(
    sortByNixKey(new Map(r.inputDrvs)).map(([p, outs]) => [p, outs.sort(compareUtf8)]),
  ),
  inputSrcs: r.inputSrcs.sort(),
  platform: r.platform,
  builder: r.builder,
  args: r.args,
  env: new Map(sortByNixKey(new Map(r.env))),
}));

Deno.test("encodeDerivation() then parseDerivation() gives back the derivation", () => {
  fc.assert(
    fc.property(drvArb, (drv) => {
      const bytes = encodeDerivation(drv);
      const back = parseDerivation(bytes, { name: drv.name });
      assert.deepEqual(back, drv);
      assert.deepEqual(encodeDerivation(back), bytes);
      assert.equal(printDerivation(back), printDerivation(drv));
    }),
    { numRuns: 150 },
  );
});
