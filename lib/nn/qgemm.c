/* The int8 inference GEMM; see qgemm.h for what it promises.
 *
 * Blocking follows nn/gemm.c: rows of q in chunks that stay in L2 while the panels of a
 * column group stream past, a unit of work is (row chunk, group of GROUP panels) handed to
 * whichever thread is free, and a micro-kernel walks down the chunk MR rows at a time
 * over one panel (two for AVX-512), accumulating a tile in int32 registers.  The tile is
 * then stored to a small buffer and finished by the epilogue (zero point, scales, bias),
 * which is the same arithmetic on every path. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/qgemm.h"
#include "util/util.h"
#include "util/par.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define QGEMM_X86 1
#endif

#define GROUP 4                   /* panels per unit of work: 64 output columns */
#define CHUNK_BYTES (128 * 1024)  /* a row chunk of q */
#define MR_MAX 8
#define HEAD 64                   /* bytes of the packed weight's header */
#define MAGIC 0x38516d65u         /* "emQ8" */
#define UNROLL _Pragma("GCC unroll 8")

typedef struct {
    uint32_t magic, scheme;
    uint64_t N, K;
} qhead;

/* ------------------------------------------------------------------------------------
 * schemes */

int qgemm_amax(enum qgemm_scheme s) { return s == QGEMM_A7 ? 127 : 255; }
int qgemm_wmax(enum qgemm_scheme s) { return s == QGEMM_A7 ? 127 : 63; }
const char *qgemm_scheme_name(enum qgemm_scheme s) { return s == QGEMM_A7 ? "a7" : "w7"; }

/* ------------------------------------------------------------------------------------
 * weights */

void qgemm_quantize_weights(int8_t *wq, float *wscale, const float *W, size_t N, size_t K,
                            enum qgemm_scheme s)
{
    int wmax = qgemm_wmax(s);
    for (size_t n = 0; n < N; n++) {
        const float *w = W + n * K;
        float m = 0.0f;
        for (size_t k = 0; k < K; k++)
            m = fabsf(w[k]) > m ? fabsf(w[k]) : m;
        float sc = m / (float)wmax;
        wscale[n] = sc;
        for (size_t k = 0; k < K; k++) {
            long v = sc > 0.0f ? lrintf(w[k] / sc) : 0;
            wq[n * K + k] = (int8_t)(v < -wmax ? -wmax : v > wmax ? wmax : v);
        }
    }
}

void qgemm_dequantize_weights(float *W, const int8_t *wq, const float *wscale, size_t N, size_t K)
{
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < K; k++)
            W[n * K + k] = wscale[n] * (float)wq[n * K + k];
}

/* ------------------------------------------------------------------------------------
 * activations: one row's parameters from its min and max, then the codes */

static void row_params(float lo, float hi, int amax, float *scale, float *inv, int32_t *zp)
{
    float range = hi - lo;
    float sc = range > 0.0f ? range / (float)amax : 1.0f;
    float iv = 1.0f / sc;
    long z = lrintf(-lo * iv);
    *scale = sc;
    *inv = iv;
    *zp = (int32_t)(z < 0 ? 0 : z > amax ? amax : z);
}

static inline uint8_t code(float x, float inv, int32_t zp, int amax)
{
    long v = lrintf(x * inv) + zp;
    return (uint8_t)(v < 0 ? 0 : v > amax ? amax : v);
}

static void qrow_scalar(uint8_t *q, float *ascale, int32_t *zp, const float *x, size_t K, int amax)
{
    float lo = 0.0f, hi = 0.0f, inv;
    for (size_t k = 0; k < K; k++) {
        lo = x[k] < lo ? x[k] : lo;
        hi = x[k] > hi ? x[k] : hi;
    }
    row_params(lo, hi, amax, ascale, &inv, zp);
    for (size_t k = 0; k < K; k++)
        q[k] = code(x[k], inv, *zp, amax);
}

