#!/bin/sh
# Regenerates the tokenizer goldens in tests/fixtures/tok/ from an independent reference:
# the Hugging Face tokenizers library (Rust) through npm @anush008/tokenizers@0.6.0
# (tokenizers 0.22), configured as bert-base-uncased's BertTokenizerFast.
#   tests/gen/make_tok_goldens.sh [SCRATCH_DIR]     (default /work/scratch/tok-node)
# Needs node + npm (registry access once), /usr/bin/python3 and zstd.  Writes, for each
# input set S: tests/fixtures/tok/S.ids.zst, lines "<line>\t<ids>" (untruncated); for the
# shared corpora "<line>\t#<count>:<hash>" instead (tests/gen/tok_golden_hash.py).
# Inputs: ../shared/data/emotion/{train,val}.txt (the text before the last ';'),
# unlabeled.txt (whole line), tests/fixtures/tok/edge.jsonl (one JSON string per line,
# hand-made) and tests/fixtures/tok/long.jsonl.zst (made here by make_tok_long.py).
# Where the Rust library is known to differ from the Python BertTokenizer, the test
# applies tests/fixtures/tok/python-overrides.tsv instead (see that file).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${SHARED:-$root/../shared}
scratch=${1:-/work/scratch/tok-node}
fx=$root/tests/fixtures/tok
mkdir -p "$scratch"
if [ ! -d "$scratch/node_modules/@anush008/tokenizers" ]; then
    (cd "$scratch" && npm init -y >/dev/null && npm install @anush008/tokenizers@0.6.0)
fi
/usr/bin/python3 "$shared/anchors/make_tokenizer_json.py" "$shared/data/bert-base-uncased/vocab.txt" "$scratch/tokenizer.json"
/usr/bin/python3 "$root/tests/gen/make_tok_long.py" | zstd -19 -q -f -o "$fx/long.jsonl.zst"

to_jsonl() {   # $1 = corpus file, $2 = labeled (1) or not (0)
    /usr/bin/python3 -c '
import json, sys
labeled = sys.argv[2] == "1"
with open(sys.argv[1], "rb") as f:
    for raw in f:
        line = raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8")
        if labeled:
            line = line.rsplit(";", 1)[0]
        print(json.dumps(line))
' "$1" "$2"
}
run_ref() {    # $1 = jsonl, $2 = set name, $3 = "hash": commit per-row digests, not ids (corpus rows)
    NODE_PATH="$scratch/node_modules" node "$root/tests/gen/tok_goldens.js" "$scratch/tokenizer.json" "$1" \
        > "$scratch/$2.rust.tsv"
    if [ "${3:-}" = hash ]; then
        /usr/bin/python3 "$root/tests/gen/tok_golden_hash.py" < "$scratch/$2.rust.tsv" \
            | zstd -19 -q -f -o "$fx/$2.ids.zst"
    else
        zstd -19 -q -f "$scratch/$2.rust.tsv" -o "$fx/$2.ids.zst"
    fi
    /usr/bin/python3 "$root/tests/gen/bert_ref.py" "$shared/data/bert-base-uncased/vocab.txt" "$1" > "$scratch/$2.py.tsv"
    /usr/bin/python3 "$root/tests/gen/tok_overrides.py" "$2" "$1" "$scratch/$2.rust.tsv" "$scratch/$2.py.tsv" >> "$overrides"
    echo "$2: $(wc -l < "$scratch/$2.rust.tsv") rows" >&2
}
overrides=$fx/python-overrides.tsv
cat > "$overrides" <<'HDR'
# Rows where the Hugging Face tokenizers library (Rust, the golden) and the Python
# BertTokenizer algorithm (tests/gen/bert_ref.py, Python's unicodedata) disagree; the
# test expects the Python ids.  Made by tests/gen/make_tok_goldens.sh.
# set	line	ids	reason
HDR
to_jsonl "$shared/data/emotion/train.txt" 1 > "$scratch/train.jsonl"
to_jsonl "$shared/data/emotion/val.txt" 1 > "$scratch/val.jsonl"
to_jsonl "$shared/data/emotion/unlabeled.txt" 0 > "$scratch/unlabeled.jsonl"
zstd -dc "$fx/long.jsonl.zst" > "$scratch/long.jsonl"
run_ref "$scratch/train.jsonl" train hash
run_ref "$scratch/val.jsonl" val hash
run_ref "$scratch/unlabeled.jsonl" unlabeled hash
run_ref "$fx/edge.jsonl" edge
run_ref "$scratch/long.jsonl" long
# ALBERT preprocessing of the edge cases (Python unicodedata), for test_tok_spm
/usr/bin/python3 "$root/tests/gen/albert_pre.py" < "$fx/edge.jsonl" > "$fx/edge.albert.jsonl"
# Differential fuzz set: random strings, expected ids from the Python algorithm itself
# (bert_ref.py), since the Rust library's older Unicode tables differ on ~60% of them.
/usr/bin/python3 "$root/tests/gen/make_tok_fuzz.py" > "$scratch/fuzz.jsonl"
zstd -19 -q -f "$scratch/fuzz.jsonl" -o "$fx/fuzz.jsonl.zst"
/usr/bin/python3 "$root/tests/gen/bert_ref.py" "$shared/data/bert-base-uncased/vocab.txt" "$scratch/fuzz.jsonl" |
    zstd -19 -q -f -o "$fx/fuzz.py-ids.zst"
