import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { findProcesses } from "../../lib/sandbox/process_tree.ts";
import { BuildStatus } from "../../lib/derivation/build_result.ts";
import { parseDerivation } from "../../lib/derivation/aterm.ts";
import type { Derivation } from "../../lib/derivation/derivation.ts";
import { nix, nixFails, tempDir } from "../_helpers/nix.ts";

const SANDBOX_PATHS = ["/bin", "/lib", "/lib64", "/usr"];

/** Instantiate `attr` of a Nix expression into Nix's chroot store; return path and derivation. */
async function instantiate(
  nixRoot: string,
  file: string,
  attr: string,
): Promise<[string, Derivation]> {
  const drvPath = (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", attr])).text;
  return [drvPath, parseDerivation(Deno.readFileSync(join(nixRoot, drvPath)), { path: drvPath })];
}

const EXPR = String.raw`
let
  sh = "/bin/sh";
  mk = name: script: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = sh;
    args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; } // attrs);
in rec {
  dep = mk "dep" "echo dependency > $out" {};
  multi = mk "multi" "mkdir $out $dev; echo $dev > $out/dev-is; echo $depPath > $dev/uses" { outputs = [ "out" "dev" ]; depPath = dep; };
  fail = mk "fail" "echo about to fail; echo to stderr >&2; exit 3" {};
  noOut = mk "no-out" "echo forgot the output" {};
  fod = mk "fod" "printf hello > $out" { outputHashAlgo = "sha256"; outputHash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; };
  fodBad = mk "fod-bad" "printf goodbye > $out" { outputHashAlgo = "sha256"; outputHash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; };
  sleeper = mk "sleeper" "(sleep 300; echo daemon-marker-BUILDHOST-TEST) & sleep 300" {};
  chatty = mk "chatty" "while true; do echo spam spam spam spam; done" {};
  passAsFile = mk "pass-as-file" "cat $bigPath > $out" { passAsFile = [ "big" ]; big = "a big value\n"; };
}`;

async function setup(t: { path: string }) {
  const nixRoot = join(t.path, "nix");
  const file = join(t.path, "d.nix");
  Deno.writeTextFileSync(file, EXPR);
  const store = await Store.open(join(t.path, "ours"));
  const builder = new Builder(
    store,
    nixSandboxRunner({ sandboxPaths: parseSandboxPaths(SANDBOX_PATHS) }),
  );
  return { nixRoot, file, store, builder };
}

Deno.test("Builder builds what nix-build builds, with the same output paths, NAR hashes and references", async () => {
  using t = tempDir();
  const { nixRoot, file, store, builder } = await setup(t);
  try {
    for (const attr of ["dep", "multi", "fod", "passAsFile"]) {
      const [drvPath, drv] = await instantiate(nixRoot, file, attr);
      await nix("nix-build", ["--store", nixRoot, "--no-out-link", file, "-A", attr]);
      const nixOut = (await nix("nix-store", ["--store", nixRoot, "-q", "--outputs", drvPath])).text
        .split("\n");
      // inputs: what Nix built, copied into our store
      const inputs = drv.inputDrvs.size === 0 ? [] : [
        (await nix("nix-build", [
          "--store",
          nixRoot,
          "--no-out-link",
          file,
          "-A",
          "dep",
        ])).text,
      ];
      if (inputs.length > 0) {
        const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...inputs])).bytes;
        const { WireReader } = await import("../../lib/wire/wire_reader.ts");
        await store.importExport(new WireReader(ReadableStream.from([exp])));
      }
      const basic = { ...drv, inputSrcs: [...drv.inputSrcs, ...inputs].sort() };
      const r = await builder.build(drvPath, basic);
      assert.equal(r.status, BuildStatus.Built, `${attr}: ${r.errorMsg}`);
      assert.deepEqual(
        [...r.builtOutputs.values()].map((o) => o.outPath).sort(),
        nixOut.sort(),
        attr,
      );
      for (const p of nixOut) {
        const theirs =
          JSON.parse((await nix("nix", ["path-info", "--store", nixRoot, "--json", p])).text)[0];
        const mine = store.requirePathInfo(p);
        assert.equal(mine.narHash.toString("sri"), theirs.narHash, `${attr} ${p}`);
        assert.deepEqual(mine.references, theirs.references ?? [], `${attr} ${p}`);
        assert.equal(mine.deriver, drvPath);
        if (theirs.ca) assert.equal(mine.ca, theirs.ca);
      }
      // a second build does not run the builder
      assert.equal((await builder.build(drvPath, basic)).status, BuildStatus.AlreadyValid);
    }
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

/** Nix's message about the build of `name` (its goal), colour escapes and all. */
const goalMessage = (name: string, tail: string) =>
  new RegExp(
    `^\x1b\\[0m\x1b\\[35;1mbuilding of '/nix/store/[a-z0-9]{32}-${name}\\.drv!out' ` +
      `from \\.drv file\x1b\\[0m ${tail}$`,
  );
const TIMED_OUT = goalMessage("sleeper", "timed out after \x1b\\[35;1m1\x1b\\[0m seconds");
const TIMED_OUT_SILENT = goalMessage(
  "sleeper",
  "timed out after \x1b\\[35;1m1\x1b\\[0m seconds of silence",
);
const LOG_LIMIT = goalMessage(
  "chatty",
  "killed after writing more than \x1b\\[35;1m10000\x1b\\[0m bytes of log output",
);

Deno.test("Builder failures: exit code, missing output, FOD mismatch, timeouts, log limit — nothing registered", async () => {
  using t = tempDir();
  const { nixRoot, file, store, builder } = await setup(t);
  try {
    const before = store.allValidPaths();
    const cases: [string, BuildStatus, RegExp, Record<string, number>][] = [
      ["fail", BuildStatus.PermanentFailure, /failed with exit code 3/, {}],
      ["noOut", BuildStatus.OutputRejected, /failed to produce output path/, {}],
      ["fodBad", BuildStatus.OutputRejected, /hash mismatch in fixed-output derivation/, {}],
      // Nix's words for a derivation read from a .drv (not sent "in memory")
      ["sleeper", BuildStatus.TimedOut, TIMED_OUT, { buildTimeout: 1 }],
      ["sleeper", BuildStatus.TimedOut, TIMED_OUT_SILENT, { maxSilentTime: 1 }],
      [
        "chatty",
        BuildStatus.LogLimitExceeded,
        LOG_LIMIT,
        { maxLogSize: 10000 },
      ],
    ];
    for (const [attr, status, re, limits] of cases) {
      const [drvPath, drv] = await instantiate(nixRoot, file, attr);
      let log = "";
      const r = await builder.build(drvPath, drv, {
        ...limits,
        log: (c) => void (log += new TextDecoder().decode(c)),
      });
      assert.equal(r.status, status, `${attr}: ${r.errorMsg}`);
      assert.match(r.errorMsg, re);
      if (attr === "fail") {
        assert.match(log, /about to fail/);
        assert.match(log, /to stderr/);
        assert.deepEqual(r.logTail, ["about to fail", "to stderr"]);
      }
      assert.deepEqual(store.allValidPaths(), before);
    }
    // no process of a killed build is left, the background daemon included. A build killed
    // while its sandbox is still being set up (a loaded machine) has its namespace emptied by
    // the kernel as bubblewrap dies: give that up to 15 s, polling (an outcome, not a timing).
    let left = "";
    for (let i = 0; i < 150; i++) {
      const ps = await new Deno.Command("pgrep", { args: ["-f", "daemon-marker-BUILDHOST-TEST"] })
        .output();
      left = new TextDecoder().decode(ps.stdout).trim();
      if (left === "") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(left, "", "processes of the killed builds are left");
    // nothing left in the store dir or the builds dir
    const names = [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name);
    assert.deepEqual(names, []);
    assert.deepEqual([...Deno.readDirSync(join(store.layout.stateDir, "builds"))], []);
  } finally {
    store.close();
  }
});

const GRAPH_EXPR = String.raw`
let
  mk = name: script: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; } // attrs);
in rec {
  dep = mk "graph-dep" "echo dependency > $out" {};
  withRef = mk "graph-with-ref" "echo $dep > $out" { inherit dep; };
  graph = mk "graph" "cat closure > $out; echo; cat $withRef >> $out" {
    exportReferencesGraph = [ "closure" withRef ];
    inherit withRef;
  };
  # dep is valid but not an input: its context is dropped
  outside = mk "graph-outside" "cat closure > $out" {
    exportReferencesGraph = [ "closure" (builtins.unsafeDiscardStringContext (toString dep)) ];
  };
}`;

Deno.test("Builder writes exportReferencesGraph files as Nix does; a path outside the inputs is rejected", async () => {
  using t = tempDir();
  const nixRoot = join(t.path, "nix");
  const file = join(t.path, "g.nix");
  Deno.writeTextFileSync(file, GRAPH_EXPR);
  const store = await Store.open(join(t.path, "ours"));
  const builder = new Builder(
    store,
    nixSandboxRunner({ sandboxPaths: parseSandboxPaths(SANDBOX_PATHS) }),
  );
  try {
    const [drvPath, drv] = await instantiate(nixRoot, file, "graph");
    const want =
      (await nix("nix-build", ["--store", nixRoot, "--no-out-link", file, "-A", "graph"]))
        .text;
    // the input's closure, as a remote builder would be sent it
    const withRef =
      (await nix("nix-build", ["--store", nixRoot, "--no-out-link", file, "-A", "withRef"]))
        .text;
    const closure = (await nix("nix-store", ["--store", nixRoot, "-qR", withRef])).text.split("\n");
    const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...closure])).bytes;
    const { WireReader } = await import("../../lib/wire/wire_reader.ts");
    await store.importExport(new WireReader(ReadableStream.from([exp])));
    const r = await builder.build(drvPath, {
      ...drv,
      inputSrcs: [...drv.inputSrcs, withRef].sort(),
    });
    assert.equal(r.status, BuildStatus.Built, r.errorMsg);
    const theirs = (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", want])).text;
    assert.equal(store.requirePathInfo(want).narHash.toString("base32", true), theirs);
    assert.match(Deno.readTextFileSync(store.realPath(want)), /graph-with-ref\n\n1\n.*graph-dep\n/);

    // a path that is not an input of the derivation
    const [outDrv, out] = await instantiate(nixRoot, file, "outside");
    const rejected = await builder.build(outDrv, out);
    assert.equal(rejected.status, BuildStatus.InputRejected);
    assert.match(
      rejected.errorMsg,
      /cannot export references of path '.*graph-dep' because it is not in the input closure/,
    );
    const nixSays = await nixFails("nix-build", [
      "--store",
      nixRoot,
      "--no-out-link",
      file,
      "-A",
      "outside",
    ]);
    assert.match(
      nixSays,
      /cannot export references of path '.*graph-dep' because it is not in the input closure/,
    );
  } finally {
    store.close();
  }
});