#ifdef QGEMM_X86
__attribute__((target("avx2"))) static void qrow_avx2(uint8_t *q, float *ascale, int32_t *zp,
                                                       const float *x, size_t K, int amax)
{
    __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps();
    size_t k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 v = _mm256_loadu_ps(x + k);
        vlo = _mm256_min_ps(vlo, v);
        vhi = _mm256_max_ps(vhi, v);
    }
    float l8[8], h8[8], lo = 0.0f, hi = 0.0f, inv;
    _mm256_storeu_ps(l8, vlo);
    _mm256_storeu_ps(h8, vhi);
    for (int i = 0; i < 8; i++) {   // min and max do not depend on the order
        lo = l8[i] < lo ? l8[i] : lo;
        hi = h8[i] > hi ? h8[i] : hi;
    }
    for (; k < K; k++) {
        lo = x[k] < lo ? x[k] : lo;
        hi = x[k] > hi ? x[k] : hi;
    }
    row_params(lo, hi, amax, ascale, &inv, zp);
    __m256 vinv = _mm256_set1_ps(inv);
    __m256i vzp = _mm256_set1_epi32(*zp), vmax = _mm256_set1_epi32(amax), vzero = _mm256_setzero_si256();
    for (k = 0; k + 8 <= K; k += 8) {
        // cvtps2dq rounds to nearest even, as lrintf in the default rounding mode
        __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv));
        v = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(v, vzp), vzero), vmax);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(q + k), _mm_packus_epi16(w, w));
    }
    for (; k < K; k++)
        q[k] = code(x[k], inv, *zp, amax);
}
#endif

typedef struct {
    uint8_t *q;
    size_t ldq;
    float *ascale;
    int32_t *zp;
    const float *x;
    size_t ldx, K;
    int amax, simd;
} qrows_job;

static void qrows_range(void *ctx, size_t lo, size_t hi)
{
    const qrows_job *j = ctx;
    for (size_t m = lo; m < hi; m++) {
#ifdef QGEMM_X86
        if (j->simd) {
            qrow_avx2(j->q + m * j->ldq, j->ascale + m, j->zp + m, j->x + m * j->ldx, j->K, j->amax);
            continue;
        }
#endif
        qrow_scalar(j->q + m * j->ldq, j->ascale + m, j->zp + m, j->x + m * j->ldx, j->K, j->amax);
    }
}

void qgemm_quantize_rows(uint8_t *q, size_t ldq, float *ascale, int32_t *zp, const float *x,
                         size_t ldx, size_t M, size_t K, enum qgemm_scheme s)
{
    qrows_job j = { q, ldq, ascale, zp, x, ldx, K, qgemm_amax(s), qgemm_isa() != QGEMM_SCALAR };
    par_for(M, 1 + 16384 / (K ? K : 1), qrows_range, &j);
}

void qgemm_quantize_row(uint8_t *q, float *ascale, int32_t *zp, const float *x, size_t K,
                        enum qgemm_scheme s)
{
    qrows_job j = { q, 0, ascale, zp, x, 0, K, qgemm_amax(s), qgemm_isa() != QGEMM_SCALAR };
    qrows_range(&j, 0, 1);
}

void qgemm_quantize_rows_ref(uint8_t *q, size_t ldq, float *ascale, int32_t *zp, const float *x,
                             size_t ldx, size_t M, size_t K, enum qgemm_scheme s)
{
    for (size_t m = 0; m < M; m++)
        qrow_scalar(q + m * ldq, ascale + m, zp + m, x + m * ldx, K, qgemm_amax(s));
}

void qgemm_dequantize_rows(float *x, size_t ldx, const uint8_t *q, size_t ldq,
                           const float *ascale, const int32_t *zp, size_t M, size_t K)
{
    for (size_t m = 0; m < M; m++)
        for (size_t k = 0; k < K; k++)
            x[m * ldx + k] = ascale[m] * (float)((int32_t)q[m * ldq + k] - zp[m]);
}

/* ------------------------------------------------------------------------------------
 * packing */

static size_t npanels(size_t N) { return (N + QGEMM_NR - 1) / QGEMM_NR; }
static size_t nquads(size_t K) { return (K + QGEMM_KG - 1) / QGEMM_KG; }
static size_t panel_bytes(size_t K) { return nquads(K) * QGEMM_KG * QGEMM_NR; }

