/**
 * What every CLI command shares: its signature, the usage error, and the
 * global options parsed by `main.ts`.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/** Options every command receives from `main.ts`. */
export interface GlobalOptions {
  /** Print stack traces of errors. */
  debug: boolean;
}

/** A CLI command: gets its own arguments (after its name), returns the exit code. */
export type Command = (args: string[], global: GlobalOptions) => Promise<number>;

/** The user called a command wrongly; the message says how to call it. */
export class UsageError extends BuildhostError {
  override name = "UsageError";
}

/** Write text to standard output, all of it. */
export async function printOut(text: string): Promise<void> {
  const data = new TextEncoder().encode(text);
  let off = 0;
  while (off < data.length) off += await Deno.stdout.write(data.subarray(off));
}
