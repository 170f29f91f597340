/**
 * `buildhost nar dump PATH` (NAR to stdout, like `nix-store --dump`),
 * `buildhost nar restore DIR` (NAR from stdin, like `nix-store --restore`),
 * `buildhost nar ls [--json]` (NAR from stdin; the output of
 * `nix nar ls -R -l NAR /`, or with `--json` of `nix nar ls --json -R NAR /`).
 *
 * @module
 */
import { stdinStream } from "./stdin_stream.ts";
import { parseArgs } from "./args.ts";
import { narEntries } from "../nar/nar_reader.ts";
import { narListing, narListingJson, narListingLine } from "../nar/nar_listing.ts";
import { dumpPath } from "../store/dump_path.ts";
import { restorePath } from "../store/restore_path.ts";
import { type Command, printOut, UsageError } from "./command.ts";
import { enlargePipeBuffer } from "./pipe_buffer.ts";

const USAGE = "usage: buildhost nar dump PATH | nar restore DIR | nar ls [--json]  " +
  "(NARs go to stdout and come from stdin)";

/** Write all of `data` to stdout. */
function writeOut(data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += Deno.stdout.writeSync(data.subarray(off));
}

/**
 * `buildhost nar ...`: dump, restore or list a NAR.
 *
 * @param args The arguments after `nar`.
 * @returns The exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narCommand } from "./nar_command.ts";
 * await assert.rejects(narCommand(["frobnicate"], { debug: false }), /usage/);
 * ```
 */
export const narCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: "boolean", default: false } },
  });
  const [sub, ...rest] = positionals;
  if (sub === "dump" && rest.length === 1 && !values.json) {
    // Synchronous writes: each chunk is written before the next is made
    // (the dump reuses its buffers), without a promise per chunk; into a
    // pipe, with a buffer that takes such chunks whole.
    enlargePipeBuffer(1);
    for await (const chunk of dumpPath(rest[0]!)) writeOut(chunk);
    return 0;
  }
  if (sub === "restore" && rest.length === 1 && !values.json) {
    await restorePath(rest[0]!, narEntries(stdinStream()));
    return 0;
  }
  if (sub === "ls" && rest.length === 0) {
    if (values.json) {
      const listing = await narListing(narEntries(stdinStream()));
      await printOut(narListingJson(listing)); // no newline, as Nix
      return 0;
    }
    // As Nix, print only once the whole NAR has been read and found valid.
    const lines: string[] = [];
    for await (const e of narEntries(stdinStream())) {
      const line = narListingLine(e);
      if (line !== undefined) lines.push(line + "\n");
    }
    await printOut(lines.join(""));
    return 0;
  }
  throw new UsageError(USAGE);
};
