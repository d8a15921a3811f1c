/* The training loop shared by emo-teacher-train, emo-student-distill and emo-pretrain.
 *
 * A tool describes its model and loss as a train_task (callbacks over one batch) and its
 * data as a train_source (the batches of epoch e, re-creatable from (seed, e) alone: an
 * in-memory dataset's shuffles and dynamic batches (dataset.h) or a stream read from files
 * (train/stream.h)); the trainer owns everything else: epochs, AdamW with the linear warm-up/decay schedule and global-norm clipping
 * (nn/optim.h), progress on stderr, validation metrics, the JSON Lines log, early stopping,
 * checkpoints, --resume, signals and the NaN guard.
 *
 * Output directory OUT (emo-teacher-train(1), FILES):
 *   OUT/config.json, OUT/model.safetensors, ...   the best model so far (HF layout, loads
 *                                                  with from_pretrained); written by
 *                                                  task->save_model, file by file atomically;
 *                                                  a --max-steps stop before any epoch ended
 *                                                  writes the weights reached instead
 *   OUT/train_log.jsonl                            one JSON object per epoch (and every
 *                                                  log_every steps), rewritten atomically
 *   OUT/last/                                      the resume point, replaced as a whole
 *                                                  directory (temp + rename) after every
 *                                                  epoch and on SIGINT/SIGTERM:
 *       model files (task->save_model), optimizer.bin (AdamW m, v, step), trainer_state.json
 *       (epoch, batch position in the epoch, seed, dropout RNG state, best metric and epoch,
 *       epochs without improvement, log history, the options that must not change).
 *   OUT/emo_run.json, OUT/epoch-N/emo_run.json, OUT/last/emo_run.json
 *                                                  beside each model: the run's options
 *                                                  (run_info: tool, config, lr, epochs, ...)
 *                                                  and the epoch and step of those weights,
 *                                                  so a later --init knows what it starts from
 * After the last epoch, a run with a validation set says on stderr (one "warning:" line,
 * even with quiet; the exit status stays 0) when the kept model predicts a single class on
 * it or its accuracy is at or below the majority-class rate (logged per epoch as
 * val_pred_classes and val_majority).
 * The best model is written before last/, so a crash between the two is repaired by
 * redoing the epoch.  With the same seed and threads, --resume after kill -9 ends with the
 * weights an uninterrupted run ends with (tests/tools/teacher-train.bats checks this).
 *
 * Exit conventions (the trainer calls exit itself, being tool-side code): data/runtime
 * errors exit 1 with "emo-<tool>: ..."; SIGINT exits 130 and SIGTERM 143 after the step in
 * progress and a checkpoint; a non-finite loss or gradient exits 1 naming the step, epoch,
 * batch and record ids, leaving the last checkpoint as it was.
 *
 * Fault injection for tests (environment): EMO_TEST_KILL_AT_STEP=N sends SIGKILL to the
 * process right after step N (a deterministic kill -9); EMO_TEST_NAN_AT_STEP=N makes step
 * N's loss NaN. */
#ifndef EMO_TRAIN_TRAINER_H
#define EMO_TRAIN_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "nn/optim.h"
#include "train/dataset.h"
#include "util/rng.h"

/* Val metrics of one evaluation pass. */
typedef struct eval_result {
    double loss;             /* task loss, mean over records */
    double accuracy;         /* over labelled records */
    double f1_weighted;      /* sklearn f1_score(average="weighted", zero_division=0) */
    double f1_macro;
    size_t n, nlabelled;
    int pred_classes;        /* classes predicted for at least one labelled record */
    double majority;         /* share of the labelled records in their most frequent class */
} eval_result;

/* Why a model with these validation results is degenerate ("predicts a single class on the
 * validation set", or "is no better than the majority class ..." when accuracy <= majority),
 * or NULL: fine, or a validation set of one class (majority 1), where neither says anything. */
const char *train_degenerate(int pred_classes, double accuracy, double majority);

/* Accuracy and F1 from true and predicted class ids (labels < 0 skipped; every other
 * label and its prediction in [0, K)), through lib/metrics' classification report. */
void eval_scores(eval_result *r, const int32_t *truth, const int32_t *pred, size_t n, int K);

/* The metrics of one validation pass as the trainer logs them: "val_<key>" in the JSON log,
 * "<label> <value>" on the epoch line (label NULL: logged only).  Classification gives
 * loss, accuracy, f1_weighted, f1_macro; a task's own validate gives its set (emo-pretrain:
 * the masked-LM loss and masked-token accuracy as loss and accuracy).  Early stopping
 * reads the entry of key "loss", "accuracy" or "f1_weighted" (train_metric). */
#define EVAL_MAX_METRICS 8
typedef struct eval_metrics {
    int n;
    const char *key[EVAL_MAX_METRICS];
    const char *label[EVAL_MAX_METRICS];
    double value[EVAL_MAX_METRICS];
} eval_metrics;

void eval_metrics_add(eval_metrics *m, const char *key, const char *label, double value);
/* The value of key, or NAN if the set has none. */
double eval_metrics_get(const eval_metrics *m, const char *key);

/* Where the batches come from.  Epoch e's batches must depend only on (seed, e) and the
 * data, never on what ran before, so that --resume re-creates them: begin_epoch(e, skip)
 * positions the source at batch `skip` of epoch e (a stream replays the epoch and drops
 * the first skip batches), then next_batch fills b (ids, lens, labels, rec_ids, rows) with
 * the following ones.  Every epoch has nbatches batches. */
typedef struct train_source {
    void *ctx;
    uint64_t nbatches;
    int (*begin_epoch)(void *ctx, uint64_t epoch, uint64_t skip, char *err, size_t errn);
    /* 1 with a batch in b, 0 at the end of the epoch, -1 with a message in err */
    int (*next_batch)(void *ctx, batch *b, char *err, size_t errn);
} train_source;

