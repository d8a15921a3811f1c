#!/bin/bash
# cmp.sh MINTIME MINITERS ROUNDS MODEL...: old and new quantize_fwd alternately, b64 s32, 2 threads
export OPENBLAS_CORETYPE=Haswell
mt=$1 mi=$2 rounds=$3; shift 3
for m in "$@"; do
  for i in $(seq "$rounds"); do
    for side in old new; do
      bin=/work/h3-old/bench/out/quantize_fwd; [ $side = new ] && bin=/work/h3/bench/out/quantize_fwd
      printf '%s %s ' "$side" "$m"; $bin /work/h3-bench/$m 64 32 2 "$mt" "$mi"
    done
  done
done
