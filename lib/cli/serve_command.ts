/**
 * `buildhost --serve [--write] [--store ROOT]` (also `buildhost serve ...`):
 * a drop-in for `nix-store --serve [--write]`, speaking the serve protocol
 * on stdin/stdout. Errors and build logs go to stderr.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Store } from "../store/store.ts";
import { defaultStoreRoot } from "../store/store_layout.ts";
import { ServeServer } from "../serve/server.ts";
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
    },
  });
  const store = await Store.open(values.store ?? defaultStoreRoot(), values["store-dir"]);
  const stdout = Deno.stdout.writable.getWriter();
  const encoder = new TextEncoder();
  try {
    const server = new ServeServer(store, {
      write: values.write,
      log: (text) => void Deno.stderr.writeSync(encoder.encode(text)),
    });
    const { exitCode } = await server.serve(Deno.stdin.readable, { write: (c) => stdout.write(c) });
    return exitCode;
  } finally {
    stdout.releaseLock();
    store.close();
  }
};
