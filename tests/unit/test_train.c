/* lib/train: metrics against sklearn goldens, epoch plans (deterministic, a permutation,
 * length-grouped), batch padding, dataset loading, and the trainer loop with a toy task
 * (bag-of-ids softmax regression with token dropout drawn from the trainer's RNG):
 * it learns, it is deterministic, and a run stopped mid-epoch and resumed ends with the
 * same weights, optimizer state and log as an uninterrupted run. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "golden_train_metrics.h"
#include "io/rec.h"
#include "nn/loss.h"
#include "train/trainer.h"
#include "util/rng.h"
#include "util/util.h"

#define TOY_K 3
#define TOY_V 40

static char tmpdir[256];

static void test_metrics(void)
{
    for (size_t c = 0; c < sizeof golden_metrics / sizeof *golden_metrics; c++) {
        eval_result r;
        eval_scores(&r, golden_metrics[c].y, golden_metrics[c].p, (size_t)golden_metrics[c].n, golden_metrics[c].K);
        CHECK(fabs(r.accuracy - golden_metrics[c].acc) < 1e-12, "case %zu accuracy %.17g vs %.17g", c, r.accuracy,
              golden_metrics[c].acc);
        CHECK(fabs(r.f1_weighted - golden_metrics[c].f1w) < 1e-12, "case %zu weighted F1 %.17g vs %.17g", c,
              r.f1_weighted, golden_metrics[c].f1w);
        CHECK(fabs(r.f1_macro - golden_metrics[c].f1m) < 1e-12, "case %zu macro F1 %.17g vs %.17g", c, r.f1_macro,
              golden_metrics[c].f1m);
    }
    /* the classes predicted and the majority-class rate, and what the trainer warns about */
    int32_t y[6] = { 0, 0, 0, 1, 2, -1 }, all0[6] = { 0, 0, 0, 0, 0, 2 }, mixed[6] = { 1, 0, 2, 1, 0, 0 };
    eval_result r;
    eval_scores(&r, y, all0, 6, 3);
    CHECK(r.pred_classes == 1 && fabs(r.majority - 0.6) < 1e-12 && fabs(r.accuracy - 0.6) < 1e-12,
          "one class predicted: %d classes, majority %g", r.pred_classes, r.majority);
    CHECK(train_degenerate(r.pred_classes, r.accuracy, r.majority) != NULL, "a single class is degenerate");
    eval_scores(&r, y, mixed, 6, 3);
    CHECK(r.pred_classes == 3 && fabs(r.accuracy - 0.4) < 1e-12, "three classes predicted, accuracy %g", r.accuracy);
    CHECK(train_degenerate(r.pred_classes, r.accuracy, r.majority) != NULL, "below the majority rate is degenerate");
    CHECK(train_degenerate(3, 0.6, 0.6) != NULL, "at the majority rate is degenerate");
    CHECK(train_degenerate(3, 0.61, 0.6) == NULL, "above it is not");
    CHECK(train_degenerate(1, 1.0, 1.0) == NULL, "a one-class validation set says nothing");
}

/* n records: label k has most tokens in [10k, 10k+10); lengths 3..30; every 7th unlabelled
 * when allow_unlabelled. */
static char *write_records(const char *name, int n, uint64_t seed, int allow_unlabelled)
{
    char *path = path_join(tmpdir, name);
    FILE *f = fopen(path, "wb");
    rec_writer *w = rec_writer_open(f, path);
    rng_t r;
    rng_seed(&r, seed);
    const char *labels[TOY_K] = { "joy", "anger", "fear" };
    for (int i = 0; i < n; i++) {
        int k = (int)rng_below(&r, TOY_K), len = 3 + (int)rng_below(&r, 28);
        int32_t ids[32];
        for (int t = 0; t < len; t++)
            ids[t] = rng_uniform(&r) < 0.7f ? 10 * k + (int)rng_below(&r, 10) : (int)rng_below(&r, 30);
        int lab = !(allow_unlabelled && i % 7 == 0);
        msgpack_packer *pk = rec_begin_raw(w);
        msgpack_pack_map(pk, 2 + lab);
        rec_pack_key(pk, "id");
        msgpack_pack_uint64(pk, 1000 + (uint64_t)i);
        rec_pack_key(pk, "input_ids");
        rec_pack_ids(pk, ids, (size_t)len);
        if (lab) {
            rec_pack_key(pk, "label");
            rec_pack_str(pk, labels[k], strlen(labels[k]));
        }
        rec_end(w);
    }
    rec_writer_close(w);
    fclose(f);
    return path;
}

