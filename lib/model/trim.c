/* Vocabulary trimming; see trim.h. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "io/safetensors.h"
#include "model/trim.h"
#include "util/util.h"

struct trim_counts {
    const tok_vocab *v;
    size_t V;                  /* model rows */
    uint64_t *count;           /* (V) occurrences in the corpus */
    unsigned char *must;       /* (V) kept whatever the counts: on the greedy path of an [UNK]
                                * word, or named by a *_token_id of config.json */
    tok_encoder *enc;
    int32_t *buf;
    size_t bufcap;
};

static void note_unk_path(void *ctx, const int32_t *pieces, size_t n)
{
    trim_counts *t = ctx;
    for (size_t i = 0; i < n; i++)
        if (pieces[i] >= 0 && (size_t)pieces[i] < t->V)
            t->must[pieces[i]] = 1;
}

trim_counts *trim_counts_new(const tok_vocab *v, size_t V)
{
    trim_counts *t = xcalloc(1, sizeof *t);
    t->v = v;
    t->V = V;
    t->count = xcalloc(V ? V : 1, sizeof *t->count);
    t->must = xcalloc(V ? V : 1, 1);
    t->enc = tok_encoder_new(v);
    tok_encoder_on_unk(t->enc, note_unk_path, t);
    return t;
}

void trim_counts_free(trim_counts *t)
{
    if (!t)
        return;
    tok_encoder_free(t->enc);
    free(t->count);
    free(t->must);
    free(t->buf);
    free(t);
}

int trim_counts_add_ids(trim_counts *t, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= t->V)
            return -1;
    for (size_t i = 0; i < n; i++)
        t->count[ids[i]]++;
    return 0;
}

static int32_t *room(trim_counts *t, size_t n)
{
    if (n > t->bufcap) {
        free(t->buf);
        t->bufcap = n;
        t->buf = xmalloc(n * sizeof *t->buf);
    }
    return t->buf;
}

int trim_counts_add_text(trim_counts *t, const char *text, size_t len, const int32_t *ids, size_t n)
{
    if (ids) {      /* the record's ids must be this vocabulary's (truncated) tokenization */
        int32_t *b = room(t, n < 2 ? 2 : n);
        size_t k = tok_encode(t->enc, text, len, b, n);
        if (k != n || memcmp(b, ids, n * sizeof *ids))
            return -1;
    }
    /* untruncated: every word of the text counts, so any --max-len tokenizes the same;
     * a word takes at least one byte, so len + 2 ids always suffice */
    int32_t *b = room(t, len + 2);
    size_t k = tok_encode(t->enc, text, len, b, len + 2);
    for (size_t i = 0; i < k; i++)
        if (b[i] >= 0 && (size_t)b[i] < t->V)
            t->count[b[i]]++;
    return 0;
}

int trim_keep_config_ids(trim_counts *t, const char *dir, char *err, size_t errn)
{
    char *cp = path_join(dir, "config.json");
    json_error_t je;
    json_t *o = json_load_file(cp, 0, &je);
    int rc = 0;
    if (!json_is_object(o)) {
        rc = errbuf_fail(err, errn, "%s: %s", cp, o ? "not a JSON object" : je.text);
    } else {
        const char *key;
        json_t *val;
        json_object_foreach(o, key, val) {
            size_t n = strlen(key);
            if (n < 9 || strcmp(key + n - 9, "_token_id") || !json_is_integer(val))
                continue;
            json_int_t id = json_integer_value(val);
            if (id < 0 || (size_t)id >= t->V || (size_t)id >= tok_vocab_size(t->v)) {
                rc = errbuf_fail(err, errn, "%s: %s %lld is not a token of the vocabulary", cp, key, (long long)id);
                break;
            }
            t->must[id] = 1;
        }
    }
    json_decref(o);
    free(cp);
    return rc;
}

uint64_t trim_count(const trim_counts *t, int32_t id)
{
    return id >= 0 && (size_t)id < t->V ? t->count[id] : 0;
}

