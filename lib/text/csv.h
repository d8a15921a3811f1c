/* Streaming reader for delimited text: RFC 4180 CSV/TSV (quoted fields with embedded
 * delimiters, doubled quotes and newlines) and plain line files.
 *
 * The reader owns one input buffer (1 MiB) and one row buffer that grows to the longest
 * row seen, never past CSV_MAX_ROW_BYTES, so memory does not depend on the input size.
 * Every byte is looked at once: a 1 MB line costs linear time.
 *
 * Leniency follows Python's csv module: a quote inside an unquoted field is literal,
 * and text after a closing quote is appended to the field.  The only malformed quoting
 * is a quoted field still open at end of file, reported with the line it started on.
 * A line ends at "\n", "\r\n" or a lone "\r" (old Mac files), outside quotes; blank lines
 * are skipped, and so is a UTF-8 byte order mark at the start of the input. */
#ifndef EMO_CSV_H
#define EMO_CSV_H

#include <stddef.h>
#include <stdint.h>

#define CSV_MAX_ROW_BYTES (32u << 20)

typedef struct csv_reader csv_reader;

typedef struct csv_row {
    size_t nfields;
    char **field;        /* NUL-terminated, valid until the next csv_next */
    const size_t *len;   /* byte length of each field */
    uint64_t line;       /* 1-based line the row starts on */
} csv_row;

/* delim: ',' or '\t', or -1 for one field per line.  quoting: honour '"' quoting.
 * path NULL or "-" is stdin ("<stdin>" in messages).  NULL with errno on failure. */
csv_reader *csv_open(const char *path, int delim, int quoting);
/* Change delimiter and quoting from the next row on (after sniffing a first line). */
void csv_set_mode(csv_reader *r, int delim, int quoting);
/* Return a blank line as a row of one empty field instead of skipping it (files of one
 * text a line, where every line needs its answer). */
void csv_keep_blank(csv_reader *r, int keep);
/* Call fn(arg) whenever the reader is about to wait for more input (before each read
 * after the first): a streaming consumer answers what it holds before blocking. */
void csv_set_wait_hook(csv_reader *r, void (*fn)(void *), void *arg);
/* 1: a row; 0: end of input; -1: error (csv_error) */
int csv_next(csv_reader *r, csv_row *row);
/* "line N: reason" for the last error */
const char *csv_error(const csv_reader *r);
const char *csv_name(const csv_reader *r);
/* bytes read so far, and the number of the last line seen (1-based) */
uint64_t csv_bytes(const csv_reader *r);
uint64_t csv_lines(const csv_reader *r);
void csv_close(csv_reader *r);

#endif
