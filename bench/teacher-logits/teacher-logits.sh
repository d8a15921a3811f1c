#!/usr/bin/env bash
# `emo teacher-logits` (plain mode: logits to stdout) against the PyTorch anchor on the same
# records, model shape, batches and threads.
#
#   bench/teacher-logits/teacher-logits.sh [config=bert-mini] [records=4000] [reps=3] [threads=2] [batch=64]
#
# Records: the first `records` tweets of the shared training set through `emo clean | emo
# tokenize` (default cleaning).  The checkpoint is `emo ckpt init` of the preset (random
# weights: the time does not depend on them).  Our time is the whole command's wall time
# (start, read, pack, run, write); PyTorch's is its forwards alone over the same batches
# (bench/teacher-logits/anchor_torch.py).  The sides alternate `reps` times; the last JSON line is
# the median speed-up (PyTorch seconds / ours), for bench/ratios.sh.
set -eu
cd "$(dirname "$0")/../.."
config=${1:-bert-mini}
records=${2:-4000}
reps=${3:-3}
threads=${4:-2}
batch=${5:-64}
anchors=${ANCHORS:-../shared/anchors}
S=${SHARED:-../shared}/data
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
case $config in
  bert-base|bert-mini|bert-tiny) preset=$config ;;
  distil) echo "teacher-logits.sh: distil is not an emo preset" >&2; exit 2 ;;
  *) echo "teacher-logits.sh: config: bert-base, bert-mini or bert-tiny" >&2; exit 2 ;;
esac

make -s all
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
V=$S/bert-base-uncased/vocab.txt
head -n "$records" "$S/emotion/train.txt" > "$w/corpus.txt"
bin/emo clean -q --format semicolon "$w/corpus.txt" | bin/emo tokenize --vocab "$V" > "$w/recs.rec"
bin/emo dump "$w/recs.rec" > "$w/recs.jsonl"
bin/emo ckpt init --labels sadness,joy,love,anger,fear,surprise --vocab "$V" -o "$w/ckpt" "$preset" > /dev/null

TUNE=(OMP_WAIT_POLICY=PASSIVE
      GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184)
out=bench/out/teacher-logits.txt
mkdir -p bench/out
: > "$out"
for rep in $(seq "$reps"); do
    t0=$(date +%s%N)
    env "${TUNE[@]}" bin/emo teacher-logits -m "$w/ckpt" --batch "$batch" --threads "$threads" \
        "$w/recs.rec" > "$w/out.rec"
    t1=$(date +%s%N)
    printf 'JSON {"bench":"teacher-logits","tag":"rep%s","impl":"c","config":"%s","threads":%s,"batch":%s,"records":%s,"t_s":%s,"load":%s}\n' \
        "$rep" "$config" "$threads" "$batch" "$records" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')" \
        "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
    env "${TUNE[@]}" /usr/bin/python3 bench/teacher-logits/anchor_torch.py "$w/recs.jsonl" --anchors "$anchors" \
        --config "$config" --threads "$threads" --batch "$batch" --tag "rep$rep" | tee -a "$out"
done
[ "$(bin/emo dump "$w/out.rec" | wc -l)" -eq "$records" ] || { echo "teacher-logits.sh: record count" >&2; exit 1; }
sed -n 's/^JSON //p' "$out" | jq -c -s '
    def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    (map(select(.impl == "c"))) as $c | (map(select(.impl == "torch"))) as $t
    | [range(0; [$c, $t] | map(length) | min) | $t[.].t_s / $c[.].t_s] as $r
    | {bench: "teacher-logits", tag: "ratio", config: $c[0].config, threads: $c[0].threads,
       batch: $c[0].batch, records: $c[0].records, reps: ($r | length),
       c_s: ($c | map(.t_s) | median), torch_s: ($t | map(.t_s) | median),
       speedup_median: ($r | median), speedups: $r}' | sed 's/^/JSON /' | tee -a "$out"