/* One code point: "x" or "##x". */
static int single_char(const char *s)
{
    if (!strncmp(s, "##", 2) && s[2])
        s += 2;
    size_t n = strlen(s);
    if (!n || n > 4)
        return 0;
    unsigned c = (unsigned char)s[0];
    size_t want = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    return want == n;
}

size_t trim_select(const trim_counts *t, uint64_t min_count, int32_t *old_ids)
{
    const tok_specials *sp = tok_vocab_specials(t->v);
    size_t lines = tok_vocab_size(t->v), n = 0;
    if (min_count < 1)
        min_count = 1;
    for (size_t id = 0; id < t->V && id < lines; id++) {
        int32_t i = (int32_t)id;
        int keep = t->count[id] >= min_count || t->must[id] || i == sp->pad || i == sp->unk ||
                   i == sp->cls || i == sp->sep || i == sp->mask || single_char(tok_vocab_token(t->v, i));
        if (keep)
            old_ids[n++] = i;
    }
    return n;
}

/* ---- the checkpoint ------------------------------------------------------- */

/* Tensors indexed by token id (rows are tokens): the word embeddings, a masked-LM head's
 * decoder bias and (untied) weight under BERT, ALBERT and DistilBERT names. */
static int vocab_indexed(const char *name)
{
    static const char *const suffix[] = {
        "word_embeddings.weight", "predictions.bias", "predictions.decoder.bias",
        "predictions.decoder.weight", "vocab_projector.bias", "vocab_projector.weight",
    };
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        size_t k = strlen(suffix[i]);
        if (n >= k && !strcmp(name + n - k, suffix[i]) && (n == k || name[n - k - 1] == '.'))
            return 1;
    }
    return 0;
}

static int is_float(st_dtype d)
{
    return d == ST_F32 || d == ST_F16 || d == ST_BF16 || d == ST_F64;
}

static int write_weights(const char *src, const char *dst, size_t V, const int32_t *old_ids, size_t newV,
                         size_t *ndropped, char *err, size_t errn)
{
    char *path = path_join(src, "model.safetensors");
    st_file f;
    int rc = st_open(&f, path, err, errn);
    free(path);
    if (rc)
        return rc;
    st_out *o = xcalloc(f.n + 1, sizeof *o);
    float **bufs = xcalloc(f.n + 1, sizeof *bufs);
    size_t no = 0, nword = 0;
    *ndropped = 0;
    for (size_t i = 0; i < f.n && !rc; i++) {
        const st_tensor *t = &f.t[i];
        if (t->dtype == ST_I8) {        /* emo ckpt quantize's codes: not to be dropped */
            rc = errbuf_fail(err, errn, "%s: tensor %s is int8 (an emo ckpt quantize checkpoint): trim the float "
                             "checkpoint, then quantize", f.path, t->name);
            break;
        }
        if (!is_float(t->dtype)) {      /* position_ids and other integer buffers */
            (*ndropped)++;
            continue;
        }
        float *all = xmalloc((t->numel ? t->numel : 1) * sizeof *all);
        if ((rc = st_to_f32(&f, t, all, err, errn))) {
            free(all);
            break;
        }
        st_out *u = &o[no];
        u->name = t->name;
        u->ndim = t->ndim;
        memcpy(u->shape, t->shape, sizeof u->shape);
        if (vocab_indexed(t->name)) {
            if (t->ndim < 1 || t->ndim > 2 || t->shape[0] != (int64_t)V) {
                char s[64];
                st_shape_str(t->ndim, t->shape, s, sizeof s);
                rc = errbuf_fail(err, errn, "%s: tensor %s has shape %s, not %zu rows (the config's vocab_size)",
                                 f.path, t->name, s, V);
                free(all);
                break;
            }
            size_t row = t->ndim == 2 ? (size_t)t->shape[1] : 1;
            float *g = xmalloc((newV ? newV * row : 1) * sizeof *g);
            for (size_t r = 0; r < newV; r++)
                memcpy(g + r * row, all + (size_t)old_ids[r] * row, row * sizeof *g);
            free(all);
            all = g;
            u->shape[0] = (int64_t)newV;
            nword += strstr(t->name, "word_embeddings") != NULL;
        }
        u->data = bufs[no] = all;
        no++;
    }
    if (!rc && !nword)
        rc = errbuf_fail(err, errn, "%s: no word_embeddings.weight tensor", f.path);
    if (!rc) {
        char *out = path_join(dst, "model.safetensors");
        rc = st_write(out, o, no, err, errn);
        free(out);
    }
    for (size_t i = 0; i < no; i++)
        free(bufs[i]);
    free(bufs);
    free(o);
    st_close(&f);
    return rc;
}

