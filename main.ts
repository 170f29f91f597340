/**
 * The buildhost command line: a thin layer over `mod.ts`.
 *
 * @module
 */
import { COMMANDS } from "./lib/cli/commands.ts";
import { UsageError } from "./lib/cli/command.ts";

function help(): string {
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(12)} ${c.summary}`);
  return `usage: buildhost [--debug] <command> [args...]\n\ncommands:\n${lines.join("\n")}\n`;
}

/** Run the CLI with `argv`; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let debug = false;
  const args = [...argv];
  while (args[0] === "--debug") {
    debug = true;
    args.shift();
  }
  if (args.includes("--debug")) {
    debug = true;
    args.splice(args.indexOf("--debug"), 1);
  }
  // `buildhost --serve [--write] ...` is what Nix runs as a remote program.
  if (args.includes("--serve")) args.unshift("serve");
  // `buildhost --stdio [--store ...]` is what Nix runs for ssh-ng:// (as `nix-daemon --stdio`).
  else if (args.includes("--stdio") && args[0] !== "daemon") args.unshift("daemon");
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    await Deno.stdout.write(new TextEncoder().encode(help()));
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new UsageError(`unknown command "${name}"\n${help()}`);
    const run = await cmd.load();
    return await run(rest, { debug });
  } catch (e) {
    if (debug) console.error(e);
    else console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof UsageError ? 2 : 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
