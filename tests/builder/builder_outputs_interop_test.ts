/**
 * What a build leaves in the store when the builder is hostile or the
 * derivation is half built already: outputs reached through a symlink the
 * builder planted are refused (the host directory stays where it is), and an
 * output that is valid already is never rewritten nor registered again.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Builder } from "../../lib/builder/builder.ts";
import { BuildStatus, builtHere } from "../../lib/derivation/build_result.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { parseDerivation } from "../../lib/derivation/aterm.ts";
import type { Derivation } from "../../lib/derivation/derivation.ts";
import { Store } from "../../lib/store/store.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { halfBuilt, stateOf } from "./_half_built.ts";

const SANDBOX_PATHS = ["/bin", "/lib", "/lib64", "/usr"];

/** Instantiate `attr` of `file` in Nix's chroot store `nixRoot`. */
async function instantiate(
  nixRoot: string,
  file: string,
  attr: string,
): Promise<[string, Derivation]> {
  const drvPath = (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", attr])).text;
  return [drvPath, parseDerivation(Deno.readFileSync(join(nixRoot, drvPath)), { path: drvPath })];
}

/** Every file under `dir` with its contents (symlinks as `-> target`). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string, rel: string) => {
    const st = Deno.lstatSync(p);
    if (st.isSymlink) out[rel] = `-> ${Deno.readLinkSync(p)}`;
    else if (st.isFile) out[rel] = Deno.readTextFileSync(p);
    else {
      out[rel] = "dir";
      for (const e of Deno.readDirSync(p)) walk(join(p, e.name), `${rel}/${e.name}`);
    }
  };
  walk(dir, "");
  return out;
}

/**
 * The builder renames `/nix` (its store directory is a mount point, which
 * cannot be renamed, but its parent can) and puts a symlink to a host
 * directory, `victim/target`, in its place.
 */
const ATTACK_EXPR = (victim: string) =>
  String.raw`
derivation { name = "escape"; system = "x86_64-linux"; builder = "/bin/sh";
  args = [ "-c" "PATH=/bin:/usr/bin; mv /nix /nix-moved && ln -s ${victim}/target /nix && echo planted" ]; }`;

Deno.test("a builder that puts a symlink to a host directory on its output's way gets nothing moved nor registered", async () => {
  using t = tempDir();
  const victim = join(t.path, "victim");
  const nixRoot = join(t.path, "nix");
  const file = join(t.path, "attack.nix");
  Deno.writeTextFileSync(file, ATTACK_EXPR(victim));
  const store = await Store.open(join(t.path, "ours"));
  const builder = new Builder(
    store,
    nixSandboxRunner({ sandboxPaths: parseSandboxPaths(SANDBOX_PATHS) }),
  );
  try {
    const [drvPath, drv] = await instantiate(nixRoot, file, "");
    const out = drv.outputs.get("out")!;
    assert.ok(out.kind === "inputAddressed");
    // the host directory the symlink leads to, shaped as the output would be
    const host = join(victim, "target/store", out.path.slice("/nix/store/".length));
    Deno.mkdirSync(join(host, "secrets"), { recursive: true });
    Deno.writeTextFileSync(join(host, "secrets", "key"), "host secret\n");
    Deno.symlinkSync("/etc/passwd", join(host, "passwd"));
    const before = snapshot(victim);
    let log = "";
    const r = await builder.build(drvPath, drv, {
      log: (c) => void (log += new TextDecoder().decode(c)),
    });
    assert.match(log, /planted/); // the attack ran
    assert.equal(r.status, BuildStatus.OutputRejected, `${r.errorMsg}\n${log}`);
    assert.match(
      r.errorMsg,
      new RegExp(`made '/nix' a symlink in its sandbox; output '${out.path}' is not looked for`),
    );
    assert.deepEqual(snapshot(victim), before, "the host directory changed");
    assert.deepEqual(store.allValidPaths(), []);
    assert.deepEqual([...Deno.readDirSync(store.layout.realStoreDir)], []);
    assert.deepEqual([...Deno.readDirSync(join(store.layout.stateDir, "builds"))], []);
  } finally {
    store.close();
  }
});

Deno.test("Builder leaves an output that is valid already alone and registers the others", async () => {
  using t = tempDir();
  const store = await Store.open(join(t.path, "ours"));
  try {
    const { drvPath, drv, out, dev, nar, header } = await halfBuilt(t);
    await store.addNar(header, new WireReader(ReadableStream.from([nar])));
    const before = stateOf(store, out);
    assert.equal(before.registrationTime, 12345);
    const builder = new Builder(
      store,
      nixSandboxRunner({ sandboxPaths: parseSandboxPaths(SANDBOX_PATHS) }),
    );
    const r = await builder.build(drvPath, drv);
    assert.equal(r.status, BuildStatus.Built, r.errorMsg);
    assert.deepEqual(r.builtOutputs, new Map([["dev", builtHere(dev)], ["out", builtHere(out)]]));
    assert.deepEqual(r.newlyBuilt, ["dev"]);
    assert.deepEqual(stateOf(store, out), before);
    // dev is new, refers to the valid out, and names this derivation
    const devInfo = store.requirePathInfo(dev);
    assert.deepEqual(devInfo.references, [out]);
    assert.equal(devInfo.deriver, drvPath);
    assert.equal(Deno.readTextFileSync(join(store.realPath(dev), "uses-out")), `${out}\n`);
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    assert.deepEqual(
      [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name).sort(),
      [out, dev].map((p) => p.slice(store.storeDir.length + 1)).sort(),
    );
  } finally {
    store.close();
  }
});

Deno.test("Builder with keepFailed says where it kept the build directory on the log sink, as Nix does, not in the result", async () => {
  using t = tempDir();
  const nixRoot = join(t.path, "nix");
  const file = join(t.path, "f.nix");
  Deno.writeTextFileSync(
    file,
    `derivation { name = "kept"; system = "x86_64-linux"; builder = "/bin/sh";
       args = [ "-c" "echo keep me > note; exit 4" ]; }`,
  );
  const store = await Store.open(join(t.path, "ours"));
  try {
    const builder = new Builder(
      store,
      nixSandboxRunner({ sandboxPaths: parseSandboxPaths(SANDBOX_PATHS) }),
    );
    const [drvPath, drv] = await instantiate(nixRoot, file, "");
    let log = "";
    const r = await builder.build(drvPath, drv, {
      keepFailed: true,
      log: (c) => void (log += new TextDecoder().decode(c)),
    });
    assert.equal(r.status, BuildStatus.PermanentFailure);
    assert.match(r.errorMsg, /failed with exit code 4$/);
    const kept = /^note: keeping build directory '(.*)'$/m.exec(log)?.[1];
    assert.ok(kept, log);
    assert.equal(Deno.readTextFileSync(join(kept, "note")), "keep me\n");
    assert.deepEqual(r.logTail, []); // the builder said nothing
  } finally {
    store.close();
  }
});
