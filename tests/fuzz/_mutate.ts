/**
 * Mutation of real inputs (recorded sessions, NARs from `nix-store --dump`,
 * `.drv` files): a fast-check arbitrary that picks a seed input and applies
 * a few edits. The edits know the wire format: besides flipping, inserting,
 * deleting and truncating bytes, they overwrite aligned u64s (lengths,
 * counts, tags) with values at the edges (0, 1, limits and limits + 1, 2^32,
 * 2^53, 2^63, 2^64 - 1) and splice aligned slices from other inputs. Edits
 * are plain integers, so fast-check shrinks a failure to the fewest and
 * smallest edits.
 *
 * @module
 */
import fc from "fast-check";

/** u64 values at the edges of what the parsers check. */
const EDGES: bigint[] = [
  0n,
  1n,
  2n,
  3n,
  7n,
  8n,
  9n,
  31n,
  32n,
  33n,
  255n,
  256n,
  4095n,
  4096n,
  4097n,
  65536n,
  65537n,
  1n << 20n,
  (1n << 20n) + 1n,
  (1n << 22n) + 1n,
  64n << 20n,
  (64n << 20n) + 1n,
  0x7fffffffn,
  0xffffffffn,
  0x100000000n,
  (1n << 53n) - 1n,
  1n << 53n,
  1n << 62n,
  1n << 63n,
  (1n << 64n) - 1n,
  0x390c9debn, // serve magic 1
  0x5452eecbn, // serve magic 2
  0x4558494en, // export magic
  0x1ffn,
  0x200n,
  0x206n,
  0x207n,
  0x208n,
  0x2ffn,
  0x300n,
];

/** Byte strings worth inserting: tokens of the formats under test. */
const SNIPPETS: Uint8Array[] = [
  '"',
  "\\",
  "\\x",
  ",",
  "(",
  ")",
  "[",
  "]",
  "Derive(",
  "/nix/store/",
  "-",
  ".drv",
  "!",
  "r:",
  "sha256",
  "\0",
  "\xff",
  ";",
  "\n",
  "#",
  " ",
  "ssh://",
  "@",
  "?",
  "&",
  "=",
  "%",
  "%zz",
  "remote-program=",
  "ssh-key=",
].map((s) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff));

/** One edit; positions and lengths are reduced modulo the input's size. */
export type Edit =
  | { op: "flip"; at: number; mask: number }
  | { op: "set"; at: number; value: number }
  | { op: "u64"; at: number; edge: number; delta: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "snippet"; at: number; which: number }
  | { op: "delete"; at: number; length: number }
  | { op: "truncate"; at: number }
  | { op: "duplicate"; at: number; length: number; to: number }
  | { op: "splice"; at: number; from: number; start: number; length: number };

const pos = fc.nat();

/** An edit, any kind. */
export const arbEdit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: pos, mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant("set" as const), at: pos, value: fc.integer({ min: 0, max: 255 }) }),
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("u64" as const),
      at: pos,
      edge: fc.nat(EDGES.length - 1),
      delta: fc.integer({ min: -2, max: 2 }),
    }),
  },
  fc.record({
    op: fc.constant("insert" as const),
    at: pos,
    bytes: fc.uint8Array({ maxLength: 16 }),
  }),
  fc.record({ op: fc.constant("snippet" as const), at: pos, which: fc.nat(SNIPPETS.length - 1) }),
  fc.record({
    op: fc.constant("delete" as const),
    at: pos,
    length: fc.integer({ min: 1, max: 64 }),
  }),
  fc.record({ op: fc.constant("truncate" as const), at: pos }),
  fc.record({
    op: fc.constant("duplicate" as const),
    at: pos,
    length: fc.integer({ min: 1, max: 256 }),
    to: pos,
  }),
  fc.record({
    op: fc.constant("splice" as const),
    at: pos,
    from: fc.nat(),
    start: pos,
    length: fc.integer({ min: 1, max: 512 }),
  }),
);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Apply one edit.
 *
 * @param b The input.
 * @param e The edit.
 * @param corpus Other inputs, for splices.
 * @param aligned Whether positions of u64s and splices are multiples of 8 (wire formats).
 */
