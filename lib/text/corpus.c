/* Corpus formats over the delimited-text reader (formats in corpus.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "text/corpus.h"
#include "text/csv.h"
#include "util/util.h"

struct corpus_reader {
    csv_reader *csv;
    int format;
    size_t text_ix, label_ix, id_ix;   /* column indexes (csv-like formats) */
    int has_id;
    uint64_t header_lines;              /* lines before the first data line */
    uint64_t id_offset;
    uint64_t last_line;
    int pending;                        /* the row in `first` is data, not yet returned */
    csv_row first;
    char err[512];
};

static const char *const format_names[] = { "auto", "kaggle", "semicolon", "csv", "tsv", "lines" };

int corpus_format_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof format_names / sizeof *format_names); i++)
        if (!strcmp(s, format_names[i]))
            return i;
    return -1;
}

const char *corpus_format_name(int format) { return format_names[format]; }
const char *corpus_error(const corpus_reader *c) { return c->err; }
int corpus_format(const corpus_reader *c) { return c->format; }

uint64_t corpus_data_lines(const corpus_reader *c)
{
    return c->last_line > c->header_lines ? c->last_line - c->header_lines : 0;
}

static int cfail(corpus_reader *c, uint64_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cfail(corpus_reader *c, uint64_t line, const char *fmt, ...)
{
    int n = line ? snprintf(c->err, sizeof c->err, "%s:line %llu: ", csv_name(c->csv), (unsigned long long)line)
                 : snprintf(c->err, sizeof c->err, "%s: ", csv_name(c->csv));
    if (n < 0 || (size_t)n >= sizeof c->err)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* csv errors come as "line N: reason" */
static int csv_fail(corpus_reader *c)
{
    snprintf(c->err, sizeof c->err, "%s:%s", csv_name(c->csv), csv_error(c->csv));
    return -1;
}

/* Splits one header line (quote-aware, no embedded newlines) into fields.  Fields are
 * NUL-terminated pieces of a copy; returns the count; *store must be freed. */
static size_t split_line(const char *s, size_t n, int delim, char ***fields, char **store)
{
    char *d = xmalloc(n + 1);
    size_t cap = 8, nf = 0, w = 0, start = 0, i = 0;
    char **f = xmalloc(cap * sizeof *f);
    size_t *offs = xmalloc(cap * sizeof *offs);
    for (;;) {
        int q = i < n && s[i] == '"';
        if (q)
            i++;
        while (i < n) {
            if (q && s[i] == '"') {
                if (i + 1 < n && s[i + 1] == '"') {
                    d[w++] = '"';
                    i += 2;
                    continue;
                }
                q = 0;
                i++;
                continue;
            }
            if (!q && s[i] == delim)
                break;
            d[w++] = s[i++];
        }
        if (nf == cap) {
            cap *= 2;
            f = xreallocarray(f, cap, sizeof *f);
            offs = xreallocarray(offs, cap, sizeof *offs);
        }
        offs[nf++] = start;
        d[w++] = '\0';
        start = w;
        if (i >= n)
            break;
        i++;                           /* the delimiter */
        if (i == n) {                  /* trailing delimiter: one more empty field */
            if (nf == cap) {
                cap *= 2;
                f = xreallocarray(f, cap, sizeof *f);
                offs = xreallocarray(offs, cap, sizeof *offs);
            }
            offs[nf++] = start;
            d = xrealloc(d, n + 2);
            d[w++] = '\0';
            break;
        }
    }
    for (size_t k = 0; k < nf; k++)
        f[k] = d + offs[k];
    free(offs);
    *fields = f;
    *store = d;
    return nf;
}

static int find_col(char **names, size_t nf, const char *want, size_t *ix)
{
    for (size_t i = 0; i < nf; i++)
        if (!strcmp(names[i], want)) {
            *ix = i;
            return 0;
        }
    return -1;
}

/* Resolve column names against a header row. */
static int use_header(corpus_reader *c, char **names, size_t nf, const corpus_opts *o, uint64_t line)
{
    const char *tc = o->text_col ? o->text_col : "text", *lc = o->label_col ? o->label_col : "label";
    c->header_lines = line;
    if (find_col(names, nf, tc, &c->text_ix) < 0)
        return cfail(c, line, "no column '%s' in the header (use --text-col)", tc);
    if (find_col(names, nf, lc, &c->label_ix) < 0)
        return cfail(c, line, "no column '%s' in the header (use --label-col)", lc);
    if (c->format == CORPUS_KAGGLE) {
        c->id_ix = 0;
        c->has_id = 1;
    } else if (o->id_col) {
        if (find_col(names, nf, o->id_col, &c->id_ix) < 0)
            return cfail(c, line, "no column '%s' in the header (use --id-col)", o->id_col);
        c->has_id = 1;
    }
    return 0;
}

static int is_uint(const char *s, size_t n)
{
    if (n == 0 || n > 19)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Reads the first line raw and decides the format (rules in emo-clean(1)). */
static int sniff(corpus_reader *c, const corpus_opts *o)
{
    csv_row row;
    int k = csv_next(c->csv, &row);
    if (k < 0)
        return csv_fail(c);
    if (k == 0)
        return 0;
    const char *s = row.field[0];
    size_t n = row.len[0];
    char **names, *store;
    size_t nf = split_line(s, n, ',', &names, &store);
    int rc = 0;
    if (nf == 3 && names[0][0] == '\0' &&
        !strcmp(names[1], "text") && !strcmp(names[2], "label")) {
        c->format = CORPUS_KAGGLE;
        csv_set_mode(c->csv, ',', 1);
        rc = use_header(c, names, nf, o, row.line);
    } else if (o->text_col || o->label_col || o->id_col) {
        int delim = memchr(s, '\t', n) ? '\t' : ',';
        c->format = delim == '\t' ? CORPUS_TSV : CORPUS_CSV;
        if (delim == '\t') {
            free(names);
            free(store);
            nf = split_line(s, n, '\t', &names, &store);
        }
        csv_set_mode(c->csv, delim, 1);
        rc = use_header(c, names, nf, o, row.line);
    } else if (memchr(s, ';', n)) {
        c->format = CORPUS_SEMICOLON;
        c->first = row;
        c->pending = 1;
    } else {
        rc = cfail(c, row.line, "cannot tell the format from the first line; give --format");
    }
    free(names);
    free(store);
    return rc;
}

corpus_reader *corpus_open(const char *path, const corpus_opts *o, char *err, size_t errcap)
{
    int fmt = o->format;
    int delim = fmt == CORPUS_TSV ? '\t' : fmt == CORPUS_KAGGLE || fmt == CORPUS_CSV ? ',' : -1;
    int quoting = delim != -1;
    csv_reader *csv = csv_open(path, delim, quoting);
    if (!csv) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    corpus_reader *c = xcalloc(1, sizeof *c);
    c->csv = csv;
    c->format = fmt;
    c->id_offset = o->id_offset;
    int rc = 0;
    if (fmt == CORPUS_AUTO) {
        rc = sniff(c, o);
    } else if (fmt == CORPUS_SEMICOLON || fmt == CORPUS_LINES) {
        int k = csv_next(csv, &c->first);
        if (k < 0)
            rc = csv_fail(c);
        c->pending = k == 1;
    } else {
        csv_row row;
        int k = csv_next(csv, &row);
        if (k < 0)
            rc = csv_fail(c);
        else if (k == 1 && fmt == CORPUS_KAGGLE && row.nfields >= 3 && is_uint(row.field[0], row.len[0])) {
            /* headerless chunk: index, text, label */
            c->id_ix = 0;
            c->text_ix = 1;
            c->label_ix = 2;
            c->has_id = 1;
            c->first = row;
            c->pending = 1;
        } else if (k == 1) {
            rc = use_header(c, row.field, row.nfields, o, row.line);
        }
    }
    if (rc < 0) {
        snprintf(err, errcap, "%s", c->err);
        corpus_close(c);
        return NULL;
    }
    if (csv_bytes(csv) == 0) {
        snprintf(err, errcap, "%s: empty input", csv_name(csv));
        corpus_close(c);
        return NULL;
    }
    return c;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t' || **s == '\r' || **s == '\n')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r' || (*s)[*n - 1] == '\n'))
        (*n)--;
}

/* Drop NUL bytes from a label in place (the text's cleaning drops them too): a label is
 * a C string to its readers, and "joy\0x" would be a class of its own that prints as
 * "joy".  s points into the reader's row buffer; returns the new length. */
static size_t strip_nul(char *s, size_t n)
{
    if (!memchr(s, '\0', n))
        return n;
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '\0')
            s[w++] = s[i];
    s[w] = '\0';
    return w;
}

