/* emo-teacher-logits: run a checkpoint over token records.  Plain mode adds `logits` (and
 * `embedding`) to every record on stdout, in input order; cache mode (-o DIR) writes the
 * teacher cache of emo-cache(5) (logits plus the attention maps of chosen layers).
 * Records are read in windows and run in batches of similar length (little padding). */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "io/rec.h"
#include "io/shard.h"
#include "model/ckpt.h"
#include "model/config.h"
#include "model/model.h"
#include "util/cli.h"
#include "util/par.h"
#include "util/util.h"

#define WINDOW_BATCHES 16

static const cli_help help = {
    "teacher-logits",
    "usage: emo teacher-logits -m CKPT_DIR [-f] [--embeddings] [--batch N] [--threads N] [FILE...]\n"
    "       emo teacher-logits -m CKPT_DIR -o CACHE_DIR [--attn-layers LIST|all|none] [--prefix P]\n"
    "           [--attn-codec f16|u8] [--batch N] [--threads N] [FILE...]\n",
    "      --attn-codec CODEC  how the cache stores attention: f16 or u8 (f16)\n"
    "      --attn-layers LIST  0-based layers whose maps the cache keeps, all or none\n"
    "      --batch N           records per batch (64)\n"
    "      --embeddings        also add the [CLS] embedding to each record\n"
    "  -f, --force             write records to a terminal\n"
    "  -m, --model CKPT_DIR    the checkpoint to run\n"
    "  -o, --output CACHE_DIR  write the shard cache into CACHE_DIR instead of records\n"
    "      --prefix P          name of the cache part (shard)\n"
    "      --threads N         threads for the matrix products (all cores)\n",
};

/* One buffered input record: its bytes (re-read for pass-through) and what the model needs. */
typedef struct item {
    msgpack_sbuffer raw;
    uint64_t id, recno;
    int32_t *ids;
    int len;
} item;

typedef struct run {
    model *m;
    const model_config *c;
    const char *src;             /* current input name */
    rec_writer *out;             /* plain mode */
    shard_writer *cache;         /* cache mode */
    int embeddings;
    int layers[SHARD_MAX_LAYERS], NL;
    size_t batch;
} run;

/* Cache mode: an id may occur once over all inputs and the parts already in the directory
 * (readers refuse a cache with an id twice; better to say so now, naming both places, than
 * after hours of inference).  Ids seen: open addressing, file 0 = empty slot. */
typedef struct seen_id {
    uint64_t id, recno;
    uint32_t file;               /* 1-based index into seen.files */
} seen_id;

static struct {
    seen_id *t;
    size_t cap, n;
    char **files;
    size_t nfiles;
    shard_reader *parts;         /* the finished parts in the directory, or NULL */
} seen;

