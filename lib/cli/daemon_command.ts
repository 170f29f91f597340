/**
 * `buildhost --stdio [--store ROOT] [--sandbox-paths P]... [--no-sandbox]` (also
 * `buildhost daemon --stdio ...`): a drop-in for `nix-daemon --stdio`, the
 * remote program of Nix's `ssh-ng://` stores, speaking the worker protocol
 * on stdin/stdout. Builds run in Nix's sandbox (see `runnerFromFlags`).
 *
 * @module
 */
import { stdinStream } from "./stdin_stream.ts";
import { parseArgs } from "node:util";
import { DaemonServer } from "../daemon/daemon_server.ts";
import { hostBuilder } from "./host_builder.ts";
import { RUNNER_FLAGS } from "./runner_options.ts";
import { openStoreFromFlags, STORE_FLAGS } from "./store_options.ts";
import { loadNixConfig, nixSettings } from "./nix_settings.ts";
import { type Command, UsageError } from "./command.ts";

/** `buildhost daemon --stdio ...` / `buildhost --stdio ...` */
export const daemonCommand: Command = async (args) => {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    options: {
      stdio: { type: "boolean", default: false },
      ...STORE_FLAGS,
      ...RUNNER_FLAGS,
    },
  });
  if (!values.stdio) {
    throw new UsageError("only --stdio is supported (one session on stdin/stdout)");
  }
  const settings = nixSettings(loadNixConfig(Deno.env.toObject()));
  const { store, location } = await openStoreFromFlags(values);
  const stdout = Deno.stdout.writable.getWriter();
  const encoder = new TextEncoder();
  const log = (text: string) => void Deno.stderr.writeSync(encoder.encode(text));
  try {
    const builder = await hostBuilder(values, settings, store, location, log);
    const server = new DaemonServer(store, { log, ...(builder ? { builder } : {}) });
    const { exitCode } = await server.serve(stdinStream(), { write: (c) => stdout.write(c) });
    return exitCode;
  } finally {
    stdout.releaseLock();
    store.close();
  }
};
