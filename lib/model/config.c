/* Hugging Face config.json <-> model_config, presets and the spec resolver. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "model/config.h"
#include "util/util.h"

const char *model_arch_name(model_arch a)
{
    return a == ARCH_BERT ? "bert" : a == ARCH_DISTILBERT ? "distilbert" : "albert";
}

const char *model_arch_class(model_arch a)
{
    return a == ARCH_BERT ? "BertForSequenceClassification"
         : a == ARCH_DISTILBERT ? "DistilBertForSequenceClassification" : "AlbertForSequenceClassification";
}

const char *model_config_class(const model_config *c)
{
    if (!c->mlm)
        return model_arch_class(c->arch);
    return c->arch == ARCH_BERT ? "BertForMaskedLM" : c->arch == ARCH_DISTILBERT ? "DistilBertForMaskedLM"
                                                                         : "AlbertForMaskedLM";
}

int model_config_class_has_mlm(const char *arch_class)
{
    size_t n = strlen(arch_class);
    return (n >= 11 && !strcmp(arch_class + n - 11, "ForMaskedLM")) ||
           (n >= 14 && !strcmp(arch_class + n - 14, "ForPreTraining"));
}

const char *model_act_name(model_act a)
{
    return a == ACT_GELU_ERF ? "gelu" : a == ACT_GELU_TANH ? "gelu_new" : "relu";
}

int model_config_set_labels(model_config *c, int K, const char *const *names)
{
    if (K < 1 || K > LABELS_MAX)
        return -1;
    for (int k = 0; k < K; k++) {
        if (names && names[k]) {
            if (strlen(names[k]) >= LABEL_BYTES)
                return -1;
            snprintf(c->labels[k], LABEL_BYTES, "%s", names[k]);
        } else {
            snprintf(c->labels[k], LABEL_BYTES, "LABEL_%d", k);
        }
    }
    for (int k = K; k < LABELS_MAX; k++)
        c->labels[k][0] = 0;
    c->K = K;
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

/* Optional integer field: absent or null keeps *out (the class default). */
static int get_int(json_t *o, const char *key, int *out, int min, const char *name, char *err, size_t n)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return errbuf_fail(err, n, "%s: %s: expected an integer", name, key);
    json_int_t x = json_integer_value(v);
    if (x < min || x > 1 << 30)
        return errbuf_fail(err, n, "%s: %s: %lld is out of range", name, key, (long long)x);
    *out = (int)x;
    return 0;
}

static int get_float(json_t *o, const char *key, float *out, const char *name, char *err, size_t n)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return errbuf_fail(err, n, "%s: %s: expected a number", name, key);
    double x = json_number_value(v);
    if (!(x >= 0 && x < 1e6))
        return errbuf_fail(err, n, "%s: %s: %g is out of range", name, key, x);
    *out = (float)x;
    return 0;
}

static int get_bool(json_t *o, const char *key, int *out, const char *name, char *err, size_t n)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return errbuf_fail(err, n, "%s: %s: expected true or false", name, key);
    *out = json_is_true(v);
    return 0;
}

static int get_act(json_t *o, const char *key, model_act *out, const char *name, char *err, size_t n)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return errbuf_fail(err, n, "%s: %s: expected a string", name, key);
    const char *s = json_string_value(v);
    if (!strcmp(s, "gelu"))
        *out = ACT_GELU_ERF;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh"))
        *out = ACT_GELU_TANH;
    else if (!strcmp(s, "relu"))
        *out = ACT_RELU;
    else
        return errbuf_fail(err, n, "%s: %s: activation '%s' is not supported (gelu, gelu_new, relu)", name, key, s);
    return 0;
}

