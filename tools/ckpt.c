/* emo-ckpt: inspect, create and convert model checkpoints (emo-checkpoint(5)).
 *   info SPEC...        one JSON line per model: family, sizes, labels, parameter counts,
 *                       HF class, whether it holds a masked-LM head
 *   init SPEC -o DIR    fresh weights (transformers' initialisation, seeded)
 *   convert SRC -o DIR  any readable checkpoint (Hub names, F16/BF16, without a head) to a
 *                       float32 emokd checkpoint, the head set up for --labels
 *   trim-vocab -m CKPT --corpus FILE... -o DIR
 *                       the checkpoint with the WordPiece vocabulary the corpus uses
 *                       (lib/model/trim.h)
 *   quantize -m CKPT -o DIR [--keep LIST] [--scheme w7|a7]
 *                       int8 linear layers (and embeddings) for inference
 *                       (lib/model/ckpt_int8.c)
 *   dequantize -m CKPT -o DIR
 *                       an int8 checkpoint back to float32
 * SPEC is a preset name, a config.json or a checkpoint directory. */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "io/rec.h"
#include "model/ckpt.h"
#include "model/config.h"
#include "model/textcfg.h"
#include "model/model.h"
#include "model/trim.h"
#include "tok/bert_tok.h"
#include "util/cli.h"
#include "util/labels.h"
#include "util/util.h"

static const cli_help help = {
    "ckpt",
    "usage: emo ckpt info SPEC...\n"
    "       emo ckpt init [--labels LIST | --labels-file FILE] [--seed N] [--vocab FILE]\n"
    "                     -o DIR SPEC\n"
    "       emo ckpt convert [--labels LIST | --labels-file FILE] [--new-head] [--seed N]\n"
    "                        [--vocab FILE] -o DIR SRC\n"
    "       emo ckpt trim-vocab [--min-count N] -m CKPT --corpus FILE... -o DIR\n"
    "       emo ckpt quantize [--keep LIST] [--scheme w7|a7] -m CKPT -o DIR\n"
    "       emo ckpt dequantize -m CKPT -o DIR\n",
    "      --corpus FILE       (trim-vocab) a token stream of the corpus; repeat for more\n"
    "      --keep LIST         (quantize) parts left float: embeddings, pooler,\n"
    "                          classifier, embedding_projection (comma-separated)\n"
    "      --labels LIST       comma-separated class names, in class-id order\n"
    "      --labels-file FILE  class names, one per line\n"
    "      --min-count N       (trim-vocab) keep tokens the corpus uses N times or more (1)\n"
    "  -m, --model CKPT        (trim-vocab, quantize, dequantize) the input checkpoint\n"
    "      --new-head          (convert) a new classifier even if SRC has one\n"
    "  -o, --output DIR        the checkpoint directory to write\n"
    "      --scheme S          (quantize) w7 (7-bit weights, u8 activations; default) or\n"
    "                          a7 (int8 weights, 7-bit activations)\n"
    "      --seed N            seed of the initialisation (42)\n"
    "      --vocab FILE        the vocab.txt to copy into the checkpoint\n",
};

/* Label names from "a,b,c" or a file with one per line; exits 1 on a bad list. */
static void read_labels(const char *list, const char *file, labelset *ls)
{
    char *text = NULL;
    const char *src = list;
    int sep = ',';
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f)
            err(EXIT_DATA, "%s", file);
        size_t cap = 0;
        ssize_t n = getdelim(&text, &cap, '\0', f);
        if (n < 0 && ferror(f))
            err(EXIT_DATA, "%s", file);
        fclose(f);
        src = text ? text : "";
        sep = '\n';
    }
    size_t n;
    char **item = xlist_split(src, sep, &n);
    ls->K = 0;
    for (size_t i = 0; i < n; i++) {
        char *t = item[i];
        size_t len = strlen(t);
        if (len && t[len - 1] == '\r')
            t[--len] = 0;
        if (!len)
            continue;
        if (ls->K == LABELS_MAX)
            errx(EXIT_DATA, "%s: more than %d labels", file ? file : "--labels", LABELS_MAX);
        if (len >= LABEL_BYTES)
            errx(EXIT_DATA, "%s: label '%s' is longer than %d bytes", file ? file : "--labels", t,
                 LABEL_BYTES - 1);
        memcpy(ls->names[ls->K++], t, len + 1);
    }
    free(item);
    free(text);
    if (!ls->K)
        errx(EXIT_DATA, "%s: no labels", file ? file : "--labels");
}

