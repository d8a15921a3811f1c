/* Threads: threads_setup, the persistent pool of par_for, and parfor (util/par.h).
 *
 * The pool's workers are woken per par_for call.  Between jobs a worker may spin for a
 * bounded time (par_spin) before sleeping on a condition variable: waking a sleeping
 * thread costs tens of microseconds on these VMs, as much as a whole small GEMM of a
 * one-tweet forward.  Spinning is off by default, because during training the OpenBLAS
 * pool runs on the same cores between our jobs and a spinner would steal its time. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "util/par.h"

/* from OpenBLAS; cblas.h is not included because its <complex.h> defines I */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int n);

int threads_setup(int requested)
{
    int n = requested;
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    openblas_set_num_threads(n);
    return n;
}

/* ---- the pool: par_for, par_for_dynamic --------------------------------------- */

#define PAR_MAX_THREADS 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int started;              /* workers running */
    atomic_ulong gen;         /* job generation; the job's fields are written under mu */
    atomic_int pending;       /* workers still busy with this generation */
    int caller_waiting;       /* caller asleep on done (under mu) */
    atomic_long spin_ns;      /* how long an idle worker or the waiting caller spins */
    int nparts;               /* ranges of this job (caller takes range 0) */
    size_t n;
    par_fn fn;
    void *ctx;
    int blas_saved;           /* OpenBLAS count while par_blas_single() is in force, else 0 */
} P = { .mu = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER,
        .done = PTHREAD_COND_INITIALIZER };

static void range_of(int part, int nparts, size_t n, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)part / (size_t)nparts;
    *hi = n * (size_t)(part + 1) / (size_t)nparts;
}

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spins up to spin_ns until *gen != seen (returns 1) or *pending == 0 (gen NULL). */
static int spin_until(const atomic_ulong *gen, unsigned long seen, const atomic_int *pending)
{
    long budget = atomic_load_explicit(&P.spin_ns, memory_order_relaxed);
    if (budget <= 0)
        return 0;
    long deadline = now_ns() + budget;
    for (unsigned i = 1;; i++) {
        if (gen ? atomic_load_explicit(gen, memory_order_acquire) != seen
                : atomic_load_explicit(pending, memory_order_acquire) == 0)
            return 1;
        cpu_relax();
        if (i % 64 == 0 && now_ns() > deadline)
            return 0;
    }
}

static void *worker(void *arg)
{
    int id = (int)(size_t)arg;   // 1 .. started
    unsigned long seen = 0;
    for (;;) {
        spin_until(&P.gen, seen, NULL);
        pthread_mutex_lock(&P.mu);
        while (atomic_load(&P.gen) == seen)
            pthread_cond_wait(&P.go, &P.mu);
        seen = atomic_load(&P.gen);
        int nparts = P.nparts;
        size_t lo, hi;
        range_of(id, nparts, P.n, &lo, &hi);
        par_fn fn = P.fn;
        void *ctx = P.ctx;
        pthread_mutex_unlock(&P.mu);
        if (id >= nparts)
            continue;   // not needed for this job (and not counted in pending)
        fn(ctx, lo, hi);
        if (atomic_fetch_sub_explicit(&P.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&P.mu);
            if (P.caller_waiting)
                pthread_cond_signal(&P.done);
            pthread_mutex_unlock(&P.mu);
        }
    }
    return NULL;
}

int par_threads(void)
{
    int n = P.blas_saved > 0 ? P.blas_saved : openblas_get_num_threads();
    return n < 1 ? 1 : n > PAR_MAX_THREADS ? PAR_MAX_THREADS : n;
}

/* Threads worth using for n indices of at least min_chunk each (1: run inline). */
static int parts_for(size_t n, size_t min_chunk)
{
    int nt = par_threads();
    if (min_chunk < 1)
        min_chunk = 1;
    if ((size_t)nt > n / min_chunk)
        nt = (int)(n / min_chunk);
    return nt;
}

void par_for(size_t n, size_t min_chunk, par_fn fn, void *ctx)
{
    int nt = parts_for(n, min_chunk);
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
    atomic_store(&P.pending, nt - 1);
    atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
    pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.mu);
    size_t lo, hi;
    range_of(0, nt, n, &lo, &hi);
    fn(ctx, lo, hi);
    if (spin_until(NULL, 0, &P.pending))
        return;
    pthread_mutex_lock(&P.mu);
    while (atomic_load(&P.pending) > 0) {
        P.caller_waiting = 1;
        pthread_cond_wait(&P.done, &P.mu);
    }
    P.caller_waiting = 0;
    pthread_mutex_unlock(&P.mu);
}

typedef struct {
    atomic_size_t next;   // the first index not yet handed out
    size_t n;
    par_fn fn;
    void *ctx;
} dynamic_job;

static void take_indices(void *ctx, size_t lo, size_t hi)
{
    (void)lo, (void)hi;   // one part per thread: each takes indices until none are left
    dynamic_job *d = ctx;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&d->next, 1, memory_order_relaxed);
        if (i >= d->n)
            return;
        d->fn(d->ctx, i, i + 1);
    }
}

void par_for_dynamic(size_t n, size_t min_chunk, par_fn fn, void *ctx)
{
    int nt = parts_for(n, min_chunk);
    if (nt <= 1) {
        fn(ctx, 0, n);
        return;
    }
    dynamic_job d = { .n = n, .fn = fn, .ctx = ctx };
    atomic_init(&d.next, 0);
    par_for((size_t)nt, 1, take_indices, &d);
}

long par_spin(long ns)
{
    return atomic_exchange(&P.spin_ns, ns < 0 ? 0 : ns);
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

/* ---- parfor: workers per call, chunks through an atomic counter ------------------ */

typedef struct chunk_job {
    size_t n, chunk;
    atomic_size_t next;
    par_fn fn;
    void *ctx;
} chunk_job;

static void *chunk_worker(void *arg)
{
    chunk_job *j = arg;
    for (;;) {
        size_t lo = atomic_fetch_add(&j->next, j->chunk);
        if (lo >= j->n)
            break;
        size_t hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
        j->fn(j->ctx, lo, hi);
    }
    return NULL;
}

void parfor(size_t n, size_t chunk, int threads, par_fn fn, void *ctx)
{
    if (n == 0)
        return;
    if (chunk == 0)
        chunk = 1;
    if (threads <= 1 || n <= chunk) {
        fn(ctx, 0, n);
        return;
    }
    chunk_job j = { .n = n, .chunk = chunk, .fn = fn, .ctx = ctx };
    atomic_init(&j.next, 0);
    pthread_t tid[64];
    int extra = threads - 1 < 64 ? threads - 1 : 64, started = 0;
    for (; started < extra; started++)
        if (pthread_create(&tid[started], NULL, chunk_worker, &j) != 0)
            break;              /* fewer helpers is still correct, only slower */
    chunk_worker(&j);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
}
