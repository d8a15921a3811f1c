#!/usr/bin/python3
"""Helper of bench/metrics/metrics.sh.

  anchor_sklearn.py make N OUT.rec OUT.npz    seeded synthetic predictions (6 emotions,
                                              logits with signal, input_ids of 5-60 tokens)
                                              as an emo record stream and as numpy arrays
  anchor_sklearn.py run IN.npz                times what emo eval + emo confusion compute,
                                              done with numpy + scikit-learn, on the arrays
                                              already in memory; prints one JSON line
"""
import json
import sys
import time

import msgpack
import numpy as np

EMO = ["anger", "fear", "joy", "love", "sadness", "surprise"]


def make(n, out_rec, out_npz):
    rng = np.random.default_rng(416809)
    y = rng.choice(6, size=n, p=[0.14, 0.12, 0.33, 0.08, 0.29, 0.04])
    logits = rng.normal(0, 1.5, size=(n, 6)).astype(np.float32)
    logits[np.arange(n), y] += np.float32(2.5)
    lens = rng.integers(5, 61, size=n)
    with open(out_rec, "wb") as f:
        pk = msgpack.Packer(use_single_float=True)
        f.write(pk.pack({"emo.stream": 1}))
        for i in range(n):
            f.write(pk.pack({"id": i + 1, "label": EMO[y[i]], "logits": logits[i].tolist(),
                             "input_ids": list(range(1000, 1000 + int(lens[i])))}))
        f.write(pk.pack({"emo.end": n}))
    np.savez(out_npz, y=y, logits=logits, lens=lens)


def run(npz):
    from sklearn.metrics import (average_precision_score, classification_report,
                                 confusion_matrix, precision_recall_curve)
    d = np.load(npz)
    y, logits = d["y"], d["logits"]
    t0, c0 = time.perf_counter(), time.process_time()
    pred = np.argmax(logits, axis=1)
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    scores = e / e.sum(axis=1, keepdims=True)
    classification_report(y, pred, labels=list(range(6)), target_names=EMO)
    confusion_matrix(y, pred)
    confusion_matrix(y, pred, normalize="true")
    for k in range(6):
        precision_recall_curve(y == k, scores[:, k])
        average_precision_score(y == k, scores[:, k])
    t, cpu = time.perf_counter() - t0, time.process_time() - c0
    print("JSON " + json.dumps({"tag": "sklearn", "impl": "sklearn-1.2.1", "bench": "metrics",
                                "n": int(len(y)), "k": 6, "t": round(t, 4), "cpu": round(cpu, 4),
                                "note": "arrays in memory; load excluded"}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        run(sys.argv[2])
