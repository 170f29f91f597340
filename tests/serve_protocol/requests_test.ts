import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { Hash } from "../../lib/hash/hash.ts";
import type { BasicDerivation } from "../../lib/derivation/derivation.ts";
import {
  readCommand,
  readRequest,
  readRequestBody,
  type ServeRequest,
  writeRequest,
} from "../../lib/serve_protocol/requests.ts";
import {
  ServeProtocolError,
  UnknownCommandError,
} from "../../lib/serve_protocol/serve_protocol_error.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import {
  arbPath,
  arbPathSet,
  arbSafe,
  arbSha256,
  arbTextSet,
  arbU32,
  concat,
  decode,
  encode,
  MINORS,
  reader,
  rejectsTyped,
  sp,
  throwsTyped,
  v,
  wire,
} from "./_codec.ts";

const DRV: BasicDerivation = {
  name: "hello",
  outputs: new Map([["out", { kind: "inputAddressed", path: sp("hello") }]]),
  inputSrcs: [sp("src")],
  platform: "x86_64-linux",
  builder: "/bin/sh",
  args: ["-c", "echo > $out"],
  env: new Map([["out", sp("hello")]]),
};
const OPTIONS = {
  maxSilentTime: 1,
  buildTimeout: 2,
  maxLogSize: 3,
  nrRepeats: 0,
  enforceDeterminism: true,
  keepFailed: false,
};

/** Hand-built bodies of each command (after the command number) at minor `m`. */
function goldens(m: number): [ServeRequest, Uint8Array][] {
  const opts = [1, 2];
  if (m >= 2) opts.push(3);
  if (m >= 3) opts.push(0, 1);
  if (m >= 7) opts.push(0);
  const hash = Hash.of("sha256", "nar");
  return [
    [
      { command: "QueryValidPaths", lock: true, substitute: false, paths: [sp("a"), sp("b")] },
      wire(1, 1, 0, 2, sp("a"), sp("b")),
    ],
    [{ command: "QueryPathInfos", paths: [sp("a")] }, wire(2, 1, sp("a"))],
    [{ command: "DumpStorePath", path: sp("a") }, wire(3, sp("a"))],
    [{ command: "ImportPaths" }, wire(4)],
    [{ command: "ExportPaths", sign: false, paths: [] }, wire(5, 0, 0)],
    [
      {
        command: "BuildPaths",
        paths: [`${sp("x.drv")}!out`, `${sp("y.drv")}!dev,out`],
        options: OPTIONS,
      },
      wire(6, 2, `${sp("x.drv")}!out`, `${sp("y.drv")}!dev,out`, ...opts),
    ],
    [{ command: "QueryClosure", includeOutputs: true, paths: [sp("a")] }, wire(7, 1, 1, sp("a"))],
    [
      { command: "BuildDerivation", drvPath: sp("hello.drv"), drv: DRV, options: OPTIONS },
      wire(
        8,
        sp("hello.drv"),
        1,
        "out",
        sp("hello"),
        "",
        "",
        1,
        sp("src"),
        "x86_64-linux",
        "/bin/sh",
        2,
        "-c",
        "echo > $out",
        1,
        "out",
        sp("hello"),
        ...opts,
      ),
    ],
    [
      {
        command: "AddToStoreNar",
        header: {
          path: sp("a"),
          narHash: hash,
          references: [],
          registrationTime: 7,
          narSize: 8,
          ultimate: true,
          sigs: [],
        },
      },
      wire(9, sp("a"), "", hash.toString("base16"), 0, 7, 8, 1, 0, ""),
    ],
  ];
}

/** What reading `req` back at minor `m` gives (build options without the later fields). */
function project(req: ServeRequest, m: number): ServeRequest {
  if (req.command !== "BuildPaths" && req.command !== "BuildDerivation") return req;
  const o = req.options;
  const p: typeof o = { maxSilentTime: o.maxSilentTime, buildTimeout: o.buildTimeout };
  if (m >= 2) p.maxLogSize = o.maxLogSize ?? 0;
  if (m >= 3) {
    Object.assign(p, {
      nrRepeats: o.nrRepeats ?? 0,
      enforceDeterminism: o.enforceDeterminism ?? true,
    });
  }
  if (m >= 7) p.keepFailed = o.keepFailed ?? false;
  return { ...req, options: p };
}

Deno.test("writeRequest() and readRequest() match hand-built bytes for every command at every minor", async () => {
  for (const m of MINORS) {
    for (const [req, bytes] of goldens(m)) {
      assert.deepEqual(
        await encode((w) => writeRequest(w, req, v(m))),
        bytes,
        `${req.command} 2.${m}`,
      );
      assert.deepStrictEqual(await decode(bytes, (r) => readRequest(r, v(m))), project(req, m));
    }
  }
});

