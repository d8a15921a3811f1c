/* t-SNE: vantage-point kNN against brute force, perplexity calibration, affinities and
 * silhouette against scikit-learn goldens (tests/gen/gen_tsne.py), the exact gradient
 * against central finite differences of the exact KL, Barnes-Hut against exact, PCA
 * init, and whole runs on a 3-cluster toy set (KL falls, clusters separate, bit-identical
 * for any thread count). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "embed/clusters.h"
#include "embed/sptree.h"
#include "embed/tsne.h"
#include "embed/vptree.h"
#include "util/rng.h"
#include "util/util.h"

#define FIX "tests/fixtures/tsne/"

/* 3 Gaussian clusters in D dims, centres 8 apart on different axes; cls (N) */
static float *toy(size_t N, size_t D, uint64_t seed, uint32_t *cls)
{
    rng_t r;
    rng_seed(&r, seed);
    float *X = xmalloc(N * D * sizeof *X);
    for (size_t i = 0; i < N; i++) {
        uint32_t c = (uint32_t)(i % 3);
        if (cls)
            cls[i] = c;
        for (size_t d = 0; d < D; d++)
            X[i * D + d] = (float)(rng_normal(&r) + (d == c ? 8.0 : 0.0));
    }
    return X;
}

static void test_vptree(void)
{
    size_t N = 600, D = 12, k = 20;
    float *X = toy(N, D, 1, NULL);
    /* a few exact duplicates: ties must resolve by index like the brute force */
    memcpy(X + 5 * D, X + 4 * D, D * sizeof *X);
    memcpy(X + 300 * D, X + 4 * D, D * sizeof *X);
    vptree *t = vptree_build(X, N, D, 42);
    uint32_t *idx = xmalloc(k * sizeof *idx), *bidx = xmalloc(k * sizeof *bidx);
    float *dist = xmalloc(k * sizeof *dist), *all = xmalloc(N * sizeof *all);
    int bad = 0;
    for (size_t i = 0; i < N; i++) {
        size_t got = vptree_knn(t, X + i * D, i, k, idx, dist);
        /* brute force: selection of the k smallest (distance, index) pairs */
        for (size_t j = 0; j < N; j++)
            all[j] = j == i ? INFINITY : vp_distance(X + i * D, X + j * D, D);
        for (size_t m = 0; m < k; m++) {
            size_t best = SIZE_MAX;
            for (size_t j = 0; j < N; j++)
                if (all[j] != INFINITY && (best == SIZE_MAX || all[j] < all[best]))
                    best = j;
            bidx[m] = (uint32_t)best;
            all[best] = INFINITY;
        }
        if (got != k || memcmp(idx, bidx, k * sizeof *idx) != 0)
            bad++;
        for (size_t m = 1; m < k; m++)
            if (dist[m] < dist[m - 1])
                bad++;
    }
    CHECK(bad == 0, "vptree kNN differs from brute force for %d queries", bad);
    /* a point's nearest neighbour is its duplicate at distance 0 */
    vptree_knn(t, X + 4 * D, 4, 2, idx, dist);
    CHECK(idx[0] == 5 && idx[1] == 300 && dist[0] == 0 && dist[1] == 0, "duplicates: %u %u", idx[0], idx[1]);
    vptree_free(t);
    /* k larger than the others: returns N - 1 */
    t = vptree_build(X, 10, D, 1);
    uint32_t i10[20];
    float d10[20];
    CHECK(vptree_knn(t, X, 0, 20, i10, d10) == 9, "k > N - 1");
    vptree_free(t);
    free(X); free(idx); free(bidx); free(dist); free(all);
}

static void test_calibrate(void)
{
    rng_t r;
    rng_seed(&r, 3);
    size_t k = 91;
    float dist[91];
    double p[91];
    double perps[] = { 5, 30, 60, 90 };
    double scales[] = { 1e-3, 1, 30, 1e3 };
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            for (size_t j = 0; j < k; j++)
                dist[j] = (float)(scales[b] * (1 + rng_double(&r)));
            /* ascending like kNN output */
            for (size_t x = 1; x < k; x++)
                for (size_t y = x; y > 0 && dist[y] < dist[y - 1]; y--) {
                    float t = dist[y]; dist[y] = dist[y - 1]; dist[y - 1] = t;
                }
            tsne_calibrate(dist, k, perps[a], p);
            double H = 0, sum = 0;
            for (size_t j = 0; j < k; j++) {
                sum += p[j];
                if (p[j] > 0)
                    H -= p[j] * log(p[j]);
            }
            CHECK(fabs(sum - 1) < 1e-12, "perplexity %g scale %g: sum %.17g", perps[a], scales[b], sum);
            CHECK(fabs(H - log(perps[a])) < 1e-4, "perplexity %g scale %g: entropy %.8f want %.8f", perps[a],
                  scales[b], H, log(perps[a]));
        }
}

