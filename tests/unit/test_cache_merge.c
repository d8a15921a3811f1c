/* An ensemble teacher's cache (lib/io/cache_merge.h): ensemble_logits against the
 * probability average computed directly in long double, extreme logits stay finite; a merge
 * of three caches (two parts in one of them, ids in another order) holds per id the log of
 * the mean probability and the first cache's attention maps bit for bit (f16 and u8), or none;
 * every refusal (labels, ids, lengths, an existing output) leaves nothing behind. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io/cache_merge.h"
#include "io/shard.h"
#include "util/rng.h"
#include "util/util.h"

#define TK 4
#define TNL 2
#define TNH 2

static char tmpdir[] = "/tmp/test_cache_merge.XXXXXX";

/* log((1/N) sum_j softmax(z_j)_k), the plain way */
static void reference(double *out, const float *z, int N, int k_n)
{
    for (int k = 0; k < k_n; k++) {
        long double s = 0;
        for (int j = 0; j < N; j++) {
            long double den = 0;
            for (int c = 0; c < k_n; c++)
                den += expl((long double)z[j * k_n + c]);
            s += expl((long double)z[j * k_n + k]) / den;
        }
        out[k] = (double)logl(s / N);
    }
}

static void test_ensemble_logits(void)
{
    rng_t r;
    rng_seed(&r, 3);
    double worst = 0;
    for (int t = 0; t < 200; t++) {
        int N = 1 + (int)rng_below(&r, 5);
        float z[5 * TK], out[TK];
        double ref[TK];
        for (int i = 0; i < N * TK; i++)
            z[i] = (float)(rng_normal(&r) * 4);
        ensemble_logits(out, z, N, TK);
        reference(ref, z, N, TK);
        double sum = 0;
        for (int k = 0; k < TK; k++) {
            double d = fabs(out[k] - ref[k]);
            worst = d > worst ? d : worst;
            sum += exp(out[k]);
        }
        CHECK(fabs(sum - 1) < 1e-6, "softmax of the merged logits is the mean probability: sums to %.9g", sum);
    }
    CHECK(worst < 2e-6, "max |ensemble_logits - log mean softmax| = %.3g", worst);
    /* one teacher: its log-probabilities (softmax unchanged) */
    float one[TK] = { 1, 2, 3, 4 }, o1[TK];
    ensemble_logits(o1, one, 1, TK);
    for (int k = 0; k < TK; k++)
        CHECK(fabsf(o1[k] - (one[k] - 4.4401897f)) < 1e-5, "one teacher: %g", o1[k]);
    /* far apart: no -inf, no NaN */
    float far[2 * TK] = { 1000, -1000, 0, 0, -1000, 1000, 0, 0 }, of[TK];
    ensemble_logits(of, far, 2, TK);
    for (int k = 0; k < TK; k++)
        CHECK(isfinite(of[k]), "finite: %g", of[k]);
    CHECK(fabsf(of[0] - logf(0.5f)) < 1e-6 && fabsf(of[1] - logf(0.5f)) < 1e-6 && of[2] < -990, "%g %g %g", of[0],
          of[1], of[2]);
}

static shard_meta meta(const char *teacher, shard_codec codec, int nl)
{
    shard_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.teacher, sizeof m.teacher, "%s", teacher);
    snprintf(m.teacher_hash, sizeof m.teacher_hash, "xxh64:%s", teacher);
    m.K = TK;
    const char *names[TK] = { "joy", "anger", "fear", "love" };
    for (int k = 0; k < TK; k++)
        snprintf(m.labels[k], LABEL_BYTES, "%s", names[k]);
    m.NL = nl;
    m.layers[0] = 0;
    m.layers[1] = 1;
    m.NH = TNH;
    m.codec = codec;
    snprintf(m.attn_kind, sizeof m.attn_kind, "probs");
    return m;
}

static int len_of(uint64_t id) { return 2 + (int)(id % 9); }

/* teacher t's logits and maps for id */
static void targets(int t, uint64_t id, float *logits, float *attn)
{
    rng_t r;
    rng_seed(&r, id * 31 + (uint64_t)t * 1000003);
    for (int k = 0; k < TK; k++)
        logits[k] = (float)(rng_normal(&r) * 3);
    int l = len_of(id);
    for (int row = 0; row < TNL * TNH * l; row++) {
        float s = 0, *a = attn + row * l;
        for (int j = 0; j < l; j++)
            s += a[j] = (float)rng_uniform(&r) + 0.01f;
        for (int j = 0; j < l; j++)
            a[j] /= s;
    }
}