Deno.test("readRequest() gives a typed error for every truncation of the hand-built requests", async () => {
  for (const m of [2, 7]) {
    for (const [, bytes] of goldens(m)) {
      assert.equal(await readRequest(reader(new Uint8Array(0)), v(m)), undefined);
      for (let n = 1; n < bytes.length; n++) {
        await rejectsTyped(readRequest(reader(bytes.subarray(0, n)), v(m)), /ended/);
      }
    }
  }
});

Deno.test("readRequest() ends quietly between requests and reads several in a row", async () => {
  const bytes = concat(...goldens(7).map(([, b]) => b));
  const r = reader(bytes, [5, 7]);
  const got: string[] = [];
  for (let req = await readRequest(r, v(7)); req; req = await readRequest(r, v(7))) {
    got.push(req.command);
  }
  assert.equal(got.length, 9);
  assert.equal(await readCommand(r), undefined);
});

Deno.test("readCommand() rejects unknown commands with the number and offset", async () => {
  for (const code of [0n, 10n, 42n, 1n << 32n, (1n << 64n) - 1n]) {
    const e = await rejectsTyped(
      readCommand(reader(wire(code))),
      new RegExp(`unknown serve command ${code}`),
      0,
    );
    assert.ok(e instanceof UnknownCommandError);
    assert.equal(e.code, code);
  }
});

Deno.test("readRequest() rejects absurd lengths before reading them", async () => {
  await rejectsTyped(
    readRequest(reader(wire(1, 0, 0, 1n << 62n)), v(7)),
    /field "paths count": 4611686018427387904 is above the limit/,
    24,
  );
  await rejectsTyped(
    readRequest(reader(wire(1, 0, 0, 1000, sp("a"))), v(7)),
    /field "paths\[1\]".*ended/,
  );
  await rejectsTyped(
    readRequest(reader(wire(3, 1n << 40n)), v(7)),
    /DumpStorePath request at byte 8, field "path": its length 1099511627776 is above the limit 4096/,
  );
  await rejectsTyped(readRequest(reader(wire(3, 4000)), v(7)), /field "path".*ended/);
  const env = wire(8, sp("x.drv"), 0, 0, "p", "b", 0, 1, "k", 1n << 30n);
  await rejectsTyped(
    readRequest(reader(env), v(7)),
    /BuildDerivation request.*field "drv.env\[0\].value": its length 1073741824 is above the limit 67108864/,
  );
  await rejectsTyped(
    readRequest(reader(wire(6, 1n << 50n)), v(7)),
    /BuildPaths request.*paths count/,
  );
});

Deno.test("readRequest() rejects bools other than 0/1 and bad paths, naming command and field", async () => {
  await rejectsTyped(
    readRequest(reader(wire(1, 2, 0, 0)), v(7)),
    /QueryValidPaths request at byte 8, field "lock": 2 is not a bool/,
  );
  await rejectsTyped(readRequest(reader(wire(1, 0, 5, 0)), v(7)), /field "substitute"/, 16);
  await rejectsTyped(
    readRequest(reader(wire(7, 3, 0)), v(7)),
    /QueryClosure request.*"includeOutputs"/,
  );
  await rejectsTyped(readRequest(reader(wire(5, 2, 0)), v(7)), /ExportPaths request.*"sign"/);
  await rejectsTyped(
    readRequest(reader(wire(2, 1, "/nix/store/x")), v(7)),
    /QueryPathInfos request at byte 16, field "paths\[0\]": "\/nix\/store\/x" is not a store path/,
  );
  await rejectsTyped(
    readRequest(reader(wire(6, 1, "x!out", 0, 0)), v(0)),
    /BuildPaths request.*"paths\[0\]"/,
  );
  await rejectsTyped(readRequest(reader(wire(8, sp("x"), 0)), v(7)), /field "drvPath".*\.drv/);
  await rejectsTyped(
    readRequest(reader(wire(8, sp("x.drv"), 0, 0, "p", "b", 0, 0, 0, 0, 0, 0, 2)), v(7)),
    /enforceDeterminism/,
  );
});

Deno.test("writeRequest() refuses requests without a wire form", () => {
  const w = () => new WireWriter(new BufferSink());
  throwsTyped(
    () => writeRequest(w(), { command: "DumpStorePath", path: "/tmp" }, v(7)),
    /DumpStorePath request.*"path"/,
  );
  throwsTyped(
    () => writeRequest(w(), { command: "BuildPaths", paths: ["x!out"], options: OPTIONS }, v(7)),
    /paths\[0\]/,
  );
  throwsTyped(
    () =>
      writeRequest(w(), {
        command: "QueryValidPaths",
        lock: 1 as unknown as boolean,
        substitute: false,
        paths: [],
      }, v(7)),
    /"lock": 1 is not a bool/,
  );
});

