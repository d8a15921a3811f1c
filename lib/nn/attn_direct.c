/* Inference attention of one (sequence, head) pair on AVX-512, K and V read in place; see
 * attn_direct.h for what it computes and why its bits are the packed path's. */
#include <stdatomic.h>
#include <stdint.h>

#include "nn/attn_direct.h"
#include "nn/gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define AD_X86 1
#endif

#define ROWS 8   /* query rows per group: scores, softmax and context while in L1 */

static int cpu_ok = -1;     // AVX-512 F, BW, DQ, VL: unknown (-1), no, yes
static int switched_off;    // attn_direct_set(0)
static atomic_ulong uses;

static int cpu_can(void)
{
    if (cpu_ok < 0) {
#ifdef AD_X86
        __builtin_cpu_init();
        cpu_ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
        cpu_ok = 0;
#endif
    }
    return cpu_ok;
}

int attn_direct_take(size_t hd)
{
    if (switched_off || !cpu_can() || hd == 0 || hd % 16 != 0)
        return 0;
    atomic_fetch_add_explicit(&uses, 1, memory_order_relaxed);
    return 1;
}

int attn_direct_set(int on)
{
    switched_off = !on;
    return on && !cpu_can() ? -1 : 0;
}

unsigned long attn_direct_uses(void) { return atomic_load(&uses); }

#ifdef AD_X86
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define AVX512_INLINE \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"), always_inline)) static inline
/* the loops over registers must unroll, so that arrays of vectors stay in registers */
#define UNROLL _Pragma("GCC unroll 16")

/* the first m lanes (all 16 from m = 16 on) */
static inline __mmask16 lanes(size_t m) { return (__mmask16)(m >= 16 ? 0xffffu : (1u << m) - 1); }

/* ------------------------------------------------------------------------------------
 * K into GEMM panels: kt[panel][d][j] = K[16 panel + j][d], zeros past n (gemm_pack's
 * layout), 16 x 16 blocks transposed in registers */

/* r[i] lane j becomes r[j] lane i */
AVX512_INLINE void transpose16(__m512 r[16])
{
    __m512 t[16];
    // per 128-bit lane l: t[2m] = rows 2m, 2m+1 at columns 4l, 4l+1; t[2m+1] at 4l+2, 4l+3
    UNROLL for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    // r[4g + c], lane l: rows 4g .. 4g+3 at column 4l + c
    UNROLL for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 2]);
        __m512d c = _mm512_castps_pd(t[i + 1]), d = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    // column 4l + c: lane l of r[c], r[4 + c], r[8 + c], r[12 + c]
    UNROLL for (int c = 0; c < 4; c++) {
        __m512 e0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);       // lanes 0, 2
        __m512 o0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);       // lanes 1, 3
        __m512 e1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        __m512 o1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
        t[c] = _mm512_shuffle_f32x4(e0, e1, 0x88);
        t[8 + c] = _mm512_shuffle_f32x4(e0, e1, 0xdd);
        t[4 + c] = _mm512_shuffle_f32x4(o0, o1, 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(o0, o1, 0xdd);
    }
    UNROLL for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

AVX512 static void pack_k(float *kt, const float *k, size_t ldk, size_t n, size_t hd)
{
    for (size_t c0 = 0; c0 < n; c0 += 16) {
        size_t nk = n - c0 < 16 ? n - c0 : 16;
        const float *kb = k + c0 * ldk;
        float *dst = kt + c0 * hd;   // panel c0 / 16
        for (size_t d = 0; d < hd; d += 16) {
            __m512 r[16];
            if (nk == 16) {
                UNROLL for (size_t i = 0; i < 16; i++)
                    r[i] = _mm512_loadu_ps(kb + i * ldk + d);
            } else {
                UNROLL for (size_t i = 0; i < 16; i++)
                    r[i] = i < nk ? _mm512_loadu_ps(kb + i * ldk + d) : _mm512_setzero_ps();
            }
            transpose16(r);
            UNROLL for (size_t i = 0; i < 16; i++)
                _mm512_store_ps(dst + (d + i) * 16, r[i]);
        }
    }
}

/* ------------------------------------------------------------------------------------
 * scores: x[r][c0 ..) = alpha * (q[r] . k[c]) for mr <= ROWS rows, np panels (16 keys each)
 * from key c0, into the group's buffer x (rows ldx floats apart, 64-byte aligned; the
 * lanes past n get 0 from the panels' zeros); each dot product one FMA chain over d from
 * 0, as gemm.c's kernels */

