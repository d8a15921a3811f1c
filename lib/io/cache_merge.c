/* An ensemble teacher from several teacher caches; see cache_merge.h. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <xxhash.h>

#include "io/cache_merge.h"
#include "io/shard.h"
#include "util/util.h"

void ensemble_logits(float *out, const float *z, int N, int K)
{
    double lse[64], *l = N <= 64 ? lse : xmalloc((size_t)N * sizeof *l);
    for (int j = 0; j < N; j++) {      /* log-sum-exp of each teacher's logits */
        const float *zj = z + (size_t)j * (size_t)K;
        double mx = zj[0], s = 0;
        for (int k = 1; k < K; k++)
            mx = zj[k] > mx ? zj[k] : mx;
        for (int k = 0; k < K; k++)
            s += exp((double)zj[k] - mx);
        l[j] = mx + log(s);
    }
    for (int k = 0; k < K; k++) {      /* log mean_j p_jk, p_jk = exp(z_jk - lse_j) */
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < N; j++) {
            double lp = (double)z[(size_t)j * (size_t)K + (size_t)k] - l[j];
            mx = lp > mx ? lp : mx;
        }
        for (int j = 0; j < N; j++)
            s += exp((double)z[(size_t)j * (size_t)K + (size_t)k] - l[j] - mx);
        out[k] = (float)(mx + log(s / N));
    }
    if (l != lse)
        free(l);
}

static int empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n == 0;
}

static void label_list(char *buf, size_t cap, const shard_meta *m)
{
    buf[0] = 0;
    for (int k = 0; k < m->K; k++) {
        size_t u = strlen(buf);
        snprintf(buf + u, cap - u, "%s%s", k ? "," : "", m->labels[k]);
    }
}

/* Every check before anything is written: labels, ids, lengths. */
static int check_inputs(shard_reader **r, const char *const *dirs, int n, char *err, size_t errn)
{
    const shard_meta *m0 = shard_reader_meta(r[0]);
    uint64_t count = shard_reader_count(r[0]);
    for (int j = 1; j < n; j++) {
        const shard_meta *m = shard_reader_meta(r[j]);
        int same = m->K == m0->K;
        for (int k = 0; same && k < m->K; k++)
            same = !strcmp(m->labels[k], m0->labels[k]);
        if (!same) {
            char a[1024], b[1024];
            label_list(a, sizeof a, m0);
            label_list(b, sizeof b, m);
            return errbuf_fail(err, errn, "%s: labels %s, but %s has %s (teachers of other classes, or in "
                               "another order?)", dirs[j], b, dirs[0], a);
        }
        uint64_t cj = shard_reader_count(r[j]);
        for (uint64_t i = 0; i < count || i < cj; i++) {
            uint64_t a = shard_reader_id(r[0], i), b = shard_reader_id(r[j], i);
            if (a < b)
                return errbuf_fail(err, errn, "%s: no id %llu, which %s has (the caches must hold the same ids: "
                                   "%llu and %llu records)", dirs[j], (unsigned long long)a, dirs[0],
                                   (unsigned long long)count, (unsigned long long)cj);
            if (b < a)
                return errbuf_fail(err, errn, "%s: id %llu is not in %s (the caches must hold the same ids: "
                                   "%llu and %llu records)", dirs[j], (unsigned long long)b, dirs[0],
                                   (unsigned long long)cj, (unsigned long long)count);
            int la = shard_reader_len(r[0], a), lb = shard_reader_len(r[j], a);
            if (la != lb)
                return errbuf_fail(err, errn, "%s: id %llu has %d tokens, %d in %s (caches made from other "
                                   "records or another tokenisation?)", dirs[j], (unsigned long long)a, lb, la,
                                   dirs[0]);
        }
    }
    return 0;
}

