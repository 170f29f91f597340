/**
 * Nix's `sandbox-paths` setting: host paths shown inside the sandbox. Each
 * item is `PATH` (the same path inside and out) or `TARGET=SOURCE`; a
 * trailing `?` makes it optional (skipped when the source does not exist).
 * Items are separated by white space, as in `nix.conf`.
 *
 * @module
 */
import type { SandboxPath } from "./sandbox_options.ts";
import { SandboxError } from "./sandbox_error.ts";

/**
 * Parse sandbox path items.
 *
 * @param items Items, each possibly holding several separated by white space.
 * @returns The paths, in order.
 * @throws {SandboxError} An item whose target or source is not absolute.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSandboxPaths } from "./sandbox_paths.ts";
 * assert.deepEqual(parseSandboxPaths(["/bin /etc/ssl=/usr/share/ssl?"]), [
 *   { target: "/bin", source: "/bin" },
 *   { target: "/etc/ssl", source: "/usr/share/ssl", optional: true },
 * ]);
 * ```
 */
export function parseSandboxPaths(items: readonly string[]): SandboxPath[] {
  const out: SandboxPath[] = [];
  for (const item of items.flatMap((i) => i.split(/\s+/)).filter((i) => i !== "")) {
    const optional = item.endsWith("?");
    const spec = optional ? item.slice(0, -1) : item;
    const eq = spec.indexOf("=");
    const target = eq < 0 ? spec : spec.slice(0, eq);
    const source = eq < 0 ? spec : spec.slice(eq + 1);
    for (const p of [target, source]) {
      if (!p.startsWith("/")) {
        throw new SandboxError("parse sandbox-paths", `'${item}': '${p}' is not an absolute path`);
      }
    }
    out.push(optional ? { target, source, optional } : { target, source });
  }
  return out;
}

/**
 * The sandbox paths a `NIX_CONFIG` text sets (`sandbox-paths` and
 * `extra-sandbox-paths` lines), so that buildhost run by Nix's tooling sees
 * the same configuration.
 *
 * @param config The text of `NIX_CONFIG` (or of a `nix.conf`).
 * @returns The items, unparsed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sandboxPathsFromNixConfig } from "./sandbox_paths.ts";
 * assert.deepEqual(sandboxPathsFromNixConfig("a = b\nextra-sandbox-paths = /bin /usr\n"), ["/bin", "/usr"]);
 * ```
 */
export function sandboxPathsFromNixConfig(config: string | undefined): string[] {
  const out: string[] = [];
  for (const line of (config ?? "").split("\n")) {
    const m = line.match(/^\s*(extra-)?sandbox-paths\s*=\s*(.*)$/);
    if (m) out.push(...m[2]!.split(/\s+/).filter((s) => s !== ""));
  }
  return out;
}
