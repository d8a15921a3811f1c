#!/usr/bin/python3
"""Second reference for the tokenizer goldens: the algorithm of Hugging Face's Python
BertTokenizer (transformers tokenization_bert.py + PreTrainedTokenizer.tokenize), written
out with Python's own unicodedata and str.lower.  make_tok_goldens.sh runs it beside the
Rust library and records the rows where the two disagree in python-overrides.tsv.

Usage: bert_ref.py VOCAB IN.jsonl > OUT.tsv   (one JSON string per line; "<line>\\t<ids>")
"""
import json
import re
import sys
import unicodedata

SPECIALS = ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
MAX_CHARS = 100


def load_vocab(path):
    vocab = {}
    with open(path, encoding="utf-8") as f:     # universal newlines, as transformers
        for i, tok in enumerate(f.readlines()):
            vocab[tok.rstrip("\n")] = i
    return vocab


def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def is_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
       (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_cjk(c):
    cp = ord(c)
    return any(a <= cp <= b for a, b in CJK)


def basic_tokenize(text):
    text = "".join(" " if is_whitespace(c) else c for c in text
                   if not (ord(c) == 0 or ord(c) == 0xFFFD or is_control(c)))
    text = "".join(" %s " % c if is_cjk(c) else c for c in text)
    text = unicodedata.normalize("NFC", text)      # transformers >= 4.30
    out = []
    for tok in text.split():
        tok = tok.lower()
        tok = "".join(c for c in unicodedata.normalize("NFD", tok) if unicodedata.category(c) != "Mn")
        word = []
        for c in tok:
            if is_punct(c):
                if word:
                    out.append("".join(word))
                    word = []
                out.append(c)
            else:
                word.append(c)
        if word:
            out.append("".join(word))
    return out


def wordpiece(word, vocab):
    if len(word) > MAX_CHARS:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        cur = None
        while start < end:
            sub = word[start:end]
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        pieces.append(cur)
        start = end
    return pieces


def tokenize(text, vocab):
    # PreTrainedTokenizer.tokenize with do_lower_case: special tokens are protected and
    # everything else is lowercased one character at a time (regex "(.+?)", which does
    # not match "\n"), then the text is split around the special tokens.
    pattern = "(" + "|".join(re.escape(s) for s in SPECIALS) + r")|(.+?)"
    text = re.sub(pattern, lambda m: m.groups()[0] or m.groups()[1].lower(), text)
    toks = []
    for part in re.split("(" + "|".join(re.escape(s) for s in SPECIALS) + ")", text):
        if part in SPECIALS:
            toks.append(part)
        elif part:
            for w in basic_tokenize(part):
                toks.extend(wordpiece(w, vocab))
    return ["[CLS]"] + toks + ["[SEP]"]


def main():
    vocab = load_vocab(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        for n, line in enumerate(f.read().split("\n")[:-1], 1):
            ids = [vocab.get(t, vocab["[UNK]"]) for t in tokenize(json.loads(line), vocab)]
            print("%d\t%s" % (n, " ".join(map(str, ids))))


if __name__ == "__main__":
    main()