AVX512_INLINE void scores_tile(float *x, size_t ldx, const float *q, size_t ldq, const float *kt,
                               size_t hd, size_t c0, float alpha, const size_t mr,
                               const size_t np)
{
    __m512 s0[ROWS], s1[ROWS];
    UNROLL for (size_t r = 0; r < mr; r++)
        s0[r] = s1[r] = _mm512_setzero_ps();
    const float *p0 = kt + c0 * hd, *p1 = p0 + 16 * hd;
    for (size_t d = 0; d < hd; d++) {
        __m512 b0 = _mm512_load_ps(p0 + 16 * d);
        __m512 b1 = np == 2 ? _mm512_load_ps(p1 + 16 * d) : b0;
        UNROLL for (size_t r = 0; r < mr; r++) {
            __m512 w = _mm512_set1_ps(q[r * ldq + d]);
            s0[r] = _mm512_fmadd_ps(w, b0, s0[r]);
            if (np == 2)
                s1[r] = _mm512_fmadd_ps(w, b1, s1[r]);
        }
    }
    // the packed path's a[i] *= alpha after the product: one rounded multiply
    __m512 va = _mm512_set1_ps(alpha);
    UNROLL for (size_t r = 0; r < mr; r++) {
        _mm512_store_ps(x + r * ldx + c0, _mm512_mul_ps(s0[r], va));
        if (np == 2)
            _mm512_store_ps(x + r * ldx + c0 + 16, _mm512_mul_ps(s1[r], va));
    }
}

#define SCORES_CASES(np)                                                  \
    switch (mr) {                                                         \
    case 8: scores_tile(x, ldx, q, ldq, kt, hd, c0, alpha, 8, np); break; \
    case 7: scores_tile(x, ldx, q, ldq, kt, hd, c0, alpha, 7, np); break; \
    case 6: scores_tile(x, ldx, q, ldq, kt, hd, c0, alpha, 6, np); break; \
    case 5: scores_tile(x, ldx, q, ldq, kt, hd, c0, alpha, 5, np); break; \
    case 4: scores_tile(x, ldx, q, ldq, kt, hd, c0, alpha, 4, np); break; \
    case 3: scores_tile(x, ldx, q, ldq, kt, hd, c0, alpha, 3, np); break; \
    case 2: scores_tile(x, ldx, q, ldq, kt, hd, c0, alpha, 2, np); break; \
    default: scores_tile(x, ldx, q, ldq, kt, hd, c0, alpha, 1, np); break; \
    }

/* rows [0, mr) of x, every key */
AVX512 static void scores_rows(float *x, size_t ldx, const float *q, size_t ldq, const float *kt,
                               size_t hd, size_t n, size_t mr, float alpha)
{
    for (size_t c0 = 0; c0 < n; c0 += 32) {
        if (n - c0 > 16)
            SCORES_CASES(2)
        else
            SCORES_CASES(1)
    }
}

/* ------------------------------------------------------------------------------------
 * softmax over rows: softmax_forward's operations (nn/kernels.c), 16 lanes wide */

/* nn/vmath.h's vexp, op for op (separate multiplies and adds, as ISO C compiles it) */
AVX512_INLINE __m512 vexp16(__m512 x)
{
    // x < -87 ? -87 : x, then x > 88 ? 88 : x: max/min return their second operand
    // unless the first is greater / smaller, so a NaN passes as in the C
    x = _mm512_max_ps(_mm512_set1_ps(-87.0f), x);
    x = _mm512_min_ps(_mm512_set1_ps(88.0f), x);
    __m512 big = _mm512_set1_ps(12582912.0f);
    __m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                           big), big);
    __m512 r = _mm512_sub_ps(_mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693145751953125f))),
                             _mm512_mul_ps(n, _mm512_set1_ps(1.428606765330187045e-06f)));
    __m512 q = _mm512_set1_ps(1.9875691500e-4f);
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(1.3981999507e-3f));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(8.3334519073e-3f));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(4.1665795894e-2f));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(1.6666665459e-1f));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(5.0000001201e-1f));
    q = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(q, r), r), r), _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(q, _mm512_castsi512_ps(e));
}

/* p (rows, n), rows ldp apart = the softmax of each row of x (rows, n), rows ldx apart
 * (64-byte aligned, padded to whole vectors); x receives the probabilities too.  Phase by
 * phase over the rows, so that the rows' dependency chains (max, exp, sum, division)
 * overlap. */
