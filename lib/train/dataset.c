/* Training data in memory, label sets, per-epoch shuffles and dynamic batches (dataset.h). */
#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/rec.h"
#include "train/dataset.h"
#include "util/rng.h"
#include "util/util.h"

size_t dataset_num_batches(size_t n, size_t B) { return (n + B - 1) / B; }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void dataset_load(dataset *ds, const char *path, labelset *ls, unsigned flags, int max_len)
{
    memset(ds, 0, sizeof *ds);
    rec_reader *r = rec_reader_open(path);
    if (!r)
        err(EXIT_DATA, "%s", path);
    ds->name = xstrdup(rec_reader_name(r));
    textcfg_from_header(&ds->text, rec_reader_header(r));
    size_t cap = 0, tokcap = 0, ntok = 0;
    int32_t *ids = xmalloc(sizeof(int32_t) * 65536);
    rec_t rec;
    while (rec_read_or_die(r, &rec)) {
        if (ds->n == cap) {
            cap = cap ? 2 * cap : 4096;
            ds->rec_id = xreallocarray(ds->rec_id, cap, sizeof *ds->rec_id);
            ds->label = xreallocarray(ds->label, cap, sizeof *ds->label);
            ds->len = xreallocarray(ds->len, cap, sizeof *ds->len);
            ds->off = xreallocarray(ds->off, cap, sizeof *ds->off);
        }
        uint64_t id = rec_need_u64(r, &rec, "id");
        size_t n = rec_need_ids(r, &rec, "input_ids", ids, 65536);
        if (n == 0)
            rec_die(r, "id %llu: empty input_ids", (unsigned long long)id);
        if (max_len > 0 && n > (size_t)max_len)
            rec_die(r, "id %llu: %zu tokens, the model takes at most %d", (unsigned long long)id, n, max_len);
        const char *lab;
        size_t lablen;
        int k = rec_get_str(&rec, "label", &lab, &lablen);
        int cls = -1;
        if (k == -2)
            rec_die(r, "field 'label' is not a string");
        if (k == -1 && (flags & DS_REQUIRE_LABEL))
            rec_die(r, "missing field 'label'");
        if (k == 0 && memchr(lab, '\0', lablen))      /* "joy\0x" would be a class printed as "joy" */
            rec_die(r, "field 'label' holds a NUL byte");
        if (k == 0) {
            cls = labelset_find(ls, lab, lablen);
            if (cls < 0 && (flags & DS_ADD_LABELS)) {
                char e[256];
                cls = labelset_add(ls, lab, lablen, e, sizeof e);
                if (cls < 0)
                    rec_die(r, "%s", e);
            }
            if (cls < 0) {
                char known[2048];
                labelset_format(ls, known, sizeof known);
                rec_die(r, "unknown label '%.*s' (known: %s)", (int)(lablen > 80 ? 80 : lablen), lab, known);
            }
            ds->nlabelled++;
        }
        if (ntok + n > tokcap) {
            tokcap = tokcap ? 2 * tokcap : 1 << 20;
            while (tokcap < ntok + n)
                tokcap *= 2;
            ds->tok = xreallocarray(ds->tok, tokcap, sizeof *ds->tok);
        }
        memcpy(ds->tok + ntok, ids, n * sizeof *ids);
        for (size_t i = 0; i < n; i++)
            if (ids[i] > ds->max_id)
                ds->max_id = ids[i];
        ds->rec_id[ds->n] = id;
        ds->label[ds->n] = cls;
        ds->len[ds->n] = (int32_t)n;
        ds->off[ds->n] = ntok;
        if ((int)n > ds->max_len)
            ds->max_len = (int)n;
        ntok += n;
        ds->n++;
    }
    rec_reader_close(r);
    free(ids);
    if (ds->n == 0)
        errx(EXIT_DATA, "%s: no records", ds->name);
    /* Ids identify records in logs, caches and NaN reports: they must be unique. */
    uint64_t *sorted = xmalloc(ds->n * sizeof *sorted);
    memcpy(sorted, ds->rec_id, ds->n * sizeof *sorted);
    qsort(sorted, ds->n, sizeof *sorted, cmp_u64);
    for (size_t i = 1; i < ds->n; i++)
        if (sorted[i] == sorted[i - 1])
            errx(EXIT_DATA, "%s: duplicate id %llu", ds->name, (unsigned long long)sorted[i]);
    free(sorted);
}

void dataset_free(dataset *ds)
{
    free(ds->rec_id);
    free(ds->label);
    free(ds->len);
    free(ds->off);
    free(ds->tok);
    free(ds->name);
    memset(ds, 0, sizeof *ds);
}

