/**
 * The table of CLI commands: `buildhost <name> ...`.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { hashCommand } from "./hash_command.ts";

/** Each command with a one-line summary for `buildhost --help`. */
export const COMMANDS: Record<string, { run: Command; summary: string }> = {
  hash: { run: hashCommand, summary: "hash a path (as a NAR) or files, like `nix hash`" },
  // -- nar command (NAR helper adds its line here) --
  // -- derivation command (derivation helper adds its line here) --
};
