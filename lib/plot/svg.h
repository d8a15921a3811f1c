/* Small SVG figure library for emo's analysis tools (PR curves, length analysis,
 * confusion heatmaps, t-SNE scatter).  No dependencies beyond libc and utf8proc.
 *
 * Model: an svg_t is a canvas (pixels, origin top-left) that accumulates elements in
 * memory; svg_write() emits the finished document.  Plots are drawn through an
 * svg_axes, which maps data coordinates to a pixel rectangle of the canvas:
 *
 *     svg_t *s = svg_new(720, 480);
 *     svg_title(s, "Precision-recall curves");
 *     svg_axes ax;
 *     svg_axes_init(&ax, s, 70, 50, 460, 370, 0, 1, 0, 1.05);   // x,y,w,h px; data ranges
 *     svg_axes_draw(&ax, "Recall", "Precision");                 // frame, grid, ticks, labels
 *     svg_line(&ax, rx, py, n, svg_palette(0), 2, 0, 0);
 *     svg_legend_item it[] = { { "joy (AP 0.93)", svg_palette(0), SVG_KEY_LINE } };
 *     svg_legend(s, 545, 60, it, 1);
 *     FILE *f = atomic_open(&af, "pr.svg"); svg_write(s, f); atomic_commit(&af);
 *     svg_free(s);
 *
 * Every string argument is plain UTF-8 text and is XML-escaped here (& < > " '), with
 * invalid UTF-8 and XML-forbidden control characters replaced by U+FFFD, so callers
 * can pass class names and file names straight from data.  Colours are CSS strings
 * ("#0072B2", "none").  Functions never exit; allocation failure aborts via xmalloc. */
#ifndef EMO_SVG_H
#define EMO_SVG_H

#include <stddef.h>
#include <stdio.h>

typedef struct svg svg_t;

/* ---- canvas ------------------------------------------------------------- */
svg_t *svg_new(double width, double height);   /* white background */
void svg_free(svg_t *s);
double svg_width(const svg_t *s);
double svg_height(const svg_t *s);
/* Writes the whole document; returns 0, or -1 if the stream reports an error. */
int svg_write(const svg_t *s, FILE *fp);
/* The document as a NUL-terminated string owned by s (valid until the next drawing call). */
const char *svg_data(svg_t *s);

/* ---- primitives (pixel coordinates) ------------------------------------- */
enum svg_anchor { SVG_START, SVG_MIDDLE, SVG_END };
/* rotate in degrees about (x, y); weight_bold 0/1 */
void svg_text(svg_t *s, double x, double y, double size, enum svg_anchor anchor, double rotate,
              int bold, const char *fill, const char *text);
void svg_rect(svg_t *s, double x, double y, double w, double h, const char *fill, const char *stroke);
void svg_segment(svg_t *s, double x1, double y1, double x2, double y2, const char *stroke,
                 double width, int dashed);
/* Title centred at the top of the canvas (bold, 16 px). */
void svg_title(svg_t *s, const char *text);
/* Writes text to fp with XML escaping (exposed for tests and for callers writing raw SVG). */
void svg_escape(FILE *fp, const char *text);

/* ---- colours ------------------------------------------------------------ */
/* Okabe-Ito colour-blind-safe palette (8 colours, black last); index wraps. */
const char *svg_palette(size_t i);
#define SVG_PALETTE_SIZE 8
/* Sequential colour map for t in [0, 1] (white -> dark blue, perceptually ordered;
 * clamps outside).  Writes "#rrggbb" into out[8]. */
void svg_colormap(double t, char out[8]);
/* Black or white, whichever reads better on the colour map at t. */
const char *svg_colormap_text(double t);

/* ---- axes --------------------------------------------------------------- */
typedef struct svg_axes {
    svg_t *svg;
    double x, y, w, h;            /* plot area in pixels (top-left corner, size) */
    double xmin, xmax, ymin, ymax;
    int has_y2;                   /* secondary (right) y axis, see svg_axes_y2 */
    double y2min, y2max;
    const char *y2label;
} svg_axes;

