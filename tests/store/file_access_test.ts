/**
 * The dump's file calls through libc (FFI) answer as Deno's do: the same
 * types, modes and sizes, the same bytes, the same error classes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  denoFileAccess,
  type FileAccess,
  libcFileAccess,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
} from "../../lib/store/file_access.ts";
import { tempDir } from "../_helpers/nix.ts";

const libc = libcFileAccess();

Deno.test("libc's file calls are used where FFI is permitted", () => {
  assert.ok(libc, "the tests run with -A, so libc should be used");
});

function tree(root: string): Record<string, string> {
  const paths = {
    file: join(root, "file"),
    exec: join(root, "exec"),
    dir: join(root, "dir"),
    link: join(root, "link"),
    fifo: join(root, "fifo"),
    utf8: join(root, "ünï €"),
    missing: join(root, "missing"),
    under: join(root, "file", "under"),
  };
  Deno.writeFileSync(paths.file, new Uint8Array(100_003).map((_, i) => i * 7));
  Deno.writeTextFileSync(paths.exec, "#!");
  Deno.chmodSync(paths.exec, 0o751);
  Deno.mkdirSync(paths.dir);
  Deno.symlinkSync("file", paths.link);
  Deno.writeTextFileSync(paths.utf8, "x");
  assert.ok(new Deno.Command("mkfifo", { args: [paths.fifo] }).outputSync().success);
  return paths;
}

function outcome(fs: FileAccess, f: () => unknown): unknown {
  try {
    return f();
  } catch (e) {
    return { error: (e as Error).constructor.name, fs: fs === denoFileAccess };
  }
}

Deno.test("lstat through libc gives Deno's type, mode and size, and its errors", () => {
  using tmp = tempDir();
  const paths = tree(tmp.path);
  for (const [name, p] of Object.entries(paths)) {
    const a = outcome(libc!, () => libc!.lstat(p));
    const b = outcome(denoFileAccess, () => denoFileAccess.lstat(p));
    if (a && typeof a === "object" && "error" in a) {
      assert.equal(a.error, (b as { error: string }).error, name);
      continue;
    }
    const sa = a as ReturnType<FileAccess["lstat"]>, sb = b as typeof sa;
    assert.equal(sa.format, sb.format, `format of ${name}`);
    assert.equal(sa.mode, sb.mode, `mode of ${name}`);
    if (sa.format !== S_IFDIR) assert.equal(sa.size, sb.size, `size of ${name}`);
  }
  assert.equal(libc!.lstat(paths.file!).format, S_IFREG);
  assert.equal(libc!.lstat(paths.link!).format, S_IFLNK);
  assert.equal(libc!.lstat(paths.exec!).mode, 0o751);
  assert.throws(() => libc!.lstat(paths.missing!), Deno.errors.NotFound);
  assert.throws(() => libc!.lstat(paths.missing!), /No such file or directory \(os error 2\)/);
  assert.throws(() => libc!.lstat(paths.under!), Deno.errors.NotADirectory);
  assert.throws(() => libc!.lstat(`${tmp.path}/${"x".repeat(5000)}`), /os error 36/);
});

Deno.test("reading through libc gives the file's bytes in reads of any size, then 0", () => {
  using tmp = tempDir();
  const paths = tree(tmp.path);
  const want = Deno.readFileSync(paths.file!);
  for (const size of [1, 4096, 65_536, 200_000]) {
    using h = libc!.open(paths.file!);
    const got = new Uint8Array(want.length);
    let at = 0;
    const buf = new Uint8Array(size);
    for (let n; (n = h.read(buf)) > 0; at += n) got.set(buf.subarray(0, n), at);
    assert.equal(at, want.length);
    assert.deepEqual(got, want);
    assert.equal(h.read(buf), 0);
  }
  assert.throws(() => libc!.open(paths.missing!), Deno.errors.NotFound);
  using d = libc!.open(paths.dir!);
  assert.throws(() => d.read(new Uint8Array(10)), /os error 21/);
});

Deno.test("a dump without FFI (Deno's calls) gives the bytes of one through libc", async () => {
  using tmp = tempDir();
  const paths = tree(tmp.path);
  Deno.removeSync(paths.fifo!);
  const dump = new URL("../../lib/store/dump_path.ts", import.meta.url).href;
  const code = `import { dumpPath } from ${JSON.stringify(dump)};
let n = 0, sum = 0;
for await (const c of dumpPath(${
    JSON.stringify(tmp.path)
  })) for (const b of c) { sum = (sum * 31 + b) >>> 0; n++; }
console.log(n, sum);`;
  const run = async (allow: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", ...allow, code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  };
  const withFfi = await run(["-A"]);
  const without = await run(["--allow-read"]);
  assert.match(withFfi, /^\d+ \d+\n$/);
  assert.equal(without, withFfi);
});

Deno.test("a path holding a NUL byte is refused through libc, as by Deno, not cut short", () => {
  using tmp = tempDir();
  const paths = tree(tmp.path);
  const cut = `${paths.file}\0ignored`; // C would read only "…/file", which exists
  assert.throws(() => denoFileAccess.lstat(cut));
  assert.throws(() => libc!.lstat(cut), TypeError);
  assert.throws(() => libc!.open(cut), TypeError);
});
