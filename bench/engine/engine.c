/* Engine benchmark: the anchors' points (/work/shared/anchors/torch_bert.py) on the C engine.
 * Prints one human line and one `JSON {...}` line per point, in the anchors' format, so
 * summarize.py can put them beside the PyTorch rows.
 *
 *   train    batch 32: zero_grad + forward (dropout) + cross-entropy + backward + AdamW
 *   infer    batch 64: forward without dropout or saved activations
 *   latency  batch 1:  forward, one sequence of length seq
 * Batches are made like the anchor's: lengths uniform in [seq/2, seq] (seq for batch 1),
 * ids uniform in [1000, V), [CLS] first, [SEP] last.  The engine computes only real tokens
 * (dynamic padding); gflop/gflops use the anchors' PADDED formula so rates compare
 * like-for-like with torch, and "fill" gives the real-token fraction.
 * Built and run by bench/engine/engine.sh. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "util/par.h"
#include "util/rng.h"
#include "util/util.h"

#include "../bench_common.h"

/* from OpenBLAS; cblas.h is not included because its <complex.h> defines I */
char *openblas_get_corename(void);

static void usage(FILE *f)
{
    fprintf(f, "usage: engine [--mode train|infer|latency] [--configs a,b] [--seqs 32,128]\n"
               "              [--threads N] [--batch N] [--min-time S] [--max-iters N] [--tag T]\n"
               "              [--arch bert|distilbert|albert] [--full-length]\n");
}

