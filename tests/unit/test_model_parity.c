/* The engine against PyTorch on whole models: tests/gen/torch_ref.py re-implements HF's
 * Bert/DistilBert/AlbertForSequenceClassification and stored, for a tiny random checkpoint
 * of each family and a padded batch (lengths 7, 5, 2), the eval-mode logits, the mean
 * cross-entropy loss, every layer's attention probabilities, the pooled output, the hidden
 * states and every parameter's gradient (computed in float64 from the float32 weights).
 * Here the checkpoint is loaded through lib/model/ckpt (HF names -> model_params), run by
 * the engine, and compared tensor by tensor; a failure names the HF tensor.
 *
 * With EMO_PARITY_STATE=DIR set, the engine's state is also written to
 * DIR/<family>.safetensors (logits, loss, attn.N, pooled, grad.<HF name>) for
 *     /usr/bin/python3 tests/gen/torch_ref.py --compare <family> DIR/<family>.safetensors
 * which prints the max abs diff of every tensor against the reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_fixtures.h"
#include "io/safetensors.h"
#include "model/ckpt.h"
#include "model/config.h"
#include "model/model.h"
#include "util/util.h"

#define FIX "tests/fixtures/models/"
/* torch float32 differs from the float64 reference by <= 6e-7 on these tensors
 * (torch_ref.py prints the figures); the engine must stay within a small multiple. */
#define TOL 1e-5

static void parity(const char *family)
{
    char dir[256], err[512], notice[512];
    snprintf(dir, sizeof dir, FIX "%s", family);
    model *m = ckpt_model_open(dir, 0, NULL, 0, 0, notice, sizeof notice, err, sizeof err);
    CHECK(m != NULL, "%s: %s", family, err);
    if (!m)
        return;
    const model_config *c = model_get_config(m);
    st_file f;
    if (fixture_open_expected(&f, dir) != 0) {
        model_free(m);
        return;
    }
    const st_tensor *ti = st_find(&f, "input_ids"), *tl = st_find(&f, "labels");
    CHECK(ti && tl && ti->ndim == 2 && tl->numel == (uint64_t)ti->shape[0], "%s: batch tensors", family);
    int B = (int)ti->shape[0], T = (int)ti->shape[1], K = c->K, H = c->H, NH = c->NH;
    int64_t *ids64 = xmalloc((size_t)B * T * sizeof *ids64), *lab = xmalloc((size_t)B * sizeof *lab);
    st_to_i64(&f, ti, ids64, err, sizeof err);
    st_to_i64(&f, tl, lab, err, sizeof err);
    int32_t *ids = xmalloc((size_t)B * T * sizeof *ids), *lens = xmalloc((size_t)B * sizeof *lens);
    fixture_ids_lens(ids64, B, T, ids, lens);
    CHECK(lens[0] == 7 && lens[1] == 5 && lens[2] == 2, "%s: lengths", family);

    /* inference mode: logits only */
    CHECK(model_forward(m, ids, lens, B, T, MODEL_INFER, NULL) == 0, "%s: %s", family, model_error(m));
    float *want = fixture_f32(&f, "logits", (size_t)B * K);
    if (want)
        CHECK_CLOSE("infer logits", model_logits(m), want, B * K, TOL);

    /* eval with gradients: keep every layer's attention */
    model_keep_attn(m, (1ull << c->L) - 1);
    model_zero_grad(m);
    CHECK(model_forward(m, ids, lens, B, T, MODEL_EVAL_GRAD, NULL) == 0, "%s: %s", family, model_error(m));
    const float *lg = model_logits(m);
    if (want)
        CHECK_CLOSE("logits", lg, want, B * K, TOL);
    free(want);

    /* mean cross-entropy and its gradient (softmax - onehot) / B, in double */
    float *dl = xmalloc((size_t)B * K * sizeof *dl);
    double loss = 0;
    for (int b = 0; b < B; b++) {
        double mx = -INFINITY, s = 0;
        for (int k = 0; k < K; k++)
            mx = fmax(mx, lg[b * K + k]);
        for (int k = 0; k < K; k++)
            s += exp(lg[b * K + k] - mx);
        for (int k = 0; k < K; k++)
            dl[b * K + k] = (float)((exp(lg[b * K + k] - mx) / s - (k == lab[b])) / B);
        loss -= (lg[b * K + lab[b]] - mx - log(s)) / B;
    }
    float *wl = fixture_f32(&f, "loss", 1);
    if (wl)
        CHECK(fabs(loss - *wl) <= TOL, "%s: loss %.9g vs torch %.9g", family, loss, (double)*wl);
    free(wl);

    /* attention probabilities of every layer, on the real (unpadded) block */
    for (int l = 0; l < c->L; l++) {
        char name[32];
        snprintf(name, sizeof name, "attn.%d", l);
        float *a = fixture_f32(&f, name, (size_t)B * NH * T * T);
        const float *ma = model_attn_probs(m, l);
        CHECK(ma != NULL, "%s: attention of layer %d not kept", family, l);
        if (!a || !ma) {
            free(a);
            continue;
        }
        double worst = 0;
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < lens[b]; i++)
                    for (int j = 0; j < T; j++) {
                        size_t o = (((size_t)b * NH + h) * T + i) * T + j;
                        worst = fmax(worst, fabs((double)ma[o] - a[o]));
                    }
        CHECK(worst <= TOL, "%s: %s max abs diff %.3g", family, name, worst);
        free(a);
    }

    /* sentence embedding: BERT/ALBERT pooler output; DistilBERT the final [CLS] state */
    if (c->arch == ARCH_DISTILBERT) {
        char name[32];
        snprintf(name, sizeof name, "hidden.%d", c->L);
        float *h = fixture_f32(&f, name, (size_t)B * T * H);
        if (h) {
            for (int b = 0; b < B; b++)
                CHECK_CLOSE("distilbert [CLS] hidden", model_embedding(m) + (size_t)b * H, h + (size_t)b * T * H, H, TOL);
        }
        free(h);
    } else {
        float *pooled = fixture_f32(&f, "pooled", (size_t)B * H);
        if (pooled)
            CHECK_CLOSE("pooled", model_embedding(m), pooled, B * H, TOL);
        free(pooled);
    }

    /* every parameter's gradient, by HF name */
    CHECK(model_backward(m, dl, NULL) == 0, "%s: backward: %s", family, model_error(m));
    const model_params *g = model_grads(m);
    fixture_check_grads(&f, c, g, family, TOL, NULL);

    const char *state = getenv("EMO_PARITY_STATE");
    if (state && *state) {
        float lossf = (float)loss;
        st_out extra[2 + 64];
        char names[64][16];
        size_t ne = 0;
        extra[ne++] = (st_out){ "logits", lg, 2, { B, K }, NULL };
        extra[ne++] = (st_out){ "loss", &lossf, 0, { 0 }, NULL };
        for (int l = 0; l < c->L && l < 64; l++) {
            snprintf(names[l], sizeof names[l], "attn.%d", l);
            extra[ne++] = (st_out){ names[l], model_attn_probs(m, l), 4, { B, NH, T, T }, NULL };
        }
        char out[512];
        snprintf(out, sizeof out, "%s/%s.safetensors", state, family);
        CHECK(ckpt_save_tensors(out, c, g, "grad.", extra, ne, err, sizeof err) == 0, "state: %s", err);
    }
    free(dl);
    free(ids);
    free(lens);
    free(ids64);
    free(lab);
    st_close(&f);
    model_free(m);
}

int main(void)
{
    parity("bert");
    parity("distilbert");
    parity("albert");
    return check_done("test_model_parity");
}
