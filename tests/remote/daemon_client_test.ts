import assert from "node:assert/strict";
import { startDaemonHost } from "../../lib/remote/daemon_host_process.ts";

Deno.test("startDaemonHost: a host that never answers the handshake is lost at the connect timeout", async () => {
  const silent = startDaemonHost(["sleep", "600"], { host: "silent", connectTimeout: 1 });
  await assert.rejects(silent, (e: Error) => {
    assert.equal(e.name, "HostLostError");
    assert.match(
      e.message,
      /open a daemon session on silent: it did not answer the handshake within 1 seconds/,
    );
    return true;
  });
});
