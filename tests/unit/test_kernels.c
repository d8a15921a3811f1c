/* Every backward kernel against central finite differences, and every tuned kernel against
 * its plain _ref twin.  The kernels compute in float; the probe loss sum(out * r) is
 * accumulated in double and differentiated with the 4-point central stencil
 * (f(-2e) - 8 f(-e) + 8 f(e) - f(2e)) / 12e, whose O(e^4) truncation error lets e be large
 * enough for float rounding to stay far below the tolerance. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "nn/kernels.h"
#include "util/par.h"
#include "util/rng.h"

static rng_t g_rng;

static float *randv(size_t n, float scale)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(rng_normal(&g_rng) * scale);
    return v;
}

static float *zerov(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Probe: evaluates the scalar loss for the current inputs. */
typedef double (*probe_fn)(void *ctx);

/* Compares analytic grad[n] of the probe w.r.t. x[n] with the 4-point stencil. */
static void fd_check(const char *label, float *x, const float *grad, size_t n, probe_fn f,
                     void *ctx, float eps, double tol)
{
    double worst = 0;
    size_t at = 0;
    double fd_at = 0;
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        double fv[4];
        const float steps[4] = { -2, -1, 1, 2 };
        for (int s = 0; s < 4; s++) {
            x[i] = x0 + steps[s] * eps;
            fv[s] = f(ctx);
        }
        x[i] = x0;
        double fd = (fv[0] - 8 * fv[1] + 8 * fv[2] - fv[3]) / (12.0 * eps);
        double err = fabs(fd - grad[i]) / (1.0 + fabs(fd));
        if (err > worst) {
            worst = err;
            at = i;
            fd_at = fd;
        }
    }
    CHECK(worst <= tol, "%s: worst rel err %.3g at %zu (fd %.7g, analytic %.7g)", label, worst,
          at, fd_at, (double)grad[at]);
}

/* ---------------------------------------------------------------- matmul */
struct mm { float *out, *inp, *w, *b, *r; size_t N, C, OC; };

static double mm_probe(void *p)
{
    struct mm *m = p;
    matmul_forward(m->out, m->inp, m->w, m->b, m->N, m->C, m->OC);
    return dot(m->out, m->r, m->N * m->OC);
}

static void test_matmul(void)
{
    struct mm m = { .N = 5, .C = 7, .OC = 4 };
    m.out = zerov(m.N * m.OC);
    m.inp = randv(m.N * m.C, 1);
    m.w = randv(m.OC * m.C, 1);
    m.b = randv(m.OC, 1);
    m.r = randv(m.N * m.OC, 1);
    float *dinp = zerov(m.N * m.C), *dw = zerov(m.OC * m.C), *db = zerov(m.OC);
    matmul_backward(dinp, dw, db, m.r, m.inp, m.w, m.N, m.C, m.OC);
    fd_check("matmul dinp", m.inp, dinp, m.N * m.C, mm_probe, &m, 1e-2f, 1e-3);
    fd_check("matmul dw", m.w, dw, m.OC * m.C, mm_probe, &m, 1e-2f, 1e-3);
    fd_check("matmul db", m.b, db, m.OC, mm_probe, &m, 1e-2f, 1e-3);

    // tuned vs ref on a shape big enough for OpenBLAS's blocked paths
    size_t N = 67, C = 129, OC = 70;
    float *x = randv(N * C, 1), *w = randv(OC * C, 1), *b = randv(OC, 1), *d = randv(N * OC, 1);
    float *o1 = zerov(N * OC), *o2 = zerov(N * OC);
    matmul_forward(o1, x, w, b, N, C, OC);
    matmul_forward_ref(o2, x, w, b, N, C, OC);
    CHECK_CLOSE("matmul fwd vs ref", o1, o2, N * OC, 1e-4);
    float *di1 = randv(N * C, 1), *dw1 = randv(OC * C, 1), *db1 = randv(OC, 1);
    float *di2 = malloc(N * C * 4), *dw2 = malloc(OC * C * 4), *db2 = malloc(OC * 4);
    memcpy(di2, di1, N * C * 4);
    memcpy(dw2, dw1, OC * C * 4);
    memcpy(db2, db1, OC * 4);
    matmul_backward(di1, dw1, db1, d, x, w, N, C, OC);
    matmul_backward_ref(di2, dw2, db2, d, x, w, N, C, OC);
    CHECK_CLOSE("matmul dinp vs ref", di1, di2, N * C, 1e-3);
    CHECK_CLOSE("matmul dw vs ref", dw1, dw2, OC * C, 1e-3);
    CHECK_CLOSE("matmul db vs ref", db1, db2, OC, 1e-3);
    // a NULL dinp leaves the rest intact (first-layer use)
    matmul_backward(NULL, dw1, db1, d, x, w, N, C, OC);
    matmul_backward_ref(NULL, dw2, db2, d, x, w, N, C, OC);
    CHECK_CLOSE("matmul dw (dinp NULL) vs ref", dw1, dw2, OC * C, 2e-3);
    free(x); free(w); free(b); free(d); free(o1); free(o2);
    free(di1); free(dw1); free(db1); free(di2); free(dw2); free(db2);
    free(m.out); free(m.inp); free(m.w); free(m.b); free(m.r); free(dinp); free(dw); free(db);
}