static void meta_for(shard_meta *out, shard_reader **r, int n, int attn)
{
    const shard_meta *m0 = shard_reader_meta(r[0]);
    *out = *m0;
    /* identity: every teacher's hash, in order */
    XXH64_state_t *h = XXH64_createState();
    XXH64_reset(h, 0);
    for (int j = 0; j < n; j++) {
        const char *s = shard_reader_meta(r[j])->teacher_hash;
        XXH64_update(h, s, strlen(s) + 1);
    }
    snprintf(out->teacher_hash, sizeof out->teacher_hash, "ensemble-%d:xxh64:%016llx", n,
             (unsigned long long)XXH64_digest(h));
    XXH64_freeState(h);
    if (attn == CACHE_MERGE_ATTN_NONE) {
        out->NL = 0;
        /* no maps: the teacher is the ensemble, named by its members */
        int k = snprintf(out->teacher, sizeof out->teacher, "ensemble of %d:", n);
        for (int j = 0; j < n && k > 0 && (size_t)k < sizeof out->teacher; j++)
            k += snprintf(out->teacher + k, sizeof out->teacher - (size_t)k, " %s", shard_reader_meta(r[j])->teacher);
    }
    /* attn first: the first teacher, whose maps these are (the student's layer map reads its
     * depth from it) */
}

int cache_merge(const char *out, const char *const *dirs, int n, int attn, const char *prefix, char *err,
                size_t errn)
{
    if (n < 1)
        return errbuf_fail(err, errn, "no cache to merge");
    struct stat st;
    if (stat(out, &st) == 0 && !(S_ISDIR(st.st_mode) && empty_dir(out)))
        return errbuf_fail(err, errn, "%s: exists (merge writes a new cache directory)", out);
    shard_reader **r = xcalloc((size_t)n, sizeof *r);
    int rc = 0;
    for (int j = 0; j < n && !rc; j++)
        if (!(r[j] = shard_reader_open(dirs[j], 16, err, errn)))
            rc = -1;
    if (!rc)
        rc = check_inputs(r, dirs, n, err, errn);
    atomic_dir ad = { 0 };
    shard_writer *w = NULL;
    float *z = NULL, *buf = NULL;
    if (!rc) {
        shard_meta m;
        meta_for(&m, r, n, attn);
        const char *tmp = atomic_dir_open(&ad, out);
        if (!(w = shard_writer_open(tmp, prefix, &m, NULL, err, errn)))
            rc = -1;
        int K = m.K;
        z = xmalloc((size_t)n * (size_t)K * sizeof *z);
        float merged[LABELS_MAX];
        size_t cap = 0;
        uint64_t count = shard_reader_count(r[0]);
        for (uint64_t i = 0; i < count && !rc; i++) {
            uint64_t id = shard_reader_id(r[0], i);
            int len = shard_reader_len(r[0], id);
            size_t need = (size_t)m.NL * (size_t)m.NH * (size_t)len * (size_t)len;
            if (need > cap) {
                free(buf);
                cap = need;
                buf = xmalloc(cap * sizeof *buf);
            }
            for (int j = 0; j < n && !rc; j++) {
                int l = 0;
                float *attn_out = j == 0 && m.NL ? buf : NULL;
                if (shard_reader_get(r[j], id, z + (size_t)j * (size_t)K, attn_out, cap, &l) != 0)
                    rc = errbuf_fail(err, errn, "%s", shard_reader_error(r[j]));
            }
            if (rc)
                break;
            ensemble_logits(merged, z, n, K);
            if (shard_writer_add(w, id, len, merged, m.NL ? buf : NULL) != 0)
                rc = errbuf_fail(err, errn, "%s", shard_writer_error(w));
        }
        if (!rc) {
            rc = shard_writer_close(w, err, errn);
            w = NULL;
        }
        if (w)
            shard_writer_abort(w);
        if (rc)
            atomic_dir_abort(&ad);
        else if (atomic_dir_commit(&ad) != 0)
            rc = errbuf_fail(err, errn, "%s: %s", out, strerror(errno));
        free(ad.path);
        free(ad.tmp);
    }
    for (int j = 0; j < n; j++)
        if (r[j])
            shard_reader_close(r[j]);
    free(r);
    free(z);
    free(buf);
    return rc;
}
