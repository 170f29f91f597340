/**
 * Building a derivation on a serve host without sending its `.drv`
 * closure (Nix commit 1511aa9f): the inputs it needs (its input sources and
 * the outputs of its input derivations, with their closure) are copied to
 * the host where missing, the derivation goes in memory as a
 * BasicDerivation whose input sources list them all, and the outputs come
 * back on success.
 *
 * @module
 */
import { type BasicDerivation, type Derivation, outputPath } from "../derivation/derivation.ts";
import type { Store } from "../store/store.ts";
import { readStoreDerivation } from "../store/store_derivation.ts";
import type { ServeBuildOptions } from "../serve_protocol/build_options.ts";
import { type BuildResult, isBuildSuccess } from "../derivation/build_result.ts";
import { copyFromHost, type CopyOptions, type CopyReport, copyToHost } from "./copy_paths.ts";
import { RemoteError } from "./remote_error.ts";
import type { RemoteClient } from "./remote_client.ts";

/** What a remote build did. */
export interface RemoteBuildReport {
  /** The host's answer. */
  result: BuildResult;
  /** The inputs sent. */
  sent: CopyReport;
  /** The outputs fetched (on success). */
  fetched?: CopyReport;
  /** Output name → store path. */
  outputs: Map<string, string>;
}

/**
 * The derivation as the host gets it: no input derivations; input sources
 * are its own plus the outputs it uses of its input derivations (which must
 * be valid here).
 *
 * @param store The local store (holding the input derivations).
 * @param drv The derivation.
 * @returns The BasicDerivation.
 * @throws {RemoteError} An input derivation's output is not valid here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Store } from "../store/store.ts";
 * import { basicDerivationFor } from "./remote_build.ts";
 * const dir = await Deno.makeTempDir();
 * const store = await Store.open(dir);
 * const src = await store.addText("src.txt", "x");
 * const basic = basicDerivationFor(store, {
 *   name: "x", outputs: new Map([["out", { kind: "deferred" }]]), inputDrvs: new Map(),
 *   inputSrcs: [src.path], platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map(),
 * });
 * assert.deepEqual(basic.inputSrcs, [src.path]);
 * assert.ok(!("inputDrvs" in basic));
 * store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function basicDerivationFor(store: Store, drv: Derivation): BasicDerivation {
  const inputs = new Set(drv.inputSrcs);
  for (const [inputDrv, names] of drv.inputDrvs) {
    const dep = readStoreDerivation(store, inputDrv);
    for (const name of names) {
      const o = dep.outputs.get(name);
      const path = o && outputPath(dep.name, name, o, store.storeDir);
      if (!path || !store.isValid(path)) {
        throw new RemoteError(
          "this machine",
          `send the inputs of ${drv.name}`,
          `output '${name}' of ${inputDrv} is not built here yet`,
        );
      }
      inputs.add(path);
    }
  }
  const { inputDrvs: _, ...basic } = drv;
  return { ...basic, inputSrcs: [...inputs].sort() };
}

/**
 * Build `drvPath` (a valid `.drv` in `store`, its input derivations built)
 * on the host, and fetch its outputs.
 *
 * @param client A session with the host (`--write`).
 * @param store The local store.
 * @param drvPath The derivation.
 * @param options Build limits, and progress reports for the copies.
 * @returns The host's result and what went over.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Store } from "../store/store.ts";
 * import { Builder, type SandboxRunner } from "../builder/builder.ts";
 * import { printDerivation } from "../derivation/aterm.ts";
 * import { derivationPath, HashModulo } from "../derivation/hash_modulo.ts";
 * import { ServeServer } from "../serve/server.ts";
 * import { ServeClient } from "./serve_client.ts";
 * import { inProcessHost } from "./in_process_host.ts";
 * import { buildOnHost } from "./remote_build.ts";
 * const dir = await Deno.makeTempDir();
 * const here = await Store.open(`${dir}/here`), there = await Store.open(`${dir}/there`);
 * const drv = await new HashModulo(() => { throw new Error("no inputs"); }).withOutputPaths({
 *   name: "x", outputs: new Map([["out", { kind: "deferred" }]]), inputDrvs: new Map(),
 *   inputSrcs: [], platform: "x86_64-linux", builder: "/bin/sh", args: [],
 *   env: new Map([["out", ""]]),
 * });
 * await here.addText("x.drv", printDerivation(drv));
 * // a stand-in for the sandbox: it writes the output itself
 * const runner: SandboxRunner = async (spec) => {
 *   await Deno.writeTextFile(spec.outputs[0]!.physical, "built\n");
 *   return { kind: "exited", code: 0 };
 * };
 * const server = new ServeServer(there, { write: true, log: () => {}, builder: new Builder(there, runner) });
 * const host = inProcessHost(server);
 * const client = await ServeClient.connect(host.transport);
 * const report = await buildOnHost(client, here, derivationPath(drv));
 * assert.equal(report.result.status, "Built");
 * const out = report.outputs.get("out")!;
 * assert.equal(await Deno.readTextFile(here.realPath(out)), "built\n");
 * await client.close();
 * await host.done;
 * here.close();
 * there.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function buildOnHost(
  client: RemoteClient,
  store: Store,
  drvPath: string,
  options: ServeBuildOptions & CopyOptions = { maxSilentTime: 0, buildTimeout: 0 },
): Promise<RemoteBuildReport> {
  const drv = readStoreDerivation(store, drvPath);
  const basic = basicDerivationFor(store, drv);
  const copy = options.progress ? { progress: options.progress } : {};
  const sent = await copyToHost(client, store, basic.inputSrcs, copy);
  const { progress: _, ...buildOptions } = options;
  const result = await client.buildDerivation(drvPath, basic, buildOptions);
  const outputs = new Map<string, string>();
  for (const [name, o] of drv.outputs) {
    const path = outputPath(drv.name, name, o, store.storeDir);
    if (path) outputs.set(name, path);
  }
  if (!isBuildSuccess(result.status)) return { result, sent, outputs };
  const fetched = await copyFromHost(client, store, [...outputs.values()], copy);
  return { result, sent, fetched, outputs };
}
