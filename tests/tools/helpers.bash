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

# longopts_of tools/NAME.c: the long option names of the tool's getopt_long table, one a
# line, the table's macros (CLI_LONGOPTS, TRAIN_CLI_LONGOPTS...) expanded by the preprocessor.
longopts_of() {
    { printf '#include "train/train_cli.h"\n#include "util/cli.h"\nemo_longopts_begin\n'
      awk '/struct option [a-z_]*\[\] = \{/,/NULL, 0, NULL, 0/' "$1"; echo '};'; } \
        | cc -E -P -I"$EMO_ROOT/lib" -x c - | sed -n '/^emo_longopts_begin/,$p' \
        | grep -o '{ *"[^"]*",' | sed 's/{ *"\([^"]*\)",/\1/'
}
