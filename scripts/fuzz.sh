#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS [TARGET...]] — builds the libFuzzer targets (clang, ASan+UBSan) and
# fuzzes each for SECONDS (default 60), as many at once as there are cores: the suite loader (suite),
# the CSV reader (csv), compare and report behind it (compare, report), the safetensors loader
# (safetensors), tokenizer.json (hftok), the checkpoint index and config.json readers (hf_json),
# or only the TARGETs named; seeded from suites/, tests/, baselines/.
# A crash stops with its input saved as build-fuzz/crash-*; keep it under tests/fuzz/regressions/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
targets=(suite csv compare report safetensors hftok hf_json)
if [ $# -gt 1 ]; then shift; targets=("$@"); fi
cmake --preset fuzz >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >build-fuzz.log 2>&1 ||
  { tail -n 30 build-fuzz.log >&2; exit 1; }
declare -A seeds=(
  [suite]="suites tests/suites tests/fuzz/regressions/suite"
  [csv]="baselines baselines/h100 tests/fixtures/report tests/fuzz/regressions/csv"
  [compare]="baselines tests/fixtures/report tests/fuzz/seeds/compare tests/fuzz/regressions/compare"
  [report]="tests/fixtures/report tests/fuzz/seeds/report tests/fuzz/regressions/report"
  [safetensors]="tests/fuzz/seeds/safetensors tests/fuzz/regressions/safetensors"
  [hftok]="tests/fixtures/hftok tests/fixtures/bpe tests/fuzz/regressions/hftok"
  [hf_json]="tests/fuzz/seeds/hf_json tests/fuzz/regressions/hf_json"
)
fuzz_one() { # TARGET: fuzzes it for $secs; the exit status says whether it found anything
  local t=$1 corpus=build-fuzz/corpus_$1 d
  mkdir -p "$corpus"
  for d in ${seeds[$t]}; do
    [ -d "$d" ] || continue
    find "$d" -maxdepth 1 -type f ! -name README.md -exec cp {} "$corpus/" \;
  done
  (cd build-fuzz && ASAN_OPTIONS=detect_leaks=1 ./fuzz_"$t" -max_total_time="$secs" -timeout=10 \
     -rss_limit_mb=2048 -print_final_stats=1 "corpus_$t" >fuzz_"$t".log 2>&1)
}
# As many at a time as there are cores, one core each: the wall time is about SECONDS x targets /
# cores. Each writes its exit status to build-fuzz/fuzz_TARGET.rc when done.
running=0
failed=()
reap() { # waits for one running target to finish and reports it
  local t
  while :; do
    for t in "${targets[@]}"; do
      [ -f "build-fuzz/fuzz_$t.rc" ] && [ ! -f "build-fuzz/fuzz_$t.reaped" ] || continue
      touch "build-fuzz/fuzz_$t.reaped"
      [ "$(cat "build-fuzz/fuzz_$t.rc")" = 0 ] || failed+=("$t")
      grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "build-fuzz/fuzz_$t.log" |
        sed "s/^/fuzz_$t: /" >&2 || true
      running=$((running - 1))
      return
    done
    sleep 1
  done
}
for t in "${targets[@]}"; do rm -f "build-fuzz/fuzz_$t.rc" "build-fuzz/fuzz_$t.reaped"; done
for t in "${targets[@]}"; do
  while [ "$running" -ge "$(nproc)" ]; do reap; done
  echo "fuzzing $t for ${secs}s" >&2
  (if fuzz_one "$t"; then r=0; else r=1; fi
   echo "$r" >"build-fuzz/fuzz_$t.rc.tmp" && mv "build-fuzz/fuzz_$t.rc.tmp" "build-fuzz/fuzz_$t.rc") &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do reap; done
wait
for t in "${failed[@]+"${failed[@]}"}"; do
  tail -n 40 "build-fuzz/fuzz_$t.log" >&2
  echo "fuzz_$t found a crash: see build-fuzz/fuzz_$t.log and build-fuzz/crash-*" >&2
done
[ "${#failed[@]}" -eq 0 ]
