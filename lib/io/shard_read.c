/* Teacher cache: the reader.  Open merges every part of a directory and checks what it can
 * without decompressing; records are fetched by id through an LRU of decompressed frames;
 * verify decompresses everything.  Format in shard.h and emo-cache(5). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "io/shard_impl.h"
#include "util/util.h"

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
static int open_shard(shard_reader *r, rshard *s, uint64_t want_frames)
{
    s->fd = open(s->path, O_RDONLY);
    if (s->fd < 0)
        return errbuf_fail(r->err, sizeof r->err, "%s: %s", s->path, strerror(errno)), -1;
    struct stat st;
    fstat(s->fd, &st);
    if ((uint64_t)st.st_size != s->size)
        return errbuf_fail(r->err, sizeof r->err, "%s: size %llu, manifest says %llu (truncated or replaced?)",
                       s->path, (unsigned long long)st.st_size, (unsigned long long)s->size), -1;
    unsigned char foot[SEEK_FOOTER_BYTES];
    if (s->size < 8 + SEEK_FOOTER_BYTES || read_exact(s->fd, foot, sizeof foot, s->size - SEEK_FOOTER_BYTES) ||
        get_u32(foot + 5) != SEEK_FOOTER_MAGIC || (foot[4] & 0x7f) != 0)
        return errbuf_fail(r->err, sizeof r->err, "%s: seek table footer missing (truncated?)", s->path), -1;
    uint64_t nf = get_u32(foot);
    uint64_t tbytes = 8 + 8 * nf + SEEK_FOOTER_BYTES;
    if (nf != want_frames || tbytes > s->size)
        return errbuf_fail(r->err, sizeof r->err, "%s: seek table lists %llu frames, manifest says %llu",
                       s->path, (unsigned long long)nf, (unsigned long long)want_frames), -1;
    unsigned char *t = xmalloc(tbytes);
    if (read_exact(s->fd, t, tbytes, s->size - tbytes) || get_u32(t) != SEEK_SKIPPABLE_MAGIC ||
        get_u32(t + 4) != tbytes - 8) {
        free(t);
        return errbuf_fail(r->err, sizeof r->err, "%s: seek table damaged", s->path), -1;
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
            return errbuf_fail(r->err, sizeof r->err, "%s: frame %llu: seek table claims %u bytes",
                           s->path, (unsigned long long)i, s->dsize[i]), -1;
        }
    }
    free(t);
    if (off != s->size - tbytes)
        return errbuf_fail(r->err, sizeof r->err, "%s: frames cover %llu bytes, file has %llu before the seek table",
                       s->path, (unsigned long long)off, (unsigned long long)(s->size - tbytes)), -1;
    return 0;
}

static int load_index(shard_reader *r, rpart *p, const char *dir)
{
    (void)dir;
    int fd = open(p->index_path, O_RDONLY);
    if (fd < 0)
        return errbuf_fail(r->err, sizeof r->err, "%s: %s", p->index_path, strerror(errno)), -1;
    struct stat st;
    fstat(fd, &st);
    if ((uint64_t)st.st_size != p->index_size) {
        close(fd);
        return errbuf_fail(r->err, sizeof r->err, "%s: size %llu, manifest says %llu (truncated or replaced?)",
                       p->index_path, (unsigned long long)st.st_size, (unsigned long long)p->index_size), -1;
    }
    if (p->index_size < INDEX_HEADER_BYTES || (p->index_size - INDEX_HEADER_BYTES) % INDEX_ENTRY_BYTES) {
        close(fd);
        return errbuf_fail(r->err, sizeof r->err, "%s: not an index file (bad size)", p->index_path), -1;
    }
    unsigned char *buf = xmalloc(p->index_size);
    int rc = read_exact(fd, buf, p->index_size, 0);
    close(fd);
    if (rc || memcmp(buf, INDEX_MAGIC, 8)) {
        free(buf);
        return errbuf_fail(r->err, sizeof r->err, "%s: not an emo-cache index", p->index_path), -1;
    }
    if (XXH64(buf, p->index_size, 0) != p->index_xxh) {
        free(buf);
        return errbuf_fail(r->err, sizeof r->err, "%s: checksum mismatch", p->index_path), -1;
    }
    uint64_t n = get_u64(buf + 8);
    if (n != (p->index_size - INDEX_HEADER_BYTES) / INDEX_ENTRY_BYTES) {
        free(buf);
        return errbuf_fail(r->err, sizeof r->err, "%s: record count disagrees with the file size", p->index_path), -1;
    }
    r->index = xreallocarray(r->index, r->nindex + n + 1, sizeof *r->index);
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *e = buf + INDEX_HEADER_BYTES + INDEX_ENTRY_BYTES * i;
        index_entry x = { get_u64(e), get_u32(e + 8), get_u32(e + 12), get_u32(e + 16), get_u16(e + 20) };
        if (x.shard >= p->nshards) {
            free(buf);
            return errbuf_fail(r->err, sizeof r->err, "%s: entry %llu points to shard %u of %zu",
                           p->index_path, (unsigned long long)i, x.shard, p->nshards), -1;
        }
        x.shard += (uint32_t)p->first_shard;
        const rshard *s = &r->shards[x.shard];
        if (x.frame >= s->nframes || x.len < 1 || x.len > SHARD_MAX_LEN ||
            (uint64_t)x.offset + shard_record_bytes(&r->meta, x.len) > s->dsize[x.frame]) {
            free(buf);
            return errbuf_fail(r->err, sizeof r->err, "%s: entry %llu (id %llu) points outside %s",
                           p->index_path, (unsigned long long)i, (unsigned long long)x.id, s->path), -1;
        }
        r->index[r->nindex++] = x;
    }
    free(buf);
    /* The manifest's counts must be the index's: a manifest edited or from another run
     * would otherwise pass --verify. */
    if (n != p->records)
        return errbuf_fail(r->err, sizeof r->err, "%s: records %llu, but its index holds %llu", p->manifest,
                       (unsigned long long)p->records, (unsigned long long)n), -1;
    uint64_t *count = xcalloc(p->nshards + 1, sizeof *count);
    for (size_t i = r->nindex - n; i < r->nindex; i++)
        count[r->index[i].shard - p->first_shard]++;
    for (size_t i = 0; i < p->nshards; i++) {
        const rshard *s = &r->shards[p->first_shard + i];
        if (count[i] != s->records) {
            errbuf_fail(r->err, sizeof r->err, "%s: shard %zu (%s): records %llu, but the index gives it %llu",
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
        return errbuf_fail(r->err, sizeof r->err, "%s: line %d: %s", mpath, je.line, je.text), -1;
    char why[256];
    shard_meta m;
    if (shard_meta_from_json(&m, o, why, sizeof why)) {
        json_decref(o);
        return errbuf_fail(r->err, sizeof r->err, "%s: %s", mpath, why), -1;
    }
    if (r->nparts == 0)
        r->meta = m;
    else {
        const char *d = shard_meta_differs(&r->meta, &m);
        if (d) {
            json_decref(o);
            return errbuf_fail(r->err, sizeof r->err, "%s: %s differs from %s (parts of one cache must come from "
                           "one teacher run)", mpath, d, r->parts[0].manifest), -1;
        }
    }
    json_t *ji = json_object_get(o, "index"), *js = json_object_get(o, "shards");
    json_t *ifile = json_object_get(ji, "file"), *isize = json_object_get(ji, "size"), *ih = json_object_get(ji, "xxh64");
    json_t *jn = json_object_get(o, "records");
    uint64_t ixxh;
    if (!json_is_string(ifile) || strchr(json_string_value(ifile), '/') || !json_is_integer(isize) ||
        !json_is_string(ih) || shard_parse_hex64(json_string_value(ih), &ixxh) || !json_is_array(js) ||
        !json_is_integer(jn) || json_integer_value(jn) < 0) {
        json_decref(o);
        return errbuf_fail(r->err, sizeof r->err, "%s: bad index or shards entry", mpath), -1;
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
            !json_is_string(h) || shard_parse_hex64(json_string_value(h), &rs->xxh) || !json_is_integer(nr) ||
            json_integer_value(nr) < 0) {
            json_decref(o);
            return errbuf_fail(r->err, sizeof r->err, "%s: bad shard entry %zu", mpath, i), -1;
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
        errbuf_fail(err, errlen, "%s: %s", dir, strerror(errno));
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
        errbuf_fail(r->err, sizeof r->err, "%s: no *.manifest.json: not a teacher cache (or no part finished)", dir);
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
        errbuf_fail(r->err, sizeof r->err, "%s: missing shards: %s", dir, missing);
        rc = -1;
    }
    for (size_t i = 0; i < r->nparts && rc == 0; i++)
        rc = load_index(r, &r->parts[i], dir);
    if (rc == 0) {
        qsort(r->index, r->nindex, sizeof *r->index, shard_cmp_entry_id);
        for (size_t i = 1; i < r->nindex; i++)
            if (r->index[i].id == r->index[i - 1].id) {
                errbuf_fail(r->err, sizeof r->err, "duplicate id %llu in %s and %s (ids must be unique over all "
                        "parts of a cache)",
                        (unsigned long long)r->index[i].id, r->shards[r->index[i - 1].shard].path,
                        r->shards[r->index[i].shard].path);
                rc = -1;
                break;
            }
    }
    if (rc) {
        errbuf_fail(err, errlen, "%s", r->err);
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
        errbuf_fail(r->err, sizeof r->err, "%s: frame %u: read error", sh->path, fi);
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
            errbuf_fail(r->err, sizeof r->err, "%s: frame %u: checksum mismatch", sh->path, fi);
        else
            errbuf_fail(r->err, sizeof r->err, "%s: frame %u: corrupt (%s)", sh->path, fi, ZSTD_getErrorName(got));
        return NULL;
    }
    if (got != ds) {
        errbuf_fail(r->err, sizeof r->err, "%s: frame %u: %zu bytes, seek table says %zu", sh->path, fi, got, ds);
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
        return errbuf_fail(r->err, sizeof r->err, "%s: id %llu is not in the cache", r->dir, (unsigned long long)id), -2;
    size_t need = (size_t)r->meta.NL * (size_t)r->meta.NH * e->len * e->len;
    if (attn && attn_cap < need)
        return errbuf_fail(r->err, sizeof r->err, "id %llu: attention buffer holds %zu floats, need %zu",
                       (unsigned long long)id, attn_cap, need), -1;
    const unsigned char *buf = get_frame(r, e->shard, e->frame);
    if (!buf)
        return -1;
    const unsigned char *p = buf + e->offset;
    if (get_u64(p) != id || get_u16(p + 8) != e->len)
        return errbuf_fail(r->err, sizeof r->err, "%s: frame %u: record at offset %u is not id %llu (index and shard disagree)",
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
            errbuf_fail(r->err, sizeof r->err, "%s: id %llu is not in the cache", r->dir, (unsigned long long)ids[b]);
            break;
        }
        if (l != lens[b] || l > T) {
            rc = -1;
            errbuf_fail(r->err, sizeof r->err, "id %llu: the cache has %d tokens, the record %d (cache made from other "
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
            return errbuf_fail(r->err, sizeof r->err, "id %llu: the cache has %d tokens, the record %d (cache made from "
                           "other records, ids clashing across files, or another tokenisation?)", (unsigned long long)ids[i], l, lens[i]), -1;
        if (l < 0 && missing++ == 0)
            first = i;
    }
    if (missing)
        return errbuf_fail(r->err, sizeof r->err, "%s: %zu of %zu ids are not in the cache (first: id %llu)", r->dir,
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
                return errbuf_fail(r->err, sizeof r->err, "%s: read error", s->path), -1;
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
            return errbuf_fail(r->err, sizeof r->err, "%s: checksum mismatch (seek table or padding damaged)", s->path), -1;
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
            return errbuf_fail(r->err, sizeof r->err, "%s: frame %u: record at offset %u is not id %llu",
                           r->shards[e->shard].path, e->frame, e->offset, (unsigned long long)e->id), -1;
        decode_record(&r->meta, p, e->len, logits, NULL);
        for (int k = 0; k < r->meta.K; k++)
            if (!isfinite(logits[k]))
                return errbuf_fail(r->err, sizeof r->err, "%s: id %llu: non-finite logit",
                               r->shards[e->shard].path, (unsigned long long)e->id), -1;
    }
    return 0;
}
