/* Barnes-Hut and exact t-SNE; see tsne.h for the algorithm and its sklearn parity. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "embed/sptree.h"
#include "embed/tsne.h"
#include "embed/vptree.h"
#include "util/par.h"
#include "util/rng.h"
#include "util/util.h"

#define PERPLEXITY_TOL 1e-5
#define PERPLEXITY_STEPS 100
#define MIN_GAIN 0.01
#define FLOAT32_TINY 1.1754943508222875e-38   /* sklearn's clamp in its KL estimate */

void tsne_opts_default(tsne_opts *o)
{
    *o = (tsne_opts){ .perplexity = 30, .theta = 0.5, .iters = 1000, .exag_iters = 250,
                      .exaggeration = 12, .learning_rate = 0, .seed = 0, .threads = 1 };
}

size_t tsne_neighbours(size_t N, double perplexity, int exact)
{
    if (N < 2)
        return 0;
    size_t k = exact ? N - 1 : (size_t)floor(3 * perplexity + 1);
    return k > N - 1 ? N - 1 : k;
}

const char *tsne_check(size_t N, double perplexity, int exact, char *buf, size_t bufsize)
{
    if (N < 5) {
        snprintf(buf, bufsize, "t-SNE needs at least 5 points, got %zu", N);
        return buf;
    }
    if (!(3 * perplexity < (double)(N - 1))) {
        snprintf(buf, bufsize, "perplexity %g is too large for %zu points: it must be below (N-1)/3 = %g",
                 perplexity, N, (double)(N - 1) / 3);
        return buf;
    }
    if (exact && N > TSNE_MAX_EXACT) {
        snprintf(buf, bufsize, "--exact keeps all N^2 affinities: at most %d points, got %zu",
                 TSNE_MAX_EXACT, N);
        return buf;
    }
    return NULL;
}

/* ---- nearest neighbours ------------------------------------------------ */

typedef struct knn_ctx {
    const vptree *tree;
    const float *X;
    size_t D, k;
    uint32_t *idx;
    float *dist;
    _Atomic int incomplete;     /* a row got fewer than k neighbours or a non-finite distance */
} knn_ctx;

static void knn_rows(void *arg, size_t lo, size_t hi)
{
    knn_ctx *c = arg;
    for (size_t n = lo; n < hi; n++) {
        size_t i = vptree_point(c->tree, n);
        float *d = c->dist + i * c->k;
        size_t got = vptree_knn(c->tree, c->X + i * c->D, i, c->k, c->idx + i * c->k, d);
        int bad = got < c->k;
        for (size_t m = 0; m < got && !bad; m++)
            bad = !isfinite(d[m]);
        if (bad) {
            for (size_t m = got; m < c->k; m++) {       /* never leave a slot unset */
                c->idx[i * c->k + m] = (uint32_t)i;
                d[m] = INFINITY;
            }
            c->incomplete = 1;
        }
    }
}

int tsne_knn(const float *X, size_t N, size_t D, size_t k, uint64_t seed, int threads, uint32_t *idx, float *dist)
{
    vptree *t = vptree_build(X, N, D, seed);
    knn_ctx c = { t, X, D, k, idx, dist, 0 };
    parfor(N, 16, threads, knn_rows, &c);
    vptree_free(t);
    return c.incomplete ? -1 : 0;
}

double tsne_norm(const float *x, size_t D)
{
    double s = 0;
    for (size_t j = 0; j < D; j++)
        s += (double)x[j] * x[j];
    return sqrt(s);
}

/* ---- affinities ---------------------------------------------------------- */

double tsne_calibrate(const float *dist, size_t k, double perplexity, double *p)
{
    /* Squared distances shifted by the smallest: p is unchanged (the shift cancels in the
     * normalisation) but exp() cannot underflow to all zeros at large distances.  With
     * s_j = d_j^2 - d_0^2, entropy H = log(sum_j e^{-beta s_j}) + beta sum_j s_j p_j. */
    double d0 = (double)dist[0] * dist[0];
    double target = log(perplexity), beta = 1, lo = -INFINITY, hi = INFINITY;
    for (int step = 0; step < PERPLEXITY_STEPS; step++) {
        double sum = 0;
        for (size_t j = 0; j < k; j++) {
            p[j] = exp(-beta * ((double)dist[j] * dist[j] - d0));
            sum += p[j];
        }
        double sdp = 0;
        for (size_t j = 0; j < k; j++) {
            p[j] /= sum;
            sdp += ((double)dist[j] * dist[j] - d0) * p[j];
        }
        double diff = log(sum) + beta * sdp - target;
        if (fabs(diff) <= PERPLEXITY_TOL)
            break;
        if (diff > 0) {           /* too flat: sharpen */
            lo = beta;
            beta = hi == INFINITY ? beta * 2 : (beta + hi) / 2;
        } else {
            hi = beta;
            beta = lo == -INFINITY ? beta / 2 : (beta + lo) / 2;
        }
    }
    return beta;
}

