/**
 * The table of CLI commands: `buildhost <name> ...`.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { buildCommand } from "./build_command.ts";
import { copyCommand } from "./copy_command.ts";
import { daemonCommand } from "./daemon_command.ts";
import { demoCommand } from "./demo_command.ts";
import { doctorCommand } from "./doctor_command.ts";
import { hashCommand } from "./hash_command.ts";
import { logCommand } from "./log_command.ts";
import { narCommand } from "./nar_command.ts";
import { serveCommand } from "./serve_command.ts";
import { statusCommand } from "./status_command.ts";
import { storeCommand } from "./store_command.ts";
import { derivationCommand } from "./derivation_command.ts";

/** Each command with a one-line summary for `buildhost --help`. */
export const COMMANDS: Record<string, { run: Command; summary: string }> = {
  build: {
    run: buildCommand,
    summary: "build .drv files in the store, in the sandbox or on --builders",
  },
  copy: { run: copyCommand, summary: "copy closures to or from a serve host (ssh://...)" },
  daemon: {
    run: daemonCommand,
    summary: "speak Nix's daemon protocol on stdin/stdout (--stdio), for ssh-ng://",
  },
  demo: { run: demoCommand, summary: "the main job: a remote build on an embedded example" },
  doctor: {
    run: doctorCommand,
    summary: "check that this machine can be a build host (tools, store, sandbox, ssh)",
  },
  hash: { run: hashCommand, summary: "hash a path (as a NAR) or files, like `nix hash`" },
  log: { run: logCommand, summary: "print the kept build log of a derivation or an output" },
  nar: { run: narCommand, summary: "dump a path as a NAR, restore or list a NAR (stdin)" },
  serve: {
    run: serveCommand,
    summary: "speak the serve protocol on stdin/stdout (--serve --write)",
  },
  status: {
    run: statusCommand,
    summary: "what the host is doing: builds, slots, sessions, store (--json, --http ADDR)",
  },
  store: { run: storeCommand, summary: "the local store: add, import, export, info, verify, gc" },
  derivation: { run: derivationCommand, summary: "show a .drv as JSON, or check its paths" },
};
