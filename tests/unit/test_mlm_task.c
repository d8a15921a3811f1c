/* lib/train/mlm_task: the masked-LM loss against the cross-entropy of nn/loss.c (checked
 * against PyTorch by tests/gen/torch_losses.py) and central finite differences; its
 * independence of the thread count; and batch masking that depends on the record, not on
 * the batch it is in (flat positions b*T + t, targets the original ids). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "nn/loss.h"
#include "train/mlm_task.h"
#include "util/par.h"
#include "util/rng.h"
#include "util/util.h"

static void test_loss(void)
{
    const int M = 37, V = 1001;
    rng_t r;
    rng_seed(&r, 3);
    float *z = xmalloc((size_t)M * V * sizeof *z), *d1 = xmalloc((size_t)M * V * sizeof *d1);
    float *d2 = xcalloc((size_t)M * V, sizeof *d2), *d3 = xmalloc((size_t)M * V * sizeof *d3);
    int32_t *y = xmalloc((size_t)M * sizeof *y);
    for (int i = 0; i < M * V; i++)
        z[i] = (float)(rng_normal(&r) * 3);
    for (int i = 0; i < M; i++)
        y[i] = (int32_t)rng_below(&r, (uint64_t)V);
    z[5 * V + y[5]] = 40;    /* a confident correct row */
    long correct = 0;
    double sum;
    threads_setup(1);
    double a = mlm_loss_and_grad(d1, z, y, M, V, &correct, &sum);
    double b = crossentropy_loss_and_grad(d2, 1.0f, z, y, (size_t)M, (size_t)V, 0);
    CHECK(fabs(a - b) < 1e-6 * fabs(b), "loss %.9g vs crossentropy %.9g", a, b);
    CHECK(fabs(sum - a * M) < 1e-9 * sum, "sum %.9g = M * mean", sum);
    CHECK_CLOSE("gradient vs crossentropy", d1, d2, (size_t)M * V, 1e-7);
    long want = 0;
    for (int i = 0; i < M; i++) {
        int best = 0;
        for (int k = 1; k < V; k++)
            if (z[(size_t)i * V + k] > z[(size_t)i * V + best])
                best = k;
        want += best == y[i];
    }
    CHECK(correct == want && want >= 1, "correct %ld vs %ld", correct, want);
    /* central differences in double on a few entries */
    for (int t = 0; t < 6; t++) {
        size_t i = (size_t)rng_below(&r, (uint64_t)M * V);
        if (t == 0)
            i = (size_t)7 * V + (size_t)y[7];   /* a target entry */
        float keep = z[i];
        const float h = 1e-2f;
        z[i] = keep + h;
        double up = mlm_loss_and_grad(NULL, z, y, M, V, NULL, NULL);
        z[i] = keep - h;
        double dn = mlm_loss_and_grad(NULL, z, y, M, V, NULL, NULL);
        z[i] = keep;
        double fd = (up - dn) / (2.0 * h);
        CHECK(fabs(fd - d1[i]) < 2e-5 + 1e-3 * fabs(fd), "entry %zu: finite difference %.8g vs %.8g", i, fd,
              (double)d1[i]);
    }
    /* two threads: bit-identical */
    threads_setup(2);
    long c2 = 0;
    double a2 = mlm_loss_and_grad(d3, z, y, M, V, &c2, NULL);
    CHECK(a2 == a && c2 == correct && !memcmp(d1, d3, (size_t)M * V * sizeof *d1), "2 threads = 1 thread");
    CHECK(mlm_loss_and_grad(d3, z, y, 0, V, NULL, NULL) == 0, "M 0: loss 0");
    free(z);
    free(d1);
    free(d2);
    free(d3);
    free(y);
}

/* batches: the same records in other company and order get the same corruption */
static void test_mask_batch(void)
{
    enum { V = 50 };
    uint8_t kind[V] = { 0 };
    kind[0] = kind[1] = kind[2] = MLM_TOK_SPECIAL;   /* pad, cls, sep */
    mlm_task mt = { 0 };
    mlm_mask_cfg c = MLM_MASK_DEFAULTS;
    c.prob = 0.5;
    c.kind = kind;
    c.V = V;
    c.mask_id = 3;
    mt.mask = c;
    /* records 0..3: lengths 6, 9, 4, 12 */
    int lens[4] = { 6, 9, 4, 12 };
    int32_t rec[4][12];
    for (int k = 0; k < 4; k++) {
        rec[k][0] = 1;
        for (int t = 1; t < lens[k] - 1; t++)
            rec[k][t] = 4 + (k * 7 + t) % (V - 4);
        rec[k][lens[k] - 1] = 2;
    }
    /* batch A: records 0, 1, 2, 3 (T 12); batch B: 3, 1 (T 12) */
    int32_t ids[4 * 12], bl[4], ob[4] = { 0, 1, 2, 3 }, oB[2] = { 3, 1 };
    uint32_t rows[4];
    batch b = { .ids = ids, .lens = bl, .rows = rows };
    int32_t posA[48], tgtA[48], corrA[4][12];
    b.B = 4;
    b.T = 12;
    for (int i = 0; i < 4; i++) {
        rows[i] = (uint32_t)ob[i];
        bl[i] = lens[ob[i]];
        for (int t = 0; t < 12; t++)
            ids[i * 12 + t] = t < bl[i] ? rec[ob[i]][t] : 0;
    }
    int MA = mlm_task_mask_batch(&mt, &b, 2);
    memcpy(posA, mt.pos, (size_t)MA * sizeof *posA);
    memcpy(tgtA, mt.target, (size_t)MA * sizeof *tgtA);
    memcpy(corrA, mt.ids, sizeof corrA);
    int bad = 0;
    for (int k = 0; k < MA; k++) {
        int row = posA[k] / 12, t = posA[k] % 12;
        if (t >= bl[row] || tgtA[k] != rec[ob[row]][t] || t == 0 || t == bl[row] - 1)
            bad++;
    }
    CHECK(bad == 0 && MA > 4, "flat positions inside the rows, targets the originals (%d chosen)", MA);
    b.B = 2;
    for (int i = 0; i < 2; i++) {
        rows[i] = (uint32_t)oB[i];
        bl[i] = lens[oB[i]];
        for (int t = 0; t < 12; t++)
            ids[i * 12 + t] = t < bl[i] ? rec[oB[i]][t] : 0;
    }
    mlm_task_mask_batch(&mt, &b, 2);
    CHECK(!memcmp(mt.ids, corrA[3], 12 * sizeof(int32_t)) && !memcmp(mt.ids + 12, corrA[1], 12 * sizeof(int32_t)),
          "records 3 and 1 corrupted the same in another batch");
    mlm_task_mask_batch(&mt, &b, 3);
    CHECK(memcmp(mt.ids, corrA[3], 12 * sizeof(int32_t)) || memcmp(mt.ids + 12, corrA[1], 12 * sizeof(int32_t)),
          "another epoch, another mask");
    free(mt.ids);
    free(mt.pos);
    free(mt.target);
}

int main(void)
{
    test_loss();
    test_mask_batch();
    return check_done("test_mlm_task");
}
