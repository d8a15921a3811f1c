/* lib/train/mlm_mask: the masked-LM corruption.  Invariants (specials never chosen, only
 * chosen positions change, targets are the originals, whole words together), determinism
 * (same seed/epoch/record -> same mask, whatever else runs; another epoch -> another mask)
 * and the statistics on a large sample: 15% chosen, of those 80% [MASK], 10% random, 10%
 * unchanged, and random replacements spread over the vocabulary. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "train/mlm_mask.h"
#include "util/rng.h"
#include "util/util.h"

/* vocabulary: 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 [MASK], 5..104 words w5.., 105..204 ##pieces */
#define NV 205
#define WORD0 5
#define PIECE0 105

static char *write_vocab(void)
{
    static char path[] = "/tmp/emo-test-mlm-vocab.XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", f);
    for (int i = WORD0; i < PIECE0; i++)
        fprintf(f, "w%d\n", i);
    for (int i = PIECE0; i < NV; i++)
        fprintf(f, "##p%d\n", i);
    fclose(f);
    return path;
}

/* A record: [CLS] words (each with 0-2 pieces) [SEP], n tokens in all */
static int make_row(rng_t *r, int32_t *ids, int maxlen)
{
    int n = 0;
    ids[n++] = 2;
    while (n < maxlen - 1) {
        ids[n++] = WORD0 + (int32_t)rng_below(r, PIECE0 - WORD0);
        for (int k = (int)rng_below(r, 3); k > 0 && n < maxlen - 1; k--)
            ids[n++] = PIECE0 + (int32_t)rng_below(r, NV - PIECE0);
    }
    ids[n++] = 3;
    return n;
}

static void test_vocab(const char *path, uint8_t **kind, int32_t *mask_id)
{
    char e[256];
    CHECK(mlm_vocab_kinds(path, NV + 3, 0, kind, mask_id, e, sizeof e) == 0, "%s", e);
    CHECK(*mask_id == 4, "mask id %d", *mask_id);
    CHECK((*kind)[0] == MLM_TOK_SPECIAL && (*kind)[2] == MLM_TOK_SPECIAL && (*kind)[3] == MLM_TOK_SPECIAL,
          "specials");
    CHECK((*kind)[1] == 0 && (*kind)[4] == 0 && (*kind)[WORD0] == 0, "[UNK], [MASK] and words are maskable");
    CHECK((*kind)[PIECE0] == MLM_TOK_CONTINUATION && (*kind)[NV - 1] == MLM_TOK_CONTINUATION, "pieces");
    CHECK((*kind)[NV + 2] == 0, "ids beyond the file: no flag");
    free(*kind);
    uint8_t *k2 = NULL;
    int32_t m2;
    CHECK(mlm_vocab_kinds(path, NV - 1, 0, &k2, &m2, e, sizeof e) == -1 && strstr(e, "more than"),
          "a vocabulary larger than V is refused: %s", e);
    CHECK(mlm_vocab_kinds("/nonexistent/vocab.txt", NV, 0, &k2, &m2, e, sizeof e) == -1, "missing file");
    CHECK(mlm_vocab_kinds(path, NV, 0, kind, mask_id, e, sizeof e) == 0, "%s", e);
}

