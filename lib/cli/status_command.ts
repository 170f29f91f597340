/**
 * `buildhost status [--store URL] [--json]`: what a build host is doing,
 * from its store's build record (see `store/build_record.ts`): the builds
 * running and waiting, the build slots in use (running builds against
 * `max-jobs`), the sessions open, the recent builds, the store's size and
 * the free disk space. `--http ADDR` serves the same as a page, JSON, logs
 * and Prometheus metrics instead (see `status_page_server.ts`).
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import type { EndedBuild, RunningBuild } from "../store/build_record.ts";
import { type HostStatus, hostStatus, humanBytes, humanDuration } from "./host_status.ts";
import { openStoreFromFlags, STORE_FLAGS } from "./store_options.ts";
import { loadNixConfig, nixSettings } from "./nix_settings.ts";
import { type Command, printOut, UsageError } from "./command.ts";
import { serveStatus } from "./status_page_server.ts";

const USAGE = "usage: buildhost status [--store URL] [--json] [--http ADDR]";

/** `buildhost status` as text. */
export function statusText(s: HostStatus): string {
  const lines: string[] = [];
  const free = s.store.freeBytes === null
    ? "free space unknown"
    : `${humanBytes(s.store.freeBytes)} free`;
  lines.push(
    `store ${s.store.root}: ${s.store.paths} paths, ${humanBytes(s.store.sizeBytes)}; ${free}`,
  );
  lines.push(`build slots: ${s.slots.used} of ${s.slots.max} in use`);
  lines.push(`sessions open: ${s.sessions.length}`);
  const session = (b: RunningBuild | EndedBuild) =>
    `${b.session.kind} session ${b.session.pid} from ${b.session.client}`;
  for (const [title, list] of [["running", s.running], ["waiting", s.waiting]] as const) {
    lines.push(`${title} builds: ${list.length}`);
    for (const b of list) {
      const since = humanDuration((s.time - b.started) / 1000);
      lines.push(`  ${b.drvPath} (${title} for ${since}, ${session(b)})`);
      for (const l of b.logTail.slice(-3)) lines.push(`    > ${l}`);
    }
  }
  lines.push(`recent builds: ${s.recent.length}`);
  for (const b of s.recent) {
    const ended = new Date(b.stopped).toISOString().replace("T", " ").slice(0, 19);
    lines.push(
      `  ${b.status.padEnd(16)} ${humanDuration(b.duration).padStart(7)}  ${ended}Z  ${b.drvPath}`,
    );
  }
  return lines.join("\n") + "\n";
}

/** `buildhost status ...` */
export const statusCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      http: { type: "string" },
      ...STORE_FLAGS,
    },
  });
  if (positionals.length > 0) throw new UsageError(USAGE);
  const settings = nixSettings(loadNixConfig(Deno.env.toObject()));
  const { store } = await openStoreFromFlags(values);
  try {
    const status = () => hostStatus(store, settings.maxJobs);
    if (values.http !== undefined) {
      await serveStatus(store, status, values.http, (url) => printOut(`status page on ${url}\n`));
      return 0;
    }
    const s = await status();
    await printOut(values.json ? JSON.stringify(s, null, 2) + "\n" : statusText(s));
    return 0;
  } finally {
    store.close();
  }
};
