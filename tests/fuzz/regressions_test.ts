/**
 * The bugs the fuzzers found, each as its minimal counterexample: these
 * failed before their fix.
 */
import assert from "node:assert/strict";
import { parseDerivation } from "../../lib/derivation/aterm_parser.ts";
import { encodeDerivation } from "../../lib/derivation/aterm_writer.ts";
import { DerivationError } from "../../lib/derivation/derivation_error.ts";
import { applyNixConfig, configValue, NixConfigError } from "../../lib/cli/nix_config.ts";
import { parseStoreUrl, StoreUrlError } from "../../lib/store/store_url.ts";

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

Deno.test("applyNixConfig() refuses an include cycle (it overflowed the stack)", () => {
  const files: Record<string, string> = { "/etc/nix/a.conf": "include nix.conf\n" };
  const read = (p: string) => (p === "/etc/nix/nix.conf" ? "include a.conf\n" : files[p]);
  assert.throws(
    () => applyNixConfig(new Map(), "include a.conf\n", "/etc/nix/nix.conf", { readFile: read }),
    (e) => {
      assert.ok(e instanceof NixConfigError, String(e));
      assert.match(
        e.message,
        /file '\/etc\/nix\/nix.conf' included from '\/etc\/nix\/a.conf' includes itself/,
      );
      return true;
    },
  );
  // A file included twice, but not from itself, is fine.
  const config = new Map();
  applyNixConfig(config, "include a.conf\ninclude a.conf\n", "/etc/nix/nix.conf", {
    readFile: (p) => (p === "/etc/nix/a.conf" ? "extra-system-features = kvm\n" : undefined),
  });
  assert.equal(configValue(config, "system-features"), "kvm kvm");
});

Deno.test('applyNixConfig() takes "constructor" as a setting name like any other (it threw a TypeError)', () => {
  const config = new Map();
  applyNixConfig(config, "constructor\t=", "/etc/nix/nix.conf", { readFile: () => undefined });
  assert.deepEqual([...config], [["constructor", { value: "", extra: [] }]]);
});

Deno.test('parseStoreUrl() refuses "constructor" and "__proto__" as unknown settings (they were dropped)', () => {
  for (const name of ["constructor", "__proto__", "toString"]) {
    assert.throws(
      () => parseStoreUrl(`local?${name}=x`, "/"),
      (e) => e instanceof StoreUrlError && e.message.includes(`unknown setting '${name}'`),
    );
  }
});
