/* Training losses with their gradients: cross-entropy, focal, temperature-scaled KL
 * distillation, the combined distillation loss, and teacher/student attention alignment.
 *
 * Letters as in model.h: B batch, K classes, NH heads, T padded sequence length.
 *
 * Conventions shared by every function here:
 *  - Inputs are float32; every sum is accumulated in double and the loss is returned as a
 *    double (a mean, as stated per function).
 *  - Gradients ACCUMULATE, llm.c style: `dx[i] += dloss * d(loss)/d(x[i])`.  `dloss` is the
 *    upstream gradient of the objective with respect to this loss (1 for a plain loss, or
 *    the weight the loss carries in a sum).  Pass dx == NULL for the value only.  The
 *    caller zeroes the gradient buffer once per step (as gpt2_zero_grad does), which lets
 *    several losses (e.g. attention alignment of several layers) add into one buffer.
 *  - labels are class ids in [0, K); a NEGATIVE label means "no label" (torch's
 *    ignore_index): the row contributes nothing to the label losses and the mean is taken
 *    over the labelled rows only (0 and no gradient if there are none).  This is how
 *    unlabelled tweets take part in distillation through the KL term alone.
 *  - lens[b] is the number of valid (non-padding) tokens of example b, 0 <= lens[b] <= T.
 *
 * Label smoothing (HF Trainer / torch.nn.CrossEntropyLoss(label_smoothing=eps)): the
 * target of a row with label y is ytilde_k = (1 - eps) * [k == y] + eps / K. */
#ifndef EMO_LOSS_H
#define EMO_LOSS_H

#include <stddef.h>
#include <stdint.h>

/* ---- cross-entropy ---------------------------------------------------------
 * CE = mean over labelled rows of  -sum_k ytilde_k * log softmax(z)_k
 * (exactly torch.nn.functional.cross_entropy(z, y, label_smoothing=eps,
 * ignore_index=<negative>)).  d/dz_k = (softmax(z)_k - ytilde_k) / n_labelled. */
double crossentropy_loss_and_grad(float *dlogits,        /* (B, K) +=, or NULL */
                                  float dloss,
                                  const float *logits,   /* (B, K) */
                                  const int32_t *labels, /* (B) */
                                  size_t B, size_t K, double eps);

/* ---- focal loss ------------------------------------------------------------
 * With p = softmax(z) and ytilde as above:
 *     FL_row = -sum_k ytilde_k * alpha * (1 - p_k)^gamma * log p_k
 * mean over labelled rows.  With eps = 0 this is the usual alpha * (1 - p_y)^gamma *
 * (-log p_y) (Lin et al.); gamma = 0 gives alpha * cross-entropy.  In the multi-class case
 * the scalar alpha only rescales the loss.  This smoothed form is the convention
 * emo-student-distill(1) and emo-teacher-train(1) document.  gamma >= 0. */
double focal_loss_and_grad(float *dlogits,        /* (B, K) +=, or NULL */
                           float dloss,
                           const float *logits,   /* (B, K) */
                           const int32_t *labels, /* (B) */
                           size_t B, size_t K, double alpha, double gamma, double eps);

/* ---- distillation KL -------------------------------------------------------
 * KD = T^2 * (1/B) * sum_b KL(softmax(zt_b / T) || softmax(zs_b / T))
 * i.e. T^2 * F.kl_div(F.log_softmax(zs/T), F.softmax(zt/T), reduction="batchmean").
 * The T^2 keeps the gradient's scale independent of T (Hinton et al.):
 * d/dzs_k = T/B * (softmax(zs/T)_k - softmax(zt/T)_k).  Every row counts (labels are not
 * used).  Gradient only with respect to the student; the teacher is a constant. */
double kldiv_distill_loss_and_grad(float *dstudent,              /* (B, K) +=, or NULL */
                                   float dloss,
                                   const float *student_logits,  /* (B, K) */
                                   const float *teacher_logits,  /* (B, K) */
                                   size_t B, size_t K, double temperature);

/* ---- combined distillation loss (the paper's objective) ----------------------
 *     total = alpha * KD + (1 - alpha) * FL
 * KD as kldiv_distill_loss_and_grad with temperature T, FL as focal_loss_and_grad with
 * (focal_alpha, gamma, smoothing) on the hard labels.  Paper defaults:
 * T 1.5, alpha 0.8, eps 0.1, gamma 2, focal alpha 0.25. */
typedef struct distill_loss_cfg {
    double temperature;   /* T */
    double alpha;         /* weight of the KD term, 1 - alpha on the focal term */
    double smoothing;     /* label smoothing eps of the focal term */
    double gamma;         /* focal gamma */
    double focal_alpha;   /* focal alpha */
} distill_loss_cfg;

#define DISTILL_LOSS_DEFAULTS { 1.5, 0.8, 0.1, 2.0, 0.25 }

typedef struct distill_loss_terms {
    double total;   /* alpha * kd + (1 - alpha) * focal: the value the gradient belongs to */
    double kd;      /* T^2 * KL, batchmean, unweighted */
    double focal;   /* focal loss on smoothed labels, mean over labelled rows, unweighted */
} distill_loss_terms;

