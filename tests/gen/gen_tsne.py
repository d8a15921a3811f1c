#!/usr/bin/python3
"""Goldens for emo tsne (tests/unit/test_tsne.c, tests/tools/tsne.bats), from scikit-learn 1.2.1.

Run from the repository root:  /usr/bin/python3 tests/gen/gen_tsne.py
Writes tests/fixtures/tsne/:
  blobs.jsonl      150 records {id, label, embedding[8]}: 3 Gaussian blobs (make_blobs, seed 3)
  silhouette.txt   two labelled point sets and sklearn.metrics.silhouette_samples for each
  affinities.txt   a point set and sklearn's joint probabilities P (TSNE's kNN path)
Floats are written as float32 values with 9 significant digits, so C reads the same numbers.
"""
import json
import os

import numpy as np
import sklearn
from scipy.sparse import csr_matrix
from sklearn.datasets import make_blobs
from sklearn.manifold._t_sne import _joint_probabilities_nn
from sklearn.metrics import silhouette_samples
from sklearn.neighbors import NearestNeighbors

assert sklearn.__version__ == "1.2.1", sklearn.__version__
OUT = "tests/fixtures/tsne"
os.makedirs(OUT, exist_ok=True)
NAMES = ["anger", "fear", "joy", "love", "sadness", "surprise"]


def f9(v):
    return "%.9g" % float(np.float32(v))


# --- blobs.jsonl: small labelled input for the bats tests ---------------------------
X, y = make_blobs(n_samples=150, n_features=8, centers=3, cluster_std=1.0,
                  center_box=(-10.0, 10.0), random_state=3)
X = X.astype(np.float32)
with open(f"{OUT}/blobs.jsonl", "w") as f:
    for i in range(len(X)):
        f.write(json.dumps({"id": i, "label": NAMES[y[i]], "text": f"tweet {i}",
                            "embedding": [float(v) for v in X[i]]}) + "\n")

# --- silhouette.txt ------------------------------------------------------------------
# Format: "set N D K" then N lines "cls x_1 .. x_D", then N lines "s_i" (sklearn's
# silhouette_samples in float64), repeated per set.
rng = np.random.RandomState(7)
sets = []
# set 1: 2-D, 4 overlapping classes of different sizes, one singleton class (s = 0),
# and a duplicated point
n1 = 120
P1 = rng.normal(size=(n1, 2)).astype(np.float32) * 2
c1 = rng.randint(0, 3, size=n1)
P1[c1 == 1] += np.float32(2.5)
c1[17] = 3                      # singleton class
P1[40] = P1[41]; c1[40] = c1[41]
sets.append((P1, c1))
# set 2: 7-D, 3 well-separated classes
P2, c2 = make_blobs(n_samples=90, n_features=7, centers=3, cluster_std=1.5, random_state=11)
sets.append((P2.astype(np.float32), c2))
with open(f"{OUT}/silhouette.txt", "w") as f:
    for P, c in sets:
        Pd = P.astype(np.float64)
        s = silhouette_samples(Pd, c, metric="euclidean")
        f.write(f"set {P.shape[0]} {P.shape[1]} {len(np.unique(c))}\n")
        for i in range(P.shape[0]):
            f.write(" ".join([str(int(c[i]))] + [f9(v) for v in P[i]]) + "\n")
        for v in s:
            f.write("%.17g\n" % v)

# --- affinities.txt --------------------------------------------------------------------
# Format: "N D perplexity k", N lines of coordinates, then "nnz", then nnz lines "i j p_ij".
N, D, perp = 80, 5, 5.0
A, _ = make_blobs(n_samples=N, n_features=D, centers=2, cluster_std=2.0, random_state=5)
A = A.astype(np.float32)
k = min(N - 1, int(3.0 * perp + 1))
knn = NearestNeighbors(n_neighbors=k, metric="euclidean").fit(A)
dist = knn.kneighbors_graph(mode="distance")
dist.data **= 2
P = _joint_probabilities_nn(dist, perp, 0).tocoo()
with open(f"{OUT}/affinities.txt", "w") as f:
    f.write(f"{N} {D} {perp:g} {k}\n")
    for i in range(N):
        f.write(" ".join(f9(v) for v in A[i]) + "\n")
    f.write(f"{P.nnz}\n")
    order = np.lexsort((P.col, P.row))
    for m in order:
        f.write("%d %d %.17g\n" % (P.row[m], P.col[m], P.data[m]))
print("wrote", OUT)
