/* The inference GEMM (nn/gemm.h): against the double-precision reference, and its promises
 * that every kernel (AVX-512, AVX2+FMA, scalar), every row subset and every thread count
 * give the same bits; packing layout; edge shapes. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "util/par.h"
#include "util/rng.h"

void openblas_set_num_threads(int n);   /* from OpenBLAS (cblas.h's <complex.h> is avoided) */

static float *aligned(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)) != 0)
        abort();
    return p;
}

static void fill(float *a, size_t n, rng_t *r)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(rng_uniform(r) * 2.0 - 1.0);
}

/* A random linear layer and input: x (M, lda), W (N, K), b (N), uniform in [-1, 1). */
static void random_layer(rng_t *r, size_t M, size_t lda, size_t K, size_t N, float **x, float **W,
                         float **b)
{
    *x = aligned(M * lda);
    *W = aligned(N * K);
    *b = aligned(N);
    fill(*x, M * lda, r);
    fill(*W, N * K, r);
    fill(*b, N, r);
}

/* y = x W^T + b through the packed path on a given kernel (-1: the default choice) */
static float *run(const float *x, size_t lda, const float *W, const float *b, size_t M,
                  size_t K, size_t N, int isa)
{
    float *P = aligned(gemm_packed_floats(N, K)), *y = aligned(M * N);
    gemm_pack(P, W, N, K);
    enum gemm_isa saved = gemm_isa();
    if (isa >= 0)
        gemm_set_isa((enum gemm_isa)isa);
    gemm_packed(y, x, lda, P, b, M, K, N);
    gemm_set_isa(saved);
    free(P);
    return y;
}

static void test_pack_layout(void)
{
    size_t N = 20, K = 3;   // two panels, the second holding 4 columns and 12 zeros
    float W[60], *P = aligned(gemm_packed_floats(N, K));
    for (int i = 0; i < 60; i++)
        W[i] = (float)(i + 1);
    CHECK(gemm_packed_floats(N, K) == 2 * K * GEMM_NR, "size %zu", gemm_packed_floats(N, K));
    gemm_pack(P, W, N, K);
    int ok = 1;
    for (size_t p = 0; p < 2; p++)
        for (size_t k = 0; k < K; k++)
            for (size_t j = 0; j < GEMM_NR; j++) {
                size_t n = p * GEMM_NR + j;
                float want = n < N ? W[n * K + k] : 0.0f;
                ok &= P[(p * K + k) * GEMM_NR + j] == want;
            }
    CHECK(ok, "P[panel][k][j] == W[16 panel + j][k], zeros past N");
    free(P);
}

/* Against the double reference, on shapes with ragged rows and columns, for each kernel
 * this CPU runs; and all kernels agree to the bit. */
static void test_against_reference(void)
{
    static const size_t shapes[][3] = {   // M, K, N
        { 1, 1, 1 }, { 1, 256, 768 }, { 7, 33, 17 }, { 32, 256, 1024 }, { 13, 1024, 256 },
        { 50, 64, 6 }, { 97, 128, 48 }, { 300, 40, 100 }, { 5, 3000, 40 },
    };
    rng_t r;
    rng_seed(&r, 7);
    enum gemm_isa chosen = gemm_isa();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2], lda = K + (s % 2) * 5;
        float *x, *W, *b, *ref = aligned(M * N);
        random_layer(&r, M, lda, K, N, &x, &W, &b);
        // the reference takes dense rows
        float *xd = aligned(M * K);
        for (size_t i = 0; i < M; i++)
            memcpy(xd + i * K, x + i * lda, K * sizeof(float));
        matmul_forward_ref(ref, xd, W, b, M, K, N);
        float *first = NULL;
        for (int isa = GEMM_SCALAR; isa <= GEMM_AVX512; isa++) {
            if (gemm_set_isa((enum gemm_isa)isa) != 0) {
                fprintf(stderr, "test_gemm: this CPU has no %s: not tested\n",
                        gemm_isa_name((enum gemm_isa)isa));
                continue;
            }
            float *y = run(x, lda, W, b, M, K, N, isa);
            char label[96];
            snprintf(label, sizeof label, "%s M %zu K %zu N %zu", gemm_isa_name((enum gemm_isa)isa), M, K, N);
            CHECK_CLOSE(label, y, ref, M * N, 2e-6 * (double)K + 1e-6);
            if (!first)
                first = y;
            else {
                CHECK(!memcmp(first, y, M * N * sizeof(float)), "%s: bits differ from scalar", label);
                free(y);
            }
        }
        // no bias: a plain product
        float *y0 = run(x, lda, W, NULL, M, K, N, -1);
        for (size_t i = 0; i < M * N; i++)
            ref[i] -= b[i % N];
        CHECK_CLOSE("no bias", y0, ref, M * N, 2e-6 * (double)K + 1e-6);
        free(y0);
        free(first);
        free(x), free(xd), free(W), free(b), free(ref);
    }
    gemm_set_isa(chosen);
}

