#!/usr/bin/python3
"""Expected ALBERT preprocessing (transformers tokenization_albert.py preprocess_text,
after PreTrainedTokenizer.tokenize's character-by-character lowercasing) of each JSON
string on stdin, written with Python's own unicodedata; one JSON string per line out.
Used by make_tok_goldens.sh for tests/fixtures/tok/edge.albert.jsonl."""
import json
import sys
import unicodedata


def preprocess(text):
    text = "".join(c if c == "\n" else c.lower() for c in text)
    out = " ".join(text.strip().split())
    out = out.replace("``", '"').replace("''", '"')
    out = unicodedata.normalize("NFKD", out)
    out = "".join(c for c in out if not unicodedata.combining(c))
    return out.lower()


for line in sys.stdin.read().split("\n")[:-1]:
    print(json.dumps(preprocess(json.loads(line)), ensure_ascii=False))
