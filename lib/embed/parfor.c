#include <pthread.h>
#include <stdatomic.h>

#include "embed/parfor.h"

typedef struct job {
    size_t n, chunk;
    atomic_size_t next;
    parfor_fn fn;
    void *ctx;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    for (;;) {
        size_t lo = atomic_fetch_add(&j->next, j->chunk);
        if (lo >= j->n)
            break;
        size_t hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
        j->fn(j->ctx, lo, hi);
    }
    return NULL;
}

void parfor(size_t n, size_t chunk, int threads, parfor_fn fn, void *ctx)
{
    if (n == 0)
        return;
    if (chunk == 0)
        chunk = 1;
    if (threads <= 1 || n <= chunk) {
        fn(ctx, 0, n);
        return;
    }
    job j = { .n = n, .chunk = chunk, .fn = fn, .ctx = ctx };
    atomic_init(&j.next, 0);
    pthread_t tid[64];
    int extra = threads - 1 < 64 ? threads - 1 : 64, started = 0;
    for (; started < extra; started++)
        if (pthread_create(&tid[started], NULL, worker, &j) != 0)
            break;              /* fewer helpers is still correct, only slower */
    worker(&j);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
}
