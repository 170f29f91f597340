/**
 * `deno task test:offline` leaves out the test files named
 * `*_interop_test.ts`, so every test file that runs Nix must be named so:
 * this test reads every module under tests/ and checks it. A module runs Nix
 * when it imports a Nix-running helper of tests/_helpers/nix.ts (`nix`,
 * `nixFails`, `nixEnv`, `NIX_CONFIG`; `tempDir` runs nothing), spawns a
 * `nix*` program by name, or imports a module of tests/ that runs Nix.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";

const TESTS = new URL(".", import.meta.url).pathname;
const NIX_HELPERS = resolve(TESTS, "_helpers/nix.ts");
const RUNS_NIX = new Set(["nix", "nixFails", "nixEnv", "NIX_CONFIG"]);

/** The suffix of the test files that need Nix, left out of `deno task test:offline`. */
export const INTEROP_SUFFIX = "_interop_test.ts";

/** A module's local imports (resolved paths) and the names each brings. */
function localImports(file: string, source: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const re = /(?:import|export)\s+(type\s+)?(?:\{([^}]*)\}|[\w$*\s]+?)\s*from\s*"(\.[^"]+)"/g;
  for (const m of source.matchAll(re)) {
    const names = (m[2] ?? "*").split(",").map((n) => n.trim().replace(/^type\s+/, ""))
      .map((n) => n.split(/\s+as\s+/)[0]!).filter((n) => n !== "");
    const target = resolve(dirname(file), m[3]!);
    out.set(target, [...(out.get(target) ?? []), ...(m[1] ? [] : names)]);
  }
  return out;
}

/** Whether `source` itself runs a Nix program, by name or through the oracle helpers. */
export function runsNixDirectly(file: string, source: string): boolean {
  if (/Command\(\s*["'`]nix/.test(source)) return true;
  if (
    /["'`]nix-(store|build|instantiate|daemon|hash|env|shell|channel|copy-closure)["'`]/.test(
      source,
    )
  ) {
    return true;
  }
  const helpers = localImports(file, source).get(NIX_HELPERS) ?? [];
  return helpers.some((n) => RUNS_NIX.has(n) || n === "*");
}

function modules(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...modules(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out.sort();
}

/** Every module under tests/ that runs Nix, directly or through another module of tests/. */
function modulesRunningNix(): Set<string> {
  const self = new URL(import.meta.url).pathname; // its examples name Nix programs
  const files = modules(TESTS).filter((f) => f !== NIX_HELPERS && f !== self);
  const sources = new Map(files.map((f) => [f, Deno.readTextFileSync(f)]));
  const nixy = new Set(files.filter((f) => runsNixDirectly(f, sources.get(f)!)));
  for (let grew = true; grew;) {
    grew = false;
    for (const f of files) {
      if (nixy.has(f)) continue;
      if ([...localImports(f, sources.get(f)!).keys()].some((t) => nixy.has(t))) {
        nixy.add(f);
        grew = true;
      }
    }
  }
  return nixy;
}

Deno.test("every test file that runs Nix is named *_interop_test.ts", () => {
  const misnamed = [...modulesRunningNix()]
    .filter((f) => f.endsWith("_test.ts") && !f.endsWith(INTEROP_SUFFIX))
    .map((f) => relative(TESTS, f));
  assert.deepEqual(misnamed, [], "these run Nix: move their Nix tests to *_interop_test.ts");
});

Deno.test("runsNixDirectly() sees the oracle helpers and nix* programs, not tempDir", () => {
  const f = join(TESTS, "x/y_test.ts");
  const yes = [
    `import { nix, tempDir } from "../_helpers/nix.ts";`,
    `import { type NixOutput, nixFails } from "../_helpers/nix.ts";`,
    `new Deno.Command("nix-store", { args: ["--version"] });`,
    `await run("nix-instantiate", [file]);`,
  ];
  for (const source of yes) assert.ok(runsNixDirectly(f, source), source);
  const no = [
    `import { tempDir } from "../_helpers/nix.ts";`,
    `import { nix } from "../other/nix.ts";`,
    `Deno.mkdirSync(join(root, "nix/store"));`,
    `assert.match(err, /nix-store --serve/);`,
  ];
  for (const source of no) assert.ok(!runsNixDirectly(f, source), source);
});

Deno.test("deno task test:offline leaves out exactly the *_interop_test.ts files", () => {
  const config = JSON.parse(Deno.readTextFileSync(join(TESTS, "../deno.json")));
  const task: string = config.tasks["test:offline"];
  assert.match(
    task,
    new RegExp(`--ignore=[^ ]*\\*\\*/\\*${INTEROP_SUFFIX.replaceAll(".", "\\.")}`),
  );
  assert.match(task, / lib\/ mod\.ts tests\/$/);
});
