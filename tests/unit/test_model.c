/* The engine on tiny BERT, DistilBERT and ALBERT configs:
 *  - whole-model gradients against central finite differences (eval and train mode with a
 *    fixed dropout seed, plus a gradient on returned attention maps);
 *  - dynamic padding: a sequence gives the same logits alone, padded wider, or batched;
 *  - determinism, inference == eval-with-grad, bad input rejected.
 *  - parity with the PyTorch re-implementation of the HF models (tests/gen/torch_ref.py,
 *    fixtures in tests/fixtures/models/<family>): logits, loss, attention maps, [CLS]
 *    embedding and every parameter gradient of mean cross-entropy, eval mode. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_fixtures.h"
#include "io/safetensors.h"
#include "model/ckpt.h"
#include "model/model.h"
#include "nn/loss.h"
#include "util/par.h"
#include "util/rng.h"
#include "util/util.h"

/* the tiny config with a 3-label classifier */
static model_config tiny(model_arch arch)
{
    model_config c = tiny_config(arch);
    c.K = 3;
    return c;
}

/* Larger-than-HF random weights so the FD signal stands well above float rounding. */
static void big_init(model *m, uint64_t seed)
{
    model_init_weights(m, seed);
    fd_init_weights(m, seed + 1, 0.4);
}

struct probe {
    model *m;
    const int32_t *ids, *types, *lens;
    int B, T, mode;
    const float *r;        /* (B, K) weights on logits */
    const float *ra;       /* (B, NH, T, T) weights on layer `al`'s attention, or NULL */
    int al;
};

static double run_probe(struct probe *q)
{
    rng_t r;
    // the same dropout masks on every evaluation; the seed is one whose masks keep the
    // DistilBERT head's ReLU inputs clear of the stencil (a kink inside it breaks FD)
    rng_seed(&r, 4243);
    int rc = model_forward_types(q->m, q->ids, q->types, q->lens, q->B, q->T, q->mode, &r);
    CHECK(rc == 0, "forward failed: %s", model_error(q->m));
    const model_config *c = model_get_config(q->m);
    const float *lg = model_logits(q->m);
    double s = 0;
    for (int i = 0; i < q->B * c->K; i++)
        s += (double)lg[i] * q->r[i];
    if (q->ra) {
        const float *a = model_attn_probs(q->m, q->al);
        for (size_t i = 0; i < (size_t)q->B * c->NH * q->T * q->T; i++)
            s += (double)a[i] * q->ra[i];
    }
    return s;
}

static double probe_fn(void *q)
{
    return run_probe(q);
}

/* For every parameter tensor: the 3 entries with the largest analytic gradient and 3 random
 * ones, against the 4-point central stencil. */
static void fd_model(struct probe *q, const char *label)
{
    model *m = q->m;
    model_zero_grad(m);
    run_probe(q);
    float *dattn_l = NULL;
    const float *dattn[64] = { 0 };
    if (q->ra) {
        dattn_l = (float *)q->ra;
        dattn[q->al] = dattn_l;
    }
    CHECK(model_backward(m, q->r, q->ra ? dattn : NULL) == 0, "backward: %s", model_error(m));
    double worst_all = fd_check_params(m, probe_fn, q, label, NULL, 0);
    fprintf(stderr, "test_model: %s: worst FD relative error %.2g\n", label, worst_all);
}

static void test_fd(model_arch arch)
{
    model_config c = tiny(arch);
    model *m = model_new(&c);
    CHECK(m != NULL, "model_new");
    big_init(m, 10 + (uint64_t)arch);
    // 3 sequences, T = 6, padded slots hold garbage that must never be read
    int32_t ids[3 * 6] = { 5, 9, 3, 17, 99, -4, 7, 7, 2, 1, 11, 20, 8, 6, 99, 99, 99, 99 };
    int32_t types[3 * 6] = { 0, 0, 1, 1, 9, 9, 0, 1, 1, 1, 0, 1, 1, 0, 9, 9, 9, 9 };
    int32_t lens[3] = { 4, 6, 2 };
    rng_t r;
    rng_seed(&r, 3);
    float rl[3 * 3], ra[3 * 2 * 6 * 6];
    for (int i = 0; i < 9; i++)
        rl[i] = (float)rng_normal(&r);
    for (int i = 0; i < 3 * 2 * 36; i++)
        ra[i] = (float)rng_normal(&r);
    struct probe q = { .m = m, .ids = ids, .types = types, .lens = lens, .B = 3, .T = 6,
                       .r = rl, .al = c.L - 1 };
    char label[96];
    snprintf(label, sizeof label, "%s eval", arch_name(arch));
    q.mode = MODEL_EVAL_GRAD;
    fd_model(&q, label);
    snprintf(label, sizeof label, "%s train+dropout", arch_name(arch));
    q.mode = MODEL_TRAIN;
    fd_model(&q, label);
    snprintf(label, sizeof label, "%s eval+dattn", arch_name(arch));
    model_keep_attn(m, 1u | (1u << (c.L - 1)));
    q.mode = MODEL_EVAL_GRAD;
    q.ra = ra;
    fd_model(&q, label);
    snprintf(label, sizeof label, "%s train+dattn", arch_name(arch));
    q.mode = MODEL_TRAIN;
    q.al = 0;
    fd_model(&q, label);
    model_free(m);
}

