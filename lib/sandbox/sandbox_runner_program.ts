/**
 * The program that makes the sandbox and starts the builder in it: one Perl
 * process (perl-base, which every Debian system has; no module is loaded,
 * every kernel call is a raw `syscall`), where a chain of a dozen execs of
 * bubblewrap, shells and util-linux tools cost most of a trivial build's
 * time. Three processes, as Nix's sandbox has its parent and child:
 *
 * - **runner** (the process Deno spawns, on the host, maybe ahead of the
 *   build: see `runner_spares.ts`): reads its settings and the seccomp
 *   program from stdin (at its end without them, it exits having done
 *   nothing), arms its parent-death signal, sets the personality and the
 *   core limit, and clones the **init**
 *   into new user, mount, pid, ipc, uts and (unless the build has network)
 *   network namespaces. It writes the init's uid and gid maps from outside
 *   (uid 1000 and gid 100 inside are its own ids outside, as Nix maps
 *   them), says the init's pid, lets it go, waits for it and says how the
 *   builder ended.
 * - **init** (pid 1 of the outer pid namespace; parent-death signal armed,
 *   so the runner's death empties the namespace): sets the host and domain
 *   names, brings up `lo`, clones the **builder** into a pid namespace of its
 *   own and passes its wait status to the runner.
 * - **builder** (pid 1 of the inner pid namespace, as in Nix): says its
 *   host pid, opens the log pty, makes the mounts in the plan's order
 *   (the `proc` is its own pid namespace's), `pivot_root`s into the
 *   sandbox root and drops the old one, says `ready`, and execs the builder
 *   with its standard descriptors on `/dev/null` and the pty, in a new
 *   session, umask 022, signals as a fork would have them, no new
 *   privileges and the seccomp filter, the environment in the order given.
 *
 * What it says on stderr, a line each starting `buildhost-sandbox: `
 * (what {@linkcode superviseSandbox} follows): `init N` (the init's host
 * pid), `pid N` (the builder's), `ready`, `failed: …`, and at the end
 * `exit N` or `signal N`.
 *
 * Its stdin: the seccomp program's length in bytes and a newline, the
 * program, then NUL-terminated words: `ARCH PERSONA IGNORED NETWORK ROOT
 * PARKING PTY` (IGNORED: the signals to ignore, as 16 hex digits of
 * `/proc/PID/status`'s `SigIgn`), the mounts (`self TARGET SHARED
 * REMOUNT-FLAGS`, `bind SOURCE TARGET REMOUNT-FLAGS`, `proc TARGET`,
 * `tmpfs TARGET DATA`, `devpts TARGET DATA`; targets are physical paths,
 * remount flags a number, 0 for none), `end`, then the environment's count
 * and `NAME=VALUE` words, the builder's path, its `argv[0]` and its
 * arguments.
 *
 * @module
 */

/**
 * The Perl program, run as `perl -e PROGRAM buildhost-sandbox PARENT-PID`;
 * once it has its settings it names itself `buildhost-sandbox PARENT-PID
 * ROOT` (ROOT, the sandbox root, names the build in `ps`).
 */
