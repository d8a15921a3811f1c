/* Forward/backward kernels; see kernels.h for the conventions.  Linear layers and the
 * attention products are OpenBLAS sgemm calls; the loops are written so that -O2 can
 * vectorise them (unit stride, no aliasing surprises in the hot loops). */
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "nn/attn_direct.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "util/par.h"

/* Elementwise and row kernels are compiled at -O3 without FP trapping (so that GCC's
 * vectoriser may if-convert the selects), in clones picked at load time by CPU feature:
 * AVX2 and the baseline (VEC), plus AVX-512 (VEC_WIDE).  ISO C mode keeps
 * -ffp-contract=off, so all clones round op for op alike; no result depends on the
 * thread count. */
#pragma GCC optimize("O3", "no-trapping-math")
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VEC __attribute__((target_clones("avx2", "default")))
/* The transcendental activations also get an AVX-512 clone (25% faster GELU here); not
 * the row kernels, whose 8-partial-sum loops GCC turns slower at 16 lanes. */
#define VEC_WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VEC
#define VEC_WIDE
#endif

/* after the pragma: the vector math inlines into the kernels under the same options */
#include "nn/vmath.h"

/* ------------------------------------------------------------------------------------
 * linear */

void matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                    size_t N, size_t C, size_t OC)
{
    if (N == 0)
        return;
    float beta = 0.0f;
    if (bias) {
        // seed every row with the bias and let sgemm accumulate onto it (beta = 1)
        for (size_t i = 0; i < N; i++)
            memcpy(out + i * OC, bias, OC * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)OC, (int)C, 1.0f, inp,
                (int)C, w, (int)C, beta, out, (int)OC);
}

void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                     const float *inp, const float *w, size_t N, size_t C, size_t OC)
{
    if (N == 0)
        return;
    // dinp (N, C) += dout (N, OC) @ w (OC, C)
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)C, (int)OC, 1.0f,
                    dout, (int)OC, w, (int)C, 1.0f, dinp, (int)C);
    // dw (OC, C) += dout^T (OC, N) @ inp (N, C)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)OC, (int)C, (int)N, 1.0f, dout,
                (int)OC, inp, (int)C, 1.0f, dw, (int)C);
    if (dbias)
        for (size_t i = 0; i < N; i++) {
            const float *d = dout + i * OC;
            for (size_t o = 0; o < OC; o++)
                dbias[o] += d[o];
        }
}

/* ------------------------------------------------------------------------------------
 * LayerNorm */

VEC static void layernorm_forward_rows(float *out, float *mean, float *rstd,
                                      const float *inp, const float *w, const float *b,
                                      size_t N, size_t C, float eps)
{
    for (size_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        float *o = out + i * C;
        // 8 partial sums in a fixed order: vectorisable and independent of threads
        float acc[8] = { 0 };
        size_t c = 0;
        for (; c + 8 <= C; c += 8)
            for (int k = 0; k < 8; k++)
                acc[k] += x[c + k];
        float s = 0.0f;
        for (; c < C; c++)
            s += x[c];
        for (int k = 0; k < 8; k++)
            s += acc[k];
        float m = s / (float)C;
        float vacc[8] = { 0 };
        for (c = 0; c + 8 <= C; c += 8)
            for (int k = 0; k < 8; k++) {
                float d = x[c + k] - m;
                vacc[k] += d * d;
            }
        float v = 0.0f;
        for (; c < C; c++)
            v += (x[c] - m) * (x[c] - m);
        for (int k = 0; k < 8; k++)
            v += vacc[k];
        float r = 1.0f / sqrtf(v / (float)C + eps);
        for (c = 0; c < C; c++)
            o[c] = (x[c] - m) * r * w[c] + b[c];
        mean[i] = m;
        rstd[i] = r;
    }
}

