/* Vocabulary trimming (emo ckpt trim-vocab): a checkpoint whose WordPiece vocabulary keeps
 * only the tokens a corpus uses, so that its word-embedding table, 89-93% of a small BERT
 * with the 30,522-token uncased vocabulary, shrinks to what the task needs.
 *
 *     trim_counts *t = trim_counts_new(v, V);          // v: the checkpoint's vocab.txt
 *     trim_keep_config_ids(t, src, ...);               // tokens config.json names
 *     for each corpus record: trim_counts_add_text(t, text, len, n_ids) or
 *                             trim_counts_add_ids(t, ids, n)
 *     size_t newV = trim_select(t, min_count, old_ids); // old_ids (V): kept old ids, ascending
 *     trim_write_checkpoint(src, dst, v, old_ids, newV, ...);
 *
 * Kept: the tokens the corpus uses (at least min_count times), every special token ([PAD]
 * [UNK] [CLS] [SEP] [MASK]) and every token a *_token_id of config.json names, every
 * single-character token and its "##" form (so every text
 * still tokenizes: an unseen word becomes pieces or [UNK]), and, for each corpus word that
 * WordPiece turns into [UNK], the pieces matched before it failed.  New id i is the i-th kept
 * old id (the old order, compacted).
 *
 * Why the corpus's texts tokenize to the same tokens (min_count 1): the trimmed vocabulary
 * is a subset of the old one.  WordPiece takes at each position the longest piece in the
 * vocabulary; the old vocabulary's choice is kept (the corpus used it), and no longer piece
 * is in the subset, since none was in the old vocabulary.  A word that became [UNK] does so
 * again: the pieces of its greedy path are kept, and at the position where the old
 * vocabulary had no piece the subset has none either.  With min_count > 1 the rarer tokens
 * go and the texts that used them tokenize into other pieces: re-tokenize the corpus with
 * the new vocab.txt.
 *
 * The checkpoint: the rows of every vocabulary-indexed tensor (word embeddings, and a
 * masked-LM head's output bias and untied decoder weight) are gathered in the new order,
 * bit for bit, so a text's logits are the same bits as before; config.json gets the new
 * vocab_size and its *_token_id values remapped (every other key as it was).  Float tensors
 * are written as float32; the other files of the directory (tokenizer_config.json,
 * special_tokens_map.json, training logs) are copied, except tokenizer.json (it holds the
 * old vocabulary) and other weight files. */
#ifndef EMO_TRIM_H
#define EMO_TRIM_H

#include <stddef.h>
#include <stdint.h>

#include "tok/bert_tok.h"

typedef struct trim_counts trim_counts;

/* V: the model's vocab_size (>= the vocab.txt's lines; rows past the file are no tokens and
 * are dropped).  The vocabulary must outlive t. */
trim_counts *trim_counts_new(const tok_vocab *v, size_t V);
void trim_counts_free(trim_counts *t);
/* Count the ids of one record.  0, or -1 if an id is >= V (the caller names the record). */
int trim_counts_add_ids(trim_counts *t, const int32_t *ids, size_t n);
/* Tokenize one text (valid UTF-8) without truncation and count its tokens, noting the
 * greedy paths of its [UNK] words.  If ids != NULL (the record's input_ids, n of them),
 * they must be the vocabulary's tokenization of text truncated to n: 0 if so, -1 if not
 * (a corpus tokenized with another vocabulary), and then nothing is counted. */
int trim_counts_add_text(trim_counts *t, const char *text, size_t len, const int32_t *ids, size_t n);
/* Keep every token that an integer *_token_id of dir/config.json names (pad_token_id, and
 * e.g. ALBERT's bos/eos_token_id), so the trimmed config.json can name them too.  0, or -1
 * with a message (an id outside the vocabulary, an unreadable config.json). */
int trim_keep_config_ids(trim_counts *t, const char *dir, char *err, size_t errn);
/* Occurrences of old id counted so far. */
uint64_t trim_count(const trim_counts *t, int32_t id);

/* The kept old ids, ascending, into old_ids (room for V); returns how many. */
size_t trim_select(const trim_counts *t, uint64_t min_count, int32_t *old_ids);

/* Write the trimmed checkpoint dst (atomically: a temporary directory renamed into place)
 * from the checkpoint directory src, whose vocab.txt is v.  notice (may be NULL) gets ""
 * or one line about files not copied.  0, or -1 with a message in err. */
int trim_write_checkpoint(const char *src, const char *dst, const tok_vocab *v, const int32_t *old_ids,
                          size_t newV, char *notice, size_t noticen, char *err, size_t errn);

#endif