size_t qgemm_packed_bytes(size_t N, size_t K)
{
    return HEAD + npanels(N) * panel_bytes(K) + npanels(N) * QGEMM_NR * (sizeof(int32_t) + sizeof(float));
}

static const int8_t *panels_of(const void *P) { return (const int8_t *)P + HEAD; }

const int32_t *qgemm_packed_colsum(const void *P)
{
    const qhead *h = P;
    return (const int32_t *)(panels_of(P) + npanels(h->N) * panel_bytes(h->K));
}

const float *qgemm_packed_wscale(const void *P)
{
    const qhead *h = P;
    return (const float *)(qgemm_packed_colsum(P) + npanels(h->N) * QGEMM_NR);
}

size_t qgemm_packed_n(const void *P) { return ((const qhead *)P)->N; }
size_t qgemm_packed_k(const void *P) { return ((const qhead *)P)->K; }
enum qgemm_scheme qgemm_packed_scheme(const void *P) { return (enum qgemm_scheme)((const qhead *)P)->scheme; }

int qgemm_pack(void *P, const int8_t *wq, size_t ldw, const float *wscale, size_t N, size_t K,
               enum qgemm_scheme s)
{
    int lim = qgemm_wmax(s);
    qhead h = { MAGIC, (uint32_t)s, N, K };
    memset(P, 0, qgemm_packed_bytes(N, K));
    memcpy(P, &h, sizeof h);
    int8_t *pan = (int8_t *)P + HEAD;
    int32_t *colsum = (int32_t *)qgemm_packed_colsum(P);
    float *ws = (float *)qgemm_packed_wscale(P);
    size_t pb = panel_bytes(K);
    for (size_t n = 0; n < N; n++) {
        int8_t *dst = pan + n / QGEMM_NR * pb + (n % QGEMM_NR) * QGEMM_KG;
        int32_t sum = 0;
        for (size_t k = 0; k < K; k++) {
            int v = wq[n * ldw + k];
            if (v < -lim - 1 || v > lim)
                return -1;
            dst[k / QGEMM_KG * (QGEMM_KG * QGEMM_NR) + k % QGEMM_KG] = (int8_t)v;
            sum += v;
        }
        colsum[n] = sum;
        ws[n] = wscale[n];
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * micro-kernels: acc[r][0..width) = sum_k q[r][k] wq[c0 + .][k], r < mr, into buf (int32,
 * mr rows of width = 16 per panel) */

typedef struct {
    const uint8_t *q;     /* the tile's first row */
    size_t lda;
    const int8_t *p;      /* first panel; the second one (AVX-512) is pb bytes on */
    size_t pb;
    size_t kq, ktail;     /* full quads of K, and K % 4 */
} qtile;

static inline int32_t quad_at(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* the last K % 4 (1 to 3) codes of a row, zero-padded (the packed weights there are 0);
 * bytes in memory order, as a little-endian broadcast lays them out (no memcpy call) */
static inline int32_t tail_at(const uint8_t *p, size_t n)
{
    uint32_t v = p[0];
    if (n > 1)
        v |= (uint32_t)p[1] << 8;
    if (n > 2)
        v |= (uint32_t)p[2] << 16;
    return (int32_t)v;
}

static void kernel_scalar(const qtile *t, size_t mr, int32_t *buf)
{
    size_t K = t->kq * QGEMM_KG + t->ktail;
    for (size_t r = 0; r < mr; r++)
        for (size_t j = 0; j < QGEMM_NR; j++) {
            int32_t acc = 0;
            for (size_t k = 0; k < K; k++)
                acc += (int32_t)t->q[r * t->lda + k] *
                       t->p[k / QGEMM_KG * (QGEMM_KG * QGEMM_NR) + j * QGEMM_KG + k % QGEMM_KG];
            buf[r * QGEMM_NR + j] = acc;
        }
}

#ifdef QGEMM_X86
/* AVX2: vpmaddubsw multiplies the u8 codes by the s8 weights and adds adjacent pairs into
 * int16 (exact within the scheme: no saturation), vpmaddwd by 1 adds those pairs into
 * int32.  4 rows x 16 columns: 8 accumulators, 2 weights, the broadcast, ones, a temp. */
#define AVX2_MR 4
#define AVX2_STEP(AV)                                                                   \
    UNROLL for (size_t r = 0; r < mr; r++) {                                            \
        __m256i a = _mm256_set1_epi32(AV);                                              \
        c0[r] = _mm256_add_epi32(c0[r], _mm256_madd_epi16(_mm256_maddubs_epi16(a, w0), ones)); \
        c1[r] = _mm256_add_epi32(c1[r], _mm256_madd_epi16(_mm256_maddubs_epi16(a, w1), ones)); \
    }

__attribute__((target("avx2"), always_inline)) static inline void
kernel_avx2_mr(const qtile *t, const size_t mr, int32_t *buf)
{
    __m256i c0[AVX2_MR], c1[AVX2_MR];
    const uint8_t *xr[AVX2_MR];
    const __m256i ones = _mm256_set1_epi16(1);
    UNROLL for (size_t r = 0; r < mr; r++) {
        c0[r] = c1[r] = _mm256_setzero_si256();
        xr[r] = t->q + r * t->lda;
    }
    const int8_t *p = t->p;
    for (size_t g = 0; g < t->kq; g++, p += QGEMM_KG * QGEMM_NR) {
        __m256i w0 = _mm256_load_si256((const __m256i *)p), w1 = _mm256_load_si256((const __m256i *)(p + 32));
        AVX2_STEP(quad_at(xr[r] + 4 * g))
    }
    if (t->ktail) {
        __m256i w0 = _mm256_load_si256((const __m256i *)p), w1 = _mm256_load_si256((const __m256i *)(p + 32));
        AVX2_STEP(tail_at(xr[r] + 4 * t->kq, t->ktail))
    }
    UNROLL for (size_t r = 0; r < mr; r++) {
        _mm256_storeu_si256((__m256i *)(buf + r * QGEMM_NR), c0[r]);
        _mm256_storeu_si256((__m256i *)(buf + r * QGEMM_NR + 8), c1[r]);
    }
}

__attribute__((target("avx2"))) static void kernel_avx2(const qtile *t, size_t mr, int32_t *buf)
{
    switch (mr) {   // constant row counts, so the accumulators live in registers
    case 4: kernel_avx2_mr(t, 4, buf); break;
    case 3: kernel_avx2_mr(t, 3, buf); break;
    case 2: kernel_avx2_mr(t, 2, buf); break;
    default: kernel_avx2_mr(t, 1, buf); break;
    }
}

/* AVX-VNNI: vpdpbusd adds the four u8 x s8 products of each column into its int32
 * accumulator in one instruction (exact, no int16 step).  6 rows x 16 columns. */
#define VNNI_MR 6
#define VNNI_STEP(AV)                                                                   \
    UNROLL for (size_t r = 0; r < mr; r++) {                                            \
        __m256i a = _mm256_set1_epi32(AV);                                              \
        c0[r] = _mm256_dpbusd_avx_epi32(c0[r], a, w0);                                  \
        c1[r] = _mm256_dpbusd_avx_epi32(c1[r], a, w1);                                  \
    }

__attribute__((target("avx2,avxvnni"), always_inline)) static inline void
kernel_vnni_mr(const qtile *t, const size_t mr, int32_t *buf)
{
    __m256i c0[VNNI_MR], c1[VNNI_MR];
    const uint8_t *xr[VNNI_MR];
    UNROLL for (size_t r = 0; r < mr; r++) {
        c0[r] = c1[r] = _mm256_setzero_si256();
        xr[r] = t->q + r * t->lda;
    }
    const int8_t *p = t->p;
    for (size_t g = 0; g < t->kq; g++, p += QGEMM_KG * QGEMM_NR) {
        __m256i w0 = _mm256_load_si256((const __m256i *)p), w1 = _mm256_load_si256((const __m256i *)(p + 32));
        VNNI_STEP(quad_at(xr[r] + 4 * g))
    }
    if (t->ktail) {
        __m256i w0 = _mm256_load_si256((const __m256i *)p), w1 = _mm256_load_si256((const __m256i *)(p + 32));
        VNNI_STEP(tail_at(xr[r] + 4 * t->kq, t->ktail))
    }
    UNROLL for (size_t r = 0; r < mr; r++) {
        _mm256_storeu_si256((__m256i *)(buf + r * QGEMM_NR), c0[r]);
        _mm256_storeu_si256((__m256i *)(buf + r * QGEMM_NR + 8), c1[r]);
    }
}

__attribute__((target("avx2,avxvnni"))) static void kernel_vnni(const qtile *t, size_t mr, int32_t *buf)
{
    switch (mr) {
    case 6: kernel_vnni_mr(t, 6, buf); break;
    case 5: kernel_vnni_mr(t, 5, buf); break;
    case 4: kernel_vnni_mr(t, 4, buf); break;
    case 3: kernel_vnni_mr(t, 3, buf); break;
    case 2: kernel_vnni_mr(t, 2, buf); break;
    default: kernel_vnni_mr(t, 1, buf); break;
    }
}

/* AVX-512 VNNI: a zmm is one quad of a whole panel (16 columns x 4 k); 8 rows x 32 columns
 * (two panels), 16 accumulators; np == 1 for a last, odd panel.  buf rows are 16 np wide. */
#define V512_MR 8
#define V512_STEP(AV)                                                                   \
    UNROLL for (size_t r = 0; r < mr; r++) {                                            \
        __m512i a = _mm512_set1_epi32(AV);                                              \
        c0[r] = _mm512_dpbusd_epi32(c0[r], a, w0);                                      \
        if (np == 2)                                                                    \
            c1[r] = _mm512_dpbusd_epi32(c1[r], a, w1);                                  \
    }

__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) static inline void
kernel_v512_mr(const qtile *t, const size_t mr, const size_t np, int32_t *buf)
{
    __m512i c0[V512_MR], c1[V512_MR];
    const uint8_t *xr[V512_MR];
    UNROLL for (size_t r = 0; r < mr; r++) {
        c0[r] = c1[r] = _mm512_setzero_si512();
        xr[r] = t->q + r * t->lda;
    }
    const int8_t *p0 = t->p, *p1 = t->p + t->pb;
    for (size_t g = 0; g < t->kq; g++, p0 += 64, p1 += 64) {
        __m512i w0 = _mm512_load_si512(p0), w1 = np == 2 ? _mm512_load_si512(p1) : w0;
        V512_STEP(quad_at(xr[r] + 4 * g))
    }
    if (t->ktail) {
        __m512i w0 = _mm512_load_si512(p0), w1 = np == 2 ? _mm512_load_si512(p1) : w0;
        V512_STEP(tail_at(xr[r] + 4 * t->kq, t->ktail))
    }
    UNROLL for (size_t r = 0; r < mr; r++) {
        _mm512_storeu_si512(buf + r * np * QGEMM_NR, c0[r]);
        if (np == 2)
            _mm512_storeu_si512(buf + r * np * QGEMM_NR + QGEMM_NR, c1[r]);
    }
}

#define V512_CASES(np)                                  \
    switch (mr) {                                       \
    case 8: kernel_v512_mr(t, 8, np, buf); break;       \
    case 7: kernel_v512_mr(t, 7, np, buf); break;       \
    case 6: kernel_v512_mr(t, 6, np, buf); break;       \
    case 5: kernel_v512_mr(t, 5, np, buf); break;       \
    case 4: kernel_v512_mr(t, 4, np, buf); break;       \
    case 3: kernel_v512_mr(t, 3, np, buf); break;       \
    case 2: kernel_v512_mr(t, 2, np, buf); break;       \
    default: kernel_v512_mr(t, 1, np, buf); break;      \
    }

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
kernel_v512(const qtile *t, size_t mr, size_t np, int32_t *buf)
{
    if (np == 2)
        V512_CASES(2)
    else
        V512_CASES(1)
}
#endif

/* ------------------------------------------------------------------------------------
 * epilogue: y[r][c] = (float)(acc - zp[r] colsum[c]) * (ascale[r] * wscale[c]) + bias[c],
 * in that order, in float; the AVX2 form does the same operations 8 columns at a time */

typedef struct {
    float *y;
    size_t ldy;
    const float *ascale;    /* of the tile's first row */
    const int32_t *zp;
    const int32_t *colsum;  /* of the tile's first column (padded to the panel) */
    const float *wscale;
    const float *bias;      /* of the first column, or NULL */
} qepi;

static inline float epi_one(int32_t acc, int32_t zp, int32_t colsum, float as, float ws,
                            const float *bias)
{
    float s = as * ws;
    float f = (float)(acc - zp * colsum) * s;
    return bias ? f + *bias : f;
}

static void epi_scalar(const qepi *e, const int32_t *buf, size_t width, size_t mr, size_t ncols)
{
    for (size_t r = 0; r < mr; r++)
        for (size_t c = 0; c < ncols; c++)
            e->y[r * e->ldy + c] = epi_one(buf[r * width + c], e->zp[r], e->colsum[c], e->ascale[r],
                                           e->wscale[c], e->bias ? e->bias + c : NULL);
}

#ifdef QGEMM_X86
__attribute__((target("avx2"))) static void epi_avx2(const qepi *e, const int32_t *buf,
                                                     size_t width, size_t mr, size_t ncols)
{
    for (size_t r = 0; r < mr; r++) {
        __m256i zp = _mm256_set1_epi32(e->zp[r]);
        __m256 as = _mm256_set1_ps(e->ascale[r]);
        float *y = e->y + r * e->ldy;
        size_t c = 0;
        for (; c + 8 <= ncols; c += 8) {
            __m256i acc = _mm256_loadu_si256((const __m256i *)(buf + r * width + c));
            __m256i cs = _mm256_loadu_si256((const __m256i *)(e->colsum + c));
            __m256 s = _mm256_mul_ps(as, _mm256_loadu_ps(e->wscale + c));
            __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_mullo_epi32(zp, cs))), s);
            if (e->bias)
                f = _mm256_add_ps(f, _mm256_loadu_ps(e->bias + c));
            _mm256_storeu_ps(y + c, f);
        }
        for (; c < ncols; c++)
            y[c] = epi_one(buf[r * width + c], e->zp[r], e->colsum[c], e->ascale[r], e->wscale[c],
                           e->bias ? e->bias + c : NULL);
    }
}
#endif

