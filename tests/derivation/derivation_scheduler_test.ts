import assert from "node:assert/strict";
import type { BuildStatus } from "../../lib/derivation/build_result.ts";
import { DerivationError } from "../../lib/derivation/derivation_error.ts";
import { type BuildPlace, scheduleDerivations } from "../../lib/derivation/derivation_scheduler.ts";

type R = { status: BuildStatus; note?: string };

/** A graph from "drv: inputs" lines. */
function graph(spec: Record<string, string[]>) {
  return new Map(
    Object.entries(spec).map(([p, ins]) => [p, { inputDrvs: new Map(ins.map((i) => [i, []])) }]),
  );
}

/** A build that ends when `release(drvPath)` is called. */
class Gate {
  #waiting = new Map<string, (r: R | undefined) => void>();
  started: string[] = [];
  build = (p: string) => {
    this.started.push(p);
    return new Promise<R | undefined>((resolve) => this.#waiting.set(p, resolve));
  };
  release(p: string, r: R = { status: "Built" }) {
    this.#end(p, r);
  }
  /** End without a result (the place was lost). */
  lose(p: string) {
    this.#end(p, undefined);
  }
  #end(p: string, r: R | undefined) {
    this.#waiting.get(p)!(r);
    this.#waiting.delete(p);
  }
  get running() {
    return [...this.#waiting.keys()].sort();
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("scheduleDerivations() builds inputs first, up to each place's maxJobs", async () => {
  const g = graph({ a: [], b: [], c: [], d: ["a", "b", "c"] });
  const gate = new Gate();
  const two: BuildPlace = { maxJobs: 2 };
  const done = scheduleDerivations(g, {
    places: [two],
    place: (_, free) => (free.length > 0 ? { place: free[0]! } : { wait: true }),
    build: gate.build,
    dependencyFailed: () => assert.fail("nothing fails"),
  });
  await tick();
  assert.deepEqual(gate.running, ["a", "b"]);
  gate.release("a");
  await tick();
  assert.deepEqual(gate.running, ["b", "c"]);
  gate.release("b");
  gate.release("c");
  await tick();
  assert.deepEqual(gate.running, ["d"]);
  gate.release("d");
  const results = await done;
  assert.deepEqual(gate.started, ["a", "b", "c", "d"]);
  assert.deepEqual([...results.keys()].sort(), ["a", "b", "c", "d"]);
});

Deno.test("scheduleDerivations() fails what depends on a failure as soon as it fails, and builds the rest", async () => {
  const g = graph({ a: [], slow: [], b: ["a", "slow"], c: ["b"], other: [] });
  const gate = new Gate();
  const settled: string[] = [];
  const done = scheduleDerivations<BuildPlace, R>(g, {
    places: [{ maxJobs: 3 }],
    place: (_, free) => (free.length > 0 ? { place: free[0]! } : { wait: true }),
    build: gate.build,
    dependencyFailed: (p, input) => ({ status: "DependencyFailed", note: `${p} needs ${input}` }),
    settled: (p) => settled.push(p),
  });
  await tick();
  gate.release("a", { status: "PermanentFailure" });
  await tick();
  // b and c are failed while "slow" still runs
  assert.deepEqual(settled, ["a", "b", "c"]);
  gate.release("slow");
  gate.release("other");
  const results = await done;
  assert.deepEqual(results.get("b"), { status: "DependencyFailed", note: "b needs a" });
  assert.deepEqual(results.get("c"), { status: "DependencyFailed", note: "c needs b" });
  assert.equal(results.get("other")!.status, "Built");
});

Deno.test("scheduleDerivations() places again a build that ends without a result, and takes results decided without a build", async () => {
  const g = graph({ a: [], valid: [] });
  const gate = new Gate();
  const m1 = { maxJobs: 1, name: "m1" }, m2 = { maxJobs: 1, name: "m2" };
  const placed: string[] = [];
  const done = scheduleDerivations<typeof m1, R>(g, {
    places: [m1, m2],
    place: (p, free) => {
      if (p === "valid") return { result: { status: "AlreadyValid" } };
      const m = free.find((m) => !placed.includes(m.name));
      if (!m) return { wait: true };
      placed.push(m.name);
      return { place: m };
    },
    build: gate.build,
    dependencyFailed: () => assert.fail("nothing fails"),
  });
  await tick();
  gate.lose("a"); // m1 was lost
  await tick();
  assert.deepEqual(placed, ["m1", "m2"]);
  gate.release("a");
  const results = await done;
  assert.equal(results.get("valid")!.status, "AlreadyValid");
  assert.deepEqual(gate.started, ["a", "a"]);
});

Deno.test("scheduleDerivations() asks again at the time the policy gives", async () => {
  const g = graph({ a: [] });
  let asked = 0;
  const results = await scheduleDerivations<BuildPlace, R>(g, {
    places: [{ maxJobs: 1 }],
    place: (_, free) => (++asked < 3 ? { wait: true, until: Date.now() } : { place: free[0]! }),
    build: () => Promise.resolve({ status: "Built" }),
    dependencyFailed: () => assert.fail("nothing fails"),
  });
  assert.equal(asked, 3);
  assert.equal(results.get("a")!.status, "Built");
});

Deno.test("scheduleDerivations() on cancellation tells the policy once and gives what had not started its result", async () => {
  const g = graph({ a: [], b: ["a"], c: [] });
  const gate = new Gate();
  const abort = new AbortController();
  let told = 0;
  const done = scheduleDerivations<BuildPlace, R>(g, {
    places: [{ maxJobs: 1 }],
    place: (_, free) => (free.length > 0 ? { place: free[0]! } : { wait: true }),
    build: gate.build,
    dependencyFailed: () => assert.fail("nothing fails"),
    cancel: {
      signal: abort.signal,
      aborted: () => {
        told++;
        gate.release("a", { status: "MiscFailure", note: "cancelled while running" });
        return Promise.resolve();
      },
      result: () => ({ status: "MiscFailure", note: "not started" }),
    },
  });
  await tick();
  abort.abort();
  const results = await done;
  assert.equal(told, 1);
  assert.deepEqual(gate.started, ["a"]);
  assert.equal(results.get("a")!.note, "cancelled while running");
  assert.equal(results.get("b")!.note, "not started");
  assert.equal(results.get("c")!.note, "not started");
});

Deno.test("scheduleDerivations() rejects a graph with a cycle and a place without a free slot", async () => {
  await assert.rejects(
    scheduleDerivations<BuildPlace, R>(graph({ a: ["b"], b: ["a"] }), {
      places: [{ maxJobs: 1 }],
      place: () => assert.fail("nothing is ready"),
      build: () => assert.fail("nothing is ready"),
      dependencyFailed: () => assert.fail("nothing fails"),
    }),
    (e) => e instanceof DerivationError && /the derivation graph has a cycle/.test(e.message),
  );
  const full = { maxJobs: 0 };
  await assert.rejects(
    scheduleDerivations<BuildPlace, R>(graph({ a: [] }), {
      places: [full],
      place: () => ({ place: full }),
      build: () => assert.fail("no slot"),
      dependencyFailed: () => assert.fail("nothing fails"),
    }),
    /Cannot build 'a': the place chosen has no free slot/,
  );
});
