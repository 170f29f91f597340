/**
 * The requests of the serve protocol: a u64 command number, then its
 * fields (see `protocol.ts` for the table).
 *
 * ```
 * 1 QueryValidPaths   bool lock, bool substitute, paths
 * 2 QueryPathInfos    paths
 * 3 DumpStorePath     path
 * 4 ImportPaths       (an export stream follows; read it with lib/store/export_format.ts)
 * 5 ExportPaths       bool sign (ignored by Nix), paths
 * 6 BuildPaths        strings "<drv>!<output>[,<output>...]", build options
 * 7 QueryClosure      bool includeOutputs, paths
 * 8 BuildDerivation   str drvPath, BasicDerivation, build options
 * 9 AddToStoreNar     header (add_to_store_nar.ts); the NAR follows, narSize bytes
 * ```
 *
 * "paths" are sets (Nix's `StorePathSet`): read and written sorted, without
 * duplicates. Nix reads the two bools of QueryValidPaths and those of
 * QueryClosure and ExportPaths as integers (any value); here they must be
 * 0 or 1. The stream may end between two requests ({@linkcode readRequest}
 * then returns undefined); anywhere else a short stream is an error.
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import type { BasicDerivation } from "../derivation/derivation.ts";
import { derivationNameFromPath } from "../derivation/derivation.ts";
import { DerivationError } from "../derivation/derivation_error.ts";
import { FieldReader, FieldWriter, MAX_U32 } from "./_fields.ts";
import {
  type AddToStoreNarHeader,
  readAddToStoreNarHeader,
  writeAddToStoreNarHeader,
} from "./add_to_store_nar.ts";
import { readBasicDerivation, writeBasicDerivation } from "./basic_derivation_codec.ts";
import { readBuildOptions, type ServeBuildOptions, writeBuildOptions } from "./build_options.ts";
import {
  type ProtocolVersion,
  SERVE_LIMITS,
  type ServeCodecOptions,
  ServeCommand,
  type ServeCommandName,
  serveCommandName,
} from "./protocol.ts";
import { UnknownCommandError } from "./serve_protocol_error.ts";

/**
 * A request, by command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ServeRequest } from "./requests.ts";
 * const req: ServeRequest = { command: "QueryValidPaths", lock: false, substitute: false, paths: [] };
 * assert.equal(req.command, "QueryValidPaths");
 * ```
 */
export type ServeRequest =
  | { command: "QueryValidPaths"; lock: boolean; substitute: boolean; paths: string[] }
  | { command: "QueryPathInfos"; paths: string[] }
  | { command: "DumpStorePath"; path: string }
  /** The export stream follows the command number. */
  | { command: "ImportPaths" }
  | { command: "ExportPaths"; sign: boolean; paths: string[] }
  /** `paths`: `<drv path>!<outputs>` strings, in the order sent. */
  | { command: "BuildPaths"; paths: string[]; options: ServeBuildOptions }
  | { command: "QueryClosure"; includeOutputs: boolean; paths: string[] }
  | {
    command: "BuildDerivation";
    drvPath: string;
    drv: BasicDerivation;
    options: ServeBuildOptions;
  }
  /** The NAR follows the header: `header.narSize` bytes. */
  | { command: "AddToStoreNar"; header: AddToStoreNarHeader };

/**
 * The request of one command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ServeRequestOf } from "./requests.ts";
 * const req: ServeRequestOf<"DumpStorePath"> = { command: "DumpStorePath", path: "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-x" };
 * assert.ok(req.path);
 * ```
 */
export type ServeRequestOf<C extends ServeCommandName> = Extract<ServeRequest, { command: C }>;

/**
 * Read a command number, or learn that the client ended the session.
 *
 * @param r The client's stream.
 * @returns The command, or undefined when the stream ended cleanly before it.
 * @throws {UnknownCommandError} For a number that is no command.
 * @throws {ServeProtocolError} When the stream ends inside the number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readCommand } from "./requests.ts";
 * const r = new WireReader(ReadableStream.from([encodeU64(7)]));
 * assert.equal(await readCommand(r), "QueryClosure");
 * assert.equal(await readCommand(r), undefined);
 * await assert.rejects(readCommand(new WireReader(ReadableStream.from([encodeU64(42)]))), /unknown serve command 42/);
 * ```
 */
export async function readCommand(r: WireReader): Promise<ServeCommandName | undefined> {
  if (await r.atEnd()) return undefined;
  const fr = new FieldReader(r, "request");
  const at = r.offset;
  const code = await fr.u64("command");
  const name = serveCommandName(code);
  if (name === undefined) throw new UnknownCommandError(at, code);
  return name;
}

/**
 * Read the fields of a command's request (after its number).
 *
 * @param r The client's stream.
 * @param command The command just read.
 * @param version The session's version (its minor gates the build options).
 * @param options The store directory.
 * @returns The request.
 * @throws {ServeProtocolError} Naming the command, field and byte offset on malformed input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeString, encodeU64 } from "../wire/wire_writer.ts";
 * import { readRequestBody } from "./requests.ts";
 * const path = "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-harness-c-ok";
 * const r = new WireReader(ReadableStream.from([encodeString(path)]));
 * assert.deepEqual(await readRequestBody(r, "DumpStorePath", 0x207), { command: "DumpStorePath", path });
 * ```
 */
