/**
 * The environment, arguments and build-directory files Nix 2.8 gives a
 * builder (its `initEnv`, `initTmpDir`, `writeStructuredAttrs` and
 * `exportReferencesGraph` handling), byte for byte.
 *
 * In this order, later entries replacing earlier ones:
 * 1. `PATH=/path-not-set`, `HOME=/homeless-shelter`, `NIX_STORE`,
 *    `NIX_BUILD_CORES` (so a derivation's own `PATH` or `HOME` wins);
 * 2. without structured attributes: the derivation's variables, except
 *    those named in `passAsFile` (whitespace-separated): each of those is
 *    written to `/build/.attr-<nix32 sha256 of its name>` and `<name>Path`
 *    names that file;
 * 3. `NIX_BUILD_TOP`, `TMPDIR`, `TEMPDIR`, `TMP`, `TEMP`, `PWD`: `/build`;
 * 4. fixed-output derivations: `NIX_OUTPUT_CHECKED=1`, and each variable
 *    named in `impureEnvVars` with its value in the caller's environment
 *    (empty when unset);
 * 5. `NIX_LOG_FD=2`, `TERM=xterm-256color`;
 * 6. with structured attributes: `.attrs.json` and `.attrs.sh` in the build
 *    directory (see `structured_attrs.ts`), and `NIX_ATTRS_JSON_FILE` /
 *    `NIX_ATTRS_SH_FILE` naming them, by their path *outside* the sandbox
 *    (Nix 2.8 uses the physical build directory there, not `/build`);
 * 7. without structured attributes, `exportReferencesGraph` (pairs of file
 *    name and store path): each file holds the closure of the path in
 *    `nix-store --register-validity` format without derivers.
 *
 * Output placeholders (`builtins.placeholder`, `/` + nix32 of sha256 of
 * `nix-output:<name>`) are replaced by the output paths in the environment
 * (names and values), the arguments and every file written.
 *
 * @module
 */
import { Hash } from "../hash/hash.ts";
import { hashPlaceholder } from "../derivation/output_paths.ts";
import { dumpNJson } from "./nlohmann_json.ts";
import { SANDBOX_BUILD_DIR } from "../sandbox/sandbox_files.ts";
import type { SandboxSpec } from "./builder.ts";
import { compareUtf8 } from "../wire/utf8_order.ts";
import { attrsShell, structuredAttrs } from "./structured_attrs.ts";
import { SandboxError } from "../sandbox/sandbox_error.ts";

/** What the environment depends on. */
export interface BuildEnvInput {
  /** The derivation's environment. */
  env: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** The builder's arguments. */
  args: readonly string[];
  /** Output name → output path (inside). */
  outputs: ReadonlyMap<string, string>;
  /** The logical store directory. */
  storeDir: string;
  /** `NIX_BUILD_CORES`. */
  cores: number;
  /** A fixed-output derivation (network, `impureEnvVars`). */
  fixedOutput: boolean;
  /** The physical build directory (Nix 2.8 names it in `NIX_ATTRS_*_FILE`). */
  buildDir: string;
  /**
   * The build directory as the builder sees it: `/build` in the sandbox
   * (the default), the physical directory without one.
   */
  buildTop?: string;
  /** The caller's environment, for `impureEnvVars` (default: this process's). */
  hostEnv?: (name: string) => string | undefined;
  /**
   * For `exportReferencesGraph`: the closure of a store path (path →
   * references), including the outputs of derivations in it, as Nix's
   * `exportReferences`. Required only when the derivation uses it.
   */
  closure?: (storePath: string) => ReadonlyMap<string, readonly string[]>;
}

/** What the builder gets. */
export interface BuildEnv {
  /** The environment, sorted by name as Nix passes it. */
  env: Map<string, string>;
  /** The arguments (`argv[1...]`). */
  args: string[];
  /** Files to create in the build directory (name → contents), mode 0644. */
  files: Map<string, string>;
}

function tokens(s: string | undefined): string[] {
  return (s ?? "").split(/[ \t\n\r]+/).filter((t) => t !== "");
}

function entries(
  m: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
): Map<string, string> {
  return m instanceof Map ? new Map(m) : new Map(Object.entries(m));
}

