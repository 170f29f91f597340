/**
 * The seccomp program, run by a small classic-BPF interpreter on made-up
 * `seccomp_data`, against Nix 2.8's policy written out plainly.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { nixSeccompFilter } from "../../lib/sandbox/seccomp_filter.ts";

const ALLOW = 0x7fff0000;
const KILL = 0;
const EPERM = 0x00050001;
const ENOTSUP = 0x0005005f;

const ARCH = { x86_64: 0xc000003e, i386: 0x40000003, aarch64: 0xc00000b7, arm: 0x40000028 };

/** Run a classic BPF program (the subset the filter uses) on seccomp_data. */
function run(prog: Uint8Array, nr: number, arch: number, args: bigint[]): number {
  const data = new DataView(new ArrayBuffer(64));
  data.setUint32(0, nr >>> 0, true);
  data.setUint32(4, arch >>> 0, true);
  args.forEach((a, i) => data.setBigUint64(16 + 8 * i, BigInt.asUintN(64, a), true));
  const p = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  let a = 0;
  for (let pc = 0, steps = 0; steps < 1000; steps++) {
    const op = p.getUint16(pc * 8, true);
    const jt = p.getUint8(pc * 8 + 2);
    const jf = p.getUint8(pc * 8 + 3);
    const k = p.getUint32(pc * 8 + 4, true);
    switch (op) {
      case 0x20:
        a = data.getUint32(k, true);
        pc++;
        break;
      case 0x54:
        a = (a & k) >>> 0;
        pc++;
        break;
      case 0x15:
        pc += 1 + (a === k ? jt : jf);
        break;
      case 0x35:
        pc += 1 + (a >= k ? jt : jf);
        break;
      case 0x06:
        return k;
      default:
        throw new Error(`unknown BPF opcode ${op.toString(16)}`);
    }
  }
  throw new Error("BPF program did not return");
}

/** Nix 2.8's policy per ABI: chmod-like calls and which argument is the mode. */
const POLICY: Record<
  string,
  { arch: number; nrBase: number; mode: Record<number, number>; xattr: number[] }
> = {
  x86_64: { arch: ARCH.x86_64, nrBase: 0, mode: { 90: 1, 91: 1, 268: 2 }, xattr: [188, 189, 190] },
  x32: {
    arch: ARCH.x86_64,
    nrBase: 0x40000000,
    mode: { 90: 1, 91: 1, 268: 2 },
    xattr: [188, 189, 190],
  },
  i386: { arch: ARCH.i386, nrBase: 0, mode: { 15: 1, 94: 1, 306: 2 }, xattr: [226, 227, 228] },
  aarch64: { arch: ARCH.aarch64, nrBase: 0, mode: { 52: 1, 53: 2 }, xattr: [5, 6, 7] },
  arm: { arch: ARCH.arm, nrBase: 0, mode: { 15: 1, 94: 1, 333: 2 }, xattr: [226, 227, 228] },
};

function expected(abi: string, nr: number, args: bigint[]): number {
  const p = POLICY[abi]!;
  const modeArg = p.mode[nr];
  if (modeArg !== undefined) {
    const mode = Number(args[modeArg]! & 0xffffffffn);
    return (mode & 0o6000) !== 0 ? EPERM : ALLOW;
  }
  return p.xattr.includes(nr) ? ENOTSUP : ALLOW;
}

Deno.test("nixSeccompFilter() refuses setuid/setgid modes and xattrs, on every ABI", () => {
  const cases: [string, "x86_64" | "aarch64"][] = [
    ["x86_64", "x86_64"],
    ["x32", "x86_64"],
    ["i386", "x86_64"],
    ["aarch64", "aarch64"],
    ["arm", "aarch64"],
  ];
  for (const [abi, machine] of cases) {
    const prog = nixSeccompFilter(machine);
    const p = POLICY[abi]!;
    const interesting = [...Object.keys(p.mode).map(Number), ...p.xattr, 0, 1, 59, 221, 400];
    fc.assert(
      fc.property(
        fc.constantFrom(...interesting),
        fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { minLength: 6, maxLength: 6 }),
        fc.constantFrom(0o4755n, 0o2755n, 0o755n, 0o6000n, 0o1777n, 0x1_0000_0000n + 0o755n),
        (nr, args, mode) => {
          const modeArg = p.mode[nr];
          if (modeArg !== undefined) args[modeArg] = mode;
          const got = run(prog, p.nrBase + nr, p.arch, args);
          assert.equal(got, expected(abi, nr, args), `${abi} nr ${nr}`);
        },
      ),
      { numRuns: 150 },
    );
  }
});

Deno.test("nixSeccompFilter() kills foreign architectures and checks only the low mode bits", () => {
  const prog = nixSeccompFilter("x86_64");
  assert.equal(run(prog, 90, ARCH.aarch64, [0n, 0o4755n]), KILL);
  assert.equal(run(prog, 90, ARCH.x86_64, [0n, 0o4755n]), EPERM);
  assert.equal(run(prog, 90, ARCH.x86_64, [0n, 0x1_0000_0000n + 0o755n]), ALLOW);
  assert.equal(run(prog, 90 + 0x40000000, ARCH.x86_64, [0n, 0o2000n]), EPERM);
  assert.equal(run(nixSeccompFilter("aarch64"), 53, ARCH.x86_64, [0n, 0n, 0o4000n]), KILL);
});
