/**
 * The status page of `buildhost status --http`: one HTML document with its
 * CSS inline and nothing fetched (it works offline), reloading itself every
 * few seconds, showing the running, waiting and recent builds (each linked
 * to its log at `/log/<drv>`), the build slots, the sessions and the store.
 *
 * @module
 */
import { basename } from "../posix_path.ts";
import type { EndedBuild, RunningBuild } from "../store/build_record.ts";
import { type HostStatus, humanBytes, humanDuration, pathName } from "./host_status.ts";

/** Seconds between the page's reloads. */
export const REFRESH_SECONDS = 5;

/** Text made safe for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
.summary { display: flex; gap: 1em; flex-wrap: wrap; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .5em 1em; }
.card b { display: block; font-size: 1.3em; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
code, pre { font: 12px/1.3 ui-monospace, monospace; }
pre { margin: .2em 0 0; white-space: pre-wrap; color: #555; max-height: 8em; overflow: hidden; }
.status { font-weight: 600; }
.ok { color: #17702b; } .bad { color: #b3261e; } .other { color: #8a5a00; }
.empty { color: #888; font-style: italic; }
a { color: #1a5fb4; }
`;

function statusClass(status: string): string {
  if (status === "Built" || status === "AlreadyValid" || status === "Substituted") return "ok";
  if (status === "Interrupted") return "other";
  return "bad";
}

function drvCell(drvPath: string): string {
  return `<a href="/log/${encodeURIComponent(basename(drvPath))}" title="${escapeHtml(drvPath)}">${
    escapeHtml(pathName(drvPath))
  }</a>`;
}

function session(b: RunningBuild | EndedBuild): string {
  return escapeHtml(`${b.session.kind} ${b.session.pid} (${b.session.client})`);
}

function time(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function inProgress(list: RunningBuild[], now: number, what: string): string {
  if (list.length === 0) return `<p class="empty">no ${what} builds</p>`;
  const rows = list.map((b) =>
    `<tr><td>${drvCell(b.drvPath)}<pre>${
      escapeHtml(b.logTail.slice(-4).join("\n"))
    }</pre></td><td class="status">${b.state}</td><td>${time(b.started)}</td><td>${
      humanDuration((now - b.started) / 1000)
    }</td><td>${session(b)}</td></tr>`
  );
  return `<table><tr><th>derivation</th><th>state</th><th>started</th><th>for</th><th>session</th></tr>${
    rows.join("")
  }</table>`;
}

function recent(list: EndedBuild[]): string {
  if (list.length === 0) return `<p class="empty">no builds yet</p>`;
  const rows = list.map((b) =>
    `<tr><td>${drvCell(b.drvPath)}</td><td class="status ${statusClass(b.status)}" title="${
      escapeHtml(b.errorMsg)
    }">${escapeHtml(b.status)}</td><td>${humanDuration(b.duration)}</td><td>${
      time(b.stopped)
    }</td><td>${session(b)}</td></tr>`
  );
  return `<table><tr><th>derivation</th><th>status</th><th>took</th><th>ended</th><th>session</th></tr>${
    rows.join("")
  }</table>`;
}

/**
 * The page for a status.
 *
 * @param s The host's status.
 * @returns The HTML document.
 */
export function statusPage(s: HostStatus): string {
  const free = s.store.freeBytes === null ? "unknown" : humanBytes(s.store.freeBytes);
  const card = (label: string, value: string) =>
    `<div class="card">${escapeHtml(label)}<b>${escapeHtml(value)}</b></div>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>buildhost on ${escapeHtml(s.host)}</title>
<style>${CSS}</style></head>
<body>
<h1>buildhost on ${escapeHtml(s.host)}</h1>
<p>store <code>${escapeHtml(s.store.root)}</code> · ${time(s.time)} ·
<a href="/status.json">status.json</a> · <a href="/metrics">metrics</a></p>
<div class="summary">
${card("build slots in use", `${s.slots.used} / ${s.slots.max}`)}
${card("running", String(s.running.length))}
${card("waiting", String(s.waiting.length))}
${card("sessions open", String(s.sessions.length))}
${card("store", `${s.store.paths} paths, ${humanBytes(s.store.sizeBytes)}`)}
${card("free disk", free)}
</div>
<h2>Running builds</h2>
${inProgress(s.running, s.time, "running")}
<h2>Waiting builds</h2>
${inProgress(s.waiting, s.time, "waiting")}
<h2>Recent builds</h2>
${recent(s.recent)}
</body></html>
`;
}
