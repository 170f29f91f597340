/**
 * Sessions recorded between Nix 2.8 and nix-daemon 2.8 (`testdata/daemon/`,
 * made by `scripts/record-daemon-sessions.sh`), replayed against buildhost's
 * DaemonServer on a store that went through the same sessions: the replies
 * must be the recorded bytes. Build sessions are compared with the times
 * (start, stop, registration) zeroed, since they are the server's clock.
 * Versions: 1.34 (Nix 2.8's, recorded), 1.21 (a hand-built client answered by
 * nix-daemon 2.8, recorded), and 1.38 (the recorded sessions rewritten with
 * 1.38's handshake: feature exchange, trust status; no op they use changes
 * between 1.34 and 1.38).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { DaemonServer } from "../../lib/daemon/daemon_server.ts";
import { BufferSink, encodeString, encodeU64 } from "../../lib/wire/wire_writer.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { tempDir } from "../_helpers/nix.ts";
import {
  type DecodedSession,
  decodeSession,
  decodeSessionBytes,
} from "../worker_protocol/_session.ts";

const DATA = new URL("../../testdata/daemon/", import.meta.url).pathname;
const read = (name: string, ext: string) => Deno.readFileSync(join(DATA, `${name}.${ext}`));

/** nix-daemon's first activity id in a recorded session (its pid << 32). */
function activityBase(s: DecodedSession): bigint | undefined {
  for (const op of s.ops) {
    for (const m of op.stderr) if (m.value.type === "startActivity") return m.value.id;
  }
  return undefined;
}

async function serve(
  store: Store,
  input: Uint8Array,
  options: {
    version?: number;
    activityIdBase?: bigint;
    builder?: Builder;
    /** Keep the input open until this many bytes were answered (as a client waiting for replies). */
    holdUntil?: number;
  } = {},
): Promise<Uint8Array> {
  let log = "";
  const sink = new BufferSink();
  let close = () => {};
  let written = 0;
  const out = {
    write(c: Uint8Array) {
      sink.write(c);
      written += c.length;
      if (written >= (options.holdUntil ?? 0)) close();
    },
  };
  const stream = options.holdUntil === undefined
    ? ReadableStream.from([input])
    : new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(input);
        close = () => {
          try {
            controller.close();
          } catch { /* closed already */ }
        };
      },
    });
  const { exitCode } = await new DaemonServer(store, {
    log: (t) => void (log += t),
    nixVersion: "2.8.0",
    version: options.version ?? 0x122,
    ...(options.activityIdBase !== undefined ? { activityIdBase: options.activityIdBase } : {}),
    ...(options.builder ? { builder: options.builder } : {}),
  }).serve(stream, out);
  assert.equal(exitCode, 0, log);
  assert.equal(log, "");
  return sink.bytes();
}

/** Replay `name` (scenario/N) and expect the recorded bytes. */
async function replayExact(store: Store, name: string): Promise<void> {
  const recorded = await decodeSession(join(DATA, name));
  const base = activityBase(recorded);
  const out = await serve(
    store,
    read(name, "in"),
    base === undefined ? {} : { activityIdBase: base },
  );
  assert.deepEqual(out, read(name, "out"), `${name}: replies differ`);
}

/** The session with the server's clock readings zeroed. */
function withoutTimes(s: DecodedSession): unknown {
  return s.ops.map((op) => {
    const reply = op.reply?.value;
    if (reply?.kind === "buildResult") {
      reply.result = { ...reply.result, startTime: 0, stopTime: 0 };
    }
    if (reply?.kind === "pathInfo" && reply.info) {
      reply.info = { ...reply.info, registrationTime: 0 };
    }
    return {
      request: op.request.bytes,
      stderr: op.stderr.map((m) => m.value),
      reply,
    };
  });
}

Deno.test("DaemonServer answers Nix 2.8's recorded ssh-ng sessions byte for byte at 1.34, and hand-built ones at 1.21", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "remote"));
  try {
    for (const name of ["copy-to/1", "path-info/1", "store-ping/1", "query-references/1"]) {
      await replayExact(store, name);
    }
    for (const name of ["v1.21/1", "v1.34/1"]) await replayExact(store, name);
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

Deno.test("DaemonServer answers Nix 2.8's recorded nix copy --from byte for byte", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "remote"));
  try {
    // the remote-only paths, with the metadata nix-daemon had for them
    const s = await decodeSession(join(DATA, "copy-from/1"));
    const nars = new Map<string, Uint8Array>();
    for (const op of s.ops) {
      const req = op.request.value;
      if (req.op === "NarFromPath") nars.set(req.path, op.reply!.bytes);
    }
    const infos = s.ops.flatMap((op) => {
      const req = op.request.value;
      const r = op.reply?.value;
      return req.op === "QueryPathInfo" && r?.kind === "pathInfo" && r.info
        ? [{ path: req.path, ...r.info }]
        : [];
    }).reverse(); // dependencies first
    for (const info of infos) {
      await store.addNar(info, new WireReader(ReadableStream.from([nars.get(info.path)!])));
    }
    await replayExact(store, "copy-from/1");
  } finally {
    store.close();
  }
});

Deno.test("DaemonServer builds Nix 2.8's recorded remote builds with nix-daemon's replies (times zeroed)", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "remote"));
  const builder = new Builder(
    store,
    nixSandboxRunner({ sandboxPaths: parseSandboxPaths(["/bin /lib /lib64 /usr"]) }),
  );
  try {
    for (const name of ["build/1", "build/2", "build-fail/1"]) {
      const recorded = await decodeSession(join(DATA, name));
      const input = read(name, "in");
      const out = await serve(store, input, {
        activityIdBase: activityBase(recorded)!,
        builder,
        holdUntil: read(name, "out").length,
      });
      const ours = await decodeSessionBytes(input, out, name);
      assert.deepEqual(withoutTimes(ours), withoutTimes(recorded), name);
    }
  } finally {
    store.close();
  }
});

/** A recorded 1.34 session rewritten with 1.38's handshake (features, trust status). */
function at138(name: string): { input: Uint8Array; output: Uint8Array } {
  const input = read(name, "in");
  const output = read(name, "out");
  const cat = (...p: Uint8Array[]) => new Uint8Array(p.flatMap((x) => [...x]));
  const version = encodeString("2.8.0");
  return {
    // magic, version, no features, then the rest as recorded
    input: cat(input.subarray(0, 8), encodeU64(0x126), encodeU64(0), input.subarray(16)),
    // magic, version, no features, version string, trusted, then the rest
    output: cat(
      output.subarray(0, 8),
      encodeU64(0x126),
      encodeU64(0),
      version,
      encodeU64(1),
      output.subarray(16 + version.length),
    ),
  };
}

Deno.test("DaemonServer answers the recorded sessions at 1.38 with the feature exchange and trust status", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "remote"));
  try {
    for (
      const name of ["copy-to/1", "path-info/1", "store-ping/1", "query-references/1", "v1.34/1"]
    ) {
      const recorded = await decodeSession(join(DATA, name));
      const base = activityBase(recorded);
      const { input, output } = at138(name);
      const out = await serve(store, input, {
        version: 0x126,
        ...(base === undefined ? {} : { activityIdBase: base }),
      });
      assert.deepEqual(out, output, `${name} at 1.38`);
    }
  } finally {
    store.close();
  }
});
