/* AdamW + linear warm-up schedule + global-norm clipping against torch.optim.AdamW,
 * LambdaLR(HF linear schedule) and clip_grad_norm_ (goldens from tests/gen/torch_losses.py
 * in tests/fixtures/loss/adamw.json), plus bit-level determinism, save/restore of the
 * state, range validation and the model decay mask. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "nn/optim.h"
#include "util/par.h"
#include "util/rng.h"
#include "util/util.h"

static float *json_floats(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    float *v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        v[i] = (float)json_number_value(json_array_get(a, i));
    return v;
}

static double jnum(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* max over i of |a - b| / (|b| + scale) */
static double rel_err(const float *a, const float *b, size_t n, double scale, size_t *at)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (fabs(b[i]) + scale);
        if (!(e <= worst)) {
            worst = e;
            *at = i;
        }
    }
    return worst;
}

static void test_torch_goldens(void)
{
    const char *root = getenv("EMO_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/loss/adamw.json", root ? root : ".");
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    CHECK(doc != NULL, "cannot load %s: %s", path, je.text);
    if (!doc)
        return;
    size_t r;
    json_t *run;
    json_array_foreach(json_object_get(doc, "runs"), r, run) {
        const char *name = json_string_value(json_object_get(run, "name"));
        size_t n, nm;
        float *p = json_floats(json_object_get(run, "p0"), &n);
        json_t *jr = json_object_get(run, "decay_ranges");
        size_t nr = json_array_size(jr);
        optim_range ranges[8];
        CHECK(nr <= 8, "%s: ranges", name);
        for (size_t i = 0; i < nr && i < 8; i++) {
            ranges[i].off = (size_t)json_integer_value(json_array_get(json_array_get(jr, i), 0));
            ranges[i].n = (size_t)json_integer_value(json_array_get(json_array_get(jr, i), 1));
        }
        adamw_cfg cfg = ADAMW_DEFAULTS;
        cfg.weight_decay = jnum(run, "wd");
        double base_lr = jnum(run, "base_lr"), max_norm = jnum(run, "max_norm");
        uint64_t warmup = (uint64_t)json_integer_value(json_object_get(run, "warmup"));
        uint64_t total = (uint64_t)json_integer_value(json_object_get(run, "total"));
        adamw_state st;
        adamw_init(&st, n);
        json_t *grads = json_object_get(run, "grads");
        size_t steps = json_array_size(grads);
        int clipped = 0, unclipped = 0;
        for (size_t k = 0; k < steps; k++) {
            size_t ng, nw;
            float *g = json_floats(json_array_get(grads, k), &ng);
            float *want = json_floats(json_array_get(json_object_get(run, "params"), k), &nw);
            CHECK(ng == n && nw == n, "%s: sizes", name);
            double norm = clip_grad_norm(g, n, max_norm);
            double tnorm = json_number_value(json_array_get(json_object_get(run, "norms"), k));
            CHECK(fabs(norm - tnorm) <= 1e-6 * tnorm, "%s step %zu: norm %.9g vs torch %.9g", name, k, norm, tnorm);
            if (max_norm / (norm + 1e-6) < 1)
                clipped++;
            else
                unclipped++;
            double lr = linear_warmup_lr(base_lr, st.step, warmup, total);
            double tlr = json_number_value(json_array_get(json_object_get(run, "lrs"), k));
            CHECK(lr == tlr, "%s step %zu: lr %.17g vs torch %.17g", name, k, lr, tlr);
            CHECK(adamw_step(&st, p, g, lr, &cfg, ranges, nr) == 0, "%s: step refused", name);
            size_t at = 0;
            double e = rel_err(p, want, n, 1e-3, &at);
            CHECK(e <= 2e-6, "%s step %zu: params rel err %.3g at %zu (%.9g vs torch %.9g)", name, k, e, at, p[at], want[at]);
            free(g);
            free(want);
        }
        if (max_norm < 1e6)
            CHECK(clipped && unclipped, "%s: goldens should exercise both clip branches (%d/%d)", name, clipped, unclipped);
        float *m = json_floats(json_object_get(run, "m"), &nm);
        size_t at = 0;
        double e = rel_err(st.m, m, n, 1e-4, &at);
        CHECK(e <= 2e-6, "%s: m rel err %.3g at %zu", name, e, at);
        free(m);
        float *v = json_floats(json_object_get(run, "v"), &nm);
        e = rel_err(st.v, v, n, 1e-6, &at);
        CHECK(e <= 2e-6, "%s: v rel err %.3g at %zu", name, e, at);
        free(v);
        CHECK(st.step == (uint64_t)json_integer_value(json_object_get(run, "step")), "%s: step count", name);
        adamw_free(&st);
        free(p);
    }
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(doc, "schedule"), i, s) {
        uint64_t w = (uint64_t)json_integer_value(json_array_get(s, 0));
        uint64_t t = (uint64_t)json_integer_value(json_array_get(s, 1));
        uint64_t k = (uint64_t)json_integer_value(json_array_get(s, 2));
        double want = json_number_value(json_array_get(s, 3));
        double got = linear_warmup_lr(2e-5, k, w, t);
        CHECK(got == want, "schedule warmup %llu total %llu step %llu: %.17g vs HF %.17g",
              (unsigned long long)w, (unsigned long long)t, (unsigned long long)k, got, want);
    }
    json_decref(doc);
}

