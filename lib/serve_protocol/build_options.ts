/**
 * The build options that follow the request of BuildPaths and
 * BuildDerivation.
 *
 * ```
 * u64 maxSilentTime        seconds without output before the build is killed (0: none)
 * u64 buildTimeout         seconds before the build is killed (0: none)
 * u64 maxLogSize           (>= 2.2) bytes of log before the build is killed (0: none)
 * u64 nrRepeats            (>= 2.3) extra rounds to check determinism
 * u64 enforceDeterminism   (>= 2.3) bool
 * u64 keepFailed           (>= 2.7) bool: keep the build directory of a failed build
 * ```
 *
 * Nix reads maxSilentTime, buildTimeout and nrRepeats as C `unsigned int`s,
 * so they are at most 2^32-1 here too. Nix takes any non-zero value as true
 * for the two bools; here only 0 and 1 are accepted.
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { FieldReader, FieldWriter, MAX_U32 } from "./_fields.ts";
import { protocolMinor, type ProtocolVersion } from "./protocol.ts";

/**
 * Build options. The fields a protocol minor does not have are absent when
 * read at that minor, and ignored when written at it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ServeBuildOptions } from "./build_options.ts";
 * const o: ServeBuildOptions = { maxSilentTime: 0, buildTimeout: 3600, maxLogSize: 0 };
 * assert.equal(o.nrRepeats, undefined);
 * ```
 */
export interface ServeBuildOptions {
  /** Seconds without output before the build is killed; 0 for no limit. */
  maxSilentTime: number;
  /** Seconds before the build is killed; 0 for no limit. */
  buildTimeout: number;
  /** (>= 2.2) Bytes of log before the build is killed; 0 for no limit. */
  maxLogSize?: number;
  /** (>= 2.3) Extra rounds to check that the build is deterministic. */
  nrRepeats?: number;
  /** (>= 2.3) Fail when the rounds differ (Nix 2.8's default: true). */
  enforceDeterminism?: boolean;
  /** (>= 2.7) Keep the build directory of a failed build. */
  keepFailed?: boolean;
}

/**
 * What {@linkcode writeBuildOptions} sends for a field the minor has but the
 * options leave out: Nix 2.8's default settings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUILD_OPTION_DEFAULTS } from "./build_options.ts";
 * assert.equal(BUILD_OPTION_DEFAULTS.enforceDeterminism, true);
 * ```
 */
export const BUILD_OPTION_DEFAULTS: Readonly<Required<ServeBuildOptions>> = {
  maxSilentTime: 0,
  buildTimeout: 0,
  maxLogSize: 0,
  nrRepeats: 0,
  enforceDeterminism: true,
  keepFailed: false,
};

/**
 * Options of {@linkcode readBuildOptions} and {@linkcode writeBuildOptions}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BuildOptionsCodecOptions } from "./build_options.ts";
 * const o: BuildOptionsCodecOptions = { command: "BuildPaths request" };
 * assert.ok(o.command);
 * ```
 */
export interface BuildOptionsCodecOptions {
  /** What is being read or written, for error messages (default `"BuildDerivation request"`). */
  command?: string;
}

/**
 * Read build options.
 *
 * @param r The stream.
 * @param version The session's version (its minor gates the fields).
 * @param options The command, for error messages.
 * @returns The options, without the fields the minor does not have.
 * @throws {ServeProtocolError} On a short stream, a bad bool or a number out of range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeU64 } from "../wire/wire_writer.ts";
 * import { readBuildOptions } from "./build_options.ts";
 * const bytes = [10, 20, 30].map(encodeU64);
 * const o = await readBuildOptions(new WireReader(ReadableStream.from(bytes)), 0x202);
 * assert.deepEqual(o, { maxSilentTime: 10, buildTimeout: 20, maxLogSize: 30 });
 * ```
 */
export async function readBuildOptions(
  r: WireReader,
  version: ProtocolVersion,
  options: BuildOptionsCodecOptions = {},
): Promise<ServeBuildOptions> {
  const fr = new FieldReader(r, options.command ?? "BuildDerivation request");
  const minor = protocolMinor(version);
  const o: ServeBuildOptions = {
    maxSilentTime: await fr.number("options.maxSilentTime", MAX_U32),
    buildTimeout: await fr.number("options.buildTimeout", MAX_U32),
  };
  if (minor >= 2) o.maxLogSize = await fr.number("options.maxLogSize");
  if (minor >= 3) {
    o.nrRepeats = await fr.number("options.nrRepeats", MAX_U32);
    o.enforceDeterminism = await fr.bool("options.enforceDeterminism");
  }
  if (minor >= 7) o.keepFailed = await fr.bool("options.keepFailed");
  return o;
}

/**
 * Write build options: the fields the minor has, Nix 2.8's defaults for
 * those left out ({@linkcode BUILD_OPTION_DEFAULTS}).
 *
 * @param w The stream.
 * @param o The options.
 * @param version The session's version (its minor gates the fields).
 * @param options The command, for error messages.
 * @throws {ServeProtocolError} When a number is negative, fractional or too large.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeBuildOptions } from "./build_options.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * writeBuildOptions(w, { maxSilentTime: 0, buildTimeout: 0 }, 0x207);
 * await w.flush();
 * assert.equal(sink.bytes().length, 6 * 8);
 * assert.equal(sink.bytes()[32], 1); // enforceDeterminism defaults to true
 * ```
 */
export function writeBuildOptions(
  w: WireWriter,
  o: ServeBuildOptions,
  version: ProtocolVersion,
  options: BuildOptionsCodecOptions = {},
): void {
  const fw = new FieldWriter(w, options.command ?? "BuildDerivation request");
  const minor = protocolMinor(version);
  const d = BUILD_OPTION_DEFAULTS;
  fw.u64("options.maxSilentTime", o.maxSilentTime, MAX_U32);
  fw.u64("options.buildTimeout", o.buildTimeout, MAX_U32);
  if (minor >= 2) fw.u64("options.maxLogSize", o.maxLogSize ?? d.maxLogSize);
  if (minor >= 3) {
    fw.u64("options.nrRepeats", o.nrRepeats ?? d.nrRepeats, MAX_U32);
    fw.bool("options.enforceDeterminism", o.enforceDeterminism ?? d.enforceDeterminism);
  }
  if (minor >= 7) fw.bool("options.keepFailed", o.keepFailed ?? d.keepFailed);
}
