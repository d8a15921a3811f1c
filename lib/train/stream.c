/* Token records streamed from files (stream.h). */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include "io/rec.h"
#include "train/stream.h"
#include "util/rng.h"
#include "util/util.h"

typedef struct srec {
    uint64_t ordinal, id;
    int32_t len;
    int32_t ids[];
} srec;

struct token_stream {
    char **paths;
    int npaths;
    token_stream_opts o;
    uint64_t total, *per_file;
    uint8_t *held;           /* bitset over ordinals; NULL without hold-out */
    int32_t *buf;            /* (P) one record's ids */
    /* the epoch in progress */
    rec_reader *r;
    int file;
    uint64_t ordinal;        /* of the next record read */
    rng_t rng;
    srec **sbuf;             /* shuffle buffer (o.shuffle) */
    size_t nsbuf;
    srec **pool;             /* (TS_POOL_BATCHES * B) */
    size_t npool, pool_batches, pool_next;
    uint32_t *perm;          /* (TS_POOL_BATCHES) batch order of the pool */
};

static int is_held(const token_stream *s, uint64_t ord) { return s->held && (s->held[ord >> 3] >> (ord & 7)) & 1; }

/* Read and check one record of r; 1 with its ids in s->buf (*len, *id), 0 at the end. */
static int read_checked(token_stream *s, rec_reader *r, int *len, uint64_t *id, uint64_t ordinal)
{
    rec_t rec;
    if (!rec_read_or_die(r, &rec))
        return 0;
    *id = ordinal;
    int k = rec_get_u64(&rec, "id", id);
    if (k == -2)
        rec_die(r, "field 'id' is not an unsigned integer");
    size_t n = 0;
    k = rec_get_ids(&rec, "input_ids", s->buf, (size_t)s->o.P, &n);
    if (k == -1)
        rec_die(r, "no input_ids (records from emo tokenize carry them)");
    if (k == -2)
        rec_die(r, "field 'input_ids' is not an array of token ids");
    if (k == -3)
        rec_die(r, "%u tokens, longer than the model's %d positions (emo tokenize --max-len)",
                rec_get(&rec, "input_ids")->via.array.size, s->o.P);
    if (n == 0)
        rec_die(r, "empty input_ids");
    for (size_t i = 0; i < n; i++)
        if (s->buf[i] >= s->o.V)
            rec_die(r, "token id %d is outside the model's vocabulary of %d (tokenized with another vocabulary?)",
                    s->buf[i], s->o.V);
    *len = (int)n;
    return 1;
}

static rec_reader *open_or_die(const char *path)
{
    rec_reader *r = rec_reader_open(path);
    if (!r)
        err(EXIT_DATA, "%s", path);
    return r;
}

/* Floyd's algorithm: H distinct ordinals of [0, N), each subset equally likely. */
static uint8_t *sample_holdout(uint64_t N, uint64_t H, uint64_t seed)
{
    uint8_t *bits = xcalloc((size_t)(N / 8 + 1), 1);
    rng_t r;
    rng_seed(&r, seed ^ 0x686f6c646f7574ULL);   /* "holdout": a stream of its own */
    for (uint64_t j = N - H; j < N; j++) {
        uint64_t t = rng_below(&r, j + 1);
        if ((bits[t >> 3] >> (t & 7)) & 1)
            t = j;
        bits[t >> 3] |= (uint8_t)(1u << (t & 7));
    }
    return bits;
}

static void load_holdout(token_stream *s, dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    size_t H = (size_t)s->o.holdout, ntok = 0, cap = 1 << 16;
    ds->rec_id = xmalloc(H * sizeof *ds->rec_id);
    ds->label = xmalloc(H * sizeof *ds->label);
    ds->len = xmalloc(H * sizeof *ds->len);
    ds->off = xmalloc(H * sizeof *ds->off);
    ds->tok = xmalloc(cap * sizeof *ds->tok);
    ds->name = xstrdup("held-out records");
    uint64_t ord = 0;
    for (int f = 0; f < s->npaths; f++) {
        rec_reader *r = open_or_die(s->paths[f]);
        int len;
        uint64_t id;
        while (read_checked(s, r, &len, &id, ord)) {
            if (is_held(s, ord) && ds->n < H) {
                while (ntok + (size_t)len > cap)
                    ds->tok = xreallocarray(ds->tok, cap *= 2, sizeof *ds->tok);
                memcpy(ds->tok + ntok, s->buf, (size_t)len * sizeof *s->buf);
                for (int i = 0; i < len; i++)
                    ds->max_id = s->buf[i] > ds->max_id ? s->buf[i] : ds->max_id;
                ds->rec_id[ds->n] = id;
                ds->label[ds->n] = -1;
                ds->len[ds->n] = len;
                ds->off[ds->n] = ntok;
                ds->max_len = len > ds->max_len ? len : ds->max_len;
                ntok += (size_t)len;
                ds->n++;
            }
            ord++;
        }
        rec_reader_close(r);
    }
    if (ds->n != H)
        errx(EXIT_DATA, "the input changed while reading it (%zu of %zu held-out records found)", ds->n, H);
}