static void apply_labels(model_config *c, const labelset *ls)
{
    const char *p[LABELS_MAX];
    for (int k = 0; k < ls->K; k++)
        p[k] = ls->names[k];
    model_config_set_labels(c, ls->K, p);
    char e[256];
    if (model_config_check(c, e, sizeof e) != 0)
        errx(EXIT_DATA, "--labels: %s", e);
}

/* The double nearest the shortest decimal of x, so %.9g prints 0.1 and 1e-12, not
 * 0.100000001 and 9.99999996e-13. */
static double short_real(float x)
{
    char b[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, (double)x);
        if (strtof(b, NULL) == x)
            break;
    }
    return strtod(b, NULL);
}

static int info(int argc, char **argv)
{
    if (argc < 1)
        cli_usage(&help, EXIT_USAGE);
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        model_config c;
        char e[1024];
        if (model_config_resolve(argv[i], &c, e, sizeof e) != 0) {
            warnx("%s", e);
            rc = EXIT_DATA;
            continue;
        }
        /* a *ForMaskedLM / *ForPreTraining checkpoint: described as the masked-LM model it
         * holds (no classifier, no pooler; params with the MLM head) */
        int mlm = model_config_class_has_mlm(c.arch_class);
        if (mlm) {
            c.mlm = 1;
            c.K = 0;
        }
        json_t *labels = json_array();
        for (int k = 0; k < c.K; k++)
            json_array_append_new(labels, json_string(c.labels[k]));
        json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:s,s:f,s:f,s:f,s:f,s:i,s:o,s:I,s:I,s:s,s:b}",
                              "model", argv[i], "model_type", model_arch_name(c.arch), "vocab_size", c.V,
                              "max_position_embeddings", c.P, "type_vocab_size", c.TV,
                              "embedding_size", c.E, "hidden_size", c.H, "num_hidden_layers", c.L,
                              "num_attention_heads", c.NH, "intermediate_size", c.I, "num_labels", c.K,
                              "hidden_act", model_act_name(c.act), "layer_norm_eps", short_real(c.ln_eps),
                              "hidden_dropout", short_real(c.hidden_dropout), "attention_dropout",
                              short_real(c.attn_dropout), "classifier_dropout", short_real(c.classifier_dropout),
                              "pad_token_id", c.pad_token_id, "labels", labels,
                              "base_params", (json_int_t)model_config_count_params(&c, MODEL_COUNT_BASE),
                              "params", (json_int_t)model_config_count_params(&c, MODEL_COUNT_ALL),
                              "architecture", c.arch_class[0] ? c.arch_class : model_config_class(&c),
                              "mlm_head", mlm);
        /* what a checkpoint directory carries about its text (emo-checkpoint(5)) */
        textcfg t;
        struct stat st;
        int dir = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode);
        if (dir && textcfg_load(argv[i], &t, e, sizeof e) < 0) {
            warnx("%s", e);
            rc = EXIT_DATA;
        }
        char *vp = dir ? ckpt_vocab_path(argv[i]) : NULL;
        json_object_set_new(o, "vocab_file", json_boolean(vp != NULL));
        free(vp);
        char steps[128];
        if (dir && t.has_clean)
            textcfg_clean_str(&t.clean, steps, sizeof steps);
        json_object_set_new(o, "clean", dir && t.has_clean ? json_string(steps) : json_null());
        json_object_set_new(o, "max_len", dir && t.max_len ? json_integer(t.max_len) : json_null());
        json_t *q = json_null();
        if (c.quant) {   /* an int8 checkpoint (emo ckpt quantize) */
            json_t *kept = json_array();
            static const char *const kn[] = { "embedding_projection", "pooler", "classifier" };
            for (int k = 0; k < 3; k++)
                if (c.quant_keep & (1u << k))
                    json_array_append_new(kept, json_string(kn[k]));
            q = json_pack("{s:s,s:s,s:o,s:s}", "method", "emo-dynamic-int8", "scheme", c.quant_scheme ? "a7" : "w7",
                          "float_linear", kept, "embeddings", c.quant_keep & MODEL_Q8_KEEP_EMB ? "float" : "int8");
        }
        json_object_set_new(o, "quantization", q);
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
        puts(s);
        free(s);
        json_decref(o);
    }
    out_close();
    return rc;
}

