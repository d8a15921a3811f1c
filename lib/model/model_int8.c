/* int8 linear layers of a model: codes and scales from an int8 checkpoint, packed once for
 * nn/qgemm, and the dynamic-quantisation forward of one layer (model_int8.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_int8.h"
#include "nn/qgemm.h"
#include "util/util.h"

typedef struct q8_field {
    int8_t *wq;               /* (sets N, K) codes until packed */
    float *ws;                /* (sets N) */
    unsigned char *have;      /* (sets N) rows given */
    size_t nhave;
    size_t sets, N, K;
    uint8_t *packed;          /* sets packed weights, pk_bytes apart */
    size_t pk_bytes;
} q8_field;

struct model_q8 {
    int scheme;               /* -1 until the first q8_set */
    q8_field f[MODEL_NUM_PARAM_TENSORS];
    void *scratch;
    size_t scratch_bytes, maxK;
};

static const char *field_name(int field)
{
    switch (field) {
    case Q8_PROJ: return "emb_proj_w";
    case Q8_QKV: return "qkv_w";
    case Q8_AO: return "attn_out_w";
    case Q8_FI: return "ffn_in_w";
    case Q8_FO: return "ffn_out_w";
    case Q8_POOL: return "pool_w";
    case Q8_CLS: return "cls_w";
    }
    return NULL;
}

/* (sets, N, K) of a linear field of c; 0 if the field cannot be int8 (or is absent). */
static int dims(const model_config *c, int field, size_t *sets, size_t *N, size_t *K)
{
    size_t H = (size_t)c->H, I = (size_t)c->I, E = (size_t)c->E, Lp = (size_t)model_layer_sets(c);
    *sets = Lp;
    switch (field) {
    case Q8_PROJ: *sets = 1, *N = H, *K = E; return c->arch == ARCH_ALBERT;
    case Q8_QKV: *N = 3 * H, *K = H; return 1;
    case Q8_AO: *N = H, *K = H; return 1;
    case Q8_FI: *N = I, *K = H; return 1;
    case Q8_FO: *N = H, *K = I; return 1;
    case Q8_POOL: *sets = 1, *N = H, *K = H; return c->K > 0;
    case Q8_CLS: *sets = 1, *N = (size_t)c->K, *K = H; return c->K > 0;
    }
    return 0;
}

model_q8 *q8_new(void)
{
    model_q8 *q = xcalloc(1, sizeof *q);
    q->scheme = -1;
    return q;
}

void q8_free(model_q8 *q)
{
    if (!q)
        return;
    for (int i = 0; i < MODEL_NUM_PARAM_TENSORS; i++) {
        free(q->f[i].wq);
        free(q->f[i].ws);
        free(q->f[i].have);
        free(q->f[i].packed);
    }
    free(q->scratch);
    free(q);
}

