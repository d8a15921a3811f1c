/* The AVX-512 direct attention (nn/attn_direct.h) against the packed path it stands in for:
 * attention_forward (every query row, and ctx_first_only) and attention_cls_forward give
 * the same bits (memcmp of the context and the probabilities) with the path on and off,
 * the packed side run on every GEMM kernel this CPU has (gemm_set_isa); head sizes 16, 32,
 * 64, 128, sequence lengths 1 .. 64 and longer, batches of mixed lengths, scores spread
 * past vexp's clamp, all-equal scores; and the packed path is kept where the direct one
 * cannot serve (a head size not a multiple of 16, dropout, switched off, no AVX-512). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/attn_direct.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "util/rng.h"

void openblas_set_num_threads(int n);   /* from OpenBLAS (cblas.h's <complex.h> is avoided) */

static rng_t g_rng;
static int has_direct;   // this CPU runs the direct path

static float *randv(size_t n, float scale)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(rng_normal(&g_rng) * scale);
    return v;
}

static float *fillv(size_t n, float value)
{
    float *v = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        v[i] = value;
    return v;
}

/* A batch of B sequences: its offsets, qkv (N, 3H) and the [CLS] queries q (B, H). */
typedef struct {
    attn_batch ab;
    int32_t *lens;
    size_t *tok_off, *att_off, N, H, A;
    float *qkv, *q;
} batch;

static void batch_make(batch *t, const int32_t *lens, int B, int NH, int hd, float scale)
{
    memset(t, 0, sizeof *t);
    t->lens = malloc((size_t)B * sizeof(int32_t));
    t->tok_off = malloc((size_t)(B + 1) * sizeof(size_t));
    t->att_off = malloc((size_t)(B + 1) * sizeof(size_t));
    memcpy(t->lens, lens, (size_t)B * sizeof(int32_t));
    t->tok_off[0] = t->att_off[0] = 0;
    for (int b = 0; b < B; b++) {
        t->tok_off[b + 1] = t->tok_off[b] + (size_t)lens[b];
        t->att_off[b + 1] = t->att_off[b] + (size_t)NH * lens[b] * lens[b];
    }
    t->ab = (attn_batch){ .B = B, .NH = NH, .hd = hd, .lens = t->lens, .tok_off = t->tok_off,
                          .att_off = t->att_off };
    t->N = t->tok_off[B];
    t->H = (size_t)NH * hd;
    t->A = t->att_off[B];
    t->qkv = randv(t->N * 3 * t->H, scale);
    t->q = malloc((size_t)B * t->H * sizeof(float));
    for (int b = 0; b < B; b++)
        memcpy(t->q + b * t->H, t->qkv + t->tok_off[b] * 3 * t->H, t->H * sizeof(float));
}

static void batch_free(batch *t)
{
    free(t->lens), free(t->tok_off), free(t->att_off), free(t->qkv), free(t->q);
}

/* What the three inference calls give: ctx and att of attention_forward, ctx1 and att1 of
 * it with ctx_first_only (ctx1 filled with -7 first: rows it must leave), cls and sc of
 * attention_cls_forward. */
typedef struct { float *ctx, *att, *ctx1, *att1, *cls, *sc; } outs;

/* Runs them with the direct path on or off; returns the calls that took it. */
static unsigned long run(outs *o, batch *t, int direct)
{
    size_t NH = (size_t)t->ab.NH;
    o->ctx = fillv(t->N * t->H, 0.0f);
    o->att = fillv(t->A, 0.0f);
    o->ctx1 = fillv(t->N * t->H, -7.0f);
    o->att1 = fillv(t->A, 0.0f);
    o->cls = fillv((size_t)t->ab.B * t->H, 0.0f);
    o->sc = fillv(NH * t->N, 0.0f);
    attn_direct_set(direct);
    unsigned long u0 = attn_direct_uses();
    attention_forward(o->ctx, o->att, NULL, t->qkv, &t->ab, 0.0f, NULL);
    t->ab.ctx_first_only = 1;
    attention_forward(o->ctx1, o->att1, NULL, t->qkv, &t->ab, 0.0f, NULL);
    t->ab.ctx_first_only = 0;
    CHECK(attention_cls_forward(o->cls, t->q, t->qkv, o->sc, &t->ab) == 0, "attention_cls_forward failed");
    attn_direct_set(1);
    return attn_direct_uses() - u0;
}

