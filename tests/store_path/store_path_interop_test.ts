import assert from "node:assert/strict";
import {
  checkStorePathName,
  MAX_NAME_LENGTH,
  StorePath,
  StorePathError,
} from "../../lib/store_path/store_path.ts";
import { nix, nixFails, tempDir } from "../_helpers/nix.ts";

import { H, rejects } from "./_rejects.ts";
/** A Nix string literal for `s` (JSON's escapes are a subset of Nix's, `$` aside). */
function nixString(s: string): string {
  return JSON.stringify(s).replaceAll("$", "\\$");
}

/** Does Nix 2.8 accept `name` as a store path name? Returns its path, or undefined. */
async function nixToFile(store: string, name: string): Promise<string | undefined> {
  try {
    return (await nix("nix", [
      "eval",
      "--store",
      store,
      "--raw",
      "--expr",
      `builtins.toFile ${nixString(name)} "x"`,
    ]))
      .text;
  } catch (e) {
    assert.match((e as Error).message, /contains illegal character|empty name|longer than 211/);
    return undefined;
  }
}

Deno.test("StorePath.parse() accepts the names Nix 2.8 accepts and rejects the others", async () => {
  using store = tempDir();
  const names: [string, RegExp | undefined][] = [
    [".", undefined],
    ["..", undefined],
    [".foo", undefined],
    ["?=+-._", undefined],
    ["hello-1.0_x+y=z?.tar.gz", undefined],
    ["x".repeat(MAX_NAME_LENGTH), undefined],
    ["x".repeat(MAX_NAME_LENGTH + 1), /the name has 212 characters, more than 211/],
    ["", /the name is empty/],
    ["a b", /invalid character " " at position 45/],
    ["a@b", /invalid character "@" at position 45/],
    ["é", /invalid character "é" at position 44/],
    ["x🙂", /invalid character "🙂" at position 45/],
    ["a\tb", /invalid character "\\t" at position 45/],
    ["a:b", /invalid character ":" at position 45/],
    ["~", /invalid character "~" at position 44/],
  ];
  for (const [name, why] of names) {
    const nixPath = await nixToFile(store.path, name);
    if (why === undefined) {
      assert.ok(nixPath, `Nix rejects ${JSON.stringify(name)}`);
      const p = StorePath.parse(nixPath);
      assert.equal(p.name, name);
      assert.equal(p.toString(), nixPath);
      checkStorePathName(name);
    } else {
      assert.equal(nixPath, undefined, `Nix accepts ${JSON.stringify(name)}`);
      rejects(() => StorePath.parse(`/nix/store/${H}-${name}`), why);
      assert.throws(() => checkStorePathName(name), StorePathError);
      assert.throws(() => new StorePath(H, name), StorePathError);
    }
  }
  // A "/" in a name is caught as a sub-path by parse(), as a bad character by the name check.
  assert.equal(await nixToFile(store.path, "a/b"), undefined);
  rejects(() => StorePath.parse(`/nix/store/${H}-a/b`), /"\/" at position 45/);
  rejects(() => checkStorePathName("a/b"), /invalid character "\/" at position 1/);
});

/** Nix's verdict on a store path string: parsed (then "not valid" in an empty store) or not. */
async function nixParses(store: string, path: string): Promise<boolean> {
  const err = await nixFails("nix-store", ["--store", store, "--check-validity", path]);
  return /is not valid/.test(err);
}

Deno.test("StorePath.parse() rejects bad hash parts as Nix 2.8 does, naming the position", async () => {
  using store = tempDir();
  const bad: [string, RegExp][] = [
    [`${H.slice(1)}-foo`, /the hash part has 31 characters, not 32/],
    [`e${H.slice(1)}-foo`, /invalid character "e" at position 11/],
    [`${H.slice(0, 5)}o${H.slice(6)}-foo`, /invalid character "o" at position 16/],
    [`${H.slice(0, 31)}u-foo`, /invalid character "u" at position 42/],
    [`${H.slice(0, 31)}t-foo`, /invalid character "t" at position 42/],
    [`${H.slice(0, 31)}A-foo`, /invalid character "A" at position 42/],
    [`${H.slice(0, 31)}_-foo`, /invalid character "_" at position 42/],
    [`${H}-`, /the name is empty/],
    [H, /the base name has 32 characters/],
    ["short", /the base name has 5 characters/],
  ];
  for (const [base, why] of bad) {
    const path = `/nix/store/${base}`;
    assert.equal(await nixParses(store.path, path), false, path);
    rejects(() => StorePath.parse(path), why);
    assert.throws(() => StorePath.fromBaseName(base), StorePathError, base);
  }
  assert.equal(await nixParses(store.path, `/nix/store/${H}-foo`), true);
});

Deno.test("StorePath.parse() is stricter than Nix 2.8 on paths Nix would canonicalise or misread", async () => {
  using store = tempDir();
  // Nix 2.8 canonicalises these first, or never checks the "-" after the hash part.
  const lax: [string, RegExp][] = [
    [`/nix/store/${H}e-foo`, /expected "-" after the 32-character hash part at position 43/],
    [`/nix/store/${H}xfoo`, /expected "-" after the 32-character hash part at position 43/],
    [`/nix/store/${H}-foo/`, /"\/" at position 47/],
    [`/nix/store/${H}-foo/bar`, /"\/" at position 47/],
    [`/nix/store//${H}-foo`, /"\/" at position 11/],
    [`/nix/store/../store/${H}-foo`, /"\/" at position 13/],
  ];
  for (const [path, why] of lax) {
    assert.equal(await nixParses(store.path, path), true, path);
    rejects(() => StorePath.parse(path), why);
  }
});
