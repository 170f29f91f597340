/**
 * Temporaries of builds whose process was killed (build directory, sandbox
 * root) are removed by the next build; those of a live build are not. The
 * sandbox puts nothing in `TMPDIR`.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers/nix.ts";
import { BuildStatus } from "../../lib/derivation/build_result.ts";

const CHILD = new URL("../builder/_build_child.ts", import.meta.url).pathname;

/** A child process building in `store` with its own TMPDIR. */
class BuildChild {
  readonly child: Deno.ChildProcess;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  out = "";
  constructor(store: string, tmp: string, name: string, mode: "sleep" | "quick") {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CHILD, store, name, mode],
      env: { TMPDIR: tmp },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#reader = this.child.stdout.getReader();
  }
  /** Read its output until it contains `text` (or ends). */
  async until(text: string): Promise<string> {
    while (!this.out.includes(text)) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      this.out += new TextDecoder().decode(value);
    }
    return this.out;
  }
  async kill(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.child.status;
    await this.#reader.cancel();
  }
  async finish(): Promise<string> {
    await this.until("\0never");
    await this.child.status;
    return this.out;
  }
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("a build killed by SIGKILL leaves temporaries that the next build removes, sparing a live build's", async () => {
  using t = tempDir();
  const store = `${t.path}/store`;
  const tmp = `${t.path}/tmp`;
  Deno.mkdirSync(tmp);
  const builds = `${store}/nix/var/nix/builds`;

  const killed = new BuildChild(store, tmp, "killed", "sleep");
  assert.match(await killed.until("started"), /started/);
  const live = new BuildChild(store, tmp, "live", "sleep");
  assert.match(await live.until("started"), /started/);
  await killed.kill();
  // Left behind: its build directory (with the builder's 1 MiB), sandbox
  // root and lock; nothing in TMPDIR.
  const killedDirs = names(builds).filter((n) => n.startsWith("killed-"));
  assert.deepEqual(killedDirs.map((n) => n.replace(/^killed-\d+-\d+/, "killed")), [
    "killed",
    "killed.chroot",
    "killed.owner",
  ]);
  assert.equal(Deno.statSync(`${builds}/${killedDirs[0]}/junk`).size, 1048576);
  assert.deepEqual(names(tmp), []);

  const next = new BuildChild(store, tmp, "next", "quick");
  assert.match(await next.finish(), new RegExp(`done ${BuildStatus.Built}\\n$`));
  // The killed build's temporaries are gone; the live build's are all there.
  assert.deepEqual(
    names(builds).map((n) => n.replace(/^live-\d+-\d+/, "live")),
    ["live", "live.chroot", "live.owner"],
  );
  const liveDir = names(builds).find((n) => /^live-\d+-\d+$/.test(n))!;
  assert.equal(Deno.statSync(`${builds}/${liveDir}/junk`).size, 1048576);
  assert.deepEqual(names(tmp), []);

  await live.kill();
  const last = new BuildChild(store, tmp, "last", "quick");
  assert.match(await last.finish(), new RegExp(`done ${BuildStatus.Built}\\n$`));
  assert.deepEqual(names(builds), []);
  assert.deepEqual(names(tmp), []);
});

Deno.test("a build leaves no temporaries whether it succeeds, fails, times out or is cancelled", async () => {
  using t = tempDir();
  const { Store } = await import("../../lib/store/store.ts");
  const { Builder } = await import("../../lib/builder/builder.ts");
  const { nixSandboxRunner } = await import("../../lib/builder/sandbox_runner.ts");
  const { parseSandboxPaths } = await import("../../lib/sandbox/sandbox_paths.ts");
  const store = await Store.open(`${t.path}/store`);
  const builder = new Builder(
    store,
    nixSandboxRunner({ sandboxPaths: parseSandboxPaths(["/bin", "/lib", "/lib64", "/usr"]) }),
  );
  const builds = `${t.path}/store/nix/var/nix/builds`;
  let n = 0;
  const drv = (name: string, script: string) => {
    const out = `/nix/store/${String(n++).repeat(32)}-${name}`;
    return {
      name,
      outputs: new Map([["out", { kind: "inputAddressed" as const, path: out }]]),
      inputSrcs: [],
      platform: "x86_64-linux",
      builder: "/bin/sh",
      args: ["-c", `echo junk > junk; ${script}`],
      env: new Map([["out", out]]),
    };
  };
  const abort = new AbortController();
  const results = [
    await builder.build("/nix/store/a.drv", drv("fails", "exit 3")),
    await builder.build("/nix/store/b.drv", drv("slow", "exec /bin/sleep 1000"), {
      buildTimeout: 1,
    }),
    await builder.build("/nix/store/c.drv", drv("cancelled", "echo go; exec /bin/sleep 1000"), {
      signal: abort.signal,
      log: () => abort.abort(),
    }),
    await builder.build("/nix/store/d.drv", drv("works", "echo ok > $out")),
  ];
  assert.deepEqual(results.map((r) => r.status), [
    BuildStatus.PermanentFailure,
    BuildStatus.TimedOut,
    BuildStatus.MiscFailure,
    BuildStatus.Built,
  ]);
  assert.deepEqual(names(builds), []);
});
