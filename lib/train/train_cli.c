#include <err.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "train/train_cli.h"
#include "util/util.h"

int train_cli_option(int c, const char *arg, train_opts *o, model_task *mt, train_cli *t)
{
    switch (c) {
    case TCLI_LOSS:
        if (!strcmp(arg, "focal"))
            mt->loss = TASK_LOSS_FOCAL;
        else if (!strcmp(arg, "ce"))
            mt->loss = TASK_LOSS_CE;
        else
            errx(EXIT_USAGE, "option --loss: '%s' is not focal or ce", arg);
        return 1;
    case TCLI_FALPHA: mt->focal_alpha = xparse_double("--focal-alpha", arg, 0, 1e6); return 1;
    case TCLI_FGAMMA: mt->focal_gamma = xparse_double("--focal-gamma", arg, 0, 100); return 1;
    case TCLI_SMOOTH: mt->smoothing = xparse_double("--label-smoothing", arg, 0, 1); return 1;
    case TCLI_LR: o->lr = xparse_double("--lr", arg, 0, 10); t->lr_set = 1; return 1;
    case TCLI_WARMUP: o->warmup_ratio = xparse_double("--warmup-ratio", arg, 0, 1); t->warmup_set = 1; return 1;
    case TCLI_WD: o->adamw.weight_decay = xparse_double("--weight-decay", arg, 0, 10); return 1;
    case TCLI_CLIP: o->clip = xparse_double("--clip", arg, 0, 1e9); return 1;
    case TCLI_BATCH: o->batch = (size_t)xparse_ll("--batch", arg, 1, 1 << 16); return 1;
    case TCLI_EPOCHS: o->epochs = (int)xparse_ll("--epochs", arg, 1, 100000); t->epochs_set = 1; return 1;
    case TCLI_METRIC:
        if (train_metric_parse(arg, &o->metric))
            errx(EXIT_USAGE, "option --early-stop-metric: '%s' is not f1, accuracy or loss", arg);
        return 1;
    case TCLI_PATIENCE: o->patience = (int)xparse_ll("--patience", arg, 0, 100000); return 1;
    case TCLI_SEED: o->seed = (uint64_t)xparse_ll("--seed", arg, 0, INT64_MAX); return 1;
    case TCLI_THREADS: t->threads = (int)xparse_ll("--threads", arg, 1, 1024); return 1;
    case TCLI_VOCAB: t->vocab = arg; return 1;
    case TCLI_RESUME: o->resume = 1; return 1;
    case TCLI_MAXSTEPS: o->max_steps = (uint64_t)xparse_ll("--max-steps", arg, 1, INT64_MAX); return 1;
    case TCLI_LOGEVERY: o->log_every = (int)xparse_ll("--log-every", arg, 1, 1 << 30); return 1;
    }
    return 0;
}

int train_cli_init_is_random(const char *init)
{
    char *p = path_join(init, "emo_run.json");
    json_t *j = json_load_file(p, 0, NULL);
    free(p);
    const char *tool = json_string_value(json_object_get(j, "tool"));
    int random = tool && !strcmp(tool, "ckpt init");
    json_decref(j);
    return random;
}

double train_cli_init_lr(const char *init, const model_config *c, double hub_lr, char *why, size_t whyn)
{
    char *p = path_join(init, "emo_run.json");
    json_t *j = json_load_file(p, 0, NULL);
    free(p);
    const char *tool = json_string_value(json_object_get(j, "tool"));
    int pretrained_here = tool && !strcmp(tool, "pretrain");
    double lr = hub_lr;
    if (pretrained_here) {
        const char *cfg = json_string_value(json_object_get(j, "config"));
        json_t *ep = json_object_get(j, "epoch");
        if (why)
            snprintf(why, whyn, "masked-LM pretrained by emo pretrain (%s, %lld epochs)", cfg ? cfg : "--init",
                     (long long)json_integer_value(ep));
        lr = TRAIN_SMALL_INIT_LR;
    } else if (c->H <= TRAIN_SMALL_H) {
        if (why)
            snprintf(why, whyn, "a small model (hidden size %d <= %d)", c->H, TRAIN_SMALL_H);
        lr = TRAIN_SMALL_INIT_LR;
    } else if (why)
        snprintf(why, whyn, "a pretrained model of hidden size %d", c->H);
    json_decref(j);
    return lr;
}

json_t *train_cli_run(const char *tool, const char *config, const char *init, const train_opts *o,
                      const model_task *mt)
{
    json_t *run = json_pack("{s:s, s:s?, s:s?, s:f, s:f, s:f, s:f, s:I, s:i, s:s, s:i}", "tool", tool, "config",
                            config, "init", init, "lr", o->lr, "warmup_ratio", o->warmup_ratio, "weight_decay",
                            o->adamw.weight_decay, "clip", o->clip, "batch", (json_int_t)o->batch, "epochs",
                            o->epochs, "early_stop_metric", train_metric_name(o->metric), "patience", o->patience);
    if (mt) {
        json_t *loss = json_pack("{s:s, s:f, s:f, s:f}", "loss", mt->loss == TASK_LOSS_CE ? "ce" : "focal",
                                 "focal_alpha", mt->focal_alpha, "focal_gamma", mt->focal_gamma, "label_smoothing",
                                 mt->smoothing);
        json_object_update(run, loss);
        json_decref(loss);
    }
    return run;
}