static size_t id_slot(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

static void seen_file(const char *name)
{
    seen.files = xrealloc(seen.files, (seen.nfiles + 1) * sizeof *seen.files);
    seen.files[seen.nfiles++] = xstrdup(name);
}

static void seen_add(rec_reader *rd, uint64_t id, uint64_t recno)
{
    if (seen.parts && shard_reader_len(seen.parts, id) >= 0)
        rec_die(rd, "id %llu is already in the cache (%s); ids must be unique over all parts of a cache "
                "(emo clean --id-space)", (unsigned long long)id, shard_reader_where(seen.parts, id));
    if (2 * (seen.n + 1) > seen.cap) {
        size_t cap = seen.cap ? 2 * seen.cap : 1024;
        seen_id *t = xcalloc(cap, sizeof *t);
        for (size_t i = 0; i < seen.cap; i++)
            if (seen.t[i].file) {
                size_t k = id_slot(seen.t[i].id, cap);
                while (t[k].file)
                    k = (k + 1) & (cap - 1);
                t[k] = seen.t[i];
            }
        free(seen.t);
        seen.t = t;
        seen.cap = cap;
    }
    size_t k = id_slot(id, seen.cap);
    for (; seen.t[k].file; k = (k + 1) & (seen.cap - 1))
        if (seen.t[k].id == id)
            rec_die(rd, "id %llu again: %s:record %llu has it too; ids must be unique over all inputs of a cache "
                    "(emo clean --id-space)", (unsigned long long)id, seen.files[seen.t[k].file - 1],
                    (unsigned long long)seen.t[k].recno);
    seen.t[k] = (seen_id){ id, recno, (uint32_t)seen.nfiles };
    seen.n++;
}

/* The finished parts of dir, if it has any (a damaged or inconsistent cache is refused). */
static shard_reader *open_parts(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct dirent *e;
    int any = 0;
    while (!any && (e = readdir(d))) {
        size_t n = strlen(e->d_name), k = strlen(".manifest.json");
        any = n > k && !strcmp(e->d_name + n - k, ".manifest.json");
    }
    closedir(d);
    if (!any)
        return NULL;
    char err[1024];
    shard_reader *r = shard_reader_open(dir, 1, err, sizeof err);
    if (!r)
        errx(EXIT_DATA, "%s (the parts already in the cache directory)", err);
    return r;
}

/* A failing run leaves no part behind: shards already renamed into place are removed. */
static shard_writer *open_cache;

static void abort_cache(void)
{
    if (open_cache)
        shard_writer_abort(open_cache);
    open_cache = NULL;
}

static uint64_t file_hash(const char *dir, const char *name, uint64_t seed)
{
    char *p = path_join(dir, name);
    FILE *f = fopen(p, "rb");
    if (!f)
        err(EXIT_DATA, "%s", p);
    XXH64_state_t *h = XXH64_createState();
    XXH64_reset(h, seed);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        XXH64_update(h, buf, n);
    fclose(f);
    free(p);
    uint64_t v = XXH64_digest(h);
    XXH64_freeState(h);
    return v;
}

/* "1,3,5" | "all" | "none" | NULL (uniform map for a half-depth student: layers 1,3,5,...). */
static int parse_layers(const char *s, int L, int *out)
{
    int n = 0;
    if (!s)
        return shard_default_layers(L, out);
    if (!strcmp(s, "none"))
        return 0;
    if (!strcmp(s, "all")) {
        for (int l = 0; l < L && l < SHARD_MAX_LAYERS; l++)
            out[n++] = l;
        return n;
    }
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v >= L || n == SHARD_MAX_LAYERS || (*end && *end != ','))
            errx(EXIT_USAGE, "option --attn-layers: '%s' is not a list of layers in [0, %d)", s, L);
        for (int i = 0; i < n; i++)
            if (out[i] == v)
                errx(EXIT_USAGE, "option --attn-layers: layer %ld given twice", v);
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n;
}

static int cmp_len(const void *a, const void *b)
{
    const item *x = *(item *const *)a, *y = *(item *const *)b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->recno < y->recno ? -1 : x->recno > y->recno;
}

static void run_batch(run *r, item **its, int B)
{
    int T = its[0]->len;    /* sorted longest first */
    int32_t *ids = xcalloc((size_t)B * (size_t)T, sizeof *ids), *lens = xmalloc((size_t)B * sizeof *lens);
    for (int b = 0; b < B; b++) {
        memcpy(ids + (size_t)b * T, its[b]->ids, (size_t)its[b]->len * sizeof *ids);
        for (int t = its[b]->len; t < T; t++)
            ids[(size_t)b * T + t] = r->c->pad_token_id;
        lens[b] = its[b]->len;
    }
    if (model_forward(r->m, ids, lens, B, T, MODEL_INFER, NULL))
        errx(EXIT_DATA, "%s:record %llu: %s", r->src, (unsigned long long)its[0]->recno, model_error(r->m));
    const float *logits = model_logits(r->m), *emb = model_embedding(r->m);
    int K = r->c->K, H = r->c->H;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * K;
        for (int k = 0; k < K; k++)
            if (!isfinite(z[k]))
                errx(EXIT_DATA, "%s:record %llu: non-finite logit (id %llu)", r->src,
                     (unsigned long long)its[b]->recno, (unsigned long long)its[b]->id);
        if (r->cache) {
            const float *layer_attn[SHARD_MAX_LAYERS];   /* (NH, l, l) each, in the model */
            for (int i = 0; i < r->NL; i++)
                layer_attn[i] = model_attn_seq(r->m, r->layers[i], b);
            if (shard_writer_add_layers(r->cache, its[b]->id, its[b]->len, z, layer_attn))
                errx(EXIT_DATA, "%s:record %llu: %s", r->src, (unsigned long long)its[b]->recno,
                     shard_writer_error(r->cache));
        }
    }
    free(ids);
    free(lens);
    if (r->cache)
        return;
    /* plain mode: stash the outputs in the items, written in input order by the caller */
    for (int b = 0; b < B; b++) {
        float *o = xmalloc(sizeof(float) * (size_t)(K + (r->embeddings ? H : 0)));
        memcpy(o, logits + (size_t)b * K, sizeof(float) * (size_t)K);
        if (r->embeddings)
            memcpy(o + K, emb + (size_t)b * H, sizeof(float) * (size_t)H);
        free(its[b]->ids);
        its[b]->ids = (int32_t *)o;   /* reused: the ids are no longer needed */
    }
}