/* ------------------------------------------------------------------------------------
 * choice of path: cpuid, and XCR0 for the registers the OS saves */

static int isa_chosen = -1;

#ifdef QGEMM_X86
static uint64_t xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}
#endif

int qgemm_cpu_has(enum qgemm_isa isa)
{
    if (isa == QGEMM_SCALAR)
        return 1;
#ifdef QGEMM_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & 1u << 27) || !(c & 1u << 28))   // OSXSAVE, AVX
        return 0;
    uint64_t x = xcr0();
    int ymm = (x & 0x6) == 0x6, zmm = (x & 0xe6) == 0xe6;   // SSE+AVX state; + opmask, ZMM
    unsigned max7;
    if (!__get_cpuid_count(7, 0, &max7, &b, &c, &d))
        return 0;
    int avx2 = ymm && (b & 1u << 5);
    switch (isa) {
    case QGEMM_AVX2:
        return avx2;
    case QGEMM_AVXVNNI: {
        unsigned a1 = 0, b1, c1, d1;
        if (max7 < 1 || !__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1))
            return 0;
        return avx2 && (a1 & 1u << 4);
    }
    case QGEMM_AVX512VNNI:   // AVX-512 F, BW, VNNI
        return avx2 && zmm && (b & 1u << 16) && (b & 1u << 30) && (c & 1u << 11);
    default:
        return 0;
    }
