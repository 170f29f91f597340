/**
 * The reply to QueryPathInfos: for each requested path that is valid (in
 * the order of the sorted request, unknown ones silently left out)
 *
 * ```
 * str path
 * str deriver          "" if none
 * strings references   sorted
 * u64 downloadSize     Nix sends narSize
 * u64 narSize
 * str narHash          (>= 2.4) "sha256:<nix32>"
 * str ca               (>= 2.4) content address, "" if none
 * strings sigs         (>= 2.4) sorted
 * ```
 *
 * then the empty string `""` closes the list.
 *
 * @module
 */
import { Hash, HashError } from "../hash/hash.ts";
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { FieldReader, FieldWriter } from "./_fields.ts";
import {
  protocolMinor,
  type ProtocolVersion,
  SERVE_LIMITS,
  type ServeCodecOptions,
} from "./protocol.ts";

/**
 * What the serve protocol tells about a valid path. The fields a protocol
 * minor does not have are absent when read at that minor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ServePathInfo } from "./path_infos.ts";
 * const info: ServePathInfo = {
 *   path: "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-harness-c-ok", references: [],
 *   downloadSize: 136, narSize: 136,
 * };
 * assert.equal(info.narHash, undefined);
 * ```
 */
export interface ServePathInfo {
  /** The store path. */
  path: string;
  /** The derivation that built it, if known. */
  deriver?: string;
  /** Store paths it refers to, sorted. */
  references: string[];
  /** Bytes to download; Nix sends the NAR size. */
  downloadSize: number;
  /** Bytes of its NAR. */
  narSize: number;
  /** (>= 2.4) The NAR's hash; absent if the peer sent `""`. */
  narHash?: Hash;
  /** (>= 2.4) Its content address (`text:sha256:...`, `fixed:r:sha256:...`); absent if `""`. */
  ca?: string;
  /** (>= 2.4) Signatures, sorted. */
  sigs?: string[];
}

/**
 * Options of the path info codecs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PathInfoCodecOptions } from "./path_infos.ts";
 * const o: PathInfoCodecOptions = { command: "QueryPathInfos reply" };
 * assert.ok(o.command);
 * ```
 */
export interface PathInfoCodecOptions extends ServeCodecOptions {
  /** What is being read or written, for error messages (default `"QueryPathInfos reply"`). */
  command?: string;
}

const COMMAND = "QueryPathInfos reply";

/**
 * Read the infos of a QueryPathInfos reply, up to the closing `""`.
 *
 * @param r The stream.
 * @param version The session's version (its minor gates the fields).
 * @param options The store directory, the command for error messages.
 * @returns The infos, in the order sent.
 * @throws {ServeProtocolError} On a short stream, a bad path, hash or number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeString } from "../wire/wire_writer.ts";
 * import { readPathInfos } from "./path_infos.ts";
 * const r = new WireReader(ReadableStream.from([encodeString("")]));
 * assert.deepEqual(await readPathInfos(r, 0x207), []);
 * ```
 */
export async function readPathInfos(
  r: WireReader,
  version: ProtocolVersion,
  options: PathInfoCodecOptions = {},
): Promise<ServePathInfo[]> {
  const fr = new FieldReader(r, options.command ?? COMMAND, options);
  const infos: ServePathInfo[] = [];
  for (let i = 0;; i++) {
    const field = `infos[${i}]`;
    const at = r.offset;
    const path = await fr.text(`${field}.path`, SERVE_LIMITS.pathLength);
    if (path === "") return infos;
    if (i >= SERVE_LIMITS.pathCount) {
      fr.fail(at, field, `more than ${SERVE_LIMITS.pathCount} path infos`);
    }
    fr.checkPath(path, at, `${field}.path`);
    infos.push(await readInfoBody(fr, path, version, field));
  }
}

/**
 * Read one path info after its path (what follows `path` in the reply).
 *
 * @param r The stream.
 * @param path The path, already read.
 * @param version The session's version (its minor gates the fields).
 * @param options The store directory, the command for error messages.
 * @returns The info.
 * @throws {ServeProtocolError} On a short stream, a bad path, hash or number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeString, encodeU64 } from "../wire/wire_writer.ts";
 * import { readPathInfo } from "./path_infos.ts";
 * const path = "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-harness-c-ok";
 * const bytes = [encodeString(""), encodeU64(0), encodeU64(136), encodeU64(136)];
 * const info = await readPathInfo(new WireReader(ReadableStream.from(bytes)), path, 0x203);
 * assert.deepEqual(info, { path, references: [], downloadSize: 136, narSize: 136 });
 * ```
 */
