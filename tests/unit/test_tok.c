/* lib/tok API: vocab loading (line ends, duplicates, specials by name), WordPiece on a
 * tiny vocab, truncation, the UTF-8 validator, and the 100-code-point word limit. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tok/bert_tok.h"
#include "util/util.h"

static char tmpdir[] = "/tmp/test_tok.XXXXXX";

static char *write_file(const char *name, const char *data, size_t n)
{
    char *p = path_join(tmpdir, name);
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    return p;
}

static size_t enc(tok_encoder *e, const char *s, int32_t *ids, size_t max)
{
    return tok_encode(e, s, strlen(s), ids, max);
}

static int same(const int32_t *a, size_t n, const int32_t *b, size_t m)
{
    return n == m && !memcmp(a, b, n * sizeof *a);
}

int main(void)
{
    char err[512];
    if (!mkdtemp(tmpdir))
        return 1;

    /* A tiny vocab: ids are line numbers; CRLF and a bare CR both end lines (Python's
     * universal newlines); the special tokens sit anywhere. */
    static const char tiny[] =
        "un\r\n##aff\r\n##able\r[UNK]\n[CLS]\n[SEP]\n[PAD]\nhello\n,\n!\n##s\nhello\na\n##a\n##bc";
    char *tp = write_file("tiny.txt", tiny, sizeof tiny - 1);
    tok_vocab *v = tok_vocab_load(tp, err, sizeof err);
    CHECK(v != NULL, "tiny vocab: %s", err);
    if (!v)
        return check_done("test_tok");
    CHECK(tok_vocab_size(v) == 15, "15 lines, got %zu", tok_vocab_size(v));
    const tok_specials *sp = tok_vocab_specials(v);
    CHECK(sp->unk == 3 && sp->cls == 4 && sp->sep == 5 && sp->pad == 6 && sp->mask == -1,
          "specials by name: %d %d %d %d %d", sp->unk, sp->cls, sp->sep, sp->pad, sp->mask);
    CHECK(tok_vocab_id(v, "hello", 5) == 11, "a later duplicate wins: %d", tok_vocab_id(v, "hello", 5));
    CHECK(tok_vocab_id(v, "##aff", 5) == 1, "##aff");
    CHECK(tok_vocab_id(v, "aff", 3) == -1, "aff is not a word-initial token");
    CHECK(!strcmp(tok_vocab_token(v, 2), "##able"), "id -> token");
    CHECK(tok_vocab_token(v, 15) == NULL && tok_vocab_token(v, -1) == NULL, "out of range");
    CHECK(tok_vocab_id(v, "##bc", 4) == 14, "last line without a newline");

    tok_encoder *e = tok_encoder_new(v);
    int32_t ids[256];
    size_t n = enc(e, "Unaffable", ids, 256);
    CHECK(same(ids, n, (int32_t[]){ 4, 0, 1, 2, 5 }, 5), "un ##aff ##able (%zu ids)", n);
    n = enc(e, "hello, hellos! unx", ids, 256);
    CHECK(same(ids, n, (int32_t[]){ 4, 11, 8, 11, 10, 9, 3, 5 }, 8), "hello , hello ##s ! [UNK]");
    n = enc(e, "", ids, 256);
    CHECK(same(ids, n, (int32_t[]){ 4, 5 }, 2), "empty text is [CLS] [SEP]");
    n = enc(e, "hello hello hello", ids, 3);
    CHECK(same(ids, n, (int32_t[]){ 4, 11, 5 }, 3), "truncated to 3");
    /* greedy longest-match-first: "abc" -> a ##bc, not a ##a... */
    n = enc(e, "abc aaa", ids, 256);
    CHECK(same(ids, n, (int32_t[]){ 4, 12, 14, 12, 13, 13, 5 }, 7), "a ##bc a ##a ##a");
    /* 100 code points still go through WordPiece, 101 are [UNK] */
    char word[512];
    memset(word, 'a', 101);
    word[100] = '\0';
    n = enc(e, word, ids, 256);
    CHECK(n == 102 && ids[1] == 12 && ids[100] == 13, "100 x a -> a + 99 ##a (%zu ids)", n);
    word[100] = 'a';
    word[101] = '\0';
    n = enc(e, word, ids, 256);
    CHECK(same(ids, n, (int32_t[]){ 4, 3, 5 }, 3), "101 x a -> [UNK]");
    /* literal special tokens are kept whole, case-sensitively */
    n = enc(e, "hello[CLS]hello [cls]", ids, 256);
    CHECK(same(ids, n, (int32_t[]){ 4, 11, 4, 11, 3, 3, 3, 5 }, 8), "[CLS] kept, [cls] split (%zu)", n);
    tok_encoder_free(e);
    tok_vocab_free(v);

    /* bad vocab files: each a one-line reason, never a crash */
    char *p = write_file("nounk.txt", "[CLS]\n[SEP]\n[PAD]\n", 18);
    CHECK(!tok_vocab_load(p, err, sizeof err) && strstr(err, "no [UNK] token"), "%s", err);
    free(p);
    p = write_file("empty.txt", "", 0);
    CHECK(!tok_vocab_load(p, err, sizeof err) && strstr(err, "empty vocabulary"), "%s", err);
    free(p);
    p = write_file("nul.txt", "[CLS]\n\0\n", 8);
    CHECK(!tok_vocab_load(p, err, sizeof err) && strstr(err, "NUL"), "%s", err);
    free(p);
    CHECK(!tok_vocab_load("/nonexistent/vocab.txt", err, sizeof err) && strstr(err, "No such file"), "%s", err);

    /* UTF-8 validation: offsets of the first bad byte */
    static const struct { const char *s; size_t len, bad; } u[] = {
        { "plain ascii text", 16, 16 },
        { "caf\xc3\xa9", 5, 5 },
        { "a\xff", 2, 1 },
        { "ab\xc0\xaf", 4, 2 },                 /* overlong '/' */
        { "\xe0\x80\xaf", 3, 0 },               /* overlong */
        { "x\xed\xa0\x80", 4, 1 },              /* lone surrogate U+D800 */
        { "\xf4\x90\x80\x80", 4, 0 },           /* > U+10FFFF */
        { "\xf0\x9f\x98\x80!", 5, 5 },          /* emoji */
        { "12345678\xe2\x82", 10, 8 },          /* truncated at the end */
        { "\xc3", 1, 0 },
        { "\x80", 1, 0 },
    };
    for (size_t i = 0; i < sizeof u / sizeof *u; i++) {
        size_t got = tok_utf8_invalid_at(u[i].s, u[i].len);
        CHECK(got == u[i].bad, "utf8 case %zu: %zu, want %zu", i, got, u[i].bad);
    }

    /* With the real vocab: truncation keeps a prefix, for every max_len. */
    const char *shared = getenv("SHARED") ? getenv("SHARED") : "../shared";
    char vp[4096];
    snprintf(vp, sizeof vp, "%s/data/bert-base-uncased/vocab.txt", shared);
    v = tok_vocab_load(vp, err, sizeof err);
    CHECK(v != NULL, "%s", err);
    if (v) {
        sp = tok_vocab_specials(v);
        CHECK(sp->cls == 101 && sp->sep == 102 && sp->pad == 0 && sp->unk == 100 && sp->mask == 103,
              "bert-base-uncased specials");
        e = tok_encoder_new(v);
        const char *t = "i can go from feeling so hopeless to so damned hopeful just from being around "
                        "someone who cares and is awake";
        int32_t full[256], part[256];
        size_t nf = enc(e, t, full, 256);
        int prefix_ok = 1;
        for (size_t m = 2; m <= nf + 2; m++) {
            size_t np = enc(e, t, part, m);
            size_t want = m < nf ? m : nf;
            if (np != want || memcmp(part, full, (np - 1) * sizeof *part) || part[np - 1] != 102)
                prefix_ok = 0;
        }
        CHECK(prefix_ok, "truncation is [CLS] + prefix + [SEP] for every max_len");
        tok_encoder_free(e);
        tok_vocab_free(v);
    }
    free(tp);
    remove_tree(tmpdir);
    return check_done("test_tok");
}
