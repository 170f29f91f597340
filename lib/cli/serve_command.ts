/**
 * `buildhost --serve [--write] [--store ROOT] [--sandbox-paths P]... [--no-sandbox]` (also
 * `buildhost serve ...`): a drop-in for `nix-store --serve [--write]`,
 * speaking the serve protocol on stdin/stdout. Errors and build logs go to
 * stderr. Builds run in Nix's sandbox (see `runnerFromFlags`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Store } from "../store/store.ts";
import { defaultStoreRoot } from "../store/store_layout.ts";
import { ServeServer } from "../serve/server.ts";
import { Builder } from "../build/builder.ts";
import { keepingBuildLogs } from "../store/build_log.ts";
import { RUNNER_FLAGS, runnerFromFlags } from "./runner_options.ts";
import type { Command } from "./command.ts";

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
      ...RUNNER_FLAGS,
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
        builder = new Builder(store, keepingBuildLogs(store, await runnerFromFlags(values)));
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
