/* Analysis figures (see figures.h).  Layout constants are pixels. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot/figures.h"
#include "util/util.h"

int fig_save(const svg_t *s, const char *path)
{
    atomic_file af;
    FILE *fp = atomic_open(&af, path);
    if (svg_write(s, fp) != 0) {
        int e = errno;
        atomic_abort(&af);
        errno = e;
        return -1;
    }
    return atomic_commit(&af);
}

void lenb_label(const len_buckets *b, size_t i, char *buf, size_t n)
{
    if (b->hi[i] == INT64_MAX)
        snprintf(buf, n, "%lld+", (long long)b->lo[i]);
    else if (b->hi[i] == b->lo[i])
        snprintf(buf, n, "%lld", (long long)b->lo[i]);
    else
        snprintf(buf, n, "%lld-%lld", (long long)b->lo[i], (long long)b->hi[i]);
}

svg_t *fig_pr_curves(const pr_curve *curves, char *const *names, size_t K, size_t max_points)
{
    svg_legend_item *items = xcalloc(K, sizeof *items);
    char **labels = xcalloc(K, sizeof *labels);
    for (size_t k = 0; k < K; k++) {
        size_t n = strlen(names[k]) + 32;
        labels[k] = xmalloc(n);
        snprintf(labels[k], n, "%s (AP %.3f)", names[k], curves[k].ap);
        items[k] = (svg_legend_item){ labels[k], svg_palette(k), k < SVG_PALETTE_SIZE ? SVG_KEY_LINE : SVG_KEY_DASHED };
    }
    const double left = 70, top = 50, pw = 440, ph = 400;
    double lw = svg_legend_width(items, K);
    svg_t *s = svg_new(left + pw + 24 + lw + 16, top + ph + 60 > top + 18.0 * K + 40 ? top + ph + 60 : top + 18.0 * K + 40);
    svg_title(s, "Precision-recall curves (one-vs-rest)");
    svg_axes ax;
    svg_axes_init(&ax, s, left, top, pw, ph, 0, 1, 0, 1.05);
    svg_axes_draw(&ax, "Recall", "Precision");

    size_t maxn = 0;
    for (size_t k = 0; k < K; k++)
        if (curves[k].n > maxn)
            maxn = curves[k].n;
    size_t *idx = xmalloc(maxn * sizeof *idx);
    double *x = xmalloc(maxn * sizeof *x), *y = xmalloc(maxn * sizeof *y);
    for (size_t k = 0; k < K; k++) {
        size_t n = pr_curve_thin(&curves[k], max_points, idx);
        for (size_t i = 0; i < n; i++) {
            x[i] = curves[k].recall[idx[i]];
            y[i] = curves[k].precision[idx[i]];
        }
        /* Past the palette's 8 colours, repeat them dashed so curves stay distinguishable.
         * A thinned curve is drawn with straight segments: steps between samples far
         * apart would show stairs that are not in the data. */
        if (k < SVG_PALETTE_SIZE && n == curves[k].n)
            svg_step(&ax, x, y, n, svg_palette(k), 2);
        else
            svg_line(&ax, x, y, n, svg_palette(k), 2, k >= SVG_PALETTE_SIZE, 0);
    }
    svg_legend(s, left + pw + 24, top + 10, items, K);
    free(idx);
    free(x);
    free(y);
    for (size_t k = 0; k < K; k++)
        free(labels[k]);
    free(labels);
    free(items);
    return s;
}

