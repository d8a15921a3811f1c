#!/usr/bin/env bash
# The paper's pipeline at CPU size, end to end:
#   clean -> tokenize -> split (70/15/15) [-> pretrain (masked LM)] -> teacher-train -> teacher-logits
#   (cache) -> student-distill (DistilBERT-style, ALBERT-style) [-> ablations] -> eval (and
#   each student's int8 copy, emo ckpt quantize), confusion, t-SNE of the teacher's embeddings
#   -> OUT/results/ (RESULTS.md, reports, figures)
#
# Usage: pipelines/paper.sh [OUT_DIR]          (default work/paper)
#
# Make-style: every stage records a key in OUT/.stamps/STAGE, the sha256 of its recipe (the
# stage function's text and arguments, which carry every knob it uses), the content of its
# input files, the binaries of the tools it runs and the keys of the stages it reads.  A
# rerun skips a stage whose key is unchanged and redoes it (from scratch) when the key
# changed, so after a change only the stages downstream of it run again.  A stage
# interrupted with the same key resumes from its last checkpoint (teacher, students).
#
# Knobs (environment):
#   CORPUS     a directory of `text;label` files (train.txt, val.txt, test.txt: those present
#              are one corpus, ids numbered across them), or one file: the Kaggle text.csv
#              (header ",text,label", numeric labels named by LABEL_NAMES) or any format
#              `emo clean` detects.  Default: data/emotion if present, else
#              $SHARED/data/emotion.  (DATA is the old name of CORPUS.)
#   LABEL_NAMES  (sadness,joy,love,anger,fear,surprise) the Kaggle labels 0..5
#   TEXT_COL, LABEL_COL (emo clean's defaults, text and label): the columns of a CSV/TSV
#   corpus with a header row (any label set: the labels are the column's values)
#   SHARED (../shared beside the source tree), VOCAB (bert-base-uncased's vocab.txt there)
#   MAX_LEN (128), SEED (42), THREADS (2)
#   TEACHER (bert-mini: a preset, config.json or checkpoint directory), T_EPOCHS (2),
#   T_OPTS (extra teacher-train flags, e.g. "--max-steps 100")
#   PRETRAIN (1: `emo pretrain` a TEACHER-shaped masked-LM model on UNLABELED plus the
#   training split's texts, never val or test, then teacher-train --init from it with peak
#   lr 3e-4 and 10% warm-up unless T_OPTS has --lr; 0: the teacher from scratch),
#   UNLABELED (one tweet a line: CORPUS/unlabeled.txt if CORPUS is a directory holding it,
#   else $SHARED/data/emotion/unlabeled.txt; "none": the training split alone), P_EPOCHS
#   (1), P_STEPS (500: stop the masked-LM run after this many steps of 64 texts, about half
#   an epoch of the shared corpus, to keep make demo within 15 minutes; empty: P_EPOCHS
#   whole epochs), P_OPTS (extra emo pretrain flags)
#   DISTILL_UNLABELED (1: the teacher's soft targets also over UNLABELED, and the students
#   learn from them: the KD term alone where a record has no label; 0: the training split)
#   STUDENTS ("distilbert-tiny albert-tiny"; each PRESET or NAME=CONFIG), S_EPOCHS (2),
#   S_OPTS (extra student-distill flags), ATTN_LAYERS (the students' default map),
#   ATTN_CODEC (u8)
#   TRIM_VOCAB (1: the students' vocabulary is the part of VOCAB that the texts they learn
#   from use, emo ckpt trim-vocab over distill.rec, so that their embedding tables are a
#   fraction of the teacher's; their records, validation and test splits are tokenized
#   with it; 0: the teacher's vocabulary)
#   BASELINES (1: the majority class and, if `fasttext` is installed, a fastText model
#   trained on the same split, in RESULTS.md; 0: none)
#   INT8 (1: each student's eval stage also quantizes it, `emo ckpt quantize` into
#   OUT/students/NAME.int8, and evaluates that on the same test split, timed the same way:
#   RESULTS.md's int8 table, accuracy, size and samples/s beside float; a few seconds.  0: not)
#   ABLATIONS (0; 1 runs the paper's ablations on the first student), A_EPOCHS (S_EPOCHS;
#   the ablations include the default settings at A_EPOCHS as their own baseline),
#   JOBS (1: ablation runs at once, each with THREADS threads)
#   TSNE_PERPLEXITY (30), LENGTH_BUCKETS (q8: emo eval --length-buckets)
#   UNTIL      stop after this stage (data, teacher, cache, student-NAME, ...)
# Every figure in OUT/results/RESULTS.md is measured by this run; rerun it to reproduce them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$here/bin:$PATH"
SHARED=${SHARED:-$here/../shared}
CORPUS=${CORPUS:-${DATA:-}}
if [ -z "$CORPUS" ]; then
    if [ -e "$here/data/emotion/train.txt" ]; then CORPUS=$here/data/emotion; else CORPUS=$SHARED/data/emotion; fi
