/**
 * After a builder exits successfully: check and register its outputs, as
 * Nix does. Every output must exist; it is canonicalised (mtime 1, no write
 * bits); its NAR is hashed while its references are scanned (candidates: the
 * input closure and the outputs themselves); a fixed output's hash must be
 * the declared one and it may refer to nothing; `allowedReferences`,
 * `disallowedReferences`, `allowedRequisites` and `disallowedRequisites`
 * are enforced; then all outputs are moved into place and registered in one
 * transaction by the store's one install (`Store.installPaths`, which
 * imports use too). On any failure nothing is registered.
 *
 * An output that is valid already (a derivation with several outputs, some
 * of them built before) is left alone, as Nix does: its files, its
 * registration and its NAR hash stay as they are; what the builder wrote
 * for it is discarded.
 *
 * @module
 */
import { Hash, type HashAlgorithm, HashSink } from "../hash/hash.ts";
import { ReferenceScanner } from "../store_path/reference_scanner.ts";
import { StorePath } from "../store_path/store_path.ts";
import type { BasicDerivation, DerivationOutput } from "../derivation/derivation.ts";
import { canonicalisePath } from "../store/canonicalise.ts";
import { dumpPath } from "../store/dump_path.ts";
import type { PathInfo } from "../store/path_info.ts";
import type { Store } from "../store/store.ts";
import { BuildhostError } from "../errors.ts";
import { BuildStatus } from "../derivation/build_result.ts";
import { magenta, RESET } from "./nix_message.ts";

/** An output that breaks the derivation's rules; carries the status to report. */
export class OutputRejectedError extends BuildhostError {
  override name = "OutputRejectedError";
  /**
   * @param status The build status to report.
   * @param message What is wrong, naming the output.
   */
  constructor(readonly status: BuildStatus, message: string) {
    super(message);
  }
}

/** A file in an output that is not a regular file, a directory or a symlink (a FIFO, a socket, a device). */
export class UnsupportedFileTypeError extends BuildhostError {
  override name = "UnsupportedFileTypeError";
  /** @param path The file, as a store path (`/nix/store/…-out/sub/file`). */
  constructor(readonly path: string) {
    super(`file '${path}' has an unsupported type`); // Nix's words
  }
}

/**
 * The first file under `path` (itself included) that a NAR cannot hold,
 * relative to `path` ("" for `path` itself); symlinks are not followed.
 */
