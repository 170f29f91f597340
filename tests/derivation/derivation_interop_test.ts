import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeDerivation, parseDerivation, printDerivation } from "../../lib/derivation/aterm.ts";
import type { Derivation, DerivationOutput } from "../../lib/derivation/derivation.ts";
import { derivationToJson, showDerivationJson } from "../../lib/derivation/derivation_json.ts";
import { HashModulo } from "../../lib/derivation/hash_modulo.ts";
import { decodeNixString, encodeNixString } from "../../lib/derivation/nix_string.ts";
import { derivationPath } from "../../lib/derivation/output_paths.ts";
import { checkDerivations } from "../../lib/cli/derivation_command.ts";
import { tempDir } from "../_helpers/nix.ts";
import {
  EXPERIMENTAL_CONFIG,
  instantiate,
  type Instantiated,
  showDerivation,
} from "./_instantiate.ts";

/**
 * Derivations for Nix to instantiate. `\udcXX` stands for the raw byte XX
 * (see {@linkcode rawBytes}), to put control bytes and invalid UTF-8 in the file.
 */
const EXPR = String.raw`
let
  mk = attrs: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; } // attrs);
  src = builtins.toFile "src.txt" "a source\n";
  fodFlat = mk { name = "fod-flat"; outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; outputHashAlgo = "sha256"; };
  fodFlatOther = mk { name = "fod-flat"; builder = "/usr/bin/env"; args = [ "other" ]; outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; outputHashAlgo = "sha256"; };
  fodRec = mk { name = "fod-rec"; outputHashMode = "recursive"; outputHashAlgo = "sha256"; outputHash = "1mh6mzd2rfhh5f9a4zfaz3gbd8l4mdd5jq3ync8zp5nr52qs7x8a"; };
  a = mk { name = "chain-a"; inherit src; };
  b = mk { name = "chain-b"; dep = a; outputs = [ "out" "dev" "lib" ]; };
  c = mk { name = "chain-c"; dep = b.dev; lib = b.lib; fod = fodFlat; };
  cOther = mk { name = "chain-c"; dep = b.dev; lib = b.lib; fod = fodFlatOther; };
in {
  inherit fodFlat fodFlatOther fodRec a b c cOther;
  fodSha1 = mk { name = "fod-sha1"; outputHashAlgo = "sha1"; outputHash = "da39a3ee5e6b4b0d3255bfef95601890afd80709"; };
  fodSha1Rec = mk { name = "fod-sha1-rec"; outputHashMode = "recursive"; outputHashAlgo = "sha1"; outputHash = "da39a3ee5e6b4b0d3255bfef95601890afd80709"; };
  fodSha512 = mk { name = "fod-sha512"; outputHashMode = "recursive"; outputHashAlgo = "sha512"; outputHash = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"; };
  fodSha512Sri = mk { name = "fod-sha512-sri"; outputHash = "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="; };
  fodMd5 = mk { name = "fod-md5"; outputHashAlgo = "md5"; outputHash = "d41d8cd98f00b204e9800998ecf8427e"; };
  fodSri = mk { name = "fod-sri"; outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; };
  # two inputs whose hash modulo is the same: their output names merge
  twoFods = mk { name = "two-fods"; x = fodFlat; y = fodFlatOther; };
  passAsFile = mk { name = "pass-as-file"; passAsFile = [ "big" "other" ]; big = "a big value"; other = "x"; };
  structured = mk { name = "structured"; __structuredAttrs = true; outputs = [ "out" "dev" ]; list = [ 1 "two" { three = 3; } ]; flag = true; dep = a; dev = b.dev; };
  escapes = mk {
    name = "escapes";
    quotes = "say \"hi\" and 'bye'";
    backslashes = "a\\b\\\\c \\n not a newline";
    newlines = "line1\nline2\r\nline3\n";
    tabs = "a\tb\t";
    unicode = "Grüße, 日本語, emoji 🙂, é";
    control = "ctrl \udc01 del \udc7f esc \udc1b";
    raw = "invalid UTF-8: \udcff \udcc3 end";
    dollar = "\${not interpolated} $HOME";
    args = [ "-c" "printf '%s\\n' \"quoted\" \t tab \r cr \n nl \\ bs" "ümlaut \udcfe" ];
  };
  keys = mk { name = "keys"; "ｚ" = "U+FF5A"; "🙂" = "U+1F642"; "é" = "U+E9"; "Z" = "Z"; "a b" = "space"; };
  drvRef = mk { name = "drv-ref"; p = a.drvPath; };
  srcRef = mk { name = "src-ref"; data = ./data.txt; };
  multi = mk { name = "multi-out"; outputs = [ "out" "bin" "dev" "doc" ]; dep = c; fod = fodRec; };
}
`;

