/* The transformer engine's contract: model configuration and parameter layout for the
 * three families (BERT, DistilBERT, ALBERT), shared by the engine (lib/model, lib/nn),
 * the checkpoint code (lib/model/ckpt.c, lib/io/safetensors.c) and the training tools.
 *
 * Letters as in llm.c: B batch, T sequence (padded to the batch's longest), H hidden,
 * NH heads, I intermediate, L layers, V vocab, P max positions, E embedding width
 * (ALBERT's factorised embedding; E == H for BERT/DistilBERT), K classes.
 *
 * Parameters live in one allocation; every field of model_params points into it.
 * Per-layer tensors have a leading dimension Lp = (ALBERT ? 1 : L); ALBERT's shared layer
 * is applied L times and its weights collect gradient from every application. */
#ifndef EMO_MODEL_H
#define EMO_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "util/labels.h"
#include "util/rng.h"

typedef enum { ARCH_BERT, ARCH_DISTILBERT, ARCH_ALBERT } model_arch;
typedef enum { ACT_GELU_ERF, ACT_GELU_TANH, ACT_RELU } model_act;

typedef struct model_config {
    model_arch arch;
    int V;          /* vocab_size */
    int P;          /* max_position_embeddings */
    int TV;         /* type_vocab_size (0 for DistilBERT) */
    int E;          /* embedding_size (ALBERT), else == H */
    int H;          /* hidden_size / dim */
    int L;          /* num_hidden_layers / n_layers */
    int NH;         /* num_attention_heads / n_heads */
    int I;          /* intermediate_size / hidden_dim */
    model_act act;  /* hidden_act / activation */
    float ln_eps;   /* layer_norm_eps (DistilBERT: 1e-12 fixed) */
    float hidden_dropout, attn_dropout, classifier_dropout;
    int pad_token_id;
    int K;          /* num_labels; 0 only with mlm (no classifier and no pooler) */
    char labels[LABELS_MAX][LABEL_BYTES];   /* id2label, index = class id */
    int mlm;        /* 1: the model carries the masked-LM head of *ForMaskedLM (model_mlm_*) */
    char arch_class[48];   /* informational: architectures[0] of the config.json read ("" for
                            * a preset); the engine never looks at it (config.h) */
    /* An int8 checkpoint (emo ckpt quantize; config.json "quantization", emo-checkpoint(5)):
     * the checkpoint code reads and writes these; the engine uses int8 only for the weights
     * given to it with model_int8_set. */
    int quant;             /* 0 float, 1 emo-dynamic-int8 */
    int quant_scheme;      /* enum qgemm_scheme of nn/qgemm.h (0 w7) */
    unsigned quant_keep;   /* MODEL_Q8_KEEP_* bits: linear layers left float */
} model_config;

/* Optional parts an int8 checkpoint may keep in float (emo ckpt quantize --keep); the
 * encoder's linear layers (attention Q/K/V and output, FFN in and out) are always int8.
 * int8 embedding tables are dequantised at load: the engine never sees them. */
enum { MODEL_Q8_KEEP_PROJ = 1,   /* ALBERT's embedding projection */
       MODEL_Q8_KEEP_POOL = 2,   /* BERT/ALBERT pooler, DistilBERT pre_classifier */
       MODEL_Q8_KEEP_CLS = 4,    /* classifier */
       MODEL_Q8_KEEP_EMB = 8 };  /* word, position and token-type embedding tables */

/* Number of layer-parameter sets: 1 for ALBERT (shared), L otherwise. */
static inline int model_layer_sets(const model_config *c) { return c->arch == ARCH_ALBERT ? 1 : c->L; }

