/**
 * For tests that hold a build at a known point: FIFOs a build (in or out of
 * the sandbox) writes its events to and reads its go from, and text that
 * grows (a FIFO's events, a process's output) with promises on what it comes
 * to hold. No timing: a test waits for what it needs to see.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";

/** Text that grows, and promises on what it comes to hold. */
export class Growing {
  text = "";
  #watchers: (() => void)[] = [];

  /** Append text and wake the watchers. */
  push(more: string): void {
    this.text += more;
    for (const w of [...this.#watchers]) w();
  }

  /** Resolves once `test` holds of the text. */
  until(test: (text: string) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!test(this.text)) return;
        this.#watchers = this.#watchers.filter((w) => w !== check);
        resolve();
      };
      this.#watchers.push(check);
      check();
    });
  }

  /** The non-empty lines so far. */
  lines(): string[] {
    return this.text.split("\n").filter((l) => l);
  }
}

/** Read a stream into a Growing, until it ends. */
export function follow(stream: ReadableStream<Uint8Array>, into: Growing): Promise<void> {
  return stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (s) => into.push(s) }),
  );
}

/**
 * A directory of FIFOs: `events`, which builds write lines to, and one
 * `go-NAME` per name, which a build reads a line from to go on. The test
 * holds every FIFO open for reading and writing, so that no end ever blocks
 * on opening or sees an end of file. Disposing lets every build go on.
 */
export class FifoEvents implements AsyncDisposable {
  /** What builds wrote to `events`. */
  readonly seen = new Growing();
  readonly #events: Deno.FsFile;
  readonly #gos = new Map<string, Deno.FsFile>();
  readonly #following: Promise<void>;

  /**
   * @param dir The directory to make them in (created).
   * @param names The `go-` FIFOs.
   */
  constructor(readonly dir: string, names: string[]) {
    Deno.mkdirSync(dir, { recursive: true });
    const open = (f: string) => {
      const r = new Deno.Command("mkfifo", { args: [join(dir, f)] }).outputSync();
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
      return Deno.openSync(join(dir, f), { read: true, write: true });
    };
    this.#events = open("events");
    for (const n of names) this.#gos.set(n, open(`go-${n}`));
    this.#following = follow(this.#events.readable, this.seen).catch(() => {});
  }

  /** Let the build waiting on `go-NAME` go on. */
  go(name: string): void {
    this.#gos.get(name)!.writeSync(new TextEncoder().encode("go\n"));
  }

  /** Resolves once `events` holds the line `line`. */
  until(line: string): Promise<void> {
    return this.seen.until((s) => s.split("\n").includes(line));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const n of this.#gos.keys()) this.go(n);
    for (const f of this.#gos.values()) f.close();
    this.#events.close();
    await this.#following;
  }
}

/** How long {@linkcode guard} lets a wait go before it fails the test instead of hanging it. */
export const HANG_GUARD_MS = 180_000;

/**
 * `promise`, or a failure naming `what` if it has not settled after
 * {@linkcode HANG_GUARD_MS}: a test whose awaited event never comes (the
 * behaviour under test is missing) fails rather than hangs. Not a timing
 * assertion: the events waited for come in about a second.
 */
export async function guard<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gaveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), HANG_GUARD_MS);
  });
  try {
    return await Promise.race([promise, gaveUp]);
  } finally {
    clearTimeout(timer);
  }
}
