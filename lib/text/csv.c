/* Delimited-text reader: a byte-at-a-time RFC 4180 state machine over a fixed input
 * buffer.  Bytes are copied once into the row buffer as they are parsed (quotes undone),
 * so a row that spans many reads is never rescanned.  Format notes in csv.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/csv.h"
#include "util/util.h"

#define IN_BYTES (1u << 20)

enum { FIELD_START, UNQUOTED, QUOTED, AFTER_QUOTE };

struct csv_reader {
    int fd;
    char *name;
    int delim, quoting;
    unsigned char *in;
    size_t ipos, iend;
    int eof;
    char *row;            /* fields, each NUL-terminated */
    size_t rlen, rcap;
    size_t *off, *flen;   /* per field: offset in row, length */
    char **fptr;
    size_t nf, fcap;
    uint64_t line;        /* line of the next unread byte */
    int skip_lf;          /* the last row ended at a '\r': a '\n' right after it is part of that end */
    uint64_t bytes;
    int keep_blank;
    void (*wait_hook)(void *);
    void *wait_arg;
    char err[256];
};

csv_reader *csv_open(const char *path, int delim, int quoting)
{
    int fd = STDIN_FILENO;
    const char *name = "<stdin>";
    if (path && strcmp(path, "-")) {
        fd = open(path, O_RDONLY);
        if (fd < 0)
            return NULL;
        name = path;
    }
    csv_reader *r = xcalloc(1, sizeof *r);
    r->fd = fd;
    r->name = xstrdup(name);
    r->delim = delim;
    r->quoting = quoting;
    r->in = xmalloc(IN_BYTES);
    r->rcap = 4096;
    r->row = xmalloc(r->rcap);
    r->fcap = 16;
    r->off = xmalloc(r->fcap * sizeof *r->off);
    r->flen = xmalloc(r->fcap * sizeof *r->flen);
    r->fptr = xmalloc(r->fcap * sizeof *r->fptr);
    r->line = 1;
    return r;
}

void csv_set_mode(csv_reader *r, int delim, int quoting)
{
    r->delim = delim;
    r->quoting = quoting;
}

void csv_keep_blank(csv_reader *r, int keep) { r->keep_blank = keep; }

void csv_set_wait_hook(csv_reader *r, void (*fn)(void *), void *arg)
{
    r->wait_hook = fn;
    r->wait_arg = arg;
}

const char *csv_error(const csv_reader *r) { return r->err; }
const char *csv_name(const csv_reader *r) { return r->name; }
uint64_t csv_bytes(const csv_reader *r) { return r->bytes; }
uint64_t csv_lines(const csv_reader *r) { return r->line; }

