import assert from "node:assert/strict";
import { BuildStatus } from "../../lib/derivation/build_result.ts";
import { tempDir } from "../_helpers/nix.ts";

Deno.test("Builder streams a log line of any length in bounded memory, intact, its tail cut in pieces", async () => {
  // A child process builds twice: 1 MB without a newline, then 100 MB (a
  // 100 MB line once cost 224 MiB more), reporting its peak resident memory
  // (VmHWM from /proc) after each; its sink checks every byte.
  using t = tempDir();
  const count = 100_000_000;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./_log_child.ts", import.meta.url).pathname,
      t.path,
      String(count),
    ],
    stderr: "inherit",
  }).output();
  assert.ok(out.success);
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(r.big.received, count);
  assert.equal(r.big.wrong, -1, `byte ${r.big.wrong} of the log is not what the builder printed`);
  assert.equal(r.big.status, BuildStatus.PermanentFailure);
  assert.match(r.big.errorMsg, /failed with exit code 1/);
  // Ten lines of tail: 8192-character pieces of the line, then its rest.
  assert.equal(r.big.tailLengths.length, 10);
  assert.ok(r.big.tailAllX);
  assert.deepEqual(r.big.tailLengths.slice(0, 9), Array(9).fill(8192));
  assert.equal(r.big.tailLengths[9], count % 8192);
  const growthMiB = (r.peakKiB.after - r.peakKiB.before) / 1024;
  assert.ok(growthMiB < 64, `peak memory grew by ${growthMiB.toFixed(1)} MiB over a 100 MB line`);
});
