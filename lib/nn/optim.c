/* AdamW, the linear warm-up schedule and gradient clipping; see optim.h.
 * The update mirrors torch's float32 kernels operation by operation (scalars rounded to
 * float where ATen rounds them) so trajectories track torch.optim.AdamW to a few ulps;
 * C11 mode keeps the compiler from contracting a*b+c into FMAs, so results do not
 * depend on -march.
 *
 * Speed: the update streams 4 arrays in and 3 out (28 bytes per parameter), so it is
 * bound by memory bandwidth once vectorised; it runs 8 lanes wide with AVX2 where the CPU
 * has it (checked at run time), split into contiguous ranges over lib/util/par.h's threads.
 * sqrt and division are correctly rounded in every lane, so each element gets the same
 * bits as the scalar loop, whichever path or thread count runs it. */
#include <math.h>
#include <stdlib.h>

#include "nn/optim.h"
#include "util/par.h"
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

/* Elements [0, n) of one run of equal decay; decay is 1 outside the decay ranges (p * 1
 * is exactly p, so no branch is needed in the loop). */
static void update_run_scalar(const adamw_scalars *k, float decay, float *restrict p,
                              const float *restrict g, float *restrict m, float *restrict v,
                              size_t n)
{
    const float b1 = k->b1, one_b1 = k->one_b1, b2 = k->b2, one_b2 = k->one_b2;
    const float bc2_sqrt = k->bc2_sqrt, eps = k->eps, nss = k->neg_step_size;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float pi = p[i] * decay;
        float mi = m[i] * b1;
        mi = mi + one_b1 * gi;
        float vi = v[i] * b2;
        vi = vi + one_b2 * gi * gi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi + nss * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* The same loop, 8 lanes at a time, op for op (no FMA).  Written with intrinsics because
 * GCC 12 keeps sqrtf's errno branch unless -fno-math-errno is given for the whole
 * compilation (a per-function optimize attribute does not lift it), and that branch
 * blocks the vectoriser. */
__attribute__((target("avx2")))
static void update_run_avx2(const adamw_scalars *k, float decay, float *restrict p,
                            const float *restrict g, float *restrict m, float *restrict v,
                            size_t n)
{
    const __m256 b1 = _mm256_set1_ps(k->b1), one_b1 = _mm256_set1_ps(k->one_b1);
    const __m256 b2 = _mm256_set1_ps(k->b2), one_b2 = _mm256_set1_ps(k->one_b2);
    const __m256 bc2_sqrt = _mm256_set1_ps(k->bc2_sqrt), eps = _mm256_set1_ps(k->eps);
    const __m256 nss = _mm256_set1_ps(k->neg_step_size), dec = _mm256_set1_ps(decay);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), dec);
        __m256 mi = _mm256_mul_ps(_mm256_loadu_ps(m + i), b1);
        mi = _mm256_add_ps(mi, _mm256_mul_ps(one_b1, gi));
        __m256 vi = _mm256_mul_ps(_mm256_loadu_ps(v + i), b2);
        vi = _mm256_add_ps(vi, _mm256_mul_ps(_mm256_mul_ps(one_b2, gi), gi));
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2_sqrt), eps);
        pi = _mm256_add_ps(pi, _mm256_div_ps(_mm256_mul_ps(nss, mi), denom));
        _mm256_storeu_ps(p + i, pi);
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
    }
    update_run_scalar(k, decay, p + i, g + i, m + i, v + i, n - i);
}

static int have_avx2(void) { return __builtin_cpu_supports("avx2"); }
#else
static int have_avx2(void) { return 0; }
#define update_run_avx2 update_run_scalar
#endif

/* The block as runs [start[r], start[r + 1]) of decay factor decay[r]. */
#define MAX_RUNS (2 * MODEL_NUM_PARAM_TENSORS + 2)
typedef struct adamw_job {
    adamw_scalars k;
    int avx2;
    float *p, *m, *v;
    const float *g;
    size_t nruns;
    size_t start[MAX_RUNS + 1];
    float decay[MAX_RUNS];
} adamw_job;

