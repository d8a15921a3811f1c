/* emo-predict: a trained checkpoint classifies new text.  Raw text in (lines, CSV/TSV,
 * JSONL, or record streams), one answer per input in input order, cleaned and tokenized
 * exactly as the checkpoint's training text was (lib/infer/predictor.h).
 *
 * Two ways of reading: a regular file is read in windows of 16 batches, each window run in
 * batches of similar length (little padding) and written in input order; a pipe or a
 * terminal is answered as it arrives: whatever complete inputs are already there (up to
 * --batch) are run and written, flushed, before the tool waits for more. */
#include <err.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "infer/predictor.h"
#include "io/rec.h"
#include "text/clean.h"
#include "text/csv.h"
#include "util/cli.h"
#include "util/par.h"
#include "util/util.h"

#define WINDOW_BATCHES 16

static const cli_help help = {
    "predict",
    "usage: emo predict -m CKPT_DIR [--format lines|csv|tsv|jsonl|records] [--text-column NAME|N]\n"
    "                   [--keep-columns] [--text-field NAME] [--json | --records | --tsv] [--top-k N]\n"
    "                   [--min-probability P] [--skip-empty] [--batch N] [--threads N] [--vocab FILE]\n"
    "                   [-fq] [-o FILE] [FILE...]\n",
    "      --batch N              sequences per forward pass (default 64)\n"
    "  -f, --force                write a record stream to a terminal\n"
    "      --format FORMAT        input: lines (default), csv, tsv, jsonl or records\n"
    "      --json                 JSON Lines out: the text, prediction, probability\n"
    "      --keep-columns         CSV/TSV: pass every column through, not only the text\n"
    "      --min-probability P    answer 'unknown' below probability P\n"
    "  -m, --model DIR            the trained checkpoint\n"
    "  -o, --output FILE          write FILE (atomically) instead of standard output\n"
    "  -q, --quiet                no notice and no summary on standard error\n"
    "      --records              record stream in, prediction stream out (for emo eval)\n"
    "      --skip-empty           no answer for empty lines\n"
    "      --text-column NAME|N   CSV/TSV: the text column (name or 1-based number)\n"
    "      --text-field NAME      JSONL: the text field (default text)\n"
    "      --threads N            threads (default: the online cores)\n"
    "      --top-k N              with --json: the N most probable classes\n"
    "      --tsv                  label<TAB>probability<TAB>text out (the default)\n"
    "      --vocab FILE           the vocabulary, for a checkpoint without vocab.txt\n",
};

enum { IN_LINES, IN_CSV, IN_TSV, IN_JSONL, IN_RECORDS };
enum { OUT_TSV, OUT_JSON, OUT_RECORDS };

/* One input waiting for its answer. */
typedef struct item {
    uint64_t line;            /* line (or record) number, for messages and JSON */
    char *text;               /* original text (bytes as read) */
    size_t text_len;
    char *extra;              /* what is passed through: JSON object text, CSV fields, a record */
    size_t extra_len;
    int32_t *ids;
    int len;
    float *probs;             /* (K) after the run; logits follow them */
} item;

static struct {
    predictor *p;
    const model_config *c;
    int in_fmt, out_fmt;
    int top_k, skip_empty, keep_columns, quiet, streaming, threads;
    double min_prob;
    size_t batch;
    const char *text_column, *text_field;
    FILE *out;
    rec_writer *rw;
    const char *src;
    /* the window */
    item *win;
    size_t n, cap;
    /* CSV: the header and the text column */
    char **header;
    size_t nheader;
    long text_col;
    int delim;
    int header_done;
    /* counts for the summary */
    uint64_t answered, replaced, truncated, skipped;
    rec_progress pg;          /* files only: a pipe's answers are their own progress */
} S = { .batch = 64, .text_field = "text" };