/* ---------------------------------------------------------------- layernorm */
struct ln { float *out, *mean, *rstd, *inp, *w, *b, *r; size_t N, C; };

static double ln_probe(void *p)
{
    struct ln *l = p;
    layernorm_forward(l->out, l->mean, l->rstd, l->inp, l->w, l->b, l->N, l->C, 1e-5f);
    return dot(l->out, l->r, l->N * l->C);
}

static void test_layernorm(void)
{
    struct ln l = { .N = 4, .C = 9 };
    l.out = zerov(l.N * l.C);
    l.mean = zerov(l.N);
    l.rstd = zerov(l.N);
    l.inp = randv(l.N * l.C, 1);
    l.w = randv(l.C, 1);
    l.b = randv(l.C, 1);
    l.r = randv(l.N * l.C, 1);
    ln_probe(&l);
    float *dinp = zerov(l.N * l.C), *dw = zerov(l.C), *db = zerov(l.C);
    layernorm_backward(dinp, dw, db, l.r, l.inp, l.w, l.mean, l.rstd, l.N, l.C);
    fd_check("layernorm dinp", l.inp, dinp, l.N * l.C, ln_probe, &l, 1e-2f, 2e-3);
    fd_check("layernorm dw", l.w, dw, l.C, ln_probe, &l, 1e-2f, 1e-3);
    fd_check("layernorm db", l.b, db, l.C, ln_probe, &l, 1e-2f, 1e-3);

    size_t N = 33, C = 256;
    float *x = randv(N * C, 3), *w = randv(C, 1), *b = randv(C, 1), *d = randv(N * C, 1);
    for (size_t i = 0; i < N * C; i++)
        x[i] += 5.0f;   // an offset mean, as in real residual streams
    float *o1 = zerov(N * C), *o2 = zerov(N * C), *m1 = zerov(N), *m2 = zerov(N);
    float *r1 = zerov(N), *r2 = zerov(N);
    layernorm_forward(o1, m1, r1, x, w, b, N, C, 1e-12f);
    layernorm_forward_ref(o2, m2, r2, x, w, b, N, C, 1e-12f);
    CHECK_CLOSE("layernorm fwd vs ref", o1, o2, N * C, 1e-5);
    float *di1 = zerov(N * C), *di2 = zerov(N * C), *dw1 = zerov(C), *dw2 = zerov(C);
    float *db1 = zerov(C), *db2 = zerov(C);
    layernorm_backward(di1, dw1, db1, d, x, w, m1, r1, N, C);
    layernorm_backward_ref(di2, dw2, db2, d, x, w, m2, r2, N, C);
    CHECK_CLOSE("layernorm dinp vs ref", di1, di2, N * C, 1e-4);
    CHECK_CLOSE("layernorm dw vs ref", dw1, dw2, C, 1e-4);
    CHECK_CLOSE("layernorm db vs ref", db1, db2, C, 1e-4);
    free(x); free(w); free(b); free(d); free(o1); free(o2); free(m1); free(m2); free(r1);
    free(r2); free(di1); free(di2); free(dw1); free(dw2); free(db1); free(db2);
    free(l.out); free(l.mean); free(l.rstd); free(l.inp); free(l.w); free(l.b); free(l.r);
    free(dinp); free(dw); free(db);
}

/* ---------------------------------------------------------------- elementwise */
typedef void (*fwd_fn)(float *, const float *, size_t);
typedef void (*bwd_fn)(float *, const float *, const float *, size_t);
struct ew { fwd_fn f; float *out, *inp, *r; size_t n; };

