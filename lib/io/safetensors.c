/* safetensors reader and writer; see safetensors.h for the format and the checks. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "io/safetensors.h"
#include "util/util.h"

static const struct { const char *name; size_t size; } dtypes[ST_NDTYPES] = {
    [ST_BOOL] = { "BOOL", 1 },      [ST_U8] = { "U8", 1 },     [ST_I8] = { "I8", 1 },
    [ST_F8_E5M2] = { "F8_E5M2", 1 }, [ST_F8_E4M3] = { "F8_E4M3", 1 },
    [ST_I16] = { "I16", 2 },        [ST_U16] = { "U16", 2 },   [ST_F16] = { "F16", 2 },
    [ST_BF16] = { "BF16", 2 },      [ST_I32] = { "I32", 4 },   [ST_U32] = { "U32", 4 },
    [ST_F32] = { "F32", 4 },        [ST_F64] = { "F64", 8 },   [ST_I64] = { "I64", 8 },
    [ST_U64] = { "U64", 8 },
};

const char *st_dtype_name(st_dtype d) { return d < ST_NDTYPES ? dtypes[d].name : "?"; }
size_t st_dtype_size(st_dtype d) { return d < ST_NDTYPES ? dtypes[d].size : 0; }

void st_shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

static void free_tensors(st_file *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->t[i].name);
    free(f->t);
    f->t = NULL;
    f->n = 0;
    free(f->format);
    f->format = NULL;
}

static int parse_tensor(st_tensor *t, const char *key, json_t *v, uint64_t data_len,
                        const char *name, char *err, size_t errn)
{
    if (!json_is_object(v))
        return errbuf_fail(err, errn, "%s: tensor %s: header entry is not an object", name, key);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape");
    json_t *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(off))
        return errbuf_fail(err, errn, "%s: tensor %s: needs string dtype, array shape and array data_offsets",
                    name, key);
    int found = 0;
    for (int d = 0; d < ST_NDTYPES; d++)
        if (!strcmp(json_string_value(dt), dtypes[d].name)) {
            t->dtype = (st_dtype)d;
            found = 1;
        }
    if (!found)
        return errbuf_fail(err, errn, "%s: tensor %s: unknown dtype '%s'", name, key, json_string_value(dt));
    if (json_array_size(sh) > ST_MAX_DIMS)
        return errbuf_fail(err, errn, "%s: tensor %s: %zu dimensions (at most %d supported)", name, key,
                    json_array_size(sh), ST_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(sh, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return errbuf_fail(err, errn, "%s: tensor %s: shape entries must be non-negative integers", name, key);
        t->shape[i] = json_integer_value(d);
        if (__builtin_mul_overflow(numel, (uint64_t)t->shape[i], &numel))
            return errbuf_fail(err, errn, "%s: tensor %s: shape overflows", name, key);
    }
    t->numel = numel;
    if (json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) ||
        !json_is_integer(json_array_get(off, 1)) || json_integer_value(json_array_get(off, 0)) < 0 ||
        json_integer_value(json_array_get(off, 1)) < 0)
        return errbuf_fail(err, errn, "%s: tensor %s: data_offsets must be two non-negative integers", name, key);
    t->begin = (uint64_t)json_integer_value(json_array_get(off, 0));
    t->end = (uint64_t)json_integer_value(json_array_get(off, 1));
    if (t->end < t->begin)
        return errbuf_fail(err, errn, "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 ") end before begin",
                    name, key, t->begin, t->end);
    if (t->end > data_len)
        return errbuf_fail(err, errn, "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                    ") beyond the data buffer (%" PRIu64 " bytes)", name, key, t->begin, t->end, data_len);
    uint64_t bytes;
    if (__builtin_mul_overflow(numel, (uint64_t)dtypes[t->dtype].size, &bytes) || bytes != t->end - t->begin) {
        char s[128];
        st_shape_str(t->ndim, t->shape, s, sizeof s);
        return errbuf_fail(err, errn, "%s: tensor %s: shape %s x %s is not the %" PRIu64 "-byte span", name, key,
                    s, dtypes[t->dtype].name, t->end - t->begin);
    }
    return 0;
}

static int by_begin(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

int st_parse(st_file *f, const void *buf, size_t len, const char *name, char *err, size_t errn)
{
    const uint8_t *p = buf;
    memset(f, 0, sizeof *f);
    if (len < 8)
        return errbuf_fail(err, errn, "%s: truncated: %zu bytes, not even the 8-byte header length", name, len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | p[i];
    if (hl > ST_MAX_HEADER)
        return errbuf_fail(err, errn, "%s: header length %" PRIu64 " exceeds the 100 MB limit", name, hl);
    if (hl > len - 8)
        return errbuf_fail(err, errn, "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes): truncated?",
                    name, hl, len);
    if (hl < 2 || p[8] != '{')
        return errbuf_fail(err, errn, "%s: header is not a JSON object", name);
    json_error_t je;
    json_t *h = json_loadb((const char *)p + 8, (size_t)hl, JSON_REJECT_DUPLICATES, &je);
    if (!h)
        return errbuf_fail(err, errn, "%s: header JSON: %s (at byte %d)", name, je.text, je.position);
    if (!json_is_object(h)) {
        json_decref(h);
        return errbuf_fail(err, errn, "%s: header is not a JSON object", name);
    }
    f->data = p + 8 + hl;
    f->data_len = len - 8 - hl;
    f->t = xcalloc(json_object_size(h) + 1, sizeof *f->t);
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        if (!strcmp(key, "__metadata__")) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(v))
                goto bad_meta;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv))
                    goto bad_meta;
                if (!strcmp(mk, "format"))
                    f->format = xstrdup(json_string_value(mv));
            }
            continue;
        bad_meta:
            json_decref(h);
            free_tensors(f);
            return errbuf_fail(err, errn, "%s: __metadata__ must map strings to strings", name);
        }
        st_tensor *t = &f->t[f->n];
        if (parse_tensor(t, key, v, f->data_len, name, err, errn) != 0) {
            json_decref(h);
            free_tensors(f);
            return -1;
        }
        t->name = xstrdup(key);
        f->n++;
    }
    json_decref(h);

    /* The spans must tile the buffer: sorted by begin, each starts where the last ended. */
    st_tensor **s = xmalloc((f->n + 1) * sizeof *s);
    for (size_t i = 0; i < f->n; i++)
        s[i] = &f->t[i];
    qsort(s, f->n, sizeof *s, by_begin);
    uint64_t at = 0;
    int rc = 0;
    for (size_t i = 0; i < f->n && !rc; i++) {
        if (s[i]->begin < at)
            rc = errbuf_fail(err, errn, "%s: tensors %s and %s overlap (data_offsets [%" PRIu64 ", %" PRIu64
                      ") and [%" PRIu64 ", %" PRIu64 "))", name, s[i - 1]->name, s[i]->name,
                      s[i - 1]->begin, s[i - 1]->end, s[i]->begin, s[i]->end);
        else if (s[i]->begin > at)
            rc = errbuf_fail(err, errn, "%s: tensor %s: hole in the data buffer before it (bytes %" PRIu64 "..%" PRIu64 ")",
                      name, s[i]->name, at, s[i]->begin);
        at = s[i]->end;
    }
    if (!rc && at != f->data_len)
        rc = errbuf_fail(err, errn, "%s: %" PRIu64 " bytes after the last tensor (data buffer %" PRIu64 " bytes)",
                  name, f->data_len - at, f->data_len);
    free(s);
    if (rc) {
        free_tensors(f);
        return -1;
    }
    f->path = xstrdup(name);
    return 0;
}

