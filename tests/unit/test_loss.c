/* Losses: every gradient against central finite differences (difference quotients in
 * double on the exact float perturbation), closed-form values, padding/ignore rules, and
 * values + gradients against PyTorch 1.13 goldens (tests/gen/torch_losses.py ->
 * tests/fixtures/loss/losses.json). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "nn/loss.h"
#include "util/rng.h"

/* ---- finite differences ------------------------------------------------------ */

/* A loss of the array x (held in ctx); accumulates dloss * grad into dx unless NULL. */
typedef double (*loss_fn)(void *ctx, float *dx, float dloss);

/* Central differences on every element of x (n floats) against the analytic gradient.
 * The perturbed value is rounded to float, so the quotient divides by the step actually
 * taken.  Also checks accumulation: dx starts at 0.25 and dloss is 0.5. */
static void fd_check(const char *label, float *x, size_t n, loss_fn f, void *ctx, double h,
                     double rtol)
{
    float *g = malloc(n * sizeof *g);
    float *g2 = malloc(n * sizeof *g2);
    for (size_t i = 0; i < n; i++) {
        g[i] = 0;
        g2[i] = 0.25f;
    }
    double l0 = f(ctx, g, 1.0f);
    double l1 = f(ctx, g2, 0.5f);
    CHECK(l0 == l1, "%s: value depends on dloss (%.17g vs %.17g)", label, l0, l1);
    CHECK(isfinite(l0), "%s: loss not finite", label);
    double worst = 0;
    size_t at = 0;
    double fd_at = 0;
    for (size_t i = 0; i < n; i++) {
        float save = x[i];
        float xp = (float)(save + h), xm = (float)(save - h);
        x[i] = xp;
        double lp = f(ctx, NULL, 1.0f);
        x[i] = xm;
        double lm = f(ctx, NULL, 1.0f);
        x[i] = save;
        double fd = (lp - lm) / ((double)xp - (double)xm);
        double err = fabs(fd - g[i]) / (fabs(fd) + 1e-3);
        if (err > worst) {
            worst = err;
            at = i;
            fd_at = fd;
        }
        double acc = 0.25 + 0.5 * (double)g[i];
        CHECK(fabs(g2[i] - acc) <= 1e-6 * (1 + fabs(acc)), "%s: accumulate at %zu: %.9g vs %.9g",
              label, i, g2[i], acc);
    }
    CHECK(worst <= rtol, "%s: FD mismatch %.3g at %zu (analytic %.9g, fd %.9g)", label, worst,
          at, g[at], fd_at);
    free(g);
    free(g2);
}

static void fill_normal(rng_t *r, float *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * rng_normal(r));
}

/* ---- label losses ------------------------------------------------------------- */

typedef struct {
    float *zs, *zt;
    int32_t *y;
    size_t B, K;
    double eps, alpha, gamma, T;
    distill_loss_cfg cfg;
} logit_ctx;

static double ce_fn(void *c, float *dx, float dl)
{
    logit_ctx *x = c;
    return crossentropy_loss_and_grad(dx, dl, x->zs, x->y, x->B, x->K, x->eps);
}
static double focal_fn(void *c, float *dx, float dl)
{
    logit_ctx *x = c;
    return focal_loss_and_grad(dx, dl, x->zs, x->y, x->B, x->K, x->alpha, x->gamma, x->eps);
}
static double kd_fn(void *c, float *dx, float dl)
{
    logit_ctx *x = c;
    return kldiv_distill_loss_and_grad(dx, dl, x->zs, x->zt, x->B, x->K, x->T);
}
static double distill_fn(void *c, float *dx, float dl)
{
    logit_ctx *x = c;
    return distill_loss_and_grad(dx, dl, x->zs, x->zt, x->y, x->B, x->K, &x->cfg).total;
}

