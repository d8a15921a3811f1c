/* The inference forward of one checkpoint, float or int8 (emo ckpt quantize), for
 * bench/quantize/quantize.sh: what emo teacher-logits and emo predict run per batch.
 *
 *   bench/out/quantize_fwd CKPT_DIR BATCH SEQ [threads=2] [min_time=1.5] [min_iters=3]
 *
 * Loads CKPT_DIR as the tools do (ckpt_load_model: an int8 checkpoint runs its linear layers
 * with nn/qgemm, EMO_QGEMM_ISA choosing the path), then runs MODEL_INFER forwards of BATCH
 * random sequences of SEQ tokens (the anchor's rows, bench_common.h) until min_time seconds
 * and min_iters forwards have passed, after two warm-up forwards.  Prints one JSON line:
 * the median forward in ms (wall, and CPU time of the process, every thread: less disturbed
 * by other jobs on a shared machine), samples/s at the wall median, the qgemm path and the
 * load average. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench_common.h"
#include "model/ckpt.h"
#include "nn/qgemm.h"
#include "util/par.h"
#include "util/util.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: quantize_fwd CKPT_DIR BATCH SEQ [threads=2] [min_time=1.5] [min_iters=3]\n");
        return 2;
    }
    int B = atoi(argv[2]), T = atoi(argv[3]);
    int threads = argc > 4 ? atoi(argv[4]) : 2, min_iters = argc > 6 ? atoi(argv[6]) : 3;
    double min_time = argc > 5 ? atof(argv[5]) : 1.5;
    threads_setup(threads);
    char notice[1024], e[1024];
    model *m = ckpt_load_model(argv[1], 0, notice, sizeof notice, e, sizeof e);
    if (!m) {
        fprintf(stderr, "quantize_fwd: %s\n", e);
        return 1;
    }
    const model_config *c = model_get_config(m);
    if (B < 1 || T < 2 || T > c->P) {
        fprintf(stderr, "quantize_fwd: batch %d, seq %d\n", B, T);
        return 2;
    }
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * (size_t)T), *lens = malloc(sizeof(int32_t) * (size_t)B);
    rng_t r;
    rng_seed(&r, 1234);
    for (int b = 0; b < B; b++) {
        bench_random_row(&r, ids + (size_t)b * T, T, c->V);
        lens[b] = T;
    }
    int cap = 4096, n = 0;
    double *ts = malloc(sizeof(double) * (size_t)cap), *cs = malloc(sizeof(double) * (size_t)cap), t_start = 0;
    for (int i = 0;; i++) {
        double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (model_forward(m, ids, lens, B, T, MODEL_INFER, NULL) != 0) {
            fprintf(stderr, "quantize_fwd: %s\n", model_error(m));
            return 1;
        }
        double t1 = now(), c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (i < 2)
            continue;
        if (i == 2)
            t_start = t0;
        if (n < cap) {
            cs[n] = c1 - c0;
            ts[n++] = t1 - t0;
        }
        if (n >= min_iters && t1 - t_start >= min_time)
            break;
    }
    double med = bench_sort_median(ts, n), cpu = bench_sort_median(cs, n);
    const char *name = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
    printf("{\"side\":\"emokd\",\"model\":\"%s\",\"int8\":%s,\"isa\":\"%s\",\"batch\":%d,\"seq\":%d,\"threads\":%d,"
           "\"iters\":%d,\"median_ms\":%.4f,\"cpu_ms\":%.4f,\"samples_per_s\":%.1f,\"load1\":%.2f}\n",
           name, model_is_int8(m) ? "true" : "false", model_is_int8(m) ? qgemm_isa_name(qgemm_isa()) : "-", B, T,
           threads, n, 1e3 * med, 1e3 * cpu, B / med, bench_load1());
    free(ts);
    free(cs);
    free(ids);
    free(lens);
    model_free(m);
    return 0;
}