/* cache dir/ of teacher t over ids[0..n), split into `parts` parts */
static char *write_cache(const char *name, int t, const uint64_t *ids, int n, shard_meta m, int parts)
{
    char *dir = path_join(tmpdir, name);
    mkdir(dir, 0755);
    char err[512];
    float logits[TK], attn[TNL * TNH * 10 * 10];
    for (int p = 0; p < parts; p++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "p%d", p);
        shard_writer *w = shard_writer_open(dir, prefix, &m, NULL, err, sizeof err);
        CHECK(w != NULL, "%s", err);
        for (int i = p; i < n; i += parts) {
            targets(t, ids[i], logits, attn);
            CHECK(shard_writer_add(w, ids[i], len_of(ids[i]), logits, attn) == 0, "%s", shard_writer_error(w));
        }
        CHECK(shard_writer_close(w, err, sizeof err) == 0, "%s", err);
    }
    return dir;
}

static int exists(const char *name)
{
    char *p = path_join(tmpdir, name);
    struct stat st;
    int e = stat(p, &st) == 0;
    free(p);
    return e;
}

/* nothing but the named entries in tmpdir (no temporary directory left) */
static int only_inputs(int n, const char *const *names)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int other = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int known = 0;
        for (int i = 0; i < n; i++)
            known |= !strcmp(e->d_name, names[i]);
        other += !known;
    }
    closedir(d);
    return !other;
}

