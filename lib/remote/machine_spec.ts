/**
 * Build machines as Nix names them (its `builders` setting and
 * `/etc/nix/machines`): entries separated by `;` or newlines, each with
 * white-space separated fields, `-` or a missing field meaning the default:
 *
 * ```
 * URI [SYSTEMS [SSH-KEY [MAX-JOBS [SPEED-FACTOR [FEATURES [MANDATORY-FEATURES [HOST-KEY]]]]]]]
 * ```
 *
 * SYSTEMS and the feature lists are comma separated. A URI is
 * `ssh://[USER@]HOST[?remote-program=P&ssh-key=K]` (or a bare `HOST`, as Nix
 * accepts); the host runs `P --serve --write` (default `nix-store`, as Nix;
 * `buildhost` for a buildhost host).
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/** A malformed machine specification. */
export class MachineSpecError extends BuildhostError {
  override name = "MachineSpecError";
}

/** One build machine. */
export interface Machine {
  /** The store URI, as written. */
  uri: string;
  /** `USER@HOST` or `HOST`, for ssh. */
  host: string;
  /** The program run on the host (with `--serve --write`). */
  remoteProgram: string;
  /** `ssh` (the serve protocol, the default) or `ssh-ng` (the daemon protocol). */
  protocol?: "ssh" | "ssh-ng";
  /** The store on the host (`remote-store=`), passed as `--store`. */
  remoteStore?: string;
  /** The platforms it builds for (default: this machine's, `x86_64-linux`). */
  systems: string[];
  /** The ssh identity file, if any. */
  sshKey?: string;
  /** How many builds it runs at once. */
  maxJobs: number;
  /** Relative speed; faster machines are preferred. */
  speedFactor: number;
  /** System features it supports (`kvm`, `big-parallel`, ...). */
  supportedFeatures: string[];
  /** Features a derivation must require to be sent here. */
  mandatoryFeatures: string[];
}

const DEFAULT_SYSTEM = "x86_64-linux";

function count(value: string, field: string, entry: string, min: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || (field === "max-jobs" && !Number.isInteger(n))) {
    throw new MachineSpecError(
      `Cannot parse the machine '${entry}': ${field} '${value}' is not a number >= ${min}`,
    );
  }
  return n;
}

/**
 * Parse machine specifications.
 *
 * @param text The `builders` value (or a machines file's text).
 * @returns The machines, in order.
 * @throws {MachineSpecError} A field that is not what it should be.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMachines } from "./machine_spec.ts";
 * const [m] = parseMachines("ssh://bob@b1?remote-program=buildhost x86_64-linux,i686-linux - 4 2 kvm");
 * assert.equal(m!.host, "bob@b1");
 * assert.equal(m!.remoteProgram, "buildhost");
 * assert.deepEqual(m!.systems, ["x86_64-linux", "i686-linux"]);
 * assert.equal(m!.maxJobs, 4);
 * assert.deepEqual(m!.supportedFeatures, ["kvm"]);
 * ```
 */
