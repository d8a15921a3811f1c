/* Stratified split allocation and assignment (rounding rule in stratify.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data/stratify.h"
#include "util/util.h"

const char *const split_names[NSPLIT] = { "train", "val", "test" };

typedef struct { uint64_t rem; size_t ix; } remainder;

static int by_remainder(const void *a, const void *b)
{
    const remainder *x = a, *y = b;
    if (x->rem != y->rem)
        return x->rem > y->rem ? -1 : 1;
    return x->ix < y->ix ? -1 : x->ix > y->ix;
}

void apportion(uint64_t n, const uint64_t *w, size_t k, uint64_t *out)
{
    uint64_t total = 0, given = 0;
    for (size_t i = 0; i < k; i++)
        total += w[i];
    if (total == 0) {
        memset(out, 0, k * sizeof *out);
        return;
    }
    remainder *r = xmalloc(k * sizeof *r);
    for (size_t i = 0; i < k; i++) {
        out[i] = n * w[i] / total;
        r[i].rem = n * w[i] % total;
        r[i].ix = i;
        given += out[i];
    }
    qsort(r, k, sizeof *r, by_remainder);
    for (size_t j = 0; given < n && j < k; j++, given++)   /* n - given < k */
        out[r[j].ix]++;
    free(r);
}

/* ceil(a * b / c) for c > 0 without overflow for the sizes used here (a < 2^32, b < 2^31) */
static uint64_t ceil_mul_div(uint64_t a, uint64_t b, uint64_t c)
{
    return c ? (a * b + c - 1) / c : 0;
}

void split_totals(uint64_t N, const uint64_t ratio[NSPLIT], uint64_t total[NSPLIT])
{
    uint64_t sum = ratio[SPLIT_TRAIN] + ratio[SPLIT_VAL] + ratio[SPLIT_TEST];
    total[SPLIT_TEST] = ceil_mul_div(N, ratio[SPLIT_TEST], sum);
    uint64_t rest = N - total[SPLIT_TEST];
    total[SPLIT_VAL] = ceil_mul_div(rest, ratio[SPLIT_VAL], ratio[SPLIT_TRAIN] + ratio[SPLIT_VAL]);
    total[SPLIT_TRAIN] = rest - total[SPLIT_VAL];
}

void stratify_counts(const uint64_t *class_n, size_t K, const uint64_t ratio[NSPLIT], uint64_t *counts)
{
    uint64_t N = 0, total[NSPLIT];
    for (size_t c = 0; c < K; c++)
        N += class_n[c];
    split_totals(N, ratio, total);
    uint64_t *test = xmalloc(K * sizeof *test), *rest = xmalloc(K * sizeof *rest),
             *val = xmalloc(K * sizeof *val);
    apportion(total[SPLIT_TEST], class_n, K, test);
    for (size_t c = 0; c < K; c++)
        rest[c] = class_n[c] - test[c];
    apportion(total[SPLIT_VAL], rest, K, val);
    for (size_t c = 0; c < K; c++) {
        counts[c * NSPLIT + SPLIT_TRAIN] = rest[c] - val[c];
        counts[c * NSPLIT + SPLIT_VAL] = val[c];
        counts[c * NSPLIT + SPLIT_TEST] = test[c];
    }
    free(test);
    free(rest);
    free(val);
}