static double ew_probe(void *p)
{
    struct ew *e = p;
    e->f(e->out, e->inp, e->n);
    return dot(e->out, e->r, e->n);
}

static void test_elementwise(const char *label, fwd_fn f, bwd_fn b, int backward_uses_out)
{
    struct ew e = { .f = f, .n = 40 };
    e.inp = randv(e.n, 2);
    for (size_t i = 0; i < e.n; i++)   // keep relu's kink out of the stencil's reach
        if (fabsf(e.inp[i]) < 0.1f)
            e.inp[i] = 0.3f;
    e.out = zerov(e.n);
    e.r = randv(e.n, 1);
    ew_probe(&e);
    float *d = randv(e.n, 1), *d0 = malloc(e.n * 4);
    memcpy(d0, d, e.n * 4);
    b(d, e.r, backward_uses_out ? e.out : e.inp, e.n);
    for (size_t i = 0; i < e.n; i++)   // backward accumulates: subtract the seed
        d[i] -= d0[i];
    fd_check(label, e.inp, d, e.n, ew_probe, &e, 1e-2f, 1e-3);
    free(e.inp); free(e.out); free(e.r); free(d); free(d0);
}

static void test_gelu_values(void)
{
    // torch 1.13: F.gelu(x) and F.gelu(x, approximate='tanh') at these points
    float x[4] = { -3.0f, -0.5f, 0.7f, 2.5f };
    float erf_ref[4] = { -0.00404987f, -0.15426879f, 0.53062546f, 2.48447585f };
    float tanh_ref[4] = { -0.00363743f, -0.15428600f, 0.53057015f, 2.48491573f };
    float o[4];
    gelu_erf_forward(o, x, 4);
    CHECK_CLOSE("gelu erf values", o, erf_ref, 4, 1e-6);
    gelu_tanh_forward(o, x, 4);
    CHECK_CLOSE("gelu tanh values", o, tanh_ref, 4, 1e-6);
}

/* tuned (vectorised exp/erf/tanh approximations) against the libm _ref twins */
static void test_elementwise_vs_ref(void)
{
    size_t n = 4099;   // odd: exercises the vector loops' tails
    float *x = malloc(n * 4), *a = malloc(n * 4), *b = malloc(n * 4), *d = randv(n, 1);
    for (size_t i = 0; i < n; i++)
        x[i] = -15.0f + 30.0f * (float)i / (float)(n - 1);
    x[n / 2] = 0.0f;
    x[7] = -100.0f;
    x[8] = 100.0f;
    x[9] = 1e-30f;
    const struct { const char *name; fwd_fn tuned, ref; bwd_fn tb, rb; double tol; } k[] = {
        { "gelu_erf", gelu_erf_forward, gelu_erf_forward_ref, gelu_erf_backward,
          gelu_erf_backward_ref, 1e-6 },
        { "gelu_tanh", gelu_tanh_forward, gelu_tanh_forward_ref, gelu_tanh_backward,
          gelu_tanh_backward_ref, 1e-6 },
        { "tanh", tanh_forward, tanh_forward_ref, NULL, NULL, 3e-7 },
    };
    for (size_t j = 0; j < sizeof k / sizeof k[0]; j++) {
        char label[64];
        k[j].tuned(a, x, n);
        k[j].ref(b, x, n);
        snprintf(label, sizeof label, "%s forward vs ref", k[j].name);
        CHECK_CLOSE(label, a, b, n, k[j].tol);
        if (!k[j].tb)
            continue;
        memset(a, 0, n * 4);
        memset(b, 0, n * 4);
        k[j].tb(a, d, x, n);
        k[j].rb(b, d, x, n);
        snprintf(label, sizeof label, "%s backward vs ref", k[j].name);
        CHECK_CLOSE(label, a, b, n, 4 * k[j].tol);
    }
    // softmax rows of several widths, large and tiny logits
    size_t rows = 9, w = 131;
    float *sx = randv(rows * w, 8), *p1 = zerov(rows * w), *p2 = zerov(rows * w);
    sx[5] = 80.0f;
    sx[w + 3] = -80.0f;
    for (size_t len = 1; len <= w; len += 13) {
        softmax_forward(p1, sx, rows, len, w);
        softmax_forward_ref(p2, sx, rows, len, w);
        CHECK_CLOSE("softmax vs ref", p1, p2, rows * w, 1e-6);
    }
    free(x); free(a); free(b); free(d); free(sx); free(p1); free(p2);
}

