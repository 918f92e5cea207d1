#!/bin/sh
# tests/test_includes.sh — scripts/check-includes.sh on tests/fixtures/includes: its planted upward
# include fails with exit 1 and exactly the lines below; allowed with --allow, the tree passes.
# usage: tests/test_includes.sh SOURCE_DIR
src=${1:?usage: $0 SOURCE_DIR}
check=$src/scripts/check-includes.sh
fx=$src/tests/fixtures/includes
fail=0

expect() { # WANT_RC WANT_OUTPUT ARGS...
    want_rc=$1
    want=$2
    shift 2
    got=$(sh "$check" --root "$fx" "$@")
    rc=$?
    if [ "$rc" -ne "$want_rc" ] || [ "$got" != "$want" ]; then
        printf 'check-includes.sh --root %s %s: exit %s, output:\n%s\nwanted exit %s and:\n%s\n\n' \
            "$fx" "$*" "$rc" "$got" "$want_rc" "$want"
        fail=1
    fi
}

expect 1 'datasets/fetch.c:4: upward include of "../harness/sha256.h" (datasets -> harness); rule: datasets may include datasets, engine
cycle between top-level directories: datasets -> harness -> datasets (datasets/fetch.c:4, harness/runner.c:2)
check-includes: 1 upward include, 1 cycle'

expect 0 'datasets/fetch.c:4: allowed exception (datasets -> harness): "../harness/sha256.h"
check-includes: ok (5 files, 5 quoted includes)' --allow 'datasets->harness'

[ "$fail" -eq 0 ] && echo "ok: the planted include is caught, and allowed when excepted"
exit "$fail"
