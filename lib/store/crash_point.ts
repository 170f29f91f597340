/**
 * Deterministic crash points for fault tests: when the environment variable
 * `BUILDHOST_CRASH_AT` names a point, the process kills itself with SIGKILL
 * the moment it reaches that point, as a power cut or `kill -9` would. Tests
 * use it to stop an import at each step in turn, then check that the next
 * process finds a sound store. Unset (always, outside tests), a crash point
 * costs one comparison.
 *
 * The points, in the order an import reaches them:
 * - `import:after-unpack`: the NAR is in a temporary in the store directory;
 * - `import:after-canonicalise`: its modes and times are canonical;
 * - `import:after-rename`: it is at its final name, not yet registered;
 * - `register:mid-transaction`: inside the database transaction, the path
 *   row written, its references not yet;
 * - `register:after-commit`: registered, its lock not yet released.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/** The crash points, in the order an import reaches them. */
export const CRASH_POINTS = [
  "import:after-unpack",
  "import:after-canonicalise",
  "import:after-rename",
  "register:mid-transaction",
  "register:after-commit",
] as const;

/** One crash point. */
export type CrashPoint = typeof CRASH_POINTS[number];

function armedPoint(): string | undefined {
  try {
    return Deno.env.get("BUILDHOST_CRASH_AT") || undefined;
  } catch {
    return undefined; // no permission to read the environment: never armed
  }
}

const ARMED = armedPoint();

/**
 * Kill this process with SIGKILL when `BUILDHOST_CRASH_AT` is `point`.
 *
 * @param point Where the caller is.
 * @throws {BuildhostError} When `BUILDHOST_CRASH_AT` names no crash point
 * (a typo would otherwise make a fault test pass without a crash).
 *
 * @example
 * ```ts
 * import { crashPoint } from "./crash_point.ts";
 * crashPoint("import:after-unpack"); // nothing happens unless armed
 * ```
 */
export function crashPoint(point: CrashPoint): void {
  if (ARMED === undefined) return;
  if (ARMED === point) Deno.kill(Deno.pid, "SIGKILL");
  if (!(CRASH_POINTS as readonly string[]).includes(ARMED)) {
    throw new BuildhostError(
      `Cannot arm the crash point "${ARMED}" (BUILDHOST_CRASH_AT): the points are ${
        CRASH_POINTS.join(", ")
      }`,
    );
  }
}