/* ---------------------------------------------------------------- residual, dropout */
struct res { float *out, *a, *b, *r; size_t n; };

static double res_probe(void *p)
{
    struct res *s = p;
    residual_forward(s->out, s->a, s->b, s->n);
    return dot(s->out, s->r, s->n);
}

static void test_residual(void)
{
    struct res s = { .n = 17 };
    s.a = randv(s.n, 1);
    s.b = randv(s.n, 1);
    s.r = randv(s.n, 1);
    s.out = zerov(s.n);
    float *da = zerov(s.n), *db = zerov(s.n);
    residual_backward(da, db, s.r, s.n);
    fd_check("residual da", s.a, da, s.n, res_probe, &s, 1e-2f, 1e-4);
    fd_check("residual db", s.b, db, s.n, res_probe, &s, 1e-2f, 1e-4);
    free(s.a); free(s.b); free(s.r); free(s.out); free(da); free(db);
}

struct drop { float *out, *inp, *r; uint8_t *mask; size_t n; float p; };

static double drop_probe(void *q)
{
    struct drop *d = q;
    rng_t r;
    rng_seed(&r, 99);   // same mask on every evaluation
    dropout_forward(d->out, d->mask, d->inp, d->p, d->n, &r);
    return dot(d->out, d->r, d->n);
}

static void test_dropout(void)
{
    struct drop d = { .n = 50, .p = 0.3f };
    d.inp = randv(d.n, 1);
    d.r = randv(d.n, 1);
    d.out = zerov(d.n);
    d.mask = calloc(d.n, 1);
    drop_probe(&d);
    float *din = zerov(d.n);
    dropout_backward(din, d.r, d.mask, d.p, d.n);
    fd_check("dropout dinp", d.inp, din, d.n, drop_probe, &d, 1e-2f, 1e-4);

    // the keep rate is about 1 - p, the scale is 1 / (1 - p), and p = 0 is the identity
    size_t n = 100000, kept = 0;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    uint8_t *m = malloc(n);
    for (size_t i = 0; i < n; i++)
        x[i] = 1.0f;
    rng_t r;
    rng_seed(&r, 5);
    dropout_forward(y, m, x, 0.1f, n, &r);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        kept += m[i];
        wrong += y[i] != (m[i] ? 1.0f / 0.9f : 0.0f);
    }
    CHECK(wrong == 0, "%zu dropout values are not 0 or 1/(1-p)", wrong);
    CHECK(fabs((double)kept / n - 0.9) < 0.005, "keep rate %.4f", (double)kept / n);
    dropout_forward(y, m, x, 0.0f, n, &r);
    CHECK(memcmp(x, y, n * 4) == 0, "p=0 is the identity");
    free(x); free(y); free(m);
    free(d.inp); free(d.r); free(d.out); free(d.mask); free(din);
}

/* ---------------------------------------------------------------- embedding */
struct emb { float *out, *table, *r; const int32_t *ids; size_t N, C; };

static double emb_probe(void *p)
{
    struct emb *e = p;
    memset(e->out, 0, e->N * e->C * 4);
    embedding_forward(e->out, e->ids, e->table, e->N, e->C, 1);
    return dot(e->out, e->r, e->N * e->C);
}

static void test_embedding(void)
{
    const int32_t ids[6] = { 3, 0, 3, 4, 1, 3 };   // repeats must accumulate
    struct emb e = { .ids = ids, .N = 6, .C = 5 };
    size_t V = 6;
    e.table = randv(V * e.C, 1);
    e.r = randv(e.N * e.C, 1);
    e.out = zerov(e.N * e.C);
    float *dt = zerov(V * e.C);
    embedding_backward(dt, e.r, ids, e.N, e.C);
    fd_check("embedding dtable", e.table, dt, V * e.C, emb_probe, &e, 1e-2f, 1e-4);
    embedding_forward(e.out, ids, e.table, e.N, e.C, 0);
    CHECK(memcmp(e.out + 2 * e.C, e.table + 3 * e.C, e.C * 4) == 0, "embedding copies rows");
    free(e.table); free(e.r); free(e.out); free(dt);
}

/* ---------------------------------------------------------------- softmax */
struct sm { float *p, *x, *r; size_t rows, n, ld; };

static double sm_probe(void *q)
{
    struct sm *s = q;
    softmax_forward(s->p, s->x, s->rows, s->n, s->ld);
    double acc = 0;
    for (size_t i = 0; i < s->rows; i++)
        acc += dot(s->p + i * s->ld, s->r + i * s->ld, s->n);
    return acc;
}