/* dinp rows [lo, hi) (row-local reductions only) */
VEC static void layernorm_backward_dx(float *dinp, const float *dout, const float *inp,
                                     const float *w, const float *mean, const float *rstd,
                                     size_t lo, size_t hi, size_t C)
{
    for (size_t i = lo; i < hi; i++) {
        const float *x = inp + i * C, *d = dout + i * C;
        float *dx = dinp + i * C;
        float m = mean[i], r = rstd[i];
        // two reductions: mean(dnorm) and mean(dnorm * norm), dnorm = dout * w
        float a1[8] = { 0 }, a2[8] = { 0 };
        size_t c = 0;
        for (; c + 8 <= C; c += 8)
            for (int k = 0; k < 8; k++) {
                float n = (x[c + k] - m) * r, dn = w[c + k] * d[c + k];
                a1[k] += dn;
                a2[k] += dn * n;
            }
        float dsum = 0.0f, dnsum = 0.0f;
        for (; c < C; c++) {
            float n = (x[c] - m) * r, dn = w[c] * d[c];
            dsum += dn;
            dnsum += dn * n;
        }
        for (int k = 0; k < 8; k++) {
            dsum += a1[k];
            dnsum += a2[k];
        }
        dsum /= (float)C;
        dnsum /= (float)C;
        for (c = 0; c < C; c++) {
            float n = (x[c] - m) * r;
            dx[c] += (w[c] * d[c] - dsum - n * dnsum) * r;
        }
    }
}

/* dw, db columns [c0, c1), summed over rows in row order (thread-count independent) */
VEC static void layernorm_backward_dw(float *dw, float *db, const float *dout, const float *inp,
                                     const float *mean, const float *rstd, size_t N, size_t C,
                                     size_t c0, size_t c1)
{
    for (size_t i = 0; i < N; i++) {
        const float *x = inp + i * C, *d = dout + i * C;
        float m = mean[i], r = rstd[i];
        for (size_t c = c0; c < c1; c++) {
            db[c] += d[c];
            dw[c] += (x[c] - m) * r * d[c];
        }
    }
}

typedef struct ln_job {
    float *out, *mean, *rstd, *dw, *db;
    const float *inp, *w, *b, *dout;
    size_t N, C;
    float eps;
} ln_job;

static void ln_fwd_range(void *ctx, size_t lo, size_t hi)
{
    ln_job *j = ctx;
    layernorm_forward_rows(j->out + lo * j->C, j->mean + lo, j->rstd + lo, j->inp + lo * j->C,
                           j->w, j->b, hi - lo, j->C, j->eps);
}

static void ln_dx_range(void *ctx, size_t lo, size_t hi)
{
    ln_job *j = ctx;
    layernorm_backward_dx(j->out, j->dout, j->inp, j->w, j->mean, j->rstd, lo, hi, j->C);
}

static void ln_dw_range(void *ctx, size_t lo, size_t hi)
{
    ln_job *j = ctx;
    // column blocks of 16 floats (64 bytes) so threads never share a cache line
    size_t c0 = lo * 16, c1 = hi * 16 < j->C ? hi * 16 : j->C;
    layernorm_backward_dw(j->dw, j->db, j->dout, j->inp, j->mean, j->rstd, j->N, j->C, c0, c1);
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, size_t N, size_t C, float eps)
{
    ln_job j = { .out = out, .mean = mean, .rstd = rstd, .inp = inp, .w = w, .b = b, .N = N,
                 .C = C, .eps = eps };
    par_for(N, 1 + 16384 / (C ? C : 1), ln_fwd_range, &j);
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, size_t N, size_t C)
{
    ln_job j = { .out = dinp, .mean = (float *)mean, .rstd = (float *)rstd, .dw = dw, .db = db,
                 .inp = inp, .w = w, .dout = dout, .N = N, .C = C };
    par_for(N, 1 + 16384 / (C ? C : 1), ln_dx_range, &j);
    par_for((C + 15) / 16, N >= 64 ? 1 : (C + 15) / 16, ln_dw_range, &j);
}

/* ------------------------------------------------------------------------------------
 * activations */

VEC_WIDE static void gelu_erf_forward_seq(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], z = x * INV_SQRT2;
        out[i] = 0.5f * x * (1.0f + verf(z, vexp(-z * z)));
    }
}

VEC_WIDE static void gelu_erf_backward_seq(float *dinp, const float *dout, const float *inp, size_t n)
{
    // d/dx [x Phi(x)] = Phi(x) + x phi(x); phi and erf share exp(-x^2 / 2)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], z = x * INV_SQRT2, e = vexp(-z * z);
        float cdf = 0.5f * (1.0f + verf(z, e));
        dinp[i] += dout[i] * (cdf + x * INV_SQRT2PI * e);
    }
}

VEC_WIDE static void gelu_tanh_forward_seq(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
        out[i] = 0.5f * x * (1.0f + vtanh(u));
    }
}

