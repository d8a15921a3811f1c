/* The student's train_task (distill_task.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ckpt.h"
#include "model/config.h"
#include "train/distill_task.h"
#include "util/util.h"

static const char *const term_names[DT_NTERMS] = { "kd", "label", "attn" };

static void grow(float **p, size_t *cap, size_t n)
{
    if (n > *cap) {
        free(*p);
        *p = xmalloc(n * sizeof **p);
        *cap = n;
    }
}

/* The layer of avail (bit l: teacher layer l) nearest to t, the deeper one on a tie; t
 * itself when it is available or nothing is. */
static int nearest_layer(int t, int Lt, uint64_t avail)
{
    for (int dist = 0; dist < Lt; dist++) {
        int up = t + dist, down = t - dist;
        if (up < Lt && up < 64 && (avail >> up & 1))
            return up;
        if (down >= 0 && down < 64 && (avail >> down & 1))
            return down;
    }
    return t;
}

int distill_layer_map(distill_task *d, const char *spec, int Ls, int Lt, uint64_t avail, char *err, size_t errn)
{
    d->npairs = 0;
    if (!spec || !strcmp(spec, "uniform")) {
        /* ceil((m+1) * Lt / Ls) - 1: TinyBERT's (m+1)*k - 1 when Lt = k * Ls, and still a
         * monotone map onto [0, Lt) when the student is the deeper one; moved to the nearest
         * available layer (still monotone: ties go the same way). */
        int n = Ls < DISTILL_MAX_PAIRS ? Ls : DISTILL_MAX_PAIRS;
        for (int m = 0; m < n; m++) {
            d->s_layer[m] = m;
            d->t_layer[m] = nearest_layer(((m + 1) * Lt + Ls - 1) / Ls - 1, Lt, avail);
        }
        d->npairs = n;
        return 0;
    }
    if (!strcmp(spec, "last")) {
        d->s_layer[0] = Ls - 1;
        d->t_layer[0] = Lt - 1;
        d->npairs = 1;
        return 0;
    }
    const char *p = spec;
    while (*p) {
        char *end;
        long s = strtol(p, &end, 10);
        if (end == p || *end != ':')
            goto bad;
        p = end + 1;
        long t = strtol(p, &end, 10);
        if (end == p || (*end && *end != ','))
            goto bad;
        p = *end ? end + 1 : end;
        if (s < 0 || s >= Ls || t < 0 || t >= Lt) {
            snprintf(err, errn, "layer map pair %ld:%ld is outside the student's %d or the teacher's %d layers",
                     s, t, Ls, Lt);
            return -1;
        }
        for (int i = 0; i < d->npairs; i++)
            if (d->s_layer[i] == s) {
                snprintf(err, errn, "layer map names student layer %ld twice", s);
                return -1;
            }
        if (d->npairs == DISTILL_MAX_PAIRS)
            goto bad;
        d->s_layer[d->npairs] = (int)s;
        d->t_layer[d->npairs] = (int)t;
        d->npairs++;
    }
    if (d->npairs)
        return 0;
bad:
    snprintf(err, errn, "layer map '%s' is not uniform, last or a list S:T,S:T,...", spec);
    return -1;
}

