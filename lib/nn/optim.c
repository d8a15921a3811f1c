/* AdamW, the linear warm-up schedule and gradient clipping; see optim.h.
 * The update mirrors torch's float32 kernels operation by operation (scalars rounded to
 * float where ATen rounds them) so trajectories track torch.optim.AdamW to a few ulps;
 * C11 mode keeps the compiler from contracting a*b+c into FMAs, so results do not
 * depend on -march. */
#include <math.h>
#include <stdlib.h>

#include "nn/optim.h"
#include "util/util.h"

void adamw_init(adamw_state *st, size_t n)
{
    st->n = n;
    st->m = xaligned_alloc(n * sizeof(float));
    st->v = xaligned_alloc(n * sizeof(float));
    st->step = 0;
}

void adamw_free(adamw_state *st)
{
    free(st->m);
    free(st->v);
    st->m = st->v = NULL;
    st->n = 0;
    st->step = 0;
}

/* Scalars of one update, rounded to float as ATen rounds a Python scalar operand. */
typedef struct {
    float decay;          /* 1 - lr * wd */
    float b1, one_b1;     /* beta1, 1 - beta1 */
    float b2, one_b2;
    float bc2_sqrt;       /* sqrt(1 - beta2^step) */
    float eps;
    float neg_step_size;  /* -lr / (1 - beta1^step) */
} adamw_scalars;

static void update_range(const adamw_scalars *k, float *p, const float *g, float *m, float *v,
                         size_t lo, size_t hi, int decay)
{
    for (size_t i = lo; i < hi; i++) {
        float pi = p[i];
        if (decay)
            pi = pi * k->decay;
        float mi = m[i] * k->b1;
        mi = mi + k->one_b1 * g[i];
        float vi = v[i] * k->b2;
        vi = vi + k->one_b2 * g[i] * g[i];
        float denom = sqrtf(vi) / k->bc2_sqrt + k->eps;
        p[i] = pi + k->neg_step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

int adamw_step(adamw_state *st, float *params, const float *grads, double lr,
               const adamw_cfg *cfg, const optim_range *decay, size_t ndecay)
{
    size_t pos = 0;
    for (size_t r = 0; r < ndecay; r++) {
        if (decay[r].off < pos || decay[r].n > st->n || decay[r].off > st->n - decay[r].n)
            return -1;
        pos = decay[r].off + decay[r].n;
    }
    st->step++;
    double step = (double)st->step;
    /* as torch computes them in Python doubles */
    double bias_correction1 = 1.0 - pow(cfg->beta1, step);
    double bias_correction2 = 1.0 - pow(cfg->beta2, step);
    adamw_scalars k = {
        .decay = (float)(1.0 - lr * cfg->weight_decay),
        .b1 = (float)cfg->beta1,
        .one_b1 = (float)(1.0 - cfg->beta1),
        .b2 = (float)cfg->beta2,
        .one_b2 = (float)(1.0 - cfg->beta2),
        .bc2_sqrt = (float)sqrt(bias_correction2),
        .eps = (float)cfg->eps,
        .neg_step_size = (float)(-(lr / bias_correction1)),
    };
    pos = 0;
    for (size_t r = 0; r < ndecay; r++) {
        update_range(&k, params, grads, st->m, st->v, pos, decay[r].off, 0);
        update_range(&k, params, grads, st->m, st->v, decay[r].off, decay[r].off + decay[r].n, 1);
        pos = decay[r].off + decay[r].n;
    }
    update_range(&k, params, grads, st->m, st->v, pos, st->n, 0);
    return 0;
}

double linear_warmup_lr(double base_lr, uint64_t step, uint64_t warmup, uint64_t total)
{
    if (step < warmup)
        return base_lr * ((double)step / (double)(warmup > 1 ? warmup : 1));
    double left = total > step ? (double)(total - step) : 0.0;   /* max(0, ...) */
    double span = total > warmup ? (double)(total - warmup) : 1.0;       /* max(1, ...) */
    return base_lr * (left / span);
}

double clip_grad_norm(float *grads, size_t n, double max_norm)
{
    /* four interleaved partial sums, combined in a fixed order: reproducible, and short
     * dependency chains for speed */
    double acc[4] = { 0, 0, 0, 0 };
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++)
            acc[l] += (double)grads[i + l] * grads[i + l];
    for (; i < n; i++)
        acc[0] += (double)grads[i] * grads[i];
    double norm = sqrt((acc[0] + acc[1]) + (acc[2] + acc[3]));
    if (!isfinite(norm))
        return norm;
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
        for (i = 0; i < n; i++)
            grads[i] *= c;
    }
    return norm;
}

size_t optim_decay_ranges(optim_range *out, const model_config *c)
{
    /* model.h field order; 1 = weight matrix / embedding table (decayed) */
    static const unsigned char decayed[MODEL_NUM_PARAM_TENSORS] = {
        1, 1, 1,    /* word_emb, pos_emb, type_emb */
        0, 0,       /* emb_ln_w, emb_ln_b */
        1, 0,       /* emb_proj_w, emb_proj_b */
        1, 0,       /* qkv_w, qkv_b */
        1, 0,       /* attn_out_w, attn_out_b */
        0, 0,       /* ln1_w, ln1_b */
        1, 0,       /* ffn_in_w, ffn_in_b */
        1, 0,       /* ffn_out_w, ffn_out_b */
        0, 0,       /* ln2_w, ln2_b */
        1, 0,       /* pool_w, pool_b */
        1, 0,       /* cls_w, cls_b */
        1, 0,       /* mlm_dense_w, mlm_dense_b */
        0, 0, 0,    /* mlm_ln_w, mlm_ln_b, mlm_bias (the decoder weight is word_emb) */
    };
    size_t sizes[MODEL_NUM_PARAM_TENSORS];
    model_param_sizes(c, sizes);
    size_t nr = 0, off = 0;
    for (int t = 0; t < MODEL_NUM_PARAM_TENSORS; t++) {
        if (decayed[t] && sizes[t]) {
            if (nr && out[nr - 1].off + out[nr - 1].n == off)
                out[nr - 1].n += sizes[t];
            else
                out[nr++] = (optim_range){ off, sizes[t] };
        }
        off += sizes[t];
    }
    return nr;
}
