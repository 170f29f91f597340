import assert from "node:assert/strict";
import fc from "fast-check";
import { Hash } from "../../lib/hash/hash.ts";
import {
  readPathInfo,
  readPathInfos,
  type ServePathInfo,
  writePathInfo,
  writePathInfos,
} from "../../lib/serve_protocol/path_infos.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import {
  arbPath,
  arbPathSet,
  arbSafe,
  arbSha256,
  arbTextSet,
  decode,
  encode,
  MINORS,
  reader,
  rejectsTyped,
  sp,
  throwsTyped,
  v,
  wire,
} from "./_codec.ts";

const NAR_HASH = Hash.of("sha256", "nar");
const INFO: ServePathInfo = {
  path: sp("top"),
  deriver: sp("top.drv"),
  references: [sp("dep"), sp("top")],
  downloadSize: 136,
  narSize: 136,
  narHash: NAR_HASH,
  ca: "text:sha256:0bqpwq41z90pvpjkhq6vzrnddz65xapldqgyq73y14h0lw5mv8lk",
  sigs: ["cache-1:sig", "cache-2:sig"],
};

/** Hand-built: INFO then the closing "" at minor `m`. */
function golden(m: number): Uint8Array {
  const items: (number | string)[] = [INFO.path, sp("top.drv"), 2, sp("dep"), sp("top"), 136, 136];
  if (m >= 4) {
    items.push(NAR_HASH.toString("base32", true), INFO.ca!, 2, "cache-1:sig", "cache-2:sig");
  }
  items.push("");
  return wire(...items);
}

function project(info: ServePathInfo, m: number): ServePathInfo {
  const p: ServePathInfo = {
    path: info.path,
    references: info.references,
    downloadSize: info.downloadSize,
    narSize: info.narSize,
  };
  if (info.deriver !== undefined) p.deriver = info.deriver;
  if (m >= 4) {
    if (info.narHash !== undefined) p.narHash = info.narHash;
    if (info.ca !== undefined) p.ca = info.ca;
    p.sigs = info.sigs ?? [];
  }
  return p;
}

Deno.test("writePathInfos() and readPathInfos() match hand-built bytes at every minor", async () => {
  for (const m of MINORS) {
    const bytes = golden(m);
    assert.deepEqual(await encode((w) => writePathInfos(w, [INFO], v(m))), bytes, `2.${m}`);
    assert.deepStrictEqual(await decode(bytes, (r) => readPathInfos(r, v(m))), [project(INFO, m)]);
  }
  const three = await decode(golden(3), (r) => readPathInfos(r, v(3)));
  assert.ok(!("narHash" in three[0]!) && !("ca" in three[0]!) && !("sigs" in three[0]!));
});

Deno.test("readPathInfos() reads an empty reply; deriver, narHash and ca may be empty", async () => {
  assert.deepEqual(await decode(wire(""), (r) => readPathInfos(r, v(7))), []);
  const bytes = wire("", 0, 8, 8, "", "", 0);
  const info = await decode(bytes, (r) => readPathInfo(r, sp("x"), v(7)));
  assert.deepStrictEqual(info, {
    path: sp("x"),
    references: [],
    downloadSize: 8,
    narSize: 8,
    sigs: [],
  });
  assert.deepEqual(await encode((w) => writePathInfo(w, info, v(7))), bytes);
});

Deno.test("readPathInfos() accepts any prefixed hash encoding, as Nix's parseAnyPrefixed", async () => {
  for (const text of [NAR_HASH.toString("base16", true), NAR_HASH.toString("sri")]) {
    const bytes = wire(sp("x"), "", 0, 8, 8, text, "", 0, "");
    const [info] = await decode(bytes, (r) => readPathInfos(r, v(4)));
    assert.ok(info!.narHash!.equals(NAR_HASH));
  }
});

Deno.test("readPathInfos() rejects malformed replies with typed errors naming the field", async () => {
  const one = (...items: (number | bigint | string)[]) =>
    readPathInfos(reader(wire(...items)), v(7));
  await rejectsTyped(
    one("/tmp/x", "", 0, 8, 8, "", "", 0, ""),
    /infos\[0\]\.path.*not a store path/,
    0,
  );
  await rejectsTyped(one(sp("x"), "bad", 0, 8, 8, "", "", 0, ""), /infos\[0\]\.deriver/);
  await rejectsTyped(one(sp("x"), "", 1, "bad", 8, 8, "", "", 0, ""), /references\[0\]/);
  await rejectsTyped(one(sp("x"), "", 0, 8, 8, "sha256:xyz", "", 0, ""), /infos\[0\]\.narHash/);
  await rejectsTyped(
    one(sp("x"), "", 0, 8, 8, NAR_HASH.toString("base32"), "", 0, ""),
    /no algorithm/,
  );
  await rejectsTyped(
    one(sp("x"), "", 0, 2 ** 53, 8, "", "", 0, ""),
    /downloadSize.*above the limit/,
  );
  await rejectsTyped(one(sp("x"), "", 1n << 40n), /references count.*above the limit/);
});

Deno.test("readPathInfos() gives a typed error for every truncation", async () => {
  const bytes = golden(7);
  for (let n = 0; n < bytes.length; n++) {
    await rejectsTyped(readPathInfos(reader(bytes.subarray(0, n)), v(7)), /ended/);
  }
});

Deno.test("writePathInfos() refuses values without a wire form", () => {
  const w = () => new WireWriter(new BufferSink());
  throwsTyped(() => writePathInfos(w(), [{ ...INFO, path: "x" }], v(7)), /infos\[0\]\.path/);
  throwsTyped(() => writePathInfos(w(), [{ ...INFO, narSize: -1 }], v(7)), /narSize/);
});

Deno.test("readPathInfos(writePathInfos(x)) is x at every minor (property)", async () => {
  const arbInfo = fc.record({
    path: arbPath,
    deriver: arbPath,
    references: arbPathSet,
    downloadSize: arbSafe,
    narSize: arbSafe,
    narHash: arbSha256,
    ca: fc.string({ minLength: 1, maxLength: 30 }),
    sigs: arbTextSet,
  }, { requiredKeys: ["path", "references", "downloadSize", "narSize"], noNullPrototype: true });
  await fc.assert(
    fc.asyncProperty(
      fc.array(arbInfo, { maxLength: 3 }),
      fc.constantFrom(...MINORS),
      async (infos, m) => {
        const bytes = await encode((w) => writePathInfos(w, infos, v(m)));
        assert.deepStrictEqual(
          await decode(bytes, (r) => readPathInfos(r, v(m))),
          infos.map((i) => project(i, m)),
        );
      },
    ),
    { numRuns: 100 },
  );
});