typedef struct model_params {
    float *word_emb;      /* (V, E) */
    float *pos_emb;       /* (P, E) */
    float *type_emb;      /* (TV, E); TV = 0 for DistilBERT */
    float *emb_ln_w;      /* (E) */
    float *emb_ln_b;      /* (E) */
    float *emb_proj_w;    /* (H, E) ALBERT embedding_hidden_mapping_in; size 0 otherwise */
    float *emb_proj_b;    /* (H) */
    float *qkv_w;         /* (Lp, 3H, H) rows: query, key, value (HF's three Linear weights stacked) */
    float *qkv_b;         /* (Lp, 3H) */
    float *attn_out_w;    /* (Lp, H, H) */
    float *attn_out_b;    /* (Lp, H) */
    float *ln1_w;         /* (Lp, H) LayerNorm after attention (DistilBERT sa_layer_norm) */
    float *ln1_b;         /* (Lp, H) */
    float *ffn_in_w;      /* (Lp, I, H) */
    float *ffn_in_b;      /* (Lp, I) */
    float *ffn_out_w;     /* (Lp, H, I) */
    float *ffn_out_b;     /* (Lp, H) */
    float *ln2_w;         /* (Lp, H) LayerNorm after the FFN (DistilBERT output_layer_norm) */
    float *ln2_b;         /* (Lp, H) */
    float *pool_w;        /* (H, H) BERT/ALBERT pooler.dense; DistilBERT pre_classifier */
    float *pool_b;        /* (H) */
    float *cls_w;         /* (K, H) classifier */
    float *cls_b;         /* (K) */
    /* masked-LM head (sizes 0 unless mlm).  BERT cls.predictions.transform, DistilBERT
     * vocab_transform/vocab_layer_norm, ALBERT predictions.dense/LayerNorm: dense maps
     * H -> E (E == H except ALBERT).  The decoder weight is word_emb (V, E), tied. */
    float *mlm_dense_w;   /* (E, H) */
    float *mlm_dense_b;   /* (E) */
    float *mlm_ln_w;      /* (E) */
    float *mlm_ln_b;      /* (E) */
    float *mlm_bias;      /* (V) decoder bias */
} model_params;

#define MODEL_NUM_PARAM_TENSORS 28

/* Fill sizes[MODEL_NUM_PARAM_TENSORS] (in floats, in the field order above); returns the total. */
size_t model_param_sizes(const model_config *c, size_t sizes[MODEL_NUM_PARAM_TENSORS]);
/* Point every field of p into one block of model_param_sizes() floats. */
void model_params_point(model_params *p, const model_config *c, float *block);

/* ------------------------------------------------------------------------------------
 * The engine (lib/model/model*.c, model_impl.h says which file holds what): forward and
 * backward of the three families, numerically those of Hugging Face's
 * *ForSequenceClassification (see model.c for the HF details).
 *
 * Dynamic padding: a batch is ids (B, T) int32 row-major (T = the batch's longest length,
 * T <= P) with lens (B), 1 <= lens[b] <= T; only the first lens[b] ids of row b are read.
 * Internally the N = sum(lens) real tokens are packed, so work and memory scale with real
 * tokens and each sequence attends to its own tokens only (identical to HF's finfo.min
 * additive mask for every real position).
 *
 * Memory: params and grads are one allocation each; activations are allocated once for
 * the largest (tokens, batch) seen and reused (grown only when a larger batch arrives).
 * Library code: nothing here exits; errors come back as -1 with model_error().
 * Threads: OpenBLAS and the engine's own loops (lib/util/par.h) use threads_setup()'s count;
 * results are bit-identical run to run for a fixed seed and thread count.  One model is
 * not to be used from two threads at once.
 *
 * Typical training step:
 *     model_zero_grad(m);
 *     model_forward(m, ids, lens, B, T, MODEL_TRAIN, &rng);
 *     ... dlogits (B, K) from the loss on model_logits(m) ...
 *     model_backward(m, dlogits, NULL);
 *     ... optimizer on model_param_block(m) / model_grad_block(m), model_num_params(m) ... */
typedef struct model model;

/* Forward modes.  MODEL_INFER keeps no activations for backward (one layer of scratch,
 * fast, small) and, without a masked-LM head, runs the last layer after its attention on
 * the [CLS] rows only (all the heads read), so its logits equal MODEL_EVAL_GRAD's to
 * rounding, not always in every bit; MODEL_TRAIN applies dropout and keeps activations;
 * MODEL_EVAL_GRAD keeps activations without dropout (gradients of the eval-mode function,
 * parity tests). */
enum { MODEL_INFER = 0, MODEL_TRAIN = 1, MODEL_EVAL_GRAD = 2 };

/* Allocates the parameter block (zeroed) for config c (copied).  NULL (message on stderr)
 * if the config is inconsistent (H % NH, sizes <= 0, K > LABELS_MAX, K == 0 without
 * mlm).  K == 0 (mlm only): no pooler/pre_classifier and no classifier, as HF's
 * *ForMaskedLM; model_logits() is then NULL and model_backward takes dlogits NULL. */
model *model_new(const model_config *c);
void model_free(model *m);
const model_config *model_get_config(const model *m);
/* Parameters: one block of model_num_params() floats in model_params_point() layout. */
size_t model_num_params(const model *m);
float *model_param_block(model *m);
const model_params *model_weights(const model *m);   /* fields point into the block */
/* HF _init_weights: Linear/Embedding weights N(0, 0.02), biases 0, LayerNorm 1/0, and the
 * word-embedding row pad_token_id zero (the masked-LM head likewise: dense N(0, 0.02),
 * LayerNorm 1/0, decoder bias 0).  Deterministic for a seed (lib/util/rng). */
