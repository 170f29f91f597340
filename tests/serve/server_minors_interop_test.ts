/**
 * The serve host against `nix-store --serve` (Nix 2.8) at every client minor
 * 2.0 to 2.8, with hand-built sessions: the same bytes go to both, and the
 * answers must be the same. Queries run on one store that Nix made (both
 * servers read it); builds run in two stores, one each, and their results
 * must agree in every field but the clock, and their outputs in NAR hash.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Builder } from "../../lib/builder/builder.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseDerivation } from "../../lib/derivation/aterm_parser.ts";
import { Hash } from "../../lib/hash/hash.ts";
import { readBuildResult } from "../../lib/serve_protocol/build_result.ts";
import type { BuildResult } from "../../lib/derivation/build_result.ts";
import { readServerHello, writeClientHello } from "../../lib/serve_protocol/handshake.ts";
import { writeRequest } from "../../lib/serve_protocol/requests.ts";
import { ServeServer } from "../../lib/serve/server.ts";
import { Store } from "../../lib/store/store.ts";
import { BufferSink } from "../../lib/wire/wire_writer.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, nixEnv, tempDir } from "../_helpers/nix.ts";
import { encode, MINORS, sp, v } from "../serve_protocol/_codec.ts";

/**
 * One session with buildhost's server on `store`; its output bytes. The
 * input stays open until `complete(output)` says the answers are all in:
 * like Nix, the server cancels a build whose client hangs up.
 */
async function ours(
  store: Store,
  input: Uint8Array,
  builder?: Builder,
  complete: (output: Uint8Array) => Promise<boolean> = () => Promise.resolve(true),
): Promise<Uint8Array> {
  let close!: () => void;
  const closed = new Promise<void>((resolve) => close = resolve);
  const source = new ReadableStream<Uint8Array>({
    async start(c) {
      c.enqueue(input);
      await closed;
      c.close();
    },
  });
  const sink = new BufferSink();
  const watched = {
    async write(chunk: Uint8Array) {
      await sink.write(chunk);
      if (await complete(sink.bytes())) close();
    },
  };
  if (await complete(new Uint8Array())) close();
  const server = new ServeServer(store, {
    write: true,
    log: (t) => void Deno.stderr.writeSync(new TextEncoder().encode(t)),
    ...(builder ? { builder } : {}),
  });
  const { exitCode } = await server.serve(source, watched);
  assert.equal(exitCode, 0);
  return sink.bytes();
}

/** One session with `nix-store --serve --write` on `root`; its output bytes. */
async function theirs(root: string, input: Uint8Array): Promise<Uint8Array> {
  return (await nix("nix-store", ["--store", root, "--serve", "--write"], { stdin: input })).bytes;
}

Deno.test("every query at every minor 2.0-2.8 is answered byte for byte as nix-store --serve does", async () => {
  using tmp = tempDir();
  const root = join(tmp.path, "nix");
  const top = (await nix("nix", [
    "eval",
    "--raw",
    "--store",
    root,
    "--expr",
    'builtins.toFile "minors-top" "refers to ${builtins.toFile "minors-dep" "dep"}"',
  ])).text;
  const dep = (await nix("nix-store", ["--store", root, "-q", "--references", top])).text;
  const missing = sp("missing");
  const store = await Store.open(root);
  try {
    for (const m of MINORS) {
      const session = Math.min(v(m), 0x207);
      const input = await encode((w) => {
        writeClientHello(w, v(m));
        for (const lock of [false, true]) {
          writeRequest(w, {
            command: "QueryValidPaths",
            lock,
            substitute: false,
            paths: [top, missing, dep],
          }, session);
        }
        writeRequest(w, { command: "QueryPathInfos", paths: [top, missing, dep] }, session);
        for (const includeOutputs of [false, true]) {
          writeRequest(w, { command: "QueryClosure", includeOutputs, paths: [top] }, session);
        }
        writeRequest(w, { command: "DumpStorePath", path: top }, session);
        writeRequest(w, { command: "ExportPaths", sign: false, paths: [dep, top] }, session);
      });
      const want = await theirs(root, input);
      const got = await ours(store, input);
      assert.ok(want.length > 100, `2.${m}: nix-store answered ${want.length} bytes`);
      assert.deepEqual(got, want, `2.${m}: the answers differ`);
    }
  } finally {
    store.close();
  }
});