static void adamw_range(void *ctx, size_t lo, size_t hi)
{
    adamw_job *j = ctx;
    for (size_t r = 0; r < j->nruns; r++) {
        size_t a = j->start[r] > lo ? j->start[r] : lo;
        size_t b = j->start[r + 1] < hi ? j->start[r + 1] : hi;
        if (a < b)
            (j->avx2 ? update_run_avx2 : update_run_scalar)(&j->k, j->decay[r], j->p + a,
                                                            j->g + a, j->m + a, j->v + a, b - a);
    }
}

static void add_run(adamw_job *j, size_t lo, size_t hi, float decay)
{
    if (hi <= lo)
        return;
    if (j->nruns && j->decay[j->nruns - 1] == decay) {   // merge neighbours
        j->start[j->nruns] = hi;
        return;
    }
    j->start[j->nruns] = lo;
    j->decay[j->nruns] = decay;
    j->start[++j->nruns] = hi;
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
    adamw_job j = {
        .k = {
            .decay = (float)(1.0 - lr * cfg->weight_decay),
            .b1 = (float)cfg->beta1,
            .one_b1 = (float)(1.0 - cfg->beta1),
            .b2 = (float)cfg->beta2,
            .one_b2 = (float)(1.0 - cfg->beta2),
            .bc2_sqrt = (float)sqrt(bias_correction2),
            .eps = (float)cfg->eps,
            .neg_step_size = (float)(-(lr / bias_correction1)),
        },
        .avx2 = have_avx2(),
        .p = params, .g = grads, .m = st->m, .v = st->v,
    };
    // runs of equal decay; callers with more ranges than a model has are done in batches
    pos = 0;
    size_t r = 0;
    do {
        j.nruns = 0;
        size_t first = pos;
        for (; r < ndecay && j.nruns + 2 < MAX_RUNS; r++) {
            add_run(&j, pos, decay[r].off, 1.0f);
            add_run(&j, decay[r].off, decay[r].off + decay[r].n, j.k.decay);
            pos = decay[r].off + decay[r].n;
        }
        if (r == ndecay) {
            add_run(&j, pos, st->n, 1.0f);
            pos = st->n;
        }
        if (j.nruns == 0)
            continue;
        // shift so the job covers [0, pos - first)
        for (size_t q = 0; q <= j.nruns; q++)
            j.start[q] -= first;
        adamw_job sub = j;
        sub.p += first, sub.g += first, sub.m += first, sub.v += first;
        par_for(pos - first, 1 << 15, adamw_range, &sub);
    } while (r < ndecay);   // the last batch ends at st->n
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

/* sum of g^2 as four interleaved double partial sums (lane l takes i = l mod 4), combined
 * in a fixed order: reproducible, and short dependency chains */
static double sumsq_scalar(const float *g, size_t n)
{
    double acc[4] = { 0, 0, 0, 0 };
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++)
            acc[l] += (double)g[i + l] * g[i + l];
    for (; i < n; i++)
        acc[0] += (double)g[i] * g[i];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

#if defined(__GNUC__) && defined(__x86_64__)
/* the same four partial sums as the four lanes of one vector (same bits) */
__attribute__((target("avx2")))
static double sumsq_avx2(const float *g, size_t n)
{
    __m256d acc = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(g + i));
        acc = _mm256_add_pd(acc, _mm256_mul_pd(x, x));
    }
    double a[4];
    _mm256_storeu_pd(a, acc);
    for (; i < n; i++)
        a[0] += (double)g[i] * g[i];
    return (a[0] + a[1]) + (a[2] + a[3]);
}
#else
#define sumsq_avx2 sumsq_scalar
#endif

typedef struct scale_job { float *g; float c; } scale_job;

static void scale_range(void *ctx, size_t lo, size_t hi)
{
    scale_job *j = ctx;
    float *restrict g = j->g;
    const float c = j->c;
    for (size_t i = lo; i < hi; i++)
        g[i] *= c;
}

double clip_grad_norm(float *grads, size_t n, double max_norm)
{
    double norm = sqrt(have_avx2() ? sumsq_avx2(grads, n) : sumsq_scalar(grads, n));
    if (!isfinite(norm))
        return norm;
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        scale_job j = { grads, (float)coef };
        par_for(n, 1 << 15, scale_range, &j);
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
