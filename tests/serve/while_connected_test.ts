import assert from "node:assert/strict";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { whileConnected } from "../../lib/serve/while_connected.ts";

const gone = () => new Error("interrupted: the client went away");
/** A build that runs until cancelled. */
const never = (signal: AbortSignal) =>
  new Promise<number>((_, reject) =>
    signal.addEventListener("abort", () => reject(new Error("killed")))
  );
/** A client stream that stays open (nothing sent, no end) until `close`. */
function openStream(): { r: WireReader; close: () => void } {
  let close = () => {};
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (close = () => c.close()) });
  return { r: new WireReader(stream), close };
}

Deno.test("whileConnected cancels the build when the client is found unreachable, at once", async () => {
  const { r, close } = openStream();
  const broken = new AbortController();
  const build = whileConnected(r, never, { gone, broken: broken.signal });
  broken.abort(new Error("Broken pipe"));
  await assert.rejects(build, /the client went away/);
  close();
});

Deno.test("whileConnected: a client already unreachable: the build never starts", async () => {
  const { r, close } = openStream();
  const broken = new AbortController();
  broken.abort();
  let started = false;
  const build = (signal: AbortSignal) => (started = true, never(signal));
  await assert.rejects(whileConnected(r, build, { gone, broken: broken.signal }), /went away/);
  assert.equal(started, false);
  close();
});

Deno.test("whileConnected returns the build's result while the client stays", async () => {
  const { r, close } = openStream();
  const broken = new AbortController();
  assert.equal(
    await whileConnected(r, () => Promise.resolve(42), { gone, broken: broken.signal }),
    42,
  );
  broken.abort(); // after the build: nothing happens
  close();
});
