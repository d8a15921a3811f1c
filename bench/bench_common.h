/* Pieces shared by the C benchmark programs (engine/engine.c, epoch/epoch.c, mlm/mlm_step.c,
 * optim/optim.c, predict/predict_b1.c; each includes "../bench_common.h"): the anchors'
 * BERT presets, the model config they are run at, the anchor's random sequences, the median
 * of timings and the load average recorded beside a figure.  Static inline functions only:
 * the Makefile builds each program from its one .c file and lib/libemo.a
 * (bench/<topic>/<name>.c -> bench/out/<name>; make bench-build builds them all). */
#ifndef EMO_BENCH_COMMON_H
#define EMO_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "util/rng.h"

/* The anchors' points (/work/shared/anchors/torch_bert.py). */
typedef struct {
    const char *name;
    int L, H, NH, I;
} bench_preset;

/* The preset called name, or NULL. */
static inline const bench_preset *bench_preset_find(const char *name)
{
    static const bench_preset presets[] = {
        { "bert-base", 12, 768, 12, 3072 },
        { "distil", 6, 768, 12, 3072 },
        { "bert-mini", 4, 256, 4, 1024 },
        { "bert-tiny", 2, 128, 2, 512 },
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, name))
            return &presets[i];
    return NULL;
}

/* The anchor's model at preset p: BERT vocabulary (V 30522, P 512), 6 classes, dropout 0.1;
 * arch picks the family (ALBERT: E 128, GELU-tanh; DistilBERT: no token types). */
static inline model_config bench_model_config(model_arch arch, const bench_preset *p)
{
    model_config c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.V = 30522;
    c.P = 512;
    c.TV = arch == ARCH_DISTILBERT ? 0 : 2;
    c.H = p->H;
    c.E = arch == ARCH_ALBERT ? 128 : c.H;
    c.L = p->L;
    c.NH = p->NH;
    c.I = p->I;
    c.act = arch == ARCH_ALBERT ? ACT_GELU_TANH : ACT_GELU_ERF;
    c.ln_eps = 1e-12f;
    c.hidden_dropout = c.attn_dropout = c.classifier_dropout = 0.1f;
    c.K = 6;
    return c;
}

/* One sequence as the anchor makes it: len ids uniform in [1000, V), [CLS] (101) first,
 * [SEP] (102) last. */
static inline void bench_random_row(rng_t *r, int32_t *row, int len, int V)
{
    for (int t = 0; t < len; t++)
        row[t] = 1000 + (int)rng_below(r, (uint64_t)(V - 1000));
    row[0] = 101;
    row[len - 1] = 102;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts ts[0..n) (n >= 1) in place and returns the median. */
static inline double bench_sort_median(double *ts, int n)
{
    qsort(ts, (size_t)n, sizeof *ts, bench_cmp_double);
    return n % 2 ? ts[n / 2] : 0.5 * (ts[n / 2 - 1] + ts[n / 2]);
}

/* The 1-minute load average (-1 if unknown): the machine is shared, so figures carry it. */
static inline double bench_load1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

#endif
