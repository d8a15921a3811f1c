#!/usr/bin/python3
"""Helpers for bench/tsne/tsne.sh (scikit-learn 1.2.1, numpy).

  anchor_sklearn.py data N OUT.jsonl
      the anchor's points (sk_tsne.py: make_blobs(N, 256, centers=6, cluster_std=1,
      center_box=(-10, 10), random_state=0), float32) as JSON Lines {id, label, embedding},
      exact float32 values
  anchor_sklearn.py score N COORDS [T]
      COORDS: .npy (sklearn's embedding) or JSON Lines from `emo dump` with a "tsne" field
      (ours).  Prints one JSON line: exact KL(P || Q) under sklearn's own P for these points
      (kNN P exactly as TSNE builds it, Q normalised over all pairs); sklearn's own Barnes-Hut
      KL estimate of these coordinates (_kl_divergence_bh, angle 0.5, T threads: the code
      behind TSNE.kl_divergence_); the anchor's 1-NN label agreement.
The same P and the same code score both embeddings, so the KLs are comparable.  sklearn's
estimate sums its terms in float32 per thread, so it depends on T (at 20,000 points it reads
about 0.013 low with 1 thread and 0.0015 low with 2, against the same sum in double): compare
it only between embeddings scored with the same T.
"""
import json
import sys

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.manifold._t_sne import _joint_probabilities_nn, _kl_divergence_bh
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors


def blobs(n):
    X, y = make_blobs(n_samples=n, n_features=256, centers=6, cluster_std=1.0,
                      center_box=(-10.0, 10.0), random_state=0)
    return X.astype(np.float32), y


def sklearn_P(X, perplexity=30.0):
    n = X.shape[0]
    k = min(n - 1, int(3.0 * perplexity + 1))
    dist = NearestNeighbors(n_neighbors=k, metric="euclidean").fit(X).kneighbors_graph(mode="distance")
    dist.data **= 2
    return _joint_probabilities_nn(dist, perplexity, 0)


def sklearn_estimate(P, Y, threads):
    """TSNE.kl_divergence_'s computation (float32 coordinates and P, BH Z) at these coordinates."""
    err, _ = _kl_divergence_bh(Y.astype(np.float32).ravel(), P, 1, Y.shape[0], 2, angle=0.5,
                               compute_error=True, num_threads=threads)
    return float(err)


def exact_kl(P, Y):
    n = Y.shape[0]
    P = P.tocoo()
    Y = Y.astype(np.float64)
    Z = 0.0
    sq = (Y ** 2).sum(1)
    for a in range(0, n, 2000):                      # sum over i != j of 1 / (1 + d^2), in blocks
        d2 = np.maximum(sq[a:a + 2000, None] + sq[None, :] - 2 * Y[a:a + 2000] @ Y.T, 0)
        q = 1.0 / (1.0 + d2)
        q[np.arange(q.shape[0]), np.arange(a, a + q.shape[0])] = 0
        Z += q.sum()
    d2 = ((Y[P.row] - Y[P.col]) ** 2).sum(1)
    q = 1.0 / (1.0 + d2) / Z
    m = P.data > 0
    return float((P.data[m] * np.log(P.data[m] / q[m])).sum())


def nn1(Y, y):
    knn = KNeighborsClassifier(n_neighbors=2).fit(Y, y)
    idx = knn.kneighbors(Y, 2, return_distance=False)[:, 1]
    return float((y[idx] == y).mean())


if sys.argv[1] == "data":
    X, y = blobs(int(sys.argv[2]))
    with open(sys.argv[3], "w") as f:
        for i in range(len(X)):
            f.write(json.dumps({"id": i, "label": "c%d" % y[i], "embedding": X[i].tolist()}) + "\n")
elif sys.argv[1] == "score":
    X, y = blobs(int(sys.argv[2]))
    path = sys.argv[3]
    if path.endswith(".npy"):
        Y = np.load(path)
    else:
        rows = [json.loads(l) for l in open(path)]
        rows.sort(key=lambda r: r["id"])
        Y = np.array([r["tsne"] for r in rows], dtype=np.float64)
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    P = sklearn_P(X)
    print("JSON " + json.dumps({"kl_exact_sklearn_P": exact_kl(P, Y),
                                "kl_sklearn_estimate": sklearn_estimate(P, Y, threads),
                                "estimate_threads": threads, "nn1_label_agreement": nn1(Y, y)}))