#else
    return 0;
#endif
}

static const char *const isa_names[QGEMM_NISA] = { "scalar", "avx2", "avxvnni", "avx512vnni" };

const char *qgemm_isa_name(enum qgemm_isa isa)
{
    return (unsigned)isa < QGEMM_NISA ? isa_names[isa] : "?";
}

static int cpu_has(int i)
{
    return qgemm_cpu_has((enum qgemm_isa)i);
}

enum qgemm_isa qgemm_isa(void)
{
    if (isa_chosen < 0)
        isa_chosen = isa_pick(__func__, "EMO_QGEMM_ISA", isa_names, QGEMM_NISA, cpu_has);
    return (enum qgemm_isa)isa_chosen;
}

int qgemm_set_isa(enum qgemm_isa isa)
{
    if ((unsigned)isa >= QGEMM_NISA || !qgemm_cpu_has(isa))
        return -1;
    isa_chosen = isa;
    return 0;
}

/* ------------------------------------------------------------------------------------
 * driver */

typedef struct {
    int32_t *C;             /* the raw products (qgemm_s32), or NULL */
    size_t ldc;
    float *y;               /* the float output (qgemm_f32) */
    size_t ldy;
    const uint8_t *q;
    size_t lda;
    const float *ascale, *bias;
    const int32_t *zp;
    const int8_t *panels;
    const int32_t *colsum;
    const float *wscale;
    size_t M, K, N, npanels, pb, mc, ngroups;
    enum qgemm_isa isa;
    void (*act)(float *, const float *, size_t);
} qjob;

