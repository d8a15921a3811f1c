#!/usr/bin/env bash
# emo tsne against scikit-learn 1.2.1's Barnes-Hut TSNE (the anchor ../shared/anchors/sk_tsne.py),
# side by side in one run on the anchor's data.  Usage: bench/tsne/tsne.sh [SIZES="5000"] [THREADS=2]
# Per size: the anchor (a copy in a scratch dir, run unchanged except that it also saves its
# embedding after timing), then emo tsne on the identical float32 points, then both embeddings
# scored by the same code (bench/tsne/anchor_sklearn.py score: exact KL under sklearn's P, 1-NN label
# agreement).  Prints the anchor's JSON line, ours, the scores, and the ratio.
# emo's time is the whole tool (reading the record stream and writing it back included).
# Environment:
#   EMO_TSNE_ARGS="..."  options for emo tsne, default "--iter 1250" (also the tool default): sklearn's schedule plus 250
#                        momentum-0.8 iterations (bench/README.md, t-SNE, says why); set it to ""
#                        for sklearn's exact 1000.  The JSON says how many ran.
#   SK_CACHE=DIR         keep the anchor's JSON line and embedding in DIR, keyed by the sha256 of
#                        its input points, its script and its arguments, and reuse them: for
#                        iterating on our side only.  A reused result is marked "sklearn_cached":1
#                        (its seconds are from the earlier run, so the ratio is not same-run then).
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZES=${1:-5000}
T=${2:-2}
EMO_TSNE_ARGS=${EMO_TSNE_ARGS-"--iter 1250"}
ANCHORS=${ANCHORS:-../shared/anchors}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cp "$ANCHORS/sk_tsne.py" "$ANCHORS/run_tsne.sh" "$d/"
printf '\nif os.environ.get("SK_TSNE_SAVE"):\n    np.save(os.environ["SK_TSNE_SAVE"], Y)\n' >> "$d/sk_tsne.py"
for n in $SIZES; do
    /usr/bin/python3 bench/tsne/anchor_sklearn.py data "$n" "$d/x.jsonl"
    bin/emo pack -o "$d/x.rec" "$d/x.jsonl"
    sk_args="--n $n --dim 256 --clusters 6 --n-jobs $T --n-iter 1000"
    cached=0
    if [ -n "${SK_CACHE:-}" ]; then
        mkdir -p "$SK_CACHE"
        key=$( { cat "$d/x.jsonl" "$d/sk_tsne.py"; echo "$sk_args"; } | sha256sum | cut -c1-32)
        if [ -s "$SK_CACHE/$key.json" ] && [ -s "$SK_CACHE/$key.npy" ]; then
            cached=1
            sk=$(cat "$SK_CACHE/$key.json")
            cp "$SK_CACHE/$key.npy" "$d/sk.npy"
        fi
    fi
    if [ "$cached" = 0 ]; then
        # shellcheck disable=SC2086
        sk=$(SK_TSNE_SAVE="$d/sk.npy" /usr/bin/python3 "$d/sk_tsne.py" $sk_args 2>&1 | grep '^JSON ')
        if [ -n "${SK_CACHE:-}" ]; then
            cp "$d/sk.npy" "$SK_CACHE/$key.npy.tmp" && mv "$SK_CACHE/$key.npy.tmp" "$SK_CACHE/$key.npy"
            printf '%s\n' "$sk" > "$SK_CACHE/$key.json.tmp" && mv "$SK_CACHE/$key.json.tmp" "$SK_CACHE/$key.json"
        fi
    fi
    echo "$sk"
    TIMEFORMAT='%R %U'
    # shellcheck disable=SC2086
    t=$( { time bin/emo tsne --threads "$T" --seed 0 $EMO_TSNE_ARGS --drop-embedding "$d/x.rec" \
           > "$d/c.rec" 2> "$d/c.err"; } 2>&1 )
    kl=$(sed -n 's/.*: KL \([0-9.]*\) (sklearn-style estimate), exact KL \([0-9.]*\);.*/\1 \2/p' "$d/c.err")
    iters=$(sed -n 's/.* \([0-9]*\) iterations.*: KL .*/\1/p' "$d/c.err")
    bin/emo dump "$d/c.rec" > "$d/c.jsonl"
    c_sc=$(/usr/bin/python3 bench/tsne/anchor_sklearn.py score "$n" "$d/c.jsonl" "$T")
    s_sc=$(/usr/bin/python3 bench/tsne/anchor_sklearn.py score "$n" "$d/sk.npy" "$T")
    c_line=$(awk -v n="$n" -v T="$T" -v t="$t" -v kl="$kl" -v it="$iters" -v sc="${c_sc#JSON }" 'BEGIN {
        split(t, a, " "); split(kl, k, " ");
        match(sc, /"kl_exact_sklearn_P": [0-9.]+/); ke = substr(sc, RSTART + 22, RLENGTH - 22);
        match(sc, /"kl_sklearn_estimate": [0-9.]+/); kse = substr(sc, RSTART + 23, RLENGTH - 23);
        match(sc, /"nn1_label_agreement": [0-9.]+/); nn = substr(sc, RSTART + 23, RLENGTH - 23);
        printf "{\"tag\":\"c\",\"impl\":\"emo tsne\",\"n\":%d,\"dim\":256,\"clusters\":6,\"threads\":%d,\"n_iter\":%d,\"perplexity\":30,\"seconds\":%.3f,\"user_seconds\":%.3f,\"kl_divergence\":%s,\"kl_exact\":%s,\"kl_exact_sklearn_P\":%s,\"kl_sklearn_estimate\":%s,\"nn1_label_agreement\":%s}",
               n, T, it, a[1], a[2], k[1], k[2], ke, kse, nn }')
    echo "JSON $c_line"
    echo "JSON {\"tag\":\"sklearn-score\",\"n\":$n,${s_sc#JSON \{}"
    awk -v n="$n" -v c="$c_line" -v s="${sk#JSON }" -v ss="${s_sc#JSON }" -v cached="$cached" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
        match(c, /"seconds":[0-9.]+/); tc = substr(c, RSTART + 10, RLENGTH - 10);
        match(s, /"seconds": [0-9.]+/); ts = substr(s, RSTART + 11, RLENGTH - 11);
        match(c, /"kl_divergence":[0-9.]+/); kc = substr(c, RSTART + 16, RLENGTH - 16);
        match(s, /"kl_divergence": [0-9.]+/); ks = substr(s, RSTART + 17, RLENGTH - 17);
        match(c, /"kl_exact_sklearn_P":[0-9.]+/); ec = substr(c, RSTART + 21, RLENGTH - 21);
        match(ss, /"kl_exact_sklearn_P": [0-9.]+/); es = substr(ss, RSTART + 22, RLENGTH - 22);
        match(c, /"kl_sklearn_estimate":[0-9.]+/); sec = substr(c, RSTART + 22, RLENGTH - 22);
        match(ss, /"kl_sklearn_estimate": [0-9.]+/); ses = substr(ss, RSTART + 23, RLENGTH - 23);
        printf "JSON {\"tag\":\"ratio\",\"bench\":\"tsne\",\"n\":%d,\"sklearn_s\":%s,\"c_s\":%s,\"speedup\":%.2f,\"kl_sklearn\":%s,\"kl_c\":%s,\"kl_est_same_code_sklearn\":%s,\"kl_est_same_code_c\":%s,\"kl_exact_sklearn\":%s,\"kl_exact_c\":%s,\"sklearn_cached\":%d,\"loadavg\":\"%s\"}\n",
               n, ts, tc, ts / tc, ks, kc, ses, sec, es, ec, cached, load }'
done
