#!/usr/bin/env bats
# The fuzz targets (tests/fuzz/) replayed over their committed corpora, seeds and the
# reproducer of every crash a fuzzing run found, by gcc-built drivers (make check builds
# tests/fuzz/bin/replay-NAME; make fuzz runs the libFuzzer builds).
load helpers

@test "fuzz corpora replay without a crash (seeds and reproducers)" {
    export EMO_FUZZ_VOCAB=$FIXTURES/models/bert/vocab.txt
    n=0
    for d in "$EMO_ROOT"/tests/fuzz/corpus/*/; do
        t=$(basename "$d")
        b=$EMO_ROOT/tests/fuzz/bin/replay-$t
        [ -x "$b" ] || { echo "no $b (make check builds it)"; return 1; }
        run "$b" "$d"*
        [ "$status" -eq 0 ] || { echo "replay-$t: exit $status: $output"; return 1; }
        n=$((n + 1))
    done
    [ "$n" -eq 7 ]
}
