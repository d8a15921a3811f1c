/* AdamW step speed: lib/nn/optim.c's adamw_step (AVX2, par.h threads) against the plain
 * scalar loop it replaced (kept here verbatim as the baseline), on the parameter counts of
 * the bench presets, with every tensor decayed.  Both must give the same bits; the
 * program checks that and exits 1 otherwise.  Built and run by bench/optim/optim.sh.
 *   optim [--threads N] [--reps N] */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/optim.h"
#include "util/par.h"
#include "util/util.h"

#include "../bench_common.h"

/* the pre-vectorisation loop (lib/nn/optim.c before 2026-11-26 12:40) */
static void scalar_step(float *p, const float *g, float *m, float *v, size_t n, uint64_t step,
                        double lr, const adamw_cfg *cfg)
{
    double bc1 = 1.0 - pow(cfg->beta1, (double)step), bc2 = 1.0 - pow(cfg->beta2, (double)step);
    float decay = (float)(1.0 - lr * cfg->weight_decay), b1 = (float)cfg->beta1;
    float one_b1 = (float)(1.0 - cfg->beta1), b2 = (float)cfg->beta2;
    float one_b2 = (float)(1.0 - cfg->beta2), bc2_sqrt = (float)sqrt(bc2), eps = (float)cfg->eps;
    float nss = (float)(-(lr / bc1));
    for (size_t i = 0; i < n; i++) {
        float pi = p[i] * decay;
        float mi = m[i] * b1;
        mi = mi + one_b1 * g[i];
        float vi = v[i] * b2;
        vi = vi + one_b2 * g[i] * g[i];
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi + nss * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

int main(int argc, char **argv)
{
    int threads = 2, reps = 10;
    static const struct option opts[] = {
        { "threads", required_argument, 0, 't' }, { "reps", required_argument, 0, 'r' },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 't')
            threads = (int)xparse_ll("threads", optarg, 1, 256);
        else if (ch == 'r')
            reps = (int)xparse_ll("reps", optarg, 1, 10000);
        else
            return 2;
    }
    threads = threads_setup(threads);
    static const char *const presets[] = { "bert-tiny", "bert-mini", "bert-base" };
    adamw_cfg cfg = ADAMW_DEFAULTS;
    for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++) {
        // the parameter block of that BERT (bench/engine/engine.c's configs, 6 classes)
        const bench_preset *preset = bench_preset_find(presets[k]);
        model_config c = bench_model_config(ARCH_BERT, preset);
        size_t sizes[MODEL_NUM_PARAM_TENSORS];
        size_t n = model_param_sizes(&c, sizes);
        float *p1 = xaligned_alloc(n * 4), *p2 = xaligned_alloc(n * 4), *g = xaligned_alloc(n * 4);
        float *m2 = xaligned_alloc(n * 4), *v2 = xaligned_alloc(n * 4);
        for (size_t i = 0; i < n; i++) {
            p1[i] = p2[i] = (float)(i % 1000) * 1e-3f - 0.5f;
            g[i] = (float)((i * 7) % 1000) * 1e-6f - 5e-4f;
        }
        adamw_state st;
        adamw_init(&st, n);
        memset(st.m, 0, n * 4);
        memset(st.v, 0, n * 4);
        memset(m2, 0, n * 4);
        memset(v2, 0, n * 4);
        optim_range all = { 0, n };
        double t_new = 1e30, t_old = 1e30;
        for (int r = 0; r < reps; r++) {   // alternated, best of reps (the machine is shared)
            double t0 = now_seconds();
            adamw_step(&st, p1, g, 1e-4, &cfg, &all, 1);
            double t = now_seconds() - t0;
            t_new = t < t_new ? t : t_new;
            t0 = now_seconds();
            scalar_step(p2, g, m2, v2, n, st.step, 1e-4, &cfg);
            t = now_seconds() - t0;
            t_old = t < t_old ? t : t_old;
        }
        int same = !memcmp(p1, p2, n * 4) && !memcmp(st.m, m2, n * 4) && !memcmp(st.v, v2, n * 4);
        double load = bench_load1();
        printf("JSON {\"bench\":\"adamw\",\"config\":\"%s\",\"params\":%zu,\"threads\":%d,"
               "\"reps\":%d,\"t_scalar_ms\":%.3f,\"t_adamw_ms\":%.3f,\"gbytes_s\":%.1f,"
               "\"speedup\":%.2f,\"same_bits\":%s,\"load1\":%.2f}\n",
               preset->name, n, threads, reps, t_old * 1e3, t_new * 1e3, 28.0 * n / t_new / 1e9,
               t_old / t_new, same ? "true" : "false", load);
        fflush(stdout);
        adamw_free(&st);
        free(p1), free(p2), free(g), free(m2), free(v2);
        if (!same)
            return 1;
    }
    return 0;
}