VEC_WIDE static void gelu_tanh_backward_seq(float *dinp, const float *dout, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
        float t = vtanh(u);
        float du = SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
}

VEC_WIDE static void tanh_forward_seq(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = vtanh(inp[i]);
}

/* Parallel wrappers: contiguous element ranges, each computed exactly as sequentially. */
typedef struct ew_job {
    void (*f1)(float *, const float *, size_t);
    void (*f2)(float *, const float *, const float *, size_t);
    float *out;
    const float *a, *b;
} ew_job;

static void ew_range(void *ctx, size_t lo, size_t hi)
{
    ew_job *j = ctx;
    if (j->f1)
        j->f1(j->out + lo, j->a + lo, hi - lo);
    else
        j->f2(j->out + lo, j->a + lo, j->b + lo, hi - lo);
}

#define EW_CHUNK 16384   /* elements; below twice this a single thread does it */

void gelu_erf_forward(float *out, const float *inp, size_t n)
{
    ew_job j = { .f1 = gelu_erf_forward_seq, .out = out, .a = inp };
    par_for(n, EW_CHUNK, ew_range, &j);
}

void gelu_erf_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    ew_job j = { .f2 = gelu_erf_backward_seq, .out = dinp, .a = dout, .b = inp };
    par_for(n, EW_CHUNK, ew_range, &j);
}

void gelu_tanh_forward(float *out, const float *inp, size_t n)
{
    ew_job j = { .f1 = gelu_tanh_forward_seq, .out = out, .a = inp };
    par_for(n, EW_CHUNK, ew_range, &j);
}

void gelu_tanh_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    ew_job j = { .f2 = gelu_tanh_backward_seq, .out = dinp, .a = dout, .b = inp };
    par_for(n, EW_CHUNK, ew_range, &j);
}

void tanh_forward(float *out, const float *inp, size_t n)
{
    ew_job j = { .f1 = tanh_forward_seq, .out = out, .a = inp };
    par_for(n, EW_CHUNK, ew_range, &j);
}

VEC void relu_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

VEC void relu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

VEC void tanh_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

act_fn act_serial(int act)
{
    switch (act) {
    case 0: return gelu_erf_forward_seq;
    case 1: return gelu_tanh_forward_seq;
    default: return relu_forward;
    }
}

void act_forward(int act, float *out, const float *inp, size_t n)
{
    switch (act) {
    case 0: gelu_erf_forward(out, inp, n); break;
    case 1: gelu_tanh_forward(out, inp, n); break;
    default: relu_forward(out, inp, n); break;
    }
}

void act_backward(int act, float *dinp, const float *dout, const float *inp, size_t n)
{
    switch (act) {
    case 0: gelu_erf_backward(dinp, dout, inp, n); break;
    case 1: gelu_tanh_backward(dinp, dout, inp, n); break;
    default: relu_backward(dinp, dout, inp, n); break;
    }
}

/* ------------------------------------------------------------------------------------
 * residual, dropout, embedding */

VEC void residual_forward(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

VEC void residual_backward(float *da, float *db, const float *dout, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

void dropout_forward(float *out, uint8_t *mask, const float *inp, float p, size_t n, rng_t *rng)
{
    if (p <= 0.0f) {
        if (out != inp)
            memmove(out, inp, n * sizeof(float));
        memset(mask, 1, n);
        return;
    }
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        uint8_t keep = rng_uniform(rng) >= p;
        mask[i] = keep;
        out[i] = keep ? inp[i] * scale : 0.0f;
    }
}

VEC void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, float p, size_t n)
{
    float scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    for (size_t i = 0; i < n; i++)
        dinp[i] = mask[i] ? dout[i] * scale : 0.0f;
}

VEC void embedding_forward(float *out, const int32_t *ids, const float *table, size_t N, size_t C,
                       int add)
{
    for (size_t i = 0; i < N; i++) {
        const float *row = table + (size_t)ids[i] * C;
        float *o = out + i * C;
        if (add)
            for (size_t c = 0; c < C; c++)
                o[c] += row[c];
        else
            memcpy(o, row, C * sizeof(float));
    }
}

VEC void embedding_backward(float *dtable, const float *dout, const int32_t *ids, size_t N, size_t C)
{
    for (size_t i = 0; i < N; i++) {
        float *row = dtable + (size_t)ids[i] * C;
        const float *d = dout + i * C;
        for (size_t c = 0; c < C; c++)
            row[c] += d[c];
    }
}

