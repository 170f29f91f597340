#!/usr/bin/env bash
# Run a command as on a machine without Nix: PATH becomes one directory of
# symlinks to every program on the current PATH except nix* (nix, nix-store,
# nix-daemon, ...). With --as USER (run as root), the command also runs as that
# unprivileged user, with a fresh HOME and TMPDIR it owns and a copy of Deno's
# module caches (npm packages), so that it needs nothing of root's.
#
#   bash scripts/without-nix.sh deno task test:offline
#   bash scripts/without-nix.sh --as nobody deno task test:offline
set -euo pipefail

user=""
if [ "${1:-}" = "--as" ]; then
  user=${2:?--as needs a user name}
  shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [--as USER] COMMAND [ARGS...]" >&2; exit 2; }

work=$(mktemp -d /tmp/without-nix.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin" "$work/home" "$work/tmp"

IFS=: read -r -a dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  [ -d "$dir" ] || continue
  for prog in "$dir"/*; do
    name=${prog##*/}
    case $name in nix*) continue ;; esac
    # The first directory on PATH wins, as for the shell.
    [ -e "$work/bin/$name" ] || [ ! -x "$prog" ] || ln -s "$prog" "$work/bin/$name"
  done
done

deno=$(command -v deno)
if [ -z "$user" ]; then
  status=0
  PATH="$work/bin" "$@" || status=$?
  exit "$status"
fi

# Deno's caches: the npm packages (fast-check), remote modules and downloaded
# tools (the esbuild that deno bundle runs), copied so that the user can read
# and extend them without touching root's.
cache=$(DENO_NO_UPDATE_CHECK=1 "$deno" info --json 2>/dev/null |
  sed -n 's/.*"denoDir": *"\([^"]*\)".*/\1/p')
mkdir "$work/deno"
for sub in npm remote dl; do
  [ -d "$cache/$sub" ] && cp -a "$cache/$sub" "$work/deno/"
done
chown -R "$user" "$work/home" "$work/tmp" "$work/deno"
chmod 755 "$work"

status=0
setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups --reset-env -- \
  env PATH="$work/bin" HOME="$work/home" TMPDIR="$work/tmp" DENO_DIR="$work/deno" \
  DENO_NO_UPDATE_CHECK=1 "$@" || status=$?
exit "$status"
