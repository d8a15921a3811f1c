#!/bin/sh
# bench/experiments/trim-vocab.sh [WORK]: the size reduction of emo ckpt trim-vocab on
# bert-mini and distilbert-mini with the shared corpus (README.md beside it).  Tokenizes the
# corpus, makes fresh checkpoints in bert-base-uncased's vocabulary, trims them over
# train.txt + unlabeled.txt (and variants), and prints one TSV line per variant:
# model, corpus, min_count, vocab_size, params, model.safetensors bytes, share of the
# original, corpus texts tokenized differently (must be 0 at min-count 1), val.txt texts
# tokenized differently (held-out words the trimmed vocabulary spells with other pieces).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
PATH=$here/bin:$PATH
S=${SHARED:-$here/../shared}
V=$S/data/bert-base-uncased/vocab.txt
W=${1:-${TMPDIR:-/tmp}/trim-vocab}
mkdir -p "$W"
cd "$W"
emo clean -q --format semicolon --keep-stopwords "$S/data/emotion/train.txt" | emo tokenize --vocab "$V" -o train.rec
emo clean -q --format lines --keep-stopwords --id-offset 1000000 "$S/data/emotion/unlabeled.txt" |
    emo tokenize --vocab "$V" -o unlabeled.rec
emo clean -q --format semicolon --keep-stopwords --id-offset 2000000 "$S/data/emotion/val.txt" |
    emo tokenize --vocab "$V" -o val.rec
L=sadness,joy,love,anger,fear,surprise
emo ckpt init --labels $L --vocab "$V" -o bert-mini bert-mini
emo ckpt init --labels $L --vocab "$V" -o distilbert-mini distilbert-mini

# differ OLD_VOCAB NEW_VOCAB RECORDS: records whose text tokenizes with NEW to other tokens
differ() {
    emo tokenize --vocab "$2" "$3" | emo dump > new.jsonl
    emo dump "$3" > old.jsonl
    python3 - "$1" "$2" <<'PY'
import json, sys
old = {t: i for i, t in enumerate(open(sys.argv[1], encoding="utf-8").read().split("\n"))}
new = open(sys.argv[2], encoding="utf-8").read().split("\n")
n = 0
for a, b in zip(open("old.jsonl"), open("new.jsonl")):
    a, b = json.loads(a), json.loads(b)
    n += a["input_ids"] != [old[new[i]] for i in b["input_ids"]]
print(n)
PY
}

printf 'model\tcorpus\tmin_count\tvocab_size\tparams\tbytes\tshare\tcorpus_texts_changed\tval_texts_changed\n'
for m in bert-mini distilbert-mini; do
    b0=$(stat -c %s $m/model.safetensors)
    p0=$(emo ckpt info $m | sed 's/.*"params":\([0-9]*\).*/\1/')
    printf '%s\t-\t-\t30522\t%s\t%s\t1.000\t0\t0\n' $m "$p0" "$b0"
    for v in "train 1" "train+unlabeled 1" "train+unlabeled 2" "train+unlabeled 5"; do
        set -- $v
        c="--corpus train.rec"
        [ "$1" = train ] || c="$c --corpus unlabeled.rec"
        emo ckpt trim-vocab -m $m $c --min-count "$2" -o t 2>/dev/null
        b=$(stat -c %s t/model.safetensors)
        p=$(emo ckpt info t | sed 's/.*"params":\([0-9]*\).*/\1/')
        ct=$(differ "$V" t/vocab.txt train.rec)
        [ "$1" = train ] || ct=$((ct + $(differ "$V" t/vocab.txt unlabeled.rec)))
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%s\t%s\n' $m "$1" "$2" "$(wc -l < t/vocab.txt)" "$p" "$b" \
            "$(echo "$b $b0" | awk '{ print $1 / $2 }')" "$ct" "$(differ "$V" t/vocab.txt val.rec)"
    done
done