static void test_stats_and_invariants(const mlm_mask_cfg *c0, int whole_word)
{
    mlm_mask_cfg c = *c0;
    c.whole_word = whole_word;
    rng_t r;
    rng_seed(&r, 7);
    long real = 0, chosen = 0, masked = 0, random_ = 0, same = 0, bad = 0, split_words = 0, rows_without = 0;
    long hist[NV] = { 0 };
    int32_t orig[64], ids[64], pos[64], tgt[64];
    const int rows = 40000;
    for (int row = 0; row < rows; row++) {
        int n = make_row(&r, orig, 8 + (int)rng_below(&r, 40));
        memcpy(ids, orig, (size_t)n * sizeof *ids);
        int m = mlm_mask_row(&c, 3, (uint64_t)row, ids, n, pos, tgt);
        real += n - 2;
        chosen += m;
        rows_without += m == 0;
        char is_chosen[64] = { 0 };
        for (int i = 0; i < m; i++) {
            if (pos[i] < 0 || pos[i] >= n || (i && pos[i] <= pos[i - 1]) || tgt[i] != orig[pos[i]] ||
                orig[pos[i]] == 2 || orig[pos[i]] == 3)
                bad++;
            else
                is_chosen[pos[i]] = 1;
            if (ids[pos[i]] == 4)
                masked++;
            else if (ids[pos[i]] == orig[pos[i]])
                same++;
            else {
                random_++;
                hist[ids[pos[i]]]++;
            }
        }
        for (int t = 0; t < n; t++) {
            if (!is_chosen[t] && ids[t] != orig[t])
                bad++;
            /* a piece and the token before it: together or not at all */
            if (whole_word && t > 1 && orig[t] >= PIECE0 && is_chosen[t] != is_chosen[t - 1])
                split_words++;
        }
        /* the same (seed, epoch, record) again: the same corruption */
        int32_t again[64], pos2[64], tgt2[64];
        memcpy(again, orig, (size_t)n * sizeof *again);
        int m2 = mlm_mask_row(&c, 3, (uint64_t)row, again, n, pos2, tgt2);
        if (m2 != m || memcmp(again, ids, (size_t)n * sizeof *ids) || memcmp(pos2, pos, (size_t)m * sizeof *pos))
            bad++;
    }
    const char *w = whole_word ? "whole-word" : "token";
    CHECK(bad == 0, "%s: %ld invariant violations", w, bad);
    double rate = (double)chosen / (double)real;
    /* the chosen count is a sum of Bernoulli draws (per word with whole_word: words of 1-3
     * tokens, so more variance); 0.005 is > 8 standard deviations here */
    CHECK(fabs(rate - 0.15) < 0.005, "%s: chosen rate %.4f", w, rate);
    CHECK(fabs((double)masked / (double)chosen - 0.8) < 0.01, "%s: [MASK] share %.4f", w,
          (double)masked / (double)chosen);
    /* a random id equal to the original counts as unchanged (1/V of the 10%) */
    CHECK(fabs((double)random_ / (double)chosen - 0.1 * (1 - 1.0 / NV)) < 0.006, "%s: random share %.4f", w,
          (double)random_ / (double)chosen);
    CHECK(fabs((double)same / (double)chosen - 0.1) < 0.006, "%s: unchanged share %.4f", w,
          (double)same / (double)chosen);
    if (whole_word)
        CHECK(split_words == 0, "%ld words split between chosen and not", split_words);
    /* random replacements cover the vocabulary, specials included (as transformers) */
    long lo = random_, hi = 0;
    for (int v = 0; v < NV; v++) {
        if (v == 4)
            continue;            /* a random [MASK] is counted as [MASK] */
        lo = hist[v] < lo ? hist[v] : lo;
        hi = hist[v] > hi ? hist[v] : hi;
    }
    double mean = (double)random_ / NV;
    CHECK(lo > 0.6 * mean && hi < 1.4 * mean, "%s: random ids per vocab entry in [%ld, %ld], mean %.1f", w, lo, hi,
          mean);
    if (!whole_word)   /* rows of 6..45 real tokens: 0.85^6 = 38% at worst, ~6% overall */
        CHECK(rows_without < rows / 10, "%s: %ld rows without a chosen token", w, rows_without);
}

static void test_epochs_and_rates(const mlm_mask_cfg *c0)
{
    mlm_mask_cfg c = *c0;
    int32_t orig[48], a[48], b[48], pos[48], tgt[48];
    rng_t r;
    rng_seed(&r, 11);
    int n = make_row(&r, orig, 48);
    memcpy(a, orig, sizeof a);
    memcpy(b, orig, sizeof b);
    int ma = mlm_mask_row(&c, 0, 5, a, n, pos, tgt), differ = 0;
    for (uint64_t e = 1; e < 6; e++) {
        memcpy(b, orig, sizeof b);
        int mb = mlm_mask_row(&c, e, 5, b, n, pos, tgt);
        differ += mb != ma || memcmp(a, b, sizeof a) != 0;
    }
    CHECK(differ >= 4, "a new mask every epoch (%d of 5 differ)", differ);
    memcpy(b, orig, sizeof b);
    mlm_mask_row(&c, 0, 6, b, n, pos, tgt);
    CHECK(memcmp(a, b, sizeof a) != 0, "another record, another mask");
    c.seed++;
    memcpy(b, orig, sizeof b);
    mlm_mask_row(&c, 0, 5, b, n, pos, tgt);
    CHECK(memcmp(a, b, sizeof a) != 0, "another seed, another mask");
    /* the rates are options: all chosen, all [MASK] */
    c.prob = 1;
    c.p_mask = 1;
    c.p_random = 0;
    memcpy(b, orig, sizeof b);
    int m = mlm_mask_row(&c, 0, 5, b, n, pos, tgt);
    CHECK(m == n - 2 && b[0] == 2 && b[n - 1] == 3, "prob 1: every real token, never [CLS]/[SEP] (%d of %d)", m, n);
    for (int t = 1; t < n - 1; t++)
        CHECK(b[t] == 4, "p_mask 1: [MASK] at %d", t);
    /* prob 0: nothing */
    c.prob = 0;
    memcpy(b, orig, sizeof b);
    CHECK(mlm_mask_row(&c, 0, 5, b, n, pos, tgt) == 0 && !memcmp(b, orig, sizeof b), "prob 0: nothing chosen");
    /* padding ids inside a row are never chosen */
    c.prob = 1;
    int32_t pads[6] = { 2, 9, 0, 0, 3, 0 };
    CHECK(mlm_mask_row(&c, 0, 1, pads, 6, pos, tgt) == 1 && pos[0] == 1, "only the word, not [PAD]/[CLS]/[SEP]");
}

int main(void)
{
    char *vocab = write_vocab();
    uint8_t *kind;
    int32_t mask_id;
    test_vocab(vocab, &kind, &mask_id);
    mlm_mask_cfg c = MLM_MASK_DEFAULTS;
    c.kind = kind;
    c.mask_id = mask_id;
    c.V = NV;
    test_stats_and_invariants(&c, 0);
    test_stats_and_invariants(&c, 1);
    test_epochs_and_rates(&c);
    free(kind);
    unlink(vocab);
    return check_done("test_mlm_mask");
}