export function parseMachines(text: string): Machine[] {
  const machines: Machine[] = [];
  for (const raw of text.split(/[;\n]/)) {
    const entry = raw.replace(/#.*$/, "").trim();
    if (entry === "") continue;
    const f = entry.split(/\s+/);
    const field = (i: number) => (f[i] === undefined || f[i] === "-" ? undefined : f[i]);
    const uri = f[0]!;
    let host = uri, params = new URLSearchParams();
    let protocol: "ssh" | "ssh-ng" = "ssh";
    if (uri.includes("://")) {
      const m = /^(ssh|ssh-ng):\/\/([^?/]+)(?:\?(.*))?$/.exec(uri);
      if (!m) {
        throw new MachineSpecError(
          `Cannot parse the machine '${entry}': only ssh:// and ssh-ng:// URIs are supported, not '${uri}'`,
        );
      }
      protocol = m[1] as "ssh" | "ssh-ng";
      host = m[2]!;
      params = new URLSearchParams(m[3] ?? "");
    }
    const list = (i: number) => field(i)?.split(",").filter((s) => s !== "") ?? [];
    const sshKey = field(2) ?? params.get("ssh-key") ?? undefined;
    machines.push({
      uri,
      host,
      remoteProgram: params.get("remote-program") ??
        (protocol === "ssh-ng" ? "nix-daemon" : "nix-store"),
      protocol,
      ...(params.get("remote-store") ? { remoteStore: params.get("remote-store")! } : {}),
      systems: field(1) ? list(1) : [DEFAULT_SYSTEM],
      ...(sshKey ? { sshKey } : {}),
      maxJobs: field(3) ? count(f[3]!, "max-jobs", entry, 0) : 1,
      speedFactor: field(4) ? count(f[4]!, "speed-factor", entry, 0) : 1,
      supportedFeatures: list(5),
      mandatoryFeatures: list(6),
    });
  }
  return machines;
}

/** Timeouts of a session with a machine, in seconds (0: none). */
export interface SessionTimeouts {
  /** For the connection and the handshake. */
  connectTimeout?: number;
  /** For a host that sends nothing while it should be alive. */
  hostTimeout?: number;
}

/**
 * The ssh options that make ssh itself notice a dead host or network: a
 * `ConnectTimeout` of the connect timeout, and keepalives derived from the
 * host timeout (a probe every third of it, three unanswered probes end the
 * connection; with no host timeout, a probe every 30 s and 4 unanswered),
 * each unless `sshOpts` (NIX_SSHOPTS) sets its own.
 *
 * @param sshOpts The user's ssh options.
 * @param timeouts The session's timeouts.
 * @returns `-o` options to add.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sshTimeoutOptions } from "./machine_spec.ts";
 * assert.deepEqual(sshTimeoutOptions("", { connectTimeout: 10, hostTimeout: 30 }), [
 *   "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3",
 * ]);
 * assert.deepEqual(sshTimeoutOptions("-o ServerAliveInterval=5", { hostTimeout: 30 }), []);
 * ```
 */
export function sshTimeoutOptions(sshOpts: string, timeouts: SessionTimeouts): string[] {
  const out: string[] = [];
  const sets = (name: string) => new RegExp(`(^|[\\s=-])${name}\\b`, "i").test(sshOpts);
  const connect = timeouts.connectTimeout ?? 0;
  if (connect > 0 && !sets("ConnectTimeout")) {
    out.push("-o", `ConnectTimeout=${Math.ceil(connect)}`);
  }
  if (!sets("ServerAliveInterval") && !sets("ServerAliveCountMax")) {
    const host = timeouts.hostTimeout ?? 0;
    const interval = host > 0 ? Math.max(1, Math.floor(host / 3)) : 30;
    out.push("-o", `ServerAliveInterval=${interval}`);
    out.push("-o", `ServerAliveCountMax=${host > 0 ? 3 : 4}`);
  }
  return out;
}

/**
 * The command that opens a serve session with a machine: ssh to it (with
 * `NIX_SSHOPTS`, as Nix), running its remote program with `--serve --write`.
 *
 * @param machine The machine.
 * @param sshOpts `NIX_SSHOPTS` (default: this process's).
 * @param timeouts When given, ssh options for them (see {@linkcode sshTimeoutOptions}).
 * @returns The program and its arguments.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMachines, serveCommandFor } from "./machine_spec.ts";
 * const [m] = parseMachines("ssh://b1?remote-program=buildhost");
 * assert.deepEqual(serveCommandFor(m!, "-p 2222"), ["ssh", "b1", "-x", "-a", "-p", "2222", "--", "buildhost --serve --write"]);
 * ```
 */
export function serveCommandFor(
  machine: Machine,
  sshOpts: string = Deno.env.get("NIX_SSHOPTS") ?? "",
  timeouts?: SessionTimeouts,
): string[] {
  return [
    "ssh",
    machine.host,
    "-x",
    "-a",
    ...(machine.sshKey ? ["-i", machine.sshKey] : []),
    ...sshOpts.split(/\s+/).filter((s) => s !== ""),
    ...(timeouts ? sshTimeoutOptions(sshOpts, timeouts) : []),
    "--",
    remoteCommand(machine),
  ];
}

/**
 * The command run on a machine: `P --serve --write` for `ssh://`, `P --stdio`
 * for `ssh-ng://`, with `--store 'R'` when the URI names a remote store (as
 * Nix builds it).
 *
 * @param machine The machine.
 * @returns The command, one shell word list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMachines, remoteCommand } from "./machine_spec.ts";
 * const [m] = parseMachines("ssh-ng://b?remote-program=buildhost&remote-store=/srv/bh");
 * assert.equal(remoteCommand(m!), "buildhost --stdio --store '/srv/bh'");
 * ```
 */
export function remoteCommand(machine: Machine): string {
  const base = machine.protocol === "ssh-ng"
    ? `${machine.remoteProgram} --stdio`
    : `${machine.remoteProgram} --serve --write`;
  return machine.remoteStore === undefined ? base : `${base} --store '${machine.remoteStore}'`;
}

/**
 * A machine's short name for log prefixes: its host without the user
 * (`ssh://bob@b1?...` is `b1`).
 *
 * @param machine The machine.
 * @returns Its name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { machineName, parseMachines } from "./machine_spec.ts";
 * assert.equal(machineName(parseMachines("ssh://bob@b1?remote-program=buildhost")[0]!), "b1");
 * ```
 */
export function machineName(machine: Machine): string {
  return machine.host.replace(/^.*@/, "");
}
