/* A prediction set read whole from record streams, for emo eval / emo confusion.
 *
 * Each record needs `label` (true class name, string) and `logits` (K numbers, in the
 * model's id2label order).  The class list, i.e. the meaning of logit index k, is:
 *   1. --labels a,b,c when given, or the id2label of the checkpoint given with -m
 *      (what emo teacher-logits wrote the logits in);
 *   2. else the `labels` field (array of strings) of record 1, if present (every record
 *      carrying one must carry the same list);
 *   3. else the sorted unique true label names (byte order, which is also Python's
 *      sorted() order), which is how emo's checkpoints name classes when trained without
 *      --labels.  If the evaluation set lacks a class the model has, K differs from the
 *      number of names and reading fails with a hint to pass --labels.
 * Length for the length analysis: number of `input_ids` if present, else the whitespace
 * word count of `text`, else unknown (-1).
 *
 * Bad input ends the program with "emo-<tool>: <file>:record N: <reason>", exit 1. */
#ifndef EMO_PREDS_H
#define EMO_PREDS_H

#include <stddef.h>
#include <stdint.h>

#include "util/labels.h"

#define PREDS_MAX_CLASSES 4096    /* bounds the (K, K) confusion matrix at 128 MiB */

enum preds_class_source { PREDS_FROM_OPTION, PREDS_FROM_FIELD, PREDS_FROM_SORTED, PREDS_FROM_CHECKPOINT };
enum { PREDS_LEN_IDS = 1, PREDS_LEN_WORDS = 2, PREDS_LEN_UNKNOWN = 4 };

typedef struct preds {
    size_t N, K;
    strtab classes;          /* (K) class names, logit order: classes.name[k] */
    int32_t *truth;          /* (N) index into classes */
    float *logits;           /* (N, K) */
    int64_t *length;         /* (N) tokens or words; -1 unknown */
    int length_sources;      /* PREDS_LEN_* bits seen */
    enum preds_class_source class_source;
} preds_t;

/* The class list the options give, into classes (emptied first; strtab_free it): --labels
 * (parsed; exit 2 if malformed), else the id2label of the checkpoint directory or
 * config.json model_dir (exit 1 if unreadable); returns 1, or 0 when neither is given.
 * Both options together: exit 2. */
int preds_class_list(const char *labels_opt, const char *model_dir, strtab *classes,
                     enum preds_class_source *src);
/* Reads every record of the given files (npaths 0: stdin) or exits 1 with a message.
 * classes from preds_class_list, or NULL for the labels field / sorted labels. */
void preds_read_or_die(preds_t *p, char *const *paths, size_t npaths, const strtab *classes,
                       enum preds_class_source src);
void preds_free(preds_t *p);
/* Splits "a,b,c" into out (emptied first); exits 2 on an empty name or a duplicate. */
void preds_parse_labels(const char *list, strtab *out);
const char *preds_class_source_name(enum preds_class_source s);

#endif
