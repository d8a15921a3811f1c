/* Teacher cache: the attention codecs (f16: IEEE half, round to nearest even; u8: a
 * probability times 255), with F16C and AVX2 paths that give the same bytes as the plain
 * loops, and the sizes that follow from them.  Format in shard.h. */
#include <math.h>
#include <string.h>

#include "io/shard_impl.h"

/* ---- half precision ---------------------------------------------------------- */

uint16_t f16_from_f32(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u)                       /* Inf or NaN */
        return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
    if (absx >= 0x477ff000u)                       /* rounds to >= 65520: overflow to Inf */
        return (uint16_t)(sign | 0x7c00u);
    if (absx < 0x38800000u) {                      /* below 2^-14: subnormal half (or 0) */
        if (absx < 0x33000000u)                    /* < 2^-25: rounds to 0 */
            return (uint16_t)sign;
        uint32_t e = absx >> 23, m = (absx & 0x7fffffu) | 0x800000u;
        /* value = m * 2^(e-150); the half subnormal unit is 2^-24, so h = m >> (126 - e) */
        int shift = (int)(126 - e);
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((absx - 0x38000000u) >> 13);     /* rebias exponent 127 -> 15 */
    uint32_t rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
        h++;                                       /* may carry into the exponent: still right */
    return (uint16_t)(sign | h);
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* 8 at a time with the F16C instruction: round to nearest even, as f16_from_f32 (the caller
 * has checked that every value is finite and within the half range) */
__attribute__((target("avx,f16c"))) static size_t f16_block_f16c(unsigned char *dst, const float *src,
                                                                  size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(dst + 2 * i), h);   // little-endian lanes
    }
    return i;
}

/* u8_from_prob 8 at a time with AVX2, op for op the same (the caller has checked that every
 * value is a probability, so the truncating conversion never overflows) */
__attribute__((target("avx2"))) static size_t u8_block_avx2(unsigned char *dst, const float *src,
                                                            size_t n)
{
    const __m256 scale = _mm256_set1_ps(255.0f), half = _mm256_set1_ps(0.5f);
    const __m256i lo = _mm256_setzero_si256(), hi = _mm256_set1_epi32(255);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_mul_ps(_mm256_loadu_ps(src + i), scale);
        __m256i q = _mm256_cvttps_epi32(_mm256_add_ps(x, half));
        __m256 over = _mm256_cmp_ps(x, _mm256_sub_ps(_mm256_cvtepi32_ps(q), half), _CMP_LT_OQ);
        q = _mm256_add_epi32(q, _mm256_castps_si256(over));   // -1 where x < q - 0.5
        q = _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
        __m256i w = _mm256_packus_epi16(_mm256_packs_epi32(q, q), lo);   // bytes 0-3 per lane
        __m128i b = _mm_unpacklo_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
        _mm_storel_epi64((__m128i *)(void *)(dst + i), b);
    }
    return i;
}
#endif

unsigned char u8_from_prob(float a)
{
    // roundf(a * 255) clamped to [0, 255], without the libm call (round half away from zero:
    // truncating x + 0.5 is one too many only when that sum rounded up, e.g. x = 0.5 - 2^-25)
    float x = a * 255.0f;
    int q = (int)(x + 0.5f);
    q -= x < (float)q - 0.5f;   // q - 0.5 is exact; q - x would not be
    return (unsigned char)(q < 0 ? 0 : q > 255 ? 255 : q);
}

void u8_encode(unsigned char *dst, const float *src, size_t n)
{
    size_t i = 0;
#if defined(__GNUC__) && defined(__x86_64__)
    static int has_avx2 = -1;
    if (has_avx2 < 0) {
        __builtin_cpu_init();
        has_avx2 = __builtin_cpu_supports("avx2");
    }
    if (has_avx2)
        i = u8_block_avx2(dst, src, n);
#endif
    for (; i < n; i++)
        dst[i] = u8_from_prob(src[i]);
}

void f16_encode(unsigned char *dst, const float *src, size_t n)
{
    size_t i = 0;
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)  /* clang 14 cannot ask for f16c */
    static int has_f16c = -1;
    if (has_f16c < 0) {
        __builtin_cpu_init();
        has_f16c = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
    }
    if (has_f16c)
        i = f16_block_f16c(dst, src, n);
#endif
    for (; i < n; i++)
        put_u16(dst + 2 * i, f16_from_f32(src[i]));
}

float f32_from_f16(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0) {
        if (m == 0)
            x = sign;
        else {                                     /* subnormal: normalise */
            int k = 0;
            while (!(m & 0x400u)) {
                m <<= 1;
                k++;
            }
            x = sign | (uint32_t)(127 - 15 + 1 - k) << 23 | (m & 0x3ffu) << 13;
        }
    } else if (e == 31)
        x = sign | 0x7f800000u | m << 13;
    else
        x = sign | (e + 127 - 15) << 23 | m << 13;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static size_t codec_bytes(shard_codec c) { return c == SHARD_ATTN_F16 ? 2 : 1; }

size_t shard_record_bytes(const shard_meta *m, int l)
{
    return RECORD_HEADER_BYTES + 4 * (size_t)m->K
           + codec_bytes(m->codec) * (size_t)m->NL * (size_t)m->NH * (size_t)l * (size_t)l;
}

int shard_default_layers(int L, int *out)
{
    int n = 0;
    for (int l = 1; l < L && n < SHARD_MAX_LAYERS; l += 2)
        out[n++] = l;
    if (!n && L > 0)
        out[n++] = L - 1;
    return n;
}
