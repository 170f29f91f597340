/**
 * Fuzzing the settings parsers: store URLs (`lib/store/store_url.ts`) and
 * nix.conf text with includes (`lib/cli/nix_config.ts`), from words of
 * their grammars and mutated real examples.
 *
 * Properties: each either succeeds or throws its typed error; a parsed
 * URL has a host (ssh) or an absolute root (a path); parsing a nix.conf
 * reads only the files it includes, and ends (an include cycle too).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseStoreUrl, StoreUrlError } from "../../lib/store/store_url.ts";
import { applyNixConfig, configValue, NixConfigError } from "../../lib/cli/nix_config.ts";
import { arbMutated } from "./_mutate.ts";
import { fuzz, onlyTyped } from "./_runner.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Text from words of a grammar, or a mutated example. */
function arbText(words: string[], examples: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.array(fc.constantFrom(...words), { maxLength: 20 }).map((a) => a.join("")),
    arbMutated(examples.map((e) => enc.encode(e)), { aligned: false }).map((m) =>
      dec.decode(m.bytes)
    ),
  );
}

const URL_WORDS = [
  "ssh://",
  "ssh-ng://",
  "s3://",
  "file://",
  "local",
  "auto",
  "daemon",
  "/",
  "./",
  "..",
  ".",
  "srv",
  "b1",
  "@",
  "[",
  "]",
  "::1",
  "?",
  "&",
  "=",
  "#",
  "%",
  "%2",
  "%20",
  "%zz",
  "%ff",
  "root=",
  "store=",
  "state=",
  "log=",
  "real=",
  "system-features=",
  "remote-store=",
  "__proto__",
  "constructor",
  "toString",
  "x",
  " ",
  "ü",
];
const URL_EXAMPLES = [
  "/srv/m1?system-features=foo%20bar",
  "local?root=/x&store=/nix/store",
  "ssh://bob@[::1]?remote-store=/srv/s",
  "auto",
];

Deno.test("fuzz: store URLs (generated and mutated)", async () => {
  await fuzz("store url", arbText(URL_WORDS, URL_EXAMPLES), async (url) => {
    const r = await onlyTyped([StoreUrlError], () => parseStoreUrl(url, "/work"));
    if (!r.ok) return;
    const u = r.value;
    assert.equal(u.url, url);
    if (u.type === "ssh") assert.ok(u.host !== "", "an ssh URL without a host");
    else if (u.params.root !== undefined && u.params.root !== "") {
      assert.ok(u.params.root.startsWith("/"), `root ${u.params.root}`);
    }
  }, 300);
});

const CONF_WORDS = [
  "include",
  "!include",
  " ",
  "\t",
  "\r",
  "\n",
  "=",
  "#",
  "a.conf",
  "b.conf",
  "/etc/nix/a.conf",
  "../",
  "missing.conf",
  "system-features",
  "extra-system-features",
  "extra-",
  "builders",
  "kvm",
  "__proto__",
  "constructor",
  "x",
  "ü",
];
const CONF_EXAMPLES = [
  "system-features = foo  bar # comment\ninclude a.conf\n",
  "extra-system-features = kvm\n!include missing.conf\n",
  "include b.conf\nbuilders = ssh://b1\n",
];
const FILES: Record<string, string> = {
  "/etc/nix/a.conf": "extra-system-features = big-parallel\n",
  "/etc/nix/b.conf": "include a.conf\nbuilders = @/etc/nix/machines\n",
  "/etc/nix/c.conf": "include c.conf\n",
};

Deno.test("fuzz: nix.conf text with includes (generated and mutated)", async () => {
  const arb = fc.tuple(arbText(CONF_WORDS, CONF_EXAMPLES), fc.boolean());
  await fuzz("nix.conf", arb, async ([text, cycle]) => {
    const read: string[] = [];
    const files = cycle ? { ...FILES, "/etc/nix/a.conf": "include nix.conf\n" } : FILES;
    const config = new Map();
    const r = await onlyTyped(
      [NixConfigError],
      () =>
        applyNixConfig(config, text, "/etc/nix/nix.conf", {
          readFile: (p) => {
            read.push(p);
            return p === "/etc/nix/nix.conf"
              ? text
              : Object.hasOwn(files, p)
              ? files[p]
              : undefined;
          },
        }),
    );
    for (const p of read) assert.ok(p.startsWith("/"), `read a relative path ${p}`);
    if (!r.ok) return;
    for (const name of config.keys()) {
      const v = configValue(config, name);
      assert.ok(v === undefined || typeof v === "string");
    }
  }, 300);
});