int q8_set(model_q8 *q, const model_config *c, int field, size_t row0, size_t rows, const int8_t *wq,
           const float *wscale, int scheme, char *err, size_t errn)
{
    size_t sets, N, K;
    if (field < 0 || field >= MODEL_NUM_PARAM_TENSORS || !dims(c, field, &sets, &N, &K))
        return errbuf_fail(err, errn, "int8 weights for parameter %d, which is no linear layer of this model", field);
    if (scheme != QGEMM_W7 && scheme != QGEMM_A7)
        return errbuf_fail(err, errn, "int8 scheme %d unknown", scheme);
    if (q->scheme >= 0 && q->scheme != scheme)
        return errbuf_fail(err, errn, "%s: int8 scheme %s, but the model's is %s", field_name(field),
                           qgemm_scheme_name((enum qgemm_scheme)scheme), qgemm_scheme_name((enum qgemm_scheme)q->scheme));
    q8_field *f = &q->f[field];
    if (f->packed || row0 > sets * N || rows > sets * N - row0)
        return errbuf_fail(err, errn, "%s: int8 rows [%zu, %zu) outside its %zu rows", field_name(field), row0,
                           row0 + rows, sets * N);
    int lo = -qgemm_wmax((enum qgemm_scheme)scheme) - 1, hi = qgemm_wmax((enum qgemm_scheme)scheme);
    for (size_t i = 0; i < rows * K; i++)
        if (wq[i] < lo || wq[i] > hi)
            return errbuf_fail(err, errn, "%s: int8 code %d at row %zu outside the %s scheme's [%d, %d]", field_name(field),
                               wq[i], row0 + i / K, qgemm_scheme_name((enum qgemm_scheme)scheme), lo, hi);
    for (size_t i = 0; i < rows; i++)
        if (!(wscale[i] >= 0.0f && wscale[i] < 1e30f))
            return errbuf_fail(err, errn, "%s: scale of row %zu is %g (finite, >= 0 expected)", field_name(field),
                               row0 + i, (double)wscale[i]);
    if (!f->wq) {
        f->sets = sets, f->N = N, f->K = K;
        f->wq = xmalloc(sets * N * K);
        f->ws = xcalloc(sets * N, sizeof *f->ws);
        f->have = xcalloc(sets * N, 1);
    }
    q->scheme = scheme;
    memcpy(f->wq + row0 * K, wq, rows * K);
    memcpy(f->ws + row0, wscale, rows * sizeof *wscale);
    for (size_t i = row0; i < row0 + rows; i++) {
        f->nhave += !f->have[i];
        f->have[i] = 1;
    }
    return 0;
}

int q8_finish(model_q8 *q, const model_config *c, char *err, size_t errn)
{
    (void)c;
    for (int i = 0; i < MODEL_NUM_PARAM_TENSORS; i++) {
        q8_field *f = &q->f[i];
        if (!f->wq)
            continue;
        if (f->nhave != f->sets * f->N)
            return errbuf_fail(err, errn, "%s: int8 weights for %zu of its %zu rows (a layer is partly int8)",
                               field_name(i), f->nhave, f->sets * f->N);
    }
    for (int i = 0; i < MODEL_NUM_PARAM_TENSORS; i++) {
        q8_field *f = &q->f[i];
        if (!f->wq)
            continue;
        f->pk_bytes = (qgemm_packed_bytes(f->N, f->K) + 63) / 64 * 64;
        f->packed = aligned_zalloc(f->sets * f->pk_bytes);
        if (!f->packed)
            return errbuf_fail(err, errn, "cannot allocate packed int8 weights: %s", strerror(ENOMEM));
        for (size_t s = 0; s < f->sets; s++)
            if (qgemm_pack(f->packed + s * f->pk_bytes, f->wq + s * f->N * f->K, f->K, f->ws + s * f->N, f->N, f->K,
                           (enum qgemm_scheme)q->scheme) != 0)
                return errbuf_fail(err, errn, "%s: int8 codes outside the %s scheme", field_name(i),
                                   qgemm_scheme_name((enum qgemm_scheme)q->scheme));
        if (f->K > q->maxK)
            q->maxK = f->K;
        free(f->wq);
        free(f->ws);
        free(f->have);
        f->wq = NULL, f->ws = NULL, f->have = NULL;
    }
    return 0;
}

int q8_has(const model_q8 *q, int field)
{
    return q && field >= 0 && field < MODEL_NUM_PARAM_TENSORS && q->f[field].packed != NULL;
}

int q8_reserve(model_q8 *q, size_t R)
{
    size_t need = qgemm_scratch_bytes(R, q->maxK);
    if (need <= q->scratch_bytes)
        return 0;
    need += need / 4;              /* grow by a quarter at least, as the activations */
    free(q->scratch);
    q->scratch = aligned_zalloc(need);
    q->scratch_bytes = q->scratch ? need : 0;
    return q->scratch ? 0 : -1;
}

void q8_linear(model_q8 *q, int field, size_t s, float *out, const float *inp, const float *bias, size_t R,
               act_fn act)
{
    const q8_field *f = &q->f[field];
    qgemm_forward(out, f->N, inp, f->K, f->packed + s * f->pk_bytes, bias, R, q->scratch, act);
}