static void die_at(uint64_t line, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void die_at(uint64_t line, const char *what, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    errx(EXIT_DATA, "%s:%s %llu: %s", S.src, what, (unsigned long long)line, msg);
}

/* ---- output ---------------------------------------------------------------- */

static void put_field(const char *s, size_t n, int delim)
{
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == delim || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        fwrite(s, 1, n, S.out);
        return;
    }
    putc('"', S.out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            putc('"', S.out);
        putc(s[i], S.out);
    }
    putc('"', S.out);
}

static int argmax(const float *p, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        if (p[k] > p[best])
            best = k;
    return best;
}

static const char *answer_label(const float *p, int best)
{
    return p[best] < S.min_prob ? "unknown" : S.c->labels[best];
}

/* The answer fields of JSON output, added to obj. */
static void json_answer(json_t *obj, const float *p)
{
    int K = S.c->K, best = argmax(p, K);
    json_object_set_new(obj, "prediction", json_string(answer_label(p, best)));
    json_object_set_new(obj, "probability", json_real(p[best]));
    if (S.top_k) {
        int order[LABELS_MAX];   /* classes by probability, ties by class id (insertion sort) */
        for (int k = 0; k < K; k++) {
            int j = k;
            for (; j > 0 && p[order[j - 1]] < p[k]; j--)
                order[j] = order[j - 1];
            order[j] = k;
        }
        json_t *top = json_array();
        for (int i = 0; i < S.top_k && i < K; i++)
            json_array_append_new(top, json_pack("{s:s, s:f}", "label", S.c->labels[order[i]], "probability",
                                                 (double)p[order[i]]));
        json_object_set_new(obj, "top", top);
    }
}

/* Valid UTF-8 for JSON (the original bytes, invalid sequences replaced). */
static json_t *json_text(const char *s, size_t n)
{
    size_t bad;
    if (utf8_valid(s, n, &bad))
        return json_stringn(s, n);
    static text_buf fix;
    utf8_replace_invalid(s, n, &fix);
    return json_stringn(fix.p, fix.len);
}

static void write_item(const item *it)
{
    int K = S.c->K, best = argmax(it->probs, K);
    const float *logits = it->probs + K;
    if (S.out_fmt == OUT_RECORDS) {
        static const char *const keys[] = { "logits", "prediction", "probability" };
        msgpack_packer *pk;
        if (S.in_fmt == IN_RECORDS) {
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            msgpack_unpack_next(&u, it->extra, it->extra_len, NULL);
            rec_t rec = { u.data.via.map.ptr, u.data.via.map.size, it->line };
            pk = rec_begin(S.rw, &rec, keys, 3);
            msgpack_unpacked_destroy(&u);
            /* rec_begin has copied the passed fields into the output buffer already */
        } else {
            static const char *const k2[] = { "id", "text", "logits", "prediction", "probability" };
            pk = rec_begin(S.rw, NULL, k2, 5);
            rec_pack_key(pk, "id");
            msgpack_pack_uint64(pk, it->line);
            rec_pack_key(pk, "text");
            rec_pack_str(pk, it->text, it->text_len);
        }
        rec_pack_key(pk, "logits");
        rec_pack_f32v(pk, logits, (size_t)K);
        rec_pack_key(pk, "prediction");
        const char *l = answer_label(it->probs, best);
        rec_pack_str(pk, l, strlen(l));
        rec_pack_key(pk, "probability");
        msgpack_pack_float(pk, it->probs[best]);
        rec_end(S.rw);
        return;
    }
    if (S.out_fmt == OUT_JSON) {
        json_t *obj;
        if (S.in_fmt == IN_JSONL) {
            obj = json_loadb(it->extra, it->extra_len, JSON_ALLOW_NUL, NULL);
        } else {
            obj = json_object();
            json_object_set_new(obj, S.in_fmt == IN_RECORDS ? "record" : "line", json_integer((json_int_t)it->line));
            if (S.in_fmt == IN_CSV || S.in_fmt == IN_TSV) {
                /* the kept columns by header name, else the text column */
                const char *f = it->extra;
                for (size_t i = 0; i < S.nheader; i++) {
                    size_t fl = strlen(f);
                    if (S.keep_columns || (long)i == S.text_col)
                        json_object_set_new(obj, S.header[i], json_text(f, fl));
                    f += fl + 1;
                }
            } else {
                json_object_set_new(obj, "text", json_text(it->text, it->text_len));
            }
        }
        json_answer(obj, it->probs);
        char *s = json_dumps(obj, JSON_COMPACT);
        fputs(s, S.out);
        putc('\n', S.out);
        free(s);
        json_decref(obj);
        return;
    }
    /* TSV (or the input's own delimiter for CSV/TSV input) */
    const char *label = answer_label(it->probs, best);
    if (S.in_fmt == IN_CSV || S.in_fmt == IN_TSV) {
        put_field(label, strlen(label), S.delim);
        fprintf(S.out, "%c%.6f", S.delim, (double)it->probs[best]);
        const char *f = it->extra;
        for (size_t i = 0; i < S.nheader; i++) {
            size_t fl = strlen(f);
            if (S.keep_columns || (long)i == S.text_col) {
                putc(S.delim, S.out);
                put_field(f, fl, S.delim);
            }
            f += fl + 1;
        }
        putc('\n', S.out);
        return;
    }
    fprintf(S.out, "%s\t%.6f\t", label, (double)it->probs[best]);
    /* the text as it came, on one line */
    for (size_t i = 0; i < it->text_len; i++)
        putc(it->text[i] == '\n' || it->text[i] == '\r' ? ' ' : it->text[i], S.out);
    putc('\n', S.out);
}

