/**
 * The worker side of {@linkcode ParallelHashSink}: hashes the batches it is
 * sent and gives each buffer back for reuse.
 *
 * Messages in: `{ algorithm }` once, then `{ batch: ArrayBuffer, length }`,
 * then `{ done: true }`. Messages out: `{ free: ArrayBuffer }` after each
 * batch, `{ digest: Uint8Array }` at the end.
 *
 * @module
 */
import { createHash, type Hash as NodeHash } from "node:crypto";

let hash: NodeHash | undefined;

type In = { algorithm: string } | { batch: ArrayBuffer; length: number } | { done: true };

// deno-lint-ignore no-explicit-any
const scope = self as any;
scope.onmessage = (e: MessageEvent<In>) => {
  const m = e.data;
  if ("algorithm" in m) hash = createHash(m.algorithm);
  else if ("batch" in m) {
    hash!.update(new Uint8Array(m.batch, 0, m.length));
    scope.postMessage({ free: m.batch }, [m.batch]);
  } else {
    scope.postMessage({ digest: new Uint8Array(hash!.digest()) });
    scope.close();
  }
};
