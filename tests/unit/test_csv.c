/* Delimited-text reader and corpus formats: RFC 4180 quoting, CRLF, blank lines, rows
 * spanning the 1 MiB read buffer, the row limit, and malformed quoting. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "text/corpus.h"
#include "text/csv.h"
#include "util/util.h"

static char tmpl[] = "/tmp/test_csv.XXXXXX";

static const char *write_tmp(const char *data, size_t n)
{
    static char path[64];
    snprintf(path, sizeof path, "%s", tmpl);
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n)
        abort();
    close(fd);
    return path;
}

/* Reads every row; joins fields with '|' and rows with '\n' into out; returns rows or -1. */
static int read_all(const char *data, int delim, int quoting, char *out, size_t cap, char *err)
{
    const char *path = write_tmp(data, strlen(data));
    csv_reader *r = csv_open(path, delim, quoting);
    csv_row row;
    int n = 0, k;
    size_t w = 0;
    out[0] = '\0';
    while ((k = csv_next(r, &row)) == 1) {
        n++;
        for (size_t i = 0; i < row.nfields; i++)
            w += (size_t)snprintf(out + w, cap - w, "%s%s", i ? "|" : "", row.field[i]);
        w += (size_t)snprintf(out + w, cap - w, "@%llu\n", (unsigned long long)row.line);
    }
    if (k < 0) {
        snprintf(err, 256, "%s", csv_error(r));
        n = -1;
    }
    csv_close(r);
    unlink(path);
    return n;
}

static void expect(const char *data, int delim, const char *want, int rows)
{
    char out[4096], err[256] = "";
    int n = read_all(data, delim, delim != -1, out, sizeof out, err);
    CHECK(n == rows && !strcmp(out, want), "input [%s]: got %d rows [%s] (%s), want %d [%s]", data, n,
          out, err, rows, want);
}

static void big_rows(void)
{
    /* 20000 quoted rows, ~2.6 MB: rows cross the 1 MiB read buffer; one 3 MB field too */
    size_t cap = 8u << 20, w = 0;
    char *buf = xmalloc(cap);
    for (int i = 0; i < 20000; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%d,\"row %d, with \"\"quotes\"\" and\nnewline %0100d\",x\n", i, i, i);
    w += (size_t)snprintf(buf + w, cap - w, "big,\"");
    memset(buf + w, 'a', 3u << 20);
    w += 3u << 20;
    w += (size_t)snprintf(buf + w, cap - w, "\",y\n");
    const char *path = write_tmp(buf, w);
    csv_reader *r = csv_open(path, ',', 1);
    csv_row row;
    int n = 0, bad = 0;
    char want[256];
    while (csv_next(r, &row) == 1) {
        if (n < 20000) {
            int m = snprintf(want, sizeof want, "row %d, with \"quotes\" and\nnewline %0100d", n, n);
            bad += row.nfields != 3 || row.len[1] != (size_t)m || memcmp(row.field[1], want, (size_t)m) ||
                   row.line != (uint64_t)(2 * n + 1);
        } else {
            bad += row.nfields != 3 || row.len[1] != (3u << 20) || strcmp(row.field[2], "y");
        }
        n++;
    }
    CHECK(n == 20001 && bad == 0, "big rows: %d rows, %d bad", n, bad);
    csv_close(r);
    unlink(path);
    free(buf);
}

/* A CRLF split by the 1 MiB read buffer (the '\r' its last byte) is one line end. */
static void crlf_across_buffer(void)
{
    size_t n = (1u << 20) - 1;
    char *buf = xmalloc(n + 8);
    memset(buf, 'a', n - 1);
    buf[n - 1] = '\r';
    memcpy(buf + n, "\nb\rc\n", 6);
    const char *path = write_tmp(buf, n + 5);
    for (int delim = ',', pass = 0; pass < 2; delim = -1, pass++) {
        csv_reader *r = csv_open(path, delim, delim != -1);
        csv_row row;
        int k1 = csv_next(r, &row);
        CHECK(k1 == 1 && row.len[0] == n - 1 && row.line == 1, "delim %d: first row %zu bytes, line %llu", delim,
              row.len[0], (unsigned long long)row.line);
        int k2 = csv_next(r, &row);
        CHECK(k2 == 1 && !strcmp(row.field[0], "b") && row.line == 2, "delim %d: second row [%s] line %llu",
              delim, row.field[0], (unsigned long long)row.line);
        int k3 = csv_next(r, &row);
        CHECK(k3 == 1 && !strcmp(row.field[0], "c") && row.line == 3, "delim %d: third row", delim);
        CHECK(csv_next(r, &row) == 0, "delim %d: end", delim);
        csv_close(r);
    }
    unlink(path);
    free(buf);
}