static void test_affinities_golden(void)
{
    FILE *f = fopen(FIX "affinities.txt", "r");
    CHECK(f != NULL, "open %s", FIX "affinities.txt");
    if (!f)
        return;
    size_t N, D, k, nnz;
    double perp;
    CHECK(fscanf(f, "%zu %zu %lf %zu", &N, &D, &perp, &k) == 4, "header");
    float *X = xmalloc(N * D * sizeof *X);
    for (size_t m = 0; m < N * D; m++)
        CHECK(fscanf(f, "%f", &X[m]) == 1, "coordinate %zu", m);
    CHECK(fscanf(f, "%zu", &nnz) == 1, "nnz");
    double *G = xcalloc(N * N, sizeof *G);
    for (size_t m = 0; m < nnz; m++) {
        size_t i, j;
        double v;
        CHECK(fscanf(f, "%zu %zu %lf", &i, &j, &v) == 3 && i < N && j < N, "entry %zu", m);
        G[i * N + j] = v;
    }
    fclose(f);
    CHECK(tsne_neighbours(N, perp, 0) == k, "k = %zu", tsne_neighbours(N, perp, 0));
    uint32_t *idx = xmalloc(N * k * sizeof *idx);
    float *dist = xmalloc(N * k * sizeof *dist);
    tsne_knn(X, N, D, k, 0, 2, idx, dist);
    tsne_P P;
    tsne_affinities(idx, dist, N, k, perp, 2, &P);
    double *M = xcalloc(N * N, sizeof *M), total = 0;
    for (size_t i = 0; i < N; i++)
        for (size_t m = P.rowptr[i]; m < P.rowptr[i + 1]; m++) {
            M[i * N + P.col[m]] = P.val[m];
            total += P.val[m];
        }
    CHECK(P.rowptr[N] == nnz, "nnz %zu, sklearn %zu", P.rowptr[N], nnz);
    CHECK(fabs(total - 1) < 1e-12, "P sums to %.17g", total);
    int asym = 0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++)
            asym += M[i * N + j] != M[j * N + i];
    CHECK(asym == 0, "P not symmetric in %d places", asym);
    /* both stop the binary search within 1e-5 of the target entropy, from different
     * (shifted vs raw) distances: agreement to ~1e-4 relative */
    double worst = 0;
    for (size_t m = 0; m < N * N; m++)
        worst = fmax(worst, fabs(M[m] - G[m]) / fmax(G[m], 1e-6));
    CHECK(worst < 2e-3, "P vs sklearn: max relative difference %.3g", worst);
    tsne_P_free(&P);
    free(X); free(G); free(M); free(idx); free(dist);
}

static void test_silhouette_golden(void)
{
    FILE *f = fopen(FIX "silhouette.txt", "r");
    CHECK(f != NULL, "open %s", FIX "silhouette.txt");
    if (!f)
        return;
    size_t N, D, K;
    int sets = 0;
    while (fscanf(f, " set %zu %zu %zu", &N, &D, &K) == 3) {
        double *X = xmalloc(N * D * sizeof *X), *want = xmalloc(N * sizeof *want), *got = xmalloc(N * sizeof *got);
        uint32_t *cls = xmalloc(N * sizeof *cls);
        for (size_t i = 0; i < N; i++) {
            CHECK(fscanf(f, "%u", &cls[i]) == 1 && cls[i] < K, "class %zu", i);
            for (size_t d = 0; d < D; d++) {
                float v;
                CHECK(fscanf(f, "%f", &v) == 1, "coordinate");
                X[i * D + d] = v;
            }
        }
        for (size_t i = 0; i < N; i++)
            CHECK(fscanf(f, "%lf", &want[i]) == 1, "silhouette %zu", i);
        silhouette_samples(X, N, D, cls, K, 2, got);
        CHECK_CLOSE("silhouette_samples vs sklearn", got, want, N, 1e-9);
        /* the per-class means the tool reports */
        if (D == 2) {
            cluster_stats st;
            const char *names[8] = { "a", "b", "c", "d", "e", "f", "g", "h" };
            cluster_stats_compute(&st, X, NULL, 0, N, cls, K, names, 1);
            for (size_t c = 0; c < K; c++) {
                double s = 0;
                size_t n = 0;
                for (size_t i = 0; i < N; i++)
                    if (cls[i] == c) {
                        s += want[i];
                        n++;
                    }
                CHECK(fabs(st.sil[c] - s / (double)n) < 1e-9, "class %zu mean silhouette %.12g want %.12g", c,
                      st.sil[c], s / (double)n);
            }
            cluster_stats_free(&st);
        }
        free(X); free(want); free(got); free(cls);
        sets++;
    }
    fclose(f);
    CHECK(sets == 2, "read %d silhouette sets", sets);
}

