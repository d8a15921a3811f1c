/* The teacher cache (emo-cache(5)): per record id, the teacher's logits (K floats) and the
 * attention maps of chosen teacher layers, stored as zstd shards that student-distill reads
 * by id, in any order, while it reshuffles every epoch.
 *
 * A cache directory holds one or more "parts".  Part PFX (one writer: one teacher-logits job)
 * is
 *     PFX-0000.zst PFX-0001.zst ...   shards: independent zstd frames of ~1 MB (checksummed),
 *                                     then a seek table (zstd seekable-format skippable frame)
 *     PFX.idx                         index: id -> (shard, frame, offset in frame, length)
 *     PFX.manifest.json               written last: the part exists once this file does
 * Readers open every *.manifest.json of the directory and merge the indexes, so jobs run
 * in parallel (GNU parallel, several machines) need no merge step; their parts must agree on
 * teacher, labels, layers and heads, and ids must be unique over all parts.
 *
 * Record payload inside a frame (little endian):
 *     u64 id, u16 l, u16 0, f32 logits[K], attn[NL][NH][l][l]
 * where attn holds only the unpadded l x l block of each head of each kept layer, as
 *     f16: IEEE half, round to nearest even: relative error <= 2^-11 for |x| >= 2^-14,
 *          absolute error <= 2^-25 below; values must be finite and |x| <= 65504;
 *     u8:  round(p * 255) for probabilities p in [0, 1]: absolute error <= 1/510.
 * Library code: functions return -1 and leave a one-line message ("DIR/x-0003.zst: frame 2:
 * checksum mismatch") in the object, never exit. */
#ifndef EMO_SHARD_H
#define EMO_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "util/labels.h"

#define SHARD_FORMAT_VERSION 1
#define SHARD_MAX_LAYERS 64
#define SHARD_MAX_LEN 4096            /* l is stored as u16; longer than any BERT position table */
#define SHARD_DEFAULT_FRAME_BYTES (1u << 20)
#define SHARD_DEFAULT_SHARD_BYTES (256ull << 20)

typedef enum { SHARD_ATTN_F16, SHARD_ATTN_U8 } shard_codec;

/* What a cache holds; identical over all parts of a directory. */
typedef struct shard_meta {
    char teacher[1024];        /* teacher identity: the checkpoint path it was made from */
    char teacher_hash[80];     /* hex digest of the teacher (config + weights), compared across parts */
    int K;                     /* classes; logits are in labels[] order (the teacher's id2label) */
    char labels[LABELS_MAX][LABEL_BYTES];
    int NL;                    /* number of kept layers; 0: logits only */
    int layers[SHARD_MAX_LAYERS];   /* 0-based teacher layer of each kept map, in storage order */
    int NH;                    /* heads per kept layer */
    shard_codec codec;
    char attn_kind[16];        /* "probs" (post-softmax, what HF output_attentions gives) or "scores" */
} shard_meta;

/* Bytes of one record's payload for sequence length l. */
size_t shard_record_bytes(const shard_meta *m, int l);

/* The layers emo-teacher-logits keeps by default for a teacher of L layers, into out (at
 * most SHARD_MAX_LAYERS): every second one, 1, 3, 5, ... (the last included when L is
 * even), or layer 0 when L == 1.  Returns their number.  emo-student-distill's default
 * (uniform) layer map takes the nearest of the layers a cache holds. */
int shard_default_layers(int L, int *out);

/* ---- IEEE half precision (used by the f16 codec; exposed for tests) ---- */
uint16_t f16_from_f32(float f);
float f32_from_f16(uint16_t h);
/* n values as little-endian halves, the bits of f16_from_f32 each (F16C when the CPU has
 * it); every value must be finite and at most 65504 in magnitude. */
void f16_encode(unsigned char *dst, const float *src, size_t n);
/* The u8 codec's value of a probability a in [-1e-6, 1 + 1e-6]: roundf(a * 255), clamped. */
unsigned char u8_from_prob(float a);
/* dst[i] = u8_from_prob(src[i]) (vectorised where the CPU allows; the same bytes), every
 * src[i] a probability as the u8 codec's check accepts it. */
void u8_encode(unsigned char *dst, const float *src, size_t n);

/* ---- writing --------------------------------------------------------------- */
typedef struct shard_writer shard_writer;

