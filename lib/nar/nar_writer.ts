/**
 * Writing a NAR (see `tokens.ts` for the grammar) from a lazy tree of nodes.
 * Small tokens are gathered into one chunk; file contents pass through as the
 * chunks the node gives, so memory stays bounded whatever the file sizes.
 *
 * @module
 */
import { paddingFor } from "../wire/wire_writer.ts";
import { NarError } from "./nar_error.ts";
import { badEntryName, compareBytes, MAX_TARGET_LENGTH, nameBytes, TOKENS } from "./tokens.ts";

/**
 * A node of a tree to be written as a NAR; children are produced lazily.
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
    /** The file's bytes; called once. */
    contents: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  }
  | { type: "symlink"; target: string }
  | {
    type: "directory";
    /** The entries, in strictly ascending byte order of their names; called once. */
    entries: () => AsyncIterable<[string, NarNode]> | Iterable<[string, NarNode]>;
  };

const GATHER = 64 * 1024;
/** File chunks up to this size are copied into the gathered chunk rather than passed on. */
const SMALL = 16 * 1024;

/**
 * Gathers small writes into chunks. Two buffers take turns: a chunk handed
 * out stays intact while the other buffer fills, which is enough because the
 * writer hands out at most two gathered chunks between two requests of its
 * consumer.
 */
class Gatherer {
  #bufs = [new Uint8Array(GATHER), new Uint8Array(GATHER)];
  #turn = 0;
  #len = 0;
  /** Add bytes (at most GATHER); returns a full chunk to emit when the buffer filled up. */
  add(bytes: Uint8Array): Uint8Array | undefined {
    let out: Uint8Array | undefined;
    if (this.#len + bytes.length > GATHER) out = this.take();
    this.#bufs[this.#turn]!.set(bytes, this.#len);
    this.#len += bytes.length;
    return out;
  }
  /** Add a u64 (a safe integer) without allocating. */
  u64(n: number): Uint8Array | undefined {
    let out: Uint8Array | undefined;
    if (this.#len + 8 > GATHER) out = this.take();
    const buf = this.#bufs[this.#turn]!;
    let v = n;
    for (let i = 0; i < 8; i++) {
      buf[this.#len + i] = v % 256;
      v = Math.floor(v / 256);
    }
    this.#len += 8;
    return out;
  }
  /** Everything gathered so far, or undefined when empty. */
  take(): Uint8Array | undefined {
    if (this.#len === 0) return undefined;
    const out = this.#bufs[this.#turn]!.subarray(0, this.#len);
    this.#turn ^= 1;
    this.#len = 0;
    return out;
  }
}

/**
 * Serialise a tree as a NAR. A chunk is valid only until the next one is
 * requested (buffers are reused): copy it to keep it.
 *
 * @param root The root node.
 * @returns The NAR's bytes, in chunks.
 * @throws {NarError} When entries are not in ascending order, a name is not
 * allowed, or a file gives more or fewer bytes than its size.
 *
 * @example A single file
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeNar } from "./nar_writer.ts";
 * const hi = new TextEncoder().encode("hi");
 * let size = 0;
 * for await (const c of writeNar({ type: "regular", executable: false, size: 2, contents: async function* () { yield hi; } })) {
 *   size += c.length;
 * }
 * assert.equal(size, 120);
 * ```
 */
export async function* writeNar(root: NarNode): AsyncGenerator<Uint8Array> {
  // An explicit stack instead of recursion: every chunk is yielded once, not
  // once per directory level, which matters for trees of many small files.
  const g = new Gatherer();
  type Frame = {
    path: string;
    entries: AsyncIterator<[string, NarNode]> | Iterator<[string, NarNode]>;
    previous?: Uint8Array;
  };
  const stack: Frame[] = [];
  let pending: { node: NarNode; path: string } | undefined = { node: root, path: "" };
  const out: Uint8Array[] = [];
  const emit = (...tokens: Uint8Array[]) => {
    for (const t of tokens) {
      const full = g.add(t);
      if (full) out.push(full);
    }
  };
  const emitU64 = (n: number) => {
    const full = g.u64(n);
    if (full) out.push(full);
  };

  emit(TOKENS["nix-archive-1"]);
  while (pending || stack.length > 0) {
    if (!pending) {
      const frame = stack[stack.length - 1]!;
      const step = frame.entries.next();
      const next = step instanceof Promise ? await step : step;
      if (next.done) {
        stack.pop();
        emit(TOKENS[")"]); // closes the directory node
        if (stack.length > 0) emit(TOKENS[")"]); // closes the entry that held it
      } else {
        const [name, child] = next.value;
        const bytes = nameBytes(name);
        const childPath = frame.path === "" ? name : `${frame.path}/${name}`;
        const bad = badEntryName(bytes);
        if (bad) throw new NarError(-1, childPath, bad);
        if (frame.previous && compareBytes(frame.previous, bytes) >= 0) {
          throw new NarError(-1, childPath, "directory entries are not in ascending order");
        }
        frame.previous = bytes;
        emit(TOKENS.entry, TOKENS["("], TOKENS.name);
        emitU64(bytes.length);
        emit(bytes);
        emit(paddingFor(bytes.length), TOKENS.node);
        pending = { node: child, path: childPath };
      }
    } else {
      const { node: n, path } = pending;
      pending = undefined;
      const inEntry = stack.length > 0;
      emit(TOKENS["("], TOKENS.type);
      if (n.type === "directory") {
        emit(TOKENS.directory);
        const it = n.entries();
        stack.push({
          path,
          entries: Symbol.asyncIterator in it
            ? it[Symbol.asyncIterator]()
            : (it as Iterable<[string, NarNode]>)[Symbol.iterator](),
        });
      } else {
        if (n.type === "regular") {
          if (!Number.isSafeInteger(n.size) || n.size < 0) {
            throw new NarError(-1, path, `the file size ${n.size} is not valid`);
          }
          emit(TOKENS.regular);
          if (n.executable) emit(TOKENS.executable, TOKENS[""]);
          emit(TOKENS.contents);
          emitU64(n.size);
          let seen = 0;
          const contents = n.contents();
          const take = (chunk: Uint8Array) => {
            seen += chunk.length;
            if (seen > n.size) {
              throw new NarError(-1, path, `the file gave more than its size of ${n.size} bytes`);
            }
            if (chunk.length <= SMALL) emit(chunk);
            else {
              const head = g.take();
              if (head) out.push(head);
              out.push(chunk);
            }
          };
          if (Symbol.asyncIterator in contents) {
            for await (const chunk of contents) {
              take(chunk);
              yield* out;
              out.length = 0;
            }
          } else {
            for (const chunk of contents) take(chunk);
          }
          if (seen !== n.size) {
            throw new NarError(-1, path, `the file gave ${seen} bytes, not its size of ${n.size}`);
          }
          emit(paddingFor(n.size));
        } else {
          const target = nameBytes(n.target);
          if (target.length === 0) throw new NarError(-1, path, "a symlink target is empty");
          if (target.length > MAX_TARGET_LENGTH) {
            throw new NarError(
              -1,
              path,
              `a symlink target is longer than ${MAX_TARGET_LENGTH} bytes`,
            );
          }
          emit(TOKENS.symlink, TOKENS.target);
          emitU64(target.length);
          emit(target);
          emit(paddingFor(target.length));
        }
        emit(TOKENS[")"]); // closes the node
        if (inEntry) emit(TOKENS[")"]); // closes its entry
      }
    }
    if (out.length > 0) {
      yield* out;
      out.length = 0;
    }
  }
  const rest = g.take();
  if (rest) yield rest;
}
