/* MPI collectives for data-parallel training (dist.h).  libmpi is loaded with dlopen, and
 * only under a launcher, so the tools carry no link-time dependency on it: mpi.h gives the
 * types and constants, dlsym the functions and Open MPI's predefined handles (what
 * MPI_COMM_WORLD, MPI_FLOAT, ... expand to). */
#include <dlfcn.h>
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "dist/dist.h"
#include "util/util.h"

extern char *program_invocation_short_name;

static struct {
    int state;               /* 0 not looked at, 1 single process, 2 in an MPI job, 3 finalized */
    int rank, size;
    void *lib;
    MPI_Comm world;
    MPI_Datatype f32, f64, byte;
    int (*init_thread)(int *, char ***, int, int *);
    int (*comm_rank)(MPI_Comm, int *);
    int (*comm_size)(MPI_Comm, int *);
    int (*set_errhandler)(MPI_Comm, MPI_Errhandler);
    int (*allgather)(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm);
    int (*bcast)(void *, int, MPI_Datatype, int, MPI_Comm);
    int (*ialltoallv)(const void *, const int *, const int *, MPI_Datatype, void *, const int *, const int *,
                      MPI_Datatype, MPI_Comm, MPI_Request *);
    int (*iallgatherv)(const void *, int, MPI_Datatype, void *, const int *, const int *, MPI_Datatype, MPI_Comm,
                       MPI_Request *);
    int (*wait)(MPI_Request *, MPI_Status *);
    int (*test)(MPI_Request *, int *, MPI_Status *);
    int (*waitall)(int, MPI_Request *, MPI_Status *);
    int (*abort)(MPI_Comm, int);
    int (*finalize)(void);
    char name[256];          /* the program name with the rank, for messages of ranks > 0 */
} D;

/* ---- start-up ------------------------------------------------------------------------- */

static void *sym(const char *name)
{
    void *p = dlsym(D.lib, name);
    if (!p)
        errx(EXIT_DATA, "MPI: %s not in libmpi (Open MPI 4 or later is needed): %s", name, dlerror());
    return p;
}

#define LOAD(field, name) (*(void **)&D.field = sym(name))

static void on_exit_abort(int status, void *arg)
{
    (void)arg;
    if (D.state == 2 && status != 0)
        D.abort(D.world, status);      /* takes the other ranks down with this one */
}

