#!/usr/bin/env bash
# Does masked-LM pretraining make a from-scratch teacher stronger?  (issue 8 acceptance)
#
#   bench/experiments/pretrain-accuracy.sh [OUT_DIR]          (default work/pretrain-accuracy)
#
# On the shared corpus split like pipelines/paper.sh (70/15/15, seed 42):
#   scratch          CONFIG trained from scratch with emo-teacher-train's from-scratch defaults
#   mlm-E            CONFIG pretrained for E epochs with emo pretrain on the unlabeled corpus
#                    (unlabeled.txt + the train split's texts; never val or test), then
#                    fine-tuned with emo teacher-train --init at each peak lr of FT_LRS
# and prints one JSON line per run: test accuracy and weighted F1 of the model that early
# stopping kept, its best validation accuracy, and for mlm-E the snapshot's held-out MLM loss
# and masked-token accuracy.  With several FT_LRS, pick per E by best_val_accuracy (never by
# test accuracy); every run's test figures are printed so nothing is hidden.
# Knobs: CONFIG (bert-mini), MLM_EPOCHS ("1 3 10"), FT_EPOCHS (5), FT_LRS ("1e-4"),
#   THREADS (2; use 1 on a loaded machine: OpenBLAS threads spin), SEED (42), SHARED, PRETRAIN_FLAGS, STAGES ("scratch mlm finetune": the
#   stages this invocation runs, so they can run side by side as separate processes).
# Stages already finished (a .done marker) are skipped; interrupted ones resume.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$here/bin:$PATH"
SHARED=${SHARED:-$here/../shared}
DATA=$SHARED/data/emotion
VOCAB=$SHARED/data/bert-base-uncased/vocab.txt
OUT=${1:-work/pretrain-accuracy}
CONFIG=${CONFIG:-bert-mini}
MLM_EPOCHS=${MLM_EPOCHS:-1 3 10}
FT_EPOCHS=${FT_EPOCHS:-5}
FT_LRS=${FT_LRS:-1e-4}
THREADS=${THREADS:-2}
SEED=${SEED:-42}
STAGES=${STAGES:-scratch mlm finetune}
mkdir -p "$OUT"
log() { printf '%s pretrain-accuracy: %s\n' "$(date +%T)" "$*" >&2; }

# Data: the labelled corpus split by pipelines/paper.sh's own data stage; the unlabeled
# tweets cleaned the same way (stopwords kept) and tokenized.
if [ ! -s "$OUT/split/test.rec" ]; then
    log "clean | tokenize | split (pipelines/paper.sh's data stage)"
    CORPUS=$DATA VOCAB=$VOCAB SEED=$SEED UNTIL=data "$here/pipelines/paper.sh" "$OUT"
fi
if [ ! -s "$OUT/unlabeled.rec" ]; then
    emo clean -q --format lines --keep-stopwords "$DATA/unlabeled.txt" \
        | emo tokenize --vocab "$VOCAB" --max-len 128 -o "$OUT/unlabeled.rec"
fi

finetune() {   # finetune NAME [teacher-train flags...]
    local name=$1; shift
    local dir="$OUT/runs/$name"
    [ -e "$dir/.done" ] && return 0
    [ -d "$dir/last" ] && set -- "$@" --resume
    log "teacher-train $name ($*)"
    emo teacher-train -q --train "$OUT/split/train.rec" --val "$OUT/split/val.rec" --vocab "$VOCAB" \
        --seed "$SEED" --threads "$THREADS" -o "$dir" "$@"
    emo teacher-logits -m "$dir" --threads "$THREADS" "$OUT/split/test.rec" | emo eval --json > "$dir/test.json"
    touch "$dir/.done"
}

report() {     # report NAME MLM_EPOCHS FT_LR [MLM_LOG]
    local dir="$OUT/runs/$1" mlm=${4:-/dev/null}
    jq -c -s --arg name "$1" --arg cfg "$CONFIG" --argjson e "$2" --argjson lr "$3" \
        --slurpfile test "$dir/test.json" --slurpfile mlm "$mlm" \
        '{bench: "pretrain-accuracy", config: $cfg, run: $name, mlm_epochs: $e, ft_lr: $lr,
          best_val_accuracy: ([.[] | .val_accuracy // empty] | max),
          epochs: ([.[] | .epoch // empty] | max),
          test_accuracy: $test[0].accuracy, test_f1_weighted: $test[0].weighted_avg.f1}
         + ([$mlm[] | select(.epoch == $e and .val_loss)] | if length > 0 then
              {mlm_val_loss: .[0].val_loss, mlm_val_masked_accuracy: .[0].val_accuracy} else {} end)' \
        "$dir/train_log.jsonl" | sed 's/^/JSON /'
}

mkdir -p "$OUT/runs"
has() { case " $STAGES " in *" $1 "*) return 0 ;; esac; return 1; }

if has scratch; then
    finetune scratch --config "$CONFIG"
    report scratch 0 '"default"'
fi

# One pretraining run of the largest E with a snapshot after every epoch (--keep-epochs):
# the E-epoch points share one learning-rate schedule (warm-up, then linear decay to 0 at
# the last epoch), so the smaller E are snapshots taken mid-schedule.
last=0
for e in $MLM_EPOCHS; do [ "$e" -gt "$last" ] && last=$e; done
p="$OUT/mlm"
if has mlm && [ "$last" -gt 0 ] && [ ! -e "$p/.done" ]; then
    resume=; [ -d "$p/last" ] && resume=--resume
    log "pretrain $CONFIG, $last epochs"
    # shellcheck disable=SC2086
    emo pretrain -q --train "$OUT/unlabeled.rec" "$OUT/split/train.rec" --config "$CONFIG" \
        --vocab "$VOCAB" --epochs "$last" --keep-epochs --seed "$SEED" --threads "$THREADS" \
        $resume ${PRETRAIN_FLAGS:-} -o "$p"
    touch "$p/.done"
fi

if has finetune; then
    for e in $MLM_EPOCHS; do
        [ -d "$p/epoch-$e" ] || { log "no $p/epoch-$e yet: skipping E=$e"; continue; }
        for lr in $FT_LRS; do
            finetune "mlm$e-lr$lr" --init "$p/epoch-$e" --lr "$lr" --epochs "$FT_EPOCHS"
            report "mlm$e-lr$lr" "$e" "\"$lr\"" "$p/train_log.jsonl"
        done
    done
fi
