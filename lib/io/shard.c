/* Teacher cache: zstd shards with a seek table, an index per part, a JSON manifest per part.
 * Format in shard.h and man/man5/emo-cache.5. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "io/shard.h"
#include "util/util.h"

#define SEEK_SKIPPABLE_MAGIC 0x184D2A5Eu   /* zstd seekable format, skippable frame variant E */
#define SEEK_FOOTER_MAGIC 0x8F92EAB1u
#define SEEK_FOOTER_BYTES 9                /* u32 frames, u8 descriptor, u32 magic */
#define INDEX_MAGIC "EMOCIDX1"
#define INDEX_HEADER_BYTES 16               /* magic, u64 count */
#define INDEX_ENTRY_BYTES 24                /* u64 id, u32 shard, u32 frame, u32 offset, u16 l, u16 0 */
#define RECORD_HEADER_BYTES 12              /* u64 id, u16 l, u16 0 */
#define MAX_FRAME_BYTES (1ull << 30)        /* refuse a seek table claiming more per frame */

/* ---- little-endian helpers ------------------------------------------------- */
static void put_u16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i); }
static void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i); }
static uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static void put_f32(unsigned char *p, float f) { uint32_t u; memcpy(&u, &f, 4); put_u32(p, u); }
static float get_f32(const unsigned char *p) { uint32_t u = get_u32(p); float f; memcpy(&f, &u, 4); return f; }

static void set_msg(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_msg(char *dst, size_t cap, const char *fmt, ...)
{
    if (!dst || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* ---- half precision ---------------------------------------------------------- */

uint16_t f16_from_f32(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u)                       /* Inf or NaN */
        return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
    if (absx >= 0x477ff000u)                       /* rounds to >= 65520: overflow to Inf */
        return (uint16_t)(sign | 0x7c00u);
    if (absx < 0x38800000u) {                      /* below 2^-14: subnormal half (or 0) */
        if (absx < 0x33000000u)                    /* < 2^-25: rounds to 0 */
            return (uint16_t)sign;
        uint32_t e = absx >> 23, m = (absx & 0x7fffffu) | 0x800000u;
        /* value = m * 2^(e-150); the half subnormal unit is 2^-24, so h = m >> (126 - e) */
        int shift = (int)(126 - e);
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((absx - 0x38000000u) >> 13);     /* rebias exponent 127 -> 15 */
    uint32_t rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
        h++;                                       /* may carry into the exponent: still right */
    return (uint16_t)(sign | h);
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* 8 at a time with the F16C instruction: round to nearest even, as f16_from_f32 (the caller
 * has checked that every value is finite and within the half range) */
__attribute__((target("avx,f16c"))) static size_t f16_block_f16c(unsigned char *dst, const float *src,
                                                                  size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(dst + 2 * i), h);   // little-endian lanes
    }
    return i;
}

/* u8_from_prob 8 at a time with AVX2, op for op the same (the caller has checked that every
 * value is a probability, so the truncating conversion never overflows) */
__attribute__((target("avx2"))) static size_t u8_block_avx2(unsigned char *dst, const float *src,
                                                            size_t n)
{
    const __m256 scale = _mm256_set1_ps(255.0f), half = _mm256_set1_ps(0.5f);
    const __m256i lo = _mm256_setzero_si256(), hi = _mm256_set1_epi32(255);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_mul_ps(_mm256_loadu_ps(src + i), scale);
        __m256i q = _mm256_cvttps_epi32(_mm256_add_ps(x, half));
        __m256 over = _mm256_cmp_ps(x, _mm256_sub_ps(_mm256_cvtepi32_ps(q), half), _CMP_LT_OQ);
        q = _mm256_add_epi32(q, _mm256_castps_si256(over));   // -1 where x < q - 0.5
        q = _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
        __m256i w = _mm256_packus_epi16(_mm256_packs_epi32(q, q), lo);   // bytes 0-3 per lane
        __m128i b = _mm_unpacklo_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
        _mm_storel_epi64((__m128i *)(void *)(dst + i), b);
    }
    return i;
}
#endif

/* what each codec accepts: a finite value in the half range; a probability */
static inline int f16_storable(float a) { return fabsf(a) <= 65504.0f; }
static inline int u8_storable(float a) { return a >= -1e-6f && a <= 1.0f + 1e-6f; }

unsigned char u8_from_prob(float a)
{
    // roundf(a * 255) clamped to [0, 255], without the libm call (round half away from zero:
    // truncating x + 0.5 is one too many only when that sum rounded up, e.g. x = 0.5 - 2^-25)
    float x = a * 255.0f;
    int q = (int)(x + 0.5f);
    q -= x < (float)q - 0.5f;   // q - 0.5 is exact; q - x would not be
    return (unsigned char)(q < 0 ? 0 : q > 255 ? 255 : q);
}

void u8_encode(unsigned char *dst, const float *src, size_t n)
{
    size_t i = 0;
#if defined(__GNUC__) && defined(__x86_64__)
    static int has_avx2 = -1;
    if (has_avx2 < 0) {
        __builtin_cpu_init();
        has_avx2 = __builtin_cpu_supports("avx2");
    }
    if (has_avx2)
        i = u8_block_avx2(dst, src, n);
#endif
    for (; i < n; i++)
        dst[i] = u8_from_prob(src[i]);
}

void f16_encode(unsigned char *dst, const float *src, size_t n)
{
    size_t i = 0;
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)  /* clang 14 cannot ask for f16c */
    static int has_f16c = -1;
    if (has_f16c < 0) {
        __builtin_cpu_init();
        has_f16c = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
    }
    if (has_f16c)
        i = f16_block_f16c(dst, src, n);
#endif
    for (; i < n; i++)
        put_u16(dst + 2 * i, f16_from_f32(src[i]));
}

float f32_from_f16(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0) {
        if (m == 0)
            x = sign;
        else {                                     /* subnormal: normalise */
            int k = 0;
            while (!(m & 0x400u)) {
                m <<= 1;
                k++;
            }
            x = sign | (uint32_t)(127 - 15 + 1 - k) << 23 | (m & 0x3ffu) << 13;
        }
    } else if (e == 31)
        x = sign | 0x7f800000u | m << 13;
    else
        x = sign | (e + 127 - 15) << 23 | m << 13;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static size_t codec_bytes(shard_codec c) { return c == SHARD_ATTN_F16 ? 2 : 1; }

size_t shard_record_bytes(const shard_meta *m, int l)
{
    return RECORD_HEADER_BYTES + 4 * (size_t)m->K
           + codec_bytes(m->codec) * (size_t)m->NL * (size_t)m->NH * (size_t)l * (size_t)l;
}

int shard_default_layers(int L, int *out)
{
    int n = 0;
    for (int l = 1; l < L && n < SHARD_MAX_LAYERS; l += 2)
        out[n++] = l;
    if (!n && L > 0)
        out[n++] = L - 1;
    return n;
}

static const char *codec_name(shard_codec c) { return c == SHARD_ATTN_F16 ? "f16" : "u8"; }

/* ---- manifest ------------------------------------------------------------------ */

