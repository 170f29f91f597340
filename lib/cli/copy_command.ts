/**
 * `buildhost copy --to URI PATH... | --from URI PATH... [--store ROOT]`:
 * copy the closures of store paths to or from a serve host (an `ssh://`
 * URI as Nix writes it, e.g. `ssh://b1?remote-program=buildhost`), sending
 * or fetching only what the other side lacks. One line per path copied on
 * stderr.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { openStoreFromFlags } from "./store_options.ts";
import { parseMachines, serveCommandFor } from "../remote/machine_spec.ts";
import { copyFromHost, copyToHost } from "../remote/copy_paths.ts";
import { startServeHost } from "../remote/serve_host_process.ts";
import { type Command, UsageError } from "./command.ts";

const USAGE = "usage: buildhost copy (--to URI | --from URI) PATH... [--store ROOT]";

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
    },
  });
  const uri = values.to ?? values.from;
  if (positionals.length === 0 || uri === undefined || (values.to && values.from)) {
    throw new UsageError(USAGE);
  }
  const [machine] = parseMachines(uri);
  if (!machine) throw new UsageError(USAGE);
  const { store } = await openStoreFromFlags(values);
  const say = (text: string) => void Deno.stderr.writeSync(new TextEncoder().encode(text));
  try {
    await using host = await startServeHost(serveCommandFor(machine), { host: uri });
    const direction = values.to ? "to" : "from";
    const progress = (path: string) => say(`copying path '${path}' ${direction} '${uri}'...\n`);
    const report = values.to
      ? await copyToHost(host.client, store, positionals, { progress })
      : await copyFromHost(host.client, store, positionals, { progress });
    say(
      `copied ${report.copied.length} paths (${report.bytes} bytes); ` +
        `${report.present.length} were there already\n`,
    );
    return 0;
  } finally {
    store.close();
  }
};
