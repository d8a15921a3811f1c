/* emo-eval: classification report (scikit-learn layout and numbers), one-vs-rest
 * precision-recall curves with average precision, and error rate by input length, for
 * a stream of predictions (records with `label` and `logits`).  See emo-eval(1). */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "metrics/metrics.h"
#include "metrics/preds.h"
#include "plot/figures.h"
#include "util/cli.h"
#include "util/util.h"

enum { EXIT_BELOW = 3 };   /* --min-accuracy not reached */

static const cli_help help = {
    "eval",
    "usage: emo eval [--json] [--figures DIR] [--min-accuracy X] [-m CKPT | --labels LIST]\n"
    "                [--digits N] [--length-buckets SPEC] [--pr-points N] [FILE...]\n",
    "      --digits N          decimals in the report (2)\n"
    "      --figures DIR       write PR curves, length error and confusion figures into DIR\n"
    "      --json              print one JSON object instead of the report\n"
    "      --labels LIST       comma-separated class names in logit order\n"
    "      --length-buckets SPEC  qN quantile buckets (q8), or upper edges such as 10,20,40\n"
    "      --min-accuracy X    exit 3 if the accuracy is below X\n"
    "  -m, --model CKPT        take the class names from this checkpoint\n"
    "      --pr-points N       points of each PR curve kept in the JSON output (200)\n",
};

static const char *length_unit(int sources)
{
    switch (sources & (PREDS_LEN_IDS | PREDS_LEN_WORDS)) {
    case PREDS_LEN_IDS: return "tokens";
    case PREDS_LEN_WORDS: return "words";
    default: return "tokens or words";
    }
}

static json_t *jreal(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *jarray_thin(const double *v, const size_t *idx, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[idx[i]]));
    return a;
}

static json_t *avg_json(const double *prf, uint64_t support)
{
    return json_pack("{s:o,s:o,s:o,s:I}", "precision", jreal(prf[0]), "recall", jreal(prf[1]),
                     "f1", jreal(prf[2]), "support", (json_int_t)support);
}

static void put_json(const preds_t *p, const class_report *r, const confusion *c,
                     const pr_curve *pc, double ap_macro, const len_buckets *b, size_t pr_points)
{
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer((json_int_t)p->N));
    json_t *cl = json_array();
    for (size_t k = 0; k < p->K; k++)
        json_array_append_new(cl, json_string(p->classes.name[k]));
    json_object_set_new(o, "classes", cl);
    json_object_set_new(o, "class_source", json_string(preds_class_source_name(p->class_source)));
    json_object_set_new(o, "accuracy", json_real(r->accuracy));
    json_object_set_new(o, "correct", json_integer((json_int_t)r->correct));
    json_t *per = json_array();
    for (size_t k = 0; k < p->K; k++)
        json_array_append_new(per, json_pack("{s:s,s:o,s:o,s:o,s:I,s:I,s:o}", "label", p->classes.name[k],
                                             "precision", jreal(r->precision[k]), "recall", jreal(r->recall[k]),
                                             "f1", jreal(r->f1[k]), "support", (json_int_t)r->support[k],
                                             "predicted", (json_int_t)r->predicted[k], "ap", jreal(pc[k].ap)));
    json_object_set_new(o, "per_class", per);
    json_object_set_new(o, "micro_avg", avg_json(r->micro, r->total));
    json_object_set_new(o, "macro_avg", avg_json(r->macro, r->total));
    json_object_set_new(o, "weighted_avg", avg_json(r->weighted, r->total));
    json_object_set_new(o, "ap_macro", jreal(ap_macro));
    json_t *cm = json_array();
    for (size_t t = 0; t < p->K; t++) {
        json_t *row = json_array();
        for (size_t q = 0; q < p->K; q++)
            json_array_append_new(row, json_integer((json_int_t)c->m[t * p->K + q]));
        json_array_append_new(cm, row);
    }
    json_object_set_new(o, "confusion", cm);
    json_t *curves = json_array();
    for (size_t k = 0; k < p->K; k++) {
        size_t *idx = xmalloc(pc[k].n * sizeof *idx);
        size_t n = pr_curve_thin(&pc[k], pr_points, idx);
        /* thresholds has one entry fewer (none for the final (1, 0) point) */
        size_t nt = n && idx[n - 1] == pc[k].n - 1 ? n - 1 : n;
        json_array_append_new(curves, json_pack("{s:s,s:o,s:I,s:o,s:o,s:o}", "label", p->classes.name[k],
                                                "ap", jreal(pc[k].ap), "points", (json_int_t)pc[k].n,
                                                "precision", jarray_thin(pc[k].precision, idx, n),
                                                "recall", jarray_thin(pc[k].recall, idx, n),
                                                "thresholds", jarray_thin(pc[k].thresholds, idx, nt)));
        free(idx);
    }
    json_object_set_new(o, "pr_curves", curves);
    if (b) {
        json_t *bk = json_array();
        for (size_t i = 0; i < b->nb; i++)
            json_array_append_new(bk, json_pack("{s:I,s:o,s:I,s:I,s:o}", "lo", (json_int_t)b->lo[i],
                                                "hi", b->hi[i] == INT64_MAX ? json_null() : json_integer(b->hi[i]),
                                                "count", (json_int_t)b->count[i], "errors", (json_int_t)b->errors[i],
                                                "error_rate", b->count[i] ? json_real((double)b->errors[i] / (double)b->count[i]) : json_null()));
        uint64_t unknown = 0;
        for (size_t i = 0; i < p->N; i++)
            unknown += p->length[i] < 0;
        json_object_set_new(o, "length", json_pack("{s:s,s:I,s:o}", "unit", length_unit(p->length_sources),
                                                   "unknown", (json_int_t)unknown, "buckets", bk));
    } else {
        json_object_set_new(o, "length", json_null());
    }
    if (json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0)
        errx(EXIT_DATA, "cannot write JSON");
    fputc('\n', stdout);
    json_decref(o);
}

