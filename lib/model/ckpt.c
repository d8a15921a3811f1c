/* Hugging Face checkpoint directories <-> model_params; see ckpt.h. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/ckpt.h"
#include "model/config.h"
#include "nn/qgemm.h"
#include "util/rng.h"
#include "util/util.h"

/* model_params fields in struct order (model.h). */
enum {
    F_WORD, F_POS, F_TYPE, F_EMB_LN_W, F_EMB_LN_B, F_PROJ_W, F_PROJ_B, F_QKV_W, F_QKV_B,
    F_AO_W, F_AO_B, F_LN1_W, F_LN1_B, F_FI_W, F_FI_B, F_FO_W, F_FO_B, F_LN2_W, F_LN2_B,
    F_POOL_W, F_POOL_B, F_CLS_W, F_CLS_B, F_MLM_DW, F_MLM_DB, F_MLM_LNW, F_MLM_LNB, F_MLM_BIAS
};

float *ckpt_field(const model_params *p, int field)
{
    float *const f[MODEL_NUM_PARAM_TENSORS] = {
        p->word_emb, p->pos_emb, p->type_emb, p->emb_ln_w, p->emb_ln_b, p->emb_proj_w,
        p->emb_proj_b, p->qkv_w, p->qkv_b, p->attn_out_w, p->attn_out_b, p->ln1_w,
        p->ln1_b, p->ffn_in_w, p->ffn_in_b, p->ffn_out_w, p->ffn_out_b, p->ln2_w,
        p->ln2_b, p->pool_w, p->pool_b, p->cls_w, p->cls_b, p->mlm_dense_w, p->mlm_dense_b,
        p->mlm_ln_w, p->mlm_ln_b, p->mlm_bias,
    };
    return field >= 0 && field < MODEL_NUM_PARAM_TENSORS ? f[field] : NULL;
}

size_t ckpt_num_entries(const model_config *c)
{
    size_t emb = c->arch == ARCH_DISTILBERT ? 4 : c->arch == ARCH_ALBERT ? 7 : 5;
    return emb + 16 * (size_t)model_layer_sets(c) + (c->K ? 4 : 0) + (c->mlm ? 5 : 0);
}

typedef struct {
    ckpt_entry *e;
    size_t n;
} table;