typedef struct shard_writer_opts {
    size_t frame_bytes;        /* close a frame once its payload reaches this (0: default 1 MiB) */
    uint64_t shard_bytes;      /* start a new shard once this many compressed bytes are written */
    int level;                 /* zstd level (0: 1, the fastest: the maps compress no better at 3) */
} shard_writer_opts;

/* Refuses (NULL, message in err) if DIR/PFX.manifest.json exists already: a finished part
 * is never overwritten in place.  dir must exist.  opts may be NULL. */
shard_writer *shard_writer_open(const char *dir, const char *prefix, const shard_meta *m,
                                const shard_writer_opts *opts, char *err, size_t errlen);
/* logits: (K); attn: (NL, NH, l, l) row-major, ignored when NL == 0. */
int shard_writer_add(shard_writer *w, uint64_t id, int l, const float *logits, const float *attn);
/* The same with each kept layer's (NH, l, l) block where it lies: layer_attn[NL]. */
int shard_writer_add_layers(shard_writer *w, uint64_t id, int l, const float *logits,
                            const float *const *layer_attn);
/* Full frames are compressed and written by a thread of the writer's own while the caller
 * goes on (one frame in flight): the output bytes are those of doing it in line.  A write
 * error is reported by the add or close after it. */
/* Flush the last frame and shard, write index and manifest (the commit).  Frees w. */
int shard_writer_close(shard_writer *w, char *err, size_t errlen);
/* Remove every file this writer made.  Frees w. */
void shard_writer_abort(shard_writer *w);
const char *shard_writer_error(const shard_writer *w);
uint64_t shard_writer_count(const shard_writer *w);

/* ---- reading --------------------------------------------------------------- */
typedef struct shard_reader shard_reader;

/* Opens every part in dir and validates what it can without decompressing: manifests agree,
 * every listed shard exists with the listed size, seek tables are intact and agree with the
 * manifest, index files have the listed size and checksum, every index entry points inside
 * its frame, ids are unique over all parts.  cache_frames: decompressed frames kept (LRU;
 * 0: 4).  NULL with a message in err on failure. */
shard_reader *shard_reader_open(const char *dir, int cache_frames, char *err, size_t errlen);
const shard_meta *shard_reader_meta(const shard_reader *r);
uint64_t shard_reader_count(const shard_reader *r);
/* The i-th id of the cache in ascending order, i < shard_reader_count (to walk every id). */
uint64_t shard_reader_id(const shard_reader *r, uint64_t i);
/* Sequence length of id, or -1 if the cache has no such id. */
int shard_reader_len(const shard_reader *r, uint64_t id);
/* The shard file holding id (DIR/PFX-NNNN.zst), or NULL if the cache has no such id. */
const char *shard_reader_where(const shard_reader *r, uint64_t id);
/* Fetch id's targets: logits (K) and, if attn != NULL, attn (NL, NH, l, l) as floats;
 * attn_cap is attn's capacity in floats.  0 ok; -1 error (message); -2 id not in the cache. */
int shard_reader_get(shard_reader *r, uint64_t id, float *logits, float *attn, size_t attn_cap, int *len);
/* A batch's teacher targets, laid out as the engine and lib/nn/loss want them:
 * logits (B, K) and, if attn != NULL, for each kept layer i attn[i] (B, NH, T, T) with the
 * record's l x l block top-left and zeros elsewhere (padding rows and columns).  lens[b]
 * must equal the cached length of ids[b] (same tokenisation).  0, or -1 / -2 as above. */
int shard_reader_get_batch(shard_reader *r, const uint64_t *ids, const int32_t *lens, int B, int T,
                           float *logits, float *const *attn);
/* Before training: every id is in the cache with the given length.  0, or -1 with a message
 * naming the first bad id and how many are missing. */
int shard_reader_check_ids(shard_reader *r, const uint64_t *ids, const int32_t *lens, size_t n);
/* Full check: decompress every frame (zstd checksums), check every record, and the
 * whole-file checksums of the manifest.  0 ok, -1 first problem (message). */
int shard_reader_verify(shard_reader *r);
const char *shard_reader_error(const shard_reader *r);
/* Frames decompressed so far (for tests of the LRU). */
uint64_t shard_reader_decompressions(const shard_reader *r);
void shard_reader_close(shard_reader *r);

#endif
