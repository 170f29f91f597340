/**
 * The real inputs the fuzzers mutate: serve sessions recorded from Nix 2.8
 * (`testdata/serve`), the requests and
 * replies cut out of them, export streams and `.drv` files made by Nix
 * (`testdata/drv`). NARs made by a live `nix-store --dump` are in
 * `_dumped_nars.ts`, for the fuzzers that run Nix.
 *
 * @module
 */
import { join } from "node:path";
import { readNar } from "../../lib/nar/nar_reader.ts";
import { readExportMarker, readExportTrailer } from "../../lib/store/export_format.ts";
import {
  readClientMagic,
  readClientVersion,
  readServerHello,
} from "../../lib/serve_protocol/handshake.ts";
import { readPathInfos } from "../../lib/serve_protocol/path_infos.ts";
import { readBuildResult } from "../../lib/serve_protocol/build_result.ts";
import { readRequest, type ServeRequest, writeRequest } from "../../lib/serve_protocol/requests.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";

const TESTDATA = new URL("../../testdata/", import.meta.url).pathname;

/** A recorded session: what the client sent and what Nix answered. */
export interface Session {
  name: string;
  input: Uint8Array;
  output: Uint8Array;
  /** Whether the server ran with `--write`. */
  write: boolean;
}

/** Every recorded session. */
export function sessions(): Session[] {
  const out: Session[] = [];
  const dir = join(TESTDATA, "serve");
  for (const d of [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name)) {
    for (const f of Deno.readDirSync(join(dir, d))) {
      if (!f.name.endsWith(".in")) continue;
      const base = join(dir, d, f.name.slice(0, -3));
      out.push({
        name: `serve/${d}/${f.name}`,
        input: Deno.readFileSync(`${base}.in`),
        output: Deno.readFileSync(`${base}.out`),
        write: Deno.readTextFileSync(`${base}.argv`).split("\n")[0]!.includes("'--write'"),
      });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function wireOf(bytes: Uint8Array): WireReader {
  return new WireReader(ReadableStream.from([bytes]));
}

/** Encode with a writer. */
export async function encode(write: (w: WireWriter) => void): Promise<Uint8Array> {
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  write(w);
  await w.flush();
  return sink.bytes();
}

async function skipNar(r: WireReader): Promise<void> {
  for await (const _ of readNar(r)) { /* contents are skipped */ }
}

/** The export stream at the reader's position: its bytes, up to and with the final 0. */
async function exportStream(r: WireReader, bytes: Uint8Array): Promise<Uint8Array> {
  const start = r.offset;
  while (await readExportMarker(r)) {
    await skipNar(r);
    await readExportTrailer(r);
  }
  return bytes.slice(start, r.offset);
}

/** What the recorded client streams hold, cut apart. */
export interface Recorded {
  /** Every request (command number and fields), parsed. */
  requests: ServeRequest[];
  /** The export streams that followed ImportPaths and answered ExportPaths. */
  exports: Uint8Array[];
  /** The NARs sent with AddToStoreNar and answered to DumpStorePath. */
  nars: Uint8Array[];
  /** QueryPathInfos replies (at 2.7). */
  pathInfoReplies: Uint8Array[];
  /** Handshakes: the client's 16 bytes and the server's 16 bytes. */
  clientHellos: Uint8Array[];
  serverHellos: Uint8Array[];
}

/** Cut every recorded session into requests, replies, NARs and export streams. */
export async function recorded(): Promise<Recorded> {
  const out: Recorded = {
    requests: [],
    exports: [],
    nars: [],
    pathInfoReplies: [],
    clientHellos: [],
    serverHellos: [],
  };
  for (const s of sessions()) {
    const r = wireOf(s.input);
    await readClientMagic(r);
    const version = await readClientVersion(r);
    out.clientHellos.push(s.input.slice(0, 16));
    const sent: ServeRequest[] = [];
    while (true) {
      const req = await readRequest(r, version);
      if (req === undefined) break;
      sent.push(req);
      if (req.command === "AddToStoreNar") {
        const start = r.offset;
        for await (const _ of r.readChunks(req.header.narSize)) { /* the NAR */ }
        out.nars.push(s.input.slice(start, r.offset));
      } else if (req.command === "ImportPaths") {
        out.exports.push(await exportStream(r, s.input));
      }
    }
    out.requests.push(...sent);
    const o = wireOf(s.output);
    await readServerHello(o);
    out.serverHellos.push(s.output.slice(0, 16));
    for (const req of sent) {
      if (await o.atEnd()) break;
      const start = o.offset;
      switch (req.command) {
        case "QueryValidPaths":
        case "QueryClosure":
        case "ImportPaths":
        case "AddToStoreNar":
        case "BuildPaths":
          // Replies of these are not fuzzed here; skip them by their shape.
          if (req.command === "QueryValidPaths" || req.command === "QueryClosure") {
            const n = Number(await o.readU64());
            for (let i = 0; i < n; i++) await o.readBytes(4096);
          } else if (req.command === "BuildPaths") {
            if (await o.readU64() !== 0n) await o.readBytes(1 << 20);
          } else await o.readU64();
          break;
        case "QueryPathInfos":
          await readPathInfos(o, version);
          out.pathInfoReplies.push(s.output.slice(start, o.offset));
          break;
        case "DumpStorePath":
          await skipNar(o);
          out.nars.push(s.output.slice(start, o.offset));
          break;
        case "ExportPaths":
          out.exports.push(await exportStream(o, s.output));
          break;
        case "BuildDerivation":
          await readBuildResult(o, version);
          break;
      }
    }
  }
  return out;
}

/** The bytes of `requests` encoded at `version` (one input each). */
export async function requestBytes(
  requests: ServeRequest[],
  version: number,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const req of requests) {
    out.push(await encode((w) => writeRequest(w, req, version)));
  }
  return out;
}

/** The `.drv` files Nix 2.8 wrote (`testdata/drv`), by path. */
export function drvFiles(): { path: string; bytes: Uint8Array }[] {
  const dir = join(TESTDATA, "drv");
  return [...Deno.readDirSync(dir)]
    .filter((e) => e.name.endsWith(".drv"))
    .map((e) => ({ path: `/nix/store/${e.name}`, bytes: Deno.readFileSync(join(dir, e.name)) }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}
