/**
 * The record of a store's builds, kept in its state directory for
 * `buildhost status`, the status page and the metrics: the builds running
 * (or waiting) now, the last {@linkcode RECENT_LIMIT} that ended, the
 * sessions open, and counters that only grow (builds by status, a
 * histogram of build durations, bytes received and sent by sessions).
 *
 * Layout, under `<stateDir>/build-record/`:
 * - `running/<id>.json`: one file per build in progress, written by the
 *   process running it (temp file + rename, so a reader sees a whole one);
 * - `sessions/<id>.json`: one file per serve or daemon session open, with
 *   the bytes it received and sent so far;
 * - `record.json`: the counters and the recent builds, rewritten (temp +
 *   rename) under an exclusive `flock` of `lock`; readers take it shared.
 *
 * Each running build and session names its owner, a process, by pid and
 * start time (`/proc/PID/stat`), so a pid reused later is not taken for it.
 * A process that dies, even by SIGKILL, leaves its files behind: readers
 * show such a build as `Interrupted` (never as running), and the next
 * writer folds it into `record.json` (a recent build `Interrupted`, its
 * session's bytes into the counters) and removes the file.
 *
 * One owner: the builder records its builds here, the hosts their
 * sessions; everything else only reads ({@linkcode BuildRecord.read}).
 *
 * @module
 */
import { join } from "../posix_path.ts";

/** How many ended builds `record.json` keeps. */
export const RECENT_LIMIT = 50;
/** Upper bounds (seconds) of the build-duration histogram's buckets (then +Inf). */
export const DURATION_BUCKETS: readonly number[] = [1, 5, 15, 60, 300, 900, 3600, 14400];
/** The status of a build whose process died while it ran. */
export const INTERRUPTED = "Interrupted";
/** How many folded ids `record.json` remembers. */
const FOLDED_LIMIT = 200;
/** Lines of log kept with a running build. */
export const LOG_TAIL_LINES = 10;
/** Characters kept of one log line. */
const LOG_LINE_CHARS = 300;
/** The least pause between two rewrites of a running build's or session's file. */
const REWRITE_MS = 500;

/** A process, by pid and start time (clock ticks since boot). */
export interface ProcessOwner {
  pid: number;
  startTicks: number;
}

/** Who a build was run for. */
export interface SessionInfo {
  /** `<pid>-<startTicks>` of the process; `-<n>` added for one of a daemon's sessions. */
  id: string;
  pid: number;
  /** `serve`, `daemon` or `local` (a `buildhost build` or another program). */
  kind: string;
  /** The ssh client's address (`SSH_CLIENT`), else `local`. */
  client: string;
}

/** A build in progress. */
export interface RunningBuild {
  id: string;
  drvPath: string;
  outputs: string[];
  /** `waiting` (for a build slot) or `running`. */
  state: "waiting" | "running";
  /** Milliseconds since the epoch. */
  started: number;
  owner: ProcessOwner;
  session: SessionInfo;
  logTail: string[];
}

/** A build that ended. */
export interface EndedBuild {
  drvPath: string;
  outputs: string[];
  /** Nix's status name (`Built`, `PermanentFailure`, ...) or `Interrupted`. */
  status: string;
  started: number;
  stopped: number;
  /** Seconds. */
  duration: number;
  session: SessionInfo;
  errorMsg: string;
}

/** An open session, as its file says. */
export interface SessionEntry extends SessionInfo {
  owner: ProcessOwner;
  started: number;
  bytesReceived: number;
  bytesSent: number;
}

/** Counters that only grow. */
export interface RecordCounters {
  /** Ended builds by status. */
  builds: Record<string, number>;
  /** Ended builds per duration bucket ({@linkcode DURATION_BUCKETS}, then +Inf), not cumulative. */
  durationBuckets: number[];
  durationSum: number;
  bytesReceived: number;
  bytesSent: number;
  /** Sessions begun: those ended, in `record.json`; readers add the open ones from their files. */
  sessions: number;
}

/** What a reader sees. */
export interface RecordSnapshot {
  running: RunningBuild[];
  waiting: RunningBuild[];
  /** Newest first. */
  recent: EndedBuild[];
  sessions: SessionEntry[];
  counters: RecordCounters;
}