/* Runs `steps` updates on a fixed random problem from the given state and parameters. */
static void run_steps(adamw_state *st, float *p, size_t n, uint64_t seed, int steps,
                      const optim_range *r, size_t nr)
{
    rng_t rng;
    rng_seed(&rng, seed);
    float *g = malloc(n * sizeof *g);
    adamw_cfg cfg = ADAMW_DEFAULTS;
    for (int k = 0; k < steps; k++) {
        for (size_t i = 0; i < n; i++)
            g[i] = (float)rng_normal(&rng);
        clip_grad_norm(g, n, 1.0);
        adamw_step(st, p, g, linear_warmup_lr(1e-3, st->step, 2, 10), &cfg, r, nr);
    }
    free(g);
}

static void test_determinism_and_resume(void)
{
    const size_t n = 100003;
    optim_range r[2] = { { 10, 50000 }, { 60000, 40000 } };
    float *p1 = malloc(n * sizeof *p1), *p2 = malloc(n * sizeof *p2);
    rng_t rng;
    rng_seed(&rng, 3);
    for (size_t i = 0; i < n; i++)
        p1[i] = p2[i] = (float)rng_normal(&rng);
    adamw_state a, b;
    adamw_init(&a, n);
    adamw_init(&b, n);
    run_steps(&a, p1, n, 77, 5, r, 2);
    run_steps(&b, p2, n, 77, 5, r, 2);
    CHECK(!memcmp(p1, p2, n * sizeof *p1) && !memcmp(a.m, b.m, n * 4) && !memcmp(a.v, b.v, n * 4),
          "two identical runs differ");
    /* save a's state and parameters, continue both from the copy and from a */
    adamw_state c;
    adamw_init(&c, n);
    memcpy(c.m, a.m, n * sizeof(float));
    memcpy(c.v, a.v, n * sizeof(float));
    c.step = a.step;
    float *p3 = malloc(n * sizeof *p3);
    memcpy(p3, p1, n * sizeof *p3);
    run_steps(&a, p1, n, 78, 3, r, 2);
    run_steps(&c, p3, n, 78, 3, r, 2);
    CHECK(!memcmp(p1, p3, n * sizeof *p1) && !memcmp(a.m, c.m, n * 4) && a.step == 8 && c.step == 8,
          "resumed run differs from the uninterrupted one");
    /* decay only inside ranges: with zero gradients, m = v = 0 and the update is decay alone */
    adamw_state z;
    adamw_init(&z, 8);
    float pz[8] = { 1, 1, 1, 1, 1, 1, 1, 1 }, gz[8] = { 0 };
    optim_range rz[1] = { { 2, 3 } };
    adamw_cfg cfg = ADAMW_DEFAULTS;
    cfg.weight_decay = 0.5;
    CHECK(adamw_step(&z, pz, gz, 0.1, &cfg, rz, 1) == 0, "step");
    CHECK(pz[0] == 1 && pz[1] == 1 && pz[5] == 1 && pz[7] == 1, "decay outside the ranges");
    CHECK(pz[2] == 0.95f && pz[3] == 0.95f && pz[4] == 0.95f, "decay inside: %.9g", pz[2]);
    /* bad ranges are refused and change nothing */
    optim_range bad1[2] = { { 4, 2 }, { 5, 1 } }, bad2[1] = { { 6, 3 } };
    uint64_t s0 = z.step;
    CHECK(adamw_step(&z, pz, gz, 0.1, &cfg, bad1, 2) == -1, "overlap refused");
    CHECK(adamw_step(&z, pz, gz, 0.1, &cfg, bad2, 1) == -1, "out of block refused");
    CHECK(z.step == s0 && pz[2] == 0.95f, "refused step changed state");
    adamw_free(&z);
    adamw_free(&a);
    adamw_free(&b);
    adamw_free(&c);
    free(p1), free(p2), free(p3);
}

