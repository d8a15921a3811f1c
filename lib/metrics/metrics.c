/* Classification metrics following scikit-learn 1.2.1 (see metrics.h).  Where sklearn's
 * arithmetic order matters for the last bits, the sklearn expression is quoted. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "util/util.h"

size_t argmax_first(const float *v, size_t K)
{
    size_t best = 0;
    for (size_t k = 1; k < K; k++)
        if (v[k] > v[best])      /* strict: an equal later value does not win */
            best = k;
    return best;
}

void softmax_f64(const float *logits, size_t K, double *out)
{
    double mx = logits[0];
    for (size_t k = 1; k < K; k++)
        if (logits[k] > mx)
            mx = logits[k];
    double sum = 0;
    for (size_t k = 0; k < K; k++) {
        out[k] = exp((double)logits[k] - mx);
        sum += out[k];
    }
    for (size_t k = 0; k < K; k++)
        out[k] /= sum;
}

/* ---- confusion matrix --------------------------------------------------- */

void confusion_init(confusion *c, size_t K)
{
    c->K = K;
    c->m = xcalloc(K * K, sizeof *c->m);
}

void confusion_free(confusion *c)
{
    free(c->m);
    c->m = NULL;
}

void confusion_normalize(const confusion *c, double *out)
{
    size_t K = c->K;
    for (size_t t = 0; t < K; t++) {
        uint64_t row = 0;
        for (size_t p = 0; p < K; p++)
            row += c->m[t * K + p];
        for (size_t p = 0; p < K; p++)
            out[t * K + p] = row ? (double)c->m[t * K + p] / (double)row : 0.0;
    }
}

/* ---- classification report ---------------------------------------------- */

/* sklearn _prf_divide with zero_division="warn": 0 where the denominator is 0 */
static double prf_divide(double num, double den)
{
    return den == 0.0 ? 0.0 : num / den;
}

/* sklearn: denom = beta2 * precision + recall; denom[denom == 0] = 1;
 *          f = (1 + beta2) * precision * recall / denom   (beta2 = 1) */
static double fscore(double p, double r)
{
    double denom = p + r;
    if (denom == 0.0)
        denom = 1;
    return 2.0 * p * r / denom;
}

void report_compute(class_report *r, const confusion *c)
{
    size_t K = c->K;
    memset(r, 0, sizeof *r);
    r->K = K;
    r->precision = xcalloc(K, sizeof(double));
    r->recall = xcalloc(K, sizeof(double));
    r->f1 = xcalloc(K, sizeof(double));
    r->support = xcalloc(K, sizeof(uint64_t));
    r->predicted = xcalloc(K, sizeof(uint64_t));
    r->tp = xcalloc(K, sizeof(uint64_t));
    for (size_t t = 0; t < K; t++)
        for (size_t p = 0; p < K; p++) {
            uint64_t v = c->m[t * K + p];
            r->support[t] += v;
            r->predicted[p] += v;
            r->total += v;
        }
    r->micro_is_accuracy = 1;
    uint64_t tp_sum = 0, pred_sum = 0, true_sum = 0;
    for (size_t k = 0; k < K; k++) {
        r->tp[k] = c->m[k * K + k];
        r->precision[k] = prf_divide((double)r->tp[k], (double)r->predicted[k]);
        r->recall[k] = prf_divide((double)r->tp[k], (double)r->support[k]);
        r->f1[k] = fscore(r->precision[k], r->recall[k]);
        if (r->support[k] == 0 && r->predicted[k] == 0)
            r->micro_is_accuracy = 0;
        tp_sum += r->tp[k];
        pred_sum += r->predicted[k];
        true_sum += r->support[k];
    }
    r->correct = tp_sum;
    r->accuracy = r->total ? (double)tp_sum / (double)r->total : 0.0;
    r->micro[0] = prf_divide((double)tp_sum, (double)pred_sum);
    r->micro[1] = prf_divide((double)tp_sum, (double)true_sum);
    r->micro[2] = fscore(r->micro[0], r->micro[1]);
    /* macro: np.average(x) = sum / K; weighted: np.average(x, weights=support) =
     * sum(x * w) / sum(w) */
    double *cols[3] = { r->precision, r->recall, r->f1 };
    for (int j = 0; j < 3; j++) {
        double s = 0, sw = 0;
        for (size_t k = 0; k < K; k++) {
            s += cols[j][k];
            sw += cols[j][k] * (double)r->support[k];
        }
        r->macro[j] = s / (double)K;
        r->weighted[j] = true_sum ? sw / (double)true_sum : 0.0;
    }
}

void report_free(class_report *r)
{
    free(r->precision);
    free(r->recall);
    free(r->f1);
    free(r->support);
    free(r->predicted);
    free(r->tp);
    memset(r, 0, sizeof *r);
}

