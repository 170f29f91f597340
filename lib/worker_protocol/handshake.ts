/**
 * The worker protocol's opening exchange, both sides (see `protocol.ts`).
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { WireError } from "../wire/wire_error.ts";
import {
  OLDEST_WORKER_VERSION,
  WORKER_LIMITS,
  WORKER_MAGIC_1,
  WORKER_MAGIC_2,
  workerMinor,
  type WorkerVersion,
} from "./protocol.ts";
import { WorkerProtocolError } from "./worker_protocol_error.ts";

/** Whether the server trusts the client (sent from 1.35). */
export type TrustStatus = "unknown" | "trusted" | "notTrusted";

const TRUST_CODES: TrustStatus[] = ["unknown", "trusted", "notTrusted"];

/** What the server states in its hello. */
export interface ServerHello {
  /** The highest version it speaks. */
  version: WorkerVersion;
  /** Its features (exchanged from 1.38). */
  features: string[];
  /** Its Nix version string (sent from 1.33). */
  nixVersion: string;
  /** Whether it trusts the client (sent from 1.35). */
  trust: TrustStatus;
}

/** The outcome of a handshake. */
export interface Negotiated {
  /** The version both use: the lower of the two. */
  version: WorkerVersion;
  /** The features both listed. */
  features: string[];
  /** The other side's version. */
  peerVersion: WorkerVersion;
}

async function wire<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if (e instanceof WireError) throw new WorkerProtocolError(e.offset, e.message, { cause: e });
    throw e;
  }
}

async function readFeatures(r: WireReader): Promise<string[]> {
  return await wire(() =>
    r.readStrings(WORKER_LIMITS.itemCount, WORKER_LIMITS.shortLength, "features")
  );
}

/**
 * Server side: reads the client's magic (answering at once with the server's
 * magic and version, as Nix does), its version, features and obsolete
 * fields, then sends the version string and trust status the version calls
 * for. The caller then sends the stderr messages ending with STDERR_LAST.
 *
 * @param r The client's stream.
 * @param w The reply stream (flushed here).
 * @param hello What the server states.
 * @returns The version and features in use.
 * @throws {WorkerProtocolError} `protocol mismatch` on a bad magic, `the Nix
 *   client version is too old` below 1.21 (Nix's words).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { BufferSink, encodeU64, WireWriter } from "../wire/wire_writer.ts";
 * import { serverHandshake } from "./handshake.ts";
 * const input = [0x6e697863, 0x122, 0, 0].map((n) => encodeU64(n));
 * const out = new BufferSink();
 * const w = new WireWriter(out);
 * const n = await serverHandshake(new WireReader(ReadableStream.from(input)), w, {
 *   version: 0x126, features: [], nixVersion: "2.8.0", trust: "trusted",
 * });
 * await w.flush();
 * assert.equal(n.version, 0x122);
 * assert.equal(out.bytes().length, 16 + 16); // magic, version, "2.8.0"
 * ```
 */
export async function serverHandshake(
  r: WireReader,
  w: WireWriter,
  hello: ServerHello,
): Promise<Negotiated> {
  const magicAt = r.offset;
  const magic = await wire(() => r.readU64());
  if (magic !== BigInt(WORKER_MAGIC_1)) throw new WorkerProtocolError(magicAt, "protocol mismatch");
  w.writeU64(WORKER_MAGIC_2).writeU64(hello.version);
  await w.flush();
  const versionAt = r.offset;
  const clientVersion = await wire(() => r.readU64());
  if (clientVersion >> 8n !== 1n || clientVersion > 0xffffn) {
    throw new WorkerProtocolError(
      versionAt,
      `unsupported daemon protocol version 0x${
        clientVersion.toString(16)
      } (only major version 1 is spoken)`,
    );
  }
  if (clientVersion < BigInt(OLDEST_WORKER_VERSION)) {
    throw new WorkerProtocolError(versionAt, "the Nix client version is too old");
  }
  const peerVersion = Number(clientVersion);
  const version = Math.min(peerVersion, hello.version);
  const minor = workerMinor(version);
  let features: string[] = [];
  if (minor >= 38) {
    const theirs = await readFeatures(r);
    w.writeStrings(hello.features);
    await w.flush();
    features = hello.features.filter((f) => theirs.includes(f));
  }
  if (minor >= 14 && (await wire(() => r.readU64())) !== 0n) await wire(() => r.readU64());
  if (minor >= 11) await wire(() => r.readU64());
  if (minor >= 33) w.writeString(hello.nixVersion);
  if (minor >= 35) w.writeU64(TRUST_CODES.indexOf(hello.trust));
  return { version, features, peerVersion };
}

/** What a server told a client. */
export interface ServerInfo extends Negotiated {
  /** Its Nix version string, when the version carries it (>= 1.33). */
  nixVersion?: string;
  /** Whether it trusts us (>= 1.35). */
  trust?: TrustStatus;
}

/**
 * Client side: the mirror of {@linkcode serverHandshake}, up to (not
 * including) the stderr messages that end the opening.
 *
 * @param r The server's stream.
 * @param w The request stream (flushed here).
 * @param version The client's version.
 * @param features The client's features (sent from 1.38).
 * @returns What was negotiated and what the server said.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { BufferSink, encodeString, encodeU64, WireWriter } from "../wire/wire_writer.ts";
 * import { clientHandshake } from "./handshake.ts";
 * const reply = [encodeU64(0x6478696f), encodeU64(0x122), encodeString("2.8.0")];
 * const info = await clientHandshake(
 *   new WireReader(ReadableStream.from(reply)), new WireWriter(new BufferSink()), 0x122, [],
 * );
 * assert.equal(info.nixVersion, "2.8.0");
 * ```
 */
export async function clientHandshake(
  r: WireReader,
  w: WireWriter,
  version: WorkerVersion,
  features: string[],
): Promise<ServerInfo> {
  w.writeU64(WORKER_MAGIC_1).writeU64(version);
  await w.flush();
  const magicAt = r.offset;
  const magic = await wire(() => r.readU64());
  if (magic !== BigInt(WORKER_MAGIC_2)) {
    throw new WorkerProtocolError(magicAt, "nix-daemon protocol mismatch");
  }
  const versionAt = r.offset;
  const serverVersion = await wire(() => r.readU64());
  if (serverVersion >> 8n !== 1n || serverVersion > 0xffffn) {
    throw new WorkerProtocolError(versionAt, "Nix daemon protocol version not supported");
  }
  const peerVersion = Number(serverVersion);
  if (peerVersion < OLDEST_WORKER_VERSION) {
    throw new WorkerProtocolError(versionAt, "the Nix daemon version is too old");
  }
  const used = Math.min(peerVersion, version);
  const minor = workerMinor(used);
  const info: ServerInfo = { version: used, features: [], peerVersion };
  if (minor >= 38) {
    w.writeStrings(features);
    await w.flush();
    const theirs = await readFeatures(r);
    info.features = features.filter((f) => theirs.includes(f));
  }
  if (minor >= 14) w.writeU64(0);
  if (minor >= 11) w.writeU64(0);
  await w.flush();
  if (minor >= 33) {
    info.nixVersion = await wire(() => r.readString(WORKER_LIMITS.shortLength, "daemon version"));
  }
  if (minor >= 35) {
    const at = r.offset;
    const code = await wire(() => r.readU64());
    const trust = TRUST_CODES[Number(code)];
    if (code > 2n || trust === undefined) {
      throw new WorkerProtocolError(at, `invalid trust status ${code} from the daemon`);
    }
    info.trust = trust;
  }
  return info;
}