Deno.test("a builder killed by a signal fails as under Nix: 'failed due to signal 9 (Killed)'", async () => {
  using t = tempDir();
  const marker = `victim-marker-${crypto.randomUUID()}`;
  const nixRoot = join(t.path, "nix");
  const file = join(t.path, "v.nix");
  Deno.writeTextFileSync(
    file,
    `derivation { name = "victim"; system = "x86_64-linux"; builder = "/bin/sh";
       args = [ "-c" "echo started; /bin/sleep 300" "${marker}" ]; }`,
  );
  /** SIGKILL the builder once it runs, as the OOM killer would. */
  const killBuilder = async () => {
    for (let i = 0; i < 200; i++) {
      // the builder itself (argv[0] "sh", as Nix sets it), not the processes around it
      const pids = findProcesses(marker).filter((p) => {
        try {
          return Deno.readTextFileSync(`/proc/${p}/cmdline`).startsWith("sh\0-c\0");
        } catch {
          return false;
        }
      });
      // A process found may be gone by the time it is killed (ESRCH): look again.
      let killed = false;
      for (const p of pids) {
        try {
          Deno.kill(p, "SIGKILL");
          killed = true;
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
      }
      if (killed) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("the builder never ran");
  };
  const [nixErr] = await Promise.all([
    nixFails("nix-build", ["--store", nixRoot, "--no-out-link", file]),
    killBuilder(),
  ]);
  assert.match(nixErr, /failed due to signal 9 \(Killed\)/);

  const store = await Store.open(join(t.path, "ours"));
  try {
    const builder = new Builder(
      store,
      nixSandboxRunner({ sandboxPaths: parseSandboxPaths(SANDBOX_PATHS) }),
    );
    const [drvPath, drv] = await instantiate(nixRoot, file, "");
    const [r] = await Promise.all([builder.build(drvPath, drv), killBuilder()]);
    assert.equal(r.status, BuildStatus.PermanentFailure);
    assert.match(r.errorMsg, /failed due to signal 9 \(Killed\)/);
    assert.deepEqual(store.allValidPaths(), []);
    assert.deepEqual(findProcesses(marker), []);
  } finally {
    store.close();
  }
});
