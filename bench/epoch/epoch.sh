#!/usr/bin/env bash
# An epoch over the real corpus: the C engine with dynamic padding (each batch computes
# its real tokens only) against the PyTorch anchor padding every batch to 128 (the paper's
# setup), same model, batches, batch size 32, threads.
#
#   bench/epoch/epoch.sh [configs=bert-mini,bert-tiny] [batches=50] [reps=2] [threads=2] [modes=train]
#
# Corpus: the shared training set (16,000 tweets) through `emo clean | emo tokenize`
# (default cleaning; KEEP_STOPWORDS=1 adds --keep-stopwords).  A seeded random shuffle is
# cut into batches of 32 and the first `batches` of them are timed on both sides (after 2
# untimed warm-up batches), then scaled to the 500 batches of the epoch (batches=0 runs the
# whole epoch).  The two sides alternate (C, torch, C, torch, ...) `reps` times; every line
# carries the load average, and the last lines give the speed-up per repetition
# (torch epoch seconds / C epoch seconds) and their median.
set -eu
cd "$(dirname "$0")/../.."
configs=${1:-bert-mini,bert-tiny}
batches=${2:-50}
reps=${3:-2}
threads=${4:-2}
modes=${5:-train}
anchors=${ANCHORS:-../shared/anchors}
S=${SHARED:-../shared}/data
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}

make -s all
mkdir -p bench/out
make -s bench/out/epoch
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
keep=()
[ "${KEEP_STOPWORDS:-0}" = 1 ] && keep=(--keep-stopwords)
bin/emo clean -q "${keep[@]}" --format semicolon "$S/emotion/train.txt" |
    bin/emo tokenize --vocab "$S/bert-base-uncased/vocab.txt" | bin/emo dump > "$w/train.jsonl"
/usr/bin/python3 bench/epoch/anchor_torch.py sample "$w/train.jsonl" "$w/sample.txt" --batches "$batches" --batch 32 --seed 0

TUNE=(OMP_WAIT_POLICY=PASSIVE
      GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184)
out=bench/out/epoch.txt
: > "$out"
for rep in $(seq "$reps"); do
    for cfg in ${configs//,/ }; do
        for m in $modes; do
            env "${TUNE[@]}" bench/out/epoch --sample "$w/sample.txt" --config "$cfg" --mode "$m" \
                --threads "$threads" --tag "rep$rep" | tee -a "$out"
            env "${TUNE[@]}" /usr/bin/python3 bench/epoch/anchor_torch.py run "$w/sample.txt" --anchors "$anchors" \
                --config "$cfg" --mode "$m" --threads "$threads" --tag "rep$rep" 2>&1 | tee -a "$out"
        done
    done
done
/usr/bin/python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l[5:]) for l in open(sys.argv[1]) if l.startswith("JSON ")]
pts = {}
for r in rows:
    pts.setdefault((r["config"], r["mode"]), {}).setdefault(r["tag"], {})[r["impl"]] = r
for (cfg, mode), reps in pts.items():
    ratios = []
    for tag, d in sorted(reps.items()):
        if "c" in d and "torch" in d:
            c, t = d["c"], d["torch"]
            ratio = t["t_epoch_est"] / c["t_epoch_est"]
            ratios.append(ratio)
            print("JSON " + json.dumps(dict(bench="epoch", ratio="torch_pad128/c_dynamic", config=cfg,
                  mode=mode, rep=tag, c_epoch_s=round(c["t_epoch_est"], 3),
                  torch_epoch_s=round(t["t_epoch_est"], 3), speedup=round(ratio, 3),
                  real_token_share=round(c["tokens_real"] / c["tokens_pad128"], 4),
                  load1_c=c["load1"], load1_torch=t["load1"])))
    if ratios:
        print("JSON " + json.dumps(dict(bench="epoch", summary=True, config=cfg, mode=mode,
              reps=len(ratios), speedup_median=round(statistics.median(ratios), 3),
              speedup_min=round(min(ratios), 3), speedup_max=round(max(ratios), 3))))
EOF
