/* Record streams: the wire format every emo tool speaks (see emo-records(5)).
 *
 * A stream is one or more segments; a segment is
 *     {"emo.stream": 1}  record...  {"emo.end": N, "xxh64": H}
 * where every item is one msgpack map, N counts the segment's records and H is the XXH64
 * (seed 0) of the segment's bytes before its trailer: header and records.  A reader
 * knows a complete stream (ends right after a trailer whose count matches) from one
 * whose writer died (no trailer), and `cat a b` of two streams is a stream.  Every
 * reader checks H when the trailer has it (streams written before it have not), so a
 * damaged byte is an error at the segment's end, not a silent wrong value.
 *
 * The header may carry more fields than the version: metadata about how the records were
 * made, which tools pass on (rec_reader_header, rec_writer_open_meta).  Fields in use:
 * "clean" (emo-clean's steps, a map of booleans punct, emoji, lowercase, stopwords) and
 * "tokenizer" (emo-tokenize's: max_len, vocab path, vocab_size).  Readers ignore fields
 * they do not know; `cat a b` keeps a's header for readers that look at the first one.
 *
 * Records are maps with string keys.  Contract fields: id (uint), text (str),
 * label (str), input_ids (array of uint), logits and embedding (array of float32).
 * Tools pass fields they do not know through unchanged (rec_begin with pass != NULL).
 *
 * The reader frames each item itself before msgpack-c sees it: declared lengths are
 * checked against bytes actually present, and an item larger than the record limit is
 * refused before anything is allocated for it. */
#ifndef EMO_REC_H
#define EMO_REC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <msgpack.h>

#define REC_VERSION 1
#define REC_DEFAULT_MAX_BYTES (64u << 20)   /* EMO_MAX_RECORD_BYTES overrides */
/* A record of more than REC_FREE_VALUES msgpack values (map keys included) must average at
 * least REC_BYTES_PER_VALUE bytes a value: each value is decoded into a 24-byte
 * msgpack_object, so a reader holds at most 12 times a record's size in them (float32
 * arrays take 5 bytes a value, token ids from 128 on 2 or 3, a text 1 value). */
#define REC_FREE_VALUES (1u << 20)
#define REC_BYTES_PER_VALUE 2

typedef struct rec {
    const msgpack_object_kv *kv;   /* fields, valid until the next rec_read */
    uint32_t nfields;
    uint64_t index;                /* 1-based record number in the stream */
} rec_t;

typedef struct rec_reader rec_reader;

/* path NULL or "-" reads stdin (named "<stdin>" in messages).  Returns NULL and sets
 * errno if the file cannot be opened. */
rec_reader *rec_reader_open(const char *path);
/* 1: a record in *rec; 0: end of a complete stream; -1: error, see rec_reader_error. */
int rec_read(rec_reader *r, rec_t *rec);
/* "<file>:record N: reason" (or "<file>: reason" before the first record). */
const char *rec_reader_error(const rec_reader *r);
/* Set an error about the current record (for field checks by the tool); returns -1. */
int rec_fail(rec_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *rec_reader_name(const rec_reader *r);
/* The header map of the stream's first segment ({"emo.stream": 1, metadata...}), read now
 * if no record has been read yet (blocking on a pipe until it arrives); NULL if the input
 * does not start with a valid header (the next rec_read reports why).  Valid until
 * rec_reader_close. */
const msgpack_object *rec_reader_header(rec_reader *r);
/* Field key of a header map, or NULL (hdr may be NULL). */
const msgpack_object *rec_header_get(const msgpack_object *hdr, const char *key);
uint64_t rec_reader_count(const rec_reader *r);
void rec_reader_close(rec_reader *r);

/* Read the next record or exit 1 printing "<prog>: <file>:record N: reason".
 * Returns 1 for a record, 0 at the clean end of the stream. */
int rec_read_or_die(rec_reader *r, rec_t *rec);
/* Print "<prog>: <file>:record N: <msg>" and exit 1. */
void rec_die(rec_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* ---- field access ------------------------------------------------------- */
const msgpack_object *rec_get(const rec_t *rec, const char *key);
/* These return 0 on success, -1 if the field is missing, -2 if it has the wrong type. */
int rec_get_u64(const rec_t *rec, const char *key, uint64_t *out);
int rec_get_str(const rec_t *rec, const char *key, const char **s, size_t *len);
/* Numbers array -> floats; *n gets the length.  -3 if longer than max. */
int rec_get_f32v(const rec_t *rec, const char *key, float *out, size_t max, size_t *n);
/* Non-negative integer array -> int32; -3 if longer than max, -2 on a value > INT32_MAX. */
int rec_get_ids(const rec_t *rec, const char *key, int32_t *out, size_t max, size_t *n);

/* Typed getters that call rec_die with a message naming the field. */
uint64_t rec_need_u64(rec_reader *r, const rec_t *rec, const char *key);
const char *rec_need_str(rec_reader *r, const rec_t *rec, const char *key, size_t *len);
size_t rec_need_f32v(rec_reader *r, const rec_t *rec, const char *key, float *out, size_t max);
size_t rec_need_ids(rec_reader *r, const rec_t *rec, const char *key, int32_t *out, size_t max);

/* ---- writing ------------------------------------------------------------ */
typedef struct rec_writer rec_writer;

/* Writes the segment header at once.  name is used in messages. */
rec_writer *rec_writer_open(FILE *fp, const char *name);
/* The same, with metadata in the header: the fields of hdr (a header from rec_reader_header,
 * or NULL) except those named in newkeys, then nnew fields that the caller packs into *pk
 * (key, value each) before anything else is written. */
rec_writer *rec_writer_open_meta(FILE *fp, const char *name, const msgpack_object *hdr,
                                 const char *const *newkeys, size_t nnew, msgpack_packer **pk);
/* Start a record of pass's fields (those not named in newkeys) plus nnew new fields;
 * the caller then packs exactly nnew key/value pairs and calls rec_end. */
msgpack_packer *rec_begin(rec_writer *w, const rec_t *pass, const char *const *newkeys, size_t nnew);
void rec_end(rec_writer *w);
/* Start a record the caller packs whole (one map with string keys), then rec_end. */
msgpack_packer *rec_begin_raw(rec_writer *w);
/* Bytes already packed: whole records (one map each), then rec_end once for each; what
 * is written to the stream goes through the writer, never straight to its FILE, or the
 * trailer's checksum would not cover it. */
void rec_write_packed(rec_writer *w, const void *p, size_t n);
/* Copy a record through unchanged. */
void rec_write_copy(rec_writer *w, const rec_t *rec);
uint64_t rec_writer_count(const rec_writer *w);
/* Writes the trailer and flushes; returns 0, or -1 on a write error (errno set).
 * Does not close fp. */
int rec_writer_close(rec_writer *w);

void rec_pack_key(msgpack_packer *pk, const char *key);
void rec_pack_str(msgpack_packer *pk, const char *s, size_t n);
void rec_pack_f32v(msgpack_packer *pk, const float *v, size_t n);
void rec_pack_ids(msgpack_packer *pk, const int32_t *v, size_t n);

#endif
