/* Record streams: round trip, concatenation, and every malformed input must end in an
 * error (never a hang, never a huge allocation). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "io/rec.h"
#include "util/util.h"

static char *write_stream(size_t *len, int nrec, int with_trailer)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    rec_writer *w = rec_writer_open(f, "mem");
    for (int i = 0; i < nrec; i++) {
        const char *keys[] = { "id", "text", "logits", "input_ids" };
        msgpack_packer *pk = rec_begin(w, NULL, keys, 4);
        rec_pack_key(pk, "id");
        msgpack_pack_uint64(pk, (uint64_t)i + 7);
        rec_pack_key(pk, "text");
        rec_pack_str(pk, "hello", 5);
        float lg[3] = { 0.5f, -1.25f, (float)i };
        rec_pack_key(pk, "logits");
        rec_pack_f32v(pk, lg, 3);
        int32_t ids[3] = { 101, 7592 + i, 102 };
        rec_pack_key(pk, "input_ids");
        rec_pack_ids(pk, ids, 3);
        rec_end(w);
    }
    if (with_trailer) {
        rec_writer_close(w);
    } else {
        fflush(f);
    }
    fclose(f);
    return buf;
}

/* Reads bytes through a pipe; returns records read, or -1 on error (message copied). */
static int read_bytes(const void *data, size_t len, char *msg, size_t msgcap)
{
    int p[2];
    if (pipe(p) != 0)
        return -2;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        size_t off = 0;
        while (off < len) {
            ssize_t n = write(p[1], (const char *)data + off, len - off);
            if (n <= 0)
                _exit(1);
            off += (size_t)n;
        }
        _exit(0);
    }
    close(p[1]);
    int saved = dup(0);
    dup2(p[0], 0);
    close(p[0]);
    rec_reader *r = rec_reader_open(NULL);
    rec_t rec;
    int n = 0, k;
    while ((k = rec_read(r, &rec)) == 1)
        n++;
    if (k < 0) {
        snprintf(msg, msgcap, "%s", rec_reader_error(r));
        n = -1;
    }
    rec_reader_close(r);
    dup2(saved, 0);
    close(saved);
    return n;
}

