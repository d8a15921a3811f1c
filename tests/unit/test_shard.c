#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
/* Teacher cache: f16 conversion against the compiler's _Float16, write/read round trip with
 * random access across frames and shards, the LRU, two writers in one directory, and every
 * damage case (flipped byte, truncation, missing shard, duplicate ids, missing id). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io/shard.h"
#include "util/rng.h"
#include "util/util.h"

#define TK 6
#define TNL 2
#define TNH 3
#define MAXL 40

static char tmpdir[256];

static shard_meta make_meta(shard_codec codec)
{
    shard_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.teacher, sizeof m.teacher, "/models/teacher");
    snprintf(m.teacher_hash, sizeof m.teacher_hash, "0123456789abcdef");
    m.K = TK;
    const char *names[TK] = { "sadness", "joy", "love", "anger", "fear", "surprise" };
    for (int k = 0; k < TK; k++)
        snprintf(m.labels[k], LABEL_BYTES, "%s", names[k]);
    m.NL = TNL;
    m.layers[0] = 1;
    m.layers[1] = 3;
    m.NH = TNH;
    m.codec = codec;
    snprintf(m.attn_kind, sizeof m.attn_kind, "probs");
    return m;
}

/* Deterministic targets of record id: softmax rows (probabilities), so both codecs apply. */
static int gen(uint64_t id, float *logits, float *attn)
{
    rng_t r;
    rng_seed(&r, id * 7919 + 1);
    int l = 1 + (int)rng_below(&r, MAXL);
    for (int k = 0; k < TK; k++)
        logits[k] = (float)(rng_normal(&r) * 3);
    for (int row = 0; row < TNL * TNH * l; row++) {
        float *a = attn + (size_t)row * l, sum = 0;
        for (int j = 0; j < l; j++)
            sum += a[j] = expf((float)rng_normal(&r) * 3);
        for (int j = 0; j < l; j++)
            a[j] /= sum;
    }
    return l;
}

static char *mkdir_tmp(const char *name)
{
    char *d = path_join(tmpdir, name);
    mkdir(d, 0755);
    return d;
}

static int write_part(const char *dir, const char *prefix, shard_codec codec, uint64_t id0, uint64_t n,
                      uint64_t step, char *err, size_t errlen)
{
    shard_meta m = make_meta(codec);
    shard_writer_opts o = { .frame_bytes = 8192, .shard_bytes = 40000, .level = 3 };
    shard_writer *w = shard_writer_open(dir, prefix, &m, &o, err, errlen);
    if (!w)
        return -1;
    float logits[TK], *attn = xmalloc(sizeof(float) * TNL * TNH * MAXL * MAXL);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = id0 + i * step;
        int l = gen(id, logits, attn);
        if (shard_writer_add(w, id, l, logits, attn)) {
            snprintf(err, errlen, "%s", shard_writer_error(w));
            shard_writer_abort(w);
            free(attn);
            return -1;
        }
    }
    free(attn);
    return shard_writer_close(w, err, errlen);
}

static void test_f16(void)
{
    /* every finite half survives f16 -> f32 -> f16 */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00u) == 0x7c00u)
            continue;
        if (f16_from_f32(f32_from_f16((uint16_t)h)) != h)
            bad++;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
#ifdef __FLT16_MAX__
    /* rounding agrees with the compiler's conversion (round to nearest even) */
    rng_t r;
    rng_seed(&r, 5);
    int mismatch = 0;
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)rng_u64(&r);
        float f;
        memcpy(&f, &u, 4);
        if (!isfinite(f) || fabsf(f) >= 65504.0f)
            continue;
        __extension__ _Float16 ref = f;
        uint16_t rb;
        memcpy(&rb, &ref, 2);
        if (f16_from_f32(f) != rb)
            mismatch++;
    }
    CHECK(mismatch == 0, "%d conversions differ from _Float16", mismatch);
