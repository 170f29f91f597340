/**
 * Hashing on another thread, so that producing the bytes (walking a tree,
 * reading files, writing a NAR) and hashing them run at the same time.
 *
 * Bytes are copied into batches that are transferred to a worker, or
 * produced straight into a batch ({@linkcode ParallelHashSink.buffer},
 * {@linkcode ParallelHashSink.adopt}); a few batch buffers circulate, so
 * memory stays bounded and a fast producer waits for the hasher.
 *
 * @module
 */
import { Hash, type HashAlgorithm } from "./hash.ts";

const BATCH = 4 << 20;
const BUFFERS = 3;

/**
 * A byte sink that hashes in a worker thread. Chunks may be reused by the
 * caller as soon as `write` returns (they are copied).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "./hash.ts";
 * import { ParallelHashSink } from "./parallel_hash_sink.ts";
 * const sink = new ParallelHashSink("sha256");
 * await sink.write(new TextEncoder().encode("hello"));
 * assert.ok((await sink.digest()).equals(Hash.of("sha256", "hello")));
 * ```
 */
export class ParallelHashSink {
  #worker: Worker;
  #free: ArrayBuffer[] = [];
  #waiting: ((b: ArrayBuffer) => void) | undefined;
  #current: Uint8Array | undefined;
  #len = 0;
  #digest: Promise<Uint8Array>;
  #failed: Error | undefined;
  /** Bytes written so far. */
  size = 0;

  /** @param algorithm The hash algorithm. */
  constructor(readonly algorithm: HashAlgorithm) {
    this.#worker = new Worker(new URL("./hash_worker.ts", import.meta.url), { type: "module" });
    for (let i = 0; i < BUFFERS; i++) this.#free.push(new ArrayBuffer(BATCH));
    let resolveDigest: (d: Uint8Array) => void;
    let rejectDigest: (e: Error) => void;
    this.#digest = new Promise((res, rej) => {
      resolveDigest = res;
      rejectDigest = rej;
    });
    this.#worker.onmessage = (e: MessageEvent<{ free?: ArrayBuffer; digest?: Uint8Array }>) => {
      if (e.data.free) {
        const w = this.#waiting;
        this.#waiting = undefined;
        if (w) w(e.data.free);
        else this.#free.push(e.data.free);
      } else if (e.data.digest) resolveDigest(e.data.digest);
    };
    this.#worker.onerror = (e) => {
      e.preventDefault();
      this.#failed = new Error(`Cannot hash: the hashing worker failed: ${e.message}`);
      rejectDigest(this.#failed);
      this.#waiting?.(new ArrayBuffer(0));
    };
    this.#worker.postMessage({ algorithm });
  }

  async #buffer(): Promise<Uint8Array> {
    const b = this.#free.pop() ?? await new Promise<ArrayBuffer>((res) => (this.#waiting = res));
    if (this.#failed) throw this.#failed;
    return new Uint8Array(b);
  }

  #send(): void {
    if (!this.#current || this.#len === 0) return;
    const buf = this.#current.buffer as ArrayBuffer;
    this.#worker.postMessage({ batch: buf, length: this.#len }, [buf]);
    this.#current = undefined;
    this.#len = 0;
  }

  /** Hash bytes (copied; the caller may reuse `chunk` afterwards). */
  async write(chunk: Uint8Array): Promise<void> {
    this.size += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      this.#current ??= await this.#buffer();
      const n = Math.min(chunk.length - off, BATCH - this.#len);
      this.#current.set(chunk.subarray(off, off + n), this.#len);
      this.#len += n;
      off += n;
      if (this.#len === BATCH) this.#send();
    }
  }

  /**
   * A free batch buffer (4 MiB) to fill and hand to {@linkcode adopt}: bytes
   * produced straight into it are hashed without being copied.
   */
  async buffer(): Promise<Uint8Array> {
    return await this.#buffer();
  }

  /**
   * Hash the start of a buffer from {@linkcode buffer}, which is handed over:
   * the caller must not touch it again.
   *
   * @param chunk The filled part of the buffer, from its offset 0.
   * @throws {RangeError} When `chunk` does not start its buffer.
   */
  adopt(chunk: Uint8Array): void {
    if (chunk.byteOffset !== 0) throw new RangeError("an adopted chunk must start its buffer");
    this.#send();
    this.size += chunk.length;
    const buf = chunk.buffer as ArrayBuffer;
    this.#worker.postMessage({ batch: buf, length: chunk.length }, [buf]);
  }

  /** Finish and return the hash (once). */
  async digest(): Promise<Hash> {
    this.#send();
    this.#worker.postMessage({ done: true });
    return new Hash(this.algorithm, await this.#digest);
  }
}
