import assert from "node:assert/strict";
import { join } from "node:path";
import { narNodeFromPath } from "../../lib/store/dump_path.ts";
import { writeNar } from "../../lib/nar/nar_writer.ts";
import { tempDir } from "../_helpers/nix.ts";
import { collect } from "../nar/_trees.ts";

Deno.test("dumpPath() reads exactly the size lstat gave, and fails if the file shrinks", async () => {
  using tmp = tempDir();
  const p = join(tmp.path, "f");
  Deno.writeTextFileSync(p, "0123456789");
  const node = await narNodeFromPath(p);
  Deno.writeTextFileSync(p, "01234");
  await assert.rejects(collect(writeNar(node)), /f" shrank from 10 to 5 bytes while it was read/);
  const grown = await narNodeFromPath(p);
  Deno.writeTextFileSync(p, "0123456789");
  const nar = await collect(writeNar(grown)); // cut at the size, as Nix does
  assert.equal(grown.type === "regular" && grown.size, 5);
  assert.ok(new TextDecoder().decode(nar).includes("01234\0\0\0"));
});