#endif
    /* the documented error bound on probabilities: relative 2^-11 above 2^-14, absolute 2^-25 below */
    rng_t q;
    rng_seed(&q, 9);
    double worst_rel = 0, worst_abs_small = 0;
    for (int i = 0; i < 1000000; i++) {
        float p = (float)pow(2.0, -30.0 * rng_double(&q));
        double back = f32_from_f16(f16_from_f32(p)), e = fabs(back - p);
        if (p >= 0x1p-14f) {
            if (e / p > worst_rel)
                worst_rel = e / p;
        } else if (e > worst_abs_small)
            worst_abs_small = e;
    }
    CHECK(worst_rel <= 0x1p-11, "relative error %g > 2^-11", worst_rel);
    CHECK(worst_abs_small <= 0x1p-25, "absolute error below 2^-14: %g > 2^-25", worst_abs_small);
    CHECK(f16_from_f32(65520.0f) == 0x7c00, "65520 must overflow to Inf");
    CHECK(f16_from_f32(65519.0f) == 0x7bff, "65519 rounds to 65504");

    /* the block encoder (F16C where the CPU has it) gives f16_from_f32's bits, little-endian,
     * on random bit patterns in range (subnormals, ties, exact halves included) */
    enum { NB = 100003 };   // not a multiple of 8: the scalar tail runs too
    float *src = malloc(NB * sizeof *src);
    unsigned char *enc = malloc(2 * NB);
    rng_t e;
    rng_seed(&e, 13);
    for (int i = 0; i < NB; i++) {
        float f;
        do {
            uint32_t u = (uint32_t)rng_u64(&e);
            if (i % 3 == 0)   // a third near and below the half subnormal range
                u = (u & 0x80ffffffu) | (uint32_t)(0x30 + rng_below(&e, 16)) << 24;
            memcpy(&f, &u, 4);
        } while (!isfinite(f) || fabsf(f) > 65504.0f);
        src[i] = i % 1000 == 0 ? f32_from_f16((uint16_t)(i % 0x7c00)) : f;   // exact halves
    }
    f16_encode(enc, src, NB);
    int diff = 0;
    for (int i = 0; i < NB; i++)
        if ((uint16_t)(enc[2 * i] | enc[2 * i + 1] << 8) != f16_from_f32(src[i]) && diff++ < 3)
            fprintf(stderr, "test_shard: f16_encode(%a) = %#x, f16_from_f32 %#x\n", (double)src[i],
                    enc[2 * i] | enc[2 * i + 1] << 8, f16_from_f32(src[i]));
    CHECK(diff == 0, "f16_encode differs from f16_from_f32 on %d of %d values", diff, NB);
    free(src);
    free(enc);

    /* u8_from_prob is roundf(a * 255) clamped: every float in [0, 1] whose product lands
     * within 2^-10 of a half, and a million random ones in the accepted range */
    int u8diff = 0;
    for (int k = 0; k <= 255; k++)
        for (int d = -2048; d <= 2048; d++) {
            float x = ((float)k + 0.5f) + (float)d * 0x1p-21f;
            float a = x / 255.0f;
            for (int t = -2; t <= 2; t++) {
                float b = nextafterf(a, t < 0 ? 0.0f : 2.0f);
                if (t == 0)
                    b = a;
                if (!(b >= -1e-6f && b <= 1.0f + 1e-6f))
                    continue;
                float want = roundf(b * 255.0f);
                u8diff += u8_from_prob(b) != (unsigned char)(want < 0 ? 0 : want > 255 ? 255 : want);
            }
        }
    for (int i = 0; i < 1000000; i++) {
        float b = (float)(rng_double(&e) * (1.0 + 2e-6) - 1e-6);
        float want = roundf(b * 255.0f);
        u8diff += u8_from_prob(b) != (unsigned char)(want < 0 ? 0 : want > 255 ? 255 : want);
    }
    CHECK(u8_from_prob(0x1.fffffcp-2f / 255.0f) == (unsigned char)roundf(0x1.fffffcp-2f / 255.0f * 255.0f),
          "just below one half");
    CHECK(u8diff == 0, "u8_from_prob differs from roundf on %d values", u8diff);

    /* u8_encode (8 at a time where AVX2 is there) gives u8_from_prob's bytes: the values
     * around every half-way point, the ends of the accepted range, random ones; an odd count
     * so the scalar tail runs too */
    size_t nu = 0, capu = 256 * 4097 * 5 + 200003 + 8;
    float *us = xmalloc(capu * sizeof(float));
    unsigned char *ue = xmalloc(capu);
    for (int k = 0; k <= 255; k++)
        for (int d = -2048; d <= 2048; d++) {
            float a = (((float)k + 0.5f) + (float)d * 0x1p-21f) / 255.0f;
            float c[5] = { nextafterf(nextafterf(a, 0.0f), 0.0f), nextafterf(a, 0.0f), a, nextafterf(a, 2.0f),
                           nextafterf(nextafterf(a, 2.0f), 2.0f) };
            for (int t = 0; t < 5; t++)
                if (c[t] >= -1e-6f && c[t] <= 1.0f + 1e-6f)
                    us[nu++] = c[t];
        }
    float ends[] = { -1e-6f, 0.0f, -0.0f, 1.0f, 1.0f + 1e-6f, 0x1.fffffcp-2f / 255.0f };
    for (size_t i = 0; i < sizeof ends / sizeof *ends; i++)
        us[nu++] = ends[i];
    for (int i = 0; i < 200003; i++)
        us[nu++] = (float)(rng_double(&e) * (1.0 + 2e-6) - 1e-6);
    if (nu % 2 == 0)
        nu--;
    u8_encode(ue, us, nu);
    size_t encdiff = 0;
    for (size_t i = 0; i < nu; i++)
        encdiff += ue[i] != u8_from_prob(us[i]);
    CHECK(encdiff == 0, "u8_encode differs from u8_from_prob on %zu of %zu values", encdiff, nu);
    free(us);
    free(ue);
}