/* rows [r0, r1) x panels [p0, p1) */
static void qgemm_block(const qjob *j, size_t r0, size_t r1, size_t p0, size_t p1)
{
    size_t mr_max = j->isa == QGEMM_AVX512VNNI ? 8 : j->isa == QGEMM_AVXVNNI ? 6 : 4;
    size_t step = j->isa == QGEMM_AVX512VNNI ? 2 : 1;   // panels per tile
    int32_t buf[MR_MAX * 2 * QGEMM_NR];
    for (size_t p = p0; p < p1; p += step) {
        size_t np = p + step <= p1 ? step : p1 - p;
        size_t c0 = p * QGEMM_NR, width = np * QGEMM_NR;
        size_t ncols = j->N - c0 < width ? j->N - c0 : width;
        qtile t = { .lda = j->lda, .p = j->panels + p * j->pb, .pb = j->pb,
                    .kq = j->K / QGEMM_KG, .ktail = j->K % QGEMM_KG };
        for (size_t r = r0; r < r1; r += mr_max) {
            size_t mr = r1 - r < mr_max ? r1 - r : mr_max;
            t.q = j->q + r * j->lda;
            switch (j->isa) {
#ifdef QGEMM_X86
            case QGEMM_AVX512VNNI: kernel_v512(&t, mr, np, buf); break;
            case QGEMM_AVXVNNI: kernel_vnni(&t, mr, buf); break;
            case QGEMM_AVX2: kernel_avx2(&t, mr, buf); break;
#endif
            default: kernel_scalar(&t, mr, buf); break;
            }
            if (j->C) {
                for (size_t i = 0; i < mr; i++)
                    memcpy(j->C + (r + i) * j->ldc + c0, buf + i * width, ncols * sizeof(int32_t));
                continue;
            }
            qepi e = { j->y + r * j->ldy + c0, j->ldy, j->ascale + r, j->zp + r, j->colsum + c0,
                       j->wscale + c0, j->bias ? j->bias + c0 : NULL };
#ifdef QGEMM_X86
            if (j->isa != QGEMM_SCALAR) {
                epi_avx2(&e, buf, width, mr, ncols);
                continue;
            }
#endif
            epi_scalar(&e, buf, width, mr, ncols);
        }
    }
}