/* Count one corpus file's tokens into t; exits 1 naming the record on bad input. */
static size_t count_corpus(trim_counts *t, const char *path, const char *vocab_path, size_t V)
{
    rec_reader *r = rec_reader_open(path);
    if (!r)
        err(EXIT_DATA, "%s", path ? path : "<stdin>");
    rec_t rec;
    int32_t *ids = NULL;
    size_t cap = 0;
    char *fixed = NULL;
    size_t fixcap = 0;
    while (rec_read_or_die(r, &rec)) {
        const msgpack_object *o = rec_get(&rec, "input_ids");
        if (!o)
            rec_die(r, "no input_ids (tokenize the corpus with the checkpoint's vocab.txt first)");
        if (o->type != MSGPACK_OBJECT_ARRAY)
            rec_die(r, "input_ids is not an array");
        size_t n = o->via.array.size;
        if (n > cap) {
            free(ids);
            cap = n;
            ids = xmalloc(cap * sizeof *ids);
        }
        n = rec_need_ids(r, &rec, "input_ids", ids, n);
        for (size_t i = 0; i < n; i++)
            if ((size_t)ids[i] >= V)
                rec_die(r, "token id %d is outside the checkpoint's vocabulary of %zu", ids[i], V);
        const char *text;
        size_t len;
        if (rec_get_str(&rec, "text", &text, &len) != 0) {
            trim_counts_add_ids(t, ids, n);
            continue;
        }
        if (tok_utf8_invalid_at(text, len) < len) {   /* as emo tokenize --on-invalid replace */
            if (3 * len + 1 > fixcap) {
                free(fixed);
                fixcap = 3 * len + 1;
                fixed = xmalloc(fixcap);
            }
            len = tok_utf8_repair(text, len, fixed);
            text = fixed;
        }
        if (trim_counts_add_text(t, text, len, ids, n) != 0)
            rec_die(r, "input_ids are not %s's tokenization of text (tokenized with another vocabulary?)",
                    vocab_path);
    }
    size_t nrec = (size_t)rec_reader_count(r);
    rec_reader_close(r);
    free(ids);
    free(fixed);
    return nrec;
}

