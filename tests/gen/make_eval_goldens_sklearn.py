#!/usr/bin/python3
"""Goldens for emo eval / emo confusion / lib/metrics, made with Debian's scikit-learn.

Run from the repository root with the Debian interpreter (python3-sklearn 1.2.1):
    /usr/bin/python3 tests/gen/make_eval_goldens_sklearn.py
Writes tests/fixtures/eval/<set>.jsonl (prediction records, input of the tools),
<set>.args (extra options the tools need for that set), <set>.report2.txt and
<set>.report4.txt (classification_report, digits 2 and 4), <set>.confusion.json and
<set>.expected.json (all numbers: per-class metrics, averages, confusion matrices, full
precision_recall_curve points, average_precision_score, length buckets).

Sets:
  basic      6 emotions, informative logits, input_ids for length
  neverpred  a class that is never predicted (its logit is always very low), text lengths
  absent     a class absent from the truth (needs --labels, as the class list cannot be
             inferred from the labels); still predicted sometimes -> "accuracy" row
  ties       integer logits in {0,1,2}: many argmax ties (numpy takes the first) and many
             score ties in the PR curves; plus a class neither true nor predicted -> sklearn
             prints "micro avg" instead of "accuracy"
  field      the class list comes from a `labels` field in id2label (unsorted) order, with
             a non-ASCII class name (padding counts code points)
"""
import json
import math
import os
import warnings

import numpy as np
from sklearn.metrics import (average_precision_score, classification_report,
                             confusion_matrix, precision_recall_curve,
                             precision_recall_fscore_support)

OUT = "tests/fixtures/eval"
EMO = ["anger", "fear", "joy", "love", "sadness", "surprise"]


def softmax(logits):
    """Softmax in double exactly as lib/metrics softmax_f64 computes it: libm exp (what
    math.exp calls) and a left-to-right sum.  numpy's pairwise/SIMD sum and exp differ in
    the last bit, which would split or merge tied scores; the PR-curve algorithm, not the
    softmax rounding, is what sklearn is the oracle for."""
    out = np.empty(logits.shape, dtype=np.float64)
    for i, row in enumerate(logits):
        z = [float(v) for v in row]
        m = max(z)
        e = [math.exp(v - m) for v in z]
        s = 0.0
        for v in e:
            s += v
        out[i] = [v / s for v in e]
    return out


def f32_json(v):
    # shortest decimal that round-trips the float32 (numpy repr), so the C side reads the same bits
    return [float(np.format_float_positional(np.float32(x), unique=True)) for x in v]


