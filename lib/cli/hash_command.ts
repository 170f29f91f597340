/**
 * `buildhost hash path PATH… [--type T] [--base16|--base32|--sri]` and
 * `buildhost hash file PATH…`: like `nix hash path` and `nix hash file`.
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { parseHashAlgorithm } from "../hash/hash.ts";
import { ParallelHashSink } from "../hash/parallel_hash_sink.ts";
import type { HashEncoding } from "../hash/hash.ts";
import { type Command, printOut, UsageError } from "./command.ts";
import { dumpPath } from "../store/dump_path.ts";

const USAGE = "usage: buildhost hash (path|file) PATH... [--type md5|sha1|sha256|sha512] " +
  "[--base16|--base32|--base64|--sri]";

const ENCODINGS: readonly HashEncoding[] = ["base16", "base32", "base64", "sri"];

/** `buildhost hash ...` */
export const hashCommand: Command = async (args) => {
  const { values, positionals, tokens } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      type: { type: "string", default: "sha256" },
      base16: { type: "boolean", default: false },
      base32: { type: "boolean", default: false },
      base64: { type: "boolean", default: false },
      sri: { type: "boolean", default: false },
    },
  });
  const [mode, ...paths] = positionals;
  if ((mode !== "path" && mode !== "file") || paths.length === 0) throw new UsageError(USAGE);
  const algo = parseHashAlgorithm(values.type);
  // As in `nix hash`, the last encoding option given wins.
  let encoding: HashEncoding = "sri";
  for (const t of tokens) {
    if (t.kind === "option" && ENCODINGS.includes(t.name as HashEncoding)) {
      encoding = t.name as HashEncoding;
    }
  }
  for (const p of paths) {
    // Hashing runs on a worker thread while this one reads and serialises.
    const sink = new ParallelHashSink(algo);
    try {
      if (mode === "path") {
        // The NAR is written straight into the hasher's batches.
        for await (const chunk of dumpPath(p, { buffers: () => sink.buffer() })) sink.adopt(chunk);
      } else {
        using f = await Deno.open(p);
        for await (const chunk of f.readable) await sink.write(chunk);
      }
    } catch (e) {
      await sink.digest().catch(() => {}); // ends the worker
      throw e;
    }
    const hash = await sink.digest();
    await printOut(hash.toString(encoding) + "\n");
  }
  return 0;
};
