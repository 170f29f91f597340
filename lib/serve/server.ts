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
import { Hash, type HashAlgorithm, parseHashAlgorithm } from "../hash/hash.ts";
import { WireReader } from "../wire/wire_reader.ts";
import { UnexpectedEofError } from "../wire/wire_error.ts";
import { type ByteSink, WireWriter } from "../wire/wire_writer.ts";
import type { Store } from "../store/store.ts";
import type { Builder, BuildOptions } from "../build/builder.ts";
import { type BuildResult, BuildStatus } from "../build/build_result.ts";
import type { BasicDerivation, Derivation, DerivationOutput } from "../derivation/derivation.ts";
import { derivationNameFromPath } from "../derivation/derivation.ts";
import { parseDerivation } from "../derivation/aterm.ts";
import { HashModulo } from "../derivation/hash_modulo.ts";

/** Magic number the client sends first. */
export const SERVE_MAGIC_1 = 0x390c9deb;
/** Magic number the server answers with. */
export const SERVE_MAGIC_2 = 0x5452eecb;
/** The protocol version this server speaks (Nix 2.8's). */
export const SERVE_PROTOCOL_VERSION = 0x207;

/** Longest store path, string list or similar field accepted. */
const MAX_STRING = 64 * 1024;
/** Most paths accepted in one request. */
const MAX_PATHS = 1 << 20;

