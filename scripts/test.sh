#!/usr/bin/env bash
# scripts/test.sh — the README's test command: install what is missing, build the release preset, run
# every ctest test in parallel (a job per core, OpenMP threads divided among the jobs), say how long it
# took and which skipped tests a `membench data fetch` would enable. GPU-labelled tests report
# "skipped" on a machine without a GPU. Extra arguments go to ctest (e.g. -L unit, -R bpe).
set -euo pipefail
cd "$(dirname "$0")/.."
MB_DEPS=${MB_DEPS:-test} scripts/build.sh
cores=$(nproc)
jobs=${MB_TEST_JOBS:-$cores}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$((cores / jobs > 0 ? cores / jobs : 1))}
start=$(date +%s)
rc=0
ctest --preset release -j "$jobs" "$@" || rc=$?
echo "test.sh: ctest -j $jobs with OMP_NUM_THREADS=$OMP_NUM_THREADS on $cores cores took" \
  "$(($(date +%s) - start)) s" >&2
log=build/Testing/Temporary/LastTest.log
if [ -f "$log" ] && grep -q 'membench data fetch' "$log"; then
  echo "test.sh: skipped for want of data (each line says what enables it):" >&2
  grep -h 'skipped' "$log" | grep 'membench data fetch' | sort -u | sed 's/^/  /' >&2
fi
exit $rc
