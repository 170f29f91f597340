/**
 * A local store: files under a physical root, metadata in Nix's SQLite
 * schema, atomic imports, per-path locks, closures, export/import, verify.
 *
 * An import unpacks into a temporary name inside the store directory
 * (`.buildhost-tmp-<pid>-<n>`), checks size and hash while streaming,
 * canonicalises, renames into place and registers in one transaction, all
 * under the path's lock. A crash leaves at worst a temporary (removed the
 * next time the store is opened) or an unregistered path (replaced by the
 * next import): never a valid path with wrong contents.
 *
 * @module
 */
import { basename, join } from "../posix_path.ts";
import { BuildhostError } from "../errors.ts";
import { Hash, type HashAlgorithm, HashSink } from "../hash/hash.ts";
import { type NarEntry, readNar } from "../nar/nar_reader.ts";
import { writeNar } from "../nar/nar_writer.ts";
import { makeFixedOutputPath, makeTextPath } from "../store_path/make_store_path.ts";
import { StorePath } from "../store_path/store_path.ts";
import { parseDerivation } from "../derivation/aterm.ts";
import { outputPath } from "../derivation/derivation.ts";
import { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { makeWritable } from "./canonicalise.ts";
import { ContentAddressCheck } from "./content_address.ts";
import { type CrashPoint, crashPoint } from "./crash_point.ts";
import { dumpPath } from "./dump_path.ts";
import { readExportMarker, readExportTrailer, writeExportTrailer } from "./export_format.ts";
import { ImportRun } from "./import_run.ts";
import type { PathInfo } from "./path_info.ts";
import { StorePathLock } from "./path_lock.ts";
import { restorePath } from "./restore_path.ts";
import { StoreDb } from "./store_db.ts";
import { type StoreLayout, storeLayout } from "./store_layout.ts";
import { processAlive, TempRoots } from "./temp_roots.ts";

/** A store operation that cannot be done; nothing was changed. */
export class StoreError extends BuildhostError {
  override name = "StoreError";
}

/** What an importer states about a NAR it adds. */
export interface NarImport {
  /** The full store path. */
  path: string;
  /** Expected sha256 of the NAR; checked while streaming when given. */
  narHash?: Hash;
  /** Expected NAR size; checked when given. */
  narSize?: number;
  /** Full store paths it refers to (itself allowed); the others must be valid. */
  references: string[];
  /** The `.drv` that produced it. */
  deriver?: string;
  /** Content address. */
  ca?: string;
  /** Signatures. */
  sigs?: string[];
  /** Built here. */
  ultimate?: boolean;
  /** Unix seconds (default: now). */
  registrationTime?: number;
}

/** A path whose files are ready in a temporary of the store, and what to register for it. */
export interface PathToInstall {
  /** The temporary, inside the store directory, canonical already. */
  tmp: string;
  /** The metadata to register. */
  info: PathInfo;
}

/** Whose crash points an install passes: an import's or a build's. */
export type InstallKind = "import" | "build";

const INSTALL_POINTS = {
  import: {
    moved: "import:after-rename",
    inTransaction: undefined,
    committed: "register:after-commit",
  },
  build: {
    moved: "build:after-move",
    inTransaction: "build:mid-register",
    committed: "build:after-register",
  },
} as const satisfies Record<
  InstallKind,
  { moved: CrashPoint; inTransaction: CrashPoint | undefined; committed: CrashPoint }
>;

/** One problem found by {@linkcode Store.verify}. */
export interface VerifyProblem {
  path: string;
  problem: string;
}

const TEMP_PREFIX = ".buildhost-tmp-";
/** How long a run waits for a path's lock before it installs what it holds and waits on. */
const LOCK_WAIT_MS = 20;
let tempCounter = 0;

/** The entries, the root's type and (a regular file's) contents also going to `check`. */
async function* rootContentsTo(
  entries: AsyncIterable<NarEntry>,
  check: ContentAddressCheck,
): AsyncGenerator<NarEntry> {
  for await (const e of entries) {
    if (e.path !== "" || e.type !== "regular") {
      if (e.path === "") check.rootType = e.type;
      yield e;
      continue;
    }
    check.rootType = e.type;
    const contents = e.contents;
    yield {
      ...e,
      contents: (async function* () {
        for await (const c of contents) {
          check.write(c);
          yield c;
        }
      })(),
    };
  }
}

/** A system error (a full disk, a database error) as a StoreError saying what it stopped. */
function systemErrorNamed(e: unknown, what: string): unknown {
  if (e instanceof BuildhostError) return e;
  return new StoreError(`${what}: ${e instanceof Error ? e.message : e}`, { cause: e });
}

async function drainNar(r: WireReader): Promise<void> {
  for await (const _ of readNar(r)) { /* contents are skipped by the reader */ }
}

/**
 * A store on disk.
 *
 * @example Adding text and reading it back
 * ```ts
 * import assert from "node:assert/strict";
 * import { Store } from "./store.ts";
 * const root = await Deno.makeTempDir();
 * const store = await Store.open(root);
 * const info = await store.addText("hello.txt", "hello\n");
 * assert.equal(store.queryPathInfo(info.path)?.narSize, info.narSize);
 * store.close();
 * await Deno.remove(root, { recursive: true }).catch(() => {});
 * ```
 */
export class Store {
  /** The metadata database: reached only through the store's own methods. */
  readonly #db: StoreDb;
  /** This process's temporary GC roots in this store. */
  readonly tempRoots: TempRoots;

  private constructor(readonly layout: StoreLayout, db: StoreDb) {
    this.#db = db;
    this.tempRoots = new TempRoots(layout.tempRootsDir, this.gcLockPath);
  }

  /**
   * Open a store (creating its directories and database), and remove
   * temporaries left by dead processes (which reads the whole store
   * directory: a daemon, which opens the store for every session, does it
   * at its start and then now and again, with `sweep: false` for the
   * sessions).
   *
   * @param root The physical root, or the whole layout (see `store_location.ts`).
   * @param storeDir The logical store directory.
   * @param options `sweep`: whether to remove dead processes' temporaries (default true).
   * @returns The store.
   */
  static async open(
    root: string | StoreLayout,
    storeDir?: string,
    options: { sweep?: boolean } = {},
  ): Promise<Store> {
    const layout = typeof root === "string" ? storeLayout(root, storeDir) : root;
    for (const d of [layout.realStoreDir, layout.dbDir, layout.gcRootsDir, layout.tempRootsDir]) {
      await Deno.mkdir(d, { recursive: true });
    }
    const db = StoreDb.open(layout.dbDir);
    const store = new Store(layout, db);
    if (options.sweep ?? true) await store.removeStaleTemporaries();
    return store;
  }

  /** The logical store directory. */
  get storeDir(): string {
    return this.layout.storeDir;
  }

  /** `nix/var/nix/gc.lock`. */
  get gcLockPath(): string {
    return join(this.layout.stateDir, "gc.lock");
  }

  /** Close the database and drop temporary roots. */
  close(): void {
    this.tempRoots.close();
    this.#db.close();
  }

  /**
   * Remove the temporaries of dead processes. This process's own are left
   * (a daemon opens the store for each session: another session's may be
   * in flight), unless their time says an earlier process of the same pid
   * made them.
   */
  async removeStaleTemporaries(): Promise<void> {
    for await (const e of Deno.readDir(this.layout.realStoreDir)) {
      if (!e.name.startsWith(TEMP_PREFIX)) continue;
      const [pid, made] = e.name.slice(TEMP_PREFIX.length).split("-").map(Number);
      const live = Number.isInteger(pid) &&
        (pid === Deno.pid ? made! >= Math.floor(performance.timeOrigin) : processAlive(pid!));
      if (live) continue;
      const p = join(this.layout.realStoreDir, e.name);
      makeWritable(p);
      await Deno.remove(p, { recursive: true }).catch(() => {});
    }
  }

  /**
   * Check a store path of this store (in this store directory, valid syntax).
   *
   * @param path The full path.
   * @returns The parsed path.
   */
  parsePath(path: string): StorePath {
    return StorePath.parse(path, this.storeDir);
  }

  /** Where the files of a store path really are. */
  realPath(path: string): string {
    return join(this.layout.realStoreDir, this.parsePath(path).baseName);
  }

  /** Whether a path is valid. */
  isValid(path: string): boolean {
    this.parsePath(path);
    return this.#db.isValid(path);
  }

  /** The valid ones among `paths`. */
  queryValidPaths(paths: string[]): string[] {
    return paths.filter((p) => this.isValid(p));
  }

  /** Metadata of a valid path, or undefined. */
  queryPathInfo(path: string): PathInfo | undefined {
    this.parsePath(path);
    return this.#db.queryPathInfo(path);
  }

  /** Metadata of a valid path; a StoreError when it is not valid. */
  requirePathInfo(path: string): PathInfo {
    const info = this.queryPathInfo(path);
    if (!info) throw new StoreError(`Cannot use "${path}": it is not valid in this store`);
    return info;
  }

  /** Every valid path, sorted. */
  allValidPaths(): string[] {
    return this.#db.allValidPaths();
  }

  /** How many paths are valid and the sum of their NAR sizes. */
  validPathsSize(): { paths: number; narSize: number } {
    return this.#db.validPathsSize();
  }

  /**
   * The outputs a valid `.drv` declares, as registered (output name -> path).
   *
   * @param drvPath The derivation's store path.
   * @returns Its outputs; empty when it is not a valid derivation.
   */
  derivationOutputs(drvPath: string): Map<string, string> {
    this.parsePath(drvPath);
    return this.#db.derivationOutputs(drvPath);
  }

  /** The valid paths that refer to `path`. */
  referrers(path: string): string[] {
    this.parsePath(path);
    return this.#db.referrers(path);
  }

  /**
   * The closure of paths under references (the paths included), optionally
   * with the valid outputs of every derivation in it (and their closures).
   *
   * @param paths Valid store paths.
   * @param options includeOutputs: add derivation outputs.
   * @returns The closure, sorted.
   */
  closure(paths: string[], options: { includeOutputs?: boolean } = {}): string[] {
    for (const p of paths) {
      if (!this.isValid(p)) this.requirePathInfo(p); // throws the not-valid error
    }
    let result = this.#db.closure(paths);
    if (!options.includeOutputs) return result;
    while (true) {
      const have = new Set(result);
      const extra: string[] = [];
      for (const p of result) {
        if (!p.endsWith(".drv")) continue;
        for (const out of this.#db.derivationOutputs(p).values()) {
          if (!have.has(out) && this.#db.isValid(out)) extra.push(out);
        }
      }
      if (extra.length === 0) return result;
      result = this.#db.closure([...result, ...extra]);
    }
  }

  /**
   * Wait for and take the lock of a store path (`<path>.lock`, as Nix), to
   * import or build it. Lock files that are valid store paths are never
   * deleted (a name ending in `.lock` is a legal store path name).
   *
   * @param path The store path.
   * @returns The held lock; release it when the path is done.
   */
  lockPath(path: string): Promise<StorePathLock> {
    return StorePathLock.acquire(this.realPath(path), this.#isStorePathName);
  }

  /**
   * Take the lock of a store path if nobody holds it, without waiting.
   *
   * @param path The store path.
   * @returns The held lock; undefined when it must be waited for
   * ({@linkcode Store.lockPath}).
   */
  tryLockPath(path: string): StorePathLock | undefined {
    return StorePathLock.tryAcquire(this.realPath(path), this.#isStorePathName);
  }

  /** Whether a file in the store directory, by name, is a valid store path. */
  #isStorePathName = (name: string): boolean => {
    try {
      return this.isValid(`${this.storeDir}/${name}`);
    } catch {
      return false; // not a store path name
    }
  };

  /** A fresh temporary name inside the store directory. */
  tempPath(): string {
    return join(
      this.layout.realStoreDir,
      `${TEMP_PREFIX}${Deno.pid}-${Date.now()}-${tempCounter++}`,
    );
  }

  #checkReferences(path: string, references: string[], run?: ImportRun): void {
    const roots = this.tempRoots;
    for (const r of references) {
      this.parsePath(r);
      if (r === path || run?.pending(r) || roots.knownValid(r)) continue;
      if (!this.#db.isValid(r)) {
        throw new StoreError(`Cannot add "${path}": its reference "${r}" is not valid`);
      }
      roots.noteValid([r]); // the caller rooted its references first
    }
  }

  /** Output name -> path of a `.drv` file being registered (for DerivationOutputs). */
  #derivationOutputs(path: string, realFile: string): Map<string, Map<string, string>> {
    if (!path.endsWith(".drv")) return new Map();
    try {
      const drv = parseDerivation(Deno.readFileSync(realFile), { path, storeDir: this.storeDir });
      const outs = new Map<string, string>();
      for (const [name, o] of drv.outputs) {
        // As Nix 2.8: a fixed output's path is recomputed from its hash.
        const p = outputPath(drv.name, name, o, this.storeDir);
        if (p) outs.set(name, p);
      }
      return new Map([[path, outs]]);
    } catch {
      return new Map(); // a file named .drv that is not a derivation: no outputs to record
    }
  }

  /** An import's temporary is complete and canonical (restored so), ready to be installed. */
  #importReady(): void {
    crashPoint("import:after-canonicalise");
  }

  /**
   * Rename a temporary to its final name. A valid path is never replaced
   * (its lock should have prevented this); an unregistered leftover in the
   * way (e.g. from a crash between rename and registration) goes.
   */
  #moveIntoPlace(tmp: string, real: string, path: string): void {
    try {
      Deno.renameSync(tmp, real);
    } catch (e) {
      if (this.#db.isValid(path)) {
        throw new StoreError(`Cannot install "${path}": it became valid meanwhile`, { cause: e });
      }
      makeWritable(real);
      Deno.removeSync(real, { recursive: true });
      Deno.renameSync(tmp, real);
    }
  }

  /**
   * Install paths whose files are ready: the one place where paths become
   * valid, for imports and build outputs alike. The caller holds each
   * path's lock and has canonicalised its temporary.
   *
   * Order, which is the store's crash-safety promise: every temporary is
   * renamed to its final name (an unregistered leftover in the way is
   * replaced, a valid path never), then all are registered in one database
   * transaction. A crash before the commit leaves unregistered paths (which
   * the next import or build replaces) and no valid one; after it, every
   * path is valid with its contents. On an error before the commit, the
   * paths moved so far are removed and nothing is registered.
   *
   * @param items The temporaries and what to register for each.
   * @param kind Whose crash points to pass: an import's
   * (`import:after-rename`, `register:after-commit`) or a build's
   * (`build:after-move`, `build:mid-register`, `build:after-register`).
   */
  installPaths(items: PathToInstall[], kind: InstallKind = "import"): void {
    const points = INSTALL_POINTS[kind];
    const moved: string[] = [];
    const derivationOutputs = new Map<string, Map<string, string>>();
    try {
      for (const { tmp, info } of items) {
        const real = this.realPath(info.path);
        this.#moveIntoPlace(tmp, real, info.path);
        moved.push(real);
        for (const [drv, outs] of this.#derivationOutputs(info.path, real)) {
          derivationOutputs.set(drv, outs);
        }
      }
      crashPoint(points.moved);
      this.#db.transaction(() => {
        this.#db.registerValidPaths(items.map((i) => i.info), derivationOutputs);
        if (points.inTransaction) crashPoint(points.inTransaction);
      });
      this.tempRoots.noteValid(items.map((i) => i.info.path));
    } catch (e) {
      for (const real of moved) {
        makeWritable(real);
        Deno.removeSync(real, { recursive: true });
      }
      throw e;
    }
    crashPoint(points.committed);
  }

  #removeTemp(tmp: string): void {
    try {
      Deno.lstatSync(tmp);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    makeWritable(tmp);
    Deno.removeSync(tmp, { recursive: true });
  }

  /**
   * Add a path from its NAR, read from `nar` (which may go on with other
   * data after the NAR). The NAR is always consumed whole; when the path is
   * already valid it is skipped. Size and hash are checked while streaming;
   * on any mismatch or error nothing is registered and nothing is left.
   *
   * @param imp What the importer states about the path.
   * @param nar A reader positioned at the NAR.
   * @param run The run this import belongs to (see {@linkcode Store.importRun}):
   * the path is then valid once the run installs it.
   * @returns The path's metadata.
   */
  async addNar(imp: NarImport, nar: WireReader, run?: ImportRun): Promise<PathInfo> {
    try {
      return await this.#addNar(imp, nar, run);
    } catch (e) {
      throw systemErrorNamed(e, `Cannot add "${imp.path}"`);
    }
  }

  async #addNar(imp: NarImport, nar: WireReader, run?: ImportRun): Promise<PathInfo> {
    this.parsePath(imp.path);
    for (const r of imp.references) this.parsePath(r);
    if (imp.deriver) this.parsePath(imp.deriver);
    await this.tempRoots.add([imp.path, ...imp.references]);
    const pending = run?.pending(imp.path);
    if (pending) {
      await drainNar(nar);
      return pending;
    }
    // A free lock is taken at once and the path asked for under it. One that
    // is held is asked for before it is waited for as well: when several
    // sessions are sent the same paths (overlapping closures), the later
    // ones find each path valid here and never queue for its lock.
    let lock = this.tryLockPath(imp.path);
    if (!lock) {
      const info = this.#db.queryPathInfo(imp.path);
      if (info) {
        await drainNar(nar);
        return info;
      }
      lock = await this.#lockFor(imp.path, run);
    }
    let lockHeld = true;
    try {
      const info = run?.pending(imp.path) ?? this.#db.queryPathInfo(imp.path);
      if (info) {
        lock.release(); // not held while the NAR goes by
        lockHeld = false;
        await drainNar(nar);
        return info;
      }
      const caCheck = imp.ca
        ? new ContentAddressCheck(imp.path, imp.ca, imp.references, this.storeDir)
        : undefined;
      const tmp = this.tempPath();
      const hash = new HashSink("sha256");
      const caNar = caCheck?.wantsNar ? caCheck : undefined;
      nar.tap = caNar ? (b) => (hash.write(b), caNar.write(b)) : (b) => hash.write(b);
      try {
        const entries = readNar(nar);
        const restored = caCheck?.wantsContents ? rootContentsTo(entries, caCheck) : entries;
        await restorePath(tmp, restored, { canonical: true });
      } finally {
        nar.tap = undefined;
      }
      crashPoint("import:after-unpack");
      try {
        const narHash = hash.digest();
        if (imp.narSize !== undefined && hash.size !== imp.narSize) {
          throw new StoreError(
            `Cannot add "${imp.path}": the NAR has ${hash.size} bytes, ${imp.narSize} were declared`,
          );
        }
        if (imp.narHash && !imp.narHash.equals(narHash)) {
          throw new StoreError(
            `Cannot add "${imp.path}": the NAR's hash is ${narHash.toString("base32", true)}, ${
              imp.narHash.toString("base32", true)
            } was declared`,
          );
        }
        await caCheck?.finish(narHash, () => dumpPath(tmp));
        this.#checkReferences(imp.path, imp.references, run);
        const info: PathInfo = {
          path: imp.path,
          narHash,
          narSize: hash.size,
          references: [...new Set(imp.references)].sort(),
          registrationTime: imp.registrationTime ?? Math.floor(Date.now() / 1000),
          ultimate: imp.ultimate ?? false,
          sigs: imp.sigs ?? [],
        };
        if (imp.deriver) info.deriver = imp.deriver;
        if (imp.ca) info.ca = imp.ca;
        this.#importReady();
        if (run) {
          lockHeld = false; // the run's now
          run.add({ tmp, info, lock });
        } else {
          this.installPaths([{ tmp, info }]);
        }
        return info;
      } catch (e) {
        this.#removeTemp(tmp);
        throw e;
      }
    } finally {
      if (lockHeld) lock.release();
    }
  }

  /**
   * Add a file or directory by content, like `nix-store --add` (recursive,
   * sha256) or `nix-store --add-fixed [--recursive] ALGO`.
   *
   * @param fsPath The file or directory.
   * @param options name (default: the base name), method, hash algorithm.
   * @returns The path's metadata.
   */
  async addPath(
    fsPath: string,
    options: { name?: string; method?: "flat" | "recursive"; algorithm?: HashAlgorithm } = {},
  ): Promise<PathInfo> {
    const name = options.name ?? basename(fsPath);
    const method = options.method ?? "recursive";
    const algo = options.algorithm ?? "sha256";
    let contentHash: Hash;
    if (method === "recursive") {
      const sink = new HashSink(algo);
      for await (const c of dumpPath(fsPath)) sink.write(c);
      contentHash = sink.digest();
    } else {
      const st = await Deno.lstat(fsPath);
      if (!st.isFile) throw new StoreError(`Cannot add "${fsPath}" flat: it is not a regular file`);
      const sink = new HashSink(algo);
      using f = await Deno.open(fsPath);
      for await (const c of f.readable) sink.write(c);
      contentHash = sink.digest();
    }
    const path = makeFixedOutputPath(name, method, contentHash, [], false, this.storeDir)
      .toString(this.storeDir);
    const ca = `fixed:${method === "recursive" ? "r:" : ""}${contentHash.toString("base32", true)}`;
    return await this.addNar({ path, references: [], ca }, new WireReader(dumpPath(fsPath)));
  }

  /**
   * Add a text file with references, like `builtins.toFile`.
   *
   * @param name The file's name.
   * @param text Its contents.
   * @param references Store paths it refers to.
   * @returns The path's metadata.
   */
  async addText(
    name: string,
    text: string | Uint8Array,
    references: string[] = [],
  ): Promise<PathInfo> {
    const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
    const hash = Hash.of("sha256", bytes);
    const path = makeTextPath(name, hash, references, this.storeDir).toString(this.storeDir);
    const nar = writeNar({
      type: "regular",
      executable: false,
      size: bytes.length,
      contents: () => [bytes],
    });
    return await this.addNar(
      { path, references, ca: `text:${hash.toString("base32", true)}` },
      new WireReader(nar),
    );
  }

  /**
   * The NAR of a valid path.
   *
   * @param path The path.
   * @returns Its NAR, in chunks (each valid until the next is requested).
   */
  dump(path: string): AsyncGenerator<Uint8Array> {
    this.requirePathInfo(path);
    return dumpPath(this.realPath(path));
  }

  /**
   * Order paths so that references come before their referrers.
   *
   * @param paths Valid paths.
   * @returns The same paths, sorted topologically.
   */
  topoSort(paths: string[]): string[] {
    const set = new Set(paths);
    const done = new Set<string>();
    const out: string[] = [];
    const visit = (p: string, stack: Set<string>) => {
      if (done.has(p) || stack.has(p)) return;
      stack.add(p);
      for (const r of this.requirePathInfo(p).references) {
        if (r !== p && set.has(r)) visit(r, stack);
      }
      stack.delete(p);
      done.add(p);
      out.push(p);
    };
    for (const p of [...paths].sort()) visit(p, new Set());
    return out;
  }

  /**
   * Write paths in Nix's export format (references first).
   *
   * @param paths Valid paths.
   * @param w Where to write.
   */
  async exportPaths(paths: string[], w: WireWriter): Promise<void> {
    for (const p of this.topoSort(paths)) {
      const info = this.requirePathInfo(p);
      w.writeU64(1);
      for await (const chunk of this.dump(p)) {
        w.writeRaw(chunk);
        await w.flush(); // the chunk's buffer is reused by the next read
      }
      writeExportTrailer(w, info.deriver ? { ...info, deriver: info.deriver } : info);
    }
    w.writeU64(0);
    await w.flush();
  }

  /**
   * Import an export stream (as `nix-store --import`). Each path is
   * unpacked, then checked against its trailer, then installed; paths that
   * are already valid are skipped.
   *
   * @param r The stream.
   * @returns The paths in the stream, in order.
   */
  importExport(r: WireReader): Promise<string[]> {
    return this.importRun(async (run) => {
      const paths: string[] = [];
      while (await readExportMarker(r)) {
        const tmp = this.tempPath();
        const hash = new HashSink("sha256");
        r.tap = (b) => hash.write(b);
        try {
          await restorePath(tmp, readNar(r), { canonical: true });
        } finally {
          r.tap = undefined;
        }
        crashPoint("import:after-unpack");
        let kept = false;
        try {
          const t = await readExportTrailer(r);
          this.parsePath(t.path);
          if (t.deriver) this.parsePath(t.deriver);
          await this.tempRoots.add([t.path, ...t.references]);
          if (!run.pending(t.path)) {
            const lock = await this.#lockFor(t.path, run);
            try {
              if (!this.#db.isValid(t.path)) {
                this.#checkReferences(t.path, t.references, run);
                const info: PathInfo = {
                  path: t.path,
                  narHash: hash.digest(),
                  narSize: hash.size,
                  references: [...new Set(t.references)].sort(),
                  registrationTime: Math.floor(Date.now() / 1000),
                  ultimate: false,
                  sigs: [],
                };
                if (t.deriver) info.deriver = t.deriver;
                this.#importReady();
                kept = true; // the temporary and the lock are the run's now
                run.add({ tmp, info, lock });
              }
            } finally {
              if (!kept) lock.release();
            }
          }
          paths.push(t.path);
        } finally {
          if (!kept) this.#removeTemp(tmp);
        }
      }
      return paths;
    });
  }

  /**
   * Do several imports as one run: the `addNar` calls `fn` makes with the
   * run are installed together, a bounded number at a time, each path
   * still atomic on its own (see `import_run.ts`). What is left is installed
   * when `fn` ends, also when it throws (the paths checked before the error
   * are installed, as they would have been one by one).
   *
   * @param fn The imports, one after another.
   * @returns What `fn` returns, once every path it added is valid.
   */
  async importRun<T>(fn: (run: ImportRun) => Promise<T>): Promise<T> {
    const run = new ImportRun((items) => {
      try {
        this.installPaths(items);
      } catch (e) {
        const first = items[0]!.info.path;
        throw systemErrorNamed(
          e,
          items.length === 1
            ? `Cannot add "${first}"`
            : `Cannot add "${first}" and ${items.length - 1} more path(s)`,
        );
      }
    }, (t) => this.#removeTemp(t));
    let out: T;
    try {
      out = await fn(run);
    } catch (e) {
      try {
        run.flush();
      } catch { /* the first error is the one to report */ }
      throw e;
    }
    run.flush();
    return out;
  }

  /**
   * Take a path's lock for an import. A run holding other locks installs
   * its paths before it waits (so that it never waits holding locks that
   * the holder of this one may be waiting for); an uncontended lock is
   * taken at once, without that.
   */
  async #lockFor(path: string, run: ImportRun | undefined): Promise<StorePathLock> {
    const free = this.tryLockPath(path);
    if (free) return free;
    const acquiring = this.lockPath(path);
    if (!run || run.size === 0) return await acquiring;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waiting = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), LOCK_WAIT_MS);
    });
    try {
      const lock = await Promise.race([acquiring, waiting]);
      if (lock) return lock;
    } finally {
      clearTimeout(timer);
    }
    try {
      run.flush();
    } catch (e) {
      acquiring.then((l) => l.release(), () => {});
      throw e;
    }
    return await acquiring;
  }

  /**
   * Check every valid path: its files exist, and with `checkContents` their
   * NAR hash and size are as registered.
   *
   * @param options checkContents: rehash every path.
   * @returns The problems found (empty when all is well).
   */
  async verify(options: { checkContents?: boolean } = {}): Promise<VerifyProblem[]> {
    const problems: VerifyProblem[] = [];
    for (const p of this.#db.allValidPaths()) {
      const real = this.realPath(p);
      try {
        Deno.lstatSync(real);
      } catch {
        problems.push({ path: p, problem: "its files are missing" });
        continue;
      }
      if (!options.checkContents) continue;
      const info = this.#db.queryPathInfo(p)!;
      const sink = new HashSink(info.narHash.algorithm);
      for await (const c of dumpPath(real)) sink.write(c);
      const h = sink.digest();
      if (!h.equals(info.narHash)) {
        problems.push({
          path: p,
          problem: `its NAR hash is ${h.toString("base32", true)}, ${
            info.narHash.toString("base32", true)
          } was registered`,
        });
      } else if (sink.size !== info.narSize) {
        problems.push({
          path: p,
          problem: `its NAR size is ${sink.size}, ${info.narSize} was registered`,
        });
      }
    }
    return problems;
  }

  /**
   * Delete valid paths that nothing outside `paths` refers to: unregister
   * them in one transaction, then remove their files.
   *
   * @param paths The paths.
   */
  deletePaths(paths: string[]): void {
    const set = new Set(paths);
    for (const p of paths) {
      this.requirePathInfo(p);
      const users = this.#db.referrers(p).filter((r) => !set.has(r));
      if (users.length > 0) {
        throw new StoreError(`Cannot delete "${p}": it is still referenced by "${users[0]}"`);
      }
    }
    this.#db.invalidatePaths(paths);
    for (const p of paths) {
      const real = this.realPath(p);
      makeWritable(real);
      try {
        Deno.removeSync(real, { recursive: true });
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }
}