/* Dynamic padding, determinism, modes, bad input. */
static void test_behaviour(model_arch arch)
{
    model_config c = tiny(arch);
    model *m = model_new(&c);
    model_init_weights(m, 5);
    big_init(m, 6);
    const char *an = arch_name(arch);
    int32_t one[3] = { 4, 15, 8 }, len3 = 3;
    CHECK(model_forward(m, one, &len3, 1, 3, MODEL_INFER, NULL) == 0, "%s infer", an);
    float alone[LABELS_MAX], emb[8];
    memcpy(alone, model_logits(m), (size_t)c.K * sizeof(float));
    memcpy(emb, model_embedding(m), 8 * sizeof(float));
    // the same sequence second in a wider batch
    int32_t ids[2 * 7] = { 3, 3, 3, 3, 3, 3, 3, 4, 15, 8, 0, 0, 0, 0 };
    int32_t lens[2] = { 7, 3 };
    CHECK(model_forward(m, ids, lens, 2, 7, MODEL_INFER, NULL) == 0, "%s batch", an);
    CHECK_CLOSE("batched logits == alone", model_logits(m) + c.K, alone, c.K, 1e-6);
    CHECK_CLOSE("batched embedding == alone", model_embedding(m) + 8, emb, 8, 1e-6);
    // eval-with-grad and inference compute the same function
    float inf[2 * LABELS_MAX];
    memcpy(inf, model_logits(m), 2 * (size_t)c.K * sizeof(float));
    CHECK(model_forward(m, ids, lens, 2, 7, MODEL_EVAL_GRAD, NULL) == 0, "%s eval", an);
    // the same function; inference runs the last layer's GEMMs on the [CLS] rows only,
    // so the two agree to rounding (test_cls_only_inference), not necessarily in every bit
    CHECK_CLOSE("inference vs eval-with-grad logits", inf, model_logits(m), 2 * c.K, 1e-6);
    // training is deterministic for a seed and differs from eval (dropout is on)
    float *g1 = malloc(model_num_params(m) * sizeof(float)), tr[2 * LABELS_MAX];
    float dl[2 * LABELS_MAX];
    for (int i = 0; i < 2 * c.K; i++)
        dl[i] = (float)(i % 3) - 1.0f;
    for (int rep = 0; rep < 2; rep++) {
        rng_t r;
        rng_seed(&r, 9);
        model_zero_grad(m);
        CHECK(model_forward(m, ids, lens, 2, 7, MODEL_TRAIN, &r) == 0, "%s train", an);
        CHECK(model_backward(m, dl, NULL) == 0, "%s backward", an);
        if (rep == 0) {
            memcpy(g1, model_grad_block(m), model_num_params(m) * sizeof(float));
            memcpy(tr, model_logits(m), 2 * (size_t)c.K * sizeof(float));
        } else {
            CHECK(memcmp(g1, model_grad_block(m), model_num_params(m) * sizeof(float)) == 0,
                  "%s: gradients not bit-identical for a fixed seed", an);
            CHECK(memcmp(tr, model_logits(m), 2 * (size_t)c.K * sizeof(float)) == 0,
                  "%s: train logits not bit-identical for a fixed seed", an);
        }
    }
    CHECK(memcmp(tr, inf, 2 * (size_t)c.K * sizeof(float)) != 0, "%s: dropout had no effect", an);
    // gradients accumulate: a second backward doubles them
    CHECK(model_backward(m, dl, NULL) == 0, "%s backward again", an);
    float *g2 = model_grad_block(m);
    size_t bad = 0;
    for (size_t i = 0; i < model_num_params(m); i++)
        bad += fabsf(g2[i] - 2 * g1[i]) > 1e-6f * (1 + fabsf(g1[i]));
    CHECK(bad == 0, "%s: %zu gradients did not accumulate", an, bad);
    // the padding row of the word embeddings never gets gradient
    int32_t with_pad[3] = { 2, 0, 5 };
    model_zero_grad(m);
    CHECK(model_forward(m, with_pad, &len3, 1, 3, MODEL_EVAL_GRAD, NULL) == 0, "%s pad", an);
    model_backward(m, dl, NULL);
    const model_params *gp = model_grads(m);
    float row0 = 0;
    for (int e = 0; e < c.E; e++)
        row0 += fabsf(gp->word_emb[e]);
    CHECK(row0 == 0, "%s: padding_idx row has gradient %g", an, (double)row0);
    // attention maps: rows of real tokens sum to one, padding is zero
    model_keep_attn(m, 2);
    CHECK(model_forward(m, ids, lens, 2, 7, MODEL_INFER, NULL) == 0, "%s keep", an);
    const float *a = model_attn_probs(m, 1);
    CHECK(a != NULL && model_attn_probs(m, 0) == NULL, "%s: kept layers", an);
    if (a) {
        const float *b1h1 = a + (1 * 2 + 1) * 49;   // sequence 1 (len 3), head 1
        double s0 = 0, pad = 0;
        for (int j = 0; j < 7; j++) {
            s0 += b1h1[j];
            pad += fabsf(b1h1[3 * 7 + j]) + (j >= 3 ? fabsf(b1h1[j]) : 0);
        }
        CHECK(fabs(s0 - 1) < 1e-6 && pad == 0, "%s: attention row sum %g, padding %g", an, s0, pad);
        // kept unpadded instead: each sequence's (NH, l, l) block, the same values
        float padded[2 * 2 * 49];
        memcpy(padded, a, sizeof padded);
        model_keep_attn_packed(m, 2);
        CHECK(model_forward(m, ids, lens, 2, 7, MODEL_INFER, NULL) == 0, "%s keep packed", an);
        CHECK(model_attn_probs(m, 1) == NULL && model_attn_seq(m, 0, 0) == NULL &&
              model_attn_seq(m, 1, 2) == NULL, "%s: packed keeping: what is not there is NULL", an);
        int same = 1;
        for (int b = 0; b < 2; b++) {
            const float *q = model_attn_seq(m, 1, b);
            int l = lens[b];
            for (int h = 0; q && h < 2; h++)
                for (int i = 0; i < l; i++)
                    same &= !memcmp(q + ((size_t)h * l + i) * l, padded + ((b * 2 + h) * 7 + i) * 7,
                                    (size_t)l * sizeof(float));
            same &= q != NULL;
        }
        CHECK(same, "%s: model_attn_seq blocks differ from the padded maps", an);
        model_keep_attn(m, 0);
    }
    // bad input is refused with a message, not a crash
    int32_t bad_ids[3] = { 4, 23, 1 }, bad_len = 4;
    CHECK(model_forward(m, bad_ids, &len3, 1, 3, MODEL_INFER, NULL) == -1, "%s: id >= V", an);
    CHECK(strstr(model_error(m), "token id 23") != NULL, "%s: message '%s'", an, model_error(m));
    CHECK(model_forward(m, one, &bad_len, 1, 3, MODEL_INFER, NULL) == -1, "%s: len > T", an);
    int32_t long_ids[13] = { 1 }, long_len = 13;
    CHECK(model_forward(m, long_ids, &long_len, 1, 13, MODEL_INFER, NULL) == -1, "%s: T > P", an);
    CHECK(model_backward(m, dl, NULL) == -1, "%s: backward after a failed forward", an);
    CHECK(model_forward(m, one, &len3, 1, 3, MODEL_INFER, NULL) == 0, "%s: recovers", an);
    CHECK(model_backward(m, dl, NULL) == -1, "%s: backward after inference", an);
    // after model_reserve, batches up to that size reuse the same memory
    model_keep_attn(m, 0);
    CHECK(model_reserve(m, 2, 13, MODEL_TRAIN) == -1, "%s: reserve beyond P", an);
    CHECK(model_reserve(m, 4, 12, MODEL_TRAIN) == 0, "%s: reserve: %s", an, model_error(m));
    rng_t rr;
    rng_seed(&rr, 1);
    int32_t big_ids[4 * 12], big_lens[4] = { 12, 12, 12, 12 };
    for (int i = 0; i < 48; i++)
        big_ids[i] = 1 + i % 20;
    CHECK(model_forward(m, ids, lens, 2, 7, MODEL_TRAIN, &rr) == 0, "%s small", an);
    const float *before = model_logits(m);
    CHECK(model_forward(m, big_ids, big_lens, 4, 12, MODEL_TRAIN, &rr) == 0, "%s big", an);
    CHECK(model_backward(m, dl, NULL) == 0, "%s: backward after reserve", an);   // dl has room
    CHECK(model_logits(m) == before, "%s: activations reallocated after model_reserve", an);
    free(g1);
    model_free(m);
}