export function readPathInfo(
  r: WireReader,
  path: string,
  version: ProtocolVersion,
  options: PathInfoCodecOptions = {},
): Promise<ServePathInfo> {
  const fr = new FieldReader(r, options.command ?? COMMAND, options);
  return readInfoBody(fr, path, version, "info");
}

async function readInfoBody(
  fr: FieldReader,
  path: string,
  version: ProtocolVersion,
  field: string,
): Promise<ServePathInfo> {
  const info: ServePathInfo = { path, references: [], downloadSize: 0, narSize: 0 };
  const deriver = await fr.optionalPath(`${field}.deriver`);
  if (deriver !== undefined) info.deriver = deriver;
  info.references = await fr.pathSet(`${field}.references`);
  info.downloadSize = await fr.number(`${field}.downloadSize`);
  info.narSize = await fr.number(`${field}.narSize`);
  if (protocolMinor(version) >= 4) {
    const at = fr.wire.offset;
    const hashText = await fr.text(`${field}.narHash`, SERVE_LIMITS.shortLength);
    if (hashText !== "") {
      try {
        info.narHash = Hash.parse(hashText);
      } catch (e) {
        if (!(e instanceof HashError)) throw e;
        fr.fail(at, `${field}.narHash`, e.message, e);
      }
    }
    const ca = await fr.text(`${field}.ca`, SERVE_LIMITS.shortLength);
    if (ca !== "") info.ca = ca;
    info.sigs = await fr.textSet(`${field}.sigs`, SERVE_LIMITS.itemCount, SERVE_LIMITS.shortLength);
  }
  return info;
}

/**
 * Write the infos of a QueryPathInfos reply and the closing `""`.
 *
 * @param w The stream.
 * @param infos The infos, in the order to send (Nix: the sorted requested paths).
 * @param version The session's version (its minor gates the fields).
 * @param options The store directory, the command for error messages.
 * @throws {ServeProtocolError} When a path, number or string has no wire form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writePathInfos } from "./path_infos.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writePathInfos(w, [{
 *   path: "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-harness-c-ok", references: [],
 *   downloadSize: 136, narSize: 136, narHash: Hash.of("sha256", ""), sigs: [],
 * }], 0x207);
 * await w.flush();
 * assert.ok(new TextDecoder().decode(sink.bytes()).includes("sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"));
 * ```
 */
export function writePathInfos(
  w: WireWriter,
  infos: Iterable<ServePathInfo>,
  version: ProtocolVersion,
  options: PathInfoCodecOptions = {},
): void {
  const fw = new FieldWriter(w, options.command ?? COMMAND, options);
  let i = 0;
  for (const info of infos) {
    const field = `infos[${i++}]`;
    fw.path(`${field}.path`, info.path);
    writeInfoBody(fw, info, version, field);
  }
  fw.text("end of infos", "");
}

/**
 * Write one path info after its path (what follows `path` in the reply).
 *
 * @param w The stream.
 * @param info The info (its `path` is not written).
 * @param version The session's version (its minor gates the fields).
 * @param options The store directory, the command for error messages.
 * @throws {ServeProtocolError} When a path, number or string has no wire form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writePathInfo } from "./path_infos.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writePathInfo(w, {
 *   path: "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-harness-c-ok", references: [],
 *   downloadSize: 136, narSize: 136,
 * }, 0x203);
 * await w.flush();
 * assert.equal(sink.bytes().length, 4 * 8);
 * ```
 */
export function writePathInfo(
  w: WireWriter,
  info: ServePathInfo,
  version: ProtocolVersion,
  options: PathInfoCodecOptions = {},
): void {
  writeInfoBody(new FieldWriter(w, options.command ?? COMMAND, options), info, version, "info");
}

function writeInfoBody(
  fw: FieldWriter,
  info: ServePathInfo,
  version: ProtocolVersion,
  field: string,
): void {
  fw.optionalPath(`${field}.deriver`, info.deriver);
  fw.pathSet(`${field}.references`, info.references);
  fw.u64(`${field}.downloadSize`, info.downloadSize);
  fw.u64(`${field}.narSize`, info.narSize);
  if (protocolMinor(version) >= 4) {
    fw.text(`${field}.narHash`, info.narHash?.toString("base32", true) ?? "");
    fw.text(`${field}.ca`, info.ca ?? "", SERVE_LIMITS.shortLength);
    fw.textSet(`${field}.sigs`, info.sigs ?? [], SERVE_LIMITS.shortLength);
  }
}
