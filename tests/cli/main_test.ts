import assert from "node:assert/strict";
import { runBuildhost } from "../_helpers/buildhost.ts";
const run = (args: string[], stdin?: Uint8Array) => runBuildhost(args, stdin ? { stdin } : {});

Deno.test("buildhost reports errors on stderr without a stack trace, with exit codes", async () => {
  const missing = await run(["hash", "path", "/does/not/exist"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: .*\/does\/not\/exist/);
  assert.doesNotMatch(missing.stderr, /\n\s+at /);

  const usage = await run(["nar", "frobnicate"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: buildhost nar/);

  const option = await run(["nar", "dump", "--bogus", "x"]);
  assert.equal(option.code, 2, "an unknown option is a usage error");
  assert.match(option.stderr, /^error: Unknown option '--bogus'/);
  const missingValue = await run(["log", "--store"]);
  assert.equal(missingValue.code, 2);
  assert.match(missingValue.stderr, /Option '--store <value>' argument missing/);

  const unknown = await run(["no-such-command"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "no-such-command"/);

  const bad = await run(["nar", "ls"], new Uint8Array([13, 0, 0, 0, 0, 0, 0, 0, 1, 2]));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: Cannot read NAR at byte \d+/);

  const debug = await run(["--debug", "hash", "path", "/does/not/exist"]);
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /\n\s+at /);
});
