/* The transformer engine: BERT, DistilBERT and ALBERT sequence classifiers, forward and
 * backward, on packed (unpadded) token rows.  Parity targets are Hugging Face transformers'
 * BertForSequenceClassification, DistilBertForSequenceClassification and
 * AlbertForSequenceClassification:
 *
 *  embeddings  BERT:   LN(word + pos + type) -> dropout(hidden)
 *              Distil: LN(word + pos)        -> dropout(hidden)              (eps 1e-12)
 *              ALBERT: LN_E(word + pos + type) -> dropout(hidden) -> Linear(E -> H)
 *  layer       qkv = x W^T; ctx = softmax(q k^T / sqrt(hd)) [attn dropout] v
 *              a = LN1(x + D(ctx Wo^T))       D = hidden dropout; DistilBERT has none here
 *              y = LN2(a + D'(act(a Wi^T) Wf^T))  D' = hidden dropout; ALBERT has none here
 *              ALBERT applies its single layer set L times.
 *  head        BERT/ALBERT: logits = cls(drop(tanh(pool(h[CLS]))))
 *              DistilBERT:  logits = cls(drop(relu(pre_classifier(h[CLS]))))
 *              (none when K == 0: a masked-LM-only model)
 *  MLM head    *ForMaskedLM: LN(act(dense(h))) word_emb^T + bias at the masked rows only
 *  The word-embedding row pad_token_id gets no gradient from the lookup (nn.Embedding
 *  padding_idx); the tied MLM decoder does reach it, as in PyTorch.
 *
 * Here: the lifecycle, the straight-line forward of MODEL_TRAIN and MODEL_EVAL_GRAD, the
 * backward.  MODEL_INFER's forward is model_infer.c's, the masked-LM head model_mlm.c's and
 * the activation memory model_act.c's (model_impl.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "nn/kernels.h"
#include "util/util.h"

int model_set_err(model *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------------------------
 * lifecycle */

model *model_new(const model_config *c)
{
    if (c->V <= 0 || c->P <= 0 || c->TV < 0 || c->E <= 0 || c->H <= 0 || c->L <= 0 ||
        c->L > 64 || c->NH <= 0 || c->I <= 0 || c->K < (c->mlm ? 0 : 1) || c->K > LABELS_MAX ||
        c->H % c->NH != 0 || (c->arch != ARCH_ALBERT && c->E != c->H)) {
        fprintf(stderr, "model_new: inconsistent config (V %d P %d TV %d E %d H %d L %d NH %d "
                "I %d K %d)\n", c->V, c->P, c->TV, c->E, c->H, c->L, c->NH, c->I, c->K);
        return NULL;
    }
    model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->c = *c;
    size_t sizes[MODEL_NUM_PARAM_TENSORS];
    m->nparams = model_param_sizes(c, sizes);
    m->params = aligned_zalloc(m->nparams * sizeof(float));
    m->kept_attn = calloc((size_t)c->L, sizeof(float *));
    m->layers = NULL;
    if (!m->params || !m->kept_attn) {
        model_free(m);
        return NULL;
    }
    model_params_point(&m->p, c, m->params);
    return m;
}

void model_free(model *m)
{
    if (!m)
        return;
    acts_free(m);
    free(m->mlm_block);
    free(m->mlm_rows);
    free(m->kept_block);
    free(m->packed_block);
    q8_free(m->q8);
    free(m->kept_attn);
    free(m->params);
    free(m->grads);
    free(m);
}

const model_config *model_get_config(const model *m) { return &m->c; }
size_t model_num_params(const model *m) { return m->nparams; }
float *model_param_block(model *m)
{
    m->packed_valid = 0;   // the caller may write the weights
    return m->params;
}
const model_params *model_weights(const model *m) { return &m->p; }
const char *model_error(const model *m) { return m->err; }
void model_keep_attn(model *m, uint64_t layer_mask)
{
    m->keep_mask = layer_mask;
    m->keep_packed = 0;
}

void model_keep_attn_packed(model *m, uint64_t layer_mask)
{
    m->keep_mask = layer_mask;
    m->keep_packed = 1;
}

float *model_grad_block(model *m)
{
    if (!m->grads) {
        m->grads = aligned_zalloc(m->nparams * sizeof(float));
        if (m->grads)
            model_params_point(&m->g, &m->c, m->grads);
    }
    return m->grads;
}

