/**
 * Run by path_lock_race_test.ts, several at once: take and release (deleting
 * the file) the same lock N times; inside, make a marker file that must not
 * exist (another holder would have made it). Prints the count of rounds.
 * With "try" as the fourth argument each round first tries the lock without
 * waiting, as an import does.
 */
import { FileLock } from "../../lib/store/path_lock.ts";

const [lockPath, marker, rounds] = [Deno.args[0]!, Deno.args[1]!, Number(Deno.args[2])];
const tryFirst = Deno.args[3] === "try";
for (let i = 0; i < rounds; i++) {
  const lock = (tryFirst ? FileLock.tryAcquire(lockPath) : undefined) ??
    await FileLock.acquire(lockPath);
  try {
    Deno.writeTextFileSync(marker, String(Deno.pid), { createNew: true });
  } catch (e) {
    console.error(`two holders at once (round ${i}): ${e}`);
    Deno.exit(1);
  }
  Deno.removeSync(marker);
  lock.release(true);
}
console.log(rounds);
