/**
 * The serve protocol's client side: what Nix's `ssh://` store and its build
 * hook speak to `nix-store --serve --write` on a remote host, over any pair
 * of web streams. One request at a time, in order; every reply is read with
 * the session's negotiated version, so a 2.0 host and a 2.7 host both work.
 *
 * @module
 */
import type { BasicDerivation } from "../derivation/derivation.ts";
import { WireReader } from "../wire/wire_reader.ts";
import { type ByteSink, WireWriter } from "../wire/wire_writer.ts";
import type { AddToStoreNarHeader } from "../serve_protocol/add_to_store_nar.ts";
import { readBuildResult } from "../serve_protocol/build_result.ts";
import type { BuildResult } from "../derivation/build_result.ts";
import { BUILD_OPTION_DEFAULTS, type ServeBuildOptions } from "../serve_protocol/build_options.ts";
import { clientHandshake } from "../serve_protocol/handshake.ts";
import { readPathInfos, type ServePathInfo } from "../serve_protocol/path_infos.ts";
import {
  protocolMinor,
  type ProtocolVersion,
  SERVE_PROTOCOL_VERSION,
} from "../serve_protocol/protocol.ts";
import {
  readBuildPathsReply,
  readImportedReply,
  readPathsReply,
} from "../serve_protocol/replies.ts";
import { type ServeRequest, writeRequest } from "../serve_protocol/requests.ts";
import { RemoteError } from "./remote_error.ts";

/** The transport of a session: bytes from the host, a sink to it. */
export interface ServeTransport {
  /** What the host sends (its stdout). */
  readable: ReadableStream<Uint8Array>;
  /** What goes to the host (its stdin). */
  writable: WritableStream<Uint8Array>;
}

/** A serve-protocol session with one host. */
export class ServeClient {
  #writer: WritableStreamDefaultWriter<Uint8Array>;

  private constructor(
    readonly reader: WireReader,
    readonly out: WireWriter,
    writer: WritableStreamDefaultWriter<Uint8Array>,
    /** The session's version: the lower of the client's and the host's. */
    readonly version: ProtocolVersion,
    /** The version the host announced. */
    readonly hostVersion: ProtocolVersion,
    /** The host's store directory (assumed equal to ours, as Nix does). */
    readonly storeDir: string,
    /** The host's name, for messages. */
    readonly host: string,
  ) {
    this.#writer = writer;
  }

  /**
   * Start a session: the handshake.
   *
   * @param transport The host's streams.
   * @param options The version to offer (default 2.7, as Nix 2.8), the
   *   store dir, the host's name for messages.
   * @returns The session.
   * @throws {ServeProtocolError} The host is not a serve host, or speaks another major.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ServeClient } from "./serve_client.ts";
   * import { encodeU64 } from "../wire/wire_writer.ts";
   * const host = new ReadableStream({ start(c) { c.enqueue(encodeU64(0x5452eecb)); c.enqueue(encodeU64(0x205)); c.close(); } });
   * const client = await ServeClient.connect({ readable: host, writable: new WritableStream() });
   * assert.equal(client.version, 0x205);
   * await client.close();
   * ```
   */
  static async connect(
    transport: ServeTransport,
    options: { version?: ProtocolVersion; storeDir?: string; host?: string } = {},
  ): Promise<ServeClient> {
    const writer = transport.writable.getWriter();
    const sink: ByteSink = { write: (chunk) => writer.write(chunk) };
    const r = new WireReader(transport.readable);
    const w = new WireWriter(sink);
    const h = await clientHandshake(r, w, options.version ?? SERVE_PROTOCOL_VERSION);
    return new ServeClient(
      r,
      w,
      writer,
      h.version,
      h.peerVersion,
      options.storeDir ?? "/nix/store",
      options.host ?? "the host",
    );
  }

  /** Whether paths go one by one (AddToStoreNar, from 2.5) rather than as an export stream. */
  get canAddToStoreNar(): boolean {
    return protocolMinor(this.version) >= 5;
  }

