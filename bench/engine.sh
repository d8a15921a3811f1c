#!/usr/bin/env bash
# Engine benchmark side by side with the PyTorch anchor, in the same run (ratios drift
# +-10-15% between runs on this VM, so never compare against old figures).
#
#   bench/engine.sh [quick|full|c-only] [threads]      (default: quick 2)
#     quick   bert-mini + bert-tiny at seq 32, train/infer/latency, short timing (~2 min)
#     full    bert-base, distil, bert-mini, bert-tiny at seq 32 and 128, all modes (~1 h)
#     c-only  the full point set, C engine only (no torch)
# Env: MODES ("train infer latency"), CONFIGS, SEQS, MINTIME override the preset.
# Results: bench/out/engine-c.txt, bench/out/engine-torch.txt and the summary table
# (summarize.py from the anchors) on stdout, ending with the speedup per point.
set -eu
cd "$(dirname "$0")/.."
preset=${1:-quick}
threads=${2:-2}
anchors=${ANCHORS:-../shared/anchors}
case $preset in
  quick)  CONFIGS=${CONFIGS:-bert-mini,bert-tiny}; SEQS=${SEQS:-32}; MINTIME=${MINTIME:-1.5}; torch=1 ;;
  full)   CONFIGS=${CONFIGS:-bert-base,distil,bert-mini,bert-tiny}; SEQS=${SEQS:-32,128}; MINTIME=${MINTIME:-4}; torch=1 ;;
  c-only) CONFIGS=${CONFIGS:-bert-base,distil,bert-mini,bert-tiny}; SEQS=${SEQS:-32,128}; MINTIME=${MINTIME:-4}; torch=0 ;;
  *) echo "usage: bench/engine.sh [quick|full|c-only] [threads]" >&2; exit 2 ;;
esac
MODES=${MODES:-"train infer latency"}

make -s lib/libemo.a
mkdir -p bench/out
# shellcheck disable=SC2046
cc -std=c11 -O2 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -Ilib $(pkg-config --cflags openblas) \
   -o bench/out/engine bench/engine.c lib/libemo.a $(pkg-config --libs openblas) -lm -pthread

# The anchor's tuned environment for both sides: glibc keeps freed memory (no first-touch
# page faults on reuse), passive OpenMP waiting (torch) -- the C engine allocates once anyway.
TUNE=(OMP_WAIT_POLICY=PASSIVE
      GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184)
c_out=bench/out/engine-c.txt t_out=bench/out/engine-torch.txt
: > "$c_out"; : > "$t_out"
if [ "$torch" = 1 ]; then
  scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
  cp -r "$anchors"/. "$scratch"
fi
for m in $MODES; do
  if [ "$m" = latency ]; then X=(--warmup 5 --min-iters 10 --max-iters 300 --min-time 3); S=32;
  else X=(--warmup 2 --min-iters 3 --max-iters 30 --min-time "$MINTIME"); S=$SEQS; fi
  env "${TUNE[@]}" bench/out/engine --threads "$threads" --mode "$m" --configs "$CONFIGS" \
      --seqs "$S" --tag c "${X[@]}" | tee -a "$c_out"
  if [ "$torch" = 1 ]; then
    env "${TUNE[@]}" /usr/bin/python3 "$scratch/torch_bert.py" --threads "$threads" --mode "$m" \
        --configs "$CONFIGS" --seqs "$S" --tag tuned "${X[@]}" 2>&1 | tee -a "$t_out"
  fi
done
files=("$c_out"); [ "$torch" = 1 ] && files=("$t_out" "$c_out")
/usr/bin/python3 "$anchors/summarize.py" "${files[@]}"