/* exact gradient == central differences of the exact KL, in double */
static void test_gradient_fd(void)
{
    size_t N = 40, D = 6;
    float *X = toy(N, D, 5, NULL);
    size_t k = tsne_neighbours(N, 5, 0);
    uint32_t *idx = xmalloc(N * k * sizeof *idx);
    float *dist = xmalloc(N * k * sizeof *dist);
    tsne_knn(X, N, D, k, 0, 1, idx, dist);
    tsne_P P;
    tsne_affinities(idx, dist, N, k, 5, 1, &P);
    rng_t r;
    rng_seed(&r, 9);
    double *Y = xmalloc(2 * N * sizeof *Y), *g = xmalloc(2 * N * sizeof *g), *fd = xmalloc(2 * N * sizeof *fd);
    for (size_t m = 0; m < 2 * N; m++)
        Y[m] = 2 * rng_normal(&r);
    double kl;
    tsne_gradient(&P, Y, 1, 0, 1, g, &kl);
    CHECK(fabs(kl - tsne_kl_exact(&P, Y, 1)) < 1e-12, "exact-path KL estimate %.15g vs exact %.15g", kl,
          tsne_kl_exact(&P, Y, 1));
    double h = 1e-5;
    for (size_t m = 0; m < 2 * N; m++) {
        double y0 = Y[m];
        Y[m] = y0 + h;
        double up = tsne_kl_exact(&P, Y, 1);
        Y[m] = y0 - h;
        double dn = tsne_kl_exact(&P, Y, 1);
        Y[m] = y0;
        fd[m] = (up - dn) / (2 * h);
    }
    CHECK_CLOSE("exact gradient vs central differences", g, fd, 2 * N, 1e-7);
    tsne_P_free(&P);
    free(X); free(idx); free(dist); free(Y); free(g); free(fd);
}

/* Barnes-Hut gradient against the exact one: tiny theta -> equal to rounding, 0.5 -> close */
static void test_bh_vs_exact(void)
{
    size_t N = 500, D = 10;
    float *X = toy(N, D, 6, NULL);
    size_t k = tsne_neighbours(N, 30, 0);
    uint32_t *idx = xmalloc(N * k * sizeof *idx);
    float *dist = xmalloc(N * k * sizeof *dist);
    tsne_knn(X, N, D, k, 0, 2, idx, dist);
    tsne_P P;
    tsne_affinities(idx, dist, N, k, 30, 2, &P);
    rng_t r;
    rng_seed(&r, 10);
    double *Y = xmalloc(2 * N * sizeof *Y), *ge = xmalloc(2 * N * sizeof *ge), *gb = xmalloc(2 * N * sizeof *gb);
    for (size_t i = 0; i < N; i++) {        /* a spread-out, clustered layout */
        Y[2 * i] = 5 * rng_normal(&r) + 20.0 * (double)(i % 3);
        Y[2 * i + 1] = 5 * rng_normal(&r);
    }
    double kle, klb;
    tsne_gradient(&P, Y, 1, 0, 2, ge, &kle);
    double gmax = 0;
    for (size_t m = 0; m < 2 * N; m++)
        gmax = fmax(gmax, fabs(ge[m]));
    tsne_gradient(&P, Y, 1, 1e-6, 2, gb, &klb);
    CHECK_CLOSE("BH(theta 1e-6) vs exact gradient", gb, ge, 2 * N, 1e-12 * gmax);
    CHECK(fabs(klb - kle) < 1e-12, "KL %.15g vs %.15g", klb, kle);
    double prev = 0;
    double thetas[] = { 0.1, 0.5 };
    for (int a = 0; a < 2; a++) {
        tsne_gradient(&P, Y, 1, thetas[a], 2, gb, &klb);
        double err = 0, nrm = 0;
        for (size_t m = 0; m < 2 * N; m++) {
            err += (gb[m] - ge[m]) * (gb[m] - ge[m]);
            nrm += ge[m] * ge[m];
        }
        double rel = sqrt(err / nrm);
        CHECK(rel < (a == 0 ? 2e-3 : 3e-2), "theta %.1f: relative gradient error %.3g", thetas[a], rel);
        CHECK(rel >= prev, "error should grow with theta");
        CHECK(fabs(klb - kle) < 1e-2 * kle, "theta %.1f: KL %.6f vs exact %.6f", thetas[a], klb, kle);
        prev = rel;
    }
    /* the tree itself: coincident points share a leaf and exclude only themselves */
    double Yd[10] = { 0, 0, 0, 0, 1, 1, 0, 0, 3, -2 };
    sptree *t = sptree_new();
    sptree_build(t, Yd, 5);
    double neg[2] = { 0, 0 };
    double sq = sptree_repulsion(t, 0, Yd, 0.5, neg);
    double want = 1 + 1 + 1.0 / 3 + 1.0 / 14;    /* two coincident points at d2 = 0 */
    CHECK(fabs(sq - want) < 1e-12, "coincident points: sum q %.15g want %.15g", sq, want);
    sptree_free(t);
    tsne_P_free(&P);
    free(X); free(idx); free(dist); free(Y); free(ge); free(gb);
}

