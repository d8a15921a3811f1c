#!/usr/bin/env bash
# Foundation benchmark: emo clean | emo tokenize | emo split at the Kaggle corpus' scale,
# side by side with the Python anchor (bench/foundation/anchor_python.py: the paper's cleaning
# in plain Python, scikit-learn's stratified split) in the same run.
#
# The corpus is the shared train+val (18,000 rows) repeated to ROWS rows (default
# 416,809) as a Kaggle-style text.csv (",text,label", index, numeric label), made in a
# temp dir and removed afterwards.  Without bin/emo-tokenize the pipeline is
# clean | split and the JSON says so.  Prints JSON {...} lines; wall and CPU seconds,
# peak RSS from /usr/bin/time -v.
#
# Usage (repo root, after make): bench/foundation/foundation.sh [ROWS]
# FOUNDATION_NO_ANCHOR=1 skips the Python anchor (the test suite's smoke run does).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${1:-416809}
SHARED=${SHARED:-$PWD/../shared}
PY=/usr/bin/python3
BIN=$PWD/bin
NAMES=sadness,joy,love,anger,fear,surprise
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

awk -F';' -v n="$ROWS" '
    BEGIN { split("sadness joy love anger fear surprise", L, " "); for (i = 1; i <= 6; i++) ix[L[i]] = i - 1 }
    { t[NR] = $0 }
    END {
        print ",text,label"
        for (i = 0; i < n; i++) {
            line = t[(i % NR) + 1]; p = match(line, /;[^;]*$/)
            txt = substr(line, 1, p - 1); lab = substr(line, p + 1)
            if (txt ~ /[",]/) { gsub(/"/, "\"\"", txt); txt = "\"" txt "\"" }
            print i "," txt "," ix[lab]
        }
    }' "$SHARED/data/emotion/train.txt" "$SHARED/data/emotion/val.txt" > "$tmp/text.csv"
bytes=$(stat -c %s "$tmp/text.csv")

now() { date +%s.%N; }
# field from a /usr/bin/time -v report
tv() { sed -n "s/^[[:space:]]*$2: //p" "$1"; }
rss_mb() { awk -v k="$(tv "$1" 'Maximum resident set size (kbytes)')" 'BEGIN { printf "%.1f", k / 1024 }'; }
cpu_s() { awk -v u="$(tv "$1" 'User time (seconds)')" -v s="$(tv "$1" 'System time (seconds)')" 'BEGIN { printf "%.3f", u + s }'; }
# a / b / scale with 1 or 2 decimals; null when b is 0 (too fast for the clock)
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN { if (b > 0) printf f, a / b; else printf "null" }'; }
json() { echo "JSON {\"tag\":\"foundation\",\"rows\":$ROWS,$1}"; }

# 1. clean alone, the paper's cleaning (all steps), records to /dev/null
t0=$(now)
/usr/bin/time -v -o "$tmp/clean.tv" "$BIN/emo-clean" -q --format kaggle --label-names $NAMES "$tmp/text.csv" > /dev/null
t1=$(now)
c_clean=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
c_clean_cpu=$(cpu_s "$tmp/clean.tv")
json "\"impl\":\"c\",\"mode\":\"clean\",\"mb\":$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }'),\"t_wall\":$c_clean,\"t_cpu\":$c_clean_cpu,\"mb_s\":$(div "$bytes" "$(awk -v t="$c_clean" 'BEGIN { print t * 1e6 }')"),\"mb_s_cpu\":$(div "$bytes" "$(awk -v t="$c_clean_cpu" 'BEGIN { print t * 1e6 }')"),\"rss_mb\":$(rss_mb "$tmp/clean.tv")"