static void test_softmax(void)
{
    struct sm s = { .rows = 3, .n = 5, .ld = 7 };
    s.x = randv(s.rows * s.ld, 2);
    s.r = randv(s.rows * s.ld, 1);
    s.p = zerov(s.rows * s.ld);
    sm_probe(&s);
    float *dx = zerov(s.rows * s.ld);
    softmax_backward(dx, s.r, s.p, s.rows, s.n, s.ld);
    fd_check("softmax dx", s.x, dx, s.rows * s.ld, sm_probe, &s, 1e-2f, 1e-3);
    free(s.x); free(s.r); free(s.p); free(dx);
}

/* ---------------------------------------------------------------- attention */
struct att {
    attn_batch ab;
    float *ctx, *att, *attd, *qkv, *r, *rx;   /* rx: probe weights on returned probs (B,NH,T,T) */
    size_t T;
    float p;
};

static double att_probe(void *q)
{
    struct att *a = q;
    rng_t r;
    rng_seed(&r, 7);
    attention_forward(a->ctx, a->att, a->attd, a->qkv, &a->ab, a->p, &r);
    size_t N = a->ab.tok_off[a->ab.B], H = (size_t)a->ab.NH * a->ab.hd;
    double acc = dot(a->ctx, a->r, N * H);
    const float *ret = a->p > 0 ? a->attd : a->att;
    for (int b = 0; b < a->ab.B; b++) {
        size_t n = (size_t)a->ab.lens[b];
        for (int h = 0; h < a->ab.NH; h++)
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < n; j++)
                    acc += (double)ret[a->ab.att_off[b] + h * n * n + i * n + j]
                           * a->rx[(((size_t)b * a->ab.NH + h) * a->T + i) * a->T + j];
    }
    return acc;
}

static void make_batch(attn_batch *ab, size_t *tok_off, size_t *att_off, const int32_t *lens,
                       int B, int NH, int hd)
{
    ab->B = B;
    ab->NH = NH;
    ab->hd = hd;
    ab->lens = lens;
    ab->tok_off = tok_off;
    ab->att_off = att_off;
    tok_off[0] = att_off[0] = 0;
    for (int b = 0; b < B; b++) {
        tok_off[b + 1] = tok_off[b] + (size_t)lens[b];
        att_off[b + 1] = att_off[b] + (size_t)NH * lens[b] * lens[b];
    }
}

static void test_attention_fd(float p, int with_extra)
{
    static const int32_t lens[3] = { 3, 1, 4 };
    size_t tok_off[4], att_off[4];
    struct att a = { .T = 4, .p = p };
    make_batch(&a.ab, tok_off, att_off, lens, 3, 2, 3);
    size_t N = tok_off[3], H = 6, A = att_off[3];
    a.qkv = randv(N * 3 * H, 1);
    a.r = randv(N * H, 1);
    a.rx = with_extra ? randv(3 * 2 * a.T * a.T, 1) : zerov(3 * 2 * a.T * a.T);
    a.ctx = zerov(N * H);
    a.att = zerov(A);
    a.attd = zerov(A);
    att_probe(&a);
    float *dqkv = zerov(N * 3 * H), *datt = zerov(A);
    attention_backward(dqkv, datt, a.r, with_extra ? a.rx : NULL, a.T, a.att, a.attd, a.qkv,
                       &a.ab, p);
    char label[64];
    snprintf(label, sizeof label, "attention dqkv (p=%.1f, extra=%d)", (double)p, with_extra);
    fd_check(label, a.qkv, dqkv, N * 3 * H, att_probe, &a, 1e-2f, 2e-3);

    // the _ref twins agree with the sgemm versions, dropout draws included
    float *ctx2 = zerov(N * H), *att2 = zerov(A), *attd2 = zerov(A), *dqkv2 = zerov(N * 3 * H);
    rng_t r1, r2;
    rng_seed(&r1, 3);
    rng_seed(&r2, 3);
    attention_forward(a.ctx, a.att, a.attd, a.qkv, &a.ab, p, &r1);
    attention_forward_ref(ctx2, att2, attd2, a.qkv, &a.ab, p, &r2);
    CHECK_CLOSE("attention ctx vs ref", a.ctx, ctx2, N * H, 1e-5);
    CHECK_CLOSE("attention probs vs ref", a.att, att2, A, 1e-6);
    if (p > 0)
        CHECK_CLOSE("attention dropped probs vs ref", a.attd, attd2, A, 1e-6);
    memset(dqkv, 0, N * 3 * H * 4);
    attention_backward(dqkv, datt, a.r, a.rx, a.T, a.att, a.attd, a.qkv, &a.ab, p);
    attention_backward_ref(dqkv2, datt, a.r, a.rx, a.T, att2, attd2, a.qkv, &a.ab, p);
    CHECK_CLOSE("attention dqkv vs ref", dqkv, dqkv2, N * 3 * H, 1e-5);
    // probabilities sum to one per row
    for (size_t i = 0; i < 4; i++) {
        double s = 0;
        for (size_t j = 0; j < 4; j++)
            s += a.att[att_off[2] + i * 4 + j];
        CHECK(fabs(s - 1) < 1e-6, "softmax row %zu sums to %.9f", i, s);
    }
    free(a.qkv); free(a.r); free(a.rx); free(a.ctx); free(a.att); free(a.attd);
    free(dqkv); free(datt); free(ctx2); free(att2); free(attd2); free(dqkv2);
}