static void test_pca(void)
{
    size_t N = 400, D = 9;
    rng_t r;
    rng_seed(&r, 11);
    float *X = xmalloc(N * D * sizeof *X);
    double *a = xmalloc(N * sizeof *a), *b = xmalloc(N * sizeof *b), *Y = xmalloc(2 * N * sizeof *Y);
    /* variance 25 along u = (1,1,0..)/sqrt2, 4 along e_5, 0.01 elsewhere */
    for (size_t i = 0; i < N; i++) {
        a[i] = 5 * rng_normal(&r);
        b[i] = 2 * rng_normal(&r);
        for (size_t d = 0; d < D; d++)
            X[i * D + d] = (float)(0.1 * rng_normal(&r) + 3.0);
        X[i * D + 0] += (float)(a[i] / sqrt(2));
        X[i * D + 1] += (float)(a[i] / sqrt(2));
        X[i * D + 5] += (float)b[i];
    }
    tsne_pca_init(X, N, D, 0, 1, Y);
    double ma = 0, mb = 0, m0 = 0, m1 = 0;
    for (size_t i = 0; i < N; i++) {
        ma += a[i]; mb += b[i]; m0 += Y[2 * i]; m1 += Y[2 * i + 1];
    }
    ma /= (double)N; mb /= (double)N; m0 /= (double)N; m1 /= (double)N;
    double saa = 0, sbb = 0, s00 = 0, s11 = 0, sa0 = 0, sb1 = 0;
    for (size_t i = 0; i < N; i++) {
        double da = a[i] - ma, db = b[i] - mb, d0 = Y[2 * i] - m0, d1 = Y[2 * i + 1] - m1;
        saa += da * da; sbb += db * db; s00 += d0 * d0; s11 += d1 * d1; sa0 += da * d0; sb1 += db * d1;
    }
    double c0 = fabs(sa0) / sqrt(saa * s00), c1 = fabs(sb1) / sqrt(sbb * s11);
    CHECK(c0 > 0.999 && c1 > 0.99, "PCA components correlate %.5f, %.5f with the planted axes", c0, c1);
    CHECK(fabs(sqrt(s00 / (double)N) - 1e-4) < 1e-12, "std of component 1 = %.6g, want 1e-4", sqrt(s00 / (double)N));
    free(X); free(a); free(b); free(Y);
}