const model_params *model_grads(model *m) { return model_grad_block(m) ? &m->g : NULL; }

void model_zero_grad(model *m)
{
    if (model_grad_block(m))
        memset(m->grads, 0, m->nparams * sizeof(float));
}

static void normal_fill(float *w, size_t n, double std, rng_t *r)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(rng_normal(r) * std);
}

static void const_fill(float *w, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        w[i] = v;
}

void model_init_weights(model *m, uint64_t seed)
{
    const model_config *c = &m->c;
    model_params *p = &m->p;
    size_t s[MODEL_NUM_PARAM_TENSORS];
    model_param_sizes(c, s);
    rng_t r;
    rng_seed(&r, seed);
    m->packed_valid = 0;
    memset(m->params, 0, m->nparams * sizeof(float));   // every bias 0
    const double std = 0.02;   // HF initializer_range default
    normal_fill(p->word_emb, s[0], std, &r);
    normal_fill(p->pos_emb, s[1], std, &r);
    normal_fill(p->type_emb, s[2], std, &r);
    const_fill(p->emb_ln_w, s[3], 1.0f);
    normal_fill(p->emb_proj_w, s[5], std, &r);
    normal_fill(p->qkv_w, s[7], std, &r);
    normal_fill(p->attn_out_w, s[9], std, &r);
    const_fill(p->ln1_w, s[11], 1.0f);
    normal_fill(p->ffn_in_w, s[13], std, &r);
    normal_fill(p->ffn_out_w, s[15], std, &r);
    const_fill(p->ln2_w, s[17], 1.0f);
    normal_fill(p->pool_w, s[19], std, &r);
    normal_fill(p->cls_w, s[21], std, &r);
    normal_fill(p->mlm_dense_w, s[23], std, &r);
    const_fill(p->mlm_ln_w, s[25], 1.0f);
    if (c->pad_token_id >= 0 && c->pad_token_id < c->V)
        memset(p->word_emb + (size_t)c->pad_token_id * c->E, 0, (size_t)c->E * sizeof(float));
}

/* ------------------------------------------------------------------------------------
 * forward */

int model_batch_pack(model *m, const int32_t *ids, const int32_t *type_ids,
                     const int32_t *lens, int B, int T, int mode, rng_t *rng)
{
    const model_config *c = &m->c;
    m->valid = 0;
    m->mlm_valid = 0;
    if (B <= 0 || T <= 0)
        return model_set_err(m, "empty batch (B %d, T %d)", B, T);
    if (T > c->P)
        return model_set_err(m, "sequence length %d exceeds max_position_embeddings %d", T, c->P);
    if (mode == MODEL_TRAIN && !rng)
        return model_set_err(m, "MODEL_TRAIN needs a random generator for dropout");
    size_t N = 0, A = 0;
    for (int b = 0; b < B; b++) {
        if (lens[b] < 1 || lens[b] > T)
            return model_set_err(m, "sequence %d: length %d outside [1, %d]", b, lens[b], T);
        for (int t = 0; t < lens[b]; t++) {
            int32_t id = ids[(size_t)b * T + t];
            if (id < 0 || id >= c->V)
                return model_set_err(m, "sequence %d position %d: token id %d outside [0, %d)",
                                     b, t, id, c->V);
            if (type_ids && c->TV > 0) {
                int32_t tt = type_ids[(size_t)b * T + t];
                if (tt < 0 || tt >= c->TV)
                    return model_set_err(m, "sequence %d position %d: token type %d outside "
                                         "[0, %d)", b, t, tt, c->TV);
            }
        }
        N += (size_t)lens[b];
        A += (size_t)c->NH * lens[b] * lens[b];
    }
    if (acts_ensure(m, N, A, (size_t)B, mode != MODEL_INFER) != 0)
        return -1;
    if (m->keep_mask && kept_ensure(m, (size_t)B * c->NH * T * T) != 0)
        return -1;

    m->B = B;
    m->T = T;
    m->N = (int)N;
    m->mode = mode;
    m->tok_off[0] = m->att_off[0] = 0;
    for (int b = 0; b < B; b++) {
        m->lens[b] = lens[b];
        size_t t0 = m->tok_off[b];
        for (int t = 0; t < lens[b]; t++) {
            m->tok_ids[t0 + t] = ids[(size_t)b * T + t];
            m->type_ids[t0 + t] = type_ids ? type_ids[(size_t)b * T + t] : 0;
            m->pos_ids[t0 + t] = t;
        }
        m->tok_off[b + 1] = t0 + (size_t)lens[b];
        m->att_off[b + 1] = m->att_off[b] + (size_t)c->NH * lens[b] * lens[b];
    }
    m->ab = (attn_batch){ .B = B, .NH = c->NH, .hd = c->H / c->NH, .lens = m->lens,
                          .tok_off = m->tok_off, .att_off = m->att_off };
    for (int l = 0, k = 0; l < c->L; l++)
        m->kept_attn[l] = (m->keep_mask >> l) & 1
                              ? m->kept_block + (size_t)k++ * m->cap_padded : NULL;
    return 0;
}