AVX512 static void softmax_rows(float *p, size_t ldp, float *x, size_t ldx, size_t n, size_t rows)
{
    size_t nf = n / 16 * 16;   // whole vectors, then a partial one
    __mmask16 tail = lanes(n - nf);
    float mx[ROWS], sum[ROWS];
    __m256 acc[ROWS];
    // max: mx = x[j] > mx ? x[j] : mx from mx = x[0], per lane, then across lanes (a max's
    // value does not depend on the order; its sign at 0 does, and vexp(+-0) = 1 alike)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        __m512 vm = _mm512_set1_ps(xr[0]);
        for (size_t j = 0; j < nf; j += 16)
            vm = _mm512_max_ps(_mm512_load_ps(xr + j), vm);
        if (tail)
            vm = _mm512_mask_max_ps(vm, tail, _mm512_load_ps(xr + nf), vm);
        mx[r] = _mm512_reduce_max_ps(vm);
    }
    // exp in place, and acc[k] += e[8 i + k] over the whole blocks of 8: softmax_forward's 8
    // partial sums
    for (size_t r = 0; r < rows; r++) {
        float *xr = x + r * ldx;
        __m512 m = _mm512_set1_ps(mx[r]);
        __m256 a = _mm256_setzero_ps();
        for (size_t j = 0; j < nf; j += 16) {
            __m512 e = vexp16(_mm512_sub_ps(_mm512_load_ps(xr + j), m));
            _mm512_store_ps(xr + j, e);
            a = _mm256_add_ps(a, _mm512_castps512_ps256(e));
            a = _mm256_add_ps(a, _mm512_extractf32x8_ps(e, 1));
        }
        if (tail) {
            __m512 e = vexp16(_mm512_sub_ps(_mm512_load_ps(xr + nf), m));
            _mm512_store_ps(xr + nf, e);
            if (n - nf >= 8)
                a = _mm256_add_ps(a, _mm512_castps512_ps256(e));
        }
        acc[r] = a;
    }
    // the last n % 8 in order into a sum from 0, then the 8 partial sums in order
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        float part[8], s = 0.0f;
        for (size_t j = n / 8 * 8; j < n; j++)
            s += xr[j];
        _mm256_storeu_ps(part, acc[r]);
        for (int k = 0; k < 8; k++)
            s += part[k];
        sum[r] = s;
    }
    // one division, a multiply per value
    for (size_t r = 0; r < rows; r++) {
        float *xr = x + r * ldx, *pr = p + r * ldp;
        __m512 inv = _mm512_set1_ps(1.0f / sum[r]);
        for (size_t j = 0; j < nf; j += 16) {
            __m512 e = _mm512_mul_ps(_mm512_load_ps(xr + j), inv);
            _mm512_store_ps(xr + j, e);
            _mm512_storeu_ps(pr + j, e);
        }
        if (tail) {
            __m512 e = _mm512_mul_ps(_mm512_load_ps(xr + nf), inv);
            _mm512_store_ps(xr + nf, e);
            _mm512_mask_storeu_ps(pr + nf, tail, e);
        }
    }
}

/* ------------------------------------------------------------------------------------
 * context: c[r][16 cb ..) = sum_k p[r][k] v[k][16 cb ..) for mr rows, ncb blocks of 16
 * columns, V read in place; one FMA chain over k from 0 per element, as gemm.c's kernels */

AVX512_INLINE void ctx_tile(float *c, size_t ldc, const float *p, size_t ldp, size_t n,
                            const float *v, size_t ldv, const size_t mr, const size_t ncb)
{
    __m512 acc[ROWS][4];
    UNROLL for (size_t r = 0; r < mr; r++)
        UNROLL for (size_t b = 0; b < ncb; b++)
            acc[r][b] = _mm512_setzero_ps();
    for (size_t k = 0; k < n; k++) {
        __m512 w[4];
        UNROLL for (size_t b = 0; b < ncb; b++)
            w[b] = _mm512_loadu_ps(v + k * ldv + 16 * b);
        UNROLL for (size_t r = 0; r < mr; r++) {
            __m512 x = _mm512_set1_ps(p[r * ldp + k]);
            UNROLL for (size_t b = 0; b < ncb; b++)
                acc[r][b] = _mm512_fmadd_ps(x, w[b], acc[r][b]);
        }
    }
    UNROLL for (size_t r = 0; r < mr; r++)
        UNROLL for (size_t b = 0; b < ncb; b++)
            _mm512_storeu_ps(c + r * ldc + 16 * b, acc[r][b]);
}

