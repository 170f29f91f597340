/**
 * `buildhost log PATH [--store ROOT]`: print the kept build log of a
 * derivation, or of an output path through its deriver, as `nix log` does
 * (logs are kept in Nix's layout, see `openBuildLog`).
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { Store } from "../store/store.ts";
import { defaultStoreRoot } from "../store/store_layout.ts";
import { readBuildLog } from "../store/build_log.ts";
import { BuildhostError } from "../errors.ts";
import { type Command, UsageError } from "./command.ts";

const USAGE = "usage: buildhost log PATH [--store ROOT]";

/** `buildhost log ...` */
export const logCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { store: { type: "string" }, "store-dir": { type: "string" } },
  });
  if (positionals.length !== 1) throw new UsageError(USAGE);
  const path = positionals[0]!;
  const store = await Store.open(values.store ?? defaultStoreRoot(), values["store-dir"]);
  try {
    const log = readBuildLog(store, path);
    // Nix's words
    if (!log) throw new BuildhostError(`build log of '${path}' is not available`);
    await log.pipeTo(Deno.stdout.writable, { preventClose: true });
    return 0;
  } finally {
    store.close();
  }
};
