/* The engine's activation memory (model_impl.h): one float block and one byte block of
 * dropout masks, both laid out by a table of named sizes (llm.c's act_sizes), grown only
 * when a larger batch arrives; and the kept attention maps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "util/util.h"

/* ------------------------------------------------------------------------------------
 * the size table */

/* Every activation buffer, in memory order.  The rows between ACT_QKV and ACT_LN2_RSTD
 * (layer_acts) repeat for every layer slot, after the embedding rows and before the head. */
enum {
    ACT_EMB_SUM, ACT_EMB_OUT, ACT_EMB_MEAN, ACT_EMB_RSTD, ACT_H0, ACT_FFN_ACT,
    ACT_QKV, ACT_ATT, ACT_ATT_DROP, ACT_CTX, ACT_RES1, ACT_LN1, ACT_LN1_MEAN, ACT_LN1_RSTD,
    ACT_FFN_PRE, ACT_RES2, ACT_OUT, ACT_LN2_MEAN, ACT_LN2_RSTD,
    ACT_CLS, ACT_POOL_PRE, ACT_POOLED, ACT_POOLED_DROP, ACT_LOGITS,
    ACT_G_OUT, ACT_G_A, ACT_G_LN1, ACT_G_CTX, ACT_G_QKV, ACT_G_I1, ACT_G_I2, ACT_G_ATT,
    ACT_G_E1, ACT_G_E2, ACT_G_CLS, ACT_G_PP, ACT_G_PD,
    NUM_ACTS,
    ACT_LAYER_FIRST = ACT_QKV, ACT_LAYER_END = ACT_CLS
};
/* The dropout masks (bytes), likewise; MASK_1 and MASK_2 repeat for every layer slot. */
enum { MASK_EMB, MASK_1, MASK_2, MASK_CLS, NUM_MASKS, MASK_LAYER_FIRST = MASK_1, MASK_LAYER_END = MASK_CLS };

/* Sizes (floats, mask bytes) of every buffer for tok packed tokens, att packed attention
 * floats and B sequences.  The backward's buffers (the masks, att_drop, the g_* scratch)
 * are empty unless grad. */
static void act_sizes(size_t s[NUM_ACTS], size_t ms[NUM_MASKS], const model_config *c,
                      size_t tok, size_t att, size_t B, int grad)
{
    size_t H = (size_t)c->H, E = (size_t)c->E, I = (size_t)c->I, K = (size_t)c->K;
    size_t g = grad ? 1 : 0;
    s[ACT_EMB_SUM] = tok * E;                       // (N, E) word + position + type
    s[ACT_EMB_OUT] = tok * E;                       // (N, E) LayerNorm, dropout
    s[ACT_EMB_MEAN] = tok;                          // (N)
    s[ACT_EMB_RSTD] = tok;                          // (N)
    s[ACT_H0] = c->arch == ARCH_ALBERT ? tok * H : 0;   // (N, H) projection; else emb_out
    s[ACT_FFN_ACT] = tok * I;                       // (N, I) one layer at a time
    s[ACT_QKV] = tok * 3 * H;                       // (N, 3H)
    s[ACT_ATT] = att;                               // (A)
    s[ACT_ATT_DROP] = c->attn_dropout > 0.0f && grad ? att : 0;   // (A)
    s[ACT_CTX] = tok * H;                           // (N, H)
    s[ACT_RES1] = tok * H;                          // (N, H)
    s[ACT_LN1] = tok * H;                           // (N, H)
    s[ACT_LN1_MEAN] = tok;                          // (N)
    s[ACT_LN1_RSTD] = tok;                          // (N)
    s[ACT_FFN_PRE] = tok * I;                       // (N, I)
    s[ACT_RES2] = tok * H;                          // (N, H)
    s[ACT_OUT] = tok * H;                           // (N, H)
    s[ACT_LN2_MEAN] = tok;                          // (N)
    s[ACT_LN2_RSTD] = tok;                          // (N)
    s[ACT_CLS] = B * H;                             // (B, H)
    s[ACT_POOL_PRE] = B * H;                        // (B, H)
    s[ACT_POOLED] = B * H;                          // (B, H)
    s[ACT_POOLED_DROP] = B * H;                     // (B, H)
    s[ACT_LOGITS] = B * K;                          // (B, K)
    s[ACT_G_OUT] = g * tok * H;                     // (N, H)
    s[ACT_G_A] = g * tok * H;                       // (N, H)
    s[ACT_G_LN1] = g * tok * H;                     // (N, H)
    s[ACT_G_CTX] = g * tok * H;                     // (N, H)
    s[ACT_G_QKV] = g * tok * 3 * H;                 // (N, 3H)
    s[ACT_G_I1] = g * tok * I;                      // (N, I)
    s[ACT_G_I2] = g * tok * I;                      // (N, I)
    s[ACT_G_ATT] = g * att;                         // (A)
    s[ACT_G_E1] = g * tok * E;                      // (N, E)
    s[ACT_G_E2] = g * tok * E;                      // (N, E)
    s[ACT_G_CLS] = g * B * H;                       // (B, H)
    s[ACT_G_PP] = g * B * H;                        // (B, H)
    s[ACT_G_PD] = g * B * H;                        // (B, H)
    ms[MASK_EMB] = tok * E;                         // (N, E)
    ms[MASK_1] = grad ? tok * H : 0;                // (N, H)
    ms[MASK_2] = grad ? tok * H : 0;                // (N, H)
    ms[MASK_CLS] = B * H;                           // (B, H)
}

