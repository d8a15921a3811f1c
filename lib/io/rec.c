/* Record stream reader and writer; format in rec.h and man/man5/emo-records.5. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY    /* XXH64_state_t as a plain struct member */
#include <xxhash.h>

#include "io/rec.h"
#include "util/util.h"

#define KEY_HEADER "emo.stream"
#define KEY_TRAILER "emo.end"
#define KEY_XXH64 "xxh64"      /* the trailer's checksum of its segment (emo-records(5)) */

enum { EXPECT_HEADER, IN_SEGMENT };

struct rec_reader {
    int fd;
    char *name;
    unsigned char *buf;
    size_t cap, start, end;  /* unread bytes are buf[start, end) */
    size_t max_bytes;
    int eof;
    /* resumable framing scan of the item at buf[start] */
    size_t scan_pos;         /* bytes of the item scanned so far */
    uint64_t scan_left;      /* items still to scan (1 at the start of an item) */
    uint64_t scan_values;    /* msgpack values (map keys included) scanned so far */
    msgpack_unpacked unpacked;
    int state;
    uint64_t nrec;           /* records returned so far, whole stream */
    uint64_t seg_rec;        /* records in the current segment */
    uint64_t segments;       /* complete segments seen */
    uint64_t bytes_read;
    XXH64_state_t xxh;       /* of the current segment's header and records so far */
    int stop_at_header;      /* rec_reader_header: return 2 once the first header is read */
    int failed;              /* an error was reported: every later call reports it again */
    char *hdr_bytes;         /* the first segment's header, kept for rec_reader_header */
    msgpack_unpacked hdr;
    int has_hdr;
    char err[512];
};

static size_t max_record_bytes(void)
{
    const char *s = getenv("EMO_MAX_RECORD_BYTES");
    if (s && *s) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (*end == '\0' && v >= 64)
            return (size_t)v;
    }
    return REC_DEFAULT_MAX_BYTES;
}

rec_reader *rec_reader_open(const char *path)
{
    int fd;
    const char *name;
    if (!path || !strcmp(path, "-")) {
        fd = STDIN_FILENO;
        name = "<stdin>";
    } else {
        fd = open(path, O_RDONLY);
        if (fd < 0)
            return NULL;
        name = path;
    }
    rec_reader *r = xcalloc(1, sizeof *r);
    r->fd = fd;
    r->name = xstrdup(name);
    r->cap = 1 << 16;
    r->buf = xmalloc(r->cap);
    r->max_bytes = max_record_bytes();
    r->scan_left = 1;
    msgpack_unpacked_init(&r->unpacked);
    msgpack_unpacked_init(&r->hdr);
    return r;
}

const char *rec_reader_error(const rec_reader *r) { return r->err; }
const char *rec_reader_name(const rec_reader *r) { return r->name; }
uint64_t rec_reader_count(const rec_reader *r) { return r->nrec; }

static int vfail(rec_reader *r, uint64_t recno, const char *fmt, va_list ap)
{
    int n;
    if (recno)
        n = snprintf(r->err, sizeof r->err, "%s:record %llu: ", r->name, (unsigned long long)recno);
    else
        n = snprintf(r->err, sizeof r->err, "%s: ", r->name);
    if (n < 0 || (size_t)n >= sizeof r->err)
        n = 0;
    vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
    return -1;
}

static int fail_at(rec_reader *r, uint64_t recno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(rec_reader *r, uint64_t recno, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r, recno, fmt, ap);
    va_end(ap);
    return -1;
}

int rec_fail(rec_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r, r->nrec, fmt, ap);
    va_end(ap);
    return -1;
}

void rec_die(rec_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r, r->nrec, fmt, ap);
    va_end(ap);
    errx(EXIT_DATA, "%s", r->err);
}

