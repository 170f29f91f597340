import assert from "node:assert/strict";
import { Hash } from "../../lib/hash/hash.ts";
import { encodeDerivation } from "../../lib/derivation/aterm_writer.ts";
import {
  type Derivation,
  derivationKind,
  type DerivationOutput,
} from "../../lib/derivation/derivation.ts";
import { DerivationError } from "../../lib/derivation/derivation_error.ts";
import {
  type DrvHash,
  hashDerivationModulo,
  HashModulo,
  IMPURE_OUTPUT_HASH,
} from "../../lib/derivation/hash_modulo.ts";
import {
  derivationPath,
  hashPlaceholder,
  outputPaths,
  withOutputPaths,
} from "../../lib/derivation/output_paths.ts";

const H = "ffffffffffffffffffffffffffffffff";
const drv = (name: string, extra: Partial<Derivation> = {}): Derivation => ({
  name,
  outputs: new Map<string, DerivationOutput>([["out", { kind: "deferred" }]]),
  inputDrvs: new Map(),
  inputSrcs: [],
  platform: "x86_64-linux",
  builder: "/bin/sh",
  args: [],
  env: new Map([["out", ""]]),
  ...extra,
});
const noInputs = () => {
  throw new Error("no inputs expected");
};

Deno.test("HashModulo.hash() hashes the ATerm with inputs replaced by their hashes", async () => {
  const dep = drv("dep", {
    outputs: new Map<string, DerivationOutput>([["dev", { kind: "deferred" }], ["out", {
      kind: "deferred",
    }]]),
  });
  const depPath = `/nix/store/${H}-dep.drv`;
  const top = drv("top", { inputDrvs: new Map([[depPath, ["dev", "out"]]]) });
  const modulo = new HashModulo((p) => {
    assert.equal(p, depPath);
    return dep;
  });
  const depHash = (await modulo.ofPath(depPath)).hashes.get("out")!;
  assert.ok(depHash.equals(Hash.of("sha256", encodeDerivation(dep))));
  const h = await modulo.hash(top, true);
  const text = encodeDerivation(top, {
    maskOutputs: true,
    inputDrvs: new Map([[depHash.toString("base16"), ["dev", "out"]]]),
  });
  assert.ok(h.hashes.get("out")!.equals(Hash.of("sha256", text)));
  assert.equal(h.kind, "regular");
});

Deno.test("HashModulo looks up each input once", async () => {
  const calls: string[] = [];
  const a = `/nix/store/${H}-a.drv`, b = `/nix/store/${H}-b.drv`;
  const store = new Map([
    [a, drv("a")],
    [b, drv("b", { inputDrvs: new Map([[a, ["out"]]]) })],
  ]);
  const modulo = new HashModulo((p) => {
    calls.push(p);
    return store.get(p)!;
  });
  await modulo.hash(drv("c", { inputDrvs: new Map([[a, ["out"]], [b, ["out"]]]) }));
  await modulo.hash(drv("d", { inputDrvs: new Map([[b, ["out"]]]) }));
  assert.deepEqual(calls.sort(), [a, b]);
});

Deno.test("HashModulo takes hashes from the lookup and merges inputs with the same hash", async () => {
  const h: DrvHash = {
    kind: "regular",
    hashes: new Map([["out", Hash.of("sha256", "x")], ["dev", Hash.of("sha256", "x")]]),
  };
  const one = `/nix/store/${H}-one.drv`, two = `/nix/store/${H}-two.drv`;
  const top = drv("top", { inputDrvs: new Map([[one, ["out"]], [two, ["dev"]]]) });
  const got = await hashDerivationModulo(top, false, () => h);
  const text = encodeDerivation(top, {
    inputDrvs: new Map([[Hash.of("sha256", "x").toString("base16"), ["dev", "out"]]]),
  });
  assert.ok(got.hashes.get("out")!.equals(Hash.of("sha256", text)));
});