fi
LABEL_NAMES=${LABEL_NAMES:-sadness,joy,love,anger,fear,surprise}
TEXT_COL=${TEXT_COL:-}
LABEL_COL=${LABEL_COL:-}
VOCAB=${VOCAB:-$SHARED/data/bert-base-uncased/vocab.txt}
OUT=${1:-${OUT:-work/paper}}
MAX_LEN=${MAX_LEN:-128}
SEED=${SEED:-42}
THREADS=${THREADS:-2}
TEACHER=${TEACHER:-bert-mini}
T_EPOCHS=${T_EPOCHS:-2}
T_OPTS=${T_OPTS:-}
PRETRAIN=${PRETRAIN:-1}
P_EPOCHS=${P_EPOCHS:-1}
P_STEPS=${P_STEPS-500}
P_OPTS=${P_OPTS:-}
[ -z "$P_STEPS" ] || P_OPTS="--max-steps $P_STEPS${P_OPTS:+ $P_OPTS}"
DISTILL_UNLABELED=${DISTILL_UNLABELED:-1}
STUDENTS=${STUDENTS:-distilbert-tiny albert-tiny}
S_EPOCHS=${S_EPOCHS:-2}
S_OPTS=${S_OPTS:-}
ATTN_LAYERS=${ATTN_LAYERS:-}
ATTN_CODEC=${ATTN_CODEC:-u8}
TRIM_VOCAB=${TRIM_VOCAB:-1}
BASELINES=${BASELINES:-1}
INT8=${INT8:-1}
ABLATIONS=${ABLATIONS:-0}
A_EPOCHS=${A_EPOCHS:-$S_EPOCHS}
JOBS=${JOBS:-1}
TSNE_PERPLEXITY=${TSNE_PERPLEXITY:-30}
UNTIL=${UNTIL:-}
LENGTH_BUCKETS=${LENGTH_BUCKETS:-q8}

me=paper.sh
die() { echo "$me: $*" >&2; exit 1; }
log() { printf '%s %s: %s\n' "$(date +%T)" "$me" "$*" >&2; }

# The corpus files, in id order.
corpus_files=()
if [ -d "$CORPUS" ]; then
    for f in train val test; do
        if [ -e "$CORPUS/$f.txt" ]; then corpus_files+=("$CORPUS/$f.txt"); fi
    done
    [ ${#corpus_files[@]} -gt 0 ] || die "$CORPUS: no train.txt, val.txt or test.txt (make fetch-data, or set CORPUS)"
else
    corpus_files=("$CORPUS")
fi
for f in "${corpus_files[@]}" "$VOCAB"; do
    [ -r "$f" ] || die "$f: not found (make fetch-data, or set CORPUS, SHARED or VOCAB)"
done
case $PRETRAIN in 0|1) ;; *) die "PRETRAIN=$PRETRAIN: 0 or 1" ;; esac
case $DISTILL_UNLABELED in 0|1) ;; *) die "DISTILL_UNLABELED=$DISTILL_UNLABELED: 0 or 1" ;; esac
case $TRIM_VOCAB in 0|1) ;; *) die "TRIM_VOCAB=$TRIM_VOCAB: 0 or 1" ;; esac
case $INT8 in 0|1) ;; *) die "INT8=$INT8: 0 or 1" ;; esac
if { [ "$PRETRAIN" = 1 ] || [ "$DISTILL_UNLABELED" = 1 ]; } && [ -z "${UNLABELED:-}" ]; then
    if [ -d "$CORPUS" ] && [ -e "$CORPUS/unlabeled.txt" ]; then UNLABELED=$CORPUS/unlabeled.txt
    else UNLABELED=$SHARED/data/emotion/unlabeled.txt; fi
