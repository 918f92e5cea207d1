#!/bin/sh
# tests/test_template_build.sh — the template plugin builds out of tree (cmake -S methods/template,
# its own CPU kernels and, where nvcc is found, its own CUDA kernel) and trains: gpt-nano's validation
# loss after 30 signSGD steps is below the untrained model's. With `cuda` it runs on the GPU's
# cuda-f32 and cuda-bf16 backends and exits 77 where there is no GPU.
# usage: test_template_build.sh SOURCE_DIR MEMBENCH [cpu|cuda] [ON|OFF: membench has CUDA]
set -eu
src=$1
membench=$2
mode=${3:-cpu}
with_cuda=${4:-ON}
if [ "$mode" = cuda ] && ! nvidia-smi -L >/dev/null 2>&1; then
    echo "no GPU: skipped"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! cmake -S "$src/methods/template" -B "$tmp/build" -DMEMBENCH_SOURCE_DIR="$src" \
    -DMB_TEMPLATE_CUDA="$with_cuda" \
    >"$tmp/configure.log" 2>&1; then
    cat "$tmp/configure.log"
    exit 1
fi
if ! cmake --build "$tmp/build" -j2 >"$tmp/build.log" 2>&1; then
    tail -n 40 "$tmp/build.log"
    exit 1
fi
plugin=$tmp/build/libmb_template.so
[ -f "$plugin" ] || { echo "no $plugin"; exit 1; }
if [ "$mode" = cuda ]; then
    targets="  - {name: gpu, backend: cuda, device: 0}"
    matrix="matrix: {precision: [fp32, bf16]}"
    grep -q MB_TEMPLATE_CUDA "$tmp/build/CMakeFiles/mb_template.dir/flags.make" || {
        echo "the plugin was built without its CUDA kernel (no nvcc found)"
        exit 1
    }
else
    targets="  - {name: cpu, backend: cpu}"
    matrix=""
fi
cat >"$tmp/suite.yaml" <<EOF
suite: template-out-of-tree
seed: 3
defaults: {steps: 30, warmup_steps: 2, precision: fp32, eval: {every: 0, batches: 4}}
targets:
$targets
models: [{name: n, preset: gpt-nano}]
data: {name: synthetic, vocab: 256}
task: {kind: train, batch_size: 8}
methods:
  - {name: template, lr: 0}
  - {name: template, lr: 0.002}
$matrix
EOF
if ! "$membench" run --quiet --plugin "$plugin" --out "$tmp/out" "$tmp/suite.yaml" \
    >"$tmp/run.log" 2>&1; then
    cat "$tmp/run.log"
    exit 1
fi
# every cell ok; per precision, the trained loss below the untrained one
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { gsub(/"/, "");
      st = $col["status"]; p = $col["precision"]; lr = ($col["method_params"] ~ /lr=0;|lr=0$/);
      v = $col["metric_value"] + 0;
      if (st != "ok") { print "cell " $col["precision"] " " $col["method_params"] ": " st; bad = 1 }
      if (lr) base[p] = v; else trained[p] = v }
    END { for (p in base) {
            printf "%s: validation loss untrained %.4f, after 30 signSGD steps %.4f\n", p, base[p], trained[p];
            if (!(trained[p] < base[p] - 0.01)) bad = 1 }
          if (length(base) == 0) bad = 1
          exit bad }' "$tmp/out/results.csv"
echo "template plugin built out of tree ($mode) and trained"
