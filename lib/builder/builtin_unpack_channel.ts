/**
 * `builtin:unpack-channel`: what `nix-channel --update` builds
 * (`<nix/unpack-channel.nix>`), as Nix 2.8's `builtins/unpack-channel.cc`:
 * - the attributes `out`, `channelName` and `src` are required
 *   (`attribute 'X' missing`);
 * - `src`, a tarball in the build's inputs, compressed or not (gzip,
 *   bzip2, xz, zstd, told by its first bytes), is unpacked into a new
 *   directory `$out`;
 * - `$out` must then hold exactly one entry (else `channel tarball 'SRC'
 *   contains more than one file`, also for none), renamed to
 *   `$out/$channelName`.
 *
 * Nix unpacks with libarchive, refusing a member with `..` in its path or
 * one that would be written through a symlink unpacked before it. Here
 * Debian's GNU `tar` (which runs `gzip`, `bzip2`, `xz` or `zstd` itself) first
 * lists the archive, each member is checked, and only an archive that
 * passes is extracted: a member with an absolute path (libarchive would
 * put it under `$out`), with `..`, through a symlink, or that a store path
 * cannot hold (devices, fifos) is refused with the member named, and
 * nothing is extracted. A channel name that is not a single file name
 * (`a/b`, `..`) is refused too (Nix's rename would fail or leave `$out`).
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/** A bad channel tarball or attribute; the message is what the log says. */
export class UnpackChannelError extends BuildhostError {
  override name = "UnpackChannelError";
}

/** What the build sees: the inputs, the output location, the cancel signal. */
export interface UnpackChannelView {
  /** The input closure: logical store path → physical location. */
  inputs: Map<string, string>;
  /** The logical store directory. */
  storeDir: string;
  /** Where `$out` goes (absent yet). */
  outPhysical: string;
  /** Aborting kills `tar`. */
  signal: AbortSignal;
  /** GNU tar (default: `tar` on the `PATH`). */
  tar?: string;
}

/** One member of a `tar --list --verbose` listing. */
export interface TarMember {
  /** `-` file, `d` directory, `l` symlink, `h` hard link, others special. */
  type: string;
  /** The path as stored in the archive. */
  name: string;
  /** The target of a symlink or a hard link. */
  link?: string;
}

/**
 * Unpack a channel tarball as `builtin:unpack-channel` does.
 *
 * @param env The derivation's environment.
 * @param view The inputs, the output location, the cancel signal.
 */
export async function unpackChannel(
  env: Map<string, string>,
  view: UnpackChannelView,
): Promise<void> {
  const attr = (name: string) => {
    const v = env.get(name);
    if (v === undefined) throw new UnpackChannelError(`attribute '${name}' missing`);
    return v;
  };
  attr("out");
  const channelName = attr("channelName");
  const src = attr("src");
  const file = physicalInput(src, view);
  if (file === null) {
    throw new UnpackChannelError(`failed to open archive: Failed to open '${src}'`);
  }
  const tar = view.tar ?? "tar";
  await listTar(tar, file, src, view.signal, memberChecker(src));
  await Deno.mkdir(view.outPhysical);
  await runTar(
    tar,
    ["--extract", "--no-same-owner", `--directory=${view.outPhysical}`],
    file,
    src,
    view.signal,
  );
  const entries = [...Deno.readDirSync(view.outPhysical)];
  if (entries.length !== 1) {
    throw new UnpackChannelError(`channel tarball '${src}' contains more than one file`);
  }
  if (
    channelName === "" || channelName === "." || channelName === ".." || channelName.includes("/")
  ) {
    throw new UnpackChannelError(
      `renaming channel directory: '${channelName}' is not a file name`,
    );
  }
  Deno.renameSync(`${view.outPhysical}/${entries[0]!.name}`, `${view.outPhysical}/${channelName}`);
}

/** The physical location of a logical path in the input closure, or null. */
function physicalInput(logical: string, view: UnpackChannelView): string | null {
  if (!logical.startsWith(`${view.storeDir}/`)) return null;
  const slash = logical.indexOf("/", view.storeDir.length + 1);
  const top = slash < 0 ? logical : logical.slice(0, slash);
  const at = view.inputs.get(top);
  return at === undefined ? null : at + logical.slice(top.length);
}

/**
 * Check every member of a channel tarball before anything is extracted.
 *
 * @param members The members, in archive order.
 * @param src The tarball's store path (for messages).
 * @throws {UnpackChannelError} naming the first bad member.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkMembers } from "./builtin_unpack_channel.ts";
 * checkMembers([{ type: "d", name: "nixexprs/" }, { type: "-", name: "nixexprs/default.nix" }], "s");
 * assert.throws(
 *   () => checkMembers([{ type: "l", name: "a", link: "/etc" }, { type: "-", name: "a/passwd" }], "s"),
 *   /member 'a\/passwd' would be extracted through the symlink 'a'/,
 * );
 * ```
 */
export function checkMembers(members: Iterable<TarMember>, src: string): void {
  const check = memberChecker(src);
  for (const m of members) check(m);
}

