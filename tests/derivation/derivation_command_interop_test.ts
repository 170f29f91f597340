import assert from "node:assert/strict";
import { join } from "node:path";
import { checkDerivations, showDerivations } from "../../lib/cli/derivation_command.ts";
import { DerivationError } from "../../lib/derivation/derivation_error.ts";
import { nix, NIX_CONFIG, tempDir } from "../_helpers/nix.ts";
import { instantiate, makeWritable, showDerivation } from "./_instantiate.ts";

const EXPR = `
let
  mk = attrs: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; } // attrs);
  a = mk { name = "a"; x = "1"; };
  fod = mk { name = "fod"; outputHashAlgo = "sha256"; outputHash = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"; };
  b = mk { name = "b"; outputs = [ "out" "dev" ]; dep = a; inherit fod; };
in { inherit a b fod; c = mk { name = "c"; dep = b.dev; }; }
`;

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

async function runMain(
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: out.stdout, stderr: decode(out.stderr) };
}

Deno.test("buildhost derivation show and check agree with Nix", async () => {
  using tmp = tempDir();
  const { root, drvs } = await instantiate(tmp.path, EXPR);
  const paths = [...drvs.values()];
  const show = await runMain(["derivation", "show", "--store", root, ...paths]);
  assert.equal(show.code, 0, show.stderr);
  assert.deepEqual(show.stdout, await showDerivation(root, paths));
  // physical paths under the root are accepted too
  const physical = paths.map((p) => join(root, p));
  assert.deepEqual(await showDerivations(physical, { storeDir: "/nix/store", root }), show.stdout);

  const check = await runMain(["derivation", "check", "--store", root, ...paths]);
  assert.equal(check.code, 0, decode(check.stdout) + check.stderr);
  assert.deepEqual(decode(check.stdout), paths.map((p) => `ok ${p}\n`).join(""));

  const usage = await runMain(["derivation", "frobnicate"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: buildhost derivation show/);
  const notDrv = await runMain(["derivation", "show", "/etc/passwd"]);
  assert.equal(notDrv.code, 1);
  assert.match(notDrv.stderr, /Cannot read derivation "\/etc\/passwd": not a path in the store/);
});

Deno.test("checkDerivations() names each field that differs from what Nix computes", async () => {
  using tmp = tempDir();
  const { root, drvs } = await instantiate(tmp.path, EXPR);
  await makeWritable(root);
  const store = { storeDir: "/nix/store", root };
  const file = (attr: string) => join(root, drvs.get(attr)!);
  const edit = async (attr: string, f: (text: string) => string) =>
    await Deno.writeTextFile(file(attr), f(await Deno.readTextFile(file(attr))));

  // a forged output path of an input-addressed derivation
  const aText = await Deno.readTextFile(file("a"));
  const aOut = /"out","(\/nix\/store\/[^"]+)"/.exec(aText)![1]!;
  const forged = aOut.replace(/\/[0-9a-z]{32}-/, "/00000000000000000000000000000000-");
  await edit("a", (t) => t.replaceAll(aOut, forged));
  const a = drvs.get("a")!;
  let r = await checkDerivations([a], store);
  assert.equal(r.ok, false);
  assert.deepEqual(r.lines.map((l) => l.split(":")[0]), [
    `mismatch ${a} path`,
    `mismatch ${a} outputs.out.path`,
    `mismatch ${a} env.out`,
  ]);
  assert.ok(r.lines[1]!.endsWith(`found "${forged}", expected "${aOut}"`), r.lines[1]);

  // a changed input changes its dependents' output paths (inputs are read from the store)
  await edit("a", (t) => t.replaceAll(forged, aOut).replace('("x","1")', '("x","2")'));
  const b = drvs.get("b")!, c = drvs.get("c")!;
  r = await checkDerivations([b, c], store);
  assert.deepEqual(r.lines.map((l) => l.split(":")[0]), [
    `mismatch ${b} outputs.dev.path`,
    `mismatch ${b} env.dev`,
    `mismatch ${b} outputs.out.path`,
    `mismatch ${b} env.out`,
    `mismatch ${c} outputs.out.path`,
    `mismatch ${c} env.out`,
  ]);

  // a forged fixed output path: Nix 2.8 ignores it and shows the computed one, as we do
  const fod = drvs.get("fod")!;
  const fodText = await Deno.readTextFile(file("fod"));
  const fodOut = /"out","(\/nix\/store\/[^"]+)"/.exec(fodText)![1]!;
  const fodForged = fodOut.replace(/\/[0-9a-z]{32}-/, "/00000000000000000000000000000000-");
  await Deno.writeTextFile(
    file("fod"),
    fodText.replace(`("out","${fodOut}"`, `("out","${fodForged}"`),
  );
  assert.deepEqual(await showDerivations([fod], store), await showDerivation(root, [fod]));
  r = await checkDerivations([fod], store);
  assert.deepEqual(r.lines.map((l) => l.split(":")[0]), [
    `mismatch ${fod} bytes (at byte ${`Derive([("out","/nix/store/`.length})`,
    `mismatch ${fod} outputs.out.path`,
  ]);

  // entries out of order: readable (as in Nix), but not the bytes Nix writes; the same
  // derivation, so its path and outputs are right
  await Deno.writeTextFile(
    file("fod"),
    fodText.replace('("builder","/bin/sh"),', "").replace(")])", '),("builder","/bin/sh")])'),
  );
  r = await checkDerivations([fod], store);
  const differs = fodText.indexOf('("builder"') + 2;
  assert.deepEqual(r.lines.map((l) => l.split(":")[0]), [
    `mismatch ${fod} bytes (at byte ${differs})`,
  ]);

  // a broken input is an error naming it
  await Deno.writeTextFile(file("a"), "Derive([");
  await assert.rejects(
    () => checkDerivations([b], store),
    (e) => e instanceof DerivationError && e.message.includes(`"${a}" at byte 8`),
  );
});

Deno.test("buildhost derivation works with another store directory (--store-dir)", async () => {
  using tmp = tempDir();
  const nixRoot = join(tmp.path, "nixroot");
  await Deno.writeTextFile(join(tmp.path, "drvs.nix"), EXPR);
  const nixStore = `local?root=${nixRoot}&store=/my/store`;
  const c = (await nix("nix-instantiate", [
    "--store",
    nixStore,
    join(tmp.path, "drvs.nix"),
    "-A",
    "c",
  ])).text;
  assert.match(c, /^\/my\/store\/[0-9a-z]{32}-c\.drv$/);
  // Nix keeps the files at <root>/nix/store: give them the logical layout
  const root = join(tmp.path, "ours");
  await Deno.mkdir(join(root, "my"), { recursive: true });
  await Deno.symlink(join(nixRoot, "nix/store"), join(root, "my/store"));
  const store = { storeDir: "/my/store", root };
  const want = (await nix("nix", ["show-derivation", "--store", nixStore, c], {
    env: { NIX_CONFIG },
  })).bytes;
  assert.deepEqual(await showDerivations([c], store), want);
  assert.deepEqual(await checkDerivations([c], store), { lines: [`ok ${c}`], ok: true });
  // with the default store dir, the same path is not a store path
  await assert.rejects(
    () => showDerivations([c], { storeDir: "/nix/store", root }),
    /not a path in the store directory "\/nix\/store"/,
  );
});
