/**
 * The small replies of the serve protocol. The others have their own
 * files: QueryPathInfos (`path_infos.ts`), BuildDerivation
 * (`build_result.ts`); DumpStorePath answers a NAR (`lib/nar`), ExportPaths
 * an export stream (`lib/store/export_format.ts`).
 *
 * ```
 * QueryValidPaths, QueryClosure:  paths (sorted)
 * ImportPaths, AddToStoreNar:     u64 1
 * BuildPaths:                     u64 0, or u64 status (non-zero) + str error message
 * ```
 *
 * The status of a failed BuildPaths is the exit status of Nix's error (1,
 * or 100 + the failure bits of a build), not a BuildResult status; the
 * message has Nix's ANSI colours.
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { FieldReader, FieldWriter, MAX_U32 } from "./_fields.ts";
import type { ServeCodecOptions } from "./protocol.ts";

/**
 * Read a list of paths: the reply to QueryValidPaths or QueryClosure.
 *
 * @param r The server's stream.
 * @param command The command it answers, for error messages.
 * @param options The store directory.
 * @returns The paths, sorted.
 * @throws {ServeProtocolError} On a short stream or a bad path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readPathsReply } from "./replies.ts";
 * assert.deepEqual(await readPathsReply(new WireReader(ReadableStream.from([encodeU64(0)])), "QueryValidPaths"), []);
 * ```
 */
export function readPathsReply(
  r: WireReader,
  command: "QueryValidPaths" | "QueryClosure",
  options: ServeCodecOptions = {},
): Promise<string[]> {
  return new FieldReader(r, `${command} reply`, options).pathSet("paths");
}

/**
 * Write a list of paths (sorted, without duplicates): the reply to
 * QueryValidPaths or QueryClosure.
 *
 * @param w The stream to the client.
 * @param paths The paths.
 * @param command The command it answers, for error messages.
 * @param options The store directory.
 * @throws {ServeProtocolError} When a path is not a store path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writePathsReply } from "./replies.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writePathsReply(w, ["/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-b", "/nix/store/0h1hs7di835bwxjnjd72izy08367yxaj-a"], "QueryClosure");
 * await w.flush();
 * assert.equal(new TextDecoder().decode(sink.bytes().subarray(16, 27)), "/nix/store/");
 * assert.equal(sink.bytes()[27], "0".charCodeAt(0)); // sorted
 * ```
 */
export function writePathsReply(
  w: WireWriter,
  paths: Iterable<string>,
  command: "QueryValidPaths" | "QueryClosure",
  options: ServeCodecOptions = {},
): void {
  new FieldWriter(w, `${command} reply`, options).pathSet("paths", paths);
}

/**
 * Read the reply to ImportPaths or AddToStoreNar: u64 1.
 *
 * @param r The server's stream.
 * @param command The command it answers, for error messages.
 * @throws {ServeProtocolError} When it is not 1 (Nix: the remote failed to import).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readImportedReply } from "./replies.ts";
 * await readImportedReply(new WireReader(ReadableStream.from([encodeU64(1)])), "AddToStoreNar");
 * await assert.rejects(readImportedReply(new WireReader(ReadableStream.from([encodeU64(0)])), "ImportPaths"));
 * ```
 */
export async function readImportedReply(
  r: WireReader,
  command: "ImportPaths" | "AddToStoreNar",
): Promise<void> {
  const fr = new FieldReader(r, `${command} reply`);
  const at = r.offset;
  const v = await fr.u64("done");
  if (v !== 1n) fr.fail(at, "done", `${v} is not 1: the remote failed to import the path`);
}

/**
 * Write the reply to ImportPaths or AddToStoreNar: u64 1.
 *
 * @param w The stream to the client.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeImportedReply } from "./replies.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeImportedReply(w);
 * await w.flush();
 * assert.deepEqual([...sink.bytes()], [1, 0, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function writeImportedReply(w: WireWriter): void {
  w.writeU64(1);
}

/**
 * The reply to BuildPaths.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BuildPathsReply } from "./replies.ts";
 * const ok: BuildPathsReply = { status: 0 };
 * const failed: BuildPathsReply = { status: 1, errorMsg: "error: cannot build missing derivation" };
 * assert.ok(ok.status === 0 && failed.errorMsg);
 * ```
 */
export interface BuildPathsReply {
  /** 0 on success, else the exit status of Nix's error. */
  status: number;
  /** The error message (only when status is not 0). */
  errorMsg?: string;
}

/**
 * Read the reply to BuildPaths.
 *
 * @param r The server's stream.
 * @returns The status, and the message when it is not 0.
 * @throws {ServeProtocolError} On a short stream or a status above 2^32-1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeString, encodeU64 } from "../wire/wire_writer.ts";
 * import { readBuildPathsReply } from "./replies.ts";
 * const r = new WireReader(ReadableStream.from([encodeU64(1), encodeString("error: x")]));
 * assert.deepEqual(await readBuildPathsReply(r), { status: 1, errorMsg: "error: x" });
 * ```
 */
export async function readBuildPathsReply(r: WireReader): Promise<BuildPathsReply> {
  const fr = new FieldReader(r, "BuildPaths reply");
  const status = await fr.number("status", MAX_U32);
  return status === 0 ? { status } : { status, errorMsg: await fr.text("errorMsg") };
}

/**
 * Write the reply to BuildPaths.
 *
 * @param w The stream to the client.
 * @param reply The status, and the message when it is not 0.
 * @throws {ServeProtocolError} When the status is out of range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeBuildPathsReply } from "./replies.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeBuildPathsReply(w, { status: 0 });
 * await w.flush();
 * assert.equal(sink.bytes().length, 8);
 * ```
 */
export function writeBuildPathsReply(w: WireWriter, reply: BuildPathsReply): void {
  const fw = new FieldWriter(w, "BuildPaths reply");
  fw.u64("status", reply.status, MAX_U32);
  if (reply.status !== 0) fw.text("errorMsg", reply.errorMsg ?? "");
}
