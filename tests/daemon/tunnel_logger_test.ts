import assert from "node:assert/strict";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import {
  ActivityIds,
  BuildActivities,
  MAX_LOG_LINE,
  TunnelLogger,
} from "../../lib/daemon/tunnel_logger.ts";
import { readStderr, type StderrMessage } from "../../lib/worker_protocol/stderr.ts";
import { ResultType } from "../../lib/worker_protocol/protocol.ts";

async function messages(out: BufferSink, version: number): Promise<StderrMessage[]> {
  const r = new WireReader(ReadableStream.from([out.bytes()]));
  const all: StderrMessage[] = [];
  while (!(await r.atEnd())) all.push(await readStderr(r, version));
  return all;
}

Deno.test("BuildActivities sends log lines as they complete, across chunks, and cuts a line longer than MAX_LOG_LINE", async () => {
  const out = new BufferSink();
  const w = new WireWriter(out);
  const log = new TunnelLogger(w, 0x122, new ActivityIds(7n << 32n));
  const acts = new BuildActivities(log);
  acts.building("/nix/store/ffffffffffffffffffffffffffffffff-x.drv");
  const enc = new TextEncoder();
  acts.output(enc.encode("hel"));
  acts.output(enc.encode("lo\nwor"));
  acts.output(enc.encode("ld\n"));
  const big = new Uint8Array(MAX_LOG_LINE * 2 + 5).fill(0x61);
  for (let i = 0; i < big.length; i += 65536) acts.output(big.subarray(i, i + 65536));
  acts.output(enc.encode("\nlast without newline"));
  acts.finish(true);
  log.last();
  await w.flush();
  const lines = (await messages(out, 0x122)).flatMap((m) =>
    m.type === "result" && m.resultType === ResultType.BuildLogLine ? [m.fields[0] as string] : []
  );
  assert.deepEqual(lines.map((l) => l.length), [5, 5, MAX_LOG_LINE, MAX_LOG_LINE, 5, 20]);
  assert.equal(lines[0], "hello");
  assert.equal(lines[1], "world");
  assert.equal(lines[5], "last without newline");
});

Deno.test("TunnelLogger sends no activities before 1.20, only messages", async () => {
  const out = new BufferSink();
  const w = new WireWriter(out);
  const log = new TunnelLogger(w, 0x113, new ActivityIds(0n));
  const acts = new BuildActivities(log);
  acts.output(new TextEncoder().encode("a line\n"));
  acts.finish(true);
  log.last();
  await w.flush();
  assert.deepEqual(await messages(out, 0x113), [{ type: "next", text: "a line\n" }, {
    type: "last",
  }]);
});

Deno.test("BuildActivities wraps a build as nix-daemon 2.8 does (recorded order of activities)", async () => {
  const out = new BufferSink();
  const w = new WireWriter(out);
  const log = new TunnelLogger(w, 0x122, new ActivityIds(0n));
  const acts = new BuildActivities(log);
  acts.building("/nix/store/ffffffffffffffffffffffffffffffff-x.drv");
  acts.finish(false);
  log.last();
  await w.flush();
  const kinds = (await messages(out, 0x122)).map((m) =>
    m.type === "startActivity"
      ? `start ${m.id} ${m.activityType}`
      : m.type === "stopActivity"
      ? `stop ${m.id}`
      : m.type === "result"
      ? `result ${m.id} ${m.resultType} ${m.fields.join(",")}`
      : m.type
  );
  assert.deepEqual(kinds, [
    "start 0 102",
    "start 1 104",
    "start 2 103",
    "result 1 105 0,1,0,0",
    "result 2 105 0,0,0,0",
    "result 0 106 101,0",
    "result 0 106 100,0",
    "start 3 0",
    "stop 3",
    "start 4 105",
    "result 1 105 0,1,1,0",
    "result 2 105 0,0,0,0",
    "result 0 106 101,0",
    "result 0 106 100,0",
    "result 1 105 0,0,0,1",
    "result 2 105 0,0,0,0",
    "result 0 106 101,0",
    "result 0 106 100,0",
    "stop 4",
    "stop 2",
    "stop 1",
    "stop 0",
    "last",
  ]);
});
