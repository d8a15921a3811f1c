/* Private to the teacher cache (lib/io/shard_*.c): the on-disk constants, the little-endian
 * helpers, the index entry both sides use, the codecs' range checks and the manifest's
 * JSON.  The cache is split by concern:
 *     shard_codec.c     f16 and u8 codecs with their SIMD paths, record sizes, layer choice
 *     shard_manifest.c  the shard_meta <-> JSON of a part's manifest
 *     shard_write.c     the writer: frames, the frame thread, seek tables, index, manifest
 *     shard_read.c      the reader: parts merged at open, the frame LRU, batches, verify
 * Includes io/shard.h only (and jansson, for the manifest's json_t). */
#ifndef EMO_SHARD_IMPL_H
#define EMO_SHARD_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "io/shard.h"

#define SEEK_SKIPPABLE_MAGIC 0x184D2A5Eu   /* zstd seekable format, skippable frame variant E */
#define SEEK_FOOTER_MAGIC 0x8F92EAB1u
#define SEEK_FOOTER_BYTES 9                /* u32 frames, u8 descriptor, u32 magic */
#define INDEX_MAGIC "EMOCIDX1"
#define INDEX_HEADER_BYTES 16               /* magic, u64 count */
#define INDEX_ENTRY_BYTES 24                /* u64 id, u32 shard, u32 frame, u32 offset, u16 l, u16 0 */
#define RECORD_HEADER_BYTES 12              /* u64 id, u16 l, u16 0 */
#define MAX_FRAME_BYTES (1ull << 30)        /* refuse a seek table claiming more per frame */

/* ---- little-endian helpers ------------------------------------------------- */
static inline void put_u16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static inline void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i); }
static inline void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i); }
static inline uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const unsigned char *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static inline void put_f32(unsigned char *p, float f) { uint32_t u; memcpy(&u, &f, 4); put_u32(p, u); }
static inline float get_f32(const unsigned char *p) { uint32_t u = get_u32(p); float f; memcpy(&f, &u, 4); return f; }

/* ---- codecs (shard_codec.c) ------------------------------------------------- */
/* what each codec accepts: a finite value in the half range; a probability */
static inline int f16_storable(float a) { return fabsf(a) <= 65504.0f; }
static inline int u8_storable(float a) { return a >= -1e-6f && a <= 1.0f + 1e-6f; }

/* ---- the index (shard_write.c writes it, shard_read.c merges the parts') ------ */
typedef struct index_entry {
    uint64_t id;
    uint32_t shard, frame, offset;
    uint16_t len;
} index_entry;

/* qsort order of index entries: by id */
int shard_cmp_entry_id(const void *a, const void *b);

/* ---- manifest (shard_manifest.c) ---------------------------------------------- */
/* The cache-wide fields of a manifest (format, version, teacher ... attn_kind), as a new
 * object the writer adds the part's own fields to. */
json_t *shard_meta_to_json(const shard_meta *m);
/* Reads them back and checks them; 0, or -1 with the reason in why. */
int shard_meta_from_json(shard_meta *m, json_t *o, char *why, size_t whycap);
/* Which field two parts disagree on, or NULL. */
const char *shard_meta_differs(const shard_meta *a, const shard_meta *b);
/* xxh64 digests as the manifest spells them: 16 lower-case hex digits (a new string);
 * parse_hex64 returns 0, or -1 if s is not 16 hex digits. */
char *shard_hex64(uint64_t v);
int shard_parse_hex64(const char *s, uint64_t *v);

#endif