typedef struct cal_ctx {
    const float *dist;
    size_t k;
    double perplexity;
    double *cond;
} cal_ctx;

static void calibrate_rows(void *arg, size_t lo, size_t hi)
{
    cal_ctx *c = arg;
    for (size_t i = lo; i < hi; i++)
        tsne_calibrate(c->dist + i * c->k, c->k, c->perplexity, c->cond + i * c->k);
}

typedef struct entry { uint32_t col; double val; } entry;

static int entry_cmp(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return (x->col > y->col) - (x->col < y->col);
}

void tsne_affinities(const uint32_t *idx, const float *dist, size_t N, size_t k, double perplexity, int threads,
                     tsne_P *P)
{
    double *cond = xmalloc(N * k * sizeof *cond);       /* (N, k) p_{j|i} */
    cal_ctx c = { dist, k, perplexity, cond };
    parfor(N, 64, threads, calibrate_rows, &c);

    /* C + C^T: row i gets (j, p_{j|i}) for its neighbours and (j, p_{i|j}) for every j
     * that has i as a neighbour; duplicates (mutual neighbours) are summed. */
    size_t *rowptr = xcalloc(N + 1, sizeof *rowptr);
    for (size_t i = 0; i < N; i++) {
        rowptr[i + 1] += k;
        for (size_t m = 0; m < k; m++)
            rowptr[idx[i * k + m] + 1]++;
    }
    for (size_t i = 0; i < N; i++)
        rowptr[i + 1] += rowptr[i];
    entry *e = xmalloc(rowptr[N] * sizeof *e);
    size_t *fill = xmalloc(N * sizeof *fill);
    memcpy(fill, rowptr, N * sizeof *fill);
    for (size_t i = 0; i < N; i++)
        for (size_t m = 0; m < k; m++) {
            uint32_t j = idx[i * k + m];
            double v = cond[i * k + m];
            e[fill[i]++] = (entry){ j, v };
            e[fill[j]++] = (entry){ (uint32_t)i, v };
        }
    free(cond);
    free(fill);

    P->N = N;
    P->rowptr = xmalloc((N + 1) * sizeof *P->rowptr);
    P->col = xmalloc(rowptr[N] * sizeof *P->col);
    P->val = xmalloc(rowptr[N] * sizeof *P->val);
    size_t nnz = 0;
    double total = 0;
    for (size_t i = 0; i < N; i++) {
        P->rowptr[i] = nnz;
        entry *r = e + rowptr[i];
        size_t n = rowptr[i + 1] - rowptr[i];
        qsort(r, n, sizeof *r, entry_cmp);
        for (size_t a = 0; a < n;) {
            double v = r[a].val;
            size_t b = a + 1;
            for (; b < n && r[b].col == r[a].col; b++)
                v += r[b].val;      /* at most two terms: the sum is order-independent */
            P->col[nnz] = r[a].col;
            P->val[nnz] = v;
            total += v;
            nnz++;
            a = b;
        }
    }
    P->rowptr[N] = nnz;
    if (total < DBL_MIN)
        total = DBL_MIN;
    for (size_t m = 0; m < nnz; m++)
        P->val[m] /= total;
    free(e);
    free(rowptr);
}

void tsne_P_free(tsne_P *P)
{
    free(P->rowptr);
    free(P->col);
    free(P->val);
    memset(P, 0, sizeof *P);
}

/* ---- PCA initialisation -------------------------------------------------- */

/* Eigen-decomposition of a small symmetric matrix A (n, n) by cyclic Jacobi rotations:
 * A is destroyed (its diagonal ends up the eigenvalues), V (n, n) gets eigenvectors as
 * columns. */
