/**
 * Golden bytes from real Nix 2.8 (testdata/serve, see its
 * README): every request a Nix client sent and every reply `nix-store
 * --serve` gave is decoded and encoded again, and must come out byte for
 * byte the same.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readNar } from "../../lib/nar/nar_reader.ts";
import { readExportMarker, readExportTrailer } from "../../lib/store/export_format.ts";
import type { WireReader } from "../../lib/wire/wire_reader.ts";
import { readBuildResult, writeBuildResult } from "../../lib/serve_protocol/build_result.ts";
import {
  readClientMagic,
  readClientVersion,
  readServerHello,
} from "../../lib/serve_protocol/handshake.ts";
import { writeClientHello, writeServerHello } from "../../lib/serve_protocol/handshake.ts";
import { readPathInfos, writePathInfos } from "../../lib/serve_protocol/path_infos.ts";
import {
  readBuildPathsReply,
  readImportedReply,
  readPathsReply,
  writeBuildPathsReply,
  writeImportedReply,
  writePathsReply,
} from "../../lib/serve_protocol/replies.ts";
import { readRequest, type ServeRequest, writeRequest } from "../../lib/serve_protocol/requests.ts";
import { encode, reader, rejectsTyped } from "../serve_protocol/_codec.ts";

const DIR = new URL("../../testdata/serve/", import.meta.url).pathname;

/** Every recorded session: `<scenario>/<n>`. */
function sessions(): string[] {
  const out: string[] = [];
  for (const d of [...Deno.readDirSync(DIR)].filter((e) => e.isDirectory).map((e) => e.name)) {
    for (const f of Deno.readDirSync(join(DIR, d))) {
      if (f.name.endsWith(".in")) out.push(`${d}/${f.name.slice(0, -3)}`);
    }
  }
  return out.sort();
}

function load(session: string): { input: Uint8Array; output: Uint8Array } {
  return {
    input: Deno.readFileSync(join(DIR, `${session}.in`)),
    output: Deno.readFileSync(join(DIR, `${session}.out`)),
  };
}

/** Skip one NAR (entries' contents are skipped by the reader). */
async function skipNar(r: WireReader): Promise<void> {
  for await (const _ of readNar(r)) { /* skipped */ }
}

/** Skip an export stream: per path a marker, a NAR and a trailer; then marker 0. */
async function skipExport(r: WireReader): Promise<number> {
  let n = 0;
  while (await readExportMarker(r)) {
    await skipNar(r);
    await readExportTrailer(r);
    n++;
  }
  return n;
}

/** A parsed request and the bytes of its command number and fields (not the data after). */
interface Recorded {
  req: ServeRequest;
  bytes: Uint8Array;
}

const VERSION = 0x207;

/** Split a client stream into its handshake and requests, checking each re-encodes exactly. */
async function checkClientStream(session: string, input: Uint8Array): Promise<Recorded[]> {
  const r = reader(input, [1000]);
  await readClientMagic(r);
  const version = await readClientVersion(r);
  assert.equal(version, VERSION);
  assert.deepEqual(await encode((w) => writeClientHello(w, version)), input.subarray(0, 16));
  const requests: Recorded[] = [];
  while (true) {
    const start = r.offset;
    const req = await readRequest(r, version);
    if (req === undefined) break;
    const bytes = input.subarray(start, r.offset);
    assert.deepEqual(
      await encode((w) => writeRequest(w, req, version)),
      bytes,
      `${session}: ${req.command} request at byte ${start} re-encodes differently`,
    );
    requests.push({ req, bytes });
    if (req.command === "AddToStoreNar") {
      for await (const _ of r.readChunks(req.header.narSize)) { /* the NAR */ }
    } else if (req.command === "ImportPaths") {
      assert.ok(await skipExport(r) > 0);
    }
  }
  assert.equal(r.offset, input.length);
  return requests;
}