static void add(table *t, const char *name, int field, size_t offset, int64_t d0, int64_t d1,
                ckpt_group g, int is_norm)
{
    ckpt_entry *e = &t->e[t->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->field = field;
    e->offset = offset;
    e->ndim = d1 ? 2 : 1;
    e->shape[0] = d0;
    e->shape[1] = d1;
    e->numel = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    e->group = g;
    e->is_norm = is_norm;
}

/* A Linear: "<pre><mod>.weight" (out, in) at w_field + w_off, ".bias" (out) at b_field + b_off. */
static void add_linear(table *t, const char *pre, const char *mod, int wf, size_t woff, int bf, size_t boff,
                       int64_t out, int64_t in, ckpt_group g)
{
    char n[CKPT_NAME_MAX];
    snprintf(n, sizeof n, "%s%s.weight", pre, mod);
    add(t, n, wf, woff, out, in, g, 0);
    snprintf(n, sizeof n, "%s%s.bias", pre, mod);
    add(t, n, bf, boff, out, 0, g, 0);
}

static void add_norm_g(table *t, const char *pre, const char *mod, int wf, int bf, size_t off, int64_t d,
                       ckpt_group g)
{
    char n[CKPT_NAME_MAX];
    snprintf(n, sizeof n, "%s%s.weight", pre, mod);
    add(t, n, wf, off, d, 0, g, 1);
    snprintf(n, sizeof n, "%s%s.bias", pre, mod);
    add(t, n, bf, off, d, 0, g, 1);
}

static void add_norm(table *t, const char *pre, const char *mod, int wf, int bf, size_t off, int64_t d)
{
    add_norm_g(t, pre, mod, wf, bf, off, d, CKPT_BODY);
}

size_t ckpt_entries(const model_config *c, ckpt_entry *out)
{
    table t = { out, 0 };
    size_t H = (size_t)c->H, I = (size_t)c->I, E = (size_t)c->E;
    const char *base = model_arch_name(c->arch);
    char pre[64], n[CKPT_NAME_MAX];

    snprintf(pre, sizeof pre, "%s.embeddings.", base);
    snprintf(n, sizeof n, "%sword_embeddings.weight", pre);
    add(&t, n, F_WORD, 0, c->V, (int64_t)E, CKPT_BODY, 0);
    snprintf(n, sizeof n, "%sposition_embeddings.weight", pre);
    add(&t, n, F_POS, 0, c->P, (int64_t)E, CKPT_BODY, 0);
    if (c->arch != ARCH_DISTILBERT) {
        snprintf(n, sizeof n, "%stoken_type_embeddings.weight", pre);
        add(&t, n, F_TYPE, 0, c->TV, (int64_t)E, CKPT_BODY, 0);
    }
    add_norm(&t, pre, "LayerNorm", F_EMB_LN_W, F_EMB_LN_B, 0, (int64_t)E);
    if (c->arch == ARCH_ALBERT)
        add_linear(&t, "albert.encoder.", "embedding_hidden_mapping_in", F_PROJ_W, 0, F_PROJ_B, 0,
                   (int64_t)H, (int64_t)E, CKPT_BODY);

    for (int l = 0; l < model_layer_sets(c); l++) {
        size_t L = (size_t)l;
        /* qkv_w (Lp, 3H, H): query rows [0, H), key [H, 2H), value [2H, 3H) */
        size_t qw = L * 3 * H * H, qb = L * 3 * H;
        const char *q, *k, *v, *ao, *ln1, *fi, *fo, *ln2;
        if (c->arch == ARCH_BERT) {
            snprintf(pre, sizeof pre, "bert.encoder.layer.%d.", l);
            q = "attention.self.query"; k = "attention.self.key"; v = "attention.self.value";
            ao = "attention.output.dense"; ln1 = "attention.output.LayerNorm";
            fi = "intermediate.dense"; fo = "output.dense"; ln2 = "output.LayerNorm";
        } else if (c->arch == ARCH_DISTILBERT) {
            snprintf(pre, sizeof pre, "distilbert.transformer.layer.%d.", l);
            q = "attention.q_lin"; k = "attention.k_lin"; v = "attention.v_lin";
            ao = "attention.out_lin"; ln1 = "sa_layer_norm";
            fi = "ffn.lin1"; fo = "ffn.lin2"; ln2 = "output_layer_norm";
        } else {
            snprintf(pre, sizeof pre, "albert.encoder.albert_layer_groups.0.albert_layers.0.");
            q = "attention.query"; k = "attention.key"; v = "attention.value";
            ao = "attention.dense"; ln1 = "attention.LayerNorm";
            fi = "ffn"; fo = "ffn_output"; ln2 = "full_layer_layer_norm";
        }
        add_linear(&t, pre, q, F_QKV_W, qw, F_QKV_B, qb, (int64_t)H, (int64_t)H, CKPT_BODY);
        add_linear(&t, pre, k, F_QKV_W, qw + H * H, F_QKV_B, qb + H, (int64_t)H, (int64_t)H, CKPT_BODY);
        add_linear(&t, pre, v, F_QKV_W, qw + 2 * H * H, F_QKV_B, qb + 2 * H, (int64_t)H, (int64_t)H, CKPT_BODY);
        add_linear(&t, pre, ao, F_AO_W, L * H * H, F_AO_B, L * H, (int64_t)H, (int64_t)H, CKPT_BODY);
        add_norm(&t, pre, ln1, F_LN1_W, F_LN1_B, L * H, (int64_t)H);
        add_linear(&t, pre, fi, F_FI_W, L * I * H, F_FI_B, L * I, (int64_t)I, (int64_t)H, CKPT_BODY);
        add_linear(&t, pre, fo, F_FO_W, L * H * I, F_FO_B, L * H, (int64_t)H, (int64_t)I, CKPT_BODY);
        add_norm(&t, pre, ln2, F_LN2_W, F_LN2_B, L * H, (int64_t)H);
    }

    if (c->K) {     /* K == 0: a masked-LM-only model, no pooler (HF *ForMaskedLM) */
        if (c->arch == ARCH_BERT)
            add_linear(&t, "bert.pooler.", "dense", F_POOL_W, 0, F_POOL_B, 0, (int64_t)H, (int64_t)H, CKPT_POOLER);
        else if (c->arch == ARCH_ALBERT)
            add_linear(&t, "albert.", "pooler", F_POOL_W, 0, F_POOL_B, 0, (int64_t)H, (int64_t)H, CKPT_POOLER);
        else
            add_linear(&t, "", "pre_classifier", F_POOL_W, 0, F_POOL_B, 0, (int64_t)H, (int64_t)H, CKPT_HEAD);
        add_linear(&t, "", "classifier", F_CLS_W, 0, F_CLS_B, 0, c->K, (int64_t)H, CKPT_HEAD);
    }
    if (c->mlm) {
        /* the masked-LM head in HF's state_dict order; the decoder weight is word_emb (tied,
         * not written, as save_pretrained drops tied tensors) */
        const char *pre_mlm = c->arch == ARCH_BERT ? "cls.predictions." : c->arch == ARCH_ALBERT ? "predictions." : "";
        if (c->arch == ARCH_DISTILBERT) {
            add_linear(&t, "", "vocab_transform", F_MLM_DW, 0, F_MLM_DB, 0, (int64_t)E, (int64_t)H, CKPT_MLM);
            add_norm_g(&t, "", "vocab_layer_norm", F_MLM_LNW, F_MLM_LNB, 0, (int64_t)E, CKPT_MLM);
            add(&t, "vocab_projector.bias", F_MLM_BIAS, 0, c->V, 0, CKPT_MLM, 0);
        } else {
            snprintf(n, sizeof n, "%sbias", pre_mlm);
            add(&t, n, F_MLM_BIAS, 0, c->V, 0, CKPT_MLM, 0);
            char tr[64];
            snprintf(tr, sizeof tr, "%s%s", pre_mlm, c->arch == ARCH_BERT ? "transform." : "");
            add_linear(&t, tr, "dense", F_MLM_DW, 0, F_MLM_DB, 0, (int64_t)E, (int64_t)H, CKPT_MLM);
            add_norm_g(&t, tr, "LayerNorm", F_MLM_LNW, F_MLM_LNB, 0, (int64_t)E, CKPT_MLM);
        }
    }
    return t.n;
}

/* ---- loading ------------------------------------------------------------ */

/* Tensors of the Hub checkpoints that a *ForSequenceClassification model does not use
 * (the masked-LM head's, when the model has one, are found before this is asked), and
 * the pooler of a model without one (K == 0: BertForPreTraining's into *ForMaskedLM). */
static int ignorable(const char *name, const model_config *c)
{
    if (!c->K && (!strncmp(name, "bert.pooler.", 12) || !strncmp(name, "albert.pooler.", 14) ||
                  !strncmp(name, "pooler.", 7)))
        return 1;
    static const char *const prefixes[] = {
        "cls.", "vocab_transform.", "vocab_layer_norm.", "vocab_projector.", "predictions.",
        "sop_classifier.", "qa_outputs.",
    };
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return 1;
    size_t n = strlen(name);
    return (n >= 12 && !strcmp(name + n - 12, "position_ids")) ||
           (n >= 14 && !strcmp(name + n - 14, "token_type_ids"));
}

/* The entry's tensor in f: its name, then the old gamma/beta spelling, then both without
 * the base-model prefix ("bert.", a checkpoint saved from BertModel). */
static const st_tensor *lookup(const st_file *f, const char *prefix, const model_config *c, const ckpt_entry *e)
{
    char names[4][CKPT_NAME_MAX + 32];
    int k = 0;
    snprintf(names[k++], sizeof names[0], "%s%s", prefix, e->name);
    if (e->is_norm) {
        size_t n = strlen(names[0]);
        snprintf(names[k], sizeof names[0], "%s", names[0]);
        if (n > 7 && !strcmp(names[k] + n - 7, ".weight"))
            strcpy(names[k] + n - 7, ".gamma");
        else if (n > 5 && !strcmp(names[k] + n - 5, ".bias"))
            strcpy(names[k] + n - 5, ".beta");
        k++;
    }
    const char *base = model_arch_name(c->arch);
    size_t bl = strlen(base);
    int kk = k;
    for (int i = 0; i < kk; i++) {
        const char *rest = names[i] + strlen(prefix);
        if (!strncmp(rest, base, bl) && rest[bl] == '.')
            snprintf(names[k++], sizeof names[0], "%s%s", prefix, rest + bl + 1);
    }
    /* the MLM decoder bias: HF ties predictions.bias and predictions.decoder.bias and may
     * write either */
    if (e->field == F_MLM_BIAS && e->ndim == 1) {
        size_t n = strlen(names[0]);
        if (n >= 16 && !strcmp(names[0] + n - 16, "predictions.bias")) {
            memcpy(names[k], names[0], n - 4);
            strcpy(names[k++] + n - 4, "decoder.bias");
        }
    }
    for (int i = 0; i < k; i++) {
        const st_tensor *t = st_find(f, names[i]);
        if (t)
            return t;
    }
    return NULL;
}

static void init_entry(float *dst, const ckpt_entry *e, rng_t *r)
{
    /* transformers' _init_weights: Linear weight N(0, initializer_range 0.02), bias 0,
     * LayerNorm weight 1 */
    size_t n = strlen(e->name);
    if (e->ndim == 2)
        for (size_t i = 0; i < e->numel; i++)
            dst[i] = (float)(0.02 * rng_normal(r));
    else if (e->is_norm && n > 7 && !strcmp(e->name + n - 7, ".weight"))
        for (size_t i = 0; i < e->numel; i++)
            dst[i] = 1.0f;
    else
        memset(dst, 0, e->numel * sizeof *dst);
}

static void append(char *buf, size_t n, const char *s)
{
    if (buf && n)
        strncat(buf, s, n - strlen(buf) - 1);
}

/* An I8 tensor t of entry e (emo ckpt quantize, emo-checkpoint(5)): its scale tensor
 * "<name>_scale" (F32, one per row) marked used, the weights dequantised into dst and, with
 * a model m, a linear layer's codes handed to it (model_int8_set).  An embedding table's
 * rows (codes in [-127, 127]) are only dequantised: a lookup is no GEMM, the engine keeps
 * them float. */
static int read_int8(const st_file *f, const st_tensor *t, const ckpt_entry *e, const model_config *c,
                     unsigned flags, unsigned char *used, float *dst, model *m, char *err, size_t errn)
{
    if (!(flags & CKPT_INT8))
        return errbuf_fail(err, errn, "%s: tensor %s is int8 (an emo ckpt quantize checkpoint, for inference "
                           "only): train from the float checkpoint or from emo ckpt dequantize's", f->path, t->name);
    if (!c->quant)
        return errbuf_fail(err, errn, "%s: tensor %s is int8 (I8), but config.json has no \"quantization\"",
                           f->path, t->name);
    int linear = e->ndim == 2 && (e->field == F_PROJ_W || e->field == F_QKV_W || e->field == F_AO_W ||
                                  e->field == F_FI_W || e->field == F_FO_W || e->field == F_POOL_W ||
                                  e->field == F_CLS_W);
    int emb = e->ndim == 2 && (e->field == F_WORD || e->field == F_POS || e->field == F_TYPE);
    if (!linear && !emb)
        return errbuf_fail(err, errn, "%s: tensor %s is int8 (I8), but only linear layers' weights and "
                           "embedding tables may be", f->path, t->name);
    char shp[64], want[64];
    st_shape_str(e->ndim, e->shape, want, sizeof want);
    st_shape_str(t->ndim, t->shape, shp, sizeof shp);
    if (t->ndim != 2 || t->shape[0] != e->shape[0] || t->shape[1] != e->shape[1])
        return errbuf_fail(err, errn, "%s: tensor %s has shape %s, expected %s", f->path, t->name, shp, want);
    char sn[CKPT_NAME_MAX + 48];
    snprintf(sn, sizeof sn, "%s_scale", t->name);
    const st_tensor *st = st_find(f, sn);
    if (!st)
        return errbuf_fail(err, errn, "%s: tensor %s is int8 but its scale %s is missing", f->path, t->name, sn);
    used[st - f->t] = 1;
    size_t rows = (size_t)e->shape[0], cols = (size_t)e->shape[1];
    if (st->dtype != ST_F32)
        return errbuf_fail(err, errn, "%s: tensor %s has dtype %s, expected F32", f->path, sn, st_dtype_name(st->dtype));
    if (st->ndim != 1 || (size_t)st->shape[0] != rows) {
        st_shape_str(st->ndim, st->shape, shp, sizeof shp);
        return errbuf_fail(err, errn, "%s: tensor %s has shape %s, expected [%zu]", f->path, sn, shp, rows);
    }
    float *scale = xmalloc(rows * sizeof *scale);
    int rc = st_to_f32(f, st, scale, err, errn);
    for (size_t i = 0; !rc && i < rows; i++)
        if (!(scale[i] >= 0.0f && isfinite(scale[i])))
            rc = errbuf_fail(err, errn, "%s: tensor %s: scale %g at index %zu (finite, >= 0 expected)", f->path, sn,
                             (double)scale[i], i);
    const int8_t *wq = (const int8_t *)(f->data + t->begin);
    for (size_t i = 0; !rc && emb && i < rows * cols; i++)
        if (wq[i] < -127)
            rc = errbuf_fail(err, errn, "%s: tensor %s: int8 code %d at row %zu outside [-127, 127]", f->path,
                             t->name, wq[i], i / cols);
    if (!rc)
        qgemm_dequantize_weights(dst, wq, scale, rows, cols);
    if (!rc && m && linear && model_int8_set(m, e->field, e->offset / cols, rows, wq, scale, c->quant_scheme) != 0)
        rc = errbuf_fail(err, errn, "%s: tensor %s: %s", f->path, t->name, model_error(m));
    free(scale);
    return rc;
}

static int read_st(const st_file *f, const char *prefix, const model_config *c, model_params *p, unsigned flags,
                   uint64_t seed, model *m, char *notice, size_t noticen, char *err, size_t errn);

int ckpt_read_st(const st_file *f, const char *prefix, const model_config *c, model_params *p,
                 unsigned flags, uint64_t seed, char *notice, size_t noticen, char *err, size_t errn)
{
    return read_st(f, prefix, c, p, flags, seed, NULL, notice, noticen, err, errn);
}

static int read_st(const st_file *f, const char *prefix, const model_config *c, model_params *p, unsigned flags,
                   uint64_t seed, model *m, char *notice, size_t noticen, char *err, size_t errn)
{
    if (notice && noticen)
        notice[0] = 0;
    size_t n = ckpt_num_entries(c);
    ckpt_entry *es = xmalloc(n * sizeof *es);
    ckpt_entries(c, es);
    unsigned char *used = xcalloc(f->n + 1, 1);
    rng_t r;
    rng_seed(&r, seed);
    char inited[512] = "";
    int rc = 0, ninit = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const ckpt_entry *e = &es[i];
        float *dst = ckpt_field(p, e->field) + e->offset;
        const st_tensor *t = lookup(f, prefix, c, e);
        int reinit = (flags & CKPT_NEW_HEAD) && (e->field == F_CLS_W || e->field == F_CLS_B);
        if (reinit && t) {
            used[t - f->t] = 1;
            t = NULL;
        }
        if (!t) {
            if (!reinit && !(e->group != CKPT_BODY && (flags & CKPT_INIT_MISSING_HEAD))) {
                rc = errbuf_fail(err, errn, "%s: tensor %s%s is missing", f->path, prefix, e->name);
                break;
            }
            init_entry(dst, e, &r);
            if (ninit++ < 8) {
                append(inited, sizeof inited, ninit > 1 ? ", " : "");
                append(inited, sizeof inited, e->name);
            }
            continue;
        }
        used[t - f->t] = 1;
        if (t->dtype == ST_I8) {
            rc = read_int8(f, t, e, c, flags, used, dst, m, err, errn);
            continue;
        }
        char tn[CKPT_NAME_MAX + 32];
        snprintf(tn, sizeof tn, "%s", t->name);
        rc = st_get_f32(f, tn, e->ndim, e->shape, dst, err, errn);
        for (size_t j = 0; !rc && j < e->numel; j++)
            if (!isfinite(dst[j]))
                rc = errbuf_fail(err, errn, "%s: tensor %s: non-finite value at index %zu", f->path, t->name, j);
    }
    if (!rc) {
        size_t nextra = 0;
        const char *first = NULL;
        for (size_t i = 0; i < f->n; i++) {
            if (used[i] || ignorable(f->t[i].name, c))
                continue;
            if (*prefix && strncmp(f->t[i].name, prefix, strlen(prefix)))
                continue;      /* reading grad.* from a state that also holds logits etc. */
            if (!first)
                first = f->t[i].name;
            nextra++;
        }
        char line[1024];
        if (ninit) {
            snprintf(line, sizeof line, "%s: initialised %d tensor%s %s (%s): train before use", f->path, ninit,
                     ninit > 1 ? "s" : "", flags & CKPT_NEW_HEAD ? "for a new head or not in the checkpoint"
                     : "not in the checkpoint", inited);
            append(notice, noticen, line);
        }
        if (nextra) {
            snprintf(line, sizeof line, "%s%s: ignored %zu unexpected tensor%s (first: %s)", ninit ? "; " : "",
                     f->path, nextra, nextra > 1 ? "s" : "", first);
            append(notice, noticen, line);
        }
    }
    free(used);
    free(es);
    return rc;
}