int rec_read_or_die(rec_reader *r, rec_t *rec)
{
    int k = rec_read(r, rec);
    if (k < 0)
        errx(EXIT_DATA, "%s", r->err);
    return k;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Frame one msgpack item at buf[start]: 1 complete (*size set), 0 need more bytes,
 * -1 malformed or over the limit (r->err set).  Resumable: progress is kept in
 * scan_pos/scan_left, so a large item arriving in pieces is scanned once.  Each
 * scanned element consumes at least one byte, so the work is bounded by the bytes
 * present, and declared counts are checked against the limit before anything trusts them. */
static int frame(rec_reader *r, size_t *size)
{
    const unsigned char *p = r->buf + r->start;
    size_t avail = r->end - r->start, pos = r->scan_pos;
    uint64_t left = r->scan_left, values = r->scan_values;
    uint64_t recno = r->nrec + 1;
    while (left > 0) {
        if (pos >= avail)
            goto more;
        unsigned c = p[pos];
        uint64_t skip = 0, children = 0;   /* payload bytes after the header; sub-items */
        size_t hdr = 1;
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        } else if (c <= 0x8f) {
            children = 2 * (uint64_t)(c & 0x0f);
        } else if (c <= 0x9f) {
            children = c & 0x0f;
        } else if (c <= 0xbf) {
            skip = c & 0x1f;
        } else {
            int lenbytes = 0;
            switch (c) {
            case 0xc1: return fail_at(r, recno, "not msgpack (byte 0xc1 at offset %zu)", pos);
            case 0xc4: case 0xd9: lenbytes = 1; break;            /* bin8, str8 */
            case 0xc5: case 0xda: lenbytes = 2; break;            /* bin16, str16 */
            case 0xc6: case 0xdb: lenbytes = 4; break;            /* bin32, str32 */
            case 0xc7: lenbytes = 1; skip = 1; break;             /* ext8: len, type */
            case 0xc8: lenbytes = 2; skip = 1; break;
            case 0xc9: lenbytes = 4; skip = 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;                           /* fixext: type + data */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: case 0xde: lenbytes = 2; break;
            case 0xdd: case 0xdf: lenbytes = 4; break;
            }
            if (lenbytes) {
                if (pos + 1 + (size_t)lenbytes > avail)
                    goto more;
                uint64_t n = be(p + pos + 1, lenbytes);
                hdr += (size_t)lenbytes;
                if (c == 0xdc || c == 0xdd)
                    children = n;
                else if (c == 0xde || c == 0xdf)
                    children = 2 * n;
                else
                    skip += n;
            }
        }
        /* Every pending element needs at least one byte: a count or length beyond the
         * limit can never be satisfied, so refuse it now rather than wait or allocate. */
        if (pos + hdr + skip > r->max_bytes || left - 1 + children > r->max_bytes)
            return fail_at(r, recno, "record larger than the %zu-byte limit (declared length; "
                           "EMO_MAX_RECORD_BYTES raises it)", r->max_bytes);
        if (pos + hdr + skip > avail)
            goto more;
        pos += hdr + skip;
        left = left - 1 + children;
        values++;
    }
    /* msgpack-c decodes every value into a 24-byte msgpack_object: a record of one-byte
     * values (small integers, nil, booleans) would take 24 times its size.  Past
     * REC_FREE_VALUES values, a record must average REC_BYTES_PER_VALUE bytes a value, so a
     * reader holds at most 12 times a record's size in objects (emo-records(5), Limits). */
    r->scan_pos = 0;
    r->scan_left = 1;
    r->scan_values = 0;
    if (values > REC_FREE_VALUES && values > pos / REC_BYTES_PER_VALUE)
        return fail_at(r, recno, "%llu values in %zu bytes, more than one for every %d bytes (a reader would hold "
                       "%zu bytes for each; see emo-records(5), Limits)", (unsigned long long)values, pos,
                       REC_BYTES_PER_VALUE, sizeof(msgpack_object));
    *size = pos;
    return 1;
more:
    r->scan_pos = pos;
    r->scan_left = left;
    r->scan_values = values;
    if (avail >= r->max_bytes)
        return fail_at(r, recno, "record larger than the %zu-byte limit", r->max_bytes);
    return 0;
}

static int fill(rec_reader *r)
{
    if (r->start > 0 && (r->start == r->end || r->start > r->cap / 2)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        size_t ncap = r->cap * 2;
        if (ncap > r->max_bytes + (1 << 16))
            ncap = r->max_bytes + (1 << 16);
        r->buf = xrealloc(r->buf, ncap);
        r->cap = ncap;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail_at(r, 0, "read error: %s", strerror(errno));
        if (n == 0)
            r->eof = 1;
        r->end += (size_t)n;
        r->bytes_read += (size_t)n;
        return 0;
    }
}

static int key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && !memcmp(k->via.str.ptr, s, n);
}