static void test_dataset_and_plans(void)
{
    char *p = write_records("plans.rec", 533, 1, 1);
    labelset ls = { 0 };
    dataset ds;
    dataset_load(&ds, p, &ls, DS_ADD_LABELS, 0);
    labelset_sort_remap(&ls, &ds);
    CHECK(ds.n == 533 && ls.K == 3, "n %zu K %d", ds.n, ls.K);
    CHECK(!strcmp(ls.names[0], "anger") && !strcmp(ls.names[1], "fear") && !strcmp(ls.names[2], "joy"),
          "label set not sorted: %s %s %s", ls.names[0], ls.names[1], ls.names[2]);
    CHECK(ds.label[0] == -1 && ds.nlabelled == 533 - 77, "unlabelled rows: label %d, labelled %zu", ds.label[0],
          ds.nlabelled);
    CHECK(ds.max_len <= 30 && ds.max_len >= 25 && ds.max_id < 40, "max_len %d max_id %d", ds.max_len, ds.max_id);

    size_t B = 8;
    epoch_plan a, b, c;
    epoch_plan_make(&a, &ds, B, 42, 3, 1);
    epoch_plan_make(&b, &ds, B, 42, 3, 1);
    epoch_plan_make(&c, &ds, B, 42, 4, 1);
    CHECK(a.nbatches == 67 && a.start[67] == 533, "nbatches %zu", a.nbatches);
    CHECK(!memcmp(a.rows, b.rows, 533 * sizeof *a.rows), "same (seed, epoch) gives another order");
    CHECK(memcmp(a.rows, c.rows, 533 * sizeof *a.rows), "epochs 3 and 4 have the same order");
    char *seen = xcalloc(533, 1);
    int dup = 0;
    for (size_t i = 0; i < 533; i++)
        dup += seen[a.rows[i]]++ != 0;
    CHECK(dup == 0, "plan is not a permutation (%d repeats)", dup);
    /* length grouping: padding of the planned batches is far below that of random batches */
    batch bt = { 0 };
    size_t pad_plan = 0, tokens = 0;
    int sizes_ok = 1;
    for (size_t k = 0; k < a.nbatches; k++) {
        batch_fill(&bt, &ds, &a, k, 0);
        sizes_ok &= bt.B == 8 || (bt.B == 5 && a.start[k + 1] - a.start[k] == 5);
        for (int i = 0; i < bt.B; i++) {
            pad_plan += (size_t)(bt.T - bt.lens[i]);
            tokens += (size_t)bt.lens[i];
            for (int t = bt.lens[i]; t < bt.T; t++)
                sizes_ok &= bt.ids[(size_t)i * bt.T + t] == 0;
            sizes_ok &= !memcmp(bt.ids + (size_t)i * bt.T, ds.tok + ds.off[bt.rows[i]], sizeof(int32_t) * bt.lens[i]);
        }
    }
    CHECK(sizes_ok, "batch sizes, padding or contents wrong");
    CHECK(pad_plan * 5 < tokens, "length grouping: %zu pad tokens for %zu tokens", pad_plan, tokens);
    epoch_plan e;
    epoch_plan_make(&e, &ds, B, 0, 0, 0);
    int sorted = 1;
    for (size_t i = 1; i < 533; i++)
        sorted &= ds.len[e.rows[i - 1]] >= ds.len[e.rows[i]];
    CHECK(sorted, "evaluation plan is not longest first");
    batch_free(&bt);
    epoch_plan_free(&a);
    epoch_plan_free(&b);
    epoch_plan_free(&c);
    epoch_plan_free(&e);
    free(seen);
    dataset_free(&ds);
    free(p);

    char err[256];
    CHECK(labelset_parse(&ls, "a,b,a", err, sizeof err) == -1 && strstr(err, "twice"), "dup label: %s", err);
    CHECK(labelset_parse(&ls, "a,,b", err, sizeof err) == -1, "empty label accepted");
    CHECK(labelset_parse(&ls, "sadness,joy", err, sizeof err) == 0 && ls.K == 2 && labelset_find(&ls, "joy", 3) == 1,
          "parse");
}

/* ---- the toy task -------------------------------------------------------------------- */

typedef struct toy {
    float *block;          /* params (K*V + K), then grads (K*V + K) */
    size_t n;
} toy;

static void toy_logits(const toy *t, const batch *b, float *logits, rng_t *drop)
{
    const float *W = t->block, *bias = t->block + TOY_K * TOY_V;
    for (int i = 0; i < b->B; i++) {
        float *z = logits + i * TOY_K;
        for (int k = 0; k < TOY_K; k++)
            z[k] = bias[k];
        for (int s = 0; s < b->lens[i]; s++) {
            if (drop && rng_uniform(drop) < 0.1f)
                continue;
            int id = b->ids[(size_t)i * b->T + s];
            for (int k = 0; k < TOY_K; k++)
                z[k] += W[k * TOY_V + id] / (float)b->lens[i];
        }
    }
}

