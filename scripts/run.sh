#!/usr/bin/env bash
# The main job on its embedded default: installs deno if missing, then runs
# `buildhost demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec deno run -A main.ts demo "$@"
