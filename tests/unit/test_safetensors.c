/* safetensors: round trip, exact F16/BF16/F64/integer conversion, and every malformed
 * file the reader must refuse with one message naming the file and the tensor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "check.h"
#include "io/safetensors.h"
#include "util/util.h"

static char tmpdir[] = "/tmp/test_safetensors.XXXXXX";

/* File image: u64 LE header length, header, then data. */
static size_t image(uint8_t *out, const char *header, const void *data, size_t dlen)
{
    size_t hl = strlen(header);
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(out + 8, header, hl);
    if (dlen)
        memcpy(out + 8 + hl, data, dlen);
    return 8 + hl + dlen;
}

static void test_round_trip(void)
{
    char err[512], path[256];
    float a[6] = { 1.5f, -2.25f, 3e-38f, 1e30f, -0.0f, 7.0f };
    float s = 42.5f;
    float b[3] = { 0.1f, 0.2f, 0.3f };
    st_out t[] = {
        { "zeta.weight", a, 2, { 2, 3 }, NULL },
        { "alpha", &s, 0, { 0 }, NULL },
        { "mid.bias", b, 1, { 3 }, NULL },
        { "empty", NULL, 2, { 0, 5 }, NULL },
    };
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);
    CHECK(st_write(path, t, 4, err, sizeof err) == 0, "write: %s", err);
    st_file f;
    int rc = st_open(&f, path, err, sizeof err);
    CHECK(rc == 0, "open: %s", err);
    if (rc)
        return;
    CHECK(f.n == 4, "%zu tensors", f.n);
    CHECK(f.format && !strcmp(f.format, "pt"), "__metadata__ format");
    /* header length is a multiple of 8, padded with spaces like the reference writer */
    const uint8_t *m = f.map;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | m[i];
    CHECK(hl % 8 == 0, "header length %llu not aligned", (unsigned long long)hl);
    CHECK(m[8 + hl - 1] == '}' || m[8 + hl - 1] == ' ', "header padding");
    /* name order in the buffer */
    const st_tensor *al = st_find(&f, "alpha"), *z = st_find(&f, "zeta.weight"), *e = st_find(&f, "empty");
    CHECK(al && al->begin == 0 && al->ndim == 0 && al->numel == 1, "rank-0 tensor first");
    CHECK(e && e->numel == 0 && e->begin == e->end && e->ndim == 2 && e->shape[1] == 5, "empty tensor");
    CHECK(z && z->dtype == ST_F32 && z->ndim == 2 && z->shape[0] == 2 && z->shape[1] == 3, "2-d shape");
    float got[6];
    CHECK(z && st_to_f32(&f, z, got, err, sizeof err) == 0 && !memcmp(got, a, sizeof a), "values bitwise");
    float g1;
    CHECK(al && st_to_f32(&f, al, &g1, err, sizeof err) == 0 && g1 == 42.5f, "scalar value");
    int64_t shp[1] = { 3 };
    CHECK(st_get_f32(&f, "mid.bias", 1, shp, got, err, sizeof err) == 0 && !memcmp(got, b, sizeof b), "get: %s", err);
    st_close(&f);

    /* duplicate names are refused by the writer and nothing is left behind */
    st_out d[] = { { "x", b, 1, { 3 }, NULL }, { "x", b, 1, { 3 }, NULL } };
    snprintf(path, sizeof path, "%s/dup.safetensors", tmpdir);
    rc = st_write(path, d, 2, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "x") && strstr(err, "twice"), "duplicate write: %s", err);
    CHECK(access(path, F_OK) != 0, "no partial file");
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", tmpdir);
    CHECK(st_write(path, t, 1, err, sizeof err) != 0 && strstr(err, "no/such/dir"), "bad dir: %s", err);
}