static int get_labels(json_t *o, model_config *c, const char *name, char *err, size_t n)
{
    json_t *id2 = json_object_get(o, "id2label"), *l2i = json_object_get(o, "label2id");
    if (!id2 || json_is_null(id2)) {
        int K = 2;
        if (get_int(o, "num_labels", &K, 1, name, err, n) || get_int(o, "_num_labels", &K, 1, name, err, n))
            return -1;
        if (model_config_set_labels(c, K, NULL) != 0)
            return errbuf_fail(err, n, "%s: num_labels: %d labels (at most %d)", name, K, LABELS_MAX);
        return 0;
    }
    if (!json_is_object(id2))
        return errbuf_fail(err, n, "%s: id2label: expected an object", name);
    size_t K = json_object_size(id2);
    if (K < 1 || K > LABELS_MAX)
        return errbuf_fail(err, n, "%s: id2label: %zu labels (1 to %d supported)", name, K, LABELS_MAX);
    const char *names[LABELS_MAX] = { 0 };
    const char *key;
    json_t *v;
    json_object_foreach(id2, key, v) {
        char *end;
        errno = 0;
        long id = strtol(key, &end, 10);
        if (errno || end == key || *end || id < 0 || (size_t)id >= K)
            return errbuf_fail(err, n, "%s: id2label: key '%s' is not a class id 0..%zu", name, key, K - 1);
        if (!json_is_string(v))
            return errbuf_fail(err, n, "%s: id2label: label %ld is not a string", name, id);
        if (names[id])
            return errbuf_fail(err, n, "%s: id2label: class id %ld given twice", name, id);
        if (strlen(json_string_value(v)) >= LABEL_BYTES || !*json_string_value(v))
            return errbuf_fail(err, n, "%s: id2label: label %ld must be 1 to %d bytes", name, id, LABEL_BYTES - 1);
        names[id] = json_string_value(v);
    }
    model_config_set_labels(c, (int)K, names);
    if (l2i && !json_is_null(l2i)) {
        if (!json_is_object(l2i) || json_object_size(l2i) != K)
            return errbuf_fail(err, n, "%s: label2id does not match id2label", name);
        for (size_t k = 0; k < K; k++) {
            json_t *id = json_object_get(l2i, names[k]);
            if (!json_is_integer(id) || json_integer_value(id) != (json_int_t)k)
                return errbuf_fail(err, n, "%s: label2id[\"%s\"] does not match id2label", name, names[k]);
        }
    }
    return 0;
}

/* Class defaults of transformers' BertConfig, DistilBertConfig and AlbertConfig. */
static void class_defaults(model_config *c, model_arch a)
{
    memset(c, 0, sizeof *c);
    c->arch = a;
    c->V = a == ARCH_ALBERT ? 30000 : 30522;
    c->P = 512;
    c->TV = a == ARCH_DISTILBERT ? 0 : 2;
    c->H = a == ARCH_ALBERT ? 4096 : 768;
    c->E = a == ARCH_ALBERT ? 128 : c->H;
    c->L = a == ARCH_DISTILBERT ? 6 : 12;
    c->NH = a == ARCH_ALBERT ? 64 : 12;
    c->I = a == ARCH_ALBERT ? 16384 : 3072;
    c->act = a == ARCH_ALBERT ? ACT_GELU_TANH : ACT_GELU_ERF;
    c->ln_eps = 1e-12f;
    c->hidden_dropout = a == ARCH_ALBERT ? 0.0f : 0.1f;
    c->attn_dropout = a == ARCH_ALBERT ? 0.0f : 0.1f;
    c->classifier_dropout = a == ARCH_DISTILBERT ? 0.2f : 0.1f;
    c->pad_token_id = 0;
    model_config_set_labels(c, 2, NULL);
}

/* The "float" list of "quantization": names of the parts kept float (config.h).  A file
 * written before the embeddings could be int8 lists "embeddings" (its tables are F32). */
static const struct { const char *name; unsigned bit; } keep_names[] = {
    { "embeddings", MODEL_Q8_KEEP_EMB }, { "embedding_projection", MODEL_Q8_KEEP_PROJ },
    { "pooler", MODEL_Q8_KEEP_POOL }, { "classifier", MODEL_Q8_KEEP_CLS },
};

