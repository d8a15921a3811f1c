/* The masked-LM train_task (mlm_task.h). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/mlm_task.h"
#include "util/par.h"
#include "util/util.h"

typedef struct ce_ctx {
    float *dlogits;
    const float *logits;
    const int32_t *target;
    int V;
    float scale;          /* 1/M */
    double *row_loss;     /* (M) */
    uint8_t *row_correct; /* (M) */
} ce_ctx;

/* Rows [lo, hi): log-softmax in double accumulation; exp values cached in dlogits. */
static void ce_rows(void *p, size_t lo, size_t hi)
{
    ce_ctx *c = p;
    size_t V = (size_t)c->V;
    for (size_t i = lo; i < hi; i++) {
        const float *z = c->logits + i * V;
        int32_t y = c->target[i];
        float mx = -FLT_MAX;
        size_t arg = 0;
        for (size_t k = 0; k < V; k++)
            if (z[k] > mx) {
                mx = z[k];
                arg = k;
            }
        double s = 0;
        if (c->dlogits) {
            float *d = c->dlogits + i * V;
            for (size_t k = 0; k < V; k++) {
                d[k] = expf(z[k] - mx);
                s += d[k];
            }
            float inv = (float)(1.0 / s) * c->scale;
            for (size_t k = 0; k < V; k++)
                d[k] *= inv;
            d[y] -= c->scale;
        } else
            for (size_t k = 0; k < V; k++)
                s += expf(z[k] - mx);
        c->row_loss[i] = log(s) - (double)(z[y] - mx);
        c->row_correct[i] = (int32_t)arg == y;
    }
}

double mlm_loss_and_grad(float *dlogits, const float *logits, const int32_t *target, int M, int V, long *correct,
                         double *sum)
{
    if (M <= 0) {
        if (sum)
            *sum = 0;
        return 0;
    }
    ce_ctx c = { dlogits, logits, target, V, 1.0f / (float)M, xmalloc((size_t)M * sizeof(double)),
                 xmalloc((size_t)M) };
    par_for((size_t)M, 4, ce_rows, &c);
    double total = 0;       /* summed in row order: independent of the threads */
    long ok = 0;
    for (int i = 0; i < M; i++) {
        total += c.row_loss[i];
        ok += c.row_correct[i];
    }
    free(c.row_loss);
    free(c.row_correct);
    if (correct)
        *correct += ok;
    if (sum)
        *sum = total;
    return total / M;
}

static void grow(mlm_task *mt, size_t nids)
{
    if (nids > mt->cap_ids) {
        free(mt->ids);
        free(mt->pos);
        free(mt->target);
        mt->ids = xmalloc(nids * sizeof *mt->ids);
        mt->pos = xmalloc(nids * sizeof *mt->pos);
        mt->target = xmalloc(nids * sizeof *mt->target);
        mt->cap_ids = nids;
    }
}

int mlm_task_mask_batch(mlm_task *mt, const batch *b, uint64_t epoch)
{
    size_t T = (size_t)b->T;
    grow(mt, (size_t)b->B * T);
    memcpy(mt->ids, b->ids, (size_t)b->B * T * sizeof *mt->ids);
    int M = 0;
    for (int i = 0; i < b->B; i++) {
        int n = mlm_mask_row(&mt->mask, epoch, b->rows[i], mt->ids + (size_t)i * T, b->lens[i], mt->pos + M,
                             mt->target + M);
        for (int k = 0; k < n; k++)
            mt->pos[M + k] += (int32_t)((size_t)i * T);
        M += n;
    }
    return M;
}

static float *dmlm_for(mlm_task *mt, int M)
{
    size_t need = (size_t)M * (size_t)mt->mask.V;
    if (need > mt->cap_dmlm) {
        free(mt->dmlm);
        mt->dmlm = xmalloc(need * sizeof *mt->dmlm);
        mt->cap_dmlm = need;
    }
    return mt->dmlm;
}

static int fail(mlm_task *mt, char *err, size_t errn)
{
    snprintf(err, errn, "%s", model_error(mt->base.m));
    return -1;
}

static int mlm_train_step(void *ctx, const batch *b, rng_t *rng, double *loss, char *err, size_t errn)
{
    mlm_task *mt = ctx;
    model *m = mt->base.m;
    model_zero_grad(m);
    int M = mlm_task_mask_batch(mt, b, b->epoch);
    mt->last_M = M;
    *loss = 0;
    if (M == 0)
        return 0;
    if (model_forward(m, mt->ids, b->lens, b->B, b->T, MODEL_TRAIN, rng) || model_mlm_forward(m, mt->pos, M))
        return fail(mt, err, errn);
    float *d = dmlm_for(mt, M);
    *loss = mlm_loss_and_grad(d, model_mlm_logits(m), mt->target, M, mt->mask.V, NULL, NULL);
    if (model_mlm_backward(m, d, NULL, NULL))
        return fail(mt, err, errn);
    return 0;
}

