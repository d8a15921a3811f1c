/* A trained classifier ready for new text: a checkpoint's model with the cleaning and the
 * tokenizer it was trained with (model/textcfg.h), for emo-predict and anything else that
 * classifies raw text.
 *
 *     char notice[512], err[512];
 *     predictor *p = predictor_open("student", NULL, notice, sizeof notice, err, sizeof err);
 *     int32_t ids[...]; int trunc;
 *     size_t n = predictor_encode(p, text, len, ids, &trunc);    // cleaned, [CLS] .. [SEP]
 *     predictor_run(p, batch_ids, lens, B, T, probs, err, sizeof err);   // (B, K) softmax
 *
 * Text goes through exactly what emo-clean and emo-tokenize did to the training text:
 * clean_text with the recorded steps, then WordPiece with the recorded max_len. */
#ifndef EMO_PREDICTOR_H
#define EMO_PREDICTOR_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/textcfg.h"

typedef struct predictor predictor;

/* Loads CKPT_DIR (a trained classifier) and its vocabulary (vocab if not NULL, else
 * CKPT_DIR/vocab.txt).  notice receives "" or one line to print (settings that fell back
 * to the defaults: a checkpoint written by another tool).  NULL with err on failure. */
predictor *predictor_open(const char *dir, const char *vocab, char *notice, size_t noticen, char *err,
                          size_t errn);
void predictor_free(predictor *p);
const model_config *predictor_config(const predictor *p);
/* The settings in use (recorded or defaults). */
const textcfg *predictor_text(const predictor *p);
/* Longest sequence predictor_encode returns (max_len, at most the model's positions). */
int predictor_max_len(const predictor *p);

/* Cleans text (len bytes of valid UTF-8) and tokenizes it into ids (room for
 * predictor_max_len); returns the number of ids; *truncated is set to 1 if pieces were cut. */
size_t predictor_encode(predictor *p, const char *text, size_t len, int32_t *ids, int *truncated);
/* Tokenizes text that is already cleaned (a record stream's text). */
size_t predictor_encode_clean(predictor *p, const char *text, size_t len, int32_t *ids, int *truncated);

/* Runs B sequences padded to T (ids (B, T), lens (B)): logits (B, K) and, if probs is not
 * NULL, their softmax.  0, or -1 with err (a non-finite logit names its row). */
int predictor_run(predictor *p, const int32_t *ids, const int32_t *lens, int B, int T, float *logits,
                  float *probs, char *err, size_t errn);

#endif