void svg_axes_init(svg_axes *ax, svg_t *s, double x, double y, double w, double h,
                   double xmin, double xmax, double ymin, double ymax);
/* Adds a right-hand y axis with its own range; drawn by svg_axes_draw. */
void svg_axes_y2(svg_axes *ax, double ymin, double ymax, const char *label);
/* Frame, light grid, "nice" ticks (1-2-5 steps) with numeric labels on x, y (and y2),
 * and the axis titles (y title rotated).  xlabel/ylabel may be NULL. */
void svg_axes_draw(svg_axes *ax, const char *xlabel, const char *ylabel);
/* Same but the x axis gets categorical labels at data positions pos[i] (no numeric x
 * ticks); labels longer than fit are rotated 30 degrees. */
void svg_axes_draw_categorical(svg_axes *ax, const double *pos, const char *const *labels,
                               size_t n, const char *xlabel, const char *ylabel);
/* Data -> pixel. */
double svg_px(const svg_axes *ax, double x);
double svg_py(const svg_axes *ax, double y);
double svg_py2(const svg_axes *ax, double y);
/* Tick positions for [lo, hi] with about `target` steps: first tick, step and count. */
void svg_nice_ticks(double lo, double hi, int target, double *first, double *step, int *count);

/* ---- series (data coordinates, clipped to the plot area) ---------------- */
/* Polyline through n points; on_y2 uses the secondary axis; markers draws a dot per point. */
void svg_line(svg_axes *ax, const double *x, const double *y, size_t n, const char *colour,
              double width, int dashed, int on_y2);
void svg_line_markers(svg_axes *ax, const double *x, const double *y, size_t n,
                      const char *colour, double radius, int on_y2);
/* Step curve as sklearn/matplotlib draw PR curves (drawstyle="steps-post"). */
void svg_step(svg_axes *ax, const double *x, const double *y, size_t n, const char *colour,
              double width);
/* Scatter: point i gets svg_palette(cls[i]) (cls may be NULL: palette 0).  radius in px,
 * opacity in (0, 1].  Points are grouped per class so the file stays small. */
void svg_scatter(svg_axes *ax, const double *x, const double *y, const int *cls, size_t n,
                 double radius, double opacity);
/* Vertical bars centred at x[i], from 0 (or the axis minimum if above 0) to h[i];
 * width in data units.  on_y2 as for svg_line. */
void svg_bars(svg_axes *ax, const double *x, const double *h, size_t n, double width,
              const char *fill, int on_y2);

/* ---- heatmap ------------------------------------------------------------ */
/* One cell in pixels with a centred annotation (text may be NULL). */
void svg_cell(svg_t *s, double x, double y, double w, double h, const char *fill,
              const char *text, const char *text_colour, double font_size);
/* Vertical colour bar for svg_colormap at (x, y) of size (w, h), values lo..hi (top = hi)
 * with ticks and an optional label. */
void svg_colorbar(svg_t *s, double x, double y, double w, double h, double lo, double hi,
                  const char *label);

/* ---- legend ------------------------------------------------------------- */
enum svg_key { SVG_KEY_LINE, SVG_KEY_DASHED, SVG_KEY_BOX, SVG_KEY_DOT };
typedef struct svg_legend_item {
    const char *label;
    const char *colour;
    enum svg_key key;
} svg_legend_item;
/* Framed legend box with its top-left corner at (x, y), one row per item. */
void svg_legend(svg_t *s, double x, double y, const svg_legend_item *items, size_t n);
/* Width in px a legend for these items will take (so callers can size the canvas). */
double svg_legend_width(const svg_legend_item *items, size_t n);
/* Rough width of text at a font size (DejaVu Sans average glyph width). */
double svg_text_width(const char *text, double size);

#endif
