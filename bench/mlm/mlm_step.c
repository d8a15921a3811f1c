/* Masked-LM training step of the C engine (issue 8), for bench/mlm/mlm.sh beside PyTorch.
 *
 *   mlm_step --write-batches FILE [--config bert-mini] [--batch 32] [--seq 64] [--nb 8]
 *       makes nb batches the way emo pretrain masks (15% of the real tokens that are not
 *       [CLS]/[SEP], at least one per sequence; every chosen token becomes [MASK] here: the
 *       cost does not depend on the 80/10/10 split) and writes them for both sides:
 *       int32 nb, B, S, V, then per batch lens (B), ids (B*S, padded with 0), M,
 *       positions (M, flat b*S+t), labels (M).
 *   mlm_step --batches FILE [--config bert-mini] [--threads N] [--min-time S] [--tag T]
 *       times one step per batch, round robin: zero_grad, forward (dropout), the MLM head at
 *       the masked positions, cross-entropy, backward, clip_grad_norm(1.0), AdamW.
 * Prints a human line and a JSON line (real tokens/s, median step time). */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ckpt.h"
#include "model/config.h"
#include "model/model.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "util/par.h"
#include "util/rng.h"
#include "util/util.h"

#include "../bench_common.h"

typedef struct {
    int32_t *lens, *ids, *pos, *labels;
    int M;
} mbatch;

static void wr(FILE *f, const void *p, size_t n)
{
    if (fwrite(p, 4, n, f) != n)
        err(1, "write");
}

static void rd(FILE *f, void *p, size_t n)
{
    if (fread(p, 4, n, f) != n)
        errx(1, "short batch file");
}

