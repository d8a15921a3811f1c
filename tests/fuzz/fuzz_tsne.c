/* The t-SNE input path: any float32 values as N points of D dimensions (the first byte
 * picks D = 1..8), checked as emo tsne checks them (finite), then a short run: the norm
 * check, the neighbour search and the affinities must refuse or cope, never crash. */
#include <math.h>
#include <string.h>

#include "embed/tsne.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t D = (size_t)(data[0] % 8) + 1, N = (size - 1) / (4 * D);
    if (N < 5 || N > 200)
        return 0;
    float *X = malloc(N * D * sizeof *X);
    memcpy(X, data + 1, N * D * sizeof *X);
    for (size_t i = 0; i < N * D; i++)
        if (!isfinite(X[i])) {
            free(X);
            return 0;
        }
    tsne_opts o;
    tsne_opts_default(&o);
    o.perplexity = (double)(N - 1) / 3 > 2 ? 1.5 : 1;
    o.iters = 6;
    o.exag_iters = 3;
    double *Y = malloc(2 * N * sizeof *Y);
    tsne_result res;
    char err[256];
    if (tsne_run(X, N, D, &o, Y, &res, err, sizeof err) == 0)
        free(res.trace);
    free(Y);
    free(X);
    return 0;
}