export const SANDBOX_RUNNER_PROGRAM = String.raw`
my (undef, $ppid) = @ARGV;
my $pre = "buildhost-sandbox: ";
sub say_err { syswrite(STDERR, $pre . $_[0] . "\n"); }
# Processes end with exit_group(2) itself: perl's exit would first tear its
# interpreter down, which costs milliseconds a build waits for.
sub quit { syscall($::SYS{exit_group}, $_[0]) if %::SYS; exit($_[0]); }
sub fail { say_err("failed: $_[0]"); quit(125); }

binmode(STDIN);
my $text = do { local $/; <STDIN> };
# fd 0 stays taken (by /dev/null), or the builder's process would open the
# pty on it and then put /dev/null over it.
open(STDIN, "<", "/dev/null") or fail("open /dev/null: $!");
fail("no settings on stdin") unless defined($text) && $text =~ /^(\d+)\n/;
my $filter = substr($text, length($1) + 1, $1);
my @w = split(/\0/, substr($text, length($1) + 1 + $1), -1);
pop(@w);
my ($arch, $persona, $ignored, $network, $root, $parking, $ptyslave) = splice(@w, 0, 7);
# Named for the build in ps now that it has one (it may have been started ahead).
$0 = "buildhost-sandbox $ppid $root";
%::SYS = $arch eq "aarch64"
  ? (mount => 40, umount2 => 39, pivot_root => 41, sethostname => 161, setdomainname => 162,
     clone => 220, personality => 92, prctl => 167, setrlimit => 164, rt_sigaction => 134,
     rt_sigprocmask => 135, seccomp => 277, execve => 221, setsid => 157, dup3 => 24,
     exit_group => 94, close => 57)
  : (mount => 165, umount2 => 166, pivot_root => 155, sethostname => 170, setdomainname => 171,
     clone => 56, personality => 135, prctl => 157, setrlimit => 160, rt_sigaction => 13,
     rt_sigprocmask => 14, seccomp => 317, execve => 59, setsid => 112, dup3 => 292,
     exit_group => 231, close => 3);
my %S = %::SYS;
my @mounts;
while (@w) {
  my $k = shift(@w);
  last if $k eq "end";
  my $n = { self => 3, bind => 3, proc => 1, tmpfs => 2, devpts => 2 }->{$k};
  fail("bad mount kind $k") unless defined $n;
  push(@mounts, [$k, splice(@w, 0, $n)]);
}
my $nenv = shift(@w);
my @env = splice(@w, 0, $nenv);
my ($builder, @argv) = @w; # @argv: argv[0], then the arguments

# PR_SET_PDEATHSIG = 1: the runner dies with its caller.
syscall($S{prctl}, 1, 9, 0, 0, 0) == 0 or fail("prctl: $!");
quit(125) if getppid() != $ppid;
syscall($S{personality}, $persona + 0) >= 0 or fail("personality: $!");
# Core files: none by default, but the builder may raise its soft limit.
# (syscall's string arguments must be variables: it may write to them.)
my ($core, $core0) = (pack("QQ", 0, ~0), pack("QQ", 0, 0));
syscall($S{setrlimit}, 4, $core) == 0 or syscall($S{setrlimit}, 4, $core0);

pipe(my $go_r, my $go_w) or fail("pipe: $!");
pipe(my $st_r, my $st_w) or fail("pipe: $!");
my $flags = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 17;
$flags |= 0x40000000 unless $network;
my $init = syscall($S{clone}, $flags, 0, 0, 0, 0);
fail("clone: $!") if $init < 0;

if ($init > 0) {
  # The runner.
  close($go_r);
  close($st_w);
  my $map = sub {
    my ($file, $line) = @_;
    open(my $f, ">", "/proc/$init/$file") or return 0;
    my $ok = syswrite($f, $line);
    close($f) && defined($ok);
  };
  unless ($map->("setgroups", "deny") && $map->("uid_map", "1000 $< 1\n")
      && $map->("gid_map", "100 " . (split(" ", $())[0] . " 1\n")) {
    my $why = "$!";
    kill(9, $init);
    waitpid($init, 0);
    fail("write the user namespace's maps: $why");
  }
  say_err("init $init");
  syswrite($go_w, "go\n");
  my $ws = "";
  1 while sysread($st_r, $ws, 64, length($ws));
  waitpid($init, 0);
  say_err(($1 & 127) ? "signal " . ($1 & 127) : "exit " . ($1 >> 8)) if $ws =~ /^(\d+)$/;
  quit(0);
}

# The init (pid 1 of the outer pid namespace).
close($go_w);
close($st_r);
syscall($S{prctl}, 1, 9, 0, 0, 0);
my $go = "";
sysread($go_r, $go, 3);
quit(125) unless $go eq "go\n";
my $rin = "";
vec($rin, fileno($go_r), 1) = 1;
quit(125) if select(my $rout = $rin, undef, undef, 0) != 0; # the runner is gone
close($go_r);
my ($host, $domain) = ("localhost", "(none)");
syscall($S{sethostname}, $host, 9) == 0 or fail("sethostname: $!");
syscall($S{setdomainname}, $domain, 6) == 0 or fail("setdomainname: $!");
unless ($network) {
  # lo up (IFF_UP | IFF_LOOPBACK | IFF_RUNNING), as Nix does.
  socket(my $s, 2, 2, 0) or fail("socket: $!");
  my $ifreq = pack("a16 s x22", "lo", 0x1 | 0x8 | 0x40);
  ioctl($s, 0x8914, $ifreq) or fail("bring up lo: $!");
  close($s);
}
my $child = syscall($S{clone}, 0x20000000 | 17, 0, 0, 0, 0);
fail("clone: $!") if $child < 0;
if ($child > 0) {
  close(STDERR);
  waitpid($child, 0);
  syswrite($st_w, $? . "");
  quit(0);
}

# The builder's process (pid 1 of the inner pid namespace).
close($st_w);
open(my $stat, "<", "/proc/self/stat") or fail("read /proc/self/stat: $!");
my ($hp) = split(/ /, scalar(<$stat>));
close($stat);
sysopen(my $pty, $ptyslave, 2 | 0x100) or fail("open the log pty: $!");
say_err("pid $hp");
my $mount = sub {
  my ($src, $tgt, $type, $fl, $data) = @_;
  syscall($S{mount}, $src, $tgt, $type // 0, $fl, $data // 0) == 0
    or fail("mount $tgt: $!");
};
# MS_REC | MS_PRIVATE on /.
$mount->("none", "/", undef, 0x4000 | 0x40000);
for my $m (@mounts) {
  my ($k, @a) = @$m;
  if ($k eq "self") {
    $mount->($a[0], $a[0], undef, 0x1000);
    $mount->("none", $a[0], undef, 0x100000) if $a[1];
    $mount->("none", $a[0], undef, $a[2] + 0) if $a[2];
  } elsif ($k eq "bind") {
    $mount->($a[0], $a[1], undef, 0x1000 | 0x4000);
    $mount->("none", $a[1], undef, $a[2] + 0) if $a[2];
  } elsif ($k eq "proc") {
    $mount->("none", $a[0], "proc", 0);
  } elsif ($k eq "tmpfs") {
    $mount->("none", $a[0], "tmpfs", 0, $a[1]);
  } else {
    $mount->("none", $a[0], "devpts", 0, $a[1]);
    chmod(0666, "$a[0]/ptmx") or fail("chmod $a[0]/ptmx: $!");
  }
}
chdir($root) or fail("enter $root: $!");
my ($here, $old) = (".", substr($parking, 1));
syscall($S{pivot_root}, $here, $old) == 0 or fail("pivot_root: $!");
chdir("/") or fail("chdir /: $!");
syscall($S{umount2}, $parking, 2) == 0 or fail("unmount $parking: $!");
chdir("/build") or fail("enter /build: $!");
sysopen(my $null, "/dev/null", 2) or fail("open /dev/null: $!");
say_err("ready");
for my $fd ([fileno($null), 0], [fileno($pty), 1], [fileno($pty), 2]) {
  syscall($S{dup3}, $fd->[0], $fd->[1], 0) >= 0 or quit(125);
}
opendir(my $fds, "/proc/self/fd");
my @open = grep { /^\d+$/ && $_ > 2 } readdir($fds);
closedir($fds);
syscall($S{close}, $_ + 0) for @open;
syscall($S{setsid});
umask(022);
# Signal dispositions as a fork of the caller would pass them on: ignored
# where the caller ignores them, otherwise the default (posix_spawn leaves
# glibc's 32 and 33 ignored, and perl ignores SIGFPE).
my ($dfl, $ign) = (pack("Q4", 0, 0, 0, 0), pack("Q4", 1, 0, 0, 0));
for my $sig (1 .. 64) {
  next if $sig == 9 || $sig == 19;
  my $bit = substr($ignored, 16 - 1 - int(($sig - 1) / 4), 1);
  syscall($S{rt_sigaction}, $sig, (hex($bit) >> (($sig - 1) % 4)) & 1 ? $ign : $dfl, 0, 8);
}
my $none = pack("Q", 0);
syscall($S{rt_sigprocmask}, 2, $none, 0, 8);
# PR_SET_NO_NEW_PRIVS, then the filter (SECCOMP_SET_MODE_FILTER).
syscall($S{prctl}, 38, 1, 0, 0, 0);
my $prog = pack("S x6 P", length($filter) / 8, $filter);
if (syscall($S{seccomp}, 1, 0, $prog) != 0) {
  syswrite(STDERR, "while setting up the build environment: seccomp: $!\n");
  quit(125);
}
my $argvp = pack("p" x @argv . "Q", @argv, 0);
my $envp = pack("p" x @env . "Q", @env, 0);
syscall($S{execve}, $builder, $argvp, $envp);
syswrite(STDERR, "executing '$builder': $!\n");
quit(1);
`;
