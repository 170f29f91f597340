/**
 * `buildhost demo [--store ROOT] [--host-store ROOT] [--keep]`: the main
 * job on its embedded default. A client store gets an example (a static
 * busybox, a source tree, a builder script and a derivation using them);
 * a buildhost serve host (`buildhost --serve --write`, a separate process
 * speaking the serve protocol on its stdin/stdout, as over ssh) builds the
 * derivation from its in-memory form, without its `.drv` (Nix commit
 * 1511aa9f): the inputs it lacks are copied, it builds in Nix's sandbox,
 * the output comes back, and both stores verify. Every step is printed.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { printDerivation } from "../derivation/aterm.ts";
import type { Derivation } from "../derivation/derivation.ts";
import { derivationPath, HashModulo } from "../derivation/hash_modulo.ts";
import { Store } from "../store/store.ts";
import { removeTree } from "../store/restore_path.ts";
import { sandboxTools } from "../build/sandbox.ts";
import { formatProtocolVersion } from "../serve/protocol.ts";
import { buildOnHost } from "../remote/remote_build.ts";
import { startServeHost } from "../remote/serve_host_process.ts";
import { type Command, printOut, UsageError } from "./command.ts";

const USAGE = "usage: buildhost demo [--store ROOT] [--host-store ROOT] [--keep]";

/** The builder script of the example (run by busybox sh in the sandbox). */
export const DEMO_SCRIPT = `set -e
bb=$busybox/bin/busybox
$bb mkdir -p $out/share
$bb cp $src/README $out/share/README
$bb ls -l $src/bin > $out/share/listing
echo "built by $($bb id -un) ($($bb id -u)) on $($bb hostname), in $PWD" > $out/share/built-by
echo "hello from the builder"
`;

/** The command line that runs this program (a compiled binary, or deno running main.ts). */
function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  return [Deno.execPath(), "run", "-A", fileURLToPath(Deno.mainModule)];
}

