#!/usr/bin/env bash
# AdamW step: the vectorised, threaded adamw_step against the scalar loop it replaced, on
# the bert-tiny / bert-mini / bert-base parameter blocks; best of REPS alternated runs;
# exits non-zero if the two differ in any bit.
#   bench/optim.sh [threads=2] [reps=10]
set -eu
cd "$(dirname "$0")/.."
make -s lib/libemo.a
mkdir -p bench/out
# shellcheck disable=SC2046
cc -std=c11 -O2 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -Ilib $(pkg-config --cflags openblas) \
   -o bench/out/optim bench/optim.c lib/libemo.a $(pkg-config --libs openblas) -lm -pthread
bench/out/optim --threads "${1:-2}" --reps "${2:-10}"
