/* The batch-1 forward time of a checkpoint on real lines, for bench/predict/predict.sh's streaming
 * part: what `emo predict` cannot avoid per line (the rest of its latency is its own).
 *
 *   bench/out/predict_b1 CKPT_DIR LINES [threads=2] [warmup=20]
 *
 * Each line of LINES is cleaned and tokenized as emo predict does (lib/infer/predictor.h),
 * then run alone (B = 1, T = its length) through predictor_run; the encode and the run are
 * timed separately.  The model's name in the output is CKPT_DIR's last component.  The first `warmup` lines are run but not counted.  Prints one JSON line:
 * medians, p90 and p99 in milliseconds and the mean length in tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_common.h"
#include "infer/predictor.h"
#include "util/par.h"
#include "util/util.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double pct(const double *sorted, int n, double p)
{
    int i = (int)(p * (n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: predict_b1 CKPT_DIR LINES [threads=2] [warmup=20]\n");
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : 2, warmup = argc > 4 ? atoi(argv[4]) : 20;
    threads_setup(threads);
    char notice[1024], e[1024];
    predictor *p = predictor_open(argv[1], NULL, notice, sizeof notice, e, sizeof e);
    if (!p) {
        fprintf(stderr, "predict_b1: %s\n", e);
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    int K = predictor_config(p)->K, cap = 1024, n = 0;
    double *fwd = malloc(sizeof(double) * (size_t)cap), *enc = malloc(sizeof(double) * (size_t)cap);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)predictor_max_len(p));
    float logits[LABELS_MAX], probs[LABELS_MAX];
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    long tokens = 0;
    int seen = 0;
    (void)K;
    while ((len = getline(&line, &lcap, f)) > 0) {
        if (line[len - 1] == '\n')
            len--;
        int trunc;
        double t0 = now();
        int T = (int)predictor_encode(p, line, (size_t)len, ids, &trunc);
        double t1 = now();
        int32_t lens[1] = { T };
        if (predictor_run(p, ids, lens, 1, T, logits, probs, e, sizeof e)) {
            fprintf(stderr, "predict_b1: %s\n", e);
            return 1;
        }
        double t2 = now();
        if (seen++ < warmup)
            continue;
        if (n == cap) {
            cap *= 2;
            fwd = realloc(fwd, sizeof(double) * (size_t)cap);
            enc = realloc(enc, sizeof(double) * (size_t)cap);
        }
        enc[n] = (t1 - t0) * 1e3;
        fwd[n] = (t2 - t1) * 1e3;
        tokens += T;
        n++;
    }
    if (!n) {
        fprintf(stderr, "predict_b1: no lines after the warm-up\n");
        return 1;
    }
    double fmed = bench_sort_median(fwd, n), emed = bench_sort_median(enc, n);
    double la[3] = { 0 };
    getloadavg(la, 3);
    const char *name = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
    printf("JSON {\"bench\":\"predict\",\"mode\":\"b1-forward\",\"model\":\"%s\",\"threads\":%d,\"lines\":%d,"
           "\"mean_tokens\":%.1f,\"forward_p50_ms\":%.4f,\"forward_p90_ms\":%.4f,\"forward_p99_ms\":%.4f,"
           "\"encode_p50_ms\":%.4f,\"encode_p99_ms\":%.4f,\"load\":%.2f}\n",
           name, threads, n, (double)tokens / n, fmed, pct(fwd, n, 0.9), pct(fwd, n, 0.99), emed,
           pct(enc, n, 0.99), la[0]);
    free(fwd);
    free(enc);
    free(ids);
    free(line);
    fclose(f);
    predictor_free(p);
    return 0;
}
