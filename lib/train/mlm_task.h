/* The masked-LM train_task of emo-pretrain (BERT's pretraining objective without NSP).
 *
 * A training step masks every row of the batch (mlm_mask_row with the batch's epoch and
 * each record's ordinal as key: the mask does not depend on the batch it lands in), runs
 * model_forward on the corrupted ids, model_mlm_forward at the M chosen positions, and
 * takes the cross-entropy against the original ids, averaged over the batch's M chosen
 * tokens (transformers' BertForMaskedLM loss); its gradient goes back through
 * model_mlm_backward.  A batch with no chosen token has loss 0 and zero gradients.
 * Validation (train_task.validate) runs the held-out records with one fixed mask
 * (MLM_EVAL_EPOCH) and no dropout: the masked-LM loss (mean over every chosen token of
 * the hold-out) and the masked-token accuracy (argmax == original), as "loss" and
 * "accuracy".  Checkpoints are model_task's (HF layout; *ForMaskedLM with mlm == 1). */
#ifndef EMO_TRAIN_MLM_TASK_H
#define EMO_TRAIN_MLM_TASK_H

#include <stdio.h>

#include "train/dataset.h"
#include "train/mlm_mask.h"
#include "train/model_task.h"
#include "train/trainer.h"

typedef struct mlm_task {
    model_task base;          /* .m (mlm == 1), .vocab_path */
    mlm_mask_cfg mask;
    const dataset *holdout;   /* validation records; NULL or n == 0: no validation */
    size_t eval_batch;
    /* scratch, grown on demand */
    int32_t *ids, *pos, *target;   /* (B*T) corrupted ids; flat positions and targets (M) */
    float *dmlm;                   /* (M, V) */
    size_t cap_ids, cap_dmlm;
    int last_M;                    /* masked tokens of the last train_step (step_weight) */
} mlm_task;

/* Fill t with the callbacks (ctx = mt); mt->base.m, mt->mask and mt->holdout must be set. */
void mlm_task_setup(train_task *t, mlm_task *mt);
void mlm_task_free(mlm_task *mt);

/* Corrupt batch b for epoch `epoch` into mt->ids (B, T), with the M chosen flat positions
 * b*T + t in mt->pos and their original ids in mt->target; returns M. */
int mlm_task_mask_batch(mlm_task *mt, const batch *b, uint64_t epoch);

/* For benchmarks (bench/pretrain/pretrain.sh): write epoch `epoch` of src as the model would
 * see it, batch by batch: int32 B, T, M, then ids (B, T) after masking, lens (B), pos (M),
 * target (M), all little-endian int32.  0, or -1 with a message. */
int mlm_task_dump_epoch(mlm_task *mt, const train_source *src, uint64_t epoch, FILE *f, char *err, size_t errn);

/* Mean cross-entropy of logits (M, V) against target (M); with dlogits (M, V, overwritten)
 * its gradient (softmax - onehot) / M; *correct (may be NULL) counts rows whose argmax is
 * the target.  Sum of the rows' losses in *sum (may be NULL).  Rows run in parallel
 * (par_for), each row by the same code: the result does not depend on the thread count. */
double mlm_loss_and_grad(float *dlogits, const float *logits, const int32_t *target, int M, int V, long *correct,
                         double *sum);

#endif
