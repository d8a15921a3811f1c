/* Helpers shared by the model unit tests (test_model, test_model_parity, test_mlm,
 * test_distill): the tiny config every family is checked on, random weights large enough
 * for finite differences, the central-difference check of every parameter tensor, and the
 * loaders/comparisons for the PyTorch fixtures (tests/fixtures/models/<family>).
 * static inline so that a test binary that uses only some of them builds warning-free. */
#ifndef EMO_MODEL_FIXTURES_H
#define EMO_MODEL_FIXTURES_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "io/safetensors.h"
#include "model/ckpt.h"
#include "model/model.h"
#include "util/rng.h"
#include "util/util.h"

/* The tiny config of every family: V 23, P 12, H 8, NH 2, I 12 (ALBERT: E 6, 3 layer
 * applications); dropouts 0.2/0.15/0.25.  K 0 and no MLM head: the caller sets them. */
static inline model_config tiny_config(model_arch arch)
{
    model_config c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.V = 23;
    c.P = 12;
    c.TV = arch == ARCH_DISTILBERT ? 0 : 2;
    c.H = 8;
    c.E = arch == ARCH_ALBERT ? 6 : 8;
    c.L = arch == ARCH_ALBERT ? 3 : 2;
    c.NH = 2;
    c.I = 12;
    c.act = arch == ARCH_ALBERT ? ACT_GELU_TANH : ACT_GELU_ERF;
    c.ln_eps = 1e-12f;
    c.hidden_dropout = 0.2f;
    c.attn_dropout = 0.15f;
    c.classifier_dropout = 0.25f;
    c.pad_token_id = 0;
    return c;
}

static inline const char *arch_name(model_arch a)
{
    return a == ARCH_BERT ? "bert" : a == ARCH_DISTILBERT ? "distilbert" : "albert";
}

/* The model_params field name of parameter tensor t (model_param_sizes order). */
static inline const char *param_tensor_name(int t)
{
    static const char *const names[MODEL_NUM_PARAM_TENSORS] = {
        "word_emb", "pos_emb", "type_emb", "emb_ln_w", "emb_ln_b", "emb_proj_w", "emb_proj_b",
        "qkv_w", "qkv_b", "attn_out_w", "attn_out_b", "ln1_w", "ln1_b", "ffn_in_w", "ffn_in_b",
        "ffn_out_w", "ffn_out_b", "ln2_w", "ln2_b", "pool_w", "pool_b", "cls_w", "cls_b",
        "mlm_dense_w", "mlm_dense_b", "mlm_ln_w", "mlm_ln_b", "mlm_bias",
    };
    return t >= 0 && t < MODEL_NUM_PARAM_TENSORS ? names[t] : "?";
}

/* Every weight N(0, scale^2) from seed, LayerNorm weights (and the MLM head's, if any)
 * 1 + that: larger than HF's init so the FD signal stands well above float rounding. */
static inline void fd_init_weights(model *m, uint64_t seed, double scale)
{
    rng_t r;
    rng_seed(&r, seed);
    float *w = model_param_block(m);
    for (size_t i = 0; i < model_num_params(m); i++)
        w[i] = (float)(rng_normal(&r) * scale);
    const model_params *p = model_weights(m);
    const model_config *c = model_get_config(m);
    int Lp = model_layer_sets(c);
    float *lnw[4] = { p->emb_ln_w, p->ln1_w, p->ln2_w, c->mlm ? p->mlm_ln_w : NULL };
    size_t lnn[4] = { (size_t)c->E, (size_t)Lp * c->H, (size_t)Lp * c->H, (size_t)c->E };
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; lnw[k] && i < lnn[k]; i++)
            lnw[k][i] += 1.0f;
}

/* The analytic gradient in model_grad_block(m) (already computed by the caller) against the
 * 4-point central stencil of probe(ctx), a scalar function of the weights: for every
 * parameter tensor the 3 entries with the largest |gradient|, 3 random ones and, for
 * word_emb (tensor 0), the n_extra0 entries extra0.  Relative error with a 0.05 floor (some
 * gradients are exactly 0: key bias, softmax is shift-invariant) must stay below 1e-2.
 * Returns the worst relative error. */
