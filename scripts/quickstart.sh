#!/usr/bin/env bash
# scripts/quickstart.sh — the README's first command: install what is missing, build, run
# suites/quickstart.yaml into results/quickstart/ (starting over each time: --force, unless the
# arguments ask to --resume). Extra arguments go to `membench run`.
set -euo pipefail
cd "$(dirname "$0")/.."
MB_DEPS=quickstart scripts/build.sh
fresh=--force
for a in "$@"; do
  case $a in -r | --resume) fresh= ;; esac
done
build/membench run --out results/quickstart ${fresh:+"$fresh"} "$@" suites/quickstart.yaml
