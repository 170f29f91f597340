/**
 * `buildhost store <subcommand> [--store ROOT] ...`: the local store.
 *
 * @module
 */
import { stdinStream } from "./stdin_stream.ts";
import { parseArgs } from "./args.ts";
import { Hash, parseHashAlgorithm } from "../hash/hash.ts";
import { WireReader } from "../wire/wire_reader.ts";
import { streamSink, WireWriter } from "../wire/wire_writer.ts";
import { openStoreFromFlags } from "./store_options.ts";
import { pathInfoToJson } from "../store/path_info.ts";
import { collectGarbage, deleteDeadPaths } from "../store/gc.ts";
import { type Command, printOut, UsageError } from "./command.ts";

const USAGE = `usage: buildhost store <subcommand> [--store ROOT] [--store-dir DIR] ...
  add PATH... [--flat] [--type ALGO] [--name NAME]   add files or trees by content
  add-text NAME FILE [--reference P]...               add a text file (builtins.toFile)
  import --hash H --size N [--reference P]... [--deriver D] [--ca CA] PATH   (NAR on stdin)
  import-export                                       import a nix-store --export stream (stdin)
  export PATH...                                      export paths (stdout)
  dump PATH                                           a path's NAR (stdout)
  info PATH... [--json]                               metadata of valid paths
  closure PATH... [--include-outputs]                 closure under references
  verify [--check-contents]                           check the store (exit 1 on problems)
  gc [--dry-run]                                      delete paths not reachable from roots
  delete PATH...                                      delete paths nothing else refers to
  ls                                                  list valid paths`;

async function writeStdout(chunks: AsyncIterable<Uint8Array>): Promise<void> {
  const w = Deno.stdout.writable.getWriter();
  try {
    for await (const c of chunks) await w.write(c);
  } finally {
    w.releaseLock();
  }
}

/** `buildhost store ...` */
export const storeCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      store: { type: "string" },
      "store-dir": { type: "string" },
      flat: { type: "boolean", default: false },
      type: { type: "string", default: "sha256" },
      name: { type: "string" },
      reference: { type: "string", multiple: true, default: [] },
      hash: { type: "string" },
      size: { type: "string" },
      deriver: { type: "string" },
      ca: { type: "string" },
      json: { type: "boolean", default: false },
      "include-outputs": { type: "boolean", default: false },
      "check-contents": { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
    },
  });
  const [sub, ...rest] = positionals;
  if (sub === undefined) throw new UsageError(USAGE);
  const { store } = await openStoreFromFlags(values);
  try {
    switch (sub) {
      case "add": {
        if (rest.length === 0) throw new UsageError(USAGE);
        if (values.name !== undefined && rest.length > 1) {
          throw new UsageError("--name goes with a single PATH");
        }
        for (const p of rest) {
          const info = await store.addPath(p, {
            method: values.flat ? "flat" : "recursive",
            algorithm: parseHashAlgorithm(values.type),
            ...(values.name !== undefined ? { name: values.name } : {}),
          });
          await printOut(info.path + "\n");
        }
        return 0;
      }
      case "add-text": {
        if (rest.length !== 2) throw new UsageError(USAGE);
        const info = await store.addText(rest[0]!, await Deno.readFile(rest[1]!), values.reference);
        await printOut(info.path + "\n");
        return 0;
      }
      case "import": {
        if (rest.length !== 1 || !values.hash || !values.size) throw new UsageError(USAGE);
        const size = Number(values.size);
        if (!Number.isSafeInteger(size) || size < 0) {
          throw new UsageError(`--size: not a size: ${values.size}`);
        }
        const info = await store.addNar({
          path: rest[0]!,
          narHash: Hash.parse(values.hash, "sha256"),
          narSize: size,
          references: values.reference,
          ...(values.deriver ? { deriver: values.deriver } : {}),
          ...(values.ca ? { ca: values.ca } : {}),
        }, new WireReader(stdinStream()));
        await printOut(info.path + "\n");
        return 0;
      }
      case "import-export": {
        const paths = await store.importExport(new WireReader(stdinStream()));
        await printOut(paths.map((p) => p + "\n").join(""));
        return 0;
      }
      case "export": {
        const sink = streamSink(Deno.stdout.writable);
        try {
          await store.exportPaths(rest, new WireWriter(sink));
        } finally {
          sink.releaseLock();
        }
        return 0;
      }
      case "dump": {
        if (rest.length !== 1) throw new UsageError(USAGE);
        await writeStdout(store.dump(rest[0]!));
        return 0;
      }
      case "info": {
        const infos = rest.map((p) => store.requirePathInfo(p));
        if (values.json) await printOut(JSON.stringify(infos.map(pathInfoToJson)) + "\n");
        else {
          for (const i of infos) {
            await printOut(
              `${i.path}\t${i.narHash.toString("base32", true)}\t${i.narSize}\t${
                i.references.join(" ")
              }\n`,
            );
          }
        }
        return 0;
      }
      case "closure": {
        const paths = store.closure(rest, { includeOutputs: values["include-outputs"] });
        await printOut(paths.map((p) => p + "\n").join(""));
        return 0;
      }
      case "verify": {
        const problems = await store.verify({ checkContents: values["check-contents"] });
        for (const p of problems) console.error(`error: ${p.path}: ${p.problem}`);
        return problems.length === 0 ? 0 : 1;
      }
      case "gc": {
        const r = await collectGarbage(store, { dryRun: values["dry-run"] });
        await printOut(r.deleted.map((p) => p + "\n").join(""));
        console.error(
          `${r.deleted.length} store paths ${values["dry-run"] ? "would be" : ""} deleted, ${
            (r.bytes / 1048576).toFixed(2)
          } MiB`.replace("  ", " "),
        );
        return 0;
      }
      case "delete": {
        await deleteDeadPaths(store, rest);
        return 0;
      }
      case "ls": {
        await printOut(store.allValidPaths().map((p) => p + "\n").join(""));
        return 0;
      }
      default:
        throw new UsageError(USAGE);
    }
  } finally {
    store.close();
  }
};
