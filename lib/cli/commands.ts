/**
 * The table of CLI commands: `buildhost <name> ...`. Each command's modules
 * are loaded only when it runs (a serve session does not load the build
 * client, the doctor or the demo); the literal `import()` paths keep them
 * visible to `deno check`, `deno compile` and `deno bundle`.
 *
 * @module
 */
import type { Command } from "./command.ts";

/** A command as `buildhost --help` lists it, and how to load it. */
export interface CommandEntry {
  /** One line for `buildhost --help`. */
  summary: string;
  /** Loads the command's modules; the command. */
  load: () => Promise<Command>;
}

/** Each command with a one-line summary for `buildhost --help`. */
export const COMMANDS: Record<string, CommandEntry> = {
  build: {
    summary: "build .drv files in the store, in the sandbox or on --builders",
    load: async () => (await import("./build_command.ts")).buildCommand,
  },
  copy: {
    summary: "copy closures to or from a serve host (ssh://...)",
    load: async () => (await import("./copy_command.ts")).copyCommand,
  },
  daemon: {
    summary:
      "the store's daemon on a Unix socket; --stdio: one session on stdin/stdout (ssh-ng://)",
    load: async () => (await import("./daemon_command.ts")).daemonCommand,
  },
  demo: {
    summary: "the main job: a remote build on an embedded example",
    load: async () => (await import("./demo_command.ts")).demoCommand,
  },
  doctor: {
    summary: "check that this machine can be a build host (tools, store, sandbox, ssh)",
    load: async () => (await import("./doctor_command.ts")).doctorCommand,
  },
  hash: {
    summary: "hash a path (as a NAR) or files, like `nix hash`",
    load: async () => (await import("./hash_command.ts")).hashCommand,
  },
  log: {
    summary: "print the kept build log of a derivation or an output",
    load: async () => (await import("./log_command.ts")).logCommand,
  },
  nar: {
    summary: "dump a path as a NAR, restore or list a NAR (stdin)",
    load: async () => (await import("./nar_command.ts")).narCommand,
  },
  serve: {
    summary: "speak the serve protocol on stdin/stdout (--serve --write)",
    load: async () => (await import("./serve_command.ts")).serveCommand,
  },
  store: {
    summary: "the local store: add, import, export, info, verify, gc",
    load: async () => (await import("./store_command.ts")).storeCommand,
  },
  derivation: {
    summary: "show a .drv as JSON, or check its paths",
    load: async () => (await import("./derivation_command.ts")).derivationCommand,
  },
  status: {
    summary: "what the host is doing: builds, slots, sessions, store (--json, --http ADDR)",
    load: async () => (await import("./status_command.ts")).statusCommand,
  },
};
