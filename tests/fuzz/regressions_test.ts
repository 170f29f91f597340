/**
 * The bugs the fuzzers found, each as its minimal counterexample: these
 * failed before their fix.
 */
import assert from "node:assert/strict";
import { parseDerivation } from "../../lib/derivation/aterm_parser.ts";
import { encodeDerivation } from "../../lib/derivation/aterm_writer.ts";
import { DerivationError } from "../../lib/derivation/derivation_error.ts";

const enc = new TextEncoder();
const OUT = "/nix/store/ffffffffffffffffffffffffffffffff-x";
const SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

function parseFails(text: string, re: RegExp, offset: number): void {
  assert.throws(() => parseDerivation(enc.encode(text), { name: "x" }), (e) => {
    assert.ok(e instanceof DerivationError, String(e));
    assert.match(e.message, re);
    assert.match(e.message, new RegExp(`at byte ${offset} `));
    return true;
  });
}

Deno.test('parseDerivation() refuses an escape in the platform, which Nix prints unescaped ("a\\"b" printed back did not parse)', () => {
  const text = `Derive([("out","${OUT}","","")],[],[],"a\\"b","/bin/sh",[],[])`;
  parseFails(text, /\(platform\): a backslash/, text.indexOf("\\"));
});

Deno.test("parseDerivation() refuses an escape in an output name or an input's output name", () => {
  const out = `Derive([("o\\\\ut","${OUT}","","")],[],[],"p","/bin/sh",[],[])`;
  parseFails(out, /\(output name\): a backslash/, out.indexOf("\\"));
  const input = `Derive([("out","${OUT}","","")],[("${OUT}.drv",["o\\tut"])],[],"p","b",[],[])`;
  parseFails(input, /output name of input .*: a backslash/, input.indexOf("\\"));
});

Deno.test("parseDerivation() refuses a fixed output whose path cannot be computed (printing it threw)", () => {
  const text = `Derive([("o t","${OUT}","sha256","${SHA256}")],[],[],"p","/bin/sh",[],[])`;
  parseFails(text, /\(output name\): fixed output "o t" has no path: .*invalid character " "/, 9);
  // The same output with a valid name parses and prints back.
  const ok = parseDerivation(enc.encode(text.replace('"o t"', '"ot"')), { name: "x" });
  assert.equal(parseDerivation(encodeDerivation(ok), { name: "x" }).outputs.size, 1);
});
