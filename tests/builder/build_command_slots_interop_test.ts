/**
 * `buildhost build` on this machine shares the store's build slots with
 * every other process building in it: with the only slot held elsewhere,
 * it says it waits and builds once the slot is freed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN } from "../_helpers/buildhost.ts";
import { follow, Growing, guard } from "../_helpers/fifo_events.ts";
import { tempDir } from "../_helpers/nix.ts";
import { clientWith, PRELUDE } from "../remote/_hosts.ts";
import { BuildSlots, buildSlotsDir } from "../../lib/store/build_slots.ts";

const WAITING = `waiting for a build slot on ${Deno.hostname()}`;

Deno.test("buildhost build --max-jobs 1 waits, saying so, while another process holds the store's slot", async () => {
  using t = tempDir();
  const { client, drvs } = await clientWith(
    t.path,
    `let ${PRELUDE}\nin { one = mk "local-slot" "echo built > $out" {}; }`,
    ["one"],
  );
  const slots = new BuildSlots(buildSlotsDir(join(client, "nix/var/nix")), 1);
  const held = slots.tryAcquire()!;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "build",
      "--store",
      client,
      "--max-jobs",
      "1",
      "--sandbox-paths",
      "/bin /lib /lib64 /usr",
      drvs.one!,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = new Growing(), err = new Growing();
  const done = Promise.all([follow(child.stdout, out), follow(child.stderr, err)]);
  try {
    await guard(
      Promise.race([err.until((s) => s.includes(WAITING)), child.status]),
      "the waiting message",
    );
    assert.ok(err.text.includes(WAITING), err.text);
    assert.equal(out.text, ""); // nothing built yet
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  } finally {
    held.release();
  }
  const status = await child.status;
  await done;
  assert.equal(status.code, 0, err.text);
  assert.equal(err.text.split(WAITING).length - 1, 1, err.text);
  assert.equal(Deno.readTextFileSync(join(client, out.text.trim())), "built\n");
});
