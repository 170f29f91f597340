import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { compressHash, Hash, HashError, parseHashAlgorithm } from "../../lib/hash/hash.ts";
import { encodeNix32 } from "../../lib/hash/nix_base32.ts";
import { nix, nixFails, tempDir } from "../_helpers/nix.ts";

import { ALGOS, randomHashes } from "./_random_hashes.ts";
Deno.test("toString() matches `nix hash to-base16/to-base32/to-base64/to-sri` for every algorithm", async () => {
  for (const algo of ALGOS) {
    const hashes = randomHashes(algo);
    const input = hashes.map((h) => h.toString("base16"));
    for (const enc of ["base16", "base32", "base64", "sri"] as const) {
      const out = await nix("nix", ["hash", `to-${enc}`, "--type", algo, ...input]);
      assert.deepEqual(out.text.split("\n"), hashes.map((h) => h.toString(enc)), `${algo} ${enc}`);
    }
  }
});

Deno.test("Hash.parse() agrees with Nix on what it accepts and what it means", async () => {
  for (const algo of ALGOS) {
    const [, h] = randomHashes(algo, 1) as [Hash, Hash];
    const b64 = h.toString("base64");
    const unpadded = b64.replace(/=+$/, "");
    // a last character with unused bits set (when there are unused bits)
    const spare = b64.endsWith("==") ? 4 : b64.endsWith("=") ? 2 : 0;
    const last = unpadded.at(-1)!;
    const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const loose = unpadded.slice(0, -1) + alpha[alpha.indexOf(last) | ((1 << spare) - 1)]! +
      b64.slice(unpadded.length);
    const accepted = [
      `${algo}-${unpadded}`, // SRI without padding
      `${algo}:${loose}`, // non-canonical trailing bits
      `${algo}-${loose}`,
      `${algo}:${h.toString("base16").toUpperCase()}`,
    ];
    const out = await nix("nix", ["hash", "to-base16", ...accepted]);
    assert.deepEqual(out.text.split("\n"), accepted.map(() => h.toString("base16")), algo);
    for (const text of accepted) assert.ok(Hash.parse(text).equals(h), text);
  }
});

Deno.test("Hash.parse() rejects what Nix rejects, saying why", async () => {
  const h = Hash.of("sha256", "hello");
  const hex = h.toString("base16");
  const cases: [string[], RegExp][] = [
    [[`md5:${hex}`], /length 64 fits no encoding of md5/],
    [[`sha256-${hex}`], /base64 text holds 48 bytes, not 32/],
    [[`foo:${hex}`], /unknown algorithm "foo"/],
    [[hex], /no algorithm given/],
    [["--type", "sha1", `sha256:${hex}`], /algorithm sha256, expected sha1/],
    [[`sha256:${hex.slice(0, 63)}g`], /invalid base16 character "g" at position 70/],
    [
      [`sha256:${h.toString("base32").replace(/^./, "e")}`],
      /invalid nix32 character "e" at position 7/,
    ],
    [[`sha256:${"z".repeat(52)}`], /bits set beyond 32 bytes/],
    [[`sha256:${h.toString("base32").slice(1)}`], /length 51 fits no encoding/],
    [[`sha256-${h.toString("base64").slice(0, 40)}`], /holds 30 bytes, not 32/],
    [
      [`sha256:${h.toString("base64").replace(/^./, "_")}`],
      /invalid base64 character "_" at position 7/,
    ],
    [
      [`sha256-${h.toString("base64").replace(/^./, "-")}`],
      /invalid base64 character "-" at position 7/,
    ],
  ];
  for (const [args, why] of cases) {
    const text = args.at(-1)!;
    await nixFails("nix", ["hash", "to-base16", ...args]);
    const algo = args[0] === "--type" ? parseHashAlgorithm(args[1]!) : undefined;
    assert.throws(() => Hash.parse(text, algo), (e: unknown) => {
      assert.ok(e instanceof HashError, String(e));
      assert.match(e.message, why);
      assert.ok(e.message.startsWith(`Cannot parse hash "${text}": `), e.message);
      return true;
    });
  }
});

Deno.test("Hash.of() matches nix-hash --flat for random files and every algorithm", async () => {
  using dir = tempDir();
  const sizes = [0, 1, 55, 56, 63, 64, 65, 1000, 200_000];
  const files: { path: string; data: Uint8Array }[] = sizes.map((n, i) => ({
    path: join(dir.path, `f${i}`),
    data: new Uint8Array(randomBytes(n)),
  }));
  for (const f of files) await Deno.writeFile(f.path, f.data);
  for (const algo of ALGOS) {
    const out = await nix("nix-hash", [
      "--flat",
      "--type",
      algo,
      "--base32",
      ...files.map((f) => f.path),
    ]);
    assert.deepEqual(
      out.text.split("\n"),
      files.map((f) => Hash.of(algo, f.data).toString("base32")),
      algo,
    );
  }
  assert.equal(
    Hash.of("sha256", "").toString("base32"),
    "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
  );
});

Deno.test("compressHash() matches nix-hash --truncate", async () => {
  using dir = tempDir();
  const files = [0, 1, 100].map((n, i) => ({
    path: join(dir.path, `f${i}`),
    data: new Uint8Array(randomBytes(n)),
  }));
  for (const f of files) await Deno.writeFile(f.path, f.data);
  for (const algo of ["sha1", "sha256", "sha512"] as const) {
    const out = await nix("nix-hash", [
      "--flat",
      "--truncate",
      "--type",
      algo,
      "--base32",
      ...files.map((f) => f.path),
    ]);
    const ours = files.map((f) => encodeNix32(compressHash(Hash.of(algo, f.data).bytes, 20)));
    assert.deepEqual(out.text.split("\n"), ours, algo);
  }
});

Deno.test("compressHash() gives the hash part of a store path Nix made", async () => {
  using store = tempDir();
  const contents = "compress me\n";
  const path = (await nix("nix", [
    "eval",
    "--store",
    store.path,
    "--raw",
    "--expr",
    `builtins.toFile "c" "${contents.replace("\n", "\\n")}"`,
  ])).text;
  const inner = Hash.of("sha256", contents).toString("base16");
  const fingerprint = `text:sha256:${inner}:/nix/store:c`;
  const hashPart = encodeNix32(compressHash(Hash.of("sha256", fingerprint).bytes, 20));
  assert.equal(path, `/nix/store/${hashPart}-c`);
});
