/* Vocabulary trimming (lib/model/trim.h):
 *  - the [UNK]-path case: a word that WordPiece fails on must fail again in the trimmed
 *    vocabulary, although a shorter first piece plus a kept continuation would cover it;
 *  - property, on random vocabularies and texts over a small alphabet: every corpus text
 *    tokenizes with the trimmed vocab.txt to ids that map back to the original ids, and
 *    every other text still tokenizes inside the new vocabulary;
 *  - checkpoints (the PyTorch fixtures): trimmed BERT/DistilBERT classifiers give the same
 *    logits bit for bit on remapped ids, masked-LM models the same logits on the kept
 *    tokens; config.json's vocab_size and pad_token_id, the copied files. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "model/ckpt.h"
#include "model/trim.h"
#include "tok/bert_tok.h"
#include "util/rng.h"
#include "util/util.h"

#define FIX "tests/fixtures/models/"

static char tmpdir[] = "/tmp/test_trim.XXXXXX";

static char *write_file(const char *name, const char *text)
{
    char *p = path_join(tmpdir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static tok_vocab *load_vocab(const char *path)
{
    char err[256];
    tok_vocab *v = tok_vocab_load(path, err, sizeof err);
    CHECK(v != NULL, "%s", err);
    return v;
}

/* Old id of new id i: the trimmed vocabulary's token, looked up in the old one. */
static int32_t old_of(const tok_vocab *ov, const tok_vocab *nv, int32_t i)
{
    const char *t = tok_vocab_token(nv, i);
    return tok_vocab_id(ov, t, strlen(t));
}

/* encode(text) with the trimmed vocabulary, mapped back, equals encode(text) with the old one */
static int same_ids(const tok_vocab *ov, const tok_vocab *nv, const char *text, size_t max_len)
{
    tok_encoder *eo = tok_encoder_new(ov), *en = tok_encoder_new(nv);
    int32_t *a = xmalloc(max_len * sizeof *a), *b = xmalloc(max_len * sizeof *b);
    size_t na = tok_encode(eo, text, strlen(text), a, max_len);
    size_t nb = tok_encode(en, text, strlen(text), b, max_len);
    int ok = na == nb;
    for (size_t i = 0; ok && i < na; i++)
        ok = old_of(ov, nv, b[i]) == a[i];
    free(a);
    free(b);
    tok_encoder_free(eo);
    tok_encoder_free(en);
    return ok;
}

static tok_vocab *trimmed(const tok_vocab *ov, const char *const *corpus, size_t n, uint64_t min_count,
                          const char *name)
{
    trim_counts *t = trim_counts_new(ov, tok_vocab_size(ov));
    for (size_t i = 0; i < n; i++)
        CHECK(trim_counts_add_text(t, corpus[i], strlen(corpus[i]), NULL, 0) == 0, "%s", corpus[i]);
    int32_t *keep = xmalloc(tok_vocab_size(ov) * sizeof *keep);
    size_t nk = trim_select(t, min_count, keep);
    char *p = path_join(tmpdir, name);
    FILE *f = fopen(p, "w");
    for (size_t i = 0; i < nk; i++)
        fprintf(f, "%s\n", tok_vocab_token(ov, keep[i]));
    fclose(f);
    tok_vocab *nv = load_vocab(p);
    free(p);
    free(keep);
    trim_counts_free(t);
    return nv;
}

