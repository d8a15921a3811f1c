/* lib/util/atomic: file_copy copies byte for byte (an empty file, one of several of its
 * buffers, over an older file), and a failure leaves no partial destination: a missing
 * source, a source that cannot be read (a directory), a destination directory missing. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "util/util.h"

static char tmpdir[] = "/tmp/test_file_copy.XXXXXX";

static void write_bytes(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* The file's bytes (malloc'd, *n of them), or NULL when it cannot be opened. */
static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, k;
    unsigned char *b = xmalloc(cap);
    *n = 0;
    while ((k = fread(b + *n, 1, cap - *n, f)) > 0) {
        *n += k;
        if (*n == cap)
            b = xrealloc(b, cap *= 2);
    }
    fclose(f);
    return b;
}

/* Copies n bytes from src to dst through file_copy and checks dst holds the same. */
static void check_copy(const char *name, const unsigned char *b, size_t n)
{
    char err[256] = "", src[64], dst[64];
    snprintf(src, sizeof src, "%s.src", name);
    snprintf(dst, sizeof dst, "%s.dst", name);
    char *from = path_join(tmpdir, src), *to = path_join(tmpdir, dst);
    write_bytes(from, b, n);
    CHECK(file_copy(from, to, err, sizeof err) == 0, "%s: %s", name, err);
    size_t got_n = 0;
    unsigned char *got = read_bytes(to, &got_n);
    CHECK(got && got_n == n && (n == 0 || !memcmp(got, b, n)), "%s: %zu bytes copied as %zu, or differ", name, n,
          got_n);
    free(got);
    free(from);
    free(to);
}

/* how many entries of tmpdir start with a dot (the temp files of atomic_open_err) */
static int hidden_entries(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static void test_copies(void)
{
    check_copy("empty", (const unsigned char *)"", 0);
    check_copy("short", (const unsigned char *)"[PAD]\n[UNK]\n", 12);
    /* 3 buffers and a bit, every byte value at every offset modulo 256 */
    size_t n = 3 * 65536 + 4099;
    unsigned char *b = xmalloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        b[i] = (unsigned char)(x >> 24);
    }
    check_copy("large", b, n);
    /* over an existing, longer destination: truncated to the source */
    check_copy("large", b + 1000, 70000);
    free(b);
    CHECK(hidden_entries() == 0, "a temporary file was left in %s", tmpdir);
}

static void test_failures(void)
{
    char err[256] = "";
    char *missing = path_join(tmpdir, "missing"), *to = path_join(tmpdir, "missing.dst");
    CHECK(file_copy(missing, to, err, sizeof err) == -1, "a missing source copied");
    CHECK(strstr(err, missing) && strstr(err, "No such file"), "missing source: '%s'", err);
    CHECK(access(to, F_OK) != 0, "a missing source made %s", to);

    /* an older destination stays as it was */
    write_bytes(to, (const unsigned char *)"old", 3);
    err[0] = 0;
    CHECK(file_copy(missing, to, err, sizeof err) == -1 && err[0], "a missing source over a file: '%s'", err);
    size_t n = 0;
    unsigned char *got = read_bytes(to, &n);
    CHECK(got && n == 3 && !memcmp(got, "old", 3), "a failed copy changed the destination");
    free(got);

    /* opened but unreadable: a directory (EISDIR at the first read) */
    char *dir = path_join(tmpdir, "adir"), *dto = path_join(tmpdir, "adir.dst");
    mkdir(dir, 0755);
    err[0] = 0;
    CHECK(file_copy(dir, dto, err, sizeof err) == -1, "a directory copied as a file");
    CHECK(strstr(err, dir) != NULL, "unreadable source: '%s'", err);
    CHECK(access(dto, F_OK) != 0, "a failed read left %s", dto);

    /* a destination whose directory does not exist */
    char *src = path_join(tmpdir, "short.src"), *nodir = path_join(tmpdir, "no/such/dir/x");
    err[0] = 0;
    CHECK(file_copy(src, nodir, err, sizeof err) == -1, "copied into a missing directory");
    CHECK(strstr(err, nodir) != NULL, "missing directory: '%s'", err);
    CHECK(hidden_entries() == 0, "a failed copy left a temporary file in %s", tmpdir);
    free(missing);
    free(to);
    free(dir);
    free(dto);
    free(src);
    free(nodir);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    test_copies();
    test_failures();
    remove_tree(tmpdir);
    return check_done("test_file_copy");
}
