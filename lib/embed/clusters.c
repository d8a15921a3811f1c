/* Silhouette and cluster statistics; see clusters.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "embed/clusters.h"
#include "util/par.h"
#include "util/util.h"

typedef struct sil_ctx {
    const double *X;
    size_t N, D, K;
    const uint32_t *cls;
    const size_t *size;     /* (K) class sizes */
    double *s;
} sil_ctx;

static void sil_rows(void *arg, size_t lo, size_t hi)
{
    sil_ctx *c = arg;
    double *sum = xmalloc(c->K * sizeof *sum);
    for (size_t i = lo; i < hi; i++) {
        memset(sum, 0, c->K * sizeof *sum);
        const double *xi = c->X + i * c->D;
        for (size_t j = 0; j < c->N; j++) {
            const double *xj = c->X + j * c->D;
            double d2 = 0;
            for (size_t d = 0; d < c->D; d++)
                d2 += (xi[d] - xj[d]) * (xi[d] - xj[d]);
            sum[c->cls[j]] += sqrt(d2);
        }
        size_t own = c->cls[i];
        if (c->size[own] < 2) {
            c->s[i] = 0;
            continue;
        }
        double a = sum[own] / (double)(c->size[own] - 1), b = INFINITY;
        for (size_t k = 0; k < c->K; k++)
            if (k != own && c->size[k] > 0 && sum[k] / (double)c->size[k] < b)
                b = sum[k] / (double)c->size[k];
        double m = fmax(a, b);
        c->s[i] = m > 0 && isfinite(b) ? (b - a) / m : 0;
    }
    free(sum);
}

void silhouette_samples(const double *X, size_t N, size_t D, const uint32_t *cls, size_t K, int threads, double *s)
{
    size_t *size = xcalloc(K, sizeof *size);
    for (size_t i = 0; i < N; i++)
        size[cls[i]]++;
    sil_ctx c = { X, N, D, K, cls, size, s };
    parfor(N, 16, threads, sil_rows, &c);
    free(size);
}

static void class_means(const double *s, const uint32_t *cls, size_t N, size_t K, const size_t *count,
                        double *out, double *all)
{
    double tot = 0;
    memset(out, 0, K * sizeof *out);
    for (size_t i = 0; i < N; i++) {
        out[cls[i]] += s[i];
        tot += s[i];
    }
    for (size_t k = 0; k < K; k++)
        out[k] = count[k] ? out[k] / (double)count[k] : 0;
    *all = N ? tot / (double)N : 0;
}

void cluster_stats_compute(cluster_stats *st, const double *Y, const double *Xin, size_t Din, size_t N,
                           const uint32_t *cls, size_t K, const char *const *names, int threads)
{
    memset(st, 0, sizeof *st);
    st->K = K;
    st->names = names;
    st->count = xcalloc(K, sizeof *st->count);
    st->centroid = xcalloc(2 * K, sizeof *st->centroid);
    st->density = xcalloc(K, sizeof *st->density);
    st->sil = xcalloc(K, sizeof *st->sil);
    st->cdist = xcalloc(K * K, sizeof *st->cdist);
    for (size_t i = 0; i < N; i++) {
        st->count[cls[i]]++;
        st->centroid[2 * cls[i]] += Y[2 * i];
        st->centroid[2 * cls[i] + 1] += Y[2 * i + 1];
    }
    for (size_t k = 0; k < K; k++)
        if (st->count[k]) {
            st->centroid[2 * k] /= (double)st->count[k];
            st->centroid[2 * k + 1] /= (double)st->count[k];
        }
    for (size_t i = 0; i < N; i++) {
        const double *c = st->centroid + 2 * cls[i];
        st->density[cls[i]] += hypot(Y[2 * i] - c[0], Y[2 * i + 1] - c[1]);
    }
    for (size_t k = 0; k < K; k++) {
        if (st->count[k])
            st->density[k] /= (double)st->count[k];
        for (size_t l = 0; l < K; l++)
            st->cdist[k * K + l] = hypot(st->centroid[2 * k] - st->centroid[2 * l],
                                         st->centroid[2 * k + 1] - st->centroid[2 * l + 1]);
    }
    double *s = xmalloc((N ? N : 1) * sizeof *s);
    silhouette_samples(Y, N, 2, cls, K, threads, s);
    class_means(s, cls, N, K, st->count, st->sil, &st->sil_all);
    if (Xin) {
        st->sil_input = xcalloc(K, sizeof *st->sil_input);
        silhouette_samples(Xin, N, Din, cls, K, threads, s);
        class_means(s, cls, N, K, st->count, st->sil_input, &st->sil_input_all);
    }
    free(s);
}

