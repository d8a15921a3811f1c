/* The int8 path's erf and GELUs; see qact.h for what they promise.
 *
 * Every path evaluates, for a = |x| / sqrt 2 (or |z|), the same steps:
 *   i = (int)(min(a, A_MAX) * 2)            interval, 0..7 (NaN: 7)
 *   central = a < 1/2
 *   u = (central ? a * a : a) - off[i]
 *   p = c6[i]; p = fma(p, u, ck[i]) for k = 5 .. 0
 *   v = fma(central ? a : 1, p, central ? a : 0)      erf(a), or erf(a) - 1 off centre
 *   v = a >= 4 ? 0 : v
 * with min, the compares and the selects written as the SIMD instructions behave on a NaN
 * (minps(a, b) is a < b ? a : b), so a NaN runs through to the output on every path.  The
 * coefficients are looked up per lane (vpermps from one register per coefficient row). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/qact.h"
#include "util/util.h"
#include "nn/vmath.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define QACT_X86 1
#endif

#define NCOEF 7                  /* degree 6 */
#define A_MAX 3.99999976f        /* the largest float below 4: interval 7 */
#define UNROLL _Pragma("GCC unroll 8")

/* offsets and coefficient rows, one lane per interval; 16 lanes for a zmm load (8..15
 * unused: the index is at most 7) */
typedef struct {
    _Alignas(64) float off[16];
    float c[NCOEF][16];
} qtab;

/* tests/gen/qact_coeffs.py: erf(a) on [0, 1/2) as a + a p(a^2), erf(a) - 1 above */
static const qtab TAB_ERF = {
    { 0.0f, 0.75f, 1.25f, 1.75f, 2.25f, 2.75f, 3.25f, 3.75f },
    { { 0.128379166f, -0.288844377f, -0.0770998672f, -0.0133283287f, -0.00146271684f,
        -0.000100621903f, -4.30275986e-6f, -1.13724504e-7f },
      { -0.376126111f, 0.642931402f, 0.236521155f, 0.0527748391f, 0.00714230025f,
        0.00058629422f, 2.91936431e-5f, 8.81886194e-7f },
      { 0.11282853f, -0.482197285f, -0.295652151f, -0.0923561975f, -0.01607012f,
        -0.00161227025f, -9.48721572e-5f, -3.30646867e-6f },
      { -0.0267585479f, 0.026734693f, 0.167526573f, 0.0901775584f, 0.0217269585f,
        0.00275820959f, 0.000195219545f, 7.91175717e-6f },
      { 0.00472001964f, 0.150653228f, -0.00611943891f, -0.0481060185f, -0.019089805f,
        -0.00325758988f, -0.000286049035f, -1.37684456e-5f },
      { 0.0f, -0.0513459146f, -0.0468169786f, 0.00597077934f, 0.0105814049f,
        0.00282580359f, 0.000332612661f, 2.02048905e-5f },
      { 0.0f, -0.026405571f, 0.0204814821f, 0.00905605685f, -0.00276316446f,
        -0.00166913471f, -0.000275042112f, -2.08733309e-5f } },
};

/* the same for t(a) = tanh(sqrt(2/pi) (x + 0.044715 x^3)), x = a sqrt 2 */
static const qtab TAB_GELU_TANH = {
    { 0.0f, 0.75f, 1.25f, 1.75f, 2.25f, 2.75f, 3.25f, 3.75f },
    { { 0.128379166f, -0.289171696f, -0.0772005171f, -0.0129801976f, -0.00125068729f,
        -6.06595568e-5f, -1.27890746e-6f, -1.00779607e-8f },
      { -0.377987802f, 0.642480612f, 0.237713531f, 0.0530151017f, 0.00665187929f,
        0.000414648093f, 1.10707069e-5f, 1.08925754e-7f },
      { 0.115409531f, -0.480764091f, -0.295113832f, -0.0938940495f, -0.0159755237f,
        -0.00131604285f, -4.5361463e-5f, -5.62946298e-7f },
      { -0.0280376486f, 0.0287927501f, 0.16486901f, 0.0907272324f, 0.0224875435f,
        0.00254815002f, 0.00011584453f, 1.8110577e-6f },
      { 0.00492591457f, 0.148817226f, -0.00646457309f, -0.0464734249f, -0.0198939014f,
        -0.00332426257f, -0.000208471538f, -4.302869e-6f },
      { 0.0f, -0.0537919626f, -0.0442112982f, 0.00480098277f, 0.0104913395f,
        0.0030718015f, 0.000297676219f, 9.19086324e-6f },
      { 0.0f, -0.0249987468f, 0.0203390401f, 0.00841584336f, -0.00219358178f,
        -0.00182902499f, -0.000286415801f, -1.24411281e-5f } },
};

