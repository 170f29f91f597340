/**
 * Command-line options: the part of `node:util`'s `parseArgs` that the
 * commands use (long options, strict), without loading `node:util`, which
 * costs every buildhost process some 15–20 ms of start-up and 4 MiB (it
 * brings in most of Deno's Node compatibility layer; a serve session that
 * only shakes hands took twice as long to start as an empty `deno run`).
 *
 * - `--name value` and `--name=value` for string options; a value that looks
 *   like an option (`--name --other`) must be given as `--name=--other`.
 * - `--name` for boolean options, which take no value.
 * - `multiple: true` collects every occurrence in order; otherwise the last
 *   one wins. `default` applies when an option is absent.
 * - `--` ends the options: everything after it is a positional.
 * - Anything else starting with `-` (but `-` alone) is an unknown option;
 *   positionals are refused unless `allowPositionals`.
 *
 * Errors are {@linkcode UsageError}s naming the argument at fault.
 *
 * @module
 */
import { UsageError } from "./command.ts";

/** One option: a flag (`boolean`) or one that takes a value (`string`). */
export interface OptionSpec {
  type: "boolean" | "string";
  /** Collect every occurrence (an array) instead of keeping the last. */
  multiple?: boolean;
  /** The value when the option is not given. */
  default?: boolean | string | readonly boolean[] | readonly string[];
}

type Single<S> = S extends { type: "boolean" } ? boolean : string;
type Value<S> = S extends { multiple: true } ? Single<S>[] : Single<S>;

/** The parsed values: an option without a default may be undefined. */
export type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends { default: unknown } ? Value<O[K]> : Value<O[K]> | undefined;
};

/** An argument as it was given, in order: an option (by name) or a positional. */
export type ArgToken = { kind: "option"; name: string } | { kind: "positional"; value: string };

/** What {@linkcode parseArgs} found. */
export interface ParsedArgs<O extends Record<string, OptionSpec>> {
  values: OptionValues<O>;
  positionals: string[];
  tokens: ArgToken[];
}

/**
 * Parse `args` against `options`.
 *
 * @param config The arguments, the options, whether positionals are allowed.
 * @returns The values (by option name), the positionals, and every argument in order.
 * @throws {UsageError} For an unknown option, a missing or unexpected value,
 * or a positional that is not allowed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseArgs } from "./args.ts";
 * const { values, positionals } = parseArgs({
 *   args: ["--store", "/s", "--json", "x", "--ref=a", "--ref", "b"],
 *   allowPositionals: true,
 *   options: {
 *     store: { type: "string" },
 *     json: { type: "boolean", default: false },
 *     ref: { type: "string", multiple: true, default: [] },
 *   },
 * });
 * assert.deepEqual(values, { store: "/s", json: true, ref: ["a", "b"] });
 * assert.deepEqual(positionals, ["x"]);
 * assert.throws(() => parseArgs({ args: ["--nope"], options: {} }), /Unknown option '--nope'/);
 * ```
 */
export function parseArgs<const O extends Record<string, OptionSpec>>(config: {
  args: readonly string[];
  options: O;
  allowPositionals?: boolean;
}): ParsedArgs<O> {
  const { args, options } = config;
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  const tokens: ArgToken[] = [];
  const positional = (value: string) => {
    if (!config.allowPositionals) {
      throw new UsageError(
        `Unexpected argument '${value}'. This command does not take positional arguments`,
      );
    }
    positionals.push(value);
    tokens.push({ kind: "positional", value });
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      for (const rest of args.slice(i + 1)) positional(rest);
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") ? arg.slice(2, eq < 0 ? undefined : eq) : "";
    const spec = Object.hasOwn(options, name) ? options[name] : undefined;
    if (!spec) throw new UsageError(`Unknown option '${eq < 0 ? arg : arg.slice(0, eq)}'`);
    let value: string | boolean;
    if (spec.type === "boolean") {
      if (eq >= 0) throw new UsageError(`Option '--${name}' does not take an argument`);
      value = true;
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = args[i + 1];
      if (next === undefined) throw new UsageError(`Option '--${name} <value>' argument missing`);
      if (next.length > 1 && next.startsWith("-")) {
        throw new UsageError(
          `Option '--${name}' argument is ambiguous: to give a value starting with '-', ` +
            `use '--${name}=${next}'`,
        );
      }
      value = next;
      i++;
    }
    tokens.push({ kind: "option", name });
    if (spec.multiple) {
      const list = values[name];
      if (Array.isArray(list)) list.push(value);
      else values[name] = [value];
    } else {
      values[name] = value;
    }
  }
  for (const [name, spec] of Object.entries(options)) {
    if (values[name] === undefined && spec.default !== undefined) {
      values[name] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    }
  }
  return { values: values as OptionValues<O>, positionals, tokens };
}