/* ---- running the window ---------------------------------------------------- */

static int cmp_len(const void *a, const void *b)
{
    const item *x = *(item *const *)a, *y = *(item *const *)b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static void run_batch(item **its, int B)
{
    int T = 0;
    for (int b = 0; b < B; b++)
        T = its[b]->len > T ? its[b]->len : T;
    int K = S.c->K;
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)B * (size_t)T), *lens = xmalloc(sizeof(int32_t) * (size_t)B);
    float *logits = xmalloc(sizeof(float) * (size_t)B * (size_t)K), *probs = xmalloc(sizeof(float) * (size_t)B * (size_t)K);
    for (int b = 0; b < B; b++) {
        memcpy(ids + (size_t)b * T, its[b]->ids, sizeof(int32_t) * (size_t)its[b]->len);
        for (int t = its[b]->len; t < T; t++)
            ids[(size_t)b * T + t] = S.c->pad_token_id;
        lens[b] = its[b]->len;
    }
    char e[512];
    /* A line streamed alone runs on one thread: after the wait for input the pool's other
     * threads sleep, and waking them costs more than they save on one tweet (on a busy
     * machine, many times more: bench/predict/predict.sh).  Same results on any thread count. */
    int solo = S.streaming && B == 1 && S.threads > 1;
    if (solo)
        threads_setup(1);
    if (predictor_run(S.p, ids, lens, B, T, logits, probs, e, sizeof e))
        die_at(its[0]->line, S.in_fmt == IN_RECORDS ? "record" : "line", "%s", e);
    if (solo)
        threads_setup(S.threads);
    for (int b = 0; b < B; b++) {
        its[b]->probs = xmalloc(sizeof(float) * 2 * (size_t)K);
        memcpy(its[b]->probs, probs + (size_t)b * K, sizeof(float) * (size_t)K);
        memcpy(its[b]->probs + K, logits + (size_t)b * K, sizeof(float) * (size_t)K);
    }
    free(ids);
    free(lens);
    free(logits);
    free(probs);
}

