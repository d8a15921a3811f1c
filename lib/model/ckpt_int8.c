/* int8 checkpoints: emo ckpt quantize and dequantize (ckpt.h, emo-checkpoint(5)).
 *
 * The linear layers' weights become int8 with one scale per output channel: they are the
 * GEMMs, 80% of inference, and nn/qgemm runs them on the codes.  The embedding tables (word,
 * position, token type) become int8 too, one scale per row (symmetric, absmax / 127), unless
 * kept float (MODEL_Q8_KEEP_EMB): for small students the 30522-row word table is most of the
 * checkpoint (bert-tiny: 3.9 of its 4.4 M parameters), so with float tables their int8 file
 * was about 0.9x the float one.  A row of a table is looked up, not multiplied, so the loader
 * dequantises the tables to float (ckpt.c, read_int8): int8 tables save file size (disk,
 * download), not memory, and the forward pass is the float one.  LayerNorms and biases are
 * float as in every dynamic int8 scheme (a few floats per channel).
 *
 * Requantising a dequantised file gives the same codes and scales: a scale s = m / n (n the
 * largest code) comes back from the row's largest value s * n as the same float, which holds
 * for every float m (checked exhaustively for n = 63 and 127). */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/ckpt.h"
#include "model/config.h"
#include "nn/qgemm.h"
#include "util/util.h"

/* model_params field numbers of the embedding tables and linear weights (model.h struct order) */
enum { F_WORD = 0, F_POS = 1, F_TYPE = 2, F_PROJ_W = 5, F_QKV_W = 7, F_AO_W = 9, F_FI_W = 13, F_FO_W = 15,
       F_POOL_W = 19, F_CLS_W = 21 };

/* The largest code of an int8 embedding row. */
#define EMB_QMAX 127

static int emb_field(int field, unsigned keep)
{
    return (field == F_WORD || field == F_POS || field == F_TYPE) && !(keep & MODEL_Q8_KEEP_EMB);
}

/* wq (rows, cols) = round(w / scale) with scale[r] = max |w[r, .]| / 127 (symmetric per row;
 * an all-zero row gets scale 0 and codes 0). */
static void quantize_rows(int8_t *wq, float *scale, const float *w, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *x = w + r * cols;
        float m = 0.0f;
        for (size_t k = 0; k < cols; k++)
            m = fabsf(x[k]) > m ? fabsf(x[k]) : m;
        float sc = m / (float)EMB_QMAX;
        scale[r] = sc;
        for (size_t k = 0; k < cols; k++) {
            long v = sc > 0.0f ? lrintf(x[k] / sc) : 0;
            wq[r * cols + k] = (int8_t)(v < -EMB_QMAX ? -EMB_QMAX : v > EMB_QMAX ? EMB_QMAX : v);
        }
    }
}

static int int8_field(int field, unsigned keep)
{
    switch (field) {
    case F_QKV_W: case F_AO_W: case F_FI_W: case F_FO_W: return 1;
    case F_PROJ_W: return !(keep & MODEL_Q8_KEEP_PROJ);
    case F_POOL_W: return !(keep & MODEL_Q8_KEEP_POOL);
    case F_CLS_W: return !(keep & MODEL_Q8_KEEP_CLS);
    }
    return 0;
}

/* The checkpoint's own files beside the weights and config.json, when src has them. */
static int copy_side_files(const char *src, const char *dst, char *err, size_t errn)
{
    static const char *const names[] = { "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                                         "emo_text.json", "emo_run.json" };
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof names / sizeof *names; i++) {
        char *from = path_join(src, names[i]), *to = path_join(dst, names[i]);
        if (access(from, F_OK) == 0)
            rc = file_copy(from, to, err, errn);
        free(from);
        free(to);
    }
    return rc;
}

/* config.json, model.safetensors (o[n]) and the side files of src into dst, atomically. */
static int write_ckpt(const char *src, const char *dst, const model_config *c, const st_out *o, size_t n, char *err,
                      size_t errn)
{
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
    atomic_dir ad;
    const char *tmp = atomic_dir_open(&ad, dst);
    char *cp = path_join(tmp, "config.json"), *mp = path_join(tmp, "model.safetensors");
    int rc = model_config_save(cp, c, err, errn);
    if (!rc)
        rc = st_write(mp, o, n, err, errn);
    if (!rc)
        rc = copy_side_files(src, tmp, err, errn);
    if (rc)
        atomic_dir_abort(&ad);
    else if (atomic_dir_commit(&ad) != 0)
        rc = errbuf_fail(err, errn, "%s: %s", dst, strerror(errno));
    free(cp);
    free(mp);
    free(ad.path);
    free(ad.tmp);
    return rc;
}

