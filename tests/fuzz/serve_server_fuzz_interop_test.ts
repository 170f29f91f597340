/**
 * Fuzzing the serve loop as a whole: whole client streams recorded from
 * Nix 2.8 (copies to and from the host, remote builds, imports and exports,
 * queries; with and without `--write`) and sessions adding NARs made by
 * `nix-store --dump`, mutated, fed to a ServeServer over
 * a store in a temporary directory (no builder: build requests end the
 * session with an error, as on a host without a sandbox).
 *
 * Properties: a session always ends with exit code 0 or 1 and never
 * throws; the error that ends a session is a typed one (a BuildhostError
 * subclass), never a stray TypeError or RangeError; after every session the
 * store holds no temporary, no lock and nothing that is not a valid path,
 * nothing is written outside the store (not even through a symlink a NAR
 * makes to a directory outside, which must stay empty), and the store
 * verifies with its contents rehashed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { BuildhostError } from "../../lib/errors.ts";
import { Store } from "../../lib/store/store.ts";
import { ServeServer } from "../../lib/serve/server.ts";
import { BufferSink } from "../../lib/wire/wire_writer.ts";
import { tempDir } from "../_helpers/nix.ts";
import { Hash } from "../../lib/hash/hash.ts";
import { writeClientHello } from "../../lib/serve_protocol/handshake.ts";
import { writeRequest } from "../../lib/serve_protocol/requests.ts";
import { encode, type Session, sessions } from "./_corpus.ts";
import { dumpedNars } from "./_dumped_nars.ts";
import { arbChunking, arbMutated, streamOf } from "./_mutate.ts";
import { fuzz, LONG } from "./_runner.ts";

/**
 * Sessions that add NARs made by `nix-store --dump` (one holds a symlink to
 * `escape`, outside the store) with AddToStoreNar, then query and dump them.
 */
async function narSessions(work: string, escape: string): Promise<Session[]> {
  const nars = await dumpedNars(work, escape);
  Deno.removeSync(join(work, "trees"), { recursive: true });
  const out: Session[] = [];
  for (const [i, nar] of nars.entries()) {
    const path = `/nix/store/${"0123456789abcdfghijklmnpqrsvwxyz".slice(i)}${
      "0".repeat(i)
    }-nar-${i}`;
    const head = await encode((w) => {
      writeClientHello(w, 0x207);
      writeRequest(w, {
        command: "AddToStoreNar",
        header: {
          path,
          narHash: Hash.of("sha256", nar),
          references: [],
          registrationTime: 1,
          narSize: nar.length,
          ultimate: false,
          sigs: [],
        },
      }, 0x207);
    });
    const tail = await encode((w) => {
      writeRequest(w, { command: "QueryPathInfos", paths: [path] }, 0x207);
      writeRequest(w, { command: "DumpStorePath", path }, 0x207);
    });
    const input = new Uint8Array(head.length + nar.length + tail.length);
    input.set(head);
    input.set(nar, head.length);
    input.set(tail, head.length + nar.length);
    out.push({ name: `nar-${i}`, input, output: new Uint8Array(0), write: true });
  }
  return out;
}

/** Sessions served by one store before a fresh one (so imports keep importing). */
const STORE_LIFE = LONG ? 500 : 60;

Deno.test("fuzz: serve loop over a store (mutated Nix 2.8 sessions)", async () => {
  using work = tempDir("buildhost-fuzz-serve-");
  const escape = join(work.path, "escape");
  Deno.mkdirSync(escape);
  const all = [...sessions(), ...await narSessions(work.path, escape)];
  const corpus = all.map((s) => s.input);
  let store: Store | undefined;
  let n = 0;
  let storeRoot = "";
  const fresh = async () => {
    if (store) {
      assert.deepStrictEqual(await store.verify({ checkContents: true }), []);
      store.close();
      await Deno.remove(storeRoot, { recursive: true });
    }
    storeRoot = join(work.path, `store-${n}`);
    store = await Store.open(storeRoot);
  };
  const arb = fc.tuple(arbMutated(corpus), fc.boolean(), arbChunking);
  try {
    await fuzz("serve loop", arb, async ([m, write, sizes]) => {
      if (n++ % STORE_LIFE === 0) await fresh();
      const s = store!;
      const errors: unknown[] = [];
      const out = new BufferSink();
      const { exitCode } = await new ServeServer(s, {
        write: write || all[m.seedIndex]!.write,
        log: () => {},
        onError: (e) => errors.push(e),
      }).serve(streamOf(m.bytes, sizes), out);
      assert.ok(exitCode === 0 || exitCode === 1);
      if (m.edits === 0 && all[m.seedIndex]!.name.startsWith("nar-")) {
        assert.equal(exitCode, 0, `an unmutated NAR session failed: ${errors[0]}`);
      }
      for (const e of errors) {
        if (!(e instanceof BuildhostError)) {
          throw new Error(`an untyped exception ended the session: ${e}`, { cause: e });
        }
      }
      const valid = new Set(s.allValidPaths().map((p) => p.slice(s.storeDir.length + 1)));
      for (const e of Deno.readDirSync(s.layout.realStoreDir)) {
        assert.ok(valid.has(e.name), `the store holds "${e.name}", which is not a valid path`);
      }
      assert.deepStrictEqual([...Deno.readDirSync(escape)], [], "written through a symlink");
      assert.deepStrictEqual(
        [...Deno.readDirSync(work.path)].map((e) => e.name).sort(),
        ["escape", storeRoot.slice(work.path.length + 1)].sort(),
        "written outside the store",
      );
    }, 100);
    await fresh();
  } finally {
    store?.close();
  }
});
