/* The int8 GEMM (lib/nn/qgemm.c) against the engine's float GEMM (lib/nn/gemm.c) at the
 * linear-layer shapes of bert-mini at b64 s32 (M = 2048 token rows): K 256 -> N 256 (the
 * attention projections and output), 256 -> 1024 (FFN up), 1024 -> 256 (FFN down).
 * Each float kernel and each int8 path this CPU runs, alternated, best of reps:
 *   float      gemm_packed (weights packed once), with bias
 *   int8       qgemm_forward: the row quantisation of x, the int8 GEMM, the fused epilogue
 *   int8 gemm  qgemm_f32 alone on rows quantised beforehand
 *   int8 quant qgemm_quantize_rows alone (the part of the forward that is not the GEMM)
 * GOP/s counts 2 M N K (for quant too, to compare).  "cpu ms" is the process's CPU time
 * over the threads, less sensitive than wall time to other jobs on a shared machine (with
 * one thread, the time the kernel was on a core).  The int8 output's relative error against the float one is shown
 * beside it.  One JSON line per (shape, kernel) on stdout.  Built and run by bench/qgemm/qgemm.sh.
 * The scalar path (tests' reference, about 1 GOP/s) only with --scalar.
 *   qgemm [--threads N] [--reps N] [--m M] [--scheme w7|a7] [--scalar] */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/gemm.h"
#include "nn/qgemm.h"
#include "util/par.h"
#include "util/rng.h"
#include "util/util.h"

#include "../bench_common.h"

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { MAXV = 2 + QGEMM_NISA * 3 };

typedef struct {
    char name[40];
    int kind;      /* 0 float, 1 int8 forward, 2 int8 gemm only, 3 quantisation only */
    int isa;
    double best, cpu;   /* wall, CPU seconds per thread (best of reps each) */
} variant;