static void test_attention_big(void)
{
    // tuned vs ref on BERT-like head sizes with uneven lengths
    static const int32_t lens[4] = { 37, 5, 64, 1 };
    size_t tok_off[5], att_off[5];
    attn_batch ab;
    make_batch(&ab, tok_off, att_off, lens, 4, 4, 16);
    size_t N = tok_off[4], H = 64, A = att_off[4], T = 64;
    float *qkv = randv(N * 3 * H, 1), *dctx = randv(N * H, 1), *ex = randv(4 * 4 * T * T, 1);
    float *c1 = zerov(N * H), *c2 = zerov(N * H), *a1 = zerov(A), *a2 = zerov(A);
    float *ad1 = zerov(A), *ad2 = zerov(A), *d1 = zerov(N * 3 * H), *d2 = zerov(N * 3 * H);
    float *da = zerov(A);
    rng_t r1, r2;
    rng_seed(&r1, 11);
    rng_seed(&r2, 11);
    attention_forward(c1, a1, ad1, qkv, &ab, 0.1f, &r1);
    attention_forward_ref(c2, a2, ad2, qkv, &ab, 0.1f, &r2);
    CHECK_CLOSE("attention(big) ctx vs ref", c1, c2, N * H, 1e-4);
    attention_backward(d1, da, dctx, ex, T, a1, ad1, qkv, &ab, 0.1f);
    attention_backward_ref(d2, da, dctx, ex, T, a2, ad2, qkv, &ab, 0.1f);
    CHECK_CLOSE("attention(big) dqkv vs ref", d1, d2, N * 3 * H, 1e-4);
    free(qkv); free(dctx); free(ex); free(c1); free(c2); free(a1); free(a2); free(ad1);
    free(ad2); free(d1); free(d2); free(da);
}

/* Inference reading only [CLS]: ctx_first_only computes each sequence's first context row
 * (the same bits as the full call) and the same probabilities, and leaves the other rows
 * alone; attention_cls_forward gives those first rows from the [CLS] queries alone. */
static void test_attention_first_rows(void)
{
    static const int32_t lens[4] = { 37, 5, 64, 1 };
    size_t tok_off[5], att_off[5];
    attn_batch ab;
    make_batch(&ab, tok_off, att_off, lens, 4, 4, 16);
    size_t N = tok_off[4], H = 64, A = att_off[4];
    float *qkv = randv(N * 3 * H, 1), *c1 = zerov(N * H), *c2 = zerov(N * H);
    float *a1 = zerov(A), *a2 = zerov(A), *q = zerov(4 * H), *c3 = zerov(4 * H), *sc = zerov(4 * N);
    for (size_t i = 0; i < N * H; i++)
        c2[i] = -7.0f;   // sentinel: rows that must stay as they are
    attention_forward(c1, a1, NULL, qkv, &ab, 0.0f, NULL);
    ab.ctx_first_only = 1;
    attention_forward(c2, a2, NULL, qkv, &ab, 0.0f, NULL);
    ab.ctx_first_only = 0;
    int first = 1, rest = 1;
    for (int b = 0; b < 4; b++) {
        first &= !memcmp(c1 + tok_off[b] * H, c2 + tok_off[b] * H, H * sizeof(float));
        for (size_t i = (tok_off[b] + 1) * H; i < tok_off[b + 1] * H; i++)
            rest &= c2[i] == -7.0f;
        memcpy(q + b * H, qkv + tok_off[b] * 3 * H, H * sizeof(float));
    }
    CHECK(first, "ctx_first_only: first rows differ from the full call");
    CHECK(rest, "ctx_first_only: other rows were written");
    CHECK(!memcmp(a1, a2, A * sizeof(float)), "ctx_first_only: probabilities differ");
    CHECK(attention_cls_forward(c3, q, qkv, sc, &ab) == 0, "attention_cls_forward failed");
    int cls = 1;
    for (int b = 0; b < 4; b++)
        cls &= !memcmp(c3 + b * H, c1 + tok_off[b] * H, H * sizeof(float));
    CHECK(cls, "attention_cls_forward: rows differ from the full call's first rows");
    free(qkv); free(c1); free(c2); free(c3); free(a1); free(a2); free(q); free(sc);
}