fi
UNLABELED=${UNLABELED:-none}
# Fine-tuning a small, briefly pretrained teacher: peak lr 3e-4 with 10% warm-up, not the
# paper's 2e-5 for bert-base nor emo-teacher-train's 1e-4 (chosen on masked-LM snapshots
# taken at the peak of a 10-epoch schedule): on the validation split, a bert-mini after one
# masked-LM epoch reached 0.8985 after 3 epochs at 3e-4 against 0.8844 at 1e-4, and a
# bert-tiny after three 0.8996 at 5e-4 against 0.8704 at 1e-4 (bench/results/demo/2026-12-07b).
# T_OPTS with its own --lr wins.
if [ "$PRETRAIN" = 1 ]; then
    case " $T_OPTS " in *" --lr "*) ;; *) T_OPTS="--lr 3e-4 --warmup-ratio 0.1${T_OPTS:+ $T_OPTS}" ;; esac
fi
[ "$UNLABELED" = none ] || [ -r "$UNLABELED" ] ||
    die "$UNLABELED: not found (set UNLABELED, or UNLABELED=none)"
mkdir -p "$OUT/.stamps"
OUT=$(cd "$OUT" && pwd)
STAMPS=$OUT/.stamps
# one run at a time in OUT (the lock goes with the process)
exec 9>> "$STAMPS/lock"
flock -n 9 || die "$OUT: another paper.sh is running there"

# ---- the make-style stage runner ---------------------------------------------------------

# dep lines for a stage's key: "stage:NAME" (that stage's key), "file:PATH" (its content,
# not its name; a directory: every file in it), "tool:NAME" (bin/emo-NAME), "spec:X" (a
# preset name as it is, or a config file or directory by content)
dep_lines() {
    local d p
    for d; do
        case $d in
        stage:*) p=${d#stage:}; [ -s "$STAMPS/$p" ] || die "stage $p has not run"; echo "$d $(cat "$STAMPS/$p")" ;;
        tool:*) echo "$d $(sha256sum < "$here/bin/emo-${d#tool:}")" ;;
        file:*|spec:*)   # by content: the same files elsewhere are the same input
            p=${d#*:}
            if [ -d "$p" ]; then
                echo "${d%%:*}:"; (cd "$p" && find . -type f ! -name '.*' -print0 | sort -z | xargs -0r sha256sum)
            elif [ -f "$p" ]; then
                echo "${d%%:*}: $(sha256sum < "$p")"
            elif [ "${d%%:*}" = spec ]; then
                echo "$d"                        # a preset name
            else
                die "$p: not found"
            fi ;;
        *) die "internal: bad dependency $d" ;;
        esac
    done
}

