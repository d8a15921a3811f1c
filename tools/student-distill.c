/* emo-student-distill: distil a DistilBERT- or ALBERT-style student from the teacher's
 * cached soft targets and attention maps (or a teacher run on the fly).  The objective is
 * lib/train/distill_task.h; the loop, checkpoints and --resume are lib/train/trainer.c,
 * shared with emo-teacher-train. */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/ckpt.h"
#include "model/config.h"
#include "train/distill_task.h"
#include "train/train_cli.h"
#include "train/trainer.h"
#include "util/cli.h"
#include "util/par.h"
#include "util/util.h"

/* A student that does not start from a pretrained checkpoint (a preset, or the teacher's
 * layers) needs a larger learning rate with warm-up: the values emo-teacher-train uses
 * from scratch (see the man page for how they were chosen). */
#define SCRATCH_LR 5e-4
#define SCRATCH_WARMUP 0.1
#define FROM_TEACHER_LR 1e-4
/* From --init: the paper's rate for a Hub checkpoint; a small model or one pretrained by
 * emo pretrain gets TRAIN_SMALL_INIT_LR (train_cli_init_lr). */
#define HUB_LR 1e-5

static const cli_help help = {
    "student-distill",
    "usage: emo student-distill --train FILE --val FILE (--teacher-cache DIR | --teacher CKPT_DIR)\n"
    "           --config PRESET|config.json|DIR [--init HF_DIR | --init-from-teacher] -o CKPT_DIR\n"
    "           [--alpha A] [--temperature T] [--label-smoothing E] [--loss focal|ce] [--focal-alpha A]\n"
    "           [--focal-gamma G] [--attn-loss kl|mse|none] [--attn-weight W] [--layer-map uniform|last|S:T,...]\n"
    "           [--lr LR] [--warmup-ratio R] [--weight-decay WD] [--clip NORM] [--batch N] [--epochs N]\n"
    "           [--early-stop-metric f1|accuracy|loss] [--patience N] [--seed N] [--threads N]\n"
    "           [--vocab FILE] [--resume] [--max-steps N] [--log-every N] [-q]\n",
    "      --alpha A           weight of the KL term, 0 to 1 (0.8)\n"
    "      --attn-loss WHAT    attention alignment: kl, mse or none (kl)\n"
    "      --attn-weight W     weight of the attention term (1)\n"
    "      --config SPEC       student architecture: a preset, a config.json or a directory\n"
    "      --init HF_DIR       start from this checkpoint\n"
    "      --init-from-teacher copy the teacher's embeddings and every other layer\n"
    "      --layer-map MAP     student to teacher layers: uniform, last or S:T,... (uniform)\n"
    "  -o, --output DIR        the checkpoint directory to write\n"
    "  -q, --quiet             no progress or epoch lines\n"
    "      --teacher CKPT_DIR  the teacher, run on every batch\n"
    "      --teacher-cache DIR the teacher's cached targets (emo teacher-logits -o)\n"
    "      --temperature T     softmax temperature of the KL term (1.5)\n"
    "      --train FILE        the training record stream\n"
    "      --val FILE          the validation record stream\n"
    TRAIN_CLI_HELP_LOSS TRAIN_CLI_HELP_TRAINER,
};

enum { O_TRAIN = 256, O_VAL, O_CACHE, O_TEACHER, O_CONFIG, O_INIT, O_FROM_TEACHER, O_ALPHA, O_TEMP, O_ATTN, O_ATTNW,
       O_MAP };

