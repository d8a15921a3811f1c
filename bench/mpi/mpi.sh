#!/usr/bin/env bash
# Data-parallel training on this machine (issue 17): emo teacher-train on 2 MPI ranks of 1
# thread against 1 process of 2 threads, and PyTorch DDP (gloo) on 2 processes of 1 thread,
# the same global batch and sequence length, random tokens (every record `seq` long, so no
# side pads).
#
#   bench/mpi/mpi.sh [configs=bert-mini] [batch=32] [seq=32] [steps=30] [reps=1]
#
# Both sides are timed alike: `steps` timed steps after 3 warm-up steps (the first steps
# pay for start-up: page zeroing of the activations, 13 s at bert-base s128).  emo trains
# one epoch of 3 + `steps` batches (validation on a single record) with --log-every 1, and
# its samples/s is steps x batch over the difference of train_log.jsonl's elapsed_s between
# step 3 and step 3 + steps; for the 2 ranks, the all-reduce wait share is the difference
# of allreduce_wait_s over the same steps divided by that time (rank 0's waiting in the
# gradient all-reduce, a share of the wall time).  The epoch line's samples/s, first steps
# included, is kept as epoch_samples_s.  The anchor's is samples/s over its `steps` timed
# steps after 3 warm-up steps, and the time of one separate gloo all_reduce of the
# gradients' size.  Prints one line per run, then "JSON {...}" lines; every line carries
# the load average: on a loaded machine these are not measurements.  ANCHOR=0 leaves
# PyTorch out.
set -eu
cd "$(dirname "$0")/../.."
configs=${1:-bert-mini}
batch=${2:-32}
seq=${3:-32}
steps=${4:-30}
reps=${5:-1}
warm=3
anchors=${ANCHORS:-../shared/anchors}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
command -v mpirun > /dev/null || { echo "mpi.sh: mpirun not found (make deps)" >&2; exit 1; }
make -s all
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
awk -v n=$((batch * (warm + steps))) -v s="$seq" 'BEGIN { srand(1); split("sadness joy love anger fear surprise", L, " ")
    for (i = 0; i < n; i++) { printf "{\"id\":%d,\"input_ids\":[101", i
        for (t = 0; t < s - 2; t++) printf ",%d", 1000 + int(rand() * 19000)
        printf ",102],\"label\":\"%s\"}\n", L[1 + i % 6] } }' > "$w/all.jsonl"
bin/emo pack -o "$w/train.rec" "$w/all.jsonl"
head -n 1 "$w/all.jsonl" | bin/emo pack -o "$w/val.rec"     # one record: the epoch's time is training's
root=()
[ "$(id -u)" != 0 ] || root=(--allow-run-as-root)
out=bench/out/mpi.txt
mkdir -p bench/out
: > "$out"
emo_run() {   # emo_run TAG RANKS THREADS CONFIG
    local d="$w/$1-$4" load
    rm -rf "$d"
    load=$(cut -d' ' -f1 /proc/loadavg)
    local args=(--train "$w/train.rec" --val "$w/val.rec" --config "$4" --batch "$batch" --threads "$3"
                --epochs 1 --lr 1e-4 --seed 1 --log-every 1 -q -o "$d")
    if [ "$2" = 1 ]; then
        bin/emo teacher-train "${args[@]}"
    else
        mpirun "${root[@]}" --oversubscribe -np "$2" -x OPENBLAS_CORETYPE bin/emo teacher-train "${args[@]}"
    fi
    # the step lines after step `warm` up to `warm + steps` (the last of the epoch)
    jq -s -c --arg cfg "$4" --arg tag "$1" --argjson r "$2" --argjson t "$3" --argjson load "$load" \
        --argjson b "$batch" --argjson s "$seq" --argjson w "$warm" --argjson n "$steps" '
        (map(select(.elapsed_s != null) | {key: "\(.step)", value: .}) | from_entries) as $at
        | $at["\($w)"] as $a | $at["\($w + $n)"] as $z | ($z.elapsed_s - $a.elapsed_s) as $dt
        | {bench: "mpi", impl: "emo", tag: $tag, config: $cfg, ranks: $r, threads: $t, batch: $b, seq: $s,
           steps: $n, t: $dt, samples_s: ($n * $b / $dt),
           allreduce_wait_share: (if $z.allreduce_wait_s != null then ($z.allreduce_wait_s - $a.allreduce_wait_s) / $dt
                                  else null end),
           epoch_samples_s: (map(select(.train_loss != null))[0].samples_per_s), load1: $load}' \
        "$d/train_log.jsonl" | sed 's/^/JSON /'
}
for rep in $(seq "$reps"); do
    for cfg in ${configs//,/ }; do
        emo_run "rep$rep" 1 2 "$cfg" | tee -a "$out"
        emo_run "rep$rep" 2 1 "$cfg" | tee -a "$out"
        [ "${ANCHOR:-1}" = 0 ] || /usr/bin/python3 bench/mpi/anchor_torch_ddp.py --anchors "$anchors" --config "$cfg" --ranks 2 --threads 1 \
            --batch "$batch" --seq "$seq" --steps "$steps" --warmup "$warm" | tee -a "$out"
    done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l[5:]) for l in open(sys.argv[1]) if l.startswith("JSON ")]
for r in rows:
    name = f'{r["impl"]} {r["ranks"]}x{r["threads"]}'
    extra = ""
    if r.get("allreduce_wait_share") is not None:
        extra = f', all-reduce wait {100 * r["allreduce_wait_share"]:.1f}% of wall'
    if r.get("epoch_samples_s") is not None:
        extra += f', epoch {r["epoch_samples_s"]:.1f} with its first steps'
    if r.get("allreduce_ms_alone") is not None:
        extra = f', one all_reduce alone {r["allreduce_ms_alone"]:.1f} ms of a {r["step_ms"]:.0f} ms step'
    print(f'{r["config"]} b{r["batch"]} s{r["seq"]}: {name:22s} {r["samples_s"]:7.1f} samples/s{extra} (load {r["load1"]:.1f})')
PY