static json_t *meta_to_json(const shard_meta *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "format", json_string("emo-cache"));
    json_object_set_new(o, "version", json_integer(SHARD_FORMAT_VERSION));
    json_object_set_new(o, "teacher", json_string(m->teacher));
    json_object_set_new(o, "teacher_hash", json_string(m->teacher_hash));
    json_object_set_new(o, "K", json_integer(m->K));
    json_t *labels = json_array();
    for (int k = 0; k < m->K; k++)
        json_array_append_new(labels, json_string(m->labels[k]));
    json_object_set_new(o, "labels", labels);
    json_t *layers = json_array();
    for (int i = 0; i < m->NL; i++)
        json_array_append_new(layers, json_integer(m->layers[i]));
    json_object_set_new(o, "layers", layers);
    json_object_set_new(o, "NH", json_integer(m->NH));
    json_object_set_new(o, "attn_codec", json_string(codec_name(m->codec)));
    json_object_set_new(o, "attn_kind", json_string(m->attn_kind));
    return o;
}

static int copy_str(char *dst, size_t cap, json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int meta_from_json(shard_meta *m, json_t *o, char *why, size_t whycap)
{
    memset(m, 0, sizeof *m);
    json_t *v = json_object_get(o, "format");
    if (!json_is_string(v) || strcmp(json_string_value(v), "emo-cache"))
        return set_msg(why, whycap, "not an emo-cache manifest (\"format\" is not \"emo-cache\")"), -1;
    v = json_object_get(o, "version");
    if (!json_is_integer(v) || json_integer_value(v) != SHARD_FORMAT_VERSION)
        return set_msg(why, whycap, "unsupported cache format version (this build reads %d)", SHARD_FORMAT_VERSION), -1;
    if (copy_str(m->teacher, sizeof m->teacher, json_object_get(o, "teacher")) ||
        copy_str(m->teacher_hash, sizeof m->teacher_hash, json_object_get(o, "teacher_hash")) ||
        copy_str(m->attn_kind, sizeof m->attn_kind, json_object_get(o, "attn_kind")))
        return set_msg(why, whycap, "missing or overlong teacher, teacher_hash or attn_kind"), -1;
    v = json_object_get(o, "K");
    json_t *labels = json_object_get(o, "labels");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > LABELS_MAX ||
        !json_is_array(labels) || json_array_size(labels) != (size_t)json_integer_value(v))
        return set_msg(why, whycap, "bad K or labels"), -1;
    m->K = (int)json_integer_value(v);
    for (int k = 0; k < m->K; k++)
        if (copy_str(m->labels[k], LABEL_BYTES, json_array_get(labels, (size_t)k)))
            return set_msg(why, whycap, "bad label %d", k), -1;
    json_t *layers = json_object_get(o, "layers");
    if (!json_is_array(layers) || json_array_size(layers) > SHARD_MAX_LAYERS)
        return set_msg(why, whycap, "bad layers"), -1;
    m->NL = (int)json_array_size(layers);
    for (int i = 0; i < m->NL; i++) {
        json_t *e = json_array_get(layers, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 1000)
            return set_msg(why, whycap, "bad layer number"), -1;
        m->layers[i] = (int)json_integer_value(e);
    }
    v = json_object_get(o, "NH");
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1024 ||
        (m->NL > 0 && json_integer_value(v) == 0))
        return set_msg(why, whycap, "bad NH"), -1;
    m->NH = (int)json_integer_value(v);
    v = json_object_get(o, "attn_codec");
    if (json_is_string(v) && !strcmp(json_string_value(v), "f16"))
        m->codec = SHARD_ATTN_F16;
    else if (json_is_string(v) && !strcmp(json_string_value(v), "u8"))
        m->codec = SHARD_ATTN_U8;
    else
        return set_msg(why, whycap, "unknown attn_codec"), -1;
    return 0;
}

/* Which field two parts disagree on, or NULL. */
static const char *meta_differs(const shard_meta *a, const shard_meta *b)
{
    if (strcmp(a->teacher_hash, b->teacher_hash))
        return "teacher_hash";
    if (a->K != b->K)
        return "K";
    for (int k = 0; k < a->K; k++)
        if (strcmp(a->labels[k], b->labels[k]))
            return "labels";
    if (a->NL != b->NL || memcmp(a->layers, b->layers, sizeof(int) * (size_t)a->NL))
        return "layers";
    if (a->NH != b->NH)
        return "NH";
    if (a->codec != b->codec)
        return "attn_codec";
    if (strcmp(a->attn_kind, b->attn_kind))
        return "attn_kind";
    return NULL;
}

/* ---- writer -------------------------------------------------------------------- */

typedef struct shard_info {
    char *file;                /* base name */
    uint64_t size, records, frames;
    uint64_t xxh;
} shard_info;

typedef struct index_entry {
    uint64_t id;
    uint32_t shard, frame, offset;
    uint16_t len;
} index_entry;

struct shard_writer {
    char *dir, *prefix;
    int lock_fd;                   /* DIR/.PREFIX.lock, held (flock) until close or abort */
    char *lock;
    shard_meta meta;
    shard_writer_opts opts;
    ZSTD_CCtx *cctx;
    unsigned char *frame;          /* current frame's payload */
    size_t frame_len, frame_cap;
    size_t frame_first;            /* index entry of the frame's first record */
    unsigned char *zbuf;
    size_t zcap;
    /* the frame being compressed and written by the frame thread (one at a time): it owns
     * job_frame, zbuf, af, shard_bytes, xxh and job_err until joined */
    pthread_t job;
    int job_running, job_threaded, job_rc;
    unsigned char *job_frame;
    size_t job_len, job_cap, job_z;
    size_t job_first, job_end;     /* its records' index entries */
    char job_err[512];
    /* current shard */
    atomic_file af;
    int shard_open;
    uint32_t *seek;                /* (frames, 2): compressed, decompressed sizes */
    size_t seek_n, seek_cap;
    uint64_t shard_bytes, shard_records;
    XXH64_state_t *xxh;
    /* finished shards and the index */
    shard_info *shards;
    size_t nshards;
    index_entry *index;
    size_t nindex, index_cap;
    char err[1024];
};

const char *shard_writer_error(const shard_writer *w) { return w->err; }
uint64_t shard_writer_count(const shard_writer *w) { return w->nindex; }

static char *shard_name(const char *prefix, size_t k)
{
    char buf[64];
    snprintf(buf, sizeof buf, "-%04zu.zst", k);
    char *s = xmalloc(strlen(prefix) + strlen(buf) + 1);
    strcpy(s, prefix);
    strcat(s, buf);
    return s;
}

static char *part_file(const char *dir, const char *prefix, const char *suffix)
{
    char *base = xmalloc(strlen(prefix) + strlen(suffix) + 1);
    strcpy(base, prefix);
    strcat(base, suffix);
    char *p = path_join(dir, base);
    free(base);
    return p;
}

