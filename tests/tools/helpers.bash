# Shared set-up for the bats suites: load bats-support/assert/file, put bin/ first on PATH.
bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
bats_load_library bats-file

EMO_ROOT=${EMO_ROOT:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
SHARED=${SHARED:-$EMO_ROOT/../shared}
PATH="$EMO_ROOT/bin:$PATH"
FIXTURES="$EMO_ROOT/tests/fixtures"

# jsonl_to_rec FILE.jsonl OUT.rec
jsonl_to_rec() { emo pack -o "$2" "$1"; }