# 2. split alone, on the cleaned stream
"$BIN/emo-clean" -q --format kaggle --label-names $NAMES "$tmp/text.csv" > "$tmp/clean.rec"
t0=$(now)
/usr/bin/time -v -o "$tmp/split.tv" "$BIN/emo-split" -q -o "$tmp/split1" "$tmp/clean.rec"
t1=$(now)
c_split=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
c_split_cpu=$(cpu_s "$tmp/split.tv")
json "\"impl\":\"c\",\"mode\":\"split\",\"t_wall\":$c_split,\"t_cpu\":$c_split_cpu,\"rss_mb\":$(rss_mb "$tmp/split.tv")"

# 3. the pipeline, stopwords kept as for BERT; each stage under /usr/bin/time
if [ -x "$BIN/emo-tokenize" ]; then
    stages="clean|tokenize|split"
    t0=$(now)
    /usr/bin/time -v -o "$tmp/p_clean.tv" "$BIN/emo-clean" -q --keep-stopwords --format kaggle --label-names $NAMES "$tmp/text.csv" \
        | /usr/bin/time -v -o "$tmp/p_tok.tv" "$BIN/emo-tokenize" --vocab "$SHARED/data/bert-base-uncased/vocab.txt" \
        | /usr/bin/time -v -o "$tmp/p_split.tv" "$BIN/emo-split" -q -o "$tmp/split2"
    t1=$(now)
    tok_rss=$(rss_mb "$tmp/p_tok.tv")
    tok_cpu=$(cpu_s "$tmp/p_tok.tv")
else
    stages="clean|split"
    t0=$(now)
    /usr/bin/time -v -o "$tmp/p_clean.tv" "$BIN/emo-clean" -q --keep-stopwords --format kaggle --label-names $NAMES "$tmp/text.csv" \
        | /usr/bin/time -v -o "$tmp/p_split.tv" "$BIN/emo-split" -q -o "$tmp/split2"
    t1=$(now)
    tok_rss=null
    tok_cpu=null
fi
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
ok=$(awk -v w="$wall" 'BEGIN { print (w <= 20) ? "true" : "false" }')
json "\"impl\":\"c\",\"mode\":\"pipeline\",\"stages\":\"$stages\",\"t_wall\":$wall,\"budget_s\":20,\"within_budget\":$ok,\"rss_mb_clean\":$(rss_mb "$tmp/p_clean.tv"),\"rss_mb_tokenize\":$tok_rss,\"rss_mb_split\":$(rss_mb "$tmp/p_split.tv"),\"cpu_clean\":$(cpu_s "$tmp/p_clean.tv"),\"cpu_tokenize\":$tok_cpu,\"cpu_split\":$(cpu_s "$tmp/p_split.tv")"

# 4. the anchor, same corpus, same run; ratios = anchor seconds / C seconds
if [ -n "${FOUNDATION_NO_ANCHOR:-}" ]; then
    echo "foundation: anchor skipped (FOUNDATION_NO_ANCHOR set)" >&2
elif $PY -c 'import sklearn' 2> /dev/null; then
    $PY bench/foundation/anchor_python.py "$tmp/text.csv" data/stopwords-en.txt | tee "$tmp/anchor.txt"
    get() { sed -n "s/.*\"mode\": \"$1\".*\"$2\": \([0-9.]*\).*/\1/p" "$tmp/anchor.txt"; }
    ratio() { div "$1" "$2" %.2f; }
    json "\"impl\":\"ratio\",\"mode\":\"clean\",\"speedup_wall\":$(ratio "$(get clean t_wall)" "$c_clean"),\"speedup_cpu\":$(ratio "$(get clean t_cpu)" "$c_clean_cpu")"
    json "\"impl\":\"ratio\",\"mode\":\"split\",\"speedup_wall\":$(ratio "$(get split t_wall)" "$c_split"),\"speedup_cpu\":$(ratio "$(get split t_cpu)" "$c_split_cpu")"
else
    echo "foundation: /usr/bin/python3 has no sklearn; anchor skipped (.ci/install-deps --reference)" >&2
fi
