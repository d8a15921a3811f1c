/* SentencePiece tokenization with ALBERT's preprocessing (transformers
 * tokenization_albert.py), through Debian's libsentencepiece.
 *
 *     spm_tok *t = spm_tok_load("spiece.model", err, sizeof err);  // NULL: err says why
 *     size_t n = spm_tok_encode(t, text, len, ids, 128);          // [CLS] ... [SEP]
 *
 * Preprocessing, in order: literal special tokens ([CLS] [SEP] <pad> <unk> [MASK], when
 * the model has them) split the text and keep their id; lowercase character by character;
 * collapse whitespace (Python str.split) and strip; `` and '' -> "; NFKD and drop
 * characters of non-zero combining class; lowercase again (with Python's final-sigma rule,
 * for a capital sigma NFKD made); encode; a piece ending in digit + ',' is
 * re-encoded without the comma and the comma appended (ALBERT's _tokenize).  [CLS] and
 * [SEP] ids come from PieceToId.  Not thread-safe per handle; one handle per thread. */
#ifndef EMO_SPM_H
#define EMO_SPM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm_tok spm_tok;

spm_tok *spm_tok_load(const char *model_path, char *err, size_t errlen);
void spm_tok_free(spm_tok *t);
/* ALBERT preprocessing only (for tests and for comparing with spm_encode): writes the
 * preprocessed UTF-8 of text into a malloc'ed string, *outlen its length. */
char *spm_tok_preprocess(const char *text, size_t len, size_t *outlen);
/* text must be valid UTF-8.  Returns the number of ids written (2..max_len, max_len >= 2). */
size_t spm_tok_encode(spm_tok *t, const char *text, size_t len, int32_t *ids, size_t max_len);

#ifdef __cplusplus
}
#endif
#endif