/* ------------------------------------------------------------------------------------
 * scalar */

static inline uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* v of the header (a >= 0 or NaN); *central set */
static inline float core_scalar(const qtab *t, float a, int *central)
{
    float am = a < A_MAX ? a : A_MAX;
    int i = (int)(am * 2.0f);
    int c = a < 0.5f;
    float u = (c ? a * a : a) - t->off[i];
    float p = t->c[NCOEF - 1][i];
    UNROLL for (int k = NCOEF - 2; k >= 0; k--)
        p = fmaf(p, u, t->c[k][i]);
    float v = fmaf(c ? a : 1.0f, p, c ? a : 0.0f);
    *central = c;
    return a >= 4.0f ? 0.0f : v;
}

static void erf_scalar(float *out, const float *inp, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        float z = inp[j];
        int c;
        float v = core_scalar(&TAB_ERF, fabsf(z), &c);
        float r = c ? v : 1.0f + v;                          // >= 0
        out[j] = from_bits(bits(r) | (bits(z) & 0x80000000u));
    }
}

/* GELU = fma(h, w, base), h = x / 2 (x clamped to [-8, 8]: beyond, v = 0 and base is
 * the answer), w = v with x's sign; base h at the centre (h (1 + erf)), x above it for
 * x >= 0 (x + h (erf - 1)), 0 for x < 0 (-h (erf - 1)) */
static inline float gelu_scalar1(const qtab *t, float x)
{
    int c;
    float v = core_scalar(t, fabsf(x * INV_SQRT2), &c);
    float xc = 8.0f < x ? 8.0f : x;
    xc = -8.0f > xc ? -8.0f : xc;
    float h = 0.5f * xc;
    float w = from_bits(bits(v) ^ (bits(x) & 0x80000000u));
    float base = c ? h : x < 0.0f ? 0.0f : x;
    return fmaf(h, w, base);
}

static void gelu_erf_scalar(float *out, const float *inp, size_t n)
{
    for (size_t j = 0; j < n; j++)
        out[j] = gelu_scalar1(&TAB_ERF, inp[j]);
}

static void gelu_tanh_scalar(float *out, const float *inp, size_t n)
{
    for (size_t j = 0; j < n; j++)
        out[j] = gelu_scalar1(&TAB_GELU_TANH, inp[j]);
}

#ifdef QACT_X86
/* ------------------------------------------------------------------------------------
 * AVX2 + FMA: 8 lanes; a tail of fewer goes through a zero-padded copy */

#define AVX2_FN __attribute__((target("avx2,fma")))
#define AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline

AVX2_INLINE __m256 core_avx2(const qtab *t, __m256 a, __m256 *central)
{
    __m256 am = _mm256_min_ps(a, _mm256_set1_ps(A_MAX));
    __m256i i = _mm256_cvttps_epi32(_mm256_mul_ps(am, _mm256_set1_ps(2.0f)));
    __m256 c = _mm256_cmp_ps(a, _mm256_set1_ps(0.5f), _CMP_LT_OQ);
    __m256 s = _mm256_blendv_ps(a, _mm256_mul_ps(a, a), c);
    __m256 u = _mm256_sub_ps(s, _mm256_permutevar8x32_ps(_mm256_load_ps(t->off), i));
    __m256 p = _mm256_permutevar8x32_ps(_mm256_load_ps(t->c[NCOEF - 1]), i);
    UNROLL for (int k = NCOEF - 2; k >= 0; k--)
        p = _mm256_fmadd_ps(p, u, _mm256_permutevar8x32_ps(_mm256_load_ps(t->c[k]), i));
    __m256 v = _mm256_fmadd_ps(_mm256_blendv_ps(_mm256_set1_ps(1.0f), a, c), p,
                               _mm256_and_ps(a, c));
    *central = c;
    return _mm256_andnot_ps(_mm256_cmp_ps(a, _mm256_set1_ps(4.0f), _CMP_GE_OQ), v);
}

