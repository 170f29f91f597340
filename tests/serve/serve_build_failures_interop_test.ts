/**
 * BuildDerivation requests that go wrong in every way but a failing builder,
 * sent to buildhost's serve host and to `nix-store --serve --write` (Nix 2.8)
 * in the same sessions: each gets a failed BuildResult in Nix's words, and
 * the session goes on to answer the next command. Also: an output that is
 * valid already is left alone, and timeouts are worded as Nix words them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Builder } from "../../lib/builder/builder.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseDerivation } from "../../lib/derivation/aterm_parser.ts";
import { Hash } from "../../lib/hash/hash.ts";
import type { BasicDerivation } from "../../lib/derivation/derivation.ts";
import { readBuildResult } from "../../lib/serve_protocol/build_result.ts";
import type { BuildResult } from "../../lib/derivation/build_result.ts";
import { readServerHello, writeClientHello } from "../../lib/serve_protocol/handshake.ts";
import { readPathInfos, type ServePathInfo } from "../../lib/serve_protocol/path_infos.ts";
import { readImportedReply, readPathsReply } from "../../lib/serve_protocol/replies.ts";
import { type ServeRequest, writeRequest } from "../../lib/serve_protocol/requests.ts";
import { ServeServer } from "../../lib/serve/server.ts";
import { Store } from "../../lib/store/store.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { BufferSink } from "../../lib/wire/wire_writer.ts";
import { nix, nixEnv, tempDir } from "../_helpers/nix.ts";
import { halfBuilt, stateOf } from "../builder/_half_built.ts";
import { encode } from "../serve_protocol/_codec.ts";

const VERSION = 0x207;
const SANDBOX_PATHS = parseSandboxPaths(["/bin /lib /lib64 /usr"]);

/** One request of a session, with the bytes that follow it (a NAR). */
type Step = { req: ServeRequest; after?: Uint8Array };
type Reply = BuildResult | string[] | ServePathInfo[] | "imported";

/** The session's bytes: hello, then each request. */
function sessionBytes(steps: Step[]): Promise<Uint8Array> {
  return encode((w) => {
    writeClientHello(w, VERSION);
    for (const s of steps) {
      writeRequest(w, s.req, VERSION);
      if (s.after) w.writeRaw(s.after);
    }
  });
}

/** Read the replies to `steps`; build results without their clock. */
async function readReplies(r: WireReader, steps: Step[]): Promise<Reply[]> {
  assert.equal(await readServerHello(r), VERSION);
  const out: Reply[] = [];
  for (const { req } of steps) {
    switch (req.command) {
      case "BuildDerivation": {
        const res = await readBuildResult(r, VERSION);
        res.startTime = res.stopTime = 0;
        out.push(res);
        break;
      }
      case "QueryValidPaths":
        out.push(await readPathsReply(r, "QueryValidPaths"));
        break;
      case "QueryPathInfos":
        out.push(await readPathInfos(r, VERSION));
        break;
      case "AddToStoreNar":
        await readImportedReply(r, "AddToStoreNar");
        out.push("imported");
        break;
      default:
        throw new Error(`no reply reader for ${req.command}`);
    }
  }
  return out;
}

/**
 * One session with buildhost's serve host. The client's side stays open
 * until every reply is in (a client that hangs up cancels its build); the
 * session must then end cleanly.
 */
async function ours(store: Store, steps: Step[], log: string[] = []): Promise<Reply[]> {
  const input = await sessionBytes(steps);
  const sink = new BufferSink();
  let close!: () => void;
  const closed = new Promise<void>((resolve) => close = resolve);
  const complete = () =>
    readReplies(new WireReader(ReadableStream.from([sink.bytes()])), steps).then(
      () => true,
      () => false,
    );
  const source = new ReadableStream<Uint8Array>({
    async start(c) {
      c.enqueue(input);
      await closed;
      c.close();
    },
  });
  const server = new ServeServer(store, {
    write: true,
    log: (t) => void log.push(t),
    builder: new Builder(store, nixSandboxRunner({ sandboxPaths: SANDBOX_PATHS })),
  });
  const { exitCode } = await server.serve(source, {
    async write(chunk) {
      await sink.write(chunk);
      if (await complete()) close();
    },
  });
  assert.equal(exitCode, 0, log.join(""));
  const r = new WireReader(ReadableStream.from([sink.bytes()]));
  const replies = await readReplies(r, steps);
  assert.ok(await r.atEnd(), "bytes after the last reply");
  return replies;
}

/**
 * The same session with `nix-store --serve --write` on the chroot store
 * `root`; what it writes to stderr goes to `log`, its build directories
 * under `tmp` (default: Nix's).
 */