static int load_params(const char *dir, const model_config *c, model_params *p, unsigned flags, uint64_t seed,
                       model *m, char *notice, size_t noticen, char *err, size_t errn)
{
    if (c->quant && !(flags & CKPT_INT8))
        return errbuf_fail(err, errn, "%s: an int8 checkpoint (emo ckpt quantize) is for inference only: train from "
                           "the float checkpoint, or from one written back by emo ckpt dequantize", dir);
    char *path = path_join(dir, "model.safetensors");
    st_file f;
    int rc = st_open(&f, path, err, errn);
    if (rc && access(path, F_OK) != 0) {
        /* say what is there instead: PyTorch pickles and sharded files are not read */
        static const char *const other[] = { "pytorch_model.bin", "model.safetensors.index.json", "tf_model.h5" };
        for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
            char *o = path_join(dir, other[i]);
            int there = access(o, F_OK) == 0;
            free(o);
            if (there) {
                errbuf_fail(err, errn, "%s: missing; only a single model.safetensors is read, not %s (save it with "
                     "safe_serialization=True, max_shard_size large enough)", path, other[i]);
                break;
            }
        }
    }
    free(path);
    if (rc)
        return rc;
    rc = read_st(&f, "", c, p, flags, seed, m, notice, noticen, err, errn);
    st_close(&f);
    if (!rc && m && model_int8_check(m) != 0)
        rc = errbuf_fail(err, errn, "%s: %s", dir, model_error(m));
    return rc;
}