static void test_clip(void)
{
    float g[5] = { 3, 4, 0, 0, 0 };
    double norm = clip_grad_norm(g, 5, 10);
    CHECK(norm == 5 && g[0] == 3 && g[1] == 4, "no clip under max_norm");
    norm = clip_grad_norm(g, 5, 1);
    CHECK(norm == 5, "norm");
    CHECK(fabs(g[0] - 0.6) < 1e-6 && fabs(g[1] - 0.8) < 1e-6, "clipped to 1: %g %g", g[0], g[1]);
    float gn[3] = { 1, NAN, 2 };
    norm = clip_grad_norm(gn, 3, 1);
    CHECK(isnan(norm) && gn[0] == 1 && gn[2] == 2, "NaN norm reported, gradients untouched");
    CHECK(linear_warmup_lr(1, 0, 5, 10) == 0, "first warm-up step has lr 0 (HF)");
    CHECK(linear_warmup_lr(1, 5, 5, 10) == 1, "peak");
    CHECK(linear_warmup_lr(1, 12, 5, 10) == 0, "after the end: 0");
}

static void test_decay_ranges(void)
{
    model_config c;
    memset(&c, 0, sizeof c);
    c.arch = ARCH_BERT;
    c.V = 30, c.P = 16, c.TV = 2, c.E = c.H = 8, c.L = 2, c.NH = 2, c.I = 12, c.K = 6;
    size_t sz[MODEL_NUM_PARAM_TENSORS], off[MODEL_NUM_PARAM_TENSORS + 1];
    size_t total = model_param_sizes(&c, sz);
    off[0] = 0;
    for (int t = 0; t < MODEL_NUM_PARAM_TENSORS; t++)
        off[t + 1] = off[t] + sz[t];
    optim_range r[MODEL_NUM_PARAM_TENSORS];
    size_t nr = optim_decay_ranges(r, &c);
    /* word+pos+type merged, then qkv_w, attn_out_w, ffn_in_w, ffn_out_w, pool_w, cls_w */
    CHECK(nr == 7, "BERT decay ranges %zu", nr);
    CHECK(r[0].off == 0 && r[0].n == off[3], "embeddings range");
    CHECK(r[1].off == off[7] && r[1].n == sz[7], "qkv_w range");
    CHECK(r[6].off == off[21] && r[6].n == sz[21], "classifier range");
    size_t decayed = 0;
    for (size_t i = 0; i < nr; i++)
        decayed += r[i].n;
    size_t want = sz[0] + sz[1] + sz[2] + sz[7] + sz[9] + sz[13] + sz[15] + sz[19] + sz[21];
    CHECK(decayed == want && decayed < total, "decayed %zu of %zu, want %zu", decayed, total, want);
    c.arch = ARCH_ALBERT;
    c.E = 4;
    model_param_sizes(&c, sz);
    nr = optim_decay_ranges(r, &c);
    CHECK(nr == 8, "ALBERT has the embedding projection too: %zu", nr);
    c.arch = ARCH_DISTILBERT;
    c.TV = 0;
    c.E = 8;
    nr = optim_decay_ranges(r, &c);
    CHECK(nr == 7 && r[0].n == (size_t)(30 + 16) * 8, "DistilBERT: no token types %zu", nr);
}

/* The update as optim.h states it, one element at a time in plain C (the vectorised and
 * threaded adamw_step must give exactly these bits). */
