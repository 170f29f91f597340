import assert from "node:assert/strict";
import { Hash } from "../../lib/hash/hash.ts";
import type { DerivationOutput } from "../../lib/derivation/derivation.ts";
import {
  outputFromTriple,
  outputTriple,
  type OutputTripleField,
} from "../../lib/derivation/output_triple.ts";

const reader = {
  checkPath: (p: string) => assert.match(p, /^\/nix\/store\//),
  fail: (field: OutputTripleField, detail: string): never => {
    throw new Error(`${field}: ${detail}`);
  },
};

Deno.test("outputTriple() and outputFromTriple() round-trip each kind of output", () => {
  const hash = Hash.of("sha256", "");
  const fixedPath = "/nix/store/i8yf3p9li8bd9rwjsr5nkg63lxs367am-f";
  const cases: [DerivationOutput, [string, string, string]][] = [
    [{ kind: "inputAddressed", path: "/nix/store/ffffffffffffffffffffffffffffffff-f" }, [
      "/nix/store/ffffffffffffffffffffffffffffffff-f",
      "",
      "",
    ]],
    [{ kind: "fixed", path: fixedPath, method: "flat", hash }, [
      fixedPath,
      "sha256",
      hash.toString("base16"),
    ]],
    [{ kind: "floating", method: "recursive", hashAlgo: "sha512" }, ["", "r:sha512", ""]],
    [{ kind: "impure", method: "flat", hashAlgo: "sha1" }, ["", "sha1", "impure"]],
    [{ kind: "deferred" }, ["", "", ""]],
  ];
  for (const [output, triple] of cases) {
    assert.deepEqual(outputTriple("f", "out", output), triple);
    assert.deepEqual(outputFromTriple(triple, reader), output);
  }
  // masked (hashing modulo the outputs): no path
  assert.deepEqual(outputTriple("f", "out", cases[1]![0], "/nix/store", true)[0], "");
});

Deno.test("outputFromTriple() names the field at fault", () => {
  assert.throws(() => outputFromTriple(["", "", "00"], reader), /^Error: hash: a hash without/);
  assert.throws(() => outputFromTriple(["", "md4", ""], reader), /^Error: hashAlgo: unknown hash/);
  assert.throws(
    () => outputFromTriple(["/nix/store/x", "sha256", "impure"], reader),
    /^Error: path: an impure output has no path$/,
  );
  assert.throws(
    () => outputFromTriple(["/nix/store/x", "sha256", "sha256:00"], reader),
    /^Error: hash: "sha256:00" is not a bare/,
  );
  assert.throws(
    () =>
      outputFromTriple(["/nix/store/x", "sha256", ""], {
        ...reader,
        describe: (k) => `${k} content-addressed`,
      }),
    /^Error: path: a floating content-addressed output has no path$/,
  );
});