/* "quantization": {"method": "emo-dynamic-int8", "scheme": "w7" | "a7", "float": [...]} */
static int get_quant(json_t *o, model_config *c, const char *name, char *err, size_t n)
{
    json_t *q = json_object_get(o, "quantization");
    if (!q || json_is_null(q))
        return 0;
    const char *method = json_string_value(json_object_get(q, "method"));
    if (!json_is_object(q) || !method)
        return errbuf_fail(err, n, "%s: quantization: an object with a \"method\" expected", name);
    if (strcmp(method, "emo-dynamic-int8"))
        return errbuf_fail(err, n, "%s: quantization: method '%s' is not supported (emo-dynamic-int8)", name, method);
    const char *scheme = json_string_value(json_object_get(q, "scheme"));
    if (!scheme || (strcmp(scheme, "w7") && strcmp(scheme, "a7")))
        return errbuf_fail(err, n, "%s: quantization: scheme '%s' is not supported (w7, a7)", name,
                           scheme ? scheme : "(none)");
    c->quant = 1;
    c->quant_scheme = strcmp(scheme, "w7") ? 1 : 0;   /* enum qgemm_scheme */
    c->quant_keep = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(q, "float"), i, v)
        for (size_t k = 0; k < sizeof keep_names / sizeof *keep_names; k++)
            if (json_is_string(v) && !strcmp(json_string_value(v), keep_names[k].name))
                c->quant_keep |= keep_names[k].bit;
    return 0;
}

static int parse_obj(model_config *c, json_t *o, const char *name, char *err, size_t n)
{
    json_t *mt = json_object_get(o, "model_type");
    const char *type = json_is_string(mt) ? json_string_value(mt) : NULL;
    if (!type) {
        /* old configs lack model_type: take the family from architectures[0] */
        json_t *ar = json_array_get(json_object_get(o, "architectures"), 0);
        const char *a = json_is_string(ar) ? json_string_value(ar) : "";
        type = !strncmp(a, "DistilBert", 10) ? "distilbert" : !strncmp(a, "Albert", 6) ? "albert"
             : !strncmp(a, "Bert", 4) ? "bert" : NULL;
        if (!type)
            return errbuf_fail(err, n, "%s: model_type: missing (and no recognisable architectures)", name);
    }
    model_arch a;
    if (!strcmp(type, "bert"))
        a = ARCH_BERT;
    else if (!strcmp(type, "distilbert"))
        a = ARCH_DISTILBERT;
    else if (!strcmp(type, "albert"))
        a = ARCH_ALBERT;
    else
        return errbuf_fail(err, n, "%s: model_type: '%s' is not supported (bert, distilbert, albert)", name, type);
    class_defaults(c, a);
    json_t *ar0 = json_array_get(json_object_get(o, "architectures"), 0);
    if (json_is_string(ar0))
        snprintf(c->arch_class, sizeof c->arch_class, "%s", json_string_value(ar0));

    json_t *pe = json_object_get(o, "position_embedding_type");
    if (pe && !json_is_null(pe) && !(json_is_string(pe) && !strcmp(json_string_value(pe), "absolute")))
        return errbuf_fail(err, n, "%s: position_embedding_type: only \"absolute\" is supported", name);
    int rc = 0;
    rc |= get_int(o, "vocab_size", &c->V, 1, name, err, n);
    rc = rc ? rc : get_int(o, "max_position_embeddings", &c->P, 1, name, err, n);
    rc = rc ? rc : get_int(o, "pad_token_id", &c->pad_token_id, 0, name, err, n);
    if (a == ARCH_DISTILBERT) {
        int sinus = 0;
        rc = rc ? rc : get_int(o, "dim", &c->H, 1, name, err, n);
        rc = rc ? rc : get_int(o, "n_layers", &c->L, 1, name, err, n);
        rc = rc ? rc : get_int(o, "n_heads", &c->NH, 1, name, err, n);
        rc = rc ? rc : get_int(o, "hidden_dim", &c->I, 1, name, err, n);
        rc = rc ? rc : get_act(o, "activation", &c->act, name, err, n);
        rc = rc ? rc : get_float(o, "dropout", &c->hidden_dropout, name, err, n);
        rc = rc ? rc : get_float(o, "attention_dropout", &c->attn_dropout, name, err, n);
        rc = rc ? rc : get_float(o, "seq_classif_dropout", &c->classifier_dropout, name, err, n);
        rc = rc ? rc : get_bool(o, "sinusoidal_pos_embds", &sinus, name, err, n);
        if (!rc && sinus)
            return errbuf_fail(err, n, "%s: sinusoidal_pos_embds: true is not supported (learned position embeddings only)", name);
        c->E = c->H;
        c->TV = 0;
        c->ln_eps = 1e-12f;          /* fixed in DistilBERT's modules */
    } else {
        rc = rc ? rc : get_int(o, "hidden_size", &c->H, 1, name, err, n);
        rc = rc ? rc : get_int(o, "num_hidden_layers", &c->L, 1, name, err, n);
        rc = rc ? rc : get_int(o, "num_attention_heads", &c->NH, 1, name, err, n);
        rc = rc ? rc : get_int(o, "intermediate_size", &c->I, 1, name, err, n);
        rc = rc ? rc : get_int(o, "type_vocab_size", &c->TV, 1, name, err, n);
        rc = rc ? rc : get_act(o, "hidden_act", &c->act, name, err, n);
        rc = rc ? rc : get_float(o, "layer_norm_eps", &c->ln_eps, name, err, n);
        rc = rc ? rc : get_float(o, "hidden_dropout_prob", &c->hidden_dropout, name, err, n);
        rc = rc ? rc : get_float(o, "attention_probs_dropout_prob", &c->attn_dropout, name, err, n);
        if (a == ARCH_BERT) {
            c->E = c->H;
            c->classifier_dropout = c->hidden_dropout;    /* classifier_dropout null -> hidden's */
            rc = rc ? rc : get_float(o, "classifier_dropout", &c->classifier_dropout, name, err, n);
        } else {
            int groups = 1, inner = 1;
            rc = rc ? rc : get_int(o, "embedding_size", &c->E, 1, name, err, n);
            rc = rc ? rc : get_float(o, "classifier_dropout_prob", &c->classifier_dropout, name, err, n);
            rc = rc ? rc : get_int(o, "num_hidden_groups", &groups, 1, name, err, n);
            rc = rc ? rc : get_int(o, "inner_group_num", &inner, 1, name, err, n);
            if (!rc && groups != 1)
                return errbuf_fail(err, n, "%s: num_hidden_groups: %d (only 1 shared group is supported)", name, groups);
            if (!rc && inner != 1)
                return errbuf_fail(err, n, "%s: inner_group_num: %d (only 1 is supported)", name, inner);
        }
    }
    if (rc)
        return -1;
    if (get_labels(o, c, name, err, n) != 0)
        return -1;
    if (get_quant(o, c, name, err, n) != 0)
        return -1;
    char e[256];
    if (model_config_check(c, e, sizeof e) != 0)
        return errbuf_fail(err, n, "%s: %s", name, e);
    return 0;
}