int corpus_next(corpus_reader *c, corpus_row *out)
{
    csv_row row;
    if (c->pending) {
        row = c->first;
        c->pending = 0;
    } else {
        int k = csv_next(c->csv, &row);
        if (k < 0)
            return csv_fail(c);
        if (k == 0)
            return 0;
    }
    c->last_line = row.line;
    out->line = row.line;
    out->id = c->id_offset + row.line - c->header_lines;
    if (c->format == CORPUS_LINES) {
        out->text = row.field[0];
        out->text_len = row.len[0];
        out->label = NULL;
        out->label_len = 0;
        return 1;
    }
    if (c->format == CORPUS_SEMICOLON) {
        const char *s = row.field[0];
        size_t n = row.len[0];
        const char *semi = s + n;
        while (semi > s && semi[-1] != ';')
            semi--;
        if (semi-- == s)
            return cfail(c, row.line, "no ';' in the line (expected text;label)");
        out->text = s;
        out->text_len = (size_t)(semi - s);
        out->label = semi + 1;
        out->label_len = n - out->text_len - 1;
    } else {
        size_t need = c->text_ix;
        if (c->label_ix > need)
            need = c->label_ix;
        if (c->has_id && c->id_ix > need)
            need = c->id_ix;
        if (row.nfields <= need)
            return cfail(c, row.line, "%zu field%s, expected at least %zu", row.nfields,
                         row.nfields == 1 ? "" : "s", need + 1);
        out->text = row.field[c->text_ix];
        out->text_len = row.len[c->text_ix];
        out->label = row.field[c->label_ix];
        out->label_len = row.len[c->label_ix];
        if (c->has_id) {
            const char *s = row.field[c->id_ix];
            size_t n = row.len[c->id_ix];
            trim(&s, &n);
            if (!is_uint(s, n))
                return cfail(c, row.line, "id '%.40s' is not a non-negative integer", row.field[c->id_ix]);
            errno = 0;
            out->id = strtoull(s, NULL, 10);
            if (errno)
                return cfail(c, row.line, "id '%.40s' is out of range", row.field[c->id_ix]);
        }
    }
    out->label_len = strip_nul((char *)out->label, out->label_len);
    trim(&out->label, &out->label_len);
    return 1;
}

void corpus_close(corpus_reader *c)
{
    if (!c)
        return;
    csv_close(c->csv);
    free(c);
}
