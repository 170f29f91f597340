/**
 * The request header of AddToStoreNar (command 9, from protocol 2.5): the
 * metadata of one path, followed on the wire by its NAR, exactly `narSize`
 * bytes, not framed (the caller streams it; the reply is u64 1).
 *
 * ```
 * str path
 * str deriver             "" if none
 * str narHash             sha256, base16 without "sha256:" (Nix accepts any encoding)
 * strings references      sorted
 * u64 registrationTime    unix seconds
 * u64 narSize             not 0 (Nix: "narInfo is too old and missing the narSize field")
 * u64 ultimate            bool (Nix 2.8's client sends 0)
 * strings sigs            sorted
 * str ca                  content address, "" if none
 * ```
 *
 * The fields are those of a store's path info, under the same names.
 *
 * @module
 */
import type { Hash } from "../hash/hash.ts";
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { FieldReader, FieldWriter } from "./_fields.ts";
import { SERVE_LIMITS, type ServeCodecOptions } from "./protocol.ts";

/**
 * The metadata sent ahead of a NAR by AddToStoreNar.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import type { AddToStoreNarHeader } from "./add_to_store_nar.ts";
 * const h: AddToStoreNarHeader = {
 *   path: "/nix/store/ni6lx5yaprbihpkwd3za63izls5wpnl3-harness-c-src.txt", narHash: Hash.of("sha256", ""),
 *   references: [], registrationTime: 0, narSize: 144, ultimate: false, sigs: [],
 * };
 * assert.equal(h.deriver, undefined);
 * ```
 */
export interface AddToStoreNarHeader {
  /** The store path. */
  path: string;
  /** The derivation that built it, if known. */
  deriver?: string;
  /** sha256 of the NAR. */
  narHash: Hash;
  /** Store paths it refers to, sorted. */
  references: string[];
  /** When it was registered (unix seconds). */
  registrationTime: number;
  /** Bytes of the NAR that follows. */
  narSize: number;
  /** Whether it was built on the sending side ("ultimately trusted"). */
  ultimate: boolean;
  /** Signatures, sorted. */
  sigs: string[];
  /** Content address (`text:sha256:...`, `fixed:r:sha256:...`), if any. */
  ca?: string;
}

const COMMAND = "AddToStoreNar request";

/**
 * Read the header of an AddToStoreNar request (after the command number).
 * The NAR follows: `narSize` bytes.
 *
 * @param r The stream.
 * @param options The store directory.
 * @returns The header.
 * @throws {ServeProtocolError} On a short stream, a bad path, hash, number or bool, or narSize 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { readAddToStoreNarHeader, writeAddToStoreNarHeader } from "./add_to_store_nar.ts";
 * const header = {
 *   path: "/nix/store/ni6lx5yaprbihpkwd3za63izls5wpnl3-harness-c-src.txt", narHash: Hash.of("sha256", "x"),
 *   references: [], registrationTime: 1795561455, narSize: 144, ultimate: false, sigs: [],
 *   ca: "text:sha256:0bqpwq41z90pvpjkhq6vzrnddz65xapldqgyq73y14h0lw5mv8lk",
 * };
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeAddToStoreNarHeader(w, header);
 * await w.flush();
 * assert.deepEqual(await readAddToStoreNarHeader(new WireReader(ReadableStream.from([sink.bytes()]))), header);
 * ```
 */
export async function readAddToStoreNarHeader(
  r: WireReader,
  options: ServeCodecOptions = {},
): Promise<AddToStoreNarHeader> {
  const fr = new FieldReader(r, COMMAND, options);
  const path = await fr.path("path");
  const deriver = await fr.optionalPath("deriver");
  const narHash = await fr.hash("narHash", SERVE_LIMITS.shortLength);
  const references = await fr.pathSet("references");
  const registrationTime = await fr.number("registrationTime");
  const sizeAt = r.offset;
  const narSize = await fr.number("narSize");
  if (narSize === 0) {
    fr.fail(sizeAt, "narSize", "it is 0 (Nix: the path info is too old and has no NAR size)");
  }
  const ultimate = await fr.bool("ultimate");
  const sigs = await fr.textSet("sigs", SERVE_LIMITS.itemCount, SERVE_LIMITS.shortLength);
  const ca = await fr.text("ca", SERVE_LIMITS.shortLength);
  const header: AddToStoreNarHeader = {
    path,
    narHash,
    references,
    registrationTime,
    narSize,
    ultimate,
    sigs,
  };
  if (deriver !== undefined) header.deriver = deriver;
  if (ca !== "") header.ca = ca;
  return header;
}

/**
 * Write the header of an AddToStoreNar request (without the command
 * number); the caller then sends the NAR, `narSize` bytes.
 *
 * @param w The stream.
 * @param header The header.
 * @param options The store directory.
 * @throws {ServeProtocolError} When a path, number or string has no wire form, or narSize is 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeAddToStoreNarHeader } from "./add_to_store_nar.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeAddToStoreNarHeader(w, {
 *   path: "/nix/store/ni6lx5yaprbihpkwd3za63izls5wpnl3-harness-c-src.txt", narHash: Hash.of("sha256", ""),
 *   references: [], registrationTime: 0, narSize: 144, ultimate: false, sigs: [],
 * });
 * await w.flush();
 * // the hash goes out as bare base16
 * assert.ok(new TextDecoder().decode(sink.bytes()).includes("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
 * ```
 */
export function writeAddToStoreNarHeader(
  w: WireWriter,
  header: AddToStoreNarHeader,
  options: ServeCodecOptions = {},
): void {
  const fw = new FieldWriter(w, COMMAND, options);
  fw.path("path", header.path);
  fw.optionalPath("deriver", header.deriver);
  if (header.narHash.algorithm !== "sha256") {
    fw.fail("narHash", `it is a ${header.narHash.algorithm} hash, not sha256`);
  }
  fw.text("narHash", header.narHash.toString("base16"));
  fw.pathSet("references", header.references);
  fw.u64("registrationTime", header.registrationTime);
  if (header.narSize === 0) fw.fail("narSize", "it is 0; a NAR is never empty");
  fw.u64("narSize", header.narSize);
  fw.bool("ultimate", header.ultimate);
  fw.textSet("sigs", header.sigs, SERVE_LIMITS.shortLength);
  fw.text("ca", header.ca ?? "", SERVE_LIMITS.shortLength);
}