static void put_text(const preds_t *p, const class_report *r, const pr_curve *pc, double ap_macro,
                     const len_buckets *b, int digits)
{
    report_format(stdout, r, (const char *const *)p->classes.name, digits);
    size_t w = 9;
    for (size_t k = 0; k < p->K; k++)
        if (strlen(p->classes.name[k]) > w)
            w = strlen(p->classes.name[k]);
    printf("\naverage precision (one-vs-rest, scores = softmax(logits))\n\n");
    for (size_t k = 0; k < p->K; k++)
        printf("%*s  %.*f\n", (int)w, p->classes.name[k], digits + 2, pc[k].ap);
    printf("%*s  %.*f\n", (int)w, "macro avg", digits + 2, ap_macro);
    if (!b)
        return;
    printf("\nerror rate by length (%s)\n\n%12s %9s %9s %10s\n", length_unit(p->length_sources),
           "length", "records", "errors", "error rate");
    for (size_t i = 0; i < b->nb; i++) {
        char lab[48];
        lenb_label(b, i, lab, sizeof lab);
        if (b->count[i])
            printf("%12s %9llu %9llu %10.*f\n", lab, (unsigned long long)b->count[i],
                   (unsigned long long)b->errors[i], digits + 2, (double)b->errors[i] / (double)b->count[i]);
        else
            printf("%12s %9d %9d %10s\n", lab, 0, 0, "-");
    }
}

