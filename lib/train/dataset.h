/* Training data in memory: token records (id, input_ids, label) from a record stream, the
 * label set, seeded per-epoch shuffling and length-aware dynamic batches.  Shared by
 * emo-teacher-train and emo-student-distill (and anything else that batches records).
 *
 * Batches: the epoch order is a permutation drawn from (seed, epoch) alone, so epoch e's
 * batches can be rebuilt exactly after a restart without saving the order.  The shuffled
 * rows are cut into chunks of DS_SORT_CHUNK batches, each chunk sorted by length
 * (longest first), cut into batches of B, and the batch order shuffled again: batches hold
 * similar lengths (little padding; each batch is padded to its own longest), while every
 * epoch still sees a different grouping.  ceil(N / B) batches per epoch. */
#ifndef EMO_TRAIN_DATASET_H
#define EMO_TRAIN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "model/textcfg.h"
#include "util/labels.h"

#define DS_SORT_CHUNK 50

typedef struct dataset {
    size_t n;                /* records */
    uint64_t *rec_id;        /* (n) the records' id field */
    int32_t *label;          /* (n) class id, -1 for a record without label */
    int32_t *len;            /* (n) tokens */
    size_t *off;             /* (n) start of record i's ids in tok */
    int32_t *tok;            /* all input_ids, concatenated */
    int max_len;             /* longest record */
    int32_t max_id;          /* largest token id */
    size_t nlabelled;
    char *name;              /* file name, for messages */
    textcfg text;            /* cleaning and tokenizer settings from the stream header */
} dataset;

enum {
    DS_REQUIRE_LABEL = 1,    /* a record without label is an error (teacher-train) */
    DS_ADD_LABELS = 2,       /* labels not in ls are added to it (building the set from data) */
};

/* Reads path ("-" stdin).  ls: the label set (with DS_ADD_LABELS it grows; call
 * labelset_sort_remap afterwards for a name-sorted order).  max_len: refuse records longer
 * (0: no limit).  Exits 1 with "emo-<tool>: FILE:record N: reason" on bad records (via
 * rec_die), on an empty stream ("no records"), or a duplicate id. */
void dataset_load(dataset *ds, const char *path, labelset *ls, unsigned flags, int max_len);
void dataset_free(dataset *ds);
/* Sort ls by name and renumber ds's labels to match (deterministic label ids for a label
 * set built from the data, whatever the record order). */
void labelset_sort_remap(labelset *ls, dataset *ds);

typedef struct batch {
    int B, T;                /* rows, padded length (the batch's longest) */
    int32_t *ids;            /* (B, T) padded with pad_id */
    int32_t *lens;           /* (B) */
    int32_t *labels;         /* (B) -1 = none */
    uint64_t *rec_ids;       /* (B) record ids, for messages and cache look-ups */
    uint32_t *rows;          /* (B) dataset rows (a stream: the record's 0-based ordinal in
                                its input, the key of its masked-LM mask) */
    uint64_t epoch;          /* the 0-based training epoch (set by the trainer); 0 otherwise */
    int cap_B;               /* capacities: rows, ids elements */
    size_t cap_ids;
} batch;

/* The batch plan of one epoch: rows in batch order and where each batch starts. */
typedef struct epoch_plan {
    size_t n, nbatches;
    uint32_t *rows;          /* (n) */
    size_t *start;           /* (nbatches + 1) */
} epoch_plan;

/* Shuffled length-grouped batches for (seed, epoch); shuffle 0 gives the data in order of
 * length (longest first) for evaluation, independent of seed and epoch. */
void epoch_plan_make(epoch_plan *p, const dataset *ds, size_t B, uint64_t seed, uint64_t epoch, int shuffle);
void epoch_plan_free(epoch_plan *p);
size_t dataset_num_batches(size_t n, size_t B);

/* Fill b with batch k of plan p (reallocating as needed). */
void batch_fill(batch *b, const dataset *ds, const epoch_plan *p, size_t k, int32_t pad_id);
void batch_free(batch *b);

#endif
