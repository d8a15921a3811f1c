/* SVG figure library: see svg.h.  Elements are printed into an in-memory stream
 * (open_memstream) as they are drawn; svg_write wraps them in the document header. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "plot/svg.h"
#include "util/util.h"

#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"

struct svg {
    double width, height;
    FILE *body;        /* open_memstream over bodybuf */
    char *bodybuf;
    size_t bodylen;
    char *doc;         /* last svg_data() result */
    int nclip;         /* counter for unique clipPath ids */
};

svg_t *svg_new(double width, double height)
{
    svg_t *s = xcalloc(1, sizeof *s);
    s->width = width;
    s->height = height;
    s->body = open_memstream(&s->bodybuf, &s->bodylen);
    if (!s->body)
        abort();
    fprintf(s->body, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n",
            width, height);
    return s;
}

void svg_free(svg_t *s)
{
    if (!s)
        return;
    fclose(s->body);
    free(s->bodybuf);
    free(s->doc);
    free(s);
}

double svg_width(const svg_t *s) { return s->width; }
double svg_height(const svg_t *s) { return s->height; }

static void put_header(FILE *fp, const svg_t *s)
{
    fprintf(fp,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"" FONT "\">\n",
            s->width, s->height, s->width, s->height);
}

int svg_write(const svg_t *s, FILE *fp)
{
    fflush(s->body);
    put_header(fp, s);
    fwrite(s->bodybuf, 1, s->bodylen, fp);
    fputs("</svg>\n", fp);
    return ferror(fp) ? -1 : 0;
}

const char *svg_data(svg_t *s)
{
    free(s->doc);
    s->doc = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&s->doc, &n);
    if (!m)
        abort();
    svg_write(s, m);
    fclose(m);
    return s->doc;
}

/* ---- text --------------------------------------------------------------- */

void svg_escape(FILE *fp, const char *text)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    size_t n = strlen(text), i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            fputs("\xEF\xBF\xBD", fp);   /* U+FFFD for a byte that is not UTF-8 */
            i++;
            continue;
        }
        switch (cp) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&apos;", fp); break;
        default:
            /* XML 1.0 forbids C0 controls except tab/LF/CR, and U+FFFE/FFFF */
            if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0xFFFE || cp == 0xFFFF)
                fputs("\xEF\xBF\xBD", fp);
            else
                fwrite(p + i, 1, (size_t)k, fp);
        }
        i += (size_t)k;
    }
}

double svg_text_width(const char *text, double size)
{
    size_t cps = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p & 0xC0) != 0x80)
            cps++;
    return 0.6 * size * (double)cps;
}

void svg_text(svg_t *s, double x, double y, double size, enum svg_anchor anchor, double rotate,
              int bold, const char *fill, const char *text)
{
    static const char *const anchors[] = { "start", "middle", "end" };
    fprintf(s->body, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" text-anchor=\"%s\"", x, y,
            size, anchors[anchor]);
    if (rotate != 0)
        fprintf(s->body, " transform=\"rotate(%.1f %.2f %.2f)\"", rotate, x, y);
    if (bold)
        fputs(" font-weight=\"bold\"", s->body);
    if (fill && strcmp(fill, "black") != 0) {
        fputs(" fill=\"", s->body);
        svg_escape(s->body, fill);
        fputc('"', s->body);
    }
    fputc('>', s->body);
    svg_escape(s->body, text);
    fputs("</text>\n", s->body);
}

void svg_rect(svg_t *s, double x, double y, double w, double h, const char *fill, const char *stroke)
{
    fprintf(s->body, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"", x, y,
            w > 0 ? w : 0, h > 0 ? h : 0);
    svg_escape(s->body, fill ? fill : "none");
    fputs("\" stroke=\"", s->body);
    svg_escape(s->body, stroke ? stroke : "none");
    fputs("\"/>\n", s->body);
}

void svg_segment(svg_t *s, double x1, double y1, double x2, double y2, const char *stroke,
                 double width, int dashed)
{
    fprintf(s->body, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke-width=\"%.2f\"%s stroke=\"",
            x1, y1, x2, y2, width, dashed ? " stroke-dasharray=\"6 4\"" : "");
    svg_escape(s->body, stroke);
    fputs("\"/>\n", s->body);
}

