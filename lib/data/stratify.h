/* Stratified train/val/test splitting: how many records of each class go to each split,
 * which ones, and the id -> split assignment as a TSV artifact.
 *
 * Rounding rule (documented in emo-split(1)), scikit-learn's for the usual two-step split
 * (train_test_split for test, then again on the rest for val):
 *  1. Split totals: test = ceil(N * t), val = ceil((N - test) * v / (r + v)), train the
 *     rest, for ratios r,v,t (exact integer arithmetic: sklearn uses float, which can
 *     differ when N * t is within rounding error of an integer).
 *  2. Per class: the test total is apportioned across classes in proportion to their sizes
 *     by largest remainder (sklearn's _approximate_mode; its ties are broken at random,
 *     ours go to the class whose label sorts first), then the val total across what
 *     remains of each class; train takes the rest.  Every class is within two records of
 *     its exact share in each split (one from step 1, one from step 2).
 *  3. Which records: each class's records, in input order, are shuffled (Fisher-Yates
 *     with the seeded xoshiro256** of util/rng.h, classes in label order); the first go
 *     to train, the next to val, the rest to test. */
#ifndef EMO_STRATIFY_H
#define EMO_STRATIFY_H

#include <stddef.h>
#include <stdint.h>

#include "util/rng.h"

enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST, NSPLIT };
extern const char *const split_names[NSPLIT];   /* "train", "val", "test" */

/* Largest-remainder apportionment of n units over k parts by integer weights w
 * (sum > 0; n * w[i] must fit in 64 bits).  Ties go to the lower index. */
void apportion(uint64_t n, const uint64_t *w, size_t k, uint64_t *out);

/* Split totals of step 1 for N records. */
void split_totals(uint64_t N, const uint64_t ratio[NSPLIT], uint64_t total[NSPLIT]);

/* counts[c * NSPLIT + s] for K classes of class_n records each (classes in label order);
 * ratio: three non-negative integer weights, sum > 0. */
void stratify_counts(const uint64_t *class_n, size_t K, const uint64_t ratio[NSPLIT], uint64_t *counts);

/* split[i] for n records whose class is cls[i] (0..K-1), following counts. */
void stratify_assign(const uint32_t *cls, size_t n, size_t K, const uint64_t *counts, uint64_t seed,
                     uint8_t *split);

/* id -> split map (open addressing), for imported assignments and duplicate checks. */
typedef struct idmap {
    uint64_t *key;
    uint8_t *val;     /* 0 = empty slot, else split + 1 */
    size_t cap, n;
} idmap;

/* Returns the previous value + 1 (0 if the id was new). */
int idmap_put(idmap *m, uint64_t id, uint8_t split);
/* split, or -1 if absent */
int idmap_get(const idmap *m, uint64_t id);
void idmap_free(idmap *m);

/* Reads "id<TAB>split" lines (an optional "id<TAB>split" header, blank lines skipped;
 * split is train, val or test).  0, or -1 with "<file>:line N: reason" in err. */
int assignment_read(const char *path, idmap *m, char *err, size_t errcap);

#endif
