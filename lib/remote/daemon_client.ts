/**
 * The daemon protocol's client side: what Nix's `ssh-ng://` store speaks to
 * `nix-daemon --stdio` (or `buildhost --stdio`) on a remote host, over any
 * pair of web streams. One operation at a time; each answer's stderr
 * messages are read first: log messages and build log lines go to the log
 * sink, an error becomes a {@linkcode RemoteError} with the host's message.
 *
 * @module
 */
import type { BasicDerivation } from "../derivation/derivation.ts";
import { WireReader } from "../wire/wire_reader.ts";
import { type ByteSink, WireWriter } from "../wire/wire_writer.ts";
import type { AddToStoreNarHeader } from "../serve_protocol/add_to_store_nar.ts";
import type { BuildResult } from "../derivation/build_result.ts";
import type { ServeBuildOptions } from "../serve_protocol/build_options.ts";
import type { ServePathInfo } from "../serve_protocol/path_infos.ts";
import {
  ResultType,
  WORKER_PROTOCOL_VERSION,
  workerMinor,
  type WorkerVersion,
} from "../worker_protocol/protocol.ts";
import { clientHandshake, type ServerInfo } from "../worker_protocol/handshake.ts";
import { type WorkerRequest, writeRequest } from "../worker_protocol/requests.ts";
import { readStderr } from "../worker_protocol/stderr.ts";
import { readPathInfoReply, readPathSet } from "../worker_protocol/replies.ts";
import { readWorkerBuildResult } from "../worker_protocol/build_result.ts";
import { RemoteError } from "./remote_error.ts";
import type { RemoteClient } from "./remote_client.ts";
import type { ServeTransport } from "./serve_client.ts";

/** Options of {@linkcode DaemonClient.connect}. */
export interface DaemonClientOptions {
  /** The version to offer (default 1.38). */
  version?: WorkerVersion;
  /** The logical store directory. */
  storeDir?: string;
  /** The host, for messages. */
  host?: string;
  /** Where the host's log messages and build logs go (default: this process's stderr). */
  log?: (text: string) => void;
}

/** A session with a host speaking the daemon protocol. */
export class DaemonClient implements RemoteClient {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly canAddToStoreNar = true;

  private constructor(
    readonly reader: WireReader,
    readonly out: WireWriter,
    writer: WritableStreamDefaultWriter<Uint8Array>,
    readonly info: ServerInfo,
    readonly storeDir: string,
    readonly host: string,
    readonly log: (text: string) => void,
  ) {
    this.#writer = writer;
  }

  /** The negotiated version. */
  get version(): WorkerVersion {
    return this.info.version;
  }

  /**
   * Open a session: the handshake and the host's opening messages.
   *
   * @param transport The host's stdout (readable) and stdin (writable).
   * @param options Version, store directory, host name, log sink.
   * @returns The session.
   */
  static async connect(
    transport: ServeTransport,
    options: DaemonClientOptions = {},
  ): Promise<DaemonClient> {
    const writer = transport.writable.getWriter();
    const sink: ByteSink = { write: (chunk) => writer.write(chunk) };
    const r = new WireReader(transport.readable);
    const w = new WireWriter(sink);
    const info = await clientHandshake(r, w, options.version ?? WORKER_PROTOCOL_VERSION, []);
    const encoder = new TextEncoder();
    const client = new DaemonClient(
      r,
      w,
      writer,
      info,
      options.storeDir ?? "/nix/store",
      options.host ?? "the host",
      options.log ?? ((t) => void Deno.stderr.writeSync(encoder.encode(t))),
    );
    if (workerMinor(info.version) < 23) {
      throw new RemoteError(
        client.host,
        "open a daemon session",
        `the host speaks 1.${workerMinor(info.version)}; buildhost's client needs 1.23 or newer`,
      );
    }
    await client.#stderr("open a daemon session");
    return client;
  }

