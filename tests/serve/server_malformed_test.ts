import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { ServeServer } from "../../lib/serve/server.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { tempDir } from "../_helpers/nix.ts";

const A1 = Deno.readFileSync(new URL("../../testdata/serve/a/1.in", import.meta.url));

async function session(store: Store, input: Uint8Array, write = true) {
  let log = "";
  const out = new BufferSink();
  const { exitCode } = await new ServeServer(store, { write, log: (t) => void (log += t) })
    .serve(ReadableStream.from([input]), out);
  return { exitCode, log, out: out.bytes() };
}

async function bytes(fn: (w: WireWriter) => void): Promise<Uint8Array> {
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  fn(w);
  await w.flush();
  return sink.bytes();
}

Deno.test("a bad magic gets nothing on stdout and Nix's error", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "s"));
  try {
    const r = await session(store, await bytes((w) => w.writeU64(0x12345678).writeU64(0x207)));
    assert.equal(r.exitCode, 1);
    assert.equal(r.out.length, 0);
    assert.equal(r.log, "error: protocol mismatch\n");
  } finally {
    store.close();
  }
});

Deno.test("an unknown command, absurd lengths and bad bools end the session with an error", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "s"));
  try {
    const hello = (w: WireWriter) => w.writeU64(0x390c9deb).writeU64(0x207);
    const cases: [(w: WireWriter) => void, RegExp][] = [
      [(w) => hello(w).writeU64(42), /^error: unknown serve command 42\n$/],
      [(w) => hello(w).writeU64(1).writeU64(0).writeU64(0).writeU64(1n << 62n), /above the limit/],
      [(w) => hello(w).writeU64(3).writeU64(1n << 63n), /above the limit/],
      [(w) => hello(w).writeU64(1).writeU64(2), /not a bool/],
      [
        (w) => hello(w).writeU64(3).writeString("/nix/store/../etc/passwd"),
        /is not a store path/,
      ],
      [(w) => w.writeU64(0x390c9deb).writeU64(0x307), /unsupported/],
    ];
    for (const [fn, re] of cases) {
      const r = await session(store, await bytes(fn));
      assert.equal(r.exitCode, 1);
      assert.match(r.log, re);
    }
    assert.deepEqual(store.allValidPaths(), []);
  } finally {
    store.close();
  }
});

Deno.test("a copy session cut at any byte registers only whole paths and leaves nothing behind", async () => {
  using tmp = tempDir();
  for (let cut = 0; cut <= A1.length; cut += 3) {
    const store = await Store.open(join(tmp.path, `s${cut}`));
    try {
      const r = await session(store, A1.subarray(0, cut));
      const valid = store.allValidPaths();
      if (cut === A1.length) {
        assert.equal(r.exitCode, 0);
        assert.equal(valid.length, 2);
      } else if (r.exitCode === 0) {
        // only a cut between two commands ends cleanly
        assert.equal(r.log, "");
      } else {
        assert.match(r.log, /^error: /);
      }
      assert.deepEqual(await store.verify({ checkContents: true }), []);
      const names = [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name);
      assert.deepEqual(names.filter((n) => !valid.some((p) => p.endsWith(n))), []);
    } finally {
      store.close();
    }
  }
});

Deno.test("AddToStoreNar with a NAR that does not match its declared hash registers nothing", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "s"));
  try {
    const bad = A1.slice();
    // flip a byte inside the first NAR's file contents ("scenario a: dependency")
    const at = new TextDecoder("latin1").decode(bad).indexOf("scenario a: dependency");
    assert.ok(at > 0);
    bad[at]! ^= 0x20;
    const r = await session(store, bad);
    assert.equal(r.exitCode, 1);
    assert.match(r.log, /hash is .* was declared/);
    assert.deepEqual(store.allValidPaths(), []);
    assert.deepEqual([...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name), []);
  } finally {
    store.close();
  }
});