AVX2_INLINE __m256 erf_avx2_8(__m256 z)
{
    __m256 sign = _mm256_set1_ps(-0.0f), c;
    __m256 v = core_avx2(&TAB_ERF, _mm256_andnot_ps(sign, z), &c);
    __m256 r = _mm256_blendv_ps(_mm256_add_ps(_mm256_set1_ps(1.0f), v), v, c);
    return _mm256_or_ps(r, _mm256_and_ps(z, sign));
}

AVX2_INLINE __m256 gelu_avx2_8(const qtab *t, __m256 x)
{
    __m256 sign = _mm256_set1_ps(-0.0f), c;
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(INV_SQRT2));
    __m256 v = core_avx2(t, _mm256_andnot_ps(sign, z), &c);
    __m256 xc = _mm256_max_ps(_mm256_set1_ps(-8.0f), _mm256_min_ps(_mm256_set1_ps(8.0f), x));
    __m256 h = _mm256_mul_ps(_mm256_set1_ps(0.5f), xc);
    __m256 w = _mm256_xor_ps(v, _mm256_and_ps(x, sign));
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 base = _mm256_blendv_ps(_mm256_andnot_ps(neg, x), h, c);
    return _mm256_fmadd_ps(h, w, base);
}

/* kind: 0 erf, else the GELU of table t */
AVX2_INLINE void run_avx2(int kind, const qtab *t, float *out, const float *inp, size_t n)
{
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 x = _mm256_loadu_ps(inp + j);
        _mm256_storeu_ps(out + j, kind == 0 ? erf_avx2_8(x) : gelu_avx2_8(t, x));
    }
    if (j < n) {
        float buf[8] = { 0 };
        memcpy(buf, inp + j, (n - j) * sizeof(float));
        __m256 x = _mm256_loadu_ps(buf);
        _mm256_storeu_ps(buf, kind == 0 ? erf_avx2_8(x) : gelu_avx2_8(t, x));
        memcpy(out + j, buf, (n - j) * sizeof(float));
    }
}

AVX2_FN static void erf_avx2(float *out, const float *inp, size_t n)
{
    run_avx2(0, NULL, out, inp, n);
}

AVX2_FN static void gelu_erf_avx2(float *out, const float *inp, size_t n)
{
    run_avx2(1, &TAB_ERF, out, inp, n);
}

AVX2_FN static void gelu_tanh_avx2(float *out, const float *inp, size_t n)
{
    run_avx2(1, &TAB_GELU_TANH, out, inp, n);
}

/* ------------------------------------------------------------------------------------
 * AVX-512F: 16 lanes; the tail by masked loads and stores */

#define AVX512_FN __attribute__((target("avx512f")))
#define AVX512_INLINE __attribute__((target("avx512f"), always_inline)) static inline

AVX512_INLINE __m512 ps(__m512i v) { return _mm512_castsi512_ps(v); }
AVX512_INLINE __m512i si(__m512 v) { return _mm512_castps_si512(v); }

AVX512_INLINE __m512 core_avx512(const qtab *t, __m512 a, __mmask16 *central)
{
    __m512 am = _mm512_min_ps(a, _mm512_set1_ps(A_MAX));
    __m512i i = _mm512_cvttps_epi32(_mm512_mul_ps(am, _mm512_set1_ps(2.0f)));
    __mmask16 c = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.5f), _CMP_LT_OQ);
    __m512 s = _mm512_mask_mul_ps(a, c, a, a);
    __m512 u = _mm512_sub_ps(s, _mm512_permutexvar_ps(i, _mm512_load_ps(t->off)));
    __m512 p = _mm512_permutexvar_ps(i, _mm512_load_ps(t->c[NCOEF - 1]));
    UNROLL for (int k = NCOEF - 2; k >= 0; k--)
        p = _mm512_fmadd_ps(p, u, _mm512_permutexvar_ps(i, _mm512_load_ps(t->c[k])));
    __m512 v = _mm512_fmadd_ps(_mm512_mask_mov_ps(_mm512_set1_ps(1.0f), c, a), p,
                               _mm512_maskz_mov_ps(c, a));
    *central = c;
    __mmask16 beyond = _mm512_cmp_ps_mask(a, _mm512_set1_ps(4.0f), _CMP_GE_OQ);
    return _mm512_mask_mov_ps(v, beyond, _mm512_setzero_ps());
}

AVX512_INLINE __m512 erf_avx512_16(__m512 z)
{
    __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    __mmask16 c;
    __m512 v = core_avx512(&TAB_ERF, ps(_mm512_andnot_si512(sign, si(z))), &c);
    __m512 r = _mm512_mask_mov_ps(_mm512_add_ps(_mm512_set1_ps(1.0f), v), c, v);
    return ps(_mm512_or_si512(si(r), _mm512_and_si512(si(z), sign)));
}