int model_config_parse(model_config *c, const char *json, size_t len, const char *name, char *err, size_t n)
{
    json_error_t je;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return errbuf_fail(err, n, "%s:line %d: %s", name, je.line, je.text);
    int rc = json_is_object(o) ? parse_obj(c, o, name, err, n) : errbuf_fail(err, n, "%s: not a JSON object", name);
    json_decref(o);
    return rc;
}

int model_config_load(const char *path, model_config *c, char *err, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errbuf_fail(err, n, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? 2 * cap : 16384;
            if (cap > (16u << 20)) {
                free(buf);
                fclose(f);
                return errbuf_fail(err, n, "%s: larger than 16 MB, not a config.json", path);
            }
            buf = xrealloc(buf, cap);
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? errbuf_fail(err, n, "%s: read error", path) : model_config_parse(c, buf, len, path, err, n);
    free(buf);
    return rc;
}

int model_config_check(const model_config *c, char *err, size_t n)
{
    if (c->V < 1 || c->P < 1 || c->H < 1 || c->L < 1 || c->NH < 1 || c->I < 1 || c->E < 1 || c->TV < 0)
        return errbuf_fail(err, n, "sizes must be positive (V %d P %d E %d H %d L %d NH %d I %d)",
                    c->V, c->P, c->E, c->H, c->L, c->NH, c->I);
    if (c->H % c->NH)
        return errbuf_fail(err, n, "hidden size %d is not a multiple of the %d attention heads", c->H, c->NH);
    if (c->arch != ARCH_ALBERT && c->E != c->H)
        return errbuf_fail(err, n, "embedding width %d differs from hidden size %d (only ALBERT factorises)", c->E, c->H);
    if (c->arch == ARCH_DISTILBERT ? c->TV != 0 : c->TV < 1)
        return errbuf_fail(err, n, "type_vocab_size %d (DistilBERT has none, BERT/ALBERT need >= 1)", c->TV);
    if (c->K < (c->mlm ? 0 : 1) || c->K > LABELS_MAX)
        return errbuf_fail(err, n, "%d labels (%d to %d supported)", c->K, c->mlm ? 0 : 1, LABELS_MAX);
    if (c->pad_token_id < 0 || c->pad_token_id >= c->V)
        return errbuf_fail(err, n, "pad_token_id %d outside the vocabulary (%d)", c->pad_token_id, c->V);
    for (int k = 0; k < c->K; k++) {
        if (!c->labels[k][0] || memchr(c->labels[k], 0, LABEL_BYTES) == NULL)
            return errbuf_fail(err, n, "label %d is empty or too long", k);
        for (int j = 0; j < k; j++)
            if (!strcmp(c->labels[j], c->labels[k]))
                return errbuf_fail(err, n, "label '%s' given to classes %d and %d", c->labels[k], j, k);
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* Shortest decimal that reads back as the same float (so 1e-12f is written 1e-12). */
static void fmt_float(char *buf, size_t n, float x)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x)
            break;
    }
    if (!strpbrk(buf, ".en"))
        strncat(buf, ".0", n - strlen(buf) - 1);
}