/* ---------------------------------------------------------------- threads */
void openblas_set_num_threads(int n);   /* from OpenBLAS (cblas.h's <complex.h> is avoided) */

/* The parallel kernels give bit-identical results with 1 and 2 threads. */
static void test_thread_invariance(void)
{
    size_t n = 200003, N = 700, C = 256;
    float *x = randv(n, 2), *d = randv(n, 1), *o[2], *g[2];
    float *lx = randv(N * C, 1), *lw = randv(C, 1), *lb = randv(C, 1), *ld = randv(N * C, 1);
    float *lo[2], *lm[2], *lr[2], *ldx[2], *ldw[2], *ldb[2];
    static int32_t lens[8] = { 60, 33, 64, 1, 50, 64, 17, 40 };
    size_t tok_off[9], att_off[9];
    attn_batch ab;
    make_batch(&ab, tok_off, att_off, lens, 8, 4, 16);
    size_t TN = tok_off[8], A = att_off[8];
    float *qkv = randv(TN * 3 * 64, 1), *dctx = randv(TN * 64, 1);
    float *ctx[2], *att[2], *attd[2], *dq[2], *datt = zerov(A);
    for (int t = 0; t < 2; t++) {
        openblas_set_num_threads(t + 1);
        o[t] = zerov(n);
        g[t] = zerov(n);
        gelu_erf_forward(o[t], x, n);
        gelu_erf_backward(g[t], d, x, n);
        lo[t] = zerov(N * C); lm[t] = zerov(N); lr[t] = zerov(N);
        ldx[t] = zerov(N * C); ldw[t] = zerov(C); ldb[t] = zerov(C);
        layernorm_forward(lo[t], lm[t], lr[t], lx, lw, lb, N, C, 1e-12f);
        layernorm_backward(ldx[t], ldw[t], ldb[t], ld, lx, lw, lm[t], lr[t], N, C);
        ctx[t] = zerov(TN * 64); att[t] = zerov(A); attd[t] = zerov(A); dq[t] = zerov(TN * 3 * 64);
        rng_t r;
        rng_seed(&r, 8);
        attention_forward(ctx[t], att[t], attd[t], qkv, &ab, 0.1f, &r);
        attention_backward(dq[t], datt, dctx, NULL, 64, att[t], attd[t], qkv, &ab, 0.1f);
    }
    openblas_set_num_threads(2);
    CHECK(!memcmp(o[0], o[1], n * 4) && !memcmp(g[0], g[1], n * 4), "gelu differs 1 vs 2 threads");
    CHECK(!memcmp(lo[0], lo[1], N * C * 4) && !memcmp(ldx[0], ldx[1], N * C * 4) &&
          !memcmp(ldw[0], ldw[1], C * 4) && !memcmp(ldb[0], ldb[1], C * 4),
          "layernorm differs 1 vs 2 threads");
    CHECK(!memcmp(ctx[0], ctx[1], TN * 64 * 4) && !memcmp(attd[0], attd[1], A * 4) &&
          !memcmp(dq[0], dq[1], TN * 3 * 64 * 4), "attention differs 1 vs 2 threads");
    // and the parallel paths agree with the references
    float *ref = zerov(N * C), *rm = zerov(N), *rr = zerov(N);
    layernorm_forward_ref(ref, rm, rr, lx, lw, lb, N, C, 1e-12f);
    CHECK_CLOSE("layernorm (threads) vs ref", lo[1], ref, N * C, 1e-5);
    gelu_erf_forward_ref(ref, x, 1000);
    CHECK_CLOSE("gelu (threads) vs ref", o[1], ref, 1000, 1e-6);
    free(ref); free(rm); free(rr);
    for (int t = 0; t < 2; t++) {
        free(o[t]); free(g[t]); free(lo[t]); free(lm[t]); free(lr[t]); free(ldx[t]);
        free(ldw[t]); free(ldb[t]); free(ctx[t]); free(att[t]); free(attd[t]); free(dq[t]);
    }
    free(x); free(d); free(lx); free(lw); free(lb); free(ld); free(qkv); free(dctx); free(datt);
}

