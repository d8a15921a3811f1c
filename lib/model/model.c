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
 *  padding_idx); the tied MLM decoder does reach it, as in PyTorch. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/model_int8.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "nn/par.h"
#include "util/util.h"

/* Activations of one layer application, packed rows (N real tokens, A packed attention). */
typedef struct layer_acts {
    float *qkv;                  /* (N, 3H) */
    float *att, *att_drop;       /* (A) softmax, dropped-out softmax (train + attn dropout) */
    float *ctx;                  /* (N, H) */
    float *res1;                 /* (N, H) x + dropout(ctx Wo^T + bo): LN1 input */
    float *ln1;                  /* (N, H) */
    float *ln1_mean, *ln1_rstd;  /* (N) */
    float *ffn_pre;              /* (N, I) FFN pre-activation */
    float *res2;                 /* (N, H) ln1 + dropout(ffn): LN2 input */
    float *out;                  /* (N, H) LN2 output = next layer's input */
    float *ln2_mean, *ln2_rstd;  /* (N) */
    uint8_t *mask1, *mask2;      /* (N, H) hidden-dropout masks after attention / FFN */
} layer_acts;

struct model {
    model_config c;
    size_t nparams;
    float *params, *grads;
    model_params p, g;

    uint64_t keep_mask;
    int keep_packed;              /* kept layers unpadded (model_keep_attn_packed) */

    /* capacity of the activation buffers */
    size_t cap_tok, cap_att, cap_B, cap_padded;   /* cap_padded: B*NH*T*T per kept layer */
    int cap_kept;                                 /* kept layers that fit in kept_block */
    int cap_slots, cap_grad;                      /* layer slots (L with grad, else 1) */
    float *act_block;
    uint8_t *mask_block;
    size_t act_floats, mask_bytes;

    /* shape of the last forward */
    int B, T, N, mode, valid;
    int32_t *lens, *tok_ids, *type_ids, *pos_ids;  /* (cap_B), (cap_tok) x3 */
    size_t *tok_off, *att_off;                     /* (cap_B + 1) */
    attn_batch ab;

    /* embeddings */
    float *emb_sum;               /* (N, E) LN input */
    float *emb_out;               /* (N, E) LN output, dropped out in place */
    float *emb_mean, *emb_rstd;   /* (N) */
    uint8_t *emb_mask;            /* (N, E) */
    float *h0;                    /* (N, H) ALBERT projection; == emb_out otherwise */
    layer_acts *layers;           /* (cap_slots) */
    float *ffn_act;               /* (N, I) act(ffn_pre) of the layer at hand: recomputed in
                                   * backward rather than kept per layer (a quarter of the
                                   * activation memory) */

    /* head, (B, .) */
    float *cls, *pool_pre, *pooled, *pooled_drop, *logits;
    uint8_t *cls_mask;

    /* backward scratch */
    float *g_out, *g_a, *g_ln1, *g_ctx, *g_qkv, *g_i1, *g_i2, *g_att, *g_e1, *g_e2;
    float *g_cls, *g_pp, *g_pd;

    float **kept_attn;            /* (L) (B, NH, T, T) padded copies of kept layers, or the
                                   * packed (A) maps with keep_packed */
    float *kept_block;

    const float *hid;             /* (N, H) final hidden states of the last forward */

    /* Inference weights packed for gemm_packed (nn/gemm.h), made on the first MODEL_INFER
     * forward after the weights may have changed: model_param_block(), model_init_weights()
     * and every forward that can precede an optimiser step clear packed_valid. */
    int packed_valid;
    float *packed_block;
    float *pk_qkv, *pk_ao, *pk_fi, *pk_fo;   /* per layer set, pk_*_n floats apart */
    size_t pk_qkv_n, pk_ao_n, pk_fi_n, pk_fo_n;
    float *pk_proj, *pk_pool, *pk_cls;        /* ALBERT projection, pooler, classifier */
    model_q8 *q8;                 /* int8 weights (model_int8.c), NULL for a float model; the
                                   * float packed copies of its layers are left unpacked */

    /* masked-LM head at M masked rows (own block, grown on demand to cap_M rows) */
    int M, mlm_valid, cap_M;
    int32_t *mlm_rows;            /* (cap_M) packed token row of each masked position */
    float *mlm_block;
    float *mlm_h;                 /* (M, H) gathered final hidden states */
    float *mlm_pre;               /* (M, E) dense output (activation input) */
    float *mlm_act;               /* (M, E) act(pre): LayerNorm input */
    float *mlm_t;                 /* (M, E) LayerNorm output: decoder input */
    float *mlm_mean, *mlm_rstd;   /* (M) */
    float *mlm_logits;            /* (M, V) */
    float *mlm_gt, *mlm_ga, *mlm_gp, *mlm_gh;   /* backward: (M, E) x3, (M, H) */

    char err[256];
};

static int set_err(model *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    return -1;
}

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

