/**
 * The `/metrics` of `buildhost status --http`, in Prometheus' text
 * exposition format (version 0.0.4): each metric with its `# HELP` and
 * `# TYPE`, counters ending in `_total`, units in the names.
 *
 * @module
 */
import { DURATION_BUCKETS } from "../store/build_record.ts";
import type { HostStatus } from "./host_status.ts";

/** The content type of the text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function labelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/**
 * The metrics of a status.
 *
 * @param s The host's status.
 * @returns The exposition text.
 */
export function statusMetrics(s: HostStatus): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, samples: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
  };
  const c = s.counters;
  metric(
    "buildhost_builds_total",
    "counter",
    "Builds that ended, by Nix's status (Interrupted: its process died).",
    Object.entries(c.builds).sort().map(([status, n]) =>
      `buildhost_builds_total{status="${labelValue(status)}"} ${n}`
    ),
  );
  let cumulative = 0;
  const buckets = DURATION_BUCKETS.map((le, i) => {
    cumulative += c.durationBuckets[i] ?? 0;
    return `buildhost_build_duration_seconds_bucket{le="${le}"} ${cumulative}`;
  });
  cumulative += c.durationBuckets[DURATION_BUCKETS.length] ?? 0;
  buckets.push(`buildhost_build_duration_seconds_bucket{le="+Inf"} ${cumulative}`);
  metric("buildhost_build_duration_seconds", "histogram", "How long builds took.", [
    ...buckets,
    `buildhost_build_duration_seconds_sum ${c.durationSum}`,
    `buildhost_build_duration_seconds_count ${cumulative}`,
  ]);
  metric(
    "buildhost_session_received_bytes_total",
    "counter",
    "Bytes serve and daemon sessions received from their clients.",
    [`buildhost_session_received_bytes_total ${c.bytesReceived}`],
  );
  metric(
    "buildhost_session_sent_bytes_total",
    "counter",
    "Bytes serve and daemon sessions sent to their clients.",
    [`buildhost_session_sent_bytes_total ${c.bytesSent}`],
  );
  metric("buildhost_sessions_total", "counter", "Serve and daemon sessions opened.", [
    `buildhost_sessions_total ${c.sessions}`,
  ]);
  metric("buildhost_sessions_open", "gauge", "Serve and daemon sessions open now.", [
    `buildhost_sessions_open ${s.sessions.length}`,
  ]);
  metric("buildhost_builds_running", "gauge", "Builds running now.", [
    `buildhost_builds_running ${s.running.length}`,
  ]);
  metric("buildhost_builds_waiting", "gauge", "Builds waiting for a build slot now.", [
    `buildhost_builds_waiting ${s.waiting.length}`,
  ]);
  metric("buildhost_build_slots", "gauge", "Build slots of the host (max-jobs).", [
    `buildhost_build_slots ${s.slots.max}`,
  ]);
  metric("buildhost_build_slots_used", "gauge", "Build slots in use (running builds).", [
    `buildhost_build_slots_used ${s.slots.used}`,
  ]);
  metric("buildhost_store_paths", "gauge", "Valid paths in the store.", [
    `buildhost_store_paths ${s.store.paths}`,
  ]);
  metric("buildhost_store_size_bytes", "gauge", "Sum of the NAR sizes of the store's paths.", [
    `buildhost_store_size_bytes ${s.store.sizeBytes}`,
  ]);
  if (s.store.freeBytes !== null) {
    metric("buildhost_store_free_bytes", "gauge", "Free disk space under the store.", [
      `buildhost_store_free_bytes ${s.store.freeBytes}`,
    ]);
  }
  return out.join("\n") + "\n";
}