/* Every mask starts a multiple of 64 bytes from the block's start (the floats: act_round). */
static size_t round_bytes(size_t n) { return (n + 63) & ~(size_t)63; }

/* The field of each row: the model's, or layer slot a's for the per-layer rows. */
static void act_fields(float **f[NUM_ACTS], uint8_t **mf[NUM_MASKS], model *m, layer_acts *a)
{
    float **t[NUM_ACTS] = {
        &m->emb_sum, &m->emb_out, &m->emb_mean, &m->emb_rstd, &m->h0, &m->ffn_act,
        &a->qkv, &a->att, &a->att_drop, &a->ctx, &a->res1, &a->ln1, &a->ln1_mean,
        &a->ln1_rstd, &a->ffn_pre, &a->res2, &a->out, &a->ln2_mean, &a->ln2_rstd,
        &m->cls, &m->pool_pre, &m->pooled, &m->pooled_drop, &m->logits,
        &m->g_out, &m->g_a, &m->g_ln1, &m->g_ctx, &m->g_qkv, &m->g_i1, &m->g_i2, &m->g_att,
        &m->g_e1, &m->g_e2, &m->g_cls, &m->g_pp, &m->g_pd,
    };
    uint8_t **u[NUM_MASKS] = { &m->emb_mask, &a->mask1, &a->mask2, &m->cls_mask };
    memcpy(f, t, sizeof t);
    memcpy(mf, u, sizeof u);
}

/* Rows [from, to) of the table one after the other from *used floats (bytes) into block b,
 * or with b NULL only counted. */
static void point_floats(float **f[], const size_t s[], int from, int to, float *b, size_t *used)
{
    for (int i = from; i < to; i++) {
        if (b)
            *f[i] = b + *used;
        *used += act_round(s[i]);
    }
}

static void point_masks(uint8_t **f[], const size_t s[], int from, int to, uint8_t *b, size_t *used)
{
    for (int i = from; i < to; i++) {
        if (b)
            *f[i] = b + *used;
        *used += round_bytes(s[i]);
    }
}

/* Points every buffer into the blocks (fb floats, mb bytes) for `slots` layer slots in
 * m->layers, in table order with each slot's rows together, or with fb NULL only counts;
 * returns the floats (*bytes: the mask bytes) the blocks need. */
static size_t act_point(model *m, float *fb, uint8_t *mb, size_t *bytes, const size_t s[NUM_ACTS],
                        const size_t ms[NUM_MASKS], int slots)
{
    layer_acts none;
    float **f[NUM_ACTS];
    uint8_t **mf[NUM_MASKS];
    size_t used = 0, mused = 0;
    act_fields(f, mf, m, &none);
    point_floats(f, s, 0, ACT_LAYER_FIRST, fb, &used);
    point_masks(mf, ms, 0, MASK_LAYER_FIRST, mb, &mused);
    for (int l = 0; l < slots; l++) {
        act_fields(f, mf, m, fb ? &m->layers[l] : &none);
        point_floats(f, s, ACT_LAYER_FIRST, ACT_LAYER_END, fb, &used);
        point_masks(mf, ms, MASK_LAYER_FIRST, MASK_LAYER_END, mb, &mused);
    }
    point_floats(f, s, ACT_LAYER_END, NUM_ACTS, fb, &used);
    point_masks(mf, ms, MASK_LAYER_END, NUM_MASKS, mb, &mused);
    if (fb && m->c.arch != ARCH_ALBERT)
        m->h0 = m->emb_out;
    *bytes = mused;
    return used;
}