static int read_item(rec_reader *r, rec_t *rec)
{
    for (;;) {
        size_t size = 0;
        int f = r->start < r->end ? frame(r, &size) : 0;
        if (f < 0)
            return -1;
        if (f == 0) {
            if (r->eof) {
                if (r->start < r->end)
                    return fail_at(r, r->nrec + 1, "truncated record (stream cut off mid-record)");
                if (r->bytes_read == 0)
                    return fail_at(r, 0, "empty input (no record stream header)");
                if (r->state == IN_SEGMENT)
                    return fail_at(r, r->nrec, "stream ended without its end marker after %llu "
                                   "records (did the writer die?)", (unsigned long long)r->nrec);
                return 0;
            }
            if (fill(r) < 0)
                return -1;
            continue;
        }
        size_t off = 0;
        msgpack_unpack_return u =
            msgpack_unpack_next(&r->unpacked, (const char *)r->buf + r->start, size, &off);
        uint64_t recno = r->nrec + 1;
        if (u == MSGPACK_UNPACK_NOMEM_ERROR)
            return fail_at(r, recno, "record nested too deeply or out of memory");
        if (u != MSGPACK_UNPACK_SUCCESS || off != size)
            return fail_at(r, recno, "malformed msgpack");
        const unsigned char *item = r->buf + r->start;
        r->start += size;
        const msgpack_object *o = &r->unpacked.data;
        if (o->type != MSGPACK_OBJECT_MAP)
            return fail_at(r, recno, "item is not a map (not an emo record stream?)");
        const msgpack_object_map *m = &o->via.map;
        if (m->size >= 1 && key_is(&m->ptr[0].key, KEY_HEADER)) {
            if (r->state != EXPECT_HEADER)
                return fail_at(r, recno, "stream header inside a segment (previous segment has no end marker)");
            const msgpack_object *v = &m->ptr[0].val;
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 != REC_VERSION)
                return fail_at(r, recno, "unsupported record stream version");
            r->state = IN_SEGMENT;
            r->seg_rec = 0;
            XXH64_reset(&r->xxh, 0);
            XXH64_update(&r->xxh, item, size);
            if (!r->has_hdr) {      /* a copy outlives the read buffer */
                r->hdr_bytes = xmalloc(size);
                memcpy(r->hdr_bytes, r->buf + r->start - size, size);
                size_t hoff = 0;
                msgpack_unpack_next(&r->hdr, r->hdr_bytes, size, &hoff);
                r->has_hdr = 1;
                if (r->stop_at_header)
                    return 2;
            }
            continue;
        }
        if (m->size >= 1 && key_is(&m->ptr[0].key, KEY_TRAILER)) {
            const msgpack_object *v = &m->ptr[0].val;
            if (r->state != IN_SEGMENT)
                return fail_at(r, recno, "end marker without a stream header");
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 != r->seg_rec)
                return fail_at(r, r->nrec, "end marker count does not match the %llu records read "
                               "(records lost?)", (unsigned long long)r->seg_rec);
            /* the checksum, when the writer gave one (streams before it have none) */
            const msgpack_object *h = NULL;
            for (uint32_t i = 1; i < m->size; i++)
                if (key_is(&m->ptr[i].key, KEY_XXH64))
                    h = &m->ptr[i].val;
            if (h && h->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return fail_at(r, r->nrec, "end marker's xxh64 is not an unsigned integer");
            if (h && h->via.u64 != XXH64_digest(&r->xxh))
                return fail_at(r, r->nrec, "checksum mismatch: the %llu records of this segment (or its header) "
                               "are not the bytes written (stream damaged)", (unsigned long long)r->seg_rec);
            r->state = EXPECT_HEADER;
            r->segments++;
            continue;
        }
        if (r->state != IN_SEGMENT)
            return fail_at(r, recno, r->segments == 0
                               ? "no record stream header (not an emo record stream?)"
                               : "record after the end marker without a new stream header");
        for (uint32_t i = 0; i < m->size; i++)
            if (m->ptr[i].key.type != MSGPACK_OBJECT_STR)
                return fail_at(r, recno, "field name is not a string");
        XXH64_update(&r->xxh, item, size);
        r->nrec++;
        r->seg_rec++;
        rec->kv = m->ptr;
        rec->nfields = m->size;
        rec->index = r->nrec;
        return 1;
    }
}

int rec_read(rec_reader *r, rec_t *rec)
{
    if (r->failed)
        return -1;
    int k = read_item(r, rec);
    r->failed = k < 0;
    return k;
}