static void check_round_trip(shard_codec codec, const char *name)
{
    char err[1024];
    char *dir = mkdir_tmp(name);
    int rc = write_part(dir, "shard", codec, 1000, 300, 1, err, sizeof err);
    CHECK(rc == 0, "write: %s", err);
    shard_reader *r = shard_reader_open(dir, 3, err, sizeof err);
    CHECK(r != NULL, "open: %s", err);
    if (!r)
        return;
    CHECK(shard_reader_count(r) == 300, "count %llu", (unsigned long long)shard_reader_count(r));
    const shard_meta *m = shard_reader_meta(r);
    CHECK(m->K == TK && m->NL == TNL && m->NH == TNH && m->layers[1] == 3 && !strcmp(m->labels[5], "surprise"),
          "meta differs after the round trip");
    float lw[TK], lr[TK];
    size_t cap = TNL * TNH * MAXL * MAXL;
    float *aw = xmalloc(cap * sizeof(float)), *ar = xmalloc(cap * sizeof(float));
    /* random order, as student-distill reads it */
    uint32_t order[300];
    for (uint32_t i = 0; i < 300; i++)
        order[i] = i;
    rng_t g;
    rng_seed(&g, 3);
    rng_shuffle_u32(&g, order, 300);
    double worst_abs = 0, worst_rel = 0;
    int logit_bad = 0, len_bad = 0;
    for (int i = 0; i < 300; i++) {
        uint64_t id = 1000 + order[i];
        int l = gen(id, lw, aw), lg = 0;
        CHECK(shard_reader_len(r, id) == l, "len of %llu", (unsigned long long)id);
        int k = shard_reader_get(r, id, lr, ar, cap, &lg);
        CHECK(k == 0, "get %llu: %s", (unsigned long long)id, shard_reader_error(r));
        if (k)
            break;
        len_bad += lg != l;
        logit_bad += memcmp(lw, lr, sizeof lw) != 0;
        for (size_t j = 0; j < (size_t)TNL * TNH * l * l; j++) {
            double e = fabs((double)aw[j] - ar[j]);
            if (e > worst_abs)
                worst_abs = e;
            if (aw[j] >= 0x1p-14f && e / aw[j] > worst_rel)
                worst_rel = e / aw[j];
        }
    }
    CHECK(len_bad == 0 && logit_bad == 0, "%d lengths, %d logit vectors differ", len_bad, logit_bad);
    if (codec == SHARD_ATTN_F16) {
        CHECK(worst_rel <= 0x1p-11, "f16 relative error %g", worst_rel);
        CHECK(worst_abs <= 0x1p-12, "f16 absolute error %g on probabilities", worst_abs);
    } else {
        CHECK(worst_abs <= 1.0 / 510 + 1e-7, "u8 absolute error %g > 1/510", worst_abs);
        CHECK(worst_abs > 1e-4, "u8 error %g suspiciously small (codec not applied?)", worst_abs);
    }
    /* LRU: records read in id order decompress each frame once (the first pass may find
     * frames left in the cache by the shuffled pass, so measure the second and third) */
    for (uint64_t id = 1000; id < 1300; id++)
        shard_reader_get(r, id, lr, NULL, 0, NULL);
    uint64_t before = shard_reader_decompressions(r);
    for (uint64_t id = 1000; id < 1300; id++)
        shard_reader_get(r, id, lr, NULL, 0, NULL);
    uint64_t sequential = shard_reader_decompressions(r) - before;
    before = shard_reader_decompressions(r);
    for (uint64_t id = 1000; id < 1300; id++)
        shard_reader_get(r, id, lr, NULL, 0, NULL);
    CHECK(sequential > 10 && sequential < 300, "sequential pass decompressed %llu frames", (unsigned long long)sequential);
    CHECK(shard_reader_decompressions(r) - before == sequential, "second pass differs");
    /* missing id */
    CHECK(shard_reader_get(r, 5, lr, ar, cap, NULL) == -2, "missing id must return -2");
    CHECK(strstr(shard_reader_error(r), "id 5 is not in the cache") != NULL, "message: %s", shard_reader_error(r));
    CHECK(shard_reader_len(r, 5) == -1, "len of a missing id");
    CHECK(shard_reader_verify(r) == 0, "verify: %s", shard_reader_error(r));
    /* a batch as student-distill builds it: (B, TK) logits, per layer (B, NH, T, T) zero padded */
    {
        uint64_t ids[3] = { 1007, 1100, 1299 };
        int32_t lens[3];
        int T = 0;
        for (int b = 0; b < 3; b++) {
            lens[b] = shard_reader_len(r, ids[b]);
            T = lens[b] > T ? lens[b] : T;
        }
        float blog[3 * TK], *battn[TNL], *one = xmalloc(cap * sizeof(float));
        for (int i = 0; i < TNL; i++)
            battn[i] = xmalloc(sizeof(float) * 3 * TNH * T * T);
        CHECK(shard_reader_get_batch(r, ids, lens, 3, T, blog, battn) == 0, "batch: %s", shard_reader_error(r));
        int bad = 0;
        for (int b = 0; b < 3; b++) {
            int l = 0;
            shard_reader_get(r, ids[b], lr, one, cap, &l);
            bad += memcmp(lr, blog + b * TK, sizeof lr) != 0;
            for (int i = 0; i < TNL; i++)
                for (int h = 0; h < TNH; h++)
                    for (int q = 0; q < T; q++)
                        for (int k = 0; k < T; k++) {
                            float got = battn[i][(((size_t)b * TNH + h) * T + q) * T + k];
                            float want = q < l && k < l ? one[(((size_t)i * TNH + h) * l + q) * l + k] : 0.0f;
                            bad += got != want;
                        }
        }
        CHECK(bad == 0, "%d batch values differ from single fetches", bad);
        lens[1]++;
        CHECK(shard_reader_get_batch(r, ids, lens, 3, T + 1, blog, battn) == -1 &&
              strstr(shard_reader_error(r), "id 1100: the cache has"), "length mismatch: %s", shard_reader_error(r));
        CHECK(shard_reader_check_ids(r, ids, lens, 3) == -1, "check_ids must see the length mismatch");
        lens[1]--;
        CHECK(shard_reader_check_ids(r, ids, lens, 3) == 0, "check_ids: %s", shard_reader_error(r));
        uint64_t some[4] = { 1000, 5, 1001, 6 };
        CHECK(shard_reader_check_ids(r, some, NULL, 4) == -1 &&
              strstr(shard_reader_error(r), "2 of 4 ids are not in the cache (first: id 5)"), "missing: %s",
              shard_reader_error(r));
        for (int i = 0; i < TNL; i++)
            free(battn[i]);
        free(one);
    }
    shard_reader_close(r);
    /* the shards are plain zstd to the zstd tool */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "zstd -q -t %s/shard-0000.zst %s/shard-0001.zst", dir, dir);
    CHECK(system(cmd) == 0, "zstd -t rejects a shard");
    free(aw);
    free(ar);
    free(dir);
}

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    pread(fd, &c, 1, at);
    c ^= 0x40;
    pwrite(fd, &c, 1, at);
    close(fd);
}

