/**
 * Runs the `buildhost` CLI (main.ts under this Deno) as a child process, as a
 * user would, and collects what it printed.
 *
 * @module
 */

/** main.ts, the CLI's entry point. */
export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** What a run of the CLI printed and returned. */
export interface BuildhostRun {
  code: number;
  stdout: string;
  bytes: Uint8Array;
  stderr: string;
}

/**
 * Run `buildhost ARGS...`.
 *
 * @param args The command line after `buildhost`.
 * @param options Bytes for stdin (else /dev/null) and the environment.
 * @returns Exit code, stdout (text and bytes) and stderr.
 */
export async function runBuildhost(
  args: string[],
  options: { stdin?: Uint8Array; env?: Record<string, string> } = {},
): Promise<BuildhostRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.env ? { env: options.env } : {}),
  }).spawn();
  if (options.stdin) {
    const w = child.stdin.getWriter();
    // The command may stop reading early (bad input): that is its answer.
    await w.write(options.stdin).catch(() => {});
    await w.close().catch(() => {});
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    bytes: out.stdout,
    stderr: decoder.decode(out.stderr),
  };
}
