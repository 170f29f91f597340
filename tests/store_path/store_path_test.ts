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