static rec_progress pg;   /* records through the model */

static void flush_window(run *r, item *win, size_t n)
{
    item **order = xmalloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = &win[i];
    qsort(order, n, sizeof *order, cmp_len);
    for (size_t s = 0; s < n; s += r->batch) {
        int B = (int)(n - s < r->batch ? n - s : r->batch);
        run_batch(r, order + s, B);
        rec_progress_add(&pg, r->src, (uint64_t)B);
    }
    free(order);
    int K = r->c->K, H = r->c->H;
    for (size_t i = 0; i < n; i++) {
        if (!r->cache) {
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            msgpack_unpack_next(&u, win[i].raw.data, win[i].raw.size, NULL);
            rec_t rec = { u.data.via.map.ptr, u.data.via.map.size, win[i].recno };
            static const char *keys[] = { "logits", "embedding" };
            msgpack_packer *pk = rec_begin(r->out, &rec, keys, r->embeddings ? 2 : 1);
            const float *o = (const float *)win[i].ids;
            rec_pack_key(pk, "logits");
            rec_pack_f32v(pk, o, (size_t)K);
            if (r->embeddings) {
                rec_pack_key(pk, "embedding");
                rec_pack_f32v(pk, o + K, (size_t)H);
            }
            rec_end(r->out);
            msgpack_unpacked_destroy(&u);
        }
        free(win[i].ids);
        msgpack_sbuffer_destroy(&win[i].raw);
    }
}

static rec_reader *open_input(const char *path)
{
    rec_reader *rd = rec_reader_open(path);
    if (!rd)
        err(EXIT_DATA, "%s", path);
    return rd;
}

static void process(run *r, rec_reader *rd)
{
    r->src = rec_reader_name(rd);
    if (r->cache)
        seen_file(r->src);
    size_t cap = r->batch * WINDOW_BATCHES, n = 0;
    item *win = xcalloc(cap, sizeof *win);
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)r->c->P);
    rec_t rec;
    while (rec_read_or_die(rd, &rec)) {
        item *it = &win[n];
        it->id = rec_need_u64(rd, &rec, "id");
        if (r->cache)
            seen_add(rd, it->id, rec.index);
        size_t len = 0;
        int k = rec_get_ids(&rec, "input_ids", ids, (size_t)r->c->P, &len);
        if (k == -3)
            rec_die(rd, "more than %d tokens (the model's max_position_embeddings)", r->c->P);
        if (k)
            len = rec_need_ids(rd, &rec, "input_ids", ids, (size_t)r->c->P);
        if (len == 0)
            rec_die(rd, "empty input_ids");
        for (size_t t = 0; t < len; t++)
            if (ids[t] >= r->c->V)
                rec_die(rd, "token id %d is outside the model's vocabulary of %d (tokenized with another "
                        "vocabulary?)", ids[t], r->c->V);
        const char *lab;
        size_t lablen;
        if (rec_get_str(&rec, "label", &lab, &lablen) == 0) {
            int found = 0;
            for (int c = 0; c < r->c->K && !found; c++)
                found = strlen(r->c->labels[c]) == lablen && !memcmp(r->c->labels[c], lab, lablen);
            if (!found)
                rec_die(rd, "label '%.*s' is not one of the checkpoint's labels", (int)(lablen > 80 ? 80 : lablen),
                        lab);
        }
        it->recno = rec.index;
        it->len = (int)len;
        it->ids = xmalloc(len * sizeof *ids);
        memcpy(it->ids, ids, len * sizeof *ids);
        msgpack_sbuffer_init(&it->raw);
        if (!r->cache) {
            msgpack_packer pk;
            msgpack_packer_init(&pk, &it->raw, msgpack_sbuffer_write);
            msgpack_object m = { .type = MSGPACK_OBJECT_MAP };
            m.via.map.size = rec.nfields;
            m.via.map.ptr = (msgpack_object_kv *)rec.kv;
            msgpack_pack_object(&pk, m);
        }
        if (++n == cap) {
            flush_window(r, win, n);
            memset(win, 0, cap * sizeof *win);
            n = 0;
        }
    }
    flush_window(r, win, n);
    free(win);
    free(ids);
    rec_reader_close(rd);
}