static void test_init(void)
{
    model_config c = tiny(ARCH_BERT);
    c.V = 300;
    c.H = c.E = 64;
    c.I = 128;
    model *m = model_new(&c);
    model_init_weights(m, 1);
    const model_params *p = model_weights(m);
    double s = 0, s2 = 0;
    size_t n = (size_t)c.L * 3 * c.H * c.H;
    for (size_t i = 0; i < n; i++) {
        s += p->qkv_w[i];
        s2 += (double)p->qkv_w[i] * p->qkv_w[i];
    }
    double sd = sqrt(s2 / n - (s / n) * (s / n));
    CHECK(fabs(sd - 0.02) < 0.001 && fabs(s / n) < 0.001, "init std %.4f mean %.4f", sd, s / n);
    CHECK(p->ln1_w[0] == 1.0f && p->ln1_b[0] == 0.0f && p->qkv_b[5] == 0.0f, "init LN/bias");
    CHECK(p->word_emb[0] == 0.0f && p->word_emb[c.E - 1] == 0.0f && p->word_emb[c.E] != 0.0f,
          "init padding row");
    model_config bad = c;
    bad.NH = 3;   // 64 % 3 != 0
    fprintf(stderr, "test_model: (an 'inconsistent config' message is expected next)\n");
    CHECK(model_new(&bad) == NULL, "inconsistent config refused");
    model_free(m);
}