static void test_two_writers(void)
{
    char err[1024];
    char *dir = mkdir_tmp("fanout");
    /* two jobs over interleaved halves of the input, as GNU parallel would split it */
    CHECK(write_part(dir, "job1", SHARD_ATTN_F16, 0, 100, 2, err, sizeof err) == 0, "job1: %s", err);
    CHECK(write_part(dir, "job2", SHARD_ATTN_F16, 1, 100, 2, err, sizeof err) == 0, "job2: %s", err);
    shard_reader *r = shard_reader_open(dir, 2, err, sizeof err);
    CHECK(r != NULL, "open merged: %s", err);
    if (r) {
        CHECK(shard_reader_count(r) == 200, "merged count %llu", (unsigned long long)shard_reader_count(r));
        float lw[TK], lr[TK], *aw = xmalloc(TNL * TNH * MAXL * MAXL * sizeof(float));
        int bad = 0;
        for (uint64_t id = 0; id < 200; id++) {
            gen(id, lw, aw);
            bad += shard_reader_get(r, id, lr, NULL, 0, NULL) != 0 || memcmp(lw, lr, sizeof lw);
        }
        CHECK(bad == 0, "%d records differ in the merged view", bad);
        free(aw);
        shard_reader_close(r);
    }
    /* a third job that repeats ids of the first: duplicate across parts */
    CHECK(write_part(dir, "job3", SHARD_ATTN_F16, 10, 3, 2, err, sizeof err) == 0, "job3: %s", err);
    r = shard_reader_open(dir, 2, err, sizeof err);
    CHECK(r == NULL && strstr(err, "duplicate id 10 in ") && strstr(err, "job1-") && strstr(err, "job3-"),
          "duplicate across parts: %s", err);
    shard_reader_close(r);
    char *p = path_join(dir, "job3.manifest.json");
    unlink(p);
    free(p);
    /* a part from another teacher shape */
    {
        shard_meta m = make_meta(SHARD_ATTN_F16);
        m.NH = 4;
        shard_writer *w = shard_writer_open(dir, "other", &m, NULL, err, sizeof err);
        float lg[TK] = { 0 }, at[4 * TNL] = { 1, 1, 1, 1, 1, 1, 1, 1 };
        shard_writer_add(w, 9999, 1, lg, at);
        CHECK(shard_writer_close(w, err, sizeof err) == 0, "other: %s", err);
        r = shard_reader_open(dir, 2, err, sizeof err);
        CHECK(r == NULL && strstr(err, "other.manifest.json: NH differs from"), "mismatched part: %s", err);
        shard_reader_close(r);
    }
    /* a finished part is never overwritten */
    shard_meta m = make_meta(SHARD_ATTN_F16);
    shard_writer *w = shard_writer_open(dir, "job1", &m, NULL, err, sizeof err);
    CHECK(w == NULL && strstr(err, "exists already"), "reopen of a finished part: %s", err);
    free(dir);
}

