/* emo-teacher-train: fine-tune (or train from scratch) a BERT-family classifier on token
 * records with focal (or cross-entropy) loss; the loop is lib/train/trainer.c. */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/ckpt.h"
#include "model/config.h"
#include "train/model_task.h"
#include "train/train_cli.h"
#include "train/trainer.h"
#include "util/cli.h"
#include "util/par.h"
#include "util/util.h"

/* Without --init the model starts from random weights: a larger learning rate with warm-up.
 * Chosen by bench/experiments/teacher-scratch-sweep.sh (bert-tiny on the shared corpus,
 * bench/README.md): 5e-4 was best of 2e-4..2e-3, validation F1 peaked after 3-6 epochs of an
 * 8-epoch schedule, so 10 epochs with early stopping is enough. */
#define SCRATCH_LR 5e-4
#define SCRATCH_WARMUP 0.1
#define SCRATCH_EPOCHS 10
/* From a pretrained checkpoint: BERT's fine-tuning rate for a Hub bert-base; a small model
 * or one pretrained by emo pretrain gets TRAIN_SMALL_INIT_LR (train_cli_init_lr). */
#define HUB_LR 2e-5

static const cli_help help = {
    "teacher-train",
    "usage: emo teacher-train --train FILE --val FILE [--config PRESET|config.json|DIR] [--init HF_DIR]\n"
    "           -o CKPT_DIR [--loss focal|ce] [--focal-alpha A] [--focal-gamma G] [--label-smoothing E]\n"
    "           [--lr LR] [--warmup-ratio R] [--weight-decay WD] [--clip NORM] [--batch N] [--epochs N]\n"
    "           [--early-stop-metric f1|accuracy|loss] [--patience N] [--seed N] [--threads N]\n"
    "           [--labels A,B,...] [--vocab FILE] [--resume] [--max-steps N] [--log-every N] [-q]\n",
    "      --config SPEC       model architecture: a preset, a config.json or a directory\n"
    "      --init HF_DIR       start from this checkpoint's weights\n"
    "      --labels A,B,...    the label set, in class-id order\n"
    "  -o, --output DIR        the checkpoint directory to write\n"
    "  -q, --quiet             no progress or epoch lines\n"
    "      --train FILE        the training record stream\n"
    "      --val FILE          the validation record stream\n"
    TRAIN_CLI_HELP_LOSS TRAIN_CLI_HELP_TRAINER,
};

static int generic_labels(const model_config *c)
{
    for (int k = 0; k < c->K; k++) {
        char b[32];
        snprintf(b, sizeof b, "LABEL_%d", k);
        if (strcmp(c->labels[k], b))
            return 0;
    }
    return 1;
}