static void jacobi_eigen(double *A, double *V, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            V[i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                off += A[i * n + j] * A[i * n + j];
        if (off < 1e-30)
            break;
        for (size_t p = 0; p < n; p++)
            for (size_t q = p + 1; q < n; q++) {
                double apq = A[p * n + q];
                if (fabs(apq) < 1e-300)
                    continue;
                double tau = (A[q * n + q] - A[p * n + p]) / (2 * apq);
                double t = (tau >= 0 ? 1 : -1) / (fabs(tau) + sqrt(1 + tau * tau));
                double cs = 1 / sqrt(1 + t * t), sn = t * cs;
                for (size_t r = 0; r < n; r++) {       /* A <- A J (columns p, q) */
                    double arp = A[r * n + p], arq = A[r * n + q];
                    A[r * n + p] = cs * arp - sn * arq;
                    A[r * n + q] = sn * arp + cs * arq;
                }
                for (size_t r = 0; r < n; r++) {       /* A <- J^T A (rows p, q) */
                    double apr = A[p * n + r], aqr = A[q * n + r];
                    A[p * n + r] = cs * apr - sn * aqr;
                    A[q * n + r] = sn * apr + cs * aqr;
                }
                for (size_t r = 0; r < n; r++) {
                    double vrp = V[r * n + p], vrq = V[r * n + q];
                    V[r * n + p] = cs * vrp - sn * vrq;
                    V[r * n + q] = sn * vrp + cs * vrq;
                }
            }
    }
}

/* Orthonormalises the b columns of V (D, b) in place (modified Gram-Schmidt). */
static void orthonormalise(double *V, size_t D, size_t b)
{
    for (size_t c = 0; c < b; c++) {
        for (size_t p = 0; p < c; p++) {
            double dot = 0;
            for (size_t r = 0; r < D; r++)
                dot += V[r * b + c] * V[r * b + p];
            for (size_t r = 0; r < D; r++)
                V[r * b + c] -= dot * V[r * b + p];
        }
        double nrm = 0;
        for (size_t r = 0; r < D; r++)
            nrm += V[r * b + c] * V[r * b + c];
        nrm = sqrt(nrm);
        for (size_t r = 0; r < D; r++)
            V[r * b + c] = nrm > 0 ? V[r * b + c] / nrm : 0;
    }
}