static int toy_train_step(void *ctx, const batch *b, rng_t *rng, double *loss, char *err, size_t errn)
{
    (void)err, (void)errn;
    toy *t = ctx;
    float *g = t->block + t->n;
    memset(g, 0, t->n * sizeof *g);
    float *z = xmalloc(sizeof(float) * TOY_K * b->B), *dz = xcalloc((size_t)TOY_K * b->B, sizeof(float));
    /* the same dropout mask must be used for the gradient: keep the rng state */
    rng_t keep = *rng;
    toy_logits(t, b, z, rng);
    *loss = crossentropy_loss_and_grad(dz, 1.0f, z, b->labels, (size_t)b->B, TOY_K, 0.0);
    for (int i = 0; i < b->B; i++) {
        for (int s = 0; s < b->lens[i]; s++) {
            if (rng_uniform(&keep) < 0.1f)
                continue;
            int id = b->ids[(size_t)i * b->T + s];
            for (int k = 0; k < TOY_K; k++)
                g[k * TOY_V + id] += dz[i * TOY_K + k] / (float)b->lens[i];
        }
        for (int k = 0; k < TOY_K; k++)
            g[TOY_K * TOY_V + k] += dz[i * TOY_K + k];
    }
    free(z);
    free(dz);
    return 0;
}

static int toy_eval(void *ctx, const batch *b, float *logits, double *loss, char *err, size_t errn)
{
    (void)err, (void)errn;
    toy_logits(ctx, b, logits, NULL);
    *loss = crossentropy_loss_and_grad(NULL, 1.0f, logits, b->labels, (size_t)b->B, TOY_K, 0.0);
    return 0;
}

static int toy_save(void *ctx, const char *dir, char *err, size_t errn)
{
    toy *t = ctx;
    char *p = path_join(dir, "toy.bin");
    atomic_file af;
    FILE *f = atomic_open(&af, p);
    fwrite(t->block, sizeof(float), t->n, f);
    int rc = atomic_commit(&af);
    free(af.path);
    free(af.tmp);
    if (rc)
        snprintf(err, errn, "%s: write error", p);
    free(p);
    return rc;
}

static int toy_load(void *ctx, const char *dir, char *err, size_t errn)
{
    toy *t = ctx;
    char *p = path_join(dir, "toy.bin");
    FILE *f = fopen(p, "rb");
    int rc = f && fread(t->block, sizeof(float), t->n, f) == t->n ? 0 : -1;
    if (rc)
        snprintf(err, errn, "%s: cannot read", p);
    if (f)
        fclose(f);
    free(p);
    return rc;
}

static const optim_range toy_decay[1] = { { 0, TOY_K * TOY_V } };

static void toy_task(train_task *task, toy *t)
{
    t->n = TOY_K * TOY_V + TOY_K;
    t->block = xcalloc(2 * t->n, sizeof(float));
    *task = (train_task){ .ctx = t, .K = TOY_K, .nparams = t->n, .params = t->block, .grads = t->block + t->n,
                          .decay = toy_decay, .ndecay = 1, .train_step = toy_train_step, .eval_batch = toy_eval,
                          .save_model = toy_save, .load_model = toy_load };
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *buf = xmalloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, f);
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

static int same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* Drops the timing fields (samples_per_s, elapsed_s and what follows) before comparing two logs. */
static char *log_without_timing(const char *path)
{
    size_t n;
    char *s = slurp(path, &n);
    if (!s)
        return xstrdup("");
    /* the timings end every entry: the epoch's from samples_per_s on, a step's from elapsed_s */
    static const char *const keys[] = { ",\"samples_per_s\":", ",\"elapsed_s\":" };
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        for (char *p = strstr(s, keys[k]); p; p = strstr(p, keys[k])) {
            char *end = strchr(p, '}');
            memmove(p, end, strlen(end) + 1);
        }
    return s;
}

static void run_toy(const char *out, int resume, uint64_t max_steps, int epochs, int patience,
                    const dataset *tr, const dataset *va, float *final)
{
    train_task task;
    toy t;
    toy_task(&task, &t);
    rng_t init;
    rng_seed(&init, 1);
    for (size_t i = 0; i < t.n; i++)
        t.block[i] = (float)rng_normal(&init) * 0.01f;
    train_opts o = TRAIN_OPTS_DEFAULTS;
    o.out_dir = out;
    o.epochs = epochs;
    o.batch = 16;
    o.lr = 0.5;
    o.warmup_ratio = 0.1;
    o.seed = 7;
    o.resume = resume;
    o.max_steps = max_steps;
    o.patience = patience;
    o.progress = 0;
    o.quiet = 1;
    o.log_every = 10;
    o.run_info = "{\"task\":\"toy\",\"lr\":0.5}";
    train_run(&task, tr, va, &o);
    if (final)
        memcpy(final, t.block, t.n * sizeof(float));
    free(t.block);
}

