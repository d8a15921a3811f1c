/* lib/tok/spm: ALBERT preprocessing against Python's (edge.albert.jsonl from
 * tests/gen/albert_pre.py), and ids against the sentencepiece command-line tools: a small
 * BPE model is trained here with spm_train on the val corpus plus number-heavy lines (so
 * pieces like "▁2019," exist), then every row is encoded by spm_encode on our
 * preprocessed text and ALBERT's digit-comma rule is applied to spm_encode's pieces. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "tok/spm.h"
#include "util/util.h"

#define U2581 "\xe2\x96\x81"

static char tmpdir[] = "/tmp/test_tok_spm.XXXXXX";

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, k;
    char *buf = xmalloc(cap + 1);
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

/* lines of a file, in place */
static size_t split_lines(char *buf, size_t len, char ***out)
{
    size_t n = 0, cap = 1024;
    char **v = xmalloc(cap * sizeof *v);
    size_t i = 0;
    while (i < len) {
        char *nl = memchr(buf + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - buf) : len;
        buf[e] = '\0';
        if (n == cap) {
            cap *= 2;
            v = xreallocarray(v, cap, sizeof *v);
        }
        v[n++] = buf + i;
        i = e + 1;
    }
    *out = v;
    return n;
}

static const char *vocab_piece[4096];
static size_t vocab_n;

static int piece_id(const char *p, size_t n)
{
    for (size_t i = 0; i < vocab_n; i++)
        if (strlen(vocab_piece[i]) == n && !memcmp(vocab_piece[i], p, n))
            return (int)i;
    return 1;   /* <unk> */
}

