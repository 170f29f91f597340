/**
 * A build host's status, as `buildhost status` and its page show it: the
 * store's build record (see `store/build_record.ts`), the build slots in
 * use (running builds against `max-jobs`), the store's size and the free
 * disk space; and the words and numbers they are shown with.
 *
 * @module
 */
import { basename } from "../posix_path.ts";
import type { Store } from "../store/store.ts";
import {
  BuildRecord,
  type EndedBuild,
  type RecordCounters,
  type RunningBuild,
  type SessionEntry,
} from "../store/build_record.ts";

/** Everything `buildhost status` shows. */
export interface HostStatus {
  /** Milliseconds since the epoch. */
  time: number;
  host: string;
  store: {
    root: string;
    storeDir: string;
    paths: number;
    /** Sum of the valid paths' NAR sizes. */
    sizeBytes: number;
    /** Free space under the store (null if `df` could not tell). */
    freeBytes: number | null;
  };
  slots: { used: number; max: number };
  running: RunningBuild[];
  waiting: RunningBuild[];
  recent: EndedBuild[];
  sessions: SessionEntry[];
  counters: RecordCounters;
}

/** Free bytes of the filesystem holding `path`, as `df` says. */
async function freeBytes(path: string): Promise<number | null> {
  try {
    const out = await new Deno.Command("df", { args: ["-Pk", path], stderr: "null" }).output();
    const avail = Number(new TextDecoder().decode(out.stdout).split("\n")[1]?.split(/\s+/)[3]);
    return out.success && Number.isFinite(avail) ? avail * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Gather a host's status.
 *
 * @param store The store.
 * @param maxJobs `max-jobs` of the host's settings.
 * @returns The status.
 */
export async function hostStatus(store: Store, maxJobs: number): Promise<HostStatus> {
  const snapshot = BuildRecord.of(store.layout.stateDir).read();
  const { paths, narSize } = store.validPathsSize();
  return {
    time: Date.now(),
    host: Deno.hostname(),
    store: {
      root: store.layout.realStoreDir,
      storeDir: store.storeDir,
      paths,
      sizeBytes: narSize,
      freeBytes: await freeBytes(store.layout.realStoreDir),
    },
    slots: { used: snapshot.running.length, max: maxJobs },
    ...snapshot,
  };
}

/** `1.5 KiB`, `3.2 GiB`. */
export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) n /= 1024, i++;
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** `42s`, `3m05s`, `2h01m`. */
export function humanDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return seconds < 10 ? `${seconds.toFixed(1)}s` : `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

/** The name part of a store path (`hello.drv` of `/nix/store/abc...-hello.drv`). */
export function pathName(path: string): string {
  return basename(path).slice(33);
}