void model_init_weights(model *m, uint64_t seed);

/* Bit l set: forward also returns layer l's attention probabilities (see model_attn_probs)
 * and model_backward accepts a gradient for them.  Default 0. */
void model_keep_attn(model *m, uint64_t layer_mask);
/* The same layers kept unpadded instead, for reading only (model_attn_seq); no gradient for
 * them, and model_attn_probs gives NULL.  Saves the padded copy: the teacher cache's way. */
void model_keep_attn_packed(model *m, uint64_t layer_mask);

/* Optional: allocate (and touch) now everything a forward/backward of up to B sequences of
 * up to T tokens in `mode` needs, e.g. the largest batch of a training run, so that no
 * later step allocates.  Call after model_keep_attn.  Without it memory grows on demand
 * (by at least a quarter each time).  Returns 0 or -1 (model_error). */
int model_reserve(model *m, int B, int T, int mode);

/* Runs the model.  mode: MODEL_INFER / MODEL_TRAIN / MODEL_EVAL_GRAD.  rng: used (and
 * advanced) only for dropout in MODEL_TRAIN; may be NULL otherwise.  type_ids: (B, T) or
 * NULL for all zeros (BERT/ALBERT token types; ignored by DistilBERT).
 * Returns 0, or -1 on bad input (id outside [0, V), length outside [1, T], T > P). */
int model_forward(model *m, const int32_t *ids, const int32_t *lens, int B, int T, int mode,
                  rng_t *rng);
int model_forward_types(model *m, const int32_t *ids, const int32_t *type_ids,
                        const int32_t *lens, int B, int T, int mode, rng_t *rng);
/* Outputs of the last forward, valid until the next forward. */
const float *model_logits(const model *m);      /* (B, K); NULL if K == 0 */
/* (B, H): BERT/ALBERT the pooler output tanh(dense(h[CLS])) (before classifier dropout;
 * NULL if K == 0: no pooler); DistilBERT the final [CLS] hidden state. */
const float *model_embedding(const model *m);
/* (B, NH, T, T) probabilities of layer l (kept via model_keep_attn, else NULL), AFTER
 * attention dropout as HF's output_attentions returns them.  Rows/columns >= lens[b] are 0
 * (HF gives padded query rows nonzero values that affect nothing; mask them out). */
const float *model_attn_probs(const model *m, int layer);
/* (NH, l, l) probabilities of layer `layer` for sequence b of the last forward, l its
 * length, when kept via model_keep_attn_packed; else NULL. */
const float *model_attn_seq(const model *m, int layer, int b);
const char *model_error(const model *m);        /* last error message */

/* Gradients: one block like the parameters, allocated on first use (zeroed). */
float *model_grad_block(model *m);
const model_params *model_grads(model *m);      /* fields point into the grad block */
void model_zero_grad(model *m);
/* Accumulates d(loss)/d(params) into the grad block for the last forward, which must have
 * run in MODEL_TRAIN or MODEL_EVAL_GRAD mode.  dlogits (B, K).  dattn: NULL, or an array of
 * L pointers, entry l NULL or (B, NH, T, T) = d(loss)/d(model_attn_probs(m, l)) (only the
 * [0:lens[b], 0:lens[b]] block is read; layer l need not be kept).  Returns 0 or -1. */
int model_backward(model *m, const float *dlogits, const float *const *dattn);

/* Optional, to overlap work with the backward (data-parallel training starts its gradient
 * all-reduce this way): during model_backward and model_mlm_backward, fn(ctx, off, n) is
 * called for each range [off, off + n) of the grad block as soon as the rest of that backward
 * adds nothing more to it: the heads' tensors (pooler, classifier, masked-LM head: the block's
 * tail from pool_w) first, then each layer's twelve tensors from the top layer down (ALBERT's
 * shared set once, after layer 0).  The embeddings' tensors (word_emb, which the masked-LM
 * decoder shares, among them: the block's head up to qkv_w) are not reported: they are final
 * when the backward returns, with nothing left to overlap.  Each element is reported at most
 * once per backward, in an order that depends on the configuration alone.  fn NULL (the
 * default): no calls. */