/** A check of members one by one, in archive order (what {@linkcode checkMembers} runs). */
function memberChecker(src: string): (m: TarMember) => void {
  const symlinks = new Set<string>();
  const bad = (name: string, why: string) =>
    new UnpackChannelError(`cannot unpack channel tarball '${src}': member '${name}' ${why}`);
  const components = (name: string, path: string) => {
    if (path.startsWith("/")) throw bad(name, "has an absolute path");
    const parts = path.split("/").filter((c) => c !== "" && c !== ".");
    if (parts.includes("..")) throw bad(name, "has '..' in its path");
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      if (symlinks.has(prefix)) {
        throw bad(name, `would be extracted through the symlink '${prefix}'`);
      }
    }
    return parts.join("/");
  };
  return (m) => {
    const path = components(m.name, m.name);
    switch (m.type) {
      case "-":
      case "d":
        break;
      case "l":
        if (path === "") throw bad(m.name, "is a symlink in place of the output");
        symlinks.add(path);
        break;
      case "h":
        components(m.name, m.link ?? "");
        break;
      default:
        throw bad(m.name, `is of type '${m.type}', which a store path cannot hold`);
    }
  };
}

/** Run tar on the archive; its stderr becomes the error. */
async function runTar(
  tar: string,
  args: string[],
  file: string,
  src: string,
  signal: AbortSignal,
  stdout?: (lines: ReadableStream<string>) => Promise<void>,
): Promise<void> {
  const child = new Deno.Command(tar, {
    args: [...args, `--file=${file}`],
    env: { LC_ALL: "C" },
    stdin: "null",
    stdout: stdout ? "piped" : "null",
    stderr: "piped",
    signal,
  }).spawn();
  const errText = new Response(child.stderr).text();
  let consumed: unknown = null;
  if (stdout) {
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter());
    try {
      await stdout(lines);
    } catch (e) {
      consumed = e;
      try {
        child.kill();
      } catch { /* already gone */ }
    }
  }
  const status = await child.status;
  const err = await errText;
  if (consumed !== null) throw consumed;
  if (!status.success) {
    const why = err.trim().split("\n").filter((l) => !l.includes("Exiting with failure")).join(
      "; ",
    );
    throw new UnpackChannelError(`cannot unpack channel tarball '${src}': ${why}`);
  }
}

/** List the archive's members (tar's C-quoted verbose listing, parsed), each to `check`. */
async function listTar(
  tar: string,
  file: string,
  src: string,
  signal: AbortSignal,
  check: (m: TarMember) => void,
): Promise<void> {
  await runTar(
    tar,
    ["--list", "--verbose", "--numeric-owner", "--full-time", "--quoting-style=c"],
    file,
    src,
    signal,
    async (lines) => {
      for await (const line of lines) check(parseListing(line));
    },
  );
}

/**
 * One line of `tar --list --verbose --numeric-owner --full-time
 * --quoting-style=c`: mode, owner, size, date, time, then the quoted name
 * and, for links, ` -> "target"` or ` link to "target"`.
 *
 * @param line The line.
 * @returns The member.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseListing } from "./builtin_unpack_channel.ts";
 * assert.deepEqual(
 *   parseListing(`lrwxrwxrwx 0/0 0 2020-01-01 00:00:00 "a \\"b\\"" -> "/etc"`),
 *   { type: "l", name: `a "b"`, link: "/etc" },
 * );
 * ```
 */
export function parseListing(line: string): TarMember {
  const m = /^(\S)\S* +\S+ +\S+ +\S+ +\S+ +"/.exec(line);
  if (m === null) throw new UnpackChannelError(`cannot read tar's listing line '${line}'`);
  const [name, end] = cString(line, m[0].length - 1);
  const rest = line.slice(end);
  if (rest === "") return { type: m[1]!, name };
  const link = /^ (->|link to) "/.exec(rest);
  if (link === null) throw new UnpackChannelError(`cannot read tar's listing line '${line}'`);
  const [target, targetEnd] = cString(line, end + link[0].length - 1);
  if (targetEnd !== line.length) {
    throw new UnpackChannelError(`cannot read tar's listing line '${line}'`);
  }
  return { type: m[1]!, name, link: target };
}

const ESCAPES: Record<string, number> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  "\\": 92,
  '"': 34,
  "?": 63,
};

/** A C-quoted string at `start` (its opening quote): its text and where it ends. */
function cString(line: string, start: number): [string, number] {
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let i = start + 1; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') {
      try {
        return [new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes)), i + 1];
      } catch {
        throw new UnpackChannelError(`cannot unpack a member whose name is not UTF-8: '${line}'`);
      }
    }
    if (c !== "\\") {
      bytes.push(...encoder.encode(c));
      continue;
    }
    const e = line[++i] ?? "";
    const octal = /^[0-7]{1,3}/.exec(line.slice(i, i + 3));
    if (octal !== null) {
      bytes.push(Number.parseInt(octal[0], 8));
      i += octal[0].length - 1;
    } else if (ESCAPES[e] !== undefined) bytes.push(ESCAPES[e]);
    else break;
  }
  throw new UnpackChannelError(`cannot read tar's listing line '${line}'`);
}

/** Text chunks into lines (without their `\n`). */
function lineSplitter(): TransformStream<string, string> {
  let pending = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (pending + chunk).split("\n");
      pending = parts.pop()!;
      for (const p of parts) controller.enqueue(p);
    },
    flush(controller) {
      if (pending !== "") controller.enqueue(pending);
    },
  });
}