/* src's config and float weights (int8 ones dequantised) into a new block; 0 or -1. */
static int load(const char *src, model_config *c, float **block, model_params *p, char *err, size_t errn)
{
    struct stat st;
    if (stat(src, &st) != 0 || !S_ISDIR(st.st_mode))
        return errbuf_fail(err, errn, "%s: not a checkpoint directory", src);
    char *cp = path_join(src, "config.json");
    int rc = model_config_load(cp, c, err, errn);
    free(cp);
    if (rc)
        return rc;
    if (model_config_class_has_mlm(c->arch_class))
        return errbuf_fail(err, errn, "%s: a %s checkpoint: quantize a trained classifier", src, c->arch_class);
    size_t sizes[MODEL_NUM_PARAM_TENSORS];
    *block = xaligned_alloc(model_param_sizes(c, sizes) * sizeof(float));
    model_params_point(p, c, *block);
    char notice[512];
    rc = ckpt_load_params(src, c, p, CKPT_INT8, 0, notice, sizeof notice, err, errn);
    if (rc) {
        free(*block);
        *block = NULL;
    }
    return rc;
}

int ckpt_quantize(const char *src, const char *dst, unsigned keep, int scheme, char *err, size_t errn)
{
    model_config c;
    float *block;
    model_params p;
    char e[1024];
    if (load(src, &c, &block, &p, e, sizeof e) != 0)
        return errbuf_fail(err, errn, "%s", e);
    if (c.quant) {
        free(block);
        return errbuf_fail(err, errn, "%s: already an int8 checkpoint (%s)", src, c.quant_scheme ? "a7" : "w7");
    }
    size_t n = ckpt_num_entries(&c);
    ckpt_entry *es = xmalloc(n * sizeof *es);
    ckpt_entries(&c, es);
    st_out *o = xcalloc(2 * n, sizeof *o);
    char (*names)[CKPT_NAME_MAX + 16] = xcalloc(n, sizeof *names);
    void **bufs = xcalloc(2 * n, sizeof *bufs);
    size_t k = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        const ckpt_entry *en = &es[i];
        const float *w = ckpt_field(&p, en->field) + en->offset;
        o[k] = (st_out){ .name = en->name, .data = w, .ndim = en->ndim, .shape = { en->shape[0], en->shape[1] } };
        int emb = en->ndim == 2 && emb_field(en->field, keep);
        if (emb || (en->ndim == 2 && int8_field(en->field, keep))) {
            size_t rows = (size_t)en->shape[0], cols = (size_t)en->shape[1];
            int8_t *wq = bufs[nb++] = xmalloc(rows * cols + 1);
            float *ws = bufs[nb++] = xmalloc((rows + 1) * sizeof *ws);
            if (emb)
                quantize_rows(wq, ws, w, rows, cols);
            else
                qgemm_quantize_weights(wq, ws, w, rows, cols, (enum qgemm_scheme)scheme);
            o[k].i8 = wq;
            snprintf(names[i], sizeof names[i], "%s_scale", en->name);
            o[++k] = (st_out){ .name = names[i], .data = ws, .ndim = 1, .shape = { (int64_t)rows } };
        }
        k++;
    }
    /* keep: only the layers this model has */
    c.quant = 1;
    c.quant_scheme = scheme;
    c.quant_keep = keep & (MODEL_Q8_KEEP_POOL | MODEL_Q8_KEEP_CLS | MODEL_Q8_KEEP_EMB |
                           (c.arch == ARCH_ALBERT ? MODEL_Q8_KEEP_PROJ : 0));
    int rc = write_ckpt(src, dst, &c, o, k, err, errn);
    for (size_t i = 0; i < nb; i++)
        free(bufs[i]);
    free(bufs);
    free(names);
    free(o);
    free(es);
    free(block);
    return rc;
}

int ckpt_dequantize(const char *src, const char *dst, char *err, size_t errn)
{
    model_config c;
    float *block;
    model_params p;
    char e[1024];
    if (load(src, &c, &block, &p, e, sizeof e) != 0)
        return errbuf_fail(err, errn, "%s", e);
    if (!c.quant) {
        free(block);
        return errbuf_fail(err, errn, "%s: not an int8 checkpoint (config.json has no \"quantization\")", src);
    }
    c.quant = 0;
    c.quant_scheme = 0;
    c.quant_keep = 0;
    size_t n = ckpt_num_entries(&c);
    ckpt_entry *es = xmalloc(n * sizeof *es);
    ckpt_entries(&c, es);
    st_out *o = xcalloc(n, sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i] = (st_out){ .name = es[i].name, .data = ckpt_field(&p, es[i].field) + es[i].offset,
                         .ndim = es[i].ndim, .shape = { es[i].shape[0], es[i].shape[1] } };
    int rc = write_ckpt(src, dst, &c, o, n, err, errn);
    free(o);
    free(es);
    free(block);
    return rc;
}