void model_embed_ln(model *m)
{
    const model_config *c = &m->c;
    const model_params *p = &m->p;
    size_t N = (size_t)m->N, E = (size_t)c->E;
    embedding_forward(m->emb_sum, m->tok_ids, p->word_emb, N, E, 0);
    embedding_forward(m->emb_sum, m->pos_ids, p->pos_emb, N, E, 1);
    if (c->arch != ARCH_DISTILBERT && c->TV > 0)
        embedding_forward(m->emb_sum, m->type_ids, p->type_emb, N, E, 1);
    layernorm_forward(m->emb_out, m->emb_mean, m->emb_rstd, m->emb_sum, p->emb_ln_w,
                      p->emb_ln_b, N, E, c->ln_eps);
}

/* MODEL_TRAIN and MODEL_EVAL_GRAD: every layer on every token, the activations kept for
 * backward (one layer slot each), dropout in MODEL_TRAIN. */
static int forward_grad(model *m, const int32_t *ids, const int32_t *type_ids,
                        const int32_t *lens, int B, int T, int mode, rng_t *rng)
{
    if (model_batch_pack(m, ids, type_ids, lens, B, T, mode, rng) != 0)
        return -1;
    const model_config *c = &m->c;
    const model_params *p = &m->p;
    size_t N = (size_t)m->N, Bz = (size_t)B, H = (size_t)c->H, E = (size_t)c->E;
    size_t I = (size_t)c->I, K = (size_t)c->K;
    int train = mode == MODEL_TRAIN;
    float p_hid = train ? c->hidden_dropout : 0.0f;
    float p_att = train ? c->attn_dropout : 0.0f;
    float p_cls = train ? c->classifier_dropout : 0.0f;
    int distil = c->arch == ARCH_DISTILBERT, albert = c->arch == ARCH_ALBERT;

    // embeddings (N, E): LN(word + pos + type), dropout; ALBERT's projection to (N, H)
    model_embed_ln(m);
    if (p_hid > 0.0f)
        dropout_forward(m->emb_out, m->emb_mask, m->emb_out, p_hid, N * E, rng);
    if (albert)
        matmul_forward(m->h0, m->emb_out, p->emb_proj_w, p->emb_proj_b, N, E, H);

    const float *x = m->h0;
    for (int l = 0; l < c->L; l++) {
        layer_acts *a = &m->layers[l];
        size_t s = model_lset(m, l);
        // self-attention: qkv = x Wqkv^T (N, 3H), ctx = softmax(q k^T / sqrt(hd)) v (N, H)
        matmul_forward(a->qkv, x, p->qkv_w + s * 3 * H * H, p->qkv_b + s * 3 * H, N, H, 3 * H);
        attention_forward(a->ctx, a->att, a->att_drop, a->qkv, &m->ab, p_att, rng);
        if (m->kept_attn[l])
            kept_store(m, l, p_att > 0.0f ? a->att_drop : a->att);
        // ln1 = LN1(x + D(ctx Wo^T)), D: hidden dropout, not in DistilBERT
        matmul_forward(a->res1, a->ctx, p->attn_out_w + s * H * H, p->attn_out_b + s * H, N, H, H);
        if (!distil && p_hid > 0.0f)
            dropout_forward(a->res1, a->mask1, a->res1, p_hid, N * H, rng);
        residual_forward(a->res1, a->res1, x, N * H);
        layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, a->res1, p->ln1_w + s * H,
                          p->ln1_b + s * H, N, H, c->ln_eps);
        // out = LN2(ln1 + D'(act(ln1 Wi^T) Wf^T)), D': hidden dropout, not in ALBERT
        matmul_forward(a->ffn_pre, a->ln1, p->ffn_in_w + s * I * H, p->ffn_in_b + s * I, N, H, I);
        act_forward((int)c->act, m->ffn_act, a->ffn_pre, N * I);
        matmul_forward(a->res2, m->ffn_act, p->ffn_out_w + s * H * I, p->ffn_out_b + s * H, N,
                       I, H);
        if (!albert && p_hid > 0.0f)
            dropout_forward(a->res2, a->mask2, a->res2, p_hid, N * H, rng);
        residual_forward(a->res2, a->res2, a->ln1, N * H);
        layernorm_forward(a->out, a->ln2_mean, a->ln2_rstd, a->res2, p->ln2_w + s * H,
                          p->ln2_b + s * H, N, H, c->ln_eps);
        x = a->out;
    }
    m->hid = x;   // (N, H) for the masked-LM head

    // head on the [CLS] rows: pooler (DistilBERT pre_classifier), dropout, classifier
    for (int b = 0; b < B; b++)
        memcpy(m->cls + (size_t)b * H, x + m->tok_off[b] * H, H * sizeof(float));
    if (K == 0) {        // masked-LM-only model: no pooler, no classifier
        m->valid = 1;
        return 0;
    }
    matmul_forward(m->pool_pre, m->cls, p->pool_w, p->pool_b, Bz, H, H);
    if (distil)
        relu_forward(m->pooled, m->pool_pre, Bz * H);
    else
        tanh_forward(m->pooled, m->pool_pre, Bz * H);
    dropout_forward(m->pooled_drop, m->cls_mask, m->pooled, p_cls, Bz * H, rng);
    matmul_forward(m->logits, m->pooled_drop, p->cls_w, p->cls_b, Bz, H, K);
    m->valid = 1;
    return 0;
}

