/**
 * `buildhost --serve [--write] [--store URL] [--sandbox-paths P]... [--no-sandbox]` (also
 * `buildhost serve ...`): a drop-in for `nix-store --serve [--write]`,
 * speaking the serve protocol on stdin/stdout. Errors and build logs go to
 * stderr. Builds run in Nix's sandbox (see `runnerFromFlags`), with Nix's
 * settings (`nix.conf`, `NIX_CONFIG`): what the host can build (`system`,
 * `extra-platforms`, the store's `system-features`), `cores`,
 * `post-build-hook`, the sandbox settings.
 *
 * `--store` is a store URL as Nix reads it. An `ssh://HOST?remote-store=U`
 * store is relayed as `nix-store --serve` relays it: the session is passed,
 * byte for byte, to `REMOTE-PROGRAM --serve --write [--store U]` on HOST
 * (`ssh://localhost` runs it here without ssh, as Nix does).
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { ServeServer } from "../serve/server.ts";
import { runStdioSession } from "./stdio_session.ts";
import { hostBuilder } from "./host_builder.ts";
import { RUNNER_FLAGS } from "./runner_options.ts";
import { openStoreFromFlags, STORE_FLAGS, storeUrlFromFlags } from "./store_options.ts";
import { loadNixConfig, nixSettings } from "./nix_settings.ts";
import type { Command } from "./command.ts";

/** `buildhost serve ...` / `buildhost --serve ...` */
export const serveCommand: Command = async (args) => {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    options: {
      serve: { type: "boolean", default: false },
      write: { type: "boolean", default: false },
      ...STORE_FLAGS,
      ...RUNNER_FLAGS,
    },
  });
  const url = storeUrlFromFlags(values);
  if (url.type === "ssh") return await relay(url.host, url.params);
  const settings = nixSettings(loadNixConfig(Deno.env.toObject()));
  const { store, location } = await openStoreFromFlags(values);
  const encoder = new TextEncoder();
  const log = (text: string) => void Deno.stderr.writeSync(encoder.encode(text));
  const builder = values.write
    ? hostBuilder(values, settings, store, location, log, { spares: true })
    : undefined;
  const server = new ServeServer(store, {
    write: values.write,
    log,
    ...(builder ? { builder } : {}),
  });
  return await runStdioSession(store, "serve", (input, output) => server.serve(input, output));
};

/** Pass the session to the serve program of an `ssh://` store; its exit code. */
async function relay(host: string, params: Record<string, string>): Promise<number> {
  const program = params["remote-program"] || "nix-store";
  const store = params["remote-store"];
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const command = `${program} --serve --write` + (store ? ` --store ${quote(store)}` : "");
  const argv = host === "localhost" ? ["bash", "-c", command] : [
    "ssh",
    host,
    "-x",
    "-a",
    ...(params["ssh-key"] ? ["-i", params["ssh-key"]] : []),
    ...(Deno.env.get("NIX_SSHOPTS") ?? "").split(/\s+/).filter((s) => s !== ""),
    "--",
    command,
  ];
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  await Promise.all([
    Deno.stdin.readable.pipeTo(child.stdin).catch(() => {}),
    child.stdout.pipeTo(Deno.stdout.writable, { preventClose: true }).catch(() => {}),
  ]);
  return (await child.status).code;
}