const msgpack_object *rec_reader_header(rec_reader *r)
{
    if (!r->has_hdr && !r->failed && r->nrec == 0 && r->segments == 0) {
        rec_t rec;
        r->stop_at_header = 1;
        int k = read_item(r, &rec);
        r->stop_at_header = 0;
        r->failed = k < 0;
    }
    return r->has_hdr ? &r->hdr.data : NULL;
}

const msgpack_object *rec_header_get(const msgpack_object *hdr, const char *key)
{
    if (!hdr || hdr->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < hdr->via.map.size; i++)
        if (key_is(&hdr->via.map.ptr[i].key, key))
            return &hdr->via.map.ptr[i].val;
    return NULL;
}

void rec_reader_close(rec_reader *r)
{
    if (!r)
        return;
    if (r->fd != STDIN_FILENO)
        close(r->fd);
    msgpack_unpacked_destroy(&r->hdr);
    free(r->hdr_bytes);
    msgpack_unpacked_destroy(&r->unpacked);
    free(r->buf);
    free(r->name);
    free(r);
}

/* ---- field access ------------------------------------------------------- */

const msgpack_object *rec_get(const rec_t *rec, const char *key)
{
    for (uint32_t i = 0; i < rec->nfields; i++)
        if (key_is(&rec->kv[i].key, key))
            return &rec->kv[i].val;
    return NULL;
}

int rec_get_u64(const rec_t *rec, const char *key, uint64_t *out)
{
    const msgpack_object *o = rec_get(rec, key);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -2;
    *out = o->via.u64;
    return 0;
}

int rec_get_str(const rec_t *rec, const char *key, const char **s, size_t *len)
{
    const msgpack_object *o = rec_get(rec, key);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_STR)
        return -2;
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return 0;
}

int rec_get_f32v(const rec_t *rec, const char *key, float *out, size_t max, size_t *n)
{
    const msgpack_object *o = rec_get(rec, key);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return -2;
    const msgpack_object_array *a = &o->via.array;
    if (a->size > max)
        return -3;
    for (uint32_t i = 0; i < a->size; i++) {
        const msgpack_object *e = &a->ptr[i];
        switch (e->type) {
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64: out[i] = (float)e->via.f64; break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER: out[i] = (float)e->via.u64; break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: out[i] = (float)e->via.i64; break;
        default: return -2;
        }
    }
    *n = a->size;
    return 0;
}

int rec_get_ids(const rec_t *rec, const char *key, int32_t *out, size_t max, size_t *n)
{
    const msgpack_object *o = rec_get(rec, key);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return -2;
    const msgpack_object_array *a = &o->via.array;
    if (a->size > max)
        return -3;
    for (uint32_t i = 0; i < a->size; i++) {
        const msgpack_object *e = &a->ptr[i];
        if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER || e->via.u64 > INT32_MAX)
            return -2;
        out[i] = (int32_t)e->via.u64;
    }
    *n = a->size;
    return 0;
}

static void need_fail(rec_reader *r, int k, const char *key, const char *type, size_t max)
{
    if (k == -1)
        rec_die(r, "missing field '%s'", key);
    if (k == -3)
        rec_die(r, "field '%s' has more than %zu elements", key, max);
    rec_die(r, "field '%s' is not %s", key, type);
}

uint64_t rec_need_u64(rec_reader *r, const rec_t *rec, const char *key)
{
    uint64_t v = 0;
    int k = rec_get_u64(rec, key, &v);
    if (k)
        need_fail(r, k, key, "an unsigned integer", 0);
    return v;
}

const char *rec_need_str(rec_reader *r, const rec_t *rec, const char *key, size_t *len)
{
    const char *s = NULL;
    int k = rec_get_str(rec, key, &s, len);
    if (k)
        need_fail(r, k, key, "a string", 0);
    return s;
}

size_t rec_need_f32v(rec_reader *r, const rec_t *rec, const char *key, float *out, size_t max)
{
    size_t n = 0;
    int k = rec_get_f32v(rec, key, out, max, &n);
    if (k)
        need_fail(r, k, key, "an array of numbers", max);
    return n;
}

size_t rec_need_ids(rec_reader *r, const rec_t *rec, const char *key, int32_t *out, size_t max)
{
    size_t n = 0;
    int k = rec_get_ids(rec, key, out, max, &n);
    if (k)
        need_fail(r, k, key, "an array of token ids", max);
    return n;
}

/* ---- writing ------------------------------------------------------------ */

