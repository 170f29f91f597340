/**
 * Fuzzing the serve protocol's codecs at every minor version 2.0 to 2.8:
 * requests (with the derivation, build options and AddToStoreNar header
 * inside them), the handshake of both sides and QueryPathInfos replies.
 * Inputs are requests recorded from Nix 2.8 (re-encoded at each minor) and
 * generated ones, mutated; they arrive in random chunkings.
 *
 * Properties: a read either succeeds or throws a ServeProtocolError; what
 * was read writes back to bytes that read to the same value and write to
 * the same bytes again; unmutated Nix bytes write back byte for byte; a
 * generated value survives write then read.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ServeProtocolError } from "../../lib/serve_protocol/serve_protocol_error.ts";
import { readRequest, type ServeRequest, writeRequest } from "../../lib/serve_protocol/requests.ts";
import { readServerHello, serverHandshake } from "../../lib/serve_protocol/handshake.ts";
import { readPathInfos, writePathInfos } from "../../lib/serve_protocol/path_infos.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { arbRequest } from "./_arbitraries.ts";
import { encode, recorded, requestBytes } from "./_corpus.ts";
import { arbChunking, arbMutated, streamOf } from "./_mutate.ts";
import { fuzz, onlyTyped } from "./_runner.ts";

const MINORS = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const v = (minor: number) => 0x200 | minor;
const TYPED = [ServeProtocolError];

const rec = await recorded();
/** Per minor, the recorded requests encoded at that minor. */
const requestCorpus = await Promise.all(MINORS.map((m) => requestBytes(rec.requests, v(m))));

async function readAll<T>(bytes: Uint8Array, sizes: number[], read: (r: WireReader) => Promise<T>) {
  const r = new WireReader(streamOf(bytes, sizes));
  const result = await onlyTyped(TYPED, () => read(r));
  return { result, consumed: r.offset };
}

/** write(read(b)) reads back the same and writes the same bytes again. */
async function checkRequestCanonical(req: ServeRequest, version: number): Promise<Uint8Array> {
  const bytes = await encode((w) => writeRequest(w, req, version));
  const again = await readRequest(new WireReader(streamOf(bytes, [1 << 30])), version);
  assert.deepStrictEqual(again, req);
  assert.deepStrictEqual(await encode((w) => writeRequest(w, again!, version)), bytes);
  return bytes;
}

Deno.test("fuzz: serve requests at every minor 2.0-2.8 (mutated Nix 2.8 requests)", async () => {
  const arb = fc.nat(MINORS.length - 1).chain((m) =>
    fc.tuple(fc.constant(m), arbMutated(requestCorpus[m]!), arbChunking)
  );
  await fuzz("serve requests", arb, async ([m, { bytes, edits }, sizes]) => {
    const { result, consumed } = await readAll(bytes, sizes, (r) => readRequest(r, v(m)));
    if (!result.ok || result.value === undefined) {
      assert.ok(edits > 0 || bytes.length === 0, "a recorded request failed to parse");
      return;
    }
    const canonical = await checkRequestCanonical(result.value, v(m));
    if (edits === 0) assert.deepStrictEqual(canonical, bytes.subarray(0, consumed));
  }, 400);
});

Deno.test("fuzz: serve requests round-trip at every minor (generated)", async () => {
  const arb = fc.tuple(fc.constantFrom(...MINORS), arbRequest);
  await fuzz("serve requests round trip", arb, async ([m, req]) => {
    const bytes = await encode((w) => writeRequest(w, req, v(m)));
    const back = await readRequest(new WireReader(streamOf(bytes, [7, 1, 64])), v(m));
    assert.ok(back);
    assert.deepStrictEqual(await checkRequestCanonical(back, v(m)), bytes);
  }, 150);
});

Deno.test("fuzz: serve handshake, both sides (mutated Nix 2.8 hellos)", async () => {
  const client = rec.clientHellos.map((h, i) => {
    const out = new Uint8Array(h.length + 8);
    out.set(h);
    out[h.length] = (i % 9) + 1; // a command number follows
    return out;
  });
  const arb = fc.tuple(fc.boolean(), arbMutated(client), arbMutated(rec.serverHellos), arbChunking);
  await fuzz("serve handshake", arb, async ([serverSide, c, s, sizes]) => {
    if (serverSide) {
      const sink = new BufferSink();
      const { result } = await readAll(
        c.bytes,
        sizes,
        (r) => serverHandshake(r, new WireWriter(sink)),
      );
      if (result.ok) {
        assert.ok(result.value.version >= 0x200 && result.value.version <= 0x2ff);
        assert.ok(result.value.version <= result.value.peerVersion);
      } else assert.ok(c.edits > 0);
    } else {
      const { result } = await readAll(s.bytes, sizes, readServerHello);
      if (result.ok) assert.ok(result.value >= 0x200 && result.value <= 0x2ff);
      else assert.ok(s.edits > 0);
    }
  }, 200);
});

Deno.test("fuzz: QueryPathInfos replies at every minor (mutated Nix 2.8 replies)", async () => {
  const corpus: Uint8Array[][] = [];
  for (const m of MINORS) {
    const perMinor: Uint8Array[] = [];
    for (const reply of rec.pathInfoReplies) {
      const infos = await readPathInfos(new WireReader(streamOf(reply, [1 << 30])), v(7));
      perMinor.push(await encode((w) => writePathInfos(w, infos, v(m))));
    }
    corpus.push(perMinor);
  }
  const arb = fc.nat(MINORS.length - 1).chain((m) =>
    fc.tuple(fc.constant(m), arbMutated(corpus[m]!), arbChunking)
  );
  await fuzz("serve path infos", arb, async ([m, { bytes, edits }, sizes]) => {
    const { result, consumed } = await readAll(bytes, sizes, (r) => readPathInfos(r, v(m)));
    if (!result.ok) {
      assert.ok(edits > 0);
      return;
    }
    const canonical = await encode((w) => writePathInfos(w, result.value, v(m)));
    const again = await readPathInfos(new WireReader(streamOf(canonical, [1 << 30])), v(m));
    assert.deepStrictEqual(again, result.value);
    assert.deepStrictEqual(await encode((w) => writePathInfos(w, again, v(m))), canonical);
    if (edits === 0) assert.deepStrictEqual(canonical, bytes.subarray(0, consumed));
  }, 200);
});
