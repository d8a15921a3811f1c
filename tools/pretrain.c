/* emo-pretrain: masked-language-model pretraining (BERT's MLM objective) of a BERT-family
 * encoder on token records streamed from files, written as a Hugging Face *ForMaskedLM
 * checkpoint that emo-teacher-train --init and emo-student-distill --init take.  The
 * masking is lib/train/mlm_mask.c, the objective lib/train/mlm_task.c, the data stream
 * lib/train/stream.c and the loop, checkpoints and --resume lib/train/trainer.c (shared
 * with emo-teacher-train). */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/ckpt.h"
#include "model/config.h"
#include "train/mlm_task.h"
#include "train/stream.h"
#include "train/train_cli.h"
#include "train/trainer.h"
#include "util/cli.h"
#include "util/par.h"
#include "util/util.h"

/* From-scratch masked-LM defaults (emo-pretrain(1) says why): peak 5e-4 after 6% warm-up,
 * linear decay, batch 64, 10 epochs; weight decay 0.01 as BERT. */
#define MLM_LR 5e-4
#define MLM_WARMUP 0.06
#define MLM_BATCH 64
#define MLM_EPOCHS 10
#define MLM_WD 0.01
/* held-out records for validation: 1000, at most a tenth of the input */
#define MLM_HOLDOUT 1000
#define MLM_SHUFFLE 100000

static const cli_help help = {
    "pretrain",
    "usage: emo pretrain --train FILE [FILE...] (--config PRESET|config.json | --init HF_DIR) -o CKPT_DIR\n"
    "           [--vocab FILE] [--mask-prob P] [--mask-replace P] [--mask-random P] [--whole-word]\n"
    "           [--holdout N] [--shuffle-buffer N] [--keep-epochs] [--lr LR] [--warmup-ratio R]\n"
    "           [--weight-decay WD] [--clip NORM] [--batch N] [--epochs N] [--early-stop-metric loss|accuracy]\n"
    "           [--patience N] [--seed N] [--threads N] [--resume] [--max-steps N] [--log-every N] [-q]\n",
    "      --config SPEC       model architecture: a preset name or a config.json\n"
    "      --holdout N         records held back for validation; 0: none\n"
    "      --init HF_DIR       start from this checkpoint\n"
    "      --keep-epochs       also write the model after every epoch\n"
    "      --mask-prob P       share of tokens chosen for prediction (0.15)\n"
    "      --mask-random P     share of the chosen replaced by a random token (0.1)\n"
    "      --mask-replace P    share of the chosen replaced by [MASK] (0.8)\n"
    "  -o, --output DIR        the checkpoint directory to write\n"
    "  -q, --quiet             no progress or epoch lines\n"
    "      --shuffle-buffer N  records in the shuffle buffer (100000)\n"
    "      --train FILE...     token record files, one or more\n"
    "      --whole-word        choose whole words for masking\n"
    TRAIN_CLI_HELP_TRAINER,
};

enum { O_TRAIN = 256, O_CONFIG, O_INIT, O_MASKP, O_MASKR, O_MASKRAND, O_WWM, O_HOLDOUT, O_SHUFFLE, O_KEEP };

