/* Every row of the shared corpora (train, val, unlabeled), the hand-made edge cases and
 * the long texts, tokenized by lib/tok and compared with the goldens made by the Hugging
 * Face tokenizers library (tests/gen/make_tok_goldens.sh): id by id for the edge cases and
 * long texts, by a per-row digest of the ids for the shared corpora, whose ids are not
 * committed (they would be a reversible copy of ../shared).  Rows where the
 * Rust library is known to differ from the Python BertTokenizer take their expected ids
 * from tests/fixtures/tok/python-overrides.tsv instead (reasons are in that file).
 * Last, 4000 random strings over many scripts are compared with the Python algorithm's
 * ids directly (tests/gen/make_tok_fuzz.py, bert_ref.py). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zstd.h>

#include "check.h"
#include "tok/bert_tok.h"
#include "util/util.h"

#define MAX_IDS (4u << 20)

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Whole .zst file -> NUL-terminated buffer. */
static char *unzstd(const char *path, size_t *len)
{
    size_t zlen;
    char *z = slurp(path, &zlen);
    ZSTD_DCtx *d = ZSTD_createDCtx();
    size_t cap = 1 << 20, n = 0;
    char *out = xmalloc(cap + 1);
    ZSTD_inBuffer in = { z, zlen, 0 };
    while (in.pos < in.size) {
        if (cap - n < (1 << 16)) {
            cap *= 2;
            out = xrealloc(out, cap + 1);
        }
        ZSTD_outBuffer ob = { out + n, cap - n, 0 };
        size_t r = ZSTD_decompressStream(d, &ob, &in);
        if (ZSTD_isError(r)) {
            fprintf(stderr, "%s: %s\n", path, ZSTD_getErrorName(r));
            exit(1);
        }
        n += ob.pos;
    }
    ZSTD_freeDCtx(d);
    free(z);
    out[n] = '\0';
    *len = n;
    return out;
}

typedef struct rows {
    char **text;
    size_t *len;
    size_t n, cap;
} rows;

static void rows_add(rows *r, const char *s, size_t n)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->text = xreallocarray(r->text, r->cap, sizeof *r->text);
        r->len = xreallocarray(r->len, r->cap, sizeof *r->len);
    }
    r->text[r->n] = xmalloc(n + 1);
    memcpy(r->text[r->n], s, n);
    r->text[r->n][n] = '\0';
    r->len[r->n++] = n;
}

/* corpus lines; labeled: the text before the last ';' (as make_tok_goldens.sh) */
static void rows_from_corpus(rows *r, const char *buf, size_t len, int labeled)
{
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - buf) : len, t = e;
        if (t > i && buf[t - 1] == '\r')
            t--;
        if (labeled) {
            size_t k = t;
            while (k > i && buf[k - 1] != ';')
                k--;
            if (k > i)
                t = k - 1;
        }
        rows_add(r, buf + i, t - i);
        i = e + 1;
    }
}

static void rows_from_jsonl(rows *r, const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - buf) : len;
        json_error_t je;
        json_t *v = json_loadb(buf + i, e - i, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!v || !json_is_string(v)) {
            fprintf(stderr, "bad jsonl line %zu: %s\n", r->n + 1, je.text);
            exit(1);
        }
        rows_add(r, json_string_value(v), json_string_length(v));
        json_decref(v);
        i = e + 1;
    }
}

static void rows_free(rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->text[i]);
    free(r->text);
    free(r->len);
}

/* "<line>\t<id> <id>..." (or "<line>\t#<count>:<digest>") -> expected[line-1] as that text */
static char **parse_golden(char *buf, size_t nrows)
{
    char **exp = xcalloc(nrows, sizeof *exp);
    char *save, *line = strtok_r(buf, "\n", &save);
    for (; line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        unsigned long ln = strtoul(line, NULL, 10);
        if (ln >= 1 && ln <= nrows)
            exp[ln - 1] = tab + 1;
    }
    return exp;
}

/* A corpus golden is "#<count>:<hex>", the FNV-1a 64 of the ids as decimal numbers joined
 * by single spaces (tests/gen/tok_golden_hash.py): the corpora's ids are not committed. */
static int digest_equal(const int32_t *ids, size_t n, const char *exp)
{
    char *end;
    unsigned long count = strtoul(exp + 1, &end, 10);
    if (*end != ':' || count != n)
        return 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    char num[16];
    for (size_t k = 0; k < n; k++) {
        int len = snprintf(num, sizeof num, k ? " %d" : "%d", ids[k]);
        for (int i = 0; i < len; i++)
            h = (h ^ (unsigned char)num[i]) * 0x100000001b3ULL;
    }
    return strtoull(end + 1, NULL, 16) == h;
}

static int ids_equal(const int32_t *ids, size_t n, const char *exp)
{
    if (exp[0] == '#')
        return digest_equal(ids, n, exp);
    const char *p = exp;
    for (size_t k = 0; k < n; k++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v != ids[k])
            return 0;
        p = end;
    }
    while (*p == ' ')
        p++;
    return *p == '\0' || *p == '\t';
}

static char *overrides_buf;

