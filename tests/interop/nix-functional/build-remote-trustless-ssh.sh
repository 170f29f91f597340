# The ssh:// case of the build-remote-trustless tests Nix added after 2.8
# (upstream: tests/build-remote-trustless-should-pass-0.sh, which sources
# build-remote-trustless.sh and, later, build-remote-trustless-after.sh),
# written for Nix 2.8's test harness: 2.8's `canUseSandbox` and exit status 99
# stand for the later `requireSandboxSupport` and `skipTest`; nothing else of
# later Nix is used. scripts/nix-functional-tests.sh copies it beside 2.8's tests.
#
# One builder, reached as ssh://localhost (which Nix runs as a child process,
# no ssh), whose remote-store has the features foo, bar and baz: every
# derivation of build-hook.nix is built there with --max-jobs 0, by the remote
# program `nix-store --serve --write`, and the result comes back.
source common.sh

file=build-hook.nix
prog=nix-store
proto=ssh

if ! canUseSandbox; then exit 99; fi
if ! [[ $busybox =~ busybox ]]; then exit 99; fi

unset NIX_STORE_DIR
unset NIX_STATE_DIR

remoteDir=$TEST_ROOT/remote
chmod -R u+w "$remoteDir" "$TEST_ROOT/local" 2>/dev/null || true
rm -rf "$remoteDir" "$TEST_ROOT/local" "$TEST_ROOT/result"

nix-build "$file" -o "$TEST_ROOT/result" --max-jobs 0 \
  --arg busybox "$busybox" \
  --store "$TEST_ROOT/local" \
  --builders "$proto://localhost?remote-program=$prog&remote-store=${remoteDir}%3Fsystem-features=foo%20bar%20baz - - 1 1 foo,bar,baz"

# The output is in the remote store (built there), and in the local one.
outPath=$(readlink -f "$TEST_ROOT/result")
grep 'FOO BAR BAZ' "${remoteDir}/${outPath}"
grep 'FOO BAR BAZ' "$TEST_ROOT/local/${outPath}"
