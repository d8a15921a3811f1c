/* How text becomes a model's input: the emo-clean steps and the tokenizer settings a model
 * was trained with.  They travel in two places:
 *   - record-stream headers (emo-records(5)): emo-clean writes "clean", emo-tokenize adds
 *     "tokenizer", and the tools in between pass the header on;
 *   - checkpoints (emo-checkpoint(5)): the trainers copy them from their training stream
 *     into emo_text.json, beside vocab.txt, tokenizer_config.json and
 *     special_tokens_map.json, so that emo-predict cleans and tokenizes new text exactly
 *     as the training text was.
 *
 * emo_text.json:
 *     {"clean": {"emoji": true, "lowercase": true, "punct": true, "stopwords": false},
 *      "max_len": 128}
 * "clean" is absent when the training stream did not say (records made by another tool),
 * "max_len" too; readers then use the defaults (textcfg_default) and say so. */
#ifndef EMO_TEXTCFG_H
#define EMO_TEXTCFG_H

#include <stddef.h>

#include <msgpack.h>

#include "text/clean.h"

#define TEXTCFG_DEFAULT_MAX_LEN 128   /* emo-tokenize --max-len */
#define TEXTCFG_FILE "emo_text.json"

typedef struct textcfg {
    int has_clean;          /* clean is known */
    clean_opts clean;       /* 1 = the step was on */
    int max_len;            /* tokenizer truncation; 0 unknown */
    long vocab_size;        /* tokens of the vocabulary the stream was tokenized with; 0 unknown */
} textcfg;

/* emo-clean's defaults: every step on; max_len TEXTCFG_DEFAULT_MAX_LEN. */
void textcfg_default(textcfg *t);

/* From a stream header (rec_reader_header; NULL allowed): fills what it says, leaves the
 * rest unknown (has_clean 0, max_len 0, vocab_size 0). */
void textcfg_from_header(textcfg *t, const msgpack_object *hdr);
/* The header values: {"punct": b, "emoji": b, "lowercase": b, "stopwords": b} and
 * {"max_len": n, "vocab_size": n} (vocab_size omitted when 0: a SentencePiece model).
 * No path: a stream made on one machine is the same stream made on another. */
void textcfg_pack_clean(msgpack_packer *pk, const clean_opts *c);
void textcfg_pack_tokenizer(msgpack_packer *pk, int max_len, long vocab_size);

/* dir/emo_text.json: 1 read, 0 absent (t unknown), -1 malformed (message in err). */
int textcfg_load(const char *dir, textcfg *t, char *err, size_t errn);
/* Writes dir/emo_text.json atomically if anything is known (else nothing); 0 or -1. */
int textcfg_save(const char *dir, const textcfg *t, char *err, size_t errn);
/* "punct,emoji,lowercase,stopwords" style summary of the steps that are on ("none"). */
void textcfg_clean_str(const clean_opts *c, char *buf, size_t n);

#endif
