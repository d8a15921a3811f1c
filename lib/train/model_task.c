/* train_task over the transformer engine (model_task.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ckpt.h"
#include "nn/loss.h"
#include "train/model_task.h"
#include "util/util.h"

void model_task_setup(train_task *t, model_task *mt)
{
    const model_config *c = model_get_config(mt->m);
    memset(t, 0, sizeof *t);
    t->ctx = mt;
    t->K = c->K;
    t->nparams = model_num_params(mt->m);
    t->params = model_param_block(mt->m);
    t->grads = model_grad_block(mt->m);
    t->model = mt->m;
    t->ndecay = optim_decay_ranges(mt->decay, c);
    t->decay = mt->decay;
    t->train_step = model_task_train_step;
    t->eval_batch = model_task_eval;
    t->save_model = model_task_save;
    t->load_model = model_task_load;
}

void model_task_free(model_task *mt)
{
    free(mt->dlogits);
    mt->dlogits = NULL;
    mt->dcap = 0;
}

double model_task_label_loss(const model_task *mt, float *dlogits, const float *logits, const int32_t *labels,
                             size_t B, size_t K)
{
    if (mt->loss == TASK_LOSS_CE)
        return crossentropy_loss_and_grad(dlogits, 1.0f, logits, labels, B, K, mt->smoothing);
    return focal_loss_and_grad(dlogits, 1.0f, logits, labels, B, K, mt->focal_alpha, mt->focal_gamma, mt->smoothing);
}

int model_task_train_step(void *ctx, const batch *b, rng_t *rng, double *loss, char *err, size_t errn)
{
    model_task *mt = ctx;
    size_t K = (size_t)model_get_config(mt->m)->K, need = (size_t)b->B * K;
    if (need > mt->dcap) {
        free(mt->dlogits);
        mt->dlogits = xmalloc(need * sizeof *mt->dlogits);
        mt->dcap = need;
    }
    model_zero_grad(mt->m);
    if (model_forward(mt->m, b->ids, b->lens, b->B, b->T, MODEL_TRAIN, rng)) {
        snprintf(err, errn, "%s", model_error(mt->m));
        return -1;
    }
    memset(mt->dlogits, 0, need * sizeof *mt->dlogits);
    *loss = model_task_label_loss(mt, mt->dlogits, model_logits(mt->m), b->labels, (size_t)b->B, K);
    if (model_backward(mt->m, mt->dlogits, NULL)) {
        snprintf(err, errn, "%s", model_error(mt->m));
        return -1;
    }
    return 0;
}

int model_task_eval(void *ctx, const batch *b, float *logits, double *loss, char *err, size_t errn)
{
    model_task *mt = ctx;
    size_t K = (size_t)model_get_config(mt->m)->K;
    if (model_forward(mt->m, b->ids, b->lens, b->B, b->T, MODEL_INFER, NULL)) {
        snprintf(err, errn, "%s", model_error(mt->m));
        return -1;
    }
    memcpy(logits, model_logits(mt->m), (size_t)b->B * K * sizeof *logits);
    *loss = model_task_label_loss(mt, NULL, logits, b->labels, (size_t)b->B, K);
    return 0;
}

int model_task_save(void *ctx, const char *dir, char *err, size_t errn)
{
    model_task *mt = ctx;
    if (ckpt_write_dir(dir, model_get_config(mt->m), model_weights(mt->m), mt->vocab_path, err, errn))
        return -1;
    return textcfg_save(dir, &mt->text, err, errn);
}

char *model_task_text_setup(model_task *mt, const dataset *train, const char *vocab, const char *const *dirs,
                            int ndirs)
{
    mt->text = train->text;
    for (int i = 0; i < ndirs && !mt->text.has_clean && !mt->text.max_len; i++) {
        char e[512];
        if (dirs[i] && textcfg_load(dirs[i], &mt->text, e, sizeof e) < 0)
            memset(&mt->text, 0, sizeof mt->text);
    }
    if (vocab)
        return xstrdup(vocab);
    for (int i = 0; i < ndirs; i++) {
        char *p = dirs[i] ? ckpt_vocab_path(dirs[i]) : NULL;
        if (p)
            return p;
    }
    return NULL;
}

int model_task_load(void *ctx, const char *dir, char *err, size_t errn)
{
    model_task *mt = ctx;
    model_params p = *model_weights(mt->m);
    char notice[512];
    return ckpt_load_params(dir, model_get_config(mt->m), &p, 0, 0, notice, sizeof notice, err, errn);
}
