/**
 * The serve protocol's server side: what `nix-store --serve [--write]`
 * speaks on stdin/stdout, over any pair of web streams.
 *
 * Session: the client sends magic 0x390c9deb and its version; the server
 * answers magic 0x5452eecb and its own version (right after reading the
 * magic, as Nix does); each side then uses the other's minor version for the
 * fields that depend on it. Then commands, each a u64 followed by its fields,
 * until the client closes its side between two commands.
 *
 * | command | request | reply |
 * |---|---|---|
 * | 1 QueryValidPaths | lock, substitute, paths | the valid ones |
 * | 2 QueryPathInfos | paths | per valid path: path, deriver, references, downloadSize, narSize, (>= 4) narHash, ca, sigs; then "" |
 * | 3 DumpStorePath | path | its NAR |
 * | 4 ImportPaths | an export stream | 1 |
 * | 5 ExportPaths | sign, paths | an export stream |
 * | 7 QueryClosure | includeOutputs, paths | the closure |
 * | 9 AddToStoreNar | path, deriver, narHash (base16), references, registrationTime, narSize, ultimate, sigs, ca, NAR | 1 |
 *
 * Without write access, ImportPaths and AddToStoreNar end the session with
 * Nix's error and no reply. Build commands (6 BuildPaths, 8 BuildDerivation)
 * need a builder: until one is given they end the session with an error.
 * Errors go to the error sink (stderr), never into the protocol stream.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";
import { type ByteSource, WireReader } from "../wire/wire_reader.ts";
import { UnexpectedEofError } from "../wire/wire_error.ts";
import { type ByteSink, WireWriter } from "../wire/wire_writer.ts";
import type { Store } from "../store/store.ts";
import type { Builder, BuildOptions } from "../builder/builder.ts";
import {
  type BuildResult,
  type CompleteBuildResult,
  isBuildSuccess,
} from "../derivation/build_result.ts";
import { buildGraph } from "../builder/build_graph.ts";
import { StoreError } from "../store/store.ts";
import type { BasicDerivation } from "../derivation/derivation.ts";
import { builtRealisations } from "./built_realisations.ts";
import { SERVE_PROTOCOL_VERSION } from "../serve_protocol/protocol.ts";
import { serverHandshake } from "../serve_protocol/handshake.ts";
import { readCommand, readRequestBody } from "../serve_protocol/requests.ts";
import {
  writeBuildPathsReply,
  writeImportedReply,
  writePathsReply,
} from "../serve_protocol/replies.ts";
import { writePathInfos } from "../serve_protocol/path_infos.ts";
import { writeBuildResult } from "../serve_protocol/build_result.ts";
import type { ServeBuildOptions } from "../serve_protocol/build_options.ts";
import { ServeProtocolError, UnknownCommandError } from "../serve_protocol/serve_protocol_error.ts";
import { Heartbeat } from "./heartbeat.ts";
import { whileConnected } from "./while_connected.ts";

/** A session that must end: the message is what the client is shown. */
export class ServeError extends BuildhostError {
  override name = "ServeError";
}

/** Options of a {@linkcode ServeServer}. */
export interface ServeOptions {
  /** Allow commands that change the store (`--write`). */
  write: boolean;
  /** Where errors and build logs go (the process's stderr). */
  log: (text: string) => void;
  /** Builds BuildDerivation and BuildPaths requests; without one they are refused. */
  builder?: Builder;
  /** Sees the error that ended a session, after it is logged (for tests and fuzzing). */
  onError?: (error: unknown) => void;
}

/** The outcome of a session. */
export interface ServeOutcome {
  /** 0 when the client ended the session cleanly, 1 after an error. */
  exitCode: number;
}

