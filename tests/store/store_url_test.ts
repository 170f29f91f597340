/**
 * Store URLs as Nix 2.8 reads them: every form Nix's own tests pass as
 * `--store` / `remote-store`, resolved to where the files are.
 */
import assert from "node:assert/strict";
import { parseStoreUrl, StoreUrlError } from "../../lib/store/store_url.ts";
import { nixDirs, resolveStoreLocation } from "../../lib/store/store_location.ts";

const ctx = (env: Record<string, string> = {}, usable = true) => ({
  dirs: nixDirs(env),
  env: { HOME: "/home/u", ...env },
  systemStoreUsable: () => usable,
});
const where = (url: string, env: Record<string, string> = {}, usable = true) => {
  const { layout, systemFeatures } = resolveStoreLocation(
    parseStoreUrl(url, "/work"),
    ctx(env, usable),
  );
  return {
    storeDir: layout.storeDir,
    real: layout.realStoreDir,
    state: layout.stateDir,
    log: layout.logDir,
    ...(systemFeatures ? { systemFeatures } : {}),
  };
};

Deno.test("parseStoreUrl() takes a path with parameters as a chroot store, never a file name", () => {
  assert.deepEqual(where("/t/machine1?system-features=foo%20bar"), {
    storeDir: "/nix/store",
    real: "/t/machine1/nix/store",
    state: "/t/machine1/nix/var/nix",
    log: "/t/machine1/nix/var/log/nix",
    systemFeatures: ["foo", "bar"],
  });
  // relative paths are made absolute, as Nix's absPath
  assert.equal(where("./s/../m2").real, "/work/m2/nix/store");
});

Deno.test("parseStoreUrl() reads local?root=&store=&state=&log=&real=", () => {
  assert.deepEqual(where("local?root=/x"), {
    storeDir: "/nix/store",
    real: "/x/nix/store",
    state: "/x/nix/var/nix",
    log: "/x/nix/var/log/nix",
  });
  // nix-copy-ssh.sh's remote store: another logical directory, files elsewhere
  assert.deepEqual(where("/r?store=/t/store&real=/r/t/store"), {
    storeDir: "/t/store",
    real: "/r/t/store",
    state: "/r/nix/var/nix",
    log: "/r/nix/var/log/nix",
  });
  assert.deepEqual(where("local?store=/a/store&state=/a/state&log=/a/log"), {
    storeDir: "/a/store",
    real: "/a/store",
    state: "/a/state",
    log: "/a/log",
  });
  assert.deepEqual(where("local"), {
    storeDir: "/nix/store",
    real: "/nix/store",
    state: "/nix/var/nix",
    log: "/nix/var/log/nix",
  });
});

Deno.test("parseStoreUrl() follows NIX_STORE_DIR, NIX_STATE_DIR, NIX_LOG_DIR", () => {
  const env = { NIX_STORE_DIR: "/t/store", NIX_STATE_DIR: "/t/var/nix", NIX_LOG_DIR: "/t/log" };
  assert.deepEqual(where("local", env), {
    storeDir: "/t/store",
    real: "/t/store",
    state: "/t/var/nix",
    log: "/t/log",
  });
  // with a root, only the logical directory comes from the environment
  assert.deepEqual(where("/r", env), {
    storeDir: "/t/store",
    real: "/r/nix/store",
    state: "/r/nix/var/nix",
    log: "/r/nix/var/log/nix",
  });
});

Deno.test("parseStoreUrl() takes auto, daemon and no URL as the default store", () => {
  for (const url of ["", "auto", "daemon", "auto?system-features=kvm"]) {
    assert.equal(parseStoreUrl(url, "/").type, "auto");
    // usable system store: /nix
    assert.equal(where(url).real, "/nix/store");
    // not usable: a chroot store under the user's data directory
    assert.equal(where(url, {}, false).real, "/home/u/.local/share/buildhost/nix/store");
    assert.equal(
      where(url, { XDG_DATA_HOME: "/d" }, false).state,
      "/d/buildhost/nix/var/nix",
    );
  }
});

Deno.test("parseStoreUrl() reads ssh:// stores with their remote-store", () => {
  const u = parseStoreUrl(
    "ssh://localhost?remote-store=/r%3fstore=/t/store%26real=/r/t/store&store=/t/store",
    "/",
  );
  assert.equal(u.type, "ssh");
  assert.equal(u.type === "ssh" && u.host, "localhost");
  assert.equal(u.params["remote-store"], "/r?store=/t/store&real=/r/t/store");
  const v6 = parseStoreUrl("ssh://root@[::1]", "/");
  assert.equal(v6.type === "ssh" && v6.host, "root@::1");
});

Deno.test("parseStoreUrl() refuses unsupported schemes, words and parameters with clear errors", () => {
  const refused: [string, RegExp][] = [
    ["s3://bucket", /don't know how to open Nix store 's3:\/\/bucket'/],
    ["file:///x", /don't know how to open Nix store/],
    ["ssh-ng://h", /don't know how to open Nix store/],
    ["machine1", /don't know how to open Nix store 'machine1'/],
    ["/x?compression=xz", /unknown setting 'compression'/],
    ["local?root=relative", /'root' must be an absolute path/],
    ["/x?state=%zz", /invalid URI parameter/],
  ];
  for (const [url, message] of refused) {
    assert.throws(() => parseStoreUrl(url, "/"), (e: unknown) => {
      assert.ok(e instanceof StoreUrlError, String(e));
      assert.match(e.message, message);
      assert.equal(e.url, url);
      return true;
    });
  }
});

Deno.test("buildhost refuses a bad store URL without creating anything", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const url of ["weird?x=1", "./m?unknown=1", "s3://b"]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../../main.ts", import.meta.url).pathname,
          "store",
          "verify",
          "--store",
          url,
        ],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.notEqual(out.code, 0);
      assert.match(new TextDecoder().decode(out.stderr), /Cannot open store/);
    }
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