/* ------------------------------------------------------------------------------------
 * softmax */

VEC void softmax_forward(float *p, const float *x, size_t rows, size_t n, size_t ld)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * ld;
        float *pr = p + r * ld;
        float mx = xr[0];
        for (size_t j = 1; j < n; j++)
            mx = xr[j] > mx ? xr[j] : mx;
        float acc[8] = { 0 };
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            for (int k = 0; k < 8; k++) {
                pr[j + k] = vexp(xr[j + k] - mx);
                acc[k] += pr[j + k];
            }
        float s = 0.0f;
        for (; j < n; j++) {
            pr[j] = vexp(xr[j] - mx);
            s += pr[j];
        }
        for (int k = 0; k < 8; k++)
            s += acc[k];
        float inv = 1.0f / s;
        for (j = 0; j < n; j++)
            pr[j] *= inv;
    }
}

VEC void softmax_backward(float *dx, const float *dp, const float *p, size_t rows, size_t n, size_t ld)
{
    for (size_t r = 0; r < rows; r++) {
        const float *dpr = dp + r * ld, *pr = p + r * ld;
        float *dxr = dx + r * ld;
        float dot = 0.0f;
        for (size_t j = 0; j < n; j++)
            dot += dpr[j] * pr[j];
        for (size_t j = 0; j < n; j++)
            dxr[j] = pr[j] * (dpr[j] - dot);
    }
}

/* ------------------------------------------------------------------------------------
 * attention */

/* One (sequence, head) pair of the forward.  Dropout draws come from a generator seeded by
 * (call seed, pair index), so pairs may run on any thread in any order. */
typedef struct attn_job {
    float *ctx, *att, *att_drop, *dqkv, *datt;
    const float *qkv, *dctx, *dextra, *att_c, *att_drop_c;
    const attn_batch *ab;
    size_t T;
    float p_drop;
    uint64_t seed;
    int direct;   // attn_direct_take: the pairs without dropout run nn/attn_direct.c's path
} attn_job;

/* Pairs per thread at least: small batches (latency) are not worth waking a thread for. */
static size_t attn_min_chunk(const attn_batch *ab)
{
    size_t pairs = (size_t)ab->B * ab->NH;
    size_t work = ab->att_off[ab->B] * (size_t)ab->hd;   // multiply-adds of QK^T
    return work < (1u << 18) ? pairs : 1;
}

/* Per-thread room for one pair's packed K and V (grown, never shrunk; freed never: a few
 * hundred KiB per pool thread at most). */
static _Thread_local float *attn_pack;
static _Thread_local size_t attn_pack_cap;

static float *attn_scratch(size_t floats)
{
    if (floats > attn_pack_cap) {
        free(attn_pack);
        attn_pack = NULL;
        attn_pack_cap = 0;
        void *p = NULL;
        if (posix_memalign(&p, 64, floats * sizeof(float)) != 0)
            return NULL;
        attn_pack = p;
        attn_pack_cap = floats;
    }
    return attn_pack;
}

/* Without dropout (inference, evaluation) the two products go through the packed GEMM
 * (nn/gemm.h), whose bits do not depend on the CPU's vector width or on OpenBLAS's kernel
 * choice: with the linear layers, a whole inference forward is then the same on every
 * machine.  direct (attn_direct_take): the AVX-512 path of nn/attn_direct.h, K and V read
 * where they lie, with the same bits.  Returns 0 if the scratch could not be had (the
 * caller uses sgemm). */
static int attn_pair_packed(float *a, float *ctx_h, size_t H, const float *q, size_t ldq,
                            size_t nq, size_t nctx, const float *k, const float *v, size_t H3,
                            size_t n, size_t hd, float alpha, int direct)
{
    size_t kn = gemm_packed_floats(n, hd), vn = gemm_packed_floats(hd, n);
    float *pk = attn_scratch(direct ? attn_direct_scratch(n, hd) : kn + vn);
    if (!pk)
        return 0;
    if (direct) {
        attn_direct_pair(a, ctx_h, H, q, ldq, nq, nctx, k, v, H3, n, hd, alpha, pk);
        return 1;
    }
    float *pv = pk + kn;
    gemm_pack_serial(pk, k, H3, n, hd);                        // K (n, hd) as W
    gemm_packed_serial(a, n, q, ldq, pk, NULL, nq, hd, n);     // (nq, n) = q k^T
    for (size_t i = 0; i < nq * n; i++)
        a[i] *= alpha;
    softmax_forward(a, a, nq, n, n);
    gemm_pack_t(pv, v, H3, n, hd);                             // V (n, hd) as W^T
    gemm_packed_serial(ctx_h, H, a, n, pv, NULL, nctx, n, hd); // (nctx, hd) = probs v
    return 1;
}

