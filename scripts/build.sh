#!/usr/bin/env bash
# scripts/build.sh — install what is missing (for the command in MB_DEPS: build, quickstart, test, ci)
# and build the release preset into build/ (quietly: the
# full log is build/build.log, its tail is printed on failure). Used by quickstart.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh "${MB_DEPS:-build}"
cmake --preset release >/dev/null
mkdir -p build
if ! cmake --build --preset release -j"$(nproc)" >build/build.log 2>&1; then
  tail -n 40 build/build.log >&2
  echo "build failed; the whole log is build/build.log" >&2
  exit 1
fi