int st_open(st_file *f, const char *path, char *err, size_t errn)
{
    memset(f, 0, sizeof *f);
    /* O_NONBLOCK: a FIFO is refused below instead of waiting for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return errbuf_fail(err, errn, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return errbuf_fail(err, errn, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {     /* /dev/zero would map as an endless header */
        close(fd);
        if (S_ISDIR(st.st_mode))
            return errbuf_fail(err, errn, "%s: is a directory", path);
        return errbuf_fail(err, errn, "%s: not a regular file (%s)", path,
                           S_ISCHR(st.st_mode) ? "a character device" : S_ISBLK(st.st_mode) ? "a block device"
                           : S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "unknown type");
    }
    size_t len = (size_t)st.st_size;
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return errbuf_fail(err, errn, "%s: mmap: %s", path, strerror(e));
        }
    }
    close(fd);
    if (st_parse(f, map ? map : "", len, path, err, errn) != 0) {
        if (map)
            munmap(map, len);
        return -1;
    }
    f->map = map;
    f->map_len = len;
    return 0;
}

void st_close(st_file *f)
{
    free_tensors(f);
    if (f->map)
        munmap(f->map, f->map_len);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name))
            return &f->t[i];
    return NULL;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float32 */
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | mant << 13;             /* inf, NaN (payload kept) */
    else
        bits = sign | (exp + 112) << 23 | mant << 13;       /* rebias 15 -> 127 */
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

