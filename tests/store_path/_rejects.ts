/**
 * A hash part and an assertion that a store path is refused with a given reason, for the store path tests.
 *
 * @module
 */
import assert from "node:assert/strict";
import { StorePathError } from "../../lib/store_path/store_path.ts";
export const H = "1ka9gw6ddkrf0b8k65q7p46xbgb9wdr8";

export function rejects(fn: () => unknown, why: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof StorePathError, String(e));
    assert.match(e.message, why);
    return true;
  });
}