static void test_label_losses_fd(void)
{
    rng_t r;
    rng_seed(&r, 11);
    enum { B = 4, K = 6 };
    float zs[B * K], zt[B * K];
    int32_t y[B] = { 2, -1, 0, 5 };   /* row 1 unlabelled */
    fill_normal(&r, zs, B * K, 2.0);
    fill_normal(&r, zt, B * K, 2.0);
    logit_ctx c = { zs, zt, y, B, K, 0, 0.25, 2, 1.5, DISTILL_LOSS_DEFAULTS };
    char label[96];
    const double eps[] = { 0, 0.1 };
    for (int e = 0; e < 2; e++) {
        c.eps = eps[e];
        snprintf(label, sizeof label, "ce eps=%g", c.eps);
        fd_check(label, zs, B * K, ce_fn, &c, 1e-3, 1e-4);
        const double gammas[] = { 0, 0.5, 1, 2, 3.5 };
        for (int gi = 0; gi < 5; gi++) {
            c.gamma = gammas[gi];
            snprintf(label, sizeof label, "focal eps=%g gamma=%g", c.eps, c.gamma);
            fd_check(label, zs, B * K, focal_fn, &c, 1e-3, 1e-4);
        }
    }
    const double temps[] = { 1, 1.5, 4 };
    for (int ti = 0; ti < 3; ti++) {
        c.T = temps[ti];
        snprintf(label, sizeof label, "kd T=%g", c.T);
        fd_check(label, zs, B * K, kd_fn, &c, 1e-3, 1e-4);
    }
    fd_check("distill defaults", zs, B * K, distill_fn, &c, 1e-3, 1e-4);
    c.cfg.alpha = 0.3;
    c.cfg.temperature = 2.5;
    c.cfg.gamma = 0.7;
    fd_check("distill alpha .3 T 2.5 gamma .7", zs, B * K, distill_fn, &c, 1e-3, 1e-4);
}

static void test_label_losses_values(void)
{
    /* two rows, K = 3, hand-computed */
    const float z[6] = { 1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 3.0f };
    const int32_t y[2] = { 1, 0 };
    double lp[2][3];
    for (int b = 0; b < 2; b++) {
        double m = 0;
        for (int k = 0; k < 3; k++)
            m += exp(z[b * 3 + k]);
        for (int k = 0; k < 3; k++)
            lp[b][k] = z[b * 3 + k] - log(m);
    }
    double ce = -(lp[0][1] + lp[1][0]) / 2;
    CHECK(fabs(crossentropy_loss_and_grad(NULL, 1, z, y, 2, 3, 0) - ce) < 1e-12, "ce value");
    double ces = 0;
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 3; k++)
            ces -= ((k == y[b] ? 0.9 : 0) + 0.1 / 3) * lp[b][k];
    ces /= 2;
    CHECK(fabs(crossentropy_loss_and_grad(NULL, 1, z, y, 2, 3, 0.1) - ces) < 1e-12, "ce smoothed value");
    /* focal eps 0: alpha (1-p_y)^gamma (-log p_y) */
    double fl = 0;
    for (int b = 0; b < 2; b++) {
        double p = exp(lp[b][y[b]]);
        fl += 0.25 * pow(1 - p, 2) * -lp[b][y[b]];
    }
    fl /= 2;
    CHECK(fabs(focal_loss_and_grad(NULL, 1, z, y, 2, 3, 0.25, 2, 0) - fl) < 1e-12, "focal value");
    /* gamma 0, alpha 1 is CE, gradient included */
    float g1[6] = { 0 }, g2[6] = { 0 };
    double a = focal_loss_and_grad(g1, 1, z, y, 2, 3, 1, 0, 0.1);
    double b = crossentropy_loss_and_grad(g2, 1, z, y, 2, 3, 0.1);
    CHECK(fabs(a - b) < 1e-12, "focal gamma 0 == ce: %.17g %.17g", a, b);
    CHECK_CLOSE("focal gamma 0 grad == ce grad", g1, g2, 6, 1e-7);
    /* KD of identical distributions is 0 with zero gradient */
    float gk[6] = { 0 };
    double kd = kldiv_distill_loss_and_grad(gk, 1, z, z, 2, 3, 1.5);
    CHECK(fabs(kd) < 1e-15, "kd(z, z) = %g", kd);
    float zero[6] = { 0 };
    CHECK_CLOSE("kd(z, z) grad", gk, zero, 6, 1e-8);
    /* all rows unlabelled: 0, no gradient */
    const int32_t none[2] = { -1, -1 };
    float gn[6] = { 0 };
    CHECK(crossentropy_loss_and_grad(gn, 1, z, none, 2, 3, 0.1) == 0, "ce no labels");
    CHECK(focal_loss_and_grad(gn, 1, z, none, 2, 3, 0.25, 2, 0.1) == 0, "focal no labels");
    CHECK_CLOSE("no labels, no grad", gn, zero, 6, 0);
    /* an unlabelled row changes nothing */
    const float z3[9] = { 1.0f, 2.0f, 0.5f, 9.0f, -9.0f, 4.0f, -1.0f, 0.0f, 3.0f };
    const int32_t y3[3] = { 1, -1, 0 };
    CHECK(fabs(focal_loss_and_grad(NULL, 1, z3, y3, 3, 3, 0.25, 2, 0) - fl) < 1e-12,
          "ignored row leaves the mean over labelled rows");
    /* extreme logits stay finite */
    const float zx[3] = { 1e4f, -1e4f, 0 };
    const int32_t yx[1] = { 1 };
    float gx[3] = { 0 };
    double v = focal_loss_and_grad(gx, 1, zx, yx, 1, 3, 0.25, 0.5, 0.1);
    CHECK(isfinite(v) && isfinite(gx[0]) && isfinite(gx[1]) && isfinite(gx[2]), "focal extreme logits finite");
    float gx2[3] = { 0 };
    v = distill_loss_and_grad(gx2, 1, zx, z, yx, 1, 3, &(distill_loss_cfg)DISTILL_LOSS_DEFAULTS).total;
    CHECK(isfinite(v) && isfinite(gx2[0]) && isfinite(gx2[1]), "distill extreme logits finite");
    /* combined = weighted terms */
    distill_loss_cfg cfg = DISTILL_LOSS_DEFAULTS;
    distill_loss_terms t = distill_loss_and_grad(NULL, 1, z, z3, y, 2, 3, &cfg);
    double kd2 = kldiv_distill_loss_and_grad(NULL, 1, z, z3, 2, 3, 1.5);
    double fl2 = focal_loss_and_grad(NULL, 1, z, y, 2, 3, 0.25, 2, 0.1);
    CHECK(t.kd == kd2 && t.focal == fl2 && fabs(t.total - (0.8 * kd2 + 0.2 * fl2)) < 1e-15,
          "distill terms %g %g %g", t.total, t.kd, t.focal);
}

