#!/usr/bin/env bash
# Install what buildhost needs on a fresh Debian machine, only what is missing:
# deno (from npm), and for the tests Debian's nix-bin (the oracle), bubblewrap
# (the sandbox) and busybox-static (a hermetic builder).
# usage: scripts/setup.sh [--for-tests]
set -euo pipefail

if ! command -v deno >/dev/null 2>&1; then
  echo "setup: installing deno from npm" >&2
  npm install -g deno >&2
fi

if [ "${1:-}" = "--for-tests" ]; then
  need=()
  command -v nix-store >/dev/null 2>&1 || need+=(nix-bin)
  command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
  [ -x /bin/busybox ] || need+=(busybox-static)
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
fi
