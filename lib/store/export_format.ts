/**
 * Nix's export format (`nix-store --export`, serve protocol ImportPaths and
 * ExportPaths): for each path
 *
 * ```
 * u64 1, the path's NAR, u64 0x4558494e ("NIXE"), path, references (string
 * list), deriver ("" if none), u64 0 (no signature)
 * ```
 *
 * then u64 0. The NAR comes before the metadata, so an importer learns the
 * path only after unpacking.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";

/** The magic after each NAR in an export stream. */
export const EXPORT_MAGIC = 0x4558494e;

/** Malformed export stream. */
export class ExportFormatError extends BuildhostError {
  override name = "ExportFormatError";
}

/** The metadata after a NAR in an export stream. */
export interface ExportTrailer {
  path: string;
  references: string[];
  deriver?: string;
}

/**
 * Read the marker before the next item: true when a path follows, false at
 * the end of the stream.
 *
 * @param r The reader.
 * @returns Whether a path follows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { readExportMarker } from "./export_format.ts";
 * assert.equal(await readExportMarker(new WireReader(ReadableStream.from([new Uint8Array(8)]))), false);
 * ```
 */
export async function readExportMarker(r: WireReader): Promise<boolean> {
  const at = r.offset;
  const v = await r.readU64();
  if (v > 1n) {
    throw new ExportFormatError(
      `Cannot read export stream at byte ${at}: marker ${v} is not 0 or 1`,
    );
  }
  return v === 1n;
}

/**
 * Read the metadata that follows a NAR.
 *
 * @param r The reader, just after the NAR.
 * @returns The trailer.
 */
export async function readExportTrailer(r: WireReader): Promise<ExportTrailer> {
  const at = r.offset;
  const magic = await r.readU64();
  if (magic !== BigInt(EXPORT_MAGIC)) {
    throw new ExportFormatError(
      `Cannot read export stream at byte ${at}: bad magic 0x${magic.toString(16)}`,
    );
  }
  const path = await r.readString(4096, "path");
  const references = await r.readStrings(1 << 20, 4096, "references");
  const deriver = await r.readString(4096, "deriver");
  const sigAt = r.offset;
  if (await r.readU64() !== 0n) {
    throw new ExportFormatError(
      `Cannot read export stream at byte ${sigAt}: signed exports are not supported`,
    );
  }
  return deriver === "" ? { path, references } : { path, references, deriver };
}

/**
 * Write the metadata that follows a NAR.
 *
 * @param w The writer, just after the NAR.
 * @param t The trailer.
 */
export function writeExportTrailer(w: WireWriter, t: ExportTrailer): void {
  w.writeU64(EXPORT_MAGIC).writeString(t.path).writeStrings(t.references);
  w.writeString(t.deriver ?? "").writeU64(0);
}
