#!/usr/bin/env bash
# Peak RSS of a training step (zero_grad + forward with dropout + cross-entropy + backward +
# AdamW), the C engine beside the PyTorch anchor (torch_bert.py, same config, batch, seq,
# threads, batch lengths), each process measured by /usr/bin/time (maximum resident set).
#
#   bench/engine/memory.sh [config=bert-base] [seq=128] [threads=2] [steps=3]
#
# Lines (JSON): one per process, then one "ratio" line per C variant against the lower of
# the two PyTorch figures.  Variants:
#   c         the anchor's batch: lengths uniform in [seq/2, seq] (dynamic padding: the engine
#             holds activations for the real tokens only; torch pads to seq)
#   c-full    every sequence seq long (the worst case: no padding saving)
#   torch     the anchors' tuned environment (glibc keeps freed memory)
#   torch-default   glibc's default malloc tunables
# Memory does not depend on machine load, so this may run while the machine is busy.
set -eu
cd "$(dirname "$0")/../.."
config=${1:-bert-base}
seq=${2:-128}
threads=${3:-2}
steps=${4:-3}
anchors=${ANCHORS:-../shared/anchors}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}

mkdir -p bench/out
make -s bench/out/engine
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$anchors"/. "$scratch"

TUNE=(OMP_WAIT_POLICY=PASSIVE
      GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184)
# warm-up 1 + (steps - 1) timed steps: every buffer and the optimiser state are touched
ITER=(--mode train --configs "$config" --seqs "$seq" --threads "$threads" --warmup 1
      --min-iters $((steps - 1)) --max-iters $((steps - 1)) --min-time 0)

declare -A rss
measure() {   # name env-prefix... -- command...
    local name=$1; shift
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    /usr/bin/time -f '%M %e' -o "$scratch/time.$name" env "${envs[@]}" "$@" \
        > "$scratch/out.$name" 2>&1 || { cat "$scratch/out.$name" >&2; exit 1; }
    local kb secs fill
    read -r kb secs < <(tail -n 1 "$scratch/time.$name")
    fill=$(sed -n 's/^JSON .*"fill": *\([0-9.]*\).*/\1/p' "$scratch/out.$name" | head -n 1)
    rss[$name]=$kb
    printf 'JSON {"bench":"memory","impl":"%s","mode":"train","config":"%s","batch":32,"seq":%s,"threads":%s,"steps":%s,"fill":%s,"maxrss_kb":%s,"maxrss_mb":%.1f,"wall_s":%s,"load1":%s}\n' \
        "$name" "$config" "$seq" "$threads" "$steps" "${fill:-null}" "$kb" \
        "$(echo "$kb / 1024" | bc -l)" "$secs" "$(cut -d' ' -f1 /proc/loadavg)"
}

measure c "${TUNE[@]}" -- bench/out/engine --tag c "${ITER[@]}"
measure c-full "${TUNE[@]}" -- bench/out/engine --tag c --full-length "${ITER[@]}"
measure torch "${TUNE[@]}" -- /usr/bin/python3 "$scratch/torch_bert.py" --tag tuned "${ITER[@]}"
measure torch-default OMP_WAIT_POLICY=PASSIVE -- \
    /usr/bin/python3 "$scratch/torch_bert.py" --tag default "${ITER[@]}"

best=${rss[torch]}
[ "${rss[torch-default]}" -lt "$best" ] && best=${rss[torch-default]}
for v in c c-full; do
    printf 'JSON {"bench":"memory","ratio":"%s/torch-min","config":"%s","seq":%s,"c_mb":%.1f,"torch_mb":%.1f,"ratio_rss":%.3f}\n' \
        "$v" "$config" "$seq" "$(echo "${rss[$v]} / 1024" | bc -l)" "$(echo "$best / 1024" | bc -l)" \
        "$(echo "${rss[$v]} / $best" | bc -l)"
done
