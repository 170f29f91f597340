/**
 * Fuzzing the export format (`lib/store/export_format.ts`, and importing
 * into a temporary store), ATerm `.drv` files (`lib/derivation/aterm_parser.ts`)
 * and machine specifications (`lib/remote/machine_spec.ts`).
 *
 * Properties: each parser either succeeds or throws its typed errors; what
 * parses writes back to canonical bytes that parse to the same value (and
 * Nix's own bytes write back unchanged); an import leaves no temporary and
 * a store that verifies; parsed machines have sane fields.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { BuildhostError } from "../../lib/errors.ts";
import { NarError } from "../../lib/nar/nar_error.ts";
import { readNar } from "../../lib/nar/nar_reader.ts";
import { WireError } from "../../lib/wire/wire_error.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import {
  ExportFormatError,
  type ExportTrailer,
  readExportMarker,
  readExportTrailer,
  writeExportTrailer,
} from "../../lib/store/export_format.ts";
import { Store } from "../../lib/store/store.ts";
import { parseDerivation } from "../../lib/derivation/aterm_parser.ts";
import { encodeDerivation } from "../../lib/derivation/aterm_writer.ts";
import { DerivationError } from "../../lib/derivation/derivation_error.ts";
import {
  type Derivation,
  derivationNameFromPath,
  fixedOutputPath,
} from "../../lib/derivation/derivation.ts";
import { MachineSpecError, parseMachines, serveCommandFor } from "../../lib/remote/machine_spec.ts";
import { tempDir } from "../_helpers/nix.ts";
import { arbDerivation } from "./_arbitraries.ts";
import { drvFiles, encode, recorded } from "./_corpus.ts";
import { arbChunking, arbMutated, streamOf } from "./_mutate.ts";
import { fuzz, LONG, onlyTyped } from "./_runner.ts";

const rec = await recorded();

/** Read a whole export stream; the trailers and the byte range of each. */
async function readExport(
  r: WireReader,
): Promise<{ t: ExportTrailer; from: number; to: number }[]> {
  const out = [];
  while (await readExportMarker(r)) {
    for await (const _ of readNar(r)) { /* contents are skipped */ }
    const from = r.offset;
    const t = await readExportTrailer(r);
    out.push({ t, from, to: r.offset });
  }
  return out;
}

Deno.test("fuzz: export streams (mutated Nix 2.8 export streams)", async () => {
  assert.ok(rec.exports.length >= 2);
  const arb = fc.tuple(arbMutated(rec.exports), arbChunking);
  await fuzz("export format", arb, async ([m, sizes]) => {
    const r = await onlyTyped(
      [ExportFormatError, NarError, WireError],
      () => readExport(new WireReader(streamOf(m.bytes, sizes))),
    );
    if (!r.ok) {
      assert.ok(m.edits > 0, `a real export stream failed: ${r.error.message}`);
      return;
    }
    for (const { t, from, to } of r.value) {
      assert.deepStrictEqual(
        await encode((w) => writeExportTrailer(w, t)),
        m.bytes.subarray(from, to),
      );
    }
  }, 300);
});

