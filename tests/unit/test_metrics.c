/* lib/metrics against scikit-learn: the examples from sklearn's documentation, and the
 * golden sets of tests/gen/make_eval_goldens_sklearn.py (read from tests/fixtures/eval,
 * relative to $EMO_ROOT or the current directory). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "metrics/metrics.h"

static void test_argmax_softmax(void)
{
    float a[4] = { 1, 3, 3, 2 };
    CHECK(argmax_first(a, 4) == 1, "ties -> first max, got %zu", argmax_first(a, 4));
    float b[3] = { -1, -1, -1 };
    CHECK(argmax_first(b, 3) == 0, "all equal -> 0");
    float l[3] = { 1000, 1001, 999 }, m[3] = { 0, 1, -1 };
    double p[3], q[3];
    softmax_f64(l, 3, p);
    softmax_f64(m, 3, q);
    CHECK_CLOSE("softmax shift invariance (no overflow)", p, q, 3, 1e-15);
    CHECK(fabs(p[0] + p[1] + p[2] - 1) < 1e-15, "sums to 1");
}

/* sklearn.metrics.classification_report docstring example */
static void test_report_docstring(void)
{
    int yt[5] = { 0, 1, 2, 2, 2 }, yp[5] = { 0, 0, 2, 2, 1 };
    confusion c;
    confusion_init(&c, 3);
    for (int i = 0; i < 5; i++)
        confusion_add(&c, (size_t)yt[i], (size_t)yp[i]);
    class_report r;
    report_compute(&r, &c);
    const char *names[3] = { "class 0", "class 1", "class 2" };
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    report_format(m, &r, names, 2);
    fclose(m);
    const char *want =
        "              precision    recall  f1-score   support\n"
        "\n"
        "     class 0       0.50      1.00      0.67         1\n"
        "     class 1       0.00      0.00      0.00         1\n"
        "     class 2       1.00      0.67      0.80         3\n"
        "\n"
        "    accuracy                           0.60         5\n"
        "   macro avg       0.50      0.56      0.49         5\n"
        "weighted avg       0.70      0.60      0.61         5\n";
    CHECK(strcmp(buf, want) == 0, "report text:\n%s", buf);
    free(buf);
    double norm[9];
    confusion_normalize(&c, norm);
    double want_norm[9] = { 1, 0, 0, 1, 0, 0, 0, 1.0 / 3, 2.0 / 3 };
    CHECK_CLOSE("normalize='true'", norm, want_norm, 9, 1e-15);
    report_free(&r);
    confusion_free(&c);
}

/* sklearn.metrics.precision_recall_curve docstring example */
static void test_pr_docstring(void)
{
    /* scores (4, 2): column 1 is the docstring's y_scores, the positive class is 1 */
    double s[8] = { 0.9, 0.1, 0.6, 0.4, 0.65, 0.35, 0.2, 0.8 };
    int32_t t[4] = { 0, 0, 1, 1 };
    pr_curve pc;
    pr_curve_compute(&pc, s, 2, t, 1, 4);
    double P[5] = { 0.5, 2.0 / 3, 0.5, 1, 1 }, R[5] = { 1, 1, 0.5, 0.5, 0 }, T[4] = { 0.1, 0.35, 0.4, 0.8 };
    CHECK(pc.n == 5, "n %zu", pc.n);
    CHECK_CLOSE("precision", pc.precision, P, 5, 1e-15);
    CHECK_CLOSE("recall", pc.recall, R, 5, 1e-15);
    CHECK_CLOSE("thresholds", pc.thresholds, T, 4, 0);
    /* average_precision_score docstring: 0.83 (exactly 0.8333...) */
    CHECK(fabs(pc.ap - 5.0 / 6) < 1e-15, "AP %.17g", pc.ap);
    size_t idx[5];
    CHECK(pr_curve_thin(&pc, 3, idx) == 3 && idx[0] == 0 && idx[1] == 2 && idx[2] == 4, "thin");
    CHECK(pr_curve_thin(&pc, 0, idx) == 5, "thin 0 keeps all");
    pr_curve_free(&pc);
}

static void test_lengths(void)
{
    CHECK(word_count("  a b\tc\n", 8) == 3, "word_count");
    CHECK(word_count("", 0) == 0, "empty");
    int64_t len[8] = { 1, 2, 3, 4, 5, 6, 7, -1 };
    int32_t t[8] = { 0, 0, 0, 0, 0, 0, 0, 0 }, p[8] = { 1, 0, 0, 0, 0, 0, 1, 1 };
    len_buckets b;
    char e[128];
    CHECK(lenb_build(&b, "q2", len, 8, e, sizeof e) == 0 && b.nb == 2 && b.hi[0] == 4, "q2 edge %lld",
          (long long)b.hi[0]);
    lenb_fill(&b, len, t, p, 8);
    CHECK(b.count[0] == 4 && b.count[1] == 3 && b.errors[0] == 1 && b.errors[1] == 1, "fill");
    lenb_free(&b);
    CHECK(lenb_build(&b, "2,4", len, 8, e, sizeof e) == 0 && b.nb == 3 && b.lo[1] == 3 && b.hi[2] == INT64_MAX,
          "fixed edges");
    lenb_free(&b);
    CHECK(lenb_build(&b, "4,2", len, 8, e, sizeof e) == -1, "descending edges refused");
    CHECK(lenb_build(&b, "q0", len, 8, e, sizeof e) == -1, "q0 refused");
    CHECK(lenb_build(&b, "x", len, 8, e, sizeof e) == -1, "garbage refused");
}