void stratify_assign(const uint32_t *cls, size_t n, size_t K, const uint64_t *counts, uint64_t seed,
                     uint8_t *split)
{
    /* order: record indexes grouped by class (counting sort keeps input order) */
    size_t *start = xcalloc(K + 1, sizeof *start);
    for (size_t i = 0; i < n; i++)
        start[cls[i] + 1]++;
    for (size_t c = 0; c < K; c++)
        start[c + 1] += start[c];
    uint32_t *order = xmalloc((n ? n : 1) * sizeof *order);
    size_t *fill = xmalloc((K ? K : 1) * sizeof *fill);
    memcpy(fill, start, K * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        order[fill[cls[i]]++] = (uint32_t)i;
    rng_t r;
    rng_seed(&r, seed);
    for (size_t c = 0; c < K; c++) {
        uint32_t *idx = order + start[c];
        size_t nc = start[c + 1] - start[c];
        rng_shuffle_u32(&r, idx, nc);
        uint64_t ntrain = counts[c * NSPLIT + SPLIT_TRAIN], nval = counts[c * NSPLIT + SPLIT_VAL];
        for (size_t j = 0; j < nc; j++)
            split[idx[j]] = j < ntrain ? SPLIT_TRAIN : j < ntrain + nval ? SPLIT_VAL : SPLIT_TEST;
    }
    free(order);
    free(fill);
    free(start);
}

/* ---- id map ----------------------------------------------------------------- */

static size_t slot_of(uint64_t id, size_t cap)
{
    uint64_t z = id + 0x9e3779b97f4a7c15ull;   /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (size_t)(z ^ (z >> 31)) & (cap - 1);
}

static void grow(idmap *m)
{
    idmap g = { .cap = m->cap ? m->cap * 2 : 1024 };
    g.key = xmalloc(g.cap * sizeof *g.key);
    g.val = xcalloc(g.cap, 1);
    for (size_t i = 0; i < m->cap; i++)
        if (m->val[i]) {
            size_t h = slot_of(m->key[i], g.cap);
            while (g.val[h])
                h = (h + 1) & (g.cap - 1);
            g.key[h] = m->key[i];
            g.val[h] = m->val[i];
        }
    g.n = m->n;
    idmap_free(m);
    *m = g;
}

int idmap_put(idmap *m, uint64_t id, uint8_t split)
{
    if (2 * (m->n + 1) > m->cap)
        grow(m);
    size_t h = slot_of(id, m->cap);
    for (; m->val[h]; h = (h + 1) & (m->cap - 1))
        if (m->key[h] == id)
            return m->val[h];
    m->key[h] = id;
    m->val[h] = (uint8_t)(split + 1);
    m->n++;
    return 0;
}

int idmap_get(const idmap *m, uint64_t id)
{
    if (!m->cap)
        return -1;
    for (size_t h = slot_of(id, m->cap); m->val[h]; h = (h + 1) & (m->cap - 1))
        if (m->key[h] == id)
            return m->val[h] - 1;
    return -1;
}

void idmap_free(idmap *m)
{
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}

/* ---- assignment TSV ------------------------------------------------------------ */

int assignment_read(const char *path, idmap *m, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[256];
    unsigned long long lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n' && !feof(f)) {
            snprintf(err, errcap, "%s:line %llu: line too long for 'id<TAB>split'", path, lineno);
            rc = -1;
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 || (lineno == 1 && !strcmp(line, "id\tsplit")))
            continue;
        char *tab = strchr(line, '\t'), *end;
        int s = -1;
        if (tab) {
            *tab = '\0';
            for (int k = 0; k < NSPLIT; k++)
                if (!strcmp(tab + 1, split_names[k]))
                    s = k;
        }
        errno = 0;
        unsigned long long id = tab && line[0] >= '0' && line[0] <= '9' ? strtoull(line, &end, 10) : 0;
        if (!tab || s < 0 || line[0] < '0' || line[0] > '9' || *end || errno) {
            snprintf(err, errcap, "%s:line %llu: expected 'id<TAB>train|val|test'", path, lineno);
            rc = -1;
            break;
        }
        if (idmap_put(m, id, (uint8_t)s)) {
            snprintf(err, errcap, "%s:line %llu: id %llu assigned twice", path, lineno, id);
            rc = -1;
            break;
        }
    }
    if (!rc && ferror(f)) {
        snprintf(err, errcap, "%s: read error", path);
        rc = -1;
    }
    fclose(f);
    return rc;
}
