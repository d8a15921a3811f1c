/* emo-tsne: embeddings -> 2-D Barnes-Hut t-SNE coordinates, cluster statistics and a
 * scatter figure.  Reads every record (t-SNE needs them all), runs lib/embed/tsne, then
 * writes the same records with a "tsne" field [x, y] added. */
#include <err.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "embed/clusters.h"
#include "embed/tsne.h"
#include "io/rec.h"
#include "plot/svg.h"
#include "util/cli.h"
#include "util/labels.h"
#include "util/par.h"
#include "util/util.h"

#define MAX_DIM 65536
#define NO_LABEL "(no label)"

static const cli_help help = {
    "tsne",
    "usage: emo tsne [-fqv] [--perplexity P] [--iter N] [--seed N] [--threads N] [--exact]\n"
    "                [--theta T] [--learning-rate R] [--drop-embedding] [--svg FILE]\n"
    "                [--title TEXT] [--stats FILE] [--silhouette-input] [-o FILE] [FILE]\n",
    "      --drop-embedding    leave the embedding field out of the output\n"
    "      --exact             exact t-SNE: all neighbours, O(N^2) repulsion\n"
    "  -f, --force             write records to a terminal\n"
    "      --iter N            iterations (1250)\n"
    "      --learning-rate R   fixed learning rate instead of max(N / 48, 50)\n"
    "  -o, --output FILE       write the records to FILE instead of standard output\n"
    "      --perplexity P      effective number of neighbours (30)\n"
    "  -q, --quiet             print neither the KL line nor the table\n"
    "      --seed N            seed of the vantage points and the PCA start (0)\n"
    "      --silhouette-input  also the silhouette in input space (slow)\n"
    "      --stats FILE        write the cluster statistics (JSON or TSV)\n"
    "      --svg FILE          write a scatter figure coloured by class\n"
    "      --theta T           Barnes-Hut angle (0.5)\n"
    "      --threads N         threads (all cores)\n"
    "      --title TEXT        title of the figure\n"
    "  -v, --verbose           print the KL estimate every 50 iterations\n",
};

/* All records kept packed in one buffer, and their embeddings as a matrix. */
typedef struct input {
    msgpack_sbuffer buf;
    size_t *off;              /* (N + 1) record offsets in buf */
    float *X;                 /* (N, D) */
    size_t N, D, cap;
    strtab names;             /* (K) class names, sorted: names.name[k] */
    uint32_t *cls;            /* (N) class index */
    size_t K;
} input;

static void read_input(input *in, const char *path)
{
    rec_reader *r = rec_reader_open(path);
    if (!r)
        err(EXIT_DATA, "%s", path);
    msgpack_sbuffer_init(&in->buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &in->buf, msgpack_sbuffer_write);
    float *row = xmalloc(MAX_DIM * sizeof *row);
    rec_t rec;
    while (rec_read_or_die(r, &rec)) {
        size_t d = rec_need_f32v(r, &rec, "embedding", row, MAX_DIM);
        if (in->N == 0) {
            if (d == 0)
                rec_die(r, "field 'embedding' is empty");
            in->D = d;
        } else if (d != in->D) {
            rec_die(r, "field 'embedding' has %zu values, but record 1 has %zu", d, in->D);
        }
        for (size_t j = 0; j < d; j++)
            if (!isfinite(row[j]))
                rec_die(r, "field 'embedding' value %zu is not a finite float32 (%g)", j, (double)row[j]);
        double norm = tsne_norm(row, d);
        if (!(norm <= TSNE_MAX_NORM))
            rec_die(r, "field 'embedding' is too large: its norm %g exceeds %g, and the squared distances "
                    "would overflow float32", norm, TSNE_MAX_NORM);
        const char *lab = NO_LABEL;
        size_t llen = strlen(NO_LABEL);
        int k = rec_get_str(&rec, "label", &lab, &llen);
        if (k == -2)
            rec_die(r, "field 'label' is not a string");
        if (k == -1) {
            lab = NO_LABEL;
            llen = strlen(NO_LABEL);
        }
        if (in->N == in->cap) {
            in->cap = in->cap ? 2 * in->cap : 1024;
            in->X = xreallocarray(in->X, in->cap, in->D * sizeof *in->X);
            in->off = xreallocarray(in->off, in->cap + 1, sizeof *in->off);
            in->cls = xreallocarray(in->cls, in->cap, sizeof *in->cls);
        }
        memcpy(in->X + in->N * in->D, row, in->D * sizeof *row);
        in->cls[in->N] = strtab_add(&in->names, lab, llen);
        in->off[in->N] = in->buf.size;
        msgpack_object m = { .type = MSGPACK_OBJECT_MAP };
        m.via.map.size = rec.nfields;
        m.via.map.ptr = (msgpack_object_kv *)rec.kv;
        msgpack_pack_object(&pk, m);
        in->N++;
    }
    if (in->off)
        in->off[in->N] = in->buf.size;
    free(row);
    rec_reader_close(r);
    /* classes in sorted name order */
    uint32_t *remap = xmalloc((in->names.n ? in->names.n : 1) * sizeof *remap);
    strtab_sort(&in->names, remap);
    for (size_t i = 0; i < in->N; i++)
        in->cls[i] = remap[in->cls[i]];
    in->K = in->names.n;
    free(remap);
}

