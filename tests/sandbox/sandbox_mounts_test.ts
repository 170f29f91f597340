import assert from "node:assert/strict";
import { mountPlan, type MountPlanInput } from "../../lib/sandbox/sandbox_mounts.ts";

const base = (over: Partial<MountPlanInput> = {}): MountPlanInput => ({
  storeDir: "/nix/store",
  buildDir: "/tmp/nix-build-x.drv-0",
  sandboxPaths: [],
  inputDirs: [],
  outputs: [],
  network: false,
  kvm: true,
  readOnly: true,
  stat: (p) => (p.includes("missing") ? null : { directory: !p.startsWith("/dev/") }),
  ...over,
});
const host = { devShm: true, ptmx: true };

Deno.test("mountPlan() lists mounts depth first, as Nix's second mount namespace shows them", () => {
  const plan = mountPlan(
    base({
      sandboxPaths: [
        { target: "/usr", source: "/usr" },
        { target: "/usr/lib/x", source: "/opt/x" },
        { target: "/bin/sh", source: "/store/sh" },
      ],
      inputDirs: [
        { target: "/nix/store/b-two", source: "/s/b-two" },
        { target: "/nix/store/a-one", source: "/s/a-one" },
      ],
    }),
    host,
  );
  assert.deepEqual(plan.map((m) => m.target), [
    "/",
    "/nix/store",
    "/nix/store/a-one",
    "/nix/store/b-two",
    "/bin/sh",
    "/build",
    "/dev/full",
    "/dev/kvm",
    "/dev/null",
    "/dev/random",
    "/dev/tty",
    "/dev/urandom",
    "/dev/zero",
    "/usr",
    "/usr/lib/x",
    "/proc",
    "/dev/shm",
    "/dev/pts",
  ]);
  const build = plan.find((m) => m.target === "/build");
  assert.deepEqual(build, {
    kind: "bind",
    target: "/build",
    source: "/tmp/nix-build-x.drv-0",
    directory: true,
    readOnly: false,
  });
  assert.deepEqual(plan.find((m) => m.target === "/usr"), {
    kind: "bind",
    target: "/usr",
    source: "/usr",
    directory: true,
    readOnly: true,
  });
});

Deno.test("mountPlan() with /dev from the host binds no devices and no devpts", () => {
  const plan = mountPlan(base({ sandboxPaths: [{ target: "/dev", source: "/dev" }] }), host);
  assert.deepEqual(plan.map((m) => m.target), [
    "/",
    "/nix/store",
    "/build",
    "/dev",
    "/dev/shm",
    "/proc",
  ]);
  assert.equal(plan.find((m) => m.target === "/dev/shm")?.kind, "tmpfs");
});

Deno.test("mountPlan() for a fixed-output derivation binds the host's network files", () => {
  const plan = mountPlan(base({ network: true, kvm: false }), host);
  const targets = plan.map((m) => m.target);
  assert.ok(!targets.includes("/dev/kvm"));
  assert.deepEqual(targets.filter((t) => t.startsWith("/etc/")), [
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/services",
  ]);
});

Deno.test("mountPlan() drops outputs and optional missing paths, and rejects missing ones", () => {
  const plan = mountPlan(
    base({
      sandboxPaths: [
        { target: "/nix/store/o-out", source: "/nix/store/o-out" },
        { target: "/opt", source: "/missing", optional: true },
        { target: "/proc", source: "/proc" },
      ],
      outputs: ["/nix/store/o-out"],
    }),
    host,
  );
  const targets = plan.map((m) => m.target);
  assert.ok(!targets.includes("/nix/store/o-out"));
  assert.ok(!targets.includes("/opt"));
  assert.equal(plan.filter((m) => m.target === "/proc").length, 1);
  assert.throws(
    () => mountPlan(base({ sandboxPaths: [{ target: "/x", source: "/missing" }] }), host),
    /getting attributes of path '\/missing'/,
  );
});