void cluster_stats_free(cluster_stats *st)
{
    free(st->count);
    free(st->centroid);
    free(st->density);
    free(st->sil);
    free(st->sil_input);
    free(st->cdist);
    memset(st, 0, sizeof *st);
}

void cluster_stats_print(const cluster_stats *st, FILE *fp)
{
    int w = 5;
    for (size_t k = 0; k < st->K; k++)
        if ((int)strlen(st->names[k]) > w)
            w = (int)strlen(st->names[k]);
    int cw = 9;
    fprintf(fp, "%-*s %7s %10s %10s", w, "class", "n", "silhouette", "density");
    if (st->sil_input)
        fprintf(fp, " %10s", "sil.input");
    fprintf(fp, "   centroid distance to\n%-*s %7s %10s %10s", w, "", "", "(2-D)", "(2-D)");
    if (st->sil_input)
        fprintf(fp, " %10s", "");
    fputs("  ", fp);
    for (size_t l = 0; l < st->K; l++)
        fprintf(fp, " %*.*s", cw, cw, st->names[l]);
    fputc('\n', fp);
    for (size_t k = 0; k < st->K; k++) {
        fprintf(fp, "%-*s %7zu %10.4f %10.4f", w, st->names[k], st->count[k], st->sil[k], st->density[k]);
        if (st->sil_input)
            fprintf(fp, " %10.4f", st->sil_input[k]);
        fputs("  ", fp);
        for (size_t l = 0; l < st->K; l++)
            fprintf(fp, " %*.3f", cw, st->cdist[k * st->K + l]);
        fputc('\n', fp);
    }
    fprintf(fp, "%-*s %7s %10.4f", w, "all", "", st->sil_all);
    if (st->sil_input)
        fprintf(fp, " %10s %10.4f", "", st->sil_input_all);
    fputc('\n', fp);
}

int cluster_stats_write_tsv(const cluster_stats *st, FILE *fp)
{
    fputs("class\tn\tcentroid_x\tcentroid_y\tdensity\tsilhouette", fp);
    if (st->sil_input)
        fputs("\tsilhouette_input", fp);
    for (size_t l = 0; l < st->K; l++)
        fprintf(fp, "\td:%s", st->names[l]);
    fputc('\n', fp);
    for (size_t k = 0; k < st->K; k++) {
        fprintf(fp, "%s\t%zu\t%.9g\t%.9g\t%.9g\t%.9g", st->names[k], st->count[k], st->centroid[2 * k],
                st->centroid[2 * k + 1], st->density[k], st->sil[k]);
        if (st->sil_input)
            fprintf(fp, "\t%.9g", st->sil_input[k]);
        for (size_t l = 0; l < st->K; l++)
            fprintf(fp, "\t%.9g", st->cdist[k * st->K + l]);
        fputc('\n', fp);
    }
    return ferror(fp) ? -1 : 0;
}

int cluster_stats_write_json(const cluster_stats *st, void *extra, FILE *fp)
{
    json_t *root = json_object(), *classes = json_array();
    for (size_t k = 0; k < st->K; k++) {
        json_t *c = json_object(), *dist = json_object();
        json_object_set_new(c, "label", json_string(st->names[k]));
        json_object_set_new(c, "n", json_integer((json_int_t)st->count[k]));
        json_object_set_new(c, "centroid", json_pack("[f,f]", st->centroid[2 * k], st->centroid[2 * k + 1]));
        json_object_set_new(c, "density", json_real(st->density[k]));
        json_object_set_new(c, "silhouette", json_real(st->sil[k]));
        if (st->sil_input)
            json_object_set_new(c, "silhouette_input", json_real(st->sil_input[k]));
        for (size_t l = 0; l < st->K; l++)
            json_object_set_new(dist, st->names[l], json_real(st->cdist[k * st->K + l]));
        json_object_set_new(c, "centroid_distance", dist);
        json_array_append_new(classes, c);
    }
    json_object_set_new(root, "classes", classes);
    json_object_set_new(root, "silhouette", json_real(st->sil_all));
    if (st->sil_input)
        json_object_set_new(root, "silhouette_input", json_real(st->sil_input_all));
    if (extra)
        json_object_update(root, (json_t *)extra);
    int rc = json_dumpf(root, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    fputc('\n', fp);
    json_decref(root);
    return rc == 0 && !ferror(fp) ? 0 : -1;
}