static void outs_free(outs *o)
{
    free(o->ctx), free(o->att), free(o->ctx1), free(o->att1), free(o->cls), free(o->sc);
}

/* Which outputs differ, as a bit mask (0: all the same bits). */
static int outs_diff(const outs *a, const outs *b, const batch *t)
{
    size_t NH = (size_t)t->ab.NH;
    return (memcmp(a->ctx, b->ctx, t->N * t->H * sizeof(float)) != 0) |
           (memcmp(a->att, b->att, t->A * sizeof(float)) != 0) << 1 |
           (memcmp(a->ctx1, b->ctx1, t->N * t->H * sizeof(float)) != 0) << 2 |
           (memcmp(a->att1, b->att1, t->A * sizeof(float)) != 0) << 3 |
           (memcmp(a->cls, b->cls, (size_t)t->ab.B * t->H * sizeof(float)) != 0) << 4 |
           (memcmp(a->sc, b->sc, NH * t->N * sizeof(float)) != 0) << 5;
}

/* The batch through the direct path and, on every GEMM kernel this CPU runs, the packed
 * one: the same bits everywhere, and the direct path taken exactly where it should be. */
static void compare(batch *t, const char *label)
{
    int want = has_direct && t->ab.hd % 16 == 0;
    outs d;
    unsigned long took = run(&d, t, 1);
    CHECK(took == (want ? 3u : 0u), "%s: the direct path took %lu of 3 calls, want %d", label,
          took, want ? 3 : 0);
    enum gemm_isa chosen = gemm_isa();
    for (int isa = GEMM_SCALAR; isa <= GEMM_AVX512; isa++) {
        if (gemm_set_isa((enum gemm_isa)isa) != 0)
            continue;
        outs p;
        CHECK(run(&p, t, 0) == 0, "%s: switched off, the direct path still ran", label);
        int diff = outs_diff(&d, &p, t);
        CHECK(diff == 0, "%s, packed on %s: differs (mask %#x: ctx 1, att 2, first-only ctx 4, "
              "att 8, cls ctx 16, scores 32)", label, gemm_isa_name((enum gemm_isa)isa), diff);
        outs_free(&p);
    }
    gemm_set_isa(chosen);
    outs_free(&d);
}

static const int head_sizes[] = { 16, 32, 64, 128, 24, 40 };   // the last two fall back

/* One sequence of every length 1 .. 64 and a few longer ones, per head size; the scale
 * alternates between scores of a few units and ones spread far past vexp's clamp at -87. */
static void test_lengths(void)
{
    static const int32_t longer[] = { 65, 80, 127, 128, 129, 200, 257, 512 };
    for (size_t i = 0; i < sizeof head_sizes / sizeof head_sizes[0]; i++) {
        int hd = head_sizes[i];
        for (int32_t n = 1; n <= 64 + (int32_t)(sizeof longer / sizeof longer[0]); n++) {
            int32_t len = n <= 64 ? n : longer[n - 65];
            batch t;
            batch_make(&t, &len, 1, 2, hd, n % 3 == 0 ? 4.0f : 0.7f);
            char label[64];
            snprintf(label, sizeof label, "hd %d, length %d", hd, (int)len);
            compare(&t, label);
            batch_free(&t);
        }
    }
}

/* Batches of mixed lengths (ragged key blocks and row groups side by side). */
static void test_mixed(void)
{
    static const int32_t lens[] = { 37, 5, 64, 1, 16, 17, 31, 33, 128, 2, 8, 9, 15, 100 };
    int B = (int)(sizeof lens / sizeof lens[0]);
    for (size_t i = 0; i < sizeof head_sizes / sizeof head_sizes[0]; i++) {
        batch t;
        batch_make(&t, lens, B, 4, head_sizes[i], 1.0f);
        char label[64];
        snprintf(label, sizeof label, "mixed batch, hd %d", head_sizes[i]);
        compare(&t, label);
        batch_free(&t);
    }
    // 24 random lengths in 1 .. 80, 12 heads of 64 (bert-base's)
    int32_t rl[24];
    for (int b = 0; b < 24; b++)
        rl[b] = 1 + (int32_t)(rng_u64(&g_rng) % 80);
    batch t;
    batch_make(&t, rl, 24, 12, 64, 1.0f);
    compare(&t, "random lengths, 12 heads of 64");
    // the same bits on one thread as on two
    outs one, two;
    openblas_set_num_threads(1);
    run(&one, &t, 1);
    openblas_set_num_threads(2);
    run(&two, &t, 1);
    CHECK(outs_diff(&one, &two, &t) == 0, "direct path: 1 and 2 threads differ");
    outs_free(&one), outs_free(&two);
    batch_free(&t);
}

