#!/usr/bin/env bash
# scripts/test.sh — the README's test command: install what is missing, build the release preset,
# run every ctest test (GPU-labelled tests report "skipped" on a machine without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --preset release