/* Teacher logits (B, K) and mapped attention maps (npairs, B, NHt, T, T) for batch b. */
static int teacher_targets(distill_task *d, const batch *b, size_t K, char *err, size_t errn)
{
    size_t B = (size_t)b->B, T = (size_t)b->T, NH = (size_t)d->t_NH, P = (size_t)d->npairs;
    grow(&d->t_logits, &d->t_logits_cap, B * K);
    if (d->attn_on) {
        grow(&d->t_attn, &d->t_attn_cap, P * B * NH * T * T);
        memset(d->t_attn, 0, P * B * NH * T * T * sizeof *d->t_attn);
    }
    if (d->teacher) {
        if (model_forward(d->teacher, b->ids, b->lens, b->B, b->T, MODEL_INFER, NULL)) {
            snprintf(err, errn, "teacher: %s", model_error(d->teacher));
            return -1;
        }
        memcpy(d->t_logits, model_logits(d->teacher), B * K * sizeof *d->t_logits);
        for (size_t p = 0; d->attn_on && p < P; p++)
            memcpy(d->t_attn + p * B * NH * T * T, model_attn_probs(d->teacher, d->t_layer[p]),
                   B * NH * T * T * sizeof *d->t_attn);
        return 0;
    }
    const shard_meta *m = shard_reader_meta(d->cache);
    size_t NL = (size_t)m->NL;
    if (d->attn_on)
        grow(&d->fetch, &d->fetch_cap, NL * NH * T * T);
    for (size_t r = 0; r < B; r++) {
        int len = 0;
        int k = shard_reader_get(d->cache, b->rec_ids[r], d->t_logits + r * K, d->attn_on ? d->fetch : NULL,
                                 d->fetch_cap, &len);
        if (k == -2) {
            snprintf(err, errn, "record id %llu is not in the teacher cache", (unsigned long long)b->rec_ids[r]);
            return -1;
        }
        if (k) {
            snprintf(err, errn, "%s", shard_reader_error(d->cache));
            return -1;
        }
        if (len != b->lens[r]) {
            snprintf(err, errn, "record id %llu has %d tokens in the teacher cache but %d here (tokenized "
                     "differently?)", (unsigned long long)b->rec_ids[r], len, b->lens[r]);
            return -1;
        }
        size_t l = (size_t)len;
        for (size_t p = 0; d->attn_on && p < P; p++)
            for (size_t h = 0; h < NH; h++)
                for (size_t i = 0; i < l; i++)
                    memcpy(d->t_attn + (((p * B + r) * NH + h) * T + i) * T,
                           d->fetch + (((size_t)d->cache_slot[p] * NH + h) * l + i) * l, l * sizeof(float));
    }
    return 0;
}

static int distill_train_step(void *ctx, const batch *b, rng_t *rng, double *loss, char *err, size_t errn)
{
    distill_task *d = ctx;
    model_task *mt = &d->student;
    const model_config *c = model_get_config(mt->m);
    size_t B = (size_t)b->B, T = (size_t)b->T, K = (size_t)c->K, NHs = (size_t)c->NH, P = (size_t)d->npairs;
    int need_teacher = d->alpha > 0 || d->attn_on;
    if (need_teacher && teacher_targets(d, b, K, err, errn))
        return -1;
    grow(&mt->dlogits, &mt->dcap, B * K);
    memset(mt->dlogits, 0, B * K * sizeof *mt->dlogits);
    model_zero_grad(mt->m);
    if (model_forward(mt->m, b->ids, b->lens, b->B, b->T, MODEL_TRAIN, rng)) {
        snprintf(err, errn, "%s", model_error(mt->m));
        return -1;
    }
    const float *zs = model_logits(mt->m);
    double kd = 0, label = 0, attn = 0;
    if (d->alpha > 0)
        kd = kldiv_distill_loss_and_grad(mt->dlogits, (float)d->alpha, zs, d->t_logits, B, K, d->temperature);
    if (d->alpha < 1) {
        float w = (float)(1 - d->alpha);
        label = mt->loss == TASK_LOSS_CE
                    ? crossentropy_loss_and_grad(mt->dlogits, w, zs, b->labels, B, K, mt->smoothing)
                    : focal_loss_and_grad(mt->dlogits, w, zs, b->labels, B, K, mt->focal_alpha, mt->focal_gamma,
                                          mt->smoothing);
    }
    const float *dattn[64] = { 0 };     /* model_keep_attn masks are 64 bits: L <= 64 */
    if (d->attn_on) {
        grow(&d->s_dattn, &d->s_dattn_cap, P * B * NHs * T * T);
        memset(d->s_dattn, 0, P * B * NHs * T * T * sizeof *d->s_dattn);
        for (size_t p = 0; p < P; p++) {
            float *ds = d->s_dattn + p * B * NHs * T * T;
            attn += attn_align_heads_loss_and_grad(ds, (float)(d->attn_weight / (double)P),
                                                   model_attn_probs(mt->m, d->s_layer[p]), NHs,
                                                   d->t_attn + p * B * (size_t)d->t_NH * T * T, (size_t)d->t_NH,
                                                   b->lens, B, T, d->attn_kind);
            dattn[d->s_layer[p]] = ds;
        }
        attn /= (double)P;
    }
    *loss = d->alpha * kd + (1 - d->alpha) * label + (d->attn_on ? d->attn_weight * attn : 0);
    if (model_backward(mt->m, mt->dlogits, d->attn_on ? dattn : NULL)) {
        snprintf(err, errn, "%s", model_error(mt->m));
        return -1;
    }
    d->term_sums[DT_TERM_KD] += kd * (double)B;
    d->term_sums[DT_TERM_LABEL] += label * (double)B;
    d->term_sums[DT_TERM_ATTN] += attn * (double)B;
    return 0;
}

