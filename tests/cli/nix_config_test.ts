/**
 * nix.conf and NIX_CONFIG as Nix 2.8 reads them: includes, extra- settings,
 * aliases, comments, the files it looks for, and Nix's defaults.
 */
import assert from "node:assert/strict";
import { applyNixConfig, configValue, NixConfigError } from "../../lib/cli/nix_config.ts";
import { loadNixConfig, nixConfigFiles, nixSettings } from "../../lib/cli/nix_settings.ts";

Deno.test("applyNixConfig() reads settings, includes and extra- settings as Nix", () => {
  const files: Record<string, string> = {
    "/etc/nix/nix.conf.extra": "fsync-metadata = false\n!include nix.conf.extra.not-there\n",
    "/etc/nix/features.conf": "extra-system-features = kvm\n",
  };
  const config = new Map();
  applyNixConfig(
    config,
    [
      "build-users-group =",
      "sandbox = false  # a comment",
      "system-features = foo",
      "include nix.conf.extra",
      "include features.conf",
      "extra-platforms = aarch64-linux",
      "build-max-jobs = 4",
      "extra-sandbox-paths = /bin/busybox",
      "post-build-hook = /t/hook.sh",
    ].join("\n"),
    "/etc/nix/nix.conf",
    { readFile: (p) => files[p] },
  );
  assert.equal(configValue(config, "sandbox"), "false");
  assert.equal(configValue(config, "system-features"), "foo kvm");
  assert.equal(configValue(config, "fsync-metadata"), "false");
  // extra-platforms is a setting of its own, not an append to "platforms"
  assert.equal(configValue(config, "extra-platforms"), "aarch64-linux");
  assert.equal(configValue(config, "max-jobs"), "4");
  // an extra- before any value appends to the default
  assert.equal(configValue(config, "sandbox-paths", "/bin/sh"), "/bin/sh /bin/busybox");
  const s = nixSettings(config);
  assert.equal(s.sandbox, "false");
  assert.equal(s.maxJobs, 4);
  assert.deepEqual(s.systemFeatures, ["foo", "kvm"]);
  assert.deepEqual(s.sandboxPaths, ["/bin/busybox"]);
  assert.equal(s.postBuildHook, "/t/hook.sh");
});

Deno.test("applyNixConfig() refuses what Nix refuses", () => {
  for (
    const [text, message] of [
      ["sandbox", /illegal configuration line 'sandbox' in 'nix.conf'/],
      ["sandbox true", /illegal configuration line/],
      ["include a b", /illegal configuration line/],
      ["include missing.conf", /file '\/missing.conf' included from 'nix.conf' not found/],
    ] as const
  ) {
    assert.throws(
      () => applyNixConfig(new Map(), text, "nix.conf", { readFile: () => undefined }),
      (e: unknown) => e instanceof NixConfigError && message.test(e.message),
    );
  }
  assert.throws(() => nixSettings(new Map([["timeout", { value: "soon", extra: [] }]])), /timeout/);
});

Deno.test("loadNixConfig() reads NIX_CONF_DIR, the user's files, then NIX_CONFIG", () => {
  assert.deepEqual(nixConfigFiles({ HOME: "/h" }), [
    "/etc/nix/nix.conf",
    "/etc/xdg/nix/nix.conf",
    "/h/.config/nix/nix.conf",
  ]);
  assert.deepEqual(nixConfigFiles({ NIX_CONF_DIR: "/c", NIX_USER_CONF_FILES: "/a:/b" }), [
    "/c/nix.conf",
    "/b",
    "/a",
  ]);
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/nix.conf`, "cores = 3\nmax-silent-time = 5\ntimeout = 7\n");
    Deno.writeTextFileSync(`${dir}/user.conf`, "cores = 4\n");
    const s = nixSettings(loadNixConfig({
      NIX_CONF_DIR: dir,
      NIX_USER_CONF_FILES: `${dir}/user.conf`,
      NIX_CONFIG: "max-silent-time = 6\nbuild-dir = /b",
    }));
    assert.equal(s.cores, 4);
    assert.equal(s.maxSilentTime, 6);
    assert.equal(s.timeout, 7);
    assert.equal(s.buildDir, "/b");
    // Nix's defaults
    assert.equal(s.sandbox, "true");
    assert.equal(s.maxJobs, 1);
    assert.ok(s.systemFeatures.includes("big-parallel"));
    assert.equal(s.system, "x86_64-linux");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