/** Floating content-addressed and impure derivations (experimental in 2.8). */
const CA_EXPR = String.raw`
let
  mk = attrs: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; } // attrs);
  ca = mk { name = "ca"; __contentAddressed = true; outputs = [ "out" "dev" ]; };
  caFlat = mk { name = "ca-flat"; __contentAddressed = true; outputHashMode = "flat"; outputHashAlgo = "sha512"; };
  dep = mk { name = "ca-dep"; x = ca.dev; };
in {
  inherit ca caFlat dep;
  dep2 = mk { name = "ca-dep2"; x = dep; };
  imp = mk { name = "impure"; __impure = true; outputs = [ "out" "bin" ]; };
  fod = mk { name = "fod"; outputHashAlgo = "sha256"; outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; };
}
`;

/** The bytes of `expr`, each `\udcXX` written as the byte XX. */
const rawBytes = (expr: string) =>
  encodeNixString(
    expr.replace(/\\udc([0-9a-f]{2})/g, (_, h) => {
      const byte = parseInt(h, 16);
      return String.fromCharCode(byte < 0x80 ? byte : 0xdc00 + byte);
    }),
  );

const readDrv = async (inst: Instantiated, p: string) => {
  const bytes = await Deno.readFile(join(inst.root, p));
  return { bytes, drv: parseDerivation(bytes, { path: p }) };
};

/** The derivation as the evaluator has it before computing paths. */
function blanked(drv: Derivation): Derivation {
  const env = new Map(drv.env);
  const outputs = new Map<string, DerivationOutput>();
  for (const [n, o] of drv.outputs) {
    env.set(n, "");
    outputs.set(n, o.kind === "inputAddressed" ? { kind: "deferred" } : o);
  }
  return { ...drv, outputs, env };
}

/** Every check that compares our derivation code with Nix's results. */
async function compareAll(inst: Instantiated, config?: string): Promise<Map<string, Derivation>> {
  const modulo = new HashModulo(async (p) => (await readDrv(inst, p)).drv);
  const paths = [...inst.drvs.values()];
  const nixShow = await showDerivation(inst.root, paths, config);
  // (decoded keeping raw bytes, as our strings do)
  const nixJson = JSON.parse(decodeNixString(nixShow));
  const parsed = new Map<string, Derivation>();
  for (const [attr, drvPath] of inst.drvs) {
    const { bytes, drv } = await readDrv(inst, drvPath);
    parsed.set(attr, drv);
    // parse -> print gives Nix's bytes
    assert.deepEqual(encodeDerivation(drv), bytes, attr);
    // the .drv's own path
    assert.equal(derivationPath(drv), drvPath, attr);
    // the output paths: computable ones equal Nix's; the others are unknown in Nix too
    const nixPaths = new Map(
      Object.entries(nixJson[drvPath].outputs as Record<string, { path?: string }>)
        .filter(([, o]) => o.path !== undefined).map(([n, o]) => [n, o.path!]),
    );
    assert.deepEqual(await modulo.outputPaths(drv), nixPaths, attr);
    // instantiating (filling in outputs and env) gives Nix's derivation
    assert.deepEqual(encodeDerivation(await modulo.withOutputPaths(blanked(drv))), bytes, attr);
    // the JSON of nix show-derivation
    assert.deepEqual(derivationToJson(drv), nixJson[drvPath], attr);
  }
  // the very bytes of nix show-derivation
  const ours = showDerivationJson(paths.map((p) => [p, parsed.get(attrOf(inst, p))!]));
  assert.deepEqual(encodeNixString(ours), nixShow);
  // and `buildhost derivation check` agrees
  const check = await checkDerivations(paths, { storeDir: "/nix/store", root: inst.root });
  assert.ok(check.ok, check.lines.join("\n"));
  assert.equal(check.lines.length, paths.length);
  return parsed;
}

const attrOf = (inst: Instantiated, p: string) => [...inst.drvs].find(([, d]) => d === p)![0];