static void row_limit(void)
{
    /* an unterminated quote in a file larger than the row limit: error, not unbounded growth */
    size_t n = CSV_MAX_ROW_BYTES + 100;
    char *buf = xmalloc(n);
    memcpy(buf, "a,b\nx,\"", 7);
    memset(buf + 7, 'z', n - 7);
    const char *path = write_tmp(buf, n);
    csv_reader *r = csv_open(path, ',', 1);
    csv_row row;
    int k1 = csv_next(r, &row), k2 = csv_next(r, &row);
    CHECK(k1 == 1 && k2 == -1 && strstr(csv_error(r), "line 2:") && strstr(csv_error(r), "unterminated"),
          "row limit: %d %d %s", k1, k2, csv_error(r));
    csv_close(r);
    unlink(path);
    free(buf);
}

static int corpus_rows(const char *data, int fmt, const char *text_col, uint64_t offset, char *out, size_t cap,
                       char *err)
{
    const char *path = write_tmp(data, strlen(data));
    corpus_opts o = { .format = fmt, .text_col = text_col, .id_offset = offset };
    corpus_reader *c = corpus_open(path, &o, err, 256);
    int n = 0;
    if (!c) {
        unlink(path);
        return -1;
    }
    corpus_row row;
    int k;
    size_t w = 0;
    out[0] = '\0';
    while ((k = corpus_next(c, &row)) == 1) {
        n++;
        w += (size_t)snprintf(out + w, cap - w, "%llu|%.*s|%.*s\n", (unsigned long long)row.id,
                              (int)row.text_len, row.text, (int)row.label_len, row.label ? row.label : "");
    }
    if (k < 0) {
        snprintf(err, 256, "%s", corpus_error(c));
        n = -1;
    }
    out[w] = '\0';
    corpus_close(c);
    unlink(path);
    return n;
}