void tsne_pca_init(const float *X, size_t N, size_t D, uint64_t seed, int threads, double *Y)
{
    (void)threads;
    rng_t rng;
    rng_seed(&rng, seed ^ 0x706361696e697400ULL);
    double *mean = xcalloc(D, sizeof *mean);
    for (size_t i = 0; i < N; i++)
        for (size_t d = 0; d < D; d++)
            mean[d] += X[i * D + d];
    for (size_t d = 0; d < D; d++)
        mean[d] /= (double)N;
    /* covariance C (D, D) = sum_i (x_i - mean)(x_i - mean)^T, in blocks of rows */
    double *C = xcalloc(D * D, sizeof *C);
    size_t B = 512;
    double *blk = xmalloc(B * D * sizeof *blk);
    for (size_t i0 = 0; i0 < N; i0 += B) {
        size_t n = N - i0 < B ? N - i0 : B;
        for (size_t i = 0; i < n; i++)
            for (size_t d = 0; d < D; d++)
                blk[i * D + d] = (double)X[(i0 + i) * D + d] - mean[d];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)D, (int)n, 1.0, blk, (int)D, 1.0, C, (int)D);
    }
    free(blk);
    for (size_t a = 0; a < D; a++)
        for (size_t b = 0; b < a; b++)
            C[a * D + b] = C[b * D + a];

    /* Subspace iteration with a block of up to 8 vectors, then Rayleigh-Ritz: the top two
     * converge like (lambda_9 / lambda_2)^iterations even when lambda_2 ~ lambda_3. */
    size_t b = D < 8 ? D : 8;
    double *V = xmalloc(D * b * sizeof *V), *W = xmalloc(D * b * sizeof *W);
    for (size_t m = 0; m < D * b; m++)
        V[m] = rng_normal(&rng);
    orthonormalise(V, D, b);
    for (int it = 0; it < 200; it++) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)D, (int)b, (int)D, 1.0, C, (int)D, V, (int)b,
                    0.0, W, (int)b);
        orthonormalise(W, D, b);
        double change = 0;
        for (size_t m = 0; m < D * b; m++)
            change = fmax(change, fabs(W[m] - V[m]));
        double *t = V; V = W; W = t;
        if (change < 1e-12)
            break;
    }
    /* Rayleigh-Ritz: H (b, b) = V^T C V, eigenvectors S; components = V S, largest first */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)D, (int)b, (int)D, 1.0, C, (int)D, V, (int)b,
                0.0, W, (int)b);
    double H[64], S[64];
    for (size_t p = 0; p < b; p++)
        for (size_t q = 0; q < b; q++) {
            double s = 0;
            for (size_t r = 0; r < D; r++)
                s += V[r * b + p] * W[r * b + q];
            H[p * b + q] = s;
        }
    for (size_t p = 0; p < b; p++)              /* symmetrise rounding */
        for (size_t q = 0; q < p; q++)
            H[p * b + q] = H[q * b + p] = 0.5 * (H[p * b + q] + H[q * b + p]);
    jacobi_eigen(H, S, b);
    size_t top[2] = { 0, b > 1 ? 1 : 0 };
    for (size_t p = 0; p < b; p++)
        if (H[p * b + p] > H[top[0] * b + top[0]])
            top[0] = p;
    top[1] = top[0] == 0 && b > 1 ? 1 : 0;
    for (size_t p = 0; p < b; p++)
        if (p != top[0] && H[p * b + p] > H[top[1] * b + top[1]])
            top[1] = p;
    double comp[2][1024], *cv[2];
    double *big = D > 1024 ? xmalloc(2 * D * sizeof *big) : NULL;
    cv[0] = big ? big : comp[0];
    cv[1] = big ? big + D : comp[1];
    for (int c = 0; c < 2; c++)
        for (size_t r = 0; r < D; r++) {
            double s = 0;
            for (size_t p = 0; p < b; p++)
                s += V[r * b + p] * S[p * b + top[c]];
            cv[c][r] = b > 1 || c == 0 ? s : 0;
        }
    /* project; sign as sklearn's svd_flip: the largest |score| of a component is positive */
    for (int c = 0; c < 2; c++) {
        double best = 0;
        for (size_t i = 0; i < N; i++) {
            double s = 0;
            for (size_t d = 0; d < D; d++)
                s += ((double)X[i * D + d] - mean[d]) * cv[c][d];
            Y[2 * i + c] = s;
            if (fabs(s) > fabs(best))
                best = s;
        }
        if (best < 0)
            for (size_t i = 0; i < N; i++)
                Y[2 * i + c] = -Y[2 * i + c];
    }
    double m0 = 0, v0 = 0;
    for (size_t i = 0; i < N; i++)
        m0 += Y[2 * i];
    m0 /= (double)N;
    for (size_t i = 0; i < N; i++)
        v0 += (Y[2 * i] - m0) * (Y[2 * i] - m0);
    double sd = sqrt(v0 / (double)N);
    if (!(sd > 1e-300)) {         /* all points equal: fall back to a seeded random init */
        for (size_t m = 0; m < 2 * N; m++)
            Y[m] = 1e-4 * rng_normal(&rng);
    } else {
        for (size_t m = 0; m < 2 * N; m++)
            Y[m] = Y[m] / sd * 1e-4;
    }
    free(big);
    free(V);
    free(W);
    free(C);
    free(mean);
}

/* ---- gradient ------------------------------------------------------------ */

typedef struct grad_ctx {
    const tsne_P *P;
    const double *Y;
    size_t N;
    double exag, theta;
    const sptree *tree;
    const uint32_t *order;  /* (N) visiting order (tree order), or NULL */
    double *attr, *rep;     /* (N, 2) */
    double *sumq;           /* (N) */
} grad_ctx;

/* Attraction over the sparse P, rows in index order so P streams from memory. */
static void attr_rows(void *arg, size_t lo, size_t hi)
{
    grad_ctx *c = arg;
    const tsne_P *P = c->P;
    const double *Y = c->Y;
    for (size_t i = lo; i < hi; i++) {
        double yi0 = Y[2 * i], yi1 = Y[2 * i + 1], ax = 0, ay = 0;
        for (size_t m = P->rowptr[i]; m < P->rowptr[i + 1]; m++) {
            size_t j = P->col[m];
            double dx = yi0 - Y[2 * j], dy = yi1 - Y[2 * j + 1];
            double pq = P->val[m] / (1 + dx * dx + dy * dy);
            ax += pq * dx;
            ay += pq * dy;
        }
        c->attr[2 * i] = c->exag * ax;
        c->attr[2 * i + 1] = c->exag * ay;
    }
}