static void attn_fwd_pairs(void *ctx_, size_t lo, size_t hi)
{
    attn_job *j = ctx_;
    const attn_batch *ab = j->ab;
    int NH = ab->NH, hd = ab->hd, H = NH * hd, H3 = 3 * H;
    float alpha = 1.0f / sqrtf((float)hd);
    for (size_t pair = lo; pair < hi; pair++) {
        int b = (int)(pair / (size_t)NH), h = (int)(pair % (size_t)NH);
        int n = ab->lens[b];
        const float *q0 = j->qkv + ab->tok_off[b] * (size_t)H3;
        float *c0 = j->ctx + ab->tok_off[b] * (size_t)H;
        size_t off = ab->att_off[b] + (size_t)h * n * n;
        float *a = j->att + off;
        const float *q = q0 + h * hd, *k = q0 + H + h * hd, *v = q0 + 2 * H + h * hd;
        if (j->p_drop == 0.0f &&
            attn_pair_packed(a, c0 + h * hd, (size_t)H, q, (size_t)H3, (size_t)n,
                             ab->ctx_first_only ? 1 : (size_t)n, k, v, (size_t)H3, (size_t)n,
                             (size_t)hd, alpha, j->direct))
            continue;
        // scores (n, n) = q (n, hd) @ k^T / sqrt(hd)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, alpha, q, H3, k, H3,
                    0.0f, a, n);
        softmax_forward(a, a, (size_t)n, (size_t)n, (size_t)n);
        const float *pv = a;
        if (j->p_drop > 0.0f) {
            rng_t r;
            rng_seed(&r, j->seed + pair);
            float *d = j->att_drop + off, scale = 1.0f / (1.0f - j->p_drop);
            for (size_t i = 0; i < (size_t)n * n; i++)
                d[i] = rng_uniform(&r) >= j->p_drop ? a[i] * scale : 0.0f;
            pv = d;
        }
        // ctx (n, hd) = probs (n, n) @ v (n, hd)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, n, 1.0f, pv, n, v, H3,
                    0.0f, c0 + h * hd, H);
    }
}

void attention_forward(float *ctx, float *att, float *att_drop, const float *qkv,
                       const attn_batch *ab, float p_drop, rng_t *rng)
{
    attn_job j = { .ctx = ctx, .att = att, .att_drop = att_drop, .qkv = qkv, .ab = ab,
                   .p_drop = p_drop, .seed = p_drop > 0.0f ? rng_u64(rng) : 0,
                   .direct = p_drop == 0.0f && attn_direct_take((size_t)ab->hd) };
    // heads in parallel, each sgemm single-threaded in its caller
    size_t pairs = (size_t)ab->B * ab->NH;
    int blas = par_blas_single();
    // sequences differ in length: pairs go to whichever thread is free (each pair's
    // dropout has its own seed, so the bits do not depend on who runs it)
    par_for_dynamic(pairs, attn_min_chunk(ab), attn_fwd_pairs, &j);
    par_blas_restore(blas);
}

typedef struct {
    float *ctx;
    const float *q, *kv;
    const attn_batch *ab;
    float *scores;   // pair (b, h): len_b floats at NH tok_off[b] + h len_b
    int direct;      // attn_direct_take
    atomic_int failed;   // a pair could not get its scratch (set by any thread)
} attn_cls_job;

