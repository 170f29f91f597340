/**
 * Build logs kept in Nix 2.8's layout, so that `nix log --store ROOT PATH`
 * reads them: the log of `/nix/store/HASH-NAME.drv` is
 * `ROOT/nix/var/log/nix/drvs/XX/REST` where `XX` is the first two
 * characters of the derivation's base name and `REST` the others, with
 * `.bz2` appended when it is compressed (Nix's `compress-build-log`, on by
 * default; here when a `bzip2` program is found, else the log is kept
 * plain, which Nix reads as well). Nix looks for the plain file first,
 * then the `.bz2` one; of an output path it reads its deriver's log.
 *
 * Logs stream through: a log of any size is written and read with bounded
 * memory (compression runs in a `bzip2` process).
 *
 * @module
 */
import { basename, dirname, join } from "../posix_path.ts";
import type { Store } from "./store.ts";

/** The directory of logs of a store (`ROOT/nix/var/log/nix`). */
export function buildLogDir(store: Store): string {
  return join(dirname(store.layout.stateDir), "log", "nix");
}

/**
 * Where the log of a derivation goes (without `.bz2`).
 *
 * @param logDir The log directory (see {@linkcode buildLogDir}).
 * @param drvPath The derivation's store path.
 * @returns The plain log file's path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildLogPath } from "./build_log.ts";
 * assert.equal(
 *   buildLogPath("/r/nix/var/log/nix", "/nix/store/0a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-hello.drv"),
 *   "/r/nix/var/log/nix/drvs/0a/1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-hello.drv",
 * );
 * ```
 */
export function buildLogPath(logDir: string, drvPath: string): string {
  const base = basename(drvPath);
  return join(logDir, "drvs", base.slice(0, 2), base.slice(2));
}

/** Programs found, by name and `PATH` (every build's log looks for bzip2). */
const found = new Map<string, string | undefined>();

function findProgram(name: string): string | undefined {
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  const key = `${name}\0${path}`;
  if (found.has(key)) return found.get(key);
  let program: string | undefined;
  for (const dir of path.split(":")) {
    if (dir === "") continue;
    try {
      if (Deno.statSync(join(dir, name)).isFile) {
        program = join(dir, name);
        break;
      }
    } catch { /* not here */ }
  }
  found.set(key, program);
  return program;
}

/** A log being written. */
export interface BuildLogWriter {
  /** Append bytes (copied; the caller may reuse the chunk). */
  write(chunk: Uint8Array): void;
  /** Finish the file. */
  close(): Promise<void>;
}

/**
 * Start keeping the log of `drvPath` in the store's log directory,
 * replacing an older one.
 *
 * @param store The store.
 * @param drvPath The derivation's store path (as the client named it).
 * @param options `compress`: bzip2 it (default: if `bzip2` is installed).
 * @returns The writer; close it when the build ends.
 */
export function openBuildLog(
  store: Store,
  drvPath: string,
  options: { compress?: boolean } = {},
): BuildLogWriter {
  const plain = buildLogPath(buildLogDir(store), drvPath);
  Deno.mkdirSync(dirname(plain), { recursive: true });
  for (const old of [plain, plain + ".bz2"]) {
    try {
      Deno.removeSync(old);
    } catch { /* none */ }
  }
  const bzip2 = options.compress === false ? undefined : findProgram("bzip2");
  const file = Deno.openSync(bzip2 ? plain + ".bz2" : plain, {
    write: true,
    create: true,
    truncate: true,
  });
  if (!bzip2) return streamWriter(file.writable.getWriter(), Promise.resolve());
  // bzip2 starts with the first byte of the log: a build that says nothing
  // (many do) gets the empty stream's 14 bytes, as bzip2 writes them,
  // without a process.
  let compressed: BuildLogWriter | undefined;
  return {
    write(chunk) {
      if (!compressed) {
        const child = new Deno.Command(bzip2, {
          args: ["-c"],
          stdin: "piped",
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const done = Promise.all([child.stdout.pipeTo(file.writable), child.status]);
        compressed = streamWriter(child.stdin.getWriter(), done);
      }
      compressed.write(chunk);
    },
    async close() {
      if (compressed) return await compressed.close();
      try {
        file.writeSync(EMPTY_BZIP2);
      } catch {
        /* kept as far as it goes, as a failed bzip2's log is */
      } finally {
        file.close();
      }
    },
  };
}

/** What `bzip2 -c` writes for no input. */
export const EMPTY_BZIP2: Uint8Array = new Uint8Array([
  0x42,
  0x5a,
  0x68,
  0x39,
  0x17,
  0x72,
  0x45,
  0x38,
  0x50,
  0x90,
  0,
  0,
  0,
  0,
]);

/** A log writer over a stream's writer; `done` settles when everything is written. */
function streamWriter(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  done: Promise<unknown>,
): BuildLogWriter {
  let failed = false;
  return {
    write(chunk) {
      if (failed) return;
      writer.write(chunk.slice()).catch(() => void (failed = true));
    },
    async close() {
      await writer.close().catch(() => {});
      await done.catch(() => {});
    },
  };
}

/**
 * The kept log of a derivation, or of an output path through its deriver,
 * as Nix finds it (plain file first, then `.bz2`).
 *
 * @param store The store.
 * @param path A `.drv` path or a valid output path.
 * @returns The log's bytes as a stream, or undefined if there is none.
 */
export function readBuildLog(store: Store, path: string): ReadableStream<Uint8Array> | undefined {
  store.parsePath(path);
  let drvPath = path;
  if (!path.endsWith(".drv")) {
    const deriver = store.queryPathInfo(path)?.deriver;
    if (!deriver) return undefined;
    drvPath = deriver;
  }
  const plain = buildLogPath(buildLogDir(store), drvPath);
  try {
    return Deno.openSync(plain).readable;
  } catch { /* not plain */ }
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(plain + ".bz2");
  } catch {
    return undefined;
  }
  const child = new Deno.Command(findProgram("bzip2") ?? "bzip2", {
    args: ["-dc"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  void file.readable.pipeTo(child.stdin).catch(() => {});
  void child.status;
  return child.stdout;
}

/**
 * Wrap a function that runs builds (such as a sandbox runner: it gets the
 * `drvPath` and a `log` sink) so that each build's log is also kept in the
 * store, keyed by that derivation path.
 *
 * @param store The store whose log directory keeps the logs.
 * @param run The function.
 * @returns The same function, keeping logs.
 */
export function keepingBuildLogs<S extends { drvPath: string; log: (c: Uint8Array) => void }, R>(
  store: Store,
  run: (spec: S) => Promise<R>,
): (spec: S) => Promise<R> {
  return async (spec) => {
    const kept = openBuildLog(store, spec.drvPath);
    try {
      return await run({
        ...spec,
        log: (chunk: Uint8Array) => {
          kept.write(chunk);
          spec.log(chunk);
        },
      });
    } finally {
      await kept.close();
    }
  };
}