token_stream *token_stream_open(const char *const *paths, int npaths, const token_stream_opts *o, dataset *holdout)
{
    token_stream *s = xcalloc(1, sizeof *s);
    s->o = *o;
    s->npaths = npaths;
    s->paths = xmalloc((size_t)npaths * sizeof *s->paths);
    s->per_file = xcalloc((size_t)npaths, sizeof *s->per_file);
    s->buf = xmalloc((size_t)o->P * sizeof *s->buf);
    for (int f = 0; f < npaths; f++) {
        s->paths[f] = xstrdup(paths[f]);
        rec_reader *r = open_or_die(paths[f]);
        int len;
        uint64_t id;
        while (read_checked(s, r, &len, &id, s->total)) {
            s->per_file[f]++;
            s->total++;
        }
        rec_reader_close(r);
    }
    if (s->total == 0)
        errx(EXIT_DATA, "%s%s: no records", paths[0], npaths > 1 ? " ..." : "");
    if (s->total > UINT32_MAX)
        errx(EXIT_DATA, "more than %u records in one run", UINT32_MAX);
    if (o->holdout_cap && s->o.holdout > s->total / 10)
        s->o.holdout = s->total / 10;
    if (s->o.holdout >= s->total)
        errx(EXIT_USAGE, "--holdout %llu leaves no records to train on (%llu in all)",
             (unsigned long long)o->holdout, (unsigned long long)s->total);
    memset(holdout, 0, sizeof *holdout);
    if (s->o.holdout) {
        s->held = sample_holdout(s->total, s->o.holdout, o->seed);
        load_holdout(s, holdout);
    }
    s->sbuf = xmalloc(o->shuffle * sizeof *s->sbuf);
    s->pool = xmalloc(TS_POOL_BATCHES * o->B * sizeof *s->pool);
    s->perm = xmalloc(TS_POOL_BATCHES * sizeof *s->perm);
    return s;
}

uint64_t token_stream_total(const token_stream *s) { return s->total; }
uint64_t token_stream_train_records(const token_stream *s) { return s->total - s->o.holdout; }
uint64_t token_stream_holdout(const token_stream *s) { return s->o.holdout; }
uint64_t token_stream_file_records(const token_stream *s, int i) { return s->per_file[i]; }

/* ---- one epoch ------------------------------------------------------------------- */

static void epoch_reset(token_stream *s)
{
    if (s->r)
        rec_reader_close(s->r);
    s->r = NULL;
    s->file = 0;
    s->ordinal = 0;
    for (size_t i = 0; i < s->nsbuf; i++)
        free(s->sbuf[i]);
    for (size_t i = 0; i < s->npool; i++)
        free(s->pool[i]);
    s->nsbuf = s->npool = s->pool_batches = s->pool_next = 0;
}

/* The next training record in input order, or NULL at the end of the last file. */
static srec *read_next(token_stream *s)
{
    for (;;) {
        if (!s->r) {
            if (s->file >= s->npaths)
                return NULL;
            s->r = open_or_die(s->paths[s->file]);
        }
        int len;
        uint64_t id;
        if (!read_checked(s, s->r, &len, &id, s->ordinal)) {
            rec_reader_close(s->r);
            s->r = NULL;
            s->file++;
            continue;
        }
        uint64_t ord = s->ordinal++;
        if (ord >= s->total)
            errx(EXIT_DATA, "%s: more records than when the run started (the input changed)", s->paths[s->file]);
        if (is_held(s, ord))
            continue;
        srec *x = xmalloc(sizeof *x + (size_t)len * sizeof(int32_t));
        x->ordinal = ord;
        x->id = id;
        x->len = len;
        memcpy(x->ids, s->buf, (size_t)len * sizeof(int32_t));
        return x;
    }
}

