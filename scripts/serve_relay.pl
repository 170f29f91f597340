# The serve relay: the installed launcher runs it for `buildhost --serve
# [--write] [--store /ROOT]` when that store's `buildhost daemon` is running,
# so that the session is served by the daemon, already warm, instead of a
# Deno of its own. The serve protocol's messages (build logs, errors) go to
# the host program's stderr, which a socket does not carry; so the daemon
# frames what it sends, and this takes the frames apart again (see
# lib/cli/serve_relay_frames.ts):
#   to the daemon:   "bhserve1", u64 flags (1: --write), then stdin as it comes
#   from the daemon: frames of u8 channel, u32 length (little-endian), bytes;
#                    channel 1 to stdout, 2 to stderr, 0 ends with the exit code
# Perl because it is on every Debian machine (perl-base is essential) and
# starts in milliseconds; it uses only perl-base's own modules.
#
# usage: perl serve_relay.pl SOCKET WRITE(0|1)
# Exits 75 without reading anything when no daemon accepts the connection:
# the launcher then serves the session itself.
use strict;
use Socket qw(PF_UNIX SOCK_STREAM pack_sockaddr_un);

my ($path, $write) = @ARGV;
socket(my $sock, PF_UNIX, SOCK_STREAM, 0) or exit 75;
connect($sock, pack_sockaddr_un($path)) or exit 75;

# Write all of a buffer; false once the other side is gone.
sub put {
  my ($fh, $data) = @_;
  my $off = 0;
  while ($off < length $data) {
    my $n = syswrite($fh, $data, length($data) - $off, $off);
    return 0 unless defined $n;
    $off += $n;
  }
  return 1;
}

my $pid = fork();
exit 75 unless defined $pid;
if ($pid == 0) {
  # stdin to the daemon, after the header; then half-close, as the client did
  put($sock, 'bhserve1' . pack('VV', $write ? 1 : 0, 0)) or exit 0;
  my $buf;
  while (sysread(STDIN, $buf, 65536)) { put($sock, $buf) or last; }
  shutdown($sock, 1);
  exit 0;
}
close STDIN;
# Frames are read in large pieces and taken apart here: one read for many
# small frames (a session of small requests and replies), few for a large
# one (the daemon cuts its output into frames of at most 64 KiB).
my $code = 1;    # the daemon went away without an exit code
my $buf = '';
FRAMES: while (1) {
  while (length $buf >= 5) {
    my ($channel, $len) = unpack('CV', $buf);
    last if length $buf < 5 + $len;
    my $data = substr($buf, 5, $len);
    substr($buf, 0, 5 + $len) = '';
    if ($channel == 0) { $code = ord $data; last FRAMES; }
    put($channel == 2 ? \*STDERR : \*STDOUT, $data) or last FRAMES;
  }
  sysread($sock, $buf, 262144, length $buf) or last;
}
kill 'TERM', $pid;
waitpid($pid, 0);
exit $code;
