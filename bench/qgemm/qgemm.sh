#!/usr/bin/env bash
# The int8 GEMM (lib/nn/qgemm.c, issue 16) against the engine's float GEMM at bert-mini's
# linear-layer shapes for b64 s32 (M 2048: K 256 -> N 256, 256 -> 1024, 1024 -> 256): every
# float kernel and int8 path this CPU runs, alternated, best of REPS; the int8 output's
# relative error against the float one.  EMO_QGEMM_ISA is ignored (each path is forced).
#   bench/qgemm/qgemm.sh [threads=2] [reps=5] [M=2048] [scheme=w7]
set -eu
cd "$(dirname "$0")/../.."
make -s bench/out/qgemm
bench/out/qgemm --threads "${1:-2}" --reps "${2:-5}" --m "${3:-2048}" --scheme "${4:-w7}"