static int par_seen[2];
static void par_probe(void *ctx, size_t lo, size_t hi)
{
    (void)ctx;
    (void)hi;
    par_seen[lo == 0 ? 0 : 1] = 1;
}

/* The pool really splits work, also while OpenBLAS is held single-threaded (attention). */
static void test_par(void)
{
    openblas_set_num_threads(2);
    int saved = par_blas_single();
    CHECK(par_threads() == 2, "par_threads %d under par_blas_single", par_threads());
    par_for(100, 1, par_probe, NULL);
    par_blas_restore(saved);
    CHECK(par_seen[0] && par_seen[1], "par_for ran ranges %d %d", par_seen[0], par_seen[1]);
}

/* par_for_dynamic hands out every index exactly once, one at a time, to more than one
 * thread, also when the pieces differ wildly in cost; it runs inline below min_chunk. */
static _Atomic int dyn_count[1000];
static _Atomic int dyn_width_ok = 1;
static _Thread_local int dyn_mine;
static _Atomic int dyn_threads;
static void dyn_probe(void *ctx, size_t lo, size_t hi)
{
    (void)ctx;
    if (hi != lo + 1 && !(lo == 0 && hi == 1000 && !*(int *)ctx))
        dyn_width_ok = 0;
    if (!dyn_mine) {
        dyn_mine = 1;
        dyn_threads++;
    }
    for (size_t i = lo; i < hi; i++) {
        volatile double burn = 0;
        for (size_t k = 0; k < (i % 97 == 0 ? 200000 : 100); k++)   // a few costly pieces
            burn += (double)k;
        // index 0 waits (up to 2 s) until a second thread has taken an index: with a working
        // pool the other thread gets on with the rest meanwhile
        for (int spins = 0; i == 0 && hi - lo == 1 && dyn_threads < 2 && spins < 2000; spins++)
            nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
        dyn_count[i]++;
    }
}

static void test_par_dynamic(void)
{
    openblas_set_num_threads(2);
    int threaded = 1;
    par_for_dynamic(1000, 1, dyn_probe, &threaded);
    int once = 1;
    for (int i = 0; i < 1000; i++)
        once &= dyn_count[i] == 1;
    CHECK(once, "par_for_dynamic: an index ran other than once");
    CHECK(dyn_width_ok, "par_for_dynamic: handed out more than one index at a time");
    CHECK(dyn_threads == 2, "par_for_dynamic: %d threads took indices, not 2", (int)dyn_threads);
    // below min_chunk: one call over everything, on the caller
    for (int i = 0; i < 1000; i++)
        dyn_count[i] = 0;
    threaded = 0;
    dyn_width_ok = 1;
    par_for_dynamic(1000, 600, dyn_probe, &threaded);
    once = 1;
    for (int i = 0; i < 1000; i++)
        once &= dyn_count[i] == 1;
    CHECK(once && dyn_width_ok, "par_for_dynamic inline: indices %d, one call %d", once, (int)dyn_width_ok);
}

int main(void)
{
    rng_seed(&g_rng, 20261126);
    test_matmul();
    test_layernorm();
    test_elementwise("gelu_erf", gelu_erf_forward, gelu_erf_backward, 0);
    test_elementwise("gelu_tanh", gelu_tanh_forward, gelu_tanh_backward, 0);
    test_elementwise("relu", relu_forward, relu_backward, 0);
    test_elementwise("tanh", tanh_forward, tanh_backward, 1);
    test_gelu_values();
    test_elementwise_vs_ref();
    test_residual();
    test_dropout();
    test_embedding();
    test_softmax();
    test_attention_fd(0.0f, 0);
    test_attention_fd(0.0f, 1);
    test_attention_fd(0.25f, 1);
    test_attention_big();
    test_thread_invariance();
    test_par();
    test_par_dynamic();
    test_attention_first_rows();
    return check_done("test_kernels");
}
