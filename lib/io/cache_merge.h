/* An ensemble teacher from several teacher caches (emo cache merge, emo-cache(5)).
 *
 * The caches hold the same ids, with the same lengths, and the same K and labels in the same
 * order.  Per id the merged cache holds the average of the teachers' probabilities at T = 1,
 * written back as logits:
 *     out_k = log( (1/N) sum_j softmax(z_j)_k )
 * Averaging probabilities is the standard ensemble (what the ensemble predicts); their log
 * keeps the cache's contract (logits: softmax(out) is the mean probability exactly, and
 * argmax follows it), and distillation at temperature T re-softens it, softmax(out / T), as
 * it does a single teacher's logits.  (Averaging the logits instead would be the geometric
 * mean of the probabilities, renormalised: sharper where teachers disagree.)
 *
 * Attention maps: those of the first cache, byte for byte (CACHE_MERGE_ATTN_FIRST; its
 * layers, heads and codec, and its teacher named in the manifest, so the layer map knows the
 * depth), or none (CACHE_MERGE_ATTN_NONE: a logits-only cache). */
#ifndef EMO_CACHE_MERGE_H
#define EMO_CACHE_MERGE_H

#include <stddef.h>

enum { CACHE_MERGE_ATTN_FIRST, CACHE_MERGE_ATTN_NONE };

/* out (K) = log of the mean over the N rows of z (N, K) of softmax(row), computed in
 * double in the log domain (no underflow to -inf). */
void ensemble_logits(float *out, const float *z, int N, int K);

/* Merge the caches dirs[0..n) into the new cache directory out (a temporary directory
 * renamed into place: nothing is left on failure; out must not exist, or be an empty
 * directory), one part named prefix.  Every check (labels, ids, lengths) is done before
 * anything is written.  0, or -1 with a one-line message in err. */
int cache_merge(const char *out, const char *const *dirs, int n, int attn, const char *prefix, char *err,
                size_t errn);

#endif
