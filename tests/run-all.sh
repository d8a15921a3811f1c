#!/usr/bin/env bash
# Runs the unit-test binaries and the bats suites; prints "N passed, N failed" last and
# exits non-zero if anything failed.  Usage: tests/run-all.sh [unit|bats|all]
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
pass=0 fail=0
export EMO_ROOT=$PWD
export PATH="$PWD/bin:$PATH"
: "${SHARED:=$PWD/../shared}"
export SHARED
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}

if [ "$what" = all ] || [ "$what" = unit ]; then
    for t in tests/unit/bin/test_*; do
        [ -x "$t" ] || continue
        case "$t" in *.d) continue ;; esac
        if "$t"; then
            echo "ok unit $(basename "$t")"; pass=$((pass + 1))
        else
            echo "not ok unit $(basename "$t")"; fail=$((fail + 1))
        fi
    done
fi

if [ "$what" = all ] || [ "$what" = bats ]; then
    out=$(mktemp)
    bats --formatter tap tests/tools/*.bats > "$out" 2>&1
    cat "$out"
    p=$(grep -c '^ok ' "$out")
    f=$(grep -c '^not ok ' "$out")
    planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$out" | head -1)
    # A crash of bats itself (fewer results than planned) counts as failures.
    if [ -n "$planned" ] && [ $((p + f)) -lt "$planned" ]; then
        f=$((f + planned - p - f))
    fi
    pass=$((pass + p)); fail=$((fail + f))
    rm -f "$out"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
