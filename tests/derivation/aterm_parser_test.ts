import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeDerivation, parseDerivation } from "../../lib/derivation/aterm.ts";
import { DerivationError } from "../../lib/derivation/derivation_error.ts";
import { encodeNixString } from "../../lib/derivation/nix_string.ts";

const H = "ffffffffffffffffffffffffffffffff";
const SAMPLE = `Derive([("dev","/nix/store/${H}-x-dev","",""),("out","/nix/store/${H}-x","","")],` +
  `[("/nix/store/${H}-y.drv",["dev","out"])],["/nix/store/${H}-src"],"x86_64-linux","/bin/sh",` +
  `["-c","echo \\"a\\\\b\\n\\r\\t\\""],[("name","x"),("out","/nix/store/${H}-x")])`;
const PATH = `/nix/store/${H}-x.drv`;

/** Assert that parsing `text` throws a DerivationError at `offset` whose message matches `re`. */
function rejects(text: string | Uint8Array, offset: number | undefined, re: RegExp): void {
  assert.throws(
    () => parseDerivation(text, { path: PATH }),
    (e) => {
      assert.ok(e instanceof Error, String(text));
      assert.ok(e instanceof DerivationError, `not a DerivationError: ${e}`);
      assert.match(e.message, re);
      if (offset !== undefined) assert.equal(e.offset, offset, e.message);
      return true;
    },
  );
}

Deno.test("parseDerivation() reads every field and Nix's escapes", () => {
  const d = parseDerivation(SAMPLE, { path: PATH });
  assert.equal(d.name, "x");
  assert.deepEqual([...d.outputs.keys()], ["dev", "out"]);
  assert.deepEqual(d.outputs.get("out"), { kind: "inputAddressed", path: `/nix/store/${H}-x` });
  assert.deepEqual([...d.inputDrvs], [[`/nix/store/${H}-y.drv`, ["dev", "out"]]]);
  assert.deepEqual(d.inputSrcs, [`/nix/store/${H}-src`]);
  assert.equal(d.platform, "x86_64-linux");
  assert.equal(d.builder, "/bin/sh");
  assert.deepEqual(d.args, ["-c", 'echo "a\\b\n\r\t"']);
  assert.deepEqual([...d.env], [["name", "x"], ["out", `/nix/store/${H}-x`]]);
  assert.equal(new TextDecoder().decode(encodeDerivation(d)), SAMPLE);
});

Deno.test("parseDerivation() takes the name from the path, the option or env name", () => {
  assert.equal(parseDerivation(SAMPLE).name, "x");
  assert.equal(parseDerivation(SAMPLE, { name: "other" }).name, "other");
  assert.equal(
    parseDerivation(SAMPLE, { path: `/nix/store/${H}-hello-1.0.drv` }).name,
    "hello-1.0",
  );
  assert.throws(() => parseDerivation(SAMPLE.replace('("name","x"),', "")), /no path or name/);
  assert.throws(() => parseDerivation(SAMPLE, { path: `/nix/store/${H}-x` }), /\.drv/);
});

Deno.test("parseDerivation() reads each kind of output", () => {
  const out = (fields: string) =>
    parseDerivation(`Derive([("out",${fields})],[],[],"s","b",[],[])`, { name: "f" }).outputs.get(
      "out",
    )!;
  assert.deepEqual(out('"","",""'), { kind: "deferred" });
  assert.deepEqual(out('"","r:sha256",""'), {
    kind: "floating",
    method: "recursive",
    hashAlgo: "sha256",
  });
  assert.deepEqual(out('"","sha512","impure"'), {
    kind: "impure",
    method: "flat",
    hashAlgo: "sha512",
  });
  const hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const fixed = out(`"/nix/store/${H}-f","r:sha256","${hex}"`);
  assert.equal(fixed.kind, "fixed");
  if (fixed.kind !== "fixed") return;
  assert.equal(fixed.method, "recursive");
  assert.equal(fixed.hash.toString("base16"), hex);
  // As Nix: the hash may be nix32 or base64 too; it is printed in base16.
  for (const h of ["0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", hex.toUpperCase()]) {
    const o = out(`"/nix/store/${H}-f","sha256","${h}"`);
    assert.ok(o.kind === "fixed" && o.hash.toString("base16") === hex);
  }
});

