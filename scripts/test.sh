#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what is missing,
# then runs `deno task test` (fmt, lint, check, unit and interop tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for-tests
exec deno task test "$@"
