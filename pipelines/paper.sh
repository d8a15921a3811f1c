#!/usr/bin/env bash
# The paper's pipeline at CPU size on the shared emotion corpus, end to end:
#   clean -> tokenize -> split (70/15/15, seed 42) -> teacher-train -> teacher-logits (cache)
#   -> student-distill (DistilBERT-style, ALBERT-style) [-> ablations] -> eval, confusion,
#   t-SNE of the teacher's embeddings -> OUT/RESULTS.md
#
# Usage: pipelines/paper.sh [OUT_DIR]          (default work/paper)
# Knobs (environment): TEACHER (bert-tiny), STUDENTS ("distilbert-tiny albert-tiny"),
#   T_EPOCHS (12), S_EPOCHS (12), THREADS (2), ABLATIONS (0; 1 runs the paper's ablations on
#   the first student), A_EPOCHS (epochs of each ablation run, S_EPOCHS; the ablations include
#   the default settings at A_EPOCHS as their own baseline), JOBS (1: ablation runs at once,
#   each with THREADS threads), SHARED (../shared beside the source tree), DATA, VOCAB.
# Every figure in OUT/RESULTS.md is measured by this run; rerun it to reproduce them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$here/bin:$PATH"
SHARED=${SHARED:-$here/../shared}
DATA=${DATA:-$SHARED/data/emotion}
VOCAB=${VOCAB:-$SHARED/data/bert-base-uncased/vocab.txt}
OUT=${1:-${OUT:-work/paper}}
TEACHER=${TEACHER:-bert-tiny}
STUDENTS=${STUDENTS:-distilbert-tiny albert-tiny}
T_EPOCHS=${T_EPOCHS:-12}
S_EPOCHS=${S_EPOCHS:-12}
THREADS=${THREADS:-2}
ABLATIONS=${ABLATIONS:-0}
A_EPOCHS=${A_EPOCHS:-$S_EPOCHS}
JOBS=${JOBS:-1}
SEED=${SEED:-42}

for f in "$DATA/train.txt" "$DATA/val.txt" "$VOCAB"; do
    [ -r "$f" ] || { echo "paper.sh: $f: not found (set SHARED, DATA or VOCAB)" >&2; exit 1; }
done
mkdir -p "$OUT"
log() { printf '%s paper.sh: %s\n' "$(date +%T)" "$*" >&2; }

# 1. data: both shared files are one corpus (ids: line numbers; val's offset past train's)
if [ ! -s "$OUT/split/test.rec" ]; then
    log "clean | tokenize | split"
    ntrain=$(wc -l < "$DATA/train.txt")
    { emo clean -q --format semicolon --keep-stopwords "$DATA/train.txt"
      emo clean -q --format semicolon --keep-stopwords --id-offset "$ntrain" "$DATA/val.txt"; } \
        | emo tokenize --vocab "$VOCAB" --max-len 128 \
        | emo split --seed "$SEED" -o "$OUT/split"
fi

# 2. teacher (a .done marker: an interrupted run resumes from its last checkpoint)
if [ ! -e "$OUT/teacher/.done" ]; then
    log "teacher-train $TEACHER"
    resume=; [ -d "$OUT/teacher/last" ] && resume=--resume
    emo teacher-train --train "$OUT/split/train.rec" --val "$OUT/split/val.rec" --config "$TEACHER" \
        --vocab "$VOCAB" --epochs "$T_EPOCHS" --seed "$SEED" --threads "$THREADS" $resume -o "$OUT/teacher"
    touch "$OUT/teacher/.done"
fi

# 3. the teacher's soft targets and attention maps, once, for every student
if [ ! -s "$OUT/cache/shard.manifest.json" ]; then
    log "teacher-logits -> cache"
    rm -rf "$OUT/cache"
    mkdir -p "$OUT/cache"
    emo teacher-logits -m "$OUT/teacher" -o "$OUT/cache" --attn-layers all --threads "$THREADS" \
        "$OUT/split/train.rec"
fi

# 4. students, and 5. ablations on the first student
distill() {   # distill NAME CONFIG EPOCHS [extra flags...]
    local name=$1 config=$2 epochs=$3
    shift 3
    local dir="$OUT/students/$name"
    [ -e "$dir/.done" ] && return 0
    [ -d "$dir/last" ] && set -- "$@" --resume
    log "student-distill $name ($config $*)"
    emo student-distill --train "$OUT/split/train.rec" --val "$OUT/split/val.rec" --teacher-cache "$OUT/cache" \
        --config "$config" --vocab "$VOCAB" --epochs "$epochs" --seed "$SEED" --threads "$THREADS" \
        -q -o "$dir" "$@"
    touch "$dir/.done"
}
mkdir -p "$OUT/students"
for s in $STUDENTS; do distill "$s" "$s" "$S_EPOCHS"; done
first=${STUDENTS%% *}
if [ "$ABLATIONS" = 1 ]; then
    ablation() {   # ablation SUFFIX [flags...]: up to JOBS at once
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || exit 1; done
        local suffix=$1
        shift
        distill "$first.abl-$suffix" "$first" "$A_EPOCHS" "$@" &
    }
    ablation default
    ablation alpha0.5 --alpha 0.5
    ablation alpha1.0 --alpha 1.0
    ablation T1 --temperature 1
    ablation T2 --temperature 2
    ablation ce --loss ce
    ablation no-attn --attn-loss none
    ablation no-kd --alpha 0 --attn-loss none
    while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || exit 1; done
