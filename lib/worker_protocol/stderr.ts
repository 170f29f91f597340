/**
 * The stderr channel: what the server sends during an operation, before its
 * reply. Each message is a u64 tag and its fields:
 *
 * | tag | fields |
 * |---|---|
 * | NEXT | text (a log message, with its newline) |
 * | WRITE | data (for a sink the client passed) |
 * | READ | u64 length wanted (from a source the client passed) |
 * | LAST | none: the reply follows |
 * | ERROR | >= 1.26: "Error", level, "Error", message, u64 0 (no position), traces (each u64 0 and text); before: the message as Nix prints it and u64 exit status. No reply follows |
 * | START_ACTIVITY | id, level, type, text, fields, parent id |
 * | STOP_ACTIVITY | id |
 * | RESULT | id, type, fields |
 *
 * Fields are a u64 count, then each a u64 type (0 int, 1 string) and its value.
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { WireError } from "../wire/wire_error.ts";
import { Stderr, WORKER_LIMITS, workerMinor, type WorkerVersion } from "./protocol.ts";
import { WorkerProtocolError } from "./worker_protocol_error.ts";

/** A field of an activity or result: an integer or a string. */
export type LogField = bigint | string;

/** An error as it travels on the stderr channel. */
export interface NixErrorInfo {
  /** The message (Nix's wording, ANSI escapes included). */
  message: string;
  /** Verbosity level (0 = error). */
  level?: number;
  /** Exit status (sent before 1.26). */
  status?: number;
  /** Trace lines. */
  traces?: string[];
}

/** One stderr channel message. */
export type StderrMessage =
  | { type: "next"; text: string }
  | { type: "write"; data: Uint8Array }
  | { type: "read"; length: number }
  | { type: "last" }
  | { type: "error"; error: NixErrorInfo }
  | {
    type: "startActivity";
    id: bigint;
    level: number;
    activityType: number;
    text: string;
    fields: LogField[];
    parent: bigint;
  }
  | { type: "stopActivity"; id: bigint }
  | { type: "result"; id: bigint; resultType: number; fields: LogField[] };

const ANSI_RED = "\x1b[31;1m";
const ANSI_NORMAL = "\x1b[0m";

/**
 * An error's text as Nix prints it (`error: ...` in red): what clients
 * before 1.26 receive.
 *
 * @param message The message.
 * @returns The text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorText } from "./stderr.ts";
 * assert.equal(errorText("boom"), "\x1b[31;1merror:\x1b[0m boom");
 * ```
 */
export function errorText(message: string): string {
  return `${ANSI_RED}error:${ANSI_NORMAL} ${message}`;
}

function writeFields(w: WireWriter, fields: readonly LogField[]): void {
  w.writeU64(fields.length);
  for (const f of fields) {
    if (typeof f === "string") w.writeU64(1).writeString(f);
    else w.writeU64(0).writeU64(f);
  }
}

/**
 * Write one stderr message in the format of the version in use.
 *
 * @param w Where to write.
 * @param m The message.
 * @param version The negotiated version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeStderr } from "./stderr.ts";
 * const out = new BufferSink();
 * const w = new WireWriter(out);
 * writeStderr(w, { type: "last" }, 0x122);
 * await w.flush();
 * assert.deepEqual(out.bytes(), new Uint8Array([0x73, 0x74, 0x6c, 0x61, 0, 0, 0, 0]));
 * ```
 */
export function writeStderr(w: WireWriter, m: StderrMessage, version: WorkerVersion): void {
  switch (m.type) {
    case "next":
      w.writeU64(Stderr.NEXT).writeString(m.text);
      return;
    case "write":
      w.writeU64(Stderr.WRITE).writeBytes(m.data);
      return;
    case "read":
      w.writeU64(Stderr.READ).writeU64(m.length);
      return;
    case "last":
      w.writeU64(Stderr.LAST);
      return;
    case "error": {
      const e = m.error;
      w.writeU64(Stderr.ERROR);
      if (workerMinor(version) >= 26) {
        w.writeString("Error").writeU64(e.level ?? 0).writeString("Error").writeString(e.message);
        w.writeU64(0);
        const traces = e.traces ?? [];
        w.writeU64(traces.length);
        for (const t of traces) w.writeU64(0).writeString(t);
      } else {
        w.writeString(errorText(e.message)).writeU64(e.status ?? 1);
      }
      return;
    }
    case "startActivity":
      w.writeU64(Stderr.START_ACTIVITY).writeU64(m.id).writeU64(m.level).writeU64(m.activityType);
      w.writeString(m.text);
      writeFields(w, m.fields);
      w.writeU64(m.parent);
      return;
    case "stopActivity":
      w.writeU64(Stderr.STOP_ACTIVITY).writeU64(m.id);
      return;
    case "result":
      w.writeU64(Stderr.RESULT).writeU64(m.id).writeU64(m.resultType);
      writeFields(w, m.fields);
      return;
  }
}