# stage NAME DEP... -- FUNCTION ARG...: run FUNCTION ARG... unless the stamp of NAME holds
# the same key.  FUNCTION gets RESUME=1 when a run with the same key was interrupted.
stage() {
    local name=$1 deps=() key t0
    shift
    while [ "$1" != -- ]; do deps+=("$1"); shift; done
    shift
    key=$( { printf 'stage %s\n' "$name"; printf 'arg %s\n' "$@"; declare -f "$1"; dep_lines "${deps[@]}"; } |
           sha256sum | cut -c1-64 )
    if [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$key" ]; then
        log "$name: up to date"
        until_here "$name"
        return 0
    fi
    rm -f "$STAMPS/$name"
    RESUME=0
    [ "$(cat "$STAMPS/$name.started" 2>/dev/null)" = "$key" ] && RESUME=1
    echo "$key" > "$STAMPS/$name.started"
    log "$name: run$([ $RESUME = 1 ] && echo ' (resume)' || true)"
    t0=$(date +%s)
    "$@"
    echo "$key" > "$STAMPS/$name.tmp"
    mv "$STAMPS/$name.tmp" "$STAMPS/$name"
    rm -f "$STAMPS/$name.started"
    log "$name: done in $(( $(date +%s) - t0 )) s"
    until_here "$name"
}
until_here() { if [ "$1" = "$UNTIL" ]; then log "stopping after $1 (UNTIL=$UNTIL)"; exit 0; fi; }

# ---- the stages --------------------------------------------------------------------------

# 1. clean | tokenize | split: every corpus file into one record stream (ids: line numbers,
# numbered across the files), WordPiece, stratified 70/15/15
data_stage() {   # data MAX_LEN SEED LABEL_NAMES TEXT_COL LABEL_COL BASENAME...: reads "${corpus_files[@]}"
    local max_len=$1 seed=$2 label_names=$3 offset=0 f cols=()
    [ -z "$4" ] || cols+=(--text-col "$4")
    [ -z "$5" ] || cols+=(--label-col "$5")
    rm -rf "$OUT/split"
    for f in "${corpus_files[@]}"; do
        if [ "$(head -c 11 "$f")" = ",text,label" ]; then
            emo clean -q --format kaggle --label-names "$label_names" --keep-stopwords "$f"
        else
            emo clean -q --keep-stopwords "${cols[@]}" --id-offset "$offset" "$f"
            offset=$((offset + $(wc -l < "$f")))
        fi
    done | emo tokenize --vocab "$VOCAB" --max-len "$max_len" | emo split --seed "$seed" -o "$OUT/split"
}

# 1b. the unlabelled tweets as token records, cleaned as the corpus is; their ids in id
# space 1 (2^40 + line), clear of the corpus's, so that one cache holds both
unlabeled_stage() {   # unlabeled MAX_LEN
    emo clean -q --format lines --keep-stopwords --id-space 1 "$UNLABELED" |
        emo tokenize --vocab "$VOCAB" --max-len "$1" -o "$OUT/unlabeled.rec"
}

# 2a. optional: masked-LM pretraining of the teacher's shape on the unlabelled tweets and
# the training split's texts (never val or test: they are evaluated on)
pretrain_stage() {   # pretrain CONFIG UNLABELED(yes|none) EPOCHS SEED THREADS EXTRA
    local resume= files=("$OUT/split/train.rec")
    if [ "$RESUME" = 1 ] && [ -d "$OUT/pretrain/last" ]; then resume=--resume; else rm -rf "$OUT/pretrain"; fi
    [ "$2" = none ] || files=("$OUT/unlabeled.rec" "${files[@]}")
    # shellcheck disable=SC2086
    emo pretrain --train "${files[@]}" --config "$1" --vocab "$VOCAB" --epochs "$3" --seed "$4" \
        --threads "$5" -q $resume $6 -o "$OUT/pretrain"
}

# 2. the teacher, from CONFIG, or from the pretrained model (INIT=pretrain, a directory in OUT)
teacher_stage() {   # teacher CONFIG INIT EPOCHS SEED THREADS EXTRA
    local resume= model=(--config "$1")
    if [ "$RESUME" = 1 ] && [ -d "$OUT/teacher/last" ]; then resume=--resume; else rm -rf "$OUT/teacher"; fi
    [ -z "$2" ] || model=(--init "$OUT/$2")
    # shellcheck disable=SC2086
    emo teacher-train --train "$OUT/split/train.rec" --val "$OUT/split/val.rec" "${model[@]}" \
        --vocab "$VOCAB" --epochs "$3" --seed "$4" --threads "$5" $resume $6 -o "$OUT/teacher"
}

# 3. the teacher's soft targets and attention maps over the training split (and the
# unlabelled tweets: DISTILL_UNLABELED=1), once, for every student; distill.rec is what the
# students train on
cache_stage() {   # cache ATTN_LAYERS CODEC THREADS UNLABELED(yes|none)
    local files=("$OUT/split/train.rec") layers=()
    [ "$4" = none ] || files+=("$OUT/unlabeled.rec")
    [ -z "$1" ] || layers=(--attn-layers "$1")
    rm -rf "$OUT/cache" "$OUT/distill.rec"
    mkdir -p "$OUT/cache"
    emo teacher-logits -m "$OUT/teacher" -o "$OUT/cache" "${layers[@]}" --attn-codec "$2" \
        --threads "$3" "${files[@]}"
    cat "${files[@]}" > "$OUT/distill.rec.tmp"
    mv "$OUT/distill.rec.tmp" "$OUT/distill.rec"
}

# 4. a student (and 5. each ablation), from random weights.  TRIM 1: in its own vocabulary,
# the part of VOCAB that distill.rec's texts use plus the specials, every single character
# and the config's special token ids (emo ckpt trim-vocab: every one of those texts keeps
# its token sequence, so the teacher's cache serves the student unchanged); its records,
# validation and test splits are tokenized with it into students/NAME.data/.
student_stage() {   # student NAME CONFIG EPOCHS SEED THREADS EXTRA MAX_LEN TRIM(0|1)
    local dir="$OUT/students/$1" resume= model=(--config "$2" --vocab "$VOCAB")
    local train=$OUT/distill.rec val=$OUT/split/val.rec s
    if [ "$RESUME" = 1 ] && [ -d "$dir/last" ]; then resume=--resume; else rm -rf "$dir" "$dir.init" "$dir.data"; fi
    if [ "$8" = 1 ]; then
        if [ ! -e "$dir.data/test.rec" ]; then
            rm -rf "$dir.init" "$dir.init-full" "$dir.data"
            emo ckpt init --labels "$(teacher_labels)" --vocab "$VOCAB" --seed "$4" -o "$dir.init-full" "$2"
            emo ckpt trim-vocab -m "$dir.init-full" --corpus "$OUT/distill.rec" -o "$dir.init"
            rm -rf "$dir.init-full"
            mkdir -p "$dir.data"
            for s in distill val test; do
                local src=$OUT/split/$s.rec
                [ "$s" = distill ] && src=$OUT/distill.rec
                emo tokenize --vocab "$dir.init/vocab.txt" --max-len "$7" -o "$dir.data/$s.rec" "$src"
            done
        fi
        model=(--init "$dir.init") train=$dir.data/distill.rec val=$dir.data/val.rec
    fi
    # shellcheck disable=SC2086
    emo student-distill --train "$train" --val "$val" --teacher-cache "$OUT/cache" \
        "${model[@]}" --epochs "$3" --seed "$4" --threads "$5" -q $resume $6 -o "$dir"
    rm -rf "$dir.init"
}
# the teacher's class names, in class-id order
teacher_labels() {
    jq -r '[.id2label | to_entries | sort_by(.key | tonumber)[] | .value] | join(",")' "$OUT/teacher/config.json"
}

# 6. predictions on the held-out test split (timed: the table's inference speed), report,
# confusion, figures; INT8 1 (a student): the same for its int8 copy, MODEL_DIR.int8
eval_stage() {   # eval NAME MODEL_DIR (under OUT) THREADS LENGTH_BUCKETS TEST (under OUT) INT8(0|1)
    local name=$1 m="$OUT/$2" e="$OUT/eval" start end test=$OUT/$5
    mkdir -p "$e"
    rm -rf "$e/$name".{preds.rec,time,figures,report.txt,json,confusion.svg,confusion.txt} \
        "$e/$name.int8".{preds.rec,time,report.txt,json} "$m.int8"
    start=$(date +%s.%N)
    emo teacher-logits -m "$m" --threads "$3" "$test" > "$e/$name.preds.rec"
    end=$(date +%s.%N)
    echo "$start $end" > "$e/$name.time"
    emo eval --length-buckets "$4" --figures "$e/$name.figures" "$e/$name.preds.rec" > "$e/$name.report.txt"
    emo eval --length-buckets "$4" --json "$e/$name.preds.rec" > "$e/$name.json"
    emo confusion --svg "$e/$name.confusion.svg" "$e/$name.preds.rec" > "$e/$name.confusion.txt"
    [ "$6" = 1 ] || return 0
    # int8 linear layers and embedding tables (emo-checkpoint(5)); its predictions timed as
    # the float model's were
    emo ckpt quantize -m "$m" -o "$m.int8"
    start=$(date +%s.%N)
    emo teacher-logits -m "$m.int8" --threads "$3" "$test" > "$e/$name.int8.preds.rec"
    end=$(date +%s.%N)
    echo "$start $end" > "$e/$name.int8.time"
    emo eval --length-buckets "$4" "$e/$name.int8.preds.rec" > "$e/$name.int8.report.txt"
    emo eval --length-buckets "$4" --json "$e/$name.int8.preds.rec" > "$e/$name.int8.json"
}

# 7. t-SNE of the teacher's pooled embeddings of the test split
tsne_stage() {   # tsne SEED THREADS PERPLEXITY
    rm -f "$OUT/eval/teacher.tsne".*
    mkdir -p "$OUT/eval"
    emo teacher-logits -m "$OUT/teacher" --embeddings --threads "$2" "$OUT/split/test.rec" |
        emo tsne --seed "$1" --threads "$2" --perplexity "$3" --drop-embedding --svg "$OUT/eval/teacher.tsne.svg" \
            --title "t-SNE of the teacher's test-split embeddings" \
            --stats "$OUT/eval/teacher.tsne.stats" -o "$OUT/eval/teacher.tsne.rec"
}

# 7b. baselines on the same split: the majority class of the training split, and fastText
# (when installed: Debian's fasttext, fixed settings, one thread, so the same run gives
# the same model) trained on the training split's texts as the models see them
baselines_stage() {   # baselines THREADS
    local b="$OUT/eval/baselines" maj acc n
    rm -rf "$b" "$b.jsonl"
    mkdir -p "$b"
    for s in train test; do
        emo dump "$OUT/split/$s.rec" | jq -r '"__label__\(.label) \(.text)"' > "$b/$s.txt"
    done
    n=$(wc -l < "$b/test.txt")
    maj=$(cut -d' ' -f1 "$b/train.txt" | sort | uniq -c | sort -k1,1nr -k2 | awk 'NR == 1 { print $2 }')
    acc=$(cut -d' ' -f1 "$b/test.txt" | awk -v m="$maj" -v n="$n" '$1 == m { k++ } END { printf "%.6f", k / n }')
    jq -c -n --arg m "${maj#__label__}" --argjson a "$acc" \
        '{name: "majority class", accuracy: $a, note: "always \($m), the most frequent training label"}' > "$b.jsonl.tmp"
    if command -v fasttext > /dev/null; then
        fasttext supervised -input "$b/train.txt" -output "$b/fasttext" -epoch 25 -lr 0.5 -wordNgrams 2 \
            -dim 50 -thread 1 -verbose 0 > /dev/null
        acc=$(fasttext test "$b/fasttext.bin" "$b/test.txt" | awk '$1 == "P@1" { print $2 }')
        jq -c -n --argjson a "$acc" \
            '{name: "fastText", accuracy: $a, note: "fasttext supervised -epoch 25 -lr 0.5 -wordNgrams 2 -dim 50"}' \
            >> "$b.jsonl.tmp"
    fi
    rm -f "$b"/fasttext.*
    mv "$b.jsonl.tmp" "$b.jsonl"
}

# 8. the results folder
results_stage() {   # results SETTINGS PRETRAINED(0|1) INT8(0|1) MODEL...
    local settings=$1 pretrained=$2 int8=$3
    shift 3
    SETTINGS=$settings PRETRAINED=$pretrained INT8=$int8 "$here/pipelines/results.sh" "$OUT" "$@"
    cp "$OUT/results/RESULTS.md" "$OUT/RESULTS.md"
}

# ---- the run -----------------------------------------------------------------------------

corpus_deps=()
for f in "${corpus_files[@]}"; do corpus_deps+=("file:$f"); done
stage data "${corpus_deps[@]}" "file:$VOCAB" tool:clean tool:tokenize tool:split -- \
    data_stage "$MAX_LEN" "$SEED" "$LABEL_NAMES" "$TEXT_COL" "$LABEL_COL" "${corpus_files[@]##*/}"
# (the key has the files' base names and contents, not their paths: moving the corpus
# redoes nothing)

unl=none unl_deps=()
if [ "$UNLABELED" != none ] && { [ "$PRETRAIN" = 1 ] || [ "$DISTILL_UNLABELED" = 1 ]; }; then
    stage unlabeled "file:$UNLABELED" "file:$VOCAB" tool:clean tool:tokenize -- unlabeled_stage "$MAX_LEN"
    unl=yes unl_deps=(stage:unlabeled)
fi
init= init_deps=()
if [ "$PRETRAIN" = 1 ]; then
    stage pretrain stage:data "${unl_deps[@]}" "file:$VOCAB" "spec:$TEACHER" tool:pretrain -- \
        pretrain_stage "$TEACHER" "$unl" "$P_EPOCHS" "$SEED" "$THREADS" "$P_OPTS"
    init=pretrain init_deps=(stage:pretrain)
fi
cache_unl=none cache_deps=()
[ "$DISTILL_UNLABELED" = 0 ] || cache_unl=$unl cache_deps=("${unl_deps[@]}")
stage teacher stage:data "${init_deps[@]}" "file:$VOCAB" "spec:$TEACHER" tool:teacher-train -- \
    teacher_stage "$TEACHER" "$init" "$T_EPOCHS" "$SEED" "$THREADS" "$T_OPTS"

stage cache stage:teacher stage:data "${cache_deps[@]}" tool:teacher-logits -- \
    cache_stage "$ATTN_LAYERS" "$ATTN_CODEC" "$THREADS" "$cache_unl"

student_names=()
student() {   # student NAME CONFIG EPOCHS EXTRA
    stage "student-$1" stage:data stage:cache "file:$VOCAB" "spec:$2" tool:student-distill tool:ckpt tool:tokenize \
        -- student_stage "$1" "$2" "$3" "$SEED" "$THREADS" "$4" "$MAX_LEN" "$TRIM_VOCAB"
}
mkdir -p "$OUT/students"
for s in $STUDENTS; do
    name=${s%%=*} config=${s#*=}
    case $s in *=*) ;; *) name=$(basename "$s" .json) ;; esac
    student "$name" "$config" "$S_EPOCHS" "$S_OPTS"
    student_names+=("$name")