/* The source over an in-memory dataset: epoch_plan_make(seed, epoch, shuffle 1) cut into
 * batches of B padded with pad_id (what train_run uses). */
typedef struct dataset_source {
    const dataset *ds;
    size_t B;
    uint64_t seed;
    int32_t pad_id;
    epoch_plan plan;
    size_t next;
} dataset_source;

void dataset_source_init(train_source *src, dataset_source *ds_src, const dataset *ds, size_t B, uint64_t seed,
                         int32_t pad_id);
void dataset_source_free(dataset_source *ds_src);

typedef struct train_task {
    void *ctx;
    int K;                   /* classes; logits are (B, K) */
    size_t nparams;
    float *params;           /* (nparams) updated by AdamW in place */
    float *grads;            /* (nparams) filled by train_step */
    const optim_range *decay;   /* weight-decay ranges of params */
    size_t ndecay;
    /* Zero the gradients, run forward (training mode, dropout from rng) and backward for
     * batch b; *loss = the batch's mean loss.  0, or -1 with a message in err. */
    int (*train_step)(void *ctx, const batch *b, rng_t *rng, double *loss, char *err, size_t errn);
    /* Forward without dropout: logits (B, K) and *loss (mean over the batch's rows). */
    int (*eval_batch)(void *ctx, const batch *b, float *logits, double *loss, char *err, size_t errn);
    /* Write the model into the existing directory dir (HF layout). */
    int (*save_model)(void *ctx, const char *dir, char *err, size_t errn);
    /* Load the parameters saved by save_model from dir (resume). */
    int (*load_model)(void *ctx, const char *dir, char *err, size_t errn);
    /* Optional loss terms (emo-student-distill's KD, label and attention terms): train_step
     * adds each term's batch mean times the batch size into term_sums[i]; after every epoch
     * the trainer logs term_sums[i] / records as "train_<term_names[i]>" (JSON log and the
     * epoch line) and zeroes them.  The sums are part of the --resume state. */
    int nterms;
    const char *const *term_names;
    double *term_sums;
    /* Optional: the task's own validation pass, used when train_run_source gets no val
     * dataset (emo-pretrain: the masked-LM loss and accuracy on its held-out records).
     * Fills m (eval_metrics_add); 0, or -1 with a message in err. */
    int (*validate)(void *ctx, eval_metrics *m, char *err, size_t errn);
    /* Optional, for data-parallel training: the count the last train_step's loss was a mean
     * over (emo-pretrain: its masked tokens); NULL: the batch's rows.  Each rank's gradient
     * is weighted by its share of the global batch's count. */
    double (*step_weight)(void *ctx);
    /* Optional, for data-parallel training: the model whose backward fills grads (grads is
     * its grad block), so the all-reduce can start on each part as the backward finishes it
     * (model_set_grad_hook).  NULL: the all-reduce starts after train_step. */
    model *model;
} train_task;

typedef enum { METRIC_F1, METRIC_ACCURACY, METRIC_LOSS } train_metric;

typedef struct train_opts {
    const char *out_dir;
    int epochs;
    size_t batch;
    double lr;
    double warmup_ratio;     /* warm-up steps = ratio * total steps (HF warmup_ratio) */
    adamw_cfg adamw;
    double clip;             /* max global gradient norm; 0: no clipping */
    uint64_t seed;
    int32_t pad_id;
    train_metric metric;     /* early stopping and "best" */
    int patience;            /* stop after this many epochs without improvement; 0: never */
    int resume;
    int log_every;           /* steps between progress lines / step log entries (0: 50) */
    int progress;            /* -1 auto (bar if stderr is a terminal), 0 plain lines, 1 bar */
    uint64_t max_steps;      /* stop (and checkpoint) after this many steps in total; 0: no
                                limit.  For tests and smoke runs. */
    const char *run_info;    /* JSON object text recorded in trainer_state.json (the tool's
                                options); with --resume, must equal the saved one */
    int quiet;               /* no progress or per-epoch lines (errors still print) */
    int keep_epochs;         /* also write the model after every epoch N to OUT/epoch-N/ (a
                                whole directory, atomically, before OUT/last) */
} train_opts;

#define TRAIN_OPTS_DEFAULTS { NULL, 10, 32, 2e-5, 0.0, ADAMW_DEFAULTS, 1.0, 42, 0, METRIC_F1, 0, 0, 0, -1, 0, NULL, 0, 0 }

/* This process's rank in a data-parallel run under mpirun (train_run_source, dist.h), 0
 * otherwise: the tools print their start-up lines on rank 0 alone (quiet elsewhere). */
int train_rank(void);

/* parse "f1" | "accuracy" | "loss"; -1 if unknown */
int train_metric_parse(const char *s, train_metric *m);
const char *train_metric_name(train_metric m);

/* Run training to the end (epochs, early stop, max_steps) and return 0; exits on errors
 * and signals as described above.  val may be NULL (no evaluation; the last epoch is kept
 * as the best).  Prepares out_dir: creates it; refuses an existing OUT/last without
 * --resume; with --resume, loads OUT/last. */
int train_run(const train_task *task, const dataset *train, const dataset *val, const train_opts *o);
/* The same over any batch source; val NULL: task->validate if set, else no evaluation. */
int train_run_source(const train_task *task, const train_source *src, const dataset *val, const train_opts *o);

/* Evaluate task over ds (batches of B, longest first): metrics, and optionally the
 * predicted class of every row (pred, (ds->n)). */
int train_evaluate(const train_task *task, const dataset *ds, size_t B, int32_t pad_id, eval_result *res,
                   int32_t *pred, char *err, size_t errn);

#endif
