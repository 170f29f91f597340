/**
 * Decode a recorded worker-protocol session (`testdata/daemon/<scenario>/N.in`
 * and `N.out`) with buildhost's codecs, keeping the exact bytes of each piece
 * so tests can re-encode every value and compare.
 *
 * @module
 */
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { readNar } from "../../lib/nar/nar_reader.ts";
import { readOp, readRequestBody, type WorkerRequest } from "../../lib/worker_protocol/requests.ts";
import { readStderr, type StderrMessage } from "../../lib/worker_protocol/stderr.ts";
import { FramedReader } from "../../lib/worker_protocol/framed.ts";
import { readAddToStoreNarHeader } from "../../lib/serve_protocol/add_to_store_nar.ts";
import type { AddToStoreNarHeader } from "../../lib/serve_protocol/add_to_store_nar.ts";
import {
  type MissingPaths,
  readMissingReply,
  readPathInfoReply,
  readPathSet,
  type WorkerPathInfo,
} from "../../lib/worker_protocol/replies.ts";
import {
  readKeyedBuildResults,
  readWorkerBuildResult,
} from "../../lib/worker_protocol/build_result.ts";
import type { BuildResult } from "../../lib/derivation/build_result.ts";
import type { DerivedPath } from "../../lib/worker_protocol/derived_path.ts";
import { workerMinor, WorkerOp } from "../../lib/worker_protocol/protocol.ts";

/** A decoded piece and its bytes. */
export interface Piece<T> {
  value: T;
  bytes: Uint8Array;
}

/** A reply of some op. */
export type Reply =
  | { kind: "paths"; paths: string[] }
  | { kind: "pathInfo"; info: WorkerPathInfo | undefined }
  | { kind: "missing"; missing: MissingPaths }
  | { kind: "buildResult"; result: BuildResult }
  | { kind: "keyedResults"; results: { path: DerivedPath; result: BuildResult }[] }
  | { kind: "nar"; size: number }
  | { kind: "u64"; value: bigint }
  | { kind: "none" };

/** One op of a session. */
export interface DecodedOp {
  request: Piece<WorkerRequest>;
  /** AddMultipleToStore: the infos inside its framed stream. */
  imported: AddToStoreNarHeader[];
  stderr: Piece<StderrMessage>[];
  reply?: Piece<Reply>;
}

/** A decoded session. */
export interface DecodedSession {
  clientVersion: number;
  serverVersion: number;
  nixVersion?: string;
  opening: Piece<StderrMessage>[];
  ops: DecodedOp[];
}

class Capture {
  #parts: Uint8Array[] = [];
  constructor(readonly r: WireReader) {}
  async take<T>(read: () => Promise<T>): Promise<Piece<T>> {
    this.#parts = [];
    this.r.tap = (b) => this.#parts.push(b.slice());
    try {
      const value = await read();
      const n = this.#parts.reduce((a, p) => a + p.length, 0);
      const bytes = new Uint8Array(n);
      let at = 0;
      for (const p of this.#parts) {
        bytes.set(p, at);
        at += p.length;
      }
      return { value, bytes };
    } finally {
      this.r.tap = undefined;
    }
  }
}

async function skipNar(r: WireReader): Promise<number> {
  const start = r.offset;
  for await (const _ of readNar(r)) { /* contents skipped */ }
  return r.offset - start;
}

/**
 * Decode `base.in` / `base.out`.
 *
 * @param base Path without the extension.
 * @returns The session.
 */
export async function decodeSession(base: string): Promise<DecodedSession> {
  return await decodeSessionBytes(
    await Deno.readFile(`${base}.in`),
    await Deno.readFile(`${base}.out`),
    base,
  );
}

/**
 * Decode a session from its two byte streams.
 *
 * @param inBytes What the client sent.
 * @param outBytes What the server sent.
 * @param name For errors.
 * @returns The session.
 */
export async function decodeSessionBytes(
  inBytes: Uint8Array,
  outBytes: Uint8Array,
  name = "session",
): Promise<DecodedSession> {
  const base = name;
  const input = new WireReader(ReadableStream.from([inBytes]));
  const output = new WireReader(ReadableStream.from([outBytes]));
  const cin = new Capture(input);
  const cout = new Capture(output);
  await input.readU64();
  await output.readU64();
  const serverVersion = Number(await output.readU64());
  const clientVersion = Number(await input.readU64());
  const version = Math.min(clientVersion, serverVersion);
  const minor = workerMinor(version);
  if (minor >= 14 && (await input.readU64()) !== 0n) await input.readU64();
  if (minor >= 11) await input.readU64();
  const session: DecodedSession = { clientVersion, serverVersion, opening: [], ops: [] };
  if (minor >= 33) session.nixVersion = await output.readString(1024);
  const readStderrs = async () => {
    const out: Piece<StderrMessage>[] = [];
    while (true) {
      const m = await cout.take(() => readStderr(output, version));
      out.push(m);
      // before 1.23 AddToStoreNar's NAR comes as answers to STDERR_READ
      if (m.value.type === "read") await input.readBytes(m.value.length);
      if (m.value.type === "last" || m.value.type === "error") return out;
    }
  };
  session.opening = await readStderrs();
  while (true) {
    const op = await readOp(input);
    if (op === undefined) break;
    const request = await cin.take(async () => {
      // the op number was read already: put it back in the captured bytes
      return await readRequestBody(input, op, version);
    });
    const opBytes = new Uint8Array(8);
    new DataView(opBytes.buffer).setBigUint64(0, BigInt(WorkerOp[request.value.op]), true);
    request.bytes = new Uint8Array([...opBytes, ...request.bytes]);
    const imported: AddToStoreNarHeader[] = [];
    if (request.value.op === "AddMultipleToStore") {
      const f = new FramedReader(input);
      const n = await f.inner.readU64();
      for (let i = 0n; i < n; i++) {
        imported.push(await readAddToStoreNarHeader(f.inner));
        await skipNar(f.inner);
      }
      await f.finish();
    } else if (request.value.op === "AddToStoreNar" && minor >= 23) {
      const f = new FramedReader(input);
      await skipNar(f.inner);
      await f.finish();
    }
    const stderr = await readStderrs();
    const decoded: DecodedOp = { request, imported, stderr };
    session.ops.push(decoded);
    if (stderr.at(-1)!.value.type === "error") continue;
    decoded.reply = await cout.take(() => readReply(output, request.value, version));
  }
  if (!(await output.atEnd())) throw new Error(`${base}.out has bytes after the last reply`);
  return session;
}

async function readReply(r: WireReader, req: WorkerRequest, version: number): Promise<Reply> {
  switch (req.op) {
    case "QueryValidPaths":
    case "QueryReferrers":
    case "QuerySubstitutablePaths":
    case "QueryAllValidPaths":
      return { kind: "paths", paths: await readPathSet(r, `${req.op} reply`) };
    case "QueryPathInfo":
      return { kind: "pathInfo", info: await readPathInfoReply(r, version) };
    case "QueryMissing":
      return { kind: "missing", missing: await readMissingReply(r) };
    case "BuildDerivation":
      return { kind: "buildResult", result: await readWorkerBuildResult(r, version) };
    case "BuildPathsWithResults":
      return { kind: "keyedResults", results: await readKeyedBuildResults(r, version) };
    case "NarFromPath":
      return { kind: "nar", size: await skipNar(r) };
    case "SetOptions":
    case "AddToStoreNar":
    case "AddMultipleToStore":
      return { kind: "none" };
    default:
      return { kind: "u64", value: await r.readU64() };
  }
}