static double mlm_step_weight(void *ctx)
{
    return ((mlm_task *)ctx)->last_M;
}

/* Classification-style eval is not meaningful here: the trainer calls validate instead.
 * This callback exists for completeness (train_evaluate over a labelled set). */
static int mlm_eval_batch(void *ctx, const batch *b, float *logits, double *loss, char *err, size_t errn)
{
    (void)ctx;
    (void)b;
    (void)logits;
    (void)loss;
    snprintf(err, errn, "a masked-LM model has no classifier to evaluate");
    return -1;
}

static int mlm_validate(void *ctx, eval_metrics *res, char *err, size_t errn)
{
    mlm_task *mt = ctx;
    const dataset *ds = mt->holdout;
    model *m = mt->base.m;
    epoch_plan p;
    epoch_plan_make(&p, ds, mt->eval_batch, 0, 0, 0);
    batch b = { 0 };
    double total = 0;
    long correct = 0, count = 0;
    int rc = 0;
    for (size_t k = 0; k < p.nbatches && rc == 0; k++) {
        batch_fill(&b, ds, &p, k, model_get_config(m)->pad_token_id);
        int M = mlm_task_mask_batch(mt, &b, MLM_EVAL_EPOCH);
        if (M == 0)
            continue;
        if (model_forward(m, mt->ids, b.lens, b.B, b.T, MODEL_INFER, NULL) || model_mlm_forward(m, mt->pos, M)) {
            rc = fail(mt, err, errn);
            break;
        }
        double sum;
        mlm_loss_and_grad(NULL, model_mlm_logits(m), mt->target, M, mt->mask.V, &correct, &sum);
        total += sum;
        count += M;
    }
    batch_free(&b);
    epoch_plan_free(&p);
    if (rc)
        return rc;
    if (count == 0)
        return errbuf_fail(err, errn, "the %zu held-out records have no token to mask", ds->n);
    eval_metrics_add(res, "loss", "MLM loss", total / (double)count);
    eval_metrics_add(res, "accuracy", "masked-token accuracy", (double)correct / (double)count);
    eval_metrics_add(res, "masked_tokens", NULL, (double)count);
    return 0;
}

int mlm_task_dump_epoch(mlm_task *mt, const train_source *src, uint64_t epoch, FILE *f, char *err, size_t errn)
{
    batch b = { 0 };
    int got, rc = src->begin_epoch(src->ctx, epoch, 0, err, errn);
    while (rc == 0 && (got = src->next_batch(src->ctx, &b, err, errn)) != 0) {
        if (got < 0) {
            rc = -1;
            break;
        }
        int32_t M = mlm_task_mask_batch(mt, &b, epoch), hdr[3] = { b.B, b.T, M };
        size_t n = (size_t)b.B * (size_t)b.T;
        if (fwrite(hdr, sizeof hdr, 1, f) != 1 || fwrite(mt->ids, sizeof *mt->ids, n, f) != n ||
            fwrite(b.lens, sizeof *b.lens, (size_t)b.B, f) != (size_t)b.B ||
            fwrite(mt->pos, sizeof *mt->pos, (size_t)M, f) != (size_t)M ||
            fwrite(mt->target, sizeof *mt->target, (size_t)M, f) != (size_t)M)
            rc = errbuf_fail(err, errn, "write error");
    }
    batch_free(&b);
    return rc;
}

void mlm_task_setup(train_task *t, mlm_task *mt)
{
    model_task_setup(t, &mt->base);
    t->ctx = mt;
    t->train_step = mlm_train_step;
    t->eval_batch = mlm_eval_batch;
    t->save_model = model_task_save;
    t->load_model = model_task_load;
    t->validate = mt->holdout && mt->holdout->n ? mlm_validate : NULL;
    t->step_weight = mlm_step_weight;
    if (!mt->eval_batch)
        mt->eval_batch = 64;
}

void mlm_task_free(mlm_task *mt)
{
    free(mt->ids);
    free(mt->pos);
    free(mt->target);
    free(mt->dmlm);
    mt->ids = mt->pos = mt->target = NULL;
    mt->dmlm = NULL;
    mt->cap_ids = mt->cap_dmlm = 0;
    model_task_free(&mt->base);
}
