#!/usr/bin/env bash
# Every benchmark, one after another, each beside its anchor in the same run; the output
# (JSON lines and tables) is kept in bench/out/run-<date>.log.  Run on a quiet machine:
# the VM's timings drift +-10-15% between runs and any other load distorts them.
#   bench/run.sh [quick|full]     quick: smoke sizes (~10 min); full: the sizes the issues name (~2 h)
# Needs the reference packages: .ci/install-deps --reference (and npm for the tokenizer anchor).
set -u
cd "$(dirname "$0")/.."
mode=${1:-quick}
mkdir -p bench/out
log=bench/out/run-$(date +%Y%m%d-%H%M%S).log
run() { echo "== $*" | tee -a "$log"; "$@" 2>&1 | tee -a "$log"; }
make -s all
if [ "$mode" = full ]; then
    run bench/foundation.sh
    run bench/tokenize.sh
    run bench/metrics.sh
    run bench/engine.sh full 2
    run bench/cache-size.sh
    run bench/pretrain.sh 12800 2
    SIZES="5000 20000" run bench/tsne.sh
else
    run bench/foundation.sh 20000
    run bench/tokenize.sh 50000
    run bench/metrics.sh 20000
    run bench/engine.sh quick 2
    run bench/pretrain.sh 1280 2
    SIZES=5000 run bench/tsne.sh
fi
echo "log: $log"