/* I8 tensors (emo ckpt quantize's codes) beside F32 ones: dtype, bytes, spans tiling */
static void test_i8(void)
{
    char err[512], path[256];
    int8_t q[6] = { -128, -63, 0, 1, 63, 127 };
    float s[2] = { 0.5f, 0.25f };
    st_out t[] = {
        { .name = "w", .ndim = 2, .shape = { 2, 3 }, .i8 = q },
        { .name = "w_scale", .data = s, .ndim = 1, .shape = { 2 } },
    };
    snprintf(path, sizeof path, "%s/i8.safetensors", tmpdir);
    CHECK(st_write(path, t, 2, err, sizeof err) == 0, "write: %s", err);
    st_file f;
    if (st_open(&f, path, err, sizeof err) != 0) {
        CHECK(0, "open: %s", err);
        return;
    }
    const st_tensor *w = st_find(&f, "w"), *ws = st_find(&f, "w_scale");
    CHECK(w && w->dtype == ST_I8 && w->end - w->begin == 6 && !memcmp(f.data + w->begin, q, 6), "I8 tensor");
    int64_t v[6];
    CHECK(w && st_to_i64(&f, w, v, err, sizeof err) == 0 && v[0] == -128 && v[5] == 127, "I8 values");
    float g[2];
    CHECK(ws && st_to_f32(&f, ws, g, err, sizeof err) == 0 && g[1] == 0.25f && ws->begin == 6, "F32 after I8");
    CHECK(w && st_to_f32(&f, w, g, err, sizeof err) != 0, "I8 is no float tensor");
    st_close(&f);
}