function parseAlgo(name: string): HashAlgorithm {
  return parseHashAlgorithm(name);
}

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

  /**
   * Run one session to its end.
   *
   * @param input What the client sends.
   * @param output Where replies go.
   * @returns How the session ended.
   */
  async serve(input: ReadableStream<Uint8Array>, output: ByteSink): Promise<ServeOutcome> {
    const r = new WireReader(input);
    const w = new WireWriter(output);
    try {
      await this.#session(r, w);
      return { exitCode: 0 };
    } catch (e) {
      if (e instanceof UnexpectedEofError) {
        this.options.log(`error: unexpected end-of-file\n`);
      } else {
        this.options.log(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      }
      return { exitCode: 1 };
    } finally {
      await r.cancel().catch(() => {});
    }
  }

  async #session(r: WireReader, w: WireWriter): Promise<void> {
    const magic = await r.readU64();
    if (magic !== BigInt(SERVE_MAGIC_1)) throw new ServeError("protocol mismatch");
    w.writeU64(SERVE_MAGIC_2).writeU64(SERVE_PROTOCOL_VERSION);
    await w.flush();
    const clientVersion = await r.readNumber("client version", 0xffff);
    if ((clientVersion & 0xff00) !== 0x200) {
      throw new ServeError(
        `unsupported 'nix-store --serve' client version 0x${clientVersion.toString(16)}`,
      );
    }
    const minor = Math.min(clientVersion & 0xff, SERVE_PROTOCOL_VERSION & 0xff);
    const store = this.store;
    const paths = async (field: string) => {
      const list = await r.readStrings(MAX_PATHS, MAX_STRING, field);
      for (const p of list) store.parsePath(p);
      return list;
    };

    while (!(await r.atEnd())) {
      const cmd = await r.readU64();
      switch (cmd) {
        case 1n: { // QueryValidPaths
          const lock = await r.readBool("lock");
          await r.readBool("substitute"); // no substituters here
          const valid = store.queryValidPaths(await paths("paths"));
          // Locked paths stay protected from GC for the life of this process.
          if (lock) await store.tempRoots.add(valid);
          w.writeStrings(valid);
          break;
        }
        case 2n: { // QueryPathInfos
          for (const p of await paths("paths")) {
            const info = store.queryPathInfo(p);
            if (!info) continue;
            w.writeString(info.path).writeString(info.deriver ?? "").writeStrings(info.references);
            w.writeU64(info.narSize).writeU64(info.narSize);
            if (minor >= 4) {
              w.writeString(info.narHash.toString("base32", true)).writeString(info.ca ?? "");
              w.writeStrings(info.sigs);
            }
          }
          w.writeString("");
          break;
        }
        case 3n: { // DumpStorePath
          const p = await r.readString(MAX_STRING, "path");
          await this.#writeNar(w, p);
          break;
        }
        case 4n: { // ImportPaths
          this.#requireWrite("importing paths is not allowed");
          await store.importExport(r);
          w.writeU64(1);
          break;
        }
        case 5n: { // ExportPaths
          await r.readBool("sign");
          await w.flush();
          await store.exportPaths(await paths("paths"), w);
          break;
        }
        case 7n: { // QueryClosure
          const includeOutputs = await r.readBool("includeOutputs");
          const ps = store.queryValidPaths(await paths("paths"));
          w.writeStrings(store.closure(ps, { includeOutputs }));
          break;
        }
        case 9n: { // AddToStoreNar
          this.#requireWrite("importing paths is not allowed");
          const path = await r.readString(MAX_STRING, "path");
          const deriver = await r.readString(MAX_STRING, "deriver");
          const hashAt = r.offset;
          const narHashText = await r.readString(256, "narHash");
          let narHash: Hash;
          try {
            narHash = Hash.parse(narHashText, "sha256");
          } catch (e) {
            throw new ServeError(`bad narHash at byte ${hashAt}: ${(e as Error).message}`);
          }
          const references = await paths("references");
          const registrationTime = await r.readNumber("registrationTime");
          const narSize = await r.readNumber("narSize");
          const ultimate = await r.readBool("ultimate");
          const sigs = await r.readStrings(1024, MAX_STRING, "sigs");
          const ca = await r.readString(MAX_STRING, "ca");
          await store.addNar({
            path,
            narHash,
            narSize,
            references,
            registrationTime,
            ultimate,
            sigs,
            ...(deriver ? { deriver } : {}),
            ...(ca ? { ca } : {}),
          }, r);
          w.writeU64(1);
          break;
        }
        case 6n: { // BuildPaths
          this.#requireWrite("building paths is not allowed");
          const targets = await r.readStrings(MAX_PATHS, MAX_STRING, "paths");
          const options = await this.#readBuildOptions(r, minor);
          const failure = await this.#whileConnected(
            r,
            options,
            (o) => this.#buildPaths(targets, o),
          );
          if (failure === undefined) w.writeU64(0);
          else w.writeU64(1).writeString(failure);
          break;
        }
        case 8n: { // BuildDerivation
          this.#requireWrite("building paths is not allowed");
          const drvPath = await r.readString(MAX_STRING, "drvPath");
          store.parsePath(drvPath);
          const drv = await this.#readBasicDerivation(r, drvPath);
          const options = await this.#readBuildOptions(r, minor);
          const result = await this.#whileConnected(
            r,
            options,
            (o) => this.#builder().build(drvPath, drv, o),
          );
          await this.#writeBuildResult(w, result, drvPath, drv, minor);
          break;
        }
        default:
          throw new ServeError(`unknown serve command ${cmd}`);
      }
      await w.flush();
    }
  }

  /**
   * Run a build, cancelling it when the client goes away (its side of the
   * stream ends while it waits for the reply: ssh died, Nix was killed).
   * The client sends nothing during a build, so watching for the end of the
   * stream consumes nothing.
   */
  async #whileConnected<T>(
    r: WireReader,
    options: BuildOptions,
    run: (options: BuildOptions) => Promise<T>,
  ): Promise<T> {
    const abort = new AbortController();
    let building = true;
    r.atEnd().then((ended) => {
      if (ended && building) {
        this.options.log("error: the client went away; cancelling the build\n");
        abort.abort();
      }
    }, () => abort.abort());
    try {
      const result = await run({ ...options, signal: abort.signal });
      if (abort.signal.aborted) throw new ServeError("interrupted: the client went away");
      return result;
    } finally {
      building = false;
    }
  }

  #builder(): Builder {
    if (!this.options.builder) throw new ServeError("this host cannot build (no sandbox)");
    return this.options.builder;
  }

  /** Build options, version-gated as the client's minor says. */
  async #readBuildOptions(r: WireReader, minor: number): Promise<BuildOptions> {
    const o: BuildOptions = {
      maxSilentTime: await r.readNumber("maxSilentTime"),
      buildTimeout: await r.readNumber("buildTimeout"),
      log: (chunk) => this.options.log(new TextDecoder().decode(chunk)),
    };
    if (minor >= 2) o.maxLogSize = await r.readNumber("maxLogSize");
    if (minor >= 3) {
      await r.readNumber("nrRepeats"); // repeated builds are not supported: built once
      await r.readBool("enforceDeterminism");
    }
    if (minor >= 7) o.keepFailed = await r.readBool("keepFailed");
    return o;
  }

  /** A BasicDerivation as BuildDerivation sends it (its name comes from drvPath). */
  async #readBasicDerivation(r: WireReader, drvPath: string): Promise<BasicDerivation> {
    const outputs = new Map<string, DerivationOutput>();
    const n = await r.readNumber("outputs count", MAX_PATHS);
    for (let i = 0; i < n; i++) {
      const name = await r.readString(MAX_STRING, `outputs[${i}].name`);
      const path = await r.readString(MAX_STRING, `outputs[${i}].path`);
      const algo = await r.readString(64, `outputs[${i}].hashAlgo`);
      const hash = await r.readString(256, `outputs[${i}].hash`);
      if (path !== "") this.store.parsePath(path);
      if (algo === "") {
        outputs.set(name, path === "" ? { kind: "deferred" } : { kind: "inputAddressed", path });
      } else {
        const method = algo.startsWith("r:") ? "recursive" : "flat";
        const a = method === "recursive" ? algo.slice(2) : algo;
        try {
          outputs.set(name, { kind: "fixed", path, method, hash: Hash.parse(hash, parseAlgo(a)) });
        } catch (e) {
          throw new ServeError(`bad hash of output "${name}": ${(e as Error).message}`);
        }
      }
    }
    const inputSrcs = await r.readStrings(MAX_PATHS, MAX_STRING, "inputSrcs");
    for (const p of inputSrcs) this.store.parsePath(p);
    const platform = await r.readString(MAX_STRING, "platform");
    const builder = await r.readString(MAX_STRING, "builder");
    const args = await r.readStrings(MAX_PATHS, 1 << 26, "args");
    const env = new Map<string, string>();
    const envCount = await r.readNumber("env count", MAX_PATHS);
    for (let i = 0; i < envCount; i++) {
      const k = await r.readString(MAX_STRING, `env[${i}].key`);
      env.set(k, await r.readString(1 << 26, `env[${i}].value`));
    }
    return {
      name: derivationNameFromPath(drvPath),
      outputs,
      inputSrcs,
      platform,
      builder,
      args,
      env,
    };
  }

  async #writeBuildResult(
    w: WireWriter,
    result: BuildResult,
    drvPath: string,
    drv: BasicDerivation,
    minor: number,
  ): Promise<void> {
    w.writeU64(result.status).writeString(result.errorMsg);
    if (minor >= 3) {
      w.writeU64(result.timesBuilt).writeBool(result.isNonDeterministic);
      w.writeU64(result.startTime).writeU64(result.stopTime);
    }
    if (minor >= 6) {
      // Realisations keyed by "<hash modulo>!<output>", as Nix reports them.
      const built = [...result.builtOutputs].sort(([a], [b]) => (a < b ? -1 : 1));
      const full: Derivation = { ...drv, inputDrvs: new Map() };
      const hashes = built.length > 0
        ? (await new HashModulo(() => {
          throw new ServeError(`cannot hash ${drvPath}: input derivations are not sent`);
        }, this.store.storeDir).hash(full, true)).hashes
        : new Map();
      w.writeU64(built.length);
      for (const [name, path] of built) {
        const id = `sha256:${hashes.get(name)?.toString("base16") ?? ""}!${name}`;
        w.writeString(id).writeString(JSON.stringify({
          dependentRealisations: {},
          id,
          outPath: path.slice(this.store.storeDir.length + 1),
          signatures: [],
        }));
      }
    }
  }

  /** BuildPaths: build `.drv` paths in the store (input derivations first); an error text or undefined. */
  async #buildPaths(targets: string[], options: BuildOptions): Promise<string | undefined> {
    const store = this.store;
    const read = (p: string): Derivation => {
      if (!store.isValid(p)) throw new ServeError(`cannot build missing derivation '${p}'`);
      return parseDerivation(Deno.readFileSync(store.realPath(p)), {
        path: p,
        storeDir: store.storeDir,
      });
    };
    const done = new Set<string>();
    const build = async (drvPath: string): Promise<string | undefined> => {
      if (done.has(drvPath)) return undefined;
      done.add(drvPath);
      const drv = read(drvPath);
      for (const input of drv.inputDrvs.keys()) {
        const failed = await build(input);
        if (failed) return failed;
      }
      const inputs = new Set(drv.inputSrcs);
      for (const [input, outs] of drv.inputDrvs) {
        const inDrv = read(input);
        for (const o of outs) {
          const out = inDrv.outputs.get(o);
          if (out && "path" in out && out.path) inputs.add(out.path);
        }
      }
      const result = await this.#builder().build(
        drvPath,
        { ...drv, inputSrcs: [...inputs].sort() },
        options,
      );
      if (result.status === BuildStatus.Built || result.status === BuildStatus.AlreadyValid) {
        return undefined;
      }
      return result.errorMsg;
    };
    try {
      for (const t of targets) {
        const drvPath = t.split("!")[0]!;
        store.parsePath(drvPath);
        const failed = await build(drvPath);
        if (failed) return failed;
      }
      return undefined;
    } catch (e) {
      if (e instanceof ServeError) return e.message;
      throw e;
    }
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
