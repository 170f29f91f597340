/**
 * The worker ("daemon") protocol's server side: what `nix-daemon --stdio`
 * speaks on stdin/stdout, which Nix runs for `ssh-ng://` stores, over any
 * pair of web streams, backed by buildhost's store and sandboxed builder.
 * The codecs are in `lib/worker_protocol/` (see its `protocol.ts` for the
 * session's shape).
 *
 * Each operation's request is read whole, then its stderr messages go out
 * (log lines, build activities), then STDERR_LAST and the reply. An error
 * while performing an operation is sent as STDERR_ERROR (in the negotiated
 * version's format, with Nix's wording) and the session goes on; a request
 * that cannot be read (unknown op, absurd length, path outside the store,
 * truncation) is answered with STDERR_ERROR and ends the session, since
 * the rest of the stream cannot be trusted. Nothing is changed by a
 * rejected request: imports are checked while streaming and registered only
 * whole (see `Store.addNar`).
 *
 * A client that hangs up during a build cancels it (the builder's whole
 * process tree is killed).
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";
import { type ByteSource, WireReader } from "../wire/wire_reader.ts";
import { UnexpectedEofError, WireError } from "../wire/wire_error.ts";
import { type ByteSink, WireWriter } from "../wire/wire_writer.ts";
import type { Store } from "../store/store.ts";
import type { ImportRun } from "../store/import_run.ts";
import type { Builder, BuildOptions } from "../builder/builder.ts";
import {
  type BuildResult,
  type CompleteBuildResult,
  isBuildSuccess,
} from "../derivation/build_result.ts";
import { buildGraph } from "../builder/build_graph.ts";
import { type BasicDerivation, outputPath } from "../derivation/derivation.ts";
import { builtRealisations } from "../serve/built_realisations.ts";
import { whileConnected } from "../serve/while_connected.ts";
import { ServeProtocolError } from "../serve_protocol/serve_protocol_error.ts";
import { readAddToStoreNarHeader } from "../serve_protocol/add_to_store_nar.ts";
import type { AddToStoreNarHeader } from "../serve_protocol/add_to_store_nar.ts";
import {
  WORKER_LIMITS,
  WORKER_PROTOCOL_VERSION,
  workerMinor,
  type WorkerVersion,
} from "../worker_protocol/protocol.ts";
import { serverHandshake, type TrustStatus } from "../worker_protocol/handshake.ts";
import {
  type ClientOptions,
  readOp,
  readRequestBody,
  type WorkerRequest,
} from "../worker_protocol/requests.ts";
import { writeMissingReply, writePathInfoReply, writePathSet } from "../worker_protocol/replies.ts";
import { writeKeyedBuildResults, writeWorkerBuildResult } from "../worker_protocol/build_result.ts";
import type { DerivedPath } from "../worker_protocol/derived_path.ts";
import { FramedReader } from "../worker_protocol/framed.ts";
import { WorkerProtocolError } from "../worker_protocol/worker_protocol_error.ts";
import { ActivityIds, BuildActivities, TunnelLogger } from "./tunnel_logger.ts";

/** An operation that failed; the message is what the client is shown (Nix's words). */
export class DaemonError extends BuildhostError {
  override name = "DaemonError";
}

/** Options of a {@linkcode DaemonServer}. */
export interface DaemonOptions {
  /** Where session-ending errors go (the process's stderr). */
  log: (text: string) => void;
  /** Builds BuildDerivation and BuildPaths requests; without one they fail. */
  builder?: Builder;
  /** The highest version offered (default 1.38). */
  version?: WorkerVersion;
  /** The Nix version string sent from 1.33 (default `buildhost <version>`). */
  nixVersion?: string;
  /** Trust status sent from 1.35 (default trusted: the client runs us as itself). */
  trust?: TrustStatus;
  /** First activity id (default: pid << 32, as Nix). */
  activityIdBase?: bigint;
}