/* Runs and writes every item held, in input order; flushes when streaming. */
static void flush_window(void)
{
    if (!S.n)
        return;
    item **order = xmalloc(S.n * sizeof *order);
    for (size_t i = 0; i < S.n; i++)
        order[i] = &S.win[i];
    if (!S.streaming)
        qsort(order, S.n, sizeof *order, cmp_len);
    for (size_t s = 0; s < S.n; s += S.batch) {
        int B = (int)(S.n - s < S.batch ? S.n - s : S.batch);
        run_batch(order + s, B);
        if (!S.streaming)
            rec_progress_add(&S.pg, S.src, (uint64_t)B);
    }
    free(order);
    for (size_t i = 0; i < S.n; i++) {
        write_item(&S.win[i]);
        free(S.win[i].text);
        free(S.win[i].extra);
        free(S.win[i].ids);
        free(S.win[i].probs);
    }
    S.answered += S.n;
    S.n = 0;
    if (S.streaming && fflush(S.out) != 0)
        err(EXIT_DATA, "write error");
}

static void wait_hook(void *arg)
{
    (void)arg;
    flush_window();
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Holds one input: raw text (cleaned and tokenized here) or ids already made. */
static void add(uint64_t line, const char *text, size_t len, char *extra, size_t extra_len, int cleaned,
                const int32_t *ids, size_t nids)
{
    if (S.skip_empty && !ids) {
        size_t i = 0;
        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
            i++;
        if (i == len) {
            S.skipped++;
            free(extra);
            return;
        }
    }
    if (S.n == S.cap)
        flush_window();
    item *it = &S.win[S.n++];
    memset(it, 0, sizeof *it);
    it->line = line;
    it->text = dup_bytes(text, len);
    it->text_len = len;
    it->extra = extra;
    it->extra_len = extra_len;
    it->ids = xmalloc(sizeof(int32_t) * (size_t)(ids ? nids : (size_t)predictor_max_len(S.p)));
    if (ids) {
        memcpy(it->ids, ids, sizeof(int32_t) * nids);
        it->len = (int)nids;
    } else {
        size_t bad;
        static text_buf fix;
        if (!utf8_valid(text, len, &bad)) {
            utf8_replace_invalid(text, len, &fix);
            text = fix.p;
            len = fix.len;
            S.replaced++;
        }
        int trunc;
        it->len = (int)(cleaned ? predictor_encode_clean(S.p, text, len, it->ids, &trunc)
                                : predictor_encode(S.p, text, len, it->ids, &trunc));
        S.truncated += (uint64_t)trunc;
    }
    if (S.streaming && S.n >= S.batch)
        flush_window();
}

/* ---- inputs ---------------------------------------------------------------- */

static void csv_header(const csv_row *row)
{
    int first = S.header == NULL;
    for (size_t i = 0; i < S.nheader; i++)
        free(S.header[i]);
    free(S.header);
    S.nheader = row->nfields;
    S.header = xcalloc(row->nfields, sizeof *S.header);
    for (size_t i = 0; i < row->nfields; i++)
        S.header[i] = dup_bytes(row->field[i], row->len[i]);
    const char *want = S.text_column ? S.text_column : "text";
    char *end;
    long n = strtol(want, &end, 10);
    S.text_col = -1;
    if (*want && !*end) {
        if (n < 1 || (size_t)n > row->nfields)
            die_at(row->line, "line", "column %ld: the header has %zu columns", n, row->nfields);
        S.text_col = n - 1;
    }
    for (size_t i = 0; i < row->nfields && S.text_col < 0; i++)
        if (!strcmp(S.header[i], want))
            S.text_col = (long)i;
    if (S.text_col < 0) {
        char cols[256] = "";
        size_t k = 0;
        for (size_t i = 0; i < row->nfields && k < sizeof cols; i++)
            k += (size_t)snprintf(cols + k, sizeof cols - k, "%s%s", i ? ", " : "", S.header[i]);
        die_at(row->line, "line", "no column '%s' (the header has: %s; --text-column NAME|N)", want, cols);
    }
    if (first && S.out_fmt == OUT_TSV) {     /* the output's own header, once */
        fprintf(S.out, "label%cprobability", S.delim);
        for (size_t i = 0; i < S.nheader; i++)
            if (S.keep_columns || (long)i == S.text_col) {
                putc(S.delim, S.out);
                put_field(S.header[i], strlen(S.header[i]), S.delim);
            }
        putc('\n', S.out);
    }
}

static void read_text(const char *path)
{
    int delim = S.in_fmt == IN_CSV ? ',' : S.in_fmt == IN_TSV ? '\t' : -1;
    csv_reader *r = csv_open(path, delim, delim > 0);
    if (!r)
        err(EXIT_DATA, "%s", path);
    S.src = csv_name(r);
    S.delim = delim;
    /* a pipe or a terminal is answered as it arrives; a regular file in sorted windows */
    struct stat st;
    int fd_ok = path && strcmp(path, "-") ? stat(path, &st) : fstat(0, &st);
    S.streaming = fd_ok != 0 || !S_ISREG(st.st_mode);
    S.header_done = 0;
    if (S.streaming)
        csv_set_wait_hook(r, wait_hook, NULL);
    csv_keep_blank(r, delim < 0);
    csv_row row;
    int k;
    while ((k = csv_next(r, &row)) == 1) {
        if (delim > 0 && !S.header_done) {
            csv_header(&row);
            S.header_done = 1;
            continue;
        }
        if (delim > 0) {
            if ((long)row.nfields <= S.text_col)
                die_at(row.line, "line", "%zu fields, the text column is number %ld", row.nfields, S.text_col + 1);
            /* the fields, NUL-separated, for the output (missing trailing fields are empty) */
            size_t total = 0;
            for (size_t i = 0; i < S.nheader; i++)
                total += (i < row.nfields ? row.len[i] : 0) + 1;
            char *extra = xmalloc(total), *q = extra;
            for (size_t i = 0; i < S.nheader; i++) {
                size_t l = i < row.nfields ? row.len[i] : 0;
                if (l)
                    memcpy(q, row.field[i], l);
                q[l] = 0;
                q += l + 1;
            }
            add(row.line, row.field[S.text_col], row.len[S.text_col], extra, total, 0, NULL, 0);
        } else if (S.in_fmt == IN_JSONL) {
            if (row.len[0] == 0 || (row.len[0] == 1 && row.field[0][0] == '\r')) {
                if (!S.skip_empty)
                    die_at(row.line, "line", "empty line (not a JSON object; --skip-empty skips them)");
                S.skipped++;
                continue;
            }
            json_error_t je;
            json_t *o = json_loadb(row.field[0], row.len[0], JSON_ALLOW_NUL, &je);
            if (!o)
                die_at(row.line, "line", "not JSON: %s", je.text);
            if (!json_is_object(o))
                die_at(row.line, "line", "not a JSON object");
            json_t *t = json_object_get(o, S.text_field);
            if (!json_is_string(t))
                die_at(row.line, "line", "no string field '%s' (--text-field NAME)", S.text_field);
            add(row.line, json_string_value(t), json_string_length(t), dup_bytes(row.field[0], row.len[0]),
                row.len[0], 0, NULL, 0);
            json_decref(o);
        } else {
            add(row.line, row.field[0], row.len[0], NULL, 0, 0, NULL, 0);
        }
    }
    if (k < 0)
        errx(EXIT_DATA, "%s:%s", S.src, csv_error(r));
    if (delim > 0 && !S.header_done)
        errx(EXIT_DATA, "%s: empty input (no header row)", S.src);
    flush_window();
    csv_close(r);
}

static void read_records(const char *path)
{
    rec_reader *r = rec_reader_open(path);
    if (!r)
        err(EXIT_DATA, "%s", path);
    S.src = rec_reader_name(r);
    if (S.out_fmt == OUT_RECORDS && !S.rw)
        S.rw = rec_writer_open_meta(S.out, NULL, rec_reader_header(r), NULL, 0, NULL);
    int P = predictor_max_len(S.p) > S.c->P ? predictor_max_len(S.p) : S.c->P;
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)P);
    rec_t rec;
    while (rec_read_or_die(r, &rec)) {
        const char *text = "";
        size_t tlen = 0, n = 0;
        int has_text = rec_get_str(&rec, "text", &text, &tlen) == 0;
        int k = rec_get_ids(&rec, "input_ids", ids, (size_t)S.c->P, &n);
        if (k == -3)
            rec_die(r, "more than %d tokens (the model's max_position_embeddings)", S.c->P);
        if (k && k != -1)
            rec_need_ids(r, &rec, "input_ids", ids, (size_t)S.c->P);
        if (k == -1 && !has_text)
            rec_die(r, "neither input_ids nor text");
        if (k == 0 && n == 0)
            rec_die(r, "empty input_ids");
        for (size_t t = 0; k == 0 && t < n; t++)
            if (ids[t] >= S.c->V)
                rec_die(r, "token id %d is outside the model's vocabulary of %d (tokenized with another vocabulary?)",
                        ids[t], S.c->V);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        if (S.out_fmt == OUT_RECORDS) {
            msgpack_packer pk;
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            msgpack_object m = { .type = MSGPACK_OBJECT_MAP };
            m.via.map.size = rec.nfields;
            m.via.map.ptr = (msgpack_object_kv *)rec.kv;
            msgpack_pack_object(&pk, m);
        }
        add(rec.index, text, tlen, sb.data, sb.size, 1, k == 0 ? ids : NULL, n);
    }
    flush_window();
    free(ids);
    rec_reader_close(r);
}

