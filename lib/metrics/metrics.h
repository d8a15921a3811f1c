/* Classification metrics with scikit-learn 1.2 semantics, so `emo eval` can be checked
 * number for number against sklearn.metrics (goldens: tests/gen/make_eval_goldens.py).
 *
 *   argmax_first        numpy.argmax (first maximum wins ties)
 *   softmax_f64         scores for PR curves, computed in double
 *   confusion_*         confusion_matrix: rows = true class, columns = predicted
 *   report_*            precision_recall_fscore_support + classification_report text,
 *                       zero_division="warn" behaviour (0, no warning)
 *   pr_curve_compute    precision_recall_curve + average_precision_score, one-vs-rest
 *   lenb_*              error rate by input length (the length analysis)
 *
 * K = number of classes, N = number of predictions.  Nothing here exits. */
#ifndef EMO_METRICS_H
#define EMO_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Index of the largest of v[0..K) (K >= 1); the first one on ties, like numpy. */
size_t argmax_first(const float *v, size_t K);
/* out[k] = exp(l[k] - max) / sum, in double.  logits (K), out (K). */
void softmax_f64(const float *logits, size_t K, double *out);

/* ---- confusion matrix --------------------------------------------------- */
typedef struct confusion {
    size_t K;
    uint64_t *m;     /* (K, K): m[t*K + p] = records of true class t predicted as p */
} confusion;

void confusion_init(confusion *c, size_t K);
void confusion_free(confusion *c);
static inline void confusion_add(confusion *c, size_t t, size_t p) { c->m[t * c->K + p]++; }
/* Row-normalised (normalize='true'): out (K, K); a row with no records is all 0, as
 * sklearn's nan_to_num leaves it. */
void confusion_normalize(const confusion *c, double *out);

/* ---- classification report ---------------------------------------------- */
typedef struct class_report {
    size_t K;
    double *precision, *recall, *f1;     /* (K) */
    uint64_t *support, *predicted, *tp;  /* (K) true count, predicted count, diagonal */
    uint64_t total, correct;
    double accuracy;                     /* correct / total */
    double micro[3], macro[3], weighted[3];   /* precision, recall, f1 */
    /* sklearn prints an "accuracy" row when the label set equals the labels present in
     * y_true or y_pred; otherwise a "micro avg" row.  1 if every class occurs. */
    int micro_is_accuracy;
} class_report;

void report_compute(class_report *r, const confusion *c);
void report_free(class_report *r);
/* classification_report(..., labels=range(K), target_names=names, digits=digits) text,
 * byte for byte (ends with one newline).  Names are padded by code points. */
void report_format(FILE *fp, const class_report *r, const char *const *names, int digits);

/* ---- precision-recall curve --------------------------------------------- */
typedef struct pr_curve {
    size_t n;              /* points; thresholds has n - 1 */
    double *precision;     /* (n) as sklearn returns them: recall decreasing, last (1, 0) */
    double *recall;        /* (n) */
    double *thresholds;    /* (n - 1) increasing */
    double ap;             /* average_precision_score: -sum(diff(recall) * precision[:-1]) */
    uint64_t positives;    /* records of the class; 0 gives recall 1 everywhere and AP 0 */
} pr_curve;

/* One-vs-rest curve for class cls: sample i has score scores[i*stride + cls] and is
 * positive when truth[i] == cls.  scores (N, stride), truth (N). */
void pr_curve_compute(pr_curve *pc, const double *scores, size_t stride, const int32_t *truth,
                      int32_t cls, size_t N);
void pr_curve_free(pr_curve *pc);
/* Indices of at most max points of the curve, evenly spaced, first and last included
 * (for figures and compact JSON); max 0 keeps all.  idx gets up to max (or n) entries. */
size_t pr_curve_thin(const pr_curve *pc, size_t max, size_t *idx);

/* ---- length analysis ---------------------------------------------------- */
typedef struct len_buckets {
    size_t nb;
    int64_t *lo, *hi;        /* (nb) inclusive bounds; hi of the last is INT64_MAX */
    uint64_t *count, *errors;
} len_buckets;

/* spec: "qN" (N quantile buckets of the known lengths, 1 <= N <= 100, duplicate edges
 * merged) or "E1,E2,...": ascending upper edges, buckets [min,E1], [E1+1,E2], ...,
 * [Elast+1, inf).  length < 0 means unknown and is skipped.  Returns 0, or -1 with a
 * message in err (size errlen) for a bad spec. */
int lenb_build(len_buckets *b, const char *spec, const int64_t *length, size_t N,
               char *err, size_t errlen);
/* Counts records and errors (pred != truth) per bucket. */
void lenb_fill(len_buckets *b, const int64_t *length, const int32_t *truth, const int32_t *pred,
               size_t N);
void lenb_free(len_buckets *b);
/* Whitespace-separated word count (ASCII space, \t \n \v \f \r), as str.split() for ASCII. */
int64_t word_count(const char *s, size_t n);

#endif
