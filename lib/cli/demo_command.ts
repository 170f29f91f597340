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
import { join } from "../posix_path.ts";
import { parseArgs } from "./args.ts";
import { printDerivation } from "../derivation/aterm.ts";
import type { Derivation } from "../derivation/derivation.ts";
import { derivationPath, HashModulo } from "../derivation/hash_modulo.ts";
import { Store } from "../store/store.ts";
import { removeTree } from "../store/restore_path.ts";
import { probeNamespaces, sandboxTools, staticBusybox } from "../sandbox/sandbox.ts";
import { formatProtocolVersion } from "../serve_protocol/protocol.ts";
import { buildOnMachines } from "../remote/machine_scheduler.ts";
import type { Machine } from "../remote/machine_spec.ts";
import { startServeHost } from "../remote/serve_host_process.ts";
import { type Command, printOut, UsageError } from "./command.ts";

const USAGE = "usage: buildhost demo [--store ROOT] [--host-store ROOT] [--keep]";

/** The builder scripts of the example's two derivations (busybox sh, in the sandbox). */
export const DEMO_SCRIPTS = {
  greeting: `set -e
bb=$busybox/bin/busybox
$bb mkdir -p $out
echo "a greeting built by $($bb id -un) on $($bb hostname)" > $out/greeting
echo "building the greeting"
`,
  hello: `set -e
bb=$busybox/bin/busybox
$bb mkdir -p $out/share
$bb cp $src/README $out/share/README
$bb cp $greeting/greeting $out/share/greeting
$bb ls -l $src/bin > $out/share/listing
echo "built by $($bb id -un) ($($bb id -u)) on $($bb hostname), in $PWD" > $out/share/built-by
echo "hello from the builder"
`,
};

