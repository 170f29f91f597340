/**
 * Writing a NAR (see `tokens.ts` for the grammar) from a lazy tree of nodes.
 * Small tokens are gathered into one chunk; file contents pass through as the
 * chunks the node gives, so memory stays bounded whatever the file sizes.
 *
 * @module
 */
import { encodeU64, paddingFor } from "../wire/wire_writer.ts";
import { NarError } from "./nar_error.ts";
import { badEntryName, compareBytes, MAX_TARGET_LENGTH, nameBytes, TOKENS } from "./tokens.ts";

/** A node of a tree to be written as a NAR; children are produced lazily. */
export type NarNode =
  | {
    type: "regular";
    executable: boolean;
    /** The exact number of bytes `contents` gives. */
    size: number;
    /** The file's bytes; called once. */
    contents: () => AsyncIterable<Uint8Array>;
  }
  | { type: "symlink"; target: string }
  | {
    type: "directory";
    /** The entries, in strictly ascending byte order of their names; called once. */
    entries: () => AsyncIterable<[string, NarNode]>;
  };

const GATHER = 64 * 1024;

/** Gathers small token writes into chunks. */
class Gatherer {
  #buf = new Uint8Array(GATHER);
  #len = 0;
  /** Add bytes; returns a full chunk to emit when the buffer filled up. */
  add(bytes: Uint8Array): Uint8Array | undefined {
    let out: Uint8Array | undefined;
    if (this.#len + bytes.length > this.#buf.length) out = this.take();
    if (bytes.length > this.#buf.length) return out ?? bytes; // never happens for tokens
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
    return out;
  }
  /** Everything gathered so far, or undefined when empty. */
  take(): Uint8Array | undefined {
    if (this.#len === 0) return undefined;
    const out = this.#buf.slice(0, this.#len);
    this.#len = 0;
    return out;
  }
}

/**
 * Serialise a tree as a NAR.
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
  const g = new Gatherer();
  const emit = function* (...tokens: Uint8Array[]): Generator<Uint8Array> {
    for (const t of tokens) {
      const full = g.add(t);
      if (full) yield full;
    }
  };

  async function* node(n: NarNode, path: string): AsyncGenerator<Uint8Array> {
    yield* emit(TOKENS["("], TOKENS.type);
    switch (n.type) {
      case "regular": {
        if (!Number.isSafeInteger(n.size) || n.size < 0) {
          throw new NarError(-1, path, `the file size ${n.size} is not valid`);
        }
        yield* emit(TOKENS.regular);
        if (n.executable) yield* emit(TOKENS.executable, TOKENS[""]);
        yield* emit(TOKENS.contents, encodeU64(n.size));
        const head = g.take();
        if (head) yield head;
        let seen = 0;
        for await (const chunk of n.contents()) {
          seen += chunk.length;
          if (seen > n.size) {
            throw new NarError(-1, path, `the file gave more than its size of ${n.size} bytes`);
          }
          if (chunk.length > 0) yield chunk;
        }
        if (seen !== n.size) {
          throw new NarError(-1, path, `the file gave ${seen} bytes, not its size of ${n.size}`);
        }
        yield* emit(paddingFor(n.size));
        break;
      }
      case "symlink": {
        const target = nameBytes(n.target);
        if (target.length === 0) throw new NarError(-1, path, "a symlink target is empty");
        if (target.length > MAX_TARGET_LENGTH) {
          throw new NarError(
            -1,
            path,
            `a symlink target is longer than ${MAX_TARGET_LENGTH} bytes`,
          );
        }
        yield* emit(TOKENS.symlink, TOKENS.target, encodeU64(target.length), target);
        yield* emit(paddingFor(target.length));
        break;
      }
      case "directory": {
        yield* emit(TOKENS.directory);
        let previous: Uint8Array | undefined;
        for await (const [name, child] of n.entries()) {
          const bytes = nameBytes(name);
          const childPath = path === "" ? name : `${path}/${name}`;
          const bad = badEntryName(bytes);
          if (bad) throw new NarError(-1, childPath, bad);
          if (previous && compareBytes(previous, bytes) >= 0) {
            throw new NarError(-1, childPath, "directory entries are not in ascending order");
          }
          previous = bytes;
          yield* emit(TOKENS.entry, TOKENS["("], TOKENS.name, encodeU64(bytes.length), bytes);
          yield* emit(paddingFor(bytes.length), TOKENS.node);
          yield* node(child, childPath);
          yield* emit(TOKENS[")"]);
        }
        break;
      }
    }
    yield* emit(TOKENS[")"]);
  }

  yield* emit(TOKENS["nix-archive-1"]);
  yield* node(root, "");
  const rest = g.take();
  if (rest) yield rest;
}
