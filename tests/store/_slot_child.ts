/**
 * A process holding a build slot: `_slot_child.ts DIR COUNT` takes a slot
 * of DIR, prints its index, and holds it until its stdin closes.
 */
import { BuildSlots } from "../../lib/store/build_slots.ts";

const [dir, count] = Deno.args;
const slot = await new BuildSlots(dir!, Number(count)).acquire();
await Deno.stdout.write(new TextEncoder().encode(`held ${slot.index}\n`));
for await (const _ of Deno.stdin.readable) { /* until the parent closes it */ }
slot.release();
