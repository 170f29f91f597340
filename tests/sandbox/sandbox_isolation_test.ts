import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { BuildStatus } from "../../lib/derivation/build_result.ts";
import type { BasicDerivation } from "../../lib/derivation/derivation.ts";
import { tempDir } from "../_helpers/nix.ts";

const SANDBOX_PATHS = ["/bin", "/lib", "/lib64", "/usr"];

/** A derivation running `script` with /bin/sh, its output named `name`. */
function drv(
  name: string,
  script: string,
  inputSrcs: string[] = [],
  hash = "0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn",
) {
  const out = `/nix/store/${hash}-${name}`;
  const d: BasicDerivation = {
    name,
    outputs: new Map([["out", { kind: "inputAddressed", path: out }]]),
    inputSrcs,
    platform: "x86_64-linux",
    builder: "/bin/sh",
    args: ["-c", `PATH=/bin:/usr/bin; ${script}`],
    env: new Map([["out", out], ["name", name]]),
  };
  return { drvPath: `/nix/store/${hash}-${name}.drv`, drv: d, out };
}

Deno.test("the sandbox hides the host and other store paths, has no network, protects inputs and the store", async () => {
  using t = tempDir();
  const store = await Store.open(join(t.path, "s"));
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepted: Deno.Conn[] = [];
  (async () => {
    for await (const c of listener) accepted.push(c);
  })().catch(() => {});
  try {
    const secret = join(t.path, "host-secret");
    Deno.writeTextFileSync(secret, "do not read");
    const input = await store.addText("input.txt", "input\n");
    const hidden = await store.addText("hidden.txt", "not an input\n");
    const builder = new Builder(
      store,
      nixSandboxRunner({ sandboxPaths: parseSandboxPaths(SANDBOX_PATHS) }),
    );
    const { drvPath, drv: d, out } = drv(
      "probe",
      [
        "mkdir $out",
        `cat ${secret} > $out/secret 2>&1 || echo unreadable > $out/secret`,
        "ls /nix/store > $out/store",
        `busybox nc -w 2 127.0.0.1 ${port} < /dev/null > $out/net 2>&1 && echo connected >> $out/net || echo unreachable >> $out/net`,
        `echo changed > ${input.path} 2> /dev/null && echo written > $out/input || echo refused > $out/input`,
        "echo x > /nix/store/dropped-into-store || true",
        "echo data > $out/suid; chmod 4755 $out/suid 2> /dev/null || echo refused > $out/setuid",
      ].join("; "),
      [input.path],
    );
    const r = await builder.build(drvPath, d);
    assert.equal(r.status, BuildStatus.Built, r.errorMsg);
    const real = store.realPath(out);
    const read = (f: string) => Deno.readTextFileSync(join(real, f)).trim();
    assert.equal(read("secret"), "unreadable");
    assert.equal(
      read("store"),
      `${out.slice("/nix/store/".length)}\n${input.path.slice("/nix/store/".length)}`.split("\n")
        .sort().join("\n"),
    );
    assert.ok(!read("store").includes(hidden.path.slice("/nix/store/".length)));
    assert.match(read("net"), /unreachable$/);
    assert.equal(accepted.length, 0);
    assert.equal(read("input"), "refused");
    assert.equal(Deno.readTextFileSync(store.realPath(input.path)), "input\n");
    assert.throws(() => Deno.lstatSync(join(store.layout.realStoreDir, "dropped-into-store")));
    assert.equal(read("setuid"), "refused"); // Nix's seccomp filter
    assert.equal(Deno.lstatSync(join(real, "suid")).mode! & 0o7777, 0o444);
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    listener.close();
    for (const c of accepted) c.close();
    store.close();
  }
});

Deno.test("buildhost --serve --write cancels a build whose client goes away, leaving no process", async () => {
  using t = tempDir();
  const root = join(t.path, "s");
  const { drvPath, drv: d } = drv(
    "sleeper",
    "(sleep 120; echo gone-away-marker-BUILDHOST) & sleep 120",
  );
  const { BufferSink, WireWriter } = await import("../../lib/wire/wire_writer.ts");
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  w.writeU64(0x390c9deb).writeU64(0x207).writeU64(8).writeString(drvPath);
  w.writeU64(d.outputs.size);
  for (const [n, o] of d.outputs) {
    w.writeString(n).writeString((o as { path: string }).path).writeString("").writeString("");
  }
  w.writeStrings(d.inputSrcs).writeString(d.platform).writeString(d.builder).writeStrings(d.args);
  w.writeU64(d.env.size);
  for (const [k, v] of d.env) w.writeString(k).writeString(v);
  w.writeU64(0).writeU64(0).writeU64(0).writeU64(0).writeBool(true).writeBool(false);
  await w.flush();
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      main,
      "--serve",
      "--write",
      "--store",
      root,
      "--sandbox-paths",
      SANDBOX_PATHS.join(" "),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const input = child.stdin.getWriter();
  await input.write(sink.bytes());
  // wait until the builder runs, then hang up
  let running = false;
  for (let i = 0; i < 100 && !running; i++) {
    const ps = await new Deno.Command("pgrep", { args: ["-f", "gone-away-marker-BUILDHOST"] })
      .output();
    running = ps.success;
    if (!running) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(running, "the builder never started");
  await input.close();
  const out = await child.output();
  assert.equal(out.code, 1, new TextDecoder().decode(out.stderr));
  assert.match(new TextDecoder().decode(out.stderr), /client went away/);
  const ps = await new Deno.Command("pgrep", { args: ["-f", "gone-away-marker-BUILDHOST"] })
    .output();
  assert.equal(new TextDecoder().decode(ps.stdout).trim(), "");
  const store = await Store.open(root);
  try {
    assert.deepEqual(store.allValidPaths(), []);
  } finally {
    store.close();
  }
});
