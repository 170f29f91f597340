/**
 * Writing a NAR (see `tokens.ts` for the grammar) from a lazy tree of nodes.
 *
 * Tokens, names and small file chunks are gathered into chunks of up to
 * 1 MiB; larger file chunks pass through as they are, so memory stays
 * bounded whatever the file sizes. A file that offers a `reader` is read
 * straight into the gathered chunk, without a copy; a consumer that keeps
 * what it is given (a hasher on another thread) can supply the chunks'
 * buffers itself and take each one over ({@linkcode WriteNarOptions}), so a
 * file's bytes are never copied by the writer at all. The tree is walked
 * with an explicit stack, so depth costs nothing per chunk. The writer checks what it is given:
 * names (allowed, strictly ascending by bytes), symlink targets, and that each
 * file gives exactly its declared size.
 *
 * @module
 */
import { NarError } from "./nar_error.ts";
import { compareBytes, MAX_ENTRY_NAME_LENGTH, MAX_TARGET_LENGTH, MERGED_TOKENS } from "./tokens.ts";

/**
 * A node of a tree to be written as a NAR; contents and children are produced
 * lazily, when the writer reaches them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NarNode } from "./nar_writer.ts";
 * const link: NarNode = { type: "symlink", target: "x" };
 * assert.equal(link.type, "symlink");
 * ```
 */
export type NarNode =
  | {
    type: "regular";
    executable: boolean;
    /** The exact number of bytes `contents` gives. */
    size: number;
    /**
     * The file's bytes; called once. Each chunk must stay valid until the
     * next one is requested (a source may reuse one buffer).
     */
    contents: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
    /**
     * Optionally, the file's bytes read into the writer's own buffer instead
     * (then `contents` is not called); opened once, disposed of at the end.
     */
    reader?: () => NarFileReader;
  }
  | { type: "symlink"; target: string }
  | {
    type: "directory";
    /** The entries, in strictly ascending byte order of their names; called once. */
    entries: () => AsyncIterable<[string, NarNode]> | Iterable<[string, NarNode]>;
  };

/**
 * A source of a file's bytes that reads into a buffer it is given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NarFileReader } from "./nar_writer.ts";
 * const reader: NarFileReader = { read: (into) => into.fill(1).length, [Symbol.dispose]() {} };
 * assert.equal(reader.read(new Uint8Array(3)), 3);
 * ```
 */
export interface NarFileReader extends Disposable {
  /**
   * Fill the start of `into` with the file's next bytes; never asked for
   * more than remain of the file's size.
   *
   * @returns How many bytes were read, at least 1.
   * @throws {NarError} When the file has no more bytes (it shrank).
   */
  read(into: Uint8Array): number;
}

/** How {@linkcode writeNar} gets the buffers of the chunks it gives. */
export interface WriteNarOptions {
  /**
   * Where each chunk's buffer comes from, when the consumer keeps the chunks:
   * every chunk then starts at offset 0 of a buffer this gave (of at least
   * 64 KiB) and is the consumer's to keep; the writer never touches it
   * again. Without it, the writer reuses two buffers of its own and a chunk
   * is valid only until the next one is requested.
   */
  buffers?: () => Uint8Array | Promise<Uint8Array>;
}

/** Size of a gathered chunk in the writer's own buffers. */
const GATHER = 1 << 20;
/**
 * Size of the first one: most NARs (a small path's, a trivial build's
 * output) fit in it, and a zeroed megabyte for each would cost more than
 * writing them. A NAR that outgrows it goes on in a buffer eight times as
 * large, then in chunks of GATHER.
 */
const FIRST_GATHER = 16 * 1024;
/** File chunks up to this size are copied into the gathered chunk rather than passed on. */
const SMALL = 32 * 1024;
/** Room enough for any one step but file contents (a symlink: tokens + 4095-byte target). */
const STEP = 8 * 1024;
/** A read into the gathered chunk wants this much room (or the rest of the file). */
const READ_ROOM = 64 * 1024;
/** The smallest buffer a consumer may supply. */
const MIN_BUFFER = 64 * 1024;

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * Gathers small writes into chunks. With its own buffers, two take turns: a
 * chunk handed out stays intact while the other one fills, which is enough
 * because the writer hands out one chunk at a time and each is valid only
 * until the next is requested. With a consumer's buffers, each chunk handed
 * out is given up and the next buffer is asked for ({@linkcode refill}).
 */
