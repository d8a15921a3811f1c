#!/usr/bin/env bash
# Engine benchmark side by side with the PyTorch anchor, in the same run (ratios drift
# +-10-15% between runs on this VM, so never compare against old figures).
#
#   bench/engine/engine.sh [quick|full|c-only] [threads]      (default: quick 2)
#     quick   bert-mini + bert-tiny at seq 32, train/infer/latency, short timing (~2 min)
#     full    bert-base, distil, bert-mini, bert-tiny at seq 32 and 128, all modes (~1 h)
#     c-only  the full point set, C engine only (no torch)
# Env: MODES ("train infer latency"), CONFIGS, SEQS, MINTIME override the preset; ROUNDS
# (quick 3, else 1) repeats the C/torch pairs, and the ratio reported is the median over
# rounds of each round's ratio: a 2-vCPU VM's speed drifts by tens of percent within
# minutes, more than a one-pair ratio can bear.
# The anchors' sgemm_bench runs first, so "% sgemm peak" compares with this run's rate.
# Results: bench/out/engine-c.txt, bench/out/engine-torch.txt and the summary table
# (summarize.py from the anchors) on stdout, ending with the speedup per point.
set -eu
cd "$(dirname "$0")/../.."
preset=${1:-quick}
threads=${2:-2}
anchors=${ANCHORS:-../shared/anchors}
case $preset in
  quick)  CONFIGS=${CONFIGS:-bert-mini,bert-tiny}; SEQS=${SEQS:-32}; MINTIME=${MINTIME:-1.5}; torch=1; rounds=${ROUNDS:-3} ;;
  full)   CONFIGS=${CONFIGS:-bert-base,distil,bert-mini,bert-tiny}; SEQS=${SEQS:-32,128}; MINTIME=${MINTIME:-4}; torch=1; rounds=${ROUNDS:-1} ;;
  c-only) CONFIGS=${CONFIGS:-bert-base,distil,bert-mini,bert-tiny}; SEQS=${SEQS:-32,128}; MINTIME=${MINTIME:-4}; torch=0; rounds=1 ;;
  *) echo "usage: bench/engine/engine.sh [quick|full|c-only] [threads]" >&2; exit 2 ;;
esac
MODES=${MODES:-"train infer latency"}

mkdir -p bench/out
make -s bench/out/engine

# The anchor's tuned environment for both sides: glibc keeps freed memory (no first-touch
# page faults on reuse), passive OpenMP waiting (torch) -- the C engine allocates once anyway.
TUNE=(OMP_WAIT_POLICY=PASSIVE
      GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184)
c_out=bench/out/engine-c.txt t_out=bench/out/engine-torch.txt
: > "$c_out"; : > "$t_out"
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
cp -r "$anchors"/. "$scratch"
# The sgemm rate of this run (the anchors' sgemm_bench, same environment and threads): the
# "% sgemm peak" column of summarize.py, which reads RESULTS-sgemm.txt beside itself.
cc -O2 -o "$scratch/sgemm_bench" "$scratch/sgemm_bench.c" $(pkg-config --cflags --libs openblas) -lm
"$scratch/sgemm_bench" "$threads" 0.3 > "$scratch/RESULTS-sgemm.txt" 2>&1
grep -E '^# OpenBLAS|square-2048|fwd ffn-up' "$scratch/RESULTS-sgemm.txt" || true
# every JSON line gets its round number
mark() { sed "s/^JSON {/JSON {\"round\":$1,/"; }
for r in $(seq 1 "$rounds"); do
  [ "$rounds" = 1 ] || echo "# round $r of $rounds"
  for m in $MODES; do
    if [ "$m" = latency ]; then X=(--warmup 5 --min-iters 10 --max-iters 300 --min-time 3); S=32;
    else X=(--warmup 2 --min-iters 3 --max-iters 30 --min-time "$MINTIME"); S=$SEQS; fi
    env "${TUNE[@]}" bench/out/engine --threads "$threads" --mode "$m" --configs "$CONFIGS" \
        --seqs "$S" --tag c "${X[@]}" | mark "$r" | tee -a "$c_out"
    if [ "$torch" = 1 ]; then
      env "${TUNE[@]}" /usr/bin/python3 "$scratch/torch_bert.py" --threads "$threads" --mode "$m" \
          --configs "$CONFIGS" --seqs "$S" --tag tuned "${X[@]}" 2>&1 | mark "$r" | tee -a "$t_out"
    fi
  done
done
# the anchors' tables for the last round
last() { grep -v '^JSON' "$1"; grep "^JSON {\"round\":$rounds," "$1"; }
if [ "$torch" = 1 ]; then
  /usr/bin/python3 "$scratch/summarize.py" <(last "$t_out") <(last "$c_out")
  # per point: the median over rounds of t_torch / t_c, as JSON for bench/ratios.sh
  sed -n 's/^JSON //p' "$t_out" "$c_out" | jq -c -s '
    def key: [.mode, .config, .batch, .seq, .threads];
    def median: sort | if length % 2 == 1 then .[length / 2 | floor]
                       else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    ([.[] | select(.tag == "tuned" and .t_med != null)]) as $t
    | [.[] | select(.tag == "c" and .t_med != null)] | group_by(key)[]
    | . as $cs | $cs[0] as $c
    | [$cs[] | . as $x | ($t[] | select(key == ($x | key) and .round == $x.round)) as $y
       | {ratio: ($y.t_med / $x.t_med), c: $x.t_med, torch: $y.t_med}] as $pairs
    | select($pairs | length > 0)
    | {tag: "ratio", bench: "engine", mode: $c.mode, config: $c.config, batch: $c.batch,
       seq: $c.seq, threads: $c.threads, rounds: ($pairs | length),
       speedup_median: ([$pairs[].ratio] | median), ratios: [$pairs[].ratio],
       c_t_med: ([$pairs[].c] | median), torch_t_med: ([$pairs[].torch] | median)}' |
    sed 's/^/JSON /' > bench/out/engine-ratios.txt
  cat bench/out/engine-ratios.txt
  jq -R -r 'ltrimstr("JSON ") | fromjson
              | "\(.mode) \(.config) b\(.batch) s\(.seq) t\(.threads): \(.speedup_median * 100 | round / 100)x median of \(.rounds) rounds (\(.ratios | map(. * 100 | round / 100 | tostring + "x") | join(" ")))"' bench/out/engine-ratios.txt
else
  /usr/bin/python3 "$scratch/summarize.py" "$c_out"
fi
