/**
 * readyNow says a read or small write would return at once exactly when it
 * would: data or the end of it to read, room in the pipe to write; never for
 * a full pipe, an empty one still open, or a closed descriptor. And a stdio
 * session whose input comes in pieces, with waits between, reads it all.
 */
import assert from "node:assert/strict";
import { readyNow, SYNC_WRITE_MAX } from "../../lib/cli/stdio_now.ts";
import { openLibc } from "../../lib/libc.ts";

const c = openLibc({
  pipe: { parameters: ["buffer"], result: "i32" },
  write: { parameters: ["i32", "buffer", "u64"], result: "i64" },
  read: { parameters: ["i32", "buffer", "u64"], result: "i64" },
  close: { parameters: ["i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
});
const F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0o4000;

Deno.test("readyNow: a pipe's read end is ready with data or at its end, its write end while it has room", () => {
  const fds = new Int32Array(2);
  assert.equal(c.pipe(new Uint8Array(fds.buffer)), 0);
  const [r, w] = [fds[0]!, fds[1]!];
  try {
    assert.equal(readyNow(r, "read"), false, "empty and open: a read would wait");
    assert.equal(readyNow(w, "write"), true);
    assert.equal(c.write(w, new Uint8Array(SYNC_WRITE_MAX), BigInt(SYNC_WRITE_MAX)), 4096n);
    assert.equal(readyNow(r, "read"), true);
    // Fill it (without blocking this test): no room, a write would wait.
    assert.equal(c.fcntl(w, F_SETFL, c.fcntl(w, F_GETFL, 0) | O_NONBLOCK), 0);
    const block = new Uint8Array(65536);
    while (c.write(w, block, BigInt(block.length)) > 0n) { /* until EAGAIN */ }
    assert.equal(readyNow(w, "write"), false, "full: a write would wait");
    const sink = new Uint8Array(1 << 20);
    while (c.read(r, sink, BigInt(sink.length)) === BigInt(sink.length)) { /* drain */ }
    assert.equal(readyNow(w, "write"), true, "drained: room again");
    assert.equal(c.close(w), 0);
    assert.equal(readyNow(r, "read"), true, "writer gone: the end is read at once");
  } finally {
    c.close(r);
  }
  assert.equal(readyNow(r, "read"), false, "closed descriptor");
  assert.equal(readyNow(w, "write"), false, "closed descriptor");
});

Deno.test("a serve session fed its input in pieces, with waits between, answers it all", async () => {
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const dir = await Deno.makeTempDir();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "--serve", "--write", "--store", `${dir}/s`],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    const u64 = (n: number) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setUint32(0, n, true);
      return b;
    };
    // Hello (magic, version 2.7), in two pieces apart; then QueryValidPaths of nothing, twice.
    await w.write(u64(0x390c9deb).subarray(0, 3));
    await new Promise((r) => setTimeout(r, 100));
    await w.write(u64(0x390c9deb).subarray(3));
    await w.write(u64(0x207));
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      for (const n of [1, 0, 0, 0]) await w.write(u64(n)); // cmd 1: lock, substitute, no paths
    }
    await w.close();
    const out = await child.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    // Server hello (magic 2, version), then two empty path sets.
    const words = [...new BigUint64Array(out.stdout.slice().buffer)];
    assert.deepEqual(words, [0x5452eecbn, 0x207n, 0n, 0n]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