static void free_input(input *in)
{
    msgpack_sbuffer_destroy(&in->buf);
    strtab_free(&in->names);
    free(in->off);
    free(in->X);
    free(in->cls);
}

static void write_records(const input *in, const double *Y, FILE *fp, const char *name, int drop)
{
    rec_writer *w = rec_writer_open(fp, name);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    msgpack_object_kv *kv = NULL;
    size_t kvcap = 0;
    const char *newkeys[] = { "tsne" };
    for (size_t i = 0; i < in->N; i++) {
        size_t off = in->off[i];
        if (msgpack_unpack_next(&up, in->buf.data, in->off[i + 1], &off) != MSGPACK_UNPACK_SUCCESS)
            errx(EXIT_DATA, "internal error: stored record %zu does not unpack", i + 1);
        const msgpack_object_map *m = &up.data.via.map;
        if (m->size > kvcap) {
            kvcap = m->size;
            kv = xreallocarray(kv, kvcap, sizeof *kv);
        }
        rec_t view = { .kv = kv, .nfields = 0, .index = i + 1 };
        for (uint32_t f = 0; f < m->size; f++) {
            const msgpack_object *k = &m->ptr[f].key;
            if (drop && k->type == MSGPACK_OBJECT_STR && k->via.str.size == 9 &&
                memcmp(k->via.str.ptr, "embedding", 9) == 0)
                continue;
            kv[view.nfields++] = m->ptr[f];
        }
        msgpack_packer *pk = rec_begin(w, &view, newkeys, 1);
        float xy[2] = { (float)Y[2 * i], (float)Y[2 * i + 1] };
        rec_pack_key(pk, "tsne");
        rec_pack_f32v(pk, xy, 2);
        rec_end(w);
    }
    msgpack_unpacked_destroy(&up);
    free(kv);
    if (rec_writer_close(w) != 0)
        err(EXIT_DATA, "%s", name ? name : "write error on standard output");
}

