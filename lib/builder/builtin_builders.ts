/**
 * Nix's builtin builders (`builder = "builtin:<name>"`), run in this
 * process instead of a sandboxed program, as Nix runs them in a forked
 * process of its own.
 *
 * `builtin:fetchurl` (what `<nix/fetchurl.nix>` makes), as Nix 2.8's
 * `builtins/fetchurl.cc`:
 * - the derivation must have a fixed `out` output (only those get the
 *   network; later Nix refuses the others with the same words);
 * - the attribute `url` is downloaded (`http:`, `https:`, `file:`), the
 *   body streamed to the output's location: a regular file, or with
 *   `unpack = "1"` a NAR restored there;
 * - `executable = "1"` makes the file executable (canonicalisation then
 *   gives it mode 0555);
 * - the output's hash is checked by the Builder's output registration,
 *   before anything is registered, as for any fixed output.
 *
 * A failure is what a failing builder is in Nix: its message on the log
 * and exit code 1. Not done: Nix's `hashed-mirrors` (empty by default),
 * the host's netrc, xz-compressed NARs for `unpack`.
 *
 * `builtin:buildenv` (a `nix-env` profile) is {@linkcode buildenv};
 * `builtin:unpack-channel` (a `nix-channel` channel) is
 * {@linkcode unpackChannel}.
 *
 * @module
 */
import type { SandboxOutcome, SandboxSpec } from "./builder.ts";
import { narEntries } from "../nar/nar_reader.ts";
import { restorePath } from "../store/restore_path.ts";
import { BuildhostError } from "../errors.ts";
import { ERROR_PREFIX } from "./nix_message.ts";
import { buildenv } from "./builtin_buildenv.ts";
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
 * @returns How it ended: exit 0, or exit 1 with the reason on the log.
 */
export async function runBuiltin(spec: SandboxSpec): Promise<SandboxOutcome> {
  const name = spec.drv.builder.slice(BUILTIN_PREFIX.length);
  // The build's `timeout` holds for a download too (it is the only thing that can hang).
  const timeout = spec.buildTimeout > 0 ? AbortSignal.timeout(spec.buildTimeout * 1000) : null;
  const signal = timeout ? AbortSignal.any([spec.signal, timeout]) : spec.signal;
  try {
    switch (name) {
      case "fetchurl":
        await fetchurl({ ...spec, signal });
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
    spec.log(new TextEncoder().encode(`${ERROR_PREFIX} ${message}\n`));
    return { kind: "exited", code: 1 };
  }
}

/** `builtin:fetchurl`: download `url` into the `out` output. */
async function fetchurl(spec: SandboxSpec): Promise<void> {
  const { drv } = spec;
  const out = spec.outputs.find((o) => o.name === "out");
  if (out === undefined) {
    throw new BuiltinBuilderError("'builtin:fetchurl' requires an 'out' output");
  }
  if (!spec.network) {
    throw new BuiltinBuilderError("'builtin:fetchurl' must be a fixed-output derivation");
  }
  const url = drv.env.get("url");
  if (url === undefined) throw new BuiltinBuilderError("attribute 'url' missing");
  const unpack = drv.env.get("unpack") === "1";
  const executable = drv.env.get("executable") === "1";
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BuiltinBuilderError(`unable to download '${url}': URL using bad/illegal format`);
  }
  if (!["http:", "https:", "file:"].includes(parsed.protocol)) {
    throw new BuiltinBuilderError(
      `unable to download '${url}': unsupported protocol '${parsed.protocol.slice(0, -1)}'`,
    );
  }
  if (unpack && url.endsWith(".xz")) {
    throw new BuiltinBuilderError(
      `cannot unpack '${url}': xz-compressed archives are not supported by buildhost`,
    );
  }
  spec.log(new TextEncoder().encode(`downloading '${url}'...\n`));
  let response: Response;
  try {
    response = await fetch(parsed, { signal: spec.signal, redirect: "follow" });
  } catch (e) {
    throw new BuiltinBuilderError(
      `unable to download '${url}': ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new BuiltinBuilderError(`unable to download '${url}': HTTP error ${response.status}`);
  }
  if (unpack) {
    await restorePath(out.physical, narEntries(response.body));
    return;
  }
  const file = await Deno.open(out.physical, { write: true, createNew: true, mode: 0o644 });
  // pipeTo closes the file, also when the download breaks off.
  await response.body.pipeTo(file.writable);
  if (executable) await Deno.chmod(out.physical, 0o755);
}