async function wire<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if (e instanceof WireError) throw new WorkerProtocolError(e.offset, e.message, { cause: e });
    throw e;
  }
}

async function readFields(r: WireReader): Promise<LogField[]> {
  const n = await wire(() => r.readNumber("fields count", WORKER_LIMITS.itemCount));
  const out: LogField[] = [];
  for (let i = 0; i < n; i++) {
    const at = r.offset;
    const t = await wire(() => r.readU64());
    if (t === 0n) out.push(await wire(() => r.readU64()));
    else if (t === 1n) {
      out.push(await wire(() => r.readString(WORKER_LIMITS.textLength, `fields[${i}]`)));
    } else throw new WorkerProtocolError(at, `field type ${t} is neither 0 (int) nor 1 (string)`);
  }
  return out;
}

const text = (r: WireReader, field: string) =>
  wire(() => r.readString(WORKER_LIMITS.textLength, field));

/**
 * Read one stderr message (the client side).
 *
 * @param r The server's stream.
 * @param version The negotiated version.
 * @returns The message.
 * @throws {WorkerProtocolError} On an unknown tag or a malformed message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { encodeString, encodeU64 } from "../wire/wire_writer.ts";
 * import { readStderr } from "./stderr.ts";
 * const r = new WireReader(ReadableStream.from([encodeU64(0x6f6c6d67), encodeString("hi\n")]));
 * assert.deepEqual(await readStderr(r, 0x122), { type: "next", text: "hi\n" });
 * ```
 */
export async function readStderr(r: WireReader, version: WorkerVersion): Promise<StderrMessage> {
  const at = r.offset;
  const tag = await wire(() => r.readU64());
  switch (Number(tag)) {
    case Stderr.NEXT:
      return { type: "next", text: await text(r, "text") };
    case Stderr.WRITE:
      return {
        type: "write",
        data: await wire(() => r.readBytes(WORKER_LIMITS.frameLength, "data")),
      };
    case Stderr.READ:
      return {
        type: "read",
        length: await wire(() => r.readNumber("length", WORKER_LIMITS.frameLength)),
      };
    case Stderr.LAST:
      return { type: "last" };
    case Stderr.ERROR: {
      if (workerMinor(version) < 26) {
        const full = await text(r, "error message");
        const status = await wire(() => r.readNumber("status", 0xffffffff));
        // the text is Nix's printed form: keep the message, as from 1.26
        const prefix = errorText("");
        const message = full.startsWith(prefix) ? full.slice(prefix.length) : full;
        return { type: "error", error: { message, status } };
      }
      const typeAt = r.offset;
      if ((await text(r, "error type")) !== "Error") {
        throw new WorkerProtocolError(typeAt, `error record type is not "Error"`);
      }
      const level = await wire(() => r.readNumber("level", 0xffffffff));
      await text(r, "error name");
      const message = await text(r, "error message");
      const posAt = r.offset;
      if ((await wire(() => r.readU64())) !== 0n) {
        throw new WorkerProtocolError(posAt, "error positions are not supported");
      }
      const n = await wire(() => r.readNumber("traces count", WORKER_LIMITS.itemCount));
      const traces: string[] = [];
      for (let i = 0; i < n; i++) {
        const tAt = r.offset;
        if ((await wire(() => r.readU64())) !== 0n) {
          throw new WorkerProtocolError(tAt, "trace positions are not supported");
        }
        traces.push(await text(r, `traces[${i}]`));
      }
      return { type: "error", error: { message, level, traces } };
    }
    case Stderr.START_ACTIVITY: {
      const id = await wire(() => r.readU64());
      const level = await wire(() => r.readNumber("level", 0xffffffff));
      const activityType = await wire(() => r.readNumber("activity type", 0xffffffff));
      const t = await text(r, "activity text");
      const fields = await readFields(r);
      const parent = await wire(() => r.readU64());
      return { type: "startActivity", id, level, activityType, text: t, fields, parent };
    }
    case Stderr.STOP_ACTIVITY:
      return { type: "stopActivity", id: await wire(() => r.readU64()) };
    case Stderr.RESULT: {
      const id = await wire(() => r.readU64());
      const resultType = await wire(() => r.readNumber("result type", 0xffffffff));
      return { type: "result", id, resultType, fields: await readFields(r) };
    }
    default:
      throw new WorkerProtocolError(at, `unknown stderr message 0x${tag.toString(16)}`);
  }
}
