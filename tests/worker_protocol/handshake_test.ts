import assert from "node:assert/strict";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { BufferSink, encodeString, encodeU64, WireWriter } from "../../lib/wire/wire_writer.ts";
import { clientHandshake, serverHandshake } from "../../lib/worker_protocol/handshake.ts";
import { WorkerProtocolError } from "../../lib/worker_protocol/worker_protocol_error.ts";
import { readStderr, writeStderr } from "../../lib/worker_protocol/stderr.ts";

function pipe(): { readable: ReadableStream<Uint8Array>; w: WireWriter; close: () => void } {
  const ts = new TransformStream<Uint8Array, Uint8Array>();
  const writer = ts.writable.getWriter();
  return {
    readable: ts.readable,
    w: new WireWriter({ write: (c) => writer.write(c.slice()) }),
    close: () => void writer.close(),
  };
}

const HELLO = {
  version: 0x126,
  features: ["a", "b"],
  nixVersion: "buildhost",
  trust: "trusted" as const,
};

const CASES: [number, number][] = [[0x115, 0x115], [0x122, 0x122], [0x126, 0x126], [0x12a, 0x126]];
for (const [client, want] of CASES) {
  Deno.test(`serverHandshake() and clientHandshake() agree at client 0x${client.toString(16)}`, async () => {
    const toServer = pipe();
    const toClient = pipe();
    const [s, c] = await Promise.all([
      serverHandshake(new WireReader(toServer.readable), toClient.w, HELLO).then(async (n) => {
        await toClient.w.flush();
        return n;
      }),
      clientHandshake(new WireReader(toClient.readable), toServer.w, client, ["b", "c"]),
    ]);
    assert.equal(s.version, want);
    assert.equal(c.version, want);
    assert.deepEqual(s.features, want >= 0x126 ? ["b"] : []);
    assert.deepEqual(c.features, want >= 0x126 ? ["b"] : []);
    assert.equal(c.nixVersion, want >= 0x121 ? "buildhost" : undefined);
    assert.equal(c.trust, want >= 0x123 ? "trusted" : undefined);
    toServer.close();
    toClient.close();
  });
}

Deno.test("serverHandshake() answers a bad magic with Nix's 'protocol mismatch' and sends nothing", async () => {
  const out = new BufferSink();
  await assert.rejects(
    serverHandshake(
      new WireReader(ReadableStream.from([encodeU64(0x390c9deb)])),
      new WireWriter(out),
      HELLO,
    ),
    (e) => e instanceof WorkerProtocolError && e.message === "protocol mismatch" && e.offset === 0,
  );
  assert.equal(out.bytes().length, 0);
});

Deno.test("serverHandshake() refuses a client older than 1.21 in Nix's words", async () => {
  const input = [encodeU64(0x6e697863), encodeU64(0x114)];
  await assert.rejects(
    serverHandshake(
      new WireReader(ReadableStream.from(input)),
      new WireWriter(new BufferSink()),
      HELLO,
    ),
    (e) => e instanceof WorkerProtocolError && e.message === "the Nix client version is too old",
  );
});

Deno.test("serverHandshake() rejects a truncated hello with a typed error", async () => {
  const input = [encodeU64(0x6e697863), new Uint8Array([0x22, 1])];
  await assert.rejects(
    serverHandshake(
      new WireReader(ReadableStream.from(input)),
      new WireWriter(new BufferSink()),
      HELLO,
    ),
    WorkerProtocolError,
  );
});

// Bytes nix-daemon 2.8 sent (hand-built sessions against `nix-daemon --stdio`): an unknown op at
// 1.34 is an Error record; at 1.21 a text with Nix's red "error:" and the exit status.
Deno.test("writeStderr() writes errors as nix-daemon 2.8 does at 1.34 and 1.21", async () => {
  const msg = "invalid operation \x1b[35;1m99\x1b[0m";
  const enc = async (v: number) => {
    const out = new BufferSink();
    const w = new WireWriter(out);
    writeStderr(w, { type: "error", error: { message: msg } }, v);
    await w.flush();
    return out.bytes();
  };
  const tag = encodeU64(0x63787470);
  const cat = (...p: Uint8Array[]) => new Uint8Array(p.flatMap((x) => [...x]));
  assert.deepEqual(
    await enc(0x122),
    cat(
      tag,
      encodeString("Error"),
      encodeU64(0),
      encodeString("Error"),
      encodeString(msg),
      encodeU64(0),
      encodeU64(0),
    ),
  );
  assert.deepEqual(
    await enc(0x115),
    cat(tag, encodeString(`\x1b[31;1merror:\x1b[0m ${msg}`), encodeU64(1)),
  );
  for (const v of [0x115, 0x122]) {
    const back = await readStderr(new WireReader(ReadableStream.from([await enc(v)])), v);
    assert.equal(back.type, "error");
  }
});