const arbOptions = fc.record({
  maxSilentTime: arbU32,
  buildTimeout: arbU32,
  maxLogSize: arbSafe,
  nrRepeats: arbU32,
  enforceDeterminism: fc.boolean(),
  keepFailed: fc.boolean(),
}, { noNullPrototype: true });

const arbRequest: fc.Arbitrary<ServeRequest> = fc.oneof(
  fc.record({
    command: fc.constant("QueryValidPaths" as const),
    lock: fc.boolean(),
    substitute: fc.boolean(),
    paths: arbPathSet,
  }, { noNullPrototype: true }),
  fc.record({ command: fc.constant("QueryPathInfos" as const), paths: arbPathSet }, {
    noNullPrototype: true,
  }),
  fc.record({ command: fc.constant("DumpStorePath" as const), path: arbPath }, {
    noNullPrototype: true,
  }),
  fc.constant({ command: "ImportPaths" as const }),
  fc.record(
    { command: fc.constant("ExportPaths" as const), sign: fc.boolean(), paths: arbPathSet },
    { noNullPrototype: true },
  ),
  fc.record({
    command: fc.constant("BuildPaths" as const),
    paths: fc.array(
      fc.tuple(arbPath, fc.constantFrom("", "!out", "!dev,out", "!*")).map(([p, s]) => p + s),
      { maxLength: 3 },
    ),
    options: arbOptions,
  }, { noNullPrototype: true }),
  fc.record({
    command: fc.constant("QueryClosure" as const),
    includeOutputs: fc.boolean(),
    paths: arbPathSet,
  }, { noNullPrototype: true }),
  fc.record({
    command: fc.constant("BuildDerivation" as const),
    drvPath: fc.constant(sp("hello.drv")),
    drv: fc.constant(DRV),
    options: arbOptions,
  }, { noNullPrototype: true }),
  fc.record({
    command: fc.constant("AddToStoreNar" as const),
    header: fc.record({
      path: arbPath,
      narHash: arbSha256,
      references: arbPathSet,
      registrationTime: arbSafe,
      narSize: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      ultimate: fc.boolean(),
      sigs: arbTextSet,
    }, { noNullPrototype: true }),
  }, { noNullPrototype: true }),
);

Deno.test("readRequest(writeRequest(x)) is x for every command at every minor (property)", async () => {
  await fc.assert(
    fc.asyncProperty(arbRequest, fc.constantFrom(...MINORS), async (req, m) => {
      const bytes = await encode((w) => writeRequest(w, req, v(m)));
      assert.deepStrictEqual(await decode(bytes, (r) => readRequest(r, v(m))), project(req, m));
    }),
    { numRuns: 200 },
  );
});

/** The request bytes (without handshake and NARs) of recorded sessions, for mutation. */
async function recordedRequests(): Promise<Uint8Array[]> {
  const dir = new URL("../../testdata/serve/", import.meta.url).pathname;
  const out: Uint8Array[] = [];
  for (const s of ["c1/1", "c3/1", "b/2", "x-synthetic/1"]) {
    const input = Deno.readFileSync(join(dir, `${s}.in`));
    const r = reader(input.subarray(16));
    while (true) {
      const start = r.offset;
      const req = await readRequest(r, v(7));
      if (req === undefined || req.command === "ImportPaths") break;
      out.push(input.slice(16 + start, 16 + r.offset));
      if (req.command === "AddToStoreNar") {
        for await (const _ of r.readChunks(req.header.narSize)) { /* the NAR */ }
      }
    }
  }
  return out;
}

Deno.test("readRequest() on mutated recorded requests parses or throws a ServeProtocolError (fuzz)", async () => {
  const requests = await recordedRequests();
  assert.ok(requests.length >= 8);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...requests),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.constantFrom(...MINORS),
      async (bytes, edits, m) => {
        const mutated = bytes.slice();
        for (const [at, b] of edits) mutated[at % mutated.length] = b;
        try {
          await readRequest(reader(mutated), v(m));
        } catch (e) {
          assert.ok(e instanceof ServeProtocolError, `not a ServeProtocolError: ${e}`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("readRequestBody() on random bytes parses or throws a ServeProtocolError (fuzz)", async () => {
  const commands = goldens(7).map(([req]) => req.command);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...commands),
      fc.uint8Array({ maxLength: 200 }),
      async (command, bytes) => {
        try {
          await readRequestBody(reader(bytes), command, v(7));
        } catch (e) {
          assert.ok(e instanceof ServeProtocolError, `not a ServeProtocolError: ${e}`);
        }
      },
    ),
    { numRuns: 200 },
  );
});