int main(void)
{
    const char *shared = getenv("SHARED") ? getenv("SHARED") : "../shared";
    const char *root = getenv("EMO_ROOT") ? getenv("EMO_ROOT") : ".";
    char path[4096], cmd[8192], err[512];
    if (!mkdtemp(tmpdir))
        return 1;

    /* ---- preprocessing vs Python ---- */
    size_t len;
    snprintf(path, sizeof path, "%s/tests/fixtures/tok/edge.jsonl", root);
    char *ebuf = slurp(path, &len);
    CHECK(ebuf != NULL, "%s", path);
    char **elines;
    size_t ne = split_lines(ebuf, len, &elines);
    snprintf(path, sizeof path, "%s/tests/fixtures/tok/edge.albert.jsonl", root);
    char *abuf = slurp(path, &len);
    CHECK(abuf != NULL, "%s", path);
    char **alines;
    size_t na = split_lines(abuf, len, &alines);
    CHECK(na == ne, "%zu vs %zu rows", na, ne);
    char **texts = xcalloc(ne + 4000, sizeof *texts);
    size_t *tlen = xcalloc(ne + 4000, sizeof *tlen);
    size_t nt = 0, pre_bad = 0;
    for (size_t i = 0; i < ne && i < na; i++) {
        json_error_t je;
        json_t *t = json_loads(elines[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        json_t *a = json_loads(alines[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        size_t pl;
        char *pre = spm_tok_preprocess(json_string_value(t), json_string_length(t), &pl);
        if (pl != json_string_length(a) || memcmp(pre, json_string_value(a), pl)) {
            if (++pre_bad <= 5)
                fprintf(stderr, "edge line %zu: preprocess gave \"%s\", Python \"%s\"\n", i + 1, pre,
                        json_string_value(a));
        }
        free(pre);
        texts[nt] = xmalloc(json_string_length(t) + 1);
        memcpy(texts[nt], json_string_value(t), json_string_length(t) + 1);
        tlen[nt++] = json_string_length(t);
        json_decref(t);
        json_decref(a);
    }
    CHECK(pre_bad == 0, "%zu edge rows preprocessed unlike Python", pre_bad);

    /* ---- a model to encode with ---- */
    snprintf(cmd, sizeof cmd,
             "cd %s && { cut -d';' -f1 '%s/data/emotion/val.txt'; for i in $(seq 300); do "
             "echo 'in 2019, we had 1,000 things and 42, more'; done; } > corpus.txt && "
             "spm_train --input=corpus.txt --model_prefix=t --vocab_size=400 --model_type=bpe "
             "--pad_id=0 --unk_id=1 --bos_id=-1 --eos_id=-1 --control_symbols='[CLS],[SEP],[MASK]' "
             "--character_coverage=1.0 --num_threads=1 --minloglevel=2 >/dev/null 2>&1",
             tmpdir, shared);
    CHECK(system(cmd) == 0, "spm_train failed: %s", cmd);
    snprintf(path, sizeof path, "%s/t.model", tmpdir);
    spm_tok *sp = spm_tok_load(path, err, sizeof err);
    CHECK(sp != NULL, "%s", err);
    if (!sp)
        return check_done("test_tok_spm");
    snprintf(path, sizeof path, "%s/t.vocab", tmpdir);
    char *vbuf = slurp(path, &len);
    char **vl;
    vocab_n = split_lines(vbuf, len, &vl);
    for (size_t i = 0; i < vocab_n && i < 4096; i++) {
        *strchr(vl[i], '\t') = '\0';
        vocab_piece[i] = vl[i];
    }
    CHECK(piece_id("[CLS]", 5) == 2 && piece_id("[SEP]", 5) == 3, "ALBERT special ids");

    /* rows: edge cases without literal special tokens, val texts, numbers */
    size_t nedge = nt;
    snprintf(path, sizeof path, "%s/data/emotion/val.txt", shared);
    char *valbuf = slurp(path, &len);
    char **vlines;
    size_t nv = split_lines(valbuf, len, &vlines);
    for (size_t i = 0; i < nv; i++) {
        char *semi = strrchr(vlines[i], ';');
        if (semi)
            *semi = '\0';
        texts[nt] = xstrdup(vlines[i]);
        tlen[nt] = strlen(texts[nt]);
        nt++;
    }
    static const char *numbers[] = { "In 2019, we had 1,000 things", "42, 7,8,9, x1, ''quoted'' ``q``",
                                     "a2, b3,c 12,345,678, end", "  spaced   out\ttext \n" };
    for (size_t i = 0; i < 4; i++) {
        texts[nt] = xstrdup(numbers[i]);
        tlen[nt++] = strlen(numbers[i]);
    }
    snprintf(path, sizeof path, "%s/pre.txt", tmpdir);
    FILE *pf = fopen(path, "w");
    for (size_t i = 0; i < nt; i++) {
        size_t pl;
        char *pre = spm_tok_preprocess(texts[i], tlen[i], &pl);
        fprintf(pf, "%s\n", pre);
        free(pre);
    }
    fclose(pf);
    snprintf(cmd, sizeof cmd, "cd %s && spm_encode --model=t.model --output_format=piece < pre.txt > pieces.txt",
             tmpdir);
    CHECK(system(cmd) == 0, "spm_encode failed");
    snprintf(path, sizeof path, "%s/pieces.txt", tmpdir);
    char *pbuf = slurp(path, &len);
    char **plines;
    size_t np = split_lines(pbuf, len, &plines);
    CHECK(np == nt, "%zu piece lines for %zu rows", np, nt);

    /* ALBERT's digit-comma rule on the reference pieces: "▁2019," -> pieces of "2019"
     * (spm_encode again) + ","; a leading ▁ the original piece lacked is removed. */
    int32_t ids[4096], want[4096];
    size_t bad = 0, digit_comma = 0, compared = 0;
    for (size_t r = 0; r < nt && r < np; r++) {
        if (r < nedge && (strstr(texts[r], "[CLS]") || strstr(texts[r], "[SEP]") || strstr(texts[r], "[MASK]")))
            continue;     /* literal special tokens: checked below */
        if (strlen(texts[r]) != tlen[r])
            continue;     /* a NUL inside: pre.txt cannot carry it to spm_encode */
        size_t nw = 0;
        want[nw++] = 2;
        char *save, *p = strtok_r(plines[r], " ", &save);
        for (; p; p = strtok_r(NULL, " ", &save)) {
            size_t pl = strlen(p);
            int dc = pl >= 2 && p[pl - 1] == ',' && p[pl - 2] >= '0' && p[pl - 2] <= '9';
            if (!dc) {
                want[nw++] = piece_id(p, pl);
                continue;
            }
            digit_comma++;
            char body[1024] = "", sub[2048];
            for (size_t k = 0; k + 1 < pl;) {
                if (!strncmp(p + k, U2581, 3))
                    k += 3;
                else
                    strncat(body, p + k++, 1);
            }
            snprintf(cmd, sizeof cmd, "cd %s && printf '%%s\\n' '%s' | spm_encode --model=t.model --output_format=piece > sub.txt",
                     tmpdir, body);
            CHECK(system(cmd) == 0, "spm_encode");
            snprintf(path, sizeof path, "%s/sub.txt", tmpdir);
            FILE *sf = fopen(path, "r");
            if (!fgets(sub, sizeof sub, sf))
                sub[0] = '\0';
            fclose(sf);
            sub[strcspn(sub, "\n")] = '\0';
            char *s2, *q = strtok_r(sub, " ", &s2);
            int first = 1;
            for (; q; q = strtok_r(NULL, " ", &s2), first = 0) {
                if (first && strncmp(p, U2581, 3) && !strncmp(q, U2581, 3)) {
                    if (strlen(q) == 3)
                        continue;
                    q += 3;
                }
                want[nw++] = piece_id(q, strlen(q));
            }
            want[nw++] = piece_id(",", 1);
        }
        want[nw++] = 3;
        size_t n = spm_tok_encode(sp, texts[r], tlen[r], ids, 4096);
        compared++;
        if (n != nw || memcmp(ids, want, n * sizeof *ids)) {
            if (++bad <= 5) {
                fprintf(stderr, "row %zu \"%.80s\": got", r, texts[r]);
                for (size_t k = 0; k < n; k++)
                    fprintf(stderr, " %d", ids[k]);
                fprintf(stderr, "\n   want");
                for (size_t k = 0; k < nw; k++)
                    fprintf(stderr, " %d", want[k]);
                fprintf(stderr, "\n");
            }
        }
    }
    CHECK(bad == 0, "%zu of %zu rows differ from spm_encode", bad, compared);
    CHECK(digit_comma >= 5, "digit-comma rule exercised %zu times", digit_comma);
    CHECK(compared > 2000, "%zu rows compared", compared);

    /* truncation and literal specials */
    size_t n = spm_tok_encode(sp, "i feel happy today and sad tomorrow", 35, ids, 4);
    CHECK(n == 4 && ids[0] == 2 && ids[3] == 3, "truncated to 4");
    n = spm_tok_encode(sp, "a[MASK]b", 8, ids, 64);
    int has_mask = 0;
    for (size_t k = 0; k < n; k++)
        has_mask |= ids[k] == 4;
    CHECK(has_mask, "literal [MASK] keeps its id");

    snprintf(path, sizeof path, "%s/corpus.txt", tmpdir);
    CHECK(spm_tok_load(path, err, sizeof err) == NULL && strstr(err, "cannot load"), "not a model: %s", err);
    spm_tok_free(sp);
    for (size_t i = 0; i < nt; i++)
        free(texts[i]);
    free(texts);
    free(tlen);
    free(elines);
    free(alines);
    free(vl);
    free(vlines);
    free(plines);
    free(ebuf);
    free(abuf);
    free(vbuf);
    free(valbuf);
    free(pbuf);
    remove_tree(tmpdir);
    return check_done("test_tok_spm");
}
