/* Forward/backward kernel pairs for the transformer engine (llm.c style).
 *
 * Conventions:
 *  - Arguments go outputs, inputs, weights, dims.  Backward kernels take d<outputs> of the
 *    forward first, ACCUMULATE (+=) into parameter gradients (dw, db, dtable) and, unless
 *    documented otherwise, also into input gradients, so the caller zeroes them once.
 *  - Activations are "packed": N rows of real tokens (no padding rows), row-major.
 *    Weights are stored (OC, C) row-major as in PyTorch's nn.Linear, so a linear layer is
 *    one cblas_sgemm(RowMajor, NoTrans, Trans) (ggml-blas style) in training; inference
 *    runs the linear layers on weights packed once (nn/gemm.h).
 *  - Every tuned kernel keeps a plain `_ref` twin for the tests (kernels_ref.c); the
 *    tuned ones' exp/erf/tanh are nn/vmath.h's.
 *  - Kernels never allocate; randomness comes from the caller's rng_t (deterministic). */
#ifndef EMO_KERNELS_H
#define EMO_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "util/rng.h"

/* ---- linear: out = inp @ w^T + bias ------------------------------------------------- */
/* out (N, OC), inp (N, C), w (OC, C), bias (OC) or NULL.  out is overwritten. */
void matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                    size_t N, size_t C, size_t OC);
void matmul_forward_ref(float *out, const float *inp, const float *w, const float *bias,
                        size_t N, size_t C, size_t OC);
/* dinp (N, C) += dout @ w (skipped if NULL); dw (OC, C) += dout^T @ inp;
 * dbias (OC) += column sums of dout (skipped if NULL).  dout (N, OC). */
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                     const float *inp, const float *w, size_t N, size_t C, size_t OC);
void matmul_backward_ref(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, size_t N, size_t C, size_t OC);

/* ---- LayerNorm over the last dim (biased variance, as torch) ----------------------- */
/* out, inp (N, C); mean, rstd (N) saved for backward; w, b (C).  out may alias inp. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *w, const float *b, size_t N, size_t C, float eps);
void layernorm_forward_ref(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, size_t N, size_t C, float eps);
/* dinp (N, C) +=, dw, db (C) +=.  inp is the forward input (not the output). */
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, size_t N, size_t C);
void layernorm_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, size_t N, size_t C);

/* ---- elementwise activations (n values; out may alias inp in forward) --------------- */
/* GELU exact: x * 0.5 * (1 + erf(x / sqrt 2))   (HF "gelu", BERT/DistilBERT) */
void gelu_erf_forward(float *out, const float *inp, size_t n);
void gelu_erf_backward(float *dinp, const float *dout, const float *inp, size_t n);
/* The tuned GELUs/tanh use vectorisable exp/erf approximations (erf: Abramowitz-Stegun
 * 7.1.26 as PyTorch's vectorised CPU kernels, |err| < 2e-7); the _ref twins call libm. */
void gelu_erf_forward_ref(float *out, const float *inp, size_t n);
void gelu_erf_backward_ref(float *dinp, const float *dout, const float *inp, size_t n);
/* GELU tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (HF "gelu_new", ALBERT) */
void gelu_tanh_forward(float *out, const float *inp, size_t n);
void gelu_tanh_backward(float *dinp, const float *dout, const float *inp, size_t n);
void gelu_tanh_forward_ref(float *out, const float *inp, size_t n);
void gelu_tanh_backward_ref(float *dinp, const float *dout, const float *inp, size_t n);
void relu_forward(float *out, const float *inp, size_t n);
void relu_backward(float *dinp, const float *dout, const float *inp, size_t n);
/* tanh: backward uses the forward OUTPUT (1 - out^2) */
void tanh_forward(float *out, const float *inp, size_t n);
void tanh_forward_ref(float *out, const float *inp, size_t n);
void tanh_backward(float *dinp, const float *dout, const float *out, size_t n);
/* Dispatch on model_act (0 GELU_ERF, 1 GELU_TANH, 2 RELU; see model/model.h). */
void act_forward(int act, float *out, const float *inp, size_t n);
void act_backward(int act, float *dinp, const float *dout, const float *inp, size_t n);
/* act_forward's elementwise function on the calling thread only (out may be inp), for
 * applying it inside another kernel's job (gemm_packed_act): the same bits. */
typedef void (*act_fn)(float *out, const float *inp, size_t n);
act_fn act_serial(int act);

/* ---- residual: out = a + b ---------------------------------------------------------- */
void residual_forward(float *out, const float *a, const float *b, size_t n);
/* da += dout, db += dout */
void residual_backward(float *da, float *db, const float *dout, size_t n);

