/* BERT uncased tokenization (vocab.txt + basic tokenizer + WordPiece), giving the same ids
 * as Hugging Face's Python BertTokenizer(do_lower_case=True) for every valid UTF-8 text.
 *
 *     char err[256];
 *     tok_vocab *v = tok_vocab_load("vocab.txt", err, sizeof err);   // NULL: err says why
 *     tok_encoder *e = tok_encoder_new(v);                             // one per thread
 *     int32_t ids[128];
 *     long n = tok_encode(e, text, len, ids, 128);   // [CLS] ... [SEP], n <= 128
 *
 * The pipeline (transformers tokenization_bert.py, PreTrainedTokenizer.tokenize):
 *  1. the literal special tokens [CLS] [SEP] [PAD] [UNK] [MASK] in the raw text are kept
 *     whole (case-sensitive) and split the text around them;
 *  2. drop U+0000, U+FFFD and category C* except \t \n \r; whitespace (those three, Zs,
 *     U+2028, U+2029) separates words;
 *  3. CJK ideographs (the ranges in is_cjk) become words of their own;
 *  4. lowercase each character (Python's str.lower on one character: simple lowercase,
 *     U+0130 -> i + U+0307; no final-sigma rule, because tokenize() lowercases character
 *     by character), NFD, drop category Mn;
 *  5. punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and category P*) is a word of its own;
 *  6. WordPiece: greedy longest match first, "##" continuations; [UNK] for a word over
 *     100 code points or with no matching piece;
 *  7. [CLS] tokens [SEP], truncated to at most max_len ids.
 * Unicode data comes from utf8proc (Unicode 15.0).  Known differences from other
 * implementations are listed in man/man1/emo-tokenize.1 (STANDARDS). */
#ifndef EMO_BERT_TOK_H
#define EMO_BERT_TOK_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok_vocab tok_vocab;      /* immutable once loaded; share between threads */
typedef struct tok_encoder tok_encoder;  /* scratch state; one per thread */

/* Special-token ids, looked up by name in the vocab (-1 if absent; load fails when
 * [CLS], [SEP], [PAD] or [UNK] is missing). */
typedef struct tok_specials {
    int32_t cls, sep, pad, unk, mask;
} tok_specials;

/* Loads vocab.txt (one token per line, id = 0-based line number, a later duplicate wins
 * as in transformers' load_vocab).  Returns NULL and writes a one-line reason to err. */
tok_vocab *tok_vocab_load(const char *path, char *err, size_t errlen);
void tok_vocab_free(tok_vocab *v);
size_t tok_vocab_size(const tok_vocab *v);
const tok_specials *tok_vocab_specials(const tok_vocab *v);
/* Token -> id, or -1.  The token is given as bytes (not NUL-terminated). */
int32_t tok_vocab_id(const tok_vocab *v, const char *token, size_t len);
/* Id -> NUL-terminated token, or NULL if out of range. */
const char *tok_vocab_token(const tok_vocab *v, int32_t id);

tok_encoder *tok_encoder_new(const tok_vocab *v);
void tok_encoder_free(tok_encoder *e);
/* Optional: fn(ctx, pieces, n) is called for every word that WordPiece turns into [UNK]
 * because some position matches no piece, with the n pieces matched before that position
 * (the greedy path up to the failure; not for words over 100 code points).  A vocabulary
 * trimmer keeps these pieces, so that the word fails at the same place (lib/model/trim.h).
 * fn NULL: none (the default). */
typedef void (*tok_unk_fn)(void *ctx, const int32_t *pieces, size_t n);
void tok_encoder_on_unk(tok_encoder *e, tok_unk_fn fn, void *ctx);

/* Byte offset of the first invalid UTF-8 sequence in s, or len if s is valid. */
size_t tok_utf8_invalid_at(const char *s, size_t len);
/* Copies s to out (room for 3 * len bytes) replacing each maximal ill-formed subpart with
 * U+FFFD, as Python's decode(errors="replace"); returns the bytes written. */
size_t tok_utf8_repair(const char *s, size_t len, char *out);

/* Encodes text (len bytes of valid UTF-8: check with tok_utf8_invalid_at first; invalid
 * bytes are treated as U+FFFD, i.e. dropped) into ids: [CLS] pieces [SEP], keeping the
 * first max_len - 2 pieces.  max_len >= 2.  Returns the number of ids written (2..max_len).
 * Time is linear in len; memory does not grow with len. */
size_t tok_encode(tok_encoder *e, const char *text, size_t len, int32_t *ids, size_t max_len);

#endif