static void test_conversions(void)
{
    /* F16 bit patterns and their exact float32 values */
    const uint16_t h[] = { 0x0000, 0x8000, 0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0400, 0x0001, 0x03FF,
                           0x7C00, 0xFC00, 0x7E00 };
    const float hv[] = { 0.0f, -0.0f, 1.0f, -2.0f, 0.333251953125f, 65504.0f, 6.103515625e-05f,
                         5.9604644775390625e-08f, 6.0975551605224609375e-05f, INFINITY, -INFINITY, NAN };
    /* BF16: the top half of the float32 pattern */
    const uint16_t bf[] = { 0x3F80, 0x4049, 0xC2F7, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x8000 };
    const float bv[] = { 1.0f, 3.140625f, -123.5f, 9.18354962e-41f, INFINITY, -INFINITY, NAN, -0.0f };
    uint8_t data[256];
    size_t o = 0;
    for (size_t i = 0; i < 12; i++, o += 2) {
        data[o] = (uint8_t)h[i];
        data[o + 1] = (uint8_t)(h[i] >> 8);
    }
    for (size_t i = 0; i < 8; i++, o += 2) {
        data[o] = (uint8_t)bf[i];
        data[o + 1] = (uint8_t)(bf[i] >> 8);
    }
    double dv[2] = { 0.1, -1e300 };            /* -1e300 overflows float to -inf */
    memcpy(data + o, dv, 16);                  /* little-endian host */
    o += 16;
    int64_t iv[3] = { -5, 0, INT64_MAX };
    memcpy(data + o, iv, 24);
    o += 24;
    int16_t sv[2] = { -2, 300 };
    memcpy(data + o, sv, 4);
    o += 4;
    uint8_t uv[2] = { 255, 1 };
    memcpy(data + o, uv, 2);
    o += 2;
    char hdr[1024];
    snprintf(hdr, sizeof hdr,
             "{\"h\":{\"dtype\":\"F16\",\"shape\":[12],\"data_offsets\":[0,24]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[24,40]},"
             "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[40,56]},"
             "\"i\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[56,80]},"
             "\"s\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[80,84]},"
             "\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[84,86]}}");
    uint8_t img[2048];
    size_t len = image(img, hdr, data, o);
    st_file f;
    char err[512];
    int rc = st_parse(&f, img, len, "conv", err, sizeof err);
    CHECK(rc == 0, "parse: %s", err);
    if (rc)
        return;
    float got[12];
    CHECK(st_to_f32(&f, st_find(&f, "h"), got, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 12; i++) {
        if (isnan(hv[i]))
            CHECK(isnan(got[i]), "f16 %04x: nan", h[i]);
        else
            CHECK(got[i] == hv[i] && signbit(got[i]) == signbit(hv[i]), "f16 %04x: %.9g want %.9g", h[i],
                  (double)got[i], (double)hv[i]);
    }
    CHECK(st_to_f32(&f, st_find(&f, "b"), got, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 8; i++) {
        if (isnan(bv[i]))
            CHECK(isnan(got[i]), "bf16 %04x: nan", bf[i]);
        else
            CHECK(got[i] == bv[i] && signbit(got[i]) == signbit(bv[i]), "bf16 %04x: %.9g want %.9g", bf[i],
                  (double)got[i], (double)bv[i]);
    }
    CHECK(st_to_f32(&f, st_find(&f, "d"), got, err, sizeof err) == 0 && got[0] == 0.1f && isinf(got[1]) &&
          got[1] < 0, "f64");
    int64_t gi[3];
    CHECK(st_to_i64(&f, st_find(&f, "i"), gi, err, sizeof err) == 0 && gi[0] == -5 && gi[2] == INT64_MAX, "i64");
    CHECK(st_to_i64(&f, st_find(&f, "s"), gi, err, sizeof err) == 0 && gi[0] == -2 && gi[1] == 300, "i16 sign");
    CHECK(st_to_i64(&f, st_find(&f, "u"), gi, err, sizeof err) == 0 && gi[0] == 255 && gi[1] == 1, "u8");
    /* type errors name the tensor */
    CHECK(st_to_f32(&f, st_find(&f, "i"), got, err, sizeof err) != 0 && strstr(err, "conv: tensor i: dtype I64"),
          "i64 as float: %s", err);
    CHECK(st_to_i64(&f, st_find(&f, "h"), gi, err, sizeof err) != 0 && strstr(err, "tensor h"), "f16 as int: %s", err);
    /* lookups: missing tensor and shape mismatch name the tensor */
    int64_t shp[2] = { 4, 2 };
    CHECK(st_get_f32(&f, "nope", 1, shp, got, err, sizeof err) != 0 && !strcmp(err, "conv: tensor nope is missing"),
          "missing: %s", err);
    CHECK(st_get_f32(&f, "b", 2, shp, got, err, sizeof err) != 0 && strstr(err, "tensor b has shape [2, 4]") &&
          strstr(err, "[4, 2]"), "shape mismatch: %s", err);
    st_close(&f);
    /* the standalone converters agree with the table above */
    CHECK(st_f16_to_f32(0x3C00) == 1.0f && st_bf16_to_f32(0x3F80) == 1.0f, "helpers");
}

/* Every malformed case is refused with a message containing `want`. */
static void bad(const char *label, const uint8_t *img, size_t len, const char *want)
{
    st_file f;
    char err[512] = "";
    int rc = st_parse(&f, img, len, "bad.safetensors", err, sizeof err);
    CHECK(rc != 0, "%s: accepted", label);
    if (rc == 0) {
        st_close(&f);
        return;
    }
    CHECK(strstr(err, want) != NULL, "%s: want '%s' in '%s'", label, want, err);
    CHECK(!strncmp(err, "bad.safetensors: ", 17), "%s: message names the file: %s", label, err);
    CHECK(strchr(err, '\n') == NULL, "%s: one line", label);
    CHECK(f.t == NULL && f.n == 0, "%s: nothing left allocated", label);
}

#define T1 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

static void test_malformed(void)
{
    uint8_t img[4096] = { 0 }, data[64] = { 0 };
    size_t n;

    bad("empty file", img, 0, "truncated");
    n = image(img, "{}", NULL, 0);
    bad("5 bytes", img, 5, "truncated");

    /* header length beyond the file; a truncated header */
    n = image(img, "{" T1 "}", data, 8);
    img[0] = 0xff;
    img[1] = 0x7f;
    bad("header length beyond file", img, n, "runs past the end of the file");
    n = image(img, "{" T1 "}", data, 8);
    bad("truncated header", img, 40, "runs past the end of the file");
    memset(img, 0, 8);
    img[3] = 0x10;                               /* 256 MB */
    bad("header > 100 MB", img, n, "exceeds the 100 MB limit");
    memset(img, 0xff, 8);
    bad("header length 2^64-1", img, n, "exceeds the 100 MB limit");

    n = image(img, "{\"a\":", data, 0);
    bad("header cut inside JSON", img, n, "header JSON");
    n = image(img, "xx", data, 0);
    bad("header not JSON", img, n, "header is not a JSON object");
    n = image(img, "{\"a\": }", data, 0);
    bad("broken JSON", img, n, "header JSON");
    n = image(img, "[1,2,3]", data, 0);
    bad("header array", img, n, "not a JSON object");
    n = image(img, "{" T1 "," T1 "}", data, 8);
    bad("duplicate key", img, n, "duplicate");

    n = image(img, "{\"a\":{\"dtype\":\"F24\",\"shape\":[2],\"data_offsets\":[0,8]}}", data, 8);
    bad("unknown dtype", img, n, "tensor a: unknown dtype 'F24'");
    n = image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data, 8);
    bad("shape x dtype != span", img, n, "tensor a: shape [3] x F32 is not the 8-byte span");
    n = image(img, "{\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,6]}}", data, 6);
    bad("f16 span", img, n, "tensor a: shape [2, 2] x F16");
    n = image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", data, 8);
    bad("out-of-range offsets", img, n, "tensor a: data_offsets [0, 16) beyond the data buffer (8 bytes)");
    n = image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", data, 8);
    bad("end before begin", img, n, "tensor a: data_offsets [8, 0) end before begin");
    n = image(img, "{" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", data, 12);
    bad("overlapping offsets", img, n, "tensors a and b overlap");
    n = image(img, "{" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data, 8);
    bad("identical offsets", img, n, "overlap");
    n = image(img, "{" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", data, 16);
    bad("hole", img, n, "tensor b: hole in the data buffer before it (bytes 8..12)");
    n = image(img, "{" T1 "}", data, 12);
    bad("trailing bytes", img, n, "4 bytes after the last tensor");
    n = image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", data, 8);
    bad("negative shape", img, n, "tensor a: shape entries must be non-negative integers");
    n = image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}",
              data, 8);
    bad("shape overflow", img, n, "tensor a: shape overflows");
    n = image(img, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", data, 8);
    bad("missing shape", img, n, "tensor a: needs");
    n = image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", data, 8);
    bad("one offset", img, n, "tensor a: data_offsets must be two non-negative integers");
    n = image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", data, 8);
    bad("offset beyond int64", img, n, "header JSON");
    n = image(img, "{\"a\":[1]}", data, 0);
    bad("entry not an object", img, n, "tensor a: header entry is not an object");
    n = image(img, "{\"__metadata__\":{\"format\":1}," T1 "}", data, 8);
    bad("metadata not strings", img, n, "__metadata__");
    n = image(img, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", data, 4);
    bad("too many dims", img, n, "dimensions");

    /* a valid file cut short: the last tensor's span no longer fits */
    n = image(img, "{" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", data, 16);
    st_file f;
    char err[512];
    CHECK(st_parse(&f, img, n, "ok", err, sizeof err) == 0, "untruncated parses: %s", err);
    st_close(&f);
    bad("truncated file", img, n - 3, "tensor b: data_offsets [8, 16) beyond the data buffer (13 bytes)");

    /* files: missing, a directory, and a real truncated file */
    CHECK(st_open(&f, "/nonexistent/x.safetensors", err, sizeof err) != 0 &&
          strstr(err, "/nonexistent/x.safetensors: No such file"), "missing file: %s", err);
    CHECK(st_open(&f, tmpdir, err, sizeof err) != 0 && strstr(err, "is a directory"), "directory: %s", err);
    char path[256];
    snprintf(path, sizeof path, "%s/trunc.safetensors", tmpdir);
    FILE *fp = fopen(path, "wb");
    fwrite(img, 1, n - 1, fp);
    fclose(fp);
    CHECK(st_open(&f, path, err, sizeof err) != 0 && strstr(err, path) && strstr(err, "tensor b"),
          "truncated file on disk: %s", err);
    snprintf(path, sizeof path, "%s/empty.safetensors", tmpdir);
    fp = fopen(path, "wb");
    fclose(fp);
    CHECK(st_open(&f, path, err, sizeof err) != 0 && strstr(err, "truncated"), "empty file on disk: %s", err);
    /* issue 14, fault 5: a link to /dev/zero said "Success" (strerror(0)) */
    snprintf(path, sizeof path, "%s/zero.safetensors", tmpdir);
    CHECK(symlink("/dev/zero", path) == 0, "symlink");
    CHECK(st_open(&f, path, err, sizeof err) != 0 && strstr(err, path) &&
          strstr(err, "not a regular file (a character device)") && !strstr(err, "Success"), "/dev/zero: %s", err);
    snprintf(path, sizeof path, "%s/fifo.safetensors", tmpdir);
    CHECK(mkfifo(path, 0600) == 0, "mkfifo");
    CHECK(st_open(&f, path, err, sizeof err) != 0 && strstr(err, "not a regular file (a FIFO)"), "fifo: %s", err);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 2;
    test_round_trip();
    test_i8();
    test_conversions();
    test_malformed();
    remove_tree(tmpdir);
    return check_done("test_safetensors");
}
