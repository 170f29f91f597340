import assert from "node:assert/strict";
import { Hash } from "../../lib/hash/hash.ts";
import {
  makeFixedOutputPath,
  makeOutputPath,
  makeReferencesType,
  makeStorePath,
  makeTextPath,
  outputPathName,
} from "../../lib/store_path/make_store_path.ts";
import { StorePathError } from "../../lib/store_path/store_path.ts";

Deno.test("makeReferencesType() sorts, deduplicates and appends self", () => {
  assert.equal(makeReferencesType("text", []), "text");
  assert.equal(
    makeReferencesType("source", ["/nix/store/b-x", "/nix/store/a-y", "/nix/store/b-x"], true),
    "source:/nix/store/a-y:/nix/store/b-x:self",
  );
});

Deno.test("makeTextPath() and makeFixedOutputPath() refuse what Nix forbids", () => {
  assert.throws(() => makeTextPath("a", Hash.of("sha1", "x")), StorePathError);
  assert.throws(() => makeTextPath("a b", "x"), /invalid character " "/);
  assert.throws(
    () => makeFixedOutputPath("f", "flat", Hash.of("sha256", "x"), ["/nix/store/a"]),
    /references/,
  );
  assert.throws(
    () => makeFixedOutputPath("f", "recursive", Hash.of("sha1", "x"), [], true),
    /references/,
  );
  assert.throws(() => makeFixedOutputPath("", "flat", Hash.of("sha256", "x")), /the name is empty/);
});

Deno.test("outputPathName() and makeOutputPath() name outputs like Nix", () => {
  assert.equal(outputPathName("hello-1.0", "out"), "hello-1.0");
  assert.equal(outputPathName("hello-1.0", "dev"), "hello-1.0-dev");
  const h = Hash.of("sha256", "modulo");
  assert.equal(makeOutputPath("hello", "dev", h).name, "hello-dev");
  assert.equal(
    makeOutputPath("hello", "out", h).toString(),
    makeStorePath("output:out", h, "hello").toString(),
  );
});