static void test_toy_run(void)
{
    size_t N = 240, D = 10;
    uint32_t *cls = xmalloc(N * sizeof *cls);
    float *X = toy(N, D, 12, cls);
    tsne_opts o;
    tsne_opts_default(&o);
    o.perplexity = 20;
    o.iters = 600;
    o.trace_every = 50;
    o.seed = 4;
    o.threads = 1;
    double *Y1 = xmalloc(2 * N * sizeof *Y1), *Y2 = xmalloc(2 * N * sizeof *Y2);
    tsne_result r1, r2;
    char msg[200];
    CHECK(tsne_run(X, N, D, &o, Y1, &r1, msg, sizeof msg) == 0, "run: %s", msg);
    /* KL (plain P) falls: overall, and monotonically once the exaggeration is off */
    CHECK(r1.ntrace == 12, "trace points %zu", r1.ntrace);
    CHECK(r1.trace[r1.ntrace - 1] < 0.5 * r1.trace[0], "KL %.4f -> %.4f", r1.trace[0], r1.trace[r1.ntrace - 1]);
    for (size_t m = 6; m < r1.ntrace; m++)
        CHECK(r1.trace[m] <= r1.trace[m - 1] + 1e-6, "KL rose at trace %zu: %.6f -> %.6f", m, r1.trace[m - 1],
              r1.trace[m]);
    CHECK(fabs(r1.kl_exact - r1.kl_bh) < 0.02 * r1.kl_exact, "KL estimate %.5f vs exact %.5f", r1.kl_bh,
          r1.kl_exact);
    /* clusters separate */
    double *s = xmalloc(N * sizeof *s), mean = 0;
    silhouette_samples(Y1, N, 2, cls, 3, 1, s);
    for (size_t i = 0; i < N; i++)
        mean += s[i] / (double)N;
    CHECK(mean > 0.8, "silhouette of the embedding %.4f", mean);
    /* determinism: same bits again and with 2 threads */
    o.threads = 2;
    CHECK(tsne_run(X, N, D, &o, Y2, &r2, msg, sizeof msg) == 0, "run 2: %s", msg);
    CHECK(memcmp(Y1, Y2, 2 * N * sizeof *Y1) == 0, "2 threads differ from 1 thread");
    CHECK(r1.kl_bh == r2.kl_bh && r1.kl_exact == r2.kl_exact, "KL differs between runs");
    free(r1.trace);
    free(r2.trace);
    /* the exact path: same quality */
    o.exact = 1;
    o.iters = 400;
    o.trace_every = 0;
    CHECK(tsne_run(X, N, D, &o, Y2, &r2, msg, sizeof msg) == 0, "exact run: %s", msg);
    silhouette_samples(Y2, N, 2, cls, 3, 1, s);
    mean = 0;
    for (size_t i = 0; i < N; i++)
        mean += s[i] / (double)N;
    CHECK(mean > 0.8, "silhouette of the exact embedding %.4f", mean);
    /* kl_bh is taken at the last gradient, kl_exact after the last step: close, not equal */
    CHECK(fabs(r2.kl_bh - r2.kl_exact) < 1e-2 * r2.kl_exact, "exact path: %.9f vs %.9f", r2.kl_bh, r2.kl_exact);
    /* N and perplexity validation */
    CHECK(tsne_check(4, 1, 0, msg, sizeof msg) != NULL, "4 points accepted");
    CHECK(tsne_check(91, 30, 0, msg, sizeof msg) != NULL && strstr(msg, "91") && strstr(msg, "30"),
          "perplexity 30 with 91 points: %s", msg);
    CHECK(tsne_check(92, 30, 0, msg, sizeof msg) == NULL, "perplexity 30 with 92 points refused");
    free(s); free(X); free(cls); free(Y1); free(Y2);
}

/* Issue 14, fault 1: a point near float32's maximum makes its squared distances inf; the
 * neighbour search then fills fewer slots.  tsne_knn says so and sets every slot; tsne_run
 * refuses the point before searching (it used to index unset slots and crash). */
static void test_huge_point(void)
{
    size_t N = 60, D = 16, k = 10;
    float *X = toy(N, D, 5, NULL);
    X[0] = 1.7e38f;
    uint32_t *idx = xmalloc(N * k * sizeof *idx);
    float *dist = xmalloc(N * k * sizeof *dist);
    memset(idx, 0xff, N * k * sizeof *idx);
    CHECK(tsne_knn(X, N, D, k, 0, 2, idx, dist) == -1, "inf distances reported");
    size_t unset = 0;
    for (size_t m = 0; m < N * k; m++)
        unset += idx[m] >= N;
    CHECK(unset == 0, "%zu neighbour slots left unset", unset);
    tsne_opts o;
    tsne_opts_default(&o);
    o.perplexity = 3;
    o.iters = 10;
    double *Y = xmalloc(2 * N * sizeof *Y);
    tsne_result res;
    char err[256] = "";
    CHECK(tsne_run(X, N, D, &o, Y, &res, err, sizeof err) == -1, "huge point refused");
    CHECK(strstr(err, "point 1: norm") != NULL, "message: %s", err);
    free(Y);
    free(idx);
    free(dist);
    free(X);
}

int main(void)
{
    test_vptree();
    test_calibrate();
    test_affinities_golden();
    test_silhouette_golden();
    test_gradient_fd();
    test_bh_vs_exact();
    test_pca();
    test_toy_run();
    test_huge_point();
    return check_done("test_tsne");
}
