/**
 * The seccomp filter Nix 2.8 loads into every sandboxed builder, as a
 * classic BPF program that the sandbox's runner installs (`seccomp(2)`).
 *
 * Nix's policy (libseccomp, default action "allow"):
 * - `chmod`, `fchmod` and `fchmodat` fail with `EPERM` when the mode has
 *   `S_ISUID` (04000) or `S_ISGID` (02000) set: no setuid/setgid files.
 * - `setxattr`, `lsetxattr` and `fsetxattr` fail with `ENOTSUP`: no extended
 *   attributes or ACLs (a NAR cannot hold them).
 * - The filter covers the native ABI and the compatible ones Nix adds:
 *   x86_64 with i386 and x32, aarch64 with 32-bit ARM. Any other
 *   architecture value kills the thread (libseccomp's default).
 * - "no new privileges" is set (as Nix sets it unless `allow-new-privileges`).
 *
 * Like Nix 2.8 the filter knows nothing of `fchmodat2` (Linux 6.6), so a
 * builder can still set those bits through it; outputs are canonicalised
 * (setuid/setgid bits cleared) when they are registered.
 *
 * Program layout: check the architecture, then per ABI compare the syscall
 * number; a mode check loads the low 32 bits of the mode argument (the high
 * half is not looked at, as libseccomp's masked compare with a zero high mask
 * does not).
 *
 * @module
 */

/** `SECCOMP_RET_ALLOW`. */
const RET_ALLOW = 0x7fff0000;
/** `SECCOMP_RET_KILL_THREAD`. */
const RET_KILL = 0x00000000;
/** `SECCOMP_RET_ERRNO | errno`. */
const retErrno = (errno: number) => 0x00050000 | errno;
const EPERM = 1;
const ENOTSUP = 95;
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const X32_SYSCALL_BIT = 0x40000000;

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const AUDIT_ARCH_ARM = 0x40000028;

/** Offsets in `struct seccomp_data`. */
const OFF_NR = 0;
const OFF_ARCH = 4;
const offArgLow = (i: number) => 16 + 8 * i;

/** BPF opcodes (`BPF_LD|BPF_W|BPF_ABS` and friends). */
const LD_ABS = 0x20;
const JEQ = 0x15;
const JGE = 0x35;
const AND = 0x54;
const RET = 0x06;

/** The syscall numbers one ABI's rules need (`undefined`: no such call). */
interface AbiSyscalls {
  chmod?: number;
  fchmod: number;
  fchmodat: number;
  setxattr: number;
  lsetxattr: number;
  fsetxattr: number;
}

const X86_64: AbiSyscalls = {
  chmod: 90,
  fchmod: 91,
  fchmodat: 268,
  setxattr: 188,
  lsetxattr: 189,
  fsetxattr: 190,
};
const I386: AbiSyscalls = {
  chmod: 15,
  fchmod: 94,
  fchmodat: 306,
  setxattr: 226,
  lsetxattr: 227,
  fsetxattr: 228,
};
const X32: AbiSyscalls = Object.fromEntries(
  Object.entries(X86_64).map(([k, v]) => [k, v + X32_SYSCALL_BIT]),
) as unknown as AbiSyscalls;
const AARCH64: AbiSyscalls = {
  fchmod: 52,
  fchmodat: 53,
  setxattr: 5,
  lsetxattr: 6,
  fsetxattr: 7,
};
const ARM: AbiSyscalls = {
  chmod: 15,
  fchmod: 94,
  fchmodat: 333,
  setxattr: 226,
  lsetxattr: 227,
  fsetxattr: 228,
};

/** One instruction before jump resolution: jumps name labels. */
type Insn =
  | { op: number; k: number; jt?: string; jf?: string }
  | { label: string };

