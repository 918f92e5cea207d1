#!/usr/bin/env bash
# scripts/quickstart.sh — the README's first command: install what is missing, build, run
# suites/quickstart.yaml into results/quickstart/. Extra arguments go to `membench run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
build/membench run --out results/quickstart "$@" suites/quickstart.yaml