svg_t *fig_length_error(const len_buckets *b, const char *unit)
{
    const double left = 80, top = 50, pw = 520, ph = 330;
    size_t nb = b->nb;
    double *pos = xmalloc(nb * sizeof *pos), *cnt = xmalloc(nb * sizeof *cnt);
    double *rate = xmalloc(nb * sizeof *rate), *rx = xmalloc(nb * sizeof *rx);
    char **lab = xmalloc(nb * sizeof *lab);
    double maxc = 0, maxr = 0;
    size_t nr = 0;
    for (size_t i = 0; i < nb; i++) {
        pos[i] = (double)i + 1;
        cnt[i] = (double)b->count[i];
        if (cnt[i] > maxc)
            maxc = cnt[i];
        lab[i] = xmalloc(48);
        lenb_label(b, i, lab[i], 48);
        if (b->count[i]) {       /* empty buckets have no error rate: the line skips them */
            rx[nr] = pos[i];
            rate[nr] = (double)b->errors[i] / (double)b->count[i];
            if (rate[nr] > maxr)
                maxr = rate[nr];
            nr++;
        }
    }
    svg_t *s = svg_new(left + pw + 90, top + ph + 112);
    svg_title(s, "Error rate by input length");
    svg_axes ax;
    svg_axes_init(&ax, s, left, top, pw, ph, 0.4, (double)nb + 0.6, 0, maxc > 0 ? maxc * 1.12 : 1);
    double r_hi = maxr > 0 ? maxr * 1.25 : 1;
    if (r_hi > 1)
        r_hi = 1;
    svg_axes_y2(&ax, 0, r_hi, "error rate");
    char xl[96];
    snprintf(xl, sizeof xl, "length (%s)", unit);
    svg_axes_draw_categorical(&ax, pos, (const char *const *)lab, nb, xl, "records");
    svg_bars(&ax, pos, cnt, nb, 0.7, "#bbbbbb", 0);
    svg_line(&ax, rx, rate, nr, svg_palette(3), 2.5, 0, 1);
    svg_line_markers(&ax, rx, rate, nr, svg_palette(3), 4, 1);
    svg_legend_item items[2] = { { "records (left axis)", "#bbbbbb", SVG_KEY_BOX },
                                 { "error rate (right axis)", svg_palette(3), SVG_KEY_LINE } };
    /* below the axis title, so it never hides a bar */
    svg_legend(s, left, top + ph + 56, items, 2);
    for (size_t i = 0; i < nb; i++)
        free(lab[i]);
    free(lab);
    free(pos);
    free(cnt);
    free(rate);
    free(rx);
    return s;
}

svg_t *fig_confusion(const confusion *c, char *const *names, int normalize)
{
    size_t K = c->K;
    double cell = 440.0 / (double)K;
    if (cell > 80)
        cell = 80;
    if (cell < 22)
        cell = 22;
    double font = cell / 4 < 12 ? cell / 4 : 12;
    double widest = 0;
    for (size_t k = 0; k < K; k++) {
        double w = svg_text_width(names[k], 12);
        if (w > widest)
            widest = w;
    }
    int rotate = widest > cell * 0.95;
    double left = 50 + widest + 10, top = 50, side = cell * (double)K;
    double below = rotate ? widest * 0.72 + 24 : 26;
    svg_t *s = svg_new(left + side + 110, top + side + below + 40);
    svg_title(s, normalize ? "Confusion matrix (normalised over true labels)" : "Confusion matrix");

    double *rate = xmalloc(K * K * sizeof *rate);
    confusion_normalize(c, rate);
    for (size_t t = 0; t < K; t++)
        for (size_t p = 0; p < K; p++) {
            double v = rate[t * K + p];
            char fill[8], txt[32];
            svg_colormap(v, fill);
            if (normalize)
                snprintf(txt, sizeof txt, "%.2f", v);
            else
                snprintf(txt, sizeof txt, "%llu", (unsigned long long)c->m[t * K + p]);
            svg_cell(s, left + cell * (double)p, top + cell * (double)t, cell, cell, fill,
                     cell >= 22 ? txt : NULL, svg_colormap_text(v), font);
        }
    svg_rect(s, left, top, side, side, "none", "black");
    for (size_t k = 0; k < K; k++) {
        double mid = cell * ((double)k + 0.5);
        svg_text(s, left - 8, top + mid + 4, 12, SVG_END, 0, 0, NULL, names[k]);
        if (rotate)
            svg_text(s, left + mid + 4, top + side + 14, 12, SVG_END, -45, 0, NULL, names[k]);
        else
            svg_text(s, left + mid, top + side + 18, 12, SVG_MIDDLE, 0, 0, NULL, names[k]);
    }
    svg_text(s, left + side / 2, top + side + below + 14, 13, SVG_MIDDLE, 0, 1, NULL, "Predicted label");
    svg_text(s, 20, top + side / 2, 13, SVG_MIDDLE, -90, 1, NULL, "True label");
    svg_colorbar(s, left + side + 20, top, 16, side, 0, 1, "fraction of true class");
    free(rate);
    return s;
}
