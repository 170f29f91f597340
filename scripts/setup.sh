#!/usr/bin/env bash
# Install what buildhost needs on a fresh Debian machine, only what is missing:
# deno (from npm), perl-base (the build sandbox's set-up; essential, so always there),
# busybox-static (the demo's and the doctor's builder, and the tests'), mount (tests make
# private mounts), bzip2 (build logs compressed as Nix keeps them; with
# xz-utils, what tar runs for builtin:unpack-channel and builtin:fetchurl's .xz), socat (the
# installed launcher passes `--stdio` sessions to a running `buildhost daemon`), libnettle8
# (hashes of more than 16 KiB, through FFI; apt itself needs it, so it is always there), and for
# the tests Debian's nix-bin (the oracle), openssh-server (real sshd interop) and
# dpkg-dev (dpkg-source unpacks Nix's own functional tests from Debian's source package),
# chromium (the status page is loaded in a real headless browser) and prometheus (its
# promtool checks the status server's /metrics).
# usage: scripts/setup.sh [--for-tests]
set -euo pipefail

if ! command -v deno >/dev/null 2>&1; then
  echo "setup: installing deno from npm" >&2
  npm install -g deno >&2
fi

need=()
command -v perl >/dev/null 2>&1 || need+=(perl-base)
[ -x /usr/bin/mount ] || [ -x /bin/mount ] || need+=(mount)
command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v socat >/dev/null 2>&1 || need+=(socat)
ls /usr/lib/*/libnettle.so.8 /lib/*/libnettle.so.8 >/dev/null 2>&1 || need+=(libnettle8)
# a builder that needs nothing else in the sandbox: a static busybox (Debian's busybox is dynamic)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
if [ "${1:-}" = "--for-tests" ]; then
  command -v nix-store >/dev/null 2>&1 || need+=(nix-bin)
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v dpkg-source >/dev/null 2>&1 || need+=(dpkg-dev)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} with apt" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  for i in 1 2 3 4 5 6; do
    if $sudo apt-get update -qq >&2 &&
      $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need[@]}" >&2; then
      break
    fi
    [ "$i" = 6 ] && { echo "setup: apt-get failed" >&2; exit 1; }
    sleep 10
  done
fi