enum { O_TRAIN = 256, O_VAL, O_CONFIG, O_INIT, O_LABELS };

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TRAIN_CLI_LONGOPTS,
        { "train", required_argument, NULL, O_TRAIN }, { "val", required_argument, NULL, O_VAL },
        { "config", required_argument, NULL, O_CONFIG }, { "init", required_argument, NULL, O_INIT },
        { "output", required_argument, NULL, 'o' }, { "labels", required_argument, NULL, O_LABELS },
        { "quiet", no_argument, NULL, 'q' }, CLI_LONGOPTS, { NULL, 0, NULL, 0 },
    };
    const char *train_path = NULL, *val_path = NULL, *config = NULL, *init = NULL, *labels = NULL;
    train_cli tc = { 0 };
    train_opts o = TRAIN_OPTS_DEFAULTS;
    model_task mt = { .loss = TASK_LOSS_FOCAL, .focal_alpha = 0.25, .focal_gamma = 2, .smoothing = 0 };
    int threads, c;
    o.patience = 3;
    while ((c = getopt_long(argc, argv, "ho:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'o': o.out_dir = optarg; break;
        case 'q': o.quiet = 1; break;
        case O_TRAIN: train_path = optarg; break;
        case O_VAL: val_path = optarg; break;
        case O_CONFIG: config = optarg; break;
        case O_INIT: init = optarg; break;
        case O_LABELS: labels = optarg; break;
        default:
            if (!train_cli_option(c, optarg, &o, &mt, &tc))
                cli_usage(&help, EXIT_USAGE);
        }
    }
    if (optind != argc || !train_path || !val_path || !o.out_dir || (!config && !init))
        cli_usage(&help, EXIT_USAGE);
    char *in_dirs[] = { (char *)init };
    if (init)
        refuse_output_is_input(o.out_dir, in_dirs, 1);   /* the checkpoint would be overwritten */
    int scratch = !init || train_cli_init_is_random(init);   /* random weights: scratch defaults */
    if (scratch) {
        if (!tc.lr_set)
            o.lr = SCRATCH_LR;
        if (!tc.warmup_set)
            o.warmup_ratio = SCRATCH_WARMUP;
        if (!tc.epochs_set)
            o.epochs = SCRATCH_EPOCHS;
    }
    if (train_rank() > 0)
        o.quiet = 1;                  /* under mpirun, rank 0 alone reports */
    threads = threads_setup(tc.threads);
    const char *vocab = tc.vocab;

    char e[1024];
    model_config cfg, init_cfg;
    if (model_config_resolve(config ? config : init, &cfg, e, sizeof e))
        errx(EXIT_USAGE, "%s", e);
    if (init && config && model_config_resolve(init, &init_cfg, e, sizeof e))
        errx(EXIT_USAGE, "%s", e);
    if (init && !config)
        init_cfg = cfg;
    char lr_why[256] = "";
    if (init && scratch && !tc.lr_set)
        snprintf(lr_why, sizeof lr_why, "random weights from emo ckpt init: the from-scratch defaults");
    if (!scratch && !tc.lr_set)       /* what the init is: emo-teacher-train(1), --lr */
        o.lr = train_cli_init_lr(init, &init_cfg, HUB_LR, lr_why, sizeof lr_why);

    /* The label set: --labels, else a fine-tuned checkpoint's own labels, else the data's. */
    labelset ls = { 0 };
    unsigned flags = DS_REQUIRE_LABEL;
    if (labels) {
        if (labelset_parse(&ls, labels, e, sizeof e))
            errx(EXIT_USAGE, "option --labels: %s", e);
    } else if (init && !generic_labels(&init_cfg)) {
        ls.K = init_cfg.K;
        memcpy(ls.names, init_cfg.labels, sizeof ls.names);
    } else
        flags |= DS_ADD_LABELS;
    dataset train, val;
    dataset_load(&train, train_path, &ls, flags, cfg.P);
    if (flags & DS_ADD_LABELS)
        labelset_sort_remap(&ls, &train);
    if (ls.K < 2)
        errx(EXIT_DATA, "%s: only one label (%s): nothing to classify", train.name, ls.names[0]);
    if (val_path)
        dataset_load(&val, val_path, &ls, DS_REQUIRE_LABEL, cfg.P);
    int32_t max_id = train.max_id > (val_path ? val.max_id : 0) ? train.max_id : val.max_id;
    if (max_id >= cfg.V)
        errx(EXIT_DATA, "token id %d is outside the model's vocabulary of %d (records tokenized with another "
             "vocabulary?)", max_id, cfg.V);
    /* The vocabulary copied into the checkpoint (--vocab, the --init checkpoint's, else the
     * training stream's) must be the model's: checked before training, not found wrong (or
     * missing) when the first checkpoint is written. */
    char *vocab_copy = model_task_text_setup(&mt, &train, vocab, &init, 1);
    if (vocab_copy && ckpt_vocab_check(vocab_copy, cfg.V, e, sizeof e))
        errx(EXIT_DATA, "%s", e);
    if (!vocab_copy && init)
        warnx("warning: %s has no vocab.txt and no --vocab was given: %s will have no vocabulary", init, o.out_dir);
    mt.vocab_path = vocab_copy;
    const char *names[LABELS_MAX];
    for (int k = 0; k < ls.K; k++)
        names[k] = ls.names[k];
    if (model_config_set_labels(&cfg, ls.K, names))
        errx(EXIT_DATA, "cannot set %d labels", ls.K);

    mt.m = model_new(&cfg);
    if (!mt.m)
        errx(EXIT_DATA, "cannot build the model from %s", config ? config : init);
    if (init) {
        unsigned ck = CKPT_INIT_MISSING_HEAD;
        int same = init_cfg.K == cfg.K;
        for (int k = 0; same && k < cfg.K; k++)
            same = !strcmp(init_cfg.labels[k], cfg.labels[k]);
        if (!same)
            ck |= CKPT_NEW_HEAD;       /* other labels than the checkpoint's head: a new head */
        model_params p = *model_weights(mt.m);
        char notice[1024] = "";
        if (ckpt_load_params(init, &cfg, &p, ck, o.seed, notice, sizeof notice, e, sizeof e))
            errx(EXIT_DATA, "%s", e);
        if (*notice && !o.quiet)
            warnx("%s", notice);
    } else
        model_init_weights(mt.m, o.seed);

    train_task task;
    model_task_setup(&task, &mt);
    o.pad_id = cfg.pad_token_id;
    /* What a --resume must agree on. */
    json_t *run = train_cli_run("teacher-train", config, init, &o, &mt);
    json_object_set_new(run, "train_records", json_integer((json_int_t)train.n));
    json_t *jl = json_array();
    for (int k = 0; k < ls.K; k++)
        json_array_append_new(jl, json_string(ls.names[k]));
    json_object_set_new(run, "labels", jl);
    char *run_info = json_dumps(run, JSON_COMPACT | JSON_SORT_KEYS);
    o.run_info = run_info;
    if (!o.quiet)
        fprintf(stderr, "emo-teacher-train: %s model, %zu parameters, %d labels, %zu train / %zu val records, "
                "%d threads; lr %g%s%s%s\n", model_arch_name(cfg.arch), task.nparams, ls.K, train.n,
                val_path ? val.n : 0, threads, o.lr, *lr_why ? " (" : "", lr_why, *lr_why ? ")" : "");
    train_run(&task, &train, val_path ? &val : NULL, &o);

    free(run_info);
    json_decref(run);
    free(vocab_copy);
    model_task_free(&mt);
    model_free(mt.m);
    dataset_free(&train);
    if (val_path)
        dataset_free(&val);
    return 0;
}
