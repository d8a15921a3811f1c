/* Optimisation: AdamW on one flat parameter block (torch.optim.AdamW), the HF linear
 * warm-up/decay schedule, and global-norm gradient clipping (clip_grad_norm_).
 *
 * The parameters, their gradients and the optimiser moments are each one float block of
 * n elements in model.h's tensor order (llm.c style), so one step is one flat loop.
 * Weight decay applies to chosen ranges of the block only; optim_decay_ranges() gives
 * HF Trainer's choice for a model_config.
 *
 * A training step, in the order the HF Trainer runs it:
 *     norm = clip_grad_norm(grads, n, max_norm);          // before the update
 *     lr   = linear_warmup_lr(base_lr, st.step, warmup, total);
 *     adamw_step(&st, params, grads, lr, &cfg, ranges, nranges);
 * (The k-th update, k = st.step before the call = 0, 1, ..., uses the schedule's value at
 * k, as LambdaLR does when scheduler.step() follows optimizer.step(); with warm-up the
 * first update therefore has lr 0, exactly like HF.) */
#ifndef EMO_OPTIM_H
#define EMO_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef struct adamw_cfg {
    double beta1;          /* 0.9 */
    double beta2;          /* 0.999 */
    double eps;            /* 1e-8, added after sqrt of the bias-corrected v */
    double weight_decay;   /* decoupled: p -= lr * wd * p, on decay ranges only */
} adamw_cfg;

#define ADAMW_DEFAULTS { 0.9, 0.999, 1e-8, 0.01 }

/* Elements [off, off + n) of the parameter block. */
typedef struct optim_range {
    size_t off, n;
} optim_range;

/* Optimiser state.  m and v are one allocation each of n floats (64-byte aligned),
 * step counts the updates done.  A checkpoint saves n, step and the two blocks and
 * restores them into an adamw_init'ed state of the same n to resume bit-identically. */
typedef struct adamw_state {
    size_t n;        /* parameters */
    float *m;        /* (n) first moment, exp_avg */
    float *v;        /* (n) second moment, exp_avg_sq */
    uint64_t step;   /* updates done (torch's state["step"]) */
} adamw_state;

/* Zeroed moments, step 0.  Exits (xmalloc rule) if the memory is not there. */
void adamw_init(adamw_state *st, size_t n);
void adamw_free(adamw_state *st);

/* One AdamW update of params (n) with grads (n), as torch.optim.AdamW(amsgrad=False) does
 * it in float32, op for op:
 *     step += 1
 *     p  = p * (1 - lr * wd)                 (elements inside a decay range only)
 *     m  = m * b1 + (1 - b1) * g
 *     v  = v * b2 + (1 - b2) * g * g
 *     p  = p + (-lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)
 * decay: sorted, non-overlapping ranges inside [0, n); elements outside them get no weight
 * decay (HF's second parameter group with weight_decay 0).  Deterministic: elementwise,
 * no reduction.  Returns 0, or -1 (nothing changed) if the ranges are not sorted,
 * overlap or leave the block. */
int adamw_step(adamw_state *st,
               float *params,          /* (n) updated in place */
               const float *grads,     /* (n) */
               double lr, const adamw_cfg *cfg,
               const optim_range *decay, size_t ndecay);

/* HF get_linear_schedule_with_warmup through LambdaLR:
 *     step < warmup:  base_lr * step / max(1, warmup)
 *     otherwise:      base_lr * max(0, (total - step) / max(1, total - warmup)) */
double linear_warmup_lr(double base_lr, uint64_t step, uint64_t warmup, uint64_t total);

/* torch.nn.utils.clip_grad_norm_(norm_type=2) over the whole block: the global L2 norm,
 * accumulated in double in a fixed order (so it is bit-reproducible), and if
 * coef = max_norm / (norm + 1e-6) < 1 every gradient is multiplied by (float)coef.
 * Returns the norm before clipping.  A non-finite norm (NaN/inf gradients) is returned
 * with the gradients untouched: the caller stops training and says so. */
double clip_grad_norm(float *grads, size_t n, double max_norm);

/* HF Trainer's weight-decay split for model.h's parameter block: decay on the weight
 * matrices and embedding tables (word, position, token-type embeddings, ALBERT's
 * embedding projection, qkv, attention output, FFN in/out, pooler / pre-classifier,
 * classifier, the masked-LM head's dense); none on biases (incl. the MLM decoder bias) and on every LayerNorm weight (the Trainer excludes all
 * LayerNorm parameters and every "bias", which also covers DistilBERT's sa_layer_norm and
 * output_layer_norm).  Adjacent tensors are merged and empty ones skipped.  out has room
 * for MODEL_NUM_PARAM_TENSORS ranges; returns how many were written. */
size_t optim_decay_ranges(optim_range *out, const model_config *c);

#endif