struct rec_writer {
    FILE *fp;
    char *name;
    msgpack_packer pk;             /* writes through put(), which hashes what it writes */
    uint64_t count;
    XXH64_state_t xxh;             /* of the header and records written, for the trailer */
};

static int put(void *data, const char *buf, size_t len)
{
    rec_writer *w = data;
    XXH64_update(&w->xxh, buf, len);
    return len == 0 || fwrite(buf, len, 1, w->fp) == 1 ? 0 : -1;
}

static int named(const msgpack_object *k, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (key_is(k, keys[i]))
            return 1;
    return 0;
}

rec_writer *rec_writer_open_meta(FILE *fp, const char *name, const msgpack_object *hdr,
                                 const char *const *newkeys, size_t nnew, msgpack_packer **pk)
{
    rec_writer *w = xcalloc(1, sizeof *w);
    w->fp = fp;
    w->name = xstrdup(name ? name : "<stdout>");
    XXH64_reset(&w->xxh, 0);
    msgpack_packer_init(&w->pk, w, put);
    size_t keep = 0;
    const msgpack_object_map *m = hdr && hdr->type == MSGPACK_OBJECT_MAP ? &hdr->via.map : NULL;
    for (uint32_t i = 0; m && i < m->size; i++)
        keep += !key_is(&m->ptr[i].key, KEY_HEADER) && !named(&m->ptr[i].key, newkeys, nnew);
    msgpack_pack_map(&w->pk, 1 + keep + nnew);
    rec_pack_key(&w->pk, KEY_HEADER);
    msgpack_pack_uint32(&w->pk, REC_VERSION);
    for (uint32_t i = 0; m && i < m->size; i++)
        if (!key_is(&m->ptr[i].key, KEY_HEADER) && !named(&m->ptr[i].key, newkeys, nnew)) {
            msgpack_pack_object(&w->pk, m->ptr[i].key);
            msgpack_pack_object(&w->pk, m->ptr[i].val);
        }
    if (pk)
        *pk = &w->pk;
    return w;
}

rec_writer *rec_writer_open(FILE *fp, const char *name)
{
    return rec_writer_open_meta(fp, name, NULL, NULL, 0, NULL);
}

msgpack_packer *rec_begin(rec_writer *w, const rec_t *pass, const char *const *newkeys, size_t nnew)
{
    size_t keep = 0;
    if (pass)
        for (uint32_t i = 0; i < pass->nfields; i++)
            keep += !named(&pass->kv[i].key, newkeys, nnew);
    msgpack_pack_map(&w->pk, keep + nnew);
    if (pass)
        for (uint32_t i = 0; i < pass->nfields; i++)
            if (!named(&pass->kv[i].key, newkeys, nnew)) {
                msgpack_pack_object(&w->pk, pass->kv[i].key);
                msgpack_pack_object(&w->pk, pass->kv[i].val);
            }
    return &w->pk;
}

void rec_end(rec_writer *w) { w->count++; }

msgpack_packer *rec_begin_raw(rec_writer *w) { return &w->pk; }

void rec_write_packed(rec_writer *w, const void *p, size_t n)
{
    put(w, p, n);
}

void rec_write_copy(rec_writer *w, const rec_t *rec)
{
    rec_begin(w, rec, NULL, 0);
    rec_end(w);
}

uint64_t rec_writer_count(const rec_writer *w) { return w->count; }

int rec_writer_close(rec_writer *w)
{
    uint64_t h = XXH64_digest(&w->xxh);
    msgpack_pack_map(&w->pk, 2);
    rec_pack_key(&w->pk, KEY_TRAILER);
    msgpack_pack_uint64(&w->pk, w->count);
    rec_pack_key(&w->pk, KEY_XXH64);
    msgpack_pack_fix_uint64(&w->pk, h);    /* always 9 bytes: the trailer's size depends on N alone */
    int bad = fflush(w->fp) != 0 || ferror(w->fp);
    int e = errno;
    free(w->name);
    free(w);
    if (bad) {
        errno = e ? e : EIO;
        return -1;
    }
    return 0;
}

void rec_pack_key(msgpack_packer *pk, const char *key)
{
    size_t n = strlen(key);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, key, n);
}

void rec_pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void rec_pack_f32v(msgpack_packer *pk, const float *v, size_t n)
{
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_float(pk, v[i]);
}

void rec_pack_ids(msgpack_packer *pk, const int32_t *v, size_t n)
{
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_uint32(pk, (uint32_t)v[i]);
}
