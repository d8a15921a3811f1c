/* The engine's masked-LM head (model.h, "Masked-LM head"): LN(act(dense(h))) word_emb^T + bias
 * at the M masked rows only, forward and backward, in its own block of buffers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "nn/kernels.h"
#include "util/util.h"

/* Room for M masked rows (grown by at least a quarter, like the activations): the head's
 * buffers, one block laid out by their sizes as the activations are (model_act.c). */
static int ensure_mlm(model *m, int M)
{
    if (M <= m->cap_M && m->mlm_block)
        return 0;
    size_t cap = acts_grow((size_t)M, (size_t)m->cap_M);
    if (cap < 16)
        cap = 16;
    size_t H = (size_t)m->c.H, E = (size_t)m->c.E, V = (size_t)m->c.V;
    float **f[] = { &m->mlm_h, &m->mlm_pre, &m->mlm_act, &m->mlm_t, &m->mlm_mean, &m->mlm_rstd,
                    &m->mlm_logits, &m->mlm_gt, &m->mlm_ga, &m->mlm_gp, &m->mlm_gh };
    size_t s[] = {
        cap * H,   // mlm_h (M, H)
        cap * E,   // mlm_pre (M, E)
        cap * E,   // mlm_act (M, E)
        cap * E,   // mlm_t (M, E)
        cap,       // mlm_mean (M)
        cap,       // mlm_rstd (M)
        cap * V,   // mlm_logits (M, V)
        cap * E,   // mlm_gt (M, E)
        cap * E,   // mlm_ga (M, E)
        cap * E,   // mlm_gp (M, E)
        cap * H,   // mlm_gh (M, H)
    };
    size_t n = sizeof s / sizeof *s, used = 0;
    for (size_t i = 0; i < n; i++)
        used += act_round(s[i]);
    free(m->mlm_block);
    free(m->mlm_rows);
    m->mlm_rows = calloc(cap, sizeof(int32_t));
    m->mlm_block = aligned_zalloc(used * sizeof(float));
    if (!m->mlm_block || !m->mlm_rows) {
        free(m->mlm_block);
        free(m->mlm_rows);
        m->mlm_block = NULL;
        m->mlm_rows = NULL;
        m->cap_M = 0;
        return model_set_err(m, "cannot allocate the masked-LM head for %zu positions: %s", cap,
                             strerror(ENOMEM));
    }
    used = 0;
    for (size_t i = 0; i < n; i++) {
        *f[i] = m->mlm_block + used;
        used += act_round(s[i]);
    }
    m->cap_M = (int)cap;
    return 0;
}

int model_mlm_reserve(model *m, int M)
{
    if (!m->c.mlm)
        return model_set_err(m, "the model has no masked-LM head (config mlm 0)");
    if (M < 0)
        return model_set_err(m, "cannot reserve for %d masked positions", M);
    return ensure_mlm(m, M);
}

int model_mlm_forward(model *m, const int32_t *pos, int M)
{
    const model_config *c = &m->c;
    m->mlm_valid = 0;
    if (!c->mlm)
        return model_set_err(m, "the model has no masked-LM head (config mlm 0)");
    if (!m->valid)
        return model_set_err(m, "model_mlm_forward needs a model_forward of the batch first");
    if (M < 0)
        return model_set_err(m, "%d masked positions", M);
    if (ensure_mlm(m, M) != 0)
        return -1;
    size_t H = (size_t)c->H, E = (size_t)c->E, V = (size_t)c->V, T = (size_t)m->T;
    for (int i = 0; i < M; i++) {
        int32_t q = pos[i];
        size_t b = q >= 0 ? (size_t)q / T : 0, t = q >= 0 ? (size_t)q % T : 0;
        if (q < 0 || b >= (size_t)m->B || t >= (size_t)m->lens[b])
            return model_set_err(m, "masked position %d (index %d): not a real token of the batch (B %d, T %d)",
                           q, i, m->B, m->T);
        m->mlm_rows[i] = (int32_t)(m->tok_off[b] + t);
    }
    // h (M, H) -> pre = h Wd^T + bd (M, E) -> act -> LN -> t word_emb^T + bias (M, V)
    for (int i = 0; i < M; i++)
        memcpy(m->mlm_h + (size_t)i * H, m->hid + (size_t)m->mlm_rows[i] * H, H * sizeof(float));
    const model_params *p = &m->p;
    size_t Mz = (size_t)M;
    if (M > 0) {
        matmul_forward(m->mlm_pre, m->mlm_h, p->mlm_dense_w, p->mlm_dense_b, Mz, H, E);
        act_forward((int)c->act, m->mlm_act, m->mlm_pre, Mz * E);
        layernorm_forward(m->mlm_t, m->mlm_mean, m->mlm_rstd, m->mlm_act, p->mlm_ln_w, p->mlm_ln_b,
                          Mz, E, c->ln_eps);
        matmul_forward(m->mlm_logits, m->mlm_t, p->word_emb, p->mlm_bias, Mz, E, V);
    }
    m->M = M;
    m->mlm_valid = 1;
    return 0;
}

const float *model_mlm_logits(const model *m) { return m->mlm_valid ? m->mlm_logits : NULL; }

/* The head's gradients, the decoder's into the tied word_emb (model_impl.h). */
void mlm_head_backward(model *m, const float *dmlm)
{
    const model_config *c = &m->c;
    const model_params *p = &m->p, *g = &m->g;
    size_t M = (size_t)m->M, H = (size_t)c->H, E = (size_t)c->E, V = (size_t)c->V;
    if (M == 0)
        return;
    memset(m->mlm_gt, 0, M * E * sizeof(float));
    matmul_backward(m->mlm_gt, g->word_emb, g->mlm_bias, dmlm, m->mlm_t, p->word_emb, M, E, V);
    memset(m->mlm_ga, 0, M * E * sizeof(float));
    layernorm_backward(m->mlm_ga, g->mlm_ln_w, g->mlm_ln_b, m->mlm_gt, m->mlm_act, p->mlm_ln_w,
                       m->mlm_mean, m->mlm_rstd, M, E);
    memset(m->mlm_gp, 0, M * E * sizeof(float));
    act_backward((int)c->act, m->mlm_gp, m->mlm_ga, m->mlm_pre, M * E);
    memset(m->mlm_gh, 0, M * H * sizeof(float));
    matmul_backward(m->mlm_gh, g->mlm_dense_w, g->mlm_dense_b, m->mlm_gp, m->mlm_h, p->mlm_dense_w, M, H, E);
    for (size_t i = 0; i < M; i++) {
        float *dst = m->g_out + (size_t)m->mlm_rows[i] * H;
        const float *src = m->mlm_gh + i * H;
        for (size_t j = 0; j < H; j++)
            dst[j] += src[j];
    }
}

int model_mlm_backward(model *m, const float *dmlm, const float *dlogits, const float *const *dattn)
{
    if (!m->c.mlm)
        return model_set_err(m, "the model has no masked-LM head (config mlm 0)");
    if (!m->mlm_valid)
        return model_set_err(m, "model_mlm_backward needs model_mlm_forward after the forward");
    if (!dmlm && m->M > 0)
        return model_set_err(m, "model_mlm_backward needs dmlm (M, V)");
    return model_backward_run(m, dlogits, dmlm, dattn);
}