static void save(const svg_t *s, const char *dir, const char *name)
{
    char *path = path_join(dir, name);
    if (fig_save(s, path) != 0)
        err(EXIT_DATA, "%s", path);
    free(path);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "digits", required_argument, NULL, 'd' },
        { "figures", required_argument, NULL, 'F' },
        CLI_LONGOPTS,
        { "json", no_argument, NULL, 'j' },
        { "labels", required_argument, NULL, 'l' },
        { "model", required_argument, NULL, 'm' },
        { "length-buckets", required_argument, NULL, 'b' },
        { "min-accuracy", required_argument, NULL, 'A' },
        { "pr-points", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    int json = 0, digits = 2;
    const char *figdir = NULL, *labels = NULL, *model_dir = NULL, *bucket_spec = "q8";
    double min_acc = -1;
    size_t pr_points = 200;
    int c;
    while ((c = getopt_long(argc, argv, "hm:", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': bucket_spec = optarg; break;
        case 'd': digits = (int)xparse_ll("--digits", optarg, 0, 17); break;
        case 'F': figdir = optarg; break;
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'm': model_dir = optarg; break;
        case 'j': json = 1; break;
        case 'l': labels = optarg; break;
        case 'A': min_acc = xparse_double("--min-accuracy", optarg, 0, 1); break;
        case 'p': pr_points = (size_t)xparse_ll("--pr-points", optarg, 0, 100000000); break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    /* the class list, checked before reading anything */
    enum preds_class_source src = PREDS_FROM_SORTED;
    strtab classes;
    int have_classes = preds_class_list(labels, model_dir, &classes, &src);
    char err_spec[160];
    {
        len_buckets probe;
        int64_t none = -1;
        if (lenb_build(&probe, bucket_spec, &none, 1, err_spec, sizeof err_spec) != 0)
            errx(EXIT_USAGE, "option --length-buckets: %s", err_spec);
        lenb_free(&probe);
    }
    preds_t p;
    preds_read_or_die(&p, argv + optind, (size_t)(argc - optind), have_classes ? &classes : NULL, src);
    strtab_free(&classes);
    size_t N = p.N, K = p.K;

    /* predictions, confusion matrix, report */
    int32_t *pred = xmalloc(N * sizeof *pred);
    confusion cm;
    confusion_init(&cm, K);
    for (size_t i = 0; i < N; i++) {
        pred[i] = (int32_t)argmax_first(p.logits + i * K, K);
        confusion_add(&cm, (size_t)p.truth[i], (size_t)pred[i]);
    }
    class_report rep;
    report_compute(&rep, &cm);

    /* one-vs-rest PR curves on softmax scores: scores (N, K) */
    double *scores = xmalloc(N * K * sizeof *scores);
    for (size_t i = 0; i < N; i++)
        softmax_f64(p.logits + i * K, K, scores + i * K);
    pr_curve *pc = xcalloc(K, sizeof *pc);
    double ap_macro = 0;
    for (size_t k = 0; k < K; k++) {
        pr_curve_compute(&pc[k], scores, K, p.truth, (int32_t)k, N);
        ap_macro += pc[k].ap;
    }
    ap_macro /= (double)K;
    free(scores);

    /* length analysis, when any record has input_ids or text */
    len_buckets bk, *b = NULL;
    if (p.length_sources & (PREDS_LEN_IDS | PREDS_LEN_WORDS)) {
        lenb_build(&bk, bucket_spec, p.length, N, err_spec, sizeof err_spec);
        lenb_fill(&bk, p.length, p.truth, pred, N);
        b = &bk;
    }

    if (json)
        put_json(&p, &rep, &cm, pc, ap_macro, b, pr_points);
    else
        put_text(&p, &rep, pc, ap_macro, b, digits);

    if (figdir) {   /* created only now, so bad input leaves nothing at all behind */
        xmkdir_p(figdir);
        svg_t *s = fig_pr_curves(pc, p.classes.name, K, pr_points ? pr_points * 2 : 0);
        save(s, figdir, "pr-curves.svg");
        svg_free(s);
        s = fig_confusion(&cm, p.classes.name, 0);
        save(s, figdir, "confusion.svg");
        svg_free(s);
        if (b) {
            s = fig_length_error(b, length_unit(p.length_sources));
            save(s, figdir, "length-error.svg");
            svg_free(s);
        } else {
            warnx("no record has input_ids or text: length-error.svg not written");
        }
    }
    double accuracy = rep.accuracy;

    for (size_t k = 0; k < K; k++)
        pr_curve_free(&pc[k]);
    free(pc);
    if (b)
        lenb_free(b);
    report_free(&rep);
    confusion_free(&cm);
    free(pred);
    preds_free(&p);
    out_close();
    if (min_acc >= 0 && accuracy < min_acc) {
        warnx("accuracy %.6f is below --min-accuracy %g", accuracy, min_acc);
        return EXIT_BELOW;
    }
    return 0;
}