typedef void (*model_grad_hook)(void *ctx, size_t off, size_t n);
void model_set_grad_hook(model *m, model_grad_hook fn, void *ctx);
/* The hook's calls of one backward, in the same order, computing nothing: for a rank with no
 * rows in a data-parallel step, whose collectives must follow the other ranks'. */
void model_grad_replay(model *m);

/* ------------------------------------------------------------------------------------
 * Masked-LM head (config mlm == 1), as HF's BertForMaskedLM / DistilBertForMaskedLM /
 * AlbertForMaskedLM compute it, but only at the M masked positions (the (M, E) x (E, V)
 * vocabulary projection is the cost; HF computes it for all B*T positions):
 *     h = final hidden state (M, H) at the positions
 *     t = LN(act(h Wd^T + bd))         (M, E)   act = hidden_act / DistilBERT activation,
 *                                               LN eps = ln_eps, no dropout
 *     mlm_logits = t word_emb^T + bias  (M, V)   decoder tied to the word embeddings
 * A training step:
 *     model_zero_grad(m);
 *     model_forward(m, ids, lens, B, T, MODEL_TRAIN, &rng);
 *     model_mlm_forward(m, pos, M);
 *     ... dmlm (M, V) from the loss on model_mlm_logits(m) (e.g. crossentropy_loss_and_grad
 *         with B = M, K = V: mean over masked tokens) ...
 *     model_mlm_backward(m, dmlm, NULL, NULL);
 *
 * After model_forward (any mode) of the same batch.  pos (M): flat positions b*T + t with
 * 0 <= b < B and t < lens[b] (the masked tokens), any order, repeats allowed.  M >= 0.
 * Returns 0, or -1 (model_error) on a position outside the real tokens, no mlm head, or
 * no forward. */
int model_mlm_forward(model *m, const int32_t *pos, int M);
/* (M, V) logits of the last model_mlm_forward, valid until the next model_forward or
 * model_mlm_forward; NULL if there is none. */
const float *model_mlm_logits(const model *m);
/* Backward of the last model_forward (MODEL_TRAIN or MODEL_EVAL_GRAD) + model_mlm_forward:
 * dmlm (M, V) = d(loss)/d(mlm logits); dlogits (B, K) or NULL (K == 0, or no
 * classification loss); dattn as in model_backward.  Accumulates every parameter gradient:
 * the head's, the tied word_emb's (decoder side added to the embedding side; the decoder
 * side also reaches row pad_token_id, as in PyTorch) and mlm_bias.  Returns 0 or -1. */
int model_mlm_backward(model *m, const float *dmlm, const float *dlogits,
                       const float *const *dattn);
/* Optional, like model_reserve: room for up to M masked positions now. 0 or -1. */
int model_mlm_reserve(model *m, int M);

/* ------------------------------------------------------------------------------------
 * int8 inference (issue 16; lib/model/model_int8.c).  An int8 checkpoint's linear weights
 * come as codes wq (rows, C) and per-row scales (nn/qgemm.h's per-output-channel scheme);
 * the checkpoint code dequantises them into the float parameters (scale * code, so that
 * every other path sees the dequantised model) and hands the codes here.  From then on
 * MODEL_INFER runs those layers with qgemm_forward over weights packed once (qgemm_pack),
 * the input rows quantised dynamically (one quantisation of a layer's input serves Q, K
 * and V, whose weights are one (3H, H) block), and the feed-forward's GELU after an int8
 * GEMM is nn/qact.h's (within 2.4e-7 of the exact one; the float path's is kernels.h's);
 * MODEL_TRAIN / MODEL_EVAL_GRAD keep the float path on the dequantised weights.  A model
 * without int8 weights is unchanged, bit for bit.
 *
 * field: a linear weight of model_params in struct order (5 emb_proj_w, 7 qkv_w,
 * 9 attn_out_w, 13 ffn_in_w, 15 ffn_out_w, 19 pool_w, 21 cls_w); row0: the first row in the
 * field's block (layer set s of qkv_w starts at row 3H s); rows x C codes, rows scales,
 * copied.  scheme: enum qgemm_scheme, the same for every call.  0, or -1 (model_error) for
 * another field, rows outside it, or codes outside the scheme's range. */
int model_int8_set(model *m, int field, size_t row0, size_t rows, const int8_t *wq,
                   const float *wscale, int scheme);
/* 0 if every field given to model_int8_set got all its rows, else -1 (model_error). */
int model_int8_check(model *m);
/* 1 if some weights are int8. */
int model_is_int8(const model *m);

/* Padded-token FLOPs of one forward (the anchors' formula, /work/shared/anchors). */
double model_flops_forward(const model_config *c, int B, int T);

#endif
