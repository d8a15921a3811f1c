/* emo-tokenize: record stream -> the same records with input_ids added ([CLS] ... [SEP],
 * truncated to --max-len, not padded).  BERT WordPiece from a vocab.txt (lib/tok/bert_tok.h)
 * or a SentencePiece model with ALBERT's preprocessing (lib/tok/spm.h).
 *
 * Records are processed in batches: the main thread reads a batch, checks each text and
 * serializes the fields that pass through.  With --threads 1 it then tokenizes and writes
 * the batch itself; with N > 1, N - 1 workers tokenize slices of batch k while the main
 * thread reads batch k + 1, then the main thread writes batch k.  Batches are written in
 * input order, so the output is the same for any thread count, and memory is bounded by
 * two batches, not by the input size. */
#include <err.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack/sbuffer.h>

#include "io/rec.h"
#include "model/textcfg.h"
#include "tok/bert_tok.h"
#include "tok/spm.h"
#include "util/cli.h"
#include "util/par.h"
#include "util/util.h"

#define BATCH_RECORDS 2048
#define BATCH_BYTES (4u << 20)    /* text + pass-through bytes that close a batch early */

static const cli_help help = {
    "tokenize",
    "usage: emo tokenize (--vocab FILE | --spm MODEL) [--max-len N] [--on-invalid error|skip|replace]\n"
    "                    [--threads N] [-f] [-o FILE] [FILE...]\n",
    "  -f, --force             write records to a terminal\n"
    "      --max-len N         keep at most N tokens, [CLS] and [SEP] included\n"
    "  -o, --output FILE       write FILE (atomically) instead of standard output\n"
    "      --on-invalid WHAT   text that is not UTF-8: error, skip or replace (error)\n"
    "      --spm MODEL         SentencePiece model (ALBERT's spiece.model)\n"
    "      --threads N         threads (all cores)\n"
    "      --vocab FILE        BERT WordPiece vocabulary, one token a line\n",
};


typedef struct item {
    size_t head_off, head_len;    /* serialized map header + pass-through fields in head */
    size_t text_off, text_len;    /* text in texts */
    size_t ids_off, nids;         /* ids in the arena of the thread that made them */
    int ids_thread;
} item;

typedef struct batch {
    item *items;
    size_t n;
    msgpack_sbuffer head;         /* pass-through fields of every record, back to back */
    char *texts;
    size_t texts_len, texts_cap;
} batch;

/* per-thread tokenizer state and output */
typedef struct worker {
    tok_encoder *enc;             /* BERT only */
    int32_t *scratch;             /* [max_len] */
    int32_t *ids;                 /* ids of this thread's records in the current batch */
    size_t ids_len, ids_cap;
} worker;

typedef struct slice {
    struct ctx *c;
    batch *b;
    int t, nt;                    /* slice t of nt */
} slice;

typedef struct ctx {
    const tok_vocab *vocab;
    spm_tok *spm;                 /* Encode is const: shared by the threads */
    size_t max_len;
    int on_invalid;           /* CLI_INVALID_* */
    int nthreads;
    worker *wk;                   /* [nthreads] */
    batch b[2];                   /* b[cur] is being read; b[1 - cur] tokenized (if pending) */
    int cur, pending;
    pthread_t th[64];
    slice sl[64];
    int nworkers;                 /* threads tokenizing b[1 - cur] now */
    msgpack_sbuffer out;          /* serialized records of the batch being written */
    uint64_t skipped, replaced;
} ctx;

static char *grow(char *p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 1 << 16;
    while (c < need)
        c *= 2;
    *cap = c;
    return xrealloc(p, c);
}

/* ---- reading: one record into the batch ----------------------------------- */

static void add_record(ctx *c, rec_reader *r, const rec_t *rec)
{
    batch *b = &c->b[c->cur];
    const char *text;
    size_t len;
    int k = rec_get_str(rec, "text", &text, &len);
    if (k == -1)
        rec_die(r, "no text field");
    if (k == -2)
        rec_die(r, "field text is not a string");
    size_t bad = tok_utf8_invalid_at(text, len);
    int fixed = 0;
    if (bad < len) {
        switch (c->on_invalid) {
        case CLI_INVALID_ERROR:
            rec_die(r, "text is not valid UTF-8 (byte %zu); --on-invalid skip|replace", bad);
        case CLI_INVALID_SKIP:
            c->skipped++;
            return;
        case CLI_INVALID_REPLACE:
            if (len > (SIZE_MAX - b->texts_len) / 4)
                rec_die(r, "text too large");
            c->replaced++;
            fixed = 1;
            break;
        }
    }
    item *it = &b->items[b->n++];
    it->text_off = b->texts_len;
    b->texts = grow(b->texts, &b->texts_cap, b->texts_len + (fixed ? 3 * len : len) + 1);
    if (fixed)
        it->text_len = tok_utf8_repair(text, len, b->texts + b->texts_len);
    else
        memcpy(b->texts + b->texts_len, text, it->text_len = len);
    b->texts_len += it->text_len;

    /* the map: pass-through fields, then (text,) input_ids, as rec_begin would pack them */
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b->head, msgpack_sbuffer_write);
    it->head_off = b->head.size;
    size_t keep = 0;
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const msgpack_object *key = &rec->kv[i].key;
        int is_ids = key->via.str.size == 9 && !memcmp(key->via.str.ptr, "input_ids", 9);
        int is_text = fixed && key->via.str.size == 4 && !memcmp(key->via.str.ptr, "text", 4);
        keep += !is_ids && !is_text;
    }
    msgpack_pack_map(&pk, keep + 1 + (size_t)fixed);
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const msgpack_object *key = &rec->kv[i].key;
        int is_ids = key->via.str.size == 9 && !memcmp(key->via.str.ptr, "input_ids", 9);
        int is_text = fixed && key->via.str.size == 4 && !memcmp(key->via.str.ptr, "text", 4);
        if (is_ids || is_text)
            continue;
        msgpack_pack_object(&pk, *key);
        msgpack_pack_object(&pk, rec->kv[i].val);
    }
    if (fixed) {
        rec_pack_key(&pk, "text");
        rec_pack_str(&pk, b->texts + it->text_off, it->text_len);
    }
    rec_pack_key(&pk, "input_ids");
    it->head_len = b->head.size - it->head_off;
}

