/**
 * A CPU profile of one buildhost command, for finding where its time goes
 * (Deno has no `--cpu-prof`): the command runs in a child Deno under the
 * inspector, V8's sampling profiler records it from start to end through
 * the Chrome DevTools protocol, and the functions with the most time of
 * their own are printed. The profile is also written, in the format Chrome
 * DevTools opens (Performance, "Load profile").
 *
 * ```sh
 * deno run -A bench/cpu_profile.ts /tmp/import.cpuprofile -- \
 *   store import-export --store /tmp/s < small-1000.export > /dev/null
 * ```
 *
 * Standard input and output are the command's; the summary goes to stderr.
 *
 * @module
 */

const MAIN = new URL("../main.ts", import.meta.url).href;
/** The checkout's configuration: its import map resolves main.ts's npm imports. */
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
/** Sampling interval, µs. */
const INTERVAL_US = 200;
/** How many functions the summary lists. */
const TOP = 40;

/** The program the child runs: main.ts's command, then it waits to be profiled out. */
const RUNNER = `
const { main } = await import(${JSON.stringify(MAIN)});
const code = await main(JSON.parse(Deno.env.get("BUILDHOST_PROFILE_ARGS")));
globalThis.__buildhostProfileDone = code;
const keep = setInterval(() => {}, 50);
await new Promise((r) => (globalThis.__buildhostProfileRelease = () => (clearInterval(keep), r())));
Deno.exit(code);
`;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A Chrome DevTools protocol session over the inspector's WebSocket. */
class Inspector {
  #ws: WebSocket;
  #id = 0;
  #pending = new Map<number, (result: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data as string) as { id?: number; result?: unknown };
      if (m.id !== undefined) this.#pending.get(m.id)?.(m.result);
      if (m.id !== undefined) this.#pending.delete(m.id);
    };
  }

  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return new Inspector(ws);
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#id;
    const reply = new Promise<T>((resolve) =>
      this.#pending.set(id, resolve as (r: unknown) => void)
    );
    this.#ws.send(JSON.stringify({ id, method, params }));
    return reply;
  }

  close(): void {
    this.#ws.close();
  }
}

/** The functions with the most self time, as lines. */
function summary(profile: Profile): string[] {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const f = nodes.get(id)!.callFrame;
    const where = f.url.replace(/^.*\/(lib|bench|tests)\//, "$1/");
    const key = `${f.functionName || "(anonymous)"} ${where}${where ? `:${f.lineNumber + 1}` : ""}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return [
    `${(total / 1000).toFixed(0)} ms sampled; self time by function:`,
    ...[...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)
      .map(([k, us]) => `${(us / 1000).toFixed(1).padStart(9)} ms  ${k}`),
  ];
}

async function profileCommand(out: string, args: string[]): Promise<number> {
  // The runner goes as a data: URL, not a file: a profiler killed midway
  // (by a signal, by Nix ending its remote program) leaves nothing behind.
  const runner = `data:application/javascript,${encodeURIComponent(RUNNER)}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${CONFIG}`, "--inspect-brk=127.0.0.1:0", runner],
    env: { BUILDHOST_PROFILE_ARGS: JSON.stringify(args) },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "piped",
  }).spawn();
  // The inspector's address comes first on stderr; the rest is the command's.
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let url: string | undefined;
  while (url === undefined) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`the child gave no inspector address:\n${seen}`);
    seen += value;
    url = /ws:\/\/\S+/.exec(seen)?.[0];
  }
  // A command that ends by calling Deno.exit never reaches the runner's
  // mark; Deno then says it waits for the debugger, which can still profile.
  let exited = false;
  const rest = (async () => {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) return;
      if (value.includes("Waiting for the debugger to disconnect")) exited = true;
      else if (!/Debugger session (started|ended)/.test(value)) {
        await Deno.stderr.write(new TextEncoder().encode(value));
      }
    }
  })();
  const inspector = await Inspector.connect(url);
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: INTERVAL_US });
  await inspector.send("Runtime.enable");
  await inspector.send("Profiler.start");
  void inspector.send("Runtime.runIfWaitingForDebugger");
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const r = await inspector.send<{ result: { value?: unknown } }>("Runtime.evaluate", {
      expression: "globalThis.__buildhostProfileDone",
    });
    if (exited || typeof r.result.value === "number") break;
  }
  const { profile } = await inspector.send<{ profile: Profile }>("Profiler.stop");
  Deno.writeTextFileSync(out, JSON.stringify(profile));
  await inspector.send("Runtime.evaluate", {
    expression: "globalThis.__buildhostProfileRelease()",
  });
  inspector.close();
  const { code } = await child.status;
  await rest;
  console.error(summary(profile).join("\n"));
  return code;
}

if (import.meta.main) {
  const [out, dashes, ...args] = Deno.args;
  if (out === undefined || dashes !== "--" || args.length === 0) {
    console.error("usage: deno run -A bench/cpu_profile.ts OUT.cpuprofile -- COMMAND [ARGS...]");
    Deno.exit(2);
  }
  Deno.exit(await profileCommand(out, args));
}
