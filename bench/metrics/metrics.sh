#!/usr/bin/env bash
# emo eval + emo confusion against scikit-learn on the same predictions, side by side in
# one run.  Usage: bench/metrics/metrics.sh [N]   (N predictions, default 416809, the Kaggle
# corpus size; 6 classes; needs /usr/bin/python3 with numpy, msgpack, sklearn).
# Prints JSON lines: the C tools' wall and user time (reading and decoding the record
# stream included), sklearn's (argmax, softmax, classification_report, confusion_matrix
# twice, precision_recall_curve and average_precision_score per class, on arrays already
# in memory: loading excluded), and the ratio sklearn / C.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-416809}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
/usr/bin/python3 bench/metrics/anchor_sklearn.py make "$N" "$d/p.rec" "$d/p.npz"

TIMEFORMAT='%R %U %S'
t_eval=$( { time bin/emo-eval --json "$d/p.rec" > /dev/null; } 2>&1 )
t_conf=$( { time bin/emo-confusion "$d/p.rec" > /dev/null; } 2>&1 )
c_line=$(awk -v n="$N" -v e="$t_eval" -v c="$t_conf" 'BEGIN {
    split(e, a, " "); split(c, b, " ");
    printf "{\"tag\":\"c\",\"impl\":\"c\",\"bench\":\"metrics\",\"n\":%d,\"k\":6,\"t\":%.4f,\"t_eval\":%.4f,\"t_confusion\":%.4f,\"cpu\":%.4f,\"note\":\"whole tools, stream read included\"}",
           n, a[1] + b[1], a[1], b[1], a[2] + a[3] + b[2] + b[3] }')
echo "JSON $c_line"
sk_line=$(/usr/bin/python3 bench/metrics/anchor_sklearn.py run "$d/p.npz")
echo "$sk_line"
awk -v c="$c_line" -v s="${sk_line#JSON }" 'BEGIN {
    match(c, /"t":[0-9.]+/); tc = substr(c, RSTART + 4, RLENGTH - 4);
    match(s, /"t": [0-9.]+/); ts = substr(s, RSTART + 5, RLENGTH - 5);
    match(c, /"cpu":[0-9.]+/); cc = substr(c, RSTART + 6, RLENGTH - 6);
    match(s, /"cpu": [0-9.]+/); cs = substr(s, RSTART + 7, RLENGTH - 7);
    printf "JSON {\"tag\":\"ratio\",\"bench\":\"metrics\",\"sklearn_t\":%s,\"c_t\":%s,\"speedup\":%.2f,\"sklearn_cpu\":%s,\"c_cpu\":%s,\"speedup_cpu\":%.2f}\n", ts, tc, ts / tc, cs, cc, cs / cc }'
