/* The student's train_task for emo-student-distill: the paper's objective
 *
 *   loss = alpha * T^2 * KL(softmax(z_t/T) || softmax(z_s/T))          (batchmean)
 *        + (1 - alpha) * label loss (focal on label-smoothed targets, or cross-entropy)
 *        + attn_weight * mean over mapped layer pairs of align(A_s[m], A_t[g(m)])
 *
 * (nn/loss.h states each term exactly).  Teacher targets come from the shard cache
 * (io/shard.h) by record id, or from a teacher model run on the same batch.  Evaluation,
 * checkpoint save and load are the student's model_task ones, so validation measures the
 * student alone.  Letters: B batch, T padded length, K classes, NH heads. */
#ifndef EMO_TRAIN_DISTILL_TASK_H
#define EMO_TRAIN_DISTILL_TASK_H

#include "io/shard.h"
#include "nn/loss.h"
#include "train/model_task.h"

#define DISTILL_MAX_PAIRS 64

enum { DT_TERM_KD, DT_TERM_LABEL, DT_TERM_ATTN, DT_NTERMS };

typedef struct distill_task {
    model_task student;          /* .m, .loss (focal|ce), focal_alpha/gamma, smoothing */
    double alpha;                /* weight of the KD term; 0 = no distillation */
    double temperature;
    int attn_on;
    attn_align_kind attn_kind;
    double attn_weight;
    int npairs;                  /* mapped (student layer, teacher layer) pairs */
    int s_layer[DISTILL_MAX_PAIRS], t_layer[DISTILL_MAX_PAIRS];
    /* teacher source: exactly one of cache / teacher (or neither when alpha == 0 and no
     * attention alignment) */
    shard_reader *cache;
    int cache_slot[DISTILL_MAX_PAIRS];   /* index of t_layer[p] among the cache's layers */
    model *teacher;
    int t_NH;
    /* scratch, grown on demand */
    float *t_logits;             /* (B, K) */
    float *t_attn;               /* (npairs, B, t_NH, T, T) */
    float *s_dattn;              /* (npairs, B, NHs, T, T) */
    float *fetch;                /* one record's cached maps (NL, NH, l, l) */
    size_t t_logits_cap, t_attn_cap, s_dattn_cap, fetch_cap;
    double term_sums[DT_NTERMS];
} distill_task;

/* Parse "uniform" | "last" | "S:T,S:T,..." (0-based student:teacher layers) into the pairs
 * for a student of Ls layers and a teacher of Lt.  uniform: student layer m <- teacher layer
 * ceil((m+1)*Lt/Ls) - 1 (TinyBERT's g(m) = m*k, 1-based, when Lt = k*Ls), or the nearest
 * layer of avail to it (bit l: teacher layer l has maps, the cache's layers; the deeper one
 * on a tie; ~0 for a live teacher); last: Ls-1 <- Lt-1.  -1 with a message. */
int distill_layer_map(distill_task *d, const char *spec, int Ls, int Lt, uint64_t avail, char *err, size_t errn);

/* Fill t with the callbacks, ctx = d; d->student.m and the teacher source must be set.
 * Keeps the student's (and teacher's) attention maps of the mapped layers. */
void distill_task_setup(train_task *t, distill_task *d);
void distill_task_free(distill_task *d);

/* Copy teacher weights into a DistilBERT-style student of the same width (DistilBERT's
 * recipe): embeddings and their LayerNorm, student layer m <- teacher layer 2m, pooler ->
 * pre_classifier, classifier.  -1 with a message if the shapes do not allow it. */
int distill_init_from_teacher(model *student, const model *teacher, char *err, size_t errn);

#endif