/* ---- attention ----------------------------------------------------------------- */

/* Random attention probabilities (B, NH, T, T): softmax over valid keys, zeros on padded
 * keys (as a masked softmax gives), garbage in padded query rows (must be ignored). */
static void fill_attention(rng_t *r, float *a, const int32_t *lens, size_t B, size_t NH, size_t T)
{
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < NH; h++)
            for (size_t i = 0; i < T; i++) {
                float *row = a + ((b * NH + h) * T + i) * T;
                size_t len = (size_t)lens[b];
                if (i >= len) {
                    for (size_t j = 0; j < T; j++)
                        row[j] = (float)rng_double(r) * 7;
                    continue;
                }
                double s = 0;
                for (size_t j = 0; j < len; j++) {
                    row[j] = (float)exp(1.5 * rng_normal(r));
                    s += row[j];
                }
                for (size_t j = 0; j < len; j++)
                    row[j] = (float)(row[j] / s);
                for (size_t j = len; j < T; j++)
                    row[j] = (float)rng_double(r);   /* padded keys: garbage too */
            }
}

/* (B, NH, T, T) padded -> packed blocks (kernels.h layout); returns the packed size */
static size_t pack_attention(float *packed, const float *padded, const int32_t *lens, size_t B,
                             size_t NH, size_t T)
{
    size_t k = 0;
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < NH; h++)
            for (size_t i = 0; i < (size_t)lens[b]; i++)
                for (size_t j = 0; j < (size_t)lens[b]; j++)
                    packed[k++] = padded[((b * NH + h) * T + i) * T + j];
    return k;
}

typedef struct {
    float *s, *t;
    int32_t *lens;
    size_t B, NHs, NHt, T;
    attn_align_kind kind;
} attn_ctx;

