/* Vantage-point tree.  Each node holds one vantage point v and the median distance mu
 * from v to the points below it: the "inside" subtree has points with d(v, x) < mu,
 * "outside" those with d >= mu.  A query with current k-th best distance tau only visits
 * a subtree the triangle inequality cannot rule out. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "embed/vptree.h"
#include "util/rng.h"
#include "util/util.h"

typedef struct vpnode {
    uint32_t point;      /* row of X */
    float mu;            /* median distance of the points below to the vantage point */
    int32_t inside, outside;   /* child node indices, -1 if none */
} vpnode;

struct vptree {
    const float *X;
    float *Xt;           /* (N, D) node n's point at row n: subtrees are contiguous in
                            memory, so a search streams through them (X is 20 MB at
                            N = 20000, D = 256: the search is memory-bound) */
    size_t N, D;
    vpnode *nodes;       /* (N) */
    size_t nnodes;
    int32_t root;
};

/* 32 independent lanes in four 8-float vectors (GCC vector extensions: AVX2 registers in
 * the avx2 clone, SSE pairs otherwise) hide the add latency.  Each lane is its own chain
 * and ISO C mode does not contract into FMA, so both clones give the same bits. */
typedef float v8f __attribute__((vector_size(32)));

__attribute__((target_clones("avx2", "default")))
float vp_distance(const float *a, const float *b, size_t D)
{
    v8f s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
    size_t i = 0;
    for (; i + 32 <= D; i += 32) {
        v8f x0, x1, x2, x3, y0, y1, y2, y3;
        memcpy(&x0, a + i, 32);
        memcpy(&x1, a + i + 8, 32);
        memcpy(&x2, a + i + 16, 32);
        memcpy(&x3, a + i + 24, 32);
        memcpy(&y0, b + i, 32);
        memcpy(&y1, b + i + 8, 32);
        memcpy(&y2, b + i + 16, 32);
        memcpy(&y3, b + i + 24, 32);
        x0 -= y0;
        x1 -= y1;
        x2 -= y2;
        x3 -= y3;
        s0 += x0 * x0;
        s1 += x1 * x1;
        s2 += x2 * x2;
        s3 += x3 * x3;
    }
    v8f acc[4] = { s0, s1, s2, s3 };
    float lane[32];
    memcpy(lane, acc, sizeof lane);
    for (int l = 0; i < D; i++, l++) {
        float d = a[i] - b[i];
        lane[l] += d * d;
    }
    for (int w = 16; w >= 1; w /= 2)        /* pairwise, fixed order */
        for (int l = 0; l < w; l++)
            lane[l] += lane[l + w];
    return sqrtf(lane[0]);
}

typedef struct item { float d; uint32_t i; } item;

static int item_less(const item *a, const item *b)
{
    return a->d < b->d || (a->d == b->d && a->i < b->i);
}

