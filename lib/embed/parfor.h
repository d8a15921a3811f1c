/* A minimal deterministic parallel-for for the embedding code: items [0, n) are handed
 * out in fixed-size chunks through an atomic counter.  Results stay bit-identical for any
 * thread count as long as fn writes only per-item outputs and the caller reduces them in
 * item order afterwards. */
#ifndef EMO_PARFOR_H
#define EMO_PARFOR_H

#include <stddef.h>

/* fn(ctx, lo, hi) processes items [lo, hi). threads <= 1 runs inline. */
typedef void (*parfor_fn)(void *ctx, size_t lo, size_t hi);
void parfor(size_t n, size_t chunk, int threads, parfor_fn fn, void *ctx);

#endif