AVX512_INLINE __m512 gelu_avx512_16(const qtab *t, __m512 x)
{
    __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    __mmask16 c;
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(INV_SQRT2));
    __m512 v = core_avx512(t, ps(_mm512_andnot_si512(sign, si(z))), &c);
    __m512 xc = _mm512_max_ps(_mm512_set1_ps(-8.0f), _mm512_min_ps(_mm512_set1_ps(8.0f), x));
    __m512 h = _mm512_mul_ps(_mm512_set1_ps(0.5f), xc);
    __m512 w = ps(_mm512_xor_si512(si(v), _mm512_and_si512(si(x), sign)));
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 base = _mm512_mask_mov_ps(_mm512_mask_mov_ps(x, neg, _mm512_setzero_ps()), c, h);
    return _mm512_fmadd_ps(h, w, base);
}

AVX512_INLINE void run_avx512(int kind, const qtab *t, float *out, const float *inp, size_t n)
{
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 x = _mm512_loadu_ps(inp + j);
        _mm512_storeu_ps(out + j, kind == 0 ? erf_avx512_16(x) : gelu_avx512_16(t, x));
    }
    if (j < n) {
        __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(m, inp + j);
        _mm512_mask_storeu_ps(out + j, m, kind == 0 ? erf_avx512_16(x) : gelu_avx512_16(t, x));
    }
}

AVX512_FN static void erf_avx512(float *out, const float *inp, size_t n)
{
    run_avx512(0, NULL, out, inp, n);
}

AVX512_FN static void gelu_erf_avx512(float *out, const float *inp, size_t n)
{
    run_avx512(1, &TAB_ERF, out, inp, n);
}

AVX512_FN static void gelu_tanh_avx512(float *out, const float *inp, size_t n)
{
    run_avx512(1, &TAB_GELU_TANH, out, inp, n);
}
#endif

/* ------------------------------------------------------------------------------------
 * choice of path */

enum { F_ERF, F_GELU_ERF, F_GELU_TANH, F_N };

static const act_fn fns[QACT_NISA][F_N] = {
    [QACT_SCALAR] = { erf_scalar, gelu_erf_scalar, gelu_tanh_scalar },
#ifdef QACT_X86
    [QACT_AVX2] = { erf_avx2, gelu_erf_avx2, gelu_tanh_avx2 },
    [QACT_AVX512] = { erf_avx512, gelu_erf_avx512, gelu_tanh_avx512 },
#endif
};

static const char *const isa_names[QACT_NISA] = { "scalar", "avx2", "avx512" };
static int isa_chosen = -1;

int qact_cpu_has(enum qact_isa isa)
{
    if (isa == QACT_SCALAR)
        return 1;
#ifdef QACT_X86
    __builtin_cpu_init();
    if (isa == QACT_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == QACT_AVX512)
        return __builtin_cpu_supports("avx512f");
#endif
    return 0;
}

const char *qact_isa_name(enum qact_isa isa)
{
    return (unsigned)isa < QACT_NISA ? isa_names[isa] : "?";
}

static int cpu_has(int i)
{
    return qact_cpu_has((enum qact_isa)i);
}

enum qact_isa qact_isa(void)
{
    if (isa_chosen < 0)
        isa_chosen = isa_pick(__func__, "EMO_QACT_ISA", isa_names, QACT_NISA, cpu_has);
    return (enum qact_isa)isa_chosen;
}

int qact_set_isa(enum qact_isa isa)
{
    if ((unsigned)isa >= QACT_NISA || !qact_cpu_has(isa))
        return -1;
    isa_chosen = isa;
    return 0;
}

void qact_erf(float *out, const float *inp, size_t n)
{
    fns[qact_isa()][F_ERF](out, inp, n);
}

void qact_gelu_erf(float *out, const float *inp, size_t n)
{
    fns[qact_isa()][F_GELU_ERF](out, inp, n);
}

void qact_gelu_tanh(float *out, const float *inp, size_t n)
{
    fns[qact_isa()][F_GELU_TANH](out, inp, n);
}

act_fn qact_serial(int act)
{
    switch (act) {
    case 0: return fns[qact_isa()][F_GELU_ERF];
    case 1: return fns[qact_isa()][F_GELU_TANH];
    default: return act_serial(act);
    }
}
