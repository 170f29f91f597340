/**
 * The codecs against a live `nix-store --serve` (Nix 2.8) at every client
 * minor: requests encoded by our writers, replies decoded by our readers at
 * the session's version, and encoded again to the same bytes. This checks
 * the version gates of the queries' replies for the minors the Nix 2.8
 * client never sends.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Hash } from "../../lib/hash/hash.ts";
import { readServerHello, writeClientHello } from "../../lib/serve_protocol/handshake.ts";
import { readPathInfos, writePathInfos } from "../../lib/serve_protocol/path_infos.ts";
import {
  readBuildPathsReply,
  readPathsReply,
  writePathsReply,
} from "../../lib/serve_protocol/replies.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { writeRequest } from "../../lib/serve_protocol/requests.ts";
import { nix, nixEnv, tempDir } from "../_helpers/nix.ts";
import { encode, MINORS, reader, sp, v } from "./_codec.ts";

Deno.test("serve codecs speak with nix-store --serve at every client minor", async () => {
  using tmp = tempDir();
  const store = join(tmp.path, "store");
  const top = (await nix("nix", [
    "eval",
    "--raw",
    "--store",
    store,
    "--expr",
    'builtins.toFile "codec-top" "refers to ${builtins.toFile "codec-dep" "dep"}"',
  ])).text;
  const dep = (await nix("nix-store", ["--store", store, "-q", "--references", top])).text;
  const narHash = Hash.parse(
    (await nix("nix-store", ["--store", store, "-q", "--hash", top])).text,
  );
  const narSize = Number((await nix("nix-store", ["--store", store, "-q", "--size", top])).text);
  const missing = sp("missing");

  for (const m of MINORS) {
    const session = Math.min(v(m), 0x207);
    const input = await encode((w) => {
      writeClientHello(w, v(m));
      writeRequest(w, {
        command: "QueryValidPaths",
        lock: false,
        substitute: false,
        paths: [top, missing],
      }, session);
      writeRequest(w, { command: "QueryPathInfos", paths: [top, missing] }, session);
      writeRequest(w, { command: "QueryClosure", includeOutputs: false, paths: [top] }, session);
    });
    const output = (await nix("nix-store", ["--store", store, "--serve"], { stdin: input })).bytes;
    const r = reader(output, [7]);
    assert.equal(await readServerHello(r), 0x207);
    const valid = await readPathsReply(r, "QueryValidPaths");
    assert.deepEqual(valid, [top]);
    let start = r.offset;
    const infos = await readPathInfos(r, session);
    assert.deepEqual(
      await encode((w) => writePathInfos(w, infos, session)),
      output.subarray(start, r.offset),
      `2.${m}: path infos re-encode differently`,
    );
    assert.equal(infos.length, 1);
    const info = infos[0]!;
    assert.deepEqual(
      { path: info.path, references: info.references, narSize: info.narSize },
      { path: top, references: [dep], narSize },
    );
    if (m >= 4) {
      assert.ok(info.narHash?.equals(narHash), `2.${m}: narHash`);
      assert.match(info.ca ?? "", /^text:sha256:/);
      assert.deepEqual(info.sigs, []);
    } else {
      assert.ok(!("narHash" in info) && !("ca" in info) && !("sigs" in info), `2.${m}`);
    }
    start = r.offset;
    const closure = await readPathsReply(r, "QueryClosure");
    assert.deepEqual(closure, [dep, top].sort());
    assert.deepEqual(
      await encode((w) => writePathsReply(w, closure, "QueryClosure")),
      output.subarray(start, r.offset),
    );
    assert.ok(await r.atEnd(), `2.${m}: bytes left over`);
  }
});

Deno.test("nix-store --serve reads exactly the build options written at every client minor", async () => {
  using tmp = tempDir();
  const drv = `${sp("missing.drv")}!out`;
  for (const m of MINORS) {
    const input = await encode((w) => {
      writeClientHello(w, v(m));
      writeRequest(w, {
        command: "BuildPaths",
        paths: [drv],
        options: {
          maxSilentTime: 5,
          buildTimeout: 6,
          maxLogSize: 7,
          nrRepeats: 0,
          keepFailed: true,
        },
      }, Math.min(v(m), 0x207));
      // Misread options would shift this request and garble its reply.
      writeRequest(
        w,
        { command: "QueryValidPaths", lock: false, substitute: false, paths: [] },
        0x207,
      );
    });
    const child = new Deno.Command("nix-store", {
      args: ["--store", join(tmp.path, "store"), "--serve", "--write"],
      env: nixEnv(),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // stdin stays open until the replies are in: Nix aborts a BuildPaths whose client hung up.
    const stdin = child.stdin.getWriter();
    await stdin.write(input);
    const r = new WireReader(child.stdout);
    assert.equal(await readServerHello(r), 0x207);
    const reply = await readBuildPathsReply(r);
    assert.equal(reply.status, 1, `2.${m}`);
    assert.match(reply.errorMsg ?? "", /cannot build missing derivation/);
    assert.deepEqual(await readPathsReply(r, "QueryValidPaths"), [], `2.${m}`);
    await stdin.close();
    assert.ok(await r.atEnd());
    const status = await child.status;
    await child.stderr.cancel();
    assert.equal(status.code, 0, `2.${m}`);
  }
});
