/**
 * Host-wide build slots: lock files that any process can take, that a
 * killed process frees, and waits that end when a slot frees or the waiter
 * gives up, leaving nothing held.
 */
import assert from "node:assert/strict";
import { BuildSlots } from "../../lib/store/build_slots.ts";
import { tempDir } from "../_helpers/nix.ts";

const CHILD = new URL("./_slot_child.ts", import.meta.url).pathname;

/** A child process holding a slot of `dir`, once it says so. */
async function slotHolder(dir: string, count: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, dir, String(count)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let said = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (!said.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    said += value;
  }
  await reader.cancel();
  return { child, said: said.trim() };
}

Deno.test("BuildSlots: count slots are taken, the next waits (told once) and gets the first one freed", async () => {
  using t = tempDir();
  const slots = new BuildSlots(t.path, 2);
  const a = await slots.acquire();
  const b = await slots.acquire();
  assert.deepEqual([a.index, b.index], [0, 1]);
  assert.equal(slots.inUse(), 2);
  let told = 0;
  const waiting = slots.acquire({ onWait: () => told++ });
  let got: number | undefined;
  waiting.then((s) => got = s.index);
  // Let it go round a few times (ordering: still not taken, told once).
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 30));
  assert.equal(got, undefined);
  assert.equal(told, 1);
  b.release();
  const c = await waiting;
  assert.equal(c.index, 1);
  assert.equal(told, 1);
  a.release();
  c.release();
  assert.equal(slots.inUse(), 0);
});

Deno.test("BuildSlots: a cancelled wait rejects and holds nothing", async () => {
  using t = tempDir();
  const slots = new BuildSlots(t.path, 1);
  const held = await slots.acquire();
  const abort = new AbortController();
  const waiting = slots.acquire({ signal: abort.signal });
  abort.abort(new Error("client went away"));
  await assert.rejects(waiting, /client went away/);
  held.release();
  assert.equal(slots.inUse(), 0);
  const again = slots.tryAcquire();
  assert.equal(again?.index, 0);
  again!.release();
});

Deno.test("BuildSlots: a slot held by another process is taken when it exits, and one held by a process killed with SIGKILL is free again", async () => {
  using t = tempDir();
  const slots = new BuildSlots(t.path, 1);
  // another process holds the only slot: this one waits, then gets it when it exits
  const first = await slotHolder(t.path, 1);
  assert.equal(first.said, "held 0");
  assert.equal(slots.tryAcquire(), undefined);
  assert.equal(slots.inUse(), 1);
  let told = 0;
  const waiting = slots.acquire({ onWait: () => told++ });
  await first.child.stdin.close();
  assert.equal((await first.child.status).code, 0);
  const got = await waiting;
  assert.equal(told, 1);
  assert.equal(got.index, 0);
  got.release();

  // killed with SIGKILL while holding it: the slot is free again
  const killed = await slotHolder(t.path, 1);
  assert.equal(killed.said, "held 0");
  assert.equal(slots.tryAcquire(), undefined);
  killed.child.kill("SIGKILL");
  assert.equal((await killed.child.status).signal, "SIGKILL");
  await killed.child.stdin.close().catch(() => {});
  const after = slots.tryAcquire();
  assert.equal(after?.index, 0);
  after!.release();
  assert.equal(slots.inUse(), 0);
});

Deno.test("BuildSlots: processes with different max-jobs share the slots they have in common", async () => {
  using t = tempDir();
  const holder = await slotHolder(t.path, 2); // takes slot-0
  assert.equal(holder.said, "held 0");
  const one = new BuildSlots(t.path, 1);
  assert.equal(one.tryAcquire(), undefined);
  const two = new BuildSlots(t.path, 2).tryAcquire();
  assert.equal(two?.index, 1);
  two!.release();
  await holder.child.stdin.close();
  await holder.child.status;
});
