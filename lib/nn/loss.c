/* Training losses and their gradients; see loss.h for the exact formulas and conventions.
 * Each row is brought to log-probabilities in double (max-shifted log-sum-exp), so the
 * losses stay finite for logits far apart, and 1 - p is taken as -expm1(log p) so focal
 * weights keep their precision when p is close to 1. */
#include <math.h>
#include <stdlib.h>

#include "nn/loss.h"
#include "util/util.h"

/* logp[k] = log softmax(z / temperature)[k] in double. */
static void log_softmax_row(double *logp, const float *z, size_t K, double temperature)
{
    double mx = -INFINITY;
    for (size_t k = 0; k < K; k++) {
        logp[k] = (double)z[k] / temperature;
        if (logp[k] > mx)
            mx = logp[k];
    }
    double sum = 0;
    for (size_t k = 0; k < K; k++)
        sum += exp(logp[k] - mx);
    double lse = mx + log(sum);
    for (size_t k = 0; k < K; k++)
        logp[k] -= lse;
}

static size_t count_labelled(const int32_t *labels, size_t B, size_t K)
{
    size_t n = 0;
    for (size_t b = 0; b < B; b++)
        n += labels[b] >= 0 && (size_t)labels[b] < K;
    return n;
}

/* Smoothed target of class k for a row labelled y. */
static inline double smoothed_target(size_t k, int32_t y, size_t K, double eps)
{
    return (k == (size_t)y ? 1.0 - eps : 0.0) + eps / (double)K;
}

double crossentropy_loss_and_grad(float *dlogits, float dloss, const float *logits,
                                  const int32_t *labels, size_t B, size_t K, double eps)
{
    size_t n = count_labelled(labels, B, K);
    if (n == 0 || K == 0)
        return 0.0;
    double *logp = xmalloc(K * sizeof *logp);
    double total = 0;
    double gscale = (double)dloss / (double)n;
    for (size_t b = 0; b < B; b++) {
        int32_t y = labels[b];
        if (y < 0 || (size_t)y >= K)
            continue;
        log_softmax_row(logp, logits + b * K, K, 1.0);
        for (size_t k = 0; k < K; k++) {
            double yt = smoothed_target(k, y, K, eps);
            total -= yt * logp[k];
            if (dlogits)
                dlogits[b * K + k] += (float)(gscale * (exp(logp[k]) - yt));
        }
    }
    free(logp);
    return total / (double)n;
}

double focal_loss_and_grad(float *dlogits, float dloss, const float *logits,
                           const int32_t *labels, size_t B, size_t K, double alpha,
                           double gamma, double eps)
{
    size_t n = count_labelled(labels, B, K);
    if (n == 0 || K == 0)
        return 0.0;
    double *logp = xmalloc(2 * K * sizeof *logp);
    double *g = logp + K;   /* (K) d f_k / d log-space factor, see below */
    double total = 0;
    double gscale = (double)dloss / (double)n;
    for (size_t b = 0; b < B; b++) {
        int32_t y = labels[b];
        if (y < 0 || (size_t)y >= K)
            continue;
        log_softmax_row(logp, logits + b * K, K, 1.0);
        /* f_k = alpha (1-p_k)^gamma log p_k and row loss = -sum_k yt_k f_k.
         * d f_k / d z_j = g_k (delta_kj - p_j) with
         * g_k = alpha [(1-p_k)^gamma - gamma p_k (1-p_k)^(gamma-1) log p_k],
         * so d loss / d z_j = -yt_j g_j + p_j sum_k yt_k g_k. */
        double s = 0;
        for (size_t k = 0; k < K; k++) {
            double yt = smoothed_target(k, y, K, eps);
            double p = exp(logp[k]);
            double q = -expm1(logp[k]);          /* 1 - p, precise near p = 1 */
            double w = pow(q, gamma);            /* pow(0, 0) = 1: gamma 0 is plain CE */
            total -= yt * alpha * w * logp[k];
            /* p (1-p)^(gamma-1) log p -> 0 as p -> 1, even for gamma < 1 */
            double dw = (gamma == 0 || q <= 0) ? 0.0 : gamma * p * pow(q, gamma - 1) * logp[k];
            g[k] = alpha * (w - dw);
            s += yt * g[k];
        }
        if (dlogits)
            for (size_t k = 0; k < K; k++) {
                double yt = smoothed_target(k, y, K, eps);
                dlogits[b * K + k] += (float)(gscale * (-yt * g[k] + exp(logp[k]) * s));
            }
    }
    free(logp);
    return total / (double)n;
}