int main(void)
{
    char msg[600];
    size_t len;
    char *s = write_stream(&len, 3, 1);
    CHECK(read_bytes(s, len, msg, sizeof msg) == 3, "three records");

    /* cat a b is a stream */
    char *two = malloc(2 * len);
    memcpy(two, s, len);
    memcpy(two + len, s, len);
    CHECK(read_bytes(two, 2 * len, msg, sizeof msg) == 6, "concatenated streams");

    /* every strict prefix is an error, never a clean end */
    int prefix_errors = 0;
    for (size_t cut = 0; cut < len; cut++)
        prefix_errors += read_bytes(s, cut, msg, sizeof msg) == -1;
    CHECK(prefix_errors == (int)len, "%d of %zu prefixes rejected", prefix_errors, len);

    /* the trailer's xxh64: any single byte changed before the trailer is an error (63% of
     * such flips were valid msgpack and passed before it), and a trailer without it
     * (older writers) still reads.  The trailer of a 3-record segment: fixmap(2),
     * "emo.end" 3, "xxh64" uint64: 1 + 8 + 1 + 6 + 9 bytes. */
    size_t body = len - 25;
    CHECK(!memcmp(s + body, "\x82\xa7" "emo.end\x03\xa5xxh64\xcf", 17), "trailer layout");
    char *flip = malloc(len);
    int passed = 0, checksum_msgs = 0;
    for (size_t i = 0; i < body; i++) {
        memcpy(flip, s, len);
        flip[i] ^= 0x20;
        int k = read_bytes(flip, len, msg, sizeof msg);
        passed += k != -1;
        checksum_msgs += k == -1 && strstr(msg, "checksum mismatch") != NULL;
    }
    CHECK(passed == 0, "%d of %zu single-byte changes before the trailer read without error", passed, body);
    CHECK(checksum_msgs > (int)body / 2, "only %d of %zu changes reported as checksum mismatches", checksum_msgs, body);
    memcpy(flip, s, len);
    flip[len - 1] ^= 1;      /* the checksum itself */
    CHECK(read_bytes(flip, len, msg, sizeof msg) == -1 && strstr(msg, "<stdin>:record 3: checksum mismatch"), "changed checksum: %s", msg);
    memcpy(flip, s, body);
    memcpy(flip + body, "\x81\xa7" "emo.end\x03", 10);
    CHECK(read_bytes(flip, body + 10, msg, sizeof msg) == 3, "trailer without xxh64: %s", msg);
    memcpy(flip + body, "\x82\xa7" "emo.end\x03\xa5xxh64\xa1x", 18);
    CHECK(read_bytes(flip, body + 18, msg, sizeof msg) == -1 && strstr(msg, "xxh64 is not"), "xxh64 not an integer: %s", msg);
    free(flip);

    size_t len2;
    char *notrailer = write_stream(&len2, 2, 0);
    CHECK(read_bytes(notrailer, len2, msg, sizeof msg) == -1 && strstr(msg, "end marker"),
          "missing trailer: %s", msg);

    /* hostile declared lengths: array32/map32/str32 of 4 G elements */
    const unsigned char hostile[][5] = {
        { 0xdd, 0xff, 0xff, 0xff, 0xff }, { 0xdf, 0x80, 0, 0, 0 }, { 0xdb, 0xff, 0xff, 0xff, 0xf0 },
    };
    for (size_t i = 0; i < 3; i++) {
        unsigned char buf[64];
        memcpy(buf, s, 13);  /* header */
        size_t hl = 0;
        /* header is the first item: fixmap(1) + fixstr "emo.stream"(11) + uint */
        hl = 1 + 11 + 1;
        memcpy(buf + hl, hostile[i], 5);
        CHECK(read_bytes(buf, hl + 5, msg, sizeof msg) == -1 && strstr(msg, "limit"),
              "hostile %zu: %s", i, msg);
    }

    /* values: past 1 Mi of them, a record must average 2 bytes a value (a reader holds 24
     * bytes for each); a record of 2-byte values is read, one of 1-byte values refused */
    size_t nv = (1u << 20) + 10, cap = 32 + 2 * nv + 16;
    unsigned char *big = malloc(cap);
    for (int wide = 0; wide < 2; wide++) {
        size_t k = 0;
        memcpy(big, s, 13);
        k = 13;
        memcpy(big + k, "\x81\xa9input_ids\xdd", 12);
        k += 12;
        for (int b = 24; b >= 0; b -= 8)
            big[k++] = (unsigned char)(nv >> b);
        for (size_t i = 0; i < nv; i++) {
            if (wide)
                big[k++] = 0xcc;
            big[k++] = wide ? 0x80 : 0x01;
        }
        memcpy(big + k, "\x81\xa7" "emo.end\x01", 10);
        k += 10;
        int got = read_bytes(big, k, msg, sizeof msg);
        if (wide)
            CHECK(got == 1, "1 Mi + 10 values of 2 bytes: %s", msg);
        else
            CHECK(got == -1 && strstr(msg, "record 1: 1048589 values in 1048602 bytes, more than one for every 2 bytes"),
                  "1 Mi + 10 values of 1 byte: %s", msg);
    }
    free(big);

    /* garbage */
    CHECK(read_bytes("\xc1\xc1\xc1", 3, msg, sizeof msg) == -1, "0xc1");
    CHECK(read_bytes("hello world\n", 12, msg, sizeof msg) == -1, "text is not a stream");

    /* deep nesting: header, then 100 nested arrays */
    unsigned char deep[200];
    memcpy(deep, s, 13);
    for (int i = 0; i < 100; i++)
        deep[13 + i] = 0x91;
    deep[113] = 0x80;
    CHECK(read_bytes(deep, 114, msg, sizeof msg) == -1, "deep nesting: %s", msg);

    /* field access */
    free(two);
    free(notrailer);
    free(s);
    return check_done("test_rec");
}
