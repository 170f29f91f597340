#!/usr/bin/env bash
# Regenerate every golden in testdata/ from real Nix 2.8, never from buildhost:
#   serve   testdata/serve/    serve-protocol sessions (scripts/serve-harness/)
#   daemon  testdata/daemon/   daemon-protocol sessions (scripts/record-daemon-sessions.sh)
#   drv     testdata/drv/      .drv files and `nix show-derivation` (testdata/drv/generate.sh)
# then lists what changed; review it with `git diff testdata/`. What may differ from one run to
# the next, and why the tests do not mind, is in each folder's README.
#
#   bash scripts/regenerate-goldens.sh [serve] [daemon] [drv]    # default: all three
# As root, with Nix 2.8 (nix-bin), perl and python3, no nix-daemon running.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
harness=$repo/scripts/serve-harness

# A recorded connection N, kept as N.{in,out,err,status,argv,txt}, without the recorder's pid
# and start time (the only run-dependent lines of argv and txt).
keep_session() { # from_dir/N to_dir
  local from=$1 to=$2 ext
  for ext in in out err status argv txt; do
    [ -e "$from.$ext" ] && cp "$from.$ext" "$to/"
  done
  sed -i -E 's/^(# )?pid: [0-9]+$/\1pid: 0/; s/^(# )?start: [0-9]+$/\1start: 0/' \
    "$to/$(basename "$from").argv" "$to/$(basename "$from").txt"
}

regenerate_serve() {
  local tmp s f
  tmp=$(mktemp -d /tmp/regenerate-serve.XXXXXX)
  # shellcheck disable=SC2064
  trap "chmod -R u+w '$tmp'; rm -rf '$tmp'" RETURN
  "$harness/run-scenarios.sh" --record "$tmp" "$harness/remote-nix-store"
  # x-synthetic: the hand-made client stream is the input; Nix answers it again.
  mkdir "$tmp/x-synthetic"
  cp testdata/serve/x-synthetic/1.in "$tmp/x-synthetic.in"
  (
    export NIX_HARNESS_STATE="$tmp/x-state"
    unset NIX_HARNESS_REMOTE_STORE RECORD_DIR RECORD_WIRE_TARGET FAKE_SSH_LOG
    # shellcheck source=serve-harness/nix-env.sh
    . "$harness/nix-env.sh"
    cd "$harness"
    # Its stdin stays open until the replies are in (up to as many bytes as last time, or 2
    # minutes): the server aborts a build when its stdin hangs up.
    want=$(stat -c %s "$repo/testdata/serve/x-synthetic/1.out")
    {
      cat "$tmp/x-synthetic.in"
      for _ in $(seq 240); do
        got=$(stat -c %s "$tmp/x-synthetic/1.out" 2>/dev/null || echo 0)
        [ "$got" -ge "$want" ] && break
        sleep 0.5
      done
    } | RECORD_DIR="$tmp/x-synthetic" ./record-wire ./remote-nix-store --serve --write >/dev/null
    sleep 1 # the relay finishes writing
    python3 decode-serve.py "$tmp/x-synthetic/1" >"$tmp/x-synthetic/1.txt" 2>&1
    sed -i -e "s#$NIX_HARNESS_STATE#<state>#g" "$tmp/x-synthetic/1.argv" "$tmp/x-synthetic/1.txt"
  )
  for s in a b c1 c2 c3 d x-synthetic; do
    rm -f testdata/serve/$s/*
    mkdir -p testdata/serve/$s
    for f in "$tmp/$s"/*.in; do keep_session "${f%.in}" testdata/serve/$s; done
  done
}

parts=${*:-serve daemon drv}
for part in $parts; do
  echo "== $part"
  case $part in
    serve) regenerate_serve ;;
    daemon) NIX_HARNESS_DIR=$harness bash scripts/record-daemon-sessions.sh ;;
    drv) bash testdata/drv/generate.sh ;;
    *) echo "unknown part '$part' (serve, daemon, drv)" >&2; exit 2 ;;
  esac
done
echo "== changed in testdata/ (review with git diff testdata/):"
git status --short testdata/
