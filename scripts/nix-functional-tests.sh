#!/usr/bin/env bash
# Nix 2.8's own functional tests for remote building and copying, from Debian's
# nix source package, run unchanged against a remote program:
#   build-remote-input-addressed.sh build-remote-content-addressed-fixed.sh
#   nix-copy-ssh.sh ssh-relay.sh
# and build-remote-trustless-ssh.sh, the ssh:// case of the build-remote-trustless
# tests later Nix added (2.8 has none), written for 2.8's harness and kept in
# tests/interop/nix-functional/ (copied beside 2.8's tests).
# usage: scripts/nix-functional-tests.sh [--remote buildhost|nix-store] [TEST.sh...]
# The source is fetched once (`apt-get source nix`, after adding a deb-src line)
# into $BUILDHOST_NIX_SRC_CACHE (default ~/.cache/buildhost/nix-src).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
remote=buildhost
if [ "${1:-}" = "--remote" ]; then remote="$2"; shift 2; fi
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(build-remote-input-addressed.sh build-remote-content-addressed-fixed.sh
  nix-copy-ssh.sh ssh-relay.sh build-remote-trustless-ssh.sh)

cache="${BUILDHOST_NIX_SRC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/buildhost/nix-src}"
# The source package's version: a binary rebuild (2.8.0-1.1+b1) has none of its own.
version="$(dpkg-query -W -f='${source:Version}' nix-bin)"

fetch_source() {
  [ -d "$cache/source/tests" ] && return 0
  echo "nix-functional-tests: fetching Debian's nix source ($version) into $cache" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if ! apt-get source --print-uris nix >/dev/null 2>&1; then
    sed -n 's/^Types: deb$/Types: deb-src/p; /^Types:/!p' /etc/apt/sources.list.d/debian.sources |
      $sudo tee /etc/apt/sources.list.d/buildhost-deb-src.sources >/dev/null
    $sudo apt-get update -qq -o DPkg::Lock::Timeout=600 >&2
  fi
  rm -rf "$cache.tmp" && mkdir -p "$cache.tmp"
  (cd "$cache.tmp" && apt-get source -qq --download-only "nix=$version" >&2)
  (cd "$cache.tmp" && dpkg-source -x ./*.dsc source >&2)
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
}
fetch_source

# A work copy of tests/ with the files configure would make, for the installed Nix.
work="$(mktemp -d "${TMPDIR:-/tmp}/nix-functional-tests.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$cache/source/tests" "$work/tests"
cp "$repo"/tests/interop/nix-functional/*.sh "$work/tests/"
mkdir "$work/bin"
for p in /usr/bin/nix /usr/bin/nix-*; do ln -s "$p" "$work/bin/$(basename "$p")"; done
if [ "$remote" = buildhost ]; then
  # The remote program: `nix-store --serve ...` runs buildhost, any other nix-store call Nix.
  rm "$work/bin/nix-store"
  cat >"$work/bin/nix-store" <<SHIM
#!/bin/sh
for a in "\$@"; do
  if [ "\$a" = --serve ]; then
    echo "\$*" >>"$work/serve-calls"
    exec deno run -A --quiet "$repo/main.ts" "\$@"
  fi
done
exec /usr/bin/nix-store "\$@"
SHIM
  chmod +x "$work/bin/nix-store"
elif [ "$remote" != nix-store ]; then
  echo "usage: $0 [--remote buildhost|nix-store] [TEST.sh...]" >&2
  exit 2
fi
# The tests' `busybox` is a builder called with any argv[0] (Nix names it after its store path),
# as Nix's own sandbox shell is; Debian's busybox-static dispatches on argv[0], so it is wrapped.
busybox="$work/busybox"
printf '#!/bin/busybox sh\nshift\nexec /bin/busybox sh "$@"\n' >"$busybox"
chmod +x "$busybox"
export NIX_CONFIG="extra-sandbox-paths = /bin/busybox"
for f in common.sh config.nix; do
  sed -e "s|@bindir@|$work/bin|g" -e "s|@coreutils@|/usr/bin:/bin|g" -e "s|@bash@|/bin/bash|g" \
    -e "s|@sandbox_shell@|$busybox|g" -e "s|@system@|$(nix eval --extra-experimental-features nix-command --impure --raw --expr builtins.currentSystem)|g" \
    -e "s|@PACKAGE_VERSION@|$(nix-store --version | awk '{print $3}')|g" -e "s|@dot@||g" \
    "$work/tests/$f.in" >"$work/tests/$f"
done

failed=0
for t in "${tests[@]}"; do
  start=$(date +%s)
  (cd "$work/tests" && TMPDIR="$work" TEST_NAME="${t%.sh}" NIX_REMOTE= bash -e init.sh >/dev/null 2>&1) || {
    echo "init.sh failed" >&2
    exit 1
  }
  : >"$work/serve-calls"
  status=0
  log="$(cd "$work/tests" && TMPDIR="$work" TEST_NAME="${t%.sh}" NIX_REMOTE= bash -e "$t" 2>&1 </dev/null)" || status=$?
  took=$(($(date +%s) - start))
  # Each of these tests reaches the remote program: a pass that never ran buildhost proves nothing.
  if [ $status -eq 0 ] && [ "$remote" = buildhost ] && ! [ -s "$work/serve-calls" ]; then
    status=1
    log="the test passed without running buildhost as the remote program"
  fi
  if [ $status -eq 0 ]; then
    echo "$t ($remote): PASS (${took}s$([ "$remote" = buildhost ] && echo ", $(wc -l <"$work/serve-calls") buildhost sessions"))"
  else
    echo "$t ($remote): FAIL ($status, ${took}s)"
    echo "$log" | tail -n 60 | sed 's/^/    /'
    failed=1
  fi
done
exit $failed