/* ---- dropout (inverted, as torch): out = keep ? inp / (1 - p) : 0 ------------------- */
/* mask (n) gets 1 for kept, 0 for dropped; p in [0, 1).  out may alias inp.
 * p == 0 copies and sets every mask byte to 1 without drawing random numbers. */
void dropout_forward(float *out, uint8_t *mask, const float *inp, float p, size_t n, rng_t *rng);
/* dinp = dout * mask / (1 - p)   (OVERWRITES dinp; may alias dout) */
void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, float p, size_t n);

/* ---- embedding lookup --------------------------------------------------------------- */
/* out (N, C) = table[ids] (add = 0) or += table[ids] (add != 0); table (V, C); ids (N). */
void embedding_forward(float *out, const int32_t *ids, const float *table, size_t N, size_t C,
                       int add);
/* dtable[ids[i]] += dout[i], rows in order (deterministic). */
void embedding_backward(float *dtable, const float *dout, const int32_t *ids, size_t N, size_t C);

/* ---- row softmax -------------------------------------------------------------------- */
/* p, x (rows, n) with row stride ld; p may alias x. */
void softmax_forward(float *p, const float *x, size_t rows, size_t n, size_t ld);
void softmax_forward_ref(float *p, const float *x, size_t rows, size_t n, size_t ld);
/* dx = p * (dp - sum(dp * p))   (OVERWRITES dx; may alias dp) */
void softmax_backward(float *dx, const float *dp, const float *p, size_t rows, size_t n, size_t ld);

/* ---- multi-head self-attention over a packed batch --------------------------------- */
/* The batch holds B sequences of lengths lens[b] >= 1; token rows of sequence b start at
 * tok_off[b] (tok_off[B] = N).  Each sequence attends only to its own tokens, which is
 * exactly what HF's additive finfo.min padding mask gives for the real query rows (the
 * masked scores underflow to exp() = 0).  Probabilities are stored packed: sequence b,
 * head h is a (len_b, len_b) row-major block at att_off[b] + h * len_b^2. */
typedef struct attn_batch {
    int B, NH, hd;          /* sequences, heads, head dim (H = NH * hd) */
    const int32_t *lens;    /* (B) */
    const size_t *tok_off;  /* (B + 1) */
    const size_t *att_off;  /* (B + 1), att_off[b+1] - att_off[b] = NH * len_b^2 */
    int ctx_first_only;     /* forward without dropout: ctx of each sequence's first row
                             * only (inference reading only [CLS]); other rows untouched */
} attn_batch;

/* ctx (N, H) = softmax(Q K^T / sqrt(hd)) V per head, from qkv (N, 3H) with rows
 * [q (H) | k (H) | v (H)], head h at columns h*hd.  att (packed) receives the softmax;
 * with p_drop > 0, att_drop (packed, may be NULL when p_drop == 0) receives the
 * dropped-out probabilities actually used for the context (HF's returned attentions).
 * Dropout takes ONE rng_u64 from rng per call; pair p = b * NH + h then draws from its own
 * generator seeded with (that value + p), so (sequence, head) pairs run in parallel and
 * the result does not depend on the thread count. */
void attention_forward(float *ctx, float *att, float *att_drop, const float *qkv,
                       const attn_batch *ab, float p_drop, rng_t *rng);
void attention_forward_ref(float *ctx, float *att, float *att_drop, const float *qkv,
                           const attn_batch *ab, float p_drop, rng_t *rng);
/* Inference when only each sequence's first token ([CLS]) is read from the layer's output:
 * ctx (B, H) = the [CLS] row of attention_forward's ctx, from q (B, H), the [CLS] rows of
 * Q, and the K and V columns of kv (N, 3H) (its Q columns are not read).  Without dropout;
 * the probabilities are not kept (scores: scratch of NH * N floats).  Each
 * row has the bits attention_forward's packed path gives it.  Returns -1 when out of
 * memory. */
int attention_cls_forward(float *ctx, const float *q, const float *kv, float *scores,
                          const attn_batch *ab);
/* dqkv (N, 3H) += gradients; datt is a scratch of the packed size (overwritten).
 * dextra: optional extra gradient w.r.t. the returned (post-dropout) probabilities in the
 * PADDED layout (B, NH, T, T) (only the [0:len, 0:len] block of each is read), or NULL.
 * The dropout mask is recovered as (att_drop != 0): where att == 0 the softmax gradient
 * is 0 anyway, so this is exact. */
void attention_backward(float *dqkv, float *datt, const float *dctx, const float *dextra,
                        size_t T, const float *att, const float *att_drop, const float *qkv,
                        const attn_batch *ab, float p_drop);
void attention_backward_ref(float *dqkv, float *datt, const float *dctx, const float *dextra,
                            size_t T, const float *att, const float *att_drop,
                            const float *qkv, const attn_batch *ab, float p_drop);

#endif
