/* The engine's MODEL_INFER forward (model.h): no dropout and no activations for backward
 * (one layer slot, reused), the linear layers through weights packed once for gemm_packed
 * (nn/gemm.h) or through their int8 codes (model_int8.c), and, without a masked-LM head,
 * the last layer after its attention on the [CLS] rows only.  Every kernel computes a row
 * the same way whatever the number of rows, so each [CLS] row keeps its bits; the logits
 * equal MODEL_EVAL_GRAD's to rounding (the packed GEMM sums in another order than
 * OpenBLAS). */
#include <errno.h>
#include <string.h>

#include "model/model_impl.h"
#include "nn/gemm.h"
#include "nn/qact.h"
#include "util/par.h"
#include "util/util.h"

/* How long idle pool threads spin between the kernels of an inference forward (par_spin):
 * about one small GEMM of a one-tweet bert-mini forward. */
#define INFER_SPIN_NS 200000L

/* ------------------------------------------------------------------------------------
 * packed and int8 weights */

/* Packs every float linear weight for gemm_packed once after the weights may have changed
 * (packed_valid); the layers with int8 weights are left unpacked. */
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
            return model_set_err(m, "cannot allocate packed inference weights: %s",
                                 strerror(ENOMEM));
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

/* out (R, OC) = inp (R, C) W^T + bias for layer set s of field (model_int8.h): through the
 * int8 codes if the model has them for field, else through the packed float copy wp. */
static void linear(model *m, int field, size_t s, float *out, const float *inp,
                   const float *wp, const float *bias, size_t R, size_t C, size_t OC)
{
    if (q8_has(m->q8, field))
        q8_linear(m->q8, field, s, out, inp, bias, R, NULL);
    else
        gemm_packed(out, inp, C, wp, bias, R, C, OC);
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

/* Self-attention of layer l (set s) on every token of x (N, H) into a->ctx, the maps kept
 * if asked; with ctx_first_only, the context of each sequence's [CLS] row only. */
static void attend(model *m, layer_acts *a, size_t s, int l, const float *x, int ctx_first_only)
{
    const model_params *p = &m->p;
    size_t N = (size_t)m->N, H = (size_t)m->c.H;
    // (int8: one quantisation of x serves Q, K and V)
    linear(m, Q8_QKV, s, a->qkv, x, m->pk_qkv + s * m->pk_qkv_n, p->qkv_b + s * 3 * H, N, H,
           3 * H);
    // maps kept unpadded are written where they are kept ((A) floats fit the (B, NH, T, T)
    // room): nothing reads a->att afterwards
    int kept_direct = m->kept_attn[l] && m->keep_packed;
    m->ab.ctx_first_only = ctx_first_only;
    attention_forward(a->ctx, kept_direct ? m->kept_attn[l] : a->att, a->att_drop, a->qkv,
                      &m->ab, 0.0f, NULL);
    m->ab.ctx_first_only = 0;
    if (m->kept_attn[l] && !kept_direct)
        kept_store(m, l, a->att);
}

/* The rest of layer set s after its attention, on R rows:
 *   a->out = LN2(h + act(h Wi^T) Wf^T),  h = a->ln1 = LN1(resid + ctx Wo^T)
 * ctx and resid may lie in a->ln1 and a->res2: each is read before that buffer is written.
 * resid may be a->out (one layer slot): a->out is written last. */
static void layer_tail(model *m, layer_acts *a, size_t s, const float *ctx, const float *resid,
                       size_t R)
{
    const model_config *c = &m->c;
    const model_params *p = &m->p;
    size_t H = (size_t)c->H, I = (size_t)c->I;
    linear(m, Q8_AO, s, a->res1, ctx, m->pk_ao + s * m->pk_ao_n, p->attn_out_b + s * H, R, H, H);
    residual_forward(a->res1, a->res1, resid, R * H);
    layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, a->res1, p->ln1_w + s * H,
                      p->ln1_b + s * H, R, H, c->ln_eps);
    // feed-forward: the activation on each block of the GEMM while in cache; the int8 layer
    // takes nn/qact.h's GELUs (piecewise polynomials), the float one kernels.h's
    if (q8_has(m->q8, Q8_FI))
        q8_linear(m->q8, Q8_FI, s, m->ffn_act, a->ln1, p->ffn_in_b + s * I, R,
                  qact_serial((int)c->act));
    else
        gemm_packed_act(m->ffn_act, a->ln1, H, m->pk_fi + s * m->pk_fi_n, p->ffn_in_b + s * I,
                        R, H, I, act_serial((int)c->act));
    linear(m, Q8_FO, s, a->res2, m->ffn_act, m->pk_fo + s * m->pk_fo_n, p->ffn_out_b + s * H,
           R, I, H);
    residual_forward(a->res2, a->res2, a->ln1, R * H);
    layernorm_forward(a->out, a->ln2_mean, a->ln2_rstd, a->res2, p->ln2_w + s * H,
                      p->ln2_b + s * H, R, H, c->ln_eps);
}

