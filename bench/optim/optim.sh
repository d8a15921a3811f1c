#!/usr/bin/env bash
# AdamW step: the vectorised, threaded adamw_step against the scalar loop it replaced, on
# the bert-tiny / bert-mini / bert-base parameter blocks; best of REPS alternated runs;
# exits non-zero if the two differ in any bit.
#   bench/optim/optim.sh [threads=2] [reps=10]
set -eu
cd "$(dirname "$0")/../.."
make -s bench/out/optim
bench/out/optim --threads "${1:-2}" --reps "${2:-10}"