static void adamw_scalar_ref(float *p, const float *g, float *m, float *v, size_t n,
                             uint64_t step, double lr, const adamw_cfg *cfg,
                             const optim_range *r, size_t nr)
{
    double bc1 = 1.0 - pow(cfg->beta1, (double)step), bc2 = 1.0 - pow(cfg->beta2, (double)step);
    float decay = (float)(1.0 - lr * cfg->weight_decay), b1 = (float)cfg->beta1;
    float one_b1 = (float)(1.0 - cfg->beta1), b2 = (float)cfg->beta2;
    float one_b2 = (float)(1.0 - cfg->beta2), bc2_sqrt = (float)sqrt(bc2);
    float eps = (float)cfg->eps, nss = (float)(-(lr / bc1));
    for (size_t i = 0; i < n; i++) {
        int dec = 0;
        for (size_t q = 0; q < nr; q++)
            dec |= i >= r[q].off && i < r[q].off + r[q].n;
        float pi = dec ? p[i] * decay : p[i];
        float mi = m[i] * b1 + one_b1 * g[i];
        float vi = v[i] * b2 + one_b2 * g[i] * g[i];
        p[i] = pi + nss * mi / (sqrtf(vi) / bc2_sqrt + eps);
        m[i] = mi;
        v[i] = vi;
    }
}

/* Bit-identity: the vectorised, threaded update equals the scalar reference for 1 and 2
 * threads, with ranges at odd offsets (vector tails) and more ranges than a model has
 * (the batched path); the clipping norm equals the four-partial-sum formula. */
static void test_vectorised_bits(void)
{
    const size_t n = 200003;   // > 2 * 32768: the threaded split really happens
    optim_range r[60];
    size_t nr = 0;
    for (size_t off = 7; nr < 60; nr++, off += 3001)
        r[nr] = (optim_range){ off, 1000 + 13 * nr };
    float *p0 = malloc(n * 4), *g = malloc(n * 4), *want = malloc(n * 4);
    float *wm = calloc(n, 4), *wv = calloc(n, 4);
    rng_t rng;
    rng_seed(&rng, 11);
    for (size_t i = 0; i < n; i++) {
        p0[i] = (float)rng_normal(&rng);
        g[i] = (float)(rng_normal(&rng) * 1e-3);
    }
    adamw_cfg cfg = ADAMW_DEFAULTS;
    for (int t = 1; t <= 2; t++) {
        threads_setup(t);
        for (size_t use = 10; use <= nr; use += nr - 10) {   // one batch of runs, then several
            memcpy(want, p0, n * 4);
            memset(wm, 0, n * 4);
            memset(wv, 0, n * 4);
            for (uint64_t k = 1; k <= 3; k++)
                adamw_scalar_ref(want, g, wm, wv, n, k, 1e-3, &cfg, r, use);
            float *p = malloc(n * 4);
            memcpy(p, p0, n * 4);
            adamw_state st;
            adamw_init(&st, n);
            memset(st.m, 0, n * 4);
            memset(st.v, 0, n * 4);
            for (int k = 0; k < 3; k++)
                CHECK(adamw_step(&st, p, g, 1e-3, &cfg, r, use) == 0, "step");
            CHECK(!memcmp(p, want, n * 4) && !memcmp(st.m, wm, n * 4) && !memcmp(st.v, wv, n * 4),
                  "%d threads, %zu ranges: not bit-identical to the scalar update", t, use);
            adamw_free(&st);
            free(p);
        }
        /* clipping: norm as four interleaved double sums, scaling elementwise */
        double acc[4] = { 0, 0, 0, 0 };
        size_t i = 0;
        for (; i + 4 <= n; i += 4)
            for (int l = 0; l < 4; l++)
                acc[l] += (double)g[i + l] * g[i + l];
        for (; i < n; i++)
            acc[0] += (double)g[i] * g[i];
        double want_norm = sqrt((acc[0] + acc[1]) + (acc[2] + acc[3]));
        float *gc = malloc(n * 4);
        memcpy(gc, g, n * 4);
        double norm = clip_grad_norm(gc, n, 0.01);
        float c = (float)(0.01 / (want_norm + 1e-6));
        int same = norm == want_norm;
        for (i = 0; i < n; i++)
            same &= gc[i] == g[i] * c;
        CHECK(same, "%d threads: clip_grad_norm differs from the scalar formula", t);
        free(gc);
    }
    threads_setup(1);
    free(p0), free(g), free(want), free(wm), free(wv);
}

int main(void)
{
    test_torch_goldens();
    test_determinism_and_resume();
    test_vectorised_bits();
    test_clip();
    test_decay_ranges();
    return check_done("test_optim");
}