/** A tiny assembler: instructions with symbolic jump targets. */
class Program {
  readonly insns: Insn[] = [];
  label(name: string): void {
    this.insns.push({ label: name });
  }
  ld(offset: number): void {
    this.insns.push({ op: LD_ABS, k: offset });
  }
  and(k: number): void {
    this.insns.push({ op: AND, k });
  }
  /** If A == k go to `then`, else fall through (or go to `otherwise`). */
  jeq(k: number, then: string, otherwise?: string): void {
    this.insns.push({ op: JEQ, k, jt: then, ...(otherwise ? { jf: otherwise } : {}) });
  }
  jge(k: number, then: string): void {
    this.insns.push({ op: JGE, k, jt: then });
  }
  ret(k: number): void {
    this.insns.push({ op: RET, k });
  }
  assemble(): Uint8Array {
    const labels = new Map<string, number>();
    const real: { op: number; k: number; jt?: string; jf?: string }[] = [];
    for (const insn of this.insns) {
      if ("label" in insn) labels.set(insn.label, real.length);
      else real.push(insn);
    }
    const out = new Uint8Array(real.length * 8);
    const view = new DataView(out.buffer);
    real.forEach((insn, pc) => {
      const rel = (label: string | undefined): number => {
        if (label === undefined) return 0;
        const target = labels.get(label);
        if (target === undefined) throw new Error(`BPF label ${label} is not defined`);
        const offset = target - pc - 1;
        if (offset < 0 || offset > 255) throw new Error(`BPF jump to ${label} out of range`);
        return offset;
      };
      view.setUint16(pc * 8, insn.op, true);
      view.setUint8(pc * 8 + 2, rel(insn.jt));
      view.setUint8(pc * 8 + 3, rel(insn.jf));
      view.setUint32(pc * 8 + 4, insn.k >>> 0, true);
    });
    return out;
  }
}

/** Rules of one ABI, starting at label `name` with A = syscall number. */
function abiRules(p: Program, name: string, abi: AbiSyscalls): void {
  p.label(name);
  if (abi.chmod !== undefined) p.jeq(abi.chmod, `${name}_mode1`);
  p.jeq(abi.fchmod, `${name}_mode1`);
  p.jeq(abi.fchmodat, `${name}_mode2`);
  p.jeq(abi.setxattr, "enotsup");
  p.jeq(abi.lsetxattr, "enotsup");
  p.jeq(abi.fsetxattr, "enotsup");
  p.ret(RET_ALLOW);
  for (const arg of [1, 2]) {
    p.label(`${name}_mode${arg}`);
    for (const bit of [S_ISUID, S_ISGID]) {
      p.ld(offArgLow(arg));
      p.and(bit);
      p.jeq(bit, "eperm");
    }
    p.ret(RET_ALLOW);
  }
}

/** The architectures the filter can be made for (`uname -m`). */
export type SeccompArch = "x86_64" | "aarch64";

/**
 * Nix 2.8's sandbox seccomp filter as a BPF program (`struct sock_filter[]`,
 * host byte order) for `seccomp(SECCOMP_SET_MODE_FILTER)`.
 *
 * @param arch The machine (`uname -m`): the native ABI plus the compatible
 *   ones Nix adds (i386 and x32 on x86_64, ARM on aarch64).
 * @returns The program, 8 bytes per instruction.
 *
 * @example The program is a whole number of instructions
 * ```ts
 * import assert from "node:assert/strict";
 * import { nixSeccompFilter } from "./seccomp_filter.ts";
 * const bpf = nixSeccompFilter("x86_64");
 * assert.equal(bpf.length % 8, 0);
 * ```
 */
export function nixSeccompFilter(arch: SeccompArch): Uint8Array {
  const p = new Program();
  p.ld(OFF_ARCH);
  if (arch === "x86_64") {
    p.jeq(AUDIT_ARCH_X86_64, "native");
    p.jeq(AUDIT_ARCH_I386, "load_i386");
    p.ret(RET_KILL);
    p.label("native");
    p.ld(OFF_NR);
    p.jge(X32_SYSCALL_BIT, "x32");
    abiRules(p, "x86_64", X86_64);
    abiRules(p, "x32", X32);
    p.label("load_i386");
    p.ld(OFF_NR);
    abiRules(p, "i386", I386);
  } else {
    p.jeq(AUDIT_ARCH_AARCH64, "native");
    p.jeq(AUDIT_ARCH_ARM, "load_arm");
    p.ret(RET_KILL);
    p.label("native");
    p.ld(OFF_NR);
    abiRules(p, "aarch64", AARCH64);
    p.label("load_arm");
    p.ld(OFF_NR);
    abiRules(p, "arm", ARM);
  }
  p.label("eperm");
  p.ret(retErrno(EPERM));
  p.label("enotsup");
  p.ret(retErrno(ENOTSUP));
  return p.assemble();
}