static void test_damage(void)
{
    char err[1024];
    float lg[TK], *at = xmalloc(TNL * TNH * MAXL * MAXL * sizeof(float));
    /* flipped byte inside frame 2 of shard 0: open works (sizes fine), the fetch names the frame */
    char *dir = mkdir_tmp("flip");
    write_part(dir, "shard", SHARD_ATTN_F16, 0, 100, 1, err, sizeof err);
    char *s0 = path_join(dir, "shard-0000.zst");
    /* frame 2 starts after the first two frames: their compressed sizes are the first two
     * entries of the seek table (zstd seekable format at the end of the file) */
    struct stat st;
    stat(s0, &st);
    int fd = open(s0, O_RDONLY);
    unsigned char foot[9], ent[16];
    pread(fd, foot, 9, st.st_size - 9);
    uint32_t nframes = foot[0] | foot[1] << 8 | foot[2] << 16 | (uint32_t)foot[3] << 24;
    pread(fd, ent, 16, st.st_size - 9 - 8 * (off_t)nframes);
    close(fd);
    uint32_t c0 = ent[0] | ent[1] << 8 | ent[2] << 16 | (uint32_t)ent[3] << 24;
    uint32_t c1 = ent[8] | ent[9] << 8 | ent[10] << 16 | (uint32_t)ent[11] << 24;
    CHECK(nframes >= 3, "shard 0 has %u frames", nframes);
    flip_byte(s0, (off_t)c0 + c1 + 200);
    shard_reader *r = shard_reader_open(dir, 2, err, sizeof err);
    CHECK(r != NULL, "a flipped byte must not fail the open: %s", err);
    int failed = 0;
    for (uint64_t id = 0; id < 100 && r; id++)
        if (shard_reader_get(r, id, lg, at, TNL * TNH * MAXL * MAXL, NULL) == -1) {
            failed = 1;
            break;
        }
    CHECK(failed, "flipped byte went unnoticed");
    if (r) {
        const char *e = shard_reader_error(r);
        CHECK(strstr(e, "flip/shard-0000.zst: frame 2: ") && (strstr(e, "checksum mismatch") || strstr(e, "corrupt")),
              "message: %s", e);
        shard_reader_close(r);
    }
    snprintf(err, sizeof err, "zstd -q -t %s 2>/dev/null", s0);
    CHECK(system(err) != 0, "zstd -t accepted a damaged shard");
    free(s0);
    free(dir);

    /* truncated shard: caught at open */
    dir = mkdir_tmp("trunc");
    write_part(dir, "shard", SHARD_ATTN_F16, 0, 100, 1, err, sizeof err);
    s0 = path_join(dir, "shard-0001.zst");
    stat(s0, &st);
    truncate(s0, st.st_size - 5);
    r = shard_reader_open(dir, 2, err, sizeof err);
    CHECK(r == NULL && strstr(err, "trunc/shard-0001.zst: size ") && strstr(err, "truncated"), "truncated: %s", err);
    free(s0);
    free(dir);

    /* missing shards: all listed, at open */
    dir = mkdir_tmp("missing");
    write_part(dir, "shard", SHARD_ATTN_F16, 0, 100, 1, err, sizeof err);
    s0 = path_join(dir, "shard-0001.zst");
    unlink(s0);
    free(s0);
    s0 = path_join(dir, "shard-0003.zst");
    unlink(s0);
    r = shard_reader_open(dir, 2, err, sizeof err);
    CHECK(r == NULL && strstr(err, "missing shards: shard-0001.zst shard-0003.zst"), "missing: %s", err);
    free(s0);
    free(dir);

    /* damaged index */
    dir = mkdir_tmp("index");
    write_part(dir, "shard", SHARD_ATTN_F16, 0, 50, 1, err, sizeof err);
    s0 = path_join(dir, "shard.idx");
    flip_byte(s0, 30);
    r = shard_reader_open(dir, 2, err, sizeof err);
    CHECK(r == NULL && strstr(err, "shard.idx: checksum mismatch"), "index: %s", err);
    free(s0);
    free(dir);

    /* duplicate id in one writer's input: refused at close, nothing left behind */
    dir = mkdir_tmp("dup");
    shard_meta m = make_meta(SHARD_ATTN_F16);
    shard_writer *w = shard_writer_open(dir, "shard", &m, NULL, err, sizeof err);
    for (int i = 0; i < 3; i++) {
        int l = gen(7, lg, at);
        shard_writer_add(w, 7, l, lg, at);
    }
    CHECK(shard_writer_close(w, err, sizeof err) == -1 && strstr(err, "duplicate id 7"), "dup: %s", err);
    snprintf(err, sizeof err, "test -z \"$(ls -A %s)\"", dir);
    CHECK(system(err) == 0, "files left after a failed close");
    r = shard_reader_open(dir, 2, err, sizeof err);
    CHECK(r == NULL && strstr(err, "not a teacher cache"), "empty dir: %s", err);
    free(dir);

    /* values a codec cannot hold are refused */
    m = make_meta(SHARD_ATTN_U8);
    dir = mkdir_tmp("range");
    w = shard_writer_open(dir, "shard", &m, NULL, err, sizeof err);
    int l = gen(1, lg, at);
    at[3] = 1.5f;
    CHECK(shard_writer_add(w, 1, l, lg, at) == -1 && strstr(shard_writer_error(w), "not a probability"),
          "u8 range: %s", shard_writer_error(w));
    lg[0] = NAN;
    at[3] = 0.5f;
    CHECK(shard_writer_add(w, 2, l, lg, at) == -1 && strstr(shard_writer_error(w), "non-finite logit"),
          "nan logit: %s", shard_writer_error(w));
    shard_writer_abort(w);
    free(dir);
    free(at);
}