double kldiv_distill_loss_and_grad(float *dstudent, float dloss, const float *student_logits,
                                   const float *teacher_logits, size_t B, size_t K,
                                   double temperature)
{
    if (B == 0 || K == 0)
        return 0.0;
    double *ls = xmalloc(2 * K * sizeof *ls);
    double *lt = ls + K;
    double total = 0;
    double T = temperature;
    /* d(T^2 KL / B)/d zs_k = T^2/B * (1/T) * (ps_k - pt_k) */
    double gscale = (double)dloss * T / (double)B;
    for (size_t b = 0; b < B; b++) {
        log_softmax_row(ls, student_logits + b * K, K, T);
        log_softmax_row(lt, teacher_logits + b * K, K, T);
        for (size_t k = 0; k < K; k++) {
            double pt = exp(lt[k]);
            if (pt > 0)                          /* xlogy: 0 log 0 = 0 */
                total += pt * (lt[k] - ls[k]);
            if (dstudent)
                dstudent[b * K + k] += (float)(gscale * (exp(ls[k]) - pt));
        }
    }
    free(ls);
    return T * T * total / (double)B;
}

distill_loss_terms distill_loss_and_grad(float *dstudent, float dloss,
                                         const float *student_logits,
                                         const float *teacher_logits, const int32_t *labels,
                                         size_t B, size_t K, const distill_loss_cfg *cfg)
{
    distill_loss_terms t;
    double a = cfg->alpha;
    t.kd = kldiv_distill_loss_and_grad(dstudent, (float)(dloss * a), student_logits,
                                       teacher_logits, B, K, cfg->temperature);
    t.focal = focal_loss_and_grad(dstudent, (float)(dloss * (1.0 - a)), student_logits, labels,
                                  B, K, cfg->focal_alpha, cfg->gamma, cfg->smoothing);
    t.total = a * t.kd + (1.0 - a) * t.focal;
    return t;
}

/* ---- attention alignment --------------------------------------------------- */

/* Index of element (h, i, j) of example b in a map of NH heads stored in layout lay;
 * packed_before = sum over earlier examples of len^2. */
static inline size_t map_index(attn_layout lay, size_t NH, size_t T, size_t b, size_t len,
                               size_t packed_before, size_t h, size_t i, size_t j)
{
    if (lay == ATTN_PADDED)
        return ((b * NH + h) * T + i) * T + j;
    return NH * packed_before + (h * len + i) * len + j;
}

/* One alignment loop for every case.  Equal head counts: head h of the student against
 * head h of the teacher (G = NH groups).  Different counts: one group, whose maps are the
 * head means of each side, taken in double on the fly; the gradient of the mean is spread
 * as 1/NHs over the student's heads (attn_head_mean_backward's rule). */
