/* Class names, label sets, the string table and the list splitter (labels.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/labels.h"
#include "util/util.h"

/* ---- lists ---------------------------------------------------------------------- */

const char *list_next(const char **p, int sep, size_t *len)
{
    const char *s = *p;
    if (!s)
        return NULL;
    const char *e = strchr(s, sep);
    *len = e ? (size_t)(e - s) : strlen(s);
    *p = e ? e + 1 : NULL;
    return s;
}

char **xlist_split(const char *list, int sep, size_t *n)
{
    size_t items = 1, bytes = strlen(list) + 1;
    for (const char *c = list; *c; c++)
        items += *c == sep;
    char **out = xmalloc(items * sizeof *out + bytes);
    char *store = (char *)(out + items);
    size_t k = 0, len;
    for (const char *q = list, *t; (t = list_next(&q, sep, &len));) {
        if (!len)
            continue;
        memcpy(store, t, len);
        store[len] = '\0';
        out[k++] = store;
        store += len + 1;
    }
    *n = k;
    return out;
}

/* ---- a model's label set ---------------------------------------------------------- */

int labelset_find(const labelset *ls, const char *name, size_t len)
{
    for (int k = 0; k < ls->K; k++)
        if (strlen(ls->names[k]) == len && !memcmp(ls->names[k], name, len))
            return k;
    return -1;
}

int labelset_add(labelset *ls, const char *name, size_t len, char *err, size_t errn)
{
    if (len == 0 || len >= LABEL_BYTES)
        return errbuf_fail(err, errn, "label '%.*s' is empty or longer than %d bytes", (int)(len > 80 ? 80 : len),
                           name, LABEL_BYTES - 1);
    if (labelset_find(ls, name, len) >= 0)
        return errbuf_fail(err, errn, "label '%.*s' given twice", (int)len, name);
    if (ls->K >= LABELS_MAX)
        return errbuf_fail(err, errn, "more than %d labels", LABELS_MAX);
    memcpy(ls->names[ls->K], name, len);
    ls->names[ls->K][len] = '\0';
    return ls->K++;
}

int labelset_parse(labelset *ls, const char *list, char *err, size_t errn)
{
    memset(ls, 0, sizeof *ls);
    size_t len;
    for (const char *q = list, *t; (t = list_next(&q, ',', &len));)
        if (labelset_add(ls, t, len, err, errn) < 0)
            return -1;
    return 0;
}

void labelset_format(const labelset *ls, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < ls->K && k + 1 < n; i++) {
        int w = snprintf(buf + k, n - k, "%s%s", i ? ", " : "", ls->names[i]);
        if (w < 0)
            break;
        k += (size_t)w;
    }
}

void labelset_sort(labelset *ls, int *newid)
{
    int order[LABELS_MAX];
    for (int k = 0; k < ls->K; k++)
        order[k] = k;
    for (int i = 1; i < ls->K; i++)          /* insertion sort by name: K is small */
        for (int j = i; j > 0 && strcmp(ls->names[order[j - 1]], ls->names[order[j]]) > 0; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    labelset old = *ls;
    for (int k = 0; k < ls->K; k++) {
        if (newid)
            newid[order[k]] = k;
        memcpy(ls->names[k], old.names[order[k]], LABEL_BYTES);
    }
}

/* ---- string table ----------------------------------------------------------------- */

uint64_t fnv1a(const void *s, size_t n)
{
    const unsigned char *p = s;
    uint64_t h = 14695981039346656037ULL;   /* the offset basis */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* The slot holding s, or the empty slot where it would go. */
static uint32_t *strtab_slot(const strtab *t, const char *s, size_t n)
{
    size_t i = (size_t)fnv1a(s, n) & (t->cap - 1);
    for (; t->slot[i]; i = (i + 1) & (t->cap - 1)) {
        uint32_t id = t->slot[i] - 1;
        if (t->len[id] == n && !memcmp(t->name[id], s, n))
            break;
    }
    return &t->slot[i];
}

static void strtab_rehash(strtab *t, size_t cap)
{
    free(t->slot);
    t->slot = xcalloc(cap, sizeof *t->slot);
    t->cap = cap;
    for (size_t id = 0; id < t->n; id++) {
        size_t i = (size_t)fnv1a(t->name[id], t->len[id]) & (cap - 1);
        while (t->slot[i])
            i = (i + 1) & (cap - 1);
        t->slot[i] = (uint32_t)id + 1;
    }
}

uint32_t strtab_add(strtab *t, const char *s, size_t n)
{
    if (2 * (t->n + 1) > t->cap)             /* keep the load at most 1/2 */
        strtab_rehash(t, t->cap ? 2 * t->cap : 16);
    uint32_t *sl = strtab_slot(t, s, n);
    if (*sl)
        return *sl - 1;
    if (t->n == t->room) {
        t->room = t->room ? 2 * t->room : 16;
        t->name = xreallocarray(t->name, t->room, sizeof *t->name);
        t->len = xreallocarray(t->len, t->room, sizeof *t->len);
    }
    char *copy = xmalloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->name[t->n] = copy;
    t->len[t->n] = n;
    *sl = (uint32_t)++t->n;
    return (uint32_t)t->n - 1;
}

int64_t strtab_find(const strtab *t, const char *s, size_t n)
{
    if (!t->cap)
        return -1;
    uint32_t *sl = strtab_slot(t, s, n);
    return *sl ? (int64_t)*sl - 1 : -1;
}

typedef struct named { const char *s; size_t n; uint32_t id; } named;

static int by_bytes(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

void strtab_sort(strtab *t, uint32_t *remap)
{
    if (!t->n)
        return;
    named *v = xmalloc(t->n * sizeof *v);
    for (size_t id = 0; id < t->n; id++)
        v[id] = (named){ t->name[id], t->len[id], (uint32_t)id };
    qsort(v, t->n, sizeof *v, by_bytes);
    for (size_t k = 0; k < t->n; k++) {
        if (remap)
            remap[v[k].id] = (uint32_t)k;
        t->name[k] = (char *)v[k].s;
        t->len[k] = v[k].n;
    }
    free(v);
    strtab_rehash(t, t->cap);
}

void strtab_free(strtab *t)
{
    for (size_t id = 0; id < t->n; id++)
        free(t->name[id]);
    free(t->name);
    free(t->len);
    free(t->slot);
    memset(t, 0, sizeof *t);
}