static void test_unk_path(void)
{
    /* "abc": "ab", then no "##c": [UNK].  "cbc" uses "c" "##bc".  Without "ab" the trimmed
     * vocabulary would give "abc" = "a" "##bc". */
    char *vp = write_file("unk.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nab\n##b\n##bc\nzz\n##zz\n");
    tok_vocab *ov = load_vocab(vp);
    const char *corpus[] = { "abc cbc" };
    tok_vocab *nv = trimmed(ov, corpus, 1, 1, "unk.trim.txt");
    CHECK(tok_vocab_id(nv, "ab", 2) >= 0, "the greedy path of an [UNK] word is kept");
    CHECK(tok_vocab_id(nv, "zz", 2) < 0 && tok_vocab_id(nv, "##zz", 4) < 0, "unused tokens go");
    CHECK(tok_vocab_id(nv, "##b", 3) >= 0 && tok_vocab_id(nv, "b", 1) >= 0, "single characters stay");
    CHECK(tok_vocab_size(nv) == 11, "%zu tokens kept", tok_vocab_size(nv));
    CHECK(same_ids(ov, nv, "abc cbc", 16), "corpus text");
    CHECK(same_ids(ov, nv, "[MASK] abc", 16), "specials");

    /* the record's input_ids must be the vocabulary's tokenization of its text */
    trim_counts *t = trim_counts_new(ov, tok_vocab_size(ov) + 3);
    int32_t good[] = { 2, 1, 7, 10, 3 }, bad[] = { 2, 1, 7, 9, 3 }, cut[] = { 2, 1, 3 };
    CHECK(trim_counts_add_text(t, "abc cbc", 7, good, 5) == 0, "ids match");
    CHECK(trim_counts_add_text(t, "abc cbc", 7, bad, 5) == -1, "ids of another vocabulary");
    CHECK(trim_counts_add_text(t, "abc cbc", 7, cut, 3) == 0, "truncated ids match");
    CHECK(trim_count(t, 10) == 2, "counted from the whole text, not the truncated ids: %llu",
          (unsigned long long)trim_count(t, 10));
    int32_t out[] = { 2, 14, 3 };
    CHECK(trim_counts_add_ids(t, out, 3) == 0 && trim_count(t, 14) == 1, "ids past the vocab.txt count");
    int32_t far[] = { 2, 16, 3 };
    CHECK(trim_counts_add_ids(t, far, 3) == -1, "an id past vocab_size is refused");
    int32_t keep[16];
    size_t nk = trim_select(t, 1, keep);
    CHECK(nk == 11 && keep[nk - 1] == 10, "rows past the vocab.txt are no tokens: %zu", nk);
    trim_counts_free(t);
    tok_vocab_free(nv);
    tok_vocab_free(ov);
    free(vp);
}

static void random_word(rng_t *r, char *w, int maxlen)
{
    int n = 1 + (int)(rng_uniform(r) * maxlen);
    for (int i = 0; i < n; i++)
        w[i] = (char)('a' + (int)(rng_uniform(r) * 4));
    w[n] = 0;
}

