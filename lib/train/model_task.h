/* A train_task (trainer.h) over the transformer engine (model/model.h): forward/backward
 * through model_forward/model_backward, checkpoints in Hugging Face layout through
 * model/ckpt.h.  emo-teacher-train uses it whole (focal or cross-entropy on the labels);
 * emo-student-distill keeps save/load/eval and replaces train_step with its KD loss,
 * calling model_task_label_loss for the hard-label term if it wants the same focal loss. */
#ifndef EMO_TRAIN_MODEL_TASK_H
#define EMO_TRAIN_MODEL_TASK_H

#include "model/model.h"
#include "model/textcfg.h"
#include "nn/optim.h"
#include "train/dataset.h"
#include "train/trainer.h"

typedef enum { TASK_LOSS_FOCAL, TASK_LOSS_CE } task_loss;

typedef struct model_task {
    model *m;
    const char *vocab_path;     /* copied into every checkpoint (vocab.txt); may be NULL */
    textcfg text;               /* written into every checkpoint (emo_text.json) if known */
    task_loss loss;
    double focal_alpha;         /* 0.25 */
    double focal_gamma;         /* 2 */
    double smoothing;           /* label smoothing eps; 0 */
    optim_range decay[MODEL_NUM_PARAM_TENSORS];
    float *dlogits;             /* (B, K) scratch */
    size_t dcap;
} model_task;

/* Fills t with the model_task callbacks and ctx = mt; mt->m must be set.  Parameters and
 * gradients are the model's blocks; weight decay follows optim_decay_ranges (HF Trainer). */
void model_task_setup(train_task *t, model_task *mt);
void model_task_free(model_task *mt);

/* The configured label loss of logits (B, K) against labels (B, -1 = none); with dlogits
 * != NULL its gradient is added there. */
double model_task_label_loss(const model_task *mt, float *dlogits, const float *logits, const int32_t *labels,
                             size_t B, size_t K);

/* What every checkpoint of a training run carries about its text (emo-checkpoint(5)).
 * The vocabulary: vocab (--vocab), else the vocab.txt of the first of dirs (init, teacher)
 * that has one.  mt->text: the training stream's header, else the first of dirs with an
 * emo_text.json.  Returns the vocabulary path (free it) or NULL. */
char *model_task_text_setup(model_task *mt, const dataset *train, const char *vocab, const char *const *dirs,
                            int ndirs);

int model_task_train_step(void *ctx, const batch *b, rng_t *rng, double *loss, char *err, size_t errn);
int model_task_eval(void *ctx, const batch *b, float *logits, double *loss, char *err, size_t errn);
int model_task_save(void *ctx, const char *dir, char *err, size_t errn);
int model_task_load(void *ctx, const char *dir, char *err, size_t errn);

#endif
