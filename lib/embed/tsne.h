/* t-SNE (van der Maaten & Hinton 2008) with the Barnes-Hut approximation (van der Maaten
 * 2014), following scikit-learn 1.2's TSNE(method="barnes_hut") step for step so the two
 * can be compared:
 *   - exact kNN in input space (vantage-point tree), k = floor(3 * perplexity + 1);
 *   - per point, a binary search for the Gaussian precision beta_i whose conditional
 *     distribution p_{j|i} ~ exp(-beta_i d_ij^2) over the k neighbours has entropy
 *     log(perplexity) (tolerance 1e-5, at most 100 steps);
 *   - P = (C + C^T) / sum, sparse (CSR, symmetric);
 *   - 2-D output, Student-t kernel q_ij ~ 1 / (1 + |y_i - y_j|^2), repulsion by a quadtree
 *     with theta = 0.5 (or exact O(N^2) sums);
 *   - PCA initialisation scaled so column 0 has standard deviation 1e-4;
 *   - gradient descent with momentum 0.5 then 0.8, gains (+0.2 / *0.8, floor 0.01), early
 *     exaggeration 12 for 250 iterations, learning rate max(N / exaggeration / 4, 50);
 *     momentum and gains restart when the exaggeration ends (sklearn's two calls).
 * Everything is seeded and reduced in a fixed order: the same seed and input give the same
 * bits for any thread count. */
#ifndef EMO_TSNE_H
#define EMO_TSNE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tsne_opts {
    double perplexity;      /* 30 */
    double theta;           /* Barnes-Hut angle, 0.5 */
    int exact;              /* 1: all N-1 neighbours in P and exact O(N^2) repulsion */
    int iters;              /* total iterations, 1000 */
    int exag_iters;         /* iterations with early exaggeration, 250 */
    double exaggeration;    /* 12 */
    double learning_rate;   /* <= 0: max(N / exaggeration / 4, 50) */
    uint64_t seed;
    int threads;
    int trace_every;        /* > 0: record the BH KL estimate every that many iterations */
    int verbose;            /* progress lines on stderr at each trace point */
} tsne_opts;

typedef struct tsne_result {
    double kl_bh;           /* KL as sklearn's kl_divergence_: sparse P, BH-estimated Z,
                               at the last iteration's gradient (before its update) */
    double kl_exact;        /* KL(P || Q) of the final embedding with the exact Z */
    int iters;
    double seconds_affinity, seconds_optimize;
    double *trace;          /* (ntrace) KL estimates at trace points; free() it */
    size_t ntrace;
} tsne_result;

/* Sparse symmetric joint probabilities, CSR: row i has entries rowptr[i]..rowptr[i+1]. */
typedef struct tsne_P {
    size_t N;
    size_t *rowptr;         /* (N + 1) */
    uint32_t *col;          /* (nnz) */
    double *val;            /* (nnz), sums to 1 */
} tsne_P;

#define TSNE_MAX_EXACT 5000  /* --exact keeps a dense P: N^2 entries */

void tsne_opts_default(tsne_opts *o);

/* NULL if N points suit the perplexity (perplexity < (N - 1) / 3), else a message in buf. */
const char *tsne_check(size_t N, double perplexity, int exact, char *buf, size_t bufsize);

/* Largest Euclidean norm of an input point: (2 * TSNE_MAX_NORM)^2, the largest squared
 * distance two such points can have, stays a quarter of FLT_MAX, so the float32 distances
 * of the neighbour search cannot overflow to inf (which would leave neighbour slots unset). */
#define TSNE_MAX_NORM 4.6e18

/* Euclidean norm of x (D), in double. */
double tsne_norm(const float *x, size_t D);

/* Neighbours for the affinities: k = floor(3 * perplexity + 1) (N - 1 for exact). */
size_t tsne_neighbours(size_t N, double perplexity, int exact);

/* Exact k nearest neighbours of every row (self excluded) via a vantage-point tree.
 * idx (N, k), dist (N, k) Euclidean, ascending.  Returns 0, or -1 if some row got fewer
 * than k neighbours or a distance that is not finite (points beyond TSNE_MAX_NORM). */
int tsne_knn(const float *X /* (N, D) */, size_t N, size_t D, size_t k, uint64_t seed, int threads,
              uint32_t *idx, float *dist);

/* Binary search for one point: p (k) = p_{j|i} over its neighbours at distances dist (k),
 * with entropy log(perplexity).  Returns beta (precision on squared distances). */
double tsne_calibrate(const float *dist /* (k) */, size_t k, double perplexity, double *p /* (k) */);

/* Affinities from the kNN graph: calibrate every row, symmetrise, normalise. */
void tsne_affinities(const uint32_t *idx /* (N, k) */, const float *dist /* (N, k) */, size_t N, size_t k,
                     double perplexity, int threads, tsne_P *P);
void tsne_P_free(tsne_P *P);

/* Top-2 principal components of X scaled so column 0 has std 1e-4 (sklearn's init). */
void tsne_pca_init(const float *X /* (N, D) */, size_t N, size_t D, uint64_t seed, int threads,
                   double *Y /* (N, 2) */);

/* Gradient of KL(exag * P || Q) at Y:
 *     grad_i = 4 (sum_j exag p_ij q_ij (y_i - y_j) - sum_j q_ij^2 (y_i - y_j) / Z),
 * with q_ij unnormalised; theta > 0: Barnes-Hut repulsion, theta == 0: exact O(N^2).
 * If kl is not NULL it receives sklearn's KL estimate (plain P, this Z). */
void tsne_gradient(const tsne_P *P, const double *Y /* (N, 2) */, double exag, double theta, int threads,
                   double *grad /* (N, 2) */, double *kl);

/* Exact KL(P || Q) of Y, O(N^2) time, O(N) memory. */
double tsne_kl_exact(const tsne_P *P, const double *Y /* (N, 2) */, int threads);

/* The whole run: Y (N, 2) output.  Returns 0, or -1 with a message in err (bad N, or a
 * point whose norm exceeds TSNE_MAX_NORM). */
int tsne_run(const float *X /* (N, D) */, size_t N, size_t D, const tsne_opts *o, double *Y /* (N, 2) */,
             tsne_result *res, char *err, size_t errsize);

#endif
