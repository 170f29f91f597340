/**
 * `deno task install` from a throw-away clone of this checkout's HEAD, for
 * the install tests.
 *
 * @module
 */
import assert from "node:assert/strict";

export const REPO = new URL("../..", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Run a command; its exit code and output. */

export async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: Uint8Array } = {},
): Promise<{ code: number; stdout: string; bytes: Uint8Array; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
  }).spawn();
  if (options.stdin) {
    const w = child.stdin.getWriter();
    await w.write(options.stdin);
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    bytes: out.stdout,
    stderr: decoder.decode(out.stderr),
  };
}

export async function ok(cmd: string, args: string[], options: Parameters<typeof run>[2] = {}) {
  const r = await run(cmd, args, options);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r;
}

/** Clone this checkout's HEAD to `dir`. */
export async function clone(dir: string): Promise<void> {
  await ok("git", ["init", "--quiet", dir]);
  // The checkout may belong to another user (the suite run as an unprivileged
  // one): reading it is all this does. Git (before 2.45) takes safe.directory
  // only from a global or system file, so a global file of its own says so.
  const config = `${dir}.gitconfig`;
  Deno.writeTextFileSync(config, "[safe]\n\tdirectory = *\n");
  await ok("git", ["-C", dir, "fetch", "--quiet", REPO, "HEAD"], {
    env: { GIT_CONFIG_GLOBAL: config },
  });
  await ok("git", ["-C", dir, "checkout", "--quiet", "FETCH_HEAD"]);
}

/** `deno task TASK` in `dir` with PREFIX (and more environment). */
export function task(dir: string, name: string, env: Record<string, string>) {
  return run(Deno.execPath(), ["task", name], {
    cwd: dir,
    env: { ...Deno.env.toObject(), ...env },
  });
}

/** Clone this checkout's HEAD to `dir`, `deno task install` from it with PREFIX, delete it. */
export async function installFromClone(
  dir: string,
  prefix: string,
  mode = "bundle",
): Promise<string> {
  await clone(dir);
  const r = await task(dir, "install", { PREFIX: prefix, INSTALL_MODE: mode });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  Deno.removeSync(dir, { recursive: true });
  return r.stdout;
}