typedef struct { const char *key; char *val; } kv;

static int by_key(const void *a, const void *b)
{
    return strcmp(((const kv *)a)->key, ((const kv *)b)->key);
}

static char *json_str(const char *s)
{
    json_t *j = json_string(s);
    char *r = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    return r;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int len = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = xmalloc((size_t)len + 1);
    va_start(ap, f);
    vsnprintf(s, (size_t)len + 1, f, ap);
    va_end(ap);
    return s;
}

static char *fmt_f(float x)
{
    char b[32];
    fmt_float(b, sizeof b, x);
    return xstrdup(b);
}

int model_config_write_fp(FILE *fp, const model_config *c)
{
    kv f[48];
    int n = 0;
#define ADD(k, v) (f[n].key = (k), f[n].val = (v), n++)
    ADD("architectures", fmt("[\n    \"%s\"\n  ]", model_config_class(c)));
    ADD("model_type", fmt("\"%s\"", model_arch_name(c->arch)));
    ADD("vocab_size", fmt("%d", c->V));
    ADD("max_position_embeddings", fmt("%d", c->P));
    ADD("pad_token_id", fmt("%d", c->pad_token_id));
    ADD("initializer_range", xstrdup("0.02"));
    if (c->K)
        ADD("problem_type", xstrdup("\"single_label_classification\""));
    ADD("torch_dtype", xstrdup("\"float32\""));
    if (c->quant) {   /* emo-checkpoint(5): what emo ckpt quantize did */
        char keep[256] = "";
        for (size_t k = 0; k < sizeof keep_names / sizeof *keep_names; k++)
            if ((c->quant_keep & keep_names[k].bit) && keep_names[k].bit != MODEL_Q8_KEEP_EMB) {
                size_t u = strlen(keep);
                snprintf(keep + u, sizeof keep - u, ",\n      \"%s\"", keep_names[k].name);
            }
        int emb8 = !(c->quant_keep & MODEL_Q8_KEEP_EMB);
        ADD("quantization", fmt("{\n    \"activations\": \"uint8, dynamic, per row (token), asymmetric\",\n%s"
                                "    \"float\": [\n      %s\"LayerNorm\",\n      \"biases\"%s\n"
                                "    ],\n    \"method\": \"emo-dynamic-int8\",\n    \"scale_suffix\": \"_scale\",\n"
                                "    \"scheme\": \"%s\",\n    \"weights\": \"int8, symmetric, per output channel\"\n  }",
                                emb8 ? "    \"embeddings\": \"int8, symmetric, per row (absmax / 127), float once loaded\",\n"
                                     : "",
                                emb8 ? "" : "\"embeddings\",\n      ", keep, c->quant_scheme ? "a7" : "w7"));
    }
    ADD("transformers_version", xstrdup("\"" MODEL_TRANSFORMERS_VERSION "\""));
    if (c->arch == ARCH_DISTILBERT) {
        ADD("dim", fmt("%d", c->H));
        ADD("n_layers", fmt("%d", c->L));
        ADD("n_heads", fmt("%d", c->NH));
        ADD("hidden_dim", fmt("%d", c->I));
        ADD("activation", fmt("\"%s\"", model_act_name(c->act)));
        ADD("dropout", fmt_f(c->hidden_dropout));
        ADD("attention_dropout", fmt_f(c->attn_dropout));
        ADD("seq_classif_dropout", fmt_f(c->classifier_dropout));
        ADD("qa_dropout", fmt_f(c->hidden_dropout));
        ADD("sinusoidal_pos_embds", xstrdup("false"));
        ADD("tie_weights_", xstrdup("true"));
    } else {
        ADD("hidden_size", fmt("%d", c->H));
        ADD("num_hidden_layers", fmt("%d", c->L));
        ADD("num_attention_heads", fmt("%d", c->NH));
        ADD("intermediate_size", fmt("%d", c->I));
        ADD("hidden_act", fmt("\"%s\"", model_act_name(c->act)));
        ADD("layer_norm_eps", fmt_f(c->ln_eps));
        ADD("type_vocab_size", fmt("%d", c->TV));
        ADD("hidden_dropout_prob", fmt_f(c->hidden_dropout));
        ADD("attention_probs_dropout_prob", fmt_f(c->attn_dropout));
        ADD("position_embedding_type", xstrdup("\"absolute\""));
        if (c->arch == ARCH_BERT) {
            ADD("classifier_dropout", fmt_f(c->classifier_dropout));
            ADD("use_cache", xstrdup("true"));
        } else {
            ADD("embedding_size", fmt("%d", c->E));
            ADD("classifier_dropout_prob", fmt_f(c->classifier_dropout));
            ADD("num_hidden_groups", xstrdup("1"));
            ADD("inner_group_num", xstrdup("1"));
            ADD("bos_token_id", xstrdup("2"));
            ADD("eos_token_id", xstrdup("3"));
            ADD("down_scale_factor", xstrdup("1"));
            ADD("gap_size", xstrdup("0"));
            ADD("net_structure_type", xstrdup("0"));
            ADD("num_memory_blocks", xstrdup("0"));
        }
    }
    /* id2label {"0": "sadness", ...} and label2id {"sadness": 0, ...}, keys sorted like
     * json.dumps(sort_keys=True): id2label's string keys sort as strings ("10" < "2"). */
    char *id2 = xstrdup("{"), *l2i = xstrdup("{");
    int order[LABELS_MAX];
    char keys[LABELS_MAX][16];
    for (int k = 0; k < c->K; k++) {
        order[k] = k;
        snprintf(keys[k], sizeof keys[k], "%d", k);
    }
    for (int i = 1; i < c->K; i++)          /* insertion sort on the decimal strings */
        for (int j = i; j > 0 && strcmp(keys[order[j - 1]], keys[order[j]]) > 0; j--) {
            int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
        }
    for (int i = 0; i < c->K; i++) {
        int k = order[i];
        char *s = json_str(c->labels[k]), *t = id2;
        id2 = fmt("%s%s\n    \"%d\": %s", t, i ? "," : "", k, s);
        free(t);
        free(s);
    }
    int lorder[LABELS_MAX];
    for (int k = 0; k < c->K; k++)
        lorder[k] = k;
    for (int i = 1; i < c->K; i++)
        for (int j = i; j > 0 && strcmp(c->labels[lorder[j - 1]], c->labels[lorder[j]]) > 0; j--) {
            int t = lorder[j]; lorder[j] = lorder[j - 1]; lorder[j - 1] = t;
        }
    for (int i = 0; i < c->K; i++) {
        int k = lorder[i];
        char *s = json_str(c->labels[k]), *t = l2i;
        l2i = fmt("%s%s\n    %s: %d", t, i ? "," : "", s, k);
        free(t);
        free(s);
    }
    if (c->K) {     /* a *ForMaskedLM without classifier: no labels (HF then defaults to 2) */
        ADD("id2label", fmt("%s\n  }", id2));
        ADD("label2id", fmt("%s\n  }", l2i));
    }
    free(id2);
    free(l2i);
#undef ADD
    qsort(f, (size_t)n, sizeof *f, by_key);
    fputs("{\n", fp);
    for (int i = 0; i < n; i++) {
        fprintf(fp, "  \"%s\": %s%s\n", f[i].key, f[i].val, i + 1 < n ? "," : "");
        free(f[i].val);
    }
    fputs("}\n", fp);
    return ferror(fp) ? -1 : 0;
}

