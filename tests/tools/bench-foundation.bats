#!/usr/bin/env bats
# Smoke run of bench/foundation/foundation.sh on a small corpus: it must finish and print valid
# JSON lines (no timing is checked here; the figures live in bench/README.md).
load helpers

@test "bench/foundation/foundation.sh 3000 prints valid JSON lines for clean, split and the pipeline" {
    run --separate-stderr bash -c "cd '$EMO_ROOT' && FOUNDATION_NO_ANCHOR=1 bench/foundation/foundation.sh 3000"
    assert_success
    [[ "$output" == *'"mode":"clean"'* ]]
    [[ "$output" == *'"mode":"split"'* ]]
    [[ "$output" == *'"mode":"pipeline"'* ]]
    run bash -c "printf '%s\n' \"\$1\" | sed -n 's/^JSON //p' | /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]; print(\"valid\")'" _ "$output"
    assert_output valid
}
