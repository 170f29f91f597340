/**
 * Copying store paths between a local store and a serve host, sending or
 * fetching only what the other side lacks, references before referrers,
 * one NAR streamed at a time (memory does not grow with path sizes).
 *
 * To the host: its valid paths are asked first (QueryValidPaths, locked so
 * that its GC keeps them for the session), then each missing path goes with
 * AddToStoreNar (2.5 and later) or in one export stream (ImportPaths).
 * From the host: the closure is asked (QueryClosure), the metadata of the
 * paths missing here (QueryPathInfos), then each NAR (DumpStorePath) is
 * imported with its metadata; its hash and size are checked while it
 * streams, so a corrupt transfer registers nothing.
 *
 * @module
 */
import type { Store } from "../store/store.ts";
import type { RemoteClient } from "./remote_client.ts";
import { RemoteError } from "./remote_error.ts";

/** What a copy did. */
export interface CopyReport {
  /** Paths sent or fetched, in the order they went. */
  copied: string[];
  /** Paths the receiving side had already. */
  present: string[];
  /** NAR bytes that went over. */
  bytes: number;
}

/** Options of the copies. */
export interface CopyOptions {
  /** Told each path before it goes. */
  progress?: (path: string, narSize: number) => void;
}

/**
 * Copy the closure of `paths` from `store` to the host.
 *
 * @param client A session with the host (with `--write`).
 * @param store The local store.
 * @param paths Valid local paths.
 * @param options Progress reports.
 * @returns What was sent and what the host had.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Store } from "../store/store.ts";
 * import { ServeServer } from "../serve/server.ts";
 * import { ServeClient } from "./serve_client.ts";
 * import { inProcessHost } from "./in_process_host.ts";
 * import { copyFromHost, copyToHost } from "./copy_paths.ts";
 * const dir = await Deno.makeTempDir();
 * const here = await Store.open(`${dir}/here`), there = await Store.open(`${dir}/there`);
 * const dep = await here.addText("dep.txt", "dep\n");
 * const top = await here.addText("top.txt", `uses ${dep.path}\n`, [dep.path]);
 * const host = inProcessHost(new ServeServer(there, { write: true, log: () => {} }));
 * const client = await ServeClient.connect(host.transport);
 * assert.deepEqual((await copyToHost(client, here, [top.path])).copied, [dep.path, top.path]);
 * assert.deepEqual((await copyToHost(client, here, [top.path])).copied, []);
 * const back = await Store.open(`${dir}/back`);
 * assert.deepEqual((await copyFromHost(client, back, [top.path])).copied, [dep.path, top.path]);
 * await client.close();
 * await host.done;
 * for (const s of [here, there, back]) s.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function copyToHost(
  client: RemoteClient,
  store: Store,
  paths: string[],
  options: CopyOptions = {},
): Promise<CopyReport> {
  const closure = store.closure(paths);
  const present = await client.queryValidPaths(closure, { lock: true });
  const have = new Set(present);
  const missing = store.topoSort(closure.filter((p) => !have.has(p)));
  let bytes = 0;
  if (missing.length === 0) return { copied: [], present, bytes };
  if (client.canAddToStoreNar) {
    for (const path of missing) {
      const info = store.requirePathInfo(path);
      options.progress?.(path, info.narSize);
      await client.addToStoreNar({
        path,
        ...(info.deriver ? { deriver: info.deriver } : {}),
        narHash: info.narHash,
        references: info.references,
        registrationTime: info.registrationTime,
        narSize: info.narSize,
        ultimate: false,
        sigs: info.sigs,
        ...(info.ca ? { ca: info.ca } : {}),
      }, store.dump(path));
      bytes += info.narSize;
    }
  } else {
    for (const path of missing) {
      const info = store.requirePathInfo(path);
      options.progress?.(path, info.narSize);
      bytes += info.narSize;
    }
    await client.importPaths((w) => store.exportPaths(missing, w));
  }
  return { copied: missing, present, bytes };
}

/**
 * Fetch the closure of `paths` from the host into `store`.
 *
 * @param client A session with the host.
 * @param store The local store.
 * @param paths Valid paths on the host.
 * @param options Progress reports.
 * @returns What was fetched and what was here already.
 * @throws {RemoteError} The host lacks one of `paths`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Store } from "../store/store.ts";
 * import { ServeServer } from "../serve/server.ts";
 * import { ServeClient } from "./serve_client.ts";
 * import { inProcessHost } from "./in_process_host.ts";
 * import { copyFromHost } from "./copy_paths.ts";
 * const dir = await Deno.makeTempDir();
 * const there = await Store.open(`${dir}/there`), here = await Store.open(`${dir}/here`);
 * const text = await there.addText("hello.txt", "hello\n");
 * const host = inProcessHost(new ServeServer(there, { write: false, log: () => {} }));
 * const client = await ServeClient.connect(host.transport);
 * const report = await copyFromHost(client, here, [text.path]);
 * assert.equal(report.bytes, text.narSize);
 * assert.ok(here.isValid(text.path));
 * await client.close();
 * await host.done;
 * here.close();
 * there.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function copyFromHost(
  client: RemoteClient,
  store: Store,
  paths: string[],
  options: CopyOptions = {},
): Promise<CopyReport> {
  const valid = new Set(await client.queryValidPaths(paths));
  const absent = paths.filter((p) => !valid.has(p));
  if (absent.length > 0) {
    throw new RemoteError(client.host, `fetch ${absent.join(", ")}`, "the host does not have it");
  }
  const closure = await client.queryClosure(paths);
  const present = closure.filter((p) => store.isValid(p));
  const wanted = closure.filter((p) => !store.isValid(p));
  if (wanted.length === 0) return { copied: [], present, bytes: 0 };
  const infos = new Map((await client.queryPathInfos(wanted)).map((i) => [i.path, i]));
  // references first
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (p: string) => {
    if (seen.has(p) || !infos.has(p)) return;
    seen.add(p);
    for (const r of infos.get(p)!.references) if (r !== p) visit(r);
    order.push(p);
  };
  for (const p of [...wanted].sort()) visit(p);
  let bytes = 0;
  for (const path of order) {
    const info = infos.get(path)!;
    options.progress?.(path, info.narSize);
    const nar = await client.dumpStorePath(path);
    await store.addNar({
      path,
      ...(info.narHash ? { narHash: info.narHash } : {}),
      narSize: info.narSize,
      references: info.references,
      ...(info.deriver ? { deriver: info.deriver } : {}),
      ...(info.ca ? { ca: info.ca } : {}),
      ...(info.sigs ? { sigs: info.sigs } : {}),
    }, nar);
    bytes += info.narSize;
  }
  return { copied: order, present, bytes };
}