/** Decode the server's replies in the order of the requests, checking each re-encodes exactly. */
async function checkServerStream(
  session: string,
  output: Uint8Array,
  requests: Recorded[],
): Promise<unknown[]> {
  const r = reader(output, [1000]);
  assert.equal(await readServerHello(r), VERSION);
  assert.deepEqual(await encode((w) => writeServerHello(w, VERSION)), output.subarray(0, 16));
  const replies: unknown[] = [];
  for (const [i, { req }] of requests.entries()) {
    if (await r.atEnd()) {
      // d/3: the read-only server refused AddToStoreNar without a reply.
      assert.equal(i, requests.length - 1, `${session}: replies stop early`);
      break;
    }
    const start = r.offset;
    let again: Uint8Array | undefined;
    switch (req.command) {
      case "QueryValidPaths":
      case "QueryClosure": {
        const paths = await readPathsReply(r, req.command);
        replies.push(paths);
        again = await encode((w) => writePathsReply(w, paths, req.command));
        break;
      }
      case "QueryPathInfos": {
        const infos = await readPathInfos(r, VERSION);
        replies.push(infos);
        again = await encode((w) => writePathInfos(w, infos, VERSION));
        break;
      }
      case "ImportPaths":
      case "AddToStoreNar":
        await readImportedReply(r, req.command);
        replies.push(1);
        again = await encode(writeImportedReply);
        break;
      case "BuildPaths": {
        const reply = await readBuildPathsReply(r);
        replies.push(reply);
        again = await encode((w) => writeBuildPathsReply(w, reply));
        break;
      }
      case "BuildDerivation": {
        const res = await readBuildResult(r, VERSION);
        replies.push(res);
        again = await encode((w) => writeBuildResult(w, res, VERSION));
        break;
      }
      case "DumpStorePath":
        await skipNar(r);
        replies.push("nar");
        break;
      case "ExportPaths":
        replies.push(await skipExport(r));
        break;
    }
    if (again !== undefined) {
      assert.deepEqual(
        again,
        output.subarray(start, r.offset),
        `${session}: ${req.command} reply at byte ${start} re-encodes differently`,
      );
    }
  }
  assert.ok(await r.atEnd(), `${session}: bytes after the last reply`);
  return replies;
}

Deno.test("serve codecs decode and re-encode every recorded Nix 2.8 session byte for byte", async () => {
  const all = sessions();
  assert.equal(all.length, 12);
  const commands = new Set<string>();
  for (const s of all) {
    const { input, output } = load(s);
    const requests = await checkClientStream(s, input);
    for (const { req } of requests) commands.add(req.command);
    await checkServerStream(s, output, requests);
  }
  assert.deepEqual([...commands].sort(), [
    "AddToStoreNar",
    "BuildDerivation",
    "BuildPaths",
    "DumpStorePath",
    "ExportPaths",
    "ImportPaths",
    "QueryClosure",
    "QueryPathInfos",
    "QueryValidPaths",
  ]);
});

Deno.test("serve codecs read the recorded remote build (c1) as Nix sent it", async () => {
  const { input, output } = load("c1/1");
  const requests = await checkClientStream("c1/1", input);
  const build = requests[1]!.req;
  assert.equal(build.command, "BuildDerivation");
  if (build.command !== "BuildDerivation") return;
  const outPath = "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-harness-c-ok";
  assert.equal(build.drvPath, "/nix/store/k1mcfb0ln92ylrgzji9i37z185v8lm92-harness-c-ok.drv");
  assert.equal(build.drv.name, "harness-c-ok");
  assert.deepEqual(
    build.drv.outputs,
    new Map([["out", { kind: "inputAddressed", path: outPath }]]),
  );
  assert.deepEqual(build.drv.inputSrcs, []);
  assert.equal(build.drv.platform, "x86_64-linux");
  assert.deepEqual([...build.drv.env.keys()], ["builder", "name", "out", "system"]);
  assert.deepEqual(build.options, {
    maxSilentTime: 0,
    buildTimeout: 0,
    maxLogSize: 0,
    nrRepeats: 0,
    enforceDeterminism: true,
    keepFailed: false,
  });
  const replies = await checkServerStream("c1/1", output, requests);
  const res = replies[1] as Awaited<ReturnType<typeof readBuildResult>>;
  assert.equal(res.status, "Built");
  assert.equal(res.errorMsg, "");
  assert.equal(res.timesBuilt, 1);
  assert.equal(res.startTime, 1795561454);
  const out = res.builtOutputs?.get("out");
  assert.equal(out?.outPath, outPath);
  assert.equal(
    out?.drvHash?.toString("base16", true),
    "sha256:5b75e08b60d120f7c45fcf80e871e0491c5ae5996325be2720eac2ee39e434df",
  );
  assert.deepEqual(out?.signatures, []);
  assert.deepEqual(out?.dependentRealisations, new Map());
});