int model_config_save(const char *path, const model_config *c, char *err, size_t n)
{
    char e[256];
    if (model_config_check(c, e, sizeof e) != 0)
        return errbuf_fail(err, n, "%s: %s", path, e);
    char *d = xstrdup(path);
    int ok = access(dirname(d), W_OK) == 0;
    free(d);
    if (!ok)
        return errbuf_fail(err, n, "%s: cannot write in its directory: %s", path, strerror(errno));
    atomic_file af;
    FILE *fp = atomic_open(&af, path);
    int rc = 0;
    if (model_config_write_fp(fp, c) != 0) {
        atomic_abort(&af);
        rc = errbuf_fail(err, n, "%s: write error", path);
    } else if (atomic_commit(&af) != 0) {
        rc = errbuf_fail(err, n, "%s: %s", path, strerror(errno));
    }
    free(af.path);
    free(af.tmp);
    return rc;
}

/* ---- presets ------------------------------------------------------------ */

static const struct preset {
    const char *name;
    model_arch arch;
    int E, H, L, NH, I;
} presets[] = {
    { "bert-base",        ARCH_BERT,       768, 768, 12, 12, 3072 },
    { "distilbert-base",  ARCH_DISTILBERT, 768, 768,  6, 12, 3072 },
    { "albert-base-v2",   ARCH_ALBERT,     128, 768, 12, 12, 3072 },
    { "bert-mini",        ARCH_BERT,       256, 256,  4,  4, 1024 },
    { "bert-tiny",        ARCH_BERT,       128, 128,  2,  2,  512 },
    { "distilbert-mini",  ARCH_DISTILBERT, 256, 256,  2,  4, 1024 },
    { "distilbert-tiny",  ARCH_DISTILBERT, 128, 128,  1,  2,  512 },
    { "albert-mini",      ARCH_ALBERT,     128, 256,  4,  4, 1024 },
    { "albert-tiny",      ARCH_ALBERT,     128, 128,  2,  2,  512 },
};
#define NPRESETS (sizeof presets / sizeof *presets)