static inline double fd_check_params(model *m, double (*probe)(void *), void *ctx, const char *label,
                                     const size_t *extra0, int n_extra0)
{
    const model_config *c = model_get_config(m);
    float *w = model_param_block(m), *g = model_grad_block(m);
    size_t sizes[MODEL_NUM_PARAM_TENSORS], off = 0;
    model_param_sizes(c, sizes);
    rng_t pick;
    rng_seed(&pick, 77);
    double worst_all = 0;
    for (int t = 0; t < MODEL_NUM_PARAM_TENSORS; t++) {
        size_t n = sizes[t];
        if (n == 0)
            continue;
        size_t idx[16];
        int k = 0;
        for (int top = 0; top < 3; top++) {   /* largest |grad| not yet chosen */
            size_t best = 0;
            float bv = -1;
            for (size_t i = 0; i < n; i++) {
                int seen = 0;
                for (int j = 0; j < k; j++)
                    seen |= idx[j] == i;
                if (!seen && fabsf(g[off + i]) > bv) {
                    bv = fabsf(g[off + i]);
                    best = i;
                }
            }
            idx[k++] = best;
        }
        while (k < 6)
            idx[k++] = (size_t)rng_below(&pick, n);
        if (t == 0)
            for (int e = 0; e < n_extra0 && k < 16; e++)
                idx[k++] = extra0[e];
        double worst = 0, fd_at = 0;
        size_t at = 0;
        for (int j = 0; j < k; j++) {
            float *x = w + off + idx[j];
            float x0 = *x, eps = 1e-2f;
            double f[4];
            const float st[4] = { -2, -1, 1, 2 };
            for (int s = 0; s < 4; s++) {
                *x = x0 + st[s] * eps;
                f[s] = probe(ctx);
            }
            *x = x0;
            double fd = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12.0 * eps);
            double err = fabs(fd - g[off + idx[j]]) / (5e-2 + fabs(fd));
            if (err > worst) {
                worst = err;
                at = idx[j];
                fd_at = fd;
            }
        }
        CHECK(worst < 1e-2, "%s %s[%zu]: fd %.7g vs analytic %.7g (rel %.3g)", label, param_tensor_name(t), at,
              fd_at, (double)g[off + at], worst);
        worst_all = fmax(worst_all, worst);
        off += n;
    }
    return worst_all;
}

/* Opens dir/expected.safetensors (the reference torch_ref.py stored); CHECKs and returns
 * -1 if it cannot. */
static inline int fixture_open_expected(st_file *f, const char *dir)
{
    char path[1100], err[512];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    if (st_open(f, path, err, sizeof err) != 0) {
        CHECK(0, "%s", err);
        return -1;
    }
    return 0;
}

/* Tensor `name` of a fixture file as n float32 values (CHECKs it exists with want values);
 * NULL if not.  The caller frees. */
static inline float *fixture_f32(st_file *f, const char *name, size_t want)
{
    char err[512];
    const st_tensor *t = st_find(f, name);
    CHECK(t && t->numel == want, "%s: %s missing or %llu values, want %zu", f->path, name,
          t ? (unsigned long long)t->numel : 0ull, want);
    if (!t || t->numel != want)
        return NULL;
    float *v = xmalloc(want * sizeof *v + 1);
    CHECK(st_to_f32(f, t, v, err, sizeof err) == 0, "%s", err);
    return v;
}

/* The fixture's (B, T) int64 input ids, padded with id 0 (real ids are never 0), as int32
 * ids and the (B) lengths that follow from them. */
static inline void fixture_ids_lens(const int64_t *ids64, int B, int T, int32_t *ids, int32_t *lens)
{
    for (int b = 0; b < B; b++) {
        lens[b] = 0;
        for (int t = 0; t < T; t++) {
            ids[b * T + t] = (int32_t)ids64[b * T + t];
            if (ids[b * T + t] != 0)
                lens[b] = t + 1;
        }
    }
}

/* Every parameter gradient g against the fixture's grad.<HF name> tensor, max abs diff
 * within tol, named on failure.  Returns how many were checked; *worst_all (if not NULL)
 * gets the worst difference over all of them. */
static inline size_t fixture_check_grads(st_file *f, const model_config *c, const model_params *g,
                                         const char *label, double tol, double *worst_all)
{
    size_t n = ckpt_num_entries(c), checked = 0;
    ckpt_entry *es = xmalloc(n * sizeof *es);
    ckpt_entries(c, es);
    double worst_seen = 0;
    for (size_t i = 0; i < n; i++) {
        char name[CKPT_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", es[i].name);
        float *w = fixture_f32(f, name, es[i].numel);
        if (!w)
            continue;
        const float *mg = ckpt_field(g, es[i].field) + es[i].offset;
        double worst = 0;
        size_t at = 0;
        for (size_t j = 0; j < es[i].numel; j++) {
            double d = fabs((double)mg[j] - w[j]);
            if (!(d <= worst)) {
                worst = d;
                at = j;
            }
        }
        CHECK(worst <= tol, "%s: %s max abs diff %.3g at %zu (%.9g vs torch %.9g)", label, name, worst, at,
              (double)mg[at], (double)w[at]);
        worst_seen = fmax(worst_seen, worst);
        checked++;
        free(w);
    }
    CHECK(checked == n, "%s: %zu of %zu gradients checked", label, checked, n);
    free(es);
    if (worst_all)
        *worst_all = worst_seen;
    return checked;
}

#endif