void dist_init(void)
{
    if (D.state)
        return;
    D.state = 1;
    D.rank = 0;
    D.size = 1;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK"))
        return;
    const char *lib = getenv("EMO_MPI_LIB");
    D.lib = dlopen(lib ? lib : "libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);
    if (!D.lib && !lib)
        D.lib = dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL);
    if (!D.lib)
        errx(EXIT_DATA, "started by mpirun, but libmpi cannot be loaded (%s): install Open MPI "
             "(libopenmpi3) or set EMO_MPI_LIB", dlerror());
    LOAD(init_thread, "MPI_Init_thread");
    LOAD(comm_rank, "MPI_Comm_rank");
    LOAD(comm_size, "MPI_Comm_size");
    LOAD(set_errhandler, "MPI_Comm_set_errhandler");
    LOAD(allgather, "MPI_Allgather");
    LOAD(bcast, "MPI_Bcast");
    LOAD(ialltoallv, "MPI_Ialltoallv");
    LOAD(iallgatherv, "MPI_Iallgatherv");
    LOAD(wait, "MPI_Wait");
    LOAD(test, "MPI_Test");
    LOAD(waitall, "MPI_Waitall");
    LOAD(abort, "MPI_Abort");
    LOAD(finalize, "MPI_Finalize");
    D.world = (MPI_Comm)sym("ompi_mpi_comm_world");
    D.f32 = (MPI_Datatype)sym("ompi_mpi_float");
    D.f64 = (MPI_Datatype)sym("ompi_mpi_double");
    D.byte = (MPI_Datatype)sym("ompi_mpi_byte");
    MPI_Errhandler fatal = (MPI_Errhandler)sym("ompi_mpi_errors_are_fatal");
    int provided;
    /* only the main thread calls MPI (the kernels' worker threads never do) */
    if (D.init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        errx(EXIT_DATA, "MPI_Init_thread failed");
    D.set_errhandler(D.world, fatal);
    D.comm_rank(D.world, &D.rank);
    D.comm_size(D.world, &D.size);
    D.state = 2;
    on_exit(on_exit_abort, NULL);
    if (D.rank > 0) {
        /* errx and warnings name the rank: "emo-teacher-train[rank 1]: ..." */
        snprintf(D.name, sizeof D.name, "%s[rank %d]", program_invocation_short_name, D.rank);
        program_invocation_short_name = D.name;
    }
}

int dist_rank(void)
{
    dist_init();
    return D.rank;
}

int dist_size(void)
{
    dist_init();
    return D.size;
}

static int on(void)
{
    dist_init();
    return D.state == 2 && D.size > 1;
}

void dist_finalize(void)
{
    if (D.state == 2) {
        D.state = 3;
        D.finalize();
    }
}

void dist_abort(int status)
{
    if (D.state == 2)
        D.abort(D.world, status);
    exit(status);
}

/* ---- small collectives ------------------------------------------------------------------ */

void dist_sum_f64_each(double *x, size_t n, double *each)
{
    if (!on() || n == 0) {
        if (each)
            memcpy(each, x, n * sizeof *x);
        return;
    }
    if (n > (size_t)INT32_MAX / (size_t)D.size)
        errx(EXIT_DATA, "dist_sum_f64: %zu values is too many", n);
    double *all = each ? each : xmalloc(n * (size_t)D.size * sizeof *all);
    D.allgather(x, (int)n, D.f64, all, (int)n, D.f64, D.world);
    for (size_t i = 0; i < n; i++) {
        double s = all[i];
        for (int r = 1; r < D.size; r++)
            s += all[(size_t)r * n + i];
        x[i] = s;
    }
    if (!each)
        free(all);
}

void dist_sum_f64(double *x, size_t n)
{
    dist_sum_f64_each(x, n, NULL);
}

void dist_bcast(void *buf, size_t bytes, int root)
{
    if (!on())
        return;
    char *p = buf;
    while (bytes > 0) {                /* counts are ints: 1 GiB at a time */
        int c = bytes > (1u << 30) ? 1 << 30 : (int)bytes;
        D.bcast(p, c, D.byte, root, D.world);
        p += c;
        bytes -= (size_t)c;
    }
}

/* ---- the gradient all-reduce -------------------------------------------------------------- */

typedef struct bucket {
    size_t off, n;           /* elements [off, off + n) of g */
    int *cnt, *displ;        /* (N) chunk c: cnt[c] elements at displ[c] within the bucket */
    int *rcnt, *rdispl;      /* (N) what this rank receives: its chunk from every rank */
    float *recv;             /* (N * cnt[rank]) */
    MPI_Request req;
} bucket;

static struct {
    float *g;
    size_t n, nb, cap, per;
    bucket *b;
    size_t *left;            /* (nb) elements of bucket i not yet final; 0 once started */
    size_t *order;           /* (nb) buckets in the order they started */
    size_t nstarted, head;   /* order[head] the oldest started one not seen complete */
    int busy;
    unsigned long long buckets, early;
} G;

static size_t bucket_elems(void)
{
    const char *s = getenv("EMO_DIST_BUCKET_MB");
    double mb = s ? atof(s) : 4;
    if (!(mb > 0))
        mb = 4;
    double e = mb * 1048576.0 / sizeof(float);
    return e < 1024 ? 1024 : e > 256.0 * 1048576 ? 256u << 20 : (size_t)e;
}

static void plan(size_t n)
{
    size_t per = bucket_elems(), nb = (n + per - 1) / per;
    int N = D.size;
    for (size_t i = 0; i < G.nb; i++) {
        free(G.b[i].cnt);
        free(G.b[i].recv);
    }
    if (nb > G.cap) {
        G.b = xreallocarray(G.b, nb, sizeof *G.b);
        G.left = xreallocarray(G.left, nb, sizeof *G.left);
        G.order = xreallocarray(G.order, nb, sizeof *G.order);
        G.cap = nb;
    }
    G.per = per;
    G.n = n;
    G.nb = nb;
    for (size_t i = 0; i < nb; i++) {
        bucket *b = &G.b[i];
        b->off = i * per;
        b->n = n - b->off < per ? n - b->off : per;
        b->cnt = xmalloc(4 * (size_t)N * sizeof(int));
        b->displ = b->cnt + N;
        b->rcnt = b->cnt + 2 * N;
        b->rdispl = b->cnt + 3 * N;
        size_t q = b->n / (size_t)N, r = b->n % (size_t)N, at = 0;
        for (int c = 0; c < N; c++) {
            b->cnt[c] = (int)(q + ((size_t)c < r));
            b->displ[c] = (int)at;
            at += (size_t)b->cnt[c];
        }
        int mine = b->cnt[D.rank];
        for (int c = 0; c < N; c++) {
            b->rcnt[c] = mine;
            b->rdispl[c] = c * mine;
        }
        b->recv = xmalloc(((size_t)N * (size_t)mine + 1) * sizeof(float));
    }
}

void dist_grad_begin(float *g, size_t n)
{
    if (!on())
        return;
    if (G.busy)
        errx(EXIT_DATA, "dist_grad_begin: a reduction is in flight");
    if (n != G.n)
        plan(n);
    G.g = g;
    G.busy = 1;
    G.nstarted = G.head = 0;
    for (size_t i = 0; i < G.nb; i++)
        G.left[i] = G.b[i].n;
}

static void start_bucket(size_t i)
{
    bucket *b = &G.b[i];
    G.left[i] = 0;
    G.order[G.nstarted++] = i;
    G.buckets++;
    D.ialltoallv(G.g + b->off, b->cnt, b->displ, D.f32, b->recv, b->rcnt, b->rdispl, D.f32, D.world, &b->req);
}

void dist_grad_ready(size_t off, size_t n)
{
    if (!on() || !G.busy || n == 0)
        return;
    if (off > G.n || n > G.n - off)
        errx(EXIT_DATA, "dist_grad_ready: [%zu, +%zu) outside the %zu-float gradient", off, n, G.n);
    for (size_t i = off / G.per; i < G.nb && G.b[i].off < off + n; i++) {
        size_t lo = G.b[i].off > off ? G.b[i].off : off;
        size_t hi = G.b[i].off + G.b[i].n < off + n ? G.b[i].off + G.b[i].n : off + n;
        if (hi - lo > G.left[i])
            errx(EXIT_DATA, "dist_grad_ready: bucket %zu reported final twice", i);
        G.left[i] -= hi - lo;
        if (G.left[i] == 0) {
            start_bucket(i);
            G.early++;
        }
    }
    /* Open MPI moves a nonblocking collective on only inside MPI calls */
    if (G.head < G.nstarted) {
        int done = 0;
        D.test(&G.b[G.order[G.head]].req, &done, MPI_STATUS_IGNORE);
        G.head += done != 0;
    }
}

void dist_grad_start(float *g, size_t n)
{
    if (!on())
        return;
    if (!G.busy)
        dist_grad_begin(g, n);
    else if (g != G.g || n != G.n)
        errx(EXIT_DATA, "dist_grad_start: not the gradient dist_grad_begin was given");
    for (size_t i = 0; i < G.nb; i++)
        if (G.left[i] > 0)
            start_bucket(i);
}

void dist_grad_counts(unsigned long long *buckets, unsigned long long *early)
{
    *buckets = G.buckets;
    *early = G.early;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double dist_grad_wait(const float *f)
{
    if (!on() || !G.busy)
        return 0;
    double t0 = now(), waited = 0;
    int N = D.size;
    /* bucket by bucket: this rank's chunk summed in rank order, then shared */
    for (size_t i = 0; i < G.nb; i++) {
        bucket *b = &G.b[i];
        D.wait(&b->req, MPI_STATUS_IGNORE);
        size_t m = (size_t)b->cnt[D.rank];
        float *out = G.g + b->off + b->displ[D.rank];
        double t1 = now();
        waited += t1 - t0;
        if (f)       /* the weighted sum, each product rounded, added in rank order */
            for (size_t k = 0; k < m; k++) {
                float s = b->recv[k] * f[0];
                for (int r = 1; r < N; r++)
                    s += b->recv[(size_t)r * m + k] * f[r];
                out[k] = s;
            }
        else
            for (size_t k = 0; k < m; k++) {
                float s = b->recv[k];
                for (int r = 1; r < N; r++)
                    s += b->recv[(size_t)r * m + k];
                out[k] = s;
            }
        t0 = now();
        D.iallgatherv(MPI_IN_PLACE, 0, D.f32, G.g + b->off, b->cnt, b->displ, D.f32, D.world, &b->req);
    }
    for (size_t i = 0; i < G.nb; i++)
        D.wait(&G.b[i].req, MPI_STATUS_IGNORE);
    waited += now() - t0;
    G.busy = 0;
    return waited;
}