static void test_merge(shard_codec codec)
{
    enum { N = 60 };
    uint64_t ids[N], rev[N];
    for (int i = 0; i < N; i++)
        ids[i] = 1000 + (uint64_t)i * 7, rev[N - 1 - i] = ids[i];
    char *a = write_cache("a", 0, ids, N, meta("/t/a", codec, TNL), 1);
    char *b = write_cache("b", 1, rev, N, meta("/t/b", codec, TNL), 2);
    char *c = write_cache("c", 2, ids, N, meta("/t/c", codec, 0), 1);   /* logits only */
    const char *in[] = { a, b, c };
    char err[1024], *out = path_join(tmpdir, "ens"), *none = path_join(tmpdir, "ens-none");
    CHECK(cache_merge(out, in, 3, CACHE_MERGE_ATTN_FIRST, "ensemble", err, sizeof err) == 0, "%s", err);
    CHECK(cache_merge(none, in, 3, CACHE_MERGE_ATTN_NONE, "ensemble", err, sizeof err) == 0, "%s", err);

    shard_reader *r = shard_reader_open(out, 4, err, sizeof err), *rn = shard_reader_open(none, 4, err, sizeof err);
    shard_reader *ra = shard_reader_open(a, 4, err, sizeof err);
    CHECK(r && rn && ra, "%s", err);
    if (!r || !rn || !ra)
        return;
    const shard_meta *m = shard_reader_meta(r);
    CHECK(shard_reader_count(r) == N && m->NL == TNL && m->codec == codec && !strcmp(m->teacher, "/t/a") &&
          !strcmp(m->labels[3], "love"), "merged meta: %d layers, teacher %s", m->NL, m->teacher);
    CHECK(shard_reader_meta(rn)->NL == 0 && strstr(shard_reader_meta(rn)->teacher, "ensemble of 3: /t/a /t/b /t/c"),
          "--attn none: %s", shard_reader_meta(rn)->teacher);
    CHECK(!strncmp(m->teacher_hash, "ensemble-3:xxh64:", 17), "%s", m->teacher_hash);
    double worst = 0;
    int attn_diff = 0;
    for (int i = 0; i < N; i++) {
        float z[3 * TK], mattn[TNL * TNH * 100], aattn[TNL * TNH * 100], got[TK], gotn[TK], scratch[TNL * TNH * 100];
        targets(0, ids[i], z, scratch);
        targets(1, ids[i], z + TK, scratch);
        targets(2, ids[i], z + 2 * TK, scratch);
        double ref[TK];
        reference(ref, z, 3, TK);
        int l = 0, la = 0, ln = 0;
        CHECK(shard_reader_get(r, ids[i], got, mattn, sizeof mattn / sizeof *mattn, &l) == 0, "%s",
              shard_reader_error(r));
        CHECK(shard_reader_get(ra, ids[i], scratch, aattn, sizeof aattn / sizeof *aattn, &la) == 0, "a");
        CHECK(shard_reader_get(rn, ids[i], gotn, NULL, 0, &ln) == 0, "none");
        CHECK(l == len_of(ids[i]) && la == l && ln == l, "length %d", l);
        for (int k = 0; k < TK; k++) {
            double d = fabs(got[k] - ref[k]);
            worst = d > worst ? d : worst;
            CHECK(got[k] == gotn[k], "the same logits with and without maps");
        }
        attn_diff += memcmp(mattn, aattn, (size_t)(TNL * TNH * l * l) * sizeof(float)) != 0;
    }
    CHECK(worst < 2e-6, "merged logits vs log mean probability: max diff %.3g", worst);
    CHECK(attn_diff == 0, "%d records' maps differ from the first cache's", attn_diff);
    CHECK(shard_reader_verify(r) == 0, "%s", shard_reader_error(r));
    shard_reader_close(r);
    shard_reader_close(rn);
    shard_reader_close(ra);

    /* refusals: nothing written */
    const char *kept[] = { "a", "b", "c", "ens", "ens-none", "x", "y", "z", "w", "empty" };
    char *bad = path_join(tmpdir, "x");
    shard_meta other = meta("/t/x", codec, TNL);
    snprintf(other.labels[1], LABEL_BYTES, "fear");
    snprintf(other.labels[2], LABEL_BYTES, "anger");
    char *x = write_cache("x", 3, ids, N, other, 1);
    const char *in2[] = { a, x };
    char *o2 = path_join(tmpdir, "o2");
    CHECK(cache_merge(o2, in2, 2, CACHE_MERGE_ATTN_FIRST, "ensemble", err, sizeof err) == -1 &&
          strstr(err, "labels joy,fear,anger,love, but") && strstr(err, "has joy,anger,fear,love"), "%s", err);
    char *y = write_cache("y", 1, ids, N - 1, meta("/t/y", codec, TNL), 1);       /* one id fewer */
    const char *in3[] = { a, y };
    CHECK(cache_merge(o2, in3, 2, CACHE_MERGE_ATTN_FIRST, "ensemble", err, sizeof err) == -1 &&
          strstr(err, "y: no id 1413, which") && strstr(err, "60 and 59 records"), "%s", err);
    uint64_t shifted[N];
    memcpy(shifted, ids, sizeof ids);
    shifted[5] = 5;       /* another id instead of ids[5] */
    char *z = write_cache("z", 1, shifted, N, meta("/t/z", codec, TNL), 1);
    const char *in4[] = { a, z };
    CHECK(cache_merge(o2, in4, 2, CACHE_MERGE_ATTN_FIRST, "ensemble", err, sizeof err) == -1 &&
          strstr(err, "z: id 5 is not in"), "%s", err);
    CHECK(!exists("o2"), "nothing written on refusal");
    CHECK(cache_merge(a, in, 3, CACHE_MERGE_ATTN_FIRST, "ensemble", err, sizeof err) == -1 && strstr(err, "exists"),
          "an existing cache is never replaced: %s", err);
    char *empty = path_join(tmpdir, "empty");
    mkdir(empty, 0755);
    CHECK(cache_merge(empty, in, 2, CACHE_MERGE_ATTN_NONE, "ensemble", err, sizeof err) == 0, "an empty directory: %s",
          err);
    CHECK(only_inputs(10, kept), "no temporary directory left behind");
    free(bad);
    free(x);
    free(y);
    free(z);
    free(o2);
    free(empty);
    free(a);
    free(b);
    free(c);
    free(out);
    free(none);
    (void)kept;
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    test_ensemble_logits();
    char base[sizeof tmpdir];
    memcpy(base, tmpdir, sizeof base);
    test_merge(SHARD_ATTN_F16);
    remove_tree(tmpdir);
    memcpy(tmpdir, base, sizeof base);
    mkdir(tmpdir, 0755);
    test_merge(SHARD_ATTN_U8);
    remove_tree(tmpdir);
    return check_done("test_cache_merge");
}
