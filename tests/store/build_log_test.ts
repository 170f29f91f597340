/**
 * Kept build logs: bzip2-compressed as Nix keeps them, a silent build's
 * log without starting bzip2.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import {
  buildLogDir,
  buildLogPath,
  EMPTY_BZIP2,
  openBuildLog,
  readBuildLog,
} from "../../lib/store/build_log.ts";
import { tempDir } from "../_helpers/nix.ts";

const DRV = "/nix/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello.drv";

async function bzip2(args: string[], input: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("bzip2", { args, stdin: "piped", stdout: "piped" }).spawn();
  const w = child.stdin.getWriter();
  await w.write(input);
  await w.close();
  return (await child.output()).stdout;
}

Deno.test("EMPTY_BZIP2 is what bzip2 writes for no input", async () => {
  assert.deepEqual(await bzip2(["-c"], new Uint8Array()), EMPTY_BZIP2);
});

Deno.test("openBuildLog() keeps a silent build's log as an empty bzip2 stream, a talking one compressed", async () => {
  using t = tempDir();
  const store = await Store.open(join(t.path, "store"));
  try {
    const file = buildLogPath(buildLogDir(store), DRV) + ".bz2";
    const silent = openBuildLog(store, DRV);
    await silent.close();
    assert.deepEqual(Deno.readFileSync(file), EMPTY_BZIP2);
    assert.deepEqual(await bzip2(["-dc"], Deno.readFileSync(file)), new Uint8Array());

    const talking = openBuildLog(store, DRV);
    talking.write(new TextEncoder().encode("hello\n"));
    talking.write(new TextEncoder().encode("world\n"));
    await talking.close();
    assert.equal(
      new TextDecoder().decode(await bzip2(["-dc"], Deno.readFileSync(file))),
      "hello\nworld\n",
    );
    const read = readBuildLog(store, DRV);
    assert.ok(read);
    assert.equal(await new Response(read).text(), "hello\nworld\n");
  } finally {
    store.close();
  }
});
