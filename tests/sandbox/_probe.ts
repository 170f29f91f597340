/**
 * A busybox `sh` script that writes the builder's view of its sandbox into
 * `$out` (or, given an argument, into that file), and normalisation of what
 * legitimately differs from run to run even under Nix alone.
 *
 * @module
 */

/** The probe; each section starts with `== name`. */
export const PROBE_SH = String.raw`
OUT="$out"
[ $# -gt 0 ] && OUT=$1
exec 3>"$OUT"
s() { echo "== $*" >&3; "$@" >&3 2>&1; echo "rc=$?" >&3; }
lst() {
  echo "== list $1" >&3
  ( cd "$1" && for f in .* *; do
      [ -e "$f" ] || [ -L "$f" ] || continue
      if [ "$1" = / ] && [ "$f" = proc ]; then stat -c '%A %U %G %n' "$f"
      else stat -c '%A %h %U %G %s %t,%T %N' "$f"; fi
    done ) >&3 2>&1
}
echo probe-start
s id
s hostname
s cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname
s pwd
s stat -c '%a %A %U %G %n' /build /build/.. /
s umask
echo "== environ of pid 1" >&3; tr '\0' '\n' </proc/1/environ >&3
echo "== cmdline of pid 1" >&3; tr '\0' ' ' </proc/1/cmdline >&3; echo >&3
s env
for d in / /build /tmp /dev /dev/pts /dev/shm /etc /nix /nix/store; do lst $d; done
for f in /etc/*; do s cat "$f"; done
for f in /build/.attr*; do [ -e "$f" ] && s cat "$f"; done
sel='^(Name|Umask|State|PPid|TracerPid|Uid|Gid|FDSize|Groups|NStgid|NSpid|NSpgid|NSsid|Threads|SigPnd|ShdPnd|SigBlk|SigIgn|SigCgt|Cap[A-Za-z]+|NoNewPrivs|Seccomp|Seccomp_filters|Cpus_allowed_list|Mems_allowed_list):'
s grep -E "$sel" /proc/self/status
s grep -E "$sel" /proc/1/status
echo "== mountinfo" >&3; cat /proc/self/mountinfo >&3; echo "== end mountinfo" >&3
s cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups
s cat /proc/self/limits
s cat /proc/self/cgroup
s cat /proc/self/personality
s cat /proc/self/oom_score_adj /proc/self/loginuid
s cat /proc/sys/kernel/ns_last_pid
s ip addr
s ip route
s cat /proc/net/dev
s ps
s stat -c '%A %N' /proc/1/fd/0 /proc/1/fd/1 /proc/1/fd/2 /proc/1/fd/3 /proc/1/fd/10
s ls /proc/1/fd/
s tty
echo "== stty of stdout" >&3; stty -a <&1 >&3 2>&1; echo "rc=$?" >&3
echo "== readlink stdout" >&3; readlink /proc/1/fd/1 >&3
s uname -a
s nproc
s sh -c 'ulimit -a'
s readlink /proc/self/exe
s touch /tmp/f /nix/store/new /etc/new /dev/shm/x
s chmod 4755 /tmp/f
s chmod 2755 /tmp/f
s chmod 1755 /tmp/f
s stat -c '%a' /tmp/f
s hostname foo
s ls /dev/shm
s sh -c 'sleep 0 & wait; echo $!'
echo probe-end >&2
`;

/**
 * Replace what varies between runs of the same build under Nix itself:
 * mount ids and parent ids, peer group numbers and anonymous device
 * numbers in the mount table (numbered by first appearance), pty
 * numbers, and the traffic counters of the host's interfaces.
 *
 * @param text A probe's output.
 * @returns The text with those numbers renamed.
 */
export function normalise(text: string): string {
  const lines = text.split("\n");
  const ids = new Map<string, string>();
  const peers = new Map<string, string>();
  const devs = new Map<string, string>();
  const name = (m: Map<string, string>, k: string, prefix: string) => {
    if (!m.has(k)) m.set(k, `${prefix}${m.size}`);
    return m.get(k)!;
  };
  let inMounts = false;
  const out: string[] = [];
  for (const line of lines) {
    if (line === "== mountinfo") inMounts = true;
    else if (line === "== end mountinfo") inMounts = false;
    else if (inMounts) {
      const f = line.split(" ");
      f[0] = name(ids, f[0]!, "M");
      f[1] = ids.get(f[1]!) ?? "PARENT";
      if (f[2]!.startsWith("0:")) f[2] = name(devs, f[2]!, "0:D");
      out.push(
        f.join(" ").replace(/\b(shared|master):(\d+)/g, (_, k, n) => `${k}:${name(peers, n, "P")}`),
      );
      continue;
    }
    // A build with network sees the host's interfaces (its `lo` included),
    // whose traffic counters move between two runs; a sandbox's own `lo`
    // has none (all zero, kept).
    const counters = /^(\s*[^\s:]+:)((?:\s+\d+)+)$/.exec(line);
    if (counters && /[1-9]/.test(counters[2]!)) {
      out.push(counters[1] + counters[2]!.replace(/\d+/g, "N"));
      continue;
    }
    // pid 1 (the probe's shell, waiting on grep) is sleeping, or running if the scheduler has
    // just woken it: which one is up to the machine's load, for Nix as for buildhost.
    if (/^State:\t[RS] \((running|sleeping)\)$/.test(line)) {
      out.push("State:\tR or S");
      continue;
    }
    out.push(line.replace(/\/dev\/pts\/\d+/g, "/dev/pts/N"));
  }
  return out.join("\n");
}