int ckpt_load_params(const char *dir, const model_config *c, model_params *p, unsigned flags,
                     uint64_t seed, char *notice, size_t noticen, char *err, size_t errn)
{
    return load_params(dir, c, p, flags, seed, NULL, notice, noticen, err, errn);
}

static int load_dir_config(const char *dir, model_config *c, char *err, size_t errn)
{
    char *cp = path_join(dir, "config.json");
    int rc = model_config_load(cp, c, err, errn);
    free(cp);
    return rc;
}

int ckpt_load(const char *dir, model_config *c, float **block, model_params *p, uint64_t seed,
              char *notice, size_t noticen, char *err, size_t errn)
{
    int rc = load_dir_config(dir, c, err, errn);
    if (rc)
        return rc;
    size_t sizes[MODEL_NUM_PARAM_TENSORS];
    size_t total = model_param_sizes(c, sizes);
    *block = xaligned_alloc(total * sizeof(float));
    model_params_point(p, c, *block);
    rc = ckpt_load_params(dir, c, p, CKPT_INIT_MISSING_HEAD, seed, notice, noticen, err, errn);
    if (rc) {
        free(*block);
        *block = NULL;
    }
    return rc;
}

model *ckpt_load_model(const char *dir, uint64_t seed, char *notice, size_t noticen, char *err,
                       size_t errn)
{
    model_config c;
    if (load_dir_config(dir, &c, err, errn))
        return NULL;
    model *m = model_new(&c);
    if (!m) {
        errbuf_fail(err, errn, "%s: cannot build the model of its config.json", dir);
        return NULL;
    }
    model_params p;   // the model's own weights: loaded in place, one copy, touched once
    model_params_point(&p, &c, model_param_block(m));
    if (load_params(dir, &c, &p, CKPT_INIT_MISSING_HEAD | CKPT_INT8, seed, m, notice, noticen, err, errn)) {
        model_free(m);
        return NULL;
    }
    return m;
}