export async function readRequestBody(
  r: WireReader,
  command: ServeCommandName,
  version: ProtocolVersion,
  options: ServeCodecOptions = {},
): Promise<ServeRequest> {
  const what = `${command} request`;
  const fr = new FieldReader(r, what, options);
  switch (command) {
    case "QueryValidPaths":
      return {
        command,
        lock: await fr.bool("lock"),
        substitute: await fr.bool("substitute"),
        paths: await fr.pathSet("paths"),
      };
    case "QueryPathInfos":
      return { command, paths: await fr.pathSet("paths") };
    case "DumpStorePath":
      return { command, path: await fr.path("path") };
    case "ImportPaths":
      return { command };
    case "ExportPaths":
      return { command, sign: await fr.bool("sign"), paths: await fr.pathSet("paths") };
    case "BuildPaths": {
      const n = await fr.count("paths", SERVE_LIMITS.pathCount);
      const paths: string[] = [];
      for (let i = 0; i < n; i++) {
        const at = r.offset;
        const s = await fr.text(`paths[${i}]`, SERVE_LIMITS.pathLength);
        const bang = s.indexOf("!");
        fr.checkPath(bang < 0 ? s : s.slice(0, bang), at, `paths[${i}]`);
        paths.push(s);
      }
      return { command, paths, options: await readBuildOptions(r, version, { command: what }) };
    }
    case "QueryClosure":
      return {
        command,
        includeOutputs: await fr.bool("includeOutputs"),
        paths: await fr.pathSet("paths"),
      };
    case "BuildDerivation": {
      const at = r.offset;
      const drvPath = await fr.path("drvPath");
      let name: string;
      try {
        name = derivationNameFromPath(drvPath);
      } catch (e) {
        if (!(e instanceof DerivationError)) throw e;
        return fr.fail(at, "drvPath", e.message, e);
      }
      const drv = await readBasicDerivation(r, name, { ...options, command: what });
      const buildOptions = await readBuildOptions(r, version, { command: what });
      return { command, drvPath, drv, options: buildOptions };
    }
    case "AddToStoreNar":
      return { command, header: await readAddToStoreNarHeader(r, options) };
  }
}

/**
 * Read a whole request: the command number and its fields.
 *
 * @param r The client's stream.
 * @param version The session's version (its minor gates the build options).
 * @param options The store directory.
 * @returns The request, or undefined when the stream ended cleanly before it.
 * @throws {ServeProtocolError} Naming the command, field and byte offset on malformed input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readRequest } from "./requests.ts";
 * const r = new WireReader(ReadableStream.from([1, 0, 1, 0].map(encodeU64)));
 * assert.deepEqual(await readRequest(r, 0x207), { command: "QueryValidPaths", lock: false, substitute: true, paths: [] });
 * assert.equal(await readRequest(r, 0x207), undefined);
 * ```
 */
export async function readRequest(
  r: WireReader,
  version: ProtocolVersion,
  options: ServeCodecOptions = {},
): Promise<ServeRequest | undefined> {
  const command = await readCommand(r);
  return command === undefined ? undefined : await readRequestBody(r, command, version, options);
}

/**
 * Write the fields of a request (without its number).
 *
 * @param w The stream to the server.
 * @param req The request.
 * @param version The session's version (its minor gates the build options).
 * @param options The store directory.
 * @throws {ServeProtocolError} When a value has no wire form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeRequestBody } from "./requests.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeRequestBody(w, { command: "QueryClosure", includeOutputs: true, paths: [] }, 0x207);
 * await w.flush();
 * assert.deepEqual([...sink.bytes()], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function writeRequestBody(
  w: WireWriter,
  req: ServeRequest,
  version: ProtocolVersion,
  options: ServeCodecOptions = {},
): void {
  const what = `${req.command} request`;
  const fw = new FieldWriter(w, what, options);
  switch (req.command) {
    case "QueryValidPaths":
      fw.bool("lock", req.lock).bool("substitute", req.substitute).pathSet("paths", req.paths);
      return;
    case "QueryPathInfos":
      fw.pathSet("paths", req.paths);
      return;
    case "DumpStorePath":
      fw.path("path", req.path);
      return;
    case "ImportPaths":
      return;
    case "ExportPaths":
      fw.bool("sign", req.sign).pathSet("paths", req.paths);
      return;
    case "BuildPaths":
      fw.u64("paths count", req.paths.length, MAX_U32);
      req.paths.forEach((s, i) => {
        const bang = s.indexOf("!");
        fw.checkPath(`paths[${i}]`, bang < 0 ? s : s.slice(0, bang));
        fw.text(`paths[${i}]`, s, SERVE_LIMITS.pathLength);
      });
      writeBuildOptions(w, req.options, version, { command: what });
      return;
    case "QueryClosure":
      fw.bool("includeOutputs", req.includeOutputs).pathSet("paths", req.paths);
      return;
    case "BuildDerivation":
      fw.path("drvPath", req.drvPath);
      writeBasicDerivation(w, req.drv, { ...options, command: what });
      writeBuildOptions(w, req.options, version, { command: what });
      return;
    case "AddToStoreNar":
      writeAddToStoreNarHeader(w, req.header, options);
      return;
  }
}

/**
 * Write a whole request: the command number and its fields.
 *
 * @param w The stream to the server.
 * @param req The request.
 * @param version The session's version (its minor gates the build options).
 * @param options The store directory.
 * @throws {ServeProtocolError} When a value has no wire form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeRequest } from "./requests.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeRequest(w, { command: "QueryPathInfos", paths: [] }, 0x207);
 * await w.flush();
 * assert.equal(sink.bytes()[0], 2);
 * ```
 */
export function writeRequest(
  w: WireWriter,
  req: ServeRequest,
  version: ProtocolVersion,
  options: ServeCodecOptions = {},
): void {
  new FieldWriter(w, `${req.command} request`, options).u64("command", ServeCommand[req.command]);
  writeRequestBody(w, req, version, options);
}