const char *const *model_config_preset_names(void)
{
    static const char *names[NPRESETS + 1];
    for (size_t i = 0; i < NPRESETS; i++)
        names[i] = presets[i].name;
    names[NPRESETS] = NULL;
    return names;
}

int model_config_preset(const char *name, model_config *c)
{
    for (size_t i = 0; i < NPRESETS; i++) {
        const struct preset *p = &presets[i];
        if (strcmp(name, p->name))
            continue;
        class_defaults(c, p->arch);     /* dropouts, eps, activation, TV as the real models */
        c->V = 30522;
        c->P = 512;
        c->E = p->E;
        c->H = p->H;
        c->L = p->L;
        c->NH = p->NH;
        c->I = p->I;
        return 0;
    }
    return -1;
}

int model_config_resolve(const char *spec, model_config *out, char *err, size_t n)
{
    if (model_config_preset(spec, out) == 0)
        return 0;
    struct stat st;
    if (stat(spec, &st) != 0) {
        char list[512] = "";
        for (size_t i = 0; i < NPRESETS; i++) {
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, presets[i].name, sizeof list - strlen(list) - 1);
        }
        return errbuf_fail(err, n, "%s: not a preset (%s), config.json or checkpoint directory", spec, list);
    }
    if (S_ISDIR(st.st_mode)) {
        char *p = path_join(spec, "config.json");
        int rc = model_config_load(p, out, err, n);
        free(p);
        return rc;
    }
    return model_config_load(spec, out, err, n);
}

size_t model_config_count_params(const model_config *c, int which)
{
    size_t s[MODEL_NUM_PARAM_TENSORS];
    size_t total = model_param_sizes(c, s);
    if (which == MODEL_COUNT_ALL)
        return total;
    /* field order of model_params: ..., pool_w 19, pool_b 20, cls_w 21, cls_b 22, then the
     * masked-LM head 23..27 */
    total -= s[21] + s[22] + s[23] + s[24] + s[25] + s[26] + s[27];
    if (c->arch == ARCH_DISTILBERT)
        total -= s[19] + s[20];       /* pre_classifier belongs to the head */
    return total;
}
