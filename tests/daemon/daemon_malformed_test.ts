/**
 * Bad input to buildhost's DaemonServer: unknown ops, absurd lengths, paths
 * outside the store, bad NAR hashes, truncation at every byte, and a client
 * that hangs up during a build. Each gets a clear error and changes nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { DaemonServer } from "../../lib/daemon/daemon_server.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { readStderr, type StderrMessage } from "../../lib/worker_protocol/stderr.ts";
import { writeRequest } from "../../lib/worker_protocol/requests.ts";
import { readPathSet } from "../../lib/worker_protocol/replies.ts";
import { Hash } from "../../lib/hash/hash.ts";
import { tempDir } from "../_helpers/nix.ts";

const DATA = new URL("../../testdata/daemon/", import.meta.url).pathname;
const V = 0x122;

async function bytes(write: (w: WireWriter) => unknown): Promise<Uint8Array> {
  const out = new BufferSink();
  const w = new WireWriter(out);
  await write(w);
  await w.flush();
  return out.bytes();
}

const hello = (w: WireWriter) => void w.writeU64(0x6e697863).writeU64(V).writeU64(0).writeU64(0);

/** Run a session; return its exit code, process log and the stderr messages after the opening. */
async function session(store: Store, input: Uint8Array) {
  let log = "";
  const out = new BufferSink();
  const { exitCode } = await new DaemonServer(store, { log: (t) => void (log += t) })
    .serve(ReadableStream.from([input]), out);
  return { exitCode, log, out: out.bytes() };
}

/** The messages of the first op's answer (after the hello and the opening LAST). */
async function firstAnswer(out: Uint8Array): Promise<{ r: WireReader; msgs: StderrMessage[] }> {
  const r = new WireReader(ReadableStream.from([out]));
  await r.readU64();
  await r.readU64();
  await r.readString(100);
  assert.deepEqual(await readStderr(r, V), { type: "last" });
  const msgs: StderrMessage[] = [];
  while (!(await r.atEnd())) {
    const m = await readStderr(r, V);
    msgs.push(m);
    if (m.type === "last" || m.type === "error") break;
  }
  return { r, msgs };
}

async function withStore(f: (store: Store, root: string) => Promise<void>): Promise<void> {
  using tmp = tempDir();
  const root = join(tmp.path, "store");
  const store = await Store.open(root);
  try {
    await f(store, root);
  } finally {
    store.close();
  }
}

function errorOf(msgs: StderrMessage[]): string {
  const last = msgs.at(-1);
  assert.ok(last?.type === "error", `expected an error, got ${JSON.stringify(msgs)}`);
  return last.error.message;
}

Deno.test("DaemonServer refuses an unknown op in Nix's words and ends the session", async () => {
  await withStore(async (store) => {
    const res = await session(store, await bytes((w) => (hello(w), w.writeU64(99).writeU64(1))));
    assert.equal(res.exitCode, 1);
    assert.equal(errorOf((await firstAnswer(res.out)).msgs), "invalid operation 99");
    assert.match(res.log, /invalid operation 99/);
  });
});

Deno.test("DaemonServer refuses an op it does not serve, naming it", async () => {
  await withStore(async (store) => {
    const res = await session(store, await bytes((w) => (hello(w), w.writeU64(20))));
    assert.equal(
      errorOf((await firstAnswer(res.out)).msgs),
      "operation 'CollectGarbage' (20) is not supported by buildhost",
    );
    assert.equal(res.exitCode, 1);
  });
});

Deno.test("DaemonServer rejects absurd lengths and counts before reading them", async () => {
  await withStore(async (store) => {
    for (
      const [what, write] of [
        ["path count", (w: WireWriter) => w.writeU64(31).writeU64(1n << 60n)],
        ["path length", (w: WireWriter) => w.writeU64(26).writeU64(1n << 40n)],
        [
          "frame length",
          (w: WireWriter) => w.writeU64(44).writeU64(0).writeU64(0).writeU64(1n << 40n),
        ],
      ] as const
    ) {
      const res = await session(store, await bytes((w) => (hello(w), write(w))));
      assert.equal(res.exitCode, 1, what);
      assert.match(errorOf((await firstAnswer(res.out)).msgs), /above the limit/, what);
    }
    assert.deepEqual(store.allValidPaths(), []);
  });
});

