import assert from "node:assert/strict";
import { join, relative } from "node:path";

/** Which lib/ folders each folder may import (besides itself and lib/errors.ts). */
const ALLOWED: Record<string, string[]> = {
  wire: [],
  hash: [],
  store_path: ["hash"],
  nar: ["wire"],
  derivation: ["hash", "store_path"],
  store: ["wire", "hash", "store_path", "nar", "derivation"],
  build: ["wire", "hash", "store_path", "nar", "derivation", "store"],
  serve: ["wire", "hash", "store_path", "nar", "derivation", "store", "build"],
  // the worker protocol's pure codecs share the serve codecs (never serve/server.ts)
  worker_protocol: ["wire", "hash", "store_path", "nar", "derivation", "serve"],
  daemon: [
    "wire",
    "hash",
    "store_path",
    "nar",
    "derivation",
    "store",
    "build",
    "serve",
    "worker_protocol",
  ],
  remote: ["wire", "hash", "store_path", "nar", "derivation", "store", "serve", "worker_protocol"],
  cli: [
    "wire",
    "hash",
    "store_path",
    "nar",
    "derivation",
    "store",
    "build",
    "serve",
    "remote",
    "worker_protocol",
    "daemon",
  ],
};
/** Folders whose files must not touch the filesystem or processes (the format layer). */
const PURE = ["wire", "hash", "store_path", "nar", "derivation", "worker_protocol"];
/** Files of other layers the pure layers must not import (they do I/O). */
const IMPURE_FILES = ["serve/server.ts"];

const libDir = new URL("../lib/", import.meta.url).pathname;

function* tsFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* tsFiles(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

Deno.test("lib/ layers import only the layers below them", () => {
  const bad: string[] = [];
  let checked = 0;
  for (const file of tsFiles(libDir)) {
    const rel = relative(libDir, file);
    const layer = rel.includes("/") ? rel.split("/")[0]! : "";
    if (layer === "") continue;
    const allowed = ALLOWED[layer];
    assert.ok(allowed, `lib/${layer} is not a known layer; add it to ALLOWED`);
    const text = Deno.readTextFileSync(file);
    for (const m of text.matchAll(/^\s*(?:import|export)[^"']*?from\s+["']([^"']+)["']/gm)) {
      const spec = m[1]!;
      checked++;
      if (!spec.startsWith(".")) continue;
      const target = relative(libDir, join(file, "..", spec));
      if (target.startsWith("..")) {
        bad.push(`${rel} imports ${spec} from outside lib/`);
        continue;
      }
      const tLayer = target.includes("/") ? target.split("/")[0]! : "";
      if (tLayer === "" || tLayer === layer) continue;
      if (!allowed.includes(tLayer)) bad.push(`${rel} imports ${target}`);
      if (PURE.includes(layer) && IMPURE_FILES.includes(target)) {
        bad.push(`${rel} is in the format layer but imports ${target}`);
      }
    }
    if (PURE.includes(layer) && /\bDeno\.(?!test)/.test(text)) {
      bad.push(`${rel} is in the format layer but uses Deno.*`);
    }
  }
  assert.ok(checked > 0, "no imports were checked");
  assert.deepEqual(bad, []);
});