/* The architecture of --config and of --init's checkpoint must agree. */
static void check_same_shape(const model_config *a, const model_config *b, const char *config, const char *init)
{
    if (a->arch != b->arch || a->V != b->V || a->P != b->P || a->H != b->H || a->L != b->L || a->NH != b->NH ||
        a->I != b->I || a->E != b->E || a->TV != b->TV)
        errx(EXIT_USAGE, "--config %s and --init %s describe different models (give one of them)", config, init);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TRAIN_CLI_LONGOPTS_TRAINER,
        { "train", required_argument, NULL, O_TRAIN }, { "config", required_argument, NULL, O_CONFIG },
        { "init", required_argument, NULL, O_INIT }, { "output", required_argument, NULL, 'o' },
        { "mask-prob", required_argument, NULL, O_MASKP }, { "mask-replace", required_argument, NULL, O_MASKR },
        { "mask-random", required_argument, NULL, O_MASKRAND }, { "whole-word", no_argument, NULL, O_WWM },
        { "holdout", required_argument, NULL, O_HOLDOUT }, { "shuffle-buffer", required_argument, NULL, O_SHUFFLE },
        { "keep-epochs", no_argument, NULL, O_KEEP }, { "quiet", no_argument, NULL, 'q' },
        CLI_LONGOPTS, { NULL, 0, NULL, 0 },
    };
    const char **paths = xmalloc((size_t)argc * sizeof *paths);
    int npaths = 0, c;
    const char *config = NULL, *init = NULL;
    long long holdout = -1;
    size_t shuffle = MLM_SHUFFLE;
    train_cli tc = { 0 };
    train_opts o = TRAIN_OPTS_DEFAULTS;
    o.lr = MLM_LR;
    o.warmup_ratio = MLM_WARMUP;
    o.batch = MLM_BATCH;
    o.epochs = MLM_EPOCHS;
    o.adamw.weight_decay = MLM_WD;
    o.metric = METRIC_LOSS;
    mlm_task mt = { 0 };
    mlm_mask_cfg mc = MLM_MASK_DEFAULTS;
    while ((c = getopt_long(argc, argv, "ho:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'o': o.out_dir = optarg; break;
        case 'q': o.quiet = 1; break;
        case O_TRAIN: paths[npaths++] = optarg; break;
        case O_CONFIG: config = optarg; break;
        case O_INIT: init = optarg; break;
        case O_MASKP: mc.prob = xparse_double("--mask-prob", optarg, 0.001, 1); break;
        case O_MASKR: mc.p_mask = xparse_double("--mask-replace", optarg, 0, 1); break;
        case O_MASKRAND: mc.p_random = xparse_double("--mask-random", optarg, 0, 1); break;
        case O_WWM: mc.whole_word = 1; break;
        case O_HOLDOUT: holdout = xparse_ll("--holdout", optarg, 0, UINT32_MAX); break;
        case O_SHUFFLE: shuffle = (size_t)xparse_ll("--shuffle-buffer", optarg, 1, 1LL << 30); break;
        case O_KEEP: o.keep_epochs = 1; break;
        default:
            if (!train_cli_option(c, optarg, &o, NULL, &tc))
                cli_usage(&help, EXIT_USAGE);
        }
    }
    if (npaths > 0)          /* --train a.rec b.rec c.rec: the operands are more inputs */
        while (optind < argc)
            paths[npaths++] = argv[optind++];
    if (optind != argc || npaths == 0 || !o.out_dir || (!config && !init))
        cli_usage(&help, EXIT_USAGE);
    char *in_dirs[] = { (char *)init };
    if (init)
        refuse_output_is_input(o.out_dir, in_dirs, 1);   /* the checkpoint would be overwritten */
    if (mc.p_mask + mc.p_random > 1 + 1e-12)
        errx(EXIT_USAGE, "--mask-replace %g + --mask-random %g exceed 1", mc.p_mask, mc.p_random);
    if (o.metric == METRIC_F1)
        errx(EXIT_USAGE, "option --early-stop-metric: a masked-LM run has loss and accuracy, not f1");
    for (int i = 0; i < npaths; i++)
        if (!strcmp(paths[i], "-") || !strncmp(paths[i], "/dev/fd/", 8) || !strcmp(paths[i], "/dev/stdin"))
            errx(EXIT_USAGE, "%s: emo pretrain reads its inputs once per epoch: give files, not a pipe", paths[i]);
    if (train_rank() > 0)
        o.quiet = 1;                  /* under mpirun, rank 0 alone reports */
    int threads = threads_setup(tc.threads);

    /* The model: --init's checkpoint (encoder, and the MLM head if it has one), else a
     * fresh one of --config; both: --config must describe --init's model. */
    char e[1024], notice[1024] = "";
    model_config cfg;
    if (init && config) {
        model_config a, b;
        if (model_config_resolve(config, &a, e, sizeof e) || model_config_resolve(init, &b, e, sizeof e))
            errx(EXIT_USAGE, "%s", e);
        check_same_shape(&a, &b, config, init);
    }
    model *m = ckpt_model_open(init ? init : config, 0, NULL, CKPT_WANT_MLM, o.seed, notice, sizeof notice, e,
                               sizeof e);
    if (!m)
        errx(init ? EXIT_DATA : EXIT_USAGE, "%s", e);
    if (*notice && !o.quiet)
        warnx("%s", notice);
    cfg = *model_get_config(m);

    /* The vocabulary names [MASK], [CLS], [SEP] and the "##" pieces, and is copied into
     * every checkpoint. */
    char *vocab = tc.vocab ? xstrdup(tc.vocab) : init ? ckpt_vocab_path(init) : NULL;
    if (!vocab)
        errx(EXIT_USAGE, "no vocabulary: give --vocab FILE (the vocab.txt the records were tokenized with)");
    uint8_t *kind;
    if (mlm_vocab_kinds(vocab, cfg.V, cfg.pad_token_id, &kind, &mc.mask_id, e, sizeof e))
        errx(EXIT_DATA, "%s", e);
    mc.kind = kind;
    mc.V = cfg.V;
    mc.seed = o.seed;

    /* The data: checked and counted now; the hold-out sampled and loaded. */
    dataset held;
    token_stream_opts so = { .V = cfg.V, .P = cfg.P, .B = o.batch, .seed = o.seed, .pad_id = cfg.pad_token_id,
                             .shuffle = shuffle, .holdout = 0 };
    if (holdout < 0) {       /* default: MLM_HOLDOUT, at most a tenth of the records */
        so.holdout = MLM_HOLDOUT;
        so.holdout_cap = 1;
    } else
        so.holdout = (uint64_t)holdout;
    token_stream *ts = token_stream_open(paths, npaths, &so, &held);
    train_source src;
    token_stream_source(ts, &src);
    so.holdout = token_stream_holdout(ts);

    mt.base.m = m;
    mt.base.vocab_path = vocab;
    mt.mask = mc;
    mt.holdout = &held;
    mt.eval_batch = o.batch;
    train_task task;
    mlm_task_setup(&task, &mt);
    o.pad_id = cfg.pad_token_id;

    /* bench/pretrain/pretrain.sh: the first epoch's batches, masked, for the PyTorch side; no
     * training */
    const char *dump = getenv("EMO_PRETRAIN_DUMP_BATCHES");
    if (dump) {
        atomic_file af;
        FILE *f = atomic_open(&af, dump);
        if (mlm_task_dump_epoch(&mt, &src, 0, f, e, sizeof e) || atomic_commit(&af))
            errx(EXIT_DATA, "%s: %s", dump, *e ? e : "write error");
        return 0;
    }

    /* What a --resume must agree on (the data position is replayed from these). */
    json_t *files = json_array();
    for (int i = 0; i < npaths; i++)
        json_array_append_new(files, json_pack("{s:s, s:I}", "path", paths[i], "records",
                                               (json_int_t)token_stream_file_records(ts, i)));
    json_t *run = train_cli_run("pretrain", config, init, &o, NULL);
    json_t *own = json_pack("{s:f, s:f, s:f, s:b, s:I, s:I, s:o}", "mask_prob", mc.prob, "mask_replace", mc.p_mask,
                            "mask_random", mc.p_random, "whole_word", mc.whole_word, "holdout",
                            (json_int_t)so.holdout, "shuffle_buffer", (json_int_t)shuffle, "files", files);
    json_object_update(run, own);
    json_decref(own);
    char *run_info = json_dumps(run, JSON_COMPACT | JSON_SORT_KEYS);
    o.run_info = run_info;
    if (!o.quiet)
        fprintf(stderr, "emo-pretrain: %s masked-LM model, %zu parameters, %llu records (%llu held out), "
                "%llu batches of %zu per epoch, %d threads\n", model_arch_name(cfg.arch), task.nparams,
                (unsigned long long)token_stream_total(ts), (unsigned long long)so.holdout,
                (unsigned long long)src.nbatches, o.batch, threads);
    train_run_source(&task, &src, NULL, &o);

    free(run_info);
    json_decref(run);
    token_stream_free(ts);
    dataset_free(&held);
    mlm_task_free(&mt);
    model_free(m);
    free(kind);
    free(vocab);
    free(paths);
    return 0;
}