/* A row's result is the same whatever rows share the call (one tweet or a batch: the [CLS]
 * rows of the last layer run alone) and whatever the thread count. */
static void test_row_and_thread_invariance(void)
{
    size_t M = 700, K = 256, N = 768;
    rng_t r;
    rng_seed(&r, 11);
    float *x, *W, *b;
    random_layer(&r, M, K, K, N, &x, &W, &b);
    openblas_set_num_threads(1);
    float *one = run(x, K, W, b, M, K, N, -1);
    openblas_set_num_threads(2);
    float *two = run(x, K, W, b, M, K, N, -1);
    long spin = par_spin(100000);
    float *spun = run(x, K, W, b, M, K, N, -1);
    par_spin(spin);
    CHECK(!memcmp(one, two, M * N * sizeof(float)), "1 and 2 threads differ");
    CHECK(!memcmp(one, spun, M * N * sizeof(float)), "spinning pool differs");
    // rows 3, 100 and 650 alone, as every 7th row (lda = 7 K)
    size_t rows[] = { 3, 100, 650 };
    for (size_t i = 0; i < 3; i++) {
        float *y = run(x + rows[i] * K, K, W, b, 1, K, N, -1);
        CHECK(!memcmp(y, one + rows[i] * N, N * sizeof(float)), "row %zu alone differs", rows[i]);
        free(y);
    }
    float *every7 = run(x, 7 * K, W, b, M / 7, K, N, -1);
    int same = 1;
    for (size_t i = 0; i < M / 7; i++)
        same &= !memcmp(every7 + i * N, one + 7 * i * N, N * sizeof(float));
    CHECK(same, "every 7th row (strided x) differs from the full call");
    free(every7), free(one), free(two), free(spun), free(x), free(W), free(b);
}

/* gemm_packed_act (the activation on each block as it is finished) and gemm_packed_ld (a
 * column slice of a wider output) give the bits of gemm_packed and a separate pass. */
static void test_act_and_slices(void)
{
    size_t M = 300, K = 96, N = 200;   // N: 12.5 panels, a partial last group
    rng_t r;
    rng_seed(&r, 12);
    float *x, *W, *b;
    random_layer(&r, M, K, K, N, &x, &W, &b);
    float *P = aligned(gemm_packed_floats(N, K)), *y = aligned(M * N), *z = aligned(M * N);
    gemm_pack(P, W, N, K);
    for (int act = 0; act < 3; act++)
        for (int th = 1; th <= 2; th++) {
            openblas_set_num_threads(th);
            gemm_packed(y, x, K, P, b, M, K, N);
            act_forward(act, y, y, M * N);
            gemm_packed_act(z, x, K, P, b, M, K, N, act_serial(act));
            CHECK(!memcmp(y, z, M * N * sizeof(float)), "act %d, %d threads: fused differs", act, th);
        }
    // columns [64, 200) alone: the packed weight from panel 4 on, into a wider y
    gemm_packed(y, x, K, P, b, M, K, N);
    memset(z, 0, M * N * sizeof(float));
    gemm_packed_ld(z + 64, N, x, K, P + 64 * K, b + 64, M, K, N - 64);
    int same = 1, untouched = 1;
    for (size_t i = 0; i < M; i++) {
        same &= !memcmp(z + i * N + 64, y + i * N + 64, (N - 64) * sizeof(float));
        for (size_t c = 0; c < 64; c++)
            untouched &= z[i * N + c] == 0.0f;
    }
    CHECK(same && untouched, "column slice: same %d, columns left of it untouched %d", same, untouched);
    free(x), free(W), free(b), free(P), free(y), free(z);
}

/* K == 0: the bias (or zeros); M == 0 or N == 0: nothing written. */
static void test_degenerate(void)
{
    float b[3] = { 1, 2, 3 }, y[6] = { 9, 9, 9, 9, 9, 9 }, x[1] = { 5 };
    float *P = aligned(GEMM_NR);
    gemm_packed(y, x, 0, P, b, 2, 0, 3);
    CHECK(y[0] == 1 && y[2] == 3 && y[3] == 1 && y[5] == 3, "K 0 gives the bias");
    gemm_packed(y, x, 0, P, NULL, 2, 0, 3);
    CHECK(y[0] == 0 && y[5] == 0, "K 0 without bias gives zeros");
    y[0] = 9;
    gemm_packed(y, x, 1, P, b, 0, 1, 3);
    CHECK(y[0] == 9, "M 0 writes nothing");
    free(P);
}

int main(void)
{
    fprintf(stderr, "test_gemm: default kernel %s\n", gemm_isa_name(gemm_isa()));
    test_pack_layout();
    test_against_reference();
    test_row_and_thread_invariance();
    test_act_and_slices();
    test_degenerate();
    return check_done("test_gemm");
}