int main(int argc, char **argv)
{
    int threads = 2, reps = 5, scalar = 0;
    size_t M = 2048;
    enum qgemm_scheme scheme = QGEMM_W7;
    static const struct option opts[] = {
        { "threads", required_argument, 0, 't' }, { "reps", required_argument, 0, 'r' },
        { "m", required_argument, 0, 'm' }, { "scheme", required_argument, 0, 's' },
        { "scalar", no_argument, 0, 'S' },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'm')
            M = (size_t)xparse_ll("m", optarg, 1, 1 << 20);
        else if (ch == 'r')
            reps = (int)xparse_ll("reps", optarg, 1, 10000);
        else if (ch == 'S')
            scalar = 1;
        else if (ch == 's' && (!strcmp(optarg, "w7") || !strcmp(optarg, "a7")))
            scheme = !strcmp(optarg, "a7") ? QGEMM_A7 : QGEMM_W7;
        else if (ch == 't')
            threads = (int)xparse_ll("threads", optarg, 1, 256);
        else {
            fprintf(stderr, "usage: qgemm [--threads N] [--reps N] [--m M] [--scheme w7|a7] [--scalar]\n");
            return 2;
        }
    }
    threads = threads_setup(threads);
    static const size_t shapes[][2] = { { 256, 256 }, { 256, 1024 }, { 1024, 256 } };   // K, N
    enum gemm_isa fdefault = gemm_isa();
    enum qgemm_isa qdefault = qgemm_isa();
    printf("# M %zu, %d threads, best of %d, scheme %s; float default %s, int8 default %s; load %.2f\n",
           M, threads, reps, qgemm_scheme_name(scheme), gemm_isa_name(fdefault), qgemm_isa_name(qdefault),
           bench_load1());
    printf("# %-24s %5s %5s %9s %8s %8s %9s %8s\n", "kernel", "K", "N", "ms", "GOP/s", "x float", "cpu ms",
           "x float");
    rng_t r;
    rng_seed(&r, 1);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t K = shapes[s][0], N = shapes[s][1];
        float *x = xaligned_alloc(M * K * 4), *W = xaligned_alloc(N * K * 4), *b = xaligned_alloc(N * 4);
        for (size_t i = 0; i < M * K; i++)   // LayerNorm-like rows, two outlier features
            x[i] = (float)(rng_uniform(&r) * 2 - 1) * (i % K == 7 ? 20.0f : 1.0f);
        for (size_t i = 0; i < N * K; i++)
            W[i] = (float)(rng_uniform(&r) * 2 - 1) * 0.05f;
        for (size_t i = 0; i < N; i++)
            b[i] = (float)(rng_uniform(&r) * 2 - 1) * 0.1f;
        float *Pf = xaligned_alloc(gemm_packed_floats(N, K) * 4);
        gemm_pack(Pf, W, N, K);
        int8_t *wq = xaligned_alloc(N * K);
        float *ws = xaligned_alloc(N * 4), *as = xaligned_alloc(M * 4);
        int32_t *zp = xaligned_alloc(M * 4);
        uint8_t *q = xaligned_alloc(M * K);
        qgemm_quantize_weights(wq, ws, W, N, K, scheme);
        void *Pq = xaligned_alloc(qgemm_packed_bytes(N, K));
        if (qgemm_pack(Pq, wq, K, ws, N, K, scheme) != 0)
            return 1;
        void *scratch = xaligned_alloc(qgemm_scratch_bytes(M, K));
        float *yf = xaligned_alloc(M * N * 4), *yq = xaligned_alloc(M * N * 4);
        variant v[MAXV];
        int nv = 0;
        for (int i = GEMM_AVX2; i <= GEMM_AVX512; i++)
            if (gemm_set_isa((enum gemm_isa)i) == 0) {
                v[nv] = (variant){ "", 0, i, 1e30, 1e30 };
                snprintf(v[nv++].name, sizeof v[0].name, "float %s", gemm_isa_name((enum gemm_isa)i));
            }
        for (int i = 0; i < QGEMM_NISA; i++)
            if (qgemm_cpu_has((enum qgemm_isa)i) && (i != QGEMM_SCALAR || scalar))
                for (int kind = 1; kind <= 3; kind++) {
                    v[nv] = (variant){ "", kind, i, 1e30, 1e30 };
                    snprintf(v[nv++].name, sizeof v[0].name, "int8 %s%s", qgemm_isa_name((enum qgemm_isa)i),
                             kind == 2 ? " gemm" : kind == 3 ? " quant" : "");
                }
        qgemm_quantize_rows(q, K, as, zp, x, K, M, K, scheme);
        for (int rep = 0; rep < reps; rep++)   // alternated, best of reps (the machine is shared)
            for (int i = 0; i < nv; i++) {
                if (v[i].kind == 0)
                    gemm_set_isa((enum gemm_isa)v[i].isa);
                else
                    qgemm_set_isa((enum qgemm_isa)v[i].isa);
                double t0 = now_seconds(), c0 = cpu_seconds();
                if (v[i].kind == 0)
                    gemm_packed(yf, x, K, Pf, b, M, K, N);
                else if (v[i].kind == 1)
                    qgemm_forward(yq, N, x, K, Pq, b, M, scratch, NULL);
                else if (v[i].kind == 2)
                    qgemm_f32(yq, N, q, K, as, zp, Pq, b, M, NULL);
                else
                    qgemm_quantize_rows(q, K, as, zp, x, K, M, K, scheme);
                double t = now_seconds() - t0, c = (cpu_seconds() - c0) / threads;
                v[i].best = t < v[i].best ? t : v[i].best;
                v[i].cpu = c < v[i].cpu ? c : v[i].cpu;
            }
        gemm_set_isa(fdefault);
        qgemm_set_isa(qdefault);
        gemm_packed(yf, x, K, Pf, b, M, K, N);
        qgemm_forward(yq, N, x, K, Pq, b, M, scratch, NULL);
        double e2 = 0, f2 = 0;
        for (size_t i = 0; i < M * N; i++) {
            e2 += (double)(yq[i] - yf[i]) * (yq[i] - yf[i]);
            f2 += (double)(yf[i] - b[i % N]) * (yf[i] - b[i % N]);
        }
        double rel = sqrt(e2 / f2), tfloat = v[0].best, cfloat = v[0].cpu, ops = 2.0 * M * N * K;
        for (int i = 0; i < nv; i++) {
            printf("  %-24s %5zu %5zu %9.3f %8.1f %8.2f %9.3f %8.2f\n", v[i].name, K, N, v[i].best * 1e3,
                   ops / v[i].best / 1e9, tfloat / v[i].best, v[i].cpu * 1e3, cfloat / v[i].cpu);
            printf("JSON {\"bench\":\"qgemm\",\"kernel\":\"%s\",\"M\":%zu,\"K\":%zu,\"N\":%zu,"
                   "\"threads\":%d,\"reps\":%d,\"scheme\":\"%s\",\"ms\":%.4f,\"gops\":%.2f,"
                   "\"float_avx2_ms\":%.4f,\"x_float_avx2\":%.3f,\"cpu_ms\":%.4f,\"cpu_x_float_avx2\":%.3f,"
                   "\"load1\":%.2f}\n",
                   v[i].name, M, K, N, threads, reps, qgemm_scheme_name(scheme), v[i].best * 1e3,
                   ops / v[i].best / 1e9, tfloat * 1e3, tfloat / v[i].best, v[i].cpu * 1e3, cfloat / v[i].cpu,
                   bench_load1());
        }
        printf("  int8 (%s) against float: relative error %.4f\n", qgemm_isa_name(qdefault), rel);
        fflush(stdout);
        free(x), free(W), free(b), free(Pf), free(wq), free(ws), free(as), free(zp), free(q);
        free(Pq), free(scratch), free(yf), free(yq);
    }
    return 0;
}
