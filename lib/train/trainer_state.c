/* The trainer's state I/O (trainer_impl.h): OUT/last, the epoch snapshots, the log. */
#include <dirent.h>
#include <err.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "train/trainer_impl.h"
#include "util/util.h"

#define STATE_VERSION 1
#define OPTIM_MAGIC "EMOADAM1"

static json_t *u64_hex(uint64_t v)
{
    char b[17];
    snprintf(b, sizeof b, "%016llx", (unsigned long long)v);
    return json_string(b);
}

static int hex_u64(json_t *j, uint64_t *v)
{
    if (!json_is_string(j))
        return -1;
    char *end;
    *v = strtoull(json_string_value(j), &end, 16);
    return *end || strlen(json_string_value(j)) != 16 ? -1 : 0;
}

static void write_optimizer(const char *path, const adamw_state *st)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        err(EXIT_DATA, "%s", path);
    uint64_t hdr[2] = { st->n, st->step };
    fwrite(OPTIM_MAGIC, 1, 8, f);
    fwrite(hdr, sizeof hdr, 1, f);
    fwrite(st->m, sizeof(float), st->n, f);
    fwrite(st->v, sizeof(float), st->n, f);
    if (fflush(f) || ferror(f) || fsync(fileno(f)) || fclose(f))
        err(EXIT_DATA, "%s: write error", path);
}

void trainer_read_optimizer(const char *path, adamw_state *st)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        err(EXIT_DATA, "%s", path);
    char magic[8];
    uint64_t hdr[2];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, OPTIM_MAGIC, 8) || fread(hdr, sizeof hdr, 1, f) != 1)
        errx(EXIT_DATA, "%s: not an emo optimizer state", path);
    if (hdr[0] != st->n)
        errx(EXIT_DATA, "%s: %llu parameters, the model has %zu", path, (unsigned long long)hdr[0], st->n);
    if (fread(st->m, sizeof(float), st->n, f) != st->n || fread(st->v, sizeof(float), st->n, f) != st->n ||
        fgetc(f) != EOF)
        errx(EXIT_DATA, "%s: truncated or oversized", path);
    st->step = hdr[1];
    fclose(f);
}

static json_t *state_json(const train_task *task, const train_state *s, const train_opts *o)
{
    json_t *j = json_object();
    json_t *terms = json_array();
    for (int i = 0; i < task->nterms; i++)
        json_array_append_new(terms, json_real(task->term_sums[i]));
    json_object_set_new(j, "version", json_integer(STATE_VERSION));
    json_object_set_new(j, "epoch", json_integer((json_int_t)s->epoch));
    json_object_set_new(j, "batch_in_epoch", json_integer((json_int_t)s->pos));
    json_object_set_new(j, "global_step", json_integer((json_int_t)s->step));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "epoch_loss_sum", json_real(s->epoch_loss_sum));
    json_object_set_new(j, "epoch_seen", json_integer((json_int_t)s->epoch_seen));
    json_object_set_new(j, "log_loss_sum", json_real(s->log_loss_sum));
    json_object_set_new(j, "log_n", json_integer((json_int_t)s->log_n));
    json_object_set_new(j, "best_metric_name", json_string(train_metric_name(o->metric)));
    json_object_set_new(j, "best_metric", isnan(s->best) ? json_null() : json_real(s->best));
    json_object_set_new(j, "best_epoch", json_integer(s->best_epoch));
    json_object_set_new(j, "epochs_without_improvement", json_integer(s->bad_epochs));
    json_object_set_new(j, "stopped_early", json_boolean(s->stopped_early));
    json_t *r = json_array();
    for (int i = 0; i < 4; i++)
        json_array_append_new(r, u64_hex(s->rng.s[i]));
    json_object_set_new(j, "rng_state", r);
    json_object_set_new(j, "run", o->run_info ? json_loads(o->run_info, 0, NULL) : json_object());
    json_object_set_new(j, "term_sums", terms);
    json_object_set_new(j, "log_history", json_incref(s->log));
    return j;
}

void trainer_read_state(const train_task *task, const char *path, train_state *s, const train_opts *o)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        errx(EXIT_DATA, "%s: line %d: %s", path, je.line, je.text);
    json_t *v = json_object_get(j, "version"), *rng = json_object_get(j, "rng_state");
    if (!json_is_integer(v) || json_integer_value(v) != STATE_VERSION || !json_is_array(rng) ||
        json_array_size(rng) != 4)
        errx(EXIT_DATA, "%s: not a trainer state of this version", path);
    if ((uint64_t)json_integer_value(json_object_get(j, "seed")) != o->seed)
        errx(EXIT_USAGE, "%s: saved with --seed %lld; resume with the same seed", path,
             (long long)json_integer_value(json_object_get(j, "seed")));
    json_t *run = json_object_get(j, "run"), *now = o->run_info ? json_loads(o->run_info, 0, NULL) : json_object();
    if (!json_equal(run, now)) {
        char *a = json_dumps(run, JSON_COMPACT | JSON_SORT_KEYS), *b = json_dumps(now, JSON_COMPACT | JSON_SORT_KEYS);
        errx(EXIT_USAGE, "%s: the run's options differ from this command's (saved %s, now %s)", path, a, b);
    }
    json_decref(now);
    s->epoch = (uint64_t)json_integer_value(json_object_get(j, "epoch"));
    s->pos = (uint64_t)json_integer_value(json_object_get(j, "batch_in_epoch"));
    s->step = (uint64_t)json_integer_value(json_object_get(j, "global_step"));
    s->epoch_loss_sum = json_real_value(json_object_get(j, "epoch_loss_sum"));
    s->epoch_seen = (uint64_t)json_integer_value(json_object_get(j, "epoch_seen"));
    s->log_loss_sum = json_real_value(json_object_get(j, "log_loss_sum"));
    s->log_n = (uint64_t)json_integer_value(json_object_get(j, "log_n"));
    json_t *b = json_object_get(j, "best_metric");
    s->best = json_is_number(b) ? json_number_value(b) : NAN;
    s->best_epoch = json_integer_value(json_object_get(j, "best_epoch"));
    s->bad_epochs = json_integer_value(json_object_get(j, "epochs_without_improvement"));
    s->stopped_early = json_is_true(json_object_get(j, "stopped_early"));
    for (int i = 0; i < 4; i++)
        if (hex_u64(json_array_get(rng, (size_t)i), &s->rng.s[i]))
            errx(EXIT_DATA, "%s: bad rng_state", path);
    json_t *terms = json_object_get(j, "term_sums");
    if (json_array_size(terms) != (size_t)task->nterms)
        errx(EXIT_DATA, "%s: saved %zu loss terms, this run has %d", path, json_array_size(terms), task->nterms);
    for (int i = 0; i < task->nterms; i++)
        task->term_sums[i] = json_number_value(json_array_get(terms, (size_t)i));
    json_t *log = json_object_get(j, "log_history");
    s->log = json_is_array(log) ? json_incref(log) : json_array();
    json_decref(j);
}