/* ------------------------------------------------------------------------------------
 * growth */

size_t acts_grow(size_t need, size_t cap)
{
    if (need <= cap)
        return cap;
    return need > cap + cap / 4 ? need : cap + cap / 4;
}

void acts_free(model *m)
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

int acts_ensure(model *m, size_t tok, size_t att, size_t B, int grad)
{
    int slots = grad ? m->c.L : 1;
    if (m->act_block && tok <= m->cap_tok && att <= m->cap_att && B <= m->cap_B &&
        slots <= m->cap_slots && grad <= m->cap_grad)
        return 0;
    // grow by at least a quarter, so batches that creep upwards (length-grouped batching)
    // reallocate (and first-touch) a few times only
    if (m->act_block) {
        tok = acts_grow(tok, m->cap_tok);
        att = acts_grow(att, m->cap_att);
    }
    if (B < m->cap_B)
        B = m->cap_B;
    if (slots < m->cap_slots)
        slots = m->cap_slots;
    if (grad < m->cap_grad)
        grad = m->cap_grad;
    acts_free(m);
    size_t s[NUM_ACTS], ms[NUM_MASKS], bytes;
    act_sizes(s, ms, &m->c, tok, att, B, grad);
    size_t floats = act_point(m, NULL, NULL, &bytes, s, ms, slots);
    m->act_block = aligned_zalloc(floats * sizeof(float));
    m->mask_block = aligned_zalloc(bytes);
    m->layers = calloc((size_t)slots, sizeof(layer_acts));
    m->lens = calloc(B, sizeof(int32_t));
    m->tok_ids = calloc(tok, sizeof(int32_t));
    m->type_ids = calloc(tok, sizeof(int32_t));
    m->pos_ids = calloc(tok, sizeof(int32_t));
    m->tok_off = calloc(B + 1, sizeof(size_t));
    m->att_off = calloc(B + 1, sizeof(size_t));
    if (!m->act_block || !m->mask_block || !m->layers || !m->lens || !m->tok_ids ||
        !m->type_ids || !m->pos_ids || !m->tok_off || !m->att_off) {
        acts_free(m);
        return model_set_err(m, "cannot allocate activations for %zu tokens: %s", tok,
                             strerror(ENOMEM));
    }
    act_point(m, m->act_block, m->mask_block, &bytes, s, ms, slots);
    m->cap_tok = tok;
    m->cap_att = att;
    m->cap_B = B;
    m->cap_slots = slots;
    m->cap_grad = grad;
    return 0;
}

int model_reserve(model *m, int B, int T, int mode)
{
    if (B <= 0 || T <= 0 || T > m->c.P)
        return model_set_err(m, "cannot reserve for B %d, T %d (max_position_embeddings %d)",
                             B, T, m->c.P);
    size_t tok = (size_t)B * T, att = (size_t)m->c.NH * B * T * T;
    if (acts_ensure(m, tok, att, (size_t)B, mode != MODEL_INFER) != 0)
        return -1;
    if (m->keep_mask && kept_ensure(m, att) != 0)
        return -1;
    if (mode != MODEL_INFER && !model_grad_block(m))
        return model_set_err(m, "cannot allocate gradients: %s", strerror(ENOMEM));
    return 0;
}

/* ------------------------------------------------------------------------------------
 * kept attention maps */

int kept_ensure(model *m, size_t padded)
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
        return model_set_err(m, "cannot allocate attention maps (%d layers)", nk);
    }
    m->cap_padded = padded;
    m->cap_kept = nk;
    return 0;
}

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

void kept_store(model *m, int l, const float *att)
{
    if (m->keep_packed)
        memcpy(m->kept_attn[l], att, m->att_off[m->B] * sizeof(float));
    else
        expand_attn(m, l, att);
}