static void test_trainer(void)
{
    char *trp = write_records("train.rec", 400, 11, 0), *vap = write_records("val.rec", 120, 12, 0);
    labelset ls;
    char err[128];
    labelset_parse(&ls, "anger,fear,joy", err, sizeof err);
    dataset tr, va;
    dataset_load(&tr, trp, &ls, DS_REQUIRE_LABEL, 0);
    dataset_load(&va, vap, &ls, DS_REQUIRE_LABEL, 0);
    size_t n = TOY_K * TOY_V + TOY_K;
    float *w1 = xmalloc(n * sizeof(float)), *w2 = xmalloc(n * sizeof(float)), *w3 = xmalloc(n * sizeof(float));
    char *d1 = path_join(tmpdir, "run1"), *d2 = path_join(tmpdir, "run2"), *d3 = path_join(tmpdir, "run3");

    run_toy(d1, 0, 0, 4, 0, &tr, &va, w1);
    /* 25 batches per epoch: stop mid-epoch 2 (step 37), resume, stop at the epoch-3 boundary... */
    run_toy(d2, 0, 37, 4, 0, &tr, &va, NULL);
    char *st = path_join(d2, "last/trainer_state.json");
    size_t len;
    char *js = slurp(st, &len);
    CHECK(js && strstr(js, "\"batch_in_epoch\": 12") && strstr(js, "\"global_step\": 37"), "state after 37 steps: %.200s",
          js ? js : "(none)");
    free(js);
    free(st);
    run_toy(d2, 1, 0, 4, 0, &tr, &va, w2);
    CHECK(!memcmp(w1, w2, n * sizeof(float)), "resumed run ends with other weights");
    char *a = path_join(d1, "last/toy.bin"), *b = path_join(d2, "last/toy.bin");
    CHECK(same_file(a, b), "last checkpoints differ");
    free(a);
    free(b);
    a = path_join(d1, "last/optimizer.bin");
    b = path_join(d2, "last/optimizer.bin");
    CHECK(same_file(a, b), "optimizer states differ");
    free(a);
    free(b);
    a = path_join(d1, "toy.bin");
    b = path_join(d2, "toy.bin");
    CHECK(same_file(a, b), "best models differ");
    free(a);
    free(b);
    a = path_join(d1, "train_log.jsonl");
    b = path_join(d2, "train_log.jsonl");
    char *la = log_without_timing(a), *lb = log_without_timing(b);
    CHECK(!strcmp(la, lb), "logs differ:\n%s\n---\n%s", la, lb);
    CHECK(strstr(la, "\"epoch\":4,\"step\":100,") != NULL, "log lacks the epoch-4 entry: %s", la);
    /* it learned: last epoch's val accuracy is high */
    char *acc = strrchr(la, '{');
    acc = acc ? strstr(acc, "\"val_accuracy\":") : NULL;
    CHECK(acc && atof(acc + 15) > 0.8, "val accuracy %s", acc ? acc + 15 : "?");
    free(la);
    free(lb);
    free(a);
    free(b);
    /* determinism of a fresh run */
    run_toy(d3, 0, 0, 4, 0, &tr, &va, w3);
    CHECK(!memcmp(w1, w3, n * sizeof(float)), "two runs with one seed differ");
    /* resume of a finished run does nothing and keeps the weights */
    run_toy(d3, 1, 0, 4, 0, &tr, &va, w3);
    CHECK(!memcmp(w1, w3, n * sizeof(float)), "resuming a finished run changed it");
    /* early stopping: with a tiny patience and many epochs the run stops before the end */
    char *d4 = path_join(tmpdir, "run4");
    run_toy(d4, 0, 0, 40, 1, &tr, &va, NULL);
    st = path_join(d4, "last/trainer_state.json");
    js = slurp(st, &len);
    CHECK(js && strstr(js, "\"stopped_early\": true") && !strstr(js, "\"epoch\": 40,"), "no early stop: %.300s",
          js ? js : "");
    free(js);
    free(st);
    free(d4);
    free(w1);
    free(w2);
    free(w3);
    free(d1);
    free(d2);
    free(d3);
    dataset_free(&tr);
    dataset_free(&va);
    free(trp);
    free(vap);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/emo-test-train.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        return 2;
    test_metrics();
    test_dataset_and_plans();
    test_trainer();
    if (!check_failed)
        remove_tree(tmpdir);
    return check_done("test_train");
}