static void write_svg(const input *in, const double *Y, const char *title, FILE *fp, const char *path)
{
    size_t N = in->N, K = in->K;
    svg_legend_item *items = xcalloc(K, sizeof *items);
    char **lab = xcalloc(K, sizeof *lab);
    size_t *count = xcalloc(K, sizeof *count);
    for (size_t i = 0; i < N; i++)
        count[in->cls[i]]++;
    for (size_t k = 0; k < K; k++) {
        size_t n = strlen(in->names.name[k]) + 32;
        lab[k] = xmalloc(n);
        snprintf(lab[k], n, "%s (%zu)", in->names.name[k], count[k]);
        items[k] = (svg_legend_item){ lab[k], svg_palette(k), SVG_KEY_DOT };
    }
    double lw = K > 1 ? svg_legend_width(items, K) : 0;
    double pw = 560, ph = 480, W = 80 + pw + (lw > 0 ? lw + 40 : 30), H = 60 + ph + 60;
    svg_t *s = svg_new(W, H);
    svg_title(s, title);
    double x0 = Y[0], x1 = Y[0], y0 = Y[1], y1 = Y[1];
    for (size_t i = 0; i < N; i++) {
        x0 = fmin(x0, Y[2 * i]);
        x1 = fmax(x1, Y[2 * i]);
        y0 = fmin(y0, Y[2 * i + 1]);
        y1 = fmax(y1, Y[2 * i + 1]);
    }
    double mx = 0.04 * (x1 - x0) + 1e-9, my = 0.04 * (y1 - y0) + 1e-9;
    svg_axes ax;
    svg_axes_init(&ax, s, 80, 60, pw, ph, x0 - mx, x1 + mx, y0 - my, y1 + my);
    svg_axes_draw(&ax, "t-SNE 1", "t-SNE 2");
    double *xs = xmalloc(N * sizeof *xs), *ys = xmalloc(N * sizeof *ys);
    int *cls = xmalloc(N * sizeof *cls);
    for (size_t i = 0; i < N; i++) {
        xs[i] = Y[2 * i];
        ys[i] = Y[2 * i + 1];
        cls[i] = (int)in->cls[i];
    }
    double radius = N > 20000 ? 1.2 : N > 2000 ? 1.8 : 3;
    svg_scatter(&ax, xs, ys, cls, N, radius, N > 2000 ? 0.6 : 0.85);
    if (K > 1)
        svg_legend(s, 80 + pw + 20, 60, items, K);
    if (svg_write(s, fp) != 0)
        err(EXIT_DATA, "%s", path);
    svg_free(s);
    for (size_t k = 0; k < K; k++)
        free(lab[k]);
    free(lab);
    free(items);
    free(count);
    free(xs);
    free(ys);
    free(cls);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int main(int argc, char **argv)
{
    enum { O_PERP = 256, O_SVG, O_SEED, O_THREADS, O_ITER, O_EXACT, O_THETA, O_LR, O_DROP, O_TITLE, O_STATS, O_SILIN };
    static const struct option longopts[] = {
        { "drop-embedding", no_argument, NULL, O_DROP },
        { "exact", no_argument, NULL, O_EXACT },
        { "force", no_argument, NULL, 'f' },
        CLI_LONGOPTS,
        { "iter", required_argument, NULL, O_ITER },
        { "learning-rate", required_argument, NULL, O_LR },
        { "output", required_argument, NULL, 'o' },
        { "perplexity", required_argument, NULL, O_PERP },
        { "quiet", no_argument, NULL, 'q' },
        { "seed", required_argument, NULL, O_SEED },
        { "silhouette-input", no_argument, NULL, O_SILIN },
        { "stats", required_argument, NULL, O_STATS },
        { "svg", required_argument, NULL, O_SVG },
        { "theta", required_argument, NULL, O_THETA },
        { "threads", required_argument, NULL, O_THREADS },
        { "title", required_argument, NULL, O_TITLE },
        { "verbose", no_argument, NULL, 'v' },
        { NULL, 0, NULL, 0 },
    };
    tsne_opts o;
    tsne_opts_default(&o);
    /* scikit-learn's 1000 iterations plus 250 at momentum 0.8: the final KL is still falling
     * at 1000, and with 1250 ours ends below sklearn's at 3.6x its speed (bench/README.md) */
    o.iters = 1250;
    const char *out = NULL, *svg = NULL, *stats = NULL, *title = NULL;
    int force = 0, quiet = 0, drop = 0, silin = 0, threads = 0, c;
    while ((c = getopt_long(argc, argv, "fho:qv", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'o': out = optarg; break;
        case 'q': quiet = 1; break;
        case 'v': o.verbose = 1; o.trace_every = 50; break;
        case O_DROP: drop = 1; break;
        case O_EXACT: o.exact = 1; break;
        case O_ITER: o.iters = (int)xparse_ll("--iter", optarg, 1, 1000000); break;
        case O_LR: o.learning_rate = xparse_double("--learning-rate", optarg, 1e-6, 1e9); break;
        case O_PERP: o.perplexity = xparse_double("--perplexity", optarg, 1, 1e6); break;
        case O_SEED: o.seed = (uint64_t)xparse_ll("--seed", optarg, 0, INT64_MAX); break;
        case O_SILIN: silin = 1; break;
        case O_STATS: stats = optarg; break;
        case O_SVG: svg = optarg; break;
        case O_THETA: o.theta = xparse_double("--theta", optarg, 1e-6, 2); break;
        case O_THREADS: threads = (int)xparse_ll("--threads", optarg, 0, 256); break;
        case O_TITLE: title = optarg; break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (argc - optind > 1)
        cli_usage(&help, EXIT_USAGE);
    const char *path = optind < argc ? argv[optind] : NULL;
    const char *name = path && strcmp(path, "-") ? path : "<stdin>";
    if (!out)
        refuse_tty_stdout(force);
    refuse_output_is_input(out, argv + optind, (size_t)(argc - optind));
    refuse_output_is_input(svg, argv + optind, (size_t)(argc - optind));
    refuse_output_is_input(stats, argv + optind, (size_t)(argc - optind));
    o.threads = threads_setup(threads);

    input in = { 0 };
    read_input(&in, path);
    char msg[256];
    if (tsne_check(in.N, o.perplexity, o.exact, msg, sizeof msg))
        errx(EXIT_DATA, "%s: %s", name, msg);
    /* cluster statistics: silhouette needs 2 <= classes <= N - 1 (as sklearn) */
    int have_stats = in.K >= 2 && in.K < in.N;
    if (stats && !have_stats)
        errx(EXIT_DATA, "%s: --stats needs at least 2 classes (field 'label') and fewer classes than points", name);

    double *Y = xmalloc(2 * in.N * sizeof *Y);
    tsne_result res;
    double t0 = now_seconds();
    if (tsne_run(in.X, in.N, in.D, &o, Y, &res, msg, sizeof msg) != 0)
        errx(EXIT_DATA, "%s: %s", name, msg);
    double secs = now_seconds() - t0;
    if (!quiet)
        fprintf(stderr,
                "emo-tsne: %zu points, dim %zu, perplexity %g, %d iterations%s: KL %.6f (sklearn-style estimate), "
                "exact KL %.6f; %.2f s (affinities %.2f s)\n",
                in.N, in.D, o.perplexity, res.iters, o.exact ? " (exact)" : "", res.kl_bh, res.kl_exact, secs,
                res.seconds_affinity);

    cluster_stats st = { 0 };
    if (have_stats) {
        double *Xd = NULL;
        if (silin) {
            Xd = xmalloc(in.N * in.D * sizeof *Xd);
            for (size_t m = 0; m < in.N * in.D; m++)
                Xd[m] = in.X[m];
        }
        cluster_stats_compute(&st, Y, Xd, in.D, in.N, in.cls, in.K, (const char *const *)in.names.name, o.threads);
        free(Xd);
        if (!quiet)
            cluster_stats_print(&st, stderr);
    }

    atomic_file af_svg, af_stats;
    cli_out o_out;
    if (svg) {
        FILE *fp = atomic_open(&af_svg, svg);
        char deftitle[300];
        snprintf(deftitle, sizeof deftitle, "t-SNE of %s (%zu points, perplexity %g)", name, in.N, o.perplexity);
        write_svg(&in, Y, title ? title : deftitle, fp, svg);
    }
    if (stats) {
        FILE *fp = atomic_open(&af_stats, stats);
        int rc;
        if (ends_with(stats, ".json")) {
            json_t *extra = json_pack("{s:f,s:f,s:I,s:I,s:f,s:I}", "kl_divergence", res.kl_bh, "kl_exact",
                                      res.kl_exact, "n", (json_int_t)in.N, "dim", (json_int_t)in.D,
                                      "perplexity", o.perplexity, "iterations", (json_int_t)res.iters);
            rc = cluster_stats_write_json(&st, extra, fp);
            json_decref(extra);
        } else {
            rc = cluster_stats_write_tsv(&st, fp);
        }
        if (rc != 0)
            err(EXIT_DATA, "%s", stats);
    }
    FILE *fp = cli_out_open(&o_out, out, 0, 0);
    write_records(&in, Y, fp, out, drop);
    if (svg && atomic_commit(&af_svg) != 0)
        err(EXIT_DATA, "%s", svg);
    if (stats && atomic_commit(&af_stats) != 0)
        err(EXIT_DATA, "%s", stats);
    cli_out_commit(&o_out);
    cli_out_close(&o_out);
    if (have_stats)
        cluster_stats_free(&st);
    free(res.trace);
    free(Y);
    free_input(&in);
    return 0;
}