static double attn_fn(void *c, float *dx, float dl)
{
    attn_ctx *x = c;
    return attn_align_loss_and_grad(dx, dl, x->s, x->t, x->lens, x->B, x->NHs, x->T, x->kind);
}
static double attn_heads_fn(void *c, float *dx, float dl)
{
    attn_ctx *x = c;
    return attn_align_heads_loss_and_grad(dx, dl, x->s, x->NHs, x->t, x->NHt, x->lens, x->B,
                                          x->T, x->kind);
}

static double attn_packed_grad_fn(void *c, float *dx, float dl)
{
    attn_ctx *x = c;   /* everything packed, gradient too */
    return attn_align_general_loss_and_grad(dx, ATTN_PACKED, dl, x->s, ATTN_PACKED, x->NHs,
                                            x->t, ATTN_PACKED, x->NHt, x->lens, x->B, x->T,
                                            x->kind);
}

/* Packed layouts give the padded results exactly, and their own FD checks pass. */
static void test_attention_packed(void)
{
    rng_t r;
    rng_seed(&r, 17);
    enum { B = 3, NH = 2, NH2 = 4, T = 6, N = B * NH2 * T * T };
    int32_t lens[B] = { 4, 6, 2 };
    float s[N], t[N], t2[N], sp[N], tp[N], t2p[N];
    fill_attention(&r, s, lens, B, NH, T);
    fill_attention(&r, t, lens, B, NH, T);
    fill_attention(&r, t2, lens, B, NH2, T);
    size_t ns = pack_attention(sp, s, lens, B, NH, T);
    pack_attention(tp, t, lens, B, NH, T);
    pack_attention(t2p, t2, lens, B, NH2, T);
    CHECK(ns == NH * (16 + 36 + 4), "packed size %zu", ns);
    for (int kind = 0; kind < 2; kind++)
        for (int mism = 0; mism < 2; mism++) {
            size_t NHt = mism ? NH2 : NH;
            const float *tt = mism ? t2 : t, *ttp = mism ? t2p : tp;
            float g1[N] = { 0 }, g2[N] = { 0 }, g3[N] = { 0 }, g3u[N] = { 0 };
            double a = attn_align_heads_loss_and_grad(g1, 1, s, NH, tt, NHt, lens, B, T, (attn_align_kind)kind);
            double b = attn_align_general_loss_and_grad(g2, ATTN_PADDED, 1, sp, ATTN_PACKED, NH, ttp,
                                                        ATTN_PACKED, NHt, lens, B, T, (attn_align_kind)kind);
            double c = attn_align_general_loss_and_grad(g3, ATTN_PACKED, 1, s, ATTN_PADDED, NH, ttp,
                                                        ATTN_PACKED, NHt, lens, B, T, (attn_align_kind)kind);
            CHECK(a == b && a == c, "kind %d mism %d: packed loss %.17g %.17g vs padded %.17g", kind, mism, b, c, a);
            CHECK(!memcmp(g1, g2, sizeof g1), "kind %d mism %d: padded gradient from packed inputs differs", kind, mism);
            pack_attention(g3u, g1, lens, B, NH, T);
            CHECK(!memcmp(g3, g3u, ns * sizeof *g3), "kind %d mism %d: packed gradient differs", kind, mism);
        }
    attn_ctx c = { sp, t2p, lens, B, NH, NH2, T, ATTN_ALIGN_KL };
    fd_check("attn kl packed, heads 2 vs 4", sp, ns, attn_packed_grad_fn, &c, 1e-5, 1e-4);
    c.t = tp;
    c.NHt = NH;
    c.kind = ATTN_ALIGN_MSE;
    fd_check("attn mse packed", sp, ns, attn_packed_grad_fn, &c, 1e-3, 1e-4);
}

