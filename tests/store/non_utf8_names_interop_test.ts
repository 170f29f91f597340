// File names and symlink targets that are not UTF-8 (issue 9 item 10): Nix
// stores them byte for byte; buildhost handles names as text, so it refuses
// them with an error that names the entry (bad bytes escaped) and writes
// nothing, rather than failing with a misleading error or losing bytes.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { NarError } from "../../lib/nar/nar_error.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, tempDir } from "../_helpers/nix.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function sh(script: string, cwd: string): void {
  const out = new Deno.Command("sh", { args: ["-c", script], cwd, stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

/** A tree with a Latin-1 name (`caf\xe9`) in a subdirectory, dumped by real Nix. */
async function latin1Nar(dir: string): Promise<Uint8Array> {
  const src = join(dir, "src");
  Deno.mkdirSync(join(src, "sub"), { recursive: true });
  sh(`printf 'ok' > a; printf 'latin-1' > "sub/$(printf 'caf\\351')"`, src);
  return (await nix("nix-store", ["--dump", src])).bytes;
}

Deno.test("nar restore of a Latin-1 name refuses it by name and leaves nothing", async () => {
  using tmp = tempDir();
  const nar = await latin1Nar(tmp.path);
  const target = join(tmp.path, "restored");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "nar", "restore", target],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(nar);
  await w.close();
  const out = await child.output();
  assert.equal(out.success, false);
  const err = new TextDecoder().decode(out.stderr);
  assert.match(err, /entry "sub\/caf\\xe9"\): the entry name "caf\\xe9" is not valid UTF-8/);
  assert.throws(() => Deno.lstatSync(target), Deno.errors.NotFound);
});

Deno.test("Store.addNar() of a Latin-1 name registers nothing and leaves nothing", async () => {
  using tmp = tempDir();
  const nar = await latin1Nar(tmp.path);
  const store = await Store.open(join(tmp.path, "root"));
  try {
    const path = "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-latin1";
    await assert.rejects(
      store.addNar({ path, references: [] }, new WireReader(ReadableStream.from([nar]))),
      (e) => e instanceof NarError && e.path === "sub/caf\\xe9",
    );
    assert.deepEqual(store.allValidPaths(), []);
    assert.deepEqual([...Deno.readDirSync(store.layout.realStoreDir)], []);
  } finally {
    store.close();
  }
});

Deno.test("a symlink target that is not UTF-8 is refused by name", async () => {
  using tmp = tempDir();
  const src = join(tmp.path, "src");
  Deno.mkdirSync(src);
  sh(`ln -s "$(printf 'caf\\351')" link`, src);
  const nar = (await nix("nix-store", ["--dump", src])).bytes;
  const store = await Store.open(join(tmp.path, "root"));
  try {
    await assert.rejects(
      store.addNar(
        { path: "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-link", references: [] },
        new WireReader(ReadableStream.from([nar])),
      ),
      (e) =>
        e instanceof NarError && e.path === "link" &&
        /a symlink target "caf\\xe9" is not valid UTF-8/.test(e.message),
    );
    assert.deepEqual([...Deno.readDirSync(store.layout.realStoreDir)], []);
  } finally {
    store.close();
  }
});
