import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { BuildStatus } from "../../lib/builder/build_result.ts";
import { parseDerivation } from "../../lib/derivation/aterm.ts";
import type { Derivation } from "../../lib/derivation/derivation.ts";
import { nix, tempDir } from "../_helpers/nix.ts";

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
  const files = new Map([["/file.txt", text], ["/tree.nar", nar]]);
  const textHash = await sha256Hex(text), narHash = await sha256Hex(nar);
  const expr = (url: string) =>
    String.raw`
let fetch = import <nix/fetchurl.nix>; in {
  plain = fetch { url = "${url}/file.txt"; sha256 = "${textHash}"; };
  exe = fetch { url = "${url}/file.txt"; sha256 = "${exeHash}"; executable = true; name = "exe"; };
  unpacked = fetch { url = "${url}/tree.nar"; sha256 = "${narHash}"; unpack = true; };
  wrongHash = fetch { url = "${url}/file.txt"; sha256 = "${"0".repeat(64)}"; name = "wrong"; };
  missing = fetch { url = "${url}/not-there"; sha256 = "${"0".repeat(64)}"; };
  stalled = fetch { url = "${url}/stalled"; sha256 = "${"0".repeat(64)}"; };
  notFixed = derivation { name = "not-fixed"; builder = "builtin:fetchurl"; system = "builtin";
    url = "${url}/file.txt"; };
  unpackChannel = derivation { name = "channel"; builder = "builtin:unpack-channel";
    system = "builtin"; outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = "${"0".repeat(64)}"; };
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

Deno.test("builtin:fetchurl of <nix/fetchurl.nix> (plain, executable, unpack) builds as nix-build does", async () => {
  using t = tempDir();
  const s = await setup(t.path);
  await using server = serveFiles(s.files);
  s.write(server.url);
  const nixRoot = join(t.path, "nix");
  const store = await Store.open(join(t.path, "ours"));
  try {
    const builder = new Builder(store, nixSandboxRunner());
    for (const attr of ["plain", "exe", "unpacked"]) {
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
      assert.equal(r.builtOutputs.get("out"), want, attr);
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

Deno.test("builtin:fetchurl failures: wrong hash, HTTP error, not fixed-output, unpack-channel, timeout — nothing registered", async () => {
  using t = tempDir();
  const s = await setup(t.path);
  await using server = serveFiles(s.files);
  s.write(server.url);
  const nixRoot = join(t.path, "nix");
  const store = await Store.open(join(t.path, "ours"));
  try {
    const builder = new Builder(store, nixSandboxRunner());
    const before = store.db.allValidPaths();
    const cases: [string, number, RegExp, RegExp][] = [
      ["wrongHash", BuildStatus.OutputRejected, /hash mismatch in fixed-output derivation/, /^/],
      [
        "missing",
        BuildStatus.PermanentFailure,
        /failed with exit code 1/,
        /error:.* unable to download 'http:\/\/127\.0\.0\.1:\d+\/not-there': HTTP error 404/,
      ],
      [
        "notFixed",
        BuildStatus.PermanentFailure,
        /failed with exit code 1/,
        /'builtin:fetchurl' must be a fixed-output derivation/,
      ],
      [
        "unpackChannel",
        BuildStatus.PermanentFailure,
        /failed with exit code 1/,
        /builtin builder 'unpack-channel' is not supported/,
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
      assert.match(log, logged, attr);
    }
    assert.deepEqual(store.db.allValidPaths(), before);
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
    assert.ok(store.db.allValidPaths().some((p) => p.endsWith("-file.txt")));
  } finally {
    store.close();
  }
});
