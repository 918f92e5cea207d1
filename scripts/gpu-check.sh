#!/usr/bin/env bash
# scripts/gpu-check.sh — on a machine with a GPU and a CUDA build in build/: the GPU tests, then
# each named GPU suite re-run and compared with its committed baseline (memory exactly, quality
# within 1%, time ignored: rerun the timing suites on one machine to compare times).
# usage: scripts/gpu-check.sh [--tar FILE] [--timeout S] [--filter GLOB]... OUTDIR [SUITE ...]
#   (default suites: gpt2-baseline activations-gpt2 adapters-gpt2); logs and CSVs go to OUTDIR;
#   --tar FILE packs OUTDIR into FILE after every step (a device call's $OUT returns few files,
#   two folders deep: docs/gpu-checks.md), so a call cut short keeps what ran; --timeout S stops
#   each test or suite after S seconds (default: none); --filter GLOB is passed to every run: a
#   suite with no matching cell is skipped, and a filtered or timed-out run is not compared (its
#   baseline's other cells would count as missing). Paths are taken from the repository root.
#   Exit 1 when a test fails, a run fails or times out, or a comparison regresses; 2 on bad usage.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
usage() { # usage [EXIT]: the help text; to stdout for --help, else to stderr
  if [ "${1:-2}" -eq 0 ]; then sed -n '5,12s/^# \{0,1\}//p' "$0"; else sed -n '5,12s/^# \{0,1\}//p' "$0" >&2; fi
  exit "${1:-2}"
}
tar_to="" limit=0 filters=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tar | --timeout | --filter)
      if [ $# -lt 2 ] || [ -z "$2" ]; then echo "gpu-check.sh: $1 needs a value" >&2; usage; fi
      case "$1" in
        --tar) tar_to=$2 ;;
        --timeout) limit=$2 ;;
        --filter) filters+=(--filter "$2") ;;
      esac
      shift 2 ;;
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
if [ -n "$tar_to" ]; then
  case "$(realpath -m "$tar_to")" in
    "$(realpath -m "$out")"/*) echo "gpu-check.sh: --tar $tar_to lies inside OUTDIR $out" >&2; exit 2 ;;
  esac
fi
pack() {
  [ -n "$tar_to" ] || return 0
  if ! tar czf "$tar_to.tmp" -C "$out" --exclude='*.safetensors' . || ! mv "$tar_to.tmp" "$tar_to"; then
    echo "gpu-check.sh: packing $out into $tar_to failed" >&2
    fail=1
  fi
}
bounded() { # runs "$@" under the per-step limit; 124 when it ran out (membench stops after the
  # step in progress on the first TERM; a second, 30 s later, ends it)
  if [ "$limit" -gt 0 ]; then timeout -k 30 "$limit" "$@"; else "$@"; fi
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
  if [ $rc -eq 2 ] && grep -q "matches --filter" "$out/$s.run.log"; then
    echo "$s: skipped, no cell matches the filter"
    continue
  fi
  [ $rc -eq 0 ] || fail=1
  base=baselines/h100/$s.csv
  [ -f "$base" ] || base=baselines/h100/$(sed -n 's/^suite: *//p' "suites/$s.yaml" | head -1).csv
  crc=-
  why=""
  if [ ${#filters[@]} -gt 0 ]; then
    why="not compared: a filtered run"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    why="not compared: the run timed out after $limit s"
  elif [ ! -f "$out/$s/results.csv" ]; then
    why="not compared: no results.csv"
  else
    build/membench compare "$base" "$out/$s/results.csv" --ignore-time \
      --markdown "$out/$s.compare.md" >"$out/$s.compare.log" 2>&1
    crc=$?
    [ "$crc" -eq 0 ] || fail=1
    why=$(tail -n 2 "$out/$s.compare.log" | head -n 1)
  fi
  echo "$s: run exit $rc, compare exit $crc in $(($(date +%s) - start)) s: $why"
  pack
done
exit $fail
