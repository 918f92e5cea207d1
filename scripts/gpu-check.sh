#!/usr/bin/env bash
# scripts/gpu-check.sh — on a machine with a GPU and a CUDA build in build/: the GPU tests, then
# each named GPU suite re-run and compared with its committed baseline (memory exactly, quality
# within 1%, time ignored: rerun the timing suites on one machine to compare times).
# usage: scripts/gpu-check.sh [--tar FILE] [--timeout S] [--filter GLOB]... OUTDIR [SUITE ...]
#   (default suites: gpt2-baseline activations-gpt2 adapters-gpt2); logs and CSVs go to OUTDIR;
#   --tar FILE packs OUTDIR into FILE after every step (a device call's $OUT returns few files,
#   two folders deep: docs/gpu-checks.md), so a call cut short keeps what ran; --timeout S stops
#   each test or suite after S seconds (default: none); --filter GLOB is passed to every run.
#   Exit 1 when a test fails, a step times out or a comparison regresses; 2 on bad usage.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
usage() { # usage [EXIT]: the help text; to stdout for --help, else to stderr
  if [ "${1:-2}" -eq 0 ]; then sed -n '5,10s/^# \{0,1\}//p' "$0"; else sed -n '5,10s/^# \{0,1\}//p' "$0" >&2; fi
  exit "${1:-2}"
}
tar_to="" limit=0 filters=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tar) [ $# -ge 2 ] || usage; tar_to=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; limit=$2; shift 2 ;;
    --filter) [ $# -ge 2 ] || usage; filters+=(--filter "$2"); shift 2 ;;
    -h | --help) usage 0 ;;
    --*) echo "gpu-check.sh: unknown option '$1'" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || usage
case "$limit" in '' | *[!0-9]*) echo "gpu-check.sh: --timeout wants whole seconds, got '$limit'" >&2; exit 2 ;; esac
out=$1
shift
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(gpt2-baseline activations-gpt2 adapters-gpt2)
mkdir -p "$out" || exit 2
fail=0
pack() {
  [ -n "$tar_to" ] || return 0
  tar czf "$tar_to.tmp" -C "$out" --exclude='*.safetensors' . && mv "$tar_to.tmp" "$tar_to"
}
bounded() { # runs "$@" under the per-step limit; 124 when it ran out
  if [ "$limit" -gt 0 ]; then timeout "$limit" "$@"; else "$@"; fi
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
for t in test_cuda_kernels test_cuda_model; do
  start=$(date +%s)
  bounded build/tests/$t >"$out/$t.log" 2>&1
  rc=$?
  case $rc in 0) r=passed ;; 124) r="TIMED OUT"; fail=1 ;; *) r="FAILED ($rc)"; fail=1 ;; esac
  echo "$t: $r in $(($(date +%s) - start)) s; $(tail -n 1 "$out/$t.log")"
  pack
done
for s in "${suites[@]}"; do
  start=$(date +%s)
  bounded build/membench run --quiet ${filters[@]+"${filters[@]}"} --out "$out/$s" \
    "suites/$s.yaml" >"$out/$s.run.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] || fail=1
  base=baselines/h100/$s.csv
  [ -f "$base" ] || base=baselines/h100/$(sed -n 's/^suite: *//p' "suites/$s.yaml" | head -1).csv
  crc=-
  if [ -f "$out/$s/results.csv" ]; then
    build/membench compare "$base" "$out/$s/results.csv" --ignore-time \
      --markdown "$out/$s.compare.md" >"$out/$s.compare.log" 2>&1
    crc=$?
    [ "$crc" -eq 0 ] || fail=1
  fi
  [ $rc -eq 124 ] && rc="124 (timed out after $limit s)"
  echo "$s: run exit $rc, compare exit $crc in $(($(date +%s) - start)) s: $(tail -n 2 "$out/$s.compare.log" 2>/dev/null | head -n 1)"
  pack
done
exit $fail