static int valid_prefix(const char *p)
{
    if (!*p || strlen(p) > 64 || p[0] == '.')
        return 0;
    for (const char *c = p; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            return 0;
    return 1;
}

shard_writer *shard_writer_open(const char *dir, const char *prefix, const shard_meta *m,
                                const shard_writer_opts *opts, char *err, size_t errlen)
{
    if (!valid_prefix(prefix)) {
        set_msg(err, errlen, "bad part prefix '%s' (letters, digits, '_', '-', '.'; at most 64)", prefix);
        return NULL;
    }
    if (m->K < 1 || m->K > LABELS_MAX || m->NL < 0 || m->NL > SHARD_MAX_LAYERS ||
        (m->NL > 0 && m->NH < 1)) {
        set_msg(err, errlen, "bad cache shape (K %d, layers %d, heads %d)", m->K, m->NL, m->NH);
        return NULL;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_msg(err, errlen, "%s: not a directory", dir);
        return NULL;
    }
    /* One writer per part: a second one would write the same shard names, and both
     * would finish "successfully" with half of the records each. */
    char lock_name[80];             /* prefix: at most 64 */
    snprintf(lock_name, sizeof lock_name, ".%s.lock", prefix);
    char *lock = path_join(dir, lock_name);
    int lock_fd = lock_acquire(lock);
    if (lock_fd < 0) {
        if (errno == EWOULDBLOCK)
            set_msg(err, errlen, "%s: part '%s' is being written by another process (wait for it, or choose "
                    "another prefix)", dir, prefix);
        else
            set_msg(err, errlen, "%s: %s", lock, strerror(errno));
        free(lock);
        return NULL;
    }
    char *man = part_file(dir, prefix, ".manifest.json");
    if (stat(man, &st) == 0) {
        set_msg(err, errlen, "%s: exists already (a finished part; remove it or choose another prefix)", man);
        free(man);
        lock_release(lock_fd, lock);
        free(lock);
        return NULL;
    }
    free(man);
    shard_writer *w = xcalloc(1, sizeof *w);
    w->lock_fd = lock_fd;
    w->lock = lock;
    w->dir = xstrdup(dir);
    w->prefix = xstrdup(prefix);
    w->meta = *m;
    if (opts)
        w->opts = *opts;
    if (!w->opts.frame_bytes)
        w->opts.frame_bytes = SHARD_DEFAULT_FRAME_BYTES;
    if (!w->opts.shard_bytes)
        w->opts.shard_bytes = SHARD_DEFAULT_SHARD_BYTES;
    if (!w->opts.level)
        w->opts.level = 1;   // level 3 took twice the time for the same size on attention maps
    w->cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->opts.level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);   /* so zstd -t and readers catch flips */
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
    w->xxh = XXH64_createState();
    return w;
}

/* atomic_commit/abort free the two names and NULL them; this also covers a writer torn
 * down with neither (free(NULL) is a no-op otherwise). */
static void af_release(atomic_file *af)
{
    free(af->path);
    free(af->tmp);
    af->path = af->tmp = NULL;
}

static int write_bytes_msg(shard_writer *w, const void *p, size_t n, char *err, size_t errcap)
{
    if (n && fwrite(p, 1, n, w->af.fp) != n) {
        set_msg(err, errcap, "%s: write error: %s", w->af.path, strerror(errno));
        return -1;
    }
    XXH64_update(w->xxh, p, n);
    w->shard_bytes += n;
    return 0;
}

static int write_bytes(shard_writer *w, const void *p, size_t n)
{
    return write_bytes_msg(w, p, n, w->err, sizeof w->err);
}

static int begin_shard(shard_writer *w)
{
    char *base = shard_name(w->prefix, w->nshards);
    char *path = path_join(w->dir, base);
    free(base);
    atomic_open(&w->af, path);   /* exits with a message if the directory is not writable */
    free(path);
    w->shard_open = 1;
    w->seek_n = 0;
    w->shard_bytes = 0;
    w->shard_records = 0;
    XXH64_reset(w->xxh, 0);
    return 0;
}

static int end_shard(shard_writer *w)
{
    /* Seek table: zstd seekable format, no per-frame checksums (the frames carry their own). */
    size_t n = 8 + 8 * w->seek_n + SEEK_FOOTER_BYTES;
    unsigned char *t = xmalloc(n);
    put_u32(t, SEEK_SKIPPABLE_MAGIC);
    put_u32(t + 4, (uint32_t)(n - 8));
    for (size_t i = 0; i < w->seek_n; i++) {
        put_u32(t + 8 + 8 * i, w->seek[2 * i]);
        put_u32(t + 12 + 8 * i, w->seek[2 * i + 1]);
    }
    put_u32(t + n - 9, (uint32_t)w->seek_n);
    t[n - 5] = 0;
    put_u32(t + n - 4, SEEK_FOOTER_MAGIC);
    int rc = write_bytes(w, t, n);
    free(t);
    if (rc)
        return -1;
    if (atomic_commit(&w->af) != 0) {
        set_msg(w->err, sizeof w->err, "%s: %s", w->af.path, strerror(errno));
        w->shard_open = 0;
        af_release(&w->af);
        return -1;
    }
    w->shard_open = 0;
    af_release(&w->af);
    w->shards = xreallocarray(w->shards, w->nshards + 1, sizeof *w->shards);
    shard_info *s = &w->shards[w->nshards++];
    s->file = shard_name(w->prefix, w->nshards - 1);
    s->size = w->shard_bytes;
    s->records = w->shard_records;
    s->frames = w->seek_n;
    s->xxh = XXH64_digest(w->xxh);
    w->seek_n = 0;      /* records added from now on go to frame 0 of shard nshards */
    return 0;
}

/* The frame thread: compresses the handed-over frame and appends it to the open shard. */
static void *frame_job(void *arg)
{
    shard_writer *w = arg;
    size_t bound = ZSTD_compressBound(w->job_len);
    if (bound > w->zcap) {
        w->zbuf = xrealloc(w->zbuf, bound);
        w->zcap = bound;
    }
    size_t z = ZSTD_compress2(w->cctx, w->zbuf, w->zcap, w->job_frame, w->job_len);
    if (ZSTD_isError(z)) {
        set_msg(w->job_err, sizeof w->job_err, "%s: zstd: %s", w->af.path, ZSTD_getErrorName(z));
        w->job_rc = -1;
        return NULL;
    }
    w->job_z = z;
    w->job_rc = write_bytes_msg(w, w->zbuf, z, w->job_err, sizeof w->job_err);
    return NULL;
}

static void join_job(shard_writer *w)
{
    if (w->job_running && w->job_threaded)
        pthread_join(w->job, NULL);
    w->job_running = 0;
}

/* Waits for the frame in flight and books it: its seek-table entry and its records' place
 * (shard, frame); ends the shard once it has its size. */
static int finish_job(shard_writer *w)
{
    if (!w->job_running)
        return 0;
    join_job(w);
    if (w->job_rc) {
        set_msg(w->err, sizeof w->err, "%s", w->job_err);
        return -1;
    }
    if (w->seek_n == w->seek_cap) {
        w->seek_cap = w->seek_cap ? 2 * w->seek_cap : 64;
        w->seek = xreallocarray(w->seek, w->seek_cap, 2 * sizeof *w->seek);
    }
    w->seek[2 * w->seek_n] = (uint32_t)w->job_z;
    w->seek[2 * w->seek_n + 1] = (uint32_t)w->job_len;
    for (size_t i = w->job_first; i < w->job_end; i++) {
        w->index[i].shard = (uint32_t)w->nshards;
        w->index[i].frame = (uint32_t)w->seek_n;
    }
    w->seek_n++;
    w->shard_records += w->job_end - w->job_first;
    if (w->shard_bytes >= w->opts.shard_bytes)
        return end_shard(w);
    return 0;
}

