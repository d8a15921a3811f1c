/* Space-partitioning tree over 2-D points (a quadtree) for the Barnes-Hut approximation
 * of t-SNE's repulsive forces (van der Maaten 2014).  Cells are summarised by their
 * point count and centre of mass; a cell is used as a whole when
 *     max_side(cell)^2 < theta^2 * |y_i - centre|^2
 * (the criterion of scikit-learn's _quad_tree, full cell width).  The nodes are stored
 * in depth-first order with a "skip" link to the next sibling subtree, so a traversal is
 * one forward loop.  Build once per iteration; queries are read-only (thread-safe).
 * Leaves hold one point or several coincident ones, except below depth 48 (points
 * closer than 2^-48 of the root box), where a leaf is summarised by its mean. */
#ifndef EMO_SPTREE_H
#define EMO_SPTREE_H

#include <stddef.h>
#include <stdint.h>

typedef struct sptree sptree;

sptree *sptree_new(void);
void sptree_free(sptree *t);
/* (Re)builds the tree over Y (N, 2); Y must stay unchanged while the tree is queried. */
void sptree_build(sptree *t, const double *Y /* (N, 2) */, size_t N);

/* Approximate repulsion on point i at y = Y[i]:
 *     neg += sum_{j != i} q_ij^2 (y_i - y_j),   returns sum_{j != i} q_ij,
 * with the unnormalised Student-t kernel q_ij = 1 / (1 + |y_i - y_j|^2).  theta = 0
 * gives the exact sums (every cell opened down to its leaves). */
double sptree_repulsion(const sptree *t, size_t i, const double y[2], double theta, double neg[2]);

/* The points in tree (depth-first, spatially coherent) order, (N): visiting points in
 * this order makes consecutive traversals alike (caches, branch prediction). */
const uint32_t *sptree_order(const sptree *t);

/* Number of nodes of the last build (for tests and diagnostics). */
size_t sptree_nodes(const sptree *t);

#endif