/* The last layer (set s) when only its [CLS] rows are read: its output (B, H) in a->out,
 * row b sequence b's.  0, or -1 (model_error). */
static int last_layer_cls(model *m, layer_acts *a, size_t s, int l, const float *x)
{
    const model_params *p = &m->p;
    size_t N = (size_t)m->N, B = (size_t)m->B, H = (size_t)m->c.H;
    if (!m->kept_attn[l] && H % GEMM_NR == 0 && !q8_has(m->q8, Q8_QKV)) {
        // Only the [CLS] queries are needed: K and V of every token, Q of B rows (for tweets
        // of 12 tokens, 11/12 of Q: nearly a third of the layer's QKV work) and attention
        // for those rows.  (int8 keeps Q, K and V in one GEMM: the other branch.)
        const float *wp = m->pk_qkv + s * m->pk_qkv_n, *bias = p->qkv_b + s * 3 * H;
        for (size_t b = 0; b < B; b++)   // (B, H) [CLS] rows of the input: the residual
            memcpy(a->res2 + b * H, x + m->tok_off[b] * H, H * sizeof(float));
        // (N, 2H) keys and values into their columns of qkv (N, 3H)
        gemm_packed_ld(a->qkv + H, 3 * H, x, H, wp + H * H, bias + H, N, H, 2 * H);
        // (B, H) queries into m->cls, free until the head
        gemm_packed(m->cls, a->res2, H, wp, bias, B, H, H);
        if (attention_cls_forward(a->ln1, m->cls, a->qkv, a->att, &m->ab) != 0)
            return model_set_err(m, "out of memory");
    } else {
        // a layer whose maps are kept still needs every query row for them, but the context
        // of its [CLS] rows only
        attend(m, a, s, l, x, 1);
        // (B, H) rows: ctx and the residual input gathered into buffers layer_tail
        // overwrites only after reading them (ln1, res2)
        for (size_t b = 0; b < B; b++) {
            memcpy(a->ln1 + b * H, a->ctx + m->tok_off[b] * H, H * sizeof(float));
            memcpy(a->res2 + b * H, x + m->tok_off[b] * H, H * sizeof(float));
        }
    }
    layer_tail(m, a, s, a->ln1, a->res2, B);
    return 0;
}

static int forward(model *m, const int32_t *ids, const int32_t *type_ids, const int32_t *lens,
                   int B, int T)
{
    if (model_batch_pack(m, ids, type_ids, lens, B, T, MODEL_INFER, NULL) != 0)
        return -1;
    const model_config *c = &m->c;
    const model_params *p = &m->p;
    size_t N = (size_t)m->N, Bz = (size_t)B, H = (size_t)c->H, E = (size_t)c->E;
    size_t K = (size_t)c->K;
    if (m->q8 && q8_reserve(m->q8, N) != 0)
        return model_set_err(m, "cannot allocate int8 scratch: %s", strerror(ENOMEM));
    layer_acts *a = &m->layers[0];

    // embeddings (N, E); ALBERT's projection to (N, H)
    model_embed_ln(m);
    if (c->arch == ARCH_ALBERT)
        linear(m, Q8_PROJ, 0, m->h0, m->emb_out, m->pk_proj, p->emb_proj_b, N, E, H);

    // without a masked-LM head only the [CLS] rows of the last layer are read
    int cls_only = !c->mlm;
    const float *x = m->h0;
    for (int l = 0; l < c->L; l++) {
        size_t s = model_lset(m, l);
        if (cls_only && l == c->L - 1) {
            if (last_layer_cls(m, a, s, l, x) != 0)
                return -1;
        } else {
            attend(m, a, s, l, x, 0);
            layer_tail(m, a, s, a->ctx, x, N);
        }
        x = a->out;
    }
    m->hid = cls_only ? NULL : x;   // (N, H) for the masked-LM head

    // head on the [CLS] rows: row b of x with cls_only, else row tok_off[b]
    for (int b = 0; b < B; b++)
        memcpy(m->cls + (size_t)b * H, x + (cls_only ? (size_t)b : m->tok_off[b]) * H,
               H * sizeof(float));
    if (K == 0) {        // masked-LM-only model: no pooler, no classifier
        m->valid = 1;
        return 0;
    }
    linear(m, Q8_POOL, 0, m->pool_pre, m->cls, m->pk_pool, p->pool_b, Bz, H, H);
    if (c->arch == ARCH_DISTILBERT)
        relu_forward(m->pooled, m->pool_pre, Bz * H);
    else
        tanh_forward(m->pooled, m->pool_pre, Bz * H);
    linear(m, Q8_CLS, 0, m->logits, m->pooled, m->pk_cls, p->cls_b, Bz, H, K);
    m->valid = 1;
    return 0;
}

int infer_forward(model *m, const int32_t *ids, const int32_t *type_ids, const int32_t *lens,
                  int B, int T)
{
    long spin = par_spin(INFER_SPIN_NS);
    int rc = ensure_packed(m);
    if (rc == 0)
        rc = forward(m, ids, type_ids, lens, B, T);
    par_spin(spin);
    return rc;
}