/** The command line that runs this program (a compiled binary, or deno running main.ts). */
function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  // The path of a file: URL (not node:url's fileURLToPath: a static import of
  // node:url in the installed bundle would load it at every start, ~15 ms).
  return [Deno.execPath(), "run", "-A", decodeURIComponent(new URL(Deno.mainModule).pathname)];
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
  // Says what is missing before anything starts.
  const tools = await sandboxTools();
  const busyboxPath = staticBusybox();
  await probeNamespaces(tools);
  const dir = await Deno.makeTempDir({ prefix: "buildhost-demo-" });
  const clientRoot = values.store ?? join(dir, "client");
  const hostRoot = values["host-store"] ?? join(dir, "host");
  const say = (...lines: string[]) => printOut(lines.map((l) => l + "\n").join(""));
  const store = await Store.open(clientRoot);
  try {
    await say(
      "buildhost demo: remote builds from in-memory derivations (Nix commit 1511aa9f)",
      "",
      `client store  ${clientRoot}`,
    );
    const { src, bb } = await writeExample(dir, busyboxPath);
    const busybox = await store.addPath(bb, { name: "busybox" });
    const source = await store.addPath(src, { name: "hello-src" });
    const modulo = new HashModulo((p) => {
      const d = derivations.get(p);
      if (!d) throw new Error(`the demo has no derivation ${p}`);
      return d;
    });
    const derivations = new Map<string, Derivation>();
    /** Write a derivation of the example into the client store; its path and output. */
    const derivation = async (
      name: "greeting" | "hello",
      inputDrvs: Map<string, string[]>,
      extraSrcs: string[],
      extraEnv: [string, string][],
    ) => {
      const script = await store.addText(`${name}.sh`, DEMO_SCRIPTS[name]);
      const builder = `${busybox.path}/bin/busybox`;
      const drv: Derivation = {
        name,
        outputs: new Map([["out", { kind: "deferred" }]]),
        inputDrvs,
        inputSrcs: [busybox.path, script.path, ...extraSrcs].sort(),
        platform: "x86_64-linux",
        builder,
        args: ["sh", script.path],
        env: new Map([
          ["builder", builder],
          ["busybox", busybox.path],
          ["name", name],
          ["out", ""],
          ["system", "x86_64-linux"],
          ...extraEnv,
        ].sort(([x], [y]) => (x! < y! ? -1 : 1)) as [string, string][]),
      };
      const full = await modulo.withOutputPaths(drv);
      const drvPath = derivationPath(full);
      const refs = [...full.inputSrcs, ...inputDrvs.keys()];
      const file = await store.addText(`${name}.drv`, printDerivation(full), refs);
      if (file.path !== drvPath) throw new Error(`the .drv went to ${file.path}, not ${drvPath}`);
      derivations.set(drvPath, full);
      return { drvPath, out: full.env.get("out")! };
    };
    const greeting = await derivation("greeting", new Map(), [], []);
    const hello = await derivation(
      "hello",
      new Map([[greeting.drvPath, ["out"]]]),
      [source.path],
      [["greeting", greeting.out], ["src", source.path]],
    );
    const drvPath = hello.drvPath, out = hello.out;
    await say(
      "",
      "1. a graph of two derivations, in the client store",
      `   busybox     ${busybox.path}   (static, the builder)`,
      `   source      ${source.path}   NAR ${source.narHash.toString("sri")}`,
      `   greeting    ${greeting.drvPath}`,
      `     out       ${greeting.out}`,
      `   hello       ${hello.drvPath}   (needs greeting's out and the source)`,
      `     out       ${hello.out}`,
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
    let version = "";
    const machine: Machine = {
      uri: "the demo host",
      host: "localhost",
      remoteProgram: "buildhost",
      systems: ["x86_64-linux"],
      maxJobs: 1,
      speedFactor: 1,
      supportedFeatures: [],
      mandatoryFeatures: [],
    };
    await say(
      "",
      `2. the host: buildhost --serve --write --store ${hostRoot}`,
      "   (a process per build, speaking the serve protocol on stdin/stdout as over ssh)",
      "",
      "3. build the graph there, dependencies first: for each derivation, copy the",
      "   inputs the host lacks (QueryValidPaths, AddToStoreNar), build it from its",
      "   in-memory form (BuildDerivation; no .drv goes over), fetch the output",
      "   (QueryClosure, QueryPathInfos, DumpStorePath)",
    );
    let code = 0;
    const results = await buildOnMachines(store, [drvPath], [machine], {
      maxSilentTime: 60,
      buildTimeout: 300,
      connect: async () => {
        const session = await startServeHost(host, { log: hostLog, host: machine.uri });
        version ||= formatProtocolVersion(session.client.version);
        const close = async () => {
          const exit = await session.close();
          code ||= exit;
          return exit;
        };
        return {
          client: session.client,
          close,
          [Symbol.asyncDispose]: async () => void await close(),
        };
      },
      progress: ({ drvPath: p, outcome }) => {
        const name = derivations.get(p)!.name;
        if (!outcome) {
          void say(`   ${name}: sent to the host`);
          return;
        }
        const sent = outcome.sent, fetched = outcome.fetched;
        void say(
          `   ${name}: ${outcome.status}${outcome.errorMsg ? `: ${outcome.errorMsg}` : ""} ` +
            `(serve protocol ${version})` +
            (sent
              ? `; sent ${sent.copied.length} paths (${sent.bytes} NAR bytes), ` +
                `the host had ${sent.present.length}`
              : "") +
            (fetched ? `; fetched ${fetched.copied.join(", ")}` : ""),
        );
      },
    });
    if (results.get(drvPath)?.status !== "Built") return 1;
    const info = store.requirePathInfo(out);
    const read = (f: string) => Deno.readTextFileSync(join(store.realPath(out), f)).trimEnd();
    const hostStore = await Store.open(hostRoot);
    const problems = [
      ...await store.verify({ checkContents: true }),
      ...await hostStore.verify({ checkContents: true }),
    ];
    const hostHasDrv = hostStore.queryValidPaths([...derivations.keys()]).length > 0;
    hostStore.close();
    await say(
      "",
      `4. the output, fetched: ${out}`,
      `   NAR ${info.narHash.toString("sri")}, ${info.narSize} bytes, deriver ${info.deriver}`,
      `   share/built-by: ${read("share/built-by")}`,
      `   share/README:   ${read("share/README")}`,
      `   share/greeting: ${read("share/greeting")}`,
      "",
      `5. the host has a .drv: ${hostHasDrv ? "yes" : "no"}; ` +
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