void labelset_sort_remap(labelset *ls, dataset *ds)
{
    int newid[LABELS_MAX];
    labelset_sort(ls, newid);
    if (ds)
        for (size_t i = 0; i < ds->n; i++)
            if (ds->label[i] >= 0)
                ds->label[i] = newid[ds->label[i]];
}

/* ---- epoch plans ----------------------------------------------------------------- */

static const dataset *sort_ds;   /* qsort has no context argument */

static int cmp_len_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int32_t lx = sort_ds->len[x], ly = sort_ds->len[y];
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;   /* ties by row: the order never depends on qsort */
}

void epoch_plan_make(epoch_plan *p, const dataset *ds, size_t B, uint64_t seed, uint64_t epoch, int shuffle)
{
    p->n = ds->n;
    p->nbatches = dataset_num_batches(ds->n, B);
    p->rows = xmalloc(ds->n * sizeof *p->rows);
    p->start = xmalloc((p->nbatches + 1) * sizeof *p->start);
    for (size_t i = 0; i < ds->n; i++)
        p->rows[i] = (uint32_t)i;
    sort_ds = ds;
    if (!shuffle) {
        qsort(p->rows, ds->n, sizeof *p->rows, cmp_len_desc);
        for (size_t k = 0; k <= p->nbatches; k++)
            p->start[k] = k * B < ds->n ? k * B : ds->n;
        return;
    }
    /* The stream of epoch e depends only on (seed, e). */
    rng_t r;
    rng_seed(&r, seed ^ (0x9e3779b97f4a7c15ULL * (epoch + 1)));
    rng_shuffle_u32(&r, p->rows, ds->n);
    size_t chunk = B * DS_SORT_CHUNK;
    for (size_t c = 0; c < ds->n; c += chunk)
        qsort(p->rows + c, (ds->n - c < chunk ? ds->n - c : chunk), sizeof *p->rows, cmp_len_desc);
    /* Shuffle the batch order: a permutation of batch numbers, then rows regrouped. */
    uint32_t *perm = xmalloc(p->nbatches * sizeof *perm);
    for (size_t k = 0; k < p->nbatches; k++)
        perm[k] = (uint32_t)k;
    rng_shuffle_u32(&r, perm, p->nbatches);
    uint32_t *rows = xmalloc(ds->n * sizeof *rows);
    size_t at = 0;
    for (size_t k = 0; k < p->nbatches; k++) {
        size_t b0 = (size_t)perm[k] * B, b1 = b0 + B < ds->n ? b0 + B : ds->n;
        p->start[k] = at;
        memcpy(rows + at, p->rows + b0, (b1 - b0) * sizeof *rows);
        at += b1 - b0;
    }
    p->start[p->nbatches] = at;
    free(p->rows);
    free(perm);
    p->rows = rows;
}

void epoch_plan_free(epoch_plan *p)
{
    free(p->rows);
    free(p->start);
    memset(p, 0, sizeof *p);
}

void batch_fill(batch *b, const dataset *ds, const epoch_plan *p, size_t k, int32_t pad_id)
{
    size_t s0 = p->start[k], s1 = p->start[k + 1];
    int B = (int)(s1 - s0), T = 0;
    for (size_t i = s0; i < s1; i++)
        if (ds->len[p->rows[i]] > T)
            T = ds->len[p->rows[i]];
    if (B > b->cap_B) {
        b->lens = xreallocarray(b->lens, (size_t)B, sizeof *b->lens);
        b->labels = xreallocarray(b->labels, (size_t)B, sizeof *b->labels);
        b->rec_ids = xreallocarray(b->rec_ids, (size_t)B, sizeof *b->rec_ids);
        b->rows = xreallocarray(b->rows, (size_t)B, sizeof *b->rows);
        b->cap_B = B;
    }
    if ((size_t)B * (size_t)T > b->cap_ids) {
        free(b->ids);
        b->cap_ids = (size_t)B * (size_t)T;
        b->ids = xmalloc(b->cap_ids * sizeof *b->ids);
    }
    b->B = B;
    b->T = T;
    for (int i = 0; i < B; i++) {
        uint32_t row = p->rows[s0 + (size_t)i];
        int32_t *dst = b->ids + (size_t)i * (size_t)T;
        memcpy(dst, ds->tok + ds->off[row], (size_t)ds->len[row] * sizeof *dst);
        for (int t = ds->len[row]; t < T; t++)
            dst[t] = pad_id;
        b->lens[i] = ds->len[row];
        b->labels[i] = ds->label[row];
        b->rec_ids[i] = ds->rec_id[row];
        b->rows[i] = row;
    }
}

void batch_free(batch *b)
{
    free(b->ids);
    free(b->lens);
    free(b->labels);
    free(b->rec_ids);
    free(b->rows);
    memset(b, 0, sizeof *b);
}
