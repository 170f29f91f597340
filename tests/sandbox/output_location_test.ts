import assert from "node:assert/strict";
import { join } from "node:path";
import { locateOutput, OutputLocationError } from "../../lib/sandbox/output_location.ts";
import { tempDir } from "../_helpers/nix.ts";

const OUT = "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-out";

Deno.test("locateOutput() finds an output of any type, a symlink included, and nothing when it is absent", () => {
  using t = tempDir();
  const root = t.path;
  Deno.mkdirSync(join(root, "nix/store"), { recursive: true });
  assert.equal(locateOutput(root, OUT), undefined);
  Deno.symlinkSync("/etc", root + OUT);
  assert.equal(locateOutput(root, OUT), root + OUT);
  Deno.removeSync(root + OUT);
  Deno.mkdirSync(root + OUT);
  assert.equal(locateOutput(root, OUT), root + OUT);
});

Deno.test("locateOutput() refuses a symlink at any directory on the way, naming it", () => {
  using t = tempDir();
  const root = join(t.path, "root");
  const host = join(t.path, "host");
  Deno.mkdirSync(join(host, "nix/store", OUT.slice(11)), { recursive: true });
  for (
    const [link, target] of [["/nix", join(host, "nix")], ["/nix/store", join(host, "nix/store")]]
  ) {
    try {
      Deno.removeSync(root, { recursive: true });
    } catch {
      // the first round: not made yet
    }
    Deno.mkdirSync(join(root, "nix/store"), { recursive: true });
    Deno.removeSync(root + link, { recursive: true });
    Deno.symlinkSync(target!, root + link);
    assert.throws(
      () => locateOutput(root, OUT),
      (e) =>
        e instanceof OutputLocationError && e.component === link && e.output === OUT &&
        e.message.includes(`'${link}' is a symlink`),
    );
  }
  // a relative symlink is refused too
  Deno.removeSync(root + "/nix/store");
  Deno.symlinkSync("../../host/nix/store", root + "/nix/store");
  assert.throws(() => locateOutput(root, OUT), OutputLocationError);
});

Deno.test("locateOutput() finds nothing when a file stands where a directory should", () => {
  using t = tempDir();
  Deno.writeTextFileSync(join(t.path, "nix"), "not a directory");
  assert.equal(locateOutput(t.path, OUT), undefined);
});