/* expected ids for (set, line) from python-overrides.tsv: "set\tline\tids\treason" */
static const char *override_for(const char *set, size_t line)
{
    if (!overrides_buf)
        return NULL;
    size_t sl = strlen(set);
    for (const char *p = overrides_buf; *p;) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        if (*p != '#' && ll > sl && !strncmp(p, set, sl) && p[sl] == '\t' &&
            strtoul(p + sl + 1, NULL, 10) == line) {
            const char *t = strchr(p + sl + 1, '\t');
            return t ? t + 1 : NULL;
        }
        p = nl ? nl + 1 : p + ll;
    }
    return NULL;
}

static size_t checked_rows, overridden_rows;

static void compare_set(tok_encoder *e, const tok_vocab *v, const char *set, rows *r, const char *golden_path)
{
    size_t glen;
    char *g = unzstd(golden_path, &glen);
    char **exp = parse_golden(g, r->n);
    int32_t *ids = xmalloc(MAX_IDS * sizeof *ids);
    size_t bad = 0;
    for (size_t i = 0; i < r->n; i++) {
        const char *want = override_for(set, i + 1);
        if (want)
            overridden_rows++;
        else
            want = exp[i];
        if (!want) {
            CHECK(0, "%s line %zu: no golden", set, i + 1);
            continue;
        }
        size_t n = tok_encode(e, r->text[i], r->len[i], ids, MAX_IDS);
        checked_rows++;
        if (!ids_equal(ids, n, want)) {
            if (++bad <= 8) {
                fprintf(stderr, "%s line %zu: got", set, i + 1);
                for (size_t k = 0; k < n && k < 40; k++)
                    fprintf(stderr, " %d(%s)", ids[k], tok_vocab_token(v, ids[k]));
                fprintf(stderr, "\n    want %.400s\n", want);
            }
        }
    }
    CHECK(bad == 0, "%s: %zu of %zu rows differ from the golden ids", set, bad, r->n);
    free(ids);
    free(exp);
    free(g);
}

int main(void)
{
    const char *shared = getenv("SHARED") ? getenv("SHARED") : "../shared";
    const char *root = getenv("EMO_ROOT") ? getenv("EMO_ROOT") : ".";
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/data/bert-base-uncased/vocab.txt", shared);
    tok_vocab *v = tok_vocab_load(path, err, sizeof err);
    CHECK(v != NULL, "%s", err);
    if (!v)
        return check_done("test_tok_golden");
    tok_encoder *e = tok_encoder_new(v);
    size_t olen;
    snprintf(path, sizeof path, "%s/tests/fixtures/tok/python-overrides.tsv", root);
    FILE *of = fopen(path, "r");
    if (of) {
        fclose(of);
        overrides_buf = slurp(path, &olen);
    }

    static const struct { const char *name, *file; int labeled; } corpora[] = {
        { "train", "train.txt", 1 }, { "val", "val.txt", 1 }, { "unlabeled", "unlabeled.txt", 0 },
    };
    for (size_t c = 0; c < 3; c++) {
        rows r = { 0 };
        size_t len;
        snprintf(path, sizeof path, "%s/data/emotion/%s", shared, corpora[c].file);
        char *buf = slurp(path, &len);
        rows_from_corpus(&r, buf, len, corpora[c].labeled);
        snprintf(path, sizeof path, "%s/tests/fixtures/tok/%s.ids.zst", root, corpora[c].name);
        compare_set(e, v, corpora[c].name, &r, path);
        rows_free(&r);
        free(buf);
    }
    {
        rows r = { 0 };
        size_t len;
        snprintf(path, sizeof path, "%s/tests/fixtures/tok/edge.jsonl", root);
        char *buf = slurp(path, &len);
        rows_from_jsonl(&r, buf, len);
        snprintf(path, sizeof path, "%s/tests/fixtures/tok/edge.ids.zst", root);
        compare_set(e, v, "edge", &r, path);
        rows_free(&r);
        free(buf);
    }
    {
        rows r = { 0 };
        size_t len;
        snprintf(path, sizeof path, "%s/tests/fixtures/tok/long.jsonl.zst", root);
        char *buf = unzstd(path, &len);
        rows_from_jsonl(&r, buf, len);
        snprintf(path, sizeof path, "%s/tests/fixtures/tok/long.ids.zst", root);
        compare_set(e, v, "long", &r, path);
        rows_free(&r);
        free(buf);
    }
    {
        /* random strings; expected ids from the Python algorithm (tests/gen/bert_ref.py) */
        rows r = { 0 };
        size_t len;
        snprintf(path, sizeof path, "%s/tests/fixtures/tok/fuzz.jsonl.zst", root);
        char *buf = unzstd(path, &len);
        rows_from_jsonl(&r, buf, len);
        snprintf(path, sizeof path, "%s/tests/fixtures/tok/fuzz.py-ids.zst", root);
        compare_set(e, v, "fuzz", &r, path);
        CHECK(r.n == 4000, "fuzz rows: %zu", r.n);
        rows_free(&r);
        free(buf);
    }
    fprintf(stderr, "test_tok_golden: %zu rows compared (%zu with Python-BertTokenizer overrides)\n",
            checked_rows, overridden_rows);
    CHECK(checked_rows >= 64733 + 61, "all rows compared (%zu)", checked_rows);
    tok_encoder_free(e);
    tok_vocab_free(v);
    free(overrides_buf);
    return check_done("test_tok_golden");
}