/* Quickselect so that it[m] is the m-th smallest of it[0..n), smaller ones before it. */
static void select_nth(item *it, size_t n, size_t m)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        item pivot = it[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (item_less(&it[i], &pivot))
                i++;
            while (item_less(&pivot, &it[j]))
                j--;
            if (i <= j) {
                item t = it[i]; it[i] = it[j]; it[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (m <= j)
            hi = j;
        else if (m >= i)
            lo = i;
        else
            break;
    }
}

/* Builds the subtree over it[lo, hi) and returns its node index. */
static int32_t build(vptree *t, item *it, size_t lo, size_t hi, rng_t *rng)
{
    if (lo >= hi)
        return -1;
    int32_t id = (int32_t)t->nnodes++;
    size_t pick = lo + (size_t)rng_below(rng, hi - lo);
    item tmp = it[lo]; it[lo] = it[pick]; it[pick] = tmp;
    vpnode *nd = &t->nodes[id];
    nd->point = it[lo].i;
    nd->mu = 0;
    nd->inside = nd->outside = -1;
    if (hi - lo == 1)
        return id;
    const float *v = t->X + (size_t)it[lo].i * t->D;
    for (size_t j = lo + 1; j < hi; j++)
        it[j].d = vp_distance(v, t->X + (size_t)it[j].i * t->D, t->D);
    size_t n = hi - lo - 1, median = n / 2;
    select_nth(it + lo + 1, n, median);
    float mu = it[lo + 1 + median].d;
    /* inside: [lo+1, lo+1+median), all with d <= mu; outside from the median on */
    int32_t in = build(t, it, lo + 1, lo + 1 + median, rng);
    int32_t out = build(t, it, lo + 1 + median, hi, rng);
    nd = &t->nodes[id];
    nd->mu = mu;
    nd->inside = in;
    nd->outside = out;
    return id;
}

vptree *vptree_build(const float *X, size_t N, size_t D, uint64_t seed)
{
    vptree *t = xcalloc(1, sizeof *t);
    t->X = X;
    t->N = N;
    t->D = D;
    t->nodes = xcalloc(N ? N : 1, sizeof *t->nodes);
    item *it = xcalloc(N ? N : 1, sizeof *it);
    for (size_t i = 0; i < N; i++)
        it[i].i = (uint32_t)i;
    rng_t rng;
    rng_seed(&rng, seed ^ 0x7670747265650000ULL);
    t->root = build(t, it, 0, N, &rng);
    free(it);
    t->Xt = xmalloc((N ? N : 1) * D * sizeof *t->Xt);
    for (size_t n = 0; n < t->nnodes; n++)
        memcpy(t->Xt + n * D, X + (size_t)t->nodes[n].point * D, D * sizeof *X);
    return t;
}

size_t vptree_point(const vptree *t, size_t n) { return t->nodes[n].point; }

void vptree_free(vptree *t)
{
    if (!t)
        return;
    free(t->nodes);
    free(t->Xt);
    free(t);
}

/* Max-heap of the k best so far, ordered by item_less (the worst at the top). */
typedef struct heap { item *a; size_t n, k; } heap;

static void heap_push(heap *h, item x)
{
    if (h->n == h->k) {
        if (!item_less(&x, &h->a[0]))
            return;
        /* replace the top and sift down */
        size_t i = 0;
        for (;;) {
            size_t l = 2 * i + 1, r = l + 1, m = i;
            item *best = &x;
            if (l < h->n && item_less(best, &h->a[l])) { m = l; best = &h->a[l]; }
            if (r < h->n && item_less(best, &h->a[r])) { m = r; }
            if (m == i)
                break;
            h->a[i] = h->a[m];
            i = m;
        }
        h->a[i] = x;
        return;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!item_less(&h->a[p], &x))
            break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = x;
}

static void search(const vptree *t, int32_t id, const float *q, size_t exclude, heap *h)
{
    while (id >= 0) {
        const vpnode *nd = &t->nodes[id];
        float d = vp_distance(q, t->Xt + (size_t)id * t->D, t->D);
        if (nd->point != exclude)
            heap_push(h, (item){ d, nd->point });
        if (nd->inside < 0 && nd->outside < 0)
            return;
        /* float rounding can bend the triangle inequality by a few ulps: widen by eps */
        float eps = 1e-5f * (d + nd->mu);
        float tau = h->n == h->k ? h->a[0].d + eps : INFINITY;
        /* Visit the side q falls in first; the other side only if the ball of radius tau
         * around q crosses the sphere of radius mu.  Ties (d == tau) are kept, so the
         * tests use <= and the lower-index rule decides. */
        if (d < nd->mu) {
            if (d - tau <= nd->mu)
                search(t, nd->inside, q, exclude, h);
            tau = h->n == h->k ? h->a[0].d + eps : INFINITY;
            if (d + tau >= nd->mu)
                id = nd->outside;
            else
                return;
        } else {
            if (d + tau >= nd->mu)
                search(t, nd->outside, q, exclude, h);
            tau = h->n == h->k ? h->a[0].d + eps : INFINITY;
            if (d - tau <= nd->mu)
                id = nd->inside;
            else
                return;
        }
    }
}

size_t vptree_knn(const vptree *t, const float *q, size_t exclude, size_t k, uint32_t *idx, float *dist)
{
    if (k == 0)
        return 0;
    item *buf = xmalloc(k * sizeof *buf);
    heap h = { buf, 0, k };
    search(t, t->root, q, exclude, &h);
    /* heap -> ascending order by popping the worst to the back */
    size_t n = h.n;
    for (size_t end = n; end > 1; end--) {
        item top = h.a[0];
        item last = h.a[end - 1];
        h.n = end - 1;
        /* sift last down from the root within [0, end-1) */
        size_t i = 0;
        for (;;) {
            size_t l = 2 * i + 1, r = l + 1, m = i;
            item *best = &last;
            if (l < h.n && item_less(best, &h.a[l])) { m = l; best = &h.a[l]; }
            if (r < h.n && item_less(best, &h.a[r])) { m = r; }
            if (m == i)
                break;
            h.a[i] = h.a[m];
            i = m;
        }
        h.a[i] = last;
        h.a[end - 1] = top;
    }
    for (size_t i = 0; i < n; i++) {
        idx[i] = h.a[i].i;
        dist[i] = h.a[i].d;
    }
    free(buf);
    return n;
}