Deno.test("serve codecs read the recorded failures (c2, x-synthetic) with Nix's messages", async () => {
  const c2 = load("c2/1");
  const c2replies = await checkServerStream(
    "c2/1",
    c2.output,
    await checkClientStream("c2/1", c2.input),
  );
  const res = c2replies[1] as Awaited<ReturnType<typeof readBuildResult>>;
  assert.equal(res.status, "PermanentFailure");
  // With Nix's ANSI colours.
  assert.ok(res.errorMsg.startsWith("\x1b[0mbuilder for '\x1b[35;1m/nix/store/"), res.errorMsg);
  assert.ok(res.errorMsg.endsWith("' failed with exit code 1"), res.errorMsg);
  assert.deepEqual(res.builtOutputs, new Map());

  const x = load("x-synthetic/1");
  const xreplies = await checkServerStream(
    "x-synthetic/1",
    x.output,
    await checkClientStream("x-synthetic/1", x.input),
  );
  assert.deepEqual(xreplies[1], { status: 0 });
  assert.equal(xreplies[3], 1); // one path exported
  const failed = xreplies[4] as { status: number; errorMsg: string };
  assert.equal(failed.status, 1);
  assert.match(failed.errorMsg, /cannot build missing derivation/);
});

Deno.test("serve codecs read the recorded AddToStoreNar headers (c3) with their ca and deriver", async () => {
  const { input } = load("c3/1");
  const requests = await checkClientStream("c3/1", input);
  const [dep, src] = requests.slice(1, 3).map((x) => x.req);
  assert.ok(dep?.command === "AddToStoreNar" && src?.command === "AddToStoreNar");
  assert.equal(dep.header.deriver, "/nix/store/69fml89hszlb114v8wcqbfn8x9zzmhs3-harness-c-dep.drv");
  assert.equal(
    dep.header.narHash.toString("base16"),
    "d98f252ee171370f36ea930e4d6b361b9f4b1aa195dacfffa4ef34bcaa522e0e",
  );
  assert.equal(dep.header.ca, undefined);
  assert.equal(src.header.ca, "text:sha256:0bqpwq41z90pvpjkhq6vzrnddz65xapldqgyq73y14h0lw5mv8lk");
  assert.equal(src.header.narSize, 144);
  assert.equal(src.header.ultimate, false);
});

Deno.test("readRequest() gives a typed error for every truncation of every recorded request", async () => {
  let checked = 0;
  for (const s of sessions()) {
    for (const { req, bytes } of await checkClientStream(s, load(s).input)) {
      assert.equal(await readRequest(reader(bytes.subarray(0, 0)), VERSION), undefined);
      for (let n = 1; n < bytes.length; n++) {
        const e = await rejectsTyped(readRequest(reader(bytes.subarray(0, n)), VERSION));
        assert.ok(e.offset <= n, `${s} ${req.command} cut at ${n}: ${e.message}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 5000, `only ${checked} truncations`);
});

Deno.test("reply readers give a typed error for every truncation of the recorded replies", async () => {
  for (const s of ["c1/1", "c2/1", "b/2", "x-synthetic/1"]) {
    const { input, output } = load(s);
    const requests = await checkClientStream(s, input);
    const r = reader(output);
    await readServerHello(r);
    for (const { req } of requests) {
      const start = r.offset;
      let read: ((r: WireReader) => Promise<unknown>) | undefined;
      switch (req.command) {
        case "BuildDerivation":
          read = (x) => readBuildResult(x, VERSION);
          break;
        case "QueryPathInfos":
          read = (x) => readPathInfos(x, VERSION);
          break;
        case "QueryValidPaths":
        case "QueryClosure":
          read = (x) => readPathsReply(x, req.command);
          break;
        case "BuildPaths":
          read = readBuildPathsReply;
          break;
      }
      if (read === undefined) {
        if (req.command === "DumpStorePath") await skipNar(r);
        else if (req.command === "ExportPaths") await skipExport(r);
        else await readImportedReply(r, req.command as "ImportPaths");
        continue;
      }
      await read(r);
      const bytes = output.subarray(start, r.offset);
      for (let n = 0; n < bytes.length; n++) {
        await rejectsTyped(read(reader(bytes.subarray(0, n))));
      }
    }
  }
});