static void corpus(void)
{
    char out[2048], err[256] = "";
    int n = corpus_rows("a;b;joy \nsecond;sad\n\nthird;anger", CORPUS_SEMICOLON, NULL, 100, out, sizeof out, err);
    CHECK(n == 3 && !strcmp(out, "101|a;b|joy\n102|second|sad\n104|third|anger\n"), "semicolon: %d [%s] %s", n, out, err);
    n = corpus_rows("\xef\xbb\xbf,text,label\n3,x,1\n", CORPUS_AUTO, NULL, 0, out, sizeof out, err);
    CHECK(n == 1 && !strcmp(out, "3|x|1\n"), "kaggle with a byte order mark: %d [%s] %s", n, out, err);
    n = corpus_rows("a;b\n\nc\n", CORPUS_LINES, NULL, 5, out, sizeof out, err);
    CHECK(n == 2 && !strcmp(out, "6|a;b|\n8|c|\n"), "lines: %d [%s] %s", n, out, err);
    n = corpus_rows("a;b;joy\n", CORPUS_AUTO, NULL, 0, out, sizeof out, err);
    CHECK(n == 1 && !strcmp(out, "1|a;b|joy\n"), "auto semicolon: %d [%s] %s", n, out, err);
    n = corpus_rows(",text,label\n7,\"x, y\",1\n9,z,2\n", CORPUS_AUTO, NULL, 0, out, sizeof out, err);
    CHECK(n == 2 && !strcmp(out, "7|x, y|1\n9|z|2\n"), "auto kaggle: %d [%s] %s", n, out, err);
    n = corpus_rows("7,\"x, y\",1\n9,z,2\n", CORPUS_KAGGLE, NULL, 0, out, sizeof out, err);
    CHECK(n == 2 && !strcmp(out, "7|x, y|1\n9|z|2\n"), "kaggle without header: %d [%s] %s", n, out, err);
    n = corpus_rows("label,tweet\njoy,hi\nsad,\"a\nb\"\n", CORPUS_AUTO, "tweet", 0, out, sizeof out, err);
    CHECK(n == 2 && !strcmp(out, "1|hi|joy\n2|a\nb|sad\n"), "csv by name: %d [%s] %s", n, out, err);
    n = corpus_rows("label\ttweet\njoy\thi there\n", CORPUS_AUTO, "tweet", 0, out, sizeof out, err);
    CHECK(n == 1 && !strcmp(out, "1|hi there|joy\n"), "auto tsv: %d [%s] %s", n, out, err);
    n = corpus_rows("label,tweet\njoy,hi\n", CORPUS_CSV, "text", 0, out, sizeof out, err);
    CHECK(n == -1 && strstr(err, "no column 'text'"), "missing column: %s", err);
    n = corpus_rows("no separator here\n", CORPUS_SEMICOLON, NULL, 0, out, sizeof out, err);
    CHECK(n == -1 && strstr(err, ":line 1: no ';'"), "no separator: %s", err);
    n = corpus_rows("just words\n", CORPUS_AUTO, NULL, 0, out, sizeof out, err);
    CHECK(n == -1 && strstr(err, "give --format"), "undetectable: %s", err);
    n = corpus_rows(",text,label\nx7,a,1\n", CORPUS_KAGGLE, NULL, 0, out, sizeof out, err);
    CHECK(n == -1 && strstr(err, ":line 2: id 'x7'"), "bad kaggle index: %s", err);
    n = corpus_rows("", CORPUS_KAGGLE, NULL, 0, out, sizeof out, err);
    CHECK(n == -1 && strstr(err, "empty input"), "empty: %s", err);
    n = corpus_rows(",text,label\n1,only two\n", CORPUS_KAGGLE, NULL, 0, out, sizeof out, err);
    CHECK(n == -1 && strstr(err, ":line 2: 2 fields, expected at least 3"), "short row: %s", err);
}

int main(void)
{
    expect("a,b,c\n1,2,3\n", ',', "a|b|c@1\n1|2|3@2\n", 2);
    expect("\"x,y\",\"he said \"\"hi\"\"\",\"l1\nl2\"\nnext,row\n", ',',
           "x,y|he said \"hi\"|l1\nl2@1\nnext|row@3\n", 2);
    expect("a,b\r\nc,d\r\n", ',', "a|b@1\nc|d@2\n", 2);
    expect("\"q\"\r\nc\r\n", ',', "q@1\nc@2\n", 2);
    /* a lone '\r' ends a line (old Mac files), outside quotes only */
    expect("a,b\rc,d\r", ',', "a|b@1\nc|d@2\n", 2);
    expect("\"q\"\rc\r\r\ne\n\rf", ',', "q@1\nc@2\ne@4\nf@6\n", 4);
    expect("\"x\ry\",z\r", ',', "x\ry|z@1\n", 1);
    expect("t;joy\ru;sad\r", -1, "t;joy@1\nu;sad@2\n", 2);
    expect("\n\na,b\n\r\n\nc,d", ',', "a|b@3\nc|d@6\n", 2);
    expect("a,\n,\n", ',', "a|@1\n|@2\n", 2);
    expect("\"\"\n", ',', "@1\n", 1);
    expect("\"ab\"c,d\nx\"y,z\n", ',', "abc|d@1\nx\"y|z@2\n", 2);
    expect("a\tb,c\n", '\t', "a|b,c@1\n", 1);
    expect("x;y;z\n\"q,w\"\n", -1, "x;y;z@1\n\"q,w\"@2\n", 2);
    expect("", ',', "", 0);
    expect("\xef\xbb\xbf" ",text,label\n", ',', "|text|label@1\n", 1);

    char out[256], err[256] = "";
    int n = read_all("a,b\n\"open,\n\nmore\n", ',', 1, out, sizeof out, err);
    CHECK(n == -1 && !strncmp(err, "line 2: unterminated quoted field", 33), "unterminated: %s", err);

    big_rows();
    crlf_across_buffer();
    row_limit();
    corpus();
    return check_done("test_csv");
}
