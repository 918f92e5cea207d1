#!/bin/sh
# tests/test_gate.sh — the CI gate's A/A and A/B trials on this machine with a CPU burner running:
# a 5-cell suite (repeat 9) run twice must never be called a regression by `compare` (exit 0 or 3);
# with adamw made 30% slower (MEMBENCH_TEST_SLOW) it must be caught (exit 1) in 9 trials of 10. An
# A/B trial the gate calls inconclusive (exit 3: the machine's speed moved too much between the two
# runs to judge, which is the right answer then) is run again, both sides, up to twice; a trial that
# ends anything but caught after that, or that the gate passes (exit 0), is a miss.
# usage: test_gate.sh MEMBENCH [TRIALS]   (ctest runs it alone: RUN_SERIAL)
set -u
mb=$1
trials=${2:-10}
tmp=$(mktemp -d)
burner=
trap '[ -n "$burner" ] && kill $burner 2>/dev/null; rm -rf "$tmp"' EXIT
cat >"$tmp/gate.yaml" <<SUITE
suite: gate
seed: 5
repeat: 9
defaults: {steps: 16, warmup_steps: 2, precision: fp32, eval: {every: 0, batches: 1}}
targets: [{name: cpu, backend: cpu, threads: 1}]
models: [{name: gpt-nano, preset: gpt-nano}]
data: {name: synthetic, vocab: 256}
task: {kind: train, batch_size: 4}
methods: [{name: sgd}, {name: lomo}, {name: adafactor}, {name: adam-mini}, {name: adamw}]
SUITE
slow='cpu/gpt-nano/adamw/*'
# the background load: one core kept busy for the whole test
sh -c 'while :; do :; done' &
burner=$!
run() { # DIR [SLOW]: one run of the suite into $tmp/DIR
    if [ -n "${2:-}" ]; then
        MEMBENCH_TEST_SLOW="$2" "$mb" run --quiet --out "$tmp/$1" "$tmp/gate.yaml" >"$tmp/$1.log" 2>&1
    else
        "$mb" run --quiet --out "$tmp/$1" "$tmp/gate.yaml" >"$tmp/$1.log" 2>&1
    fi || {
        echo "run $1 failed:"
        cat "$tmp/$1.log"
        exit 1
    }
}
fp=0 inconclusive=0 caught=0 reruns=0 i=1
start=$(date +%s)
while [ $i -le "$trials" ]; do
    run "a$i"
    run "b$i"
    "$mb" compare "$tmp/a$i/results.csv" "$tmp/b$i/results.csv" >"$tmp/aa$i.log" 2>&1
    rc=$?
    case $rc in
    0) ;;
    3) inconclusive=$((inconclusive + 1)) ;;
    1)
        fp=$((fp + 1))
        echo "A/A trial $i: a false regression:"
        sed -n '/^regressions/,/^$/p' "$tmp/aa$i.log"
        ;;
    *)
        cat "$tmp/aa$i.log"
        exit 1
        ;;
    esac
    # A/B against a fresh base: again, both sides, while the gate says inconclusive (twice at most)
    try=0
    while :; do
        base="$tmp/a$i"
        if [ $try -gt 0 ]; then
            run "a$i.$try"
            base="$tmp/a$i.$try"
        fi
        run "s$i.$try" "$slow:1.3"
        "$mb" compare "$base/results.csv" "$tmp/s$i.$try/results.csv" >"$tmp/ab$i.log" 2>&1
        rc=$?
        [ $rc -eq 3 ] && [ $try -lt 2 ] || break
        try=$((try + 1))
        reruns=$((reruns + 1))
    done
    # caught: exit 1 with one time regression, adamw's
    regs=$(sed -n '/^regressions/,/^$/p' "$tmp/ab$i.log" | grep '^  time:')
    if [ $rc -eq 1 ] && [ "$(printf '%s\n' "$regs" | grep -c .)" -eq 1 ] &&
        printf '%s\n' "$regs" | grep -q '^  time: cpu/gpt-nano/adamw/'; then
        caught=$((caught + 1))
    else
        echo "A/B trial $i: the 30% slower cell was not caught (exit $rc, after $try reruns):"
        grep -E 'adamw|^rounds|^result' "$tmp/ab$i.log"
    fi
    i=$((i + 1))
done
echo "A/A: $fp false regressions, $inconclusive inconclusive in $trials trials;" \
    "A/B: the 30% slower cell caught in $caught of $trials, $reruns inconclusive trials run again" \
    "($(($(date +%s) - start)) s)"
[ $fp -eq 0 ] && [ $((caught * 10)) -ge $((trials * 9)) ]
