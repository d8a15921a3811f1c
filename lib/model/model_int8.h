/* The engine's int8 linear layers (model.h, "int8 inference"): private to lib/model.
 * The engine keeps one model_q8 per model with int8 weights (model_impl.h) and
 * model_infer.c calls q8_linear for those layers in MODEL_INFER; everything about codes,
 * scales, packing and scratch is here. */
#ifndef EMO_MODEL_INT8_H
#define EMO_MODEL_INT8_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "nn/kernels.h"

/* The linear weights that may be int8, as model_params field numbers (struct order). */
enum { Q8_PROJ = 5, Q8_QKV = 7, Q8_AO = 9, Q8_FI = 13, Q8_FO = 15, Q8_POOL = 19, Q8_CLS = 21 };

typedef struct model_q8 model_q8;

model_q8 *q8_new(void);
void q8_free(model_q8 *q);
/* model_int8_set's work; 0 or -1 with a message in err. */
int q8_set(model_q8 *q, const model_config *c, int field, size_t row0, size_t rows, const int8_t *wq,
           const float *wscale, int scheme, char *err, size_t errn);
/* Every field begun is complete: then packs them (qgemm_pack) and frees the codes.  0 or -1. */
int q8_finish(model_q8 *q, const model_config *c, char *err, size_t errn);
/* 1 if field runs in int8 (finished). */
int q8_has(const model_q8 *q, int field);
/* Scratch for the input quantisation of up to R rows of any int8 layer: 0 or -1 (ENOMEM). */
int q8_reserve(model_q8 *q, size_t R);
/* out (R, N) = act(inp (R, K) W^T + bias) with layer set s's packed weight of field (N, K)
 * (rows contiguous; act NULL for none); q8_reserve(R) first. */
void q8_linear(model_q8 *q, int field, size_t s, float *out, const float *inp, const float *bias,
               size_t R, act_fn act);

#endif
