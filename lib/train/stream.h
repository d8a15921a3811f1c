/* Token records streamed from files, for training on more data than fits in memory
 * (emo-pretrain).  Only input_ids (and id, if present, for messages) are read; labels and
 * other fields are ignored.
 *
 * token_stream_open reads every file once to check every record (an id outside [0, V), a
 * record longer than P positions, no or empty input_ids: "FILE:record N: reason", exit 1)
 * and count them.  Records are numbered 0.. in input order across the files (the
 * ordinal).  `holdout` of them, drawn by ordinal from the seed (Floyd's sampling, so the
 * same files and seed always hold back the same records), are loaded into memory as a
 * dataset for validation and never trained on; ds->rec_id holds their id (else ordinal).
 *
 * Epoch e (token_stream_source): the files are read in order through a shuffle buffer of
 * `shuffle` records (each record leaves at a random slot; RNG seeded from (seed, e)); its
 * output is cut into pools of TS_POOL_BATCHES * B records, each pool sorted by length
 * (longest first, ties by ordinal) and cut into batches of B (little padding), and the
 * pool's batches are emitted in a random order.  Every epoch has ceil(N_train / B)
 * batches (only the last pool has a short one).  Memory: the shuffle buffer and one pool.
 * An epoch depends only on (files, seed, e): --resume re-creates the data position by
 * replaying the epoch's stream from the start and dropping the batches already trained
 * (reading without computing: seconds for a million records).  The files must therefore
 * stay unchanged, and be re-readable (not a pipe). */
#ifndef EMO_TRAIN_STREAM_H
#define EMO_TRAIN_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "train/dataset.h"
#include "train/trainer.h"

#define TS_POOL_BATCHES 50

typedef struct token_stream_opts {
    int32_t V;               /* ids must be < V */
    int P;                   /* records of at most P tokens */
    size_t B;                /* batch size */
    uint64_t seed;
    int32_t pad_id;
    size_t shuffle;          /* shuffle-buffer records (>= 1) */
    uint64_t holdout;        /* records held back (< the total) */
    int holdout_cap;         /* 1: hold back at most a tenth of the records (a default that
                                must suit any input size) */
} token_stream_opts;

typedef struct token_stream token_stream;

/* Checks and counts the files (exits 1 on bad records, on no records at all, and when the
 * hold-out leaves nothing to train on), loads the held-out records into *holdout (left
 * empty, n = 0, when o->holdout is 0). */
token_stream *token_stream_open(const char *const *paths, int npaths, const token_stream_opts *o,
                                dataset *holdout);
/* Records in all files, and those trained on (total - holdout). */
uint64_t token_stream_total(const token_stream *s);
uint64_t token_stream_train_records(const token_stream *s);
uint64_t token_stream_holdout(const token_stream *s);
/* Records in file i */
uint64_t token_stream_file_records(const token_stream *s, int i);
/* The batch source over the training records (trainer.h). */
void token_stream_source(token_stream *s, train_source *src);
void token_stream_free(token_stream *s);

#endif