/* ---------------------------------------------------------------- parity with PyTorch */

static double max_abs_diff(const float *a, const float *b, size_t n, double *scale)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        d = e > d ? e : d;
        s = fabs(b[i]) > s ? fabs(b[i]) : s;
    }
    if (scale)
        *scale = s;
    return d;
}

static void test_parity(const char *family)
{
    const char *root = getenv("EMO_ROOT") ? getenv("EMO_ROOT") : ".";
    char dir[512], err[512], notice[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/%s", root, family);
    model_config c;
    float *block = NULL;
    model_params lp;
    if (ckpt_load(dir, &c, &block, &lp, 0, notice, sizeof notice, err, sizeof err) != 0) {
        CHECK(0, "%s: %s", family, err);
        return;
    }
    model *m = model_new(&c);
    memcpy(model_param_block(m), block, model_num_params(m) * sizeof(float));
    free(block);
    st_file f;
    if (fixture_open_expected(&f, dir) != 0) {
        model_free(m);
        return;
    }
    // inputs: ids (B, T) padded with 0; real ids are never 0, so lengths follow from them
    const st_tensor *ti = st_find(&f, "input_ids"), *tl = st_find(&f, "labels");
    CHECK(ti && tl && ti->ndim == 2, "%s: inputs in expected.safetensors", family);
    if (!ti || !tl || ti->ndim != 2) {
        st_close(&f);
        model_free(m);
        return;
    }
    int B = (int)ti->shape[0], T = (int)ti->shape[1], K = c.K;
    int64_t *ids64 = calloc((size_t)B * T, 8), lab64[64];
    int32_t *ids = calloc((size_t)B * T, 4), lens[64], labels[64];
    st_to_i64(&f, ti, ids64, err, sizeof err);
    st_to_i64(&f, tl, lab64, err, sizeof err);
    fixture_ids_lens(ids64, B, T, ids, lens);
    for (int b = 0; b < B; b++)
        labels[b] = (int32_t)lab64[b];
    model_keep_attn(m, ~(uint64_t)0);
    model_zero_grad(m);
    CHECK(model_forward(m, ids, lens, B, T, MODEL_EVAL_GRAD, NULL) == 0, "%s forward: %s",
          family, model_error(m));
    float *buf = calloc((size_t)B * c.NH * T * T + (size_t)B * T * c.H + 64, sizeof(float));
    char label[160];

    // logits and loss
    int64_t shp[4] = { B, K };
    st_get_f32(&f, "logits", 2, shp, buf, err, sizeof err);
    double d = max_abs_diff(model_logits(m), buf, (size_t)B * K, NULL);
    fprintf(stderr, "test_model: parity %s: logits max abs diff %.3g\n", family, d);
    snprintf(label, sizeof label, "%s logits", family);
    CHECK(d <= 1e-4, "%s: max abs diff %.3g > 1e-4", label, d);
    float *dlogits = calloc((size_t)B * K, sizeof(float));
    double loss = crossentropy_loss_and_grad(dlogits, 1.0f, model_logits(m), labels, (size_t)B,
                                             (size_t)K, 0.0);
    st_get_f32(&f, "loss", 0, shp, buf, err, sizeof err);
    CHECK(fabs(loss - buf[0]) <= 1e-5, "%s: loss %.8f vs torch %.8f", family, loss, (double)buf[0]);

    // attention maps: only the real [0:len, 0:len] blocks (HF's padded query rows are junk)
    double worst_att = 0;
    for (int l = 0; l < c.L; l++) {
        char name[32];
        snprintf(name, sizeof name, "attn.%d", l);
        int64_t sa[4] = { B, c.NH, T, T };
        if (st_get_f32(&f, name, 4, sa, buf, err, sizeof err) != 0) {
            CHECK(0, "%s", err);
            continue;
        }
        const float *a = model_attn_probs(m, l);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < c.NH; h++)
                for (int i = 0; i < lens[b]; i++)
                    for (int j = 0; j < T; j++) {
                        size_t at = (((size_t)b * c.NH + h) * T + i) * T + j;
                        double e = fabs((double)a[at] - buf[at]);
                        worst_att = e > worst_att ? e : worst_att;
                    }
    }
    fprintf(stderr, "test_model: parity %s: attention max abs diff %.3g\n", family, worst_att);
    CHECK(worst_att <= 1e-5, "%s attention: max abs diff %.3g", family, worst_att);

    // the embedding: BERT/ALBERT pooler output; DistilBERT [CLS] of the last hidden state
    if (c.arch == ARCH_DISTILBERT) {
        char name[32];
        snprintf(name, sizeof name, "hidden.%d", c.L);
        int64_t sh[3] = { B, T, c.H };
        st_get_f32(&f, name, 3, sh, buf, err, sizeof err);
        for (int b = 0; b < B; b++)
            memmove(buf + (size_t)b * c.H, buf + (size_t)b * T * c.H, (size_t)c.H * sizeof(float));
    } else {
        int64_t sp[2] = { B, c.H };
        st_get_f32(&f, "pooled", 2, sp, buf, err, sizeof err);
    }
    d = max_abs_diff(model_embedding(m), buf, (size_t)B * c.H, NULL);
    CHECK(d <= 1e-4, "%s embedding: max abs diff %.3g", family, d);

    // every parameter gradient of the mean cross-entropy
    CHECK(model_backward(m, dlogits, NULL) == 0, "%s backward: %s", family, model_error(m));
    float *gblock = calloc(model_num_params(m), sizeof(float));
    model_params gp;
    model_params_point(&gp, &c, gblock);
    if (ckpt_read_st(&f, "grad.", &c, &gp, 0, 0, notice, sizeof notice, err, sizeof err) != 0) {
        CHECK(0, "%s: %s", family, err);
    } else {
        size_t sizes[MODEL_NUM_PARAM_TENSORS], off = 0;
        model_param_sizes(&c, sizes);
        const float *g = model_grad_block(m);
        double worst = 0;
        const char *worst_name = "";
        for (int t = 0; t < MODEL_NUM_PARAM_TENSORS; t++) {
            double scale;
            double e = max_abs_diff(g + off, gblock + off, sizes[t], &scale);
            // relative to the tensor's largest gradient, floor 1: float32 vs float64 reference
            double rel = e / (scale > 1 ? scale : 1);
            CHECK(rel <= 1e-5, "%s grad %s: max abs diff %.3g (largest |grad| %.3g)", family,
                  param_tensor_name(t), e, scale);
            if (rel > worst) {
                worst = rel;
                worst_name = param_tensor_name(t);
            }
            off += sizes[t];
        }
        fprintf(stderr, "test_model: parity %s: worst gradient diff %.3g (%s)\n", family, worst,
                worst_name);
    }
    free(gblock);
    free(dlogits);
    free(buf);
    free(ids);
    free(ids64);
    st_close(&f);
    model_free(m);
}

