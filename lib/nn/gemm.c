/* The inference GEMM over packed weights; see gemm.h for what it promises.
 *
 * Blocking: the rows of x are cut into chunks small enough to stay in L2 while every
 * panel of the chunk's column group streams past them; a panel (K x 16 floats) stays in
 * L1/L2 while the micro-kernel walks down the chunk MR rows at a time.  A unit of work is
 * (row chunk, group of GROUP panels), handed to whichever thread is free
 * (par_for_dynamic): one tweet (one chunk) is split by columns and a big batch by rows,
 * and a thread slowed by the hypervisor or a short last chunk does not hold the other up. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nn/gemm.h"
#include "util/par.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define GEMM_X86 1
#endif

/* from OpenBLAS; cblas.h is not included because its <complex.h> defines I */
char *openblas_get_corename(void);

#define GROUP 4                   /* panels per unit of work: 64 output columns */
#define CHUNK_FLOATS (64 * 1024)  /* a row chunk of x: at most 256 KiB of L2 */
#define MR_MAX 8
/* the row loops of the micro-kernels must unroll, so the accumulators stay in registers */
#define UNROLL _Pragma("GCC unroll 8")

size_t gemm_packed_floats(size_t N, size_t K) { return (N + GEMM_NR - 1) / GEMM_NR * K * GEMM_NR; }

typedef struct { float *P; const float *W; size_t ldw, N, K; } pack_job;

static void pack_range(void *ctx, size_t lo, size_t hi)
{
    const pack_job *j = ctx;
    for (size_t p = lo; p < hi; p++) {
        float *dst = j->P + p * j->K * GEMM_NR;
        size_t n0 = p * GEMM_NR, nn = j->N - n0 < GEMM_NR ? j->N - n0 : GEMM_NR;
        if (nn < GEMM_NR)
            memset(dst, 0, j->K * GEMM_NR * sizeof(float));
        for (size_t c = 0; c < nn; c++) {
            const float *src = j->W + (n0 + c) * j->ldw;
            for (size_t k = 0; k < j->K; k++)
                dst[k * GEMM_NR + c] = src[k];
        }
    }
}

void gemm_pack(float *P, const float *W, size_t N, size_t K)
{
    pack_job j = { P, W, K, N, K };
    par_for((N + GEMM_NR - 1) / GEMM_NR, 8, pack_range, &j);
}

void gemm_pack_serial(float *P, const float *W, size_t ldw, size_t N, size_t K)
{
    pack_job j = { P, W, ldw, N, K };
    pack_range(&j, 0, (N + GEMM_NR - 1) / GEMM_NR);
}

void gemm_pack_t(float *P, const float *Wt, size_t ldw, size_t K, size_t N)
{
    for (size_t p = 0; p < (N + GEMM_NR - 1) / GEMM_NR; p++) {
        float *dst = P + p * K * GEMM_NR;
        size_t n0 = p * GEMM_NR, nn = N - n0 < GEMM_NR ? N - n0 : GEMM_NR;
        for (size_t k = 0; k < K; k++) {
            memcpy(dst + k * GEMM_NR, Wt + k * ldw + n0, nn * sizeof(float));
            if (nn < GEMM_NR)
                memset(dst + k * GEMM_NR + nn, 0, (GEMM_NR - nn) * sizeof(float));
        }
    }
}

/* ------------------------------------------------------------------------------------
 * micro-kernels: y[r][0..ncols) = sum_k x[r][k] P[k][.] (+ bias), r < mr, one panel (or
 * two adjacent ones for AVX-512).  Full-width tiles store straight into y; a partial last
 * panel goes through a small buffer. */

typedef struct {
    const float *x;
    size_t lda;
    const float *p;     /* first panel (K x 16); the second one follows it */
    size_t K;
    const float *bias;  /* 16 or 32 values (padded), or NULL */
    float *y;
    size_t ldy;
    size_t ncols;       /* valid columns of this tile */
} tile;

static void store_tile(const tile *t, const float *buf, size_t mr, size_t width)
{
    for (size_t r = 0; r < mr; r++)
        memcpy(t->y + r * t->ldy, buf + r * width, t->ncols * sizeof(float));
}

static void kernel_scalar(const tile *t, size_t mr)
{
    float buf[MR_MAX * GEMM_NR];
    for (size_t r = 0; r < mr; r++)
        for (size_t j = 0; j < GEMM_NR; j++) {
            float acc = 0.0f;
            for (size_t k = 0; k < t->K; k++)
                acc = fmaf(t->x[r * t->lda + k], t->p[k * GEMM_NR + j], acc);
            buf[r * GEMM_NR + j] = t->bias ? acc + t->bias[j] : acc;
        }
    store_tile(t, buf, mr, GEMM_NR);
}

