import assert from "node:assert/strict";
import { PIPE_BUFFER } from "../../lib/cli/pipe_buffer.ts";

const MODULE = new URL("../../lib/cli/pipe_buffer.ts", import.meta.url).href;
const child = (fd: number) =>
  `import { enlargePipeBuffer } from "${MODULE}";
console.error(JSON.stringify(enlargePipeBuffer(${fd}) ?? null));`;

/** What enlargePipeBuffer(fd) gives in a process whose stdin and stdout are `stdio`. */
async function inChild(fd: number, stdio: "piped" | "null"): Promise<number | null> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["eval", child(fd)],
    stdin: stdio,
    stdout: stdio,
    stderr: "piped",
  }).spawn();
  if (stdio === "piped") await process.stdin.close();
  const out = await process.output();
  assert.equal(out.code, 0);
  return JSON.parse(new TextDecoder().decode(out.stderr));
}

Deno.test("enlargePipeBuffer: stdout or stdin a pipe gets a 1 MiB buffer; anything else is left alone", async () => {
  for (const fd of [0, 1]) {
    assert.equal(await inChild(fd, "piped"), PIPE_BUFFER, `fd ${fd}`);
    assert.equal(await inChild(fd, "null"), null, `fd ${fd}`);
  }
});

Deno.test("nar dump gives the same bytes into a pipe (its buffer enlarged) as into a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/tree`);
    await Deno.writeFile(`${dir}/tree/big`, new Uint8Array(3 << 20).map((_, i) => i * 7));
    await Deno.writeTextFile(`${dir}/tree/small`, "x");
    const main = new URL("../../main.ts", import.meta.url).pathname;
    const piped = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "nar", "dump", `${dir}/tree`],
      stdout: "piped",
    }).output();
    assert.equal(piped.code, 0);
    const toFile = await new Deno.Command("sh", {
      args: ["-c", `"$0" run -A "$1" nar dump "$2/tree" > "$2/nar"`, Deno.execPath(), main, dir],
    }).output();
    assert.equal(toFile.code, 0);
    assert.ok(piped.stdout.length > 3 << 20);
    assert.deepEqual(piped.stdout, await Deno.readFile(`${dir}/nar`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