/* ---- saving ------------------------------------------------------------- */

int ckpt_save_tensors(const char *path, const model_config *c, const model_params *p,
                      const char *prefix, const st_out *extra, size_t nextra, char *err, size_t errn)
{
    size_t n = ckpt_num_entries(c);
    ckpt_entry *es = xmalloc(n * sizeof *es);
    ckpt_entries(c, es);
    st_out *o = xcalloc(n + nextra + 1, sizeof *o);
    char (*names)[CKPT_NAME_MAX + 32] = xmalloc((n + 1) * sizeof *names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "%s%s", prefix, es[i].name);
        o[i].name = names[i];
        o[i].data = ckpt_field(p, es[i].field) + es[i].offset;
        o[i].ndim = es[i].ndim;
        o[i].shape[0] = es[i].shape[0];
        o[i].shape[1] = es[i].shape[1];
    }
    for (size_t i = 0; i < nextra; i++)
        o[n + i] = extra[i];
    int rc = st_write(path, o, n + nextra, err, errn);
    free(names);
    free(o);
    free(es);
    return rc;
}

/* Lines of a text file (a last line without '\n' counts); -1 on error. */
static long long count_lines(const char *path, char *err, size_t errn)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return errbuf_fail(err, errn, "%s: %s", path, strerror(errno));
    char buf[65536];
    size_t k;
    char last = '\n';
    long long lines = 0;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) {
        for (size_t i = 0; i < k; i++)
            lines += buf[i] == '\n';
        last = buf[k - 1];
    }
    lines += last != '\n';
    int bad = ferror(in);
    fclose(in);
    return bad ? errbuf_fail(err, errn, "%s: read error", path) : lines;
}

