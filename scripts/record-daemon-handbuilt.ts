/**
 * Hand-built daemon-protocol sessions at versions real Nix 2.8 clients do
 * not speak (1.21, Nix 2.3's) and with ops they did not send in the
 * recorded scenarios, answered by the real `nix-daemon --stdio` (Nix 2.8):
 * the client side is written here, the server's bytes are recorded.
 * Run by `scripts/record-daemon-sessions.sh` on its remote store.
 *
 *   deno run -A scripts/record-daemon-handbuilt.ts REMOTE_STORE SEED_STORE OUT_DIR
 *
 * REMOTE_STORE must hold the copy-to scenario's paths; SEED_STORE holds
 * `handAdded` of scenarios.nix, which the sessions add with AddToStoreNar.
 *
 * @module
 */
import { BufferSink, WireWriter } from "../lib/wire/wire_writer.ts";
import { writeRequest } from "../lib/worker_protocol/requests.ts";
import { WORKER_MAGIC_1 } from "../lib/worker_protocol/protocol.ts";
import { Hash } from "../lib/hash/hash.ts";

const [remote, seed, outDir] = Deno.args;
if (!remote || !seed || !outDir) throw new Error("usage: REMOTE_STORE SEED_STORE OUT_DIR");
const scenarios = new URL("../testdata/daemon/scenarios.nix", import.meta.url).pathname;

async function run(cmd: string, args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, { args, stderr: "inherit" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed`);
  return out.stdout;
}
const text = async (cmd: string, args: string[]) =>
  new TextDecoder().decode(await run(cmd, args)).trim();

const top = await text("nix", ["eval", "--raw", "--store", remote, "-f", scenarios, "top"]);
const dep = await text("nix", ["eval", "--raw", "--store", remote, "-f", scenarios, "dep"]);
const hand = await text("nix", ["eval", "--raw", "--store", seed, "-f", scenarios, "handAdded"]);
const bogus = "/nix/store/ffffffffffffffffffffffffffffffff-not-there";
const nar = await run("nix", ["store", "dump-path", "--store", seed, hand]);
const info = JSON.parse(await text("nix", ["path-info", "--json", "--store", seed, hand]))[0];

async function session(version: number): Promise<Uint8Array> {
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  w.writeU64(WORKER_MAGIC_1).writeU64(version).writeU64(0).writeU64(0);
  writeRequest(w, { op: "IsValidPath", path: top }, version);
  writeRequest(w, { op: "QueryValidPaths", paths: [dep, top, bogus], substitute: false }, version);
  writeRequest(w, { op: "QueryPathInfo", path: top }, version);
  writeRequest(w, { op: "QueryPathInfo", path: bogus }, version);
  writeRequest(w, { op: "NarFromPath", path: dep }, version);
  writeRequest(w, { op: "QueryMissing", paths: [{ path: top }, { path: bogus }] }, version);
  writeRequest(w, { op: "QueryDeriver", path: bogus }, version);
  writeRequest(w, { op: "AddTempRoot", path: top }, version);
  writeRequest(w, { op: "QuerySubstitutablePaths", paths: [top, bogus] }, version);
  writeRequest(w, {
    op: "AddToStoreNar",
    info: {
      path: hand,
      narHash: Hash.parse(info.narHash),
      references: info.references,
      registrationTime: 1700000000,
      narSize: info.narSize,
      ultimate: false,
      sigs: [],
      ca: info.ca,
    },
    repair: false,
    dontCheckSigs: false,
  }, version);
  // The NAR: framed from 1.23; before, the answer to the daemon's STDERR_READ.
  if ((version & 0xff) >= 23) await w.writeFramed([nar]);
  else w.writeBytes(nar);
  writeRequest(w, { op: "IsValidPath", path: hand }, version);
  await w.flush();
  return sink.bytes();
}

for (const [name, version] of [["v1.21", 0x115], ["v1.34", 0x122]] as const) {
  const dir = `${outDir}/${name}`;
  await Deno.mkdir(dir, { recursive: true });
  const input = await session(version);
  const child = new Deno.Command("nix-daemon", {
    args: ["--stdio", "--store", remote],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  // nix-daemon interrupts the operation in progress when its stdin closes:
  // keep it open until the answers stop coming.
  const chunks: Uint8Array[] = [];
  const reader = child.stdout.getReader();
  while (true) {
    const next = await Promise.race([
      reader.read(),
      new Promise<"idle">((r) => setTimeout(() => r("idle"), 2000)),
    ]);
    if (next === "idle") break;
    if (next.done) break;
    chunks.push(next.value);
  }
  await writer.close();
  while (true) {
    const next = await reader.read();
    if (next.done) break;
    chunks.push(next.value);
  }
  const status = await child.status;
  const err = new Uint8Array(await new Response(child.stderr).arrayBuffer());
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  await Deno.writeFile(`${dir}/1.in`, input);
  await Deno.writeFile(`${dir}/1.out`, out);
  await Deno.writeFile(`${dir}/1.err`, err);
  await Deno.writeTextFile(`${dir}/1.status`, `${status.code}\n`);
  await Deno.writeTextFile(
    `${dir}/1.argv`,
    `cmd: 'nix-daemon' '--stdio' '--store' '/tmp/record-daemon/remote'\nhand-built client at ${name}\n`,
  );
}
