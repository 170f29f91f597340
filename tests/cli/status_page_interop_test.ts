/**
 * `buildhost status --http`: the page loaded in a real headless browser
 * (Debian's chromium), `/metrics` checked by Prometheus' own `promtool`,
 * `/status.json`, the logs, and what hostile requests get. The host's
 * builds come from real Nix 2.8 through a buildhost daemon host (`ssh-ng://`):
 * one built, one failed, one running while the page is looked at.
 *
 * With `BUILDHOST_UPDATE_DOCS=1` the screenshot is also written to
 * `docs/status-page.png`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { nix, NIX_CONFIG, nixFails, tempDir } from "../_helpers/nix.ts";
import { MAIN, runBuildhost } from "../_helpers/buildhost.ts";
import type { HostStatus } from "../../lib/cli/host_status.ts";

const CLI = new URL("../_helpers/buildhost-cli", import.meta.url).pathname;
const GATED = new URL("../../testdata/status/gated.nix", import.meta.url).pathname;
const DOCS_SCREENSHOT = new URL("../../docs/status-page.png", import.meta.url).pathname;

async function run(cmd: string, args: string[], stdin?: string) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { DBUS_SESSION_BUS_ADDRESS: "disabled:" },
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** One raw HTTP/1.1 request (the path exactly as given); the status code and body. */
async function raw(port: number, request: string): Promise<{ code: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  const chunks: Uint8Array[] = [];
  for await (const c of conn.readable) chunks.push(c);
  const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  return { code: Number(text.split(" ")[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}

Deno.test("status --http: the page in headless chromium, /metrics through promtool, /status.json, /log/DRV, and 4xx for hostile requests", async () => {
  using t = tempDir();
  const client = join(t.path, "client");
  const remote = join(t.path, "remote");
  const gate = join(t.path, "gate");
  Deno.mkdirSync(gate, { mode: 0o755 });
  Deno.chmodSync(t.path, 0o755);
  const env = { NIX_CONFIG: `${NIX_CONFIG}\nextra-sandbox-paths = /gate=${gate}` };
  const tag = ["--argstr", "tag", crypto.randomUUID()];
  const builders = `ssh-ng://localhost?remote-program=${CLI}&remote-store=${remote} x86_64-linux`;
  const build = (attr: string) =>
    nix("nix-build", [
      ...["--store", client, GATED, "-A", attr, ...tag, "--no-out-link", "--max-jobs", "0"],
      ...["--builders", builders, "--option", "builders-use-substitutes", "false"],
    ], { env });
  const drvOf = async (attr: string) =>
    (await nix("nix-instantiate", ["--store", client, GATED, "-A", attr, ...tag], { env })).text;
  const [quick, broken, gated] = [
    await drvOf("quick"),
    await drvOf("broken"),
    await drvOf("gated"),
  ];
  await build("quick");
  await nixFails("nix-build", [
    ...["--store", client, GATED, "-A", "broken", ...tag, "--no-out-link", "--max-jobs", "0"],
    ...["--builders", builders, "--option", "builders-use-substitutes", "false"],
  ], { env });
  let gatedEnded = false;
  const gatedBuild = build("gated").finally(() => gatedEnded = true);
  gatedBuild.catch(() => {}); // awaited below

  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "status", "--http", "127.0.0.1:0", "--store", remote],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const first = (await lines.read()).value ?? "";
    const m = /^status page on (http:\/\/127\.0\.0\.1:(\d+)\/)\n/.exec(first);
    assert.ok(m, first);
    const base = m[1]!;
    const port = Number(m[2]);
    const status = async () => (await (await fetch(base + "status.json")).json()) as HostStatus;
    while (!(await status()).running.some((b) => b.drvPath === gated && b.logTail.length > 0)) {
      assert.ok(!gatedEnded, "the gated build ended before the page showed it running");
    }

    const s = await status();
    assert.deepEqual(s.recent.map((b) => [b.drvPath, b.status]), [
      [broken, "PermanentFailure"],
      [quick, "Built"],
    ]);
    assert.equal(s.running[0]!.drvPath, gated);

    // the page, as a browser renders it
    const shot = join(t.path, "status-page.png");
    const chromium = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"];
    const [dom, screenshot] = await Promise.all([
      run("chromium", [...chromium, `--user-data-dir=${t.path}/chr1`, "--dump-dom", base]),
      run("chromium", [
        ...[...chromium, `--user-data-dir=${t.path}/chr2`, "--window-size=1200,900"],
        ...[`--screenshot=${shot}`, "--hide-scrollbars", base],
      ]),
    ]);
    assert.equal(dom.code, 0, dom.stderr);
    const html = dom.stdout;
    assert.match(html, /<h1>buildhost on /);
    for (const name of ["status-quick.drv", "status-broken.drv", "status-gated.drv"]) {
      assert.ok(html.includes(`>${name}</a>`), name);
    }
    assert.match(html, /status-gated\.drv<\/a><pre>status-gated: waiting for the gate<\/pre>/);
    assert.match(html, /class="status ok" title="">Built</);
    assert.match(
      html,
      /class="status bad" title="builder for '[^']+-status-broken\.drv' failed with exit code 3">PermanentFailure</,
    );
    assert.match(html, /<td class="status">running<\/td>/);
    assert.ok(html.includes(`href="/log/${quick.slice("/nix/store/".length)}"`));
    assert.doesNotMatch(html, /<(script|link|img)\b/); // nothing fetched: works offline
    assert.equal(screenshot.code, 0, screenshot.stderr);
    const png = Deno.readFileSync(shot);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    if (Deno.env.get("BUILDHOST_UPDATE_DOCS") === "1") Deno.copyFileSync(shot, DOCS_SCREENSHOT);

    // /metrics in Prometheus' text format, as promtool checks it
    const metricsResponse = await fetch(base + "metrics");
    assert.match(
      metricsResponse.headers.get("content-type") ?? "",
      /^text\/plain; version=0\.0\.4/,
    );
    const metrics = await metricsResponse.text();
    const promtool = await run("promtool", ["check", "metrics"], metrics);
    assert.equal(promtool.code, 0, promtool.stdout + promtool.stderr);
    assert.match(metrics, /^buildhost_builds_total\{status="Built"\} 1$/m);
    assert.match(metrics, /^buildhost_builds_total\{status="PermanentFailure"\} 1$/m);
    assert.match(metrics, /^buildhost_build_duration_seconds_count 2$/m);
    assert.match(metrics, /^buildhost_build_duration_seconds_bucket\{le="\+Inf"\} 2$/m);
    assert.match(metrics, /^buildhost_builds_running 1$/m);
    assert.match(metrics, /^buildhost_build_slots_used 1$/m);
    assert.match(metrics, /^buildhost_sessions_open [1-9]\d*$/m);
    assert.match(metrics, /^buildhost_session_received_bytes_total [1-9]\d*$/m);

    // logs, decompressed as they stream; by base name or store path
    const quickLog = "status-quick: built\n";
    assert.equal(await (await fetch(base + "log/" + quick.slice(11))).text(), quickLog);
    assert.equal(await (await fetch(base + "log/" + encodeURIComponent(quick))).text(), quickLog);
    assert.equal(
      await (await fetch(base + "log/" + broken.slice(11))).text(),
      (await runBuildhost(["log", "--store", remote, broken])).stdout,
    );

    // hostile requests: 4xx, and never a file outside the log directory
    const secret = join(remote, "nix/var/log/nix/secret.drv");
    Deno.writeTextFileSync(secret, "not a log");
    const hostile: [string, number][] = [
      ["GET /log/../../../../../etc/passwd HTTP/1.1", 404],
      ["GET /log/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1", 400],
      ["GET /log/%2e%2e%2fsecret.drv HTTP/1.1", 400],
      ["GET /log/%2fetc%2fpasswd HTTP/1.1", 400],
      ["GET /log/%ff HTTP/1.1", 400],
      [`GET /log/${"0".repeat(32)}-absent.drv HTTP/1.1`, 404],
      [`GET /log/${"e".repeat(32)}-x.drv HTTP/1.1`, 400], // 'e' is not a nix32 digit
      ["POST / HTTP/1.1", 405],
      ["DELETE /log/x HTTP/1.1", 405],
      ["PUT /status.json HTTP/1.1", 405],
      [`GET /${"a".repeat(5000)} HTTP/1.1`, 414],
      ["GET /etc/passwd HTTP/1.1", 404],
    ];
    for (const [line, code] of hostile) {
      const r = await raw(
        port,
        `${line}\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      assert.equal(r.code, code, line.slice(0, 80));
      assert.doesNotMatch(r.body, /root:|not a log/);
    }
    assert.ok(existsSync(secret));
  } finally {
    Deno.writeTextFileSync(join(gate, "go"), "");
    server.kill("SIGTERM");
    lines.releaseLock();
    await server.stdout.cancel().catch(() => {});
    assert.equal((await server.status).code, 0);
    await gatedBuild.catch(() => {});
  }
  assert.ok(gatedEnded);
  const after = await runBuildhost(["status", "--json", "--store", remote]);
  assert.equal(JSON.parse(after.stdout).recent[0].status, "Built");
});