/* Repulsion, points in tree order (neighbouring traversals alike) or exact. */
static void rep_rows(void *arg, size_t lo, size_t hi)
{
    grad_ctx *c = arg;
    const double *Y = c->Y;
    for (size_t s = lo; s < hi; s++) {
        size_t i = c->order ? c->order[s] : s;
        double yi[2] = { Y[2 * i], Y[2 * i + 1] };
        double neg[2] = { 0, 0 }, sq = 0;
        if (c->tree) {
            sq = sptree_repulsion(c->tree, i, yi, c->theta, neg);
        } else {
            for (size_t j = 0; j < c->N; j++) {
                if (j == i)
                    continue;
                double dx = yi[0] - Y[2 * j], dy = yi[1] - Y[2 * j + 1];
                double q = 1 / (1 + dx * dx + dy * dy);
                sq += q;
                neg[0] += q * q * dx;
                neg[1] += q * q * dy;
            }
        }
        c->rep[2 * i] = neg[0];
        c->rep[2 * i + 1] = neg[1];
        c->sumq[i] = sq;
    }
}

/* sum_ij p_ij log(p_ij / (q_ij / Z)) over the stored entries; clamp as sklearn when asked */
static double kl_sparse(const tsne_P *P, const double *Y, double Z, int sklearn_clamp)
{
    double kl = 0;
    for (size_t i = 0; i < P->N; i++)
        for (size_t m = P->rowptr[i]; m < P->rowptr[i + 1]; m++) {
            size_t j = P->col[m];
            double p = P->val[m];
            double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
            double q = 1 / (1 + dx * dx + dy * dy) / Z;
            if (sklearn_clamp)
                kl += p * log(fmax(p, FLOAT32_TINY) / fmax(q, FLOAT32_TINY));
            else if (p > 0)
                kl += p * log(p / q);
        }
    return kl;
}

typedef struct work {
    double *attr, *rep, *sumq;
    sptree *tree;
} work;

static void gradient_with(work *w, const tsne_P *P, const double *Y, double exag, double theta, int threads,
                          double *grad, double *kl)
{
    size_t N = P->N;
    if (theta > 0)
        sptree_build(w->tree, Y, N);
    grad_ctx c = { P, Y, N, exag, theta, theta > 0 ? w->tree : NULL, theta > 0 ? sptree_order(w->tree) : NULL,
                   w->attr, w->rep, w->sumq };
    parfor(N, 256, threads, attr_rows, &c);
    parfor(N, 64, threads, rep_rows, &c);
    double Z = 0;
    for (size_t i = 0; i < N; i++)      /* fixed order: thread-count independent */
        Z += w->sumq[i];
    if (Z < DBL_MIN)
        Z = DBL_MIN;
    for (size_t m = 0; m < 2 * N; m++)
        grad[m] = 4 * (w->attr[m] - w->rep[m] / Z);
    if (kl)
        *kl = kl_sparse(P, Y, Z, 1);
}

static void work_init(work *w, size_t N)
{
    w->attr = xmalloc(2 * N * sizeof *w->attr);
    w->rep = xmalloc(2 * N * sizeof *w->rep);
    w->sumq = xmalloc(N * sizeof *w->sumq);
    w->tree = sptree_new();
}

static void work_free(work *w)
{
    free(w->attr);
    free(w->rep);
    free(w->sumq);
    sptree_free(w->tree);
}

void tsne_gradient(const tsne_P *P, const double *Y, double exag, double theta, int threads, double *grad,
                   double *kl)
{
    work w;
    work_init(&w, P->N);
    gradient_with(&w, P, Y, exag, theta, threads, grad, kl);
    work_free(&w);
}

typedef struct z_ctx { const double *Y; size_t N; double *rowsum; } z_ctx;

static void z_rows(void *arg, size_t lo, size_t hi)
{
    z_ctx *c = arg;
    for (size_t i = lo; i < hi; i++) {
        double s = 0, xi = c->Y[2 * i], yi = c->Y[2 * i + 1];
        for (size_t j = 0; j < c->N; j++) {
            double dx = xi - c->Y[2 * j], dy = yi - c->Y[2 * j + 1];
            s += j == i ? 0 : 1 / (1 + dx * dx + dy * dy);
        }
        c->rowsum[i] = s;
    }
}

