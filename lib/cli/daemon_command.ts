/**
 * `buildhost --stdio [--store ROOT] [--sandbox-paths P]... [--no-sandbox]` (also
 * `buildhost daemon --stdio ...`): a drop-in for `nix-daemon --stdio`, the
 * remote program of Nix's `ssh-ng://` stores, speaking the worker protocol
 * on stdin/stdout. Builds run in Nix's sandbox (see `runnerFromFlags`); their
 * logs are kept in the store as Nix keeps them (`buildhost log`, `nix log`),
 * and the session and its builds are in the store's build record
 * (`buildhost status`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DaemonServer } from "../daemon/daemon_server.ts";
import { keepingBuildLogs } from "../store/build_log.ts";
import { runStdioSession } from "./stdio_session.ts";
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
  const encoder = new TextEncoder();
  const log = (text: string) => void Deno.stderr.writeSync(encoder.encode(text));
  const builder = hostBuilder(
    values,
    settings,
    store,
    location,
    log,
    (runner) => keepingBuildLogs(store, runner),
  );
  const server = new DaemonServer(store, { log, builder });
  return await runStdioSession(store, "daemon", (input, output) => server.serve(input, output));
};