/**
 * `nix-store --register-validity` text of a closure, without derivers or
 * hashes (what `exportReferencesGraph` files hold).
 *
 * @param closure Path → references.
 * @returns The text, paths and references sorted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validityRegistration } from "./build_env.ts";
 * const text = validityRegistration(new Map([["/nix/store/b-y", []], ["/nix/store/a-x", ["/nix/store/b-y"]]]));
 * assert.equal(text, "/nix/store/a-x\n\n1\n/nix/store/b-y\n/nix/store/b-y\n\n0\n");
 * ```
 */
export function validityRegistration(closure: ReadonlyMap<string, readonly string[]>): string {
  let s = "";
  for (const path of [...closure.keys()].sort(compareUtf8)) {
    const refs = [...closure.get(path)!].sort(compareUtf8);
    s += `${path}\n\n${refs.length}\n${refs.map((r) => r + "\n").join("")}`;
  }
  return s;
}

/**
 * Compute what Nix 2.8 gives a builder.
 *
 * @param input The derivation's environment, arguments and outputs, and the
 *   build's settings.
 * @returns The environment, arguments and build-directory files.
 * @throws {SandboxError} A `__json`, `passAsFile` or `exportReferencesGraph`
 *   cannot be used.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nixBuildEnv } from "./build_env.ts";
 * import { hashPlaceholder } from "../derivation/output_paths.ts";
 * const r = nixBuildEnv({
 *   env: { out: "/nix/store/a-x", big: "data", passAsFile: "big", p: hashPlaceholder("out") },
 *   args: [], outputs: new Map([["out", "/nix/store/a-x"]]), storeDir: "/nix/store",
 *   cores: 2, fixedOutput: false, buildDir: "/tmp/nix-build-x.drv-0",
 * });
 * assert.equal(r.env.get("PATH"), "/path-not-set");
 * assert.equal(r.env.get("p"), "/nix/store/a-x");
 * assert.equal(r.env.get("bigPath"), "/build/.attr-1lak0mvllw8rv9i9ygkglvhqsq19qi9ynl4bi7gbf69ab5nzw89a");
 * assert.deepEqual([...r.files.values()], ["data"]);
 * ```
 */