double attn_align_general_loss_and_grad(float *dstudent, attn_layout dlayout, float dloss,
                                        const float *student, attn_layout slayout, size_t NHs,
                                        const float *teacher, attn_layout tlayout, size_t NHt,
                                        const int32_t *lens, size_t B, size_t T,
                                        attn_align_kind kind)
{
    int same = NHs == NHt;
    size_t G = same ? NHs : 1;
    /* normaliser: valid query rows (of records with at least 2 tokens for KL: a 1-token row
     * is 1 on both sides), times head groups */
    double count = 0;
    for (size_t b = 0; b < B; b++) {
        size_t len = lens[b] < 0 ? 0 : (size_t)lens[b] > T ? T : (size_t)lens[b];
        count += kind == ATTN_ALIGN_KL && len < 2 ? 0 : (double)len;
    }
    count *= (double)G;
    if (count == 0 || NHs == 0 || NHt == 0)
        return 0.0;
    double gscale = (double)dloss / count;
    double total = 0;
    size_t before = 0;   /* sum of len^2 over the examples already done (packed offsets) */
    for (size_t b = 0; b < B; b++) {
        size_t len = lens[b] < 0 ? 0 : (size_t)lens[b] > T ? T : (size_t)lens[b];
        /* KL rows in units of log(len), the KL of any row from the uniform one at most */
        double wrow = kind == ATTN_ALIGN_KL ? (len < 2 ? 0.0 : 1.0 / log((double)len)) : 1.0;
        for (size_t g = 0; g < G && wrow > 0; g++)
            for (size_t i = 0; i < len; i++)
                for (size_t j = 0; j < len; j++) {
                    double sv = 0, tv = 0;
                    if (same) {
                        sv = student[map_index(slayout, NHs, T, b, len, before, g, i, j)];
                        tv = teacher[map_index(tlayout, NHt, T, b, len, before, g, i, j)];
                    } else {
                        for (size_t h = 0; h < NHs; h++)
                            sv += student[map_index(slayout, NHs, T, b, len, before, h, i, j)];
                        for (size_t h = 0; h < NHt; h++)
                            tv += teacher[map_index(tlayout, NHt, T, b, len, before, h, i, j)];
                        sv /= (double)NHs;
                        tv /= (double)NHt;
                    }
                    double d = 0;     /* d loss / d sv, before the mean's 1/count */
                    if (kind == ATTN_ALIGN_MSE) {
                        total += (sv - tv) * (sv - tv);
                        d = 2.0 * (sv - tv);
                    } else if (tv > 0) {
                        /* floored: constant below the floor, so no gradient there */
                        double sc = sv < ATTN_KL_FLOOR ? ATTN_KL_FLOOR : sv;
                        total += wrow * tv * (log(tv) - log(sc));
                        d = sv < ATTN_KL_FLOOR ? 0.0 : -wrow * tv / sv;
                    }
                    if (!dstudent || d == 0)
                        continue;
                    if (same)
                        dstudent[map_index(dlayout, NHs, T, b, len, before, g, i, j)] += (float)(gscale * d);
                    else
                        for (size_t h = 0; h < NHs; h++)
                            dstudent[map_index(dlayout, NHs, T, b, len, before, h, i, j)] +=
                                (float)(gscale * d / (double)NHs);
                }
        before += len * len;
    }
    return total / count;
}

double attn_align_loss_and_grad(float *dstudent, float dloss, const float *student,
                                const float *teacher, const int32_t *lens, size_t B,
                                size_t NH, size_t T, attn_align_kind kind)
{
    return attn_align_general_loss_and_grad(dstudent, ATTN_PADDED, dloss, student, ATTN_PADDED,
                                            NH, teacher, ATTN_PADDED, NH, lens, B, T, kind);
}

double attn_align_heads_loss_and_grad(float *dstudent, float dloss, const float *student,
                                      size_t NHs, const float *teacher, size_t NHt,
                                      const int32_t *lens, size_t B, size_t T,
                                      attn_align_kind kind)
{
    return attn_align_general_loss_and_grad(dstudent, ATTN_PADDED, dloss, student, ATTN_PADDED,
                                            NHs, teacher, ATTN_PADDED, NHt, lens, B, T, kind);
}

void attn_head_mean_forward(float *out, const float *att, size_t B, size_t NH, size_t T)
{
    size_t TT = T * T;
    for (size_t b = 0; b < B; b++)
        for (size_t e = 0; e < TT; e++) {
            double s = 0;
            for (size_t h = 0; h < NH; h++)
                s += att[(b * NH + h) * TT + e];
            out[b * TT + e] = (float)(s / (double)NH);
        }
}

void attn_head_mean_backward(float *datt, const float *dout, size_t B, size_t NH, size_t T)
{
    size_t TT = T * T;
    float inv = 1.0f / (float)NH;
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < NH; h++)
            for (size_t e = 0; e < TT; e++)
                datt[(b * NH + h) * TT + e] += dout[b * TT + e] * inv;
}
