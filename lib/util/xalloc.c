#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/util.h"

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        err(EXIT_DATA, "malloc %zu bytes", n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        err(EXIT_DATA, "calloc %zu x %zu bytes", count, size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        err(EXIT_DATA, "realloc %zu bytes", n);
    return p;
}

void *xreallocarray(void *p, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        errno = ENOMEM;
        err(EXIT_DATA, "array of %zu x %zu bytes", count, size);
    }
    return xrealloc(p, count * size);
}

char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        err(EXIT_DATA, "strdup");
    return d;
}

/* Blocks of several MiB (weights, gradients, optimiser state, activations) are asked for
 * in 2 MiB pages (transparent huge pages in "madvise" mode, Debian's default): the first
 * touch of a bert-mini's 45 MB of weights then costs 22 page faults instead of 11,000, at
 * about 12 us each on these VMs, and GEMMs streaming the weights miss the TLB less. */
#define HUGE_PAGE ((size_t)2 << 20)

void *aligned_zalloc(size_t n)
{
    void *p = NULL;
    n = (n + 63) & ~(size_t)63;
    int huge = n >= 2 * HUGE_PAGE;
    if (huge)
        n = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (posix_memalign(&p, huge ? HUGE_PAGE : 64, n ? n : 64) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (huge)
        madvise(p, n, MADV_HUGEPAGE);   // advice: if refused, 4 KiB pages as before
#endif
    memset(p, 0, n ? n : 64);
    return p;
}

void *xaligned_alloc(size_t n)
{
    void *p = aligned_zalloc(n);
    if (!p)
        errx(EXIT_DATA, "cannot allocate %zu bytes", n);
    return p;
}