void distill_task_setup(train_task *t, distill_task *d)
{
    model_task_setup(t, &d->student);
    t->ctx = d;
    t->train_step = distill_train_step;
    t->nterms = DT_NTERMS;
    t->term_names = term_names;
    t->term_sums = d->term_sums;
    /* eval/save/load take the model_task: it is the first member of distill_task */
    if (d->attn_on) {
        uint64_t sm = 0, tm = 0;
        for (int p = 0; p < d->npairs; p++) {
            sm |= 1ull << d->s_layer[p];
            tm |= 1ull << d->t_layer[p];
        }
        model_keep_attn(d->student.m, sm);
        if (d->teacher)
            model_keep_attn(d->teacher, tm);
    }
}

void distill_task_free(distill_task *d)
{
    free(d->t_logits);
    free(d->t_attn);
    free(d->s_dattn);
    free(d->fetch);
    model_task_free(&d->student);
}

int distill_init_from_teacher(model *student, const model *teacher, char *err, size_t errn)
{
    const model_config *s = model_get_config(student), *t = model_get_config(teacher);
    if (s->arch != ARCH_DISTILBERT || t->arch == ARCH_ALBERT) {
        snprintf(err, errn, "--init-from-teacher makes a DistilBERT-style student from a BERT or DistilBERT "
                 "teacher (student is %s, teacher %s)", model_arch_name(s->arch), model_arch_name(t->arch));
        return -1;
    }
    if (s->H != t->H || s->NH != t->NH || s->I != t->I || s->V != t->V || s->P > t->P || s->E != t->E ||
        2 * (s->L - 1) >= t->L) {
        snprintf(err, errn, "--init-from-teacher needs the teacher's width (H %d, heads %d, intermediate %d, "
                 "vocab %d) and at most half its %d layers; the student has H %d, heads %d, intermediate %d, "
                 "vocab %d, %d layers", t->H, t->NH, t->I, t->V, t->L, s->H, s->NH, s->I, s->V, s->L);
        return -1;
    }
    size_t ss[MODEL_NUM_PARAM_TENSORS], ts[MODEL_NUM_PARAM_TENSORS];
    model_param_sizes(s, ss);
    model_param_sizes(t, ts);
    for (int i = 0; i < MODEL_NUM_PARAM_TENSORS; i++) {
        float *sfi = ckpt_field(model_weights(student), i), *tfi = ckpt_field(model_weights(teacher), i);
        if (i >= 7 && i <= 18) {            /* per-layer tensors: student m <- teacher 2m */
            size_t per = ss[i] / (size_t)s->L;
            for (int m = 0; m < s->L; m++)
                memcpy(sfi + (size_t)m * per, tfi + (size_t)(2 * m) * per, per * sizeof(float));
        } else if (i == 1) {                /* positions: the student's first P rows */
            memcpy(sfi, tfi, ss[i] * sizeof(float));
        } else if (i == 2 || ((i == 21 || i == 22) && s->K != t->K)) {
            continue;                       /* no token types in DistilBERT; other labels: keep init */
        } else if (ss[i] == ts[i]) {
            memcpy(sfi, tfi, ss[i] * sizeof(float));
        }
    }
    return 0;
}