/* Hands the current frame to the frame thread (after booking the one before). */
static int flush_frame(shard_writer *w)
{
    if (finish_job(w))
        return -1;
    if (w->frame_len == 0)
        return 0;
    if (!w->shard_open && begin_shard(w))
        return -1;
    unsigned char *spare = w->job_frame;
    size_t spare_cap = w->job_cap;
    w->job_frame = w->frame;
    w->job_cap = w->frame_cap;
    w->job_len = w->frame_len;
    w->job_first = w->frame_first;
    w->job_end = w->nindex;
    w->job_rc = 0;
    w->frame = spare;
    w->frame_cap = spare_cap;
    w->frame_len = 0;
    w->frame_first = w->nindex;
    w->job_running = 1;
    w->job_threaded = pthread_create(&w->job, NULL, frame_job, w) == 0;
    if (!w->job_threaded)   // no thread to be had: do it here
        frame_job(w);
    return 0;
}

int shard_writer_add(shard_writer *w, uint64_t id, int l, const float *logits, const float *attn)
{
    const float *layer_attn[SHARD_MAX_LAYERS];
    size_t block = (size_t)w->meta.NH * (size_t)(l > 0 ? l : 0) * (size_t)(l > 0 ? l : 0);
    for (int i = 0; i < w->meta.NL; i++)
        layer_attn[i] = attn + (size_t)i * block;
    return shard_writer_add_layers(w, id, l, logits, layer_attn);
}

int shard_writer_add_layers(shard_writer *w, uint64_t id, int l, const float *logits,
                            const float *const *layer_attn)
{
    const shard_meta *m = &w->meta;
    if (l < 1 || l > SHARD_MAX_LEN)
        return set_msg(w->err, sizeof w->err, "id %llu: sequence length %d out of range [1, %d]",
                       (unsigned long long)id, l, SHARD_MAX_LEN), -1;
    size_t need = shard_record_bytes(m, l);
    if (w->frame_len + need > w->frame_cap) {
        w->frame_cap = w->frame_len + need > 2 * w->frame_cap ? w->frame_len + need : 2 * w->frame_cap;
        w->frame = xrealloc(w->frame, w->frame_cap);
    }
    unsigned char *p = w->frame + w->frame_len;
    put_u64(p, id);
    put_u16(p + 8, (uint16_t)l);
    put_u16(p + 10, 0);
    p += RECORD_HEADER_BYTES;
    for (int k = 0; k < m->K; k++, p += 4) {
        if (!isfinite(logits[k]))
            return set_msg(w->err, sizeof w->err, "id %llu: non-finite logit %d", (unsigned long long)id, k), -1;
        put_f32(p, logits[k]);
    }
    size_t n = (size_t)m->NH * (size_t)l * (size_t)l;   // per layer
    int f16 = m->codec == SHARD_ATTN_F16;
    for (int layer = 0; layer < m->NL; layer++) {
        const float *attn = layer_attn[layer];
        // check every value first (a loop without early exit, which vectorises), then convert
        int bad = 0;
        if (f16)
            for (size_t i = 0; i < n; i++)
                bad |= !f16_storable(attn[i]);
        else
            for (size_t i = 0; i < n; i++)
                bad |= !u8_storable(attn[i]);
        if (bad) {
            size_t i = 0;
            while (f16 ? f16_storable(attn[i]) : u8_storable(attn[i]))
                i++;
            if (f16)
                return set_msg(w->err, sizeof w->err, "id %llu: attention value %g is not representable in f16",
                               (unsigned long long)id, (double)attn[i]), -1;
            return set_msg(w->err, sizeof w->err, "id %llu: attention value %g is not a probability "
                           "(the u8 codec stores [0, 1])", (unsigned long long)id, (double)attn[i]), -1;
        }
        if (f16) {
            f16_encode(p, attn, n);
            p += 2 * n;
        } else {
            u8_encode(p, attn, n);
            p += n;
        }
    }
    if (w->nindex == w->index_cap) {
        w->index_cap = w->index_cap ? 2 * w->index_cap : 1024;
        w->index = xreallocarray(w->index, w->index_cap, sizeof *w->index);
    }
    index_entry *e = &w->index[w->nindex++];
    e->id = id;
    e->shard = e->frame = 0;   // booked when the frame is written (finish_job)
    e->offset = (uint32_t)w->frame_len;
    e->len = (uint16_t)l;
    w->frame_len += need;
    if (w->frame_len >= w->opts.frame_bytes)
        return flush_frame(w);
    return 0;
}