async function theirs(
  root: string,
  steps: Step[],
  log?: string[],
  tmp?: string,
): Promise<Reply[]> {
  const child = new Deno.Command("nix-store", {
    args: ["--store", root, "--serve", "--write"],
    env: nixEnv(tmp ? { TMPDIR: tmp } : {}),
    stdin: "piped",
    stdout: "piped",
    stderr: log ? "piped" : "null",
  }).spawn();
  const stderr = log ? new Response(child.stderr).text() : undefined;
  const stdin = child.stdin.getWriter();
  await stdin.write(await sessionBytes(steps));
  const r = new WireReader(child.stdout);
  const replies = await readReplies(r, steps);
  await stdin.close();
  await r.cancel();
  assert.ok((await child.status).success);
  if (stderr) log!.push(await stderr);
  return replies;
}

const EXPR = String.raw`
{ tag ? "" }: let
  dep = builtins.toFile "rules-dep" "a dependency";
  dep2 = builtins.toFile "rules-dep2" ("refers to " + dep);
  mk = name: script: attrs: derivation ({ inherit name tag; system = "x86_64-linux";
  builder = "/bin/sh"; args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; } // attrs);
in {
  fifo = mk "fifo-out" "mkfifo $out" {};
  kept = mk "kept" "echo keep me > note; exit 5" {};
  noOut = mk "no-out" "echo forgot the output" {};
  fodBad = mk "fod-bad" "printf goodbye > $out" { outputHashAlgo = "sha256";
    outputHash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; };
  allowed = mk "allowed-refs" "echo $dep $dep2 > $out" { inherit dep dep2; allowedReferences = []; };
  requisites = mk "disallowed-requisites" "echo $dep2 > $out" { inherit dep2; disallowedRequisites = [ dep ]; };
  fifoInside = mk "fifo-inside" "mkdir $out; echo a file > $out/file; mkfifo $out/pipe" {};
  nulEnv = mk "nul-env" "echo hi > $out" { value = "x"; };
  bigArgs = mk "big-args" "echo hi > $out" {};
  ok = mk "after-failures" "echo still serving > $out" {};
  sleeper = mk "sleeper" "echo started; sleep 60" {};
  chatty = mk "chatty" "while true; do echo spam spam spam spam; done" {};
  multiSleeper = mk "multi-sleeper" "echo started; sleep 60" { outputs = [ "out" "dev" "bin" ]; };
}`;

/** Instantiate `attr` (with `tag`) in Nix's chroot store; path and derivation. */
async function instantiate(
  nixRoot: string,
  file: string,
  attr: string,
  tag = "",
): Promise<[string, BasicDerivation]> {
  const drvPath = (await nix("nix-instantiate", [
    "--store",
    nixRoot,
    file,
    "--argstr",
    "tag",
    tag,
    "-A",
    attr,
  ])).text;
  return [drvPath, parseDerivation(Deno.readFileSync(join(nixRoot, drvPath)), { path: drvPath })];
}

function build(drvPath: string, drv: BasicDerivation, limits = {}): Step {
  return {
    req: {
      command: "BuildDerivation",
      drvPath,
      drv,
      options: { maxSilentTime: 0, buildTimeout: 0, maxLogSize: 0, nrRepeats: 0, ...limits },
    },
  };
}

const CHROOT_PREFIX = new RegExp("'\x1b\\[35;1m/[^']*?\\.drv\\.chroot/");
const COLOURS = new RegExp("\x1b\\[[0-9;]*m", "g");

/** Nix names the file at its place in the build's chroot; buildhost by its store path. */
function withoutChroot(res: Reply): Reply {
  if (typeof res === "string" || Array.isArray(res)) return res;
  return {
    ...res,
    errorMsg: res.errorMsg.replace(CHROOT_PREFIX, "'\x1b[35;1m/"),
  };
}

