/* Checkpoints and configs against the PyTorch fixtures of tests/gen/torch_ref.py:
 * HF name mapping (probe values written by torch), every tensor equal to the file, save
 * byte-identical to torch's own safetensors, reload bit-identical, config round trip,
 * Hub-like checkpoints without a head, F16/BF16 conversion, presets and parameter counts. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "io/safetensors.h"
#include "model/ckpt.h"
#include "model/config.h"
#include "util/util.h"

#define FIX "tests/fixtures/models/"

static char tmpdir[] = "/tmp/test_ckpt.XXXXXX";

static const ckpt_entry *find_entry(const ckpt_entry *es, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(es[i].name, name))
            return &es[i];
    return NULL;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = xmalloc(*len + 1);
    if (fread(b, 1, *len, f) != *len)
        *len = 0;
    fclose(f);
    return b;
}

static int config_equal(const model_config *a, const model_config *b)
{
    int same = a->arch == b->arch && a->V == b->V && a->P == b->P && a->TV == b->TV && a->E == b->E &&
               a->H == b->H && a->L == b->L && a->NH == b->NH && a->I == b->I && a->act == b->act &&
               a->ln_eps == b->ln_eps && a->hidden_dropout == b->hidden_dropout &&
               a->attn_dropout == b->attn_dropout && a->classifier_dropout == b->classifier_dropout &&
               a->pad_token_id == b->pad_token_id && a->K == b->K;
    for (int k = 0; same && k < a->K; k++)
        same = !strcmp(a->labels[k], b->labels[k]);
    return same;
}

/* Load a family's fixture and check it against torch's values. */
static void test_family(const char *family, model_arch arch, int L, int E)
{
    char dir[256], err[512], notice[1024];
    snprintf(dir, sizeof dir, FIX "%s", family);
    model_config c;
    model_params p;
    float *block = NULL;
    int rc = ckpt_load(dir, &c, &block, &p, 1, notice, sizeof notice, err, sizeof err);
    CHECK(rc == 0, "%s: load: %s", family, err);
    if (rc)
        return;
    CHECK(notice[0] == 0, "%s: unexpected notice: %s", family, notice);
    CHECK(c.arch == arch && c.L == L && c.H == 32 && c.NH == 4 && c.I == 64 && c.E == E && c.V == 110 &&
          c.P == 16 && c.K == 6, "%s: config sizes", family);
    CHECK(c.TV == (arch == ARCH_DISTILBERT ? 0 : 2), "%s: TV %d", family, c.TV);
    CHECK(!strcmp(c.labels[0], "sadness") && !strcmp(c.labels[5], "surprise"), "%s: labels", family);
    CHECK(c.act == (arch == ARCH_ALBERT ? ACT_GELU_TANH : ACT_GELU_ERF), "%s: activation", family);
    CHECK(c.ln_eps == 1e-12f, "%s: eps %g", family, (double)c.ln_eps);

    size_t n = ckpt_num_entries(&c);
    ckpt_entry *es = xmalloc(n * sizeof *es);
    CHECK(ckpt_entries(&c, es) == n, "%s: entry count", family);

    /* probes: first values of a few tensors, written by torch from its state_dict */
    char bp[300];
    snprintf(bp, sizeof bp, "%s/batch.json", dir);
    json_error_t je;
    json_t *batch = json_load_file(bp, 0, &je);
    CHECK(batch != NULL, "%s: %s", bp, je.text);
    const char *pname;
    json_t *vals;
    int nprobes = 0;
    json_object_foreach(json_object_get(batch, "probes"), pname, vals) {
        const ckpt_entry *e = find_entry(es, n, pname);
        CHECK(e != NULL, "%s: no entry named %s", family, pname);
        if (!e)
            continue;
        const float *v = ckpt_field(&p, e->field) + e->offset;
        for (size_t i = 0; i < json_array_size(vals); i++)
            CHECK(v[i] == (float)json_real_value(json_array_get(vals, i)), "%s: probe %s[%zu] %.9g vs %.9g",
                  family, pname, i, (double)v[i], json_real_value(json_array_get(vals, i)));
        nprobes++;
    }
    CHECK(nprobes >= 4, "%s: only %d probes", family, nprobes);
    json_decref(batch);

    /* every tensor of the file equals its slice; the file has exactly the entries' names */
    st_file f;
    char mp[300];
    snprintf(mp, sizeof mp, "%s/model.safetensors", dir);
    rc = st_open(&f, mp, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    CHECK(f.n == n, "%s: file has %zu tensors, mapping %zu", family, f.n, n);
    size_t total = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const st_tensor *t = st_find(&f, es[i].name);
        CHECK(t != NULL, "%s: %s not in the file", family, es[i].name);
        if (!t)
            continue;
        float *tmp = xmalloc(t->numel * sizeof *tmp + 1);
        st_to_f32(&f, t, tmp, err, sizeof err);
        CHECK(!memcmp(tmp, ckpt_field(&p, es[i].field) + es[i].offset, t->numel * sizeof *tmp),
              "%s: %s differs", family, es[i].name);
        free(tmp);
        total += es[i].numel;
    }
    size_t sizes[MODEL_NUM_PARAM_TENSORS];
    CHECK(total == model_param_sizes(&c, sizes), "%s: entries cover %zu of %zu floats", family, total,
          model_param_sizes(&c, sizes));
    st_close(&f);

    /* expected.safetensors carries grad.<name> for exactly these names */
    snprintf(mp, sizeof mp, "%s/expected.safetensors", dir);
    rc = st_open(&f, mp, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (!rc) {
        float *g = xaligned_alloc(total * sizeof(float));
        model_params gp;
        model_params_point(&gp, &c, g);
        rc = ckpt_read_st(&f, "grad.", &c, &gp, 0, 0, notice, sizeof notice, err, sizeof err);
        CHECK(rc == 0, "%s: grads: %s", family, err);
        CHECK(notice[0] == 0, "%s: grads notice: %s", family, notice);
        const st_tensor *t = st_find(&f, "logits");
        CHECK(t && t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 6, "%s: logits shape", family);
        t = st_find(&f, "input_ids");
        CHECK(t && t->dtype == ST_I64 && t->numel == 21, "%s: input_ids I64 (3, 7)", family);
        if (t) {
            int64_t ids[21];
            CHECK(st_to_i64(&f, t, ids, err, sizeof err) == 0 && ids[0] == 101 && ids[6] == 102 &&
                  ids[5 + 7] == 0 && ids[14] == 101, "%s: input_ids values", family);
        }
        st_close(&f);
        free(g);
    }

    /* save: byte-identical to torch's file, and reloads bit-identically */
    char out[200];
    snprintf(out, sizeof out, "%s/%s", tmpdir, family);
    char *vocab = ckpt_vocab_path(dir);
    CHECK(vocab != NULL, "%s: vocab.txt", family);
    rc = ckpt_save(out, &c, &p, vocab, err, sizeof err);
    CHECK(rc == 0, "%s: save: %s", family, err);
    free(vocab);
    size_t la, lb;
    snprintf(mp, sizeof mp, "%s/model.safetensors", dir);
    unsigned char *a = slurp(mp, &la);
    snprintf(mp, sizeof mp, "%s/model.safetensors", out);
    unsigned char *b = slurp(mp, &lb);
    CHECK(a && b && la == lb && !memcmp(a, b, la), "%s: saved model.safetensors differs from torch's (%zu vs %zu bytes)",
          family, la, lb);
    free(a);
    free(b);
    model_config c2;
    model_params p2;
    float *block2 = NULL;
    rc = ckpt_load(out, &c2, &block2, &p2, 1, notice, sizeof notice, err, sizeof err);
    CHECK(rc == 0, "%s: reload: %s", family, err);
    if (!rc) {
        CHECK(config_equal(&c, &c2), "%s: config round trip", family);
        CHECK(!memcmp(block, block2, total * sizeof(float)), "%s: reload not bit-identical", family);
    }
    free(block2);
    snprintf(mp, sizeof mp, "%s/vocab.txt", out);
    CHECK(access(mp, R_OK) == 0, "%s: vocab.txt copied", family);
    snprintf(mp, sizeof mp, "%s/tokenizer_config.json", out);
    CHECK(access(mp, R_OK) == 0, "%s: tokenizer_config.json", family);

    /* the classifier of a config with other labels does not fit: error names it */
    model_config c3 = c;
    model_config_set_labels(&c3, 3, NULL);
    float *block3 = xaligned_alloc(model_param_sizes(&c3, sizes) * sizeof(float));
    model_params p3;
    model_params_point(&p3, &c3, block3);
    rc = ckpt_load_params(dir, &c3, &p3, CKPT_INIT_MISSING_HEAD, 1, notice, sizeof notice, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "classifier.weight") && strstr(err, "[6, 32]") && strstr(err, "[3, 32]"),
          "%s: K mismatch error: %s", family, err);
    rc = ckpt_load_params(dir, &c3, &p3, CKPT_NEW_HEAD, 1, notice, sizeof notice, err, sizeof err);
    CHECK(rc == 0 && strstr(notice, "classifier.weight") && strstr(notice, "classifier.bias"),
          "%s: new head: %s / %s", family, err, notice);
    free(block3);

    free(es);
    free(block);
}

