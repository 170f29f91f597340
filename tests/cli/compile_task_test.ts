/**
 * `deno task compile` (README: the single-binary recipe) cannot run here:
 * `deno compile` downloads its runtime, which these machines cannot reach.
 * What it can be held to here is its first step: the program and the
 * hashing worker it includes type-check and resolve every import under the
 * task's own configuration flags (with `--no-config`, the bare npm imports
 * that `deno.json` maps would not resolve).
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("deno task compile's sources resolve and type-check under the task's flags", async () => {
  const config = JSON.parse(Deno.readTextFileSync(`${root}deno.json`));
  const task: string = config.tasks.compile;
  const args = task.split(/\s+/);
  assert.equal(args.slice(0, 2).join(" "), "deno compile", task);
  const includes = args.flatMap((a, i) => (a === "--include" ? [args[i + 1]!] : []));
  const entry = args[args.length - 1]!;
  assert.ok(includes.length > 0 && entry.endsWith(".ts"), task);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", ...args.filter((a) => a === "--no-config"), entry, ...includes],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});
