import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { BuildStatus } from "../../lib/derivation/build_result.ts";
import { parseDerivation } from "../../lib/derivation/aterm.ts";
import type { Derivation } from "../../lib/derivation/derivation.ts";
import { loadNixConfig, nixSettings } from "../../lib/cli/nix_settings.ts";
import { nix, NIX_CONFIG, nixEnv, tempDir } from "../_helpers/nix.ts";

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;
const BUILDERS = `ssh://remotehost?remote-program=${HELPERS}remote-buildhost x86_64-linux`;

/** A local HTTP server with the test's files; `[Symbol.asyncDispose]` stops it. */
function serveFiles(files: Map<string, Uint8Array>) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      const path = new URL(req.url).pathname;
      // a download that never ends: headers, then nothing
      if (path === "/stalled") {
        return new Response(new ReadableStream({ pull: () => new Promise(() => {}) }));
      }
      const body = files.get(path);
      return body === undefined
        ? new Response("not here", { status: 404 })
        : new Response(body.slice());
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes.slice());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Files served, the Nix expression fetching them, its directory. */
async function setup(dir: string) {
  const text = new TextEncoder().encode("a file fetched by builtin:fetchurl\n");
  const src = join(dir, "tree");
  Deno.mkdirSync(join(src, "sub"), { recursive: true });
  Deno.writeTextFileSync(join(src, "sub", "hello"), "hello from a NAR\n");
  Deno.symlinkSync("sub/hello", join(src, "link"));
  const nar = (await nix("nix-store", ["--dump", src])).bytes;
  const exe = join(dir, "exe");
  Deno.writeFileSync(exe, text);
  Deno.chmodSync(exe, 0o755);
  const exeHash = (await nix("nix-hash", ["--type", "sha256", exe])).text;
  const xz = new Deno.Command("xz", { args: ["-c"], stdin: "piped", stdout: "piped" }).spawn();
  const w = xz.stdin.getWriter();
  await w.write(nar);
  await w.close();
  const narXz = (await xz.output()).stdout;
  const files = new Map([
    ["/file.txt", text],
    ["/tree.nar", nar],
    ["/tree.nar.xz", narXz],
    ["/bad.nar.xz", text],
  ]);
  const textHash = await sha256Hex(text), narHash = await sha256Hex(nar);
  const expr = (url: string) =>
    String.raw`
let fetch = import <nix/fetchurl.nix>; in {
  plain = fetch { url = "${url}/file.txt"; sha256 = "${textHash}"; };
  exe = fetch { url = "${url}/file.txt"; sha256 = "${exeHash}"; executable = true; name = "exe"; };
  unpacked = fetch { url = "${url}/tree.nar"; sha256 = "${narHash}"; unpack = true; };
  unpackedXz = fetch { url = "${url}/tree.nar.xz"; sha256 = "${narHash}"; unpack = true;
    name = "tree-xz"; };
  wrongHash = fetch { url = "${url}/file.txt"; sha256 = "${"0".repeat(64)}"; name = "wrong"; };
  badXz = fetch { url = "${url}/bad.nar.xz"; sha256 = "${"0".repeat(64)}"; unpack = true; };
  missing = fetch { url = "${url}/not-there"; sha256 = "${"0".repeat(64)}"; };
  stalled = fetch { url = "${url}/stalled"; sha256 = "${"0".repeat(64)}"; };
  notFixed = derivation { name = "not-fixed"; builder = "builtin:fetchurl"; system = "builtin";
    url = "${url}/file.txt"; };
}`;
  const file = join(dir, "f.nix");
  return { files, file, write: (url: string) => Deno.writeTextFileSync(file, expr(url)) };
}

async function instantiate(
  root: string,
  file: string,
  attr: string,
): Promise<[string, Derivation]> {
  const drvPath = (await nix("nix-instantiate", ["--store", root, file, "-A", attr])).text;
  return [drvPath, parseDerivation(Deno.readFileSync(join(root, drvPath)), { path: drvPath })];
}

