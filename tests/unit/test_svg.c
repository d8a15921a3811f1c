/* lib/plot/svg: escaping, tick choice, colour maps, and a figure using every element.
 * With an argument, the demo figure is also written to that path (tests/tools/eval.bats
 * renders it with rsvg-convert). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plot/svg.h"

static char *escaped(const char *in)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    svg_escape(m, in);
    fclose(m);
    return buf;
}

static void test_escape(void)
{
    char *e = escaped("a<b>&\"c'");
    CHECK(strcmp(e, "a&lt;b&gt;&amp;&quot;c&apos;") == 0, "got %s", e);
    free(e);
    e = escaped("caf\xc3\xa9 \xff x\x01y");   /* valid é kept, bad byte and C0 control replaced */
    CHECK(strcmp(e, "caf\xc3\xa9 \xEF\xBF\xBD x\xEF\xBF\xBDy") == 0, "got %s", e);
    free(e);
}

static void test_ticks(void)
{
    double first, step;
    int count;
    svg_nice_ticks(0, 1, 5, &first, &step, &count);
    CHECK(first == 0 && step == 0.2 && count == 6, "0..1: %g %g %d", first, step, count);
    svg_nice_ticks(3, 97, 5, &first, &step, &count);
    CHECK(first == 20 && step == 20 && count == 4, "3..97: %g %g %d", first, step, count);
    svg_nice_ticks(0, 416809, 5, &first, &step, &count);
    CHECK(step == 100000 && count == 5, "0..416809: %g %d", step, count);
    svg_nice_ticks(-0.3, 0.3, 6, &first, &step, &count);
    CHECK(step == 0.1 && count == 7, "-0.3..0.3: %g %d", step, count);
    svg_nice_ticks(1, 1, 5, &first, &step, &count);
    CHECK(count == 1, "degenerate range: %d", count);
}

static void test_colours(void)
{
    char c[8];
    svg_colormap(0, c);
    CHECK(strcmp(c, "#f7fbff") == 0, "t=0 %s", c);
    svg_colormap(1, c);
    CHECK(strcmp(c, "#08306b") == 0, "t=1 %s", c);
    svg_colormap(2, c);
    CHECK(strcmp(c, "#08306b") == 0, "t=2 clamps %s", c);
    svg_colormap(0.0 / 0.0, c);
    CHECK(strcmp(c, "#f7fbff") == 0, "NaN %s", c);
    CHECK(strcmp(svg_palette(0), "#0072B2") == 0 && strcmp(svg_palette(8), svg_palette(0)) == 0,
          "palette wraps");
    CHECK(strcmp(svg_colormap_text(0.9), "white") == 0 && strcmp(svg_colormap_text(0.1), "black") == 0,
          "text contrast");
}

/* A figure with every element: dual axes with bars and a line, step curves with a
 * legend, a scatter, a heatmap with a colour bar. */
static svg_t *demo(void)
{
    svg_t *s = svg_new(900, 700);
    svg_title(s, "svg demo: <escaped> & \"quoted\"");

    svg_axes a;
    svg_axes_init(&a, s, 70, 50, 300, 220, 0, 6, 0, 120);
    svg_axes_y2(&a, 0, 0.5, "error rate");
    double bx[5] = { 1, 2, 3, 4, 5 }, bh[5] = { 40, 100, 110, 60, 20 }, er[5] = { 0.4, 0.1, 0.08, 0.12, 0.3 };
    const char *const names[5] = { "1-8", "9-16", "17-24", "25-32", "33+" };
    svg_axes_draw_categorical(&a, bx, names, 5, "tokens", "count");
    svg_bars(&a, bx, bh, 5, 0.7, "#cccccc", 0);
    svg_line(&a, bx, er, 5, svg_palette(3), 2, 0, 1);
    svg_line_markers(&a, bx, er, 5, svg_palette(3), 3, 1);

    svg_axes b;
    svg_axes_init(&b, s, 480, 50, 250, 220, 0, 1, 0, 1.05);
    svg_axes_draw(&b, "Recall", "Precision");
    double r[4] = { 1, 0.6, 0.3, 0 }, p[4] = { 0.5, 0.7, 0.9, 1 };
    svg_step(&b, r, p, 4, svg_palette(0), 2);
    svg_line(&b, r, p, 4, svg_palette(1), 1.5, 1, 0);
    svg_legend_item it[3] = { { "joy (AP 0.80)", svg_palette(0), SVG_KEY_LINE },
                              { "dashed", svg_palette(1), SVG_KEY_DASHED },
                              { "box", "#cccccc", SVG_KEY_BOX } };
    svg_legend(s, 740, 60, it, 3);

    svg_axes c;
    svg_axes_init(&c, s, 70, 360, 300, 260, -3, 3, -3, 3);
    svg_axes_draw(&c, "x", "y");
    double sx[12], sy[12];
    int cls[12];
    for (int i = 0; i < 12; i++) {
        sx[i] = -2.5 + 0.45 * i;
        sy[i] = (i % 3) - 1.0;
        cls[i] = i % 6;
    }
    sx[11] = 10;   /* outside: clipped */
    svg_scatter(&c, sx, sy, cls, 12, 4, 0.8);

    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double t = (i == j) ? 0.9 : 0.1 * (i + j);
            char fill[8], txt[16];
            svg_colormap(t, fill);
            snprintf(txt, sizeof txt, "%.2f", t);
            svg_cell(s, 480 + j * 60, 380 + i * 60, 60, 60, fill, txt, svg_colormap_text(t), 12);
        }
    svg_colorbar(s, 680, 380, 16, 180, 0, 1, "rate");
    return s;
}

int main(int argc, char **argv)
{
    test_escape();
    test_ticks();
    test_colours();

    svg_t *s = demo();
    const char *doc = svg_data(s);
    CHECK(strncmp(doc, "<?xml", 5) == 0, "header");
    CHECK(strstr(doc, "&lt;escaped&gt; &amp; &quot;quoted&quot;") != NULL, "title escaped");
    CHECK(strstr(doc, "<escaped>") == NULL, "no raw markup from text");
    CHECK(strstr(doc, "</svg>\n") != NULL, "footer");
    /* tags balance: every <g> and <clipPath> closed */
    size_t open_g = 0, close_g = 0;
    for (const char *p = doc; (p = strstr(p, "<g")) != NULL; p++)
        if (p[2] == ' ' || p[2] == '>')
            open_g++;
    for (const char *p = doc; (p = strstr(p, "</g>")) != NULL; p++)
        close_g++;
    CHECK(open_g == close_g && open_g > 0, "<g> %zu vs </g> %zu", open_g, close_g);
    /* the scatter point at x=10 lies outside [-3,3] but is clipped, not dropped: count circles */
    size_t circles = 0;
    for (const char *p = doc; (p = strstr(p, "<circle")) != NULL; p++)
        circles++;
    CHECK(circles == 12 + 5 + 0, "circles %zu", circles);
    if (argc > 1) {
        FILE *f = fopen(argv[1], "w");
        CHECK(f && svg_write(s, f) == 0 && fclose(f) == 0, "write %s", argv[1]);
    }
    svg_free(s);
    return check_done("test_svg");
}
