/**
 * A process that begins a build in a build record, says so on stdout, and
 * waits to be killed: `_record_child.ts STATE_DIR DRV_PATH`.
 */
import { BuildRecord } from "../../lib/store/build_record.ts";

const [stateDir, drvPath] = Deno.args;
const record = BuildRecord.of(stateDir!);
const session = record.openSession("serve");
session.received(100);
session.sent(7);
const build = record.begin(drvPath!, ["/nix/store/00000000000000000000000000000000-x"]);
build.log(new TextEncoder().encode("half a build\n"));
// the counts and the tail reach their files (rewritten at most every 500 ms)
await new Promise((r) => setTimeout(r, 1200));
await Deno.stdout.write(new TextEncoder().encode("begun\n"));
await new Promise(() => {}); // until killed
