import assert from "node:assert/strict";
import fc from "fast-check";
import { NIX32_ALPHABET } from "../../lib/hash/nix_base32.ts";
import {
  checkStoreDir,
  DEFAULT_STORE_DIR,
  StorePath,
  StorePathError,
} from "../../lib/store_path/store_path.ts";

import { H, rejects } from "./_rejects.ts";
Deno.test("StorePath.parse() checks the store directory", () => {
  rejects(() => StorePath.parse(`/nix/stor/${H}-foo`), /not in the store directory "\/nix\/store"/);
  rejects(() => StorePath.parse(`nix/store/${H}-foo`), /not in the store directory/);
  rejects(() => StorePath.parse(`/nix/store`), /not in the store directory/);
  rejects(() => StorePath.parse(`/nix/store/`), /the base name has 0 characters/);
  rejects(() => StorePath.parse(`/gnu/store/${H}-foo`), /not in the store directory/);
  const p = StorePath.parse(`/gnu/store/${H}-foo`, "/gnu/store");
  assert.equal(p.toString("/gnu/store"), `/gnu/store/${H}-foo`);
  assert.equal(p.toString(), `${DEFAULT_STORE_DIR}/${H}-foo`);
  rejects(
    () => StorePath.parse(`/nix/store/${H}-foo`, "/gnu/store"),
    /not in the store directory "\/gnu\/store"/,
  );
});

Deno.test("StorePath exposes its parts", () => {
  const p = StorePath.fromBaseName(`${H}-hello-1.0.drv`);
  assert.equal(p.hashPart, H);
  assert.equal(p.name, "hello-1.0.drv");
  assert.equal(p.baseName, `${H}-hello-1.0.drv`);
  assert.ok(p.isDerivation);
  assert.ok(!new StorePath(H, "hello").isDerivation);
  assert.ok(!new StorePath(H, "drv").isDerivation);
  rejects(() => new StorePath(H.slice(1), "x"), /the hash part has 31 characters, not 32/);
  rejects(() => new StorePath(`${H}0`, "x"), /the hash part has 33 characters, not 32/);
});

Deno.test("checkStoreDir() accepts absolute canonical directories only", () => {
  for (const ok of ["/nix/store", "/a", "/gnu/store"]) assert.equal(checkStoreDir(ok), ok);
  for (
    const bad of [
      "",
      "/",
      "nix/store",
      "/nix/store/",
      "/nix//store",
      "/nix/./store",
      "/nix/../store",
    ]
  ) {
    assert.throws(() => checkStoreDir(bad), StorePathError, bad);
  }
});

const nameArb = fc.stringMatching(/^[A-Za-z0-9+\-._?=]{1,211}$/);
const hashArb = fc.array(fc.constantFrom(...NIX32_ALPHABET), { minLength: 32, maxLength: 32 }).map((
  a,
) => a.join(""));

Deno.test("StorePath.parse() round-trips toString() for random valid paths", () => {
  fc.assert(
    fc.property(
      hashArb,
      nameArb,
      fc.constantFrom("/nix/store", "/s", "/var/lib/x-y/store"),
      (hash, name, dir) => {
        const p = new StorePath(hash, name);
        const q = StorePath.parse(p.toString(dir), dir);
        assert.equal(q.hashPart, hash);
        assert.equal(q.name, name);
        assert.equal(q.toString(dir), p.toString(dir));
        assert.equal(StorePath.fromBaseName(p.baseName).baseName, p.baseName);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("StorePath.parse() throws only StorePathError on random text", () => {
  const text = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.tuple(hashArb, fc.string({ maxLength: 20 })).map(([h, s]) => `/nix/store/${h}${s}`),
    fc.string({ maxLength: 50 }).map((s) => `/nix/store/${s}`),
  );
  fc.assert(
    fc.property(text, (t) => {
      try {
        StorePath.parse(t);
      } catch (e) {
        if (!(e instanceof StorePathError)) throw e;
      }
    }),
    { numRuns: 300 },
  );
});

Deno.test("StorePath.parse() accepts exactly the paths whose every character is allowed, as checked one by one", () => {
  // The reference: Nix 2.8's rules, character by character.
  const NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-._?=";
  const valid = (base: string) => {
    const name = base.slice(33);
    return base.length > 33 && base[32] === "-" &&
      [...base.slice(0, 32)].every((c) => NIX32_ALPHABET.includes(c)) && name.length <= 211 &&
      [...name].every((c) => NAME_CHARS.includes(c));
  };
  // Mostly near-valid: allowed characters with a few others mixed in (e, o,
  // u, t in the hash part; spaces, slashes, non-ASCII, newlines in the name).
  const char = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...NIX32_ALPHABET, ...NAME_CHARS) },
    { weight: 1, arbitrary: fc.constantFrom("e", "o", "u", "t", " ", "\n", "é", "\0", "-", "/") },
  );
  const base = fc.oneof(
    fc.tuple(hashArb, fc.array(char, { minLength: 0, maxLength: 215 }))
      .map(([h, cs]) => `${h}-${cs.join("")}`),
    fc.array(char, { minLength: 30, maxLength: 60 }).map((cs) => cs.join("")),
    fc.tuple(hashArb, fc.constantFrom("e", "o", "u", "t", "A"), fc.integer({ min: 0, max: 31 }))
      .map(([h, c, i]) => `${h.slice(0, i)}${c}${h.slice(i + 1)}-x`),
  );
  fc.assert(
    fc.property(base, (b) => {
      let parsed = true;
      try {
        StorePath.parse(`/nix/store/${b}`);
        StorePath.fromBaseName(b);
      } catch (e) {
        if (!(e instanceof StorePathError)) throw e;
        parsed = false;
      }
      assert.equal(parsed, valid(b) && !b.includes("/"), JSON.stringify(b));
    }),
    { numRuns: 1000 },
  );
});