/* config.json with the new vocab_size and every integer *_token_id remapped; the other keys
 * as they were. */
static int write_config(const char *src, const char *dst, size_t V, const int32_t *old_ids, size_t newV,
                        char *err, size_t errn)
{
    char *in = path_join(src, "config.json");
    json_error_t je;
    json_t *o = json_load_file(in, 0, &je);
    int rc = 0;
    if (!o || !json_is_object(o)) {
        rc = errbuf_fail(err, errn, "%s: %s", in, o ? "not a JSON object" : je.text);
        goto done;
    }
    json_t *vs = json_object_get(o, "vocab_size");
    if (!json_is_integer(vs) || json_integer_value(vs) != (json_int_t)V) {
        rc = errbuf_fail(err, errn, "%s: vocab_size is not %zu", in, V);
        goto done;
    }
    json_object_set_new(o, "vocab_size", json_integer((json_int_t)newV));
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        size_t n = strlen(key);
        if (n < 9 || strcmp(key + n - 9, "_token_id") || !json_is_integer(val))
            continue;
        json_int_t id = json_integer_value(val), to = -1;
        for (size_t i = 0; i < newV && to < 0; i++)
            if (old_ids[i] == id)
                to = (json_int_t)i;
        if (to < 0) {
            rc = errbuf_fail(err, errn, "%s: %s %lld is not a token the trimmed vocabulary keeps", in, key,
                             (long long)id);
            goto done;
        }
        json_integer_set(val, to);
    }
    char *out = path_join(dst, "config.json");
    atomic_file af;
    FILE *fp = atomic_open(&af, out);
    int bad = json_dumpf(o, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 || fputc('\n', fp) == EOF;
    if (bad) {
        atomic_abort(&af);
        rc = errbuf_fail(err, errn, "%s: write error", out);
    } else if (atomic_commit(&af) != 0) {
        rc = errbuf_fail(err, errn, "%s: %s", out, strerror(errno));
    }
    free(af.path);
    free(af.tmp);
    free(out);
done:
    json_decref(o);
    free(in);
    return rc;
}