class Gatherer {
  #source: (() => Uint8Array | Promise<Uint8Array>) | undefined;
  #bufs: Uint8Array[] = [];
  #turn = 0;
  #buf: Uint8Array = EMPTY;
  #len = 0;
  /** Size of the next of its own buffers to make: FIRST_GATHER, then eight times more, up to GATHER. */
  #size = FIRST_GATHER;

  constructor(source?: () => Uint8Array | Promise<Uint8Array>) {
    this.#source = source;
    if (!source) {
      // The second buffer is made when the first is handed out: a small NAR needs one.
      this.#bufs = [new Uint8Array(FIRST_GATHER)];
      this.#buf = this.#bufs[0]!;
    }
  }

  /** Make room for `n` (at most STEP or SMALL) bytes; returns a full chunk to emit first, if any. */
  need(n: number): Uint8Array | undefined {
    this.#own();
    if (this.#len + n <= this.#buf.length) return undefined;
    // The small first buffer always holds something here (a NAR starts with
    // its tokens), so this take moves on to a buffer of at least 128 KiB.
    const full = this.take();
    this.#own();
    return full;
  }

  /** Everything gathered so far, or undefined when empty. */
  take(): Uint8Array | undefined {
    if (this.#len === 0) return undefined;
    const out = this.#buf.subarray(0, this.#len);
    // The next buffer is had when room is next needed: the consumer's by
    // `refill`, else the other of the writer's own by `#own` (the last
    // chunk of a NAR asks for none).
    this.#buf = EMPTY;
    if (!this.#source) {
      this.#turn ^= 1;
      this.#size = Math.min(GATHER, this.#size * 8);
    }
    this.#len = 0;
    return out;
  }

  /**
   * With the writer's own buffers, after a chunk was taken: the buffer whose
   * turn it is, made (or a smaller one replaced: 16 KiB, 128 KiB, then 1 MiB)
   * when its turn comes; the chunk it last gave was valid only until the one
   * just taken was asked for.
   */
  #own(): void {
    if (this.#buf.length > 0 || this.#source) return;
    const next = this.#bufs[this.#turn];
    this.#buf = next && next.length >= this.#size
      ? next
      : (this.#bufs[this.#turn] = new Uint8Array(this.#size));
  }

  /** After a chunk was taken: get the next buffer from the consumer, if it supplies them. */
  async refill(): Promise<void> {
    if (!this.#source || this.#buf.length > 0) return;
    const b = await this.#source();
    if (b.byteOffset !== 0 || b.length < MIN_BUFFER) {
      throw new RangeError(
        `a NAR writer's buffer must start its ArrayBuffer and hold at least ${MIN_BUFFER} bytes`,
      );
    }
    this.#buf = b;
  }

  /** Free bytes after what is gathered. */
  room(): number {
    this.#own();
    return this.#buf.length - this.#len;
  }

  /** Read up to `max` bytes from `reader` into the free bytes (room must be > 0). */
  readFrom(reader: NarFileReader, max: number): number {
    const n = reader.read(this.#buf.subarray(this.#len, this.#len + Math.min(max, this.room())));
    this.#len += n;
    return n;
  }

  // The methods below assume that `need` made room.

  bytes(b: Uint8Array): void {
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  /** A u64 (a safe integer), little-endian. */
  u64(n: number): void {
    const buf = this.#buf;
    let at = this.#len;
    const lo = n >>> 0;
    const hi = (n - lo) / 0x1_0000_0000;
    buf[at++] = lo & 0xff;
    buf[at++] = (lo >>> 8) & 0xff;
    buf[at++] = (lo >>> 16) & 0xff;
    buf[at++] = lo >>> 24;
    buf[at++] = hi & 0xff;
    buf[at++] = (hi >>> 8) & 0xff;
    buf[at++] = (hi >>> 16) & 0xff;
    buf[at++] = hi >>> 24;
    this.#len = at;
  }

  /** Zero padding after `len` bytes. */
  pad(len: number): void {
    const n = (8 - (len % 8)) % 8;
    this.#buf.fill(0, this.#len, this.#len + n);
    this.#len += n;
  }

  /** A wire string of an ASCII JS string (every code unit below 0x80). */
  ascii(s: string): void {
    this.u64(s.length);
    const buf = this.#buf;
    let at = this.#len;
    for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
    this.#len = at;
    this.pad(s.length);
  }

  /** A wire string of bytes. */
  string(b: Uint8Array): void {
    this.u64(b.length);
    this.bytes(b);
    this.pad(b.length);
  }
}

/**
 * How a string's code units relate to its UTF-8 bytes: ASCII (all below
 * 0x80, one byte each), PLAIN (all below 0xD800, so code unit order is byte
 * order), OTHER (surrogates or code units from 0xE000: compare the bytes).
 */
type Kind = 0 | 1 | 2;
const ASCII = 0, PLAIN = 1, OTHER = 2;

function kindOf(s: string): Kind {
  let kind: Kind = ASCII;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800) return OTHER;
    if (c >= 0x80) kind = PLAIN;
  }
  return kind;
}

/** Why `name` cannot be an entry name (see `tokens.ts`), or undefined. */
function badName(name: string, kind: Kind): string | undefined {
  if (name.length === 0) return "an entry name is empty";
  if (name === "." || name === "..") return `the entry name "${name}" is not allowed`;
  if (name.includes("/")) return "an entry name contains '/'";
  if (name.includes("\0")) return "an entry name contains a NUL byte";
  if (kind === OTHER && !name.isWellFormed()) {
    return "an entry name is not valid Unicode (it has a lone surrogate)";
  }
  return undefined;
}

/** The bytes of a string to write, checked to be well-formed Unicode. */
function checkedBytes(s: string, kind: Kind, path: string, what: string): Uint8Array {
  if (kind === OTHER && !s.isWellFormed()) {
    throw new NarError(-1, path, `${what} is not valid Unicode (it has a lone surrogate)`);
  }
  return utf8.encode(s);
}

type Frame = {
  path: string;
  entries: AsyncIterator<[string, NarNode]> | Iterator<[string, NarNode]>;
  previous: string | undefined;
  previousKind: Kind;
};

function iterate<T>(it: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> | Iterator<T> {
  return Symbol.asyncIterator in it
    ? it[Symbol.asyncIterator]()
    : (it as Iterable<T>)[Symbol.iterator]();
}

/**
 * Serialise a tree as a NAR. A chunk is valid only until the next one is
 * requested (buffers are reused): copy it to keep it, or supply the buffers
 * with `options.buffers` and keep them.
 *
 * @param root The root node.
 * @param options Where the chunks' buffers come from.
 * @returns The NAR's bytes, in chunks.
 * @throws {NarError} When entries are not in ascending order, a name or a
 * symlink target is not allowed, or a file gives more or fewer bytes than its
 * size (offset -1, the entry's path).
 *
 * @example A single file
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeNar } from "./nar_writer.ts";
 * const hi = new TextEncoder().encode("hi");
 * let size = 0;
 * for await (const c of writeNar({ type: "regular", executable: false, size: 2, contents: () => [hi] })) {
 *   size += c.length;
 * }
 * assert.equal(size, 120);
 * ```
 */
export async function* writeNar(
  root: NarNode,
  options: WriteNarOptions = {},
): AsyncGenerator<Uint8Array> {
  const owned = options.buffers !== undefined;
  const g = new Gatherer(options.buffers);
  /** Hand out a full chunk, then (when the consumer supplies buffers) get the next buffer. */
  async function* emit(chunk: Uint8Array): AsyncGenerator<Uint8Array> {
    yield chunk;
    await g.refill();
  }
  const stack: Frame[] = [];
  let full: Uint8Array | undefined;
  // The node to write next, or undefined to go on with the innermost directory.
  let node: NarNode | undefined = root;
  let path = "";
  try {
    await g.refill();
    g.bytes(MERGED_TOKENS.archive);
    while (true) {
      if (node === undefined) {
        const frame = stack[stack.length - 1];
        if (!frame) break;
        let step = frame.entries.next();
        if (step instanceof Promise) step = await step;
        if (step.done) {
          stack.pop();
          full = g.need(STEP);
          if (full) yield* emit(full);
          g.bytes(MERGED_TOKENS.close); // the directory node
          if (stack.length > 0) g.bytes(MERGED_TOKENS.close); // the entry that held it
          continue;
        }
        const [name, child] = step.value;
        path = frame.path === "" ? name : `${frame.path}/${name}`;
        const kind = kindOf(name);
        const bad = badName(name, kind);
        if (bad) throw new NarError(-1, path, bad);
        const bytes = kind === ASCII ? undefined : checkedBytes(name, kind, path, "a name");
        if ((bytes?.length ?? name.length) > MAX_ENTRY_NAME_LENGTH) {
          throw new NarError(
            -1,
            path,
            `an entry name is longer than ${MAX_ENTRY_NAME_LENGTH} bytes`,
          );
        }
        if (frame.previous !== undefined) {
          const prev = frame.previous;
          const order = kind !== OTHER && frame.previousKind !== OTHER
            ? (prev < name ? -1 : prev === name ? 0 : 1)
            : compareBytes(utf8.encode(prev), bytes ?? utf8.encode(name));
          if (order >= 0) {
            throw new NarError(
              -1,
              path,
              order === 0
                ? "a directory entry is duplicated"
                : "directory entries are not in ascending order",
            );
          }
        }
        frame.previous = name;
        frame.previousKind = kind;
        full = g.need(STEP);
        if (full) yield* emit(full);
        g.bytes(MERGED_TOKENS.entry);
        if (bytes) g.string(bytes);
        else g.ascii(name);
        g.bytes(MERGED_TOKENS.node);
        node = child;
        continue;
      }

      // Write `node` at `path`; the tokens before its type are written.
      const n: NarNode = node;
      node = undefined;
      const inEntry = stack.length > 0;
      if (n.type === "directory") {
        full = g.need(STEP);
        if (full) yield* emit(full);
        g.bytes(MERGED_TOKENS.directory);
        stack.push({
          path,
          entries: iterate(n.entries()),
          previous: undefined,
          previousKind: ASCII,
        });
        continue;
      }
      if (n.type === "symlink") {
        const kind = kindOf(n.target);
        if (n.target.length === 0) throw new NarError(-1, path, "a symlink target is empty");
        if (n.target.includes("\0")) {
          throw new NarError(-1, path, "a symlink target contains a NUL byte");
        }
        const target = kind === ASCII
          ? undefined
          : checkedBytes(n.target, kind, path, "a symlink target");
        if ((target?.length ?? n.target.length) > MAX_TARGET_LENGTH) {
          throw new NarError(
            -1,
            path,
            `a symlink target is longer than ${MAX_TARGET_LENGTH} bytes`,
          );
        }
        full = g.need(STEP);
        if (full) yield* emit(full);
        g.bytes(MERGED_TOKENS.symlink);
        if (target) g.string(target);
        else g.ascii(n.target);
      } else {
        const size = n.size;
        if (!Number.isSafeInteger(size) || size < 0) {
          throw new NarError(-1, path, `the file size ${size} is not a valid size`);
        }
        full = g.need(STEP);
        if (full) yield* emit(full);
        g.bytes(n.executable ? MERGED_TOKENS.executable : MERGED_TOKENS.regular);
        g.u64(size);
        let seen = 0;
        if (n.reader) {
          using reader = n.reader();
          while (seen < size) {
            if (g.room() < Math.min(READ_ROOM, size - seen)) {
              full = g.take();
              if (full) yield* emit(full);
            }
            const want = Math.min(size - seen, g.room());
            const got = g.readFrom(reader, want);
            if (!Number.isSafeInteger(got) || got < 1 || got > want) {
              throw new NarError(
                -1,
                path,
                `the file's reader gave ${got} bytes when asked for ${want}`,
              );
            }
            seen += got;
          }
        } else {
          const chunks = iterate(n.contents());
          let done = false;
          try {
            while (true) {
              let step = chunks.next();
              if (step instanceof Promise) step = await step;
              if (step.done) {
                done = true;
                break;
              }
              const chunk = step.value;
              seen += chunk.length;
              if (seen > size) {
                throw new NarError(-1, path, `the file gave more than its size of ${size} bytes`);
              }
              if (chunk.length <= SMALL) {
                full = g.need(chunk.length);
                if (full) yield* emit(full);
                g.bytes(chunk);
              } else if (owned) {
                // The chunk is the source's: copy it into the consumer's buffers.
                for (let at = 0; at < chunk.length;) {
                  if (g.room() === 0) yield* emit(g.take()!);
                  const piece = chunk.subarray(at, at + g.room());
                  g.bytes(piece);
                  at += piece.length;
                }
              } else {
                full = g.take();
                if (full) yield full;
                yield chunk;
              }
            }
          } finally {
            if (!done) await chunks.return?.();
          }
        }
        if (seen !== size) {
          throw new NarError(-1, path, `the file gave ${seen} bytes, not its size of ${size}`);
        }
        full = g.need(STEP);
        if (full) yield* emit(full);
        g.pad(size);
      }
      g.bytes(MERGED_TOKENS.close); // the node
      if (inEntry) g.bytes(MERGED_TOKENS.close); // its entry
    }
    full = g.take();
    if (full) yield full;
  } finally {
    // On an error or an early return, let the directory sources release what they hold.
    for (const frame of stack.reverse()) await frame.entries.return?.();
  }
}
