/**
 * `buildhost copy --to URI PATH... | --from URI PATH... [--store ROOT]`:
 * copy the closures of store paths to or from a host (an `ssh://` URI as
 * Nix writes it, e.g. `ssh://b1?remote-program=buildhost`, over the serve
 * protocol, or an `ssh-ng://` URI, over the daemon protocol), sending
 * or fetching only what the other side lacks. One line per path copied on
 * stderr. `--connect-timeout S` (default 30) and `--host-timeout S` (default
 * none) as for `buildhost build`; SIGINT/SIGTERM cancel the copy (a path
 * half copied is not registered) and exit non-zero.
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { openStoreFromFlags } from "./store_options.ts";
import { parseMachines } from "../remote/machine_spec.ts";
import { copyFromHost, copyToHost } from "../remote/copy_paths.ts";
import { startMachineHost } from "../remote/machine_host.ts";
import type { RemoteHostProcess } from "../remote/remote_client.ts";
import { type Command, UsageError } from "./command.ts";

const USAGE = "usage: buildhost copy (--to URI | --from URI) PATH... [--store ROOT] " +
  "[--connect-timeout S] [--host-timeout S]";

function seconds(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name}: not a number: ${v}`);
  return n;
}

/** `buildhost copy ...` */
export const copyCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      to: { type: "string" },
      from: { type: "string" },
      store: { type: "string" },
      "store-dir": { type: "string" },
      "connect-timeout": { type: "string" },
      "host-timeout": { type: "string" },
    },
  });
  const uri = values.to ?? values.from;
  if (positionals.length === 0 || uri === undefined || (values.to && values.from)) {
    throw new UsageError(USAGE);
  }
  const [machine] = parseMachines(uri);
  if (!machine) throw new UsageError(USAGE);
  const timeouts = {
    connectTimeout: seconds(values["connect-timeout"], "connect-timeout", 30),
    hostTimeout: seconds(values["host-timeout"], "host-timeout", 0),
  };
  const { store } = await openStoreFromFlags(values);
  const say = (text: string) => void Deno.stderr.writeSync(new TextEncoder().encode(text));
  const direction = values.to ? "to" : "from";
  let host: RemoteHostProcess | undefined;
  let cancelledBy: Deno.Signal | undefined;
  const abort = new AbortController();
  let cancelled: Promise<void> | undefined;
  const listeners = (["SIGINT", "SIGTERM"] as const).map((sig) => {
    const on = () => {
      if (cancelledBy) return;
      cancelledBy = sig;
      say(`${sig === "SIGINT" ? "interrupted" : "terminated"}: cancelling the copy...\n`);
      abort.abort();
      cancelled = host?.cancel?.();
    };
    Deno.addSignalListener(sig, on);
    return [sig, on] as const;
  });
  try {
    host = await startMachineHost(machine, {
      host: uri,
      ...timeouts,
      signal: abort.signal,
    });
    if (cancelledBy) cancelled = host.cancel?.();
    const progress = (path: string) => say(`copying path '${path}' ${direction} '${uri}'...\n`);
    const report = values.to
      ? await copyToHost(host.client, store, positionals, { progress })
      : await copyFromHost(host.client, store, positionals, { progress });
    say(
      `copied ${report.copied.length} paths (${report.bytes} bytes); ` +
        `${report.present.length} were there already\n`,
    );
    if (!cancelledBy) return 0;
  } catch (e) {
    if (!cancelledBy) throw e;
  } finally {
    await cancelled;
    await host?.close().catch(() => {});
    for (const [sig, on] of listeners) Deno.removeSignalListener(sig, on);
    store.close();
  }
  say(`cancelled: copying ${direction} '${uri}'\n`);
  return cancelledBy === "SIGINT" ? 130 : 143;
};