static void test_attention(void)
{
    rng_t r;
    rng_seed(&r, 5);
    enum { B = 3, NH = 2, NH2 = 3, T = 5 };
    int32_t lens[B] = { 5, 3, 1 };
    float s[B * NH * T * T], t[B * NH * T * T], t3[B * NH2 * T * T];
    fill_attention(&r, s, lens, B, NH, T);
    fill_attention(&r, t, lens, B, NH, T);
    fill_attention(&r, t3, lens, B, NH2, T);
    attn_ctx c = { s, t, lens, B, NH, NH, T, ATTN_ALIGN_MSE };
    fd_check("attn mse", s, B * NH * T * T, attn_fn, &c, 1e-3, 1e-4);
    c.kind = ATTN_ALIGN_KL;
    fd_check("attn kl", s, B * NH * T * T, attn_fn, &c, 1e-5, 1e-4);
    c.t = t3;
    c.NHt = NH2;
    fd_check("attn kl heads 2 vs 3", s, B * NH * T * T, attn_heads_fn, &c, 1e-5, 1e-4);
    c.kind = ATTN_ALIGN_MSE;
    fd_check("attn mse heads 2 vs 3", s, B * NH * T * T, attn_heads_fn, &c, 1e-3, 1e-4);
    c.t = t;
    c.NHt = NH;
    fd_check("attn mse heads equal", s, B * NH * T * T, attn_heads_fn, &c, 1e-3, 1e-4);

    /* padding: zero gradient outside the valid square, and garbage there changes nothing */
    for (int kind = 0; kind < 2; kind++) {
        float g[B * NH * T * T] = { 0 };
        double v0 = attn_align_loss_and_grad(g, 1, s, t, lens, B, NH, T, (attn_align_kind)kind);
        size_t bad = 0;
        float s2[B * NH * T * T], t2[B * NH * T * T];
        memcpy(s2, s, sizeof s);
        memcpy(t2, t, sizeof t);
        for (size_t b = 0; b < B; b++)
            for (size_t h = 0; h < NH; h++)
                for (size_t i = 0; i < T; i++)
                    for (size_t j = 0; j < T; j++) {
                        size_t e = ((b * NH + h) * T + i) * T + j;
                        if (i >= (size_t)lens[b] || j >= (size_t)lens[b]) {
                            bad += g[e] != 0;
                            s2[e] = 123.0f;
                            t2[e] = 0.5f;
                        }
                    }
        CHECK(bad == 0, "kind %d: %zu padded entries got gradient", kind, bad);
        double v1 = attn_align_loss_and_grad(NULL, 1, s2, t2, lens, B, NH, T, (attn_align_kind)kind);
        CHECK(v0 == v1, "kind %d: padded values changed the loss %.17g -> %.17g", kind, v0, v1);
    }
    /* identical maps: zero loss; all-empty batch: 0 */
    CHECK(fabs(attn_align_loss_and_grad(NULL, 1, t, t, lens, B, NH, T, ATTN_ALIGN_KL)) < 1e-15, "kl(t,t)");
    CHECK(attn_align_loss_and_grad(NULL, 1, s, t, lens, B, NH, T, ATTN_ALIGN_MSE) > 0, "mse > 0");
    int32_t empty[B] = { 0, 0, 0 };
    CHECK(attn_align_loss_and_grad(NULL, 1, s, t, empty, B, NH, T, ATTN_ALIGN_MSE) == 0, "empty batch");
    /* MSE hand check: one example, one head, T=2, len 1 -> only entry (0,0) */
    const float s1[4] = { 0.25f, 0.75f, 1, 1 }, t1[4] = { 0.5f, 0.5f, 0, 0 };
    const int32_t l1[1] = { 1 };
    CHECK(fabs(attn_align_loss_and_grad(NULL, 1, s1, t1, l1, 1, 1, 2, ATTN_ALIGN_MSE) - 0.0625) < 1e-15, "mse 1x1");
    const int32_t l2[1] = { 2 };
    double kl = 0.5 * log(0.5 / 0.25) + 0.5 * log(0.5 / 0.75);   /* row 1 has t = 0: 0 */
    CHECK(fabs(attn_align_loss_and_grad(NULL, 1, s1, t1, l2, 1, 1, 2, ATTN_ALIGN_KL) - kl / log(2) / 2) < 1e-12,
          "kl 2x2: rows in units of log(len)");
    CHECK(fabs(attn_align_loss_and_grad(NULL, 1, s1, t1, l2, 1, 1, 2, ATTN_ALIGN_MSE) - (0.125 + 2) / 2) < 1e-12,
          "mse 2x2: the mean over rows of the row's squared distance");
    CHECK(attn_align_loss_and_grad(NULL, 1, s1, t1, l1, 1, 1, 2, ATTN_ALIGN_KL) == 0, "kl of a 1-token record: 0");
    /* the scale does not grow with length: a uniform student against one-hot teacher rows
     * scores exactly 1 (KL) at every length, and a row's squared distance 1 - 1/len (MSE) */
    for (int len = 2; len <= 16; len *= 2) {
        enum { TL = 16 };
        static float su[2 * TL * TL], th[2 * TL * TL];
        memset(su, 0, sizeof su);
        memset(th, 0, sizeof th);
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < len; i++) {
                for (int j = 0; j < len; j++)
                    su[(h * TL + i) * TL + j] = 1.0f / (float)len;
                th[(h * TL + i) * TL + (i + h) % len] = 1;
            }
        const int32_t ll[1] = { len };
        double k1 = attn_align_loss_and_grad(NULL, 1, su, th, ll, 1, 2, TL, ATTN_ALIGN_KL);
        double m1 = attn_align_loss_and_grad(NULL, 1, su, th, ll, 1, 2, TL, ATTN_ALIGN_MSE);
        CHECK(fabs(k1 - 1) < 1e-6, "len %d: uniform vs one-hot kl %.9g, want 1", len, k1);
        CHECK(fabs(m1 - (1 - 1.0 / len)) < 1e-6, "len %d: uniform vs one-hot mse %.9g", len, m1);
    }
    /* underflowed student probability: finite */
    const float sz[4] = { 0, 1, 0.5f, 0.5f }, tz[4] = { 0.5f, 0.5f, 0.5f, 0.5f };
    float gz[4] = { 0 };
    double vz = attn_align_loss_and_grad(gz, 1, sz, tz, l2, 1, 1, 2, ATTN_ALIGN_KL);
    CHECK(isfinite(vz) && isfinite(gz[0]) && isfinite(gz[1]), "kl with s = 0 is finite");
    /* head mean forward/backward */
    float m[B * T * T], dm[B * T * T], dh[B * NH2 * T * T] = { 0 };
    attn_head_mean_forward(m, t3, B, NH2, T);
    double want = ((double)t3[7] + t3[T * T + 7] + t3[2 * T * T + 7]) / 3;
    CHECK(fabs(m[7] - want) < 1e-7, "head mean %.9g vs %.9g", m[7], want);
    for (size_t i = 0; i < B * T * T; i++)
        dm[i] = (float)i;
    attn_head_mean_backward(dh, dm, B, NH2, T);
    CHECK(fabs(dh[(1 * NH2 + 2) * T * T + 4] - (float)(T * T + 4) / 3) < 1e-5, "head mean backward");
}

