/**
 * `buildhost --serve [--write] [--store ROOT] [--sandbox-paths P]...` (also
 * `buildhost serve ...`): a drop-in for `nix-store --serve [--write]`,
 * speaking the serve protocol on stdin/stdout. Errors and build logs go to
 * stderr. Builds run in the bubblewrap sandbox; extra host paths for it come
 * from `--sandbox-paths` and, as for Nix, from `sandbox-paths` /
 * `extra-sandbox-paths` in `NIX_CONFIG`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Store } from "../store/store.ts";
import { defaultStoreRoot } from "../store/store_layout.ts";
import { ServeServer } from "../serve/server.ts";
import { Builder } from "../build/builder.ts";
import { bwrapRunner, checkSandbox } from "../build/bwrap_runner.ts";
import type { Command } from "./command.ts";

/** The sandbox paths named in a NIX_CONFIG text. */
export function sandboxPathsFromNixConfig(config: string | undefined): string[] {
  const out: string[] = [];
  for (const line of (config ?? "").split("\n")) {
    const m = line.match(/^\s*(extra-)?sandbox-paths\s*=\s*(.*)$/);
    if (m) out.push(...m[2]!.split(/\s+/).filter((s) => s !== ""));
  }
  return out;
}

/** `buildhost serve ...` / `buildhost --serve ...` */
export const serveCommand: Command = async (args) => {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    options: {
      serve: { type: "boolean", default: false },
      write: { type: "boolean", default: false },
      store: { type: "string" },
      "store-dir": { type: "string" },
      "sandbox-paths": { type: "string", multiple: true, default: [] },
    },
  });
  const store = await Store.open(values.store ?? defaultStoreRoot(), values["store-dir"]);
  const stdout = Deno.stdout.writable.getWriter();
  const encoder = new TextEncoder();
  const log = (text: string) => void Deno.stderr.writeSync(encoder.encode(text));
  try {
    let builder: Builder | undefined;
    if (values.write) {
      try {
        await checkSandbox();
        const sandboxPaths = [
          ...values["sandbox-paths"].flatMap((p) => p.split(/\s+/)).filter((p) => p !== ""),
          ...sandboxPathsFromNixConfig(Deno.env.get("NIX_CONFIG")),
        ];
        builder = new Builder(store, bwrapRunner({ sandboxPaths }));
      } catch (e) {
        log(`warning: ${(e as Error).message}\n`);
      }
    }
    const server = new ServeServer(store, {
      write: values.write,
      log,
      ...(builder ? { builder } : {}),
    });
    const { exitCode } = await server.serve(Deno.stdin.readable, { write: (c) => stdout.write(c) });
    return exitCode;
  } finally {
    stdout.releaseLock();
    store.close();
  }
};