int main(int argc, char **argv)
{
    const char *mode = "train", *configs = "bert-base,distil,bert-mini,bert-tiny";
    const char *seqs = "32,128", *tag = "c", *arch_s = "bert";
    int threads = 2, batch = 0, max_iters = -1, warmup = -1, min_iters = -1, full_len = 0;
    double min_time = -1;
    static const struct option opts[] = {
        { "mode", required_argument, 0, 'm' }, { "configs", required_argument, 0, 'c' },
        { "seqs", required_argument, 0, 's' }, { "threads", required_argument, 0, 't' },
        { "batch", required_argument, 0, 'b' }, { "min-time", required_argument, 0, 'T' },
        { "max-iters", required_argument, 0, 'x' }, { "min-iters", required_argument, 0, 'n' },
        { "warmup", required_argument, 0, 'w' }, { "tag", required_argument, 0, 'g' },
        { "arch", required_argument, 0, 'a' }, { "help", no_argument, 0, 'h' },
        { "full-length", no_argument, 0, 'F' }, { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a': arch_s = optarg; break;
        case 'b': batch = (int)xparse_ll("batch", optarg, 1, 4096); break;
        case 'c': configs = optarg; break;
        case 'F': full_len = 1; break;
        case 'g': tag = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'm': mode = optarg; break;
        case 'n': min_iters = (int)xparse_ll("min-iters", optarg, 1, 100000); break;
        case 's': seqs = optarg; break;
        case 't': threads = (int)xparse_ll("threads", optarg, 1, 256); break;
        case 'T': min_time = xparse_double("min-time", optarg, 0, 1e6); break;
        case 'w': warmup = (int)xparse_ll("warmup", optarg, 0, 1000); break;
        case 'x': max_iters = (int)xparse_ll("max-iters", optarg, 1, 100000); break;
        default: usage(stderr); return 2;
        }
    }
    int m_train = !strcmp(mode, "train"), m_lat = !strcmp(mode, "latency");
    if (!m_train && !m_lat && strcmp(mode, "infer")) {
        usage(stderr);
        return 2;
    }
    if (!batch)
        batch = m_train ? 32 : m_lat ? 1 : 64;
    if (warmup < 0)
        warmup = m_lat ? 5 : 2;
    if (min_iters < 0)
        min_iters = m_lat ? 10 : 3;
    if (max_iters < 0)
        max_iters = m_lat ? 300 : 30;
    if (min_time < 0)
        min_time = m_lat ? 3 : 4;
    if (m_lat)
        seqs = strcmp(seqs, "32,128") ? seqs : "32";
    model_arch arch = !strcmp(arch_s, "distilbert") ? ARCH_DISTILBERT
                      : !strcmp(arch_s, "albert") ? ARCH_ALBERT : ARCH_BERT;
    threads = threads_setup(threads);
    const char *core = openblas_get_corename();
    printf("# emokd engine threads=%d openblas core=%s mode=%s batch=%d arch=%s\n", threads, core,
           mode, batch, arch_s);
    fflush(stdout);

    char *cfgs = xstrdup(configs), *save = NULL;
    for (char *name = strtok_r(cfgs, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        const bench_preset *preset = bench_preset_find(name);
        if (!preset) {
            fprintf(stderr, "engine: unknown config %s\n", name);
            return 2;
        }
        model_config c = bench_model_config(arch, preset);
        model *m = model_new(&c);
        if (!m)
            return 1;
        model_init_weights(m, 0);
        adamw_state opt;
        adamw_cfg acfg = ADAMW_DEFAULTS;
        if (m_train)
            adamw_init(&opt, model_num_params(m));

        char *sq = xstrdup(seqs), *save2 = NULL;
        for (char *s_ = strtok_r(sq, ",", &save2); s_; s_ = strtok_r(NULL, ",", &save2)) {
            int S = atoi(s_), B = batch;
            rng_t r;
            rng_seed(&r, 1234);
            int32_t *ids = xcalloc((size_t)B * S, sizeof(int32_t));
            int32_t *lens = xcalloc((size_t)B, sizeof(int32_t)), labels[4096];
            long real = 0;
            int T = 0;
            for (int b = 0; b < B; b++) {
                // --full-length: every sequence seq long (no dynamic-padding saving)
                lens[b] = B > 1 ? S / 2 + (int)rng_below(&r, (uint64_t)(S - S / 2 + 1)) : S;
                if (full_len)
                    lens[b] = S;
                T = lens[b] > T ? lens[b] : T;
                real += lens[b];
                bench_random_row(&r, ids + (size_t)b * S, lens[b], c.V);
                labels[b] = (int32_t)rng_below(&r, 6);
            }
            // the anchor pads to S; so do we for the ids layout, the engine reads lens only
            T = S;
            float *dlogits = xcalloc((size_t)B * c.K, sizeof(float));
            rng_t drop;
            rng_seed(&drop, 42);
            int iters = 0;
            double *ts = xcalloc((size_t)max_iters, sizeof(double));
            double t_start = 0;
            for (int it = 0;; it++) {
                double t0 = now_seconds();
                if (m_train) {
                    model_zero_grad(m);
                    if (model_forward(m, ids, lens, B, T, MODEL_TRAIN, &drop) != 0)
                        return fprintf(stderr, "engine: %s\n", model_error(m)), 1;
                    memset(dlogits, 0, (size_t)B * c.K * sizeof(float));
                    crossentropy_loss_and_grad(dlogits, 1.0f, model_logits(m), labels,
                                               (size_t)B, (size_t)c.K, 0.0);
                    model_backward(m, dlogits, NULL);
                    // weight decay on every tensor, as the anchor's AdamW(model.parameters())
                    optim_range all = { 0, model_num_params(m) };
                    adamw_step(&opt, model_param_block(m), model_grad_block(m), 5e-5, &acfg,
                               &all, 1);
                } else if (model_forward(m, ids, lens, B, T, MODEL_INFER, NULL) != 0) {
                    return fprintf(stderr, "engine: %s\n", model_error(m)), 1;
                }
                double dt = now_seconds() - t0;
                if (it < warmup)
                    continue;
                if (iters == 0)
                    t_start = t0;
                ts[iters++] = dt;
                if (iters >= max_iters ||
                    (iters >= min_iters && now_seconds() - t_start >= min_time))
                    break;
            }
            double med = bench_sort_median(ts, iters);
            double fl = model_flops_forward(&c, B, S) * (m_train ? 3 : 1);
            double fill = (double)real / ((double)B * S);
            if (m_lat)
                printf("%-10s L%d H%d b%d s%d: latency median %8.2f ms  (min %.2f, max %.2f, "
                       "n=%d)  %.1f GFLOP/s\n", name, c.L, c.H, B, S, med * 1e3, ts[0] * 1e3,
                       ts[iters - 1] * 1e3, iters, fl / med / 1e9);
            else
                printf("%-10s L%d H%d b%d s%d: %s step median %9.1f ms (min %.1f max %.1f n=%d)"
                       "  %8.1f samples/s %9.0f tokens/s  %6.1f GFLOP/s\n", name, c.L, c.H, B,
                       S, mode, med * 1e3, ts[0] * 1e3, ts[iters - 1] * 1e3, iters, B / med,
                       B * S / med, fl / med / 1e9);
            printf("JSON {\"tag\":\"%s\",\"impl\":\"c\",\"mode\":\"%s\",\"config\":\"%s\","
                   "\"arch\":\"%s\",\"L\":%d,\"H\":%d,\"A\":%d,\"I\":%d,\"batch\":%d,\"seq\":%d,"
                   "\"threads\":%d,\"ob_core\":\"%s\",\"fill\":%.3f,\"iters\":%d,\"t_med\":%.6g,"
                   "\"t_min\":%.6g,\"t_max\":%.6g,\"samples_s\":%.6g,\"tokens_s\":%.6g,"
                   "\"gflop\":%.6g,\"gflops\":%.6g}\n",
                   tag, mode, name, arch_s, c.L, c.H, c.NH, c.I, B, S, threads, core, fill, iters,
                   med, ts[0], ts[iters - 1], B / med, B * S / med, fl / 1e9, fl / med / 1e9);
            fflush(stdout);
            free(ids);
            free(lens);
            free(dlogits);
            free(ts);
        }
        free(sq);
        if (m_train)
            adamw_free(&opt);
        model_free(m);
    }
    free(cfgs);
    return 0;
}
