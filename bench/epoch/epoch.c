/* Epoch benchmark, C side: training (or inference) steps of the C engine over a fixed
 * sample of real batches, with dynamic padding (each batch computes its real tokens only),
 * scaled to the whole epoch.  The PyTorch side (bench/epoch/anchor_torch.py) runs the same
 * batches padded to 128.  Built and run by bench/epoch/epoch.sh.
 *
 * Input: the sample file of epoch_torch.py sample: a first line "# records N", then one
 * line per sequence "label id,id,...", B consecutive lines per batch.
 *
 *   train   zero_grad + forward (dropout 0.1) + cross-entropy + backward + AdamW (wd 0.01
 *           on every tensor, as the anchor's torch.optim.AdamW(model.parameters()))
 *   infer   forward without dropout or saved activations */
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

static void usage(FILE *f)
{
    fprintf(f, "usage: epoch --sample FILE [--mode train|infer] [--config NAME] [--batch N]\n"
               "             [--threads N] [--warmup N] [--tag T]\n");
}

int main(int argc, char **argv)
{
    const char *mode = "train", *config = "bert-mini", *sample = NULL, *tag = "c";
    int threads = 2, B = 32, warmup = 2;
    static const struct option opts[] = {
        { "mode", required_argument, 0, 'm' }, { "config", required_argument, 0, 'c' },
        { "sample", required_argument, 0, 's' }, { "threads", required_argument, 0, 't' },
        { "batch", required_argument, 0, 'b' }, { "warmup", required_argument, 0, 'w' },
        { "tag", required_argument, 0, 'g' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'b': B = (int)xparse_ll("batch", optarg, 1, 4096); break;
        case 'c': config = optarg; break;
        case 'g': tag = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'm': mode = optarg; break;
        case 's': sample = optarg; break;
        case 't': threads = (int)xparse_ll("threads", optarg, 1, 256); break;
        case 'w': warmup = (int)xparse_ll("warmup", optarg, 0, 1000); break;
        default: usage(stderr); return 2;
        }
    }
    int train = !strcmp(mode, "train");
    if (!sample || (!train && strcmp(mode, "infer"))) {
        usage(stderr);
        return 2;
    }
    const bench_preset *preset = bench_preset_find(config);
    if (!preset) {
        fprintf(stderr, "epoch: unknown config %s\n", config);
        return 2;
    }

    // the sample: n sequences of up to 512 ids
    FILE *f = fopen(sample, "r");
    if (!f) {
        perror(sample);
        return 1;
    }
    long epoch_records = 0;
    if (fscanf(f, "# records %ld\n", &epoch_records) != 1 || epoch_records <= 0) {
        fprintf(stderr, "epoch: %s: no '# records N' header\n", sample);
        return 1;
    }
    size_t n = 0, cap = 1024;
    int32_t *ids = xcalloc(cap * 512, sizeof(int32_t)), *lens = xcalloc(cap, sizeof(int32_t));
    int32_t *labels = xcalloc(cap, sizeof(int32_t));
    char *line = NULL;
    size_t linecap = 0;
    while (getline(&line, &linecap, f) > 0) {
        if (n == cap) {
            cap *= 2;
            ids = xrealloc(ids, cap * 512 * sizeof(int32_t));
            lens = xrealloc(lens, cap * sizeof(int32_t));
            labels = xrealloc(labels, cap * sizeof(int32_t));
        }
        char *p = line, *end;
        labels[n] = (int32_t)strtol(p, &end, 10);
        int len = 0;
        for (p = end; *p == ' ' || *p == ','; p = end) {
            long v = strtol(p + 1, &end, 10);
            if (end == p + 1 || len == 512)
                break;
            ids[n * 512 + len++] = (int32_t)v;
        }
        if (len == 0) {
            fprintf(stderr, "epoch: %s: line %zu has no ids\n", sample, n + 2);
            return 1;
        }
        lens[n++] = len;
    }
    free(line);
    fclose(f);
    size_t nb = n / (size_t)B;
    if (nb == 0) {
        fprintf(stderr, "epoch: %s: fewer than %d sequences\n", sample, B);
        return 1;
    }

    threads = threads_setup(threads);
    model_config c = bench_model_config(ARCH_BERT, preset);
    model *m = model_new(&c);
    if (!m)
        return 1;
    model_init_weights(m, 0);
    adamw_state opt;
    adamw_cfg acfg = ADAMW_DEFAULTS;
    optim_range all = { 0, model_num_params(m) };
    if (train)
        adamw_init(&opt, model_num_params(m));

    // batch k: rows [k B, (k + 1) B), laid out (B, T) with T = the batch's longest
    int maxT = 0;
    for (size_t i = 0; i < nb * (size_t)B; i++)
        maxT = lens[i] > maxT ? lens[i] : maxT;
    if (model_reserve(m, B, maxT, train ? MODEL_TRAIN : MODEL_INFER) != 0) {
        fprintf(stderr, "epoch: %s\n", model_error(m));
        return 1;
    }
    int32_t *bids = xcalloc((size_t)B * maxT, sizeof(int32_t));
    float *dlogits = xcalloc((size_t)B * c.K, sizeof(float));
    rng_t drop;
    rng_seed(&drop, 42);
    long real = 0, batchmax = 0;
    double t_total = 0;
    for (size_t k = 0; k < nb + (size_t)warmup; k++) {
        size_t kb = k < (size_t)warmup ? k % nb : k - (size_t)warmup;
        const int32_t *bl = lens + kb * B;
        int T = 0;
        for (int b = 0; b < B; b++)
            T = bl[b] > T ? bl[b] : T;
        for (int b = 0; b < B; b++)
            memcpy(bids + (size_t)b * T, ids + (kb * B + b) * 512, (size_t)bl[b] * sizeof(int32_t));
        double t0 = now_seconds();
        if (train) {
            model_zero_grad(m);
            if (model_forward(m, bids, bl, B, T, MODEL_TRAIN, &drop) != 0)
                return fprintf(stderr, "epoch: %s\n", model_error(m)), 1;
            memset(dlogits, 0, (size_t)B * c.K * sizeof(float));
            crossentropy_loss_and_grad(dlogits, 1.0f, model_logits(m), labels + kb * B,
                                       (size_t)B, (size_t)c.K, 0.0);
            model_backward(m, dlogits, NULL);
            adamw_step(&opt, model_param_block(m), model_grad_block(m), 5e-5, &acfg, &all, 1);
        } else if (model_forward(m, bids, bl, B, T, MODEL_INFER, NULL) != 0) {
            return fprintf(stderr, "epoch: %s\n", model_error(m)), 1;
        }
        double dt = now_seconds() - t0;
        if (k < (size_t)warmup)
            continue;
        t_total += dt;
        batchmax += (long)B * T;
        for (int b = 0; b < B; b++)
            real += bl[b];
    }
    long epoch_batches = (epoch_records + B - 1) / B;
    double per_batch = t_total / (double)nb;
    printf("%-10s %s: %zu batches of %d in %.3f s (%.2f ms/batch, %.0f samples/s); epoch of %ld "
           "records ~ %.1f s; real tokens %.1f%% of pad-to-128, %.1f%% of pad-to-batch-max\n",
           config, mode, nb, B, t_total, per_batch * 1e3, (double)nb * B / t_total,
           epoch_records, per_batch * (double)epoch_batches,
           100.0 * (double)real / ((double)nb * B * 128), 100.0 * (double)real / (double)batchmax);
    printf("JSON {\"bench\":\"epoch\",\"tag\":\"%s\",\"impl\":\"c\",\"padding\":\"dynamic\","
           "\"mode\":\"%s\",\"config\":\"%s\",\"batch\":%d,\"threads\":%d,\"batches\":%zu,"
           "\"tokens_real\":%ld,\"tokens_batchmax\":%ld,\"tokens_pad128\":%ld,\"t_sample\":%.6g,"
           "\"t_per_batch\":%.6g,\"samples_s\":%.6g,\"epoch_records\":%ld,\"epoch_batches\":%ld,"
           "\"t_epoch_est\":%.6g,\"load1\":%.2f}\n",
           tag, mode, config, B, threads, nb, real, batchmax, (long)nb * B * 128, t_total,
           per_batch, (double)nb * B / t_total, epoch_records, epoch_batches,
           per_batch * (double)epoch_batches, bench_load1());
    free(bids);
    free(dlogits);
    free(ids);
    free(lens);
    free(labels);
    if (train)
        adamw_free(&opt);
    model_free(m);
    return 0;
}
