/**
 * Standard input as chunks: every byte in order through the buffers that
 * take turns, nothing read ahead of what is asked, and ending early settles
 * a read in progress at once (as cancelling a stream does), so a session
 * that ends with its client still connected never waits for it.
 */
import assert from "node:assert/strict";
import { stdinStream } from "../../lib/cli/stdin_stream.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";

Deno.test("stdinStream: chunks in order, one read for each chunk asked for, never ahead", async () => {
  const data = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
  let reads = 0;
  let at = 0;
  const file = {
    read(p: Uint8Array): Promise<number | null> {
      reads++;
      if (at === data.length) return Promise.resolve(null);
      const n = Math.min(p.length, 700, data.length - at);
      p.set(data.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
  const chunks = stdinStream(file);
  const got: number[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await chunks.next();
    assert.equal(r.done, false);
    got.push(...r.value!);
  }
  assert.equal(reads, 2, "nothing read ahead");
  for await (const c of chunks) got.push(...c);
  assert.deepEqual(got, [...data]);
  assert.deepEqual(await chunks.next(), { done: true, value: undefined });
});

Deno.test("stdinStream: ending it settles a read in progress at once; a WireReader's cancel does", async () => {
  let started = 0;
  const never = { read: () => (started++, new Promise<number | null>(() => {})) };
  const chunks = stdinStream(never);
  const pending = chunks.next();
  assert.deepEqual(await chunks.return!(), { done: true, value: undefined });
  assert.deepEqual(await pending, { done: true, value: undefined });
  assert.equal(started, 1);

  const r = new WireReader(stdinStream(never));
  const waiting = r.atEnd(); // as a session's watcher for its client's end waits
  await r.cancel();
  assert.equal(await waiting, true);
});
