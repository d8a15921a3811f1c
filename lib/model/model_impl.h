/* The engine's insides (model.h): struct model and the calls between its files.  Private to
 * lib/model; nothing outside the engine includes it.
 *
 *   model.c        lifecycle, the straight-line forward (MODEL_TRAIN, MODEL_EVAL_GRAD) and
 *                  the backward, the outputs
 *   model_act.c    activation memory: the size table, its growth, the kept attention maps
 *   model_infer.c  MODEL_INFER: packed weights, int8 layers, the [CLS]-only last layer
 *   model_mlm.c    the masked-LM head, forward and backward
 *
 * Each includes this header and nothing of the others; model_int8.h (the int8 weights) is
 * read by model_infer.c and, for model_q8, here. */
#ifndef EMO_MODEL_IMPL_H
#define EMO_MODEL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "model/model_int8.h"
#include "nn/kernels.h"

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

    /* capacity of the activation buffers (model_act.c) */
    size_t cap_tok, cap_att, cap_B, cap_padded;   /* cap_padded: B*NH*T*T per kept layer */
    int cap_kept;                                 /* kept layers that fit in kept_block */
    int cap_slots, cap_grad;                      /* layer slots (L with grad, else 1) */
    float *act_block;
    uint8_t *mask_block;

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

    model_grad_hook grad_hook;    /* model_set_grad_hook */
    void *grad_hook_ctx;

    char err[256];
};

/* Layer set of layer l: ALBERT's one shared set, else l. */
static inline size_t model_lset(const model *m, int l)
{
    return m->c.arch == ARCH_ALBERT ? 0 : (size_t)l;
}

/* A buffer of n floats takes act_round(n): every one starts a multiple of 64 bytes from
 * its block's start. */
static inline size_t act_round(size_t n) { return (n + 15) & ~(size_t)15; }

/* model.c */
/* Formats the message model_error() returns; returns -1. */
int model_set_err(model *m, const char *fmt, ...);
/* Checks the batch (ids, lens, types, T <= P; rng for MODEL_TRAIN), makes room for it and
 * packs its real tokens (tok_ids, type_ids, pos_ids, tok_off, att_off, ab, kept_attn);
 * clears valid and mlm_valid first.  0 or -1 (model_error). */
int model_batch_pack(model *m, const int32_t *ids, const int32_t *type_ids,
                     const int32_t *lens, int B, int T, int mode, rng_t *rng);
/* The embeddings' word + position (+ type) lookups and LayerNorm into emb_out (N, E). */
void model_embed_ln(model *m);
/* Gradients of the heads present (dlogits, dmlm, either NULL) down the whole encoder. */
int model_backward_run(model *m, const float *dlogits, const float *dmlm,
                       const float *const *dattn);

/* model_act.c: activation memory */
/* need, or cap grown by at least a quarter if need is more */
size_t acts_grow(size_t need, size_t cap);
/* Room for (tok, att, B) packed tokens, attention floats and sequences, for backward too
 * if grad; steady-state training never allocates.  0 or -1 (model_error). */
int acts_ensure(model *m, size_t tok, size_t att, size_t B, int grad);
void acts_free(model *m);
/* Room for the (B, NH, T, T) maps of every kept layer (padded floats each).  0 or -1. */
int kept_ensure(model *m, size_t padded);
/* Keeps layer l's packed maps att (A floats) as the caller asked (model_keep_attn*). */
void kept_store(model *m, int l, const float *att);

/* model_infer.c */
/* The MODEL_INFER forward (model_forward_types with that mode). */
int infer_forward(model *m, const int32_t *ids, const int32_t *type_ids, const int32_t *lens,
                  int B, int T);

/* model_mlm.c */
/* Adds the masked-LM head's gradients for dmlm (M, V) into the grad block and d(h) into
 * g_out's masked rows (a row masked twice collects both). */
void mlm_head_backward(model *m, const float *dmlm);

#endif