  get #codec() {
    return { storeDir: this.storeDir };
  }

  async #send(request: ServeRequest): Promise<void> {
    writeRequest(this.out, request, this.version, this.#codec);
    await this.out.flush();
  }

  /**
   * Which of `paths` the host has (QueryValidPaths).
   *
   * @param paths Store paths.
   * @param options `lock`: the host protects them from GC for the session.
   * @returns The valid ones.
   */
  async queryValidPaths(
    paths: string[],
    options: { lock?: boolean; substitute?: boolean } = {},
  ): Promise<string[]> {
    await this.#send({
      command: "QueryValidPaths",
      lock: options.lock ?? false,
      substitute: options.substitute ?? false,
      paths,
    });
    return readPathsReply(this.reader, "QueryValidPaths", this.#codec);
  }

  /**
   * The host's metadata of the valid ones of `paths` (QueryPathInfos).
   *
   * @param paths Store paths.
   * @returns One entry per valid path (NAR hash, ca and sigs from 2.4).
   */
  async queryPathInfos(paths: string[]): Promise<ServePathInfo[]> {
    await this.#send({ command: "QueryPathInfos", paths });
    return readPathInfos(this.reader, this.version, this.#codec);
  }

  /**
   * The closure of `paths` on the host (QueryClosure).
   *
   * @param paths Valid store paths.
   * @param includeOutputs Add the outputs of derivations in it.
   * @returns The closure.
   */
  async queryClosure(paths: string[], includeOutputs = false): Promise<string[]> {
    await this.#send({ command: "QueryClosure", includeOutputs, paths });
    return readPathsReply(this.reader, "QueryClosure", this.#codec);
  }

  /**
   * Ask for a path's NAR (DumpStorePath). The NAR follows on
   * {@linkcode reader}, unframed: the caller must read exactly one NAR
   * from it (e.g. with `readNar`, or a store's `addNar`) before the next
   * request.
   *
   * @param path A valid store path on the host.
   * @returns The reader the NAR comes on.
   */
  async dumpStorePath(path: string): Promise<WireReader> {
    await this.#send({ command: "DumpStorePath", path });
    return this.reader;
  }

  /**
   * Send one path with its metadata and NAR (AddToStoreNar, 2.5 and later).
   *
   * @param header Its metadata; `narSize` must be the NAR's length.
   * @param nar The NAR, in chunks (each may be reused once the next is asked for).
   * @throws {ServeProtocolError} The session is older than 2.5.
   */
  async addToStoreNar(header: AddToStoreNarHeader, nar: AsyncIterable<Uint8Array>): Promise<void> {
    if (protocolMinor(this.version) < 5) {
      throw new RemoteError(
        this.host,
        `send ${header.path}`,
        `the session is version 2.${protocolMinor(this.version)}; AddToStoreNar needs 2.5`,
      );
    }
    await this.#send({ command: "AddToStoreNar", header });
    let sent = 0;
    for await (const chunk of nar) {
      sent += chunk.length;
      this.out.writeRaw(chunk);
      await this.out.flush();
    }
    if (sent !== header.narSize) {
      throw new RemoteError(
        this.host,
        `send ${header.path}`,
        `its narSize says ${header.narSize} bytes but the NAR has ${sent}`,
      );
    }
    await readImportedReply(this.reader, "AddToStoreNar");
  }

  /**
   * Send paths as an export stream (ImportPaths), for hosts older than 2.5.
   *
   * @param writeExport Writes the export stream (paths, references first, then the end mark).
   */
  async importPaths(writeExport: (w: WireWriter) => Promise<void>): Promise<void> {
    await this.#send({ command: "ImportPaths" });
    await writeExport(this.out);
    await this.out.flush();
    await readImportedReply(this.reader, "ImportPaths");
  }

  /**
   * Build a derivation on the host from its in-memory form
   * (BuildDerivation): the host needs its input sources (and the outputs
   * of its dependencies, listed among them), never the `.drv` closure.
   *
   * @param drvPath Its `.drv` path (names it; the host need not have it).
   * @param drv The derivation.
   * @param options Limits for the host.
   * @returns The host's result.
   */
  async buildDerivation(
    drvPath: string,
    drv: BasicDerivation,
    options: ServeBuildOptions = BUILD_OPTION_DEFAULTS,
  ): Promise<BuildResult> {
    await this.#send({ command: "BuildDerivation", drvPath, drv, options });
    return readBuildResult(this.reader, this.version, this.#codec);
  }

  /**
   * Build derivations the host has (BuildPaths, `drv!out` strings).
   *
   * @param paths `<drv>!<outputs>` strings.
   * @param options Limits for the host.
   * @returns 0 and "" on success, else Nix's status and message.
   */
  async buildPaths(
    paths: string[],
    options: ServeBuildOptions = BUILD_OPTION_DEFAULTS,
  ): Promise<{ status: number; errorMsg?: string }> {
    await this.#send({ command: "BuildPaths", paths, options });
    return readBuildPathsReply(this.reader);
  }

  /** End the session: close the host's input (it exits when it reads the end). */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.reader.cancel().catch(() => {});
  }
}