/* ---- PyTorch goldens ------------------------------------------------------------ */

static float *json_floats(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    float *v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        v[i] = (float)json_number_value(json_array_get(a, i));
    return v;
}

static int32_t *json_ints(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    int32_t *v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        v[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return v;
}

static double jnum(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* |a - b| <= rtol * (|b| + atol_scale) elementwise, reporting the worst */
static void check_rel(const char *label, const float *a, const float *b, size_t n, double rtol,
                      double scale)
{
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (fabs(b[i]) + scale);
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
    }
    CHECK(worst <= rtol, "%s: rel err %.3g at %zu (%.9g vs torch %.9g)", label, worst, at,
          n ? a[at] : 0, n ? b[at] : 0);
}

static void test_torch_goldens(void)
{
    const char *root = getenv("EMO_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/loss/losses.json", root ? root : ".");
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    CHECK(doc != NULL, "cannot load %s: %s", path, je.text);
    if (!doc)
        return;
    json_t *cases = json_object_get(doc, "cases");
    CHECK(json_array_size(cases) >= 10, "too few golden cases: %zu", json_array_size(cases));
    size_t i;
    json_t *cs;
    json_array_foreach(cases, i, cs) {
        const char *kind = json_string_value(json_object_get(cs, "kind"));
        const char *name = json_string_value(json_object_get(cs, "name"));
        size_t B = (size_t)json_integer_value(json_object_get(cs, "B"));
        size_t n_s, n_t = 0, n_y = 0, n_g, n_l = 0;
        float *x = json_floats(json_object_get(cs, "input"), &n_s);
        float *gwant = json_floats(json_object_get(cs, "grad"), &n_g);
        float *xt = json_object_get(cs, "target") ? json_floats(json_object_get(cs, "target"), &n_t) : NULL;
        int32_t *y = json_object_get(cs, "labels") ? json_ints(json_object_get(cs, "labels"), &n_y) : NULL;
        int32_t *lens = json_object_get(cs, "lens") ? json_ints(json_object_get(cs, "lens"), &n_l) : NULL;
        float *g = calloc(n_s ? n_s : 1, sizeof *g);
        double want = jnum(cs, "loss"), got = NAN;
        CHECK(n_g == n_s, "%s: grad size", name);
        if (!strcmp(kind, "ce")) {
            got = crossentropy_loss_and_grad(g, 1, x, y, B, n_s / B, jnum(cs, "eps"));
        } else if (!strcmp(kind, "focal")) {
            got = focal_loss_and_grad(g, 1, x, y, B, n_s / B, jnum(cs, "alpha"), jnum(cs, "gamma"), jnum(cs, "eps"));
        } else if (!strcmp(kind, "kd")) {
            got = kldiv_distill_loss_and_grad(g, 1, x, xt, B, n_s / B, jnum(cs, "T"));
        } else if (!strcmp(kind, "distill")) {
            distill_loss_cfg cfg = { jnum(cs, "T"), jnum(cs, "alpha"), jnum(cs, "eps"),
                                     jnum(cs, "gamma"), jnum(cs, "focal_alpha") };
            distill_loss_terms t = distill_loss_and_grad(g, 1, x, xt, y, B, n_s / B, &cfg);
            got = t.total;
            CHECK(fabs(t.kd - jnum(cs, "kd")) <= 1e-5 * fabs(jnum(cs, "kd")), "%s: kd %.9g vs %.9g", name, t.kd, jnum(cs, "kd"));
            CHECK(fabs(t.focal - jnum(cs, "focal")) <= 1e-5 * fabs(jnum(cs, "focal")), "%s: focal %.9g vs %.9g", name, t.focal, jnum(cs, "focal"));
        } else if (!strcmp(kind, "attn")) {
            size_t T = (size_t)json_integer_value(json_object_get(cs, "T"));
            size_t NHs = (size_t)json_integer_value(json_object_get(cs, "NHs"));
            size_t NHt = (size_t)json_integer_value(json_object_get(cs, "NHt"));
            const char *mode = json_string_value(json_object_get(cs, "mode"));
            attn_align_kind k = !strcmp(mode, "kl") ? ATTN_ALIGN_KL : ATTN_ALIGN_MSE;
            CHECK(n_s == B * NHs * T * T && n_t == B * NHt * T * T && n_l == B, "%s: attn sizes", name);
            got = attn_align_heads_loss_and_grad(g, 1, x, NHs, xt, NHt, lens, B, T, k);
            /* the same through packed inputs */
            float *xp = malloc(n_s * sizeof *xp), *xtp = malloc(n_t * sizeof *xtp);
            float *gp = calloc(n_s, sizeof *gp);
            pack_attention(xp, x, lens, B, NHs, T);
            pack_attention(xtp, xt, lens, B, NHt, T);
            double gotp = attn_align_general_loss_and_grad(gp, ATTN_PADDED, 1, xp, ATTN_PACKED, NHs,
                                                           xtp, ATTN_PACKED, NHt, lens, B, T, k);
            CHECK(gotp == got && !memcmp(gp, g, n_s * sizeof *g), "%s: packed path differs", name);
            free(xp), free(xtp), free(gp);
        } else {
            CHECK(0, "unknown golden kind %s", kind);
        }
        CHECK(fabs(got - want) <= 1e-5 * fabs(want) + 1e-12, "%s: loss %.9g vs torch %.9g", name, got, want);
        /* gradients: relative to the case's largest gradient for near-zero entries */
        double gmax = 0;
        for (size_t e = 0; e < n_g; e++)
            gmax = fmax(gmax, fabs(gwant[e]));
        char label[128];
        snprintf(label, sizeof label, "%s grad", name);
        check_rel(label, g, gwant, n_s, 1e-5, 1e-3 * gmax);
        free(x), free(gwant), free(xt), free(y), free(lens), free(g);
    }
    json_decref(doc);
}

int main(void)
{
    test_label_losses_fd();
    test_label_losses_values();
    test_attention();
    test_attention_packed();
    test_torch_goldens();
    return check_done("test_loss");
}
