#!/usr/bin/python3
"""Independent reference for emo clean's documented rules (emo-clean(1)), in plain Python
with unicodedata: used by tests/tools/clean.bats to compare on the shared corpus.
Emoji are not modelled (unicodedata has no Extended_Pictographic); the corpus has none.
Usage: clean_ref.py stopwords.txt FILE(text;label lines)  -> JSON Lines like emo dump."""
import json
import string
import sys
import unicodedata


def is_punct(ch):
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def is_space(ch):
    return ch.isascii() and (ord(ch) <= 0x20 or ord(ch) == 0x7F) or unicodedata.category(ch) in ("Zs", "Zl", "Zp", "Cc")


def words(text):
    w = ""
    for ch in text:
        if is_space(ch):
            if w:
                yield w
            w = ""
        else:
            w += ch
    if w:
        yield w


def main():
    stop = set(open(sys.argv[1], encoding="utf-8").read().split())
    with open(sys.argv[2], encoding="utf-8", newline="\n") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line:
                continue
            text, _, label = line.rpartition(";")
            label = label.strip(" \t\r\n")
            if not text.strip() or not label:
                continue
            kept = []
            for raw in words(text):
                body = "".join(ch for ch in raw if not is_punct(ch)).lower()
                if not body or body in stop or raw.lower() in stop:
                    continue
                kept.append(body)
            if kept:
                print(json.dumps({"id": n, "text": " ".join(kept), "label": label}, ensure_ascii=False,
                                 separators=(",", ":")))


if __name__ == "__main__":
    main()
