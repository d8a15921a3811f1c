/* The int8 path's erf and GELUs (nn/qact.h): erf against double erf in ulps over a dense
 * grid of [0, 4.5] (every 61st float, and every float near each interval's ends), the
 * tails, denormals, +-0, +-inf and NaN; both GELUs against the exact double formulas for
 * |x| <= 10, and what they give beyond; every path this CPU runs against the scalar one
 * bit for bit, on random values (NaN, inf and denormals among them) at every length
 * 0..67 and offset, in place and not, without a write past the end; the path switch;
 * qact_serial.  The largest errors are printed. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/kernels.h"
#include "nn/qact.h"
#include "util/rng.h"

#define BATCH 4096

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* a float ulp at the exact value y: the spacing of the floats at |y| (2^-149 below the
 * normal range) */
static double ulp_at(double y)
{
    y = fabs(y);
    if (y < FLT_MIN)
        return ldexp(1.0, -149);
    int e;
    frexp(y, &e);   // y = m 2^e, m in [0.5, 1)
    return ldexp(1.0, e - 24);
}

static double gelu_erf_exact(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

static double gelu_tanh_exact(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* ---- erf ---------------------------------------------------------------------------- */

typedef struct {
    double worst;      /* ulps */
    float at;
    long n, sym_bad;   /* values tried; erf(-x) != -erf(x) bit for bit */
} erf_acc;

/* erf over x[0..n) (x >= 0) and -x against double erf */
static void erf_batch(erf_acc *acc, const float *x, size_t n)
{
    static float neg[BATCH], y[BATCH], yn[BATCH];
    for (size_t i = 0; i < n; i++)
        neg[i] = -x[i];
    qact_erf(y, x, n);
    qact_erf(yn, neg, n);
    for (size_t i = 0; i < n; i++) {
        double e = erf((double)x[i]), d = fabs((double)y[i] - e) / ulp_at(e);
        if (d > acc->worst)
            acc->worst = d, acc->at = x[i];
        acc->sym_bad += bits(yn[i]) != (bits(y[i]) ^ 0x80000000u);
    }
    acc->n += (long)n;
}

/* every stride-th float from lo to hi (bit patterns, both >= 0) */
static void erf_range(erf_acc *acc, uint32_t lo, uint32_t hi, uint32_t stride)
{
    float x[BATCH];
    size_t n = 0;
    for (uint64_t b = lo; b <= hi; b += stride) {
        x[n++] = from_bits((uint32_t)b);
        if (n == BATCH) {
            erf_batch(acc, x, n);
            n = 0;
        }
    }
    erf_batch(acc, x, n);
}

static void test_erf(void)
{
    erf_acc acc = { 0 };
    erf_range(&acc, bits(FLT_MIN), bits(4.5f), 61);
    // every float within 2^12 of each interval's ends, and of erff's last value below 1
    const float ends[] = { 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 3.9192f };
    for (size_t k = 0; k < sizeof ends / sizeof ends[0]; k++)
        erf_range(&acc, bits(ends[k]) - 4096, bits(ends[k]) + 4096, 1);
    erf_range(&acc, 1, bits(FLT_MIN), 997);   // denormals
    erf_range(&acc, 1, 64, 1);
    fprintf(stderr, "test_qact: erf (%s): %ld values, max %.3f ulp at %.9g\n",
            qact_isa_name(qact_isa()), acc.n, acc.worst, (double)acc.at);
    CHECK(acc.worst <= 1.5, "erf: %.3f ulp at %.9g", acc.worst, (double)acc.at);
    CHECK(acc.sym_bad == 0, "erf(-x) != -erf(x) for %ld values", acc.sym_bad);

    // the tail: exactly +-1 from 4 to FLT_MAX
    float x[BATCH], y[BATCH];
    long tail_bad = 0;
    size_t n = 0;
    for (uint64_t b = bits(3.9193f); b <= bits(FLT_MAX); b += 104729) {
        x[n] = from_bits((uint32_t)b), x[n + 1] = -x[n];
        n += 2;
        if (n == BATCH || b + 104729 > bits(FLT_MAX)) {
            qact_erf(y, x, n);
            for (size_t i = 0; i < n; i++)
                tail_bad += y[i] != (x[i] > 0 ? 1.0f : -1.0f);
            n = 0;
        }
    }
    CHECK(tail_bad == 0, "erf beyond 3.9193: %ld values not +-1", tail_bad);

    // +-0, +-inf, NaN
    float s[6] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN }, r[6];
    s[5] = from_bits(0xff812345u);   // a negative NaN with a payload
    qact_erf(r, s, 6);
    CHECK(bits(r[0]) == 0 && bits(r[1]) == 0x80000000u, "erf(+-0): %a %a", (double)r[0],
          (double)r[1]);
    CHECK(r[2] == 1.0f && r[3] == -1.0f, "erf(+-inf): %g %g", (double)r[2], (double)r[3]);
    CHECK(isnan(r[4]) && isnan(r[5]), "erf(NaN): %g %g", (double)r[4], (double)r[5]);
}

/* ---- GELU --------------------------------------------------------------------------- */

static void test_gelu(const char *name, void (*f)(float *, const float *, size_t),
                      double (*exact)(double))
{
    static float x[BATCH], y[BATCH];
    double worst = 0;
    float at = 0;
    long n_all = 0;
    size_t n = 0;
    // every 61st float of [0, 10] with both signs, and 0 .. 1e-38 more sparsely
    for (uint64_t b = 1; b <= bits(10.0f); b += b < bits(FLT_MIN) ? 99991 : 61) {
        x[n] = from_bits((uint32_t)b), x[n + 1] = -x[n];
        n += 2;
        if (n == BATCH || b + 61 > bits(10.0f)) {
            f(y, x, n);
            for (size_t i = 0; i < n; i++) {
                double d = fabs((double)y[i] - exact((double)x[i]));
                if (d > worst)
                    worst = d, at = x[i];
            }
            n_all += (long)n;
            n = 0;
        }
    }
    fprintf(stderr, "test_qact: %s (%s): %ld values in [-10, 10], max abs error %.3g at %.9g\n",
            name, qact_isa_name(qact_isa()), n_all, worst, (double)at);
    CHECK(worst <= 4e-7, "%s: max abs error %.3g at %.9g", name, worst, (double)at);

    // beyond 10: x itself above, 0 below; +-inf; NaN; +-0
    long bad = 0;
    n = 0;
    for (uint64_t b = bits(10.0f); b <= bits(FLT_MAX); b += 104729) {
        x[n] = from_bits((uint32_t)b), x[n + 1] = -x[n];
        n += 2;
        if (n == BATCH || b + 104729 > bits(FLT_MAX)) {
            f(y, x, n);
            for (size_t i = 0; i < n; i++)
                bad += y[i] != (x[i] > 0 ? x[i] : 0.0f);
            n = 0;
        }
    }
    CHECK(bad == 0, "%s beyond |x| = 10: %ld values not x (x > 0) or 0", name, bad);
    float s[5] = { INFINITY, -INFINITY, NAN, 0.0f, -0.0f }, r[5];
    f(r, s, 5);
    CHECK(r[0] == INFINITY && r[1] == 0.0f, "%s(+-inf): %g %g", name, (double)r[0], (double)r[1]);
    CHECK(isnan(r[2]), "%s(NaN): %g", name, (double)r[2]);
    CHECK(r[3] == 0.0f && r[4] == 0.0f, "%s(+-0): %g %g", name, (double)r[3], (double)r[4]);
}

/* ---- paths -------------------------------------------------------------------------- */

/* a random float: kind 0 normal (sd 3), 1 uniform in [-12, 12], 2 any bit pattern (NaN,
 * inf, denormals), 3 near an interval's end (|x| / sqrt 2 in {0.5, .., 4}) */
static float random_value(rng_t *r)
{
    switch (rng_below(r, 4)) {
    case 0: return (float)(3.0 * rng_normal(r));
    case 1: return 24.0f * rng_uniform(r) - 12.0f;
    case 2: return from_bits((uint32_t)rng_u64(r));
    default: {
        float end = (float)(0.5 * (double)(1 + rng_below(r, 8)) * sqrt(2.0));
        uint32_t b = bits(end) + (uint32_t)rng_below(r, 64) - 32;
        return rng_below(r, 2) ? from_bits(b) : -from_bits(b);
    }
    }
}

static void test_paths(void)
{
    enum { MAXN = 67, PAD = 8, BIG = 100003 };
    void (*const fns[3])(float *, const float *, size_t) = { qact_erf, qact_gelu_erf,
                                                             qact_gelu_tanh };
    const char *names[3] = { "erf", "gelu_erf", "gelu_tanh" };
    int saved = qact_isa();
    rng_t r;
    rng_seed(&r, 20261207);
    float *x = malloc(BIG * sizeof(float)), *want = malloc(BIG * sizeof(float));
    float *got = malloc((BIG + PAD) * sizeof(float));
    for (int isa = QACT_SCALAR + 1; isa < QACT_NISA; isa++) {
        if (!qact_cpu_has((enum qact_isa)isa)) {
            fprintf(stderr, "test_qact: this CPU has no %s: that path is not tested here\n",
                    qact_isa_name((enum qact_isa)isa));
            continue;
        }
        long tried = 0;
        for (int f = 0; f < 3; f++) {
            long differ = 0, overrun = 0, inplace = 0;
            for (int rep = 0; rep < 20; rep++)
                for (size_t n = 0; n <= MAXN; n++)
                    for (size_t o = 0; o < 4; o++) {   // start offsets: unaligned rows
                        for (size_t i = 0; i < o + n + PAD; i++)
                            x[i] = random_value(&r);
                        qact_set_isa(QACT_SCALAR);
                        fns[f](want + o, x + o, n);
                        qact_set_isa((enum qact_isa)isa);
                        for (size_t i = 0; i < o + n + PAD; i++)
                            got[i] = -7.0f;
                        fns[f](got + o, x + o, n);
                        differ += memcmp(got + o, want + o, n * sizeof(float)) != 0;
                        for (size_t i = 0; i < o + n + PAD; i++)
                            overrun += (i < o || i >= o + n) && got[i] != -7.0f;
                        fns[f](x + o, x + o, n);   // in place
                        inplace += memcmp(x + o, want + o, n * sizeof(float)) != 0;
                        tried += (long)n;
                    }
            for (size_t i = 0; i < BIG; i++)
                x[i] = random_value(&r);
            qact_set_isa(QACT_SCALAR);
            fns[f](want, x, BIG);
            qact_set_isa((enum qact_isa)isa);
            fns[f](got, x, BIG);
            differ += memcmp(got, want, BIG * sizeof(float)) != 0;
            tried += BIG;
            const char *path = qact_isa_name((enum qact_isa)isa);
            CHECK(differ == 0, "%s %s: %ld calls differ from the scalar path", path, names[f],
                  differ);
            CHECK(overrun == 0, "%s %s: %ld writes outside [0, n)", path, names[f], overrun);
            CHECK(inplace == 0, "%s %s: %ld in-place calls differ", path, names[f], inplace);
        }
        fprintf(stderr, "test_qact: %s: %ld values against the scalar path\n",
                qact_isa_name((enum qact_isa)isa), tried);
    }
    qact_set_isa((enum qact_isa)saved);
    free(x), free(want), free(got);
}

/* qact_serial: the GELUs of the path in use, ReLU as act_serial's */
static void test_serial(void)
{
    float x[37], a[37], b[37];
    for (int i = 0; i < 37; i++)
        x[i] = 0.37f * (float)(i - 18);
    qact_serial(0)(a, x, 37);
    qact_gelu_erf(b, x, 37);
    CHECK(!memcmp(a, b, sizeof a), "qact_serial(0) is not qact_gelu_erf");
    qact_serial(1)(a, x, 37);
    qact_gelu_tanh(b, x, 37);
    CHECK(!memcmp(a, b, sizeof a), "qact_serial(1) is not qact_gelu_tanh");
    CHECK(qact_serial(2) == act_serial(2), "qact_serial(2) is not act_serial's ReLU");
}

int main(void)
{
    // EMO_QACT_ISA picks the path at the first call (an unknown name keeps the default)
    setenv("EMO_QACT_ISA", "scalar", 1);
    CHECK(qact_isa() == QACT_SCALAR, "EMO_QACT_ISA=scalar gave %s", qact_isa_name(qact_isa()));
    unsetenv("EMO_QACT_ISA");
    int best = QACT_SCALAR;
    for (int i = 0; i < QACT_NISA; i++)
        best = qact_cpu_has((enum qact_isa)i) ? i : best;
    CHECK(qact_set_isa((enum qact_isa)best) == 0, "set %s", qact_isa_name((enum qact_isa)best));
    CHECK(qact_set_isa(QACT_NISA) == -1, "an unknown path is refused");
    fprintf(stderr, "test_qact: default path %s\n", qact_isa_name(qact_isa()));
    test_erf();
    test_gelu("gelu_erf", qact_gelu_erf, gelu_erf_exact);
    test_gelu("gelu_tanh", qact_gelu_tanh, gelu_tanh_exact);
    test_paths();
    test_serial();
    return check_done("test_qact");
}