/* A write that fails on the frame thread (here: the file-size limit, EFBIG) is reported by
 * an add or the close, one message naming the file, and the writer leaves no file behind. */
static void test_write_error(void)
{
    char *dir = mkdir_tmp("full"), err[1024] = "";
    struct rlimit saved, small;
    getrlimit(RLIMIT_FSIZE, &saved);
    small = saved;
    small.rlim_cur = 20000;   // below one shard (40,000 bytes)
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &small);
    int rc = write_part(dir, "p", SHARD_ATTN_F16, 0, 300, 1, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, SIG_DFL);
    CHECK(rc == -1 && strstr(err, "p-0000.zst: write error: File too large"),
          "write past the limit: rc %d, '%s'", rc, err);
    DIR *d = opendir(dir);
    int left = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        left += e->d_name[0] != '.' || (e->d_name[1] && strcmp(e->d_name, ".."));
    if (d)
        closedir(d);
    CHECK(left == 0, "%d files left after a failed write", left);
    free(dir);
}

/* A shard that cannot be created (here: its directory removed under the writer) is an
 * error of the add or close, with atomic_open's message, never an exit (shard.h). */
static void test_create_error(void)
{
    char *dir = mkdir_tmp("gone"), err[1024] = "";
    shard_meta m = make_meta(SHARD_ATTN_F16);
    shard_writer_opts o = { .frame_bytes = 8192 };
    shard_writer *w = shard_writer_open(dir, "p", &m, &o, err, sizeof err);
    CHECK(w != NULL, "open: %s", err);
    if (!w) {
        free(dir);
        return;
    }
    remove_tree(dir);
    float logits[TK], *attn = xmalloc(sizeof(float) * TNL * TNH * MAXL * MAXL);
    int rc = 0;
    for (uint64_t id = 0; id < 50 && rc == 0; id++) {
        int l = gen(id, logits, attn);
        rc = shard_writer_add(w, id, l, logits, attn);
    }
    if (rc) {
        snprintf(err, sizeof err, "%s", shard_writer_error(w));
        shard_writer_abort(w);
    } else
        rc = shard_writer_close(w, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "gone/p-0000.zst: cannot create temporary file: No such file or directory"),
          "shard in a removed directory: rc %d, '%s'", rc, err);
    free(attn);
    free(dir);
}