Deno.test("parseDerivation() accepts any order, as Nix does, and prints Nix's order", () => {
  const shuffled =
    `Derive([("out","","",""),("dev","","","")],[("/nix/store/${H}-z.drv",["b","a"]),` +
    `("/nix/store/${H}-y.drv",["out"])],["/nix/store/${H}-b","/nix/store/${H}-a"],"s","b",["2","1"],` +
    `[("b","1"),("a","2")])`;
  const d = parseDerivation(shuffled, { name: "x" });
  assert.equal(
    new TextDecoder().decode(encodeDerivation(d)),
    `Derive([("dev","","",""),("out","","","")],[("/nix/store/${H}-y.drv",["out"]),` +
      `("/nix/store/${H}-z.drv",["a","b"])],["/nix/store/${H}-a","/nix/store/${H}-b"],"s","b",` +
      `["2","1"],[("a","2"),("b","1")])`,
  );
});

Deno.test("parseDerivation() keeps bytes that are not UTF-8 and round-trips them", () => {
  const text = encodeNixString(
    `Derive([("out","","","")],[],[],"s","b",["\udcff\udcc3"],[("k","ü")])`,
  );
  const d = parseDerivation(text, { name: "x" });
  assert.equal(d.args[0], "\udcff\udcc3");
  assert.deepEqual(encodeDerivation(d), text);
  // the raw bytes really are 0xff 0xc3
  assert.ok(text.includes(0xff) && text.includes(0xc3));
});

Deno.test("parseDerivation() names the offset and field of malformed input", () => {
  const at = (needle: string) => SAMPLE.indexOf(needle);
  const cases: [string, number, RegExp][] = [
    ["DrvWithVersion(", 0, /unknown constructor "DrvWithVersion"/],
    [SAMPLE.replace("Derive(", "Derive "), 6, /\(constructor\): expected "\("/],
    [SAMPLE.replace("Derive(", "("), 0, /expected "Derive\("/],
    [SAMPLE + ")", SAMPLE.length, /expected the end of the file, found "\)"/],
    [SAMPLE + "\n", SAMPLE.length, /found byte 0x0a/],
    [
      SAMPLE.replace('"x86_64-linux",', '"x86_64-linux"'),
      at('"/bin/sh"') - 1,
      /\(after platform\): expected ","/,
    ],
    [SAMPLE.replace('("name","x"),', '("name" "x"),'), at('("name"') + 7, /\(env "name"\)/],
    [SAMPLE.replace('[("name"', '[,("name"'), at('[("name"') + 1, /\(env\): expected "\("/],
    [SAMPLE.replace('"-c",', '"-c" '), at('"-c"') + 4, /\(args\): expected "," or "\]"/],
    [
      SAMPLE.replace("\\\\b", "\\qb"),
      at("\\\\b"),
      /\(args\[1\]\): unknown escape "\\" followed by "q"/,
    ],
    [
      SAMPLE.replace(`${H}-src`, `${H}-s/../rc`),
      at(`"/nix/store/${H}-src`),
      /\(input source\):.*not a store path.*"\/"/,
    ],
    [
      SAMPLE.replace(`/nix/store/${H}-src`, `/nix/store/../store/${H}-src`),
      at(`"/nix/store/${H}-src`),
      /\(input source\):.*not a store path/,
    ],
    [
      SAMPLE.replace(`/nix/store/${H}-y.drv`, `/tmp/${H}-y.drv`),
      at(`"/nix/store/${H}-y.drv`),
      /\(input derivation path\):.*not in the store directory/,
    ],
    [
      SAMPLE.replace(`${H}-y.drv`, `${H}-y`),
      at(`"/nix/store/${H}-y.drv`),
      /does not end in "\.drv"/,
    ],
    [
      SAMPLE.replace(`"/nix/store/${H}-x","",""`, `"/nix/store/${H}-x","md4","00"`),
      at(`"/nix/store/${H}-x","",""`) + `"/nix/store/${H}-x",`.length,
      /\(output "out" hashAlgo\): unknown hash algorithm "md4"/,
    ],
    [
      SAMPLE.replace(`"/nix/store/${H}-x","",""`, `"/nix/store/${H}-x","","00"`),
      -1,
      /\(output "out" hash\): a hash without a hash algorithm/,
    ],
    [
      SAMPLE.replace(`"/nix/store/${H}-x","",""`, `"/nix/store/${H}-x","sha256","00"`),
      -1,
      /\(output "out" hash\).*length 2 fits no encoding/,
    ],
    [
      SAMPLE.replace(`"/nix/store/${H}-x","",""`, `"/nix/store/${H}-x","sha256",""`),
      -1,
      /floating content-addressed output has no path/,
    ],
    [
      SAMPLE.replace('("out","/nix/store', '("dev","/nix/store'),
      at('("out","/nix/store'),
      /\(output name\): output "dev" appears twice/,
    ],
    [
      SAMPLE.replace('("name","x")', '("out","x")'),
      at('("out","/nix/store/' + H + '-x")') - 1, // "name" became "out"
      /\(env key\): env key "out" appears twice/,
    ],
    [SAMPLE.replace('["dev","out"]', '["out","out"]'), -1, /output name "out" appears twice/],
  ];
  for (const [text, offset, re] of cases) rejects(text, offset === -1 ? undefined : offset, re);
});

