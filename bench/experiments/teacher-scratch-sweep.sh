#!/bin/sh
# Learning-rate sweep for emo teacher-train from scratch (no --init) on the shared corpus:
# the measurement behind the from-scratch defaults of emo-teacher-train(1).
#   bench/experiments/teacher-scratch-sweep.sh [CONFIG [EPOCHS [LRS]]]     (default bert-tiny 8 "2e-4 5e-4 1e-3 2e-3")
# Two runs at a time, one thread each.  Prints one JSON line per run and epoch.
set -eu
cd "$(dirname "$0")/../.."
config=${1:-bert-tiny} epochs=${2:-8} lrs=${3:-"2e-4 5e-4 1e-3 2e-3"}
S=${SHARED:-../shared}/data
w=$(mktemp -d)
bin/emo clean -q --format semicolon "$S/emotion/train.txt" | bin/emo tokenize --vocab "$S/bert-base-uncased/vocab.txt" > "$w/train.rec"
bin/emo clean -q --format semicolon "$S/emotion/val.txt" | bin/emo tokenize --vocab "$S/bert-base-uncased/vocab.txt" > "$w/val.rec"
for lr in $lrs; do echo "$lr"; done | parallel -j 2 \
    "bin/emo teacher-train -q --train $w/train.rec --val $w/val.rec --config $config --lr {} --warmup-ratio 0.1 \
       --epochs $epochs --patience 0 --threads 1 -o $w/run-{} && \
     grep train_loss $w/run-{}/train_log.jsonl | sed 's/^/JSON {\"bench\":\"teacher-scratch\",\"config\":\"$config\",\"peak_lr\":{},/; s/,{/,/; s/{\"epoch\"/\"epoch\"/'"
rm -rf "$w"