/* Rows whose scores are all equal (q = 0: exp(0) everywhere), signed zeros in q, huge
 * scores (every other probability vexp's clamp), and K, V rows of zeros. */
static void test_special_values(void)
{
    static const int32_t lens[] = { 40, 7, 23 };
    batch t;
    batch_make(&t, lens, 3, 2, 64, 1.0f);
    size_t H = t.H, H3 = 3 * H;
    for (size_t c = 0; c < H; c++) {
        t.qkv[0 * H3 + c] = 0.0f;        // sequence 0, row 0: all scores 0
        t.qkv[1 * H3 + c] = -0.0f;       // row 1: all -0
        t.qkv[2 * H3 + c] *= 200.0f;     // row 2: scores spread by thousands
        t.qkv[3 * H3 + H + c] = 0.0f;    // key 3 of zeros
        t.qkv[5 * H3 + 2 * H + c] = 0.0f;  // value 5 of zeros
    }
    for (size_t c = 0; c < H; c++)   // sequence 1: every q of its [CLS] row is +-0
        t.qkv[t.tok_off[1] * H3 + c] = c % 2 ? -0.0f : 0.0f;
    for (int b = 0; b < 3; b++)
        memcpy(t.q + b * H, t.qkv + t.tok_off[b] * H3, H * sizeof(float));
    compare(&t, "special values");
    batch_free(&t);
}

/* Where the packed path stays: dropout, the path switched off, a head size not a multiple
 * of 16 (compare's counts), a CPU without AVX-512. */
static void test_fallback(void)
{
    int32_t lens[2] = { 20, 9 };
    batch t;
    batch_make(&t, lens, 2, 2, 64, 1.0f);
    float *ctx = fillv(t.N * t.H, 0.0f), *att = fillv(t.A, 0.0f), *attd = fillv(t.A, 0.0f);
    rng_t r;
    rng_seed(&r, 3);
    unsigned long u0 = attn_direct_uses();
    attention_forward(ctx, att, attd, t.qkv, &t.ab, 0.1f, &r);
    CHECK(attn_direct_uses() == u0, "dropout took the direct path");
    attention_forward(ctx, att, NULL, t.qkv, &t.ab, 0.0f, NULL);
    CHECK(attn_direct_uses() == u0 + (has_direct ? 1 : 0), "without dropout: %lu direct calls",
          attn_direct_uses() - u0);
    CHECK(attn_direct_take(24) == 0 && attn_direct_take(8) == 0 && attn_direct_take(0) == 0,
          "head sizes 24, 8, 0 may not take the direct path");
    CHECK(attn_direct_take(48) == has_direct, "head size 48: %d", has_direct);
    CHECK(attn_direct_set(0) == 0 && attn_direct_take(64) == 0, "switched off, still taken");
    CHECK(attn_direct_set(1) == (has_direct ? 0 : -1), "attn_direct_set(1) on this CPU");
    free(ctx), free(att), free(attd);
    batch_free(&t);
}

int main(void)
{
    rng_seed(&g_rng, 16);
    has_direct = attn_direct_set(1) == 0;
    enum gemm_isa chosen = gemm_isa();
    fprintf(stderr, "test_attn_direct: direct path %s; packed path on", has_direct ? "on" :
            "not on this CPU (only the fallback is tested)");
    for (int isa = GEMM_SCALAR; isa <= GEMM_AVX512; isa++)
        if (gemm_set_isa((enum gemm_isa)isa) == 0)
            fprintf(stderr, " %s", gemm_isa_name((enum gemm_isa)isa));
    gemm_set_isa(chosen);
    fprintf(stderr, " (chosen: %s)\n", gemm_isa_name(chosen));
    test_fallback();
    test_lengths();
    test_mixed();
    test_special_values();
    return check_done("test_attn_direct");
}