static size_t codepoints(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Python's "{:>{width}s}" */
static void put_right(FILE *fp, const char *s, size_t width)
{
    for (size_t n = codepoints(s); n < width; n++)
        fputc(' ', fp);
    fputs(s, fp);
}

void report_format(FILE *fp, const class_report *r, const char *const *names, int digits)
{
    /* sklearn: width = max(name_width, len("weighted avg"), digits) */
    size_t width = strlen("weighted avg");
    for (size_t k = 0; k < r->K; k++)
        if (codepoints(names[k]) > width)
            width = codepoints(names[k]);
    if ((size_t)digits > width)
        width = (size_t)digits;

    put_right(fp, "", width);
    fprintf(fp, "  %9s %9s %9s %9s\n\n", "precision", "recall", "f1-score", "support");
    for (size_t k = 0; k < r->K; k++) {
        put_right(fp, names[k], width);
        fprintf(fp, "  %9.*f %9.*f %9.*f %9llu\n", digits, r->precision[k], digits, r->recall[k],
                digits, r->f1[k], (unsigned long long)r->support[k]);
    }
    fputc('\n', fp);
    if (r->micro_is_accuracy) {
        put_right(fp, "accuracy", width);
        fprintf(fp, "  %9s %9s %9.*f %9llu\n", "", "", digits, r->micro[2],
                (unsigned long long)r->total);
    } else {
        put_right(fp, "micro avg", width);
        fprintf(fp, "  %9.*f %9.*f %9.*f %9llu\n", digits, r->micro[0], digits, r->micro[1],
                digits, r->micro[2], (unsigned long long)r->total);
    }
    put_right(fp, "macro avg", width);
    fprintf(fp, "  %9.*f %9.*f %9.*f %9llu\n", digits, r->macro[0], digits, r->macro[1], digits,
            r->macro[2], (unsigned long long)r->total);
    put_right(fp, "weighted avg", width);
    fprintf(fp, "  %9.*f %9.*f %9.*f %9llu\n", digits, r->weighted[0], digits, r->weighted[1],
            digits, r->weighted[2], (unsigned long long)r->total);
}

/* ---- precision-recall curve --------------------------------------------- */

typedef struct scored {
    uint64_t key;   /* order-reversing image of the score: ascending key = descending score */
    double s;
    uint32_t pos;
} scored;

/* Doubles map to unsigned integers in the same order (flip all bits of negatives, the
 * sign bit of the rest); complementing reverses it, so an ascending sort of keys is a
 * descending sort of scores. */
static uint64_t desc_key(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    b = (b >> 63) ? ~b : b | (1ULL << 63);
    return ~b;
}

/* LSD radix sort on key, 16 bits per pass, skipping passes where every key has the same
 * digit (the high bits of scores in [0, 1] mostly agree).  v, tmp (n). */
static void radix_sort(scored *v, scored *tmp, size_t n)
{
    size_t *count = xmalloc(65536 * sizeof *count);
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65536 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(v[i].key >> shift) & 0xFFFF]++;
        if (n == 0 || count[(v[0].key >> shift) & 0xFFFF] == n)
            continue;
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(v[i].key >> shift) & 0xFFFF]++] = v[i];
        memcpy(v, tmp, n * sizeof *v);
    }
    free(count);
}

void pr_curve_compute(pr_curve *pc, const double *scores, size_t stride, const int32_t *truth,
                      int32_t cls, size_t N)
{
    memset(pc, 0, sizeof *pc);
    scored *v = xmalloc((N ? N : 1) * sizeof *v), *tmp = xmalloc((N ? N : 1) * sizeof *tmp);
    for (size_t i = 0; i < N; i++) {
        v[i].s = scores[i * stride + (size_t)cls];
        v[i].key = desc_key(v[i].s);
        v[i].pos = truth[i] == cls;
    }
    radix_sort(v, tmp, N);
    free(tmp);

    /* sklearn _binary_clf_curve: one point per distinct score, from the highest down;
     * tps/fps count records scoring >= that threshold.  Stored forwards, returned
     * reversed (recall decreasing) with the (precision 1, recall 0) end point added. */
    double *tps = xmalloc((N + 1) * sizeof *tps), *fps = xmalloc((N + 1) * sizeof *fps);
    double *thr = xmalloc((N + 1) * sizeof *thr);
    size_t m = 0;
    uint64_t tp = 0;
    for (size_t i = 0; i < N; i++) {
        tp += v[i].pos;
        if (i + 1 == N || v[i].s != v[i + 1].s) {
            tps[m] = (double)tp;
            fps[m] = (double)(i + 1) - (double)tp;
            thr[m] = v[i].s;
            m++;
        }
    }
    free(v);
    pc->positives = tp;
    pc->n = m + 1;
    pc->precision = xmalloc(pc->n * sizeof(double));
    pc->recall = xmalloc(pc->n * sizeof(double));
    pc->thresholds = xmalloc((m ? m : 1) * sizeof(double));
    for (size_t j = 0; j < m; j++) {
        size_t src = m - 1 - j;
        double ps = tps[src] + fps[src];
        pc->precision[j] = ps != 0 ? tps[src] / ps : 0.0;
        /* no positives at all: sklearn sets recall to 1 for all thresholds */
        pc->recall[j] = tp == 0 ? 1.0 : tps[src] / tps[m - 1];
        pc->thresholds[j] = thr[src];
    }
    pc->precision[m] = 1.0;
    pc->recall[m] = 0.0;
    free(tps);
    free(fps);
    free(thr);
    /* average_precision_score: -np.sum(np.diff(recall) * precision[:-1]) */
    double s = 0;
    for (size_t j = 0; j + 1 < pc->n; j++)
        s += (pc->recall[j + 1] - pc->recall[j]) * pc->precision[j];
    pc->ap = -s;
    if (pc->ap == 0)
        pc->ap = 0;   /* no "-0" */
}

