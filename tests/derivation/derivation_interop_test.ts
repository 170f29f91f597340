import assert from "node:assert/strict";
import { join } from "node:path";
import { parseDerivation, printDerivation } from "../../lib/derivation/aterm.ts";
import { derivationNameFromPath } from "../../lib/derivation/derivation.ts";
import type { Derivation } from "../../lib/derivation/derivation.ts";
import { derivationToJson } from "../../lib/derivation/derivation_json.ts";
import { derivationPath, HashModulo } from "../../lib/derivation/hash_modulo.ts";
import { nix, tempDir } from "../_helpers/nix.ts";

/** Derivations written for the test; every attribute is instantiated by real Nix. */
const EXPR = String.raw`
let
  mk = attrs: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; } // attrs);
  src = builtins.toFile "src.txt" "a source\n";
  fodFlat = mk { name = "fod-flat"; outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; outputHashAlgo = "sha256"; };
  fodFlatOther = mk { name = "fod-flat"; args = [ "-c" "other builder args" ]; outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; outputHashAlgo = "sha256"; };
  fodRec = mk { name = "fod-rec"; outputHashMode = "recursive"; outputHashAlgo = "sha256"; outputHash = "1mh6mzd2rfhh5f9a4zfaz3gbd8l4mdd5jq3ync8zp5nr52qs7x8a"; };
  fodSha1 = mk { name = "fod-sha1"; outputHashAlgo = "sha1"; outputHash = "da39a3ee5e6b4b0d3255bfef95601890afd80709"; };
  fodSha512 = mk { name = "fod-sha512"; outputHashMode = "recursive"; outputHashAlgo = "sha512"; outputHash = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"; };
  a = mk { name = "chain-a"; inherit src; };
  b = mk { name = "chain-b"; dep = a; outputs = [ "out" "dev" "lib" ]; };
  c = mk { name = "chain-c"; dep = b.dev; lib = b.lib; fod = fodFlat; };
  cOther = mk { name = "chain-c"; dep = b.dev; lib = b.lib; fod = fodFlatOther; };
in {
  inherit fodFlat fodFlatOther fodRec fodSha1 fodSha512 a b c cOther;
  passAsFile = mk { name = "pass-as-file"; passAsFile = [ "big" "other" ]; big = "a big value"; other = "x"; };
  structured = mk { name = "structured"; __structuredAttrs = true; list = [ 1 "two" { three = 3; } ]; flag = true; dep = a; };
  escapes = mk {
    name = "escapes";
    quotes = "say \"hi\" and 'bye'";
    backslashes = "a\\b\\\\c \\n not a newline";
    newlines = "line1\nline2\r\nline3\n";
    tabs = "a\tb\t";
    unicode = "Grüße, 日本語, emoji 🙂, é, ctrl ";
    dollar = "\${not interpolated} $HOME";
    args_like = "-c";
    args = [ "-c" "printf '%s\\n' \"quoted\" \t tab" "ümlaut" ];
  };
  multi = mk { name = "multi-out"; outputs = [ "out" "bin" "dev" "doc" ]; dep = c; };
}
`;

async function instantiate(store: string, file: string): Promise<Map<string, string>> {
  const attrs = (await nix("nix-instantiate", [
    "--eval",
    "--json",
    "-E",
    `builtins.attrNames (import ${file})`,
  ]))
    .text;
  const names: string[] = JSON.parse(attrs);
  const out = new Map<string, string>();
  for (const n of names) {
    out.set(
      n,
      (await nix("nix-instantiate", ["--store", store, file, "-A", n])).text.split("\n")[0]!,
    );
  }
  return out;
}

