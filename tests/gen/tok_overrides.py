#!/usr/bin/python3
"""Rows where the Rust tokenizers library and the Python BertTokenizer algorithm
(bert_ref.py) disagree -> python-overrides.tsv lines "set<TAB>line<TAB>ids<TAB>reason".
Usage: tok_overrides.py SET TEXTS.jsonl RUST.tsv PYTHON.tsv >> python-overrides.tsv

Rows holding a character assigned in Unicode 15.0 but unassigned in this Python's
unicodedata are left to the Rust golden (this Python would drop the character as Cn;
Python >= 3.12, utf8proc 2.8 and the Rust library keep it) and reported on stderr."""
import json
import sys
import unicodedata

# Unicode 15.0 additions seen in social-media text: new emoji (1FA70-1FAFF block) and
# CJK Extension H.
U15 = set([0x1FA75, 0x1FA76, 0x1FA77, 0x1FA87, 0x1FA88, 0x1FAAD, 0x1FAAE, 0x1FAAF,
           0x1FABB, 0x1FABC, 0x1FABD, 0x1FABF, 0x1FACE, 0x1FACF, 0x1FADA, 0x1FADB,
           0x1FAE8, 0x1FAF7, 0x1FAF8]) | set(range(0x31350, 0x323B0))


def reason(text):
    why = []
    for c in sorted(set(text)):
        cat = unicodedata.category(c)
        cp = ord(c)
        if cat == "Cn":
            why.append("U+%04X unassigned (Cn): Python drops it as C*, Rust keeps it ([UNK])" % cp)
        elif cat in ("Mc", "Me"):
            why.append("U+%04X is %s: Python strips only Mn, Rust strips all marks" % (cp, cat))
        elif 0x2B820 <= cp <= 0x2B91F:
            why.append("U+%04X: CJK range 2B820.. in Python, 2B920.. in Rust" % cp)
    return "; ".join(why) or "unexplained"


def main():
    name, texts_path, rust_path, py_path = sys.argv[1:5]
    texts = [json.loads(l) for l in open(texts_path, encoding="utf-8").read().split("\n")[:-1]]
    rust = dict(l.split("\t", 1) for l in open(rust_path).read().split("\n") if l)
    py = dict(l.split("\t", 1) for l in open(py_path).read().split("\n") if l)
    for k in sorted(py, key=int):
        if rust.get(k) == py[k]:
            continue
        t = texts[int(k) - 1]
        if any(ord(c) in U15 and unicodedata.category(c) == "Cn" for c in t):
            print("%s line %s: Unicode 15 character, Rust golden kept" % (name, k), file=sys.stderr)
            continue
        print("%s\t%s\t%s\t%s" % (name, k, py[k], reason(t)))


if __name__ == "__main__":
    main()