/* ---- tokenizing: a slice of the batch per thread ------------------------- */

static void *tokenize_slice(void *arg)
{
    const slice *s = arg;
    ctx *c = s->c;
    batch *b = s->b;
    worker *wk = &c->wk[s->t];
    size_t per = (b->n + (size_t)s->nt - 1) / (size_t)s->nt;
    size_t lo = per * (size_t)s->t, hi = lo + per < b->n ? lo + per : b->n;
    wk->ids_len = 0;
    for (size_t i = lo; i < hi; i++) {
        item *it = &b->items[i];
        const char *text = b->texts + it->text_off;
        size_t n = c->spm ? spm_tok_encode(c->spm, text, it->text_len, wk->scratch, c->max_len)
                          : tok_encode(wk->enc, text, it->text_len, wk->scratch, c->max_len);
        if (wk->ids_len + n > wk->ids_cap) {
            wk->ids_cap = 2 * (wk->ids_len + n);
            wk->ids = xreallocarray(wk->ids, wk->ids_cap, sizeof *wk->ids);
        }
        memcpy(wk->ids + wk->ids_len, wk->scratch, n * sizeof *wk->ids);
        it->ids_thread = s->t;
        it->ids_off = wk->ids_len;
        it->nids = n;
        wk->ids_len += n;
    }
    return NULL;
}

/* Waits for the pending batch's workers, writes it in order, empties it. */
static void finish_pending(ctx *c, rec_writer *w)
{
    if (!c->pending)
        return;
    batch *b = &c->b[1 - c->cur];
    for (int t = 0; t < c->nworkers; t++)
        pthread_join(c->th[t], NULL);
    c->nworkers = 0;
    /* Serialize the whole batch into one buffer and hand it to the writer in one call:
     * packing id by id straight into the writer's stdio stream cost a tenth of the CPU. */
    msgpack_sbuffer_clear(&c->out);
    msgpack_packer opk;
    msgpack_packer_init(&opk, &c->out, msgpack_sbuffer_write);
    for (size_t i = 0; i < b->n; i++) {
        const item *it = &b->items[i];
        msgpack_sbuffer_write(&c->out, b->head.data + it->head_off, it->head_len);
        rec_pack_ids(&opk, c->wk[it->ids_thread].ids + it->ids_off, it->nids);
    }
    rec_write_packed(w, c->out.data, c->out.size);
    for (size_t i = 0; i < b->n; i++)
        rec_end(w);               /* the writer counts records for the end marker */
    b->n = 0;
    b->texts_len = 0;
    msgpack_sbuffer_clear(&b->head);
    c->pending = 0;
}

/* Hands the batch being read over to tokenizing (workers, or this thread at once) and
 * starts reading into the other one.  The previous batch is written first: the workers'
 * id arenas are reused. */
static void dispatch(ctx *c, rec_writer *w)
{
    finish_pending(c, w);
    batch *b = &c->b[c->cur];
    /* --threads 1, or a small batch (a stream's tail): not worth a thread */
    int nw = c->nthreads > 1 && b->n >= 64 ? c->nthreads - 1 : 0;
    if (nw == 0) {
        c->sl[0] = (slice){ c, b, 0, 1 };
        tokenize_slice(&c->sl[0]);
    }
    for (int t = 0; t < nw; t++) {
        c->sl[t] = (slice){ c, b, t, nw };
        if (pthread_create(&c->th[t], NULL, tokenize_slice, &c->sl[t]) != 0)
            errx(EXIT_DATA, "cannot start a thread");
    }
    c->nworkers = nw;
    c->pending = 1;
    c->cur = 1 - c->cur;
}

static rec_reader *open_input(const char *path)
{
    rec_reader *r = rec_reader_open(path);
    if (!r)
        err(EXIT_DATA, "%s", path);
    return r;
}