const EXPR = String.raw`
{ minor }: let mk = name: script: derivation { inherit name minor; system = "x86_64-linux";
  builder = "/bin/sh"; args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; };
in {
  ok = mk "minors-ok" "echo built at $minor > $out";
  fail = mk "minors-fail" "echo failing at $minor; exit 3";
}`;

/** The reply of a BuildDerivation session, without the clock. */
async function buildReply(bytes: Uint8Array, session: number): Promise<BuildResult> {
  const r = new WireReader(ReadableStream.from([bytes]));
  assert.equal(await readServerHello(r), 0x207);
  const res = await readBuildResult(r, session);
  assert.ok(await r.atEnd(), "bytes after the build result");
  if (res.startTime !== undefined) {
    assert.ok(res.startTime > 0 && res.stopTime! >= res.startTime);
    res.startTime = res.stopTime = 0;
  }
  return res;
}

Deno.test("BuildDerivation at every minor 2.0-2.8 answers as nix-store --serve --write does", async () => {
  using tmp = tempDir();
  const file = join(tmp.path, "minors.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(tmp.path, "nix");
  const store = await Store.open(join(tmp.path, "ours"));
  const builder = new Builder(
    store,
    nixSandboxRunner({ sandboxPaths: parseSandboxPaths(["/bin /lib /lib64 /usr"]) }),
  );
  try {
    for (const m of MINORS) {
      const session = Math.min(v(m), 0x207);
      for (const attr of ["ok", "fail"]) {
        const drvPath = (await nix("nix-instantiate", [
          "--store",
          nixRoot,
          file,
          "--argstr",
          "minor",
          String(m),
          "-A",
          attr,
        ])).text;
        const drv = parseDerivation(Deno.readFileSync(join(nixRoot, drvPath)), { path: drvPath });
        const input = await encode((w) => {
          writeClientHello(w, v(m));
          writeRequest(w, {
            command: "BuildDerivation",
            drvPath,
            drv,
            options: { maxSilentTime: 60, buildTimeout: 120, maxLogSize: 0, nrRepeats: 0 },
          }, session);
        });
        // Nix aborts a build whose client hung up: keep its stdin open for the reply.
        const child = new Deno.Command("nix-store", {
          args: ["--store", nixRoot, "--serve", "--write"],
          env: nixEnv(),
          stdin: "piped",
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const stdin = child.stdin.getWriter();
        await stdin.write(input);
        const nixReader = new WireReader(child.stdout);
        assert.equal(await readServerHello(nixReader), 0x207);
        const want = await readBuildResult(nixReader, session);
        await stdin.close();
        await nixReader.cancel();
        await child.status;
        if (want.startTime !== undefined) want.startTime = want.stopTime = 0;

        const replied = (out: Uint8Array) => buildReply(out, session).then(() => true, () => false);
        const got = await buildReply(await ours(store, input, builder, replied), session);
        assert.deepEqual(got, want, `2.${m} ${attr}`);
        if (attr === "ok") {
          assert.equal(got.status, "Built");
          const out = drv.outputs.get("out")!;
          assert.ok(out.kind === "inputAddressed");
          const nixHash = Hash.parse(
            (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", out.path])).text,
          );
          assert.ok(store.requirePathInfo(out.path).narHash.equals(nixHash), `2.${m} output`);
        } else {
          assert.equal(got.status, "PermanentFailure");
        }
      }
    }
  } finally {
    store.close();
  }
});
