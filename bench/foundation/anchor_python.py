#!/usr/bin/python3
"""Python anchor for bench/foundation/foundation.sh: the paper's cleaning as it is usually written
(csv module, str.translate for punctuation, an emoji regex, lower(), a stopword set) and
scikit-learn's stratified train_test_split applied twice for 70/15/15.

Usage: anchor_python.py text.csv stopwords.txt
Prints JSON {...} lines with wall and CPU seconds per stage (no output files: the C
tools also write their records, so the ratio flatters the anchor slightly)."""
import csv
import json
import re
import resource
import string
import sys
import time

from sklearn.model_selection import train_test_split

NAMES = ["sadness", "joy", "love", "anger", "fear", "surprise"]
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0E\uFE0F\u200D\u20E3]")
PUNCT = str.maketrans("", "", string.punctuation)


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    path, stop_path = sys.argv[1], sys.argv[2]
    stop = set(open(stop_path, encoding="utf-8").read().split())
    t0, c0 = time.perf_counter(), cpu()
    ids, texts, labels = [], [], []
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        next(rows)
        for idx, text, label in rows:
            if not text.strip() or not label.strip():
                continue
            t = EMOJI.sub("", text).translate(PUNCT).lower()
            t = " ".join(w for w in t.split() if w not in stop)
            if not t:
                continue
            ids.append(int(idx))
            texts.append(t)
            labels.append(NAMES[int(label)])
    t1, c1 = time.perf_counter(), cpu()
    rest, test = train_test_split(list(range(len(ids))), test_size=0.15, stratify=labels, random_state=42)
    rest_labels = [labels[i] for i in rest]
    train, val = train_test_split(rest, test_size=0.15 / 0.85, stratify=rest_labels, random_state=42)
    t2, c2 = time.perf_counter(), cpu()
    base = {"tag": "foundation", "rows": len(ids)}
    print("JSON " + json.dumps({**base, "impl": "python", "mode": "clean", "t_wall": round(t1 - t0, 3),
                                "t_cpu": round(c1 - c0, 3)}))
    print("JSON " + json.dumps({**base, "impl": "sklearn", "mode": "split", "t_wall": round(t2 - t1, 3),
                                "t_cpu": round(c2 - c1, 3), "sizes": [len(train), len(val), len(test)]}))


if __name__ == "__main__":
    main()