static int cmp_entry_id(const void *a, const void *b)
{
    const index_entry *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static char *hex64(uint64_t v)
{
    char *s = xmalloc(17);
    snprintf(s, 17, "%016llx", (unsigned long long)v);
    return s;
}

static void writer_free(shard_writer *w)
{
    ZSTD_freeCCtx(w->cctx);
    XXH64_freeState(w->xxh);
    for (size_t i = 0; i < w->nshards; i++)
        free(w->shards[i].file);
    free(w->shards);
    free(w->index);
    free(w->seek);
    free(w->frame);
    free(w->job_frame);
    free(w->zbuf);
    free(w->dir);
    free(w->prefix);
    lock_release(w->lock_fd, w->lock);
    free(w->lock);
    free(w);
}

void shard_writer_abort(shard_writer *w)
{
    if (!w)
        return;
    join_job(w);
    if (w->shard_open) {
        atomic_abort(&w->af);
        af_release(&w->af);
    }
    for (size_t i = 0; i < w->nshards; i++) {
        char *p = path_join(w->dir, w->shards[i].file);
        unlink(p);
        free(p);
    }
    char *idx = part_file(w->dir, w->prefix, ".idx");
    unlink(idx);
    free(idx);
    writer_free(w);
}

int shard_writer_close(shard_writer *w, char *err, size_t errlen)
{
    if (flush_frame(w) || finish_job(w) || (w->shard_open && end_shard(w)))
        goto fail;
    /* Duplicate ids inside one part are refused here; across parts, by the reader. */
    index_entry *sorted = xmalloc((w->nindex ? w->nindex : 1) * sizeof *sorted);
    memcpy(sorted, w->index, w->nindex * sizeof *sorted);
    qsort(sorted, w->nindex, sizeof *sorted, cmp_entry_id);
    for (size_t i = 1; i < w->nindex; i++)
        if (sorted[i].id == sorted[i - 1].id) {
            set_msg(w->err, sizeof w->err, "duplicate id %llu in the input", (unsigned long long)sorted[i].id);
            free(sorted);
            goto fail;
        }
    free(sorted);
    /* Index: in write order, so a reader sees records shard by shard. */
    char *idx = part_file(w->dir, w->prefix, ".idx");
    atomic_file af;
    FILE *f = atomic_open(&af, idx);
    unsigned char hdr[INDEX_HEADER_BYTES], ent[INDEX_ENTRY_BYTES];
    memcpy(hdr, INDEX_MAGIC, 8);
    put_u64(hdr + 8, w->nindex);
    XXH64_state_t *ih = XXH64_createState();
    XXH64_reset(ih, 0);
    fwrite(hdr, 1, sizeof hdr, f);
    XXH64_update(ih, hdr, sizeof hdr);
    for (size_t i = 0; i < w->nindex; i++) {
        const index_entry *e = &w->index[i];
        put_u64(ent, e->id);
        put_u32(ent + 8, e->shard);
        put_u32(ent + 12, e->frame);
        put_u32(ent + 16, e->offset);
        put_u16(ent + 20, e->len);
        put_u16(ent + 22, 0);
        fwrite(ent, 1, sizeof ent, f);
        XXH64_update(ih, ent, sizeof ent);
    }
    uint64_t idx_hash = XXH64_digest(ih);
    XXH64_freeState(ih);
    if (atomic_commit(&af) != 0) {
        set_msg(w->err, sizeof w->err, "%s: %s", idx, strerror(errno));
        af_release(&af);
        free(idx);
        goto fail;
    }
    af_release(&af);
    free(idx);
    /* Manifest last: it is the commit point of the part. */
    json_t *o = meta_to_json(&w->meta);
    json_object_set_new(o, "part", json_string(w->prefix));
    json_object_set_new(o, "records", json_integer((json_int_t)w->nindex));
    json_t *ji = json_object();
    char *base = xmalloc(strlen(w->prefix) + 8);
    sprintf(base, "%s.idx", w->prefix);
    json_object_set_new(ji, "file", json_string(base));
    free(base);
    json_object_set_new(ji, "size", json_integer((json_int_t)(INDEX_HEADER_BYTES + INDEX_ENTRY_BYTES * w->nindex)));
    char *h = hex64(idx_hash);
    json_object_set_new(ji, "xxh64", json_string(h));
    free(h);
    json_object_set_new(o, "index", ji);
    json_t *js = json_array();
    for (size_t i = 0; i < w->nshards; i++) {
        json_t *s = json_object();
        json_object_set_new(s, "file", json_string(w->shards[i].file));
        json_object_set_new(s, "size", json_integer((json_int_t)w->shards[i].size));
        json_object_set_new(s, "frames", json_integer((json_int_t)w->shards[i].frames));
        json_object_set_new(s, "records", json_integer((json_int_t)w->shards[i].records));
        h = hex64(w->shards[i].xxh);
        json_object_set_new(s, "xxh64", json_string(h));
        free(h);
        json_array_append_new(js, s);
    }
    json_object_set_new(o, "shards", js);
    char *man = part_file(w->dir, w->prefix, ".manifest.json");
    f = atomic_open(&af, man);
    int bad = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0;
    fputc('\n', f);
    json_decref(o);
    if (bad || atomic_commit(&af) != 0) {
        if (bad)
            atomic_abort(&af);
        af_release(&af);
        set_msg(w->err, sizeof w->err, "%s: cannot write manifest: %s", man, strerror(errno));
        free(man);
        goto fail;
    }
    af_release(&af);
    free(man);
    writer_free(w);
    return 0;
fail:
    set_msg(err, errlen, "%s", w->err);
    shard_writer_abort(w);
    return -1;
}

/* ---- reader -------------------------------------------------------------------- */

typedef struct rshard {
    char *path;
    int fd;
    uint64_t size, xxh;
    uint32_t nframes;
    uint64_t *foff;                /* (nframes) file offset of each frame */
    uint32_t *csize, *dsize;       /* (nframes) */
    uint64_t records;              /* the manifest's count, checked against the index */
    char *name;                    /* the manifest's file name, for messages */
} rshard;

typedef struct rpart {
    char *manifest;                /* path, for messages */
    char *index_path;
    uint64_t index_size, index_xxh;
    uint64_t records;              /* the manifest's count, checked against the index */
    size_t first_shard, nshards;
} rpart;

typedef struct lru_slot {
    int64_t shard;                 /* -1: empty */
    uint32_t frame;
    unsigned char *buf;
    size_t cap;
    uint64_t stamp;
} lru_slot;

struct shard_reader {
    char *dir;
    shard_meta meta;
    rpart *parts;
    size_t nparts;
    rshard *shards;
    size_t nshards;
    index_entry *index;            /* sorted by id; shard is global */
    size_t nindex;
    ZSTD_DCtx *dctx;
    lru_slot *lru;
    int nlru;
    uint64_t clock, decompressions;
    char err[1024];
};

const shard_meta *shard_reader_meta(const shard_reader *r) { return &r->meta; }
uint64_t shard_reader_count(const shard_reader *r) { return r->nindex; }
const char *shard_reader_error(const shard_reader *r) { return r->err; }
uint64_t shard_reader_decompressions(const shard_reader *r) { return r->decompressions; }

static int read_exact(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

static int parse_hex64(const char *s, uint64_t *v)
{
    if (strlen(s) != 16)
        return -1;
    char *end;
    *v = strtoull(s, &end, 16);
    return *end ? -1 : 0;
}

/* Reads and checks a shard's seek table against its manifest entry. */
static int open_shard(shard_reader *r, rshard *s, uint64_t want_frames)
{
    s->fd = open(s->path, O_RDONLY);
    if (s->fd < 0)
        return set_msg(r->err, sizeof r->err, "%s: %s", s->path, strerror(errno)), -1;
    struct stat st;
    fstat(s->fd, &st);
    if ((uint64_t)st.st_size != s->size)
        return set_msg(r->err, sizeof r->err, "%s: size %llu, manifest says %llu (truncated or replaced?)",
                       s->path, (unsigned long long)st.st_size, (unsigned long long)s->size), -1;
    unsigned char foot[SEEK_FOOTER_BYTES];
    if (s->size < 8 + SEEK_FOOTER_BYTES || read_exact(s->fd, foot, sizeof foot, s->size - SEEK_FOOTER_BYTES) ||
        get_u32(foot + 5) != SEEK_FOOTER_MAGIC || (foot[4] & 0x7f) != 0)
        return set_msg(r->err, sizeof r->err, "%s: seek table footer missing (truncated?)", s->path), -1;
    uint64_t nf = get_u32(foot);
    uint64_t tbytes = 8 + 8 * nf + SEEK_FOOTER_BYTES;
    if (nf != want_frames || tbytes > s->size)
        return set_msg(r->err, sizeof r->err, "%s: seek table lists %llu frames, manifest says %llu",
                       s->path, (unsigned long long)nf, (unsigned long long)want_frames), -1;
    unsigned char *t = xmalloc(tbytes);
    if (read_exact(s->fd, t, tbytes, s->size - tbytes) || get_u32(t) != SEEK_SKIPPABLE_MAGIC ||
        get_u32(t + 4) != tbytes - 8) {
        free(t);
        return set_msg(r->err, sizeof r->err, "%s: seek table damaged", s->path), -1;
    }
    s->nframes = (uint32_t)nf;
    s->foff = xcalloc(nf ? nf : 1, sizeof *s->foff);
    s->csize = xcalloc(nf ? nf : 1, sizeof *s->csize);
    s->dsize = xcalloc(nf ? nf : 1, sizeof *s->dsize);
    uint64_t off = 0;
    for (uint64_t i = 0; i < nf; i++) {
        s->foff[i] = off;
        s->csize[i] = get_u32(t + 8 + 8 * i);
        s->dsize[i] = get_u32(t + 12 + 8 * i);
        off += s->csize[i];
        if (s->dsize[i] > MAX_FRAME_BYTES) {
            free(t);
            return set_msg(r->err, sizeof r->err, "%s: frame %llu: seek table claims %u bytes",
                           s->path, (unsigned long long)i, s->dsize[i]), -1;
        }
    }
    free(t);
    if (off != s->size - tbytes)
        return set_msg(r->err, sizeof r->err, "%s: frames cover %llu bytes, file has %llu before the seek table",
                       s->path, (unsigned long long)off, (unsigned long long)(s->size - tbytes)), -1;
    return 0;
}

static int load_index(shard_reader *r, rpart *p, const char *dir)
{
    (void)dir;
    int fd = open(p->index_path, O_RDONLY);
    if (fd < 0)
        return set_msg(r->err, sizeof r->err, "%s: %s", p->index_path, strerror(errno)), -1;
    struct stat st;
    fstat(fd, &st);
    if ((uint64_t)st.st_size != p->index_size) {
        close(fd);
        return set_msg(r->err, sizeof r->err, "%s: size %llu, manifest says %llu (truncated or replaced?)",
                       p->index_path, (unsigned long long)st.st_size, (unsigned long long)p->index_size), -1;
    }
    if (p->index_size < INDEX_HEADER_BYTES || (p->index_size - INDEX_HEADER_BYTES) % INDEX_ENTRY_BYTES) {
        close(fd);
        return set_msg(r->err, sizeof r->err, "%s: not an index file (bad size)", p->index_path), -1;
    }
    unsigned char *buf = xmalloc(p->index_size);
    int rc = read_exact(fd, buf, p->index_size, 0);
    close(fd);
    if (rc || memcmp(buf, INDEX_MAGIC, 8)) {
        free(buf);
        return set_msg(r->err, sizeof r->err, "%s: not an emo-cache index", p->index_path), -1;
    }
    if (XXH64(buf, p->index_size, 0) != p->index_xxh) {
        free(buf);
        return set_msg(r->err, sizeof r->err, "%s: checksum mismatch", p->index_path), -1;
    }
    uint64_t n = get_u64(buf + 8);
    if (n != (p->index_size - INDEX_HEADER_BYTES) / INDEX_ENTRY_BYTES) {
        free(buf);
        return set_msg(r->err, sizeof r->err, "%s: record count disagrees with the file size", p->index_path), -1;
    }
    r->index = xreallocarray(r->index, r->nindex + n + 1, sizeof *r->index);
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *e = buf + INDEX_HEADER_BYTES + INDEX_ENTRY_BYTES * i;
        index_entry x = { get_u64(e), get_u32(e + 8), get_u32(e + 12), get_u32(e + 16), get_u16(e + 20) };
        if (x.shard >= p->nshards) {
            free(buf);
            return set_msg(r->err, sizeof r->err, "%s: entry %llu points to shard %u of %zu",
                           p->index_path, (unsigned long long)i, x.shard, p->nshards), -1;
        }
        x.shard += (uint32_t)p->first_shard;
        const rshard *s = &r->shards[x.shard];
        if (x.frame >= s->nframes || x.len < 1 || x.len > SHARD_MAX_LEN ||
            (uint64_t)x.offset + shard_record_bytes(&r->meta, x.len) > s->dsize[x.frame]) {
            free(buf);
            return set_msg(r->err, sizeof r->err, "%s: entry %llu (id %llu) points outside %s",
                           p->index_path, (unsigned long long)i, (unsigned long long)x.id, s->path), -1;
        }
        r->index[r->nindex++] = x;
    }
    free(buf);
    /* The manifest's counts must be the index's: a manifest edited or from another run
     * would otherwise pass --verify. */
    if (n != p->records)
        return set_msg(r->err, sizeof r->err, "%s: records %llu, but its index holds %llu", p->manifest,
                       (unsigned long long)p->records, (unsigned long long)n), -1;
    uint64_t *count = xcalloc(p->nshards + 1, sizeof *count);
    for (size_t i = r->nindex - n; i < r->nindex; i++)
        count[r->index[i].shard - p->first_shard]++;
    for (size_t i = 0; i < p->nshards; i++) {
        const rshard *s = &r->shards[p->first_shard + i];
        if (count[i] != s->records) {
            set_msg(r->err, sizeof r->err, "%s: shard %zu (%s): records %llu, but the index gives it %llu",
                    p->manifest, i, s->name, (unsigned long long)s->records, (unsigned long long)count[i]);
            free(count);
            return -1;
        }
    }
    free(count);
    return 0;
}

static int is_manifest(const char *name)
{
    size_t n = strlen(name), k = strlen(".manifest.json");
    return n > k && name[0] != '.' && !strcmp(name + n - k, ".manifest.json");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int open_part(shard_reader *r, const char *mpath, size_t *missing_len, char *missing, size_t missing_cap)
{
    json_error_t je;
    json_t *o = json_load_file(mpath, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return set_msg(r->err, sizeof r->err, "%s: line %d: %s", mpath, je.line, je.text), -1;
    char why[256];
    shard_meta m;
    if (meta_from_json(&m, o, why, sizeof why)) {
        json_decref(o);
        return set_msg(r->err, sizeof r->err, "%s: %s", mpath, why), -1;
    }
    if (r->nparts == 0)
        r->meta = m;
    else {
        const char *d = meta_differs(&r->meta, &m);
        if (d) {
            json_decref(o);
            return set_msg(r->err, sizeof r->err, "%s: %s differs from %s (parts of one cache must come from "
                           "one teacher run)", mpath, d, r->parts[0].manifest), -1;
        }
    }
    json_t *ji = json_object_get(o, "index"), *js = json_object_get(o, "shards");
    json_t *ifile = json_object_get(ji, "file"), *isize = json_object_get(ji, "size"), *ih = json_object_get(ji, "xxh64");
    json_t *jn = json_object_get(o, "records");
    uint64_t ixxh;
    if (!json_is_string(ifile) || strchr(json_string_value(ifile), '/') || !json_is_integer(isize) ||
        !json_is_string(ih) || parse_hex64(json_string_value(ih), &ixxh) || !json_is_array(js) ||
        !json_is_integer(jn) || json_integer_value(jn) < 0) {
        json_decref(o);
        return set_msg(r->err, sizeof r->err, "%s: bad index or shards entry", mpath), -1;
    }
    r->parts = xreallocarray(r->parts, r->nparts + 1, sizeof *r->parts);
    rpart *p = &r->parts[r->nparts++];
    p->manifest = xstrdup(mpath);
    p->index_path = path_join(r->dir, json_string_value(ifile));
    p->index_size = (uint64_t)json_integer_value(isize);
    p->index_xxh = ixxh;
    p->records = (uint64_t)json_integer_value(jn);
    p->first_shard = r->nshards;
    p->nshards = json_array_size(js);
    r->shards = xreallocarray(r->shards, r->nshards + p->nshards + 1, sizeof *r->shards);
    for (size_t i = 0; i < p->nshards; i++) {
        json_t *s = json_array_get(js, i);
        json_t *f = json_object_get(s, "file"), *sz = json_object_get(s, "size"),
               *fr = json_object_get(s, "frames"), *h = json_object_get(s, "xxh64"),
               *nr = json_object_get(s, "records");
        rshard *rs = &r->shards[r->nshards];
        memset(rs, 0, sizeof *rs);
        rs->fd = -1;
        if (!json_is_string(f) || strchr(json_string_value(f), '/') || !json_is_integer(sz) ||
            json_integer_value(sz) < 0 || !json_is_integer(fr) || json_integer_value(fr) < 0 ||
            !json_is_string(h) || parse_hex64(json_string_value(h), &rs->xxh) || !json_is_integer(nr) ||
            json_integer_value(nr) < 0) {
            json_decref(o);
            return set_msg(r->err, sizeof r->err, "%s: bad shard entry %zu", mpath, i), -1;
        }
        rs->path = path_join(r->dir, json_string_value(f));
        rs->size = (uint64_t)json_integer_value(sz);
        rs->records = (uint64_t)json_integer_value(nr);
        rs->name = xstrdup(json_string_value(f));
        r->nshards++;
        if (access(rs->path, F_OK) != 0) {
            /* collect every missing shard, report them together */
            size_t k = strlen(json_string_value(f));
            if (*missing_len + k + 3 < missing_cap) {
                if (*missing_len)
                    missing[(*missing_len)++] = ' ';
                memcpy(missing + *missing_len, json_string_value(f), k + 1);
                *missing_len += k;
            }
            continue;
        }
        if (!*missing_len && open_shard(r, rs, (uint64_t)json_integer_value(fr))) {
            json_decref(o);
            return -1;
        }
    }
    json_decref(o);
    return 0;
}

static void reader_free(shard_reader *r)
{
    for (size_t i = 0; i < r->nparts; i++) {
        free(r->parts[i].manifest);
        free(r->parts[i].index_path);
    }
    for (size_t i = 0; i < r->nshards; i++) {
        if (r->shards[i].fd >= 0)
            close(r->shards[i].fd);
        free(r->shards[i].path);
        free(r->shards[i].name);
        free(r->shards[i].foff);
        free(r->shards[i].csize);
        free(r->shards[i].dsize);
    }
    for (int i = 0; i < r->nlru; i++)
        free(r->lru[i].buf);
    free(r->lru);
    free(r->parts);
    free(r->shards);
    free(r->index);
    if (r->dctx)
        ZSTD_freeDCtx(r->dctx);
    free(r->dir);
    free(r);
}

void shard_reader_close(shard_reader *r)
{
    if (r)
        reader_free(r);
}

shard_reader *shard_reader_open(const char *dir, int cache_frames, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        set_msg(err, errlen, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t nnames = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (is_manifest(e->d_name)) {
            names = xreallocarray(names, nnames + 1, sizeof *names);
            names[nnames++] = xstrdup(e->d_name);
        }
    closedir(d);
    shard_reader *r = xcalloc(1, sizeof *r);
    r->dir = xstrdup(dir);
    int rc = 0;
    if (nnames == 0) {
        set_msg(r->err, sizeof r->err, "%s: no *.manifest.json: not a teacher cache (or no part finished)", dir);
        rc = -1;
    }
    /* Parts in name order, so the merged view (and messages) never depend on readdir order. */
    if (nnames)
        qsort(names, nnames, sizeof *names, cmp_str);
    char missing[1024] = "";
    size_t missing_len = 0;
    for (size_t i = 0; i < nnames && rc == 0; i++) {
        char *mp = path_join(dir, names[i]);
        rc = open_part(r, mp, &missing_len, missing, sizeof missing);
        free(mp);
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if (rc == 0 && missing_len) {
        set_msg(r->err, sizeof r->err, "%s: missing shards: %s", dir, missing);
        rc = -1;
    }
    for (size_t i = 0; i < r->nparts && rc == 0; i++)
        rc = load_index(r, &r->parts[i], dir);
    if (rc == 0) {
        qsort(r->index, r->nindex, sizeof *r->index, cmp_entry_id);
        for (size_t i = 1; i < r->nindex; i++)
            if (r->index[i].id == r->index[i - 1].id) {
                set_msg(r->err, sizeof r->err, "duplicate id %llu in %s and %s (ids must be unique over all "
                        "parts of a cache)",
                        (unsigned long long)r->index[i].id, r->shards[r->index[i - 1].shard].path,
                        r->shards[r->index[i].shard].path);
                rc = -1;
                break;
            }
    }
    if (rc) {
        set_msg(err, errlen, "%s", r->err);
        reader_free(r);
        return NULL;
    }
    r->dctx = ZSTD_createDCtx();
    r->nlru = cache_frames > 0 ? cache_frames : 4;
    r->lru = xcalloc((size_t)r->nlru, sizeof *r->lru);
    for (int i = 0; i < r->nlru; i++)
        r->lru[i].shard = -1;
    return r;
}

static const index_entry *find(const shard_reader *r, uint64_t id)
{
    size_t lo = 0, hi = r->nindex;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->index[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nindex && r->index[lo].id == id ? &r->index[lo] : NULL;
}

uint64_t shard_reader_id(const shard_reader *r, uint64_t i)
{
    return i < r->nindex ? r->index[i].id : UINT64_MAX;
}

int shard_reader_len(const shard_reader *r, uint64_t id)
{
    const index_entry *e = find(r, id);
    return e ? e->len : -1;
}

const char *shard_reader_where(const shard_reader *r, uint64_t id)
{
    const index_entry *e = find(r, id);
    return e ? r->shards[e->shard].path : NULL;
}

/* Decompress (shard, frame) into an LRU slot; the whole frame is checked (zstd content
 * checksum) before any of its records is used. */
static const unsigned char *get_frame(shard_reader *r, uint32_t si, uint32_t fi)
{
    lru_slot *victim = &r->lru[0];
    for (int i = 0; i < r->nlru; i++) {
        lru_slot *s = &r->lru[i];
        if (s->shard == (int64_t)si && s->frame == fi) {
            s->stamp = ++r->clock;
            return s->buf;
        }
        if (s->stamp < victim->stamp)
            victim = s;
    }
    rshard *sh = &r->shards[si];
    size_t cs = sh->csize[fi], ds = sh->dsize[fi];
    unsigned char *src = xmalloc(cs ? cs : 1);
    if (read_exact(sh->fd, src, cs, sh->foff[fi])) {
        free(src);
        set_msg(r->err, sizeof r->err, "%s: frame %u: read error", sh->path, fi);
        return NULL;
    }
    if (victim->cap < ds) {
        free(victim->buf);
        victim->buf = xmalloc(ds);
        victim->cap = ds;
    }
    victim->shard = -1;
    size_t got = ZSTD_decompressDCtx(r->dctx, victim->buf, ds, src, cs);
    free(src);
    r->decompressions++;
    if (ZSTD_isError(got)) {
        ZSTD_ErrorCode c = ZSTD_getErrorCode(got);
        if (c == ZSTD_error_checksum_wrong)
            set_msg(r->err, sizeof r->err, "%s: frame %u: checksum mismatch", sh->path, fi);
        else
            set_msg(r->err, sizeof r->err, "%s: frame %u: corrupt (%s)", sh->path, fi, ZSTD_getErrorName(got));
        return NULL;
    }
    if (got != ds) {
        set_msg(r->err, sizeof r->err, "%s: frame %u: %zu bytes, seek table says %zu", sh->path, fi, got, ds);
        return NULL;
    }
    victim->shard = si;
    victim->frame = fi;
    victim->stamp = ++r->clock;
    return victim->buf;
}

static void decode_record(const shard_meta *m, const unsigned char *p, int l, float *logits, float *attn)
{
    p += RECORD_HEADER_BYTES;
    for (int k = 0; k < m->K; k++, p += 4)
        logits[k] = get_f32(p);
    if (!attn)
        return;
    size_t n = (size_t)m->NL * (size_t)m->NH * (size_t)l * (size_t)l;
    if (m->codec == SHARD_ATTN_F16)
        for (size_t i = 0; i < n; i++, p += 2)
            attn[i] = f32_from_f16(get_u16(p));
    else
        for (size_t i = 0; i < n; i++)
            attn[i] = (float)p[i] * (1.0f / 255.0f);
}

int shard_reader_get(shard_reader *r, uint64_t id, float *logits, float *attn, size_t attn_cap, int *len)
{
    const index_entry *e = find(r, id);
    if (!e)
        return set_msg(r->err, sizeof r->err, "%s: id %llu is not in the cache", r->dir, (unsigned long long)id), -2;
    size_t need = (size_t)r->meta.NL * (size_t)r->meta.NH * e->len * e->len;
    if (attn && attn_cap < need)
        return set_msg(r->err, sizeof r->err, "id %llu: attention buffer holds %zu floats, need %zu",
                       (unsigned long long)id, attn_cap, need), -1;
    const unsigned char *buf = get_frame(r, e->shard, e->frame);
    if (!buf)
        return -1;
    const unsigned char *p = buf + e->offset;
    if (get_u64(p) != id || get_u16(p + 8) != e->len)
        return set_msg(r->err, sizeof r->err, "%s: frame %u: record at offset %u is not id %llu (index and shard disagree)",
                       r->shards[e->shard].path, e->frame, e->offset, (unsigned long long)id), -1;
    decode_record(&r->meta, p, e->len, logits, attn);
    if (len)
        *len = e->len;
    return 0;
}

int shard_reader_get_batch(shard_reader *r, const uint64_t *ids, const int32_t *lens, int B, int T,
                           float *logits, float *const *attn)
{
    const shard_meta *m = &r->meta;
    size_t NH = (size_t)m->NH, TT = (size_t)T * (size_t)T;
    float *block = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int b = 0; b < B && rc == 0; b++) {
        int l = shard_reader_len(r, ids[b]);
        if (l < 0) {
            rc = -2;
            set_msg(r->err, sizeof r->err, "%s: id %llu is not in the cache", r->dir, (unsigned long long)ids[b]);
            break;
        }
        if (l != lens[b] || l > T) {
            rc = -1;
            set_msg(r->err, sizeof r->err, "id %llu: the cache has %d tokens, the record %d (cache made from other "
                    "records or another tokenisation?)", (unsigned long long)ids[b], l, lens[b]);
            break;
        }
        size_t need = (size_t)m->NL * NH * (size_t)l * (size_t)l;
        if (attn && need > cap) {
            free(block);
            cap = need;
            block = xmalloc(cap * sizeof *block);
        }
        rc = shard_reader_get(r, ids[b], logits + (size_t)b * (size_t)m->K, attn ? block : NULL, cap, NULL);
        if (rc || !attn)
            continue;
        /* (NL, NH, l, l) -> attn[i] (B, NH, T, T), zero padded */
        for (int i = 0; i < m->NL; i++)
            for (size_t h = 0; h < NH; h++) {
                float *dst = attn[i] + ((size_t)b * NH + h) * TT;
                memset(dst, 0, TT * sizeof *dst);
                for (int q = 0; q < l; q++)
                    memcpy(dst + (size_t)q * (size_t)T, block + (((size_t)i * NH + h) * (size_t)l + (size_t)q) * (size_t)l,
                           (size_t)l * sizeof *dst);
            }
    }
    free(block);
    return rc;
}

int shard_reader_check_ids(shard_reader *r, const uint64_t *ids, const int32_t *lens, size_t n)
{
    size_t missing = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        int l = shard_reader_len(r, ids[i]);
        if (l >= 0 && lens && l != lens[i])
            return set_msg(r->err, sizeof r->err, "id %llu: the cache has %d tokens, the record %d (cache made from "
                           "other records, ids clashing across files, or another tokenisation?)", (unsigned long long)ids[i], l, lens[i]), -1;
        if (l < 0 && missing++ == 0)
            first = i;
    }
    if (missing)
        return set_msg(r->err, sizeof r->err, "%s: %zu of %zu ids are not in the cache (first: id %llu)", r->dir,
                       missing, n, (unsigned long long)ids[first]), -1;
    return 0;
}

int shard_reader_verify(shard_reader *r)
{
    /* Whole-file checksums first (catches damage in any byte, seek table included), then every
     * frame through zstd, then every index entry against its record. */
    size_t bufcap = 1 << 20;
    unsigned char *buf = xmalloc(bufcap);
    for (size_t i = 0; i < r->nshards; i++) {
        rshard *s = &r->shards[i];
        XXH64_state_t *h = XXH64_createState();
        XXH64_reset(h, 0);
        for (uint64_t off = 0; off < s->size;) {
            size_t n = s->size - off < bufcap ? (size_t)(s->size - off) : bufcap;
            if (read_exact(s->fd, buf, n, off)) {
                XXH64_freeState(h);
                free(buf);
                return set_msg(r->err, sizeof r->err, "%s: read error", s->path), -1;
            }
            XXH64_update(h, buf, n);
            off += n;
        }
        uint64_t got = XXH64_digest(h);
        XXH64_freeState(h);
        if (got != s->xxh) {
            /* name the frame if zstd can */
            for (uint32_t f = 0; f < s->nframes; f++)
                if (!get_frame(r, (uint32_t)i, f)) {
                    free(buf);
                    return -1;
                }
            free(buf);
            return set_msg(r->err, sizeof r->err, "%s: checksum mismatch (seek table or padding damaged)", s->path), -1;
        }
        for (uint32_t f = 0; f < s->nframes; f++)
            if (!get_frame(r, (uint32_t)i, f)) {
                free(buf);
                return -1;
            }
    }
    free(buf);
    float logits[LABELS_MAX];
    for (size_t i = 0; i < r->nindex; i++) {
        const index_entry *e = &r->index[i];
        const unsigned char *fb = get_frame(r, e->shard, e->frame);
        if (!fb)
            return -1;
        const unsigned char *p = fb + e->offset;
        if (get_u64(p) != e->id || get_u16(p + 8) != e->len)
            return set_msg(r->err, sizeof r->err, "%s: frame %u: record at offset %u is not id %llu",
                           r->shards[e->shard].path, e->frame, e->offset, (unsigned long long)e->id), -1;
        decode_record(&r->meta, p, e->len, logits, NULL);
        for (int k = 0; k < r->meta.K; k++)
            if (!isfinite(logits[k]))
                return set_msg(r->err, sizeof r->err, "%s: id %llu: non-finite logit",
                               r->shards[e->shard].path, (unsigned long long)e->id), -1;
    }
    return 0;
}