double tsne_kl_exact(const tsne_P *P, const double *Y, int threads)
{
    size_t N = P->N;
    double *rowsum = xmalloc(N * sizeof *rowsum);
    z_ctx c = { Y, N, rowsum };
    parfor(N, 32, threads, z_rows, &c);
    double Z = 0;
    for (size_t i = 0; i < N; i++)
        Z += rowsum[i];
    free(rowsum);
    return kl_sparse(P, Y, Z, 0);
}

/* ---- driver -------------------------------------------------------------- */

int tsne_run(const float *X, size_t N, size_t D, const tsne_opts *o, double *Y, tsne_result *res, char *err,
             size_t errsize)
{
    memset(res, 0, sizeof *res);
    if (tsne_check(N, o->perplexity, o->exact, err, errsize))
        return -1;
    for (size_t i = 0; i < N; i++) {
        double norm = tsne_norm(X + i * D, D);
        if (!(norm <= TSNE_MAX_NORM))
            return errbuf_fail(err, errsize, "point %zu: norm %g is too large (squared distances overflow "
                               "float32; at most %g)", i + 1, norm, TSNE_MAX_NORM);
    }
    double t0 = now_seconds();
    size_t k = tsne_neighbours(N, o->perplexity, o->exact);
    uint32_t *idx = xmalloc(N * k * sizeof *idx);
    float *dist = xmalloc(N * k * sizeof *dist);
    if (tsne_knn(X, N, D, k, o->seed, o->threads, idx, dist) != 0) {
        free(idx);
        free(dist);
        return errbuf_fail(err, errsize, "the neighbour search found distances that are not finite");
    }
    tsne_P P;
    tsne_affinities(idx, dist, N, k, o->perplexity, o->threads, &P);
    free(idx);
    free(dist);
    tsne_pca_init(X, N, D, o->seed, o->threads, Y);
    double t1 = now_seconds();
    res->seconds_affinity = t1 - t0;
    if (o->verbose)
        fprintf(stderr, "t-SNE: %zu points, %zu neighbours, affinities and init in %.2f s\n", N, k, t1 - t0);

    double theta = o->exact ? 0 : o->theta;
    double lr = o->learning_rate > 0 ? o->learning_rate : fmax((double)N / o->exaggeration / 4, 50);
    double *grad = xmalloc(2 * N * sizeof *grad), *update = xmalloc(2 * N * sizeof *update);
    double *gains = xmalloc(2 * N * sizeof *gains);
    if (o->trace_every > 0)
        res->trace = xmalloc(((size_t)o->iters / (size_t)o->trace_every + 1) * sizeof *res->trace);
    work w;
    work_init(&w, N);
    for (int it = 0; it < o->iters; it++) {
        if (it == 0 || it == o->exag_iters) {       /* sklearn restarts its optimiser here */
            for (size_t m = 0; m < 2 * N; m++) {
                update[m] = 0;
                gains[m] = 1;
            }
        }
        int early = it < o->exag_iters;
        double momentum = early ? 0.5 : 0.8, kl = 0;
        int traced = o->trace_every > 0 && (it + 1) % o->trace_every == 0;
        int last = it == o->iters - 1;
        gradient_with(&w, &P, Y, early ? o->exaggeration : 1, theta, o->threads, grad,
                      traced || last ? &kl : NULL);
        if (traced) {
            res->trace[res->ntrace++] = kl;
            if (o->verbose) {
                double gn = 0;
                for (size_t m = 0; m < 2 * N; m++)
                    gn += grad[m] * grad[m];
                fprintf(stderr, "t-SNE: iteration %d: KL %.6f (estimate), gradient norm %.3g, %.2f s\n", it + 1, kl,
                        sqrt(gn), now_seconds() - t1);
            }
        }
        if (last)
            res->kl_bh = kl;
        for (size_t m = 0; m < 2 * N; m++) {
            double g = grad[m];
            gains[m] = update[m] * g < 0 ? gains[m] + 0.2 : gains[m] * 0.8;
            if (gains[m] < MIN_GAIN)
                gains[m] = MIN_GAIN;
            update[m] = momentum * update[m] - lr * gains[m] * g;
            Y[m] += update[m];
        }
    }
    work_free(&w);
    res->iters = o->iters;
    res->seconds_optimize = now_seconds() - t1;
    res->kl_exact = tsne_kl_exact(&P, Y, o->threads);
    free(grad);
    free(update);
    free(gains);
    tsne_P_free(&P);
    return 0;
}
