/**
 * Nix's builtin builders (`builder = "builtin:<name>"`), run in this
 * process instead of a sandboxed program, as Nix runs them in a forked
 * process of its own.
 *
 * `builtin:fetchurl` (what `<nix/fetchurl.nix>` makes) is
 * {@linkcode fetchurl}, with the host's `hashed-mirrors`, `netrc-file` and
 * `download-attempts`.
 *
 * A failure is what a failing builder is in Nix: its message on the log
 * and exit code 1.
 *
 * `builtin:buildenv` (a `nix-env` profile) is {@linkcode buildenv};
 * `builtin:unpack-channel` (a `nix-channel` channel) is
 * {@linkcode unpackChannel}.
 *
 * @module
 */
import type { SandboxOutcome, SandboxSpec } from "./builder.ts";
import { BuildhostError } from "../errors.ts";
import { ERROR_PREFIX } from "./nix_message.ts";
import { buildenv } from "./builtin_buildenv.ts";
import {
  DEFAULT_FETCHURL_SETTINGS,
  fetchurl,
  type FetchurlSettings,
  indent,
} from "./builtin_fetchurl.ts";
import { unpackChannel } from "./builtin_unpack_channel.ts";

/** Nix's `warning:` (bold magenta). */
const WARNING_PREFIX = "\x1b[35;1mwarning:\x1b[0m";

/** The prefix of a builtin builder's name. */
export const BUILTIN_PREFIX = "builtin:";

/** A builtin builder failed; the message is what the builder's log says. */
export class BuiltinBuilderError extends BuildhostError {
  override name = "BuiltinBuilderError";
}

/**
 * Whether a derivation's builder is one of Nix's builtins.
 *
 * @param builder The derivation's `builder`.
 * @returns `true` for `builtin:...`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isBuiltin } from "./builtin_builders.ts";
 * assert.ok(isBuiltin("builtin:fetchurl"));
 * assert.ok(!isBuiltin("/bin/sh"));
 * ```
 */
export function isBuiltin(builder: string): boolean {
  return builder.startsWith(BUILTIN_PREFIX);
}

/**
 * Run a builtin builder for the Builder, in place of its sandbox runner.
 *
 * @param spec What the sandbox would get: the derivation, the outputs'
 *   physical locations (absent yet), the log sink, the cancel signal.
 * @param settings What `builtin:fetchurl` reads of Nix's settings.
 * @returns How it ended: exit 0, or exit 1 with the reason on the log.
 */
export async function runBuiltin(
  spec: SandboxSpec,
  settings: FetchurlSettings = DEFAULT_FETCHURL_SETTINGS,
): Promise<SandboxOutcome> {
  const name = spec.drv.builder.slice(BUILTIN_PREFIX.length);
  // The build's `timeout` holds for a download too (it is the only thing that can hang).
  const timeout = spec.buildTimeout > 0 ? AbortSignal.timeout(spec.buildTimeout * 1000) : null;
  const signal = timeout ? AbortSignal.any([spec.signal, timeout]) : spec.signal;
  try {
    switch (name) {
      case "fetchurl":
        await fetchurl({ ...spec, signal }, settings);
        break;
      case "buildenv": {
        const out = spec.outputs.find((o) => o.name === "out");
        if (out === undefined) throw new BuiltinBuilderError("attribute 'out' missing");
        buildenv(spec.drv.env, {
          inputs: new Map(spec.inputs.map((i) => [i.path, i.physical])),
          out,
          warn: (m) => spec.log(new TextEncoder().encode(`${WARNING_PREFIX} ${m}\n`)),
        });
        break;
      }
      case "unpack-channel": {
        const out = spec.outputs.find((o) => o.name === "out");
        if (out === undefined) throw new BuiltinBuilderError("attribute 'out' missing");
        await unpackChannel(spec.drv.env, {
          inputs: new Map(spec.inputs.map((i) => [i.path, i.physical])),
          storeDir: spec.storeDir,
          outPhysical: out.physical,
          signal,
        });
        break;
      }
      default:
        // Nix's words for a builtin it does not know.
        throw new BuiltinBuilderError(`unsupported builtin builder '${name}'`);
    }
    return { kind: "exited", code: 0 };
  } catch (e) {
    if (spec.signal.aborted) return { kind: "cancelled" };
    if (timeout?.aborted) return { kind: "timedOut" };
    const message = e instanceof Error ? e.message : String(e);
    spec.log(new TextEncoder().encode(`${ERROR_PREFIX} ${indent(message)}\n`));
    return { kind: "exited", code: 1 };
  }
}
