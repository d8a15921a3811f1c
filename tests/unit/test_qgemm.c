/* The int8 GEMM (nn/qgemm.h): every path this CPU runs (scalar, AVX2, AVX-VNNI, AVX-512
 * VNNI) against the plain references bit for bit, the int32 products and the fused float
 * output, on ragged shapes and on the extreme codes of each scheme; the packed layout;
 * the quantisers (SIMD against scalar, round trips, error bounds); the float output
 * against the float GEMM of the dequantised operands and of the original ones; the two
 * schemes' accuracy on a layer with and without outlier features (printed). */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/kernels.h"
#include "nn/qgemm.h"
#include "util/par.h"
#include "util/rng.h"

void openblas_set_num_threads(int n);   /* from OpenBLAS (cblas.h's <complex.h> is avoided) */

static void *aligned(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0)
        abort();
    return p;
}

static int between(rng_t *r, int lo, int hi) { return lo + (int)rng_below(r, (uint64_t)(hi - lo + 1)); }

static float gauss(rng_t *r)
{
    double u = rng_uniform(r) + 1e-12, v = rng_uniform(r);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* packed weight of wq (N, K) for scheme s; aborts if the codes are outside it */
static void *pack(const int8_t *wq, const float *ws, size_t N, size_t K, enum qgemm_scheme s)
{
    void *P = aligned(qgemm_packed_bytes(N, K));
    if (qgemm_pack(P, wq, K, ws, N, K, s) != 0)
        abort();
    return P;
}

/* the paths this CPU runs, saying which it skips (once) */
static int path_ok(int isa)
{
    static int said[QGEMM_NISA];
    if (qgemm_cpu_has((enum qgemm_isa)isa))
        return 1;
    if (!said[isa]++)
        fprintf(stderr, "test_qgemm: this CPU has no %s: that path is not tested here\n",
                qgemm_isa_name((enum qgemm_isa)isa));
    return 0;
}

static void test_pack_layout(void)
{
    size_t N = 20, K = 7;   // two panels (the second holds 4 columns), two quads (one partial)
    int8_t wq[20 * 7];
    float ws[20];
    for (size_t i = 0; i < N * K; i++)
        wq[i] = (int8_t)((int)(i * 7 % 127) - 63);
    for (size_t n = 0; n < N; n++)
        ws[n] = 0.5f + (float)n;
    void *P = pack(wq, ws, N, K, QGEMM_W7);
    CHECK(qgemm_packed_n(P) == N && qgemm_packed_k(P) == K && qgemm_packed_scheme(P) == QGEMM_W7,
          "header");
    CHECK(qgemm_packed_bytes(N, K) == 64 + 2 * 2 * 64 + 2 * 16 * 8, "size %zu", qgemm_packed_bytes(N, K));
    const int8_t *pan = (const int8_t *)P + 64;
    int ok = 1;
    for (size_t p = 0; p < 2; p++)
        for (size_t q = 0; q < 2; q++)
            for (size_t j = 0; j < 16; j++)
                for (size_t i = 0; i < 4; i++) {
                    size_t n = 16 * p + j, k = 4 * q + i;
                    int want = n < N && k < K ? wq[n * K + k] : 0;
                    ok &= pan[64 * (p * 2 + q) + 4 * j + i] == want;
                }
    CHECK(ok, "byte 64 (p Kq + q) + 4 j + i == wq[16 p + j][4 q + i], zeros past N and K");
    const int32_t *cs = qgemm_packed_colsum(P);
    const float *w = qgemm_packed_wscale(P);
    int sums = 1;
    for (size_t n = 0; n < 32; n++) {
        int32_t s = 0;
        for (size_t k = 0; n < N && k < K; k++)
            s += wq[n * K + k];
        sums &= cs[n] == s && w[n] == (n < N ? ws[n] : 0.0f);
    }
    CHECK(sums, "column sums and scales, zeros past N");
    // the domain: W7 takes [-64, 63], A7 [-128, 127]
    int8_t one[4] = { 0, 64, 0, 0 };
    CHECK(qgemm_pack(P, one, 4, ws, 1, 4, QGEMM_W7) == -1, "W7 refuses 64");
    CHECK(qgemm_pack(P, one, 4, ws, 1, 4, QGEMM_A7) == 0, "A7 takes 64");
    one[1] = -65;
    CHECK(qgemm_pack(P, one, 4, ws, 1, 4, QGEMM_W7) == -1, "W7 refuses -65");
    one[1] = -64;
    CHECK(qgemm_pack(P, one, 4, ws, 1, 4, QGEMM_W7) == 0, "W7 takes -64");
    one[1] = -128;
    CHECK(qgemm_pack(P, one, 4, ws, 1, 4, QGEMM_A7) == 0, "A7 takes -128");
    free(P);
}

/* codes: 0 random over the scheme's domain; 1 the extremes (activations at amax, weights
 * alternating the domain's ends); 2 activations at amax and 0, weights all at the
 * negative end (the largest products, of one sign: a saturated pair would show) */
static void fill_codes(rng_t *r, uint8_t *q, size_t M, size_t lda, int8_t *wq, size_t N, size_t K,
                       enum qgemm_scheme s, int kind)
{
    int amax = qgemm_amax(s), wmax = qgemm_wmax(s);
    for (size_t i = 0; i < M * lda; i++)
        q[i] = kind == 0 ? (uint8_t)between(r, 0, amax) : kind == 1 ? (uint8_t)amax
             : (uint8_t)(rng_below(r, 4) ? amax : 0);
    for (size_t i = 0; i < N * K; i++)
        wq[i] = (int8_t)(kind == 0 ? between(r, -wmax - 1, wmax) : kind == 1 ? (i % 3 ? -wmax - 1 : wmax)
                                                                  : -wmax - 1);
    for (size_t m = 0; m < M; m++)   // bytes past K: never read, so any value
        memset(q + m * lda + K, 0xff, lda - K);
}

/* every path, int32 and fused float, against the references, bit for bit */
static void test_paths(void)
{
    static const size_t shapes[][3] = {   // M, K, N
        { 1, 1, 1 }, { 1, 2, 17 }, { 3, 3, 16 }, { 5, 5, 15 }, { 7, 7, 33 }, { 9, 13, 31 },
        { 13, 33, 48 }, { 24, 64, 64 }, { 25, 255, 100 }, { 49, 257, 65 }, { 11, 1023, 47 },
        { 100, 256, 256 }, { 37, 1024, 97 }, { 2, 4095, 20 }, { 300, 40, 129 }, { 8, 0, 5 },
        { 700, 1024, 70 },   // several row chunks (128 KiB of q each), handed to 2 threads
    };
    rng_t r;
    rng_seed(&r, 16);
    int saved = qgemm_isa(), tested[QGEMM_NISA] = { 0 };
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
        for (int s = QGEMM_W7; s <= QGEMM_A7; s++)
            for (int kind = 0; kind < 3; kind++) {
                size_t M = shapes[sh][0], K = shapes[sh][1], N = shapes[sh][2], lda = K + sh % 3;
                uint8_t *q = aligned(M * lda);
                int8_t *wq = aligned(N * K);
                float *ws = aligned(N * sizeof(float)), *as = aligned(M * sizeof(float));
                float *bias = aligned(N * sizeof(float));
                int32_t *zp = aligned(M * sizeof(int32_t));
                fill_codes(&r, q, M, lda, wq, N, K, (enum qgemm_scheme)s, kind);
                for (size_t n = 0; n < N; n++) {
                    ws[n] = (float)rng_uniform(&r) * 0.01f;
                    bias[n] = gauss(&r);
                }
                for (size_t m = 0; m < M; m++) {
                    as[m] = (float)rng_uniform(&r) * 0.1f;
                    zp[m] = between(&r, 0, qgemm_amax((enum qgemm_scheme)s));
                }
                void *P = pack(wq, ws, N, K, (enum qgemm_scheme)s);
                int32_t *Cr = aligned(M * N * sizeof(int32_t)), *C = aligned(M * N * sizeof(int32_t));
                float *yr = aligned(M * N * sizeof(float)), *y = aligned(M * N * sizeof(float));
                float *yr0 = aligned(M * N * sizeof(float));
                qgemm_s32_ref(Cr, N, q, lda, wq, K, M, K, N);
                qgemm_f32_ref(yr, N, q, lda, as, zp, wq, K, ws, bias, M, K, N);
                qgemm_f32_ref(yr0, N, q, lda, as, zp, wq, K, ws, NULL, M, K, N);
                if (kind == 2 && M * K * N > 0) {   // the reference itself, on a known sum
                    int64_t want = 0;
                    for (size_t k = 0; k < K; k++)
                        want += (int64_t)q[k] * wq[k];
                    CHECK(Cr[0] == want, "reference %d vs %lld", Cr[0], (long long)want);
                }
                for (int isa = 0; isa < QGEMM_NISA; isa++) {
                    if (!path_ok(isa))
                        continue;
                    qgemm_set_isa((enum qgemm_isa)isa);
                    tested[isa]++;
                    memset(C, 0x55, M * N * sizeof(int32_t));
                    qgemm_s32(C, N, q, lda, P, M);
                    CHECK(!memcmp(C, Cr, M * N * sizeof(int32_t)), "%s %s codes %d M %zu K %zu N %zu: int32 differs",
                          qgemm_isa_name((enum qgemm_isa)isa), qgemm_scheme_name((enum qgemm_scheme)s), kind, M, K, N);
                    qgemm_f32(y, N, q, lda, as, zp, P, bias, M, NULL);
                    CHECK(!memcmp(y, yr, M * N * sizeof(float)), "%s %s codes %d M %zu K %zu N %zu: float differs",
                          qgemm_isa_name((enum qgemm_isa)isa), qgemm_scheme_name((enum qgemm_scheme)s), kind, M, K, N);
                    qgemm_f32(y, N, q, lda, as, zp, P, NULL, M, NULL);
                    CHECK(!memcmp(y, yr0, M * N * sizeof(float)), "%s M %zu K %zu N %zu: float without bias differs",
                          qgemm_isa_name((enum qgemm_isa)isa), M, K, N);
                }
                qgemm_set_isa((enum qgemm_isa)saved);
                free(q), free(wq), free(ws), free(as), free(bias), free(zp), free(P);
                free(Cr), free(C), free(yr), free(y), free(yr0);
            }
    for (int isa = 0; isa < QGEMM_NISA; isa++)
        fprintf(stderr, "test_qgemm: %s: %d cases against the references\n",
                qgemm_isa_name((enum qgemm_isa)isa), tested[isa]);
}

/* Outside W7's domain the AVX2 path is not exact (why the schemes exist): 255 * -128 twice
 * saturates vpmaddubsw's int16.  Packed as A7 (which takes -128), fed u8 codes A7 forbids. */
static void test_saturation_is_real(void)
{
    if (!qgemm_cpu_has(QGEMM_AVX2))
        return;
    int saved = qgemm_isa();
    uint8_t q[4] = { 255, 255, 255, 255 };
    int8_t wq[4] = { -128, -128, -128, -128 };
    float ws[1] = { 1 };
    void *P = pack(wq, ws, 1, 4, QGEMM_A7);
    int32_t c = 0;
    qgemm_set_isa(QGEMM_AVX2);
    qgemm_s32(&c, 1, q, 4, P, 1);
    CHECK(c == 2 * -32768, "AVX2 outside the domain: %d (the exact sum is %d)", c, 4 * 255 * -128);
    qgemm_set_isa((enum qgemm_isa)saved);
    free(P);
}

/* quantisers: the SIMD rows give the bits of the scalar ones; round trips within half a
 * step; 0 exact; the ends of the range used */
static void test_quantisers(void)
{
    rng_t r;
    rng_seed(&r, 17);
    static const size_t Ks[] = { 1, 3, 7, 8, 9, 31, 256, 1000, 1024 };
    for (int s = QGEMM_W7; s <= QGEMM_A7; s++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
            size_t K = Ks[ki], M = 12, ldx = K + 3;
            float *x = aligned(M * ldx * sizeof(float)), *xd = aligned(M * K * sizeof(float));
            for (size_t m = 0; m < M; m++)
                for (size_t k = 0; k < K; k++) {
                    float v = gauss(&r) * (float)(m + 1);
                    // row 0 zeros, 1 positive, 2 negative, 3 constant, 4 a huge outlier
                    v = m == 0 ? 0.0f : m == 1 ? fabsf(v) : m == 2 ? -fabsf(v) : m == 3 ? 0.25f : v;
                    if (m == 4 && k == K / 2)
                        v = 1e4f;
                    x[m * ldx + k] = v;
                }
            uint8_t *q = aligned(M * K), *qr = aligned(M * K);
            float as[12], asr[12];
            int32_t zp[12], zpr[12];
            qgemm_quantize_rows_ref(qr, K, asr, zpr, x, ldx, M, K, (enum qgemm_scheme)s);
            int saved = qgemm_isa();
            for (int isa = 0; isa < QGEMM_NISA; isa++) {
                if (!path_ok(isa))
                    continue;
                qgemm_set_isa((enum qgemm_isa)isa);
                qgemm_quantize_rows(q, K, as, zp, x, ldx, M, K, (enum qgemm_scheme)s);
                CHECK(!memcmp(q, qr, M * K) && !memcmp(as, asr, sizeof as) && !memcmp(zp, zpr, sizeof zp),
                      "%s: quantised rows differ from the scalar ones (K %zu)", qgemm_isa_name((enum qgemm_isa)isa), K);
                memset(q, 0, M * K);
                for (size_t m = 0; m < M; m++)
                    qgemm_quantize_row(q + m * K, as + m, zp + m, x + m * ldx, K, (enum qgemm_scheme)s);
                CHECK(!memcmp(q, qr, M * K) && !memcmp(as, asr, sizeof as) && !memcmp(zp, zpr, sizeof zp),
                      "%s: rows quantised one at a time differ (K %zu)", qgemm_isa_name((enum qgemm_isa)isa), K);
            }
            qgemm_set_isa((enum qgemm_isa)saved);
            qgemm_dequantize_rows(xd, K, qr, K, asr, zpr, M, K);
            int amax = qgemm_amax((enum qgemm_scheme)s), within = 1, ends = 1;
            for (size_t m = 0; m < M; m++) {
                int lo = 255, hi = 0;
                float xlo = 0.0f, xhi = 0.0f;
                for (size_t k = 0; k < K; k++) {
                    xlo = fminf(xlo, x[m * ldx + k]);
                    xhi = fmaxf(xhi, x[m * ldx + k]);
                    within &= fabsf(xd[m * K + k] - x[m * ldx + k]) <= 0.5f * asr[m] * (1 + 1e-4f);
                    lo = qr[m * K + k] < lo ? qr[m * K + k] : lo;
                    hi = qr[m * K + k] > hi ? qr[m * K + k] : hi;
                }
                // a negative value reaches code 0, a positive one amax (0 is always in range)
                ends &= (xlo == 0.0f || lo == 0) && (xhi == 0.0f || hi == amax);
            }
            CHECK(within, "%s K %zu: an activation off by more than half a step", qgemm_scheme_name((enum qgemm_scheme)s), K);
            CHECK(ends, "%s K %zu: a row's min or max not at the range's end", qgemm_scheme_name((enum qgemm_scheme)s), K);
            CHECK(zpr[0] == 0 && qr[0] == 0 && xd[0] == 0.0f, "zero row: codes 0, zero point 0");
            CHECK(zpr[1] == 0 && zpr[2] == amax, "all-positive row zp %d, all-negative %d", zpr[1], zpr[2]);
            CHECK(xd[3 * K] == 0.25f || fabsf(xd[3 * K] - 0.25f) <= 0.5f * asr[3], "constant row");
            free(x), free(xd), free(q), free(qr);
        }
    // weights: within half a step, the row max at +-wmax, an all-zero row, requantising
    // the dequantised weights gives the same codes
    for (int s = QGEMM_W7; s <= QGEMM_A7; s++) {
        size_t N = 9, K = 77;
        float *W = aligned(N * K * sizeof(float)), *Wd = aligned(N * K * sizeof(float)), ws[9], ws2[9];
        int8_t *wq = aligned(N * K), *wq2 = aligned(N * K);
        for (size_t i = 0; i < N * K; i++)
            W[i] = i / K == 3 ? 0.0f : gauss(&r) * 0.05f;
        W[5 * K + 9] = -0.7f;
        qgemm_quantize_weights(wq, ws, W, N, K, (enum qgemm_scheme)s);
        qgemm_dequantize_weights(Wd, wq, ws, N, K);
        int wmax = qgemm_wmax((enum qgemm_scheme)s), within = 1, range = 1, hit_max = 1;
        for (size_t n = 0; n < N; n++) {
            int top = 0;
            for (size_t k = 0; k < K; k++) {
                within &= fabsf(Wd[n * K + k] - W[n * K + k]) <= 0.5f * ws[n] * (1 + 1e-4f);
                range &= wq[n * K + k] >= -wmax && wq[n * K + k] <= wmax;
                top = abs(wq[n * K + k]) > top ? abs(wq[n * K + k]) : top;
            }
            hit_max &= n == 3 ? top == 0 && ws[n] == 0.0f : top == wmax;
        }
        CHECK(within && range && hit_max, "%s weights: within %d range %d max %d", qgemm_scheme_name((enum qgemm_scheme)s),
              within, range, hit_max);
        CHECK(wq[5 * K + 9] == -wmax, "the row's largest |w| is -wmax");
        qgemm_quantize_weights(wq2, ws2, Wd, N, K, (enum qgemm_scheme)s);
        CHECK(!memcmp(wq, wq2, N * K), "%s: requantising the dequantised weights changes codes",
              qgemm_scheme_name((enum qgemm_scheme)s));
        free(W), free(Wd), free(wq), free(wq2);
    }
}

/* A quantised linear layer: x (M, K), W (N, K), b (N); outliers: features 7 and K/2 of
 * every row scaled by 20 (LayerNorm outputs in BERT carry a few such features). */
typedef struct {
    size_t M, K, N;
    float *x, *W, *b, *yf;   /* yf: the float layer */
} layer;

static layer make_layer(rng_t *r, size_t M, size_t K, size_t N, int outliers)
{
    layer L = { M, K, N, aligned(M * K * sizeof(float)), aligned(N * K * sizeof(float)),
                aligned(N * sizeof(float)), aligned(M * N * sizeof(float)) };
    for (size_t i = 0; i < M * K; i++)
        L.x[i] = gauss(r);
    if (outliers)
        for (size_t m = 0; m < M; m++)
            L.x[m * K + 7] *= 20.0f, L.x[m * K + K / 2] *= -20.0f;
    for (size_t i = 0; i < N * K; i++)
        L.W[i] = gauss(r) * 0.05f;
    for (size_t n = 0; n < N; n++)
        L.b[n] = gauss(r) * 0.1f;
    matmul_forward_ref(L.yf, L.x, L.W, L.b, M, K, N);
    return L;
}

static void free_layer(layer *L) { free(L->x), free(L->W), free(L->b), free(L->yf); }

/* the layer through qgemm_forward with scheme s; returns ||y - yf|| / ||yf - b||, checks the
 * float output against the dequantised operands' float GEMM and the error bound */
static double run_layer(const layer *L, enum qgemm_scheme s, const char *what)
{
    size_t M = L->M, K = L->K, N = L->N;
    int8_t *wq = aligned(N * K);
    float *ws = aligned(N * sizeof(float)), *y = aligned(M * N * sizeof(float));
    qgemm_quantize_weights(wq, ws, L->W, N, K, s);
    void *P = pack(wq, ws, N, K, s), *scratch = aligned(qgemm_scratch_bytes(M, K));
    qgemm_forward(y, N, L->x, K, P, L->b, M, scratch, NULL);
    // the same codes, dequantised, through the double-precision float GEMM
    uint8_t *q = aligned(M * K);
    float *as = aligned(M * sizeof(float)), *xd = aligned(M * K * sizeof(float));
    float *Wd = aligned(N * K * sizeof(float)), *yd = aligned(M * N * sizeof(float));
    int32_t *zp = aligned(M * sizeof(int32_t));
    qgemm_quantize_rows_ref(q, K, as, zp, L->x, K, M, K, s);
    qgemm_dequantize_rows(xd, K, q, K, as, zp, M, K);
    qgemm_dequantize_weights(Wd, wq, ws, N, K);
    matmul_forward_ref(yd, xd, Wd, L->b, M, K, N);
    int deq_ok = 1, bound_ok = 1;
    double e2 = 0, f2 = 0;
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            double S = fabs(L->b[n]), B = 0;
            for (size_t k = 0; k < K; k++) {
                S += fabs((double)xd[m * K + k] * Wd[n * K + k]);
                B += fabs(L->x[m * K + k]) * 0.5 * ws[n] + fabs(Wd[n * K + k]) * 0.5 * as[m];
            }
            double got = y[m * N + n], d = fabs(got - yd[m * N + n]), e = got - L->yf[m * N + n];
            // float rounding of the epilogue: a few ulps of the sum of |products|
            deq_ok &= d <= 4 * FLT_EPSILON * S;
            // quantisation: |x w - x' w'| <= |x| |w - w'| + |w'| |x - x'|, each error at
            // most half a step (+ the float slack)
            bound_ok &= fabs(e) <= B * (1 + 1e-4) + 4 * FLT_EPSILON * S;
            e2 += e * e;
            f2 += (L->yf[m * N + n] - L->b[n]) * (L->yf[m * N + n] - L->b[n]);
        }
    CHECK(deq_ok, "%s %s: float output beyond 4 eps of the dequantised float GEMM", what, qgemm_scheme_name(s));
    CHECK(bound_ok, "%s %s: float output beyond the quantisation error bound", what, qgemm_scheme_name(s));
    free(wq), free(ws), free(y), free(P), free(scratch), free(q), free(as), free(xd), free(Wd);
    free(yd), free(zp);
    return sqrt(e2 / f2);
}