Deno.test("parseDerivation() rejects truncation at every offset with a DerivationError", () => {
  const bytes = new TextEncoder().encode(SAMPLE);
  for (let cut = 0; cut < bytes.length; cut++) {
    assert.throws(() => parseDerivation(bytes.subarray(0, cut), { path: PATH }), (e) => {
      assert.ok(e instanceof DerivationError, `cut ${cut}: ${e}`);
      assert.ok(e.offset !== undefined && e.offset <= cut, `cut ${cut}: ${e.message}`);
      assert.match(e.message, /^Cannot parse derivation ".*x\.drv" at byte \d+ \(/);
      return true;
    });
  }
});

Deno.test("parseDerivation() throws only DerivationError on mutated input", () => {
  const bytes = new TextEncoder().encode(SAMPLE);
  const special = [...'"\\(),[]x/-.:0 '].map((c) => c.charCodeAt(0)).concat([0x00, 0xff, 0xc3]);
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.nat(bytes.length - 1),
          fc.oneof(fc.constantFrom(...special), fc.integer({ min: 0, max: 255 })),
          fc.constantFrom("replace", "insert", "delete"),
        ),
        { minLength: 1, maxLength: 4 },
      ),
      (edits) => {
        const b = [...bytes];
        for (const [i, c, op] of edits) {
          const at = Math.min(i, b.length);
          if (op === "replace") b.splice(at, 1, c);
          else if (op === "insert") b.splice(at, 0, c);
          else b.splice(at, 1);
        }
        try {
          const d = parseDerivation(new Uint8Array(b), { path: PATH });
          // what parses prints again without error
          encodeDerivation(d);
        } catch (e) {
          assert.ok(e instanceof DerivationError, `unexpected ${e}`);
          if (e.message.startsWith("Cannot parse")) assert.ok(e.offset !== undefined);
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("parseDerivation() throws only DerivationError on random bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
      const input = new Uint8Array([...new TextEncoder().encode("Derive(["), ...tail]);
      try {
        parseDerivation(input, { path: PATH });
      } catch (e) {
        assert.ok(e instanceof DerivationError, `unexpected ${e}`);
      }
    }),
    { numRuns: 200 },
  );
});