def lower_quantile_edges(lengths, q):
    s = np.sort(lengths)
    n = len(s)
    edges = []
    for i in range(1, q):
        rank = -(-i * n // q)  # ceil(i*n/q)
        e = int(s[max(rank, 1) - 1])
        if not edges or e > edges[-1]:
            edges.append(e)
    return edges


def buckets(lengths, y_true, y_pred, edges):
    out = []
    lo = 0
    for i in range(len(edges) + 1):
        hi = edges[i] if i < len(edges) else None
        m = (lengths >= lo) & ((lengths <= hi) if hi is not None else True) & (lengths >= 0)
        cnt = int(m.sum())
        errs = int((y_true[m] != y_pred[m]).sum())
        out.append({"lo": lo, "hi": hi, "count": cnt, "errors": errs})
        if hi is not None:
            lo = hi + 1
    return out


def make_set(name, names, y_true, logits, extra=None, args="", lengths=None):
    K = len(names)
    N = len(y_true)
    logits = logits.astype(np.float32)
    y_pred = np.argmax(logits, axis=1)  # first maximum on ties
    scores = softmax(logits)
    with open(os.path.join(OUT, name + ".jsonl"), "w") as f:
        for i in range(N):
            r = {"id": i + 1, "label": names[y_true[i]], "logits": f32_json(logits[i])}
            if extra:
                r.update(extra(i))
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, name + ".args"), "w") as f:
        f.write(args + "\n")
    labels = list(range(K))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d in (2, 4):
            rep = classification_report(y_true, y_pred, labels=labels, target_names=names, digits=d)
            with open(os.path.join(OUT, "%s.report%d.txt" % (name, d)), "w") as f:
                f.write(rep)
        p, r, f1, s = precision_recall_fscore_support(y_true, y_pred, labels=labels)
        avg = {}
        for a in ("micro", "macro", "weighted"):
            ap_, ar_, af_, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=a)
            avg[a] = [float(ap_), float(ar_), float(af_)]
        curves = []
        for k in range(K):
            yk = (y_true == k).astype(int)
            pr, rc, th = precision_recall_curve(yk, scores[:, k])
            ap = average_precision_score(yk, scores[:, k])
            curves.append({"label": names[k], "ap": float(ap), "precision": pr.tolist(),
                           "recall": rc.tolist(), "thresholds": th.tolist()})
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmn = np.nan_to_num(confusion_matrix(y_true, y_pred, labels=labels, normalize="true"))
    exp = {
        "n": N, "classes": names, "truth": y_true.tolist(), "pred": y_pred.tolist(),
        "accuracy": float((y_true == y_pred).mean()),
        "precision": p.tolist(), "recall": r.tolist(), "f1": f1.tolist(), "support": s.tolist(),
        "micro_avg": avg["micro"], "macro_avg": avg["macro"], "weighted_avg": avg["weighted"],
        "confusion": cm.tolist(), "confusion_normalized": cmn.tolist(),
        "pr_curves": curves, "ap_macro": float(np.mean([c["ap"] for c in curves])),
    }
    if lengths is not None:
        exp["length_fixed_5_10_20"] = buckets(lengths, y_true, y_pred, [5, 10, 20])
        exp["length_q4"] = buckets(lengths, y_true, y_pred, lower_quantile_edges(lengths[lengths >= 0], 4))
    with open(os.path.join(OUT, name + ".expected.json"), "w") as f:
        json.dump(exp, f)
        f.write("\n")
    # top confusions as emo confusion lists them: count desc, then true, then predicted index
    pairs = [(int(cm[t, q]), t, q) for t in range(K) for q in range(K) if t != q and cm[t, q] > 0]
    pairs.sort(key=lambda x: (-x[0], x[1], x[2]))
    with open(os.path.join(OUT, name + ".confusion.json"), "w") as f:
        json.dump({"confusion": cm.tolist(), "normalized": cmn.tolist(),
                   "top": [{"true": names[t], "pred": names[q], "count": c,
                            "rate": c / int(cm[t].sum())} for c, t, q in pairs]}, f)
        f.write("\n")


def informative(rng, y_true, K, signal):
    logits = rng.normal(0, 1.5, size=(len(y_true), K))
    logits[np.arange(len(y_true)), y_true] += signal
    return logits


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261126)

    # basic: imbalanced truth like the emotion corpus, input_ids of varied length
    N = 300
    y = rng.choice(6, size=N, p=[0.14, 0.12, 0.33, 0.08, 0.29, 0.04])
    lg = informative(rng, y, 6, 2.0)
    lens = rng.integers(3, 40, size=N)
    make_set("basic", EMO, y, lg,
             extra=lambda i: {"input_ids": [101] + [1000 + int(j) for j in range(lens[i] - 2)] + [102]},
             lengths=lens)

    # neverpred: 'love' never wins the argmax; lengths from text word counts
    N = 150
    y = rng.choice(6, size=N)
    lg = informative(rng, y, 6, 1.5)
    lg[:, 3] = -20.0 + rng.normal(0, 0.1, size=N)
    words = rng.integers(1, 25, size=N)
    make_set("neverpred", EMO, y, lg,
             extra=lambda i: {"text": " ".join(["w%d" % j for j in range(words[i])]) + ("\t\n" if i % 7 == 0 else "")},
             lengths=words)

    # absent: class 'surprise' never true; --labels needed
    N = 120
    y = rng.choice(5, size=N)
    lg = informative(rng, y, 6, 1.0)
    make_set("absent", EMO, y, lg, args="--labels " + ",".join(EMO))

    # ties: integer logits, a class 'zzz' that is neither true nor predicted
    N = 200
    names = ["a", "b", "c", "zzz"]
    y = rng.choice(3, size=N)
    lg = rng.integers(0, 3, size=(N, 4)).astype(np.float64)
    lg[:, 3] = -5
    make_set("ties", names, y, lg, args="--labels a,b,c,zzz")

    # field: id2label order from a labels field, non-ASCII name
    names = ["sadness", "joy", "love", "colère", "fear", "surprise"]
    N = 90
    y = rng.choice(6, size=N)
    lg = informative(rng, y, 6, 2.5)
    make_set("field", names, y, lg, extra=lambda i: {"labels": names})


if __name__ == "__main__":
    main()