static void test_property(void)
{
    rng_t r;
    rng_seed(&r, 13);
    int fails = 0, unks = 0, outside_bad = 0;
    for (int round = 0; round < 40; round++) {
        /* pieces of 1..3 letters over "abcd", each whole and "##" form with probability 1/2,
         * so that words often fail ([UNK]) */
        char *vocab = xstrdup("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
        size_t vl = strlen(vocab);
        for (int len = 1; len <= 3; len++) {
            int total = len == 1 ? 4 : len == 2 ? 16 : 64;
            for (int k = 0; k < total; k++) {
                char w[8];
                int x = k;
                for (int i = 0; i < len; i++, x /= 4)
                    w[i] = (char)('a' + x % 4);
                w[len] = 0;
                for (int cont = 0; cont < 2; cont++) {
                    if (rng_uniform(&r) < 0.5)
                        continue;
                    vocab = xrealloc(vocab, vl + 16);
                    vl += (size_t)sprintf(vocab + vl, "%s%s\n", cont ? "##" : "", w);
                }
            }
        }
        char *vp = write_file("rand.txt", vocab);
        tok_vocab *ov = load_vocab(vp);
        char texts[60][80];
        const char *corpus[60];
        for (int i = 0; i < 60; i++) {
            texts[i][0] = 0;
            int nw = 1 + (int)(rng_uniform(&r) * 6);
            for (int j = 0; j < nw; j++) {
                char w[8];
                random_word(&r, w, 6);
                strcat(texts[i], j ? " " : "");
                strcat(texts[i], w);
            }
            corpus[i] = texts[i];
        }
        tok_vocab *nv = trimmed(ov, corpus, 30, 1, "rand.trim.txt");
        tok_encoder *eo = tok_encoder_new(ov), *en = tok_encoder_new(nv);
        for (int i = 0; i < 60; i++) {
            int32_t a[64], b[64];
            size_t na = tok_encode(eo, texts[i], strlen(texts[i]), a, 64);
            for (size_t k = 0; k < na; k++)
                unks += i < 30 && a[k] == tok_vocab_specials(ov)->unk;
            if (i < 30) {
                fails += !same_ids(ov, nv, texts[i], 64);
                fails += !same_ids(ov, nv, texts[i], 4);     /* truncated */
            } else {
                size_t nb = tok_encode(en, texts[i], strlen(texts[i]), b, 64);
                for (size_t k = 0; k < nb; k++)
                    outside_bad += b[k] < 0 || (size_t)b[k] >= tok_vocab_size(nv);
                outside_bad += nb < 3;
            }
        }
        tok_encoder_free(eo);
        tok_encoder_free(en);
        tok_vocab_free(nv);
        tok_vocab_free(ov);
        free(vp);
        free(vocab);
    }
    CHECK(fails == 0, "%d corpus texts tokenize differently after trimming", fails);
    CHECK(unks > 50, "the random vocabularies exercise [UNK] words (%d)", unks);
    CHECK(outside_bad == 0, "%d texts outside the corpus do not tokenize", outside_bad);
}

/* Trim fixture checkpoint `family` to keep, compare logits of ids over the kept tokens. */
static void test_checkpoint(const char *family, int mlm)
{
    char src[256], dst[512], err[1024], notice[1024];
    snprintf(src, sizeof src, FIX "%s", family);
    snprintf(dst, sizeof dst, "%s/%s", tmpdir, family);
    char *vp = path_join(src, "vocab.txt");
    tok_vocab *v = load_vocab(vp);
    free(vp);
    /* specials 0 100-103 and three of the six words, [unused5]; ALBERT's config.json names
     * bos_token_id 2 and eos_token_id 3 ([unused2], [unused3]): trim_keep_config_ids keeps them */
    trim_counts *t = trim_counts_new(v, tok_vocab_size(v));
    CHECK(trim_keep_config_ids(t, src, err, sizeof err) == 0, "%s", err);
    const int32_t words[] = { 101, 5, 104, 106, 109, 102 };
    CHECK(trim_counts_add_ids(t, words, 6) == 0, "ids");
    int32_t keep[16];
    const size_t nk = trim_select(t, 1, keep);
    trim_counts_free(t);
    int albert = !strncmp(family, "albert", 6);
    CHECK(nk == (albert ? 11u : 9u), "%s: %zu kept", family, nk);
    CHECK(trim_write_checkpoint(src, dst, v, keep, nk, notice, sizeof notice, err, sizeof err) == 0, "%s: %s",
          family, err);
    unsigned flags = mlm ? CKPT_WANT_MLM : 0;
    model *a = ckpt_model_open(src, 0, NULL, flags, 1, notice, sizeof notice, err, sizeof err);
    model *b = ckpt_model_open(dst, 0, NULL, flags, 1, notice, sizeof notice, err, sizeof err);
    CHECK(a && b, "%s: %s", family, err);
    if (!a || !b)
        return;
    CHECK(model_get_config(b)->V == (int)nk, "%s: vocab_size %d", family, model_get_config(b)->V);
    /* two sequences over kept tokens: old ids for a, new for b */
    const int B = 2, T = 6;
    const int32_t old_ids[] = { 101, 104, 106, 109, 5, 102, 101, 109, 104, 102, 0, 0 };
    int32_t new_ids[12];
    for (int i = 0; i < B * T; i++)
        for (size_t k = 0; k < nk; k++)
            if (keep[k] == old_ids[i])
                new_ids[i] = (int32_t)k;
    const int32_t lens[] = { 6, 4 };
    CHECK(model_forward(a, old_ids, lens, B, T, MODEL_INFER, NULL) == 0, "%s", model_error(a));
    CHECK(model_forward(b, new_ids, lens, B, T, MODEL_INFER, NULL) == 0, "%s", model_error(b));
    if (!mlm) {
        int K = model_get_config(a)->K;
        CHECK(!memcmp(model_logits(a), model_logits(b), (size_t)(B * K) * sizeof(float)),
              "%s: logits differ after trimming", family);
        CHECK_CLOSE(family, model_logits(a), model_logits(b), B * K, 0.0);
    } else {
        const int32_t pos[] = { 1, 3, 8 };
        CHECK(model_mlm_forward(a, pos, 3) == 0 && model_mlm_forward(b, pos, 3) == 0, "%s", family);
        const float *la = model_mlm_logits(a), *lb = model_mlm_logits(b);
        /* the (M, E) x (E, V) product is blocked differently for another V: equal within
         * float rounding, not bit for bit */
        int V = model_get_config(a)->V;
        float sel[3 * 16];
        for (int m = 0; m < 3; m++)
            for (size_t k = 0; k < nk; k++)
                sel[m * (int)nk + (int)k] = la[m * V + keep[k]];
        CHECK_CLOSE(family, sel, lb, 3 * (int)nk, 1e-6);
    }
    model_free(a);
    model_free(b);
    /* config.json: new vocab_size, every other key as it was; the vocabulary in old order */
    char *cp = path_join(dst, "config.json");
    json_t *c = json_load_file(cp, 0, NULL);
    free(cp);
    CHECK(json_integer_value(json_object_get(c, "vocab_size")) == (json_int_t)nk, "%s: vocab_size", family);
    CHECK(json_integer_value(json_object_get(c, "pad_token_id")) == 0, "%s: pad_token_id", family);
    CHECK(json_object_get(c, "architectures") != NULL, "%s: other keys kept", family);
    json_decref(c);
    char *nvp = path_join(dst, "vocab.txt");
    tok_vocab *nv = load_vocab(nvp);
    free(nvp);
    CHECK(nv && tok_vocab_size(nv) == nk && !strcmp(tok_vocab_token(nv, albert ? 3 : 1), "[unused5]") &&
          !strcmp(tok_vocab_token(nv, (int32_t)nk - 1), "w109") && tok_vocab_specials(nv)->unk == (albert ? 4 : 2),
          "%s: trimmed vocab.txt", family);
    if (albert) {
        char *cp2 = path_join(dst, "config.json");
        json_t *c2 = json_load_file(cp2, 0, NULL);
        free(cp2);
        CHECK(json_integer_value(json_object_get(c2, "bos_token_id")) == 1 &&
              json_integer_value(json_object_get(c2, "eos_token_id")) == 2, "%s: bos/eos remapped", family);
        json_decref(c2);
    }
    tok_vocab_free(nv);
    tok_vocab_free(v);
}

static void test_checkpoint_refusals(void)
{
    char err[1024], notice[256];
    tok_vocab *v = load_vocab(FIX "bert/vocab.txt");
    /* pad_token_id 0 not kept */
    const int32_t nopad[] = { 100, 101, 102, 103 };
    char *dst = path_join(tmpdir, "nopad");
    CHECK(trim_write_checkpoint(FIX "bert", dst, v, nopad, 4, notice, sizeof notice, err, sizeof err) == -1 &&
          strstr(err, "pad_token_id 0"), "%s", err);
    struct stat st;
    CHECK(stat(dst, &st) != 0, "nothing left behind");
    /* the input itself */
    const int32_t keep[] = { 0, 100, 101, 102, 103 };
    CHECK(trim_write_checkpoint(FIX "bert", FIX "bert/", v, keep, 5, notice, sizeof notice, err, sizeof err) == -1 &&
          strstr(err, "replace the input"), "%s", err);
    free(dst);
    tok_vocab_free(v);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    test_unk_path();
    test_property();
    test_checkpoint("bert", 0);
    test_checkpoint("distilbert", 0);
    test_checkpoint("bert-mlm", 1);
    test_checkpoint("distilbert-mlm", 1);
    test_checkpoint("albert", 0);
    test_checkpoint("albert-mlm", 1);
    test_checkpoint_refusals();
    remove_tree(tmpdir);
    return check_done("test_trim");
}
