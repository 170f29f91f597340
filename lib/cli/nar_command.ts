/**
 * `buildhost nar dump PATH`, `buildhost nar restore DIR`, `buildhost nar ls [--json]`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { WireReader } from "../wire/wire_reader.ts";
import { narEntries } from "../nar/nar_reader.ts";
import { formatNarListing, listNar } from "../nar/nar_listing.ts";
import { NarError } from "../nar/nar_error.ts";
import { dumpPath } from "../store/dump_path.ts";
import { restorePath } from "../store/restore_path.ts";
import { type Command, printOut, UsageError } from "./command.ts";

const USAGE = "usage: buildhost nar dump PATH | nar restore DIR | nar ls [--json]  " +
  "(NARs go to stdout and come from stdin)";

/** `buildhost nar ...` */
export const narCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: "boolean", default: false } },
  });
  const [sub, ...rest] = positionals;
  if (sub === "dump" && rest.length === 1) {
    const w = Deno.stdout.writable.getWriter();
    try {
      for await (const chunk of dumpPath(rest[0]!)) await w.write(chunk);
    } finally {
      w.releaseLock();
    }
    return 0;
  }
  if (sub === "restore" && rest.length === 1) {
    await restorePath(rest[0]!, narEntries(Deno.stdin.readable));
    return 0;
  }
  if (sub === "ls" && rest.length === 0) {
    const r = new WireReader(Deno.stdin.readable);
    const listing = await listNar(r);
    const at = r.offset;
    if (!(await r.atEnd())) {
      throw new NarError(at, "", "there are bytes after the end of the archive");
    }
    const text = values.json ? JSON.stringify(listing) : formatNarListing(listing).join("\n");
    await printOut(text + "\n");
    return 0;
  }
  throw new UsageError(USAGE);
};