/**
 * Serves one session over a pair of streams, backed by a store.
 *
 * @example A handshake and a QueryValidPaths
 * ```ts
 * import assert from "node:assert/strict";
 * import { Store } from "../store/store.ts";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { ServeServer } from "./server.ts";
 * const root = await Deno.makeTempDir();
 * const store = await Store.open(root);
 * const req = new BufferSink();
 * const w = new WireWriter(req);
 * w.writeU64(0x390c9deb).writeU64(0x207).writeU64(1).writeBool(false).writeBool(false)
 *   .writeStrings(["/nix/store/ffffffffffffffffffffffffffffffff-x"]);
 * await w.flush();
 * const out = new BufferSink();
 * const r = await new ServeServer(store, { write: false, log: () => {} })
 *   .serve(ReadableStream.from([req.bytes()]), out);
 * assert.equal(r.exitCode, 0);
 * assert.equal(out.bytes().length, 24); // magic, version, empty list
 * store.close();
 * await Deno.remove(root, { recursive: true }).catch(() => {});
 * ```
 */
export class ServeServer {
  /**
   * @param store The store to serve.
   * @param options Write access and the error sink.
   */
  constructor(readonly store: Store, readonly options: ServeOptions) {}

  #heartbeat = new Heartbeat();

  /**
   * Run one session to its end.
   *
   * @param input What the client sends.
   * @param output Where replies go.
   * @returns How the session ended.
   */
  async serve(input: ByteSource, output: ByteSink): Promise<ServeOutcome> {
    const r = new WireReader(input);
    const w = new WireWriter(output);
    this.#heartbeat = new Heartbeat();
    try {
      await this.#session(r, w);
      return { exitCode: 0 };
    } catch (e) {
      if (e instanceof UnexpectedEofError || (e as Error).cause instanceof UnexpectedEofError) {
        this.options.log(`error: unexpected end-of-file\n`);
      } else if (e instanceof UnknownCommandError) {
        this.options.log(`error: unknown serve command ${e.code}\n`); // Nix's words
      } else {
        this.options.log(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      }
      this.options.onError?.(e);
      return { exitCode: 1 };
    } finally {
      await r.cancel().catch(() => {});
    }
  }

  async #session(r: WireReader, w: WireWriter): Promise<void> {
    let version: number;
    try {
      // Each side gates fields by the version both understand: the lower one.
      version = (await serverHandshake(r, w, SERVE_PROTOCOL_VERSION)).version;
    } catch (e) {
      const eof = e instanceof UnexpectedEofError ||
        (e as Error).cause instanceof UnexpectedEofError;
      if (e instanceof ServeProtocolError && e.field === "client magic" && !eof) {
        throw new ServeError("protocol mismatch"); // Nix's words
      }
      throw e;
    }
    const store = this.store;
    const codec = { storeDir: store.storeDir };
    const checkPaths = (paths: string[]) => {
      for (const p of paths) store.parsePath(p);
      return paths;
    };
    while (true) {
      const command = await readCommand(r);
      if (command === undefined) return; // the client ended the session
      if (command === "ImportPaths" || command === "AddToStoreNar") {
        this.#requireWrite("importing paths is not allowed");
      } else if (command === "BuildPaths" || command === "BuildDerivation") {
        this.#requireWrite("building paths is not allowed");
      }
      const req = await readRequestBody(r, command, version, codec);
      switch (req.command) {
        case "QueryValidPaths": {
          const valid = store.queryValidPaths(checkPaths(req.paths));
          // Locked paths stay protected from GC for the life of this process.
          if (req.lock) await store.tempRoots.add(valid);
          valid.push(...this.#heartbeat.accept(store.storeDir, req.paths)); // buildhost clients only
          writePathsReply(w, valid, "QueryValidPaths", codec);
          break;
        }
        case "QueryPathInfos": {
          const infos = checkPaths(req.paths).flatMap((p) => {
            const i = store.queryPathInfo(p);
            return i ? [{ ...i, downloadSize: i.narSize }] : [];
          });
          writePathInfos(w, infos, version, codec);
          break;
        }
        case "DumpStorePath":
          await this.#writeNar(w, req.path);
          break;
        case "ImportPaths":
          await store.importExport(r);
          writeImportedReply(w);
          break;
        case "ExportPaths":
          await w.flush();
          await store.exportPaths(checkPaths(req.paths), w);
          break;
        case "QueryClosure": {
          const paths = store.queryValidPaths(checkPaths(req.paths));
          writePathsReply(
            w,
            store.closure(paths, { includeOutputs: req.includeOutputs }),
            "QueryClosure",
            codec,
          );
          break;
        }
        case "AddToStoreNar": {
          const h = req.header;
          await store.addNar({
            path: h.path,
            narHash: h.narHash,
            narSize: h.narSize,
            references: checkPaths(h.references),
            registrationTime: h.registrationTime,
            ultimate: h.ultimate,
            sigs: h.sigs,
            ...(h.deriver ? { deriver: h.deriver } : {}),
            ...(h.ca ? { ca: h.ca } : {}),
          }, r);
          writeImportedReply(w);
          break;
        }
        case "BuildPaths": {
          const options = this.#buildOptions(req.options);
          const failure = await this.#whileConnected(
            r,
            options,
            (o) => this.#buildPaths(req.paths, o),
          );
          writeBuildPathsReply(
            w,
            failure === undefined ? { status: 0 } : { status: 1, errorMsg: failure },
          );
          break;
        }
        case "BuildDerivation": {
          store.parsePath(req.drvPath);
          checkPaths(req.drv.inputSrcs);
          const options = this.#buildOptions(req.options);
          const result = await this.#whileConnected(
            r,
            options,
            (o) => this.#builder().build(req.drvPath, req.drv, { ...o, inMemory: true }),
          );
          writeBuildResult(w, await this.#reported(result, req.drv), version, codec);
          break;
        }
      }
      await w.flush();
    }
  }