Deno.test("builtin:fetchurl of <nix/fetchurl.nix> (plain, executable, unpack, xz unpack) builds as nix-build does", async () => {
  using t = tempDir();
  const s = await setup(t.path);
  await using server = serveFiles(s.files);
  s.write(server.url);
  const nixRoot = join(t.path, "nix");
  const store = await Store.open(join(t.path, "ours"));
  try {
    const builder = new Builder(store, nixSandboxRunner());
    for (const attr of ["plain", "exe", "unpacked", "unpackedXz"]) {
      const [drvPath, drv] = await instantiate(nixRoot, s.file, attr);
      assert.equal(drv.builder, "builtin:fetchurl");
      const want =
        (await nix("nix-build", ["--store", nixRoot, "--no-out-link", s.file, "-A", attr]))
          .text;
      let log = "";
      const r = await builder.build(drvPath, drv, {
        log: (c) => log += new TextDecoder().decode(c),
      });
      assert.equal(r.status, BuildStatus.Built, `${attr}: ${r.errorMsg}`);
      assert.equal(r.builtOutputs.get("out")?.outPath, want, attr);
      assert.match(log, /^downloading 'http:\/\/127\.0\.0\.1:\d+\/[a-z.]+'\.\.\.$/m, attr);
      const theirs = (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", want])).text;
      assert.equal(store.requirePathInfo(want).narHash.toString("base32", true), theirs, attr);
      if (attr === "exe") assert.equal(Deno.statSync(store.realPath(want)).mode! & 0o777, 0o555);
    }
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

Deno.test("builtin:fetchurl failures: wrong hash, HTTP error, not fixed-output, bad xz, timeout — nothing registered", async () => {
  using t = tempDir();
  const s = await setup(t.path);
  await using server = serveFiles(s.files);
  s.write(server.url);
  const nixRoot = join(t.path, "nix");
  const store = await Store.open(join(t.path, "ours"));
  try {
    const builder = new Builder(store, nixSandboxRunner());
    const before = store.allValidPaths();
    const cases: [string, BuildStatus, RegExp, RegExp][] = [
      ["wrongHash", BuildStatus.OutputRejected, /hash mismatch in fixed-output derivation/, /^/],
      [
        "missing",
        BuildStatus.PermanentFailure,
        /failed with exit code 1/,
        /error:.* unable to download 'http:\/\/127\.0\.0\.1:\d+\/not-there': HTTP error 404/,
      ],
      [
        "badXz",
        BuildStatus.PermanentFailure,
        /failed with exit code 1/,
        /error:.* cannot decompress xz: .*xz: \(stdin\): File format not recognized/,
      ],
      [
        "notFixed",
        BuildStatus.PermanentFailure,
        /failed with exit code 1/,
        /'builtin:fetchurl' must be a fixed-output derivation/,
      ],
    ];
    cases.push([
      "stalled",
      BuildStatus.TimedOut,
      /building of '.*-stalled\.drv!out' from \.drv file.* timed out after .*1.* seconds$/,
      /downloading/,
    ]);
    for (const [attr, status, message, logged] of cases) {
      const [drvPath, drv] = await instantiate(nixRoot, s.file, attr);
      let log = "";
      const r = await builder.build(drvPath, drv, {
        log: (c) => log += new TextDecoder().decode(c),
        ...(attr === "stalled" ? { buildTimeout: 1 } : {}),
      });
      assert.equal(r.status, status, `${attr}: ${r.errorMsg}`);
      assert.match(r.errorMsg, message, attr);
      assert.match(log, logged, `${attr}: ${log}`);
    }
    assert.deepEqual(store.allValidPaths(), before);
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

Deno.test("real Nix with -j0 builds <nix/fetchurl.nix> on a buildhost serve host", async () => {
  using t = tempDir();
  const s = await setup(t.path);
  await using server = serveFiles(s.files);
  s.write(server.url);
  const client = join(t.path, "client"), local = join(t.path, "local");
  const remote = join(t.path, "remote");
  const env = {
    PATH: `${HELPERS}bin:${Deno.env.get("PATH")}`,
    BUILDHOST_TEST_REMOTE_STORE: remote,
  };
  for (const attr of ["plain", "unpacked"]) {
    const out = (await nix("nix-build", [
      "--store",
      client,
      "--no-out-link",
      s.file,
      "-A",
      attr,
      "--max-jobs",
      "0",
      "--builders",
      BUILDERS,
      "--option",
      "builders-use-substitutes",
      "false",
    ], { env })).text;
    const want = (await nix("nix-build", ["--store", local, "--no-out-link", s.file, "-A", attr]))
      .text;
    assert.equal(out, want, attr);
    const hash = async (root: string) =>
      (await nix("nix-store", ["--store", root, "-q", "--hash", want])).text;
    assert.equal(await hash(client), await hash(local), attr);
  }
  const store = await Store.open(remote);
  try {
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    assert.ok(store.allValidPaths().some((p) => p.endsWith("-file.txt")));
  } finally {
    store.close();
  }
});

/** A server for Nix's download settings; it records each request (path and credentials). */
function settingsServer(text: Uint8Array, textHashHex: string) {
  const requests: string[] = [];
  let flaky = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    const auth = req.headers.get("authorization");
    requests.push(auth ? `${path} ${auth}` : path);
    if (path === "/flaky") {
      return ++flaky % 3 !== 0
        ? new Response("busy\n", { status: 503 })
        : new Response(text.slice());
    }
    if (path === "/always-500") return new Response("broken\n", { status: 500 });
    if (path === "/auth") {
      return auth === `Basic ${btoa("alice:s3cret")}`
        ? new Response(text.slice())
        : new Response("who are you\n", { status: 401 });
    }
    if (path === `/mirror/sha256/${textHashHex}`) return new Response(text.slice());
    return new Response("not here\n", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    /** The requests since the last call; `/flaky` fails twice again. */
    take: () => {
      flaky = 0;
      return requests.splice(0);
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("builtin:fetchurl reads hashed-mirrors, netrc-file and download-attempts as Nix 2.8 does: the same requests, results and messages", async () => {
  using t = tempDir();
  const text = new TextEncoder().encode("fetched with Nix's settings\n");
  const hex = await sha256Hex(text);
  await using server = settingsServer(text, hex);
  const file = join(t.path, "f.nix");
  Deno.writeTextFileSync(
    file,
    String.raw`
let fetch = name: path: import <nix/fetchurl.nix> { url = "${server.url}${"$"}{path}"; sha256 = "${hex}"; inherit name; }; in {
  mirrored = fetch "mirrored" "/gone";
  flaky = fetch "flaky" "/flaky";
  broken = fetch "broken" "/always-500";
  auth = fetch "auth" "/auth";
  gone = fetch "gone" "/gone";
}`,
  );
  const netrc = join(t.path, "netrc");
  Deno.writeTextFileSync(
    netrc,
    `machine elsewhere login bob password nope\nmachine 127.0.0.1\n  login alice\n  password s3cret\n`,
  );
  const nixRoot = join(t.path, "nix");
  const store = await Store.open(join(t.path, "ours"));
  const host = { system: "x86_64-linux", extraPlatforms: [], systemFeatures: [], maxJobs: 1 };
  const cases: [string, string, boolean, RegExp][] = [
    ["mirrored", `hashed-mirrors = ${server.url}/mirror`, true, /^/],
    ["flaky", "download-attempts = 2", false, /HTTP error 503 \('Service Unavailable'\)/],
    ["flaky", "download-attempts = 3", true, /^/],
    [
      "broken",
      "download-attempts = 3",
      false,
      /HTTP error 500 \('Internal Server Error'\)\n\n {7}response body:\n\n {7}broken/,
    ],
    ["gone", "", false, /HTTP error 404 \('Not Found'\)/],
    ["auth", `netrc-file = ${t.path}/none`, false, /HTTP error 401 \('Unauthorized'\)/],
    ["auth", `netrc-file = ${netrc}`, true, /^/],
  ];
  try {
    for (const [attr, setting, succeeds, message] of cases) {
      const config = `${NIX_CONFIG}\n${setting}\n`;
      const nixRun = await new Deno.Command("nix-build", {
        args: ["--store", nixRoot, "--no-out-link", file, "-A", attr],
        env: nixEnv({ NIX_CONFIG: config }),
        stdout: "piped",
        stderr: "piped",
      }).output();
      const nixRequests = server.take();
      const nixLog = new TextDecoder().decode(nixRun.stderr);
      assert.equal(nixRun.success, succeeds, `${attr} (${setting}) by Nix: ${nixLog}`);

      const [drvPath, drv] = await instantiate(nixRoot, file, attr);
      // the settings as the serve host reads them from NIX_CONFIG
      const env = { NIX_CONFIG: config, NIX_CONF_DIR: join(t.path, "etc"), HOME: t.path };
      const { fetchurl } = nixSettings(loadNixConfig(env), env);
      const builder = new Builder(store, nixSandboxRunner(), { ...host, fetchurl });
      let log = "";
      const r = await builder.build(drvPath, drv, {
        log: (c) => log += new TextDecoder().decode(c),
      });
      assert.deepEqual(server.take(), nixRequests, `${attr} (${setting}): requests`);
      if (succeeds) {
        assert.equal(r.status, BuildStatus.Built, `${attr}: ${r.errorMsg}`);
        assert.equal(
          r.builtOutputs.get("out")?.outPath,
          new TextDecoder().decode(nixRun.stdout).trim(),
        );
      } else {
        assert.equal(r.status, BuildStatus.PermanentFailure, attr);
        assert.match(nixLog, message, `${attr} by Nix`);
        const plain = log.replaceAll("\x1b[31;1m", "").replaceAll("\x1b[35;1m", "")
          .replaceAll("\x1b[0m", "");
        assert.match(plain, message, `${attr}: ${log}`);
      }
      const retries = (s: string) => s.match(/; retrying in \d+ ms/g)?.length ?? 0;
      assert.equal(retries(log), retries(nixLog), `${attr}: retry warnings`);
    }
  } finally {
    store.close();
  }
});