#ifdef GEMM_X86
/* 6 rows x 16 columns: 12 accumulators, 2 panel loads and 6 broadcasts per k */
#define AVX2_MR 6
__attribute__((target("avx2,fma"), always_inline)) static inline void
kernel_avx2_mr(const tile *t, const size_t mr)
{
    __m256 c0[AVX2_MR], c1[AVX2_MR];
    const float *xr[AVX2_MR];
    UNROLL for (size_t r = 0; r < mr; r++) {
        c0[r] = c1[r] = _mm256_setzero_ps();
        xr[r] = t->x + r * t->lda;
    }
    const float *p = t->p;
    const size_t K = t->K;
    for (size_t k = 0; k < K; k++, p += GEMM_NR) {
        __m256 b0 = _mm256_load_ps(p), b1 = _mm256_load_ps(p + 8);
        UNROLL for (size_t r = 0; r < mr; r++) {
            __m256 a = _mm256_broadcast_ss(xr[r] + k);
            c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
        }
    }
    if (t->bias) {
        __m256 d0 = _mm256_loadu_ps(t->bias), d1 = _mm256_loadu_ps(t->bias + 8);
        UNROLL for (size_t r = 0; r < mr; r++) {
            c0[r] = _mm256_add_ps(c0[r], d0);
            c1[r] = _mm256_add_ps(c1[r], d1);
        }
    }
    if (t->ncols == GEMM_NR) {
        UNROLL for (size_t r = 0; r < mr; r++) {
            _mm256_storeu_ps(t->y + r * t->ldy, c0[r]);
            _mm256_storeu_ps(t->y + r * t->ldy + 8, c1[r]);
        }
    } else {
        float buf[AVX2_MR * GEMM_NR];
        UNROLL for (size_t r = 0; r < mr; r++) {
            _mm256_storeu_ps(buf + r * GEMM_NR, c0[r]);
            _mm256_storeu_ps(buf + r * GEMM_NR + 8, c1[r]);
        }
        store_tile(t, buf, mr, GEMM_NR);
    }
}

__attribute__((target("avx2,fma"))) static void kernel_avx2(const tile *t, size_t mr)
{
    switch (mr) {   // constant row counts, so the accumulators live in registers
    case 6: kernel_avx2_mr(t, 6); break;
    case 5: kernel_avx2_mr(t, 5); break;
    case 4: kernel_avx2_mr(t, 4); break;
    case 3: kernel_avx2_mr(t, 3); break;
    case 2: kernel_avx2_mr(t, 2); break;
    default: kernel_avx2_mr(t, 1); break;
    }
}

/* 8 rows x 32 columns (two panels): 16 accumulators, 2 loads and 8 broadcasts per k;
 * np == 1 for a last, odd panel */
