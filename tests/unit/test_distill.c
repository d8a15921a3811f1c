/* student-distill's objective (lib/train/distill_task.c) as a whole: the gradient it hands
 * the optimiser is the gradient of the loss it reports (central finite differences through
 * the KD, label and attention-alignment terms, with equal and with different head counts),
 * the layer map, and initialisation from the teacher's layers. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/config.h"
#include "model_fixtures.h"
#include "train/distill_task.h"
#include "util/rng.h"

/* the tiny config with L layers of NH heads, dropouts 0.1 and 3 labels */
static model_config tiny(model_arch arch, int L, int NH)
{
    model_config c = tiny_config(arch);
    c.L = L;
    c.NH = NH;
    c.hidden_dropout = 0.1f;
    c.attn_dropout = 0.1f;
    c.classifier_dropout = 0.1f;
    c.K = 3;
    return c;
}

static void wide_init(model *m, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed);
    float *w = model_param_block(m);
    for (size_t i = 0; i < model_num_params(m); i++)
        w[i] = (float)(rng_normal(&r) * 0.3);
}

/* A batch of three rows of lengths 7, 5, 2 padded to 7; row 1 has no label. */
static void make_batch(batch *b, int labelled)
{
    static int32_t ids[3 * 7], lens[3] = { 7, 5, 2 }, labels[3], none[3] = { -1, -1, -1 };
    labels[0] = 2, labels[1] = -1, labels[2] = 0;
    static uint64_t rec_ids[3] = { 10, 11, 12 };
    rng_t r;
    rng_seed(&r, 7);
    for (int i = 0; i < 3; i++)
        for (int t = 0; t < 7; t++)
            ids[i * 7 + t] = t < lens[i] ? 1 + (int32_t)rng_below(&r, 22) : 0;
    memset(b, 0, sizeof *b);
    b->B = 3;
    b->T = 7;
    b->ids = ids;
    b->lens = lens;
    b->labels = labelled ? labels : none;
    b->rec_ids = rec_ids;
}

static double step_loss(train_task *task, const batch *b)
{
    rng_t r;
    rng_seed(&r, 4242);   /* the same dropout masks every time */
    double loss = 0;
    char e[256];
    int k = task->train_step(task->ctx, b, &r, &loss, e, sizeof e);
    CHECK(k == 0, "train_step: %s", e);
    return loss;
}

/* attn_only: alpha 0 and no labels, so the attention term alone makes the gradient */
static void fd_check(model_arch sarch, int sL, int sNH, attn_align_kind kind, int attn_only, const char *what)
{
    model_config tc = tiny(ARCH_BERT, 2, 2), sc = tiny(sarch, sL, sNH);
    distill_task d;
    memset(&d, 0, sizeof d);
    d.teacher = model_new(&tc);
    d.student.m = model_new(&sc);
    wide_init(d.teacher, 1);
    wide_init(d.student.m, 2);
    d.t_NH = tc.NH;
    d.student.loss = TASK_LOSS_FOCAL;
    d.student.focal_alpha = 0.25;
    d.student.focal_gamma = 2;
    d.student.smoothing = 0.1;
    d.alpha = attn_only ? 0 : 0.6;
    d.temperature = 1.5;
    d.attn_on = 1;
    d.attn_kind = kind;
    d.attn_weight = attn_only ? 50 : 0.7;   /* alone, the term is small: scale it above float noise */
    char e[256];
    CHECK(distill_layer_map(&d, "uniform", sc.L, tc.L, ~0ull, e, sizeof e) == 0, "%s", e);
    train_task task;
    distill_task_setup(&task, &d);
    batch b;
    make_batch(&b, !attn_only);
    step_loss(&task, &b);
    size_t n = task.nparams;
    float *g = malloc(n * sizeof *g);
    memcpy(g, task.grads, n * sizeof *g);
    CHECK(attn_only ? d.term_sums[DT_TERM_KD] == 0 && d.term_sums[DT_TERM_LABEL] == 0 && d.term_sums[DT_TERM_ATTN] > 0
                    : d.term_sums[DT_TERM_KD] > 0 && d.term_sums[DT_TERM_LABEL] > 0 && d.term_sums[DT_TERM_ATTN] > 0,
          "%s: every term contributes (%g %g %g)", what, d.term_sums[0], d.term_sums[1], d.term_sums[2]);
    /* a spread of parameters over every tensor */
    rng_t r;
    rng_seed(&r, 99);
    int bad = 0, checked = 0;
    double worst = 0;
    for (int s = 0; s < 60; s++) {
        size_t i = (size_t)rng_below(&r, n);
        float *p = task.params + i, keep = *p;
        const float h = 1e-2f;
        *p = keep + h;
        double lp = step_loss(&task, &b);
        *p = keep - h;
        double lm = step_loss(&task, &b);
        *p = keep;
        double fd = (lp - lm) / (2.0 * h), an = g[i];
        double err = fabs(fd - an) / fmax(1e-3, fabs(fd) + fabs(an));
        if (err > worst)
            worst = err;
        bad += err > 5e-2;
        checked++;
    }
    CHECK(bad == 0, "%s: %d of %d parameters disagree with finite differences (worst relative %.3g)", what, bad,
          checked, worst);
    free(g);
    distill_task_free(&d);
    model_free(d.student.m);
    model_free(d.teacher);
}

