#include "model/model.h"

size_t model_param_sizes(const model_config *c, size_t s[MODEL_NUM_PARAM_TENSORS])
{
    size_t V = (size_t)c->V, P = (size_t)c->P, TV = (size_t)c->TV, E = (size_t)c->E, H = (size_t)c->H;
    size_t I = (size_t)c->I, K = (size_t)c->K, Lp = (size_t)model_layer_sets(c);
    int albert = c->arch == ARCH_ALBERT;
    size_t head = K ? 1 : 0, mlm = c->mlm ? 1 : 0;   /* K == 0 (mlm only): no pooler either */
    size_t i = 0;
    s[i++] = V * E;                 // word_emb (V, E)
    s[i++] = P * E;                 // pos_emb (P, E)
    s[i++] = TV * E;                // type_emb (TV, E)
    s[i++] = E;                     // emb_ln_w (E)
    s[i++] = E;                     // emb_ln_b (E)
    s[i++] = albert ? H * E : 0;    // emb_proj_w (H, E) ALBERT
    s[i++] = albert ? H : 0;        // emb_proj_b (H) ALBERT
    s[i++] = Lp * 3 * H * H;        // qkv_w (Lp, 3H, H)
    s[i++] = Lp * 3 * H;            // qkv_b (Lp, 3H)
    s[i++] = Lp * H * H;            // attn_out_w (Lp, H, H)
    s[i++] = Lp * H;                // attn_out_b (Lp, H)
    s[i++] = Lp * H;                // ln1_w (Lp, H)
    s[i++] = Lp * H;                // ln1_b (Lp, H)
    s[i++] = Lp * I * H;            // ffn_in_w (Lp, I, H)
    s[i++] = Lp * I;                // ffn_in_b (Lp, I)
    s[i++] = Lp * H * I;            // ffn_out_w (Lp, H, I)
    s[i++] = Lp * H;                // ffn_out_b (Lp, H)
    s[i++] = Lp * H;                // ln2_w (Lp, H)
    s[i++] = Lp * H;                // ln2_b (Lp, H)
    s[i++] = head * H * H;          // pool_w (H, H)
    s[i++] = head * H;              // pool_b (H)
    s[i++] = K * H;                 // cls_w (K, H)
    s[i++] = K;                     // cls_b (K)
    s[i++] = mlm * E * H;           // mlm_dense_w (E, H)
    s[i++] = mlm * E;               // mlm_dense_b (E)
    s[i++] = mlm * E;               // mlm_ln_w (E)
    s[i++] = mlm * E;               // mlm_ln_b (E)
    s[i++] = mlm * V;               // mlm_bias (V)
    size_t total = 0;
    for (i = 0; i < MODEL_NUM_PARAM_TENSORS; i++)
        total += s[i];
    return total;
}

void model_params_point(model_params *p, const model_config *c, float *block)
{
    size_t s[MODEL_NUM_PARAM_TENSORS];
    model_param_sizes(c, s);
    float **f[MODEL_NUM_PARAM_TENSORS] = {
        &p->word_emb, &p->pos_emb, &p->type_emb, &p->emb_ln_w, &p->emb_ln_b, &p->emb_proj_w,
        &p->emb_proj_b, &p->qkv_w, &p->qkv_b, &p->attn_out_w, &p->attn_out_b, &p->ln1_w,
        &p->ln1_b, &p->ffn_in_w, &p->ffn_in_b, &p->ffn_out_w, &p->ffn_out_b, &p->ln2_w,
        &p->ln2_b, &p->pool_w, &p->pool_b, &p->cls_w, &p->cls_b, &p->mlm_dense_w,
        &p->mlm_dense_b, &p->mlm_ln_w, &p->mlm_ln_b, &p->mlm_bias,
    };
    for (int i = 0; i < MODEL_NUM_PARAM_TENSORS; i++) {
        *f[i] = block;
        block += s[i];
    }
}