  /** The builder's options from the request's, logs going to the error sink. */
  #buildOptions(o: ServeBuildOptions): BuildOptions {
    const decoder = new TextDecoder();
    const out: BuildOptions = {
      maxSilentTime: o.maxSilentTime,
      buildTimeout: o.buildTimeout,
      log: (chunk) => this.options.log(decoder.decode(chunk, { stream: true })),
    };
    if (o.maxLogSize !== undefined) out.maxLogSize = o.maxLogSize;
    if (o.keepFailed !== undefined) out.keepFailed = o.keepFailed;
    // nrRepeats/enforceDeterminism: repeated builds are not supported, each is built once.
    return out;
  }

  /**
   * The result as BuildDerivation reports it: like Nix, only the outputs
   * this build registered (not those valid before), keyed by the hash modulo.
   */
  async #reported(result: CompleteBuildResult, drv: BasicDerivation): Promise<BuildResult> {
    return { ...result, builtOutputs: await builtRealisations(result, drv, this.store.storeDir) };
  }

  /** Run a build with heartbeats, cancelling it when the client goes away (see `while_connected.ts`). */
  async #whileConnected<T>(
    r: WireReader,
    options: BuildOptions,
    run: (options: BuildOptions) => Promise<T>,
  ): Promise<T> {
    const stopBeats = this.#heartbeat.start(this.options.log);
    try {
      return await whileConnected(r, (signal) => run({ ...options, signal }), {
        gone: () => new ServeError("interrupted: the client went away"),
        onEnd: () => this.options.log("error: the client went away; cancelling the build\n"),
      });
    } finally {
      stopBeats();
    }
  }

  #builder(): Builder {
    if (!this.options.builder) throw new ServeError("this host cannot build (no sandbox)");
    return this.options.builder;
  }

  /** BuildPaths: build `.drv` paths in the store (input derivations first); an error text or undefined. */
  async #buildPaths(targets: string[], options: BuildOptions): Promise<string | undefined> {
    const drvPaths = targets.map((t) => t.split("!")[0]!);
    for (const p of drvPaths) this.store.parsePath(p);
    let results: Map<string, CompleteBuildResult>;
    try {
      results = await buildGraph(this.#builder(), drvPaths, options);
    } catch (e) {
      if (e instanceof StoreError) return `error: cannot build missing derivation '${drvPaths[0]}'`;
      throw e;
    }
    const failed = [...results.values()].find((r) => !isBuildSuccess(r.status));
    return failed?.errorMsg;
  }

  #requireWrite(message: string): void {
    if (!this.options.write) throw new ServeError(message);
  }

  async #writeNar(w: WireWriter, path: string): Promise<void> {
    await w.flush();
    for await (const chunk of this.store.dump(path)) {
      w.writeRaw(chunk);
      await w.flush(); // the chunk's buffer is reused by the next read
    }
  }
}
