#!/usr/bin/env bash
# scripts/quickstart.sh — the README's first command: install what is missing, build, run
# suites/quickstart.yaml into results/quickstart/ anew (--force, unless the arguments say --resume;
# they go to `membench run`) and report it into results/quickstart/report/.
set -euo pipefail
cd "$(dirname "$0")/.."
MB_DEPS=quickstart scripts/build.sh
fresh=--force
for a in "$@"; do
  case $a in -r | --resume) fresh= ;; esac
done
build/membench run --out results/quickstart ${fresh:+"$fresh"} "$@" suites/quickstart.yaml
# the report of the run: its summary table (each stack against the suite's baseline) and figures
build/membench report results/quickstart/results.csv --out results/quickstart/report