static int trim_vocab(int argc, char **argv)
{
    enum { O_CORPUS = 256, O_MIN_COUNT };
    static const struct option opts[] = {
        { "corpus", required_argument, NULL, O_CORPUS }, { "min-count", required_argument, NULL, O_MIN_COUNT },
        { "model", required_argument, NULL, 'm' }, { "output", required_argument, NULL, 'o' }, CLI_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    const char *ckpt = NULL, *out = NULL;
    const char **corpus = xcalloc((size_t)argc + 1, sizeof *corpus);
    size_t ncorpus = 0;
    uint64_t min_count = 1;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "hm:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'm': ckpt = optarg; break;
        case 'o': out = optarg; break;
        case O_CORPUS: corpus[ncorpus++] = optarg; break;
        case O_MIN_COUNT: min_count = (uint64_t)xparse_ll("min-count", optarg, 1, INT64_MAX); break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (optind != argc || !ckpt || !out || !ncorpus) {
        if (optind == argc)
            warnx("trim-vocab needs -m CKPT, --corpus FILE and -o DIR");
        cli_usage(&help, EXIT_USAGE);
    }
    char e[1024];
    model_config cfg;
    struct stat st;
    if (stat(ckpt, &st) != 0 || !S_ISDIR(st.st_mode))
        errx(EXIT_DATA, "%s: not a checkpoint directory", ckpt);
    char *in_dirs[] = { (char *)ckpt };
    refuse_output_is_input(out, in_dirs, 1);
    if (model_config_resolve(ckpt, &cfg, e, sizeof e) != 0)
        errx(EXIT_DATA, "%s", e);
    char *vp = ckpt_vocab_path(ckpt);
    if (!vp)
        errx(EXIT_DATA, "%s: no vocab.txt (trim-vocab trims a WordPiece vocabulary)", ckpt);
    tok_vocab *v = tok_vocab_load(vp, e, sizeof e);
    if (!v)
        errx(EXIT_DATA, "%s", e);
    if (tok_vocab_size(v) > (size_t)cfg.V)
        errx(EXIT_DATA, "%s: %zu tokens, more than the model's vocab_size %d", vp, tok_vocab_size(v), cfg.V);
    trim_counts *t = trim_counts_new(v, (size_t)cfg.V);
    if (trim_keep_config_ids(t, ckpt, e, sizeof e) != 0)
        errx(EXIT_DATA, "%s", e);
    size_t nrec = 0;
    for (size_t i = 0; i < ncorpus; i++)
        nrec += count_corpus(t, strcmp(corpus[i], "-") ? corpus[i] : NULL, vp, (size_t)cfg.V);
    int32_t *old_ids = xmalloc((size_t)cfg.V * sizeof *old_ids);
    size_t newV = trim_select(t, min_count, old_ids), seen = 0;
    for (size_t i = 0; i < newV; i++)
        seen += trim_count(t, old_ids[i]) >= min_count;
    char notice[1024];
    if (trim_write_checkpoint(ckpt, out, v, old_ids, newV, notice, sizeof notice, e, sizeof e) != 0)
        errx(EXIT_DATA, "%s", e);
    if (notice[0])
        warnx("%s", notice);
    fprintf(stderr, "emo-ckpt: %s: kept %zu of %d tokens (%zu used by the %zu corpus records, the others "
            "specials, single characters and pieces of [UNK] words)\n", out, newV, cfg.V, seen, nrec);
    free(old_ids);
    trim_counts_free(t);
    tok_vocab_free(v);
    free(vp);
    free(corpus);
    return 0;
}

static long long file_size(const char *dir, const char *name)
{
    char *p = path_join(dir, name);
    struct stat st;
    long long n = stat(p, &st) == 0 ? (long long)st.st_size : -1;
    free(p);
    return n;
}

/* quantize / dequantize -m CKPT -o DIR */
static int quant(int argc, char **argv, int de)
{
    enum { O_KEEP = 256, O_SCHEME };
    static const struct option opts[] = {
        { "keep", required_argument, NULL, O_KEEP }, { "scheme", required_argument, NULL, O_SCHEME },
        { "model", required_argument, NULL, 'm' }, { "output", required_argument, NULL, 'o' }, CLI_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    const char *ckpt = NULL, *out = NULL, *keep_list = NULL;
    int scheme = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "hm:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'm': ckpt = optarg; break;
        case 'o': out = optarg; break;
        case O_KEEP: keep_list = optarg; break;
        case O_SCHEME:
            if (strcmp(optarg, "w7") && strcmp(optarg, "a7")) {
                warnx("--scheme: '%s' (w7 or a7)", optarg);
                cli_usage(&help, EXIT_USAGE);
            }
            scheme = !strcmp(optarg, "a7");
            break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (optind != argc || !ckpt || !out || (de && (keep_list || scheme))) {
        if (optind == argc && (!ckpt || !out))
            warnx("%s needs -m CKPT and -o DIR", argv[0]);
        if (de && (keep_list || scheme))
            warnx("--keep and --scheme are for quantize");
        cli_usage(&help, EXIT_USAGE);
    }
    unsigned keep = 0;
    if (keep_list) {
        char *copy = xstrdup(keep_list), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (!strcmp(t, "embeddings"))
                keep |= MODEL_Q8_KEEP_EMB;
            else if (!strcmp(t, "embedding_projection"))
                keep |= MODEL_Q8_KEEP_PROJ;
            else if (!strcmp(t, "pooler"))
                keep |= MODEL_Q8_KEEP_POOL;
            else if (!strcmp(t, "classifier"))
                keep |= MODEL_Q8_KEEP_CLS;
            else {
                warnx("--keep: '%s' (embeddings, pooler, classifier, embedding_projection)", t);
                cli_usage(&help, EXIT_USAGE);
            }
        }
        free(copy);
    }
    char *in_dirs[] = { (char *)ckpt };
    refuse_output_is_input(out, in_dirs, 1);
    char e[1024];
    if ((de ? ckpt_dequantize(ckpt, out, e, sizeof e) : ckpt_quantize(ckpt, out, keep, scheme, e, sizeof e)) != 0)
        errx(EXIT_DATA, "%s", e);
    long long a = file_size(ckpt, "model.safetensors"), b = file_size(out, "model.safetensors");
    if (a > 0 && b > 0)
        fprintf(stderr, "emo-ckpt: %s: model.safetensors %.1f MB, %.3fx %s's %.1f MB\n", out, b / 1e6, (double)b / a,
                ckpt, a / 1e6);
    return 0;
}

/* init's output: the checkpoint plus emo_run.json saying its weights are random
 * ({"seed": N, "tool": "ckpt init"}), so that a trainer given it as --init trains it as
 * from scratch (train_cli_init_is_random). */
static void save_fresh(const model *m, const char *out, const char *vocab, uint64_t seed)
{
    char e[1024], run[128];
    snprintf(run, sizeof run, "{\n \"seed\": %llu,\n \"tool\": \"ckpt init\"\n}\n", (unsigned long long)seed);
    if (ckpt_model_save_run(m, out, vocab, run, e, sizeof e) != 0)
        errx(EXIT_DATA, "%s", e);
}

int main(int argc, char **argv)
{
    enum { OPT_LABELS = 256, OPT_LABELS_FILE, OPT_NEW_HEAD, OPT_SEED, OPT_VOCAB };
    static const struct option longopts[] = {
        CLI_LONGOPTS,
        { "labels", required_argument, NULL, OPT_LABELS },
        { "labels-file", required_argument, NULL, OPT_LABELS_FILE },
        { "new-head", no_argument, NULL, OPT_NEW_HEAD },
        { "output", required_argument, NULL, 'o' },
        { "seed", required_argument, NULL, OPT_SEED },
        { "vocab", required_argument, NULL, OPT_VOCAB },
        { NULL, 0, NULL, 0 },
    };
    const char *labels = NULL, *labels_file = NULL, *out = NULL, *vocab = NULL;
    int new_head = 0;
    uint64_t seed = 42;
    int c;
    /* "+": options end at the subcommand, then parse its own options */
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (optind >= argc)
        cli_usage(&help, EXIT_USAGE);
    const char *cmd = argv[optind];
    if (!strcmp(cmd, "info"))
        return info(argc - optind - 1, argv + optind + 1);
    if (!strcmp(cmd, "trim-vocab"))
        return trim_vocab(argc - optind, argv + optind);
    if (!strcmp(cmd, "quantize") || !strcmp(cmd, "dequantize"))
        return quant(argc - optind, argv + optind, cmd[0] == 'd');
    if (strcmp(cmd, "init") && strcmp(cmd, "convert")) {
        warnx("unknown command '%s' (info, init, convert, trim-vocab, quantize, dequantize)", cmd);
        cli_usage(&help, EXIT_USAGE);
    }
    int convert = !strcmp(cmd, "convert");
    argc -= optind;
    argv += optind;
    optind = 0;              /* glibc: 0 restarts the scan (and its state) at argv[1] */
    while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'o': out = optarg; break;
        case OPT_LABELS: labels = optarg; break;
        case OPT_LABELS_FILE: labels_file = optarg; break;
        case OPT_NEW_HEAD: new_head = 1; break;
        case OPT_SEED: seed = (uint64_t)xparse_ll("seed", optarg, 0, INT64_MAX); break;
        case OPT_VOCAB: vocab = optarg; break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (optind != argc - 1 || !out || (labels && labels_file) || (new_head && !convert)) {
        if (!out && optind == argc - 1)
            warnx("-o DIR is required");
        if (labels && labels_file)
            warnx("--labels and --labels-file exclude each other");
        if (new_head && !convert)
            warnx("--new-head is for convert");
        cli_usage(&help, EXIT_USAGE);
    }
    const char *spec = argv[optind];
    labelset ls = { 0 };
    if (labels || labels_file)
        read_labels(labels, labels_file, &ls);
    int K = ls.K;

    char e[1024], notice[2048];
    char *src_vocab = NULL;
    model *m;
    if (convert) {
        struct stat st;
        if (stat(spec, &st) != 0 || !S_ISDIR(st.st_mode))
            errx(EXIT_DATA, "%s: not a checkpoint directory", spec);
        char *in_dirs[] = { (char *)spec };
        refuse_output_is_input(out, in_dirs, 1);
        const char *lp[LABELS_MAX];
        for (int k = 0; k < K; k++)
            lp[k] = ls.names[k];
        m = ckpt_model_open(spec, K, lp, new_head ? CKPT_NEW_HEAD : 0, seed, notice, sizeof notice, e, sizeof e);
        if (!m) {
            if (strstr(e, "classifier.weight has shape"))
                errx(EXIT_DATA, "%s (use --new-head for a new classifier)", e);
            errx(EXIT_DATA, "%s", e);
        }
        if (notice[0])
            warnx("%s", notice);
        if (!vocab)
            vocab = src_vocab = ckpt_vocab_path(spec);
    } else {
        /* fresh weights, also when spec is a checkpoint directory (its configuration) */
        model_config cfg;
        if (model_config_resolve(spec, &cfg, e, sizeof e) != 0)
            errx(EXIT_DATA, "%s", e);
        if (K)
            apply_labels(&cfg, &ls);
        m = model_new(&cfg);
        if (!m)
            exit(EXIT_DATA);
        model_init_weights(m, seed);
    }
    if (convert) {
        if (ckpt_model_save(m, out, vocab, e, sizeof e) != 0)
            errx(EXIT_DATA, "%s", e);
    } else {
        save_fresh(m, out, vocab, seed);
    }
    free(src_vocab);
    model_free(m);
    return 0;
}
