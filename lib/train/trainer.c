/* The shared training loop (trainer.h); the validation pass is trainer_eval.c's, the
 * files in OUT trainer_state.c's (trainer_impl.h). */
#include <err.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "dist/dist.h"
#include "train/trainer.h"
#include "train/trainer_impl.h"
#include "util/util.h"

extern char *program_invocation_short_name;

/* The eval_metrics key of the early-stopping metric */
static const char *metric_key(train_metric m)
{
    return m == METRIC_F1 ? "f1_weighted" : m == METRIC_ACCURACY ? "accuracy" : "loss";
}

/* ---- the in-memory dataset as a batch source ---------------------------------------- */

static int ds_begin_epoch(void *ctx, uint64_t epoch, uint64_t skip, char *err, size_t errn)
{
    dataset_source *d = ctx;
    (void)err;
    (void)errn;
    epoch_plan_free(&d->plan);
    epoch_plan_make(&d->plan, d->ds, d->B, d->seed, epoch, 1);
    d->next = (size_t)skip;
    return 0;
}

static int ds_next_batch(void *ctx, batch *b, char *err, size_t errn)
{
    dataset_source *d = ctx;
    (void)err;
    (void)errn;
    if (d->next >= d->plan.nbatches)
        return 0;
    batch_fill(b, d->ds, &d->plan, d->next++, d->pad_id);
    return 1;
}

void dataset_source_init(train_source *src, dataset_source *ds_src, const dataset *ds, size_t B, uint64_t seed,
                         int32_t pad_id)
{
    memset(ds_src, 0, sizeof *ds_src);
    ds_src->ds = ds;
    ds_src->B = B;
    ds_src->seed = seed;
    ds_src->pad_id = pad_id;
    src->ctx = ds_src;
    src->nbatches = dataset_num_batches(ds->n, B);
    src->begin_epoch = ds_begin_epoch;
    src->next_batch = ds_next_batch;
}

void dataset_source_free(dataset_source *ds_src) { epoch_plan_free(&ds_src->plan); }

/* ---- signals -------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- progress ---------------------------------------------------------------------------- */

typedef struct progress {
    int bar, quiet;
    double t0, last_print;
    uint64_t step0;          /* steps done when this process started */
    uint64_t samples;        /* samples processed by this process */
    uint64_t tokens;         /* real (unpadded) tokens processed by this process */
} progress;