static int write_vocab(const char *dst, const tok_vocab *v, const int32_t *old_ids, size_t newV, char *err,
                       size_t errn)
{
    char *out = path_join(dst, "vocab.txt");
    atomic_file af;
    FILE *fp = atomic_open(&af, out);
    for (size_t i = 0; i < newV; i++)
        fprintf(fp, "%s\n", tok_vocab_token(v, old_ids[i]));
    int rc = 0;
    if (ferror(fp)) {
        atomic_abort(&af);
        rc = errbuf_fail(err, errn, "%s: write error", out);
    } else if (atomic_commit(&af) != 0) {
        rc = errbuf_fail(err, errn, "%s: %s", out, strerror(errno));
    }
    free(af.path);
    free(af.tmp);
    free(out);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Every other regular file of src (tokenizer_config.json, special_tokens_map.json, logs):
 * weight files and tokenizer.json (the old vocabulary, which a fast tokenizer would read
 * instead of vocab.txt) are left out and named in notice. */
static int copy_others(const char *src, const char *dst, char *notice, size_t noticen, char *err, size_t errn)
{
    DIR *d = opendir(src);
    if (!d)
        return errbuf_fail(err, errn, "%s: %s", src, strerror(errno));
    struct dirent *e;
    int rc = 0, nskip = 0;
    char skipped[512] = "";
    while (!rc && (e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] == '.' || !strcmp(n, "config.json") || !strcmp(n, "model.safetensors") || !strcmp(n, "vocab.txt"))
            continue;
        char *from = path_join(src, n);
        struct stat st;
        if (stat(from, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(from);
            continue;           /* subdirectories: epoch-N/, last/ ... are other checkpoints */
        }
        if (!strcmp(n, "tokenizer.json") || ends_with(n, ".safetensors") || ends_with(n, ".bin") ||
            ends_with(n, ".h5") || ends_with(n, ".msgpack") || ends_with(n, ".index.json") ||
            ends_with(n, ".ckpt") || ends_with(n, ".model")) {
            if (nskip++ < 6) {
                size_t u = strlen(skipped);
                snprintf(skipped + u, sizeof skipped - u, "%s%s", u ? ", " : "", n);
            }
            free(from);
            continue;
        }
        char *to = path_join(dst, n);
        rc = file_copy(from, to, err, errn);
        free(from);
        free(to);
    }
    closedir(d);
    if (!rc && nskip && notice && noticen)
        snprintf(notice, noticen, "%s: not copied (another vocabulary or other weights): %s%s", src, skipped,
                 nskip > 6 ? ", ..." : "");
    return rc;
}

int trim_write_checkpoint(const char *src, const char *dst, const tok_vocab *v, const int32_t *old_ids,
                          size_t newV, char *notice, size_t noticen, char *err, size_t errn)
{
    if (notice && noticen)
        notice[0] = 0;
    char *rs = realpath(src, NULL), *rd = realpath(dst, NULL);
    int same = rs && rd && !strcmp(rs, rd);
    free(rs);
    free(rd);
    if (same)
        return errbuf_fail(err, errn, "%s: the output would replace the input checkpoint", dst);
    char *d = xstrdup(dst);
    int ok = access(dirname(d), W_OK) == 0;
    free(d);
    if (!ok)
        return errbuf_fail(err, errn, "%s: cannot write in its parent directory: %s", dst, strerror(errno));
    /* vocab_size, read for the shape checks (config.json is read again to rewrite it) */
    char *cp = path_join(src, "config.json");
    json_error_t je;
    json_t *c = json_load_file(cp, 0, &je);
    json_int_t V = json_integer_value(json_object_get(c, "vocab_size"));
    json_decref(c);
    if (!c || V <= 0) {
        int rc = errbuf_fail(err, errn, "%s: %s", cp, c ? "no vocab_size" : je.text);
        free(cp);
        return rc;
    }
    free(cp);
    for (size_t i = 0; i < newV; i++)
        if (old_ids[i] < 0 || old_ids[i] >= V || (i && old_ids[i] <= old_ids[i - 1]))
            return errbuf_fail(err, errn, "trim: kept ids must ascend within the vocabulary");

    atomic_dir ad;
    const char *tmp = atomic_dir_open(&ad, dst);
    size_t ndropped = 0;
    int rc = write_weights(src, tmp, (size_t)V, old_ids, newV, &ndropped, err, errn);
    if (!rc)
        rc = write_config(src, tmp, (size_t)V, old_ids, newV, err, errn);
    if (!rc)
        rc = write_vocab(tmp, v, old_ids, newV, err, errn);
    if (!rc)
        rc = copy_others(src, tmp, notice, noticen, err, errn);
    if (rc)
        atomic_dir_abort(&ad);
    else if (atomic_dir_commit(&ad) != 0)
        rc = errbuf_fail(err, errn, "%s: %s", dst, strerror(errno));
    free(ad.path);
    free(ad.tmp);
    return rc;
}
