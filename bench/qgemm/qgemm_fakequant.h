/* bench/qgemm/qgemm-accuracy.sh's simulation of the int8 linear layers in the float engine:
 * included before a copy of lib/model/model*.c (never into the library), it wraps the packed
 * float GEMM calls so that each linear layer's weights (at packing) and input rows (at
 * each call) are rounded to the int8 grid of nn/qgemm.h and dequantised ("fake
 * quantisation").  test_qgemm shows the int8 kernels equal the float GEMM of the
 * dequantised operands to a few ulps, so the logits match what the int8 forward will
 * give, without the int8 forward.  Attention's own products (nn/kernels.c) stay float, as
 * in issue 16.  EMO_FQ picks the grid:
 *   float  nothing rounded
 *   w7     qgemm's default scheme: u8 activations, weights in [-63, 63]
 *   a7     u7 activations, weights in [-127, 127]
 *   s8     u8 activations and weights in [-127, 127]: not a kernel scheme (the AVX2 path
 *          would saturate), what a VNNI-only one would give, for comparison */
#ifndef EMO_QGEMM_FAKEQUANT_H
#define EMO_QGEMM_FAKEQUANT_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/gemm.h"
#include "nn/qgemm.h"

/* 0 float, 1 w7, 2 a7, 3 s8 */
static int fq_mode(void)
{
    static int mode = -1;
    if (mode < 0) {
        const char *e = getenv("EMO_FQ");
        mode = !e ? 0 : !strcmp(e, "w7") ? 1 : !strcmp(e, "a7") ? 2 : !strcmp(e, "s8") ? 3 : 0;
    }
    return mode;
}

static void *fq_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

/* W (N, K) through the grid: qgemm's quantisers for w7 and a7, the same formula with
 * wmax 127 for s8 */
static inline void fq_pack(float *P, const float *W, size_t N, size_t K)
{
    int mode = fq_mode();
    if (!mode) {
        gemm_pack(P, W, N, K);
        return;
    }
    float *Wd = fq_alloc(N * K * sizeof(float)), *ws = fq_alloc(N * sizeof(float));
    int8_t *wq = fq_alloc(N * K);
    // a7's weights are s8 [-127, 127]: s8's too
    qgemm_quantize_weights(wq, ws, W, N, K, mode == 1 ? QGEMM_W7 : QGEMM_A7);
    qgemm_dequantize_weights(Wd, wq, ws, N, K);
    gemm_pack(P, Wd, N, K);
    free(Wd), free(ws), free(wq);
}

/* x (M, K) rows lda apart through the grid, into a new (M, K) block (NULL for float) */
static inline float *fq_rows(const float *x, size_t lda, size_t M, size_t K)
{
    int mode = fq_mode();
    if (!mode)
        return NULL;
    uint8_t *q = fq_alloc(M * K);
    float *as = fq_alloc(M * sizeof(float)), *xd = fq_alloc(M * K * sizeof(float));
    int32_t *zp = fq_alloc(M * sizeof(int32_t));
    // s8's activations are u8 [0, 255], as w7's
    qgemm_quantize_rows_ref(q, K, as, zp, x, lda, M, K, mode == 2 ? QGEMM_A7 : QGEMM_W7);
    qgemm_dequantize_rows(xd, K, q, K, as, zp, M, K);
    free(q), free(as), free(zp);
    return xd;
}

static inline void fq_gemm_packed(float *y, const float *x, size_t lda, const float *P,
                                  const float *b, size_t M, size_t K, size_t N)
{
    float *xd = fq_rows(x, lda, M, K);
    gemm_packed(y, xd ? xd : x, xd ? K : lda, P, b, M, K, N);
    free(xd);
}

static inline void fq_gemm_packed_act(float *y, const float *x, size_t lda, const float *P,
                                      const float *b, size_t M, size_t K, size_t N,
                                      void (*act)(float *, const float *, size_t))
{
    float *xd = fq_rows(x, lda, M, K);
    gemm_packed_act(y, xd ? xd : x, xd ? K : lda, P, b, M, K, N, act);
    free(xd);
}

static inline void fq_gemm_packed_ld(float *y, size_t ldy, const float *x, size_t lda,
                                     const float *P, const float *b, size_t M, size_t K, size_t N)
{
    float *xd = fq_rows(x, lda, M, K);
    gemm_packed_ld(y, ldy, xd ? xd : x, xd ? K : lda, P, b, M, K, N);
    free(xd);
}

#define gemm_pack(P, W, N, K) fq_pack(P, W, N, K)
#define gemm_packed(...) fq_gemm_packed(__VA_ARGS__)
#define gemm_packed_act(...) fq_gemm_packed_act(__VA_ARGS__)
#define gemm_packed_ld(...) fq_gemm_packed_ld(__VA_ARGS__)

#endif
