#!/usr/bin/env bash
# Regenerate the .drv goldens with real Nix (never from buildhost's output):
# instantiate drvs.nix into a throw-away chroot store, copy every .drv of the
# closure here under its store path's base name, and record Nix's
# `nix show-derivation` of each as <base name>.json. Review with `git diff`.
set -euo pipefail
cd "$(dirname "$0")"
export NIX_CONFIG='build-users-group =
substituters =
experimental-features = nix-command ca-derivations impure-derivations'
unset NIX_REMOTE
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
rm -f ./*.drv ./*.drv.json
nix --version > VERSION
for attr in app caDep impure; do
  nix-instantiate --store "$tmp" drvs.nix -A "$attr" 2>/dev/null
done > /dev/null
for f in "$tmp"/nix/store/*.drv; do
  base=$(basename "$f")
  cp "$f" "$base"
  chmod 644 "$base"
  nix show-derivation --store "$tmp" "/nix/store/$base" > "$base.json"
done
ls ./*.drv
