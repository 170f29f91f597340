/**
 * Deterministic crash points for fault tests: when the environment variable
 * `BUILDHOST_CRASH_AT` names a point, the process kills itself with SIGKILL
 * the moment it reaches that point, as a power cut or `kill -9` would. Tests
 * use it to stop an import at each step in turn, then check that the next
 * process finds a sound store. Unset (always, outside tests), a crash point
 * costs one comparison.
 *
 * The import points, in the order an import reaches them:
 * - `import:after-unpack`: the NAR is in a temporary in the store directory;
 * - `import:after-canonicalise`: its modes and times are canonical;
 * - `import:after-rename`: it is at its final name, not yet registered (in
 *   a run of imports, see `import_run.ts`: every path of the run is);
 * - `register:mid-transaction`: inside the database transaction, the path
 *   row written, its references not yet;
 * - `register:after-commit`: registered, its lock not yet released.
 *
 * The build points, in the order a build reaches them:
 * - `build:after-builder-exit`: the builder exited successfully, its
 *   outputs are in temporaries in the store directory, unchecked;
 * - `build:after-move`: the outputs are at their final names, not yet
 *   registered;
 * - `build:mid-register`: inside the registration transaction, every row
 *   written, not yet committed;
 * - `build:after-register`: registered, the output locks and the build
 *   directory not yet released.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/** The crash points of an import, in the order it reaches them. */
export const IMPORT_CRASH_POINTS = [
  "import:after-unpack",
  "import:after-canonicalise",
  "import:after-rename",
  "register:mid-transaction",
  "register:after-commit",
] as const;

/** The crash points of a build, in the order it reaches them. */
export const BUILD_CRASH_POINTS = [
  "build:after-builder-exit",
  "build:after-move",
  "build:mid-register",
  "build:after-register",
] as const;

/** All crash points. */
export const CRASH_POINTS = [...IMPORT_CRASH_POINTS, ...BUILD_CRASH_POINTS] as const;

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
