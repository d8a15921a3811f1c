/* Cluster statistics for an embedding with class labels, as in the paper's t-SNE analysis:
 * per-class silhouette (sklearn.metrics.silhouette_samples, Euclidean, averaged over the
 * class), per-class density (mean Euclidean distance of the members to their centroid),
 * and the distances between class centroids. */
#ifndef EMO_CLUSTERS_H
#define EMO_CLUSTERS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* s (N) = silhouette of each row of X (N, D) under labels cls (N) in [0, K):
 *   a = mean distance to the other members of its class, b = the smallest mean distance
 *   to another class, s = (b - a) / max(a, b); 0 for a class of one (and for a = b = 0),
 * exactly sklearn's convention.  O(N^2 D), rows in parallel, thread-count independent. */
void silhouette_samples(const double *X /* (N, D) */, size_t N, size_t D, const uint32_t *cls, size_t K,
                        int threads, double *s /* (N) */);

typedef struct cluster_stats {
    size_t K;
    const char *const *names;   /* (K) class names, borrowed */
    size_t *count;              /* (K) */
    double *centroid;           /* (K, 2) in the embedding */
    double *density;            /* (K) mean distance to the own centroid */
    double *sil;                /* (K) mean silhouette in the embedding */
    double *sil_input;          /* (K) mean silhouette in input space, or NULL */
    double *cdist;              /* (K, K) centroid distances */
    double sil_all, sil_input_all;   /* mean over all points (sklearn's silhouette_score) */
} cluster_stats;

/* Y (N, 2) embedding; Xin (N, Din) or NULL to skip the input-space silhouette.
 * Needs K >= 2 (silhouette is undefined otherwise: the caller checks). */
void cluster_stats_compute(cluster_stats *st, const double *Y, const double *Xin, size_t Din, size_t N,
                           const uint32_t *cls, size_t K, const char *const *names, int threads);
void cluster_stats_free(cluster_stats *st);

/* Aligned text table (for stderr). */
void cluster_stats_print(const cluster_stats *st, FILE *fp);
/* TSV: header line, one row per class (centroid distances as columns d:<class>). */
int cluster_stats_write_tsv(const cluster_stats *st, FILE *fp);
/* JSON object; extra (may be NULL) is a jansson json_t * object whose members are added. */
int cluster_stats_write_json(const cluster_stats *st, void *extra, FILE *fp);

#endif