void pr_curve_free(pr_curve *pc)
{
    free(pc->precision);
    free(pc->recall);
    free(pc->thresholds);
    memset(pc, 0, sizeof *pc);
}

size_t pr_curve_thin(const pr_curve *pc, size_t max, size_t *idx)
{
    if (max == 0 || pc->n <= max || max < 2) {
        size_t n = (max == 0 || pc->n <= max) ? pc->n : max;
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        return n;
    }
    for (size_t j = 0; j < max; j++)
        idx[j] = (size_t)llround((double)j * (double)(pc->n - 1) / (double)(max - 1));
    return max;
}

/* ---- length analysis ---------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int lenb_build(len_buckets *b, const char *spec, const int64_t *length, size_t N, char *err,
               size_t errlen)
{
    memset(b, 0, sizeof *b);
    int64_t *edges = NULL;
    size_t ne = 0;
    if (spec[0] == 'q') {
        char *end;
        long q = strtol(spec + 1, &end, 10);
        if (end == spec + 1 || *end || q < 1 || q > 100) {
            snprintf(err, errlen, "'%s': expected qN with 1 <= N <= 100", spec);
            return -1;
        }
        int64_t *known = xmalloc((N ? N : 1) * sizeof *known);
        size_t n = 0;
        for (size_t i = 0; i < N; i++)
            if (length[i] >= 0)
                known[n++] = length[i];
        qsort(known, n, sizeof *known, cmp_i64);
        edges = xmalloc((size_t)q * sizeof *edges);
        for (long i = 1; n && i < q; i++) {
            /* "lower" quantile i/q: the value at rank ceil(i*n/q) */
            size_t rank = (size_t)(((uint64_t)i * n + (uint64_t)q - 1) / (uint64_t)q);
            int64_t e = known[rank ? rank - 1 : 0];
            if (ne == 0 || e > edges[ne - 1])
                edges[ne++] = e;
        }
        free(known);
    } else {
        const char *p = spec;
        size_t cap = 8;
        edges = xmalloc(cap * sizeof *edges);
        for (;;) {
            char *end;
            long long e = strtoll(p, &end, 10);
            if (end == p || (*end && *end != ',') || e < 0 || (ne && e <= edges[ne - 1])) {
                snprintf(err, errlen, "'%s': expected qN or ascending non-negative edges like 10,20,40", spec);
                free(edges);
                return -1;
            }
            if (ne == cap)
                edges = xreallocarray(edges, cap *= 2, sizeof *edges);
            edges[ne++] = e;
            if (!*end)
                break;
            p = end + 1;
        }
    }
    b->nb = ne + 1;
    b->lo = xcalloc(b->nb, sizeof(int64_t));
    b->hi = xcalloc(b->nb, sizeof(int64_t));
    b->count = xcalloc(b->nb, sizeof(uint64_t));
    b->errors = xcalloc(b->nb, sizeof(uint64_t));
    for (size_t i = 0; i < b->nb; i++) {
        b->lo[i] = i ? edges[i - 1] + 1 : 0;
        b->hi[i] = i < ne ? edges[i] : INT64_MAX;
    }
    free(edges);
    return 0;
}

void lenb_fill(len_buckets *b, const int64_t *length, const int32_t *truth, const int32_t *pred,
               size_t N)
{
    for (size_t i = 0; i < N; i++) {
        if (length[i] < 0)
            continue;
        size_t lo = 0, hi = b->nb - 1;     /* first bucket with hi >= length */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (b->hi[mid] >= length[i])
                hi = mid;
            else
                lo = mid + 1;
        }
        b->count[lo]++;
        b->errors[lo] += truth[i] != pred[i];
    }
}

void lenb_free(len_buckets *b)
{
    free(b->lo);
    free(b->hi);
    free(b->count);
    free(b->errors);
    memset(b, 0, sizeof *b);
}

int64_t word_count(const char *s, size_t n)
{
    int64_t words = 0;
    int in_word = 0;
    for (size_t i = 0; i < n; i++) {
        int space = s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r');
        if (!space && !in_word)
            words++;
        in_word = !space;
    }
    return words;
}