#define CTX_CASES(ncb)                                             \
    switch (mr) {                                                  \
    case 8: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 8, ncb); break;      \
    case 7: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 7, ncb); break;      \
    case 6: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 6, ncb); break;      \
    case 5: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 5, ncb); break;      \
    case 4: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 4, ncb); break;      \
    case 3: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 3, ncb); break;      \
    case 2: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 2, ncb); break;      \
    default: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 1, ncb); break;     \
    }

/* rows [0, rows) of c, rows <= ROWS: 4 column blocks at a time on 4 rows (16 accumulators,
 * 4 loads and 4 broadcasts per 16 FMAs), else 2 or 1 on up to 8 rows */
AVX512 static void ctx_rows(float *c, size_t ldc, const float *p, size_t ldp, size_t n,
                            const float *v, size_t ldv, size_t rows, size_t hd)
{
    for (size_t b0 = 0, ncb; b0 < hd / 16; b0 += ncb) {
        size_t left = hd / 16 - b0, step;
        ncb = left >= 4 ? 4 : left >= 2 ? 2 : 1;
        step = ncb == 4 ? 4 : ROWS;
        for (size_t r0 = 0; r0 < rows; r0 += step) {
            size_t mr = rows - r0 < step ? rows - r0 : step;
            float *cr = c + r0 * ldc + 16 * b0;
            const float *pr = p + r0 * ldp, *vb = v + 16 * b0;
            if (ncb == 4) {
                switch (mr) {
                case 4: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 4, 4); break;
                case 3: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 3, 4); break;
                case 2: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 2, 4); break;
                default: ctx_tile(cr, ldc, pr, ldp, n, vb, ldv, 1, 4); break;
                }
            } else if (ncb == 2)
                CTX_CASES(2)
            else
                CTX_CASES(1)
        }
    }
}

size_t attn_direct_scratch(size_t n, size_t hd)
{
    return gemm_packed_floats(n, hd) + ROWS * ((n + 15) / 16 * 16);
}

void attn_direct_pair(float *a, float *ctx, size_t ldc, const float *q, size_t ldq, size_t nq,
                      size_t nctx, const float *k, const float *v, size_t ldkv, size_t n,
                      size_t hd, float alpha, float *scratch)
{
    // K's panels, then a group's scores and probabilities, rows ldx apart
    float *kt = scratch, *x = scratch + gemm_packed_floats(n, hd);
    size_t ldx = (n + 15) / 16 * 16;
    // Q's and V's rows are read after K's: ask for them now (from L2 or further: the rows
    // of qkv are 3 H floats apart, too far for the hardware to guess the next)
    for (size_t i = 0; i < nq; i++)
        for (size_t d = 0; d < hd; d += 16)
            _mm_prefetch((const char *)(q + i * ldq + d), _MM_HINT_T0);
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < hd; d += 16)
            _mm_prefetch((const char *)(v + i * ldkv + d), _MM_HINT_T0);
    pack_k(kt, k, ldkv, n, hd);
    for (size_t r0 = 0; r0 < nq; r0 += ROWS) {
        size_t mr = nq - r0 < ROWS ? nq - r0 : ROWS;
        scores_rows(x, ldx, q + r0 * ldq, ldq, kt, hd, n, mr, alpha);
        softmax_rows(a + r0 * n, n, x, ldx, n, mr);
        if (r0 < nctx)
            ctx_rows(ctx + r0 * ldc, ldc, x, ldx, n, v, ldkv, nctx - r0 < mr ? nctx - r0 : mr, hd);
    }
}
#else
size_t attn_direct_scratch(size_t n, size_t hd) { return gemm_packed_floats(n, hd); }

void attn_direct_pair(float *a, float *ctx, size_t ldc, const float *q, size_t ldq, size_t nq,
                      size_t nctx, const float *k, const float *v, size_t ldkv, size_t n,
                      size_t hd, float alpha, float *scratch)
{
    // never called: attn_direct_take() is 0 off x86-64
    (void)a, (void)ctx, (void)ldc, (void)q, (void)ldq, (void)nq, (void)nctx, (void)k, (void)v;
    (void)ldkv, (void)n, (void)hd, (void)alpha, (void)scratch;
}
#endif
