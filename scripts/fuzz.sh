#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] — builds the libFuzzer targets (clang, ASan+UBSan) and fuzzes the suite
# loader and the CSV reader for SECONDS each (default 60), seeded from suites/, tests/ and baselines/.
# A crash stops with its input saved as build-fuzz/crash-*; keep it under tests/fuzz/regressions/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$(nproc)" >build-fuzz.log 2>&1 || { tail -n 30 build-fuzz.log >&2; exit 1; }
declare -A seeds=(
  [suite]="suites tests/suites tests/fuzz/regressions/suite"
  [csv]="baselines tests/fixtures/report tests/fuzz/regressions/csv"
)
for t in suite csv; do
  corpus=build-fuzz/corpus_$t
  mkdir -p "$corpus"
  for d in ${seeds[$t]}; do [ -d "$d" ] || continue; find "$d" -maxdepth 1 -type f ! -name README.md -exec cp {} "$corpus/" \;; done
  echo "fuzzing $t for ${secs}s" >&2
  (cd build-fuzz && ASAN_OPTIONS=detect_leaks=1 ./fuzz_$t -max_total_time="$secs" -timeout=10 \
     -rss_limit_mb=2048 -print_final_stats=1 "corpus_$t" 2>fuzz_$t.log) || {
    tail -n 40 "build-fuzz/fuzz_$t.log" >&2
    echo "fuzz_$t found a crash: see build-fuzz/fuzz_$t.log and build-fuzz/crash-*" >&2
    exit 1
  }
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "build-fuzz/fuzz_$t.log" | sed "s/^/fuzz_$t: /" >&2
done
