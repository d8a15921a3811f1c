/* Data-parallel collectives: the one place that knows about MPI.
 *
 * A process started by mpirun (Open MPI: OMPI_COMM_WORLD_SIZE in the environment; a PMIx
 * launcher: PMIX_RANK) loads libmpi with dlopen and joins the job on its first call here;
 * any other process never loads it: rank 0 of 1, every collective a no-op, so a tool run
 * without mpirun has neither MPI's start-up cost nor a different result.
 *
 * Every reduction here has a fixed order, so the same ranks and inputs give the same bits
 * run after run and on every rank:
 *   dist_sum_f64     all-gather, then each rank adds the N contributions in rank order;
 *   dist_grad_*      per bucket, a reduce-scatter by hand (MPI_Ialltoallv: rank c receives
 *                    everyone's chunk c and adds them in rank order 0, 1, ..., N-1), then
 *                    MPI_Iallgatherv of the reduced chunks: the bytes of a ring all-reduce,
 *                    2 (N-1)/N of the vector per rank.
 * Errors: the world communicator has MPI_ERRORS_ARE_FATAL, and a rank that exits with a
 * non-zero status before dist_finalize calls MPI_Abort, so one failing or killed rank ends
 * the whole job instead of leaving the others waiting in a collective. */
#ifndef EMO_DIST_H
#define EMO_DIST_H

#include <stddef.h>

/* Join the job if this process was started by an MPI launcher (idempotent; the other
 * calls do it too).  Exits 1 with a message if libmpi cannot be loaded or started. */
void dist_init(void);
int dist_rank(void);
int dist_size(void);

/* x[i] = sum over ranks of x[i], added in rank order (identical on every rank). */
void dist_sum_f64(double *x, size_t n);
/* dist_sum_f64, and each (N n, or NULL) = every rank's x before the sum, rank by rank. */
void dist_sum_f64_each(double *x, size_t n, double *each);
/* root's bytes into every rank's buf. */
void dist_bcast(void *buf, size_t bytes, int root);

/* The gradient all-reduce: sum over ranks r of f_r g_r, in buckets of EMO_DIST_BUCKET_MB
 * (default 4) MiB of g (n floats, the same n on every rank); one reduction in flight at a time.
 *   dist_grad_begin(g, n)     a reduction whose parts become final one by one, as a backward
 *                             pass produces them;
 *   dist_grad_ready(off, k)   g[off, off + k) is final: every bucket now wholly final starts
 *                             at once (MPI_Ialltoallv), and MPI's progress is poked;
 *   dist_grad_start(g, n)     starts the buckets not started yet, in bucket order (without
 *                             dist_grad_begin: all of g, which is final);
 *   dist_grad_wait(f)         completes it: g then holds, identical on every rank, the sum in
 *                             rank order of each rank's g times f[r] (each product rounded to
 *                             float: the bits of every rank scaling its own g before a plain
 *                             sum), or the plain sum if f is NULL; returns the seconds spent
 *                             waiting in it.  The weights can so be settled after the start.
 * Nonblocking collectives must start in the same order on every rank, so every rank must
 * make the same sequence of dist_grad_ready calls (a rank without rows replays it). */
void dist_grad_begin(float *g, size_t n);
void dist_grad_ready(size_t off, size_t n);
void dist_grad_start(float *g, size_t n);
double dist_grad_wait(const float *f);
/* Buckets started so far in this process, and how many of them by dist_grad_ready (before
 * the backward ended). */
void dist_grad_counts(unsigned long long *buckets, unsigned long long *early);

/* Leave the job cleanly (every rank must call it); later calls are no-ops. */
void dist_finalize(void);
/* End the whole job now with this exit status. */
void dist_abort(int status) __attribute__((noreturn));

#endif
