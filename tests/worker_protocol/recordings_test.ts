/**
 * The worker-protocol codecs against sessions recorded between Nix 2.8 and
 * nix-daemon 2.8 (`testdata/daemon/`, made by
 * `scripts/record-daemon-sessions.sh`): every request, stderr message and
 * reply decodes, and encodes back to the same bytes.
 */
import assert from "node:assert/strict";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { writeRequest } from "../../lib/worker_protocol/requests.ts";
import { writeStderr } from "../../lib/worker_protocol/stderr.ts";
import {
  writeMissingReply,
  writePathInfoReply,
  writePathSet,
} from "../../lib/worker_protocol/replies.ts";
import {
  writeKeyedBuildResults,
  writeWorkerBuildResult,
} from "../../lib/worker_protocol/build_result.ts";
import { decodeSession, type Reply } from "./_session.ts";

const DATA = new URL("../../testdata/daemon/", import.meta.url).pathname;

async function encode(write: (w: WireWriter) => void): Promise<Uint8Array> {
  const out = new BufferSink();
  const w = new WireWriter(out);
  write(w);
  await w.flush();
  return out.bytes();
}

function writeReply(w: WireWriter, reply: Reply, version: number): void {
  switch (reply.kind) {
    case "paths":
      return writePathSet(w, reply.paths, "reply");
    case "pathInfo":
      return writePathInfoReply(w, reply.info, version);
    case "missing":
      return writeMissingReply(w, reply.missing);
    case "buildResult":
      return writeWorkerBuildResult(w, reply.result, version);
    case "keyedResults":
      return writeKeyedBuildResults(w, reply.results, version);
    case "u64":
      w.writeU64(reply.value);
      return;
    case "nar":
    case "none":
      return;
  }
}

/** Every recorded session: scenario/N. */
export function recordedSessions(): string[] {
  const out: string[] = [];
  for (const d of [...Deno.readDirSync(DATA)].filter((e) => e.isDirectory)) {
    for (const f of Deno.readDirSync(DATA + d.name)) {
      if (f.name.endsWith(".in")) out.push(`${d.name}/${f.name.slice(0, -3)}`);
    }
  }
  return out.sort();
}

Deno.test("worker codecs decode every recorded session and encode each piece back to its bytes", async () => {
  const sessions = recordedSessions();
  assert.ok(sessions.length >= 8, `only ${sessions.length} recorded sessions`);
  const opsSeen = new Set<string>();
  for (const name of sessions) {
    const s = await decodeSession(DATA + name);
    const hand121 = name.startsWith("v1.21/");
    assert.equal(s.clientVersion, hand121 ? 0x115 : 0x122, name);
    assert.equal(s.nixVersion, hand121 ? undefined : "2.8.0", name);
    const v = Math.min(s.clientVersion, s.serverVersion);
    for (const [i, op] of s.ops.entries()) {
      const where = `${name} op ${i} (${op.request.value.op})`;
      opsSeen.add(op.request.value.op);
      assert.deepEqual(
        await encode((w) => writeRequest(w, op.request.value, v)),
        op.request.bytes,
        where,
      );
      for (const m of [...op.stderr]) {
        assert.deepEqual(await encode((w) => writeStderr(w, m.value, v)), m.bytes, where);
      }
      if (op.reply && op.reply.value.kind !== "nar") {
        assert.deepEqual(
          await encode((w) => writeReply(w, op.reply!.value, v)),
          op.reply.bytes,
          where,
        );
      }
    }
  }
  assert.deepEqual([...opsSeen].sort(), [
    "AddMultipleToStore",
    "AddTempRoot",
    "AddToStoreNar",
    "BuildDerivation",
    "BuildPathsWithResults",
    "IsValidPath",
    "NarFromPath",
    "QueryDeriver",
    "QueryMissing",
    "QueryPathInfo",
    "QuerySubstitutablePaths",
    "QueryValidPaths",
  ]);
});