/* Inference runs the last layer on the [CLS] rows only (after its attention), and its
 * linear layers through the packed GEMM (nn/gemm.h), whose rows do not depend on the row
 * count; the full forward (eval-with-grad computes every row) uses OpenBLAS.  The two
 * round differently, so they must agree to the engine's parity tolerance (1e-4 on logits,
 * as against PyTorch), at sizes where the GEMMs block and the pool splits, for 1 and 2
 * threads; inference must stay bit-identical run to run and across thread counts. */
static void test_cls_only_inference(model_arch arch)
{
    model_config c = tiny(arch);
    c.V = 300, c.P = 64, c.H = 64, c.NH = 4, c.I = 256, c.L = 3, c.K = 6;
    c.E = arch == ARCH_ALBERT ? 32 : 64;
    model *m = model_new(&c);
    big_init(m, 21);
    enum { B = 9, T = 40 };
    int32_t ids[B * T], lens[B];
    rng_t r;
    rng_seed(&r, 4);
    for (int b = 0; b < B; b++) {
        lens[b] = 1 + (int)rng_below(&r, T);
        for (int t = 0; t < T; t++)
            ids[b * T + t] = (int32_t)rng_below(&r, (uint64_t)c.V);
    }
    float first[B * 6];
    for (int th = 1; th <= 2; th++) {
        threads_setup(th);
        float inf[B * 6], emb[B * 64];
        CHECK(model_forward(m, ids, lens, B, T, MODEL_INFER, NULL) == 0, "infer");
        memcpy(inf, model_logits(m), sizeof inf);
        memcpy(emb, model_embedding(m), sizeof emb);
        CHECK(model_forward(m, ids, lens, B, T, MODEL_INFER, NULL) == 0, "infer again");
        CHECK(!memcmp(inf, model_logits(m), sizeof inf) && !memcmp(emb, model_embedding(m), sizeof emb),
              "%s, %d threads: inference not bit-identical run to run", arch_name(arch), th);
        // keeping the last layer's maps makes it compute every query row, where otherwise
        // it computes only the [CLS] queries (attention_cls_forward): the same bits
        model_keep_attn_packed(m, 1u << (c.L - 1));
        CHECK(model_forward(m, ids, lens, B, T, MODEL_INFER, NULL) == 0, "infer, last layer kept");
        CHECK(!memcmp(inf, model_logits(m), sizeof inf) && !memcmp(emb, model_embedding(m), sizeof emb),
              "%s, %d threads: [CLS]-query last layer differs from the all-queries one",
              arch_name(arch), th);
        model_keep_attn_packed(m, 0);
        if (th == 1)
            memcpy(first, inf, sizeof inf);
        else
            CHECK(!memcmp(first, inf, sizeof inf), "%s: inference differs for 1 and 2 threads",
                  arch_name(arch));
        CHECK(model_forward(m, ids, lens, B, T, MODEL_EVAL_GRAD, NULL) == 0, "eval");
        CHECK_CLOSE("[CLS]-only inference logits vs the full forward", inf, model_logits(m), B * 6, 1e-4);
        CHECK_CLOSE("[CLS]-only inference embedding vs the full forward", emb, model_embedding(m), B * 64, 1e-4);
    }
    threads_setup(1);
    model_free(m);
}

int main(void)
{
    test_fd(ARCH_BERT);
    test_fd(ARCH_DISTILBERT);
    test_fd(ARCH_ALBERT);
    test_behaviour(ARCH_BERT);
    test_behaviour(ARCH_DISTILBERT);
    test_behaviour(ARCH_ALBERT);
    test_cls_only_inference(ARCH_BERT);
    test_cls_only_inference(ARCH_DISTILBERT);
    test_cls_only_inference(ARCH_ALBERT);
    test_init();
    test_parity("bert");
    test_parity("distilbert");
    test_parity("albert");
    return check_done("test_model");
}
