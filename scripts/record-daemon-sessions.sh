#!/usr/bin/env bash
# Record real daemon-protocol (ssh-ng) sessions between Nix 2.8 clients and
# `nix-daemon --stdio`, into testdata/daemon/<scenario>/N.{argv,in,out,err,trace,status}
# (one N per connection), with the harness's wire recorder as remote program.
# Nix runs `ssh-ng://localhost?remote-program=P&remote-store=R` as `P --stdio --store R`
# itself (no ssh for localhost). Never regenerate these from buildhost's output.
#
#   bash scripts/record-daemon-sessions.sh        # as root, Nix 2.8 installed, no daemon running
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${NIX_HARNESS_DIR:-$PWD/scripts/serve-harness}
REC="$HARNESS/record-wire"
[ -x "$REC" ] || { echo "record-wire not found at $REC (set NIX_HARNESS_DIR)" >&2; exit 1; }
out=$PWD/testdata/daemon
sandbox_paths=""
for p in /bin /lib /lib32 /lib64 /libx32 /usr; do [ -e "$p" ] && sandbox_paths="$sandbox_paths $p"; done
export NIX_CONFIG="build-users-group =
substituters =
experimental-features = nix-command
sandbox = true
extra-sandbox-paths =$sandbox_paths"
unset NIX_REMOTE
export RECORD_WIRE_TARGET=nix-daemon
tmp=$(mktemp -d /tmp/record-daemon.XXXXXX)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
client=$tmp/client remote=$tmp/remote seed=$tmp/seed
nixfile=$out/scenarios.nix
url="ssh-ng://localhost?remote-program=$REC&remote-store=$remote"
ev() { nix eval --raw --store "$1" -f "$nixfile" "$2"; }
record() { # scenario command...
  local s=$1; shift
  rm -rf "${out:?}/$s"; mkdir -p "$out/$s"
  echo "== $s: $*" >&2
  RECORD_DIR=$out/$s "$@" > "$out/$s/client.stdout" 2> "$out/$s/client.stderr" \
    && echo 0 > "$out/$s/client.status" || echo $? > "$out/$s/client.status"
  sed -i -e "s#$tmp#/tmp/record-daemon#g" -e "s#$HARNESS#<harness>#g" "$out/$s"/*.argv "$out/$s"/client.* || true
  rm -f "$out/$s"/*.trace
}

nix --version > "$out/VERSION"
top=$(ev "$client" top)
fromTop=$(ev "$seed" fromTop)
nix copy --store "$seed" --to "$remote" "$fromTop"

# 1. copy a closure to the remote (QueryValidPaths ... AddToStoreNar / AddMultipleToStore)
record copy-to nix copy --store "$client" --to "$url" "$top"
# 2. path info of the closure through the remote
record path-info nix path-info -r --json --store "$url" "$top"
# 3. store ping
record store-ping nix store ping --store "$url"
# 4. nix-store -q through the remote
record query-references nix-store --store "$url" -q --references "$top"
# 5. copy a closure from the remote
record copy-from nix copy --store "$client" --no-check-sigs --from "$url" "$fromTop"
# 6. a remote build with a dependency (both built remotely, -j0)
record build nix-build --store "$client" "$nixfile" -A buildMain --no-out-link --max-jobs 0 \
  --builders "$url x86_64-linux" --option builders-use-substitutes false
# 7. a failing remote build
record build-fail nix-build --store "$client" "$nixfile" -A fail --no-out-link --max-jobs 0 \
  --builders "$url x86_64-linux" --option builders-use-substitutes false
# 8. hand-built sessions at 1.21 (Nix 2.3's version) and 1.34, answered by nix-daemon
nix eval --raw --store "$seed" -f "$nixfile" handAdded > /dev/null
rm -rf "$out/v1.21" "$out/v1.34"
deno run -A scripts/record-daemon-handbuilt.ts "$remote" "$seed" "$out"
# 9. the remote store checks clean after all of it
nix-store --store "$remote" --verify --check-contents
for s in "$out"/*/; do [ -f "$s"client.status ] || continue; echo "$(basename "$s"): $(cat "$s"client.status) $(ls "$s" | grep -c '\.in$') connection(s)"; done