enum { O_EMB = 256, O_BATCH, O_THREADS, O_LAYERS, O_PREFIX, O_CODEC };

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "model", required_argument, NULL, 'm' }, { "output", required_argument, NULL, 'o' },
        { "force", no_argument, NULL, 'f' }, { "embeddings", no_argument, NULL, O_EMB },
        { "batch", required_argument, NULL, O_BATCH }, { "threads", required_argument, NULL, O_THREADS },
        { "attn-layers", required_argument, NULL, O_LAYERS }, { "prefix", required_argument, NULL, O_PREFIX },
        { "attn-codec", required_argument, NULL, O_CODEC }, CLI_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    const char *ckpt = NULL, *out_dir = NULL, *layers = NULL, *prefix = "shard";
    int force = 0, threads = 0, c;
    shard_codec codec = SHARD_ATTN_F16;
    run r = { .batch = 64 };
    while ((c = getopt_long(argc, argv, "fhm:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'm': ckpt = optarg; break;
        case 'o': out_dir = optarg; break;
        case O_EMB: r.embeddings = 1; break;
        case O_BATCH: r.batch = (size_t)xparse_ll("--batch", optarg, 1, 4096); break;
        case O_THREADS: threads = (int)xparse_ll("--threads", optarg, 1, 1024); break;
        case O_LAYERS: layers = optarg; break;
        case O_PREFIX: prefix = optarg; break;
        case O_CODEC:
            if (!strcmp(optarg, "f16"))
                codec = SHARD_ATTN_F16;
            else if (!strcmp(optarg, "u8"))
                codec = SHARD_ATTN_U8;
            else
                errx(EXIT_USAGE, "option --attn-codec: '%s' is not f16 or u8", optarg);
            break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (!ckpt || (out_dir && r.embeddings) || (!out_dir && (layers || codec != SHARD_ATTN_F16)))
        cli_usage(&help, EXIT_USAGE);
    threads_setup(threads);
    char e[1024], notice[1024] = "";
    r.m = ckpt_load_model(ckpt, 0, notice, sizeof notice, e, sizeof e);
    if (!r.m)
        errx(EXIT_DATA, "%s", e);
    if (*notice)
        errx(EXIT_DATA, "%s: %s (not a trained classifier?)", ckpt, notice);
    r.c = model_get_config(r.m);

    if (out_dir) {
        shard_meta m;
        memset(&m, 0, sizeof m);
        char *abs = realpath(ckpt, NULL);
        snprintf(m.teacher, sizeof m.teacher, "%s", abs ? abs : ckpt);
        free(abs);
        /* identity: the checkpoint's config and weights */
        snprintf(m.teacher_hash, sizeof m.teacher_hash, "xxh64:%016llx",
                 (unsigned long long)file_hash(ckpt, "model.safetensors", file_hash(ckpt, "config.json", 0)));
        m.K = r.c->K;
        memcpy(m.labels, r.c->labels, sizeof m.labels);
        m.NL = parse_layers(layers, r.c->L, m.layers);
        m.NH = r.c->NH;
        m.codec = codec;
        snprintf(m.attn_kind, sizeof m.attn_kind, "probs");
        r.NL = m.NL;
        memcpy(r.layers, m.layers, sizeof r.layers);
        uint64_t mask = 0;
        for (int i = 0; i < m.NL; i++)
            mask |= 1ull << m.layers[i];
        model_keep_attn_packed(r.m, mask);
        xmkdir_p(out_dir);
        seen.parts = open_parts(out_dir);
        r.cache = shard_writer_open(out_dir, prefix, &m, NULL, e, sizeof e);
        if (!r.cache)
            errx(EXIT_DATA, "%s", e);
        open_cache = r.cache;
        atexit(abort_cache);
    }
    rec_reader *first = open_input(optind < argc ? argv[optind] : NULL);
    if (!out_dir) {
        refuse_tty_stdout(force);
        r.out = rec_writer_open_meta(stdout, NULL, rec_reader_header(first), NULL, 0, NULL);
    }
    rec_progress_start(&pg);
    process(&r, first);
    for (int i = optind + 1; i < argc; i++)
        process(&r, open_input(argv[i]));
    rec_progress_end(&pg);
    if (r.cache) {
        open_cache = NULL;
        if (shard_writer_close(r.cache, e, sizeof e))
            errx(EXIT_DATA, "%s", e);
        if (seen.parts)
            shard_reader_close(seen.parts);
        for (size_t i = 0; i < seen.nfiles; i++)
            free(seen.files[i]);
        free(seen.files);
        free(seen.t);
    } else {
        if (rec_writer_close(r.out) != 0)
            err(EXIT_DATA, "write error on standard output");
        out_close();
    }
    model_free(r.m);
    return 0;
}