int ckpt_vocab_check(const char *vocab_path, int V, char *err, size_t errn)
{
    long long lines = count_lines(vocab_path, err, errn);
    if (lines < 0)
        return -1;
    if (lines != V)
        return errbuf_fail(err, errn, "%s: %lld tokens, but the model's vocab_size is %d", vocab_path, lines, V);
    return 0;
}

/* Atomically replace dst with a copy of src (or with text, if src is NULL). */
static int write_atomic(const char *dst, const char *src, const char *text, char *err, size_t errn)
{
    FILE *in = NULL;
    if (src && !(in = fopen(src, "rb")))
        return errbuf_fail(err, errn, "%s: %s", src, strerror(errno));
    atomic_file af;
    FILE *out = atomic_open(&af, dst);
    if (in) {
        char buf[65536];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, in)) > 0)
            fwrite(buf, 1, k, out);
    } else {
        fputs(text, out);
    }
    int rc = 0;
    if (in && ferror(in)) {
        atomic_abort(&af);
        rc = errbuf_fail(err, errn, "%s: read error", src);
    } else if (atomic_commit(&af) != 0) {
        rc = errbuf_fail(err, errn, "%s: %s", dst, strerror(errno));
    }
    if (in)
        fclose(in);
    free(af.path);
    free(af.tmp);
    return rc;
}

