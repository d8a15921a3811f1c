/* Persistent worker threads woken per par_for call through a mutex + condition variable
 * (no spinning: the OpenBLAS pool already spins on this 2-core machine). */
#include <pthread.h>
#include <stdlib.h>

#include "nn/par.h"

/* from OpenBLAS; cblas.h is not included because its <complex.h> defines I */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int n);

#define PAR_MAX_THREADS 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int started;            /* workers running */
    unsigned long gen;      /* job generation */
    int pending;            /* workers still busy with this generation */
    int nparts;             /* ranges of this job (caller takes range 0) */
    size_t n;
    par_fn fn;
    void *ctx;
    int blas_saved;         /* OpenBLAS count while par_blas_single() is in force, else 0 */
} P = { .mu = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER,
        .done = PTHREAD_COND_INITIALIZER };

static void range_of(int part, int nparts, size_t n, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)part / (size_t)nparts;
    *hi = n * (size_t)(part + 1) / (size_t)nparts;
}

static void *worker(void *arg)
{
    int id = (int)(size_t)arg;   // 1 .. started
    unsigned long seen = 0;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (P.gen == seen)
            pthread_cond_wait(&P.go, &P.mu);
        seen = P.gen;
        if (id >= P.nparts)
            continue;   // not needed for this job (and not counted in pending)
        size_t lo, hi;
        range_of(id, P.nparts, P.n, &lo, &hi);
        par_fn fn = P.fn;
        void *ctx = P.ctx;
        pthread_mutex_unlock(&P.mu);
        fn(ctx, lo, hi);
        pthread_mutex_lock(&P.mu);
        if (--P.pending == 0)
            pthread_cond_signal(&P.done);
    }
    return NULL;
}

int par_threads(void)
{
    int n = P.blas_saved > 0 ? P.blas_saved : openblas_get_num_threads();
    return n < 1 ? 1 : n > PAR_MAX_THREADS ? PAR_MAX_THREADS : n;
}

void par_for(size_t n, size_t min_chunk, par_fn fn, void *ctx)
{
    int nt = par_threads();
    if (min_chunk < 1)
        min_chunk = 1;
    if ((size_t)nt > n / min_chunk)
        nt = (int)(n / min_chunk);
    if (nt <= 1) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&P.mu);
    while (P.started < nt - 1) {   // grow the pool lazily; a failed create runs fewer parts
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &at, worker, (void *)(size_t)(P.started + 1));
        pthread_attr_destroy(&at);
        if (rc != 0)
            break;
        P.started++;
    }
    if (nt > P.started + 1)
        nt = P.started + 1;
    P.n = n;
    P.fn = fn;
    P.ctx = ctx;
    P.nparts = nt;
    P.pending = nt - 1;
    P.gen++;
    pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.mu);
    size_t lo, hi;
    range_of(0, nt, n, &lo, &hi);
    fn(ctx, lo, hi);
    pthread_mutex_lock(&P.mu);
    while (P.pending > 0)
        pthread_cond_wait(&P.done, &P.mu);
    pthread_mutex_unlock(&P.mu);
}

int par_blas_single(void)
{
    int n = openblas_get_num_threads();
    if (n > 1)
        openblas_set_num_threads(1);
    P.blas_saved = n;   // par_for keeps using n threads meanwhile
    return n;
}

void par_blas_restore(int n)
{
    P.blas_saved = 0;
    if (n > 1)
        openblas_set_num_threads(n);
}