static int fail(csv_reader *r, uint64_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(csv_reader *r, uint64_t line, const char *fmt, ...)
{
    int n = snprintf(r->err, sizeof r->err, "line %llu: ", (unsigned long long)line);
    if (n < 0 || (size_t)n >= sizeof r->err)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Append n bytes to the current field; -1 past the row limit. */
static int append(csv_reader *r, const void *p, size_t n)
{
    if (r->rlen + n + 1 > CSV_MAX_ROW_BYTES)
        return -1;
    if (r->rlen + n + 1 > r->rcap) {
        size_t cap = r->rcap;
        while (cap < r->rlen + n + 1)
            cap *= 2;
        if (cap > CSV_MAX_ROW_BYTES)
            cap = CSV_MAX_ROW_BYTES;
        r->row = xrealloc(r->row, cap);
        r->rcap = cap;
    }
    memcpy(r->row + r->rlen, p, n);
    r->rlen += n;
    return 0;
}

/* Close the current field (which started at *start): NUL-terminate and record it. */
static void end_field(csv_reader *r, size_t *start)
{
    if (r->nf == r->fcap) {
        r->fcap *= 2;
        r->off = xreallocarray(r->off, r->fcap, sizeof *r->off);
        r->flen = xreallocarray(r->flen, r->fcap, sizeof *r->flen);
        r->fptr = xreallocarray(r->fptr, r->fcap, sizeof *r->fptr);
    }
    r->off[r->nf] = *start;
    r->flen[r->nf] = r->rlen - *start;
    r->nf++;
    r->row[r->rlen++] = '\0';   /* append() always leaves room for it */
    *start = r->rlen;
}

static int refill(csv_reader *r)
{
    r->ipos = r->iend = 0;
    for (;;) {
        ssize_t n = read(r->fd, r->in, IN_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(r->err, sizeof r->err, "read error: %s", strerror(errno));
            return -1;
        }
        if (n == 0)
            r->eof = 1;
        r->iend = (size_t)n;
        /* a UTF-8 byte order mark (Excel's CSV export) is not part of the first field */
        if (r->bytes == 0 && n >= 3 && !memcmp(r->in, "\xef\xbb\xbf", 3))
            r->ipos = 3;
        r->bytes += (size_t)n;
        return 0;
    }
}

static void finish(csv_reader *r, csv_row *row, uint64_t row_line)
{
    for (size_t i = 0; i < r->nf; i++)
        r->fptr[i] = r->row + r->off[i];
    row->nfields = r->nf;
    row->field = r->fptr;
    row->len = r->flen;
    row->line = row_line;
}

/* First line end ('\n' or '\r') in [p, e), or e. */
static const unsigned char *line_end(const unsigned char *p, const unsigned char *e)
{
    const unsigned char *q = memchr(p, '\n', (size_t)(e - p));
    const unsigned char *c = memchr(p, '\r', (size_t)((q ? q : e) - p));
    return c ? c : q ? q : e;
}

int csv_next(csv_reader *r, csv_row *row)
{
    int state = FIELD_START, quoted = 0;
    size_t start = 0;
    uint64_t row_line = r->line, quote_line = 0;
    r->rlen = 0;
    r->nf = 0;
    for (;;) {
        if (r->ipos == r->iend) {
            if (r->eof)
                break;
            if (r->wait_hook && r->bytes)
                r->wait_hook(r->wait_arg);
            if (refill(r) < 0)
                return -1;
            continue;
        }
        const unsigned char *p = r->in + r->ipos, *e = r->in + r->iend, *q;
        if (r->skip_lf) {             /* the '\n' of a CRLF whose '\r' ended the last row */
            r->skip_lf = 0;
            if (*p == '\n') {
                r->ipos++;
                continue;
            }
        }
        switch (state) {
        case FIELD_START:
            quoted = 0;
            if (r->quoting && *p == '"') {
                state = QUOTED;
                quoted = 1;
                quote_line = r->line;
                r->ipos++;
            } else {
                state = UNQUOTED;
            }
            break;
        case UNQUOTED:
            if (r->delim < 0)
                q = line_end(p, e);
            else
                for (q = p; q < e && *q != r->delim && *q != '\n' && *q != '\r'; q++)
                    ;
            if (append(r, p, (size_t)(q - p)) < 0)
                return fail(r, row_line, "row longer than %u bytes", CSV_MAX_ROW_BYTES);
            r->ipos += (size_t)(q - p);
            if (q == e)
                break;
            r->ipos++;
            if (*q != '\n' && *q != '\r') {   /* delimiter */
                end_field(r, &start);
                state = FIELD_START;
                break;
            }
            r->skip_lf = *q == '\r';
            r->line++;
            if (r->nf == 0 && r->rlen == 0 && !quoted && !r->keep_blank) {   /* blank line */
                row_line = r->line;
                state = FIELD_START;
                break;
            }
            end_field(r, &start);
            finish(r, row, row_line);
            return 1;
        case QUOTED:
            q = memchr(p, '"', (size_t)(e - p));
            if (!q)
                q = e;
            for (const unsigned char *s = p; (s = memchr(s, '\n', (size_t)(q - s))) != NULL; s++)
                r->line++;
            if (append(r, p, (size_t)(q - p)) < 0)
                return fail(r, quote_line, "quoted field longer than %u bytes (unterminated quote?)",
                            CSV_MAX_ROW_BYTES);
            r->ipos += (size_t)(q - p);
            if (q < e) {
                r->ipos++;
                state = AFTER_QUOTE;
            }
            break;
        case AFTER_QUOTE:
            if (*p == '"') {           /* doubled quote */
                if (append(r, p, 1) < 0)
                    return fail(r, quote_line, "row longer than %u bytes", CSV_MAX_ROW_BYTES);
                r->ipos++;
                state = QUOTED;
            } else if ((int)*p == r->delim) {
                r->ipos++;
                end_field(r, &start);
                state = FIELD_START;
            } else if (*p == '\n' || *p == '\r') {
                r->skip_lf = *p == '\r';
                r->ipos++;
                r->line++;
                end_field(r, &start);
                finish(r, row, row_line);
                return 1;
            } else {
                state = UNQUOTED;      /* "abc"def reads as abcdef, as Python's csv does */
            }
            break;
        }
    }
    /* end of input */
    if (state == QUOTED)
        return fail(r, quote_line, "unterminated quoted field (quote opened on this line, "
                    "still open at end of input)");
    if (state == FIELD_START && r->nf == 0)
        return 0;
    if (r->nf == 0 && r->rlen == 0 && !quoted)
        return 0;
    end_field(r, &start);
    finish(r, row, row_line);
    return 1;
}

void csv_close(csv_reader *r)
{
    if (!r)
        return;
    if (r->fd != STDIN_FILENO)
        close(r->fd);
    free(r->name);
    free(r->in);
    free(r->row);
    free(r->off);
    free(r->flen);
    free(r->fptr);
    free(r);
}