/* W7 against A7 (printed): relative error of x W^T against the float layer */
static void test_accuracy(void)
{
    rng_t r;
    rng_seed(&r, 18);
    for (int outliers = 0; outliers <= 1; outliers++) {
        layer L = make_layer(&r, 64, 256, 96, outliers);
        const char *what = outliers ? "outlier features" : "gaussian";
        double w7 = run_layer(&L, QGEMM_W7, what), a7 = run_layer(&L, QGEMM_A7, what);
        fprintf(stderr, "test_qgemm: %s (M 64, K 256, N 96): relative error w7 %.4f, a7 %.4f\n",
                what, w7, a7);
        CHECK(w7 < (outliers ? 0.03 : 0.02) && a7 < (outliers ? 0.05 : 0.02),
              "%s: relative errors w7 %.4f a7 %.4f", what, w7, a7);
        if (outliers)
            CHECK(w7 < a7, "with outlier features, w7 (8-bit activations) should beat a7: %.4f vs %.4f", w7, a7);
        free_layer(&L);
    }
}

/* threads, fused activation, qgemm_forward = quantise + qgemm_f32, row subsets */
static void test_invariance(void)
{
    rng_t r;
    rng_seed(&r, 19);
    size_t M = 500, K = 200, N = 300;
    layer L = make_layer(&r, M, K, N, 1);
    int8_t *wq = aligned(N * K);
    float *ws = aligned(N * sizeof(float));
    qgemm_quantize_weights(wq, ws, L.W, N, K, QGEMM_W7);
    void *P = pack(wq, ws, N, K, QGEMM_W7), *scratch = aligned(qgemm_scratch_bytes(M, K));
    float *y1 = aligned(M * N * sizeof(float)), *y2 = aligned(M * N * sizeof(float));
    float *y3 = aligned(M * N * sizeof(float));
    openblas_set_num_threads(1);
    qgemm_forward(y1, N, L.x, K, P, L.b, M, scratch, NULL);
    openblas_set_num_threads(2);
    qgemm_forward(y2, N, L.x, K, P, L.b, M, scratch, NULL);
    CHECK(!memcmp(y1, y2, M * N * sizeof(float)), "1 and 2 threads differ");
    for (int act = 0; act < 3; act++) {
        qgemm_forward(y3, N, L.x, K, P, L.b, M, scratch, act_serial(act));
        act_forward(act, y2, y1, M * N);
        CHECK(!memcmp(y2, y3, M * N * sizeof(float)), "act %d fused differs from a separate pass", act);
    }
    // row 123 alone, into a wider output (ldy)
    float *row = aligned(2 * N * sizeof(float));
    qgemm_forward(row + 5, N + 7, L.x + 123 * K, K, P, L.b, 1, scratch, NULL);
    CHECK(!memcmp(row + 5, y1 + 123 * N, N * sizeof(float)), "row 123 alone differs");
    // by hand: the quantised rows through qgemm_f32
    uint8_t *q = aligned(M * K);
    float *as = aligned(M * sizeof(float));
    int32_t *zp = aligned(M * sizeof(int32_t));
    qgemm_quantize_rows(q, K, as, zp, L.x, K, M, K, QGEMM_W7);
    qgemm_f32(y3, N, q, K, as, zp, P, L.b, M, NULL);
    CHECK(!memcmp(y1, y3, M * N * sizeof(float)), "qgemm_forward differs from its two steps");
    free(wq), free(ws), free(P), free(scratch), free(y1), free(y2), free(y3), free(row);
    free(q), free(as), free(zp);
    free_layer(&L);
}

int main(void)
{
    // EMO_QGEMM_ISA picks the path at the first call (an unknown name keeps the default)
    setenv("EMO_QGEMM_ISA", "scalar", 1);
    CHECK(qgemm_isa() == QGEMM_SCALAR, "EMO_QGEMM_ISA=scalar gave %s", qgemm_isa_name(qgemm_isa()));
    unsetenv("EMO_QGEMM_ISA");
    int best = QGEMM_SCALAR;
    for (int i = 0; i < QGEMM_NISA; i++)
        best = qgemm_cpu_has((enum qgemm_isa)i) ? i : best;
    CHECK(qgemm_set_isa((enum qgemm_isa)best) == 0, "set %s", qgemm_isa_name((enum qgemm_isa)best));
    CHECK(qgemm_set_isa(QGEMM_NISA) == -1, "an unknown path is refused");
    fprintf(stderr, "test_qgemm: default path %s\n", qgemm_isa_name(qgemm_isa()));
    test_pack_layout();
    test_paths();
    test_saturation_is_real();
    test_quantisers();
    test_accuracy();
    test_invariance();
    return check_done("test_qgemm");
}