int model_forward_types(model *m, const int32_t *ids, const int32_t *type_ids,
                        const int32_t *lens, int B, int T, int mode, rng_t *rng)
{
    if (mode == MODEL_INFER)
        return infer_forward(m, ids, type_ids, lens, B, T);
    m->packed_valid = 0;   // an optimiser step may follow
    return forward_grad(m, ids, type_ids, lens, B, T, mode, rng);
}

int model_forward(model *m, const int32_t *ids, const int32_t *lens, int B, int T, int mode,
                  rng_t *rng)
{
    return model_forward_types(m, ids, NULL, lens, B, T, mode, rng);
}

const float *model_logits(const model *m) { return m->valid && m->c.K ? m->logits : NULL; }

const float *model_embedding(const model *m)
{
    if (!m->valid)
        return NULL;
    if (m->c.arch == ARCH_DISTILBERT)
        return m->cls;
    return m->c.K ? m->pooled : NULL;
}

const float *model_attn_probs(const model *m, int layer)
{
    if (!m->valid || layer < 0 || layer >= m->c.L || m->keep_packed)
        return NULL;
    return m->kept_attn[layer];
}

const float *model_attn_seq(const model *m, int layer, int b)
{
    if (!m->valid || layer < 0 || layer >= m->c.L || !m->keep_packed || !m->kept_attn[layer] ||
        b < 0 || b >= m->B)
        return NULL;
    return m->kept_attn[layer] + m->att_off[b];
}

/* ------------------------------------------------------------------------------------
 * backward */

/* The grad-block ranges final after a stage of the backward (model_set_grad_hook): stage
 * L the heads, l < L layer l (ALBERT's one set only after layer 0). */
static void grad_final(model *m, int stage)
{
    if (!m->grad_hook)
        return;
    const model_config *c = &m->c;
    const model_params *g = &m->g;
    const float *g0 = m->grads;
    if (stage == c->L) {
        size_t off = (size_t)(g->pool_w - g0);
        m->grad_hook(m->grad_hook_ctx, off, m->nparams - off);
        return;
    }
    if (c->arch == ARCH_ALBERT && stage > 0)
        return;
    size_t s = model_lset(m, stage), H = (size_t)c->H, I = (size_t)c->I;
    const struct { const float *t; size_t n; } r[12] = {
        { g->qkv_w, 3 * H * H }, { g->qkv_b, 3 * H }, { g->attn_out_w, H * H }, { g->attn_out_b, H },
        { g->ln1_w, H }, { g->ln1_b, H }, { g->ffn_in_w, I * H }, { g->ffn_in_b, I },
        { g->ffn_out_w, H * I }, { g->ffn_out_b, H }, { g->ln2_w, H }, { g->ln2_b, H },
    };
    for (int i = 0; i < 12; i++)
        m->grad_hook(m->grad_hook_ctx, (size_t)(r[i].t - g0) + s * r[i].n, r[i].n);
}

