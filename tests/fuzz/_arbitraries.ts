/**
 * Generated values for the round-trip properties: derivations and serve
 * requests (built on the serve tests' generators of paths, strings and
 * hashes).
 *
 * @module
 */
import fc from "fast-check";
import type { Derivation, DerivationOutput } from "../../lib/derivation/derivation.ts";
import { fixedOutputPath } from "../../lib/derivation/derivation.ts";
import { compareUtf8 } from "../../lib/wire/utf8_order.ts";
import type { ServeRequest } from "../../lib/serve_protocol/requests.ts";
import {
  arbName,
  arbOutputName,
  arbPath,
  arbPathSet,
  arbSafe,
  arbSha256,
  arbText,
  arbTextSet,
  arbU32,
} from "../serve_protocol/_codec.ts";

const arbOutput = (drvName: string, outName: string): fc.Arbitrary<DerivationOutput> =>
  fc.oneof(
    fc.constant<DerivationOutput>({ kind: "deferred" }),
    arbPath.map((path): DerivationOutput => ({ kind: "inputAddressed", path })),
    fc.tuple(fc.constantFrom("flat" as const, "recursive" as const), arbSha256).map((
      [method, hash],
    ): DerivationOutput => ({
      kind: "fixed",
      path: fixedOutputPath(drvName, outName, { method, hash }),
      method,
      hash,
    })),
    fc.tuple(
      fc.constantFrom("flat" as const, "recursive" as const),
      fc.constantFrom("md5" as const, "sha1" as const, "sha256" as const, "sha512" as const),
      fc.constantFrom("floating" as const, "impure" as const),
    ).map(([method, hashAlgo, kind]): DerivationOutput => ({ kind, method, hashAlgo })),
  );

const sortedMap = <V>(entries: [string, V][]): Map<string, V> =>
  new Map(entries.sort(([a], [b]) => compareUtf8(a, b)));

/** A derivation (with input derivations), its collections sorted as the parsers return them. */
export const arbDerivation: fc.Arbitrary<Derivation> = arbName
  .filter((n) => n.length < 150)
  .chain((name) =>
    fc.record({
      name: fc.constant(name),
      outputs: fc.uniqueArray(arbOutputName, { minLength: 1, maxLength: 3 }).chain((names) =>
        fc.tuple(...names.map((n) => arbOutput(name, n).map((o) => [n, o] as [string, typeof o])))
      ).map(sortedMap),
      inputDrvs: fc.uniqueArray(
        fc.tuple(
          arbPath.map((p) => `${p}.drv`),
          fc.uniqueArray(arbOutputName, { minLength: 1, maxLength: 3 }).map((a) =>
            a.sort(compareUtf8)
          ),
        ),
        { maxLength: 3, selector: ([p]) => p },
      ).map(sortedMap),
      inputSrcs: arbPathSet,
      // Nix prints the platform without escapes: one with '"' or '\\' has no .drv form.
      platform: arbText.filter((t) => !/["\\]/.test(t)),
      builder: arbText,
      args: fc.array(arbText, { maxLength: 4 }),
      env: fc.uniqueArray(fc.tuple(arbText, arbText), { maxLength: 4, selector: ([k]) => k })
        .map(sortedMap),
    }, { noNullPrototype: true })
  );

const arbOptions = fc.record({
  maxSilentTime: arbU32,
  buildTimeout: arbU32,
  maxLogSize: arbSafe,
  nrRepeats: arbU32,
  enforceDeterminism: fc.boolean(),
  keepFailed: fc.boolean(),
}, { noNullPrototype: true });

/** Any serve request. */
export const arbRequest: fc.Arbitrary<ServeRequest> = fc.oneof(
  fc.record({
    command: fc.constant("QueryValidPaths" as const),
    lock: fc.boolean(),
    substitute: fc.boolean(),
    paths: arbPathSet,
  }, { noNullPrototype: true }),
  fc.record({ command: fc.constant("QueryPathInfos" as const), paths: arbPathSet }, {
    noNullPrototype: true,
  }),
  fc.record({ command: fc.constant("DumpStorePath" as const), path: arbPath }, {
    noNullPrototype: true,
  }),
  fc.constant({ command: "ImportPaths" as const }),
  fc.record(
    { command: fc.constant("ExportPaths" as const), sign: fc.boolean(), paths: arbPathSet },
    { noNullPrototype: true },
  ),
  fc.record({
    command: fc.constant("BuildPaths" as const),
    paths: fc.array(
      fc.tuple(arbPath, fc.constantFrom("", "!out", "!dev,out", "!*")).map(([p, s]) => p + s),
      { maxLength: 3 },
    ),
    options: arbOptions,
  }, { noNullPrototype: true }),
  fc.record({
    command: fc.constant("QueryClosure" as const),
    includeOutputs: fc.boolean(),
    paths: arbPathSet,
  }, { noNullPrototype: true }),
  fc.record({
    command: fc.constant("BuildDerivation" as const),
    drvPath: arbName.filter((n) => n.length < 150).chain((n) =>
      arbPath.map((p) => `${p.slice(0, 44)}${n}.drv`)
    ),
    drv: arbDerivation.map(({ inputDrvs: _, ...basic }) => basic),
    options: arbOptions,
  }, { noNullPrototype: true }).map((r) => ({
    ...r,
    drv: { ...r.drv, name: r.drvPath.slice(44, -4) },
  })),
  fc.record({
    command: fc.constant("AddToStoreNar" as const),
    header: fc.record({
      path: arbPath,
      narHash: arbSha256,
      references: arbPathSet,
      registrationTime: arbSafe,
      narSize: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      ultimate: fc.boolean(),
      sigs: arbTextSet,
    }, { noNullPrototype: true }),
  }, { noNullPrototype: true }),
);