distill_loss_terms distill_loss_and_grad(float *dstudent,             /* (B, K) +=, or NULL */
                                         float dloss,
                                         const float *student_logits, /* (B, K) */
                                         const float *teacher_logits, /* (B, K) */
                                         const int32_t *labels,       /* (B), negative = none */
                                         size_t B, size_t K, const distill_loss_cfg *cfg);

/* ---- attention-map alignment ---------------------------------------------------
 * Student and teacher attention PROBABILITIES (post-softmax, as HF output_attentions gives
 * them), both (B, NH, T, T) indexed [b][h][i = query][j = key], from the same tokenisation
 * and padding.  Only query rows i < lens[b] and key columns j < lens[b] count: padded rows
 * and columns contribute nothing and receive zero gradient.
 *
 * Both are means over heads and valid query rows of a per-row distance whose range does not
 * grow with the sequence length (so neither does the loss; distill_task also averages over
 * layer pairs):
 * ATTN_ALIGN_MSE: sum over b, h, i < len_b, j < len_b of (s - t)^2, divided by
 *                 NH * sum_b len_b: the mean over rows of the row's squared distance, in
 *                 [0, 2] for probability rows.
 * ATTN_ALIGN_KL:  sum over b, h, i < len_b of KL(t[b,h,i,:len_b] || s[b,h,i,:len_b]) /
 *                 log(len_b), divided by NH * sum_b len_b over records with len_b >= 2 (a
 *                 1-token row is 1 on both sides: left out).  MiniLM's per-row mean with each
 *                 row in units of log(len_b), the KL of any row from the uniform row at most:
 *                 a uniform student scores 1 - H(t_row)/log(len_b) in [0, 1], whatever the
 *                 length (the raw KL grew as log(len): about 2.6 for a 1-layer student on
 *                 tweets, against 0.07-0.1 for the other terms).
 *                 Terms with t = 0 are 0; s is floored at ATTN_KL_FLOOR inside the log so a
 *                 probability that underflowed to 0 gives a large finite loss, not inf.
 * Returns 0 (no gradient) when the batch has no row that counts. */
typedef enum { ATTN_ALIGN_MSE, ATTN_ALIGN_KL } attn_align_kind;

#define ATTN_KL_FLOOR 1e-12

double attn_align_loss_and_grad(float *dstudent,         /* (B, NH, T, T) +=, or NULL */
                                float dloss,
                                const float *student,    /* (B, NH, T, T) probabilities */
                                const float *teacher,    /* (B, NH, T, T) probabilities */
                                const int32_t *lens,     /* (B) */
                                size_t B, size_t NH, size_t T, attn_align_kind kind);

/* Mean over heads: out[b,i,j] = (1/NH) sum_h att[b,h,i,j]. */
void attn_head_mean_forward(float *out,        /* (B, T, T) */
                            const float *att,  /* (B, NH, T, T) */
                            size_t B, size_t NH, size_t T);
/* datt[b,h,i,j] += dout[b,i,j] / NH. */
void attn_head_mean_backward(float *datt,       /* (B, NH, T, T) += */
                             const float *dout, /* (B, T, T) */
                             size_t B, size_t NH, size_t T);

/* Alignment when the head counts may differ.  NHs == NHt: exactly
 * attn_align_loss_and_grad.  NHs != NHt: both maps are averaged over their heads (the
 * attn_head_mean_forward map, but taken in double inside the loss) and the averaged
 * (B, 1, T, T) maps are aligned, so the mean is over valid entries/rows only, without a
 * head factor; every student head receives 1/NHs of the averaged map's gradient (the
 * attn_head_mean_backward rule). */
double attn_align_heads_loss_and_grad(float *dstudent,        /* (B, NHs, T, T) +=, or NULL */
                                      float dloss,
                                      const float *student,   /* (B, NHs, T, T) */
                                      size_t NHs,
                                      const float *teacher,   /* (B, NHt, T, T) */
                                      size_t NHt,
                                      const int32_t *lens,    /* (B) */
                                      size_t B, size_t T, attn_align_kind kind);

/* The same losses for maps in either of the engine's layouts (lib/nn/kernels.h):
 *   ATTN_PADDED  (B, NH, T, T), as above;
 *   ATTN_PACKED  example b, head h is a (len_b, len_b) row-major block at
 *                NH * sum_{b' < b} len_b'^2 + h * len_b^2 (attention_forward's `att`
 *                and the teacher cache's per-record l x l blocks laid end to end).
 * Typical use: student probabilities packed from attention_forward, teacher packed from
 * the cache, gradient PADDED into attention_backward's dextra.  lens[b] <= T. */
typedef enum { ATTN_PADDED, ATTN_PACKED } attn_layout;

double attn_align_general_loss_and_grad(float *dstudent, attn_layout dlayout, /* +=, or NULL */
                                        float dloss,
                                        const float *student, attn_layout slayout, size_t NHs,
                                        const float *teacher, attn_layout tlayout, size_t NHt,
                                        const int32_t *lens,  /* (B) */
                                        size_t B, size_t T, attn_align_kind kind);

#endif
