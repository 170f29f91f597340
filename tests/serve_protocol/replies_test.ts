import assert from "node:assert/strict";
import fc from "fast-check";
import {
  readBuildPathsReply,
  readImportedReply,
  readPathsReply,
  writeBuildPathsReply,
  writeImportedReply,
  writePathsReply,
} from "../../lib/serve_protocol/replies.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import {
  arbPathSet,
  arbText,
  arbU32,
  decode,
  encode,
  reader,
  rejectsTyped,
  sp,
  throwsTyped,
  wire,
} from "./_codec.ts";

Deno.test("writePathsReply() sorts and dedupes like Nix's StorePathSet; readPathsReply() reads it", async () => {
  const bytes = await encode((w) =>
    writePathsReply(w, [sp("b"), sp("a"), sp("b")], "QueryClosure")
  );
  assert.deepEqual(bytes, wire(2, sp("a"), sp("b")));
  assert.deepEqual(await decode(bytes, (r) => readPathsReply(r, "QueryClosure")), [
    sp("a"),
    sp("b"),
  ]);
  await rejectsTyped(
    readPathsReply(reader(wire(1, "/nix/store/bad")), "QueryValidPaths"),
    /QueryValidPaths reply at byte 8, field "paths\[0\]"/,
  );
  await rejectsTyped(readPathsReply(reader(wire(1n << 60n)), "QueryClosure"), /above the limit/);
});

Deno.test("readImportedReply() wants exactly 1", async () => {
  assert.deepEqual(await encode(writeImportedReply), wire(1));
  await decode(wire(1), (r) => readImportedReply(r, "ImportPaths"));
  await rejectsTyped(
    readImportedReply(reader(wire(0)), "AddToStoreNar"),
    /AddToStoreNar reply.*0 is not 1/,
  );
  await rejectsTyped(readImportedReply(reader(new Uint8Array(3)), "AddToStoreNar"), /ended/);
});

Deno.test("BuildPaths replies: 0 alone, or a status and Nix's message", async () => {
  assert.deepEqual(await encode((w) => writeBuildPathsReply(w, { status: 0 })), wire(0));
  const failed = { status: 1, errorMsg: "\x1b[31;1merror:\x1b[0m cannot build" };
  const bytes = wire(1, failed.errorMsg);
  assert.deepEqual(await encode((w) => writeBuildPathsReply(w, failed)), bytes);
  assert.deepEqual(await decode(bytes, readBuildPathsReply), failed);
  await rejectsTyped(readBuildPathsReply(reader(wire(1n << 32n))), /BuildPaths reply.*status/);
  throwsTyped(
    () => writeBuildPathsReply(new WireWriter(new BufferSink()), { status: -1 }),
    /status/,
  );
});

Deno.test("reply codecs round-trip (property)", async () => {
  await fc.assert(
    fc.asyncProperty(arbPathSet, arbU32, arbText, async (paths, status, errorMsg) => {
      const p = await encode((w) => writePathsReply(w, paths, "QueryValidPaths"));
      assert.deepEqual(await decode(p, (r) => readPathsReply(r, "QueryValidPaths")), paths);
      const reply = status === 0 ? { status } : { status, errorMsg };
      const b = await encode((w) => writeBuildPathsReply(w, reply));
      assert.deepEqual(await decode(b, readBuildPathsReply), reply);
    }),
    { numRuns: 100 },
  );
});