/* Hub-like base checkpoints: no head, MLM heads and buffers to ignore, old names. */
static void test_nohead(const char *family, model_arch arch)
{
    char dir[256], err[512], notice[1024];
    snprintf(dir, sizeof dir, FIX "%s-nohead", family);
    model_config c;
    model_params p;
    float *block = NULL;
    int rc = ckpt_load(dir, &c, &block, &p, 7, notice, sizeof notice, err, sizeof err);
    CHECK(rc == 0, "%s-nohead: %s", family, err);
    if (rc)
        return;
    CHECK(c.arch == arch && c.K == 2 && !strcmp(c.labels[1], "LABEL_1"), "%s-nohead: default 2 labels", family);
    CHECK(strstr(notice, "classifier.weight") && strstr(notice, "classifier.bias") && !strstr(notice, "ignored"),
          "%s-nohead: notice '%s'", family, notice);
    CHECK((arch == ARCH_DISTILBERT) == (strstr(notice, "pre_classifier.weight") != NULL),
          "%s-nohead: pre_classifier in notice '%s'", family, notice);
    double s2 = 0;
    size_t nw = (size_t)c.K * (size_t)c.H;
    for (size_t i = 0; i < nw; i++)
        s2 += (double)p.cls_w[i] * p.cls_w[i];
    double sd = sqrt(s2 / (double)nw);
    CHECK(sd > 0.01 && sd < 0.03, "%s-nohead: classifier std %g, want ~0.02", family, sd);
    CHECK(p.cls_b[0] == 0 && p.cls_b[1] == 0, "%s-nohead: classifier bias zero", family);

    /* the loaded body equals the file, including the gamma/beta-named LayerNorms */
    st_file f;
    char mp[300];
    snprintf(mp, sizeof mp, "%s/model.safetensors", dir);
    CHECK(st_open(&f, mp, err, sizeof err) == 0, "%s", err);
    const char *ln = arch == ARCH_BERT ? "bert.embeddings.LayerNorm.gamma"
                   : arch == ARCH_ALBERT ? "albert.embeddings.LayerNorm.weight" : "distilbert.embeddings.LayerNorm.weight";
    const st_tensor *t = st_find(&f, ln);
    CHECK(t != NULL, "%s: %s in fixture", family, ln);
    if (t) {
        float v[64];
        st_to_f32(&f, t, v, err, sizeof err);
        CHECK(!memcmp(v, p.emb_ln_w, (size_t)c.E * sizeof(float)), "%s-nohead: embeddings LayerNorm", family);
    }
    if (arch != ARCH_DISTILBERT) {
        t = st_find(&f, arch == ARCH_BERT ? "bert.pooler.dense.bias" : "albert.pooler.bias");
        float v[64];
        CHECK(t && st_to_f32(&f, t, v, err, sizeof err) == 0 && !memcmp(v, p.pool_b, 32 * sizeof(float)),
              "%s-nohead: pooler loaded", family);
    }
    /* deterministic: the same seed gives the same head, another seed another */
    float *block2 = NULL;
    model_params p2;
    model_config c2;
    ckpt_load(dir, &c2, &block2, &p2, 7, notice, sizeof notice, err, sizeof err);
    CHECK(block2 && !memcmp(p.cls_w, p2.cls_w, nw * sizeof(float)), "%s-nohead: seeded init", family);
    free(block2);
    ckpt_load(dir, &c2, &block2, &p2, 8, notice, sizeof notice, err, sizeof err);
    CHECK(block2 && memcmp(p.cls_w, p2.cls_w, nw * sizeof(float)), "%s-nohead: seed changes init", family);
    free(block2);

    /* without CKPT_INIT_MISSING_HEAD a missing head is an error naming the tensor */
    rc = ckpt_read_st(&f, "", &c, &p, 0, 0, notice, sizeof notice, err, sizeof err);
    CHECK(rc != 0 && strstr(err, arch == ARCH_DISTILBERT ? "pre_classifier.weight is missing" : "classifier.weight is missing"),
          "%s-nohead: strict load: %s", family, err);
    st_close(&f);
    free(block);
}