static model *load_teacher(const char *dir, model_config *tc)
{
    char e[1024], notice[512];
    if (model_config_resolve(dir, tc, e, sizeof e))
        errx(EXIT_USAGE, "--teacher: %s", e);
    model *t = model_new(tc);
    if (!t)
        errx(EXIT_DATA, "%s: cannot build the teacher model", dir);
    model_params p = *model_weights(t);
    if (ckpt_load_params(dir, tc, &p, 0, 0, notice, sizeof notice, e, sizeof e))
        errx(EXIT_DATA, "%s", e);
    return t;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TRAIN_CLI_LONGOPTS,
        { "train", required_argument, NULL, O_TRAIN }, { "val", required_argument, NULL, O_VAL },
        { "teacher-cache", required_argument, NULL, O_CACHE }, { "teacher", required_argument, NULL, O_TEACHER },
        { "config", required_argument, NULL, O_CONFIG }, { "init", required_argument, NULL, O_INIT },
        { "init-from-teacher", no_argument, NULL, O_FROM_TEACHER }, { "output", required_argument, NULL, 'o' },
        { "alpha", required_argument, NULL, O_ALPHA }, { "temperature", required_argument, NULL, O_TEMP },
        { "attn-loss", required_argument, NULL, O_ATTN }, { "attn-weight", required_argument, NULL, O_ATTNW },
        { "layer-map", required_argument, NULL, O_MAP }, { "quiet", no_argument, NULL, 'q' },
        CLI_LONGOPTS, { NULL, 0, NULL, 0 },
    };
    const char *train_path = NULL, *val_path = NULL, *cache_dir = NULL, *teacher_dir = NULL, *config = NULL;
    const char *init = NULL, *map = "uniform", *attn_name = "kl";
    int from_teacher = 0, threads, c;
    train_cli tc = { 0 };
    train_opts o = TRAIN_OPTS_DEFAULTS;
    distill_task d = { 0 };
    d.student.loss = TASK_LOSS_FOCAL;
    d.student.focal_alpha = 0.25;
    d.student.focal_gamma = 2;
    d.student.smoothing = 0.1;
    d.alpha = 0.8;
    d.temperature = 1.5;
    d.attn_weight = 1.0;
    o.lr = 1e-5;
    o.batch = 64;
    o.epochs = 20;
    o.patience = 5;
    while ((c = getopt_long(argc, argv, "ho:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'o': o.out_dir = optarg; break;
        case 'q': o.quiet = 1; break;
        case O_TRAIN: train_path = optarg; break;
        case O_VAL: val_path = optarg; break;
        case O_CACHE: cache_dir = optarg; break;
        case O_TEACHER: teacher_dir = optarg; break;
        case O_CONFIG: config = optarg; break;
        case O_INIT: init = optarg; break;
        case O_FROM_TEACHER: from_teacher = 1; break;
        case O_ALPHA: d.alpha = xparse_double("--alpha", optarg, 0, 1); break;
        case O_TEMP: d.temperature = xparse_double("--temperature", optarg, 1e-3, 1e3); break;
        case O_ATTN:
            if (strcmp(optarg, "kl") && strcmp(optarg, "mse") && strcmp(optarg, "none"))
                errx(EXIT_USAGE, "option --attn-loss: '%s' is not kl, mse or none", optarg);
            attn_name = optarg;
            break;
        case O_ATTNW: d.attn_weight = xparse_double("--attn-weight", optarg, 0, 1e6); break;
        case O_MAP: map = optarg; break;
        default:
            if (!train_cli_option(c, optarg, &o, &d.student, &tc))
                cli_usage(&help, EXIT_USAGE);
        }
    }
    d.attn_on = strcmp(attn_name, "none") != 0 && d.attn_weight > 0;
    d.attn_kind = !strcmp(attn_name, "mse") ? ATTN_ALIGN_MSE : ATTN_ALIGN_KL;
    int need_teacher = d.alpha > 0 || d.attn_on;
    if (optind != argc || !train_path || !val_path || !o.out_dir || (!config && !init))
        cli_usage(&help, EXIT_USAGE);
    if (cache_dir && teacher_dir && !from_teacher)   /* both: the checkpoint only initialises */
        errx(EXIT_USAGE, "give --teacher-cache or --teacher, not both (both only with --init-from-teacher)");
    if (need_teacher && !cache_dir && !teacher_dir)
        errx(EXIT_USAGE, "distillation needs --teacher-cache DIR or --teacher CKPT_DIR (or --alpha 0 "
             "--attn-loss none for a student trained on the labels alone)");
    if (init && from_teacher)
        errx(EXIT_USAGE, "give --init or --init-from-teacher, not both");
    char *in_dirs[3];
    size_t nin = 0;
    if (init)
        in_dirs[nin++] = (char *)init;
    if (teacher_dir)
        in_dirs[nin++] = (char *)teacher_dir;
    if (cache_dir)
        in_dirs[nin++] = (char *)cache_dir;
    if (nin)
        refuse_output_is_input(o.out_dir, in_dirs, nin);   /* a checkpoint or cache would be overwritten */
    if (from_teacher && !teacher_dir)
        errx(EXIT_USAGE, "--init-from-teacher needs the teacher's checkpoint: --teacher CKPT_DIR");
    int scratch = !init || train_cli_init_is_random(init);   /* random weights: scratch defaults */
    if (scratch) {
        if (!tc.lr_set)
            o.lr = from_teacher ? FROM_TEACHER_LR : SCRATCH_LR;
        if (!tc.warmup_set)
            o.warmup_ratio = SCRATCH_WARMUP;
    }
    if (train_rank() > 0)
        o.quiet = 1;                  /* under mpirun, rank 0 alone reports */
    threads = threads_setup(tc.threads);
    const char *vocab = tc.vocab;

    char e[1024];
    model_config cfg;
    if (model_config_resolve(config ? config : init, &cfg, e, sizeof e))
        errx(EXIT_USAGE, "%s", e);
    char lr_why[256] = "";
    if (init && scratch && !tc.lr_set)
        snprintf(lr_why, sizeof lr_why, "random weights from emo ckpt init: the from-scratch defaults");
    if (!scratch && !tc.lr_set)       /* what the init is: emo-student-distill(1), Training */
        o.lr = train_cli_init_lr(init, &cfg, HUB_LR, lr_why, sizeof lr_why);

    /* The teacher fixes the labels (their order is the order of its logits) and the layers. */
    model_config tcfg;
    labelset ls = { 0 };
    int t_L = 0;
    if (teacher_dir && !cache_dir) {
        d.teacher = load_teacher(teacher_dir, &tcfg);
        ls.K = tcfg.K;
        memcpy(ls.names, tcfg.labels, sizeof ls.names);
        t_L = tcfg.L;
        d.t_NH = tcfg.NH;
    } else if (cache_dir) {
        d.cache = shard_reader_open(cache_dir, 8, e, sizeof e);
        if (!d.cache)
            errx(EXIT_DATA, "%s", e);
        const shard_meta *m = shard_reader_meta(d.cache);
        ls.K = m->K;
        memcpy(ls.names, m->labels, sizeof ls.names);
        d.t_NH = m->NH;
        /* The layer map needs the teacher's depth: from its checkpoint if it is where the
         * cache says, else the deepest cached layer (a cache moved to another machine). */
        if (!model_config_resolve(m->teacher, &tcfg, e, sizeof e))
            t_L = tcfg.L;
        else
            for (int i = 0; i < m->NL; i++)
                if (m->layers[i] + 1 > t_L)
                    t_L = m->layers[i] + 1;
    }
    dataset train, val;
    unsigned flags = need_teacher ? 0 : DS_REQUIRE_LABEL;   /* unlabelled records learn from the KD term */
    if (!need_teacher)
        flags |= DS_ADD_LABELS;
    dataset_load(&train, train_path, &ls, flags, cfg.P);
    if (flags & DS_ADD_LABELS)
        labelset_sort_remap(&ls, &train);
    dataset_load(&val, val_path, &ls, DS_REQUIRE_LABEL, cfg.P);
    int32_t max_id = train.max_id > val.max_id ? train.max_id : val.max_id;
    if (max_id >= cfg.V)
        errx(EXIT_DATA, "token id %d is outside the student's vocabulary of %d", max_id, cfg.V);
    const char *names[LABELS_MAX];
    for (int k = 0; k < ls.K; k++)
        names[k] = ls.names[k];
    if (model_config_set_labels(&cfg, ls.K, names))
        errx(EXIT_DATA, "cannot set %d labels", ls.K);
    if (cfg.L > 64)
        errx(EXIT_USAGE, "students deeper than 64 layers are not supported");

    if (d.attn_on) {
        uint64_t avail = ~0ull;   /* a live teacher has every layer; a cache those it holds */
        if (d.cache) {
            const shard_meta *m = shard_reader_meta(d.cache);
            avail = 0;
            for (int i = 0; i < m->NL; i++)
                avail |= 1ull << m->layers[i];
        }
        if (distill_layer_map(&d, map, cfg.L, t_L, avail, e, sizeof e))
            errx(EXIT_USAGE, "option --layer-map: %s", e);
        if (d.cache) {   /* every mapped teacher layer must be in the cache: say so before training */
            const shard_meta *m = shard_reader_meta(d.cache);
            for (int p = 0; p < d.npairs; p++) {
                d.cache_slot[p] = -1;
                for (int i = 0; i < m->NL; i++)
                    if (m->layers[i] == d.t_layer[p])
                        d.cache_slot[p] = i;
                if (d.cache_slot[p] < 0)
                    errx(EXIT_USAGE, "%s: teacher layer %d (for student layer %d) is not in the cache; write it "
                         "with emo teacher-logits --attn-layers, or use --layer-map / --attn-loss none",
                         cache_dir, d.t_layer[p], d.s_layer[p]);
            }
        }
    }
    if (d.cache && shard_reader_check_ids(d.cache, train.rec_id, train.len, train.n))   /* before step 1 */
        errx(EXIT_DATA, "%s: %s", train.name, shard_reader_error(d.cache));

    d.student.m = model_new(&cfg);
    if (!d.student.m)
        errx(EXIT_DATA, "cannot build the student from %s", config ? config : init);
    /* the text settings and vocabulary: the stream's, else the init's, else the teacher's */
    const char *dirs[3] = { init, teacher_dir, d.cache ? shard_reader_meta(d.cache)->teacher : NULL };
    char *vocab_copy = model_task_text_setup(&d.student, &train, vocab, dirs, 3);
    d.student.vocab_path = vocab_copy;
    model_init_weights(d.student.m, o.seed);
    if (init) {
        model_params p = *model_weights(d.student.m);
        char notice[1024] = "";
        if (ckpt_load_params(init, &cfg, &p, CKPT_INIT_MISSING_HEAD | CKPT_NEW_HEAD, o.seed, notice, sizeof notice,
                             e, sizeof e))
            errx(EXIT_DATA, "%s", e);
    } else if (from_teacher) {
        model_config icfg;   /* with --teacher-cache the checkpoint is read for this alone */
        model *t = d.teacher ? d.teacher : load_teacher(teacher_dir, &icfg);
        int same = d.teacher || icfg.K == ls.K;
        for (int k = 0; same && !d.teacher && k < ls.K; k++)
            same = !strcmp(icfg.labels[k], ls.names[k]);
        if (!same)
            errx(EXIT_USAGE, "%s: its labels are not those of the cache %s", teacher_dir, cache_dir);
        if (distill_init_from_teacher(d.student.m, t, e, sizeof e))
            errx(EXIT_USAGE, "%s", e);
        if (t != d.teacher)
            model_free(t);
    }

    train_task task;
    distill_task_setup(&task, &d);
    o.pad_id = cfg.pad_token_id;
    json_t *run = train_cli_run("student-distill", config, init, &o, &d.student);
    json_t *own = json_pack("{s:s?, s:s?, s:b, s:f, s:f, s:s, s:f, s:s, s:I}", "teacher", teacher_dir,
                            "teacher_cache", cache_dir, "init_from_teacher", from_teacher, "alpha", d.alpha,
                            "temperature", d.temperature, "attn_loss", d.attn_on ? attn_name : "none",
                            "attn_weight", d.attn_weight, "layer_map", map, "train_records", (json_int_t)train.n);
    json_object_update(run, own);
    json_decref(own);
    char *run_info = json_dumps(run, JSON_COMPACT | JSON_SORT_KEYS);
    o.run_info = run_info;
    if (!o.quiet) {
        fprintf(stderr, "emo-student-distill: %s student, %zu parameters, %d labels, %zu train / %zu val records, "
                "%d threads; lr %g%s%s%s; alpha %g, T %g, %s label loss", model_arch_name(cfg.arch), task.nparams,
                ls.K, train.n, val.n, threads, o.lr, *lr_why ? " (" : "", lr_why, *lr_why ? ")" : "", d.alpha,
                d.temperature, d.student.loss == TASK_LOSS_CE ? "ce" : "focal");
        if (d.attn_on) {
            fprintf(stderr, ", attention %s x %g on", attn_name, d.attn_weight);
            for (int p = 0; p < d.npairs; p++)
                fprintf(stderr, " %d:%d", d.s_layer[p], d.t_layer[p]);
        }
        fputc('\n', stderr);
    }
    train_run(&task, &train, &val, &o);

    free(run_info);
    json_decref(run);
    free(vocab_copy);
    distill_task_free(&d);
    model_free(d.student.m);
    if (d.teacher)
        model_free(d.teacher);
    if (d.cache)
        shard_reader_close(d.cache);
    dataset_free(&train);
    dataset_free(&val);
    return 0;
}