void trainer_write_log(const char *out_dir, const json_t *log)
{
    char *path = path_join(out_dir, "train_log.jsonl");
    atomic_file af;
    FILE *f = atomic_open(&af, path);
    size_t i;
    json_t *e;
    json_array_foreach(log, i, e) {
        json_dumpf(e, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fputc('\n', f);
    }
    if (atomic_commit(&af) != 0)
        err(EXIT_DATA, "%s", path);
    free(af.path);      /* NULL after a commit (atomic_commit frees the names): a no-op */
    free(af.tmp);
    free(path);
}

/* DIR/emo_run.json beside a saved model: the run's options and where the weights are from. */
void trainer_write_run_file(const char *dir, const train_opts *o, uint64_t epoch, uint64_t step)
{
    json_t *j = o->run_info ? json_loads(o->run_info, 0, NULL) : NULL;
    if (!j)
        j = json_object();
    json_object_set_new(j, "epoch", json_integer((json_int_t)epoch));
    json_object_set_new(j, "step", json_integer((json_int_t)step));
    char *path = path_join(dir, "emo_run.json");
    atomic_file af;
    FILE *f = atomic_open(&af, path);
    if (json_dumpf(j, f, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) || fputc('\n', f) == EOF ||
        atomic_commit(&af) != 0)
        err(EXIT_DATA, "%s", path);
    json_decref(j);
    free(af.path);
    free(af.tmp);
    free(path);
}

/* OUT/last as a whole: model, optimizer, state into a temp dir renamed into place. */
void trainer_save_last(const train_task *task, const train_opts *o, const train_state *s, const adamw_state *opt)
{
    char *last = path_join(o->out_dir, "last");
    atomic_dir ad;
    const char *tmp = atomic_dir_open(&ad, last);
    char e[1024];
    if (task->save_model(task->ctx, tmp, e, sizeof e))
        errx(EXIT_DATA, "%s: %s", last, e);
    trainer_write_run_file(tmp, o, s->epoch, s->step);
    char *p = path_join(tmp, "optimizer.bin");
    write_optimizer(p, opt);
    free(p);
    p = path_join(tmp, "trainer_state.json");
    json_t *j = state_json(task, s, o);
    FILE *f = fopen(p, "w");
    if (!f || json_dumpf(j, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) ||
        fputc('\n', f) == EOF || fflush(f) || fsync(fileno(f)) || fclose(f))
        err(EXIT_DATA, "%s: write error", p);
    json_decref(j);
    free(p);
    if (atomic_dir_commit(&ad) != 0)
        err(EXIT_DATA, "%s", last);
    free(ad.path);
    free(ad.tmp);
    free(last);
}

/* Temporaries of a process killed while writing (".last.tmpXXXXXX", ".model.safetensors.tmp..."):
 * nobody else writes in OUT, so any of them is stale, once a last/ moved aside by a
 * commit that was killed halfway is back. */
void trainer_remove_stale_temps(const char *dir)
{
    atomic_dir_recover(dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] != '.' || !strstr(e->d_name, ".tmp"))
            continue;
        char *p = path_join(dir, e->d_name);
        remove_tree(p);
        free(p);
    }
    if (d)
        closedir(d);
}

/* OUT/epoch-N: the model after epoch N, a whole directory replaced atomically. */
void trainer_save_epoch(const train_task *task, const train_opts *o, uint64_t epoch, uint64_t step)
{
    char name[64];
    snprintf(name, sizeof name, "epoch-%llu", (unsigned long long)epoch);
    char *path = path_join(o->out_dir, name);
    atomic_dir ad;
    const char *tmp = atomic_dir_open(&ad, path);
    char e[1024];
    if (task->save_model(task->ctx, tmp, e, sizeof e))
        errx(EXIT_DATA, "%s: %s", path, e);
    trainer_write_run_file(tmp, o, epoch, step);
    if (atomic_dir_commit(&ad) != 0)
        err(EXIT_DATA, "%s", path);
    free(ad.path);
    free(ad.tmp);
    free(path);
}