Deno.test("DaemonServer rejects a path outside the store directory", async () => {
  await withStore(async (store) => {
    const res = await session(
      store,
      await bytes((w) => (hello(w), w.writeU64(26).writeString("/etc/passwd"))),
    );
    assert.match(errorOf((await firstAnswer(res.out)).msgs), /"\/etc\/passwd" is not a store path/);
    assert.equal(res.exitCode, 1);
  });
});

Deno.test("DaemonServer answers a NAR with a wrong hash with an error, registers nothing, and goes on", async () => {
  await withStore(async (store) => {
    const nar = await bytes((w) => {
      for (const t of ["nix-archive-1", "(", "type", "regular", "contents", "hi\n", ")"]) {
        w.writeString(t);
      }
    });
    const path = "/nix/store/ffffffffffffffffffffffffffffffff-bad";
    const input = await bytes(async (w) => {
      hello(w);
      writeRequest(w, {
        op: "AddToStoreNar",
        info: {
          path,
          narHash: Hash.of("sha256", "not the nar"),
          references: [],
          registrationTime: 0,
          narSize: nar.length,
          ultimate: false,
          sigs: [],
        },
        repair: false,
        dontCheckSigs: true,
      }, V);
      await w.writeFramed([nar]);
      writeRequest(w, { op: "QueryValidPaths", paths: [path], substitute: false }, V);
    });
    const res = await session(store, input);
    assert.equal(res.exitCode, 0);
    const { r, msgs } = await firstAnswer(res.out);
    assert.match(errorOf(msgs), /hash/i);
    assert.deepEqual(await readStderr(r, V), { type: "last" });
    assert.deepEqual(await readPathSet(r, "reply"), []);
    assert.equal(store.isValid(path), false);
    assert.deepEqual([...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name), []);
  });
});

Deno.test("DaemonServer given Nix's copy session cut at every byte leaves only whole, valid paths", async () => {
  await withStore(async (store) => {
    const input = Deno.readFileSync(join(DATA, "copy-to/1.in"));
    const names = new Set<string>();
    for (let cut = 0; cut < input.length; cut++) {
      const res = await session(store, input.subarray(0, cut));
      assert.ok(res.exitCode === 0 || res.exitCode === 1, `cut ${cut}`);
      assert.doesNotMatch(res.log, /TypeError|RangeError|undefined/, `cut ${cut}`);
      for (const p of store.allValidPaths()) names.add(p);
    }
    // whole paths only: every name in the store directory is a valid path, and all verify
    const inDir = [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name).sort();
    assert.deepEqual(inDir, store.allValidPaths().map((p) => p.slice("/nix/store/".length)));
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    assert.ok(names.size <= 2);
  });
});

function processesWith(token: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${e.name}/cmdline`).includes(token)) pids.push(+e.name);
    } catch { /* gone */ }
  }
  return pids;
}

Deno.test("DaemonServer kills a build's whole process tree when the client hangs up", async () => {
  await withStore(async (store) => {
    const builder = new Builder(
      store,
      nixSandboxRunner({ sandboxPaths: parseSandboxPaths(["/bin /lib /lib64 /usr"]) }),
    );
    const token = `hangup-${crypto.randomUUID()}`;
    const out = "/nix/store/ffffffffffffffffffffffffffffffff-hangup";
    const script =
      `: ${token}; (while :; do sleep 1; done) & echo started; while :; do sleep 1; done`;
    const input = await bytes((w) => {
      hello(w);
      writeRequest(w, {
        op: "BuildDerivation",
        drvPath: "/nix/store/ffffffffffffffffffffffffffffffff-hangup.drv",
        drv: {
          name: "hangup",
          outputs: new Map([["out", { kind: "inputAddressed", path: out }]]),
          inputSrcs: [],
          platform: "x86_64-linux",
          builder: "/bin/sh",
          args: ["-c", script],
          env: new Map([["out", out], ["name", "hangup"], ["system", "x86_64-linux"]]),
        },
        mode: "normal",
      }, V);
    });
    let hangUp = () => {};
    let seen = "";
    const input$ = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(input);
        hangUp = () => c.close();
      },
    });
    let log = "";
    const result = await new DaemonServer(store, { log: (t) => void (log += t), builder })
      .serve(input$, {
        write(chunk) {
          seen += new TextDecoder().decode(chunk);
          // the builder is running, with a child of its own: the client goes away
          if (seen.includes("started") && processesWith(token).length >= 2) hangUp();
        },
      });
    assert.equal(result.exitCode, 1);
    assert.match(log, /the client went away/);
    assert.deepEqual(processesWith(token), []);
    assert.equal(store.isValid(out), false);
  });
});
