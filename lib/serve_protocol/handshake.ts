/**
 * The serve protocol's handshake, both sides.
 *
 * ```
 * client -> server: u64 SERVE_MAGIC_1 (0x390c9deb), u64 client version
 * server -> client: u64 SERVE_MAGIC_2 (0x5452eecb), u64 server version
 * ```
 *
 * Nix's server answers right after reading magic 1, before it reads the
 * client's version (a client that sent only the magic still gets the
 * answer), so {@linkcode serverHandshake} flushes its answer before reading
 * on. A version is `major << 8 | minor`; a peer whose major is not 2 is
 * refused with an {@linkcode UnsupportedVersionError} (Nix's client refuses
 * such a server too; Nix's server does not look at the client's major;
 * Nix 2.35's client also refuses a server below 2.5). The session then
 * uses the lower of the two versions.
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { FieldReader, FieldWriter } from "./_fields.ts";
import {
  protocolMajor,
  type ProtocolVersion,
  SERVE_MAGIC_1,
  SERVE_MAGIC_2,
  SERVE_PROTOCOL_VERSION,
} from "./protocol.ts";
import { UnsupportedVersionError } from "./serve_protocol_error.ts";

/**
 * What a handshake settled.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Handshake } from "./handshake.ts";
 * const h: Handshake = { peerVersion: 0x207, version: 0x207 };
 * assert.equal(h.version, 0x207);
 * ```
 */
export interface Handshake {
  /** The version the other side announced. */
  peerVersion: ProtocolVersion;
  /** The version of the session: the lower of both sides'. */
  version: ProtocolVersion;
}

async function readMagic(r: WireReader, expected: number, field: string): Promise<void> {
  const fr = new FieldReader(r, "handshake");
  const at = r.offset;
  const magic = await fr.u64(field);
  if (magic !== BigInt(expected)) {
    fr.fail(
      at,
      field,
      `0x${magic.toString(16)} is not 0x${expected.toString(16)} (protocol mismatch)`,
    );
  }
}

async function readVersion(r: WireReader, field: string): Promise<ProtocolVersion> {
  const fr = new FieldReader(r, "handshake");
  const at = r.offset;
  const v = await fr.u64(field);
  if (v > 0xffffn || protocolMajor(Number(v)) !== 2) {
    throw new UnsupportedVersionError(field, at, v);
  }
  return Number(v);
}

function writeVersion(fw: FieldWriter, field: string, version: ProtocolVersion): void {
  if (
    !Number.isInteger(version) || version < 0 || version > 0xffff || protocolMajor(version) !== 2
  ) {
    fw.fail(field, `${version} is not a version 2.x (0x200 to 0x2ff)`);
  }
  fw.u64(field, version);
}

/**
 * The session's version: the lower of two.
 *
 * @param ours Our version.
 * @param theirs The peer's version (major 2, checked when read).
 * @returns The lower one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { negotiateVersion } from "./handshake.ts";
 * assert.equal(negotiateVersion(0x207, 0x205), 0x205);
 * assert.equal(negotiateVersion(0x207, 0x208), 0x207);
 * ```
 */
export function negotiateVersion(ours: ProtocolVersion, theirs: ProtocolVersion): ProtocolVersion {
  return Math.min(ours, theirs);
}

/**
 * Server side: read the client's magic.
 *
 * @param r The client's stream.
 * @throws {ServeProtocolError} When it is not SERVE_MAGIC_1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readClientMagic } from "./handshake.ts";
 * await readClientMagic(new WireReader(ReadableStream.from([encodeU64(0x390c9deb)])));
 * await assert.rejects(readClientMagic(new WireReader(ReadableStream.from([encodeU64(1)]))), /protocol mismatch/);
 * ```
 */
export async function readClientMagic(r: WireReader): Promise<void> {
  await readMagic(r, SERVE_MAGIC_1, "client magic");
}

/**
 * Server side: read the client's version.
 *
 * @param r The client's stream, after the magic.
 * @returns The client's version.
 * @throws {UnsupportedVersionError} When its major is not 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readClientVersion } from "./handshake.ts";
 * assert.equal(await readClientVersion(new WireReader(ReadableStream.from([encodeU64(0x205)]))), 0x205);
 * await assert.rejects(readClientVersion(new WireReader(ReadableStream.from([encodeU64(0x300)]))), /0x300/);
 * ```
 */
export function readClientVersion(r: WireReader): Promise<ProtocolVersion> {
  return readVersion(r, "client version");
}

