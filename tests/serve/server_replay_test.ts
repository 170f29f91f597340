import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { ServeServer } from "../../lib/serve/server.ts";
import { BufferSink } from "../../lib/wire/wire_writer.ts";
import { tempDir } from "../_helpers/nix.ts";

const DATA = new URL("../../testdata/serve/", import.meta.url).pathname;

async function replay(scenario: string) {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "remote"));
  try {
    const dir = join(DATA, scenario);
    const sessions = [...Deno.readDirSync(dir)]
      .filter((e) => e.name.endsWith(".in"))
      .map((e) => Number(e.name.slice(0, -3)))
      .sort((a, b) => a - b);
    assert.ok(sessions.length > 0);
    for (const n of sessions) {
      const read = (ext: string) => Deno.readFileSync(join(dir, `${n}.${ext}`));
      const argv = new TextDecoder().decode(read("argv"));
      const write = argv.split("\n")[0]!.includes("'--write'");
      let log = "";
      const out = new BufferSink();
      const { exitCode } = await new ServeServer(store, { write, log: (t) => void (log += t) })
        .serve(ReadableStream.from([read("in")]), out);
      assert.deepEqual(out.bytes(), read("out"), `${scenario}/${n}: replies differ`);
      assert.equal(
        exitCode,
        Number(new TextDecoder().decode(read("status")).trim()),
        `${scenario}/${n}`,
      );
      assert.equal(log, new TextDecoder().decode(read("err")), `${scenario}/${n}: stderr differs`);
    }
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
}

Deno.test("ServeServer answers nix copy --to exactly as nix-store --serve --write did", () =>
  replay("a"));
Deno.test("ServeServer answers nix copy --from exactly as nix-store --serve --write did", () =>
  replay("b"));
Deno.test("ServeServer without --write answers and refuses exactly as nix-store --serve did", () =>
  replay("d"));