interface RecordFile {
  version: 1;
  counters: RecordCounters;
  recent: EndedBuild[];
  /**
   * Ids of the running builds and sessions last folded in: their files are
   * removed after this file is written, so one a killed writer left behind
   * is skipped (never counted twice) and removed by the next writer.
   */
  folded: string[];
}

function emptyCounters(): RecordCounters {
  return {
    builds: {},
    durationBuckets: DURATION_BUCKETS.map(() => 0).concat(0),
    durationSum: 0,
    bytesReceived: 0,
    bytesSent: 0,
    sessions: 0,
  };
}

/** The start time of a process, or undefined if there is none with that pid. */
function startTicks(pid: number | "self"): number | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // Field 22; the command name (field 2, in parentheses) may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[19]);
  return Number.isFinite(ticks) ? ticks : undefined;
}

/** This process as an owner. */
export function currentOwner(): ProcessOwner {
  return { pid: Deno.pid, startTicks: startTicks("self") ?? 0 };
}

/** Whether the owner is still running (its pid has the same start time). */
export function ownerAlive(owner: ProcessOwner): boolean {
  return startTicks(owner.pid) === owner.startTicks;
}

/** The build record's directory of a store's state directory. */
export function buildRecordDir(stateDir: string): string {
  return join(stateDir, "build-record");
}

function writeAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID()}`;
  try {
    Deno.writeTextFileSync(tmp, JSON.stringify(value));
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never made */ }
    throw e;
  }
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(path)) as T;
  } catch {
    return undefined; // gone meanwhile, or not a whole file (never: writes are atomic)
  }
}

function listJson<T>(dir: string): { path: string; value: T; mtime: number }[] {
  const found: { path: string; value: T; mtime: number }[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return found;
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    const path = join(dir, e.name);
    const value = readJson<T>(path);
    if (value === undefined) continue;
    let mtime = Date.now();
    try {
      mtime = Deno.statSync(path).mtime?.getTime() ?? mtime;
    } catch { /* gone: keep now */ }
    found.push({ path, value, mtime });
  }
  return found;
}

/** The temporaries of {@linkcode writeAtomic} left by dead processes, in `dir` and below. */
function removeDeadTemporaries(dir: string): void {
  for (const sub of [dir, join(dir, "running"), join(dir, "sessions")]) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(sub)];
    } catch {
      continue;
    }
    for (const e of entries) {
      const pid = /\.tmp-(\d+)-/.exec(e.name)?.[1];
      if (pid === undefined || startTicks(Number(pid)) !== undefined) continue;
      try {
        Deno.removeSync(join(sub, e.name));
      } catch { /* gone */ }
    }
  }
}

/** A build whose owner died, as an ended build. */
function interrupted(b: RunningBuild, stopped: number): EndedBuild {
  return {
    drvPath: b.drvPath,
    outputs: b.outputs,
    status: INTERRUPTED,
    started: b.started,
    stopped,
    duration: Math.max(0, (stopped - b.started) / 1000),
    session: b.session,
    errorMsg: "its process ended while it ran",
  };
}

function count(counters: RecordCounters, b: EndedBuild): void {
  counters.builds[b.status] = (counters.builds[b.status] ?? 0) + 1;
  let bucket = DURATION_BUCKETS.findIndex((le) => b.duration <= le);
  if (bucket < 0) bucket = DURATION_BUCKETS.length;
  counters.durationBuckets[bucket] = (counters.durationBuckets[bucket] ?? 0) + 1;
  counters.durationSum += b.duration;
}

/** Colour escapes and other control characters (but tabs and newlines) dropped. */
// deno-lint-ignore no-control-regex
const CONTROL = /\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]/g;

function plainText(text: string): string {
  return text.replace(CONTROL, "");
}

/** The last lines of a log, each cut to a bounded length. */
class RecordLogTail {
  #lines: string[] = [];
  #partial = "";
  #decoder = new TextDecoder();

  push(chunk: Uint8Array): void {
    const text = this.#decoder.decode(chunk, { stream: true });
    const parts = text.split("\n");
    for (let i = 0; i < parts.length; i++) {
      if (this.#partial.length < LOG_LINE_CHARS) {
        this.#partial += parts[i]!.slice(0, LOG_LINE_CHARS - this.#partial.length);
      }
      if (i < parts.length - 1) {
        this.#lines.push(this.#partial);
        this.#partial = "";
        if (this.#lines.length > LOG_TAIL_LINES) this.#lines.shift();
      }
    }
  }

  lines(): string[] {
    const all = this.#partial === "" ? this.#lines : [...this.#lines, this.#partial];
    return all.slice(-LOG_TAIL_LINES).map(plainText);
  }
}

/** A build being recorded; end it with {@linkcode RecordedBuild.end}. */
export class RecordedBuild {
  #entry: RunningBuild;
  #tail = new RecordLogTail();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastWrite = 0;
  #ended = false;

  /** @internal use {@linkcode BuildRecord.begin} */
  constructor(readonly record: BuildRecord, entry: RunningBuild, readonly path: string) {
    this.#entry = entry;
    this.#write();
  }

  /** The build's entry as it stands. */
  get entry(): RunningBuild {
    return { ...this.#entry, logTail: this.#tail.lines() };
  }

  /** Mark it waiting (for a build slot) or running. */
  setState(state: "waiting" | "running"): void {
    if (this.#ended || this.#entry.state === state) return;
    this.#entry.state = state;
    this.#write();
  }

  /** Log bytes of the build (its tail is kept, rewritten now and then). */
  log(chunk: Uint8Array): void {
    if (this.#ended) return;
    this.#tail.push(chunk);
    if (this.#timer !== undefined) return;
    const wait = Math.max(0, this.#lastWrite + REWRITE_MS - Date.now());
    const timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#ended) this.#write();
    }, wait);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /**
   * The build ended: it moves to the recent builds and the counters.
   *
   * @param status Nix's status name.
   * @param errorMsg Its error, if any.
   */
  end(status: string, errorMsg = ""): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const stopped = Date.now();
    const e = this.#entry;
    const ended: EndedBuild = {
      drvPath: e.drvPath,
      outputs: e.outputs,
      status,
      started: e.started,
      stopped,
      duration: Math.max(0, (stopped - e.started) / 1000),
      session: e.session,
      errorMsg: plainText(errorMsg),
    };
    this.record.update((file, fold) => {
      file.recent.unshift(ended);
      count(file.counters, ended);
      fold(e.id, this.path);
    });
  }

  #write(): void {
    this.#lastWrite = Date.now();
    try {
      writeAtomic(this.path, this.entry);
    } catch { /* the record is for operators: a build never fails for it */ }
  }
}

/**
 * An open session being recorded; close it with {@linkcode RecordedSession.close}.
 *
 * Its file is rewritten with the byte counts at most every
 * {@linkcode REWRITE_MS}, by a timer, but not in the session's first
 * {@linkcode REWRITE_MS}: a session that ends sooner (a handshake, a quick
 * copy) never needs one, and the first timer of a process costs some 12 ms
 * (Deno loads its Node timers then). Counts of that first stretch are
 * written with the next rewrite, or when a build of the process begins.
 */
export class RecordedSession {
  #entry: SessionEntry;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #dirty = false;

  /** @internal use {@linkcode BuildRecord.openSession} */
  constructor(readonly record: BuildRecord, entry: SessionEntry, readonly path: string) {
    this.#entry = entry;
    // Only its own file: the session is counted when its file is folded
    // into record.json (at its end, or by the next writer after a crash);
    // until then readers count it from the file.
    try {
      writeAtomic(path, entry);
    } catch { /* best effort */ }
  }

  /** Bytes the session received from its client. */
  received(n: number): void {
    this.#entry.bytesReceived += n;
    this.#schedule();
  }

  /** Bytes the session sent to its client. */
  sent(n: number): void {
    this.#entry.bytesSent += n;
    this.#schedule();
  }

  /** Write counts not yet written, now. */
  flush(): void {
    if (this.#closed || !this.#dirty) return;
    this.#write();
  }

  /** The session ended: its bytes go to the counters. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.record.closed(this);
    this.record.update((file, fold) => {
      file.counters.sessions++;
      file.counters.bytesReceived += this.#entry.bytesReceived;
      file.counters.bytesSent += this.#entry.bytesSent;
      fold(this.#entry.id, this.path);
    });
  }

  #write(): void {
    this.#dirty = false;
    try {
      writeAtomic(this.path, this.#entry);
    } catch { /* best effort */ }
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#dirty = true;
    if (Date.now() - this.#entry.started < REWRITE_MS) return;
    const timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) this.#write();
    }, REWRITE_MS);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }
}

/** The build record of one store (see the module doc). */
export class BuildRecord {
  static #byDir = new Map<string, BuildRecord>();
  /** This process's session. */
  session: SessionInfo;
  readonly owner: ProcessOwner;

  /**
   * @param dir The record's directory ({@linkcode buildRecordDir}).
   * @param session The session its builds belong to (default: this
   *   process, its client the `SSH_CLIENT` address).
   */
  constructor(readonly dir: string, session?: SessionInfo) {
    this.owner = currentOwner();
    const ssh = Deno.env.get("SSH_CLIENT")?.split(" ")[0];
    this.session = session ?? {
      id: `${this.owner.pid}-${this.owner.startTicks}`,
      pid: this.owner.pid,
      kind: "local",
      client: ssh || "local",
    };
  }

  /**
   * The record of one of several sessions this process serves at once (a
   * daemon's connections): its builds and its session file are its own.
   *
   * @param kind `serve` or `daemon`.
   * @param client Who the client is, as the status page shows it.
   * @returns A record of the same directory, for that session.
   */
  forSession(kind: string, client: string): BuildRecord {
    const id = `${this.owner.pid}-${this.owner.startTicks}-${++BuildRecord.#sessions}`;
    return new BuildRecord(this.dir, { id, pid: this.owner.pid, kind, client });
  }
  static #sessions = 0;
  /** Sessions opened here and not yet closed. */
  readonly #open = new Set<RecordedSession>();

  /** @internal a session of this record closed */
  closed(session: RecordedSession): void {
    this.#open.delete(session);
  }

  /**
   * The record of a store's state directory, one per directory in a
   * process (so a host's session and its builder share it).
   */
  static of(stateDir: string): BuildRecord {
    const dir = buildRecordDir(stateDir);
    let r = BuildRecord.#byDir.get(dir);
    if (!r) BuildRecord.#byDir.set(dir, r = new BuildRecord(dir));
    return r;
  }

  get #runningDir(): string {
    return join(this.dir, "running");
  }

  get #sessionsDir(): string {
    return join(this.dir, "sessions");
  }

  /**
   * Record a build that starts now.
   *
   * @param drvPath Its derivation.
   * @param outputs Its output paths.
   * @param state Whether it waits for a slot first.
   * @returns The build, to log to and end.
   */
  begin(
    drvPath: string,
    outputs: string[],
    state: "waiting" | "running" = "running",
  ): RecordedBuild {
    const id = `${this.session.id}-${crypto.randomUUID().slice(0, 8)}`;
    for (const s of this.#open) s.flush();
    try {
      Deno.mkdirSync(this.#runningDir, { recursive: true });
    } catch { /* writing will fail quietly */ }
    return new RecordedBuild(this, {
      id,
      drvPath,
      outputs,
      state,
      started: Date.now(),
      owner: this.owner,
      session: this.session,
      logTail: [],
    }, join(this.#runningDir, `${id}.json`));
  }

  /**
   * Record this process's session (a serve or daemon host) as open.
   *
   * @param kind `serve` or `daemon`.
   * @returns The session, to count bytes and close.
   */
  openSession(kind: string): RecordedSession {
    this.session = { ...this.session, kind };
    try {
      Deno.mkdirSync(this.#sessionsDir, { recursive: true });
    } catch { /* writing will fail quietly */ }
    const session = new RecordedSession(this, {
      ...this.session,
      owner: this.owner,
      started: Date.now(),
      bytesReceived: 0,
      bytesSent: 0,
    }, join(this.#sessionsDir, `${this.session.id}.json`));
    this.#open.add(session);
    return session;
  }

  /**
   * Change `record.json` under the exclusive lock, first folding in what
   * dead processes left. Best effort: the record never fails a build.
   *
   * @internal
   */
  update(change: (file: RecordFile, fold: (id: string, path: string) => void) => void): void {
    let lock: Deno.FsFile | undefined;
    try {
      Deno.mkdirSync(this.dir, { recursive: true });
      lock = Deno.openSync(join(this.dir, "lock"), { read: true, write: true, create: true });
      lock.lockSync(true);
      const path = join(this.dir, "record.json");
      const file = this.#readFile();
      const folded = new Set(file.folded);
      const remove: string[] = [];
      const fold = (id: string, p: string) => (folded.add(id), remove.push(p));
      for (const r of listJson<RunningBuild>(this.#runningDir)) {
        if (folded.has(r.value.id)) remove.push(r.path);
        else if (!ownerAlive(r.value.owner)) {
          const ended = interrupted(r.value, r.mtime);
          file.recent.unshift(ended);
          count(file.counters, ended);
          fold(r.value.id, r.path);
        }
      }
      for (const s of listJson<SessionEntry>(this.#sessionsDir)) {
        if (folded.has(s.value.id)) remove.push(s.path);
        else if (!ownerAlive(s.value.owner)) {
          file.counters.sessions++;
          file.counters.bytesReceived += s.value.bytesReceived;
          file.counters.bytesSent += s.value.bytesSent;
          fold(s.value.id, s.path);
        }
      }
      change(file, fold);
      removeDeadTemporaries(this.dir);
      file.recent.sort((a, b) => b.stopped - a.stopped);
      file.recent.length = Math.min(file.recent.length, RECENT_LIMIT);
      file.folded = [...folded].slice(-FOLDED_LIMIT);
      writeAtomic(path, file);
      for (const p of remove) {
        try {
          Deno.removeSync(p);
        } catch { /* gone */ }
      }
    } catch {
      /* best effort */
    } finally {
      lock?.close();
    }
  }

  #readFile(): RecordFile {
    const file = readJson<RecordFile>(join(this.dir, "record.json"));
    return {
      version: 1,
      counters: emptyCounters(),
      recent: [],
      ...file,
      folded: file?.folded ?? [],
    };
  }

  /**
   * What the record says now; writes nothing (a build whose process died
   * shows as an `Interrupted` recent build).
   *
   * @returns The running, waiting and recent builds, sessions and counters.
   */
  read(): RecordSnapshot {
    let lock: Deno.FsFile | undefined;
    try {
      lock = Deno.openSync(join(this.dir, "lock"), { read: true });
      lock.lockSync(false);
    } catch { /* nothing recorded yet */ }
    try {
      const file = this.#readFile();
      const folded = new Set(file.folded);
      const counters = file.counters;
      const recent = [...file.recent];
      const running: RunningBuild[] = [];
      const waiting: RunningBuild[] = [];
      for (const r of listJson<RunningBuild>(this.#runningDir)) {
        if (folded.has(r.value.id)) continue;
        if (!ownerAlive(r.value.owner)) {
          const ended = interrupted(r.value, r.mtime);
          recent.push(ended);
          count(counters, ended);
        } else (r.value.state === "waiting" ? waiting : running).push(r.value);
      }
      const sessions: SessionEntry[] = [];
      for (const s of listJson<SessionEntry>(this.#sessionsDir)) {
        if (folded.has(s.value.id)) continue;
        counters.sessions++;
        counters.bytesReceived += s.value.bytesReceived;
        counters.bytesSent += s.value.bytesSent;
        if (ownerAlive(s.value.owner)) sessions.push(s.value);
      }
      recent.sort((a, b) => b.stopped - a.stopped);
      const byStart = (a: RunningBuild, b: RunningBuild) => a.started - b.started;
      return {
        running: running.sort(byStart),
        waiting: waiting.sort(byStart),
        recent: recent.slice(0, RECENT_LIMIT),
        sessions,
        counters,
      };
    } finally {
      lock?.close();
    }
  }
}