static void fmt_time(char *b, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static void progress_show(progress *pg, const train_state *s, uint64_t total_steps, int epochs, uint64_t nb,
                          double loss, double lr, int force)
{
    double now = now_seconds();
    if (pg->quiet)
        return;
    if (!force && now - pg->last_print < (pg->bar ? 0.2 : 1e30))
        return;
    pg->last_print = now;
    double el = now - pg->t0, sps = el > 0 ? (double)pg->samples / el : 0;
    uint64_t done = s->step - pg->step0;
    double eta = done ? el / (double)done * (double)(total_steps - s->step) : 0;
    char t[32];
    fmt_time(t, sizeof t, eta);
    if (pg->bar) {
        char bar[21];
        uint64_t fill = nb ? 20 * s->pos / nb : 0;
        for (int i = 0; i < 20; i++)
            bar[i] = (uint64_t)i < fill ? '#' : '.';
        bar[20] = '\0';
        fprintf(stderr, "\r\033[Kepoch %llu/%d [%s] step %llu/%llu loss %.4f lr %.2e %.1f samples/s ETA %s",
                (unsigned long long)s->epoch + 1, epochs, bar, (unsigned long long)s->step,
                (unsigned long long)total_steps, loss, lr, sps, t);
    } else
        fprintf(stderr, "%s: epoch %llu/%d step %llu/%llu loss %.4f lr %.2e %.1f samples/s ETA %s\n",
                program_invocation_short_name, (unsigned long long)s->epoch + 1, epochs,
                (unsigned long long)s->step, (unsigned long long)total_steps, loss, lr, sps, t);
}

static void progress_end_line(progress *pg)
{
    if (pg->bar && !pg->quiet)
        fputs("\r\033[K", stderr);
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void die_nonfinite(const char *what, const train_state *s, uint64_t k, const batch *b)
{
    char ids[512];
    size_t n = 0;
    ids[0] = '\0';
    for (int i = 0; i < b->B && n + 24 < sizeof ids; i++)
        n += (size_t)snprintf(ids + n, sizeof ids - n, "%s%llu", i ? "," : "", (unsigned long long)b->rec_ids[i]);
    if (n + 24 >= sizeof ids)
        snprintf(ids + n, sizeof ids - n, ",...");
    errx(EXIT_DATA, "non-finite %s at step %llu (epoch %llu, batch %llu; record ids %s); the last checkpoint "
         "is kept", what, (unsigned long long)s->step + 1, (unsigned long long)s->epoch + 1,
         (unsigned long long)k + 1, ids);
}

const char *train_degenerate(int pred_classes, double accuracy, double majority)
{
    if (!(majority < 1))
        return NULL;           /* a validation set of one class: nothing to tell */
    if (pred_classes <= 1)
        return "predicts a single class on the validation set";
    if (accuracy <= majority + 1e-12)
        return "is no better than the majority class on the validation set";
    return NULL;
}

/* One warning line when the kept model (the best epoch's) is degenerate (train_degenerate). */
static void warn_degenerate(const train_state *s, const train_opts *o)
{
    size_t i;
    json_t *e;
    json_array_foreach(s->log, i, e) {
        json_t *ep = json_object_get(e, "epoch"), *pc = json_object_get(e, "val_pred_classes"),
               *mj = json_object_get(e, "val_majority"), *acc = json_object_get(e, "val_accuracy");
        if (!json_is_integer(ep) || json_integer_value(ep) != s->best_epoch || !json_is_number(pc) ||
            !json_is_number(mj) || !json_is_number(acc))
            continue;
        double a = json_number_value(acc), maj = json_number_value(mj);
        const char *why = train_degenerate((int)json_number_value(pc), a, maj);
        if (why)
            fprintf(stderr, "%s: warning: the kept model (epoch %lld) %s (accuracy %.4f, majority class %.4f); "
                    "was --lr %g right?\n", program_invocation_short_name, (long long)s->best_epoch, why, a, maj,
                    o->lr);
        return;
    }
}

/* ---- data-parallel pieces (under mpirun; dist.h) ----------------------------------------- */

/* Rows [lo, hi) of global batch b for rank r of n: contiguous blocks in rank order, the
 * first B mod n ranks one row more (a batch of fewer rows than ranks leaves the last ranks
 * without rows: they add a zero gradient of weight 0). */
static void slice_rows(int B, int r, int n, int *lo, int *hi)
{
    int q = B / n, m = B % n;
    *lo = r * q + (r < m ? r : m);
    *hi = *lo + q + (r < m);
}

/* dst = rows [lo, hi) of src, padded to src's length T (the same rows, pads and masked-LM
 * positions a single process sees). */
static void batch_slice(batch *dst, const batch *src, int lo, int hi)
{
    int B = hi - lo;
    size_t T = (size_t)src->T, nids = (size_t)B * T;
    if (B > dst->cap_B) {
        dst->lens = xreallocarray(dst->lens, (size_t)B, sizeof *dst->lens);
        dst->labels = xreallocarray(dst->labels, (size_t)B, sizeof *dst->labels);
        dst->rec_ids = xreallocarray(dst->rec_ids, (size_t)B, sizeof *dst->rec_ids);
        dst->rows = xreallocarray(dst->rows, (size_t)B, sizeof *dst->rows);
        dst->cap_B = B;
    }
    if (nids > dst->cap_ids) {
        dst->ids = xreallocarray(dst->ids, nids, sizeof *dst->ids);
        dst->cap_ids = nids;
    }
    dst->B = B;
    dst->T = src->T;
    dst->epoch = src->epoch;
    if (B == 0)
        return;
    memcpy(dst->ids, src->ids + (size_t)lo * T, nids * sizeof *dst->ids);
    memcpy(dst->lens, src->lens + lo, (size_t)B * sizeof *dst->lens);
    memcpy(dst->labels, src->labels + lo, (size_t)B * sizeof *dst->labels);
    memcpy(dst->rec_ids, src->rec_ids + lo, (size_t)B * sizeof *dst->rec_ids);
    memcpy(dst->rows, src->rows + lo, (size_t)B * sizeof *dst->rows);
}

/* Ranks other than 0 leave an error that every rank found at once (a non-finite loss) to
 * rank 0, whose message and exit end the job; they wait to be taken down. */
static void follow_root_exit(void)
{
    if (dist_rank() > 0)
        for (;;)
            pause();
}

/* The model and, on --resume, the optimiser and loop state that rank 0 read from OUT/last:
 * every rank starts from the same bits (the others never read OUT). */
static void share_start(const train_task *task, train_state *s, adamw_state *opt, int resume)
{
    dist_bcast(task->params, task->nparams * sizeof *task->params, 0);
    if (!resume)
        return;
    dist_bcast(opt->m, opt->n * sizeof *opt->m, 0);
    dist_bcast(opt->v, opt->n * sizeof *opt->v, 0);
    dist_bcast(&opt->step, sizeof opt->step, 0);
    double d[4] = { s->epoch_loss_sum, s->log_loss_sum, s->best, 0 };
    uint64_t u[9] = { s->epoch, s->pos, s->step, s->epoch_seen, s->log_n, (uint64_t)s->best_epoch,
                      (uint64_t)s->bad_epochs, (uint64_t)s->stopped_early, 0 };
    dist_bcast(d, sizeof d, 0);
    dist_bcast(u, sizeof u, 0);
    dist_bcast(&s->rng, sizeof s->rng, 0);
    if (task->nterms)
        dist_bcast(task->term_sums, (size_t)task->nterms * sizeof *task->term_sums, 0);
    s->epoch_loss_sum = d[0];
    s->log_loss_sum = d[1];
    s->best = d[2];
    s->epoch = u[0];
    s->pos = u[1];
    s->step = u[2];
    s->epoch_seen = u[3];
    s->log_n = u[4];
    s->best_epoch = (int64_t)u[5];
    s->bad_epochs = (int64_t)u[6];
    s->stopped_early = (int)u[7];
}

static double step_weight(const train_task *task, const batch *lb)
{
    if (lb->B == 0)
        return 0;
    return task->step_weight ? task->step_weight(task->ctx) : lb->B;
}

/* Called by the backward for each range of the gradient it has finished: the all-reduce
 * starts every bucket now wholly final. */
static void grad_ready_hook(void *ctx, size_t off, size_t n)
{
    (void)ctx;
    dist_grad_ready(off, n);
}

/* One data-parallel step: this rank's slice of b forward and backward, then the global
 * batch's mean gradient on every rank.  Rank r's gradient is weighted by w_r / W (w_r the
 * count its loss is a mean over, W the sum over ranks) and the weighted gradients summed
 * in rank order, so the result is the single process's gradient up to float summation
 * order.  The sum of each bucket starts as soon as the backward has finished it
 * (model_set_grad_hook), the weights are applied as the sums are added (dist_grad_wait), and
 * a rank without rows replays the backward's ranges so that its collectives follow the
 * others'.  Returns the global loss; *stop: a rank caught SIGINT/SIGTERM (all stop
 * together); *waited: seconds in the gradient all-reduce. */
static double dist_step(const train_task *task, const batch *b, batch *lb, rng_t *rng, int *stop, double *waited,
                        uint64_t step)
{
    int lo, hi, R = dist_rank(), N = dist_size();
    slice_rows(b->B, R, N, &lo, &hi);
    batch_slice(lb, b, lo, hi);
    /* dropout: one draw of the shared stream per step keeps it in step on every rank (and in
     * the resume state); each rank's masks come from its own stream seeded from it */
    rng_t r;
    rng_seed(&r, rng_u64(rng) + 0x9E3779B97F4A7C15ull * (uint64_t)(R + 1));
    double sc[3 + 8] = { 0 };
    int nt = task->nterms < 8 ? task->nterms : 8;
    double before[8];
    for (int i = 0; i < nt; i++)
        before[i] = task->term_sums[i];
    double loss = 0;
    char e[1024];
    dist_grad_begin(task->grads, task->nparams);
    if (task->model)
        model_set_grad_hook(task->model, grad_ready_hook, NULL);
    if (lb->B > 0) {
        if (task->train_step(task->ctx, lb, &r, &loss, e, sizeof e))
            errx(EXIT_DATA, "step %llu: %s", (unsigned long long)step + 1, e);
    } else {
        memset(task->grads, 0, task->nparams * sizeof *task->grads);
        if (task->model)
            model_grad_replay(task->model);
    }
    if (task->model)
        model_set_grad_hook(task->model, NULL, NULL);
    double w = step_weight(task, lb);
    sc[0] = w;
    sc[1] = w > 0 ? loss * w : 0;
    sc[2] = stop_signal != 0;
    for (int i = 0; i < nt; i++)
        sc[3 + i] = task->term_sums[i] - before[i];
    /* the sums over ranks, and each rank's weight w_r / W for the gradient's sum */
    size_t ns = 3 + (size_t)nt;
    double *all = xmalloc((size_t)N * ns * sizeof *all);
    float *f = xmalloc((size_t)N * sizeof *f);
    dist_sum_f64_each(sc, ns, all);
    for (int q = 0; q < N; q++)
        f[q] = sc[0] > 0 ? (float)(all[(size_t)q * ns] / sc[0]) : 0.0f;
    for (int i = 0; i < nt; i++)
        task->term_sums[i] = before[i] + sc[3 + i];
    *stop = sc[2] > 0;
    dist_grad_start(task->grads, task->nparams);
    *waited += dist_grad_wait(f);
    free(all);
    free(f);
    return sc[0] > 0 ? sc[1] / sc[0] : 0;
}

int train_rank(void)
{
    return dist_rank();
}

int train_run(const train_task *task, const dataset *train, const dataset *val, const train_opts *o)
{
    train_source src;
    dataset_source dsrc;
    dataset_source_init(&src, &dsrc, train, o->batch, o->seed, o->pad_id);
    int rc = train_run_source(task, &src, val, o);
    dataset_source_free(&dsrc);
    return rc;
}

int train_run_source(const train_task *task, const train_source *src, const dataset *val, const train_opts *o)
{
    /* under mpirun (dist.h): rank 0 alone touches OUT (checkpoints, log, resume) and prints;
     * the model and the resume state go from it to the others */
    int nranks = dist_size(), root = dist_rank() == 0;
    char *last = path_join(o->out_dir, "last");
    if (root) {
        xmkdir_p(o->out_dir);
        trainer_remove_stale_temps(o->out_dir);
        struct stat st;
        int have_last = stat(last, &st) == 0;
        if (have_last && !o->resume)
            errx(EXIT_USAGE, "%s exists: a run was started there (--resume continues it; or remove it)", last);
        if (!have_last && o->resume)
            errx(EXIT_USAGE, "%s: nothing to resume (no complete checkpoint)", last);
    }

    train_state s;
    memset(&s, 0, sizeof s);
    s.best = NAN;
    rng_seed(&s.rng, o->seed);
    s.log = json_array();
    adamw_state opt;
    adamw_init(&opt, task->nparams);
    char e[1024];
    if (o->resume && root) {
        json_decref(s.log);
        char *p = path_join(last, "trainer_state.json");
        trainer_read_state(task, p, &s, o);
        free(p);
        p = path_join(last, "optimizer.bin");
        trainer_read_optimizer(p, &opt);
        free(p);
        if (task->load_model(task->ctx, last, e, sizeof e))
            errx(EXIT_DATA, "%s: %s", last, e);
        if (s.epoch >= (uint64_t)o->epochs || s.stopped_early)
            fprintf(stderr, "%s: %s: training is complete (step %llu); nothing to resume\n",
                    program_invocation_short_name, last, (unsigned long long)s.step);
        else
            fprintf(stderr, "%s: resuming from step %llu (epoch %llu, batch %llu)\n", program_invocation_short_name,
                    (unsigned long long)s.step, (unsigned long long)s.epoch + 1, (unsigned long long)s.pos);
    }
    if (nranks > 1)
        share_start(task, &s, &opt, o->resume);
    install_handlers();

    /* Fault injection for the tests (trainer.h): SIGKILL after step N; a NaN loss at step N. */
    const char *kill_at = getenv("EMO_TEST_KILL_AT_STEP"), *nan_at = getenv("EMO_TEST_NAN_AT_STEP");
    uint64_t kill_step = kill_at ? strtoull(kill_at, NULL, 10) : 0;
    const char *kill_rank = getenv("EMO_TEST_KILL_RANK");     /* under mpirun: that rank alone */
    if (kill_rank && atoi(kill_rank) != dist_rank())
        kill_step = 0;
    uint64_t nan_step = nan_at ? strtoull(nan_at, NULL, 10) : 0;
    uint64_t nb = src->nbatches;
    uint64_t total = (uint64_t)o->epochs * nb;
    uint64_t warmup = (uint64_t)ceil(o->warmup_ratio * (double)total);
    int log_every = o->log_every > 0 ? o->log_every : 50;
    progress pg = { .bar = o->progress < 0 ? isatty(STDERR_FILENO) : o->progress, .t0 = now_seconds(),
                    .step0 = s.step, .quiet = o->quiet || !root };
    batch b = { 0 }, lb = { 0 };
    double lr = 0, last_loss = 0, waited = 0;
    int stop = 0;

    while (s.epoch < (uint64_t)o->epochs && !s.stopped_early) {
        if (src->begin_epoch(src->ctx, s.epoch, s.pos, e, sizeof e))
            errx(EXIT_DATA, "%s", e);
        for (uint64_t k = s.pos; k < nb; k++) {
            int got = src->next_batch(src->ctx, &b, e, sizeof e);
            if (got < 0)
                errx(EXIT_DATA, "%s", e);
            if (got == 0)
                errx(EXIT_DATA, "epoch %llu ended after %llu batches, expected %llu (did the input change?)",
                     (unsigned long long)s.epoch + 1, (unsigned long long)k, (unsigned long long)nb);
            b.epoch = s.epoch;
            double loss = 0;
            if (nranks > 1)
                loss = dist_step(task, &b, &lb, &s.rng, &stop, &waited, s.step);
            else if (task->train_step(task->ctx, &b, &s.rng, &loss, e, sizeof e))
                errx(EXIT_DATA, "step %llu: %s", (unsigned long long)s.step + 1, e);
            else
                stop = stop_signal != 0;
            if (nan_step && s.step + 1 == nan_step)
                loss = NAN;
            if (!isfinite(loss)) {
                follow_root_exit();
                die_nonfinite("loss", &s, k, &b);
            }
            double norm = clip_grad_norm(task->grads, task->nparams, o->clip > 0 ? o->clip : INFINITY);
            if (!isfinite(norm)) {
                follow_root_exit();
                die_nonfinite("gradient", &s, k, &b);
            }
            lr = linear_warmup_lr(o->lr, opt.step, warmup, total);
            if (adamw_step(&opt, task->params, task->grads, lr, &o->adamw, task->decay, task->ndecay))
                errx(EXIT_DATA, "bad weight-decay ranges");
            s.step++;
            s.pos = k + 1;
            s.epoch_loss_sum += loss * b.B;
            s.epoch_seen += (uint64_t)b.B;
            s.log_loss_sum += loss;
            s.log_n++;
            pg.samples += (uint64_t)b.B;
            for (int i = 0; i < b.B; i++)
                pg.tokens += (uint64_t)b.lens[i];
            last_loss = loss;
            /* the progress line shows what the log will: the mean loss of the --log-every window */
            double mean = s.log_loss_sum / (double)s.log_n;
            if (s.step % (uint64_t)log_every == 0) {
                json_t *j = json_object();
                json_object_set_new(j, "epoch", json_real((double)s.epoch + (double)s.pos / (double)nb));
                json_object_set_new(j, "step", json_integer((json_int_t)s.step));
                json_object_set_new(j, "loss", json_real(mean));
                json_object_set_new(j, "lr", json_real(lr));
                json_object_set_new(j, "grad_norm", json_real(norm));
                /* timings last (tests strip them from here to the end): this process's seconds
                 * since its training loop began, and the part of them spent waiting in the
                 * gradient all-reduce (rank 0's; these are rank 0's entries) */
                json_object_set_new(j, "elapsed_s", json_real(now_seconds() - pg.t0));
                if (nranks > 1)
                    json_object_set_new(j, "allreduce_wait_s", json_real(waited));
                json_array_append_new(s.log, j);
                s.log_loss_sum = 0;
                s.log_n = 0;
                progress_show(&pg, &s, total, o->epochs, nb, mean, lr, 1);
            } else
                progress_show(&pg, &s, total, o->epochs, nb, mean, lr, 0);
            if (kill_step && s.step == kill_step)
                raise(SIGKILL);
            if (stop || (o->max_steps && s.step >= o->max_steps && s.pos < nb)) {
                progress_end_line(&pg);
                /* --max-steps before any epoch ended: the weights reached are the model at the top
                 * (there is no best one yet), so that --init OUT works; the next epoch replaces them */
                if (root && !stop && s.best_epoch == 0) {
                    if (task->save_model(task->ctx, o->out_dir, e, sizeof e))
                        errx(EXIT_DATA, "%s: %s", o->out_dir, e);
                    trainer_write_run_file(o->out_dir, o, s.epoch, s.step);
                }
                if (root) {
                    trainer_save_last(task, o, &s, &opt);
                    trainer_write_log(o->out_dir, s.log);
                }
                if (stop) {
                    /* under mpirun a rank may have stopped for a signal another rank caught */
                    int sig = stop_signal ? stop_signal : SIGTERM;
                    if (root)
                        fprintf(stderr, "%s: %s: checkpoint written at step %llu; --resume continues\n",
                                program_invocation_short_name, sig == SIGINT ? "interrupted" : "terminated",
                                (unsigned long long)s.step);
                    dist_finalize();
                    exit(128 + sig);
                }
                goto done;
            }
        }
        progress_end_line(&pg);
        /* end of epoch: evaluate, keep the best, checkpoint */
        json_t *j = json_object();
        s.epoch++;
        json_object_set_new(j, "epoch", json_integer((json_int_t)s.epoch));
        json_object_set_new(j, "step", json_integer((json_int_t)s.step));
        double train_loss = s.epoch_seen ? s.epoch_loss_sum / (double)s.epoch_seen : 0;
        json_object_set_new(j, "train_loss", json_real(train_loss));
        char terms[256] = "";
        for (int i = 0, n = 0; i < task->nterms; i++) {
            double v = s.epoch_seen ? task->term_sums[i] / (double)s.epoch_seen : 0;
            char key[64];
            snprintf(key, sizeof key, "train_%s", task->term_names[i]);
            json_object_set_new(j, key, json_real(v));
            if (n >= 0 && (size_t)n < sizeof terms)
                n += snprintf(terms + n, sizeof terms - (size_t)n, " %s %.4f", task->term_names[i], v);
            task->term_sums[i] = 0;
        }
        json_object_set_new(j, "lr", json_real(lr));
        int improved = 1;
        char line[256] = "";
        if (val || task->validate) {
            eval_metrics vm = { 0 };
            if (val) {
                eval_result r;
                if (nranks > 1 ? train_evaluate_split(task, val, o->batch, o->pad_id, &r, e, sizeof e)
                               : train_evaluate(task, val, o->batch, o->pad_id, &r, NULL, e, sizeof e))
                    errx(EXIT_DATA, "evaluation: %s", e);
                eval_metrics_add(&vm, "loss", "loss", r.loss);
                eval_metrics_add(&vm, "accuracy", "accuracy", r.accuracy);
                eval_metrics_add(&vm, "f1_weighted", "weighted F1", r.f1_weighted);
                eval_metrics_add(&vm, "f1_macro", NULL, r.f1_macro);
                eval_metrics_add(&vm, "pred_classes", NULL, r.pred_classes);
                eval_metrics_add(&vm, "majority", NULL, r.majority);
            } else {
                /* every rank runs the task's own pass; rank 0's values count (the same
                 * early-stopping decision everywhere, whatever the CPUs) */
                if (task->validate(task->ctx, &vm, e, sizeof e))
                    errx(EXIT_DATA, "evaluation: %s", e);
                if (nranks > 1)
                    dist_bcast(vm.value, sizeof vm.value, 0);
            }
            if (!isfinite(eval_metrics_get(&vm, "loss")))
                errx(EXIT_DATA, "non-finite validation loss after epoch %llu; the last checkpoint is kept",
                     (unsigned long long)s.epoch);
            size_t n = 0;
            for (int i = 0; i < vm.n; i++) {
                char key[64];
                snprintf(key, sizeof key, "val_%s", vm.key[i]);
                json_object_set_new(j, key, json_real(vm.value[i]));
                if (vm.label[i] && n < sizeof line)
                    n += (size_t)snprintf(line + n, sizeof line - n, "%s%s %.4f", n ? ", " : ", val ", vm.label[i],
                                          vm.value[i]);
            }
            double m = eval_metrics_get(&vm, metric_key(o->metric));
            if (isnan(m))
                errx(EXIT_USAGE, "--early-stop-metric %s: this task reports no %s", train_metric_name(o->metric),
                     train_metric_name(o->metric));
            improved = isnan(s.best) || (o->metric == METRIC_LOSS ? m < s.best : m > s.best);
            if (improved)
                s.best = m;
        }
        double elapsed = now_seconds() - pg.t0;
        json_object_set_new(j, "samples_per_s", json_real((double)pg.samples / elapsed));
        json_object_set_new(j, "tokens_per_s", json_real((double)pg.tokens / elapsed));
        if (nranks > 1) {
            /* rank 0's seconds waiting in the gradient all-reduce, a share of the wall time */
            json_object_set_new(j, "ranks", json_integer(nranks));
            json_object_set_new(j, "allreduce_wait_share", json_real(waited / elapsed));
            /* buckets this process has started, and how many while the backward still ran */
            unsigned long long started, early;
            dist_grad_counts(&started, &early);
            json_object_set_new(j, "allreduce_buckets", json_integer((json_int_t)started));
            json_object_set_new(j, "allreduce_buckets_early", json_integer((json_int_t)early));
        }
        json_array_append_new(s.log, j);
        if (improved) {
            s.best_epoch = (int64_t)s.epoch;
            s.bad_epochs = 0;
            if (root && task->save_model(task->ctx, o->out_dir, e, sizeof e))
                errx(EXIT_DATA, "%s: %s", o->out_dir, e);
            if (root)
                trainer_write_run_file(o->out_dir, o, s.epoch, s.step);
        } else
            s.bad_epochs++;
        if (o->keep_epochs && root)
            trainer_save_epoch(task, o, s.epoch, s.step);
        if (!o->quiet && root)
            fprintf(stderr, "%s: epoch %llu/%d: train loss %.4f%s%s%s%s%s\n", program_invocation_short_name,
                (unsigned long long)s.epoch, o->epochs, train_loss, *terms ? " (" : "", *terms ? terms + 1 : "",
                *terms ? ")" : "", line, improved ? " (best)" : "");
        if (o->patience > 0 && s.bad_epochs >= o->patience && s.epoch < (uint64_t)o->epochs) {
            s.stopped_early = 1;
            if (!o->quiet && root)
                fprintf(stderr, "%s: early stop: no better %s for %d epochs; best epoch %lld\n",
                    program_invocation_short_name, train_metric_name(o->metric), o->patience,
                    (long long)s.best_epoch);
        }
        s.pos = 0;
        s.epoch_loss_sum = 0;
        s.epoch_seen = 0;
        if (root) {
            trainer_save_last(task, o, &s, &opt);
            trainer_write_log(o->out_dir, s.log);
        }
        if (o->max_steps && s.step >= o->max_steps)
            break;
    }
done:
    if (val && root)
        warn_degenerate(&s, o);
    (void)last_loss;
    dist_finalize();
    batch_free(&b);
    batch_free(&lb);
    adamw_free(&opt);
    json_decref(s.log);
    free(last);
    return 0;
}