static void attn_cls_pairs(void *ctx_, size_t lo, size_t hi)
{
    attn_cls_job *j = ctx_;
    const attn_batch *ab = j->ab;
    size_t NH = (size_t)ab->NH, hd = (size_t)ab->hd, H = NH * hd, H3 = 3 * H;
    float alpha = 1.0f / sqrtf((float)hd);
    for (size_t pair = lo; pair < hi; pair++) {
        size_t b = pair / NH, h = pair % NH, n = (size_t)ab->lens[b];
        const float *k = j->kv + ab->tok_off[b] * H3 + H + h * hd;
        if (!attn_pair_packed(j->scores + NH * ab->tok_off[b] + h * n, j->ctx + b * H + h * hd, H,
                              j->q + b * H + h * hd, H, 1, 1, k, k + H, H3, n, hd, alpha,
                              j->direct))
            j->failed = 1;
    }
}

int attention_cls_forward(float *ctx, const float *q, const float *kv, float *scores,
                          const attn_batch *ab)
{
    attn_cls_job j = { .ctx = ctx, .q = q, .kv = kv, .ab = ab, .scores = scores,
                       .direct = attn_direct_take((size_t)ab->hd) };
    atomic_init(&j.failed, 0);
    size_t pairs = (size_t)ab->B * ab->NH;
    size_t work = 2 * (ab->tok_off[ab->B] * (size_t)ab->NH * ab->hd);   // K and V packed
    par_for_dynamic(pairs, work < (1u << 16) ? pairs : 1, attn_cls_pairs, &j);
    return j.failed ? -1 : 0;
}

static void attn_bwd_pairs(void *ctx_, size_t lo, size_t hi)
{
    attn_job *j = ctx_;
    const attn_batch *ab = j->ab;
    int NH = ab->NH, hd = ab->hd, H = NH * hd, H3 = 3 * H;
    float alpha = 1.0f / sqrtf((float)hd), p_drop = j->p_drop;
    float scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
    size_t T = j->T;
    for (size_t pair = lo; pair < hi; pair++) {
        int b = (int)(pair / (size_t)NH), h = (int)(pair % (size_t)NH);
        int n = ab->lens[b];
        size_t t0 = ab->tok_off[b];
        const float *q0 = j->qkv + t0 * H3;
        float *dq0 = j->dqkv + t0 * H3;
        const float *dc = j->dctx + t0 * H + h * hd;
        size_t off = ab->att_off[b] + (size_t)h * n * n;
        const float *a = j->att_c + off;
        const float *pv = p_drop > 0.0f ? j->att_drop_c + off : a;
        float *da = j->datt + off;
        const float *q = q0 + h * hd, *k = q0 + H + h * hd, *v = q0 + 2 * H + h * hd;
        float *dq = dq0 + h * hd, *dk = dq0 + H + h * hd, *dv = dq0 + 2 * H + h * hd;
        // dprobs_used (n, n) = dctx (n, hd) @ v^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, 1.0f, dc, H, v, H3,
                    0.0f, da, n);
        // dv (n, hd) += probs_used^T (n, n) @ dctx (n, hd)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, n, 1.0f, pv, n, dc, H,
                    1.0f, dv, H3);
        if (j->dextra) {
            const float *ex = j->dextra + (((size_t)b * NH + h) * T) * T;
            for (int i = 0; i < n; i++)
                for (int jj = 0; jj < n; jj++)
                    da[i * n + jj] += ex[(size_t)i * T + jj];
        }
        if (p_drop > 0.0f)
            for (size_t i = 0; i < (size_t)n * n; i++)
                da[i] = pv[i] != 0.0f ? da[i] * scale : 0.0f;
        softmax_backward(da, da, a, (size_t)n, (size_t)n, (size_t)n);
        // dq (n, hd) += dscores @ k * alpha; dk (n, hd) += dscores^T @ q * alpha
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, n, alpha, da, n, k, H3,
                    1.0f, dq, H3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, n, alpha, da, n, q, H3,
                    1.0f, dk, H3);
    }
}

void attention_backward(float *dqkv, float *datt, const float *dctx, const float *dextra,
                        size_t T, const float *att, const float *att_drop, const float *qkv,
                        const attn_batch *ab, float p_drop)
{
    // pairs write disjoint blocks: their head's columns of dqkv, their own datt block
    attn_job j = { .dqkv = dqkv, .datt = datt, .dctx = dctx, .dextra = dextra, .T = T,
                   .att_c = att, .att_drop_c = att_drop, .qkv = qkv, .ab = ab, .p_drop = p_drop };
    int blas = par_blas_single();
    par_for((size_t)ab->B * ab->NH, attn_min_chunk(ab), attn_bwd_pairs, &j);
    par_blas_restore(blas);
}
