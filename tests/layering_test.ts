import assert from "node:assert/strict";
import { join, relative } from "node:path";

/** Which lib/ folders each folder may import (besides itself and lib/errors.ts). */
const ALLOWED: Record<string, string[]> = {
  wire: [],
  hash: [],
  store_path: ["hash"],
  nar: ["wire"],
  derivation: ["wire", "hash", "store_path"],
  // the serve protocol's pure codecs (no store, no builder, no I/O)
  serve_protocol: ["wire", "hash", "store_path", "nar", "derivation"],
  // the worker protocol's pure codecs share the serve codecs where the structures are shared
  worker_protocol: ["wire", "hash", "store_path", "nar", "derivation", "serve_protocol"],
  store: ["wire", "hash", "store_path", "nar", "derivation"],
  // Linux isolation: runs a process in a sandbox; knows nothing of derivations
  sandbox: ["wire", "hash", "store_path", "nar", "store"],
  // the derivation goal: environment, runners, outputs, results
  builder: ["wire", "hash", "store_path", "nar", "derivation", "store", "sandbox"],
  // the session loops over a store and a builder
  serve: [
    "wire",
    "hash",
    "store_path",
    "nar",
    "derivation",
    "store",
    "sandbox",
    "builder",
    "serve_protocol",
  ],
  daemon: [
    "wire",
    "hash",
    "store_path",
    "nar",
    "derivation",
    "store",
    "sandbox",
    "builder",
    "serve_protocol",
    "worker_protocol",
    "serve",
  ],
  remote: [
    "wire",
    "hash",
    "store_path",
    "nar",
    "derivation",
    "store",
    "serve_protocol",
    "worker_protocol",
    // an in-process serve host (types only) and the serve heartbeat
    "serve",
  ],
  cli: [
    "wire",
    "hash",
    "store_path",
    "nar",
    "derivation",
    "store",
    "sandbox",
    "builder",
    "serve_protocol",
    "worker_protocol",
    "serve",
    "remote",
    "daemon",
  ],
};
/** Folders whose files must not touch the filesystem or processes (the format layer). */
const PURE = [
  "wire",
  "hash",
  "store_path",
  "nar",
  "derivation",
  "serve_protocol",
  "worker_protocol",
];
/**
 * Format-layer files that call a native library through FFI, which touches
 * neither the filesystem nor processes: there, only `Deno.dlopen` is
 * allowed.
 */
const NATIVE_FILES = ["hash/nettle_digest.ts"];
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
    const deno = NATIVE_FILES.includes(rel)
      ? /\bDeno\.(?!test|dlopen|DynamicLibrary)/
      : /\bDeno\.(?!test)/;
    if (PURE.includes(layer) && deno.test(text)) {
      bad.push(`${rel} is in the format layer but uses Deno.*`);
    }
  }
  assert.ok(checked > 0, "no imports were checked");
  assert.deepEqual(bad, []);
});
