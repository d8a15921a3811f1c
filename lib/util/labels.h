/* Class names, once, on the ground floor: the model, the teacher cache, the training data,
 * the metrics and the tools all spell labels with what this header gives.
 *
 *   labelset    a model's classes in class-id order (its id2label): at most LABELS_MAX
 *               names of 1 to LABEL_BYTES - 1 bytes, a fixed-size value copied by
 *               assignment.  model_config and shard_meta carry the same two fields
 *               (K, the engine's letter for classes, and labels[LABELS_MAX][LABEL_BYTES]).
 *   strtab      a string table: strings interned to dense ids in order of first appearance
 *               (open addressing over FNV-1a, load at most 1/2), any number and length;
 *               for names read from data (labels of a record stream, stopwords, classes
 *               of a prediction set), sorted into byte order at the end.
 *   list_next   the one splitter of "a,b,c" option values (any one-byte separator).
 *
 * Library code: functions that can fail return -1 with a message in err (n bytes);
 * allocation failure exits through xmalloc, as everywhere. */
#ifndef EMO_LABELS_H
#define EMO_LABELS_H

#include <stddef.h>
#include <stdint.h>

#define LABELS_MAX 64       /* classes a model, a cache or a training set has at most */
#define LABEL_BYTES 64      /* a class name's bytes with its NUL */

/* ---- lists ---------------------------------------------------------------------- */

/* The next item of a sep-separated list: returns its start and sets *len, and moves *p
 * past the item and its separator (NULL after the last); returns NULL once *p is NULL.
 * Every separator ends an item: "a,,b" is a, "", b; "" is one empty item; "a," ends with
 * an empty item.  A caller that reads lists as strtok(3) does skips the empty items.
 *
 *     for (const char *q = list, *t; (t = list_next(&q, ',', &len));) ... */
const char *list_next(const char **p, int sep, size_t *len);

/* The non-empty items of a sep-separated list (strtok(3)'s reading: empty items are
 * skipped) as NUL-terminated strings; *n their number (0 for a list of separators alone).
 * One allocation: free() the result. */
char **xlist_split(const char *list, int sep, size_t *n);

/* ---- a model's label set ---------------------------------------------------------- */

typedef struct labelset {
    int K;
    char names[LABELS_MAX][LABEL_BYTES];
} labelset;

/* Class id of name (len bytes), or -1. */
int labelset_find(const labelset *ls, const char *name, size_t len);
/* Appends name: its class id, or -1 with "label 'x' is empty or longer than 63 bytes",
 * "label 'x' given twice" or "more than 64 labels" in err. */
int labelset_add(labelset *ls, const char *name, size_t len, char *err, size_t errn);
/* "a,b,c" -> ls (emptied first); -1 with labelset_add's message on an empty or duplicate
 * name, or more than LABELS_MAX names. */
int labelset_parse(labelset *ls, const char *list, char *err, size_t errn);
/* "sadness, joy, ..." into buf (n bytes; cut short when full), for "unknown label" messages. */
void labelset_format(const labelset *ls, char *buf, size_t n);
/* Sorts the names into byte order; newid[old class id] = new one (newid may be NULL). */
void labelset_sort(labelset *ls, int *newid);

/* ---- string table ----------------------------------------------------------------- */

typedef struct strtab {
    char **name;            /* (n) the strings by id, each NUL-terminated */
    size_t *len;            /* (n) their lengths (a string read from data may hold a NUL) */
    size_t n;
    uint32_t *slot;         /* (cap) id + 1, 0 = empty; cap a power of two or 0 */
    size_t cap, room;       /* slots; capacity of name and len */
} strtab;                   /* zeroed = empty */

/* 64-bit FNV-1a of n bytes: the table's hash. */
uint64_t fnv1a(const void *s, size_t n);

/* The id of s (n bytes), interned as a new id (n, then n + 1) when it is not there yet. */
uint32_t strtab_add(strtab *t, const char *s, size_t n);
/* The id of s, or -1 when it is not in the table. */
int64_t strtab_find(const strtab *t, const char *s, size_t n);
/* Renumbers the strings into byte order (memcmp, then the shorter first: strcmp's order
 * for strings without NUL); remap[old id] = new id (remap NULL: not wanted). */
void strtab_sort(strtab *t, uint32_t *remap);
void strtab_free(strtab *t);

#endif