/* F16 and BF16 copies load to exactly torch's float32 conversion. */
static void test_lowp(const char *tag)
{
    char dir[256], err[512], notice[256], path[300];
    snprintf(dir, sizeof dir, FIX "bert-%s", tag);
    model_config c;
    model_params p;
    float *block = NULL;
    int rc = ckpt_load(dir, &c, &block, &p, 1, notice, sizeof notice, err, sizeof err);
    CHECK(rc == 0, "bert-%s: %s", tag, err);
    if (rc)
        return;
    st_file f;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(st_open(&f, path, err, sizeof err) == 0 && f.n > 0 &&
          f.t[0].dtype == (!strcmp(tag, "f16") ? ST_F16 : ST_BF16), "bert-%s: dtype", tag);
    st_close(&f);
    snprintf(path, sizeof path, "%s/converted.safetensors", dir);
    CHECK(st_open(&f, path, err, sizeof err) == 0, "%s", err);
    size_t sizes[MODEL_NUM_PARAM_TENSORS], total = model_param_sizes(&c, sizes);
    float *want = xaligned_alloc(total * sizeof(float));
    model_params wp;
    model_params_point(&wp, &c, want);
    rc = ckpt_read_st(&f, "", &c, &wp, 0, 0, notice, sizeof notice, err, sizeof err);
    CHECK(rc == 0, "bert-%s converted: %s", tag, err);
    CHECK(!memcmp(want, block, total * sizeof(float)), "bert-%s: conversion differs from torch", tag);
    st_close(&f);
    free(want);
    free(block);
}

