import assert from "node:assert/strict";

const HELPERS = new URL("./_helpers/nix.ts", import.meta.url).href;

/** A Deno process running `code` (with tempDir imported). */
function child(code: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", `import { tempDir } from ${JSON.stringify(HELPERS)};\n${code}`],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

Deno.test("tempDir(): a directory whose test process was killed is removed by the next one; a live one's stays", async () => {
  // Two holders: one is killed with its directory in use, the other lives on.
  const hold =
    `const t = tempDir(); console.log(t.path); await new Promise(() => setInterval(() => {}, 1000));`;
  const killed = child(hold);
  const alive = child(hold);
  const firstLine = async (c: Deno.ChildProcess) => {
    const reader = c.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    reader.releaseLock();
    return text.trim();
  };
  const killedPath = await firstLine(killed);
  const alivePath = await firstLine(alive);
  try {
    killed.kill("SIGKILL");
    await killed.status;
    assert.ok(Deno.statSync(killedPath).isDirectory, "left behind by the killed process");
    // The next process that loads the helpers reclaims it.
    const next = await child("void tempDir;").output();
    assert.ok(next.success);
    assert.throws(() => Deno.statSync(killedPath), Deno.errors.NotFound);
    assert.throws(() => Deno.statSync(`${killedPath}.owner`), Deno.errors.NotFound);
    assert.ok(Deno.statSync(alivePath).isDirectory, "a live process's directory stays");
  } finally {
    alive.kill("SIGKILL");
    await alive.status;
    await killed.stdout.cancel().catch(() => {});
    await alive.stdout.cancel().catch(() => {});
    await child("void tempDir;").output(); // and the second one is reclaimed too
  }
  assert.throws(() => Deno.statSync(alivePath), Deno.errors.NotFound);
});
