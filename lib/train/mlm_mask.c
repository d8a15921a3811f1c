/* Masked-LM corruption (mlm_mask.h). */
#include <stdlib.h>
#include <string.h>

#include "tok/bert_tok.h"
#include "train/mlm_mask.h"
#include "util/rng.h"
#include "util/util.h"

/* splitmix64's finaliser: a bijective mix, so (seed, epoch, key) chains stay distinct */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int32_t corrupt(const mlm_mask_cfg *c, rng_t *r, int32_t id)
{
    double u = rng_double(r);
    if (u < c->p_mask)
        return c->mask_id;
    if (u < c->p_mask + c->p_random)
        return (int32_t)rng_below(r, (uint64_t)c->V);
    return id;
}

static int kind_of(const mlm_mask_cfg *c, int32_t id) { return id >= 0 && id < c->V ? c->kind[id] : 0; }

int mlm_mask_row(const mlm_mask_cfg *c, uint64_t epoch, uint64_t key, int32_t *ids, int len, int32_t *pos,
                 int32_t *target)
{
    rng_t r;
    rng_seed(&r, mix64(mix64(mix64(c->seed) ^ epoch) ^ key));
    int n = 0;
    for (int t = 0; t < len;) {
        if (kind_of(c, ids[t]) & MLM_TOK_SPECIAL) {
            t++;
            continue;
        }
        /* the unit: one token, or with whole_word the token and its "##" pieces */
        int end = t + 1;
        if (c->whole_word)
            while (end < len && (kind_of(c, ids[end]) & (MLM_TOK_CONTINUATION | MLM_TOK_SPECIAL)) ==
                                    MLM_TOK_CONTINUATION)
                end++;
        if (rng_double(&r) < c->prob)
            for (int i = t; i < end; i++) {
                pos[n] = i;
                target[n] = ids[i];
                ids[i] = corrupt(c, &r, ids[i]);
                n++;
            }
        t = end;
    }
    return n;
}

int mlm_vocab_kinds(const char *vocab_path, int32_t V, int32_t pad_id, uint8_t **kind, int32_t *mask_id, char *err,
                    size_t errn)
{
    tok_vocab *v = tok_vocab_load(vocab_path, err, errn);
    if (!v)
        return -1;
    size_t n = tok_vocab_size(v);
    const tok_specials *sp = tok_vocab_specials(v);
    if (n > (size_t)V) {
        tok_vocab_free(v);
        return errbuf_fail(err, errn, "%s: %zu tokens, more than the model's vocabulary of %d", vocab_path, n, V);
    }
    if (sp->mask < 0) {
        tok_vocab_free(v);
        return errbuf_fail(err, errn, "%s: no [MASK] token", vocab_path);
    }
    uint8_t *k = xcalloc((size_t)V, 1);
    for (size_t i = 0; i < n; i++) {
        const char *s = tok_vocab_token(v, (int32_t)i);
        if (s && s[0] == '#' && s[1] == '#' && s[2])
            k[i] |= MLM_TOK_CONTINUATION;
    }
    int32_t special[] = { sp->cls, sp->sep, sp->pad, pad_id };
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        if (special[i] >= 0 && special[i] < V)
            k[special[i]] = MLM_TOK_SPECIAL;
    *mask_id = sp->mask;
    *kind = k;
    tok_vocab_free(v);
    return 0;
}
