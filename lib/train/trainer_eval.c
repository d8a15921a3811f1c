/* The trainer's evaluation (trainer.h): the validation pass, in one process or split over
 * MPI ranks, and its metrics through lib/metrics. */
#include <err.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "metrics/metrics.h"
#include "train/trainer_impl.h"
#include "util/util.h"

void eval_scores(eval_result *r, const int32_t *truth, const int32_t *pred, size_t n, int K)
{
    confusion cm;
    confusion_init(&cm, (size_t)K);
    for (size_t i = 0; i < n; i++)
        if (truth[i] >= 0 && truth[i] < K && pred[i] >= 0 && pred[i] < K)
            confusion_add(&cm, (size_t)truth[i], (size_t)pred[i]);
    class_report rep;
    report_compute(&rep, &cm);
    // sklearn's f1_score(average="macro") without labels= leaves out a class in neither
    // y_true nor y_pred; classification_report's macro avg (rep.macro) keeps all K
    double macro = 0;
    int present = 0;
    uint64_t most = 0;
    r->pred_classes = 0;
    for (size_t k = 0; k < (size_t)K; k++) {
        if (rep.support[k] || rep.predicted[k]) {
            macro += rep.f1[k];
            present++;
        }
        r->pred_classes += rep.predicted[k] > 0;
        if (rep.support[k] > most)
            most = rep.support[k];
    }
    r->nlabelled = rep.total;
    r->majority = rep.total ? (double)most / (double)rep.total : 0;
    r->accuracy = rep.accuracy;
    r->f1_weighted = rep.weighted[2];
    r->f1_macro = present ? macro / present : 0;
    report_free(&rep);
    confusion_free(&cm);
}

int train_metric_parse(const char *s, train_metric *m)
{
    if (!strcmp(s, "f1"))
        *m = METRIC_F1;
    else if (!strcmp(s, "accuracy"))
        *m = METRIC_ACCURACY;
    else if (!strcmp(s, "loss"))
        *m = METRIC_LOSS;
    else
        return -1;
    return 0;
}

const char *train_metric_name(train_metric m)
{
    return m == METRIC_F1 ? "f1" : m == METRIC_ACCURACY ? "accuracy" : "loss";
}

void eval_metrics_add(eval_metrics *m, const char *key, const char *label, double value)
{
    if (m->n >= EVAL_MAX_METRICS)
        return;
    m->key[m->n] = key;
    m->label[m->n] = label;
    m->value[m->n] = value;
    m->n++;
}

double eval_metrics_get(const eval_metrics *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->key[i], key))
            return m->value[i];
    return NAN;
}

int train_evaluate(const train_task *task, const dataset *ds, size_t B, int32_t pad_id, eval_result *res,
                   int32_t *pred, char *err, size_t errn)
{
    epoch_plan p;
    epoch_plan_make(&p, ds, B, 0, 0, 0);
    batch b = { 0 };
    float *logits = xmalloc(B * (size_t)task->K * sizeof *logits);
    int32_t *pr = pred ? pred : xmalloc(ds->n * sizeof *pr);
    double loss_sum = 0;
    int rc = 0;
    for (size_t k = 0; k < p.nbatches && rc == 0; k++) {
        batch_fill(&b, ds, &p, k, pad_id);
        double loss = 0;
        rc = task->eval_batch(task->ctx, &b, logits, &loss, err, errn);
        loss_sum += loss * b.B;
        for (int i = 0; i < b.B; i++) {
            const float *z = logits + (size_t)i * (size_t)task->K;
            pr[b.rows[i]] = (int32_t)argmax_first(z, (size_t)task->K);
        }
    }
    memset(res, 0, sizeof *res);
    if (rc == 0) {
        eval_scores(res, ds->label, pr, ds->n, task->K);
        res->n = ds->n;
        res->loss = loss_sum / (double)ds->n;
    }
    if (pr != pred)
        free(pr);
    free(logits);
    batch_free(&b);
    epoch_plan_free(&p);
    return rc;
}

/* The validation pass split over the ranks: rank r evaluates batches r, r + n, ...; every
 * batch's loss * rows and every row's prediction are summed over the ranks (one rank
 * contributes each, the others 0, so the sums are exact) and the metrics computed from
 * them in batch order: the same bits as train_evaluate in one process. */
int train_evaluate_split(const train_task *task, const dataset *ds, size_t B, int32_t pad_id, eval_result *res,
                          char *err, size_t errn)
{
    int R = dist_rank(), N = dist_size();
    epoch_plan p;
    epoch_plan_make(&p, ds, B, 0, 0, 0);
    batch b = { 0 };
    float *logits = xmalloc(B * (size_t)task->K * sizeof *logits);
    double *acc = xcalloc(p.nbatches + ds->n + 1, sizeof *acc);   /* batch losses, then pred + 1 */
    double *pr1 = acc + p.nbatches;
    int rc = 0;
    for (size_t k = (size_t)R; k < p.nbatches && rc == 0; k += (size_t)N) {
        batch_fill(&b, ds, &p, k, pad_id);
        double loss = 0;
        rc = task->eval_batch(task->ctx, &b, logits, &loss, err, errn);
        acc[k] = loss * b.B;
        for (int i = 0; i < b.B; i++) {
            const float *z = logits + (size_t)i * (size_t)task->K;
            pr1[b.rows[i]] = (double)argmax_first(z, (size_t)task->K) + 1;
        }
    }
    pr1[ds->n] = rc != 0;               /* any rank failed */
    if (rc != 0)
        errx(EXIT_DATA, "evaluation: %s", err);
    dist_sum_f64(acc, p.nbatches + ds->n + 1);
    int32_t *pr = xmalloc(ds->n * sizeof *pr);
    double loss_sum = 0;
    for (size_t k = 0; k < p.nbatches; k++)
        loss_sum += acc[k];
    for (size_t i = 0; i < ds->n; i++)
        pr[i] = (int32_t)pr1[i] - 1;
    memset(res, 0, sizeof *res);
    eval_scores(res, ds->label, pr, ds->n, task->K);
    res->n = ds->n;
    res->loss = loss_sum / (double)ds->n;
    free(pr);
    free(acc);
    free(logits);
    batch_free(&b);
    epoch_plan_free(&p);
    return 0;
}