  get #codec() {
    return { storeDir: this.storeDir };
  }

  async #send(req: WorkerRequest): Promise<void> {
    writeRequest(this.out, req, this.version, this.#codec);
    await this.out.flush();
  }

  /** Read stderr messages up to STDERR_LAST; an error throws. */
  async #stderr(action: string): Promise<void> {
    while (true) {
      const m = await readStderr(this.reader, this.version);
      switch (m.type) {
        case "last":
          return;
        case "error":
          throw new RemoteError(this.host, action, m.error.message);
        case "next":
          this.log(m.text);
          break;
        case "result":
          if (m.resultType === ResultType.BuildLogLine && typeof m.fields[0] === "string") {
            this.log(`${m.fields[0]}\n`);
          }
          break;
        case "read":
        case "write":
          throw new RemoteError(this.host, action, `unexpected stderr message '${m.type}'`);
        default:
          break; // activities: Nix shows them as progress; nothing to print here
      }
    }
  }

  /** QueryValidPaths; with `lock`, AddTempRoot for each (kept for the session). */
  async queryValidPaths(paths: string[], options: { lock?: boolean } = {}): Promise<string[]> {
    await this.#send({ op: "QueryValidPaths", paths, substitute: false });
    await this.#stderr("query valid paths");
    const valid = await readPathSet(this.reader, "QueryValidPaths reply", this.#codec);
    if (options.lock) {
      for (const p of valid) {
        await this.#send({ op: "AddTempRoot", path: p });
        await this.#stderr(`lock ${p}`);
        await this.reader.readU64();
      }
    }
    return valid;
  }

  /** QueryPathInfo of each path; the ones the host lacks are left out. */
  async queryPathInfos(paths: string[]): Promise<ServePathInfo[]> {
    const out: ServePathInfo[] = [];
    for (const path of paths) {
      await this.#send({ op: "QueryPathInfo", path });
      await this.#stderr(`query ${path}`);
      const info = await readPathInfoReply(this.reader, this.version, this.#codec);
      if (info === undefined) continue;
      out.push({
        path,
        ...(info.deriver ? { deriver: info.deriver } : {}),
        references: info.references,
        downloadSize: info.narSize,
        narSize: info.narSize,
        narHash: info.narHash,
        ...(info.ca ? { ca: info.ca } : {}),
        sigs: info.sigs,
      });
    }
    return out;
  }

  /** The closure, following references with QueryPathInfo. */
  async queryClosure(paths: string[]): Promise<string[]> {
    const seen = new Set<string>();
    let todo = [...paths];
    while (todo.length > 0) {
      const infos = await this.queryPathInfos(todo.filter((p) => !seen.has(p)));
      for (const p of todo) seen.add(p);
      todo = infos.flatMap((i) => i.references).filter((p) => !seen.has(p));
    }
    return [...seen].sort();
  }

  /** NarFromPath: the reader, positioned at the NAR (read it whole before the next call). */
  async dumpStorePath(path: string): Promise<WireReader> {
    await this.#send({ op: "NarFromPath", path });
    await this.#stderr(`fetch ${path}`);
    return this.reader;
  }

  /** AddToStoreNar with the NAR framed; the host checks it against the header. */
  async addToStoreNar(header: AddToStoreNarHeader, nar: AsyncIterable<Uint8Array>): Promise<void> {
    await this.#send({ op: "AddToStoreNar", info: header, repair: false, dontCheckSigs: true });
    let sent = 0;
    await this.out.writeFramed((async function* () {
      for await (const chunk of nar) {
        sent += chunk.length;
        yield chunk;
      }
    })());
    await this.out.flush();
    if (sent !== header.narSize) {
      throw new RemoteError(
        this.host,
        `send ${header.path}`,
        `its narSize says ${header.narSize} bytes but the NAR has ${sent}`,
      );
    }
    await this.#stderr(`send ${header.path}`);
  }

  /** Not in the daemon protocol (ImportPaths is obsolete): rejects; use addToStoreNar. */
  importPaths(): Promise<void> {
    return Promise.reject(
      new RemoteError(this.host, "import paths", "the daemon protocol sends paths one by one"),
    );
  }

  /** SetOptions (when options are given), then BuildDerivation; logs go to the log sink. */
  async buildDerivation(
    drvPath: string,
    drv: BasicDerivation,
    options?: ServeBuildOptions,
  ): Promise<BuildResult> {
    if (options) {
      const overrides = new Map<string, string>();
      if (options.buildTimeout) overrides.set("build-timeout", String(options.buildTimeout));
      if (options.maxLogSize) overrides.set("max-log-size", String(options.maxLogSize));
      await this.#send({
        op: "SetOptions",
        options: {
          keepFailed: options.keepFailed ?? false,
          keepGoing: false,
          tryFallback: false,
          verbosity: 0,
          maxBuildJobs: 1,
          maxSilentTime: options.maxSilentTime,
          verboseBuild: true,
          buildCores: 0,
          useSubstitutes: false,
          overrides,
        },
      });
      await this.#stderr("set options");
    }
    await this.#send({ op: "BuildDerivation", drvPath, drv, mode: "normal" });
    await this.#stderr(`build ${drvPath}`);
    return await readWorkerBuildResult(this.reader, this.version, this.#codec);
  }

  /** End the session. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.reader.cancel().catch(() => {});
  }
}