/** The outcome of a session. */
export interface DaemonOutcome {
  /** 0 when the client ended the session cleanly, 1 after an error. */
  exitCode: number;
}

/** buildhost's version, as `nix store ping` shows it. */
export const BUILDHOST_VERSION = "buildhost 0.1.0";

/** A store path as Nix quotes it in messages (its "yellow" escapes). */
function q(path: string): string {
  return `\x1b[35;1m${path}\x1b[0m`;
}

/** A request that could not be read: the session must end. */
class BadRequest extends BuildhostError {
  override name = "BadRequest";
}

/**
 * Serves one worker-protocol session over a pair of streams.
 *
 * @example A handshake, then QueryValidPaths
 * ```ts
 * import assert from "node:assert/strict";
 * import { Store } from "../store/store.ts";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { DaemonServer } from "./daemon_server.ts";
 * const root = await Deno.makeTempDir();
 * const store = await Store.open(root);
 * const req = new BufferSink();
 * const w = new WireWriter(req);
 * w.writeU64(0x6e697863).writeU64(0x122).writeU64(0).writeU64(0)
 *   .writeU64(31).writeStrings(["/nix/store/ffffffffffffffffffffffffffffffff-x"]).writeU64(0);
 * await w.flush();
 * const out = new BufferSink();
 * const r = await new DaemonServer(store, { log: () => {}, nixVersion: "2.8.0" })
 *   .serve(ReadableStream.from([req.bytes()]), out);
 * assert.equal(r.exitCode, 0);
 * assert.equal(out.bytes().length, 16 + 16 + 8 + 8 + 8); // hello, "2.8.0", LAST, LAST, []
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class DaemonServer {
  #settings: ClientOptions | undefined;
  #ids: ActivityIds;

  /**
   * @param store The store to serve.
   * @param options Builder, version, error sink.
   */
  constructor(readonly store: Store, readonly options: DaemonOptions) {
    this.#ids = new ActivityIds(options.activityIdBase);
  }

  /**
   * Run one session to its end.
   *
   * @param input What the client sends.
   * @param output Where replies go.
   * @returns How the session ended.
   */
  async serve(input: ByteSource, output: ByteSink): Promise<DaemonOutcome> {
    const r = new WireReader(input);
    const w = new WireWriter(output);
    try {
      await this.#session(r, w);
      return { exitCode: 0 };
    } catch (e) {
      const eof = e instanceof UnexpectedEofError ||
        (e as Error).cause instanceof UnexpectedEofError;
      this.options.log(
        `error: ${eof ? "unexpected end-of-file" : e instanceof Error ? e.message : String(e)}\n`,
      );
      return { exitCode: 1 };
    } finally {
      await r.cancel().catch(() => {});
    }
  }

  async #session(r: WireReader, w: WireWriter): Promise<void> {
    const { version } = await serverHandshake(r, w, {
      version: this.options.version ?? WORKER_PROTOCOL_VERSION,
      features: [],
      nixVersion: this.options.nixVersion ?? BUILDHOST_VERSION,
      trust: this.options.trust ?? "trusted",
    });
    new TunnelLogger(w, version, this.#ids).last();
    await w.flush();
    const codec = { storeDir: this.store.storeDir };
    while (true) {
      let req: WorkerRequest;
      try {
        const op = await readOp(r);
        if (op === undefined) return; // the client ended the session
        req = await readRequestBody(r, op, version, codec);
      } catch (e) {
        // The rest of the stream cannot be read: say why, then end.
        if (e instanceof WorkerProtocolError || e instanceof ServeProtocolError) {
          const log = new TunnelLogger(w, version, this.#ids);
          log.error({ message: e instanceof WorkerProtocolError ? e.detail : e.message });
          await w.flush().catch(() => {});
        }
        throw e;
      }
      const log = new TunnelLogger(w, version, this.#ids);
      try {
        await this.#perform(req, r, w, log, version);
      } catch (e) {
        if (e instanceof BadRequest || e instanceof WireError) {
          log.error({ message: e.message });
          await w.flush().catch(() => {});
          throw e;
        }
        if (!(e instanceof BuildhostError)) throw e;
        log.error({ message: e.message });
      }
      await w.flush();
    }
  }

  async #perform(
    req: WorkerRequest,
    r: WireReader,
    w: WireWriter,
    log: TunnelLogger,
    version: WorkerVersion,
  ): Promise<void> {
    const store = this.store;
    const codec = { storeDir: store.storeDir };
    const minor = workerMinor(version);
    switch (req.op) {
      case "SetOptions":
        this.#settings = req.options;
        log.last();
        return;
      case "IsValidPath":
        log.last();
        w.writeBool(store.isValid(req.path));
        return;
      case "QueryValidPaths":
        log.last();
        writePathSet(w, store.queryValidPaths(req.paths), "QueryValidPaths reply", codec);
        return;
      case "QuerySubstitutablePaths": // no substituters
        log.last();
        writePathSet(w, [], "QuerySubstitutablePaths reply", codec);
        return;
      case "QuerySubstitutablePathInfos":
        log.last();
        w.writeU64(0);
        return;
      case "QueryAllValidPaths":
        log.last();
        writePathSet(w, store.allValidPaths(), "QueryAllValidPaths reply", codec);
        return;
      case "QueryPathInfo": {
        const info = store.queryPathInfo(req.path);
        if (info === undefined && minor < 17) this.#invalid(req.path);
        log.last();
        writePathInfoReply(w, info, version, codec);
        return;
      }
      case "QueryReferrers":
        log.last();
        writePathSet(w, store.referrers(req.path), "QueryReferrers reply", codec);
        return;
      case "QueryDeriver": {
        const info = store.queryPathInfo(req.path) ?? this.#invalid(req.path);
        log.last();
        w.writeString(info.deriver ?? "");
        return;
      }
      case "AddTempRoot":
        await store.tempRoots.add([req.path]);
        log.last();
        w.writeU64(1);
        return;
      case "EnsurePath":
        if (!store.isValid(req.path)) {
          throw new DaemonError(`path '${q(req.path)}' does not exist and cannot be created`);
        }
        log.last();
        w.writeU64(1);
        return;
      case "SyncWithGC":
        log.last();
        w.writeU64(1);
        return;
      case "NarFromPath": {
        if (!store.isValid(req.path)) this.#invalid(req.path);
        log.last();
        await w.flush();
        for await (const chunk of store.dump(req.path)) {
          w.writeRaw(chunk);
          await w.flush(); // the chunk's buffer is reused by the next read
        }
        return;
      }
      case "AddToStoreNar":
        await this.#addToStoreNar(req.info, r, w, log, minor);
        log.last();
        return;
      case "AddMultipleToStore": {
        const framed = new FramedReader(r);
        try {
          await this.#importFramed(framed.inner);
        } finally {
          await framed.finish();
        }
        log.last();
        return;
      }
      case "QueryMissing": {
        log.stop(log.start(6, 0, "querying info about missing paths"));
        const missing = this.#missing(req.paths);
        log.last();
        writeMissingReply(w, missing, codec);
        return;
      }
      case "BuildDerivation": {
        const result = await this.#buildDerivation(req.drvPath, req.drv, r, log);
        log.last();
        writeWorkerBuildResult(w, result, version, codec);
        return;
      }
      case "BuildPaths":
      case "BuildPathsWithResults": {
        const results = await this.#buildPaths(req.paths, r, log);
        if (req.op === "BuildPaths") {
          const failed = results.filter((x) => !isBuildSuccess(x.result.status));
          if (failed.length === 1) throw new DaemonError(failed[0]!.result.errorMsg);
          if (failed.length > 1) {
            throw new DaemonError(
              `build of ${failed.map((f) => `'${q(f.path.path)}'`).join(", ")} failed`,
            );
          }
          log.last();
          w.writeU64(1);
        } else {
          log.last();
          writeKeyedBuildResults(w, results, version, codec);
        }
        return;
      }
    }
  }

  #invalid(path: string): never {
    throw new DaemonError(`path '${q(path)}' is not valid`);
  }

  /** AddToStoreNar: framed from 1.23; 1.21-1.22 pull the NAR with STDERR_READ. */
  async #addToStoreNar(
    info: AddToStoreNarHeader,
    r: WireReader,
    w: WireWriter,
    log: TunnelLogger,
    minor: number,
  ): Promise<void> {
    if (minor >= 23) {
      const framed = new FramedReader(r);
      try {
        await this.#import(info, framed.inner);
      } finally {
        await framed.finish();
      }
      return;
    }
    const wanted = 32768;
    const pulled = new WireReader({
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          log.read(wanted);
          await w.flush();
          const data = await r.readBytes(wanted, "data");
          if (data.length === 0) throw new BadRequest("unexpected end-of-file");
          return { done: false, value: data };
        },
      }),
    });
    await this.#import(info, pulled);
  }

  async #import(
    info: AddToStoreNarHeader,
    nar: WireReader,
    ultimate?: boolean,
    run?: ImportRun,
  ): Promise<void> {
    await this.store.addNar(
      {
        path: info.path,
        narHash: info.narHash,
        narSize: info.narSize,
        references: info.references,
        registrationTime: info.registrationTime,
        ultimate: ultimate ?? info.ultimate,
        sigs: info.sigs,
        ...(info.deriver ? { deriver: info.deriver } : {}),
        ...(info.ca ? { ca: info.ca } : {}),
      },
      nar,
      run,
    );
  }

  /** AddMultipleToStore's stream: a count, then per path its info and NAR. */
  async #importFramed(inner: WireReader): Promise<void> {
    const count = await inner.readNumber("path count", WORKER_LIMITS.pathCount);
    // One run: the paths are installed together, a bounded number at a time.
    await this.store.importRun(async (run) => {
      for (let i = 0; i < count; i++) {
        const info = await readAddToStoreNarHeader(inner, { storeDir: this.store.storeDir });
        await this.#import(info, inner, false, run); // Nix: imported paths are never ultimate
      }
    });
  }

  #missing(paths: DerivedPath[]) {
    const store = this.store;
    const willBuild = new Set<string>();
    const unknown = new Set<string>();
    for (const p of paths) {
      if (p.outputs === undefined) {
        if (!store.isValid(p.path)) unknown.add(p.path);
        continue;
      }
      if (!store.isValid(p.path)) {
        unknown.add(p.path);
        continue;
      }
      const outputs = store.derivationOutputs(p.path);
      const wanted = p.outputs.includes("*") ? [...outputs.keys()] : p.outputs;
      if (wanted.some((o) => !outputs.has(o) || !store.isValid(outputs.get(o)!))) {
        willBuild.add(p.path);
      }
    }
    return {
      willBuild: [...willBuild],
      willSubstitute: [],
      unknown: [...unknown],
      downloadSize: 0,
      narSize: 0,
    };
  }

  /** The builder's options from the client's settings. */
  #buildOptions(): BuildOptions {
    const s = this.#settings;
    const out: BuildOptions = {};
    if (!s) return out;
    out.maxSilentTime = s.maxSilentTime;
    out.keepFailed = s.keepFailed;
    if (s.buildCores > 0) out.cores = s.buildCores;
    const timeout = Number(s.overrides.get("build-timeout") ?? s.overrides.get("timeout"));
    if (Number.isSafeInteger(timeout) && timeout >= 0) out.buildTimeout = timeout;
    const maxLog = Number(s.overrides.get("max-log-size"));
    if (Number.isSafeInteger(maxLog) && maxLog >= 0) out.maxLogSize = maxLog;
    return out;
  }

  #builder(): Builder {
    if (!this.options.builder) throw new DaemonError("this host cannot build (no sandbox)");
    return this.options.builder;
  }

  async #buildDerivation(
    drvPath: string,
    drv: BasicDerivation,
    r: WireReader,
    log: TunnelLogger,
  ): Promise<BuildResult> {
    const builder = this.#builder();
    const activities = new BuildActivities(log);
    const outputs = [...drv.outputs].map(([name, o]) =>
      outputPath(drv.name, name, o, this.store.storeDir)
    );
    if (!outputs.every((p) => p !== undefined && this.store.isValid(p))) {
      activities.building(drvPath);
    }
    let result: CompleteBuildResult;
    try {
      result = await this.#whileConnected(r, log, (signal) =>
        builder.build(drvPath, drv, {
          ...this.#buildOptions(),
          signal,
          log: (chunk) => activities.output(chunk),
        }));
    } catch (e) {
      activities.finish(false);
      throw e;
    }
    activities.finish(isBuildSuccess(result.status));
    return await this.#wireResult(result, drv, drvPath);
  }

  /** BuildPaths(WithResults): plain paths must be valid; derivations are built from the store. */
  async #buildPaths(
    paths: DerivedPath[],
    r: WireReader,
    log: TunnelLogger,
  ): Promise<{ path: DerivedPath; result: BuildResult }[]> {
    const store = this.store;
    const activities = new BuildActivities(log);
    const out: { path: DerivedPath; result: BuildResult }[] = [];
    try {
      const drvs = paths.filter((p) => p.outputs !== undefined).map((p) => p.path);
      let built = new Map<string, CompleteBuildResult>();
      if (drvs.length > 0) {
        const missing = drvs.find((d) => !store.isValid(d));
        if (missing === undefined) {
          const builder = this.#builder();
          built = await this.#whileConnected(r, log, (signal) =>
            buildGraph(builder, drvs, {
              ...this.#buildOptions(),
              signal,
              log: (chunk) => activities.output(chunk),
            }));
        }
      }
      for (const p of paths) {
        if (p.outputs === undefined) {
          out.push({
            path: p,
            result: store.isValid(p.path) ? { status: "AlreadyValid", errorMsg: "" } : {
              status: "NoSubstituters",
              errorMsg: `path '${
                q(p.path)
              }' is required, but there is no substituter that can build it`,
            },
          });
          continue;
        }
        const res = built.get(p.path);
        if (res === undefined) {
          out.push({
            path: p,
            result: {
              status: "MiscFailure",
              errorMsg: `cannot build missing derivation '${q(p.path)}'`,
            },
          });
          continue;
        }
        out.push({ path: p, result: await this.#wireResult(res, undefined, p.path) });
      }
    } finally {
      activities.finish(true);
    }
    return out;
  }

  /** The result as the daemon reports it: realisations keyed by hash modulo; Nix's log tail on failure. */
  async #wireResult(
    result: CompleteBuildResult,
    drv: BasicDerivation | undefined,
    drvPath: string,
  ): Promise<BuildResult> {
    const builtOutputs = await builtRealisations(result, drv, this.store.storeDir);
    let errorMsg = result.errorMsg;
    const tail = result.logTail;
    if (!isBuildSuccess(result.status) && tail.length > 0) {
      // As nix-daemon words it: its clients are not verbose, so the tail goes in the message.
      errorMsg += `;\nlast ${tail.length} log lines:\n${tail.map((l) => `> ${l}\n`).join("")}` +
        `For full logs, run '\x1b[1mnix log ${drvPath}\x1b[0m'.`;
    }
    return { ...result, errorMsg, builtOutputs };
  }

  /** Run a build, cancelling it when the client goes away (see `lib/serve/while_connected.ts`). */
  #whileConnected<T>(
    r: WireReader,
    log: TunnelLogger,
    run: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return whileConnected(r, run, {
      gone: () => new BadRequest("interrupted: the client went away"),
      broken: log.broken,
    });
  }
}