Deno.test("derivations agree with nix-instantiate and nix show-derivation", async () => {
  using tmp = tempDir();
  const store = join(tmp.path, "store");
  const file = join(tmp.path, "drvs.nix");
  Deno.writeTextFileSync(file, EXPR);
  const drvs = await instantiate(store, file);
  assert.ok(drvs.size >= 12);

  const read = (p: string): Derivation =>
    parseDerivation(Deno.readTextFileSync(join(store, p)), derivationNameFromPath(p), p);
  const modulo = new HashModulo(read);
  const showJson = JSON.parse(
    (await nix("nix", ["show-derivation", "--store", store, "-r", ...drvs.values()])).text,
  );
  let checked = 0;
  for (const [attr, drvPath] of drvs) {
    const text = Deno.readTextFileSync(join(store, drvPath));
    const drv = read(drvPath);
    // parse -> print is the identity on Nix's bytes
    assert.equal(printDerivation(drv), text, attr);
    // the .drv's own path
    assert.equal(derivationPath(drv), drvPath, attr);
    // every output path
    const want = new Map([...drv.outputs].map(([n, o]) => [n, "path" in o ? o.path : ""]));
    assert.deepEqual(await modulo.outputPaths(drv), want, attr);
    // filling in blanked outputs gives back Nix's derivation
    const blank: Derivation = {
      ...drv,
      outputs: new Map(
        [...drv.outputs].map((
          [n, o],
        ) => [n, o.kind === "inputAddressed" ? { kind: "deferred" as const } : o]),
      ),
      env: new Map(
        [...drv.env].map((
          [k, v],
        ) => [k, drv.outputs.has(k) && drv.outputs.get(k)!.kind !== "fixed" ? "" : v]),
      ),
    };
    assert.equal(printDerivation(await modulo.withOutputPaths(blank)), text, attr);
    // the JSON of nix show-derivation
    assert.deepEqual(derivationToJson(drv), showJson[drvPath], attr);
    checked++;
  }
  assert.equal(checked, drvs.size);

  // a fixed-output input's builder does not change the dependent's output path
  const c = read(drvs.get("c")!), cOther = read(drvs.get("cOther")!);
  assert.notEqual(drvs.get("c"), drvs.get("cOther"));
  assert.deepEqual(await modulo.outputPaths(c), await modulo.outputPaths(cOther));
  // escapes survived: the env has what Nix evaluated
  const esc = read(drvs.get("escapes")!);
  assert.equal(esc.env.get("newlines"), "line1\nline2\r\nline3\n");
  assert.equal(esc.env.get("unicode"), "Grüße, 日本語, emoji 🙂, e\u0301, ctrl \x01\x7f");
});

Deno.test("buildhost derivation show and check agree with Nix", async () => {
  using tmp = tempDir();
  const store = join(tmp.path, "store");
  const file = join(tmp.path, "drvs.nix");
  Deno.writeTextFileSync(file, EXPR);
  const drvs = await instantiate(store, file);
  const paths = [...drvs.values()];
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, ...args],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  const show = await run(["derivation", "show", "--store", store, ...paths]);
  assert.ok(show.success, new TextDecoder().decode(show.stderr));
  const want = JSON.parse((await nix("nix", ["show-derivation", "--store", store, ...paths])).text);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(show.stdout)), want);

  const check = await run(["derivation", "check", "--store", store, ...paths]);
  assert.ok(check.success, new TextDecoder().decode(check.stdout));
  assert.equal(
    new TextDecoder().decode(check.stdout).split("\n").filter((l) => l.startsWith("ok ")).length,
    paths.length,
  );

  // tamper with one output path: check reports it and exits 1
  const victim = drvs.get("a")!;
  const real = join(store, victim);
  Deno.chmodSync(join(store, "nix/store"), 0o755);
  Deno.chmodSync(real, 0o644);
  const text = Deno.readTextFileSync(real);
  const drv = parseDerivation(text, derivationNameFromPath(victim));
  const outPath = (drv.outputs.get("out") as { path: string }).path;
  const forged = outPath.replace(/\/[0-9a-z]{32}-/, "/00000000000000000000000000000000-");
  Deno.writeTextFileSync(real, text.replaceAll(outPath, forged));
  const bad = await run(["derivation", "check", "--store", store, victim]);
  assert.equal(bad.code, 1);
  const report = new TextDecoder().decode(bad.stdout);
  assert.match(report, /output "out" is .*0000000000.* should be /);
  assert.match(report, /the \.drv path should be/);
});