static void tokenize_stream(ctx *c, rec_writer *w, rec_reader *r)
{
    rec_t rec;
    while (rec_read_or_die(r, &rec)) {
        add_record(c, r, &rec);
        const batch *b = &c->b[c->cur];
        if (b->n == BATCH_RECORDS || b->texts_len + b->head.size >= BATCH_BYTES)
            dispatch(c, w);
    }
    rec_reader_close(r);
}

int main(int argc, char **argv)
{
    enum { O_VOCAB = 256, O_SPM, O_MAX_LEN, O_ON_INVALID, O_THREADS };
    static const struct option longopts[] = {
        { "force", no_argument, NULL, 'f' },
        CLI_LONGOPTS,
        { "output", required_argument, NULL, 'o' },
        { "vocab", required_argument, NULL, O_VOCAB },
        { "spm", required_argument, NULL, O_SPM },
        { "max-len", required_argument, NULL, O_MAX_LEN },
        { "on-invalid", required_argument, NULL, O_ON_INVALID },
        { "threads", required_argument, NULL, O_THREADS },
        { NULL, 0, NULL, 0 },
    };
    const char *out = NULL, *vocab_path = NULL, *spm_path = NULL;
    ctx c = { .max_len = 128, .on_invalid = CLI_INVALID_ERROR };
    int force = 0, threads = 0, opt;
    while ((opt = getopt_long(argc, argv, "fho:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f': force = 1; break;
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'o': out = optarg; break;
        case O_VOCAB: vocab_path = optarg; break;
        case O_SPM: spm_path = optarg; break;
        case O_MAX_LEN: c.max_len = (size_t)xparse_ll("--max-len", optarg, 2, 1 << 20); break;
        case O_THREADS: threads = (int)xparse_ll("--threads", optarg, 0, 64); break;
        case O_ON_INVALID: c.on_invalid = cli_on_invalid(optarg); break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (!vocab_path == !spm_path) {
        warnx("give exactly one of --vocab FILE and --spm MODEL");
        cli_usage(&help, EXIT_USAGE);
    }
    c.nthreads = threads_setup(threads);
    if (c.nthreads > 64)
        c.nthreads = 64;
    char msg[512];
    tok_vocab *vocab = NULL;
    if (vocab_path) {
        vocab = tok_vocab_load(vocab_path, msg, sizeof msg);
        if (!vocab)
            errx(EXIT_DATA, "%s", msg);
    } else {
        c.spm = spm_tok_load(spm_path, msg, sizeof msg);
        if (!c.spm)
            errx(EXIT_DATA, "%s", msg);
    }
    c.wk = xcalloc((size_t)c.nthreads, sizeof *c.wk);
    for (int t = 0; t < c.nthreads; t++) {
        c.wk[t].enc = vocab ? tok_encoder_new(vocab) : NULL;
        c.wk[t].scratch = xmalloc(c.max_len * sizeof *c.wk[t].scratch);
    }
    for (int k = 0; k < 2; k++) {
        c.b[k].items = xcalloc(BATCH_RECORDS, sizeof *c.b[k].items);
        msgpack_sbuffer_init(&c.b[k].head);
    }
    msgpack_sbuffer_init(&c.out);

    refuse_output_is_input(out, argv + optind, (size_t)(argc - optind));
    cli_out o_out;
    FILE *fp = cli_out_open(&o_out, out, 1, force);
    /* the output header: the first input's (emo-clean's steps) plus this tokenizer's settings */
    rec_reader *first = open_input(optind < argc ? argv[optind] : NULL);
    static const char *const meta[] = { "tokenizer" };
    msgpack_packer *hpk;
    rec_writer *w = rec_writer_open_meta(fp, out, rec_reader_header(first), meta, 1, &hpk);
    rec_pack_key(hpk, "tokenizer");
    textcfg_pack_tokenizer(hpk, (int)c.max_len, vocab ? (long)tok_vocab_size(vocab) : 0);
    tokenize_stream(&c, w, first);
    for (int i = optind + 1; i < argc; i++)
        tokenize_stream(&c, w, open_input(argv[i]));
    if (c.b[c.cur].n)
        dispatch(&c, w);
    finish_pending(&c, w);
    if (rec_writer_close(w) != 0)
        cli_out_fail(&o_out);
    cli_out_commit(&o_out);
    if (c.skipped)
        warnx("skipped %llu records with invalid UTF-8", (unsigned long long)c.skipped);
    if (c.replaced)
        warnx("replaced invalid UTF-8 with U+FFFD in %llu records", (unsigned long long)c.replaced);
    cli_out_close(&o_out);
    for (int t = 0; t < c.nthreads; t++) {
        tok_encoder_free(c.wk[t].enc);
        free(c.wk[t].scratch);
        free(c.wk[t].ids);
    }
    free(c.wk);
    tok_vocab_free(vocab);
    spm_tok_free(c.spm);
    for (int k = 0; k < 2; k++) {
        free(c.b[k].items);
        free(c.b[k].texts);
        msgpack_sbuffer_destroy(&c.b[k].head);
    }
    msgpack_sbuffer_destroy(&c.out);
    return 0;
}
