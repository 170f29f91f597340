/**
 * A real OpenSSH server (Debian's `openssh-server`) on 127.0.0.1 for tests:
 * its own host key, key-only authentication for one client key, a free
 * port, extra `sshd_config` lines if asked.
 *
 * @module
 */
import { join } from "node:path";

function run(cmd: string, args: string[]): void {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A running sshd: how to reach it, and how to stop it. */
export interface Sshd {
  /** Options for Nix's ssh (NIX_SSHOPTS): the port, the key, a throwaway known_hosts. */
  sshOpts: string;
  /** sshd's log (stderr), complete once it stopped. */
  log: Promise<string>;
  /** Stop sshd; its log. */
  stop(): Promise<string>;
}

/**
 * Start an sshd on 127.0.0.1 accepting one client key, its files in `dir`.
 *
 * @param dir A directory for keys, config and pid file.
 * @param extraConfig More `sshd_config` lines (e.g. `SetEnv PATH=...`).
 * @returns The server; `stop()` it.
 */
export async function startSshd(dir: string, extraConfig: string[] = []): Promise<Sshd> {
  const hostKey = join(dir, "host_key"), clientKey = join(dir, "client_key");
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", clientKey]);
  Deno.copyFileSync(`${clientKey}.pub`, join(dir, "authorized_keys"));
  Deno.mkdirSync("/run/sshd", { recursive: true }); // sshd's privilege separation directory
  const port = freePort();
  const config = join(dir, "sshd_config");
  Deno.writeTextFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      ...extraConfig,
      "",
    ].join("\n"),
  );
  const sshd = new Deno.Command("/usr/sbin/sshd", {
    args: ["-D", "-e", "-f", config],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new Response(sshd.stderr).text();
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (i === 100) throw new Error(`sshd did not start: ${await log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    /** Options for Nix's ssh (NIX_SSHOPTS): the port, the key, a throwaway known_hosts. */
    sshOpts: [
      "-F",
      "/dev/null",
      "-p",
      String(port),
      "-i",
      clientKey,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      `UserKnownHostsFile=${join(dir, "known_hosts")}`,
    ].join(" "),
    log,
    /** Stop sshd; its log. */
    async stop(): Promise<string> {
      try {
        sshd.kill("SIGTERM");
      } catch { /* stopped already */ }
      await sshd.status;
      return await log;
    },
  };
}
