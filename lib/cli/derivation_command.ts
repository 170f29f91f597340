/**
 * `buildhost derivation show DRV…` and `buildhost derivation check DRV…`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { parseDerivation } from "../derivation/aterm.ts";
import { type Derivation, derivationNameFromPath } from "../derivation/derivation.ts";
import { derivationToJson } from "../derivation/derivation_json.ts";
import { derivationPath, HashModulo } from "../derivation/hash_modulo.ts";
import { outputFields } from "../derivation/derivation.ts";
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { type Command, printOut, UsageError } from "./command.ts";

const USAGE = "usage: buildhost derivation (show|check) DRV... [--store ROOT] [--store-dir DIR]";

/** `buildhost derivation ...` */
export const derivationCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      store: { type: "string" },
      "store-dir": { type: "string", default: DEFAULT_STORE_DIR },
    },
  });
  const [sub, ...paths] = positionals;
  if ((sub !== "show" && sub !== "check") || paths.length === 0) throw new UsageError(USAGE);
  const storeDir = values["store-dir"];
  const root = values.store;
  /** Where a logical store path's file is (under --store ROOT if given). */
  const physical = (p: string) => (root === undefined ? p : join(root, p));
  const cache = new Map<string, Derivation>();
  const read = async (drvPath: string): Promise<Derivation> => {
    let d = cache.get(drvPath);
    if (!d) {
      const text = await Deno.readTextFile(physical(drvPath));
      d = parseDerivation(text, derivationNameFromPath(drvPath), drvPath, storeDir);
      cache.set(drvPath, d);
    }
    return d;
  };
  const logical = (p: string) =>
    root !== undefined && p.startsWith(root + "/") ? p.slice(root.length) : p;

  if (sub === "show") {
    const out: Record<string, unknown> = {};
    for (const p of paths) out[logical(p)] = derivationToJson(await read(logical(p)));
    await printOut(JSON.stringify(out, null, 2) + "\n");
    return 0;
  }

  const modulo = new HashModulo(read, storeDir);
  let bad = 0;
  for (const arg of paths) {
    const p = logical(arg);
    const drv = await read(p);
    const problems: string[] = [];
    const own = derivationPath(drv, storeDir);
    if (own !== p) problems.push(`the .drv path should be ${own}`);
    const want = await modulo.outputPaths(drv);
    for (const [name, o] of drv.outputs) {
      const [path] = outputFields(o);
      const w = want.get(name);
      if (w !== undefined && w !== path) {
        problems.push(`output "${name}" is ${path || '""'}, should be ${w}`);
      }
      if (w !== undefined && drv.env.has(name) && drv.env.get(name) !== w) {
        problems.push(`env "${name}" is ${drv.env.get(name)}, should be ${w}`);
      }
    }
    if (problems.length === 0) await printOut(`ok ${p}\n`);
    else {
      bad++;
      for (const m of problems) await printOut(`mismatch ${p}: ${m}\n`);
    }
  }
  return bad === 0 ? 0 : 1;
};
