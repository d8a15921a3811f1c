/* The command-line options emo-teacher-train and emo-student-distill share: the trainer's
 * (learning rate, schedule, batch, epochs, early stopping, seed, threads, resume, ...) and
 * the label loss's (focal/ce, focal alpha/gamma, label smoothing).  One table, one parser,
 * so the two tools take them with the same names, ranges and messages. */
#ifndef EMO_TRAIN_CLI_H
#define EMO_TRAIN_CLI_H

#include <getopt.h>

#include <jansson.h>

#include "model/config.h"
#include "train/model_task.h"
#include "train/trainer.h"

/* getopt_long values, above any tool's own */
enum {
    TCLI_LOSS = 1000, TCLI_FALPHA, TCLI_FGAMMA, TCLI_SMOOTH, TCLI_LR, TCLI_WARMUP, TCLI_WD, TCLI_CLIP,
    TCLI_BATCH, TCLI_EPOCHS, TCLI_METRIC, TCLI_PATIENCE, TCLI_SEED, TCLI_THREADS, TCLI_VOCAB, TCLI_RESUME,
    TCLI_MAXSTEPS, TCLI_LOGEVERY,
};

/* struct option entries for the table of a tool, followed by its own: the trainer's
 * options, then the label loss's (emo-pretrain takes the first set only) */
#define TRAIN_CLI_LONGOPTS_TRAINER                                                                \
    { "lr", required_argument, NULL, TCLI_LR }, { "warmup-ratio", required_argument, NULL, TCLI_WARMUP }, \
    { "weight-decay", required_argument, NULL, TCLI_WD }, { "clip", required_argument, NULL, TCLI_CLIP }, \
    { "batch", required_argument, NULL, TCLI_BATCH }, { "epochs", required_argument, NULL, TCLI_EPOCHS }, \
    { "early-stop-metric", required_argument, NULL, TCLI_METRIC },                                \
    { "patience", required_argument, NULL, TCLI_PATIENCE }, { "seed", required_argument, NULL, TCLI_SEED }, \
    { "threads", required_argument, NULL, TCLI_THREADS }, { "vocab", required_argument, NULL, TCLI_VOCAB }, \
    { "resume", no_argument, NULL, TCLI_RESUME }, { "max-steps", required_argument, NULL, TCLI_MAXSTEPS }, \
    { "log-every", required_argument, NULL, TCLI_LOGEVERY }

#define TRAIN_CLI_LONGOPTS_LOSS                                                                   \
    { "loss", required_argument, NULL, TCLI_LOSS }, { "focal-alpha", required_argument, NULL, TCLI_FALPHA },  \
    { "focal-gamma", required_argument, NULL, TCLI_FGAMMA },                                      \
    { "label-smoothing", required_argument, NULL, TCLI_SMOOTH }

#define TRAIN_CLI_LONGOPTS TRAIN_CLI_LONGOPTS_LOSS, TRAIN_CLI_LONGOPTS_TRAINER

/* Their --help lines (cli_help.options), the tool's man page has the defaults */
#define TRAIN_CLI_HELP_TRAINER                                                                    \
    "      --batch N           records per batch\n"                                             \
    "      --clip NORM         largest global gradient norm; 0: no clipping\n"                  \
    "      --early-stop-metric M  the metric that picks the best model and stops early\n"       \
    "      --epochs N          passes over the training data\n"                                 \
    "      --log-every N       steps between progress lines and log entries (50)\n"             \
    "      --lr LR             peak learning rate\n"                                            \
    "      --max-steps N       stop after N optimizer steps\n"                                  \
    "      --patience N        stop after N evaluations without improvement\n"                  \
    "      --resume            continue the run in the output directory\n"                      \
    "      --seed N            seed of initialisation, data order and dropout (42)\n"           \
    "      --threads N         threads for the matrix products (all cores)\n"                   \
    "      --vocab FILE        vocabulary copied into the checkpoint\n"                         \
    "      --warmup-ratio R    share of all steps spent warming up\n"                           \
    "      --weight-decay WD   AdamW weight decay (0.01)\n"

#define TRAIN_CLI_HELP_LOSS                                                                       \
    "      --focal-alpha A     focal loss alpha (0.25)\n"                                       \
    "      --focal-gamma G     focal loss gamma (2)\n"                                          \
    "      --label-smoothing E label smoothing of the targets\n"                                \
    "      --loss LOSS         label loss: focal or ce (focal)\n"

typedef struct train_cli {
    int threads;          /* --threads, 0: the cores */
    const char *vocab;    /* --vocab */
    int lr_set, warmup_set, epochs_set;   /* given on the command line (else tool defaults) */
} train_cli;

/* Apply option c (with arg) to o, mt and t; 1 if c is one of the shared options, else 0.
 * A bad value exits 2 naming the option.  mt may be NULL for a tool without the loss
 * options (then they are not in its table). */
int train_cli_option(int c, const char *arg, train_opts *o, model_task *mt, train_cli *t);

/* The default peak learning rate of a run that starts from the checkpoint directory init
 * (its config c): TRAIN_SMALL_INIT_LR when init was made by emo-pretrain (its emo_run.json
 * says "tool": "pretrain") or the model is small (hidden size <= TRAIN_SMALL_H), else
 * hub_lr (the rate for a Hub bert-base).  why (may be NULL) gets a few words saying which. */
#define TRAIN_SMALL_INIT_LR 1e-4
#define TRAIN_SMALL_H 256
double train_cli_init_lr(const char *init, const model_config *c, double hub_lr, char *why, size_t whyn);

/* 1 if the checkpoint directory init holds random weights (made by emo ckpt init, or
 * trimmed from such a checkpoint: its emo_run.json says "tool": "ckpt init"), else 0.  The
 * trainers then take their from-scratch defaults (learning rate, warm-up, epochs). */
int train_cli_init_is_random(const char *init);

/* The "run" object of a trainer's emo_run.json, what a --resume must agree on: the tool,
 * its --config and --init (null when not given), the trainer's options o and, when mt is
 * not NULL, the label loss's (loss, focal_alpha, focal_gamma, label_smoothing).  The tool
 * adds its own keys; json_dumps it with JSON_SORT_KEYS. */
json_t *train_cli_run(const char *tool, const char *config, const char *init, const train_opts *o,
                      const model_task *mt);

#endif
