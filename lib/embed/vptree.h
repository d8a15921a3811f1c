/* Vantage-point tree for exact k-nearest-neighbour search under the Euclidean metric
 * (Yianilos 1993; the structure bhtsne uses).  Points are the rows of a caller-owned
 * float matrix X (N, D) that must outlive the tree.  Queries are read-only, so any
 * number of threads may search one tree at once. */
#ifndef EMO_VPTREE_H
#define EMO_VPTREE_H

#include <stddef.h>
#include <stdint.h>

typedef struct vptree vptree;

/* Builds the tree; vantage points are drawn with a generator seeded by seed. */
vptree *vptree_build(const float *X /* (N, D) */, size_t N, size_t D, uint64_t seed);
void vptree_free(vptree *t);
/* The row stored at node n (nodes are in depth-first order, n < N): querying rows in this
 * order makes consecutive searches visit the same nodes (cache reuse). */
size_t vptree_point(const vptree *t, size_t n);

/* The k nearest rows to q, excluding row `exclude` (pass SIZE_MAX to exclude none),
 * in increasing distance (ties: lower index first).  idx (k), dist (k) Euclidean.
 * Returns how many were found (min(k, N - excluded)). */
size_t vptree_knn(const vptree *t, const float *q /* (D) */, size_t exclude, size_t k,
                  uint32_t *idx, float *dist);

/* Euclidean distance between two D-vectors, accumulated in a fixed order (32 lanes),
 * so the value is the same wherever it is computed. */
float vp_distance(const float *a, const float *b, size_t D);

#endif
