import assert from "node:assert/strict";
import { narEntries } from "../../lib/nar/nar_reader.ts";
import { narListing } from "../../lib/nar/nar_listing.ts";
Deno.test("narListing() keeps an entry named __proto__ as an own property", async () => {
  const { writeNar } = await import("../../lib/nar/nar_writer.ts");
  const listing = await narListing(narEntries(writeNar({
    type: "directory",
    entries: () => [["__proto__", { type: "symlink", target: "x" }]],
  })));
  assert.equal(listing.type, "directory");
  if (listing.type === "directory") {
    assert.deepEqual(Object.keys(listing.entries), ["__proto__"]);
    assert.equal(Object.getPrototypeOf(listing.entries), Object.prototype);
  }
});