Deno.test("HashModulo reports cycles and missing outputs as DerivationError", async () => {
  const a = `/nix/store/${H}-a.drv`, b = `/nix/store/${H}-b.drv`;
  const cyclic = new Map([
    [a, drv("a", { inputDrvs: new Map([[b, ["out"]]]) })],
    [b, drv("b", { inputDrvs: new Map([[a, ["out"]]]) })],
  ]);
  await assert.rejects(
    () => new HashModulo((p) => cyclic.get(p)!).ofPath(a),
    (e) =>
      e instanceof DerivationError &&
      /depends on itself \(.*a\.drv -> .*b\.drv -> .*a\.drv\)/.test(e.message),
  );
  await assert.rejects(
    () =>
      hashDerivationModulo(drv("t", { inputDrvs: new Map([[a, ["lib"]]]) }), false, () => drv("a")),
    /input ".*a\.drv" has no output "lib"/,
  );
});

Deno.test("derivationKind() rejects what Nix 2.8's type() rejects", () => {
  const hash = Hash.of("sha256", "");
  const fixed: DerivationOutput = { kind: "fixed", path: "", method: "flat", hash };
  assert.throws(() => derivationKind(drv("x", { outputs: new Map() })), /no outputs/);
  assert.throws(
    () =>
      derivationKind(
        drv("x", {
          outputs: new Map<string, DerivationOutput>([["out", fixed], ["dev", {
            kind: "deferred",
          }]]),
        }),
      ),
    /mixes output kinds/,
  );
  assert.throws(
    () =>
      derivationKind(drv("x", { outputs: new Map<string, DerivationOutput>([["bin", fixed]]) })),
    /named "out"/,
  );
  assert.throws(
    () =>
      derivationKind(
        drv("x", { outputs: new Map<string, DerivationOutput>([["out", fixed], ["dev", fixed]]) }),
      ),
    /only one fixed output/,
  );
  assert.throws(
    () =>
      derivationKind(drv("x", {
        outputs: new Map<string, DerivationOutput>([
          ["a", { kind: "floating", method: "recursive", hashAlgo: "sha256" }],
          ["b", { kind: "floating", method: "recursive", hashAlgo: "sha512" }],
        ]),
      })),
    /same hash algorithm/,
  );
});

Deno.test("impure and floating derivations are deferred, and so are their dependents", async () => {
  const imp = drv("imp", {
    outputs: new Map<string, DerivationOutput>([["out", {
      kind: "impure",
      method: "recursive",
      hashAlgo: "sha256",
    }]]),
  });
  const h = await hashDerivationModulo(imp, false, noInputs);
  assert.equal(h.kind, "deferred");
  assert.ok(h.hashes.get("out")!.equals(IMPURE_OUTPUT_HASH));
  const ca = drv("ca", {
    outputs: new Map<string, DerivationOutput>([["out", {
      kind: "floating",
      method: "recursive",
      hashAlgo: "sha256",
    }]]),
  });
  const caPath = `/nix/store/${H}-ca.drv`;
  const dependent = drv("dep", { inputDrvs: new Map([[caPath, ["out"]]]) });
  const modulo = new HashModulo(() => ca);
  assert.equal((await modulo.hash(dependent, true)).kind, "deferred");
  assert.deepEqual(await outputPaths(dependent, modulo), new Map());
  const filled = await withOutputPaths(dependent, modulo);
  assert.deepEqual(filled.outputs.get("out"), { kind: "deferred" });
  assert.equal((await withOutputPaths(ca, modulo)).env.get("out"), hashPlaceholder("out"));
});

Deno.test("withOutputPaths() fills every output and adds its env variable", async () => {
  const d = drv("multi", {
    outputs: new Map<string, DerivationOutput>([["out", { kind: "deferred" }], ["dev", {
      kind: "deferred",
    }]]),
    env: new Map([["name", "multi"]]),
  });
  const modulo = new HashModulo(noInputs);
  const full = await withOutputPaths(d, modulo);
  assert.deepEqual([...full.env.keys()], ["dev", "name", "out"]);
  assert.deepEqual(
    [...(await outputPaths(full, modulo))],
    [...full.outputs].map(([n, o]) => [n, o.kind === "inputAddressed" ? o.path : ""]),
  );
  assert.match(full.env.get("dev")!, /-multi-dev$/);
  // the result is stable: filling again changes nothing
  assert.deepEqual(await withOutputPaths(full, modulo), full);
  assert.match(derivationPath(full), /-multi\.drv$/);
});