export function nixBuildEnv(input: BuildEnvInput): BuildEnv {
  const drvEnv = entries(input.env);
  const rewrites = [...input.outputs].map(([name, path]) => [hashPlaceholder(name), path] as const)
    .sort(([a], [b]) => compareUtf8(a, b));
  const rewrite = (s: string) => {
    for (const [from, to] of rewrites) s = s.replaceAll(from, to);
    return s;
  };
  const top = input.buildTop ?? SANDBOX_BUILD_DIR;
  const env = new Map<string, string>();
  const files = new Map<string, string>();
  env.set("PATH", "/path-not-set");
  env.set("HOME", "/homeless-shelter");
  env.set("NIX_STORE", input.storeDir);
  env.set("NIX_BUILD_CORES", String(input.cores));

  const json = drvEnv.get("__json");
  const structured = json !== undefined;
  if (!structured) {
    const passAsFile = new Set(tokens(drvEnv.get("passAsFile")));
    for (const [k, v] of drvEnv) {
      if (!passAsFile.has(k)) {
        env.set(k, v);
        continue;
      }
      const fn = ".attr-" + Hash.of("sha256", k).toString("base32");
      files.set(fn, rewrite(v));
      env.set(k + "Path", `${top}/${fn}`);
    }
  }
  for (const k of ["NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"]) env.set(k, top);

  let attrs: ReturnType<typeof structuredAttrs> | undefined;
  if (structured) {
    const outputs = new Map([...input.outputs].map(([n, p]) => [n, rewrite(p)]));
    try {
      attrs = structuredAttrs(json, outputs);
    } catch (e) {
      throw new SandboxError("prepare the environment", (e as Error).message);
    }
  }
  if (input.fixedOutput) {
    env.set("NIX_OUTPUT_CHECKED", "1");
    const host = input.hostEnv ?? ((n: string) => Deno.env.get(n));
    let names = tokens(drvEnv.get("impureEnvVars"));
    if (attrs && typeof attrs === "object" && !Array.isArray(attrs) && attrs.kind === "object") {
      const v = attrs.entries.get("impureEnvVars");
      names = Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
    }
    for (const n of names) env.set(n, host(n) ?? "");
  }
  env.set("NIX_LOG_FD", "2");
  env.set("TERM", "xterm-256color");

  if (attrs !== undefined) {
    if (
      typeof attrs === "object" && attrs !== null && !Array.isArray(attrs) &&
      attrs.kind === "object" && attrs.entries.has("exportReferencesGraph")
    ) {
      throw new SandboxError(
        "prepare the environment",
        "exportReferencesGraph with structured attributes is not supported yet",
      );
    }
    files.set(".attrs.sh", rewrite(attrsShell(attrs)));
    files.set(".attrs.json", rewrite(dumpNJson(attrs)));
    env.set("NIX_ATTRS_SH_FILE", `${input.buildDir}/.attrs.sh`);
    env.set("NIX_ATTRS_JSON_FILE", `${input.buildDir}/.attrs.json`);
  } else {
    const graph = tokens(drvEnv.get("exportReferencesGraph"));
    if (graph.length % 2 !== 0) {
      throw new SandboxError(
        "prepare the environment",
        `odd number of tokens in 'exportReferencesGraph': '${drvEnv.get("exportReferencesGraph")}'`,
      );
    }
    for (let i = 0; i < graph.length; i += 2) {
      const fileName = graph[i]!;
      const path = graph[i + 1]!;
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(fileName)) {
        throw new SandboxError(
          "prepare the environment",
          `invalid file name '${fileName}' in 'exportReferencesGraph'`,
        );
      }
      if (!path.startsWith(input.storeDir + "/")) {
        throw new SandboxError(
          "prepare the environment",
          `'exportReferencesGraph' contains a non-store path '${path}'`,
        );
      }
      if (!input.closure) {
        throw new SandboxError(
          "prepare the environment",
          "exportReferencesGraph needs the store's closure (no `closure` given)",
        );
      }
      const storePath = path.slice(0, path.indexOf("/", input.storeDir.length + 1) >>> 0);
      files.set(fileName, validityRegistration(input.closure(storePath)));
    }
  }

  const sorted = new Map(
    [...env].map(([k, v]) => [rewrite(k), rewrite(v)] as [string, string])
      .sort(([a], [b]) => compareUtf8(a, b)),
  );
  return { env: sorted, args: input.args.map(rewrite), files };
}

/**
 * Write the files of {@linkcode nixBuildEnv} into the build directory
 * (mode 0644, as Nix's `writeFile` with umask 022).
 *
 * @param buildDir The physical build directory.
 * @param files Name → contents.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeBuildFiles } from "./build_env.ts";
 * const dir = Deno.makeTempDirSync();
 * writeBuildFiles(dir, new Map([[".attr-x", "v"]]));
 * assert.equal(Deno.statSync(`${dir}/.attr-x`).mode! & 0o777, 0o644);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function writeBuildFiles(buildDir: string, files: ReadonlyMap<string, string>): void {
  for (const [name, contents] of files) {
    const path = `${buildDir}/${name}`;
    Deno.writeTextFileSync(path, contents);
    Deno.chmodSync(path, 0o644);
  }
}

/**
 * The environment of a {@linkcode SandboxSpec}'s builder, its files
 * written into the build directory.
 *
 * @param spec The build.
 * @param buildTop The build directory as the builder sees it (default `/build`).
 * @returns The environment and arguments.
 */
export function prepareBuildEnv(spec: SandboxSpec, buildTop?: string): BuildEnv {
  const env = nixBuildEnv({
    env: spec.drv.env,
    args: spec.drv.args,
    outputs: new Map(spec.outputs.map((o) => [o.name, o.path])),
    storeDir: spec.storeDir,
    cores: spec.cores,
    fixedOutput: spec.network,
    buildDir: spec.buildDir,
    ...(buildTop ? { buildTop } : {}),
    ...(spec.exportReferences ? { closure: spec.exportReferences } : {}),
  });
  writeBuildFiles(spec.buildDir, env.files);
  return env;
}
