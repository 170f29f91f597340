import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { pathInfoToJson } from "../../lib/store/path_info.ts";
import { nix, nixFails, pathWithDependency, tempDir } from "../_helpers/nix.ts";

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;
const REMOTE = `ssh://remotehost?remote-program=${HELPERS}remote-buildhost`;

/** Environment for Nix talking to buildhost through the stand-in ssh. */
function env(remoteStore: string, readonly = false): Record<string, string> {
  return {
    PATH: `${HELPERS}bin:${Deno.env.get("PATH")}`,
    BUILDHOST_TEST_REMOTE_STORE: remoteStore,
    BUILDHOST_TEST_READONLY: readonly ? "1" : "0",
  };
}

/** path-info JSON without registrationTime (it is the importer's clock). */
async function nixInfo(store: string, paths: string[]) {
  const list = JSON.parse(
    (await nix("nix", ["path-info", "--store", store, "--json", ...paths])).text,
  );
  return list.map((j: Record<string, unknown>) => (delete j.registrationTime, j));
}

Deno.test("nix copy --to and --from a buildhost serve host, both stores verify", async () => {
  using tmp = tempDir();
  const client = join(tmp.path, "client");
  const remote = join(tmp.path, "remote");
  const [dep, top] = await pathWithDependency(client);
  await nix("nix", ["copy", "--store", client, "--to", REMOTE, top], { env: env(remote) });

  const store = await Store.open(remote);
  try {
    assert.deepEqual(store.allValidPaths(), [dep, top].sort());
    const ours = [dep, top].sort().map((p) => {
      const j = pathInfoToJson(store.requirePathInfo(p));
      delete j.registrationTime;
      return j;
    });
    assert.deepEqual(ours, await nixInfo(client, [dep, top].sort()));
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    // a path only the remote has, fetched back by Nix with its reference
    const only = await store.addText("only-remote.txt", `needs ${top}\n`, [top]);
    store.close();
    const fresh = join(tmp.path, "fresh");
    await nix("nix", ["copy", "--store", fresh, "--from", REMOTE, only.path], { env: env(remote) });
    const got = await nixInfo(fresh, [only.path, top, dep].sort());
    assert.equal(got.length, 3);
    const v = await nix("nix-store", ["--store", fresh, "--verify", "--check-contents"]);
    assert.doesNotMatch(v.stderr, /error/);
    // queries through the remote: nix path-info -r
    const viaRemote =
      (await nix("nix", ["path-info", "--store", REMOTE, "-r", only.path], { env: env(remote) }))
        .text.split("\n").sort();
    assert.deepEqual(viaRemote, [dep, only.path, top].sort());
  } finally {
    store.close();
  }
  const nixVerify = await nix("nix-store", ["--store", remote, "--verify", "--check-contents"]);
  assert.doesNotMatch(nixVerify.stderr, /error/);
});

Deno.test("without --write a buildhost serve host answers queries and refuses copies like nix-store --serve", async () => {
  using tmp = tempDir();
  const client = join(tmp.path, "client");
  const remote = join(tmp.path, "remote");
  const [dep, top] = await pathWithDependency(client);
  await nix("nix", ["copy", "--store", client, "--to", REMOTE, dep], { env: env(remote) });
  const info = await nix("nix", ["path-info", "--store", REMOTE, dep], { env: env(remote, true) });
  assert.equal(info.text, dep);
  const err = await nixFails("nix", ["copy", "--store", client, "--to", REMOTE, top], {
    env: env(remote, true),
  });
  assert.match(err, /importing paths is not allowed/);
  const store = await Store.open(remote);
  try {
    assert.deepEqual(store.allValidPaths(), [dep]);
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

Deno.test("nix-copy-closure --to and --from a host whose nix-store is buildhost", async () => {
  using tmp = tempDir();
  const client = join(tmp.path, "client");
  const remote = join(tmp.path, "remote");
  const [dep, top] = await pathWithDependency(client);
  // nix-copy-closure always runs `nix-store --serve --write` on the host
  const bin = join(tmp.path, "remote-bin");
  Deno.mkdirSync(bin);
  Deno.writeTextFileSync(
    join(bin, "nix-store"),
    `#!/bin/sh\nexec "${HELPERS}remote-buildhost" "$@"\n`,
    { mode: 0o755 },
  );
  const ccEnv = { ...env(remote), BUILDHOST_TEST_REMOTE_PATH: bin };
  await nix("nix-copy-closure", ["--store", client, "--to", "remotehost", top], { env: ccEnv });
  const store = await Store.open(remote);
  try {
    assert.deepEqual(store.allValidPaths(), [dep, top].sort());
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
  const fresh = join(tmp.path, "fresh");
  await nix("nix-copy-closure", ["--store", fresh, "--from", "remotehost", top], { env: ccEnv });
  assert.deepEqual(
    await nixInfo(fresh, [dep, top].sort()),
    await nixInfo(client, [dep, top].sort()),
  );
});