#define AVX512_MR 8
__attribute__((target("avx512f"), always_inline)) static inline void
kernel_avx512_mr(const tile *t, const size_t mr, const size_t np)
{
    __m512 c0[AVX512_MR], c1[AVX512_MR];
    const float *xr[AVX512_MR];
    UNROLL for (size_t r = 0; r < mr; r++) {
        c0[r] = c1[r] = _mm512_setzero_ps();
        xr[r] = t->x + r * t->lda;
    }
    const float *p0 = t->p, *p1 = t->p + t->K * GEMM_NR;
    const size_t K = t->K;
    for (size_t k = 0; k < K; k++, p0 += GEMM_NR, p1 += GEMM_NR) {
        __m512 b0 = _mm512_load_ps(p0);
        __m512 b1 = np == 2 ? _mm512_load_ps(p1) : b0;
        UNROLL for (size_t r = 0; r < mr; r++) {
            __m512 a = _mm512_set1_ps(xr[r][k]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            if (np == 2)
                c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
    }
    if (t->bias) {
        __m512 d0 = _mm512_loadu_ps(t->bias);
        __m512 d1 = np == 2 ? _mm512_loadu_ps(t->bias + GEMM_NR) : d0;
        UNROLL for (size_t r = 0; r < mr; r++) {
            c0[r] = _mm512_add_ps(c0[r], d0);
            c1[r] = _mm512_add_ps(c1[r], d1);
        }
    }
    size_t width = np * GEMM_NR;
    if (t->ncols == width) {
        UNROLL for (size_t r = 0; r < mr; r++) {
            _mm512_storeu_ps(t->y + r * t->ldy, c0[r]);
            if (np == 2)
                _mm512_storeu_ps(t->y + r * t->ldy + GEMM_NR, c1[r]);
        }
    } else {
        float buf[AVX512_MR * 2 * GEMM_NR];
        UNROLL for (size_t r = 0; r < mr; r++) {
            _mm512_storeu_ps(buf + r * width, c0[r]);
            if (np == 2)
                _mm512_storeu_ps(buf + r * width + GEMM_NR, c1[r]);
        }
        store_tile(t, buf, mr, width);
    }
}

#define AVX512_CASES(np)                            \
    switch (mr) {                                   \
    case 8: kernel_avx512_mr(t, 8, np); break;      \
    case 7: kernel_avx512_mr(t, 7, np); break;      \
    case 6: kernel_avx512_mr(t, 6, np); break;      \
    case 5: kernel_avx512_mr(t, 5, np); break;      \
    case 4: kernel_avx512_mr(t, 4, np); break;      \
    case 3: kernel_avx512_mr(t, 3, np); break;      \
    case 2: kernel_avx512_mr(t, 2, np); break;      \
    default: kernel_avx512_mr(t, 1, np); break;     \
    }

__attribute__((target("avx512f"))) static void kernel_avx512(const tile *t, size_t mr, size_t np)
{
    if (np == 2)
        AVX512_CASES(2)
    else
        AVX512_CASES(1)
}
#endif

/* ------------------------------------------------------------------------------------
 * choice of kernel */

static int isa_chosen = -1;

static int cpu_can(enum gemm_isa isa)
{
#ifdef GEMM_X86
    __builtin_cpu_init();
    if (isa == GEMM_AVX512)
        return __builtin_cpu_supports("avx512f");
    if (isa == GEMM_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return isa == GEMM_SCALAR;
}

/* OpenBLAS's core names whose sgemm runs AVX-512 */
static int blas_is_avx512(void)
{
    static const char *const cores[] = { "skylakex", "cooperlake", "sapphirerapids" };
    const char *name = openblas_get_corename();
    for (size_t i = 0; name && i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(name, cores[i]))
            return 1;
    return 0;
}

enum gemm_isa gemm_isa(void)
{
    if (isa_chosen < 0) {
        if (cpu_can(GEMM_AVX512) && blas_is_avx512())
            isa_chosen = GEMM_AVX512;
        else if (cpu_can(GEMM_AVX2))
            isa_chosen = GEMM_AVX2;
        else
            isa_chosen = GEMM_SCALAR;
    }
    return (enum gemm_isa)isa_chosen;
}

int gemm_set_isa(enum gemm_isa isa)
{
    if (!cpu_can(isa))
        return -1;
    isa_chosen = isa;
    return 0;
}

const char *gemm_isa_name(enum gemm_isa isa)
{
    return isa == GEMM_AVX512 ? "avx512" : isa == GEMM_AVX2 ? "avx2" : "scalar";
}

/* ------------------------------------------------------------------------------------
 * driver */

typedef struct {
    float *y;
    const float *x, *P, *bias;
    size_t lda, ldy, M, K, N, npanels, mc, ngroups;
    enum gemm_isa isa;
    void (*act)(float *, const float *, size_t);   // on each finished block, or NULL
} gemm_job;

/* rows [r0, r1) x panels [p0, p1) */
static void gemm_block(const gemm_job *j, size_t r0, size_t r1, size_t p0, size_t p1)
{
    size_t mr_max = j->isa == GEMM_AVX512 ? 8 : j->isa == GEMM_AVX2 ? 6 : 4;
    size_t step = j->isa == GEMM_AVX512 ? 2 : 1;   // panels per tile
    for (size_t p = p0; p < p1; p += step) {
        size_t np = p + step <= p1 ? step : p1 - p;
        size_t c0 = p * GEMM_NR, width = np * GEMM_NR;
        size_t ncols = j->N - c0 < width ? j->N - c0 : width;
        float bias_pad[2 * GEMM_NR] = { 0 };
        if (j->bias)
            memcpy(bias_pad, j->bias + c0, ncols * sizeof(float));
        tile t = { .lda = j->lda, .p = j->P + p * j->K * GEMM_NR, .K = j->K,
                   .bias = j->bias ? bias_pad : NULL, .ldy = j->ldy, .ncols = ncols };
        for (size_t r = r0; r < r1; r += mr_max) {
            size_t mr = r1 - r < mr_max ? r1 - r : mr_max;
            t.x = j->x + r * j->lda;
            t.y = j->y + r * j->ldy + c0;
#ifdef GEMM_X86
            if (j->isa == GEMM_AVX512) {
                kernel_avx512(&t, mr, np);
                continue;
            }
            if (j->isa == GEMM_AVX2) {
                kernel_avx2(&t, mr);
                continue;
            }
#endif
            kernel_scalar(&t, mr);
        }
    }
}

static void gemm_range(void *ctx, size_t lo, size_t hi)
{
    const gemm_job *j = ctx;
    for (size_t u = lo; u < hi; u++) {
        size_t chunk = u / j->ngroups, group = u % j->ngroups;
        size_t r0 = chunk * j->mc, r1 = r0 + j->mc < j->M ? r0 + j->mc : j->M;
        size_t p0 = group * GROUP, p1 = p0 + GROUP < j->npanels ? p0 + GROUP : j->npanels;
        gemm_block(j, r0, r1, p0, p1);
        if (j->act) {
            size_t c0 = p0 * GEMM_NR, c1 = p1 * GEMM_NR < j->N ? p1 * GEMM_NR : j->N;
            for (size_t r = r0; r < r1; r++)
                j->act(j->y + r * j->ldy + c0, j->y + r * j->ldy + c0, c1 - c0);
        }
    }
}

/* Fills the job; returns its number of units (0: nothing to do). */
static size_t gemm_setup(gemm_job *j, float *y, size_t ldy, const float *x, size_t lda,
                         const float *P, const float *bias, size_t M, size_t K, size_t N)
{
    if (M == 0 || N == 0)
        return 0;
    if (K == 0) {   // an empty sum: the bias, or zeros
        for (size_t r = 0; r < M; r++)
            for (size_t c = 0; c < N; c++)
                y[r * ldy + c] = bias ? bias[c] : 0.0f;
        return 0;
    }
    *j = (gemm_job){ .y = y, .x = x, .P = P, .bias = bias, .lda = lda, .ldy = ldy, .M = M,
                     .K = K, .N = N, .npanels = (N + GEMM_NR - 1) / GEMM_NR, .isa = gemm_isa() };
    // row chunks of at most CHUNK_FLOATS of x, equal in size (so threads get equal work),
    // a multiple of 24 rows (every kernel's MR divides it)
    size_t mc_max = CHUNK_FLOATS / K / 24 * 24;
    mc_max = mc_max < 24 ? 24 : mc_max;
    size_t nchunks = (M + mc_max - 1) / mc_max;
    j->mc = ((M + nchunks - 1) / nchunks + 23) / 24 * 24;
    j->ngroups = (j->npanels + GROUP - 1) / GROUP;
    return (M + j->mc - 1) / j->mc * j->ngroups;
}

static void gemm_run(float *y, size_t ldy, const float *x, size_t lda, const float *P,
                     const float *bias, size_t M, size_t K, size_t N,
                     void (*act)(float *, const float *, size_t))
{
    gemm_job j;
    size_t units = gemm_setup(&j, y, ldy, x, lda, P, bias, M, K, N);
    if (units == 0) {
        if (act && K == 0)   // y holds the bias alone (M == 0 or N == 0: nothing to do)
            for (size_t r = 0; r < M; r++)
                act(y + r * ldy, y + r * ldy, N);
        return;
    }
    j.act = act;
    // threads only when a unit is worth waking one for (about 64K multiply-adds)
    size_t unit_work = (M < j.mc ? M : j.mc) * K * GROUP * GEMM_NR;
    par_for_dynamic(units, 1 + (64 * 1024) / unit_work, gemm_range, &j);
}

void gemm_packed(float *y, const float *x, size_t lda, const float *P, const float *bias,
                 size_t M, size_t K, size_t N)
{
    gemm_run(y, N, x, lda, P, bias, M, K, N, NULL);
}

void gemm_packed_act(float *y, const float *x, size_t lda, const float *P, const float *bias,
                     size_t M, size_t K, size_t N, void (*act)(float *, const float *, size_t))
{
    gemm_run(y, N, x, lda, P, bias, M, K, N, act);
}

void gemm_packed_ld(float *y, size_t ldy, const float *x, size_t lda, const float *P,
                    const float *bias, size_t M, size_t K, size_t N)
{
    gemm_run(y, ldy, x, lda, P, bias, M, K, N, NULL);
}

void gemm_packed_serial(float *y, size_t ldy, const float *x, size_t lda, const float *P,
                        const float *bias, size_t M, size_t K, size_t N)
{
    gemm_job j;
    size_t units = gemm_setup(&j, y, ldy, x, lda, P, bias, M, K, N);
    if (units)
        gemm_range(&j, 0, units);
}
