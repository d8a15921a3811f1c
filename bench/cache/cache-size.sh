#!/bin/sh
# Teacher-cache size (emo-cache(5)) for the full corpus: bytes per record and the total for
# 416,809 records of a bert-base teacher (12 heads) with one DistilBERT layer map (6 layers).
#   bench/cache/cache-size.sh [TEACHER_DIR]
# Token lengths are measured on the shared corpus (emo clean | emo tokenize, with and without
# stopword removal).  How well attention maps compress is measured by writing real caches
# (both codecs, every layer) from TEACHER_DIR over the shared training set; without an
# argument a bert-tiny teacher is trained from scratch for 2 epochs first (a few minutes),
# since a random-init model has near-uniform maps that compress unrealistically well.
# The bert-base figure combines the measured bytes per attention value with the measured
# lengths: per record 12 + 4K (logits) + 24 (index) + 72 * E[l^2] * bytes_per_value.
# Reference point in the same run: the naive layout (fp32, padded to 128) the cache avoids.
set -eu
cd "$(dirname "$0")/../.."
S=${SHARED:-../shared}/data
N_CORPUS=416809 K=6 MAPS=72
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
emo() { bin/emo "$@"; }
emo clean -q --format semicolon "$S/emotion/train.txt" | emo tokenize --vocab "$S/bert-base-uncased/vocab.txt" > "$w/train.rec"
emo clean -q --keep-stopwords --format semicolon "$S/emotion/train.txt" |
    emo tokenize --vocab "$S/bert-base-uncased/vocab.txt" > "$w/keep.rec"
emo clean -q --format semicolon "$S/emotion/val.txt" | emo tokenize --vocab "$S/bert-base-uncased/vocab.txt" > "$w/val.rec"
l2() { emo dump "$1" | sed 's/.*"input_ids":\[\([^]]*\)\].*/\1/' | awk -F, '{ s += NF * NF } END { printf "%.3f", s / NR }'; }
sum_l2() { emo dump "$1" | sed 's/.*"input_ids":\[\([^]]*\)\].*/\1/' | awk -F, '{ s += NF * NF } END { printf "%d", s }'; }
teacher=${1:-}
if [ -z "$teacher" ]; then
    teacher=$w/teacher
    emo teacher-train -q --train "$w/train.rec" --val "$w/val.rec" --config bert-tiny --lr 1e-3 --warmup-ratio 0.1 \
        --epochs 2 --threads 2 -o "$teacher"
fi
L=$(sed -n 's/.*"num_hidden_layers": *\([0-9]*\).*/\1/p; s/.*"n_layers": *\([0-9]*\).*/\1/p' "$teacher/config.json" | head -1)
NH=$(sed -n 's/.*"num_attention_heads": *\([0-9]*\).*/\1/p; s/.*"n_heads": *\([0-9]*\).*/\1/p' "$teacher/config.json" | head -1)
for corpus in train keep; do
    E=$(l2 "$w/$corpus.rec")
    SL2=$(sum_l2 "$w/$corpus.rec")
    n=$(emo dump "$w/$corpus.rec" | wc -l)
    for codec in f16 u8; do
        t0=$(date +%s.%N)
        emo teacher-logits -m "$teacher" -o "$w/cache-$corpus-$codec" --attn-layers all --attn-codec $codec "$w/$corpus.rec"
        t1=$(date +%s.%N)
        bytes=$(emo cache "$w/cache-$corpus-$codec" | sed -n 's/^bytes\t//p')
        awk -v b="$bytes" -v n="$n" -v s="$SL2" -v maps=$((L * NH)) -v K=$K -v E="$E" -v M=$MAPS -v N=$N_CORPUS \
            -v codec=$codec -v corpus=$corpus -v t="$(echo "$t1 - $t0" | bc)" 'BEGIN {
            # bytes of attention = total - per-record header/logits/index - manifest etc. (~1 KB)
            attn = b - n * (12 + 4 * K + 24) - 1024
            bpv = attn / (s * maps)
            rec = 12 + 4 * K + 24 + M * E * bpv
            raw16 = 12 + 4 * K + 24 + M * E * 2
            naive = M * 128 * 128 * 4
            printf "JSON {\"bench\":\"cache-size\",\"corpus\":\"%s\",\"codec\":\"%s\",\"records_measured\":%d,\"E_l2\":%.1f,\"bytes_per_attn_value\":%.4f,\"bert_base_6layer_bytes_per_record\":%.0f,\"full_corpus_GB\":%.2f,\"raw_f16_GB\":%.2f,\"naive_fp32_pad128_GB\":%.0f,\"ratio_vs_naive\":%.1f,\"write_s\":%.2f}\n",
                corpus, codec, n, E, bpv, rec, rec * N / 1e9, raw16 * N / 1e9, naive * N / 1e9, naive / rec, t
        }'
    done
done