/* The shuffle buffer: keep it full, release a random slot. */
static srec *shuffled_next(token_stream *s)
{
    while (s->nsbuf < s->o.shuffle) {
        srec *x = read_next(s);
        if (!x)
            break;
        s->sbuf[s->nsbuf++] = x;
    }
    if (s->nsbuf == 0)
        return NULL;
    size_t j = (size_t)rng_below(&s->rng, s->nsbuf);
    srec *out = s->sbuf[j];
    s->sbuf[j] = s->sbuf[--s->nsbuf];
    return out;
}

static int cmp_srec(const void *a, const void *b)
{
    const srec *x = *(srec *const *)a, *y = *(srec *const *)b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->ordinal < y->ordinal ? -1 : x->ordinal > y->ordinal;
}

/* Index of the next batch's first pool entry and its size; 0 at the end of the epoch. */
static size_t next_pool_batch(token_stream *s, size_t *first)
{
    if (s->pool_next == s->pool_batches) {
        for (size_t i = 0; i < s->npool; i++)
            free(s->pool[i]);
        s->npool = 0;
        size_t cap = TS_POOL_BATCHES * s->o.B;
        srec *x;
        while (s->npool < cap && (x = shuffled_next(s)))
            s->pool[s->npool++] = x;
        if (s->npool == 0)
            return 0;
        qsort(s->pool, s->npool, sizeof *s->pool, cmp_srec);
        s->pool_batches = (s->npool + s->o.B - 1) / s->o.B;
        for (size_t k = 0; k < s->pool_batches; k++)
            s->perm[k] = (uint32_t)k;
        rng_shuffle_u32(&s->rng, s->perm, s->pool_batches);
        s->pool_next = 0;
    }
    size_t k = s->perm[s->pool_next++];
    *first = k * s->o.B;
    return *first + s->o.B <= s->npool ? s->o.B : s->npool - *first;
}

static int ts_begin_epoch(void *ctx, uint64_t epoch, uint64_t skip, char *e, size_t errn)
{
    token_stream *s = ctx;
    epoch_reset(s);
    rng_seed(&s->rng, s->o.seed ^ (0x9e3779b97f4a7c15ULL * (epoch + 1)));
    size_t first;
    for (uint64_t k = 0; k < skip; k++)
        if (!next_pool_batch(s, &first))
            return errbuf_fail(e, errn, "epoch %llu has fewer than %llu batches (the input changed)",
                               (unsigned long long)epoch + 1, (unsigned long long)skip);
    return 0;
}

static int ts_next_batch(void *ctx, batch *b, char *e, size_t errn)
{
    token_stream *s = ctx;
    (void)e;
    (void)errn;
    size_t first, B = next_pool_batch(s, &first);
    if (B == 0) {
        epoch_reset(s);
        return 0;
    }
    srec **x = s->pool + first;
    int T = x[0]->len;       /* sorted longest first */
    if ((int)B > b->cap_B) {
        b->lens = xreallocarray(b->lens, B, sizeof *b->lens);
        b->labels = xreallocarray(b->labels, B, sizeof *b->labels);
        b->rec_ids = xreallocarray(b->rec_ids, B, sizeof *b->rec_ids);
        b->rows = xreallocarray(b->rows, B, sizeof *b->rows);
        b->cap_B = (int)B;
    }
    if (B * (size_t)T > b->cap_ids) {
        free(b->ids);
        b->cap_ids = B * (size_t)T;
        b->ids = xmalloc(b->cap_ids * sizeof *b->ids);
    }
    b->B = (int)B;
    b->T = T;
    for (size_t i = 0; i < B; i++) {
        int32_t *dst = b->ids + i * (size_t)T;
        memcpy(dst, x[i]->ids, (size_t)x[i]->len * sizeof *dst);
        for (int t = x[i]->len; t < T; t++)
            dst[t] = s->o.pad_id;
        b->lens[i] = x[i]->len;
        b->labels[i] = -1;
        b->rec_ids[i] = x[i]->id;
        b->rows[i] = (uint32_t)x[i]->ordinal;
    }
    return 1;
}

void token_stream_source(token_stream *s, train_source *src)
{
    src->ctx = s;
    src->nbatches = (token_stream_train_records(s) + s->o.B - 1) / s->o.B;
    src->begin_epoch = ts_begin_epoch;
    src->next_batch = ts_next_batch;
}

void token_stream_free(token_stream *s)
{
    if (!s)
        return;
    epoch_reset(s);
    for (int f = 0; f < s->npaths; f++)
        free(s->paths[f]);
    free(s->paths);
    free(s->per_file);
    free(s->held);
    free(s->buf);
    free(s->sbuf);
    free(s->pool);
    free(s->perm);
    free(s);
}
