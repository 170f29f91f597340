/**
 * `deno task fuzz`: the long fuzz run. Runs every fuzzer in `tests/fuzz/`
 * with `FUZZ_RUNS` cases each (default 100 000) and V8's collector exposed
 * (so memory is measured live), then prints one line per fuzzer and the
 * longest run. `FUZZ_SEED` replays a seed (see `_runner.ts`); arguments
 * pick fuzzer files (default: all of them).
 *
 * ```sh
 * deno task fuzz                                  # 100 000 cases per parser
 * FUZZ_RUNS=5000 deno task fuzz                   # a shorter run
 * FUZZ_SEED=42 deno task fuzz tests/fuzz/nar_fuzz_interop_test.ts
 * ```
 *
 * @module
 */
const runs = Deno.env.get("FUZZ_RUNS") || "100000";
const files = Deno.args.length > 0 ? Deno.args : ["tests/fuzz/"];
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--v8-flags=--expose-gc", ...files],
  env: { FUZZ_RUNS: runs },
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const lines: string[] = [];
const decoder = new TextDecoderStream();
let pending = "";
for await (const text of child.stdout.pipeThrough(decoder)) {
  await Deno.stdout.write(new TextEncoder().encode(text));
  pending += text;
  const parts = pending.split("\n");
  pending = parts.pop()!;
  for (const l of parts) if (/^fuzz [^:]+: \d+ cases/.test(l)) lines.push(l);
}
const status = await child.status;
console.log(`\n${lines.length} fuzzers, ${runs} cases each:`);
for (const l of lines) console.log(`  ${l}`);
const seconds = (l: string) => Number(/in ([\d.]+) s/.exec(l)?.[1] ?? 0);
const longest = lines.reduce((a, l) => (seconds(l) > seconds(a) ? l : a), lines[0] ?? "");
if (longest) console.log(`longest: ${longest}`);
Deno.exit(status.code);
