/* Quadtree for Barnes-Hut t-SNE; see sptree.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "embed/sptree.h"
#include "util/util.h"

/* Cells deeper than this become leaves holding several (near-)coincident points. */
#define SP_MAX_DEPTH 48

typedef struct spnode {    /* 32 bytes: two per cache line */
    double cx, cy;       /* centre of mass of the points below */
    double w2;           /* squared longest side of the cell; -1 for a leaf */
    uint32_t count;      /* points below */
    uint32_t skip;       /* index of the first node after this subtree; id + 1 for a leaf */
} spnode;

struct sptree {
    spnode *nodes;
    size_t nnodes, cap;
    uint32_t *perm;      /* (N) point index per slot; leaves own contiguous slots */
    uint32_t *scratch;   /* (N) partition buffer */
    size_t N, Ncap;
    const double *Y;
};

sptree *sptree_new(void) { return xcalloc(1, sizeof(sptree)); }

void sptree_free(sptree *t)
{
    if (!t)
        return;
    free(t->nodes);
    free(t->perm);
    free(t->scratch);
    free(t);
}

size_t sptree_nodes(const sptree *t) { return t->nnodes; }

const uint32_t *sptree_order(const sptree *t) { return t->perm; }

static uint32_t new_node(sptree *t)
{
    if (t->nnodes == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->nodes = xreallocarray(t->nodes, t->cap, sizeof *t->nodes);
    }
    return (uint32_t)t->nnodes++;
}

static int all_same(const sptree *t, size_t lo, size_t hi)
{
    const double *a = t->Y + 2 * (size_t)t->perm[lo];
    for (size_t s = lo + 1; s < hi; s++) {
        const double *b = t->Y + 2 * (size_t)t->perm[s];
        if (a[0] != b[0] || a[1] != b[1])
            return 0;
    }
    return 1;
}

/* Builds the cell [x0,x1) x [y0,y1) over slots [lo, hi); returns its node index. */
static uint32_t build(sptree *t, size_t lo, size_t hi, double x0, double y0, double x1, double y1, int depth)
{
    uint32_t id = new_node(t);
    double wx = x1 - x0, wy = y1 - y0;
    spnode nd = { .w2 = wx > wy ? wx * wx : wy * wy, .count = (uint32_t)(hi - lo) };
    int same = hi - lo == 1 || all_same(t, lo, hi);
    if (same || depth >= SP_MAX_DEPTH) {
        /* coincident points: the centre is their exact position (a mean could round),
         * which the self test in sptree_repulsion relies on */
        const double *p0 = t->Y + 2 * (size_t)t->perm[lo];
        double sx = 0, sy = 0;
        for (size_t s = lo; s < hi; s++) {
            const double *p = t->Y + 2 * (size_t)t->perm[s];
            sx += p[0];
            sy += p[1];
        }
        nd.cx = same ? p0[0] : sx / (double)(hi - lo);
        nd.cy = same ? p0[1] : sy / (double)(hi - lo);
        nd.w2 = -1;             /* always summarised: exact for one point or coincident ones */
        nd.skip = id + 1;
        t->nodes[id] = nd;
        return id;
    }
    /* partition the slots into quadrants 0:(lo x, lo y) 1:(hi x, lo y) 2:(lo x, hi y) 3:(hi x, hi y) */
    double mx = 0.5 * (x0 + x1), my = 0.5 * (y0 + y1);
    size_t cnt[4] = { 0 };
    for (size_t s = lo; s < hi; s++) {
        const double *p = t->Y + 2 * (size_t)t->perm[s];
        cnt[(p[0] >= mx) + 2 * (p[1] >= my)]++;
    }
    size_t start[4] = { lo, lo + cnt[0], lo + cnt[0] + cnt[1], lo + cnt[0] + cnt[1] + cnt[2] };
    size_t fill[4] = { start[0], start[1], start[2], start[3] };
    for (size_t s = lo; s < hi; s++) {
        const double *p = t->Y + 2 * (size_t)t->perm[s];
        t->scratch[fill[(p[0] >= mx) + 2 * (p[1] >= my)]++] = t->perm[s];
    }
    memcpy(t->perm + lo, t->scratch + lo, (hi - lo) * sizeof *t->perm);
    t->nodes[id] = nd;
    double sx = 0, sy = 0;
    for (int q = 0; q < 4; q++) {
        if (!cnt[q])
            continue;
        double cx0 = q & 1 ? mx : x0, cx1 = q & 1 ? x1 : mx;
        double cy0 = q & 2 ? my : y0, cy1 = q & 2 ? y1 : my;
        uint32_t c = build(t, start[q], start[q] + cnt[q], cx0, cy0, cx1, cy1, depth + 1);
        sx += (double)t->nodes[c].count * t->nodes[c].cx;
        sy += (double)t->nodes[c].count * t->nodes[c].cy;
    }
    t->nodes[id].cx = sx / (double)(hi - lo);
    t->nodes[id].cy = sy / (double)(hi - lo);
    t->nodes[id].skip = (uint32_t)t->nnodes;
    return id;
}

/* max(m * (1 + 1e-3 sign(m)), m + 1e-3): an upper bound strictly above m, as sklearn's */
static double widen(double m)
{
    double a = m + 1e-3 * fabs(m), b = m + 1e-3;
    return a > b ? a : b;
}

void sptree_build(sptree *t, const double *Y, size_t N)
{
    if (N > t->Ncap) {
        t->perm = xreallocarray(t->perm, N, sizeof *t->perm);
        t->scratch = xreallocarray(t->scratch, N, sizeof *t->scratch);
        t->Ncap = N;
    }
    t->N = N;
    t->Y = Y;
    t->nnodes = 0;
    if (N == 0)
        return;
    double x0 = Y[0], x1 = Y[0], y0 = Y[1], y1 = Y[1];
    for (size_t i = 0; i < N; i++) {
        t->perm[i] = (uint32_t)i;
        if (Y[2 * i] < x0) x0 = Y[2 * i];
        if (Y[2 * i] > x1) x1 = Y[2 * i];
        if (Y[2 * i + 1] < y0) y0 = Y[2 * i + 1];
        if (Y[2 * i + 1] > y1) y1 = Y[2 * i + 1];
    }
    /* widen the upper bounds a little so every point is strictly inside (as sklearn does) */
    x1 = widen(x1);
    y1 = widen(y1);
    build(t, 0, N, x0, y0, x1, y1, 0);
}

double sptree_repulsion(const sptree *t, size_t i, const double y[2], double theta, double neg[2])
{
    const spnode *nodes = t->nodes;
    size_t n = 0, end = t->nnodes;
    double theta2 = theta * theta, sumq = 0, fx = 0, fy = 0;
    /* Leaves carry w2 = -1, so they are always "accepted": one branch per node.  A cell
     * accepted at distance 0 is i's own leaf (an internal cell at distance 0 fails the
     * test, and coincident points share a leaf): its q = 1 for i itself comes off again. */
    while (n < end) {
        const spnode *c = &nodes[n];
        double dx = y[0] - c->cx, dy = y[1] - c->cy, d2 = dx * dx + dy * dy;
        if (c->w2 < theta2 * d2) {
            double q = 1.0 / (1.0 + d2), mq = (double)c->count * q;
            sumq += mq - (d2 == 0);
            fx += mq * q * dx;
            fy += mq * q * dy;
            n = c->skip;
        } else {
            n++;
        }
    }
    (void)i;
    neg[0] += fx;
    neg[1] += fy;
    return sumq;
}
