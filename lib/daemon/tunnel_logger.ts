/**
 * The server's side of the stderr channel during one operation: log
 * messages, activities and their results, as `nix-daemon` sends them (its
 * `TunnelLogger`), then STDERR_LAST or STDERR_ERROR. Build logs go out line
 * by line as `resBuildLogLine` results of the build's activity, each line as
 * soon as it is complete (a line longer than {@linkcode MAX_LOG_LINE} goes
 * out in pieces, so memory stays bounded).
 *
 * @module
 */
import type { WireWriter } from "../wire/wire_writer.ts";
import type { WorkerVersion } from "../worker_protocol/protocol.ts";
import { ActivityType, ResultType, workerMinor } from "../worker_protocol/protocol.ts";
import { type LogField, type NixErrorInfo, writeStderr } from "../worker_protocol/stderr.ts";

/** The longest log line sent whole; longer ones are cut. */
export const MAX_LOG_LINE = 1 << 20;

/** Activity ids: Nix's are the server's pid in the high 32 bits and a counter. */
export class ActivityIds {
  #next = 0n;
  /** @param base The first id (default: this process's pid << 32, as Nix). */
  constructor(readonly base: bigint = BigInt(Deno.pid) << 32n) {}
  /** The next id. */
  next(): bigint {
    return this.base + this.#next++;
  }
}

/** Writes one operation's stderr messages; each is flushed at once. */
export class TunnelLogger {
  readonly #broken = new AbortController();

  /**
   * @param w The session's writer.
   * @param version The negotiated version.
   * @param ids Where activity ids come from.
   */
  constructor(
    readonly w: WireWriter,
    readonly version: WorkerVersion,
    readonly ids: ActivityIds,
  ) {}

  /** Aborted when a write failed (the client went away). */
  get broken(): AbortSignal {
    return this.#broken.signal;
  }

  #flush(): void {
    this.w.flush().catch((e) => this.#broken.abort(e));
  }

  /** A log message (STDERR_NEXT); a newline is added as Nix does. */
  next(text: string): void {
    writeStderr(this.w, { type: "next", text: `${text}\n` }, this.version);
    this.#flush();
  }

  /** Start an activity; before 1.20 activities are not sent. */
  start(level: number, type: number, text: string, fields: LogField[] = []): bigint {
    const id = this.ids.next();
    if (workerMinor(this.version) >= 20) {
      writeStderr(
        this.w,
        { type: "startActivity", id, level, activityType: type, text, fields, parent: 0n },
        this.version,
      );
      this.#flush();
    }
    return id;
  }

  /** A result of an activity. */
  result(id: bigint, resultType: number, fields: LogField[]): void {
    if (workerMinor(this.version) < 20) return;
    writeStderr(this.w, { type: "result", id, resultType, fields }, this.version);
    this.#flush();
  }

  /** Stop an activity. */
  stop(id: bigint): void {
    if (workerMinor(this.version) < 20) return;
    writeStderr(this.w, { type: "stopActivity", id }, this.version);
    this.#flush();
  }

  /** Ask the client for up to `length` bytes of data (STDERR_READ, before 1.23). */
  read(length: number): void {
    writeStderr(this.w, { type: "read", length }, this.version);
  }

  /** End of the operation's messages: the reply follows. */
  last(): void {
    writeStderr(this.w, { type: "last" }, this.version);
  }

  /** End with an error instead of a reply. */
  error(error: NixErrorInfo): void {
    writeStderr(this.w, { type: "error", error }, this.version);
  }
}

/**
 * The activities nix-daemon 2.8 wraps a build in (seen in recorded
 * sessions): Realise, Builds and CopyPaths with their progress, then a Build
 * activity "building '<drv>'" whose results are the log lines.
 */
export class BuildActivities {
  #realise: bigint;
  #builds: bigint;
  #copy: bigint;
  #build: bigint | undefined;
  #pending: Uint8Array = new Uint8Array(0);
  #decoder = new TextDecoder();

  /** @param log The operation's logger. */
  constructor(readonly log: TunnelLogger) {
    this.#realise = log.start(0, ActivityType.Realise, "");
    this.#builds = log.start(0, ActivityType.Builds, "");
    this.#copy = log.start(0, ActivityType.CopyPaths, "");
  }

  #progress(done: number, expected: number, running: number, failed: number): void {
    const n = (x: number) => BigInt(x);
    this.log.result(this.#builds, ResultType.Progress, [
      n(done),
      n(expected),
      n(running),
      n(failed),
    ]);
    this.log.result(this.#copy, ResultType.Progress, [0n, 0n, 0n, 0n]);
    this.log.result(this.#realise, ResultType.SetExpected, [BigInt(ActivityType.FileTransfer), 0n]);
    this.log.result(this.#realise, ResultType.SetExpected, [BigInt(ActivityType.CopyPath), 0n]);
  }

  /** The derivation is about to build. */
  building(drvPath: string): void {
    this.#progress(0, 1, 0, 0);
    this.log.stop(this.log.start(6, ActivityType.Unknown, "querying info about missing paths"));
    this.#build = this.log.start(3, ActivityType.Build, `building '${drvPath}'`, [
      drvPath,
      "",
      1n,
      1n,
    ]);
    this.#progress(0, 1, 1, 0);
  }

  /** A piece of the builder's output. */
  output(chunk: Uint8Array): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== 0x0a) continue;
      this.#line(this.#join(chunk.subarray(start, i)));
      start = i + 1;
    }
    if (start < chunk.length) {
      this.#pending = this.#join(chunk.subarray(start));
      while (this.#pending.length > MAX_LOG_LINE) {
        this.#line(this.#pending.subarray(0, MAX_LOG_LINE));
        this.#pending = this.#pending.slice(MAX_LOG_LINE);
      }
    }
  }

  #join(tail: Uint8Array): Uint8Array {
    if (this.#pending.length === 0) return tail.slice();
    const out = new Uint8Array(this.#pending.length + tail.length);
    out.set(this.#pending);
    out.set(tail, this.#pending.length);
    this.#pending = new Uint8Array(0);
    return out;
  }

  #line(bytes: Uint8Array): void {
    const text = this.#decoder.decode(bytes);
    if (this.#build === undefined) this.log.next(text);
    else this.log.result(this.#build, ResultType.BuildLogLine, [text]);
  }

  /** The build ended (or was never needed): progress, then stop every activity. */
  finish(ok: boolean): void {
    if (this.#pending.length > 0) this.#line(this.#join(new Uint8Array(0)));
    if (this.#build !== undefined) {
      if (ok) this.#progress(1, 1, 0, 0);
      else this.#progress(0, 0, 0, 1);
      this.log.stop(this.#build);
    } else {
      this.log.stop(this.log.start(6, ActivityType.Unknown, "querying info about missing paths"));
    }
    this.log.stop(this.#copy);
    this.log.stop(this.#builds);
    this.log.stop(this.#realise);
  }
}