Deno.test("a FIFO output, a NUL in the environment, arguments over the kernel's limit: a failed BuildResult each, the session goes on", async () => {
  using tmp = tempDir();
  const file = join(tmp.path, "failures.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(tmp.path, "nix");
  const store = await Store.open(join(tmp.path, "ours"));
  try {
    const cases: [string, (d: BasicDerivation) => void][] = [
      ["fifo", () => {}],
      ["fifoInside", () => {}],
      ["nulEnv", (d) => d.env.set("value", "before\0after")],
      // one argument over MAX_ARG_STRLEN (128 KiB)
      ["bigArgs", (d) => d.args.push("x".repeat(200_000))],
    ];
    for (const [attr, spoil] of cases) {
      const [drvPath, drv] = await instantiate(nixRoot, file, attr);
      spoil(drv);
      const [okPath, okDrv] = await instantiate(nixRoot, file, "ok", attr);
      const okOut = (okDrv.outputs.get("out") as { path: string }).path;
      const steps: Step[] = [
        build(drvPath, drv),
        build(okPath, okDrv),
        { req: { command: "QueryValidPaths", lock: false, substitute: false, paths: [okOut] } },
      ];
      const log: string[] = [];
      const got = await ours(store, steps, log);
      const want = await theirs(nixRoot, steps);
      const failed = got[0] as BuildResult;
      // the session went on: the next build and a query were answered
      assert.deepEqual(got.slice(1), want.slice(1), attr);
      assert.equal((got[1] as BuildResult).status, "Built");
      assert.deepEqual(got[2], [okOut]);
      const out = (drv.outputs.get("out") as { path: string }).path;
      switch (attr) {
        case "fifo":
        case "fifoInside":
          // Nix's status and words, the file named by its store path
          assert.deepEqual(failed, withoutChroot(want[0]!), attr);
          assert.equal(failed.status, "MiscFailure");
          assert.equal(
            failed.errorMsg,
            `\x1b[31;1merror:\x1b[0m file '\x1b[35;1m${out}${
              attr === "fifo" ? "" : "/pipe"
            }\x1b[0m' has an unsupported type`,
          );
          break;
        case "bigArgs":
          // Nix: exec fails, the builder "exits 1" having said why
          assert.deepEqual(failed, want[0], attr);
          assert.equal(failed.status, "PermanentFailure");
          assert.match(log.join(""), /executing '\/bin\/sh': Argument list too long/);
          break;
        case "nulEnv":
          // Nix 2.8 cuts the value at the NUL and builds; buildhost refuses
          assert.equal((want[0] as BuildResult).status, "Built");
          assert.equal(failed.status, "MiscFailure");
          assert.equal(
            failed.errorMsg,
            `\x1b[31;1merror:\x1b[0m cannot run the builder of '${drvPath}': environment variable 'value' contains a NUL byte`,
          );
          break;
      }
      assert.ok(!store.isValid(out), attr);
    }
    // nothing but the successful builds' outputs in the store
    assert.equal(store.allValidPaths().length, cases.length);
    assert.equal([...Deno.readDirSync(store.layout.realStoreDir)].length, cases.length);
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

Deno.test("BuildDerivation timeouts and log limit are worded as nix-store --serve words them", async () => {
  using tmp = tempDir();
  const file = join(tmp.path, "timeouts.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(tmp.path, "nix");
  const store = await Store.open(join(tmp.path, "ours"));
  try {
    const [sleeperPath, sleeper] = await instantiate(nixRoot, file, "sleeper");
    const [multiPath, multi] = await instantiate(nixRoot, file, "multiSleeper");
    const [chattyPath, chatty] = await instantiate(nixRoot, file, "chatty");
    const steps = [
      build(sleeperPath, sleeper, { buildTimeout: 1 }),
      build(sleeperPath, sleeper, { maxSilentTime: 1 }),
      build(multiPath, multi, { buildTimeout: 1 }),
      build(chattyPath, chatty, { maxLogSize: 10000 }),
    ];
    const got = await ours(store, steps);
    const want = await theirs(nixRoot, steps);
    assert.deepEqual(got, want);
    assert.deepEqual(
      got.map((r) => (r as BuildResult).errorMsg.replaceAll(COLOURS, "")),
      [
        `building of '${sleeperPath}!out' from in-memory derivation timed out after 1 seconds`,
        `building of '${sleeperPath}!out' from in-memory derivation timed out after 1 seconds of silence`,
        `building of '${multiPath}!bin,dev,out' from in-memory derivation timed out after 1 seconds`,
        `building of '${chattyPath}!out' from in-memory derivation killed after writing more than 10000 bytes of log output`,
      ],
    );
  } finally {
    store.close();
  }
});

Deno.test("BuildDerivation of a derivation with a valid output and a new one leaves the valid one alone, as Nix does", async () => {
  using tmp = tempDir();
  const { drvPath, drv, out, dev, nar, header, nixRoot } = await halfBuilt(tmp);
  const nixId = Deno.readTextFileSync(join(nixRoot, out, "id"));
  const steps: Step[] = [
    { req: { command: "AddToStoreNar", header }, after: nar },
    build(drvPath, drv),
    { req: { command: "QueryPathInfos", paths: [out, dev] } },
  ];
  const store = await Store.open(join(tmp.path, "ours"));
  try {
    const got = await ours(store, steps);
    // Nix, on a store of its own that has only `out`, handed over the same way
    const want = await theirs(join(tmp.path, "nix2"), steps);
    assert.deepEqual(got, want);
    const result = got[1] as BuildResult;
    assert.equal(result.status, "Built");
    // as Nix: only what this build registered
    assert.deepEqual([...result.builtOutputs!.keys()], ["dev"]);
    assert.equal(Deno.readTextFileSync(join(tmp.path, "nix2", out, "id")), nixId);
    // contents, registration time and NAR hash as handed over
    assert.deepEqual(stateOf(store, out), {
      id: nixId,
      registrationTime: 12345,
      narHash: header.narHash.toString("sri"),
      ultimate: false,
      deriver: drvPath,
    });
    assert.deepEqual(store.requirePathInfo(dev).references, [out]);
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

Deno.test("BuildDerivation with keepFailed: the result as Nix's, the note on where the directory is kept in the log", async () => {
  using tmp = tempDir();
  const file = join(tmp.path, "kept.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(tmp.path, "nix");
  const nixTmp = join(tmp.path, "nix-tmp");
  Deno.mkdirSync(nixTmp);
  const store = await Store.open(join(tmp.path, "ours"));
  try {
    const [drvPath, drv] = await instantiate(nixRoot, file, "kept");
    const steps = [build(drvPath, drv, { keepFailed: true })];
    const ourLog: string[] = [];
    const nixLog: string[] = [];
    const got = await ours(store, steps, ourLog);
    const want = await theirs(nixRoot, steps, nixLog, nixTmp);
    assert.deepEqual(got, want);
    assert.match((got[0] as BuildResult).errorMsg, /failed with exit code 5$/);
    for (const log of [ourLog.join(""), nixLog.join("")]) {
      const dir = /^note: keeping build directory '(.*)'$/m.exec(log)?.[1];
      assert.ok(dir, log);
      assert.equal(Deno.readTextFileSync(join(dir, "note")), "keep me\n");
    }
  } finally {
    store.close();
  }
});

Deno.test("missing outputs, outputs that break the derivation's rules, a missing input: results as nix-store --serve's, in its words", async () => {
  using tmp = tempDir();
  const file = join(tmp.path, "rules.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(tmp.path, "nix");
  const store = await Store.open(join(tmp.path, "ours"));
  try {
    const steps: Step[] = [];
    const [, allowed] = await instantiate(nixRoot, file, "allowed");
    // the inputs, handed over first (Nix has them already: it made them)
    const deps = [...allowed.inputSrcs].sort((
      a,
      b,
    ) => (a.endsWith("dep") ? -1 : b.endsWith("dep") ? 1 : 0));
    for (const dep of deps) {
      const nar = (await nix("nix-store", ["--dump", join(nixRoot, dep)])).bytes;
      const references = (await nix("nix-store", ["--store", nixRoot, "-q", "--references", dep]))
        .text.split("\n").filter((p) => p !== "");
      steps.push({
        req: {
          command: "AddToStoreNar",
          header: {
            path: dep,
            narHash: Hash.of("sha256", nar),
            narSize: nar.length,
            references,
            registrationTime: 1,
            ultimate: false,
            sigs: [],
          },
        },
        after: nar,
      });
    }
    for (const attr of ["noOut", "fodBad", "allowed", "requisites"]) {
      const [drvPath, drv] = await instantiate(nixRoot, file, attr);
      steps.push(build(drvPath, drv));
    }
    // an input neither side has
    const [okPath, ok] = await instantiate(nixRoot, file, "ok", "missing input");
    const missing = "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-missing";
    steps.push(build(okPath, { ...ok, inputSrcs: [...ok.inputSrcs, missing] }));
    const got = await ours(store, steps);
    const want = (await theirs(nixRoot, steps)).map(withoutChroot);
    assert.deepEqual(got, want);
    const plain = got.slice(deps.length).map((r) =>
      (r as BuildResult).status + ": " +
      (r as BuildResult).errorMsg.replaceAll(COLOURS, "").replaceAll(/[a-z0-9]{32}-/g, "")
    );
    // the offending paths come sorted by store path (by hash): here, by name
    const [head, ...paths] = plain[2]!.split("\n");
    plain[2] = [head, ...paths.sort()].join("\n");
    assert.deepEqual(plain, [
      "OutputRejected: builder for '/nix/store/no-out.drv' failed to produce output path for output 'out' at '/nix/store/no-out'",
      "OutputRejected: hash mismatch in fixed-output derivation '/nix/store/fod-bad.drv':\n" +
      "  specified: sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\n" +
      "     got:    sha256-guNaY866N+lkZDTF3UEupXcUfx5KQczeFhQlMYfj2/k=",
      "OutputRejected: output '/nix/store/allowed-refs' is not allowed to refer to the following paths:\n" +
      "  /nix/store/rules-dep\n  /nix/store/rules-dep2",
      "OutputRejected: output '/nix/store/disallowed-requisites' is not allowed to refer to the following paths:\n" +
      "  /nix/store/rules-dep",
      "MiscFailure: error: dependency '/nix/store/missing' of '/nix/store/after-failures.drv' " +
      "does not exist, and substitution is disabled",
    ]);
    assert.deepEqual(store.allValidPaths(), [...deps].sort());
  } finally {
    store.close();
  }
});
