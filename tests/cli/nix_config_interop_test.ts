/**
 * nix.conf and NIX_CONFIG as Nix 2.8 reads them: includes, extra- settings,
 * aliases, comments, the files it looks for, and Nix's defaults.
 */
import assert from "node:assert/strict";
import { loadNixConfig, nixSettings } from "../../lib/cli/nix_settings.ts";

Deno.test("nixSettings() has Nix 2.8's defaults on this machine", async () => {
  const out = await new Deno.Command("nix", {
    args: ["show-config"],
    env: {
      NIX_CONF_DIR: "/nonexistent",
      NIX_USER_CONF_FILES: "",
      NIX_CONFIG: "experimental-features = nix-command",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const shown = new Map(
    new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(" = ") as [string, string]),
  );
  const s = nixSettings(loadNixConfig({ NIX_CONF_DIR: "/nonexistent", NIX_USER_CONF_FILES: "" }));
  assert.equal(s.system, shown.get("system"));
  // levels come from /proc/cpuinfo, Nix's from libcpuid: every platform Nix takes, we take
  for (const p of shown.get("extra-platforms")!.split(" ")) {
    assert.ok(s.extraPlatforms.includes(p), p);
  }
  assert.deepEqual([...s.systemFeatures].sort(), shown.get("system-features")!.split(" ").sort());
  assert.equal(String(s.maxJobs), shown.get("max-jobs"));
  assert.equal(String(s.cores), shown.get("cores"));
});