void svg_title(svg_t *s, const char *text)
{
    svg_text(s, s->width / 2, 26, 16, SVG_MIDDLE, 0, 1, NULL, text);
}

/* ---- colours ------------------------------------------------------------ */

const char *svg_palette(size_t i)
{
    /* Okabe & Ito (2008), "Color Universal Design"; black moved last because it is
     * used for reference lines. */
    static const char *const okabe_ito[SVG_PALETTE_SIZE] = {
        "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    };
    return okabe_ito[i % SVG_PALETTE_SIZE];
}

void svg_colormap(double t, char out[8])
{
    /* ColorBrewer "Blues" (9 classes), interpolated linearly in sRGB. */
    static const unsigned char stops[9][3] = {
        { 0xf7, 0xfb, 0xff }, { 0xde, 0xeb, 0xf7 }, { 0xc6, 0xdb, 0xef }, { 0x9e, 0xca, 0xe1 },
        { 0x6b, 0xae, 0xd6 }, { 0x42, 0x92, 0xc6 }, { 0x21, 0x71, 0xb5 }, { 0x08, 0x51, 0x9c },
        { 0x08, 0x30, 0x6b },
    };
    if (!(t > 0))
        t = 0;            /* also NaN */
    if (t > 1)
        t = 1;
    double u = t * 8;
    int k = (int)u;
    if (k > 7)
        k = 7;
    double f = u - k;
    int c[3];
    for (int j = 0; j < 3; j++)
        c[j] = (int)lround(stops[k][j] + f * (stops[k + 1][j] - stops[k][j]));
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

const char *svg_colormap_text(double t)
{
    return t > 0.45 ? "white" : "black";
}

/* ---- axes --------------------------------------------------------------- */

void svg_axes_init(svg_axes *ax, svg_t *s, double x, double y, double w, double h,
                   double xmin, double xmax, double ymin, double ymax)
{
    memset(ax, 0, sizeof *ax);
    ax->svg = s;
    ax->x = x, ax->y = y, ax->w = w, ax->h = h;
    /* a degenerate range would divide by zero below */
    if (!(xmax > xmin))
        xmax = xmin + 1;
    if (!(ymax > ymin))
        ymax = ymin + 1;
    ax->xmin = xmin, ax->xmax = xmax, ax->ymin = ymin, ax->ymax = ymax;
}

void svg_axes_y2(svg_axes *ax, double ymin, double ymax, const char *label)
{
    if (!(ymax > ymin))
        ymax = ymin + 1;
    ax->has_y2 = 1;
    ax->y2min = ymin, ax->y2max = ymax;
    ax->y2label = label;
}

double svg_px(const svg_axes *ax, double x)
{
    return ax->x + (x - ax->xmin) / (ax->xmax - ax->xmin) * ax->w;
}

double svg_py(const svg_axes *ax, double y)
{
    return ax->y + ax->h - (y - ax->ymin) / (ax->ymax - ax->ymin) * ax->h;
}

double svg_py2(const svg_axes *ax, double y)
{
    return ax->y + ax->h - (y - ax->y2min) / (ax->y2max - ax->y2min) * ax->h;
}

void svg_nice_ticks(double lo, double hi, int target, double *first, double *step, int *count)
{
    if (target < 1)
        target = 1;
    double span = hi - lo;
    if (!(span > 0) || !isfinite(span)) {
        *first = lo, *step = 1, *count = 1;
        return;
    }
    double raw = span / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    *step = nice * mag;
    *first = ceil(lo / *step - 1e-9) * *step;
    int n = (int)floor((hi - *first) / *step + 1e-9) + 1;
    *count = n > 0 ? n : 0;
}

static void tick_label(char *buf, size_t n, double v, double step)
{
    int dec = 0;
    if (step < 1)
        dec = (int)ceil(-log10(step) - 1e-9);
    if (dec > 6)
        dec = 6;
    if (fabs(v) < step * 1e-6)
        v = 0;            /* avoid "-0.0" */
    snprintf(buf, n, "%.*f", dec, v);
}

static void frame_and_y(svg_axes *ax, const char *ylabel)
{
    svg_t *s = ax->svg;
    double first, step;
    int count;
    svg_nice_ticks(ax->ymin, ax->ymax, 5, &first, &step, &count);
    double widest = 0;
    for (int i = 0; i < count; i++) {
        double v = first + i * step;
        double py = svg_py(ax, v);
        char buf[64];
        tick_label(buf, sizeof buf, v, step);
        svg_segment(s, ax->x, py, ax->x + ax->w, py, "#e0e0e0", 1, 0);
        svg_segment(s, ax->x - 5, py, ax->x, py, "black", 1, 0);
        svg_text(s, ax->x - 8, py + 4, 11, SVG_END, 0, 0, NULL, buf);
        double w = svg_text_width(buf, 11);
        if (w > widest)
            widest = w;
    }
    if (ylabel)
        svg_text(s, ax->x - 16 - widest, ax->y + ax->h / 2, 13, SVG_MIDDLE, -90, 0, NULL, ylabel);
    if (ax->has_y2) {
        svg_nice_ticks(ax->y2min, ax->y2max, 5, &first, &step, &count);
        widest = 0;
        for (int i = 0; i < count; i++) {
            double v = first + i * step;
            double py = svg_py2(ax, v);
            char buf[64];
            tick_label(buf, sizeof buf, v, step);
            svg_segment(s, ax->x + ax->w, py, ax->x + ax->w + 5, py, "black", 1, 0);
            svg_text(s, ax->x + ax->w + 8, py + 4, 11, SVG_START, 0, 0, NULL, buf);
            double w = svg_text_width(buf, 11);
            if (w > widest)
                widest = w;
        }
        if (ax->y2label)
            svg_text(s, ax->x + ax->w + 22 + widest, ax->y + ax->h / 2, 13, SVG_MIDDLE, 90, 0,
                     NULL, ax->y2label);
    }
    svg_rect(s, ax->x, ax->y, ax->w, ax->h, "none", "black");
}

void svg_axes_draw(svg_axes *ax, const char *xlabel, const char *ylabel)
{
    svg_t *s = ax->svg;
    double first, step;
    int count;
    svg_nice_ticks(ax->xmin, ax->xmax, 6, &first, &step, &count);
    for (int i = 0; i < count; i++) {
        double v = first + i * step;
        double px = svg_px(ax, v);
        char buf[64];
        tick_label(buf, sizeof buf, v, step);
        svg_segment(s, px, ax->y, px, ax->y + ax->h, "#e0e0e0", 1, 0);
        svg_segment(s, px, ax->y + ax->h, px, ax->y + ax->h + 5, "black", 1, 0);
        svg_text(s, px, ax->y + ax->h + 18, 11, SVG_MIDDLE, 0, 0, NULL, buf);
    }
    if (xlabel)
        svg_text(s, ax->x + ax->w / 2, ax->y + ax->h + 38, 13, SVG_MIDDLE, 0, 0, NULL, xlabel);
    frame_and_y(ax, ylabel);
}

void svg_axes_draw_categorical(svg_axes *ax, const double *pos, const char *const *labels,
                               size_t n, const char *xlabel, const char *ylabel)
{
    svg_t *s = ax->svg;
    double slot = n ? ax->w / (double)n : ax->w, widest = 0;
    for (size_t i = 0; i < n; i++) {
        double w = svg_text_width(labels[i], 11);
        if (w > widest)
            widest = w;
    }
    int rotate = widest > slot * 0.95;
    for (size_t i = 0; i < n; i++) {
        double px = svg_px(ax, pos[i]);
        svg_segment(s, px, ax->y + ax->h, px, ax->y + ax->h + 5, "black", 1, 0);
        if (rotate)
            svg_text(s, px + 3, ax->y + ax->h + 16, 11, SVG_END, -30, 0, NULL, labels[i]);
        else
            svg_text(s, px, ax->y + ax->h + 18, 11, SVG_MIDDLE, 0, 0, NULL, labels[i]);
    }
    double below = rotate ? 16 + widest * 0.5 + 18 : 38;
    if (xlabel)
        svg_text(s, ax->x + ax->w / 2, ax->y + ax->h + below, 13, SVG_MIDDLE, 0, 0, NULL, xlabel);
    frame_and_y(ax, ylabel);
}

/* Opens a group clipped to the plot area; returns nothing, caller closes with "</g>". */
static void clip_begin(svg_axes *ax)
{
    svg_t *s = ax->svg;
    int id = ++s->nclip;
    fprintf(s->body, "<clipPath id=\"c%d\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/></clipPath>\n",
            id, ax->x - 1, ax->y - 1, ax->w + 2, ax->h + 2);
    fprintf(s->body, "<g clip-path=\"url(#c%d)\">\n", id);
}

/* ---- series ------------------------------------------------------------- */

static void polyline(svg_axes *ax, const double *x, const double *y, size_t n, const char *colour,
                     double width, int dashed, int on_y2, int steps)
{
    if (n == 0)
        return;
    svg_t *s = ax->svg;
    clip_begin(ax);
    fprintf(s->body, "<polyline fill=\"none\" stroke-width=\"%.2f\" stroke-linejoin=\"round\"%s stroke=\"",
            width, dashed ? " stroke-dasharray=\"6 4\"" : "");
    svg_escape(s->body, colour);
    fputs("\" points=\"", s->body);
    for (size_t i = 0; i < n; i++) {
        double px = svg_px(ax, x[i]);
        double py = on_y2 ? svg_py2(ax, y[i]) : svg_py(ax, y[i]);
        if (!isfinite(px) || !isfinite(py))
            continue;
        if (steps && i > 0)   /* steps-post: hold the previous y until the new x */
            fprintf(s->body, "%.2f,%.2f ", px, on_y2 ? svg_py2(ax, y[i - 1]) : svg_py(ax, y[i - 1]));
        fprintf(s->body, "%.2f,%.2f ", px, py);
    }
    fputs("\"/>\n</g>\n", s->body);
}

void svg_line(svg_axes *ax, const double *x, const double *y, size_t n, const char *colour,
              double width, int dashed, int on_y2)
{
    polyline(ax, x, y, n, colour, width, dashed, on_y2, 0);
}

void svg_step(svg_axes *ax, const double *x, const double *y, size_t n, const char *colour,
              double width)
{
    polyline(ax, x, y, n, colour, width, 0, 0, 1);
}

void svg_line_markers(svg_axes *ax, const double *x, const double *y, size_t n,
                      const char *colour, double radius, int on_y2)
{
    svg_t *s = ax->svg;
    fputs("<g fill=\"", s->body);
    svg_escape(s->body, colour);
    fputs("\">\n", s->body);
    for (size_t i = 0; i < n; i++) {
        double px = svg_px(ax, x[i]), py = on_y2 ? svg_py2(ax, y[i]) : svg_py(ax, y[i]);
        if (isfinite(px) && isfinite(py))
            fprintf(s->body, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\"/>\n", px, py, radius);
    }
    fputs("</g>\n", s->body);
}

void svg_scatter(svg_axes *ax, const double *x, const double *y, const int *cls, size_t n,
                 double radius, double opacity)
{
    svg_t *s = ax->svg;
    int maxc = 0;
    for (size_t i = 0; cls && i < n; i++)
        if (cls[i] > maxc)
            maxc = cls[i];
    clip_begin(ax);
    for (int c = 0; c <= maxc; c++) {
        fprintf(s->body, "<g fill=\"%s\" fill-opacity=\"%.3f\">\n", svg_palette((size_t)c), opacity);
        for (size_t i = 0; i < n; i++) {
            int ci = cls ? cls[i] : 0;
            if (ci != c)
                continue;
            double px = svg_px(ax, x[i]), py = svg_py(ax, y[i]);
            if (isfinite(px) && isfinite(py))
                fprintf(s->body, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.2f\"/>\n", px, py, radius);
        }
        fputs("</g>\n", s->body);
    }
    fputs("</g>\n", s->body);
}

void svg_bars(svg_axes *ax, const double *x, const double *h, size_t n, double width,
              const char *fill, int on_y2)
{
    svg_t *s = ax->svg;
    double base = on_y2 ? (ax->y2min > 0 ? ax->y2min : 0) : (ax->ymin > 0 ? ax->ymin : 0);
    clip_begin(ax);
    for (size_t i = 0; i < n; i++) {
        double x0 = svg_px(ax, x[i] - width / 2), x1 = svg_px(ax, x[i] + width / 2);
        double y0 = on_y2 ? svg_py2(ax, base) : svg_py(ax, base);
        double y1 = on_y2 ? svg_py2(ax, h[i]) : svg_py(ax, h[i]);
        if (!isfinite(y1))
            continue;
        svg_rect(s, x0, y1 < y0 ? y1 : y0, x1 - x0, fabs(y0 - y1), fill, "none");
    }
    fputs("</g>\n", s->body);
}

/* ---- heatmap ------------------------------------------------------------ */

void svg_cell(svg_t *s, double x, double y, double w, double h, const char *fill,
              const char *text, const char *text_colour, double font_size)
{
    svg_rect(s, x, y, w, h, fill, "white");
    if (text)
        svg_text(s, x + w / 2, y + h / 2 + font_size * 0.35, font_size, SVG_MIDDLE, 0, 0,
                 text_colour, text);
}

void svg_colorbar(svg_t *s, double x, double y, double w, double h, double lo, double hi,
                  const char *label)
{
    const int bands = 64;
    for (int i = 0; i < bands; i++) {
        char c[8];
        svg_colormap((i + 0.5) / bands, c);
        /* band i covers fraction [i, i+1)/bands from the bottom; overlap 0.5 px against seams */
        svg_rect(s, x, y + h - (i + 1) * h / bands, w, h / bands + 0.5, c, "none");
    }
    svg_rect(s, x, y, w, h, "none", "black");
    if (!(hi > lo))
        hi = lo + 1;
    double first, step;
    int count;
    svg_nice_ticks(lo, hi, 5, &first, &step, &count);
    double widest = 0;
    for (int i = 0; i < count; i++) {
        double v = first + i * step;
        double py = y + h - (v - lo) / (hi - lo) * h;
        char buf[64];
        tick_label(buf, sizeof buf, v, step);
        svg_segment(s, x + w, py, x + w + 4, py, "black", 1, 0);
        svg_text(s, x + w + 7, py + 4, 11, SVG_START, 0, 0, NULL, buf);
        double tw = svg_text_width(buf, 11);
        if (tw > widest)
            widest = tw;
    }
    if (label)
        svg_text(s, x + w + 20 + widest, y + h / 2, 13, SVG_MIDDLE, 90, 0, NULL, label);
}

/* ---- legend ------------------------------------------------------------- */

double svg_legend_width(const svg_legend_item *items, size_t n)
{
    double widest = 0;
    for (size_t i = 0; i < n; i++) {
        double w = svg_text_width(items[i].label, 12);
        if (w > widest)
            widest = w;
    }
    return widest + 46;
}

void svg_legend(svg_t *s, double x, double y, const svg_legend_item *items, size_t n)
{
    const double row = 18;
    svg_rect(s, x, y, svg_legend_width(items, n), row * (double)n + 10, "white", "#999999");
    for (size_t i = 0; i < n; i++) {
        double cy = y + 5 + row * (double)i + row / 2;
        const char *c = items[i].colour;
        switch (items[i].key) {
        case SVG_KEY_LINE: svg_segment(s, x + 8, cy, x + 30, cy, c, 2.5, 0); break;
        case SVG_KEY_DASHED: svg_segment(s, x + 8, cy, x + 30, cy, c, 2, 1); break;
        case SVG_KEY_BOX: svg_rect(s, x + 12, cy - 6, 14, 12, c, "none"); break;
        case SVG_KEY_DOT:
            fprintf(s->body, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"5\" fill=\"", x + 19, cy);
            svg_escape(s->body, c);
            fputs("\"/>\n", s->body);
            break;
        }
        svg_text(s, x + 38, cy + 4, 12, SVG_START, 0, 0, NULL, items[i].label);
    }
}