fi

# 6. evaluation on the held-out test split
mkdir -p "$OUT/eval"
models="teacher"
for d in "$OUT"/students/*/; do models="$models students/$(basename "$d")"; done
for m in $models; do
    name=$(basename "$m")
    [ -s "$OUT/eval/$name.json" ] && continue
    log "eval $name"
    start=$(date +%s.%N)
    emo teacher-logits -m "$OUT/$m" --threads "$THREADS" "$OUT/split/test.rec" > "$OUT/eval/$name.preds.rec"
    end=$(date +%s.%N)
    echo "$start $end" > "$OUT/eval/$name.time"
    emo eval --figures "$OUT/eval/$name.figures" "$OUT/eval/$name.preds.rec" > "$OUT/eval/$name.report.txt"
    emo eval --json "$OUT/eval/$name.preds.rec" > "$OUT/eval/$name.json"
    emo confusion --svg "$OUT/eval/$name.confusion.svg" "$OUT/eval/$name.preds.rec" > "$OUT/eval/$name.confusion.txt"
done
if [ ! -s "$OUT/eval/teacher.tsne.rec" ]; then
    log "t-SNE of the teacher's test embeddings"
    emo teacher-logits -m "$OUT/teacher" --embeddings --threads "$THREADS" "$OUT/split/test.rec" \
        | emo tsne --seed "$SEED" --threads "$THREADS" --drop-embedding --svg "$OUT/eval/teacher.tsne.svg" \
            --title "t-SNE of the teacher's test-split embeddings" \
            --stats "$OUT/eval/teacher.tsne.stats" -o "$OUT/eval/teacher.tsne.rec"
fi

# 7. the table
export TEACHER STUDENTS T_EPOCHS S_EPOCHS A_EPOCHS ABLATIONS JOBS THREADS
/usr/bin/env python3 - "$OUT" $models <<'PY' > "$OUT/RESULTS.md" || { echo "paper.sh: python3 needed for the table" >&2; exit 1; }
import json, os, sys
out, models = sys.argv[1], sys.argv[2:]
rows = []
for m in models:
    name = os.path.basename(m)
    ev = json.load(open(f"{out}/eval/{name}.json"))
    cfg = json.load(open(f"{out}/{m}/config.json"))
    size = sum(os.path.getsize(f"{out}/{m}/{f}") for f in os.listdir(f"{out}/{m}") if f.endswith(".safetensors"))
    t0, t1 = map(float, open(f"{out}/eval/{name}.time").read().split())
    w = ev["weighted_avg"]
    log = [json.loads(l) for l in open(f"{out}/{m}/train_log.jsonl") if '"val_accuracy"' in l]
    import subprocess
    params = json.loads(subprocess.run(["emo", "ckpt", "info", f"{out}/{m}"], capture_output=True, text=True,
                                       check=True).stdout)["params"]
    run = json.load(open(f"{out}/{m}/last/trainer_state.json"))["run"] if os.path.exists(f"{out}/{m}/last/trainer_state.json") else {}
    rows.append((name, cfg.get("model_type"), ev["accuracy"], w["precision"], w["recall"], w["f1"], params, size,
                 ev["n"] / (t1 - t0), len(log), max((e["val_accuracy"] for e in log), default=float("nan")),
                 run.get("alpha", ""), run.get("temperature", ""), run.get("loss", ""), run.get("attn_loss", "")))
print(f"# Results: {len(rows)} models on the held-out test split ({rows[0] and ev['n']} records)\n")
print("Made by `pipelines/paper.sh` (%s); rerun it to reproduce." % " ".join(
    f"{k}={os.environ[k]!r}" for k in ("TEACHER", "STUDENTS", "T_EPOCHS", "S_EPOCHS", "A_EPOCHS", "ABLATIONS", "JOBS", "THREADS")
    if k in os.environ))
print("Inference samples/s: wall time of `emo teacher-logits` over the test split, including start-up and I/O.\n")
print("| model | type | alpha | T | label loss | attn loss | accuracy | precision (w) | recall (w) | F1 (w) | parameters | checkpoint MB | infer samples/s | epochs | best val acc |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[11]} | {r[12]} | {r[13]} | {r[14]} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.4f} | {r[6]:,} | {r[7]/1e6:.1f} | {r[8]:.0f} | {r[9]} | {r[10]:.4f} |")
PY
log "done: $OUT/RESULTS.md"
cat "$OUT/RESULTS.md"