static void qgemm_range(void *ctx, size_t lo, size_t hi)
{
    const qjob *j = ctx;
    for (size_t u = lo; u < hi; u++) {
        size_t chunk = u / j->ngroups, group = u % j->ngroups;
        size_t r0 = chunk * j->mc, r1 = r0 + j->mc < j->M ? r0 + j->mc : j->M;
        size_t p0 = group * GROUP, p1 = p0 + GROUP < j->npanels ? p0 + GROUP : j->npanels;
        qgemm_block(j, r0, r1, p0, p1);
        if (j->act) {
            size_t c0 = p0 * QGEMM_NR, c1 = p1 * QGEMM_NR < j->N ? p1 * QGEMM_NR : j->N;
            for (size_t r = r0; r < r1; r++)
                j->act(j->y + r * j->ldy + c0, j->y + r * j->ldy + c0, c1 - c0);
        }
    }
}

static void qgemm_run(qjob *j, const void *P, size_t M)
{
    const qhead *h = P;
    j->M = M;
    j->K = h->K;
    j->N = h->N;
    if (M == 0 || j->N == 0)
        return;
    j->panels = panels_of(P);
    j->colsum = qgemm_packed_colsum(P);
    j->wscale = qgemm_packed_wscale(P);
    j->npanels = npanels(j->N);
    j->pb = panel_bytes(j->K);
    j->isa = qgemm_isa();
    // row chunks of at most CHUNK_BYTES of q, equal in size, a multiple of 24 rows (every
    // kernel's MR divides it)
    size_t mc_max = CHUNK_BYTES / (j->K ? j->K : 1) / 24 * 24;
    mc_max = mc_max < 24 ? 24 : mc_max;
    size_t nchunks = (M + mc_max - 1) / mc_max;
    j->mc = ((M + nchunks - 1) / nchunks + 23) / 24 * 24;
    j->ngroups = (j->npanels + GROUP - 1) / GROUP;
    size_t units = (M + j->mc - 1) / j->mc * j->ngroups;
    // threads only when a unit is worth waking one for (about 256K multiply-adds)
    size_t unit_work = (M < j->mc ? M : j->mc) * (j->K ? j->K : 1) * GROUP * QGEMM_NR;
    par_for_dynamic(units, 1 + (256 * 1024) / unit_work, qgemm_range, j);
}

