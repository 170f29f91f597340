import assert from "node:assert/strict";
import {
  clientHandshake,
  negotiateVersion,
  readClientMagic,
  readClientVersion,
  readServerHello,
  serverHandshake,
  writeClientHello,
  writeServerHello,
} from "../../lib/serve_protocol/handshake.ts";
import {
  formatProtocolVersion,
  LATEST_PROTOCOL_VERSION,
  protocolMajor,
  protocolMinor,
  protocolVersion,
  SERVE_MAGIC_1,
  SERVE_MAGIC_2,
  SERVE_PROTOCOL_VERSION,
  ServeCommand,
  serveCommandName,
} from "../../lib/serve_protocol/protocol.ts";
import { UnsupportedVersionError } from "../../lib/serve_protocol/serve_protocol_error.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { BufferSink, encodeU64, WireWriter } from "../../lib/wire/wire_writer.ts";
import { encode, MINORS, reader, rejectsTyped, throwsTyped, v, wire } from "./_codec.ts";

const RECORDED = new URL("../../testdata/serve/c1/1", import.meta.url).pathname;

Deno.test("protocol constants are Nix's: magics, commands 1..9, versions", () => {
  assert.equal(SERVE_MAGIC_1, 0x390c9deb);
  assert.equal(SERVE_MAGIC_2, 0x5452eecb);
  assert.equal(SERVE_PROTOCOL_VERSION, 0x207);
  assert.equal(LATEST_PROTOCOL_VERSION, 0x208);
  assert.deepEqual(Object.entries(ServeCommand), [
    ["QueryValidPaths", 1],
    ["QueryPathInfos", 2],
    ["DumpStorePath", 3],
    ["ImportPaths", 4],
    ["ExportPaths", 5],
    ["BuildPaths", 6],
    ["QueryClosure", 7],
    ["BuildDerivation", 8],
    ["AddToStoreNar", 9],
  ]);
  assert.equal(serveCommandName(0n), undefined);
  assert.equal(serveCommandName(10), undefined);
  assert.equal(serveCommandName((1n << 64n) - 1n), undefined);
  assert.equal(protocolVersion(2, 8), 0x208);
  assert.equal(protocolMajor(0x307), 3);
  assert.equal(protocolMinor(0x2ff), 255);
  assert.equal(formatProtocolVersion(0x205), "2.5");
});

Deno.test("writeClientHello() and writeServerHello() match the bytes Nix 2.8 sent", async () => {
  const input = Deno.readFileSync(`${RECORDED}.in`);
  const output = Deno.readFileSync(`${RECORDED}.out`);
  assert.deepEqual(await encode((w) => writeClientHello(w, 0x207)), input.subarray(0, 16));
  assert.deepEqual(await encode((w) => writeServerHello(w)), output.subarray(0, 16));
  const r = reader(input.subarray(0, 16));
  await readClientMagic(r);
  assert.equal(await readClientVersion(r), 0x207);
  assert.equal(await readServerHello(reader(output.subarray(0, 16))), 0x207);
});

Deno.test("serverHandshake() answers right after the magic, before reading the client's version", async () => {
  const sink = new BufferSink();
  async function* client() {
    yield encodeU64(SERVE_MAGIC_1);
    // The server must have answered before it asks for more.
    assert.equal(sink.bytes().length, 16, "no answer before the client version was read");
    yield encodeU64(0x205);
  }
  const h = await serverHandshake(new WireReader(client()), new WireWriter(sink));
  assert.deepEqual(h, { peerVersion: 0x205, version: 0x205 });
  assert.deepEqual(sink.bytes(), wire(SERVE_MAGIC_2, 0x207));
});

Deno.test("both sides settle on the lower version at every minor", async () => {
  for (const m of MINORS) {
    assert.equal(negotiateVersion(0x207, v(m)), Math.min(0x207, v(m)));
    const server = await serverHandshake(
      reader(wire(SERVE_MAGIC_1, v(m))),
      new WireWriter(new BufferSink()),
      0x208,
    );
    assert.deepEqual(server, { peerVersion: v(m), version: v(m) });
    const client = await clientHandshake(
      reader(wire(SERVE_MAGIC_2, v(m))),
      new WireWriter(new BufferSink()),
      0x207,
    );
    assert.deepEqual(client, { peerVersion: v(m), version: Math.min(0x207, v(m)) });
  }
});

Deno.test("handshakes reject a bad magic and a major other than 2 with typed errors", async () => {
  const sink = () => new WireWriter(new BufferSink());
  await rejectsTyped(
    serverHandshake(reader(wire(0x12345678, 0x207)), sink()),
    /handshake at byte 0, field "client magic": 0x12345678 is not 0x390c9deb \(protocol mismatch\)/,
  );
  await rejectsTyped(readServerHello(reader(wire(SERVE_MAGIC_1, 0x207))), /server magic.*mismatch/);
  for (const bad of [0x100, 0x1ff, 0x300, 0x307, 0x10207, 2n ** 64n - 1n]) {
    const e = await rejectsTyped(
      serverHandshake(reader(wire(SERVE_MAGIC_1, bad)), sink()),
      /unsupported serve protocol version/,
      8,
    );
    assert.ok(e instanceof UnsupportedVersionError);
    assert.equal(e.version, BigInt(bad));
    assert.ok(e.message.includes(`0x${BigInt(bad).toString(16)}`));
    await rejectsTyped(
      clientHandshake(reader(wire(SERVE_MAGIC_2, bad)), sink()),
      /field "server version": unsupported/,
    );
  }
  const full = wire(SERVE_MAGIC_1, 0x207);
  for (let n = 0; n < full.length; n++) {
    await rejectsTyped(serverHandshake(reader(full.subarray(0, n)), sink()), /ended/);
  }
  throwsTyped(() => writeClientHello(sink(), 0x307), /client version/);
  throwsTyped(() => writeServerHello(sink(), -1), /server version/);
});
