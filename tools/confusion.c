/* emo-confusion: confusion matrix of a prediction stream (records with `label` and
 * `logits`) as aligned text, counts and normalised over true labels, the most confused
 * (true -> predicted) pairs, and a heatmap figure.  See emo-confusion(1). */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "metrics/metrics.h"
#include "metrics/preds.h"
#include "plot/figures.h"
#include "util/cli.h"
#include "util/util.h"

static const cli_help help = {
    "confusion",
    "usage: emo confusion [--svg FILE] [--normalize] [--top N] [--json]\n"
    "                     [-m CKPT | --labels LIST] [--digits N] [FILE...]\n",
    "      --digits N          decimals of the normalised matrix (2)\n"
    "      --json              print one JSON object instead of the table\n"
    "      --labels LIST       comma-separated class names in logit order\n"
    "  -m, --model CKPT        take the class names from this checkpoint\n"
    "      --normalize         annotate the heatmap with rates instead of counts\n"
    "      --svg FILE          write a heatmap of the matrix\n"
    "      --top N             list at most N confused pairs (10)\n",
};

typedef struct pair {
    uint64_t count;
    size_t t, p;
} pair;

static int by_count(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->p > y->p) - (x->p < y->p);
}

static size_t cps(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void pad_right(const char *s, size_t w) /* right-aligned in w columns */
{
    for (size_t n = cps(s); n < w; n++)
        putchar(' ');
    fputs(s, stdout);
}

static void pad_left(const char *s, size_t w)  /* left-aligned in w columns */
{
    fputs(s, stdout);
    for (size_t n = cps(s); n < w; n++)
        putchar(' ');
}

/* One matrix: header of class names, one row per true class.  cells (K, K) strings. */
static void put_matrix(const preds_t *p, char **cells)
{
    size_t K = p->K, namew = strlen("true \\ pred"), colw = 0;
    for (size_t k = 0; k < K; k++) {
        if (cps(p->classes.name[k]) > namew)
            namew = cps(p->classes.name[k]);
        if (cps(p->classes.name[k]) > colw)
            colw = cps(p->classes.name[k]);
    }
    for (size_t i = 0; i < K * K; i++)
        if (strlen(cells[i]) > colw)
            colw = strlen(cells[i]);
    pad_left("true \\ pred", namew);
    for (size_t k = 0; k < K; k++) {
        fputs("  ", stdout);
        pad_right(p->classes.name[k], colw);
    }
    putchar('\n');
    for (size_t t = 0; t < K; t++) {
        pad_left(p->classes.name[t], namew);
        for (size_t q = 0; q < K; q++) {
            fputs("  ", stdout);
            pad_right(cells[t * K + q], colw);
        }
        putchar('\n');
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "digits", required_argument, NULL, 'd' },
        CLI_LONGOPTS,
        { "json", no_argument, NULL, 'j' },
        { "labels", required_argument, NULL, 'l' },
        { "model", required_argument, NULL, 'm' },
        { "normalize", no_argument, NULL, 'n' },
        { "svg", required_argument, NULL, 's' },
        { "top", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    const char *svg_path = NULL, *labels = NULL, *model_dir = NULL;
    int normalize = 0, json = 0, digits = 2;
    size_t top = 10;
    int c;
    while ((c = getopt_long(argc, argv, "hm:", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': digits = (int)xparse_ll("--digits", optarg, 0, 17); break;
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'm': model_dir = optarg; break;
        case 'j': json = 1; break;
        case 'l': labels = optarg; break;
        case 'n': normalize = 1; break;
        case 's': svg_path = optarg; break;
        case 't': top = (size_t)xparse_ll("--top", optarg, 0, 1000000); break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    /* the class list, checked before reading anything */
    enum preds_class_source src = PREDS_FROM_SORTED;
    strtab classes;
    int have_classes = preds_class_list(labels, model_dir, &classes, &src);

    refuse_output_is_input(svg_path, argv + optind, (size_t)(argc - optind));
    preds_t p;
    preds_read_or_die(&p, argv + optind, (size_t)(argc - optind), have_classes ? &classes : NULL, src);
    strtab_free(&classes);
    size_t N = p.N, K = p.K;
    confusion cm;
    confusion_init(&cm, K);
    for (size_t i = 0; i < N; i++)
        confusion_add(&cm, (size_t)p.truth[i], argmax_first(p.logits + i * K, K));
    double *rate = xmalloc(K * K * sizeof *rate);   /* (K, K) row-normalised */
    confusion_normalize(&cm, rate);

    /* off-diagonal pairs, most frequent first */
    pair *pairs = xmalloc(K * K * sizeof *pairs);   /* K >= 1 */
    size_t np = 0;
    uint64_t errors = 0;
    uint64_t *support = xcalloc(K, sizeof *support);
    for (size_t t = 0; t < K; t++)
        for (size_t q = 0; q < K; q++) {
            uint64_t v = cm.m[t * K + q];
            support[t] += v;
            if (t != q && v) {
                pairs[np++] = (pair){ v, t, q };
                errors += v;
            }
        }
    qsort(pairs, np, sizeof *pairs, by_count);
    if (top < np)
        np = top;

    if (json) {
        json_t *o = json_object(), *cl = json_array(), *m = json_array(), *nm = json_array(), *tp = json_array();
        for (size_t t = 0; t < K; t++) {
            json_array_append_new(cl, json_string(p.classes.name[t]));
            json_t *r = json_array(), *rn = json_array();
            for (size_t q = 0; q < K; q++) {
                json_array_append_new(r, json_integer((json_int_t)cm.m[t * K + q]));
                json_array_append_new(rn, json_real(rate[t * K + q]));
            }
            json_array_append_new(m, r);
            json_array_append_new(nm, rn);
        }
        for (size_t i = 0; i < np; i++)
            json_array_append_new(tp, json_pack("{s:s,s:s,s:I,s:f,s:f}", "true", p.classes.name[pairs[i].t],
                                                "pred", p.classes.name[pairs[i].p], "count", (json_int_t)pairs[i].count,
                                                "rate", (double)pairs[i].count / (double)support[pairs[i].t],
                                                "share", (double)pairs[i].count / (double)errors));
        json_object_set_new(o, "n", json_integer((json_int_t)N));
        json_object_set_new(o, "errors", json_integer((json_int_t)errors));
        json_object_set_new(o, "classes", cl);
        json_object_set_new(o, "confusion", m);
        json_object_set_new(o, "normalized", nm);
        json_object_set_new(o, "top", tp);
        if (json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0)
            errx(EXIT_DATA, "cannot write JSON");
        putchar('\n');
        json_decref(o);
    } else {
        char **cells = xmalloc(K * K * sizeof *cells);
        for (size_t i = 0; i < K * K; i++) {
            cells[i] = xmalloc(32);
            snprintf(cells[i], 32, "%llu", (unsigned long long)cm.m[i]);
        }
        printf("confusion matrix, %zu records (rows: true label, columns: predicted label)\n\n", N);
        put_matrix(&p, cells);
        for (size_t i = 0; i < K * K; i++)
            snprintf(cells[i], 32, "%.*f", digits, rate[i]);
        printf("\nnormalised over true labels (each row sums to 1)\n\n");
        put_matrix(&p, cells);
        for (size_t i = 0; i < K * K; i++)
            free(cells[i]);
        free(cells);
        printf("\nmost confused pairs (%llu errors of %zu records)\n\n", (unsigned long long)errors, N);
        size_t w = 4;
        for (size_t k = 0; k < K; k++)
            if (cps(p.classes.name[k]) > w)
                w = cps(p.classes.name[k]);
        pad_left("true", w);
        fputs("    ", stdout);
        pad_left("predicted", w > 9 ? w : 9);
        printf(" %9s %9s %9s\n", "count", "rate", "share");
        for (size_t i = 0; i < np; i++) {
            pad_left(p.classes.name[pairs[i].t], w);
            fputs(" -> ", stdout);
            pad_left(p.classes.name[pairs[i].p], w > 9 ? w : 9);
            printf(" %9llu %9.*f %9.*f\n", (unsigned long long)pairs[i].count, digits + 1,
                   (double)pairs[i].count / (double)support[pairs[i].t], digits + 1,
                   (double)pairs[i].count / (double)errors);
        }
    }

    if (svg_path) {
        svg_t *s = fig_confusion(&cm, p.classes.name, normalize);
        if (fig_save(s, svg_path) != 0)
            err(EXIT_DATA, "%s", svg_path);
        svg_free(s);
    }
    free(pairs);
    free(support);
    free(rate);
    confusion_free(&cm);
    preds_free(&p);
    out_close();
    return 0;
}
