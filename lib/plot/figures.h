/* The analysis figures of emo eval and emo confusion, drawn with lib/plot/svg. */
#ifndef EMO_FIGURES_H
#define EMO_FIGURES_H

#include "metrics/metrics.h"
#include "plot/svg.h"

/* One step curve per class (recall on x, precision on y, as sklearn's
 * PrecisionRecallDisplay draws them) with "name (AP 0.912)" in the legend; each curve
 * thinned to at most max_points points (0: all; a thinned curve is drawn with straight
 * segments instead of steps).  curves (K), names (K). */
svg_t *fig_pr_curves(const pr_curve *curves, char *const *names, size_t K, size_t max_points);
/* Bars of record counts per length bucket (left axis) and the error rate line (right
 * axis).  unit names the length measure ("tokens", "words"). */
svg_t *fig_length_error(const len_buckets *b, const char *unit);
/* Heatmap, rows = true, columns = predicted.  Colour = row-normalised rate (so small
 * classes stay visible); cell text = count, or the rate when normalize is set. */
svg_t *fig_confusion(const confusion *c, char *const *names, int normalize);
/* Writes s to path atomically (temp file + rename).  0, or -1 with errno set. */
int fig_save(const svg_t *s, const char *path);
/* "lo-hi" or "lo+" for a length bucket, into buf. */
void lenb_label(const len_buckets *b, size_t i, char *buf, size_t n);

#endif
