/**
 * The oracle: run real Nix (Debian's nix-bin 2.8) as root without a daemon,
 * on throw-away chroot stores. Interop tests call these and fail (never skip)
 * when Nix is missing: `.ci/run` installs it. A test file that runs Nix (by
 * these helpers or by name) is named `*_interop_test.ts`, so that
 * `deno task test:offline` can leave it out (tests/test_selection_test.ts
 * checks it); `tempDir` is the one export here that needs no Nix.
 *
 * @module
 */
import { OwnedTempDir, reclaimStale } from "../../lib/sandbox/owned_temp_dir.ts";

const sandboxPaths = ["/bin", "/lib", "/lib32", "/lib64", "/libx32", "/usr"].filter((p) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
});

/** The NIX_CONFIG every oracle call runs with. */
export const NIX_CONFIG = [
  "build-users-group =",
  "substituters =",
  "experimental-features = nix-command",
  "sandbox = true",
  `extra-sandbox-paths = ${sandboxPaths.join(" ")}`,
].join("\n");

/** Environment for Nix commands: our config, no daemon. */
export function nixEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { ...Deno.env.toObject(), NIX_CONFIG, ...extra };
  delete env.NIX_REMOTE;
  return env;
}

/** Options for {@linkcode nix}. */
export interface NixOptions {
  /** Bytes for standard input. */
  stdin?: Uint8Array | string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
}

/** The result of a Nix command that succeeded. */
export interface NixOutput {
  /** Standard output, bytes. */
  bytes: Uint8Array;
  /** Standard output, text, trailing newline removed. */
  text: string;
  /** Standard error, text. */
  stderr: string;
}

/**
 * Run a Nix command (`nix-store`, `nix-hash`, `nix`, ...) and return its
 * output; throw with its stderr when it fails.
 */
export async function nix(cmd: string, args: string[], opts: NixOptions = {}): Promise<NixOutput> {
  const child = new Deno.Command(cmd, {
    args,
    env: nixEnv(opts.env),
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    const data = typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin;
    await w.write(data).catch(() => {});
    await w.close().catch(() => {});
  }
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${stderr}`);
  }
  return {
    bytes: out.stdout,
    text: new TextDecoder().decode(out.stdout).replace(/\n$/, ""),
    stderr,
  };
}

/** Run a Nix command that must fail; return its stderr. */
export async function nixFails(
  cmd: string,
  args: string[],
  opts: NixOptions = {},
): Promise<string> {
  try {
    await nix(cmd, args, opts);
  } catch (e) {
    // A Nix that is not there fails no command: that is an error, not a pass.
    if (e instanceof Deno.errors.NotFound) throw e;
    return (e as Error).message;
  }
  throw new Error(`${cmd} ${args.join(" ")} succeeded but was expected to fail`);
}

const TMP = Deno.env.get("TMPDIR") || "/tmp";

// Temporary directories of test processes that were killed (their `using`
// never ran) are removed by the next process that loads this module: each
// is held by its owner's lock (lib/sandbox/owned_temp_dir.ts), so a live
// one is left alone.
await reclaimStale(TMP, "buildhost-");

/**
 * A fresh temporary directory (`$TMPDIR/PREFIX...`, held by this process),
 * removed (with write bits restored) by `using`.
 */
export function tempDir(prefix = "buildhost-test-"): { path: string } & Disposable {
  const owned = OwnedTempDir.create(TMP, prefix);
  const path = owned.path;
  return {
    path,
    [Symbol.dispose]() {
      new Deno.Command("chmod", { args: ["-R", "u+w", path], stderr: "null" }).outputSync();
      Deno.removeSync(path, { recursive: true });
      owned.disown();
    },
  };
}

/**
 * Two text paths added to `store` by Nix, the second referring to the first.
 *
 * @param store The store.
 * @returns `[dependency, top]`.
 */
export async function pathWithDependency(store: string): Promise<[string, string]> {
  const out = (await nix("nix", [
    "eval",
    "--store",
    store,
    "--raw",
    "--expr",
    `let dep = builtins.toFile "dep.txt" "a dependency\\n"; in "\${dep} " + builtins.toFile "top.txt" "top refers to \${dep}\\n"`,
  ])).text;
  const [dep, top] = out.split(" ");
  return [dep!, top!];
}

/**
 * nix-build's arguments for building `attr` of `file` in the `client` store
 * on `builders` alone: no local jobs, and the builder gets the inputs from
 * the client (no substituting on it).
 *
 * @param client The client's store.
 * @param file The Nix file.
 * @param attr The attribute to build.
 * @param builders The `--builders` value (a machines line).
 * @returns The arguments.
 */
export function remoteBuildArgs(
  client: string,
  file: string,
  attr: string,
  builders: string,
): string[] {
  return [
    ...["--store", client, "--no-out-link", file, "-A", attr, "--max-jobs", "0"],
    ...["--builders", builders, "--option", "builders-use-substitutes", "false"],
  ];
}