int main(void)
{
    fd_check(ARCH_DISTILBERT, 1, 2, ATTN_ALIGN_KL, 0, "distilbert KL");
    fd_check(ARCH_DISTILBERT, 2, 2, ATTN_ALIGN_MSE, 0, "distilbert MSE");
    fd_check(ARCH_ALBERT, 2, 1, ATTN_ALIGN_KL, 0, "albert, head mean 2->1");
    fd_check(ARCH_DISTILBERT, 2, 2, ATTN_ALIGN_KL, 1, "distilbert attention KL alone");
    fd_check(ARCH_DISTILBERT, 2, 2, ATTN_ALIGN_MSE, 1, "distilbert attention MSE alone");
    fd_check(ARCH_ALBERT, 2, 1, ATTN_ALIGN_KL, 1, "albert attention alone, head mean");

    /* layer maps */
    distill_task d;
    char e[256];
    memset(&d, 0, sizeof d);
    CHECK(distill_layer_map(&d, "uniform", 6, 12, ~0ull, e, sizeof e) == 0 && d.npairs == 6 && d.t_layer[0] == 1 &&
          d.t_layer[5] == 11, "uniform 6 <- 12: TinyBERT's 2,4,..,12 (1-based)");
    CHECK(distill_layer_map(&d, "uniform", 4, 12, ~0ull, e, sizeof e) == 0 && d.t_layer[0] == 2 && d.t_layer[3] == 11,
          "uniform 4 <- 12");
    CHECK(distill_layer_map(&d, "last", 2, 4, ~0ull, e, sizeof e) == 0 && d.npairs == 1 && d.s_layer[0] == 1 &&
          d.t_layer[0] == 3, "last");
    CHECK(distill_layer_map(&d, "0:3,1:1", 2, 4, ~0ull, e, sizeof e) == 0 && d.npairs == 2 && d.t_layer[0] == 3,
          "explicit list");
    CHECK(distill_layer_map(&d, "0:4", 2, 4, ~0ull, e, sizeof e) == -1, "teacher layer out of range");
    CHECK(distill_layer_map(&d, "0:1,0:2", 2, 4, ~0ull, e, sizeof e) == -1, "student layer twice");
    CHECK(distill_layer_map(&d, "zig", 2, 4, ~0ull, e, sizeof e) == -1, "garbage");
    CHECK(distill_layer_map(&d, "uniform", 4, 2, ~0ull, e, sizeof e) == 0 && d.t_layer[0] == 0 && d.t_layer[1] == 0 &&
          d.t_layer[2] == 1 && d.t_layer[3] == 1, "student deeper than teacher: 0,0,1,1");
    CHECK(distill_layer_map(&d, "uniform", 3, 4, ~0ull, e, sizeof e) == 0 && d.t_layer[0] == 1 && d.t_layer[1] == 2 &&
          d.t_layer[2] == 3, "uniform 3 <- 4");
    /* a cache's layers: the uniform map takes the nearest cached one, the deeper on a tie */
    CHECK(distill_layer_map(&d, "uniform", 2, 2, 1ull << 1, e, sizeof e) == 0 && d.t_layer[0] == 1 &&
          d.t_layer[1] == 1, "albert-tiny <- bert-tiny's default cache {1}: 1,1");
    CHECK(distill_layer_map(&d, "uniform", 4, 12, 0xaaaull, e, sizeof e) == 0 && d.t_layer[0] == 3 &&
          d.t_layer[1] == 5 && d.t_layer[2] == 9 && d.t_layer[3] == 11, "4 <- 12 from {1,3,..,11}: 3,5,9,11");
    CHECK(distill_layer_map(&d, "0:0", 2, 2, 1ull << 1, e, sizeof e) == 0 && d.t_layer[0] == 0,
          "an explicit pair is kept as given");
    /* defaults that compose: for every preset teacher and student, the default map uses only
     * what emo-teacher-logits caches by default */
    const char *const *names = model_config_preset_names();
    for (int i = 0; names[i]; i++)
        for (int j = 0; names[j]; j++) {
            model_config tcfg, scfg;
            CHECK(model_config_preset(names[i], &tcfg) == 0 && model_config_preset(names[j], &scfg) == 0, "preset");
            int layers[SHARD_MAX_LAYERS], nl = shard_default_layers(tcfg.L, layers);
            uint64_t avail = 0;
            for (int k = 0; k < nl; k++)
                avail |= 1ull << layers[k];
            CHECK(distill_layer_map(&d, "uniform", scfg.L, tcfg.L, avail, e, sizeof e) == 0, "%s", e);
            for (int p = 0; p < d.npairs; p++) {
                CHECK(avail >> d.t_layer[p] & 1, "student %s layer %d <- teacher %s layer %d, not cached by default",
                      names[j], d.s_layer[p], names[i], d.t_layer[p]);
                CHECK(p == 0 || d.t_layer[p] >= d.t_layer[p - 1], "%s <- %s: monotone", names[j], names[i]);
            }
        }

    /* init from teacher: student layer m is teacher layer 2m */
    model_config tc = tiny(ARCH_BERT, 4, 2), sc = tiny(ARCH_DISTILBERT, 2, 2);
    model *t = model_new(&tc), *s = model_new(&sc);
    wide_init(t, 5);
    model_init_weights(s, 6);
    CHECK(distill_init_from_teacher(s, t, e, sizeof e) == 0, "%s", e);
    const model_params *tp = model_weights(t), *sp = model_weights(s);
    size_t per = 3 * (size_t)sc.H * (size_t)sc.H;
    CHECK(!memcmp(sp->qkv_w + per, tp->qkv_w + 2 * per, per * sizeof(float)), "student layer 1 = teacher layer 2");
    CHECK(!memcmp(sp->word_emb, tp->word_emb, (size_t)sc.V * (size_t)sc.H * sizeof(float)), "embeddings copied");
    model_config wide = tiny(ARCH_DISTILBERT, 2, 2);
    wide.H = 16;
    wide.E = 16;
    model *w = model_new(&wide);
    CHECK(distill_init_from_teacher(w, t, e, sizeof e) == -1, "width mismatch refused");
    model_free(w);
    model_free(s);
    model_free(t);
    return check_done("test_distill");
}
