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
import { Hash } from "../hash/hash.ts";
import { WireReader } from "../wire/wire_reader.ts";
import { UnexpectedEofError } from "../wire/wire_error.ts";
import { type ByteSink, WireWriter } from "../wire/wire_writer.ts";
import type { Store } from "../store/store.ts";

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
        case 6n:
        case 8n:
          this.#requireWrite("building paths is not allowed");
          throw new ServeError("this host has no builder yet");
        default:
          throw new ServeError(`unknown serve command ${cmd}`);
      }
      await w.flush();
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