/* shard_writer_add_layers (each layer's block where it lies) writes the bytes of
 * shard_writer_add (one contiguous block), and a writer's output is the same run to run
 * although frames are compressed on a thread of its own. */
static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static void test_layers_and_determinism(void)
{
    char *d1 = mkdir_tmp("whole"), *d2 = mkdir_tmp("layers"), *d3 = mkdir_tmp("again"), err[1024];
    CHECK(write_part(d1, "p", SHARD_ATTN_U8, 5, 250, 3, err, sizeof err) == 0, "whole: %s", err);
    CHECK(write_part(d3, "p", SHARD_ATTN_U8, 5, 250, 3, err, sizeof err) == 0, "again: %s", err);
    shard_meta m = make_meta(SHARD_ATTN_U8);
    shard_writer_opts o = { .frame_bytes = 8192, .shard_bytes = 40000, .level = 3 };
    shard_writer *w = shard_writer_open(d2, "p", &m, &o, err, sizeof err);
    CHECK(w != NULL, "open: %s", err);
    float logits[TK], *attn = xmalloc(sizeof(float) * TNL * TNH * MAXL * MAXL);
    float *apart[TNL];   // each layer in a block of its own
    for (int i = 0; i < TNL; i++)
        apart[i] = xmalloc(sizeof(float) * TNH * MAXL * MAXL);
    for (uint64_t i = 0; w && i < 250; i++) {
        uint64_t id = 5 + 3 * i;
        int l = gen(id, logits, attn);
        size_t block = (size_t)TNH * l * l;
        const float *ptr[TNL];
        for (int k = 0; k < TNL; k++) {
            memcpy(apart[k], attn + k * block, block * sizeof(float));
            ptr[k] = apart[k];
        }
        CHECK(shard_writer_add_layers(w, id, l, logits, ptr) == 0, "add: %s", shard_writer_error(w));
    }
    CHECK(w && shard_writer_close(w, err, sizeof err) == 0, "close: %s", err);
    const char *files[] = { "p-0000.zst", "p-0001.zst", "p-0002.zst", "p.idx", "p.manifest.json" };
    int n = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *a = path_join(d1, files[i]), *b = path_join(d2, files[i]), *c = path_join(d3, files[i]);
        struct stat st;
        if (stat(a, &st) == 0) {
            n++;
            CHECK(same_file(a, b), "%s: add_layers wrote other bytes than add", files[i]);
            CHECK(same_file(a, c), "%s: a second identical write differs", files[i]);
        }
        free(a), free(b), free(c);
    }
    CHECK(n >= 4, "expected several shards, found %d files", n);
    for (int i = 0; i < TNL; i++)
        free(apart[i]);
    free(attn), free(d1), free(d2), free(d3);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/emo-test-shard.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        return 2;
    test_f16();
    check_round_trip(SHARD_ATTN_F16, "f16");
    check_round_trip(SHARD_ATTN_U8, "u8");
    test_two_writers();
    test_damage();
    test_layers_and_determinism();
    test_write_error();
    test_create_error();
    if (!check_failed)
        remove_tree(tmpdir);
    return check_done("test_shard");
}