static void test_config_errors(void)
{
    char err[512];
    model_config c;
    struct { const char *json, *want; } cases[] = {
        { "{\"model_type\": \"distilbert\", \"sinusoidal_pos_embds\": true}", "sinusoidal_pos_embds" },
        { "{\"model_type\": \"albert\", \"num_hidden_groups\": 2}", "num_hidden_groups" },
        { "{\"model_type\": \"albert\", \"inner_group_num\": 2}", "inner_group_num" },
        { "{\"model_type\": \"roberta\"}", "model_type" },
        { "{\"model_type\": \"bert\", \"hidden_act\": \"swish\"}", "hidden_act" },
        { "{\"model_type\": \"bert\", \"hidden_size\": \"768\"}", "hidden_size" },
        { "{\"model_type\": \"bert\", \"num_attention_heads\": 7}", "multiple" },
        { "{\"model_type\": \"bert\", \"position_embedding_type\": \"relative_key\"}", "position_embedding_type" },
        { "{\"model_type\": \"bert\", \"id2label\": {\"0\": \"a\", \"2\": \"b\"}}", "id2label" },
        { "{\"model_type\": \"bert\", \"id2label\": {\"0\": \"a\", \"1\": \"a\"}}", "label 'a'" },
        { "{\"model_type\": \"bert\", \"id2label\": {\"0\": \"a\", \"1\": \"b\"}, \"label2id\": {\"a\": 1, \"b\": 0}}", "label2id" },
        { "{\"model_type\": \"bert\", \"vocab_size\": 10, \"vocab_size\": 20}", "duplicate" },
        { "{\"model_type\": \"bert\",", "line" },
        { "[1, 2]", "not a JSON object" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = model_config_parse(&c, cases[i].json, strlen(cases[i].json), "cfg", err, sizeof err);
        CHECK(rc != 0 && strstr(err, cases[i].want), "case %zu: want '%s' in '%s'", i, cases[i].want,
              rc ? err : "(accepted)");
        CHECK(rc != 0 && !strncmp(err, "cfg", 3), "case %zu: message names the file: %s", i, err);
    }
    /* class defaults: AlbertConfig() is xxlarge; bert-base-uncased's Hub config parses */
    CHECK(model_config_parse(&c, "{\"model_type\":\"albert\"}", 23, "a", err, sizeof err) == 0 &&
          c.H == 4096 && c.NH == 64 && c.E == 128 && c.V == 30000 && c.act == ACT_GELU_TANH, "albert defaults");
    const char *shared = getenv("SHARED");
    char path[512];
    snprintf(path, sizeof path, "%s/data/bert-base-uncased/config.json", shared ? shared : "../shared");
    if (access(path, R_OK) == 0) {
        CHECK(model_config_load(path, &c, err, sizeof err) == 0, "%s", err);
        model_config b;
        model_config_preset("bert-base", &b);
        CHECK(config_equal(&c, &b), "bert-base-uncased config.json == preset bert-base");
    }
}

static void test_presets(void)
{
    char err[512];
    model_config c;
    /* parameter counts of transformers' base models (tests/gen/torch_ref.py --counts) */
    CHECK(model_config_preset("bert-base", &c) == 0, "bert-base");
    CHECK(model_config_count_params(&c, MODEL_COUNT_BASE) == 109482240, "bert-base %zu",
          model_config_count_params(&c, MODEL_COUNT_BASE));
    model_config_set_labels(&c, 6, NULL);
    CHECK(model_config_count_params(&c, MODEL_COUNT_ALL) == 109486854, "bert-base K6 %zu",
          model_config_count_params(&c, MODEL_COUNT_ALL));
    CHECK(model_config_preset("distilbert-base", &c) == 0, "distilbert-base");
    CHECK(model_config_count_params(&c, MODEL_COUNT_BASE) == 66362880, "distilbert-base %zu",
          model_config_count_params(&c, MODEL_COUNT_BASE));
    model_config_set_labels(&c, 6, NULL);
    CHECK(model_config_count_params(&c, MODEL_COUNT_ALL) == 66958086, "distilbert-base K6 %zu",
          model_config_count_params(&c, MODEL_COUNT_ALL));
    CHECK(model_config_preset("albert-base-v2", &c) == 0, "albert-base-v2");
    /* the preset uses the BERT vocabulary (30522); the Hub model's SentencePiece has 30000 */
    CHECK(model_config_count_params(&c, MODEL_COUNT_BASE) == 11683584 + 522 * 128, "albert-base-v2 V30522 %zu",
          model_config_count_params(&c, MODEL_COUNT_BASE));
    c.V = 30000;
    CHECK(model_config_count_params(&c, MODEL_COUNT_BASE) == 11683584, "albert-base-v2 V30000 %zu",
          model_config_count_params(&c, MODEL_COUNT_BASE));
    model_config_set_labels(&c, 6, NULL);
    CHECK(model_config_count_params(&c, MODEL_COUNT_ALL) == 11688198, "albert-base-v2 K6 %zu",
          model_config_count_params(&c, MODEL_COUNT_ALL));

    struct { const char *name; model_arch a; int E, H, L, NH, I; } want[] = {
        { "bert-mini", ARCH_BERT, 256, 256, 4, 4, 1024 },
        { "bert-tiny", ARCH_BERT, 128, 128, 2, 2, 512 },
        { "distilbert-mini", ARCH_DISTILBERT, 256, 256, 2, 4, 1024 },
        { "distilbert-tiny", ARCH_DISTILBERT, 128, 128, 1, 2, 512 },
        { "albert-mini", ARCH_ALBERT, 128, 256, 4, 4, 1024 },
        { "albert-tiny", ARCH_ALBERT, 128, 128, 2, 2, 512 },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        int rc = model_config_resolve(want[i].name, &c, err, sizeof err);
        CHECK(rc == 0 && c.arch == want[i].a && c.E == want[i].E && c.H == want[i].H && c.L == want[i].L &&
              c.NH == want[i].NH && c.I == want[i].I && c.V == 30522 && c.P == 512 && c.K == 2,
              "preset %s", want[i].name);
        CHECK(model_config_check(&c, err, sizeof err) == 0, "preset %s: %s", want[i].name, err);
    }
    int n = 0;
    for (const char *const *p = model_config_preset_names(); *p; p++, n++) {
        model_config a, b;
        char path[300];
        CHECK(model_config_preset(*p, &a) == 0, "%s", *p);
        /* every preset survives config.json and comes back equal */
        snprintf(path, sizeof path, "%s/%s.json", tmpdir, *p);
        CHECK(model_config_save(path, &a, err, sizeof err) == 0, "%s: %s", *p, err);
        CHECK(model_config_resolve(path, &b, err, sizeof err) == 0, "%s: %s", *p, err);
        CHECK(config_equal(&a, &b), "preset %s: JSON round trip", *p);
    }
    CHECK(n == 9, "%d presets", n);
    /* resolver: directory, config.json, unknown */
    CHECK(model_config_resolve(FIX "albert", &c, err, sizeof err) == 0 && c.arch == ARCH_ALBERT && c.E == 16,
          "resolve dir: %s", err);
    CHECK(model_config_resolve(FIX "distilbert/config.json", &c, err, sizeof err) == 0 &&
          c.arch == ARCH_DISTILBERT && c.L == 2, "resolve file: %s", err);
    CHECK(model_config_resolve("bert-huge", &c, err, sizeof err) != 0 && strstr(err, "bert-huge") &&
          strstr(err, "bert-mini"), "resolve unknown: %s", err);
}

/* Labels with characters JSON must escape survive the round trip; label2id is written. */
static void test_label_json(void)
{
    char err[512], path[300];
    model_config a, b;
    model_config_preset("albert-tiny", &a);
    const char *names[12] = { "sad \"quoted\"", "joy\\", "ünïcode", "a", "b", "c", "d", "e", "f", "g", "h", "z" };
    model_config_set_labels(&a, 12, names);
    a.classifier_dropout = 0.3f;
    a.ln_eps = 1e-5f;
    snprintf(path, sizeof path, "%s/labels.json", tmpdir);
    CHECK(model_config_save(path, &a, err, sizeof err) == 0, "%s", err);
    CHECK(model_config_load(path, &b, err, sizeof err) == 0, "%s", err);
    CHECK(config_equal(&a, &b), "labels round trip");
    size_t len;
    char *text = (char *)slurp(path, &len);
    text[len] = 0;
    CHECK(strstr(text, "\"layer_norm_eps\": 1e-05") && strstr(text, "\"classifier_dropout_prob\": 0.3,") &&
          strstr(text, "\"architectures\": [\n    \"AlbertForSequenceClassification\"\n  ]") &&
          strstr(text, "\"torch_dtype\": \"float32\"") && strstr(text, "\"label2id\": {"),
          "config.json text:\n%s", text);
    free(text);
}

/* A checkpoint saved from BertModel (names without "bert.", no head) plus a tensor nobody
 * knows: loads, the body equal, the unknown tensor reported in the notice. */
static void test_prefixless(void)
{
    char err[512], notice[1024], path[300];
    model_config c;
    model_params p;
    float *block = NULL;
    if (ckpt_load(FIX "bert", &c, &block, &p, 1, notice, sizeof notice, err, sizeof err) != 0) {
        CHECK(0, "%s", err);
        return;
    }
    size_t n = ckpt_num_entries(&c);
    ckpt_entry *es = xmalloc(n * sizeof *es);
    ckpt_entries(&c, es);
    st_out *o = xcalloc(n + 1, sizeof *o);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (es[i].field >= 21)                       /* classifier: not in a BertModel */
            continue;
        o[k].name = strncmp(es[i].name, "bert.", 5) ? es[i].name : es[i].name + 5;
        o[k].data = ckpt_field(&p, es[i].field) + es[i].offset;
        o[k].ndim = es[i].ndim;
        o[k].shape[0] = es[i].shape[0];
        o[k].shape[1] = es[i].shape[1];
        k++;
    }
    float extra[2] = { 1, 2 };
    o[k++] = (st_out){ "mystery.weight", extra, 1, { 2 }, NULL };
    char dir[256];
    snprintf(dir, sizeof dir, "%s/prefixless", tmpdir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(st_write(path, o, k, err, sizeof err) == 0, "%s", err);
    size_t sizes[MODEL_NUM_PARAM_TENSORS], total = model_param_sizes(&c, sizes);
    float *b2 = xaligned_alloc(total * sizeof(float));
    model_params p2;
    model_params_point(&p2, &c, b2);
    int rc = ckpt_load_params(dir, &c, &p2, CKPT_INIT_MISSING_HEAD, 1, notice, sizeof notice, err, sizeof err);
    CHECK(rc == 0, "prefixless: %s", err);
    CHECK(!memcmp(b2, block, (total - sizes[21] - sizes[22]) * sizeof(float)), "prefixless: body equal");
    CHECK(strstr(notice, "initialised 2 tensors") && strstr(notice, "ignored 1 unexpected tensor (first: mystery.weight)"),
          "prefixless notice: %s", notice);
    free(b2);
    free(o);
    free(es);
    free(block);
}

/* config.json of the Hub checkpoints, as published (transcribed): they parse to the presets
 * (ALBERT with its own 30000-piece vocabulary) and give the known parameter counts. */
static void test_hub_configs(void)
{
    static const char distil[] =
        "{\"activation\": \"gelu\", \"architectures\": [\"DistilBertForMaskedLM\"], \"attention_dropout\": 0.1,"
        " \"dim\": 768, \"dropout\": 0.1, \"hidden_dim\": 3072, \"initializer_range\": 0.02,"
        " \"max_position_embeddings\": 512, \"model_type\": \"distilbert\", \"n_heads\": 12, \"n_layers\": 6,"
        " \"pad_token_id\": 0, \"qa_dropout\": 0.1, \"seq_classif_dropout\": 0.2, \"sinusoidal_pos_embds\": false,"
        " \"tie_weights_\": true, \"transformers_version\": \"4.10.0.dev0\", \"vocab_size\": 30522}";
    static const char albert[] =
        "{\"architectures\": [\"AlbertForMaskedLM\"], \"attention_probs_dropout_prob\": 0, \"bos_token_id\": 2,"
        " \"classifier_dropout_prob\": 0.1, \"down_scale_factor\": 1, \"embedding_size\": 128, \"eos_token_id\": 3,"
        " \"gap_size\": 0, \"hidden_act\": \"gelu_new\", \"hidden_dropout_prob\": 0, \"hidden_size\": 768,"
        " \"initializer_range\": 0.02, \"inner_group_num\": 1, \"intermediate_size\": 3072, \"layer_norm_eps\": 1e-12,"
        " \"max_position_embeddings\": 512, \"model_type\": \"albert\", \"net_structure_type\": 0,"
        " \"num_attention_heads\": 12, \"num_hidden_groups\": 1, \"num_hidden_layers\": 12, \"num_memory_blocks\": 0,"
        " \"pad_token_id\": 0, \"type_vocab_size\": 2, \"vocab_size\": 30000}";
    char err[512];
    model_config c, want;
    CHECK(model_config_parse(&c, distil, sizeof distil - 1, "distil", err, sizeof err) == 0, "%s", err);
    model_config_preset("distilbert-base", &want);
    CHECK(config_equal(&c, &want), "distilbert-base-uncased config == preset");
    CHECK(model_config_count_params(&c, MODEL_COUNT_BASE) == 66362880, "distilbert-base-uncased count");
    CHECK(model_config_parse(&c, albert, sizeof albert - 1, "albert", err, sizeof err) == 0, "%s", err);
    model_config_preset("albert-base-v2", &want);
    want.V = 30000;
    CHECK(config_equal(&c, &want), "albert-base-v2 config == preset with V 30000");
    CHECK(model_config_count_params(&c, MODEL_COUNT_BASE) == 11683584, "albert-base-v2 count");
}

/* The tools' entry point: a model from a spec, saved back. */
static void test_model_open(void)
{
    char err[512], notice[1024], dir[256];
    model *m = ckpt_model_open(FIX "distilbert", 0, NULL, 0, 1, notice, sizeof notice, err, sizeof err);
    CHECK(m != NULL, "open dir: %s", err);
    if (!m)
        return;
    model_config c;
    model_params p;
    float *block = NULL;
    ckpt_load(FIX "distilbert", &c, &block, &p, 1, notice, sizeof notice, err, sizeof err);
    CHECK(model_num_params(m) == model_config_count_params(&c, MODEL_COUNT_ALL) &&
          !memcmp(model_param_block(m), block, model_num_params(m) * sizeof(float)), "open dir: weights");
    CHECK(config_equal(model_get_config(m), &c), "open dir: config");
    snprintf(dir, sizeof dir, "%s/opened", tmpdir);
    CHECK(ckpt_model_save(m, dir, NULL, err, sizeof err) == 0, "model save: %s", err);
    model_config c2;
    model_params p2;
    float *block2 = NULL;
    CHECK(ckpt_load(dir, &c2, &block2, &p2, 1, notice, sizeof notice, err, sizeof err) == 0 &&
          !memcmp(block2, block, model_num_params(m) * sizeof(float)), "model save: reload %s", err);
    free(block2);
    free(block);
    model_free(m);

    const char *names[3] = { "neg", NULL, "pos" };
    m = ckpt_model_open("bert-tiny", 3, names, 0, 5, notice, sizeof notice, err, sizeof err);
    CHECK(m && model_get_config(m)->K == 3 && !strcmp(model_get_config(m)->labels[1], "LABEL_1") &&
          !strcmp(model_get_config(m)->labels[2], "pos"), "open preset with labels: %s", err);
    if (m) {
        const model_params *w = model_weights(m);
        CHECK(w->emb_ln_w[0] == 1.0f && w->cls_b[2] == 0.0f && w->word_emb[200] != 0.0f, "preset: initialised");
        model_free(m);
    }
    m = ckpt_model_open(FIX "albert", 2, NULL, 0, 5, notice, sizeof notice, err, sizeof err);
    CHECK(m == NULL && strstr(err, "classifier.weight has shape [6, 32]"), "open dir, other K: %s", err);
    m = ckpt_model_open(FIX "albert", 2, NULL, CKPT_NEW_HEAD, 5, notice, sizeof notice, err, sizeof err);
    CHECK(m != NULL && strstr(notice, "classifier.weight"), "open dir, new head: %s", m ? notice : err);
    model_free(m);
    m = ckpt_model_open("nope-preset", 0, NULL, 0, 5, notice, sizeof notice, err, sizeof err);
    CHECK(m == NULL && strstr(err, "not a preset"), "open unknown: %s", err);
}

/* ckpt_load_model: the config and weights ckpt_load gives (also the initialised head of a
 * headless checkpoint, from the same seed), in the model's own block; a bad directory is
 * NULL with the message. */
static void test_load_model(const char *name)
{
    char dir[256], err[512] = "", notice[1024], notice2[1024];
    snprintf(dir, sizeof dir, FIX "%s", name);
    model_config c;
    model_params p;
    float *block = NULL;
    int rc = ckpt_load(dir, &c, &block, &p, 7, notice, sizeof notice, err, sizeof err);
    model *m = ckpt_load_model(dir, 7, notice2, sizeof notice2, err, sizeof err);
    CHECK(rc == 0 && m != NULL, "%s: load: %s", name, err);
    if (m && rc == 0) {
        const model_config *mc = model_get_config(m);
        CHECK(mc->arch == c.arch && mc->L == c.L && mc->H == c.H && mc->E == c.E && mc->V == c.V &&
              mc->K == c.K && !memcmp(mc->labels, c.labels, sizeof c.labels), "%s: configs differ", name);
        CHECK(!memcmp(model_param_block(m), block, model_num_params(m) * sizeof(float)),
              "%s: weights differ from ckpt_load's", name);
        CHECK(!strcmp(notice, notice2), "%s: notices differ: '%s' vs '%s'", name, notice, notice2);
    }
    model_free(m);
    free(block);
    m = ckpt_load_model(FIX "no-such-dir", 7, notice2, sizeof notice2, err, sizeof err);
    CHECK(m == NULL && strstr(err, "no-such-dir/config.json"), "missing dir: '%s'", err);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 2;
    test_family("bert", ARCH_BERT, 2, 32);
    test_family("distilbert", ARCH_DISTILBERT, 2, 32);
    test_family("albert", ARCH_ALBERT, 2, 16);
    test_nohead("bert", ARCH_BERT);
    test_nohead("distilbert", ARCH_DISTILBERT);
    test_nohead("albert", ARCH_ALBERT);
    test_lowp("f16");
    test_lowp("bf16");
    test_config_errors();
    test_presets();
    test_label_json();
    test_prefixless();
    test_hub_configs();
    test_model_open();
    test_load_model("bert");
    test_load_model("albert-nohead");
    remove_tree(tmpdir);
    return check_done("test_ckpt");
}