/**
 * Server side: write SERVE_MAGIC_2 and our version (the caller flushes).
 *
 * @param w The stream to the client.
 * @param version Our version (default {@linkcode SERVE_PROTOCOL_VERSION}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeServerHello } from "./handshake.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeServerHello(w);
 * await w.flush();
 * assert.deepEqual([...sink.bytes().subarray(0, 4)], [0xcb, 0xee, 0x52, 0x54]);
 * ```
 */
export function writeServerHello(
  w: WireWriter,
  version: ProtocolVersion = SERVE_PROTOCOL_VERSION,
): void {
  const fw = new FieldWriter(w, "handshake");
  fw.u64("server magic", SERVE_MAGIC_2);
  writeVersion(fw, "server version", version);
}

/**
 * Server side, all of it: read the magic, answer (flushed), read the
 * client's version.
 *
 * @param r The client's stream.
 * @param w The stream to the client.
 * @param version Our version (default {@linkcode SERVE_PROTOCOL_VERSION}).
 * @returns The client's version and the session's.
 * @throws {ServeProtocolError} On a bad magic or version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { BufferSink, encodeU64, WireWriter } from "../wire/wire_writer.ts";
 * import { serverHandshake } from "./handshake.ts";
 * const r = new WireReader(ReadableStream.from([encodeU64(0x390c9deb), encodeU64(0x205)]));
 * const sink = new BufferSink();
 * const h = await serverHandshake(r, new WireWriter(sink));
 * assert.deepEqual(h, { peerVersion: 0x205, version: 0x205 });
 * assert.equal(sink.bytes().length, 16);
 * ```
 */
export async function serverHandshake(
  r: WireReader,
  w: WireWriter,
  version: ProtocolVersion = SERVE_PROTOCOL_VERSION,
): Promise<Handshake> {
  await readClientMagic(r);
  writeServerHello(w, version);
  await w.flush();
  const peerVersion = await readClientVersion(r);
  return { peerVersion, version: negotiateVersion(version, peerVersion) };
}

/**
 * Client side: write SERVE_MAGIC_1 and our version (the caller flushes).
 *
 * @param w The stream to the server.
 * @param version Our version (default {@linkcode SERVE_PROTOCOL_VERSION}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeClientHello } from "./handshake.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeClientHello(w, 0x207);
 * await w.flush();
 * assert.deepEqual([...sink.bytes()], [0xeb, 0x9d, 0x0c, 0x39, 0, 0, 0, 0, 7, 2, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function writeClientHello(
  w: WireWriter,
  version: ProtocolVersion = SERVE_PROTOCOL_VERSION,
): void {
  const fw = new FieldWriter(w, "handshake");
  fw.u64("client magic", SERVE_MAGIC_1);
  writeVersion(fw, "client version", version);
}

/**
 * Client side: read the server's magic and version.
 *
 * @param r The server's stream.
 * @returns The server's version.
 * @throws {ServeProtocolError} On a bad magic; {@linkcode UnsupportedVersionError} when its major is not 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readServerHello } from "./handshake.ts";
 * const ok = new WireReader(ReadableStream.from([encodeU64(0x5452eecb), encodeU64(0x207)]));
 * assert.equal(await readServerHello(ok), 0x207);
 * const bad = new WireReader(ReadableStream.from([encodeU64(0x5452eecb), encodeU64(0x307)]));
 * await assert.rejects(readServerHello(bad), /unsupported serve protocol version 0x307/);
 * ```
 */
export async function readServerHello(r: WireReader): Promise<ProtocolVersion> {
  await readMagic(r, SERVE_MAGIC_2, "server magic");
  return await readVersion(r, "server version");
}

/**
 * Client side, all of it: send our hello (flushed), read the server's.
 *
 * @param r The server's stream.
 * @param w The stream to the server.
 * @param version Our version (default {@linkcode SERVE_PROTOCOL_VERSION}).
 * @returns The server's version and the session's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { BufferSink, encodeU64, WireWriter } from "../wire/wire_writer.ts";
 * import { clientHandshake } from "./handshake.ts";
 * const r = new WireReader(ReadableStream.from([encodeU64(0x5452eecb), encodeU64(0x207)]));
 * const h = await clientHandshake(r, new WireWriter(new BufferSink()), 0x208);
 * assert.deepEqual(h, { peerVersion: 0x207, version: 0x207 });
 * ```
 */
export async function clientHandshake(
  r: WireReader,
  w: WireWriter,
  version: ProtocolVersion = SERVE_PROTOCOL_VERSION,
): Promise<Handshake> {
  writeClientHello(w, version);
  await w.flush();
  const peerVersion = await readServerHello(r);
  return { peerVersion, version: negotiateVersion(version, peerVersion) };
}
