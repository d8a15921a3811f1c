/* The transformer engine's contract: model configuration and parameter layout for the
 * three families (BERT, DistilBERT, ALBERT), shared by the engine (lib/model, lib/nn),
 * the checkpoint code (lib/io/ckpt*, safetensors) and the training tools.
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

typedef enum { ARCH_BERT, ARCH_DISTILBERT, ARCH_ALBERT } model_arch;
typedef enum { ACT_GELU_ERF, ACT_GELU_TANH, ACT_RELU } model_act;

#define MODEL_MAX_LABELS 64
#define MODEL_LABEL_MAX 64

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
    int K;          /* num_labels */
    char labels[MODEL_MAX_LABELS][MODEL_LABEL_MAX];   /* id2label, index = class id */
} model_config;

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
} model_params;

#define MODEL_NUM_PARAM_TENSORS 23

/* Fill sizes[MODEL_NUM_PARAM_TENSORS] (in floats, in the field order above); returns the total. */
size_t model_param_sizes(const model_config *c, size_t sizes[MODEL_NUM_PARAM_TENSORS]);
/* Point every field of p into one block of model_param_sizes() floats. */
void model_params_point(model_params *p, const model_config *c, float *block);

#endif
