#!/usr/bin/env bash
# scripts/gpu-check.sh — on a machine with a GPU and a CUDA build in build/: the GPU tests, then
# each named GPU suite re-run and compared with its committed baseline (memory exactly, quality
# within 1%, time ignored: rerun the timing suites on one machine to compare times).
# usage: scripts/gpu-check.sh OUTDIR [SUITE ...]   (default suites: gpt2-baseline activations-gpt2
# adapters-gpt2); logs and CSVs go to OUTDIR; exit 1 when a test fails or a comparison regresses.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/gpu-check.sh OUTDIR [SUITE ...]}
shift
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(gpt2-baseline activations-gpt2 adapters-gpt2)
mkdir -p "$out"
fail=0
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
for t in test_cuda_kernels test_cuda_model; do
  start=$(date +%s)
  if build/tests/$t >"$out/$t.log" 2>&1; then r=passed; else r="FAILED ($?)"; fail=1; fi
  echo "$t: $r in $(($(date +%s) - start)) s; $(tail -n 1 "$out/$t.log")"
done
for s in "${suites[@]}"; do
  start=$(date +%s)
  build/membench run --quiet --out "$out/$s" "suites/$s.yaml" >"$out/$s.run.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] || fail=1
  base=baselines/h100/$s.csv
  [ -f "$base" ] || base=baselines/h100/$(sed -n 's/^suite: *//p' "suites/$s.yaml" | head -1).csv
  build/membench compare "$base" "$out/$s/results.csv" --ignore-time \
    --markdown "$out/$s.compare.md" >"$out/$s.compare.log" 2>&1
  crc=$?
  [ $crc -eq 0 ] || fail=1
  echo "$s: run exit $rc, compare exit $crc in $(($(date +%s) - start)) s: $(tail -n 2 "$out/$s.compare.log" | head -n 1)"
done
exit $fail
