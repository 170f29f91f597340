import assert from "node:assert/strict";
import fc from "fast-check";
import { Hash } from "../../lib/hash/hash.ts";
import {
  type AddToStoreNarHeader,
  readAddToStoreNarHeader,
  writeAddToStoreNarHeader,
} from "../../lib/serve_protocol/add_to_store_nar.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import {
  arbPath,
  arbPathSet,
  arbSafe,
  arbSha256,
  arbTextSet,
  decode,
  encode,
  reader,
  rejectsTyped,
  sp,
  throwsTyped,
  wire,
} from "./_codec.ts";

const HASH = Hash.of("sha256", "nar");
const HEADER: AddToStoreNarHeader = {
  path: sp("dep"),
  deriver: sp("dep.drv"),
  narHash: HASH,
  references: [sp("a"), sp("b")],
  registrationTime: 1795561455,
  narSize: 136,
  ultimate: false,
  sigs: ["k:s"],
  ca: "fixed:r:sha256:1h5iyxdskylaqc8g15m4cmj6dcvdzhvyxgcvfmn03bxkzvkmhiwl",
};
const GOLDEN = wire(
  sp("dep"),
  sp("dep.drv"),
  HASH.toString("base16"),
  2,
  sp("a"),
  sp("b"),
  1795561455,
  136,
  0,
  1,
  "k:s",
  HEADER.ca!,
);

Deno.test("writeAddToStoreNarHeader() and readAddToStoreNarHeader() match hand-built bytes", async () => {
  assert.deepEqual(await encode((w) => writeAddToStoreNarHeader(w, HEADER)), GOLDEN);
  assert.deepStrictEqual(await decode(GOLDEN, (r) => readAddToStoreNarHeader(r)), HEADER);
});

Deno.test("readAddToStoreNarHeader() takes the hash in any encoding, as Nix's parseAny", async () => {
  for (
    const text of [HASH.toString("base32"), HASH.toString("base16", true), HASH.toString("sri")]
  ) {
    const bytes = wire(sp("x"), "", text, 0, 1, 8, 0, 0, "");
    const h = await decode(bytes, (r) => readAddToStoreNarHeader(r));
    assert.ok(h.narHash.equals(HASH));
    assert.equal(h.deriver, undefined);
    assert.equal(h.ca, undefined);
  }
});

Deno.test("readAddToStoreNarHeader() rejects malformed headers with typed errors", async () => {
  const read = (...items: (number | bigint | string)[]) =>
    readAddToStoreNarHeader(reader(wire(...items)));
  const hex = HASH.toString("base16");
  await rejectsTyped(
    read("x", "", hex, 0, 1, 8, 0, 0, ""),
    /AddToStoreNar request at byte 0, field "path"/,
  );
  await rejectsTyped(read(sp("x"), "", "md5:00", 0, 1, 8, 0, 0, ""), /field "narHash"/, 64);
  await rejectsTyped(
    read(sp("x"), "", Hash.of("sha1", "").toString("base16", true), 0),
    /sha1, expected sha256/,
  );
  await rejectsTyped(read(sp("x"), "", hex, 0, 1, 0, 0, 0, ""), /field "narSize": it is 0/);
  await rejectsTyped(
    read(sp("x"), "", hex, 0, 1, 8, 2, 0, ""),
    /field "ultimate": 2 is not a bool/,
  );
  await rejectsTyped(read(sp("x"), "", hex, 0, 2n ** 63n), /registrationTime.*above the limit/);
  await rejectsTyped(read(sp("x"), "", hex, 0, 1, 8, 0, 1n << 50n), /sigs count.*above the limit/);
  for (let n = 0; n < GOLDEN.length; n++) {
    await rejectsTyped(readAddToStoreNarHeader(reader(GOLDEN.subarray(0, n))), /ended/);
  }
});

Deno.test("writeAddToStoreNarHeader() refuses a header without a wire form", () => {
  const w = () => new WireWriter(new BufferSink());
  throwsTyped(() => writeAddToStoreNarHeader(w(), { ...HEADER, narSize: 0 }), /narSize/);
  throwsTyped(
    () => writeAddToStoreNarHeader(w(), { ...HEADER, narHash: Hash.of("sha512", "") }),
    /not sha256/,
  );
  throwsTyped(
    () => writeAddToStoreNarHeader(w(), { ...HEADER, references: ["x"] }),
    /references\[0\]/,
  );
});

Deno.test("readAddToStoreNarHeader(writeAddToStoreNarHeader(x)) is x (property)", async () => {
  const arb = fc.record({
    path: arbPath,
    deriver: arbPath,
    narHash: arbSha256,
    references: arbPathSet,
    registrationTime: arbSafe,
    narSize: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    ultimate: fc.boolean(),
    sigs: arbTextSet,
    ca: fc.string({ minLength: 1, maxLength: 30 }),
  }, {
    requiredKeys: [
      "path",
      "narHash",
      "references",
      "registrationTime",
      "narSize",
      "ultimate",
      "sigs",
    ],
    noNullPrototype: true,
  });
  await fc.assert(
    fc.asyncProperty(arb, async (h) => {
      const bytes = await encode((w) => writeAddToStoreNarHeader(w, h));
      assert.deepStrictEqual(await decode(bytes, (r) => readAddToStoreNarHeader(r)), h);
    }),
    { numRuns: 100 },
  );
});