done
first=${STUDENTS%% *}
first_name=${student_names[0]} first_config=${first#*=}
if [ "$ABLATIONS" = 1 ]; then
    ablation() {   # ablation SUFFIX [flags...]: up to JOBS at once
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || exit 1; done
        local suffix=$1
        shift
        student "$first_name.abl-$suffix" "$first_config" "$A_EPOCHS" "$S_OPTS $*" &
        student_names+=("$first_name.abl-$suffix")
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

models=(teacher)
stage eval-teacher stage:teacher stage:data tool:teacher-logits tool:eval tool:confusion -- \
    eval_stage teacher teacher "$THREADS" "$LENGTH_BUCKETS" split/test.rec 0
for s in "${student_names[@]}"; do
    test=split/test.rec int8=$INT8 int8_deps=()
    [ "$TRIM_VOCAB" = 0 ] || test=students/$s.data/test.rec
    case $s in *.abl-*) int8=0 ;; esac          # the ablations: float only
    [ "$int8" = 0 ] || int8_deps=(tool:ckpt)
    stage "eval-$s" "stage:student-$s" stage:data tool:teacher-logits tool:eval tool:confusion "${int8_deps[@]}" -- \
        eval_stage "$s" "students/$s" "$THREADS" "$LENGTH_BUCKETS" "$test" "$int8"
    models+=("students/$s")
done
stage tsne stage:teacher stage:data tool:teacher-logits tool:tsne -- tsne_stage "$SEED" "$THREADS" "$TSNE_PERPLEXITY"

base_deps=()
if [ "$BASELINES" = 1 ]; then
    stage baselines stage:data tool:dump -- baselines_stage "$THREADS"
    base_deps=(stage:baselines)
fi

eval_deps=()
for m in "${models[@]}"; do eval_deps+=("stage:eval-${m#students/}"); done
settings="CORPUS=${CORPUS##*/} (${corpus_files[*]##*/}); TEACHER=$TEACHER T_EPOCHS=$T_EPOCHS"
settings="$settings STUDENTS='$STUDENTS' S_EPOCHS=$S_EPOCHS ABLATIONS=$ABLATIONS A_EPOCHS=$A_EPOCHS"
settings="$settings THREADS=$THREADS SEED=$SEED MAX_LEN=$MAX_LEN${T_OPTS:+ T_OPTS='$T_OPTS'}${S_OPTS:+ S_OPTS='$S_OPTS'}"
[ "$PRETRAIN" = 0 ] || settings="$settings PRETRAIN=1 UNLABELED=${UNLABELED##*/} P_EPOCHS=$P_EPOCHS${P_OPTS:+ P_OPTS='$P_OPTS'}"
[ "$cache_unl" = none ] || settings="$settings DISTILL_UNLABELED=1 UNLABELED=${UNLABELED##*/}"
settings="$settings ATTN_LAYERS=${ATTN_LAYERS:-default} ATTN_CODEC=$ATTN_CODEC TRIM_VOCAB=$TRIM_VOCAB INT8=$INT8"
stage results "${eval_deps[@]}" stage:tsne "${init_deps[@]}" "${base_deps[@]}" "file:$here/pipelines/results.sh" tool:ckpt -- \
    results_stage "$settings" "$PRETRAIN" "$INT8" "${models[@]}"
log "results: $OUT/results/RESULTS.md"
cat "$OUT/RESULTS.md"