int ckpt_write_dir(const char *dir, const model_config *c, const model_params *p,
                   const char *vocab_path, char *err, size_t errn)
{
    if (vocab_path) {               /* check before anything is written */
        long long lines = count_lines(vocab_path, err, errn);
        if (lines < 0)
            return -1;
        if (lines > c->V)
            return errbuf_fail(err, errn, "%s: %lld tokens, more than the model's vocab_size %d", vocab_path, lines, c->V);
    }
    if (access(dir, W_OK) != 0)
        return errbuf_fail(err, errn, "%s: %s", dir, strerror(errno));
    /* The files in writing order; on a failure the ones this call created are removed
     * again (a config.json without its weights is no checkpoint), the ones it replaced
     * stay in their new version. */
    enum { CONFIG, MODEL, VOCAB, TOKENIZER, SPECIALS, NFILES };
    static const char *const names[NFILES] = { "config.json", "model.safetensors", "vocab.txt",
                                               "tokenizer_config.json", "special_tokens_map.json" };
    char *path[NFILES];
    int had[NFILES];
    for (int i = 0; i < NFILES; i++) {
        path[i] = path_join(dir, names[i]);
        had[i] = access(path[i], F_OK) == 0;
    }
    int done = CONFIG + 1;          /* files attempted */
    model_config fc = *c;           /* F32 weights: a float checkpoint, whatever c was read from */
    fc.quant = 0;
    fc.quant_keep = 0;
    fc.quant_scheme = 0;
    int rc = model_config_save(path[CONFIG], &fc, err, errn);
    if (!rc) {
        done = MODEL + 1;
        rc = ckpt_save_tensors(path[MODEL], c, p, "", NULL, 0, err, errn);
    }
    if (!rc && vocab_path) {
        done = VOCAB + 1;
        rc = write_atomic(path[VOCAB], vocab_path, NULL, err, errn);
    }
    /* As BertTokenizer.save_pretrained (transformers 4.30) writes them, so that
     * AutoTokenizer.from_pretrained(dir) works.  tokenizer_class is explicit: from
     * model_type alone AutoTokenizer would pick AlbertTokenizer (spiece.model) for an
     * ALBERT; the models here all use the BERT uncased WordPiece vocabulary. */
    if (!rc && vocab_path) {
        done = TOKENIZER + 1;
        char text[1024];
        snprintf(text, sizeof text, "{\n  \"clean_up_tokenization_spaces\": true,\n  \"cls_token\": \"[CLS]\",\n"
                 "  \"do_basic_tokenize\": true,\n  \"do_lower_case\": true,\n  \"mask_token\": \"[MASK]\",\n"
                 "  \"model_max_length\": %d,\n  \"never_split\": null,\n  \"pad_token\": \"[PAD]\",\n"
                 "  \"sep_token\": \"[SEP]\",\n  \"strip_accents\": null,\n  \"tokenize_chinese_chars\": true,\n"
                 "  \"tokenizer_class\": \"BertTokenizer\",\n  \"unk_token\": \"[UNK]\"\n}\n", c->P);
        rc = write_atomic(path[TOKENIZER], NULL, text, err, errn);
    }
    if (!rc && vocab_path) {
        done = SPECIALS + 1;
        rc = write_atomic(path[SPECIALS], NULL, "{\n  \"cls_token\": \"[CLS]\",\n  \"mask_token\": \"[MASK]\",\n"
                          "  \"pad_token\": \"[PAD]\",\n  \"sep_token\": \"[SEP]\",\n  \"unk_token\": \"[UNK]\"\n}\n",
                          err, errn);
    }
    for (int i = 0; i < NFILES; i++) {
        if (rc && i < done && !had[i])
            unlink(path[i]);
        free(path[i]);
    }
    return rc;
}