float st_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

/* Little-endian loads from possibly unaligned bytes. */
static uint64_t load_le(const uint8_t *p, size_t size)
{
    uint64_t v = 0;
    for (size_t i = size; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

int st_to_f32(const st_file *f, const st_tensor *t, float *out, char *err, size_t errn)
{
    const uint8_t *p = f->data + t->begin;
    switch (t->dtype) {
    case ST_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* the file's byte order is the host's: one copy (a checkpoint's load time was mostly
         * the byte loop below) */
        memcpy(out, p, 4 * (size_t)t->numel);
        return 0;
#endif
        for (uint64_t i = 0; i < t->numel; i++) {
            uint32_t b = (uint32_t)load_le(p + 4 * i, 4);
            memcpy(&out[i], &b, 4);
        }
        return 0;
    case ST_F16:
        for (uint64_t i = 0; i < t->numel; i++)
            out[i] = st_f16_to_f32((uint16_t)load_le(p + 2 * i, 2));
        return 0;
    case ST_BF16:
        for (uint64_t i = 0; i < t->numel; i++)
            out[i] = st_bf16_to_f32((uint16_t)load_le(p + 2 * i, 2));
        return 0;
    case ST_F64:
        for (uint64_t i = 0; i < t->numel; i++) {
            uint64_t b = load_le(p + 8 * i, 8);
            double d;
            memcpy(&d, &b, 8);
            out[i] = (float)d;
        }
        return 0;
    default:
        return errbuf_fail(err, errn, "%s: tensor %s: dtype %s is not a floating-point type (F32, F16, BF16, F64)",
                    f->path, t->name, dtypes[t->dtype].name);
    }
}

int st_to_i64(const st_file *f, const st_tensor *t, int64_t *out, char *err, size_t errn)
{
    const uint8_t *p = f->data + t->begin;
    size_t sz = dtypes[t->dtype].size;
    int is_signed;
    switch (t->dtype) {
    case ST_I8: case ST_I16: case ST_I32: case ST_I64: is_signed = 1; break;
    case ST_BOOL: case ST_U8: case ST_U16: case ST_U32: is_signed = 0; break;
    default:
        return errbuf_fail(err, errn, "%s: tensor %s: dtype %s is not an integer type that fits int64",
                    f->path, t->name, dtypes[t->dtype].name);
    }
    for (uint64_t i = 0; i < t->numel; i++) {
        uint64_t v = load_le(p + sz * i, sz);
        if (is_signed && sz < 8 && (v >> (8 * sz - 1)) & 1)
            v |= ~0ull << (8 * sz);                          /* sign-extend */
        out[i] = (int64_t)v;
    }
    return 0;
}

int st_get_f32(const st_file *f, const char *name, int ndim, const int64_t *shape, float *out,
               char *err, size_t errn)
{
    const st_tensor *t = st_find(f, name);
    if (!t)
        return errbuf_fail(err, errn, "%s: tensor %s is missing", f->path, name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char a[128], b[128];
        st_shape_str(t->ndim, t->shape, a, sizeof a);
        st_shape_str(ndim, shape, b, sizeof b);
        return errbuf_fail(err, errn, "%s: tensor %s has shape %s, the configuration needs %s", f->path, name, a, b);
    }
    return st_to_f32(f, t, out, err, errn);
}

/* ---- writing ------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const st_out *const *)a)->name, (*(const st_out *const *)b)->name);
}

static uint64_t out_numel(const st_out *t)
{
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (uint64_t)t->shape[i];
    return n;
}

int st_write_fp(FILE *fp, const st_out *t, size_t n, char *err, size_t errn)
{
    const st_out **s = xmalloc((n + 1) * sizeof *s);
    for (size_t i = 0; i < n; i++)
        s[i] = &t[i];
    qsort(s, n, sizeof *s, by_name);
    for (size_t i = 0; i + 1 < n; i++)
        if (!strcmp(s[i]->name, s[i + 1]->name)) {
            int r = errbuf_fail(err, errn, "tensor %s written twice", s[i]->name);
            free(s);
            return r;
        }
    /* Header: compact JSON like the reference writer; __metadata__ first. */
    json_t *h = json_object();
    json_t *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(h, "__metadata__", meta);
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        int bad = s[i]->ndim < 0 || s[i]->ndim > ST_MAX_DIMS;
        for (int d = 0; !bad && d < s[i]->ndim; d++)
            bad = s[i]->shape[d] < 0;
        if (bad) {
            int r = errbuf_fail(err, errn, "tensor %s: bad rank or shape", s[i]->name);
            json_decref(h);
            free(s);
            return r;
        }
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        for (int d = 0; d < s[i]->ndim; d++)
            json_array_append_new(shape, json_integer(s[i]->shape[d]));
        uint64_t bytes = (s[i]->i8 ? 1 : 4) * out_numel(s[i]);
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + bytes)));
        json_object_set_new(e, "dtype", json_string(s[i]->i8 ? "I8" : "F32"));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        json_object_set_new(h, s[i]->name, e);
        off += bytes;
    }
    char *js = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    size_t hl = strlen(js), pad = (8 - hl % 8) % 8;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((hl + pad) >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(js, 1, hl, fp);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', fp);
    free(js);
    for (size_t i = 0; i < n; i++) {
        uint64_t m = out_numel(s[i]);
        if (s[i]->i8) {
            fwrite(s[i]->i8, 1, m, fp);
            continue;
        }
        for (uint64_t j = 0; j < m; j++) {
            uint32_t b;
            memcpy(&b, &s[i]->data[j], 4);
            uint8_t le[4] = { (uint8_t)b, (uint8_t)(b >> 8), (uint8_t)(b >> 16), (uint8_t)(b >> 24) };
            fwrite(le, 1, 4, fp);
        }
    }
    free(s);
    if (fflush(fp) != 0 || ferror(fp))
        return errbuf_fail(err, errn, "write error: %s", strerror(errno ? errno : EIO));
    return 0;
}

int st_write(const char *path, const st_out *t, size_t n, char *err, size_t errn)
{
    char *d = xstrdup(path);
    int ok = access(dirname(d), W_OK) == 0;
    free(d);
    if (!ok)
        return errbuf_fail(err, errn, "%s: cannot write in its directory: %s", path, strerror(errno));
    atomic_file af;
    FILE *fp = atomic_open(&af, path);
    char e[512];
    int rc = 0;
    if (st_write_fp(fp, t, n, e, sizeof e) != 0) {
        atomic_abort(&af);
        rc = errbuf_fail(err, errn, "%s: %s", path, e);
    } else if (atomic_commit(&af) != 0) {
        rc = errbuf_fail(err, errn, "%s: %s", path, strerror(errno));
    }
    free(af.path);
    free(af.tmp);
    return rc;
}
