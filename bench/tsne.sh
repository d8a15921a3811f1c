#!/usr/bin/env bash
# emo tsne against scikit-learn 1.2.1's Barnes-Hut TSNE (the anchor ../shared/anchors/sk_tsne.py),
# side by side in one run on the anchor's data.  Usage: bench/tsne.sh [SIZES="5000"] [THREADS=2]
# Per size: the anchor (a copy in a scratch dir, run unchanged except that it also saves its
# embedding after timing), then emo tsne on the identical float32 points, then both embeddings
# scored by the same code (bench/tsne_ref.py score: exact KL under sklearn's P, 1-NN label
# agreement).  Prints the anchor's JSON line, ours, the scores, and the ratio.
# emo's time is the whole tool (reading the record stream and writing it back included).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-5000}
T=${2:-2}
ANCHORS=${ANCHORS:-../shared/anchors}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cp "$ANCHORS/sk_tsne.py" "$ANCHORS/run_tsne.sh" "$d/"
printf '\nif os.environ.get("SK_TSNE_SAVE"):\n    np.save(os.environ["SK_TSNE_SAVE"], Y)\n' >> "$d/sk_tsne.py"
for n in $SIZES; do
    /usr/bin/python3 bench/tsne_ref.py data "$n" "$d/x.jsonl"
    bin/emo pack -o "$d/x.rec" "$d/x.jsonl"
    sk=$(SK_TSNE_SAVE="$d/sk.npy" /usr/bin/python3 "$d/sk_tsne.py" --n "$n" --dim 256 --clusters 6 \
         --n-jobs "$T" --n-iter 1000 2>&1 | grep '^JSON ')
    echo "$sk"
    TIMEFORMAT='%R %U'
    t=$( { time bin/emo tsne --threads "$T" --seed 0 --drop-embedding "$d/x.rec" > "$d/c.rec" 2> "$d/c.err"; } 2>&1 )
    kl=$(sed -n 's/.*: KL \([0-9.]*\) (sklearn-style estimate), exact KL \([0-9.]*\);.*/\1 \2/p' "$d/c.err")
    bin/emo dump "$d/c.rec" > "$d/c.jsonl"
    c_sc=$(/usr/bin/python3 bench/tsne_ref.py score "$n" "$d/c.jsonl")
    s_sc=$(/usr/bin/python3 bench/tsne_ref.py score "$n" "$d/sk.npy")
    c_line=$(awk -v n="$n" -v T="$T" -v t="$t" -v kl="$kl" -v sc="${c_sc#JSON }" 'BEGIN {
        split(t, a, " "); split(kl, k, " ");
        match(sc, /"kl_exact_sklearn_P": [0-9.]+/); ke = substr(sc, RSTART + 22, RLENGTH - 22);
        match(sc, /"nn1_label_agreement": [0-9.]+/); nn = substr(sc, RSTART + 23, RLENGTH - 23);
        printf "{\"tag\":\"c\",\"impl\":\"emo tsne\",\"n\":%d,\"dim\":256,\"clusters\":6,\"threads\":%d,\"n_iter\":1000,\"perplexity\":30,\"seconds\":%.3f,\"user_seconds\":%.3f,\"kl_divergence\":%s,\"kl_exact\":%s,\"kl_exact_sklearn_P\":%s,\"nn1_label_agreement\":%s}",
               n, T, a[1], a[2], k[1], k[2], ke, nn }')
    echo "JSON $c_line"
    echo "JSON {\"tag\":\"sklearn-score\",\"n\":$n,${s_sc#JSON \{}"
    awk -v n="$n" -v c="$c_line" -v s="${sk#JSON }" -v ss="${s_sc#JSON }" 'BEGIN {
        match(c, /"seconds":[0-9.]+/); tc = substr(c, RSTART + 10, RLENGTH - 10);
        match(s, /"seconds": [0-9.]+/); ts = substr(s, RSTART + 11, RLENGTH - 11);
        match(c, /"kl_divergence":[0-9.]+/); kc = substr(c, RSTART + 16, RLENGTH - 16);
        match(s, /"kl_divergence": [0-9.]+/); ks = substr(s, RSTART + 17, RLENGTH - 17);
        match(c, /"kl_exact_sklearn_P":[0-9.]+/); ec = substr(c, RSTART + 21, RLENGTH - 21);
        match(ss, /"kl_exact_sklearn_P": [0-9.]+/); es = substr(ss, RSTART + 22, RLENGTH - 22);
        printf "JSON {\"tag\":\"ratio\",\"bench\":\"tsne\",\"n\":%d,\"sklearn_s\":%s,\"c_s\":%s,\"speedup\":%.2f,\"kl_sklearn\":%s,\"kl_c\":%s,\"kl_exact_sklearn\":%s,\"kl_exact_c\":%s}\n",
               n, ts, tc, ts / tc, ks, kc, es, ec }'
done