export function applyEdit(
  b: Uint8Array,
  e: Edit,
  corpus: Uint8Array[],
  aligned = true,
): Uint8Array {
  const n = b.length;
  const at = n === 0 ? 0 : e.at % (n + 1);
  const align = (x: number) => (aligned ? x - (x % 8) : x);
  switch (e.op) {
    case "flip":
    case "set": {
      if (n === 0) return b;
      const out = b.slice();
      const i = e.at % n;
      out[i] = e.op === "flip" ? out[i]! ^ e.mask : e.value;
      return out;
    }
    case "u64": {
      const v = BigInt.asUintN(64, EDGES[e.edge]! + BigInt(e.delta));
      const word = new Uint8Array(8);
      new DataView(word.buffer).setBigUint64(0, v, true);
      const i = align(at);
      if (i + 8 > n) return concat(b.subarray(0, i), word);
      const out = b.slice();
      out.set(word, i);
      return out;
    }
    case "insert":
      return concat(b.subarray(0, at), e.bytes, b.subarray(at));
    case "snippet":
      return concat(b.subarray(0, at), SNIPPETS[e.which]!, b.subarray(at));
    case "delete":
      return concat(b.subarray(0, at), b.subarray(at + e.length));
    case "truncate":
      return b.subarray(0, at);
    case "duplicate": {
      const i = align(at);
      const piece = b.subarray(i, i + e.length);
      const to = align(n === 0 ? 0 : e.to % (n + 1));
      return concat(b.subarray(0, to), piece, b.subarray(to));
    }
    case "splice": {
      const other = corpus.length === 0 ? b : corpus[e.from % corpus.length]!;
      const start = align(other.length === 0 ? 0 : e.start % other.length);
      const piece = other.subarray(start, start + e.length);
      const i = align(at);
      return concat(b.subarray(0, i), piece, b.subarray(i));
    }
  }
}

/**
 * Inputs made by mutating one of `corpus`: an index, then 0 to `maxEdits`
 * edits (0 keeps the real input, which must then parse).
 *
 * @param corpus The real inputs.
 * @param options maxEdits (default 4); aligned (default true).
 * @returns Pairs of the mutated bytes and whether any edit was applied.
 */
export function arbMutated(
  corpus: Uint8Array[],
  options: { maxEdits?: number; aligned?: boolean } = {},
): fc.Arbitrary<{ bytes: Uint8Array; seedIndex: number; edits: number }> {
  if (corpus.length === 0) throw new Error("arbMutated: empty corpus");
  return fc.tuple(
    fc.nat(corpus.length - 1),
    fc.array(arbEdit, { maxLength: options.maxEdits ?? 4 }),
  ).map(([i, edits]) => {
    let b = corpus[i]!;
    for (const e of edits) b = applyEdit(b, e, corpus, options.aligned ?? true);
    return { bytes: b, seedIndex: i, edits: edits.length };
  });
}

/** Chunk sizes to feed a stream with (short reads cross every boundary). */
export const arbChunking: fc.Arbitrary<number[]> = fc.oneof(
  fc.constant<number[]>([1 << 30]),
  fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 6 }),
);

/**
 * A web stream of `bytes` cut in chunks whose sizes cycle through `sizes`;
 * after the first 1024 chunks the rest comes in 64 KiB chunks (a large file
 * cut in single bytes would only be slow).
 */
export function streamOf(bytes: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = i < 1024 ? Math.max(1, sizes[i % sizes.length]!) : 65536;
    chunks.push(bytes.slice(at, at + n));
    at += n;
  }
  return ReadableStream.from(chunks);
}
