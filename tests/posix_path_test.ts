/**
 * lib/posix_path.ts against `node:path`'s posix functions, which it
 * replaces: the same result for any paths made of slashes, dots and names.
 */
import assert from "node:assert/strict";
import posix from "node:path/posix";
import fc from "fast-check";
import { basename, dirname, isAbsolute, join, normalize, resolve } from "../lib/posix_path.ts";

const path = fc
  .array(fc.constantFrom("/", "//", ".", "..", "a", "b.c", "...", ".x", " ", "é"), {
    maxLength: 8,
  })
  .map((parts) => parts.join(""));
const paths = fc.array(path, { maxLength: 4 });

Deno.test("posix_path gives node:path/posix's results", () => {
  fc.assert(
    fc.property(path, paths, (p, ps) => {
      assert.equal(normalize(p), posix.normalize(p), `normalize(${JSON.stringify(p)})`);
      assert.equal(dirname(p), posix.dirname(p), `dirname(${JSON.stringify(p)})`);
      assert.equal(basename(p), posix.basename(p), `basename(${JSON.stringify(p)})`);
      assert.equal(isAbsolute(p), posix.isAbsolute(p));
      assert.equal(join(...ps), posix.join(...ps), `join(${JSON.stringify(ps)})`);
      assert.equal(resolve(...ps), posix.resolve(...ps), `resolve(${JSON.stringify(ps)})`);
    }),
    { numRuns: 5000 },
  );
});

Deno.test("posix_path: the edge cases by name", () => {
  for (
    const p of ["", "/", "//", "///", "a/", "/a//b", "//a", "a//", "./", "a/..", "a/../", "../.."]
  ) {
    assert.equal(normalize(p), posix.normalize(p), p);
    assert.equal(dirname(p), posix.dirname(p), p);
    assert.equal(basename(p), posix.basename(p), p);
  }
  assert.equal(join(), ".");
  assert.equal(resolve(), Deno.cwd());
});
