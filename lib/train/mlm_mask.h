/* BERT's masked-LM corruption, deterministic per record.
 *
 * For one record (ids, len real tokens) in epoch e: every maskable token (every token but
 * [CLS], [SEP] and padding, whose ids come from the vocabulary) is chosen with probability
 * `prob` (15%); with whole_word, whole words are chosen instead (a word is a token and the
 * WordPiece "##" pieces that follow it, so a chosen word has all its pieces predicted and
 * the token rate stays `prob` in expectation).  Each chosen token is replaced by [MASK]
 * with probability p_mask (80%), by a uniform random id in [0, V) with p_random (10%,
 * transformers' DataCollatorForLanguageModeling), else left unchanged; the model predicts
 * the original id at every chosen position.  Choices are Bernoulli draws, as in the
 * transformers collator: a short record may have none chosen.
 *
 * The draws come from an RNG seeded by (seed, epoch, key) alone, key being the record's
 * ordinal in its input: the same record gets the same mask in the same epoch whatever
 * batch it lands in and however many threads run, and a new mask every epoch.  Evaluation
 * uses epoch MLM_EVAL_EPOCH, one fixed mask for every validation pass. */
#ifndef EMO_TRAIN_MLM_MASK_H
#define EMO_TRAIN_MLM_MASK_H

#include <stddef.h>
#include <stdint.h>

#define MLM_EVAL_EPOCH UINT64_MAX

enum { MLM_TOK_SPECIAL = 1, MLM_TOK_CONTINUATION = 2 };

typedef struct mlm_mask_cfg {
    double prob;              /* chance of a token (a word with whole_word) being predicted */
    double p_mask;            /* of the chosen: replaced by [MASK] */
    double p_random;          /* of the chosen: replaced by a random id (the rest unchanged) */
    int whole_word;
    uint64_t seed;
    int32_t mask_id;
    int32_t V;                /* random replacements are drawn from [0, V) */
    const uint8_t *kind;      /* (V) MLM_TOK_* flags per id (mlm_vocab_kinds) */
} mlm_mask_cfg;

#define MLM_MASK_DEFAULTS { 0.15, 0.8, 0.1, 0, 42, -1, 0, NULL }

/* Corrupt ids (len, in place) and write the chosen positions (0-based t, ascending) to pos
 * and their original ids to target (room for len each).  Returns the number chosen. */
int mlm_mask_row(const mlm_mask_cfg *c, uint64_t epoch, uint64_t key, int32_t *ids, int len, int32_t *pos,
                 int32_t *target);

/* The per-id flags for a vocabulary file: MLM_TOK_SPECIAL for [CLS], [SEP], [PAD] (and
 * pad_id, the model's padding id), MLM_TOK_CONTINUATION for "##" pieces; *mask_id is
 * [MASK]'s id.  kind gets V entries (ids beyond the file's lines: no flag).  -1 with a
 * message if the file cannot be read, lacks [MASK], or has more than V lines. */
int mlm_vocab_kinds(const char *vocab_path, int32_t V, int32_t pad_id, uint8_t **kind, int32_t *mask_id, char *err,
                    size_t errn);

#endif
