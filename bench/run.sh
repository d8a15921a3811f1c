#!/usr/bin/env bash
# Every benchmark, one after another, each beside its anchor in the same run, then the table
# of ratios (bench/ratios.sh over the run's JSON lines).  The whole output is kept in
# bench/out/run-<date>.log.  Run quick and full on a quiet machine: the VM's timings drift
# +-10-15% between runs and any other load distorts them.
#   bench/run.sh [smoke|quick|full]   (make bench = quick)
#     smoke  tiny sizes, under a minute or two: exercises every script and the table, no figures
#     quick  smoke-test sizes of the real thing (~10 min)
#     full   the sizes the issues name (~2 h): the figures of bench/README.md
# Needs the reference packages (.ci/install-deps --reference); the tokenizer anchor also
# needs HF_NODE_DIR (see bench/tokenize/tokenize.sh), else its rows are skipped.
set -u
cd "$(dirname "$0")/.." || exit 1
mode=${1:-quick}
case $mode in smoke|quick|full) ;; *) echo "usage: bench/run.sh [smoke|quick|full]" >&2; exit 2 ;; esac
mkdir -p bench/out
log=bench/out/run-$mode-$(date +%Y%m%d-%H%M%S).log
failed=
run() {
    echo "== $*" | tee -a "$log"
    "$@" 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" = 0 ] || { failed="$failed $1"; echo "== FAILED: $*" | tee -a "$log"; }
}
make -s all
# A teacher for the cache benchmarks: smoke and quick take a bert-tiny initialised at
# random (speed and size, not quality); full lets cache-size.sh train its own.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
S=${SHARED:-../shared}/data
bin/emo clean -q --format semicolon "$S/emotion/val.txt" | bin/emo tokenize --vocab "$S/bert-base-uncased/vocab.txt" > "$tmp/val.rec"
bin/emo ckpt init --labels sadness,joy,love,anger,fear,surprise --vocab "$S/bert-base-uncased/vocab.txt" -o "$tmp/teacher" bert-tiny
case $mode in
smoke)
    run bench/foundation/foundation.sh 2000
    run env THREADS=2 bench/tokenize/tokenize.sh 2000
    run bench/metrics/metrics.sh 2000
    run env CONFIGS=bert-tiny SEQS=32 MINTIME=0.2 ROUNDS=1 MODES="infer latency" bench/engine/engine.sh quick 2
    run bench/teacher-logits/teacher-logits.sh bert-tiny 500 1 2
    run bench/pretrain/pretrain.sh 640 2
    run bench/mlm/mlm.sh 1 2
    run bench/tsne/tsne.sh 300
    run bench/cache/cache-overhead.sh "$tmp/teacher" "$tmp/val.rec" all f16 1 2
    run bench/optim/optim.sh 2 2
    run bench/qgemm/qgemm.sh 2 1 256
    run bench/epoch/epoch.sh bert-tiny 4 1 2 "train infer"
    run env PREDICT_WORK="$tmp/predict" TRAIN_OPTS="--max-steps 20" MODELS=bert-tiny STREAM_MODELS=bert-tiny \
        STREAM_LINES=30 bench/predict/predict.sh bulk,stream 1 2 500
    ;;
quick)
    run bench/foundation/foundation.sh 20000
    run bench/tokenize/tokenize.sh 50000
    run bench/metrics/metrics.sh 20000
    run bench/engine/engine.sh quick 2
    run bench/teacher-logits/teacher-logits.sh bert-mini 4000 3 2
    run bench/pretrain/pretrain.sh 1280 2
    run bench/mlm/mlm.sh 3 2
    run bench/tsne/tsne.sh 5000
    run bench/cache/cache-overhead.sh "$tmp/teacher" "$tmp/val.rec" all f16 3 2
    run bench/optim/optim.sh 2 10
    run bench/qgemm/qgemm.sh 2 5
    run bench/epoch/epoch.sh bert-mini,bert-tiny 20 1 2 "train infer"
    # bert-tiny trained once into bench/predict/predict.sh's work dir (~8 min the first time)
    run env MODELS=bert-tiny STREAM_MODELS=bert-tiny STREAM_LINES=200 bench/predict/predict.sh bulk,stream 2 2 10000
    ;;
full)
    run bench/foundation/foundation.sh
    run bench/tokenize/tokenize.sh
    run bench/metrics/metrics.sh
    run bench/engine/engine.sh full 2
    run bench/teacher-logits/teacher-logits.sh bert-mini 16000 3 2
    if [ -d "${ORT_NODE_DIR:-/work/scratch/ort}/node_modules/onnxruntime-node" ]; then
        run bench/onnxruntime/onnxruntime.sh 2
    else
        echo "== skipped bench/onnxruntime/onnxruntime.sh: no onnxruntime-node (see its header)" | tee -a "$log"
    fi
    run bench/teacher-logits/teacher-logits.sh bert-base 2000 3 2
    run bench/pretrain/pretrain.sh 12800 2
    run bench/mlm/mlm.sh
    run bench/tsne/tsne.sh "5000 20000"
    run bench/cache/cache-overhead.sh "$tmp/teacher" "$tmp/val.rec" all f16 5 2
    run bench/cache/cache-size.sh
    run bench/optim/optim.sh 2 10
    run bench/qgemm/qgemm.sh 2 10
    run bench/epoch/epoch.sh bert-mini,bert-tiny 50 3 2 "train infer"
    run bench/engine/memory.sh bert-base 128 2 3
    run bench/predict/predict.sh bulk,stream 3 2 50000
    ;;
esac
{ echo
  echo "## Ratios ($mode run, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  bench/ratios.sh "$log"; } | tee -a "$log.table"
cat "$log.table" >> "$log"
rm -f "$log.table"
echo "log: $log"
[ -z "$failed" ] || { echo "bench/run.sh: failed:$failed" >&2; exit 1; }
