#!/usr/bin/env bash
# What writing the teacher cache costs over plain inference (target: at most +20%):
# emo teacher-logits on the same records, plain (logits to stdout) and cache mode (-o DIR
# with attention maps), alternated REPS times in one run.  "ratio" is the median of the
# paired ratios (each cache run over the plain run just before it: the VM's speed drifts
# within minutes, and a pair sees the same spell), as bench/engine/engine.sh does; the medians of
# the two sides and their ratio ("ratio_of_medians") are printed too, and each pair on stderr.
#   bench/cache/cache-overhead.sh TEACHER_DIR RECORDS [ATTN_LAYERS=all] [CODEC=f16] [REPS=5] [THREADS=2]
set -eu
cd "$(dirname "$0")/../.."
teacher=$1 records=$2 layers=${3:-all} codec=${4:-f16} reps=${5:-5} threads=${6:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plain=() cache=() ratios=()
for i in $(seq "$reps"); do
    s=$(date +%s.%N)
    bin/emo teacher-logits -m "$teacher" --threads "$threads" "$records" > "$tmp/plain.rec"
    m=$(date +%s.%N)
    rm -rf "$tmp/c" && mkdir "$tmp/c"
    bin/emo teacher-logits -m "$teacher" --threads "$threads" -o "$tmp/c" --attn-layers "$layers" \
        --attn-codec "$codec" "$records"
    e=$(date +%s.%N)
    plain+=("$(echo "$m - $s" | bc -l)")
    cache+=("$(echo "$e - $m" | bc -l)")
    ratios+=("$(echo "($e - $m) / ($m - $s)" | bc -l)")
    printf 'rep %d: plain %.3f s, cache %.3f s, ratio %.3f\n' "$i" "${plain[-1]}" "${cache[-1]}" "${ratios[-1]}" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
p=$(median "${plain[@]}") c=$(median "${cache[@]}") r=$(median "${ratios[@]}")
n=$(bin/emo dump "$records" | wc -l)
bytes=$(du -sb "$tmp/c" | cut -f1)
printf 'JSON {"tag":"c","bench":"cache-overhead","records":%d,"layers":"%s","codec":"%s","threads":%d,"plain_s":%s,"cache_s":%s,"ratio":%.3f,"ratio_of_medians":%.3f,"cache_bytes":%d,"bytes_per_record":%.0f}\n' \
    "$n" "$layers" "$codec" "$threads" "$p" "$c" "$r" "$(echo "$c / $p" | bc -l)" "$bytes" "$(echo "$bytes / $n" | bc -l)"
