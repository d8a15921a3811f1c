/* Teacher cache: the writer.  Records go into ~1 MB frames; a full frame is compressed and
 * appended to the open shard by the writer's frame thread while the caller fills the next;
 * a shard ends with its seek table once it has its size; close writes the index, then the
 * manifest, the part's commit point.  Format in shard.h and emo-cache(5). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>
#include <zstd.h>

#include "io/shard_impl.h"
#include "util/util.h"

typedef struct shard_info {
    char *file;                /* base name */
    uint64_t size, records, frames;
    uint64_t xxh;
} shard_info;

int shard_cmp_entry_id(const void *a, const void *b)
{
    const index_entry *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

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
        errbuf_fail(err, errlen, "bad part prefix '%s' (letters, digits, '_', '-', '.'; at most 64)", prefix);
        return NULL;
    }
    if (m->K < 1 || m->K > LABELS_MAX || m->NL < 0 || m->NL > SHARD_MAX_LAYERS ||
        (m->NL > 0 && m->NH < 1)) {
        errbuf_fail(err, errlen, "bad cache shape (K %d, layers %d, heads %d)", m->K, m->NL, m->NH);
        return NULL;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        errbuf_fail(err, errlen, "%s: not a directory", dir);
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
            errbuf_fail(err, errlen, "%s: part '%s' is being written by another process (wait for it, or choose "
                    "another prefix)", dir, prefix);
        else
            errbuf_fail(err, errlen, "%s: %s", lock, strerror(errno));
        free(lock);
        return NULL;
    }
    char *man = part_file(dir, prefix, ".manifest.json");
    if (stat(man, &st) == 0) {
        errbuf_fail(err, errlen, "%s: exists already (a finished part; remove it or choose another prefix)", man);
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
        errbuf_fail(err, errcap, "%s: write error: %s", w->af.path, strerror(errno));
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
    FILE *f = atomic_open_err(&w->af, path, w->err, sizeof w->err);
    free(path);
    if (!f)
        return -1;
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
        errbuf_fail(w->err, sizeof w->err, "%s: %s", w->af.path, strerror(errno));
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
        errbuf_fail(w->job_err, sizeof w->job_err, "%s: zstd: %s", w->af.path, ZSTD_getErrorName(z));
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
        errbuf_fail(w->err, sizeof w->err, "%s", w->job_err);
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
        return errbuf_fail(w->err, sizeof w->err, "id %llu: sequence length %d out of range [1, %d]",
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
            return errbuf_fail(w->err, sizeof w->err, "id %llu: non-finite logit %d", (unsigned long long)id, k), -1;
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
                return errbuf_fail(w->err, sizeof w->err, "id %llu: attention value %g is not representable in f16",
                               (unsigned long long)id, (double)attn[i]), -1;
            return errbuf_fail(w->err, sizeof w->err, "id %llu: attention value %g is not a probability "
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
    qsort(sorted, w->nindex, sizeof *sorted, shard_cmp_entry_id);
    for (size_t i = 1; i < w->nindex; i++)
        if (sorted[i].id == sorted[i - 1].id) {
            errbuf_fail(w->err, sizeof w->err, "duplicate id %llu in the input", (unsigned long long)sorted[i].id);
            free(sorted);
            goto fail;
        }
    free(sorted);
    /* Index: in write order, so a reader sees records shard by shard. */
    char *idx = part_file(w->dir, w->prefix, ".idx");
    atomic_file af;
    FILE *f = atomic_open_err(&af, idx, w->err, sizeof w->err);
    if (!f) {
        free(idx);
        goto fail;
    }
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
        errbuf_fail(w->err, sizeof w->err, "%s: %s", idx, strerror(errno));
        af_release(&af);
        free(idx);
        goto fail;
    }
    af_release(&af);
    free(idx);
    /* Manifest last: it is the commit point of the part. */
    json_t *o = shard_meta_to_json(&w->meta);
    json_object_set_new(o, "part", json_string(w->prefix));
    json_object_set_new(o, "records", json_integer((json_int_t)w->nindex));
    json_t *ji = json_object();
    char *base = xmalloc(strlen(w->prefix) + 8);
    sprintf(base, "%s.idx", w->prefix);
    json_object_set_new(ji, "file", json_string(base));
    free(base);
    json_object_set_new(ji, "size", json_integer((json_int_t)(INDEX_HEADER_BYTES + INDEX_ENTRY_BYTES * w->nindex)));
    char *h = shard_hex64(idx_hash);
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
        h = shard_hex64(w->shards[i].xxh);
        json_object_set_new(s, "xxh64", json_string(h));
        free(h);
        json_array_append_new(js, s);
    }
    json_object_set_new(o, "shards", js);
    char *man = part_file(w->dir, w->prefix, ".manifest.json");
    f = atomic_open_err(&af, man, w->err, sizeof w->err);
    if (!f) {
        json_decref(o);
        free(man);
        goto fail;
    }
    int bad = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0;
    fputc('\n', f);
    json_decref(o);
    if (bad || atomic_commit(&af) != 0) {
        if (bad)
            atomic_abort(&af);
        af_release(&af);
        errbuf_fail(w->err, sizeof w->err, "%s: cannot write manifest: %s", man, strerror(errno));
        free(man);
        goto fail;
    }
    af_release(&af);
    free(man);
    writer_free(w);
    return 0;
fail:
    errbuf_fail(err, errlen, "%s", w->err);
    shard_writer_abort(w);
    return -1;
}