function findUnsupported(path: string, rel = ""): string | undefined {
  const st = Deno.lstatSync(path);
  if (st.isFile || st.isSymlink) return undefined;
  if (!st.isDirectory) return rel;
  for (const e of Deno.readDirSync(path)) {
    const found = findUnsupported(`${path}/${e.name}`, `${rel}/${e.name}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** One built output: its logical store path and where the builder left it. */
export interface BuiltOutput {
  /** Output name. */
  name: string;
  /** Full store path. */
  path: string;
  /** Physical location of the files the builder wrote. */
  scratch: string;
}

function declaredFixed(o: DerivationOutput | undefined) {
  return o?.kind === "fixed" ? o : undefined;
}

/**
 * Check, register and move into place the outputs of a successful build.
 *
 * @param store The store.
 * @param drv The derivation.
 * @param drvPath Its `.drv` path (the outputs' deriver).
 * @param outputs The outputs and their scratch locations.
 * @param inputClosure The store paths the build could see.
 * @returns The path infos of the outputs registered now (not of those valid before).
 * @throws {OutputRejectedError} When an output is missing or breaks a rule.
 * @throws {UnsupportedFileTypeError} When an output holds a FIFO, socket or device.
 */
export async function registerOutputs(
  store: Store,
  drv: BasicDerivation,
  drvPath: string,
  outputs: BuiltOutput[],
  inputClosure: string[],
): Promise<PathInfo[]> {
  const hashPartOf = new Map<string, string>();
  for (const p of [...inputClosure, ...outputs.map((o) => o.path)]) {
    hashPartOf.set(StorePath.parse(p, store.storeDir).hashPart, p);
  }
  const allOutputs = outputs;
  // Valid outputs are never rewritten nor registered again (the caller holds their locks).
  outputs = outputs.filter((o) => !store.isValid(o.path));
  const infos: PathInfo[] = [];
  for (const out of outputs) {
    try {
      Deno.lstatSync(out.scratch);
    } catch {
      // Nix's words (it names the place in its chroot; this is the store path)
      throw new OutputRejectedError(
        BuildStatus.OutputRejected,
        `${RESET}builder for '${magenta(drvPath)}' failed to produce output path for output '${
          magenta(out.name)
        }' at '${magenta(out.path)}'`,
      );
    }
    const unsupported = findUnsupported(out.scratch);
    if (unsupported !== undefined) throw new UnsupportedFileTypeError(out.path + unsupported);
    canonicalisePath(out.scratch);
    const narSink = new HashSink("sha256");
    const scanner = new ReferenceScanner([...hashPartOf.keys()]);
    const fixed = declaredFixed(drv.outputs.get(out.name));
    const recursiveSink = fixed?.method === "recursive" && fixed.hash.algorithm !== "sha256"
      ? new HashSink(fixed.hash.algorithm as HashAlgorithm)
      : undefined;
    for await (const chunk of dumpPath(out.scratch)) {
      narSink.write(chunk);
      scanner.write(chunk);
      recursiveSink?.write(chunk);
    }
    const narHash = narSink.digest();
    const references = [...scanner.found()].map((h) => hashPartOf.get(h)!).sort();
    const info: PathInfo = {
      path: out.path,
      deriver: drvPath,
      narHash,
      narSize: narSink.size,
      references,
      registrationTime: Math.floor(Date.now() / 1000),
      ultimate: true,
      sigs: [],
    };
    if (fixed) {
      let got: Hash;
      if (fixed.method === "recursive") got = recursiveSink?.digest() ?? narHash;
      else {
        const st = Deno.lstatSync(out.scratch);
        if (!st.isFile) {
          throw new OutputRejectedError(
            BuildStatus.OutputRejected,
            `output '${out.path}' of fixed-output derivation '${drvPath}' is not a regular file (flat hashing)`,
          );
        }
        got = Hash.of(fixed.hash.algorithm as HashAlgorithm, Deno.readFileSync(out.scratch));
      }
      if (!got.equals(fixed.hash)) {
        throw new OutputRejectedError(
          BuildStatus.OutputRejected,
          `${RESET}hash mismatch in fixed-output derivation '${magenta(drvPath)}':\n  specified: ${
            magenta(fixed.hash.toString("sri"))
          }\n     got:    ${magenta(got.toString("sri"))}`,
        );
      }
      if (references.length > 0) {
        throw new OutputRejectedError(
          BuildStatus.OutputRejected,
          `illegal path references in fixed-output derivation '${drvPath}'`,
        );
      }
      info.ca = `fixed:${fixed.method === "recursive" ? "r:" : ""}${got.toString("base32", true)}`;
    }
    infos.push(info);
  }
  checkReferenceRules(store, drv, infos, allOutputs);
  // Move into place and register all outputs at once (the store's one install).
  store.installPaths(outputs.map((o, i) => ({ tmp: o.scratch, info: infos[i]! })), "build");
  return infos;
}

/** Enforce allowedReferences / disallowedReferences / allowedRequisites / disallowedRequisites. */
function checkReferenceRules(
  store: Store,
  drv: BasicDerivation,
  infos: PathInfo[],
  outputs: BuiltOutput[],
): void {
  const rule = (key: string) => {
    const v = drv.env.get(key);
    return v === undefined ? undefined : v.split(/\s+/).filter((s) => s !== "");
  };
  const outputPaths = new Map<string, string>();
  for (const i of infos) outputPaths.set(i.path, i.path);
  const names = new Map(outputs.map((o) => [o.name, o.path]));
  /** Rule entries may name outputs ("out") or store paths. */
  const resolve = (items: string[]) => new Set(items.map((x) => names.get(x) || x));
  for (const info of infos) {
    const closure = () => {
      const own = new Set([info.path]);
      const others = info.references.filter((r) => !outputPaths.has(r));
      for (const p of store.closure(others)) own.add(p);
      for (const r of info.references) own.add(r);
      return [...own];
    };
    // in Nix's order
    const checks: [string, () => string[], boolean][] = [
      ["allowedReferences", () => info.references, true],
      ["allowedRequisites", closure, true],
      ["disallowedReferences", () => info.references, false],
      ["disallowedRequisites", closure, false],
    ];
    for (const [key, get, allowed] of checks) {
      const items = rule(key);
      if (items === undefined) continue;
      const set = resolve(items);
      const bad = get().filter((p) => p !== info.path && (allowed ? !set.has(p) : set.has(p)));
      if (bad.length > 0) {
        // Nix's words, every offending path on a line of its own
        throw new OutputRejectedError(
          BuildStatus.OutputRejected,
          `${RESET}output '${magenta(info.path)}' is not allowed to refer to the following paths:${
            magenta(bad.sort().map((p) => `\n  ${p}`).join(""))
          }`,
        );
      }
    }
  }
}