/* ckpt_save, plus emo_run.json holding run_json (when not NULL) in the same atomic directory */
static int save_dir(const char *dir, const model_config *c, const model_params *p, const char *vocab_path,
                    const char *run_json, char *err, size_t errn)
{
    char *d = xstrdup(dir);
    int ok = access(dirname(d), W_OK) == 0;
    free(d);
    if (!ok)
        return errbuf_fail(err, errn, "%s: cannot write in its parent directory: %s", dir, strerror(errno));
    atomic_dir ad;
    const char *tmp = atomic_dir_open(&ad, dir);
    int rc = ckpt_write_dir(tmp, c, p, vocab_path, err, errn);
    if (rc == 0 && run_json) {
        char *rp = path_join(tmp, "emo_run.json");
        FILE *f = fopen(rp, "w");
        if (!f || fputs(run_json, f) == EOF || fclose(f) != 0)
            rc = errbuf_fail(err, errn, "%s: %s", rp, strerror(errno));
        free(rp);
    }
    if (rc)
        atomic_dir_abort(&ad);
    else if (atomic_dir_commit(&ad) != 0)
        rc = errbuf_fail(err, errn, "%s: %s", dir, strerror(errno));
    free(ad.path);
    free(ad.tmp);
    return rc;
}

int ckpt_save(const char *dir, const model_config *c, const model_params *p,
              const char *vocab_path, char *err, size_t errn)
{
    return save_dir(dir, c, p, vocab_path, NULL, err, errn);
}

int ckpt_model_save_run(const model *m, const char *dir, const char *vocab_path, const char *run_json,
                        char *err, size_t errn)
{
    return save_dir(dir, model_get_config(m), model_weights(m), vocab_path, run_json, err, errn);
}

model *ckpt_model_open(const char *spec, int K, const char *const *labels, unsigned flags, uint64_t seed,
                       char *notice, size_t noticen, char *err, size_t errn)
{
    if (notice && noticen)
        notice[0] = 0;
    model_config c;
    if (model_config_resolve(spec, &c, err, errn) != 0)
        return NULL;
    c.mlm = (flags & CKPT_WANT_MLM) != 0;
    if (c.mlm && K == 0) {      /* *ForMaskedLM: no classifier */
        c.K = 0;
        memset(c.labels, 0, sizeof c.labels);
    }
    if (K > 0 && model_config_set_labels(&c, K, labels) != 0)
        return errbuf_fail(err, errn, "%d labels: at most %d, names shorter than %d bytes", K, LABELS_MAX,
                    LABEL_BYTES), NULL;
    char e[256];
    if (model_config_check(&c, e, sizeof e) != 0)
        return errbuf_fail(err, errn, "%s: %s", spec, e), NULL;
    struct stat st;
    int is_dir = stat(spec, &st) == 0 && S_ISDIR(st.st_mode);
    model *m = model_new(&c);
    if (!m)
        return errbuf_fail(err, errn, "%s: the engine refused the configuration", spec), NULL;
    if (!is_dir) {
        model_init_weights(m, seed);
        return m;
    }
    model_params p = *model_weights(m);
    if (ckpt_load_params(spec, &c, &p, flags | CKPT_INIT_MISSING_HEAD, seed, notice, noticen, err, errn) != 0) {
        model_free(m);
        return NULL;
    }
    return m;
}

int ckpt_model_save(const model *m, const char *dir, const char *vocab_path, char *err, size_t errn)
{
    return ckpt_save(dir, model_get_config(m), model_weights(m), vocab_path, err, errn);
}

int ckpt_model_write_dir(const model *m, const char *dir, const char *vocab_path, char *err, size_t errn)
{
    return ckpt_write_dir(dir, model_get_config(m), model_weights(m), vocab_path, err, errn);
}

char *ckpt_vocab_path(const char *dir)
{
    char *p = path_join(dir, "vocab.txt");
    if (access(p, R_OK) == 0)
        return p;
    free(p);
    return NULL;
}