void model_set_grad_hook(model *m, model_grad_hook fn, void *ctx)
{
    m->grad_hook = fn;
    m->grad_hook_ctx = ctx;
}

void model_grad_replay(model *m)
{
    if (!model_grad_block(m))
        return;
    for (int stage = m->c.L; stage >= 0; stage--)
        grad_final(m, stage);
}

/* The whole backward: the gradient of the final hidden states g_out (N, H) is gathered
 * from the heads present (classifier on the [CLS] rows if dlogits, masked-LM head on the
 * masked rows if dmlm; every other row gets zero), then runs down the encoder. */
int model_backward_run(model *m, const float *dlogits, const float *dmlm, const float *const *dattn)
{
    const model_config *c = &m->c;
    if (!m->valid || m->mode == MODEL_INFER)
        return model_set_err(m, "backward needs a forward in MODEL_TRAIN or MODEL_EVAL_GRAD mode");
    if (!model_grad_block(m))
        return model_set_err(m, "cannot allocate gradients: %s", strerror(ENOMEM));
    const model_params *p = &m->p, *g = &m->g;
    size_t N = (size_t)m->N, B = (size_t)m->B, H = (size_t)c->H, E = (size_t)c->E;
    size_t I = (size_t)c->I, K = (size_t)c->K;
    int train = m->mode == MODEL_TRAIN;
    float p_hid = train ? c->hidden_dropout : 0.0f;
    float p_att = train ? c->attn_dropout : 0.0f;
    float p_cls = train ? c->classifier_dropout : 0.0f;
    int distil = c->arch == ARCH_DISTILBERT, albert = c->arch == ARCH_ALBERT;

    memset(m->g_out, 0, N * H * sizeof(float));
    if (K && dlogits) {
        // head: logits = pooled_drop Wc^T + bc
        memset(m->g_pd, 0, B * H * sizeof(float));
        matmul_backward(m->g_pd, g->cls_w, g->cls_b, dlogits, m->pooled_drop, p->cls_w, B, H, K);
        dropout_backward(m->g_pd, m->g_pd, m->cls_mask, p_cls, B * H);
        memset(m->g_pp, 0, B * H * sizeof(float));
        if (distil)
            relu_backward(m->g_pp, m->g_pd, m->pool_pre, B * H);
        else
            tanh_backward(m->g_pp, m->g_pd, m->pooled, B * H);
        memset(m->g_cls, 0, B * H * sizeof(float));
        matmul_backward(m->g_cls, g->pool_w, g->pool_b, m->g_pp, m->cls, p->pool_w, B, H, H);
        for (size_t b = 0; b < B; b++)
            memcpy(m->g_out + m->tok_off[b] * H, m->g_cls + b * H, H * sizeof(float));
    }
    if (dmlm)
        mlm_head_backward(m, dmlm);    // adds into g_out's masked rows and the tied word_emb
    grad_final(m, c->L);

    for (int l = c->L - 1; l >= 0; l--) {
        layer_acts *a = &m->layers[l];
        const float *x = l > 0 ? m->layers[l - 1].out : m->h0;
        size_t s = model_lset(m, l);
        // LN2: out = LN(res2)
        memset(m->g_a, 0, N * H * sizeof(float));
        layernorm_backward(m->g_a, g->ln2_w + s * H, g->ln2_b + s * H, m->g_out, a->res2,
                           p->ln2_w + s * H, a->ln2_mean, a->ln2_rstd, N, H);
        // res2 = ln1 + drop(ffn_out): the residual branch goes to ln1
        memcpy(m->g_ln1, m->g_a, N * H * sizeof(float));
        if (!albert && p_hid > 0.0f)
            dropout_backward(m->g_a, m->g_a, a->mask2, p_hid, N * H);
        act_forward((int)c->act, m->ffn_act, a->ffn_pre, N * I);   // recompute
        memset(m->g_i1, 0, N * I * sizeof(float));
        matmul_backward(m->g_i1, g->ffn_out_w + s * H * I, g->ffn_out_b + s * H, m->g_a,
                        m->ffn_act, p->ffn_out_w + s * H * I, N, I, H);
        memset(m->g_i2, 0, N * I * sizeof(float));
        act_backward((int)c->act, m->g_i2, m->g_i1, a->ffn_pre, N * I);
        matmul_backward(m->g_ln1, g->ffn_in_w + s * I * H, g->ffn_in_b + s * I, m->g_i2, a->ln1,
                        p->ffn_in_w + s * I * H, N, H, I);
        // LN1: ln1 = LN(res1)
        memset(m->g_a, 0, N * H * sizeof(float));
        layernorm_backward(m->g_a, g->ln1_w + s * H, g->ln1_b + s * H, m->g_ln1, a->res1,
                           p->ln1_w + s * H, a->ln1_mean, a->ln1_rstd, N, H);
        // res1 = x + drop(attn_out): g_out becomes d(x) starting with the residual branch
        memcpy(m->g_out, m->g_a, N * H * sizeof(float));
        if (!distil && p_hid > 0.0f)
            dropout_backward(m->g_a, m->g_a, a->mask1, p_hid, N * H);
        memset(m->g_ctx, 0, N * H * sizeof(float));
        matmul_backward(m->g_ctx, g->attn_out_w + s * H * H, g->attn_out_b + s * H, m->g_a,
                        a->ctx, p->attn_out_w + s * H * H, N, H, H);
        memset(m->g_qkv, 0, N * 3 * H * sizeof(float));
        attention_backward(m->g_qkv, m->g_att, m->g_ctx, dattn ? dattn[l] : NULL, (size_t)m->T,
                           a->att, a->att_drop, a->qkv, &m->ab, p_att);
        matmul_backward(m->g_out, g->qkv_w + s * 3 * H * H, g->qkv_b + s * 3 * H, m->g_qkv, x,
                        p->qkv_w + s * 3 * H * H, N, H, 3 * H);
        grad_final(m, l);
    }

    // embeddings: g_out = d(h0)
    float *d_emb = m->g_out;
    if (albert) {
        memset(m->g_e1, 0, N * E * sizeof(float));
        matmul_backward(m->g_e1, g->emb_proj_w, g->emb_proj_b, m->g_out, m->emb_out,
                        p->emb_proj_w, N, E, H);
        d_emb = m->g_e1;
    }
    if (p_hid > 0.0f)
        dropout_backward(d_emb, d_emb, m->emb_mask, p_hid, N * E);
    memset(m->g_e2, 0, N * E * sizeof(float));
    layernorm_backward(m->g_e2, g->emb_ln_w, g->emb_ln_b, d_emb, m->emb_sum, p->emb_ln_w,
                       m->emb_mean, m->emb_rstd, N, E);
    // nn.Embedding(padding_idx): the lookup adds nothing to that row, but what is already
    // there stays (the tied MLM decoder's gradient, earlier accumulation): keep it aside in
    // g_e1 (free now; N >= 1 rows of E) while the lookup's gradient is scattered
    int pad = c->pad_token_id >= 0 && c->pad_token_id < c->V;
    float *pad_row = g->word_emb + (size_t)c->pad_token_id * E;
    if (pad)
        memcpy(m->g_e1, pad_row, E * sizeof(float));
    embedding_backward(g->word_emb, m->g_e2, m->tok_ids, N, E);
    if (pad)
        memcpy(pad_row, m->g_e1, E * sizeof(float));
    embedding_backward(g->pos_emb, m->g_e2, m->pos_ids, N, E);
    if (!distil && c->TV > 0)
        embedding_backward(g->type_emb, m->g_e2, m->type_ids, N, E);
    return 0;
}

int model_backward(model *m, const float *dlogits, const float *const *dattn)
{
    if (m->c.K && !dlogits)
        return model_set_err(m, "backward needs dlogits (B, K)");
    return model_backward_run(m, dlogits, NULL, dattn);
}

double model_flops_forward(const model_config *c, int B, int T)
{
    double L = c->L, H = c->H, I = c->I, tok = (double)B * T;
    double P_mm = L * (4 * H * H + 2 * H * I);
    return 2 * P_mm * tok + 4 * L * T * H * tok + 2 * (H * H + 6 * H) * B;
}