static double get_num(json_t *a, size_t i) { return json_number_value(json_array_get(a, i)); }

/* One golden set: labels and logits from <set>.jsonl, numbers from <set>.expected.json. */
static void test_golden(const char *dir, const char *set)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.expected.json", dir, set);
    json_error_t je;
    json_t *exp = json_load_file(path, 0, &je);
    CHECK(exp != NULL, "%s: %s", path, je.text);
    if (!exp)
        return;
    json_t *classes = json_object_get(exp, "classes");
    size_t K = json_array_size(classes), N = (size_t)json_integer_value(json_object_get(exp, "n"));
    int32_t *truth = calloc(N, sizeof *truth);
    double *scores = calloc(N * K, sizeof *scores);
    float *logits = calloc(K, sizeof *logits);
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, set);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    confusion c;
    confusion_init(&c, K);
    char line[1 << 16];
    size_t i = 0;
    while (f && i < N && fgets(line, sizeof line, f)) {
        json_t *r = json_loads(line, 0, &je);
        const char *lab = json_string_value(json_object_get(r, "label"));
        truth[i] = -1;
        for (size_t k = 0; k < K; k++)
            if (strcmp(lab, json_string_value(json_array_get(classes, k))) == 0)
                truth[i] = (int32_t)k;
        json_t *lg = json_object_get(r, "logits");
        for (size_t k = 0; k < K; k++)
            logits[k] = (float)get_num(lg, k);
        size_t pred = argmax_first(logits, K);
        CHECK(pred == (size_t)json_integer_value(json_array_get(json_object_get(exp, "pred"), i)),
              "%s record %zu argmax", set, i + 1);
        confusion_add(&c, (size_t)truth[i], pred);
        softmax_f64(logits, K, scores + i * K);
        json_decref(r);
        i++;
    }
    if (f)
        fclose(f);
    CHECK(i == N, "%s: read %zu of %zu records", set, i, N);

    class_report r;
    report_compute(&r, &c);
    double worst = 0;
    const char *keys[3] = { "precision", "recall", "f1" };
    double *mine[3] = { r.precision, r.recall, r.f1 };
    for (int j = 0; j < 3; j++)
        for (size_t k = 0; k < K; k++)
            worst = fmax(worst, fabs(mine[j][k] - get_num(json_object_get(exp, keys[j]), k)));
    for (int j = 0; j < 3; j++) {
        worst = fmax(worst, fabs(r.micro[j] - get_num(json_object_get(exp, "micro_avg"), (size_t)j)));
        worst = fmax(worst, fabs(r.macro[j] - get_num(json_object_get(exp, "macro_avg"), (size_t)j)));
        worst = fmax(worst, fabs(r.weighted[j] - get_num(json_object_get(exp, "weighted_avg"), (size_t)j)));
    }
    worst = fmax(worst, fabs(r.accuracy - json_number_value(json_object_get(exp, "accuracy"))));
    CHECK(worst <= 1e-15, "%s: report max diff %.3g", set, worst);
    for (size_t k = 0; k < K; k++) {
        json_t *cm = json_array_get(json_object_get(exp, "confusion"), k);
        for (size_t q = 0; q < K; q++)
            CHECK(c.m[k * K + q] == (uint64_t)json_integer_value(json_array_get(cm, q)),
                  "%s: confusion[%zu][%zu]", set, k, q);
    }

    json_t *curves = json_object_get(exp, "pr_curves");
    for (size_t k = 0; k < K; k++) {
        json_t *ec = json_array_get(curves, k);
        pr_curve pc;
        pr_curve_compute(&pc, scores, K, truth, (int32_t)k, N);
        json_t *P = json_object_get(ec, "precision"), *R = json_object_get(ec, "recall"),
               *T = json_object_get(ec, "thresholds");
        CHECK(pc.n == json_array_size(P) && pc.n - 1 == json_array_size(T),
              "%s class %zu: %zu points, sklearn %zu", set, k, pc.n, json_array_size(P));
        double w = fabs(pc.ap - json_number_value(json_object_get(ec, "ap")));
        for (size_t j = 0; pc.n == json_array_size(P) && j < pc.n; j++) {
            w = fmax(w, fabs(pc.precision[j] - get_num(P, j)));
            w = fmax(w, fabs(pc.recall[j] - get_num(R, j)));
            if (j + 1 < pc.n)   /* same softmax bits: thresholds must match exactly */
                w = fmax(w, fabs(pc.thresholds[j] - get_num(T, j)) * 1e6);
        }
        CHECK(w <= 1e-12, "%s class %zu: PR curve max diff %.3g", set, k, w);
        pr_curve_free(&pc);
    }
    report_free(&r);
    confusion_free(&c);
    free(truth);
    free(scores);
    free(logits);
    json_decref(exp);
}

int main(void)
{
    test_argmax_softmax();
    test_report_docstring();
    test_pr_docstring();
    test_lengths();
    const char *root = getenv("EMO_ROOT");
    char dir[400];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/eval", root ? root : ".");
    const char *sets[] = { "basic", "neverpred", "absent", "ties", "field" };
    for (size_t s = 0; s < sizeof sets / sizeof *sets; s++)
        test_golden(dir, sets[s]);
    return check_done("test_metrics");
}