/** Write the example's source tree and busybox directory under `dir`. */
async function writeExample(dir: string, busybox: string): Promise<{ src: string; bb: string }> {
  const src = join(dir, "hello-src");
  await Deno.mkdir(join(src, "bin"), { recursive: true });
  await Deno.writeTextFile(join(src, "README"), "hello from buildhost\n");
  await Deno.writeTextFile(join(src, "bin/hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
  await Deno.symlink("bin/hello", join(src, "run"));
  const bb = join(dir, "busybox");
  await Deno.mkdir(join(bb, "bin"), { recursive: true });
  await Deno.copyFile(busybox, join(bb, "bin/busybox"));
  await Deno.chmod(join(bb, "bin/busybox"), 0o755);
  return { src, bb };
}

/** `buildhost demo` */
export const demoCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      store: { type: "string" },
      "host-store": { type: "string" },
      keep: { type: "boolean", default: false },
    },
  });
  if (positionals.length > 0) throw new UsageError(USAGE);
  const tools = await sandboxTools(); // says what is missing before anything starts
  const dir = await Deno.makeTempDir({ prefix: "buildhost-demo-" });
  const clientRoot = values.store ?? join(dir, "client");
  const hostRoot = values["host-store"] ?? join(dir, "host");
  const say = (...lines: string[]) => printOut(lines.map((l) => l + "\n").join(""));
  const store = await Store.open(clientRoot);
  try {
    await say(
      "buildhost demo: a remote build from an in-memory derivation (Nix commit 1511aa9f)",
      "",
      `client store  ${clientRoot}`,
    );
    const { src, bb } = await writeExample(dir, tools.busybox);
    const busybox = await store.addPath(bb, { name: "busybox" });
    const source = await store.addPath(src, { name: "hello-src" });
    const script = await store.addText("builder.sh", DEMO_SCRIPT);
    const drv: Derivation = {
      name: "hello",
      outputs: new Map([["out", { kind: "deferred" }]]),
      inputDrvs: new Map(),
      inputSrcs: [busybox.path, script.path, source.path].sort(),
      platform: "x86_64-linux",
      builder: `${busybox.path}/bin/busybox`,
      args: ["sh", script.path],
      env: new Map([
        ["builder", `${busybox.path}/bin/busybox`],
        ["busybox", busybox.path],
        ["name", "hello"],
        ["out", ""],
        ["src", source.path],
        ["system", "x86_64-linux"],
      ]),
    };
    const modulo = new HashModulo(() => {
      throw new Error("the demo derivation has no input derivations");
    });
    const full = await modulo.withOutputPaths(drv);
    const drvPath = derivationPath(full);
    const drvFile = await store.addText(`hello.drv`, printDerivation(full), drv.inputSrcs);
    if (drvFile.path !== drvPath) {
      throw new Error(`the .drv went to ${drvFile.path}, not ${drvPath}`);
    }
    const out = full.env.get("out")!;
    await say(
      "",
      "1. the inputs, in the client store",
      `   busybox     ${busybox.path}   (static, the builder)`,
      `   source      ${source.path}   NAR ${source.narHash.toString("sri")}`,
      `   script      ${script.path}   (builtins.toFile)`,
      `   derivation  ${drvPath}`,
      `   out         ${out}`,
    );

    const host = [...selfCommand(), "--serve", "--write", "--store", hostRoot];
    const decoder = new TextDecoder();
    let pending = "";
    const hostLog = (chunk: Uint8Array) => {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const l of lines) Deno.stdout.writeSync(new TextEncoder().encode(`   | ${l}\n`));
    };
    await using session = await startServeHost(host, { log: hostLog, host: "the demo host" });
    const client = session.client;
    await say(
      "",
      `2. the host: buildhost --serve --write --store ${hostRoot}`,
      `   handshake: serve protocol ${formatProtocolVersion(client.version)}`,
      "",
      "3. copy what the host lacks (QueryValidPaths, AddToStoreNar), build from the",
      "   in-memory derivation (BuildDerivation; the .drv stays here), fetch the",
      "   output (QueryClosure, QueryPathInfos, DumpStorePath):",
    );
    const report = await buildOnHost(client, store, drvPath, {
      maxSilentTime: 60,
      buildTimeout: 300,
      progress: (p, size) => void say(`   copy ${p} (${size} bytes)`),
    });
    const { result } = report;
    await say(
      `   sent ${report.sent.copied.length} paths (${report.sent.bytes} NAR bytes); ` +
        `the host had ${report.sent.present.length}`,
      `   result: ${result.status}${result.errorMsg ? `: ${result.errorMsg}` : ""}`,
    );
    const code = await session.close();
    if (result.status !== "Built") return 1;
    const info = store.requirePathInfo(out);
    const read = (f: string) => Deno.readTextFileSync(join(store.realPath(out), f)).trimEnd();
    const hostStore = await Store.open(hostRoot);
    const problems = [
      ...await store.verify({ checkContents: true }),
      ...await hostStore.verify({ checkContents: true }),
    ];
    const hostHasDrv = hostStore.queryValidPaths([drvPath]).length > 0;
    hostStore.close();
    await say(
      "",
      `4. the output, fetched: ${out}`,
      `   NAR ${info.narHash.toString("sri")}, ${info.narSize} bytes, deriver ${info.deriver}`,
      `   share/built-by: ${read("share/built-by")}`,
      `   share/README:   ${read("share/README")}`,
      "",
      `5. the host has the .drv: ${hostHasDrv ? "yes" : "no"}; ` +
        `both stores verify: ${problems.length === 0 ? "ok" : JSON.stringify(problems)}; ` +
        `host exit code ${code}`,
    );
    return problems.length === 0 && code === 0 && !hostHasDrv ? 0 : 1;
  } finally {
    store.close();
    if (values.keep) await say(`(kept ${dir})`);
    else await removeTree(dir);
  }
};