Deno.test("derivations agree byte for byte with nix-instantiate and nix show-derivation", async () => {
  using tmp = tempDir();
  await Deno.writeTextFile(join(tmp.path, "data.txt"), "some data\n");
  const inst = await instantiate(tmp.path, rawBytes(EXPR));
  assert.ok(inst.drvs.size >= 20);
  const drvs = await compareAll(inst);

  // the file really holds raw bytes, and they survive
  const esc = drvs.get("escapes")!;
  assert.equal(esc.env.get("raw"), "invalid UTF-8: \udcff \udcc3 end");
  assert.equal(esc.env.get("control"), "ctrl \x01 del \x7f esc \x1b");
  assert.equal(esc.env.get("newlines"), "line1\nline2\r\nline3\n");
  assert.equal(esc.args[1], "printf '%s\\n' \"quoted\" \t tab \r cr \n nl \\ bs");
  // env keys are sorted by UTF-8 bytes (UTF-16 would put the emoji before U+FF5A)
  assert.deepEqual([...drvs.get("keys")!.env.keys()].slice(-3), ["é", "ｚ", "🙂"]);
  // two fixed-output inputs with the same hash modulo (one entry when hashed)
  assert.equal(drvs.get("twoFods")!.inputDrvs.size, 2);

  // a fixed-output input's builder does not change the dependent's output paths
  const modulo = new HashModulo(async (p) => (await readDrv(inst, p)).drv);
  const [c, cOther] = [drvs.get("c")!, drvs.get("cOther")!];
  assert.notEqual(inst.drvs.get("c"), inst.drvs.get("cOther"));
  assert.notEqual(inst.drvs.get("fodFlat"), inst.drvs.get("fodFlatOther"));
  assert.deepEqual(c.outputs, cOther.outputs);
  assert.deepEqual(await modulo.outputPaths(c), await modulo.outputPaths(cOther));
});

Deno.test("floating, deferred and impure outputs agree with Nix 2.8 (experimental features)", async () => {
  using tmp = tempDir();
  const inst = await instantiate(tmp.path, CA_EXPR, EXPERIMENTAL_CONFIG);
  const drvs = await compareAll(inst, EXPERIMENTAL_CONFIG);
  assert.equal(drvs.get("ca")!.outputs.get("out")!.kind, "floating");
  assert.equal(drvs.get("caFlat")!.outputs.get("out")!.kind, "floating");
  assert.equal(drvs.get("dep")!.outputs.get("out")!.kind, "deferred");
  assert.equal(drvs.get("dep2")!.outputs.get("out")!.kind, "deferred");
  assert.equal(drvs.get("imp")!.outputs.get("bin")!.kind, "impure");
  const modulo = new HashModulo(async (p) => (await readDrv(inst, p)).drv);
  assert.equal((await modulo.ofPath(inst.drvs.get("dep2")!)).kind, "deferred");
  assert.equal((await modulo.ofPath(inst.drvs.get("fod")!)).kind, "regular");
});

Deno.test("printDerivation() writes the platform unescaped, as Nix 2.8 does", async () => {
  // Nix writes the .drv (and fails to read it back); our bytes and path must still agree.
  using tmp = tempDir();
  const system = 'we\\ird"sys\ntem';
  const expr = `derivation { name = "sys"; builder = "/bin/sh"; system = ${
    JSON.stringify(system)
  }; }`;
  await Deno.writeTextFile(join(tmp.path, "sys.nix"), expr);
  const root = join(tmp.path, "store");
  await new Deno.Command("nix-instantiate", {
    args: ["--store", root, join(tmp.path, "sys.nix")],
    env: { NIX_CONFIG: EXPERIMENTAL_CONFIG },
    stdout: "null",
    stderr: "null",
  }).output();
  const name = [...Deno.readDirSync(join(root, "nix/store"))].map((e) => e.name)
    .find((n) => n.endsWith("-sys.drv"));
  assert.ok(name, "nix-instantiate wrote no sys.drv");
  const bytes = await Deno.readFile(join(root, "nix/store", name));
  const drv: Derivation = {
    name: "sys",
    outputs: new Map([["out", { kind: "deferred" }]]),
    inputDrvs: new Map(),
    inputSrcs: [],
    platform: system,
    builder: "/bin/sh",
    args: [],
    env: new Map([["builder", "/bin/sh"], ["name", "sys"], ["out", ""], ["system", system]]),
  };
  const full = await new HashModulo(() => {
    throw new Error("no inputs");
  }).withOutputPaths(drv);
  assert.equal(printDerivation(full), new TextDecoder().decode(bytes));
  assert.equal(derivationPath(full), `/nix/store/${name}`);
});