void qgemm_s32(int32_t *C, size_t ldc, const uint8_t *q, size_t lda, const void *P, size_t M)
{
    qjob j = { .C = C, .ldc = ldc, .q = q, .lda = lda };
    qgemm_run(&j, P, M);
}

void qgemm_f32(float *y, size_t ldy, const uint8_t *q, size_t lda, const float *ascale,
               const int32_t *zp, const void *P, const float *bias, size_t M,
               void (*act)(float *, const float *, size_t))
{
    qjob j = { .y = y, .ldy = ldy, .q = q, .lda = lda, .ascale = ascale, .zp = zp,
               .bias = bias, .act = act };
    qgemm_run(&j, P, M);
}

/* ------------------------------------------------------------------------------------
 * references: the plain loops over the unpacked operands */

void qgemm_s32_ref(int32_t *C, size_t ldc, const uint8_t *q, size_t lda, const int8_t *wq,
                   size_t ldw, size_t M, size_t K, size_t N)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            int32_t acc = 0;
            for (size_t k = 0; k < K; k++)
                acc += (int32_t)q[m * lda + k] * wq[n * ldw + k];
            C[m * ldc + n] = acc;
        }
}

void qgemm_f32_ref(float *y, size_t ldy, const uint8_t *q, size_t lda, const float *ascale,
                   const int32_t *zp, const int8_t *wq, size_t ldw, const float *wscale,
                   const float *bias, size_t M, size_t K, size_t N)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            int32_t acc = 0, colsum = 0;
            for (size_t k = 0; k < K; k++) {
                acc += (int32_t)q[m * lda + k] * wq[n * ldw + k];
                colsum += wq[n * ldw + k];
            }
            y[m * ldy + n] = epi_one(acc, zp[m], colsum, ascale[m], wscale[n], bias ? bias + n : NULL);
        }
}

/* ------------------------------------------------------------------------------------
 * the whole layer */

static size_t up64(size_t n) { return (n + 63) / 64 * 64; }

size_t qgemm_scratch_bytes(size_t M, size_t K)
{
    return up64(M * K) + up64(M * sizeof(float)) + up64(M * sizeof(int32_t));
}

void qgemm_forward(float *y, size_t ldy, const float *x, size_t lda, const void *P,
                   const float *bias, size_t M, void *scratch,
                   void (*act)(float *, const float *, size_t))
{
    size_t K = qgemm_packed_k(P);
    uint8_t *q = scratch;
    float *ascale = (float *)(q + up64(M * K));
    int32_t *zp = (int32_t *)((char *)ascale + up64(M * sizeof(float)));
    qgemm_quantize_rows(q, K, ascale, zp, x, lda, M, K, qgemm_packed_scheme(P));
    qgemm_f32(y, ldy, q, K, ascale, zp, P, bias, M, act);
}
