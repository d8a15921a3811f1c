/* Vectorisable float math for the kernels (nn/kernels.c): exp, erf and tanh written with
 * selects and bit moves only, so that GCC vectorises the loops calling them, and the GELU
 * constants.  Inlined always; kernels.c includes this after its #pragma GCC optimize, so
 * the functions compile under the kernels' options.  The _ref twins (kernels_ref.c) call
 * libm instead and share only the constants. */
#ifndef EMO_VMATH_H
#define EMO_VMATH_H

#include <math.h>
#include <stdint.h>

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f   /* 1 / sqrt(2 pi) */
#define SQRT_2_OVER_PI 0.79788456080286535588f

/* exp(x) for x in [-87, 88], Cephes' expf polynomial (about 1 ulp), written with selects
 * and bit moves only so that loops calling it vectorise.  Below -87 it returns ~1.6e-38
 * (not 0), harmless where it is used (softmax numerators next to exp(0) = 1). */
static inline __attribute__((always_inline)) float vexp(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   // round(x / ln 2)
    float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    q = q * r * r + r + 1.0f;
    union { int32_t i; float f; } two_n = { .i = ((int32_t)n + 127) << 23 };
    return q * two_n.f;
}

/* erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the same approximation as
 * PyTorch's vectorised CPU erf; e = exp(-z^2) is passed in (GELU's backward reuses it). */
static inline __attribute__((always_inline)) float verf(float z, float e)
{
    // fabsf (one AND), not z < 0 ? -z : z, which GCC if-converts by evaluating the
    // polynomial for both signs; the two differ only at z = -0, where t = 1 either way
    float az = fabsf(z);
    float t = 1.0f / (1.0f + 0.3275911f * az);
    float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t
                  + 0.254829592f) * t;
    float y = 1.0f - poly * e;
    return z < 0.0f ? -y : y;
}

/* tanh(u) = 1 - 2 / (exp(2|u|) + 1) with the sign restored (absolute error ~1e-7) */
static inline __attribute__((always_inline)) float vtanh(float u)
{
    float au = fabsf(u);   // as in verf
    float t = 1.0f - 2.0f / (vexp(2.0f * au) + 1.0f);
    return u < 0.0f ? -t : t;
}

#endif
