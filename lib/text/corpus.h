/* Corpus files as users have them, read row by row into (id, text, label):
 *   kaggle     the Kaggle text.csv: header ",text,label", first column the source's own
 *              index (becomes the id), RFC 4180 quoting.  The header may be absent (a
 *              chunk cut by GNU parallel): a first row whose first field is a number is data.
 *   semicolon  "text;label" lines; the label is after the LAST ';'.
 *   lines      one text a line, no label (unlabeled tweets); rows have label NULL.
 *   csv, tsv   a header row naming the columns (text_col, label_col, optional id_col),
 *              RFC 4180 quoting.
 * Without an id column the id is the 1-based data line (the line a row starts on, less
 * the header) plus id_offset, so chunks of one file cleaned in parallel keep the ids a
 * single run would give when each chunk is told how many data lines precede it.
 * Labels lose NUL bytes (a label is a C string to its readers) and surrounding spaces. */
#ifndef EMO_CORPUS_H
#define EMO_CORPUS_H

#include <stddef.h>
#include <stdint.h>

enum corpus_format { CORPUS_AUTO, CORPUS_KAGGLE, CORPUS_SEMICOLON, CORPUS_CSV, CORPUS_TSV, CORPUS_LINES };

typedef struct corpus_opts {
    int format;                 /* enum corpus_format */
    const char *text_col;       /* csv/tsv column names (defaults "text", "label") */
    const char *label_col;
    const char *id_col;         /* NULL: id from the line number */
    uint64_t id_offset;
} corpus_opts;

typedef struct corpus_row {
    uint64_t id;
    const char *text, *label;   /* not validated as UTF-8; valid until the next call;
                                 * label is NULL for the lines format */
    size_t text_len, label_len;
    uint64_t line;              /* physical line the row starts on */
} corpus_row;

typedef struct corpus_reader corpus_reader;

/* Parses a format name ("kaggle", ...); -1 if unknown. */
int corpus_format_parse(const char *s);
const char *corpus_format_name(int format);

/* Opens path (NULL or "-" = stdin) and reads the header.  On failure returns NULL with
 * a message "<file>: reason" or "<file>:line N: reason" in err. */
corpus_reader *corpus_open(const char *path, const corpus_opts *o, char *err, size_t errcap);
/* 1: a row; 0: end; -1: error, message (with file and line) in corpus_error */
int corpus_next(corpus_reader *c, corpus_row *row);
const char *corpus_error(const corpus_reader *c);
/* The format in use (after autodetection). */
int corpus_format(const corpus_reader *c);
/* Data lines seen so far (for numbering the next file when several are read). */
uint64_t corpus_data_lines(const corpus_reader *c);
void corpus_close(corpus_reader *c);

#endif
