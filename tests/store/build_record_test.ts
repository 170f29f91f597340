import assert from "node:assert/strict";
import { join } from "node:path";
import { existsSync } from "node:fs";
import {
  BuildRecord,
  buildRecordDir,
  DURATION_BUCKETS,
  INTERRUPTED,
  RECENT_LIMIT,
} from "../../lib/store/build_record.ts";
import { tempDir } from "../_helpers/nix.ts";

const CHILD = new URL("./_record_child.ts", import.meta.url).pathname;
const DRV = "/nix/store/0a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-hello.drv";

Deno.test("BuildRecord: a running build shows while it runs, then as a recent build with its status", () => {
  using t = tempDir();
  const record = new BuildRecord(buildRecordDir(t.path));
  const b = record.begin(DRV, ["/nix/store/0a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-hello"]);
  b.log(new TextEncoder().encode("line 1\n\x1b[31mline 2\x1b[0m\npartial"));
  let s = record.read();
  assert.equal(s.running.length, 1);
  assert.equal(s.running[0]!.drvPath, DRV);
  assert.equal(s.running[0]!.session.pid, Deno.pid);
  assert.equal(s.running[0]!.state, "running");
  assert.deepEqual(b.entry.logTail, ["line 1", "line 2", "partial"]);
  b.setState("waiting");
  s = record.read();
  assert.deepEqual([s.running.length, s.waiting.length], [0, 1]);
  b.end("PermanentFailure", "\x1b[31;1merror:\x1b[0m builder failed");
  s = record.read();
  assert.deepEqual([s.running.length, s.waiting.length], [0, 0]);
  assert.equal(s.recent[0]!.status, "PermanentFailure");
  assert.equal(s.recent[0]!.errorMsg, "error: builder failed");
  assert.deepEqual(s.counters.builds, { PermanentFailure: 1 });
  assert.equal(s.counters.durationBuckets.length, DURATION_BUCKETS.length + 1);
  assert.equal(s.counters.durationBuckets.reduce((a, n) => a + n, 0), 1);
  // nothing left over: one file per running build, gone when it ended
  assert.deepEqual([...Deno.readDirSync(join(buildRecordDir(t.path), "running"))], []);
});

Deno.test("BuildRecord: keeps the last builds only, and counts them all", () => {
  using t = tempDir();
  const record = new BuildRecord(buildRecordDir(t.path));
  for (let i = 0; i < RECENT_LIMIT + 5; i++) record.begin(DRV, []).end("Built");
  const s = record.read();
  assert.equal(s.recent.length, RECENT_LIMIT);
  assert.equal(s.counters.builds.Built, RECENT_LIMIT + 5);
});

Deno.test("BuildRecord: a build whose process was killed (SIGKILL) is never shown running: Interrupted, folded in once", async () => {
  using t = tempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, t.path, DRV],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  assert.equal(new TextDecoder().decode(value), "begun\n");
  const record = new BuildRecord(buildRecordDir(t.path));
  let s = record.read();
  assert.equal(s.running.length, 1);
  assert.equal(s.running[0]!.session.kind, "serve");
  assert.deepEqual(s.running[0]!.logTail, ["half a build"]);
  assert.equal(s.sessions.length, 1);
  assert.deepEqual([s.counters.bytesReceived, s.counters.bytesSent], [100, 7]);
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel();

  s = record.read(); // a reader writes nothing, and shows it ended
  assert.deepEqual([s.running.length, s.sessions.length], [0, 0]);
  assert.equal(s.recent[0]!.status, INTERRUPTED);
  assert.equal(s.recent[0]!.drvPath, DRV);
  assert.deepEqual(s.counters.builds, { [INTERRUPTED]: 1 });
  assert.deepEqual([s.counters.bytesReceived, s.counters.bytesSent], [100, 7]);
  assert.equal(
    [...Deno.readDirSync(join(buildRecordDir(t.path), "running"))].length,
    1,
    "read() left the dead build's file for a writer",
  );

  // what a writer killed between writing a temporary and renaming it leaves
  const leftover = join(buildRecordDir(t.path), `record.json.tmp-${child.pid}-0000`);
  Deno.writeTextFileSync(leftover, "{");

  record.begin(DRV, []).end("Built"); // the next writer folds it in
  s = record.read();
  assert.deepEqual(s.counters.builds, { [INTERRUPTED]: 1, Built: 1 });
  assert.deepEqual(s.recent.map((b) => b.status).sort(), ["Built", INTERRUPTED]);
  assert.deepEqual([s.counters.bytesReceived, s.counters.bytesSent, s.counters.sessions], [
    100,
    7,
    1,
  ]);
  assert.deepEqual([...Deno.readDirSync(join(buildRecordDir(t.path), "running"))], []);
  assert.deepEqual([...Deno.readDirSync(join(buildRecordDir(t.path), "sessions"))], []);
  assert.ok(!existsSync(leftover));
});

Deno.test("BuildRecord: a session's counts of its first half second are written when a build begins, later ones by a timer", async () => {
  using t = tempDir();
  const record = new BuildRecord(buildRecordDir(t.path));
  const session = record.openSession("serve");
  const shown = () => record.read().sessions[0]!.bytesReceived;
  session.received(10);
  assert.equal(shown(), 0, "no rewrite (and no timer) in the session's first half second");
  record.begin(DRV, []).end("Built");
  assert.equal(shown(), 10, "a build's start brings the session's file up to date");
  await new Promise((r) => setTimeout(r, 600));
  session.received(5);
  for (let waited = 0; shown() !== 15; waited += 50) {
    assert.ok(waited < 10_000, "the timer rewrote the session's file");
    await new Promise((r) => setTimeout(r, 50));
  }
  session.close();
  assert.deepEqual(record.read().sessions, []);
  assert.equal(record.read().counters.bytesReceived, 15);
});

Deno.test("BuildRecord: a session is counted once, from its file while it is open and in the record once it ends", () => {
  using t = tempDir();
  const record = new BuildRecord(buildRecordDir(t.path));
  const first = record.openSession("serve");
  assert.equal(record.read().counters.sessions, 1, "open: counted from its file");
  assert.ok(
    !existsSync(join(buildRecordDir(t.path), "record.json")),
    "opening a session writes only its own file",
  );
  first.close();
  assert.equal(record.read().counters.sessions, 1, "ended: counted in record.json, its file gone");
  const second = record.forSession("daemon", "local").openSession("daemon");
  assert.equal(record.read().counters.sessions, 2);
  second.close();
  assert.equal(record.read().counters.sessions, 2);
});
