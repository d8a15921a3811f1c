/* Threads, all in one place: the thread count a tool runs with (threads_setup, which sets
 * OpenBLAS's pool too), the persistent pool of the engine's own loops (par_for), and the
 * per-call workers of the embedding code (parfor).
 *
 * The pool serves the engine's loops (attention heads, GELU, LayerNorm), sized like
 * OpenBLAS (threads_setup() sets both), so the two never oversubscribe the cores.  Work is
 * split into fixed contiguous ranges by index, and each index is computed by exactly the
 * same code whichever thread runs it, so results are bit-identical for any thread count
 * unless a caller reduces across ranges. */
#ifndef EMO_PAR_H
#define EMO_PAR_H

#include <stddef.h>

/* Number of threads: --threads value if > 0, else the online cores.  Applies it to
 * OpenBLAS too, so the two never oversubscribe the machine. */
int threads_setup(int requested);

/* fn(ctx, lo, hi) handles indices [lo, hi). */
typedef void (*par_fn)(void *ctx, size_t lo, size_t hi);

/* Runs fn over [0, n) on up to par_threads() threads (the caller is one of them) and
 * returns when all are done.  Runs inline when n < 2 * min_chunk or with one thread.
 * Not reentrant: call from one thread at a time. */
void par_for(size_t n, size_t min_chunk, par_fn fn, void *ctx);
/* The same, but the indices are handed out one at a time to whichever thread is free,
 * for jobs whose pieces differ in cost (sequences of different lengths) or whose threads
 * may run at different speeds.  Only for fn whose result for an index does not depend on
 * the thread or on the other indices it ran (no reduction across indices). */
void par_for_dynamic(size_t n, size_t min_chunk, par_fn fn, void *ctx);
/* Threads in use: openblas_get_num_threads() at the time of the call (>= 1), or the count
 * saved by par_blas_single() while that is in force. */
int par_threads(void);

/* Sets how long (ns) idle workers, and the caller waiting for them, spin before sleeping;
 * returns the previous setting.  0 (the default) never spins.  For stretches where only
 * our threads run, with short jobs close together (an inference forward). */
long par_spin(long ns);

/* While inside par_for with several threads, OpenBLAS must run single-threaded in each
 * caller: par_blas_single() sets that and returns the previous count for
 * par_blas_restore(). */
int par_blas_single(void);
void par_blas_restore(int n);

/* A minimal deterministic parallel-for for the embedding code (t-SNE, silhouettes), on
 * threads of its own started per call: items [0, n) are handed out in fixed-size chunks
 * through an atomic counter.  Results stay bit-identical for any thread count as long as
 * fn writes only per-item outputs and the caller reduces them in item order afterwards.
 * threads <= 1 runs inline. */
void parfor(size_t n, size_t chunk, int threads, par_fn fn, void *ctx);

#endif
