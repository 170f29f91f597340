import assert from "node:assert/strict";
import { join } from "node:path";
import { narEntries } from "../../lib/nar/nar_reader.ts";
import {
  formatNarListing,
  narListing,
  narListingJson,
  narListingLine,
} from "../../lib/nar/nar_listing.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { pattern, type Tree, writeTree } from "./_trees.ts";

const f = (data: string | Uint8Array, executable = false): Tree => ({
  type: "file",
  data: typeof data === "string" ? new TextEncoder().encode(data) : data,
  executable,
});

/** Trees whose listings stress Nix's JSON: key order, escapes, odd names. */
const TREES: Record<string, Tree> = {
  mixed: {
    type: "dir",
    entries: {
      "x": f(new Uint8Array(13), true),
      "y": { type: "dir", entries: { "z": { type: "symlink", target: "../x" } } },
      "e": f(""),
      "empty-dir": { type: "dir", entries: {} },
      "big": f(pattern(70_000, 3)),
    },
  },
  names: {
    type: "dir",
    entries: Object.fromEntries(
      [
        "10",
        "9",
        "0",
        "__proto__",
        "constructor",
        'q"uote',
        "back\\slash",
        "nl\nx",
        "tab\tx",
        "cr\rx",
        "c\u0001x",
        "bs\bx",
        "ff\fx",
        "del\u007fx",
        "ü",
        "emoji🙂",
        "\uFF01",
        "\u{1D11E}",
        "\u2028sep",
        "-dash",
        " space",
      ].map((
        n,
        i,
      ) => [n, i % 3 === 0 ? f(n, i % 2 === 0) : { type: "symlink", target: `t\u0001"\\ü${n}` }]),
    ),
  },
  file: f("hello"),
  exe: f("#!/bin/sh\n", true),
  link: { type: "symlink", target: "../a b" },
  empty: { type: "dir", entries: {} },
};

Deno.test("narListing() gives the JSON and lines of nix nar ls -R, byte for byte", async () => {
  using tmp = tempDir();
  for (const [name, tree] of Object.entries(TREES)) {
    const src = join(tmp.path, name);
    // "__proto__" as an object key would set the prototype: write it by hand.
    writeTree(src, tree.type === "dir" ? { type: "dir", entries: {} } : tree);
    if (tree.type === "dir") {
      for (const k of Object.getOwnPropertyNames(tree.entries)) {
        writeTree(join(src, k), tree.entries[k]!);
      }
    }
    const narFile = join(tmp.path, `${name}.nar`);
    Deno.writeFileSync(narFile, (await nix("nix-store", ["--dump", src])).bytes);
    const wantJson = (await nix("nix", ["nar", "ls", "--json", "-R", narFile, "/"])).bytes;
    const wantLines = (await nix("nix", ["nar", "ls", "-R", "-l", narFile, "/"])).bytes;

    const listing = await narListing(narEntries(ReadableStream.from([Deno.readFileSync(narFile)])));
    const json = narListingJson(listing);
    assert.equal(json, new TextDecoder().decode(wantJson), name);
    assert.deepEqual(listing, JSON.parse(json), name);
    assert.equal(
      formatNarListing(listing).map((l) => l + "\n").join(""),
      new TextDecoder().decode(wantLines),
      name,
    );
    const streamed: string[] = [];
    for await (const e of narEntries(ReadableStream.from([Deno.readFileSync(narFile)]))) {
      const line = narListingLine(e);
      if (line !== undefined) streamed.push(line + "\n");
    }
    assert.equal(streamed.join(""), new TextDecoder().decode(wantLines), name);
  }
});