static void summary(void)
{
    if (S.quiet || (!S.replaced && !S.truncated && !S.skipped))
        return;
    fprintf(stderr, "emo-predict: %llu answered", (unsigned long long)S.answered);
    if (S.skipped)
        fprintf(stderr, ", %llu empty skipped", (unsigned long long)S.skipped);
    if (S.replaced)
        fprintf(stderr, ", %llu with invalid UTF-8 replaced by U+FFFD", (unsigned long long)S.replaced);
    if (S.truncated)
        fprintf(stderr, ", %llu truncated to %d tokens as in training", (unsigned long long)S.truncated,
                predictor_max_len(S.p));
    fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    enum { O_FORMAT = 256, O_TEXT_COLUMN, O_KEEP_COLUMNS, O_TEXT_FIELD, O_JSON, O_RECORDS, O_TSV, O_TOP_K,
           O_MIN_PROB, O_SKIP_EMPTY, O_BATCH, O_THREADS, O_VOCAB };
    static const struct option longopts[] = {
        CLI_LONGOPTS,
        { "batch", required_argument, NULL, O_BATCH },
        { "force", no_argument, NULL, 'f' },
        { "format", required_argument, NULL, O_FORMAT },
        { "json", no_argument, NULL, O_JSON },
        { "keep-columns", no_argument, NULL, O_KEEP_COLUMNS },
        { "min-probability", required_argument, NULL, O_MIN_PROB },
        { "model", required_argument, NULL, 'm' },
        { "output", required_argument, NULL, 'o' },
        { "quiet", no_argument, NULL, 'q' },
        { "records", no_argument, NULL, O_RECORDS },
        { "skip-empty", no_argument, NULL, O_SKIP_EMPTY },
        { "text-column", required_argument, NULL, O_TEXT_COLUMN },
        { "text-field", required_argument, NULL, O_TEXT_FIELD },
        { "threads", required_argument, NULL, O_THREADS },
        { "top-k", required_argument, NULL, O_TOP_K },
        { "tsv", no_argument, NULL, O_TSV },
        { "vocab", required_argument, NULL, O_VOCAB },
        { NULL, 0, NULL, 0 },
    };
    const char *ckpt = NULL, *out = NULL, *vocab = NULL;
    int force = 0, threads = 0, c, in_fmt = -1, out_fmt = -1, records = 0;
    while ((c = getopt_long(argc, argv, "fhm:o:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'm': ckpt = optarg; break;
        case 'o': out = optarg; break;
        case 'q': S.quiet = 1; break;
        case O_FORMAT:
            if (!strcmp(optarg, "lines"))
                in_fmt = IN_LINES;
            else if (!strcmp(optarg, "csv"))
                in_fmt = IN_CSV;
            else if (!strcmp(optarg, "tsv"))
                in_fmt = IN_TSV;
            else if (!strcmp(optarg, "jsonl"))
                in_fmt = IN_JSONL;
            else if (!strcmp(optarg, "records"))
                in_fmt = IN_RECORDS;
            else
                errx(EXIT_USAGE, "option --format: '%s' is not lines, csv, tsv, jsonl or records", optarg);
            break;
        case O_TEXT_COLUMN: S.text_column = optarg; break;
        case O_KEEP_COLUMNS: S.keep_columns = 1; break;
        case O_TEXT_FIELD: S.text_field = optarg; if (in_fmt < 0) in_fmt = IN_JSONL; break;
        case O_JSON: out_fmt = OUT_JSON; break;
        case O_RECORDS: records = 1; break;
        case O_TSV: out_fmt = OUT_TSV; break;
        case O_TOP_K: S.top_k = (int)xparse_ll("--top-k", optarg, 1, LABELS_MAX); break;
        case O_MIN_PROB: S.min_prob = xparse_double("--min-probability", optarg, 0, 1); break;
        case O_SKIP_EMPTY: S.skip_empty = 1; break;
        case O_BATCH: S.batch = (size_t)xparse_ll("--batch", optarg, 1, 4096); break;
        case O_THREADS: threads = (int)xparse_ll("--threads", optarg, 1, 1024); break;
        case O_VOCAB: vocab = optarg; break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (!ckpt)
        cli_usage(&help, EXIT_USAGE);
    /* --records: a record stream in (unless --format says otherwise) and, unless --json or
     * --tsv says otherwise, a prediction stream out */
    if (in_fmt < 0)
        in_fmt = records ? IN_RECORDS : S.text_column ? IN_CSV : IN_LINES;
    if (out_fmt < 0)
        out_fmt = records ? OUT_RECORDS : OUT_TSV;
    if ((S.text_column || S.keep_columns) && in_fmt != IN_CSV && in_fmt != IN_TSV)
        errx(EXIT_USAGE, "--text-column and --keep-columns are for --format csv or tsv");
    if (S.top_k && out_fmt != OUT_JSON)
        errx(EXIT_USAGE, "--top-k is for --json output");
    if (out_fmt == OUT_RECORDS && in_fmt != IN_RECORDS && in_fmt != IN_LINES)
        errx(EXIT_USAGE, "--records output is for record or line input");
    S.in_fmt = in_fmt;
    S.out_fmt = out_fmt;
    S.threads = threads_setup(threads);
    char e[1024], notice[1024];
    S.p = predictor_open(ckpt, vocab, notice, sizeof notice, e, sizeof e);
    if (!S.p)
        errx(EXIT_DATA, "%s", e);
    if (*notice && !S.quiet)
        warnx("%s", notice);
    S.c = predictor_config(S.p);
    S.cap = S.batch * WINDOW_BATCHES;
    S.win = xcalloc(S.cap, sizeof *S.win);

    if (out)
        refuse_output_is_input(out, argv + optind, (size_t)(argc - optind));
    cli_out o_out;
    S.out = cli_out_open(&o_out, out, out_fmt == OUT_RECORDS, force);
    if (out_fmt == OUT_RECORDS && in_fmt != IN_RECORDS)
        S.rw = rec_writer_open(S.out, out);
    rec_progress_start(&S.pg);
    int nin = argc - optind;
    for (int i = 0; i < (nin ? nin : 1); i++) {
        const char *path = nin ? argv[optind + i] : NULL;
        if (in_fmt == IN_RECORDS)
            read_records(path);
        else
            read_text(path);
    }
    rec_progress_end(&S.pg);
    if (S.rw && rec_writer_close(S.rw) != 0)
        cli_out_fail(&o_out);
    cli_out_commit(&o_out);
    summary();
    cli_out_close(&o_out);
    predictor_free(S.p);
    free(S.win);
    return 0;
}
