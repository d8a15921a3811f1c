#!/usr/bin/env bash
# emo tokenize vs the Hugging Face tokenizers (Rust) anchor, same corpus, same run.
#   bench/tokenize/tokenize.sh [ROWS]          (default 416809: the shared corpus replicated)
# Env: SHARED (default ../shared), HF_NODE_DIR (npm dir with @anush008/tokenizers@0.6.0;
# default /work/scratch/tok-node; the HF rows are skipped if it is missing), THREADS
# (default "1 2": emo tokenize --threads values to run).
# Prints JSON lines: one per emo run (wall MB/s of text, MB per CPU-second, tokens/s, peak
# RSS), one per HF repetition (wall, 2 threads), and the ratio of the best wall MB/s of each.
# The VM is shared: wall figures are pessimistic; mb_per_cpu_s is the per-core rate.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${SHARED:-$root/../shared}
rows=${1:-416809}
hf=${HF_NODE_DIR:-/work/scratch/tok-node}
threads=${THREADS:-1 2}
vocab=$shared/data/bert-base-uncased/vocab.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PATH=$root/bin:$PATH

# corpus: text of train, val (before the last ';') and unlabeled, repeated to $rows lines
{ sed 's/;[^;]*$//' "$shared/data/emotion/train.txt" "$shared/data/emotion/val.txt"; cat "$shared/data/emotion/unlabeled.txt"; } > "$work/one.txt"
awk -v n="$rows" '{ line[NR] = $0 } END { for (i = 0; i < n; i++) print line[i % NR + 1] }' \
    "$work/one.txt" > "$work/corpus.txt"
bytes=$(wc -c < "$work/corpus.txt")
# records {"id":N,"text":...}; JSON-escaping with jq-free awk is unsafe, so use python3
python3 -c '
import json, sys
for i, l in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    print(json.dumps({"id": i, "text": l.rstrip("\n")}))' "$work/corpus.txt" | emo pack -o "$work/in.rec"

best=0
for t in $threads; do
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" emo tokenize --vocab "$vocab" --threads "$t" -o "$work/out.rec" "$work/in.rec"
    read -r secs usr sys rss_kb < "$work/time"
    cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
    ntok=$(emo dump "$work/out.rec" | grep -o 'input_ids":\[[0-9,]*' | tr -cd ',\n' | awk '{s += length($0) + 1} END {print s}')
    mbs=$(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.1f", b / 1e6 / s}')
    echo "JSON {\"tag\":\"tokenize\",\"impl\":\"emo\",\"rows\":$rows,\"mb\":$(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6}'),\"threads\":$t,\"s\":$secs,\"cpu_s\":$cpu,\"mb_s\":$mbs,\"mb_per_cpu_s\":$(awk -v b="$bytes" -v s="$cpu" 'BEGIN {printf "%.1f", b / 1e6 / s}'),\"tokens_s\":$(awk -v n="$ntok" -v s="$secs" 'BEGIN{printf "%.0f", n/s}'),\"peak_rss_mb\":$(awk -v k="$rss_kb" 'BEGIN{printf "%.1f", k/1024}')}"
    best=$(awk -v a="$best" -v b="$mbs" 'BEGIN {print (b > a) ? b : a}')
done

if [ -d "$hf/node_modules/@anush008/tokenizers" ]; then
    /usr/bin/python3 "$shared/anchors/make_tokenizer_json.py" "$vocab" "$work/tokenizer.json"
    hfbest=0
    NODE_PATH="$hf/node_modules" /usr/bin/time -f '%U %S' -o "$work/hftime" \
        node "$shared/anchors/hf_tokenizer_speed.js" "$work/tokenizer.json" "$work/corpus.txt" > "$work/hf.txt"
    # CPU of the whole node process (3 repetitions + loading) / 3: a pessimistic per-rep figure
    hfcpu=$(awk '{printf "%.2f", ($1 + $2) / 3}' "$work/hftime")
    while read -r line; do
        # "HF tokenizers (Rust, encodeBatch): R rows X MB in S s = M MB/s, T M tokens/s"
        s=$(sed -n 's/.* in \([0-9.]*\) s = .*/\1/p' <<< "$line")
        tk=$(sed -n 's/.*, \([0-9.]*\) M tokens\/s.*/\1/p' <<< "$line")
        m=$(awk -v b="$bytes" -v s="$s" 'BEGIN {printf "%.2f", b / 1e6 / s}')
        echo "JSON {\"tag\":\"tokenize\",\"impl\":\"hf-rust\",\"rows\":$rows,\"threads\":2,\"s\":$s,\"cpu_s_approx\":$hfcpu,\"mb_s\":$m,\"mb_per_cpu_s\":$(awk -v b="$bytes" -v s="$hfcpu" 'BEGIN {printf "%.1f", b / 1e6 / s}'),\"tokens_s\":$(awk -v t="$tk" 'BEGIN{printf "%.0f", t*1e6}')}"
        hfbest=$(awk -v a="$hfbest" -v b="$m" 'BEGIN {print (b > a) ? b : a}')
    done < "$work/hf.txt"
    echo "JSON {\"tag\":\"tokenize\",\"impl\":\"ratio\",\"emo_best_mb_s\":$best,\"hf_best_mb_s\":$hfbest,\"speedup\":$(awk -v a="$best" -v b="$hfbest" 'BEGIN{printf "%.2f", a/b}')}"
fi