static void free_acts(model *m)
{
    free(m->act_block);
    free(m->mask_block);
    free(m->layers);
    free(m->lens);
    free(m->tok_ids);
    free(m->type_ids);
    free(m->pos_ids);
    free(m->tok_off);
    free(m->att_off);
    m->act_block = NULL;
    m->mask_block = NULL;
    m->layers = NULL;
    m->lens = m->tok_ids = m->type_ids = m->pos_ids = NULL;
    m->tok_off = m->att_off = NULL;
    m->cap_tok = m->cap_att = m->cap_B = 0;
    m->cap_slots = m->cap_grad = 0;
}

void model_free(model *m)
{
    if (!m)
        return;
    free_acts(m);
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
 * activation memory: one float block and one byte block, carved into named buffers. */

typedef struct carver { float *base; size_t used; uint8_t *mbase; size_t mused; } carver;

static float *carve(carver *k, size_t n)
{
    float *p = k->base ? k->base + k->used : NULL;
    k->used += (n + 15) & ~(size_t)15;   // 64-byte aligned pieces
    return p;
}

static uint8_t *carve_mask(carver *k, size_t n)
{
    uint8_t *p = k->mbase ? k->mbase + k->mused : NULL;
    k->mused += (n + 63) & ~(size_t)63;
    return p;
}

/* Lays out every activation for capacities (tok, att, B, slots); with base NULL it only
 * counts.  Buffers for backward exist only when slots == L (grad-capable). */
static void layout(model *m, carver *k, size_t tok, size_t att, size_t B, int slots, int grad)
{
    const model_config *c = &m->c;
    size_t H = (size_t)c->H, E = (size_t)c->E, I = (size_t)c->I, K = (size_t)c->K;
    m->emb_sum = carve(k, tok * E);
    m->emb_out = carve(k, tok * E);
    m->emb_mean = carve(k, tok);
    m->emb_rstd = carve(k, tok);
    m->emb_mask = carve_mask(k, tok * E);
    m->h0 = c->arch == ARCH_ALBERT ? carve(k, tok * H) : m->emb_out;
    m->ffn_act = carve(k, tok * I);
    for (int l = 0; l < slots; l++) {
        layer_acts a;
        a.qkv = carve(k, tok * 3 * H);
        a.att = carve(k, att);
        a.att_drop = carve(k, c->attn_dropout > 0.0f && grad ? att : 0);
        a.ctx = carve(k, tok * H);
        a.res1 = carve(k, tok * H);
        a.ln1 = carve(k, tok * H);
        a.ln1_mean = carve(k, tok);
        a.ln1_rstd = carve(k, tok);
        a.ffn_pre = carve(k, tok * I);
        a.res2 = carve(k, tok * H);
        a.out = carve(k, tok * H);
        a.ln2_mean = carve(k, tok);
        a.ln2_rstd = carve(k, tok);
        a.mask1 = carve_mask(k, grad ? tok * H : 0);
        a.mask2 = carve_mask(k, grad ? tok * H : 0);
        if (m->layers)
            m->layers[l] = a;
    }
    m->cls = carve(k, B * H);
    m->pool_pre = carve(k, B * H);
    m->pooled = carve(k, B * H);
    m->pooled_drop = carve(k, B * H);
    m->logits = carve(k, B * K);
    m->cls_mask = carve_mask(k, B * H);
    size_t g = grad ? 1 : 0;
    m->g_out = carve(k, g * tok * H);
    m->g_a = carve(k, g * tok * H);
    m->g_ln1 = carve(k, g * tok * H);
    m->g_ctx = carve(k, g * tok * H);
    m->g_qkv = carve(k, g * tok * 3 * H);
    m->g_i1 = carve(k, g * tok * I);
    m->g_i2 = carve(k, g * tok * I);
    m->g_att = carve(k, g * att);
    m->g_e1 = carve(k, g * tok * E);
    m->g_e2 = carve(k, g * tok * E);
    m->g_cls = carve(k, g * B * H);
    m->g_pp = carve(k, g * B * H);
    m->g_pd = carve(k, g * B * H);
}

static size_t grow(size_t need, size_t cap)
{
    if (need <= cap)
        return cap;
    return need > cap + cap / 4 ? need : cap + cap / 4;
}

/* Grows the activation memory to hold (tok, att, B) with grad support if asked.  Existing
 * capacity is kept when sufficient, so steady-state training never allocates. */
static int ensure_acts(model *m, size_t tok, size_t att, size_t B, int grad)
{
    int slots = grad ? m->c.L : 1;
    if (m->act_block && tok <= m->cap_tok && att <= m->cap_att && B <= m->cap_B &&
        slots <= m->cap_slots && grad <= m->cap_grad)
        return 0;
    // grow by at least a quarter, so batches that creep upwards (length-grouped batching)
    // reallocate (and first-touch) a few times only
    if (m->act_block) {
        tok = grow(tok, m->cap_tok);
        att = grow(att, m->cap_att);
    }
    if (B < m->cap_B)
        B = m->cap_B;
    if (slots < m->cap_slots)
        slots = m->cap_slots;
    if (grad < m->cap_grad)
        grad = m->cap_grad;
    free_acts(m);
    carver k = { 0 };
    layout(m, &k, tok, att, B, slots, grad);
    m->act_block = aligned_zalloc(k.used * sizeof(float));
    m->mask_block = aligned_zalloc(k.mused);
    m->layers = calloc((size_t)slots, sizeof(layer_acts));
    m->lens = calloc(B, sizeof(int32_t));
    m->tok_ids = calloc(tok, sizeof(int32_t));
    m->type_ids = calloc(tok, sizeof(int32_t));
    m->pos_ids = calloc(tok, sizeof(int32_t));
    m->tok_off = calloc(B + 1, sizeof(size_t));
    m->att_off = calloc(B + 1, sizeof(size_t));
    if (!m->act_block || !m->mask_block || !m->layers || !m->lens || !m->tok_ids ||
        !m->type_ids || !m->pos_ids || !m->tok_off || !m->att_off) {
        free_acts(m);
        return set_err(m, "cannot allocate activations for %zu tokens: %s", tok, strerror(ENOMEM));
    }
    carver k2 = { .base = m->act_block, .mbase = m->mask_block };
    layout(m, &k2, tok, att, B, slots, grad);
    m->cap_tok = tok;
    m->cap_att = att;
    m->cap_B = B;
    m->cap_slots = slots;
    m->cap_grad = grad;
    return 0;
}

/* Room for the padded (B, NH, T, T) maps of every kept layer (cap_padded floats each). */
static int ensure_kept(model *m, size_t padded)
{
    int nk = 0;
    for (int l = 0; l < m->c.L; l++)
        nk += (m->keep_mask >> l) & 1;
    if (padded <= m->cap_padded && nk <= m->cap_kept && m->kept_block)
        return 0;
    if (padded < m->cap_padded)
        padded = m->cap_padded;
    if (nk < m->cap_kept)
        nk = m->cap_kept;
    free(m->kept_block);
    m->kept_block = aligned_zalloc((size_t)nk * padded * sizeof(float));
    if (!m->kept_block) {
        m->cap_padded = 0;
        m->cap_kept = 0;
        return set_err(m, "cannot allocate attention maps (%d layers)", nk);
    }
    m->cap_padded = padded;
    m->cap_kept = nk;
    return 0;
}

int model_reserve(model *m, int B, int T, int mode)
{
    if (B <= 0 || T <= 0 || T > m->c.P)
        return set_err(m, "cannot reserve for B %d, T %d (max_position_embeddings %d)", B, T,
                       m->c.P);
    size_t tok = (size_t)B * T, att = (size_t)m->c.NH * B * T * T;
    if (ensure_acts(m, tok, att, (size_t)B, mode != MODEL_INFER) != 0)
        return -1;
    if (m->keep_mask && ensure_kept(m, att) != 0)
        return -1;
    if (mode != MODEL_INFER && !model_grad_block(m))
        return set_err(m, "cannot allocate gradients: %s", strerror(ENOMEM));
    return 0;
}

/* ------------------------------------------------------------------------------------
 * packed inference weights */

static int ensure_packed(model *m)
{
    if (m->packed_valid)
        return 0;
    const model_config *c = &m->c;
    const model_params *p = &m->p;
    size_t H = (size_t)c->H, E = (size_t)c->E, I = (size_t)c->I, K = (size_t)c->K;
    size_t sets = c->arch == ARCH_ALBERT ? 1 : (size_t)c->L;
    m->pk_qkv_n = gemm_packed_floats(3 * H, H);
    m->pk_ao_n = gemm_packed_floats(H, H);
    m->pk_fi_n = gemm_packed_floats(I, H);
    m->pk_fo_n = gemm_packed_floats(H, I);
    size_t proj_n = c->arch == ARCH_ALBERT ? gemm_packed_floats(H, E) : 0;
    size_t pool_n = K ? gemm_packed_floats(H, H) : 0, cls_n = K ? gemm_packed_floats(K, H) : 0;
    size_t total = sets * (m->pk_qkv_n + m->pk_ao_n + m->pk_fi_n + m->pk_fo_n) + proj_n +
                   pool_n + cls_n;
    if (!m->packed_block) {
        m->packed_block = aligned_zalloc(total * sizeof(float));
        if (!m->packed_block)
            return set_err(m, "cannot allocate packed inference weights: %s", strerror(ENOMEM));
    }
    float *q = m->packed_block;
    m->pk_qkv = q, q += sets * m->pk_qkv_n;
    m->pk_ao = q, q += sets * m->pk_ao_n;
    m->pk_fi = q, q += sets * m->pk_fi_n;
    m->pk_fo = q, q += sets * m->pk_fo_n;
    m->pk_proj = proj_n ? q : NULL, q += proj_n;
    m->pk_pool = pool_n ? q : NULL, q += pool_n;
    m->pk_cls = cls_n ? q : NULL;
    const model_q8 *q8 = m->q8;   // NULL: every q8_has is 0
    for (size_t s = 0; s < sets; s++) {
        if (!q8_has(q8, Q8_QKV))
            gemm_pack(m->pk_qkv + s * m->pk_qkv_n, p->qkv_w + s * 3 * H * H, 3 * H, H);
        if (!q8_has(q8, Q8_AO))
            gemm_pack(m->pk_ao + s * m->pk_ao_n, p->attn_out_w + s * H * H, H, H);
        if (!q8_has(q8, Q8_FI))
            gemm_pack(m->pk_fi + s * m->pk_fi_n, p->ffn_in_w + s * I * H, I, H);
        if (!q8_has(q8, Q8_FO))
            gemm_pack(m->pk_fo + s * m->pk_fo_n, p->ffn_out_w + s * H * I, H, I);
    }
    if (m->pk_proj && !q8_has(q8, Q8_PROJ))
        gemm_pack(m->pk_proj, p->emb_proj_w, H, E);
    if (m->pk_pool) {
        if (!q8_has(q8, Q8_POOL))
            gemm_pack(m->pk_pool, p->pool_w, H, H);
        if (!q8_has(q8, Q8_CLS))
            gemm_pack(m->pk_cls, p->cls_w, K, H);
    }
    m->packed_valid = 1;
    return 0;
}

/* out (N, OC) = inp (N, C) w^T + bias: through the packed copy wp when there is one
 * (inference), else OpenBLAS */
static void linear(float *out, const float *inp, const float *w, const float *wp,
                   const float *bias, size_t N, size_t C, size_t OC)
{
    if (wp)
        gemm_packed(out, inp, C, wp, bias, N, C, OC);
    else
        matmul_forward(out, inp, w, bias, N, C, OC);
}

/* The int8 twin of linear() for layer set s of field (model_int8.h), in inference on a
 * model with int8 weights for it: 1 done (out = act(inp W^T + bias)), 0 not (the float path
 * runs, unchanged) */
static int q8_try(model *m, int packed, int field, size_t s, float *out, const float *inp,
                  const float *bias, size_t R, act_fn act)
{
    if (!packed || !q8_has(m->q8, field))
        return 0;
    q8_linear(m->q8, field, s, out, inp, bias, R, act);
    return 1;
}

int model_int8_set(model *m, int field, size_t row0, size_t rows, const int8_t *wq,
                   const float *wscale, int scheme)
{
    if (!m->q8)
        m->q8 = q8_new();
    m->packed_valid = 0;
    return q8_set(m->q8, &m->c, field, row0, rows, wq, wscale, scheme, m->err, sizeof m->err);
}

int model_int8_check(model *m)
{
    m->packed_valid = 0;
    return m->q8 ? q8_finish(m->q8, &m->c, m->err, sizeof m->err) : 0;
}

int model_is_int8(const model *m)
{
    for (int f = 0; f < MODEL_NUM_PARAM_TENSORS; f++)
        if (q8_has(m->q8, f))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------------------
 * forward */

static inline size_t lset(const model *m, int l) { return m->c.arch == ARCH_ALBERT ? 0 : (size_t)l; }

/* Copies layer probabilities into the padded (B, NH, T, T) output, zeros outside. */
static void expand_attn(model *m, int l, const float *att)
{
    size_t NH = (size_t)m->c.NH, T = (size_t)m->T;
    float *dst = m->kept_attn[l];
    memset(dst, 0, (size_t)m->B * NH * T * T * sizeof(float));
    for (int b = 0; b < m->B; b++) {
        size_t n = (size_t)m->lens[b];
        for (size_t h = 0; h < NH; h++) {
            const float *src = att + m->att_off[b] + h * n * n;
            float *d = dst + ((size_t)b * NH + h) * T * T;
            for (size_t i = 0; i < n; i++)
                memcpy(d + i * T, src + i * n, n * sizeof(float));
        }
    }
}

static int forward_run(model *m, const int32_t *ids, const int32_t *type_ids,
                       const int32_t *lens, int B, int T, int mode, rng_t *rng);

/* How long idle pool threads spin between the kernels of an inference forward (par_spin):
 * about one small GEMM of a one-tweet bert-mini forward. */
#define INFER_SPIN_NS 200000L

int model_forward_types(model *m, const int32_t *ids, const int32_t *type_ids,
                        const int32_t *lens, int B, int T, int mode, rng_t *rng)
{
    if (mode != MODEL_INFER) {
        m->packed_valid = 0;   // an optimiser step may follow
        return forward_run(m, ids, type_ids, lens, B, T, mode, rng);
    }
    long spin = par_spin(INFER_SPIN_NS);
    int rc = ensure_packed(m);
    if (rc == 0)
        rc = forward_run(m, ids, type_ids, lens, B, T, mode, rng);
    par_spin(spin);
    return rc;
}

/* The rest of layer set s after its attention, on R rows:
 *   a->out = LN2(h + D'(act(h Wi^T) Wf^T)),  h = a->ln1 = LN1(resid + D(ctx Wo^T))
 * (D: hidden dropout, not in DistilBERT; D': not in ALBERT).  ctx and resid may lie in
 * a->ln1 and a->res2: each is read before that buffer is written.  resid may be a->out
 * (inference reuses one layer slot): a->out is written last. */
static void layer_tail(model *m, layer_acts *a, size_t s, const float *ctx, const float *resid,
                       size_t R, float p_hid, rng_t *rng, int packed)
{
    const model_config *c = &m->c;
    const model_params *p = &m->p;
    size_t H = (size_t)c->H, I = (size_t)c->I;
    if (!q8_try(m, packed, Q8_AO, s, a->res1, ctx, p->attn_out_b + s * H, R, NULL))
        linear(a->res1, ctx, p->attn_out_w + s * H * H, packed ? m->pk_ao + s * m->pk_ao_n : NULL,
               p->attn_out_b + s * H, R, H, H);
    if (c->arch != ARCH_DISTILBERT && p_hid > 0.0f)
        dropout_forward(a->res1, a->mask1, a->res1, p_hid, R * H, rng);
    residual_forward(a->res1, a->res1, resid, R * H);
    layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, a->res1, p->ln1_w + s * H,
                      p->ln1_b + s * H, R, H, c->ln_eps);
    // feed-forward
    if (q8_try(m, packed, Q8_FI, s, m->ffn_act, a->ln1, p->ffn_in_b + s * I, R,
               act_serial((int)c->act))) {
        // int8: the activation fused likewise
    } else if (packed) {   // inference: the activation on each block of the GEMM while in cache
        gemm_packed_act(m->ffn_act, a->ln1, H, m->pk_fi + s * m->pk_fi_n, p->ffn_in_b + s * I,
                        R, H, I, act_serial((int)c->act));
    } else {
        linear(a->ffn_pre, a->ln1, p->ffn_in_w + s * I * H, NULL, p->ffn_in_b + s * I, R, H, I);
        act_forward((int)c->act, m->ffn_act, a->ffn_pre, R * I);
    }
    if (!q8_try(m, packed, Q8_FO, s, a->res2, m->ffn_act, p->ffn_out_b + s * H, R, NULL))
        linear(a->res2, m->ffn_act, p->ffn_out_w + s * H * I,
               packed ? m->pk_fo + s * m->pk_fo_n : NULL, p->ffn_out_b + s * H, R, I, H);
    if (c->arch != ARCH_ALBERT && p_hid > 0.0f)
        dropout_forward(a->res2, a->mask2, a->res2, p_hid, R * H, rng);
    residual_forward(a->res2, a->res2, a->ln1, R * H);
    layernorm_forward(a->out, a->ln2_mean, a->ln2_rstd, a->res2, p->ln2_w + s * H,
                      p->ln2_b + s * H, R, H, c->ln_eps);
}

static int forward_run(model *m, const int32_t *ids, const int32_t *type_ids,
                       const int32_t *lens, int B, int T, int mode, rng_t *rng)
{
    const model_config *c = &m->c;
    m->valid = 0;
    m->mlm_valid = 0;
    if (B <= 0 || T <= 0)
        return set_err(m, "empty batch (B %d, T %d)", B, T);
    if (T > c->P)
        return set_err(m, "sequence length %d exceeds max_position_embeddings %d", T, c->P);
    if (mode == MODEL_TRAIN && !rng)
        return set_err(m, "MODEL_TRAIN needs a random generator for dropout");
    size_t N = 0, A = 0;
    for (int b = 0; b < B; b++) {
        if (lens[b] < 1 || lens[b] > T)
            return set_err(m, "sequence %d: length %d outside [1, %d]", b, lens[b], T);
        for (int t = 0; t < lens[b]; t++) {
            int32_t id = ids[(size_t)b * T + t];
            if (id < 0 || id >= c->V)
                return set_err(m, "sequence %d position %d: token id %d outside [0, %d)", b, t,
                               id, c->V);
            if (type_ids && c->TV > 0) {
                int32_t tt = type_ids[(size_t)b * T + t];
                if (tt < 0 || tt >= c->TV)
                    return set_err(m, "sequence %d position %d: token type %d outside [0, %d)",
                                   b, t, tt, c->TV);
            }
        }
        N += (size_t)lens[b];
        A += (size_t)c->NH * lens[b] * lens[b];
    }
    int grad = mode != MODEL_INFER;
    if (ensure_acts(m, N, A, (size_t)B, grad) != 0)
        return -1;
    if (!grad && m->q8 && q8_reserve(m->q8, N) != 0)
        return set_err(m, "cannot allocate int8 scratch: %s", strerror(ENOMEM));
    if (m->keep_mask && ensure_kept(m, (size_t)B * c->NH * T * T) != 0)
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

    const model_params *p = &m->p;
    size_t H = (size_t)c->H, E = (size_t)c->E, K = (size_t)c->K;
    int train = mode == MODEL_TRAIN;
    float p_hid = train ? c->hidden_dropout : 0.0f;
    float p_att = train ? c->attn_dropout : 0.0f;
    float p_cls = train ? c->classifier_dropout : 0.0f;
    int distil = c->arch == ARCH_DISTILBERT, albert = c->arch == ARCH_ALBERT;
    int packed = mode == MODEL_INFER;   // ensure_packed() has run

    // embeddings (N, E)
    embedding_forward(m->emb_sum, m->tok_ids, p->word_emb, N, E, 0);
    embedding_forward(m->emb_sum, m->pos_ids, p->pos_emb, N, E, 1);
    if (!distil && c->TV > 0)
        embedding_forward(m->emb_sum, m->type_ids, p->type_emb, N, E, 1);
    layernorm_forward(m->emb_out, m->emb_mean, m->emb_rstd, m->emb_sum, p->emb_ln_w,
                      p->emb_ln_b, N, E, c->ln_eps);
    if (p_hid > 0.0f)
        dropout_forward(m->emb_out, m->emb_mask, m->emb_out, p_hid, N * E, rng);
    if (albert && !q8_try(m, packed, Q8_PROJ, 0, m->h0, m->emb_out, p->emb_proj_b, N, NULL))
        linear(m->h0, m->emb_out, p->emb_proj_w, packed ? m->pk_proj : NULL, p->emb_proj_b, N, E, H);

    // Inference without a masked-LM head needs only the [CLS] rows of the last layer's
    // output: after its attention (which reads every token's keys and values), the rest of
    // that layer runs on B rows instead of N.  Every kernel below computes a row the same
    // way whatever the number of rows, so the logits keep their bits.
    int cls_only = mode == MODEL_INFER && !c->mlm;
    size_t cls_stride = 0;   // 0: [CLS] of sequence b at token row tok_off[b]; 1: at row b
    const float *x = m->h0;
    for (int l = 0; l < c->L; l++) {
        layer_acts *a = &m->layers[grad ? l : 0];
        size_t s = lset(m, l);
        if (cls_only && l == c->L - 1 && !m->kept_attn[l] && H % GEMM_NR == 0 &&
            !q8_has(m->q8, Q8_QKV)) {   // int8: Q, K and V in one GEMM (below)
            // Only the [CLS] rows of this layer are read, so only their queries are needed:
            // K and V of every token, Q of B rows (for tweets of 12 tokens, 11/12 of Q: nearly
            // a third of the layer's QKV work) and attention for those rows.  Every row keeps
            // its bits.
            const float *wp = m->pk_qkv + s * m->pk_qkv_n, *bias = p->qkv_b + s * 3 * H;
            for (int b = 0; b < B; b++)   // (B, H) [CLS] rows of the input: the residual
                memcpy(a->res2 + (size_t)b * H, x + m->tok_off[b] * H, H * sizeof(float));
            // (N, 2H) keys and values into their columns of qkv (N, 3H)
            gemm_packed_ld(a->qkv + H, 3 * H, x, H, wp + H * H, bias + H, N, H, 2 * H);
            // (B, H) queries into m->cls, free until the head
            gemm_packed(m->cls, a->res2, H, wp, bias, (size_t)B, H, H);
            if (attention_cls_forward(a->ln1, m->cls, a->qkv, a->att, &m->ab) != 0)
                return set_err(m, "out of memory");
            layer_tail(m, a, s, a->ln1, a->res2, (size_t)B, 0.0f, NULL, packed);
            x = a->out;
            cls_stride = 1;
            break;
        }
        // self-attention
        // (int8: one quantisation of x serves Q, K and V)
        if (!q8_try(m, packed, Q8_QKV, s, a->qkv, x, p->qkv_b + s * 3 * H, N, NULL))
            linear(a->qkv, x, p->qkv_w + s * 3 * H * H, packed ? m->pk_qkv + s * m->pk_qkv_n : NULL,
                   p->qkv_b + s * 3 * H, N, H, 3 * H);
        // a last layer whose maps are kept still needs every query row for them, but the
        // context of its [CLS] rows only
        m->ab.ctx_first_only = cls_only && l == c->L - 1;
        // inference keeping this layer's maps unpadded writes them where they are kept
        // ((A) floats fit the (B, NH, T, T) room): nothing reads a->att afterwards
        int kept_direct = mode == MODEL_INFER && m->kept_attn[l] && m->keep_packed;
        attention_forward(a->ctx, kept_direct ? m->kept_attn[l] : a->att, a->att_drop, a->qkv,
                          &m->ab, p_att, rng);
        m->ab.ctx_first_only = 0;
        if (m->kept_attn[l] && m->keep_packed && !kept_direct)
            memcpy(m->kept_attn[l], p_att > 0.0f ? a->att_drop : a->att, A * sizeof(float));
        else if (m->kept_attn[l] && !m->keep_packed)
            expand_attn(m, l, p_att > 0.0f ? a->att_drop : a->att);
        if (cls_only && l == c->L - 1) {
            // (B, H) rows: ctx and the residual input gathered into buffers layer_tail
            // overwrites only after reading them (ln1, res2)
            for (int b = 0; b < B; b++) {
                memcpy(a->ln1 + (size_t)b * H, a->ctx + m->tok_off[b] * H, H * sizeof(float));
                memcpy(a->res2 + (size_t)b * H, x + m->tok_off[b] * H, H * sizeof(float));
            }
            layer_tail(m, a, s, a->ln1, a->res2, (size_t)B, 0.0f, NULL, packed);
            x = a->out;
            cls_stride = 1;
            break;
        }
        layer_tail(m, a, s, a->ctx, x, N, p_hid, rng, packed);
        x = a->out;
    }

    m->hid = cls_stride ? NULL : x;   // (N, H) for the masked-LM head; never NULL with mlm
    // head on the [CLS] rows
    for (int b = 0; b < B; b++)
        memcpy(m->cls + (size_t)b * H, x + (cls_stride ? (size_t)b : m->tok_off[b]) * H,
               H * sizeof(float));
    if (K == 0) {        // masked-LM-only model: no pooler, no classifier
        m->valid = 1;
        return 0;
    }
    if (!q8_try(m, packed, Q8_POOL, 0, m->pool_pre, m->cls, p->pool_b, (size_t)B, NULL))
        linear(m->pool_pre, m->cls, p->pool_w, packed ? m->pk_pool : NULL, p->pool_b, (size_t)B, H, H);
    if (distil)
        relu_forward(m->pooled, m->pool_pre, (size_t)B * H);
    else
        tanh_forward(m->pooled, m->pool_pre, (size_t)B * H);
    dropout_forward(m->pooled_drop, m->cls_mask, m->pooled, p_cls, (size_t)B * H, rng);
    if (!q8_try(m, packed, Q8_CLS, 0, m->logits, m->pooled_drop, p->cls_b, (size_t)B, NULL))
        linear(m->logits, m->pooled_drop, p->cls_w, packed ? m->pk_cls : NULL, p->cls_b, (size_t)B, H,
               K);
    m->valid = 1;
    return 0;
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

static void mlm_head_backward(model *m, const float *dmlm);

/* The whole backward: the gradient of the final hidden states g_out (N, H) is gathered
 * from the heads present (classifier on the [CLS] rows if dlogits, masked-LM head on the
 * masked rows if dmlm; every other row gets zero), then runs down the encoder. */
static int backward_run(model *m, const float *dlogits, const float *dmlm, const float *const *dattn)
{
    const model_config *c = &m->c;
    if (!m->valid || m->mode == MODEL_INFER)
        return set_err(m, "backward needs a forward in MODEL_TRAIN or MODEL_EVAL_GRAD mode");
    if (!model_grad_block(m))
        return set_err(m, "cannot allocate gradients: %s", strerror(ENOMEM));
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

    for (int l = c->L - 1; l >= 0; l--) {
        layer_acts *a = &m->layers[l];
        const float *x = l > 0 ? m->layers[l - 1].out : m->h0;
        size_t s = lset(m, l);
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
        return set_err(m, "backward needs dlogits (B, K)");
    return backward_run(m, dlogits, NULL, dattn);
}

/* ------------------------------------------------------------------------------------
 * masked-LM head */

/* Room for M masked rows (grown by at least a quarter, like the activations). */
static int ensure_mlm(model *m, int M)
{
    if (M <= m->cap_M && m->mlm_block)
        return 0;
    size_t cap = grow((size_t)M, (size_t)m->cap_M);
    if (cap < 16)
        cap = 16;
    size_t H = (size_t)m->c.H, E = (size_t)m->c.E, V = (size_t)m->c.V;
    free(m->mlm_block);
    free(m->mlm_rows);
    m->mlm_rows = calloc(cap, sizeof(int32_t));
    carver k = { 0 };
    for (int pass = 0; pass < 2; pass++) {
        m->mlm_h = carve(&k, cap * H);
        m->mlm_pre = carve(&k, cap * E);
        m->mlm_act = carve(&k, cap * E);
        m->mlm_t = carve(&k, cap * E);
        m->mlm_mean = carve(&k, cap);
        m->mlm_rstd = carve(&k, cap);
        m->mlm_logits = carve(&k, cap * V);
        m->mlm_gt = carve(&k, cap * E);
        m->mlm_ga = carve(&k, cap * E);
        m->mlm_gp = carve(&k, cap * E);
        m->mlm_gh = carve(&k, cap * H);
        if (pass == 0) {
            m->mlm_block = aligned_zalloc(k.used * sizeof(float));
            if (!m->mlm_block || !m->mlm_rows)
                break;
            k = (carver){ .base = m->mlm_block };
        }
    }
    if (!m->mlm_block || !m->mlm_rows) {
        free(m->mlm_block);
        free(m->mlm_rows);
        m->mlm_block = NULL;
        m->mlm_rows = NULL;
        m->cap_M = 0;
        return set_err(m, "cannot allocate the masked-LM head for %zu positions: %s", cap, strerror(ENOMEM));
    }
    m->cap_M = (int)cap;
    return 0;
}

int model_mlm_reserve(model *m, int M)
{
    if (!m->c.mlm)
        return set_err(m, "the model has no masked-LM head (config mlm 0)");
    if (M < 0)
        return set_err(m, "cannot reserve for %d masked positions", M);
    return ensure_mlm(m, M);
}

int model_mlm_forward(model *m, const int32_t *pos, int M)
{
    const model_config *c = &m->c;
    m->mlm_valid = 0;
    if (!c->mlm)
        return set_err(m, "the model has no masked-LM head (config mlm 0)");
    if (!m->valid)
        return set_err(m, "model_mlm_forward needs a model_forward of the batch first");
    if (M < 0)
        return set_err(m, "%d masked positions", M);
    if (ensure_mlm(m, M) != 0)
        return -1;
    size_t H = (size_t)c->H, E = (size_t)c->E, V = (size_t)c->V, T = (size_t)m->T;
    for (int i = 0; i < M; i++) {
        int32_t q = pos[i];
        size_t b = q >= 0 ? (size_t)q / T : 0, t = q >= 0 ? (size_t)q % T : 0;
        if (q < 0 || b >= (size_t)m->B || t >= (size_t)m->lens[b])
            return set_err(m, "masked position %d (index %d): not a real token of the batch (B %d, T %d)",
                           q, i, m->B, m->T);
        m->mlm_rows[i] = (int32_t)(m->tok_off[b] + t);
    }
    // h (M, H) -> pre = h Wd^T + bd (M, E) -> act -> LN -> t word_emb^T + bias (M, V)
    for (int i = 0; i < M; i++)
        memcpy(m->mlm_h + (size_t)i * H, m->hid + (size_t)m->mlm_rows[i] * H, H * sizeof(float));
    const model_params *p = &m->p;
    size_t Mz = (size_t)M;
    if (M > 0) {
        matmul_forward(m->mlm_pre, m->mlm_h, p->mlm_dense_w, p->mlm_dense_b, Mz, H, E);
        act_forward((int)c->act, m->mlm_act, m->mlm_pre, Mz * E);
        layernorm_forward(m->mlm_t, m->mlm_mean, m->mlm_rstd, m->mlm_act, p->mlm_ln_w, p->mlm_ln_b,
                          Mz, E, c->ln_eps);
        matmul_forward(m->mlm_logits, m->mlm_t, p->word_emb, p->mlm_bias, Mz, E, V);
    }
    m->M = M;
    m->mlm_valid = 1;
    return 0;
}

const float *model_mlm_logits(const model *m) { return m->mlm_valid ? m->mlm_logits : NULL; }

/* The head's gradients, the decoder's into the tied word_emb, and d(h) added into g_out's
 * masked rows (a row masked twice collects both). */
static void mlm_head_backward(model *m, const float *dmlm)
{
    const model_config *c = &m->c;
    const model_params *p = &m->p, *g = &m->g;
    size_t M = (size_t)m->M, H = (size_t)c->H, E = (size_t)c->E, V = (size_t)c->V;
    if (M == 0)
        return;
    memset(m->mlm_gt, 0, M * E * sizeof(float));
    matmul_backward(m->mlm_gt, g->word_emb, g->mlm_bias, dmlm, m->mlm_t, p->word_emb, M, E, V);
    memset(m->mlm_ga, 0, M * E * sizeof(float));
    layernorm_backward(m->mlm_ga, g->mlm_ln_w, g->mlm_ln_b, m->mlm_gt, m->mlm_act, p->mlm_ln_w,
                       m->mlm_mean, m->mlm_rstd, M, E);
    memset(m->mlm_gp, 0, M * E * sizeof(float));
    act_backward((int)c->act, m->mlm_gp, m->mlm_ga, m->mlm_pre, M * E);
    memset(m->mlm_gh, 0, M * H * sizeof(float));
    matmul_backward(m->mlm_gh, g->mlm_dense_w, g->mlm_dense_b, m->mlm_gp, m->mlm_h, p->mlm_dense_w, M, H, E);
    for (size_t i = 0; i < M; i++) {
        float *dst = m->g_out + (size_t)m->mlm_rows[i] * H;
        const float *src = m->mlm_gh + i * H;
        for (size_t j = 0; j < H; j++)
            dst[j] += src[j];
    }
}

int model_mlm_backward(model *m, const float *dmlm, const float *dlogits, const float *const *dattn)
{
    if (!m->c.mlm)
        return set_err(m, "the model has no masked-LM head (config mlm 0)");
    if (!m->mlm_valid)
        return set_err(m, "model_mlm_backward needs model_mlm_forward after the forward");
    if (!dmlm && m->M > 0)
        return set_err(m, "model_mlm_backward needs dmlm (M, V)");
    return backward_run(m, dlogits, dmlm, dattn);
}

double model_flops_forward(const model_config *c, int B, int T)
{
    double L = c->L, H = c->H, I = c->I, tok = (double)B * T;
    double P_mm = L * (4 * H * H + 2 * H * I);
    return 2 * P_mm * tok + 4 * L * T * H * tok + 2 * (H * H + 6 * H) * B;
}