int main(int argc, char **argv)
{
    const char *config = "bert-mini", *out = NULL, *in = NULL, *tag = "c";
    int B = 32, S = 64, nb = 8, threads = 2;
    double min_time = 10;
    static const struct option opts[] = {
        { "config", required_argument, 0, 'c' }, { "batch", required_argument, 0, 'b' },
        { "seq", required_argument, 0, 's' }, { "nb", required_argument, 0, 'n' },
        { "write-batches", required_argument, 0, 'o' }, { "batches", required_argument, 0, 'i' },
        { "threads", required_argument, 0, 't' }, { "min-time", required_argument, 0, 'T' },
        { "tag", required_argument, 0, 'g' }, { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 'b': B = (int)xparse_ll("batch", optarg, 1, 4096); break;
        case 's': S = (int)xparse_ll("seq", optarg, 4, 512); break;
        case 'n': nb = (int)xparse_ll("nb", optarg, 1, 1000); break;
        case 'o': out = optarg; break;
        case 'i': in = optarg; break;
        case 't': threads = (int)xparse_ll("threads", optarg, 1, 256); break;
        case 'T': min_time = xparse_double("min-time", optarg, 0, 1e6); break;
        case 'g': tag = optarg; break;
        default: return 2;
        }
    }
    if (!out == !in) {
        fprintf(stderr, "usage: mlm_step --write-batches FILE | --batches FILE [options]\n");
        return 2;
    }
    char e[512];
    model_config c;
    if (model_config_resolve(config, &c, e, sizeof e))
        errx(2, "%s", e);
    if (out) {
        rng_t r;
        rng_seed(&r, 1234);
        FILE *f = fopen(out, "wb");
        if (!f)
            err(1, "%s", out);
        int32_t hdr[4] = { nb, B, S, c.V };
        wr(f, hdr, 4);
        int32_t *ids = xcalloc((size_t)B * S, 4), *lens = xcalloc((size_t)B, 4);
        int32_t *pos = xcalloc((size_t)B * S, 4), *lab = xcalloc((size_t)B * S, 4);
        for (int k = 0; k < nb; k++) {
            memset(ids, 0, (size_t)B * S * 4);
            int M = 0;
            for (int b = 0; b < B; b++) {
                /* tweet-like lengths: uniform in [S/4, S] */
                lens[b] = S / 4 + (int)rng_below(&r, (uint64_t)(S - S / 4 + 1));
                int32_t *row = ids + (size_t)b * S;
                bench_random_row(&r, row, lens[b], c.V);
                int n = lens[b] - 2, want = (int)(0.15 * n + 0.5), got = 0;
                if (want < 1)
                    want = 1;
                for (int t = 1; t <= n && got < want; t++)   /* selection sampling: exactly want */
                    if (rng_below(&r, (uint64_t)(n - t + 1)) < (uint64_t)(want - got)) {
                        pos[M] = b * S + t;
                        lab[M++] = row[t];
                        row[t] = 103;
                        got++;
                    }
            }
            wr(f, lens, (size_t)B);
            wr(f, ids, (size_t)B * S);
            wr(f, &M, 1);
            wr(f, pos, (size_t)M);
            wr(f, lab, (size_t)M);
        }
        if (fclose(f))
            err(1, "%s", out);
        return 0;
    }

    threads = threads_setup(threads);
    FILE *f = fopen(in, "rb");
    if (!f)
        err(1, "%s", in);
    int32_t hdr[4];
    rd(f, hdr, 4);
    nb = hdr[0], B = hdr[1], S = hdr[2];
    mbatch *bs = xcalloc((size_t)nb, sizeof *bs);
    long real = 0, masked = 0;
    for (int k = 0; k < nb; k++) {
        bs[k].lens = xmalloc((size_t)B * 4);
        bs[k].ids = xmalloc((size_t)B * S * 4);
        rd(f, bs[k].lens, (size_t)B);
        rd(f, bs[k].ids, (size_t)B * S);
        rd(f, &bs[k].M, 1);
        bs[k].pos = xmalloc((size_t)bs[k].M * 4 + 4);
        bs[k].labels = xmalloc((size_t)bs[k].M * 4 + 4);
        rd(f, bs[k].pos, (size_t)bs[k].M);
        rd(f, bs[k].labels, (size_t)bs[k].M);
        for (int b = 0; b < B; b++)
            real += bs[k].lens[b];
        masked += bs[k].M;
    }
    fclose(f);
    char notice[512];
    model *m = ckpt_model_open(config, 0, NULL, CKPT_WANT_MLM, 0, notice, sizeof notice, e, sizeof e);
    if (!m)
        errx(1, "%s", e);
    const model_config *mc = model_get_config(m);
    int maxM = 0;
    for (int k = 0; k < nb; k++)
        maxM = bs[k].M > maxM ? bs[k].M : maxM;
    if (model_reserve(m, B, S, MODEL_TRAIN) || model_mlm_reserve(m, maxM))
        errx(1, "%s", model_error(m));
    float *dmlm = xmalloc((size_t)maxM * mc->V * sizeof *dmlm);
    adamw_state opt;
    adamw_cfg acfg = ADAMW_DEFAULTS;
    adamw_init(&opt, model_num_params(m));
    optim_range dr[MODEL_NUM_PARAM_TENSORS];
    size_t ndr = optim_decay_ranges(dr, mc);
    rng_t drop;
    rng_seed(&drop, 42);
    int warmup = 2, cap = 100000, iters = 0;
    double *ts = xcalloc((size_t)cap, sizeof *ts), t_start = 0, loss = 0;
    long tok_timed = 0;
    for (int it = 0;; it++) {
        const mbatch *b = &bs[it % nb];
        double t0 = now_seconds();
        model_zero_grad(m);
        if (model_forward(m, b->ids, b->lens, B, S, MODEL_TRAIN, &drop) || model_mlm_forward(m, b->pos, b->M))
            errx(1, "%s", model_error(m));
        memset(dmlm, 0, (size_t)b->M * mc->V * sizeof *dmlm);
        loss = crossentropy_loss_and_grad(dmlm, 1.0f, model_mlm_logits(m), b->labels, (size_t)b->M, (size_t)mc->V, 0);
        if (model_mlm_backward(m, dmlm, NULL, NULL))
            errx(1, "%s", model_error(m));
        clip_grad_norm(model_grad_block(m), model_num_params(m), 1.0);
        adamw_step(&opt, model_param_block(m), model_grad_block(m), 1e-4, &acfg, dr, ndr);
        double dt = now_seconds() - t0;
        if (it < warmup)
            continue;
        if (iters == 0)
            t_start = t0;
        ts[iters++] = dt;
        for (int j = 0; j < B; j++)
            tok_timed += b->lens[j];
        if (iters >= cap || (iters >= nb && iters % nb == 0 && now_seconds() - t_start >= min_time))
            break;
    }
    double total = 0;
    for (int i = 0; i < iters; i++)
        total += ts[i];
    double med = bench_sort_median(ts, iters);
    printf("%s %s b%d s%d: MLM step median %.1f ms (min %.1f max %.1f n=%d), %.0f real tokens/s, "
           "%.1f masked/batch, last loss %.3f\n", tag, config, B, S, med * 1e3, ts[0] * 1e3, ts[iters - 1] * 1e3,
           iters, tok_timed / total, (double)masked / nb, loss);
    printf("JSON {\"tag\":\"%s\",\"impl\":\"c\",\"mode\":\"mlm_train\",\"config\":\"%s\",\"batch\":%d,\"seq\":%d,"
           "\"threads\":%d,\"iters\":%d,\"t_med\":%.6g,\"t_min\":%.6g,\"real_tokens_s\":%.6g,"
           "\"fill\":%.4f,\"masked_per_batch\":%.2f,\"loss_last\":%.5g}\n",
           tag, config, B, S, threads, iters, med, ts[0], tok_timed / total, (double)real / ((double)nb * B * S),
           (double)masked / nb, loss);
    adamw_free(&opt);
    free(ts);
    free(dmlm);
    for (int k = 0; k < nb; k++) {
        free(bs[k].lens);
        free(bs[k].ids);
        free(bs[k].pos);
        free(bs[k].labels);
    }
    free(bs);
    model_free(m);
    return 0;
}
