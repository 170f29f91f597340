/**
 * Store benchmarks against real Nix, same run: importing 1000 small paths
 * from an export stream, the closure of a 10 000-path graph, and collecting
 * 1000 dead paths. Run alone with `deno run -A bench/store_bench.ts`.
 *
 * @module
 */
import { join } from "node:path";
import { Store } from "../lib/store/store.ts";
import { BufferSink, WireWriter } from "../lib/wire/wire_writer.ts";
import { BENCH_DIR, best, buildhostProgram, rm, type Row, table } from "./_measure.ts";

/** An export stream of `n` text paths, each referring to up to 3 earlier ones. */
export async function makeExport(
  file: string,
  n: number,
  prefix: string,
  linked = true,
): Promise<string> {
  try {
    Deno.statSync(file);
    return Deno.readTextFileSync(file + ".top");
  } catch { /* build it */ }
  const scratch = `${file}.scratch`;
  rm(scratch);
  const store = await Store.open(scratch);
  try {
    const paths: string[] = [];
    let seed = 7;
    const pick = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return paths[seed % paths.length]!;
    };
    for (let i = 0; i < n; i++) {
      const refs = paths.length === 0 || !linked
        ? []
        : [...new Set([paths[paths.length - 1]!, pick(), pick()])];
      paths.push(
        (await store.addText(`${prefix}-${i}`, `${prefix} ${i} ${refs.join(" ")}`, refs)).path,
      );
    }
    const sink = new BufferSink();
    await store.exportPaths(paths, new WireWriter(sink));
    Deno.writeFileSync(file, sink.bytes());
    Deno.writeTextFileSync(file + ".top", paths[paths.length - 1]!);
    return paths[paths.length - 1]!;
  } finally {
    store.close();
    rm(scratch);
  }
}

/** Run the store benchmarks under `dir`; returns their rows. */
export async function storeBench(dir: string): Promise<Row[]> {
  const bh = `${buildhostProgram()} store`;
  Deno.mkdirSync(dir, { recursive: true });
  console.error("bench: preparing store workloads (once)");
  const small = join(dir, "small-1000.export");
  await makeExport(small, 1000, "small");
  const graph = join(dir, "graph-10000.export");
  const top = await makeExport(graph, 10000, "graph");
  const rows: Row[] = [];

  const a = join(dir, "root-a"), b = join(dir, "root-b");
  const fresh = () => (rm(a), rm(b));
  rows.push([
    "import 1000 small paths (export stream) vs nix-store --import",
    best(`${bh} import-export --store ${b} < ${small}`, fresh),
    best(`nix-store --store ${a} --import < ${small}`, fresh),
  ]);

  const g = join(dir, "root-graph");
  rm(g);
  best(`nix-store --store ${g} --import < ${graph}`);
  rows.push([
    "closure of a 10 000-path graph vs nix-store -qR",
    best(`${bh} closure --store ${g} ${top}`),
    best(`nix-store --store ${g} -qR ${top}`),
  ]);

  const prepareGc = (root: string) => () => {
    rm(root);
    new Deno.Command("sh", {
      args: ["-c", `nix-store --store ${root} --import < ${small}`],
      stdout: "null",
    })
      .outputSync();
  };
  rows.push([
    "GC of 1000 dead paths vs nix-store --gc",
    best(`${bh} gc --store ${b}`, prepareGc(b)),
    best(`nix-store --store ${a} --gc`, prepareGc(a)),
  ]);
  fresh();
  rm(g);
  return rows;
}

if (import.meta.main) {
  const dir = BENCH_DIR;
  console.log(table(await storeBench(dir)));
}
