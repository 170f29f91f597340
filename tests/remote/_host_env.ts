/**
 * What the client's tests need around their hosts that runs no Nix: the
 * environment with the stand-in ssh (tests/_helpers/bin/ssh) first in PATH,
 * and the processes left running.
 *
 * @module
 */

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;

/** The environment for the CLI: the stand-in ssh first in PATH. */
export const sshEnv = (): Record<string, string> => ({
  ...Deno.env.toObject(),
  PATH: `${HELPERS}bin:${Deno.env.get("PATH")}`,
});

/** Pids of processes whose command line contains `token` (or is exactly it, with `exact`). */
export function processesWith(token: string, exact = false): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (exact ? cmd.trim() === token : cmd.includes(token)) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}