Deno.test("fuzz: importing export streams into a temporary store", async () => {
  using work = tempDir("buildhost-fuzz-import-");
  const store = await Store.open(join(work.path, "store"));
  try {
    const arb = fc.tuple(arbMutated(rec.exports), arbChunking);
    let n = 0;
    await fuzz("export import", arb, async ([m, sizes]) => {
      const r = await onlyTyped(
        [BuildhostError],
        () => store.importExport(new WireReader(streamOf(m.bytes, sizes))),
      );
      if (!r.ok) assert.ok(m.edits > 0, `a real export stream failed: ${r.error.message}`);
      const valid = new Set(
        store.allValidPaths().map((p) => p.slice(store.storeDir.length + 1)),
      );
      for (const e of Deno.readDirSync(store.layout.realStoreDir)) {
        assert.ok(valid.has(e.name), `the store holds "${e.name}", which is not a valid path`);
      }
      if (++n % (LONG ? 1000 : 50) === 0) {
        assert.deepStrictEqual(await store.verify({ checkContents: true }), []);
      }
    }, 100);
    assert.deepStrictEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

const drvCorpus = [
  ...drvFiles().map((d) => ({ name: derivationNameFromPath(d.path), bytes: d.bytes })),
  ...fc.sample(arbDerivation, { numRuns: 8, seed: 11 }).map((d) => ({
    name: d.name,
    bytes: encodeDerivation(d),
  })),
];

/** The derivation with its fixed outputs' paths as the printer computes them. */
function withComputedPaths(d: Derivation): Derivation {
  const outputs = new Map(
    [...d.outputs].map((
      [n, o],
    ) => [n, o.kind === "fixed" ? { ...o, path: fixedOutputPath(d.name, n, o) } : o]),
  );
  return { ...d, outputs };
}

Deno.test("fuzz: ATerm .drv files (mutated Nix 2.8 .drv files)", async () => {
  const arb = fc.tuple(arbMutated(drvCorpus.map((d) => d.bytes), { aligned: false }), fc.boolean());
  await fuzz("aterm parser", arb, async ([m, named]) => {
    const options = named ? { name: drvCorpus[m.seedIndex]!.name } : {};
    const r = await onlyTyped([DerivationError], () => parseDerivation(m.bytes, options));
    if (!r.ok) {
      assert.ok(m.edits > 0 || !named, `a real .drv failed: ${r.error.message}`);
      return;
    }
    const canonical = encodeDerivation(r.value);
    const again = parseDerivation(canonical, { name: r.value.name });
    assert.deepStrictEqual(again, withComputedPaths(r.value));
    assert.deepStrictEqual(encodeDerivation(again), canonical);
    if (m.edits === 0) assert.deepStrictEqual(canonical, m.bytes);
  }, 400);
});

Deno.test("fuzz: ATerm round trip of generated derivations", async () => {
  await fuzz("aterm round trip", arbDerivation, (drv) => {
    const bytes = encodeDerivation(drv);
    assert.deepStrictEqual(parseDerivation(bytes, { name: drv.name }), drv);
  }, 150);
});

const MACHINE_WORDS = [
  "ssh://",
  "ssh-ng://",
  "b1",
  "bob@b1",
  "@",
  "?",
  "&",
  "=",
  "remote-program=buildhost",
  "ssh-key=/k",
  "%",
  "%zz",
  "x86_64-linux",
  ",",
  "-",
  "0",
  "1",
  "4",
  "1.5",
  "-1",
  "1e400",
  "NaN",
  "Infinity",
  "0x10",
  "kvm",
  "big-parallel",
  " ",
  "\t",
  "\n",
  ";",
  "#",
  "ü",
  "/",
  "__proto__",
];

const machineCorpus = [
  "ssh://bob@b1?remote-program=buildhost x86_64-linux,i686-linux - 4 2 kvm",
  "ssh://b1 x86_64-linux /k 2 1 kvm,big-parallel kvm; ssh://b2 - - 1",
  "b3\n# a comment\nssh://b4?ssh-key=/id x86_64-linux",
].map((s) => new TextEncoder().encode(s));

Deno.test("fuzz: machine specifications (generated and mutated)", async () => {
  const arb = fc.oneof(
    fc.array(fc.constantFrom(...MACHINE_WORDS), { maxLength: 24 }).map((a) => a.join("")),
    arbMutated(machineCorpus, { aligned: false }).map((m) => new TextDecoder().decode(m.bytes)),
    fc.array(fc.integer({ min: 0, max: 0x2ff }), { maxLength: 60 }).map((a) =>
      String.fromCodePoint(...a)
    ),
  );
  await fuzz("machine spec", arb, async (text) => {
    const r = await onlyTyped([MachineSpecError], () => parseMachines(text));
    if (!r.ok) return;
    for (const m of r.value) {
      assert.ok(m.host !== "" && !/\s/.test(m.host), `host ${JSON.stringify(m.host)}`);
      assert.ok(Number.isSafeInteger(m.maxJobs) && m.maxJobs >= 0, `maxJobs ${m.maxJobs}`);
      assert.ok(Number.isFinite(m.speedFactor) && m.speedFactor >= 0, `speed ${m.speedFactor}`);
      assert.ok(m.systems.length > 0 || text.includes(","), "no systems");
      const cmd = serveCommandFor(m, "");
      assert.equal(cmd[0], "ssh");
      assert.equal(cmd[1], m.host);
    }
  }, 400);
});
