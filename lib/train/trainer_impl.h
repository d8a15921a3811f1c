/* The trainer's insides: private to lib/train, shared by
 *   trainer.c        the loop (signals, progress, the data-parallel step)
 *   trainer_eval.c   the validation pass and its metrics
 *   trainer_state.c  the state I/O: OUT/last (model, emo_run.json, optimizer.bin,
 *                    trainer_state.json), OUT/epoch-N, OUT/train_log.jsonl (trainer.h,
 *                    "Output directory")
 * Each includes this header and none of the others'.  The state I/O writes every file to a
 * temporary name renamed into place and exits on any failure (EXIT_DATA, or EXIT_USAGE
 * for a --resume whose options differ from the run's). */
#ifndef EMO_TRAINER_IMPL_H
#define EMO_TRAINER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "nn/optim.h"
#include "train/trainer.h"
#include "util/rng.h"

/* Where a run is: what OUT/last/trainer_state.json saves. */
typedef struct train_state {
    uint64_t epoch;          /* epochs finished */
    uint64_t pos;            /* batches done in epoch `epoch` */
    uint64_t step;           /* optimizer steps done */
    double epoch_loss_sum;   /* sum of batch loss * B in the current epoch */
    uint64_t epoch_seen;
    double log_loss_sum;     /* since the last step log entry */
    uint64_t log_n;
    double best;             /* best metric value; NAN before the first evaluation */
    int64_t best_epoch;      /* 1-based epoch of the best model; 0 none */
    int64_t bad_epochs;      /* epochs since the best */
    int stopped_early;
    rng_t rng;               /* dropout */
    json_t *log;             /* array of log objects */
} train_state;

/* trainer_eval.c */
/* train_evaluate split over the MPI ranks (dist.h): the same bits as in one process. */
int train_evaluate_split(const train_task *task, const dataset *ds, size_t B, int32_t pad_id,
                         eval_result *res, char *err, size_t errn);

/* trainer_state.c */
/* OUT/last as a whole: model, emo_run.json, optimizer.bin, trainer_state.json. */
void trainer_save_last(const train_task *task, const train_opts *o, const train_state *s,
                       const adamw_state *opt);
/* trainer_state.json at path into s and task->term_sums (s->log a new reference). */
void trainer_read_state(const train_task *task, const char *path, train_state *s,
                        const train_opts *o);
/* optimizer.bin at path into st, whose n must match. */
void trainer_read_optimizer(const char *path, adamw_state *st);
/* OUT/train_log.jsonl from the log array. */
void trainer_write_log(const char *out_dir, const json_t *log);
/* DIR/emo_run.json beside a saved model: the run's options and where the weights are from. */
void trainer_write_run_file(const char *dir, const train_opts *o, uint64_t epoch, uint64_t step);
/* OUT/epoch-N: the model after epoch N, a whole directory replaced atomically. */
void trainer_save_epoch(const train_task *task, const train_opts *o, uint64_t epoch, uint64_t step);
/* Removes what killed runs left in OUT (trainer_state.c says what). */
void trainer_remove_stale_temps(const char *dir);

#endif
