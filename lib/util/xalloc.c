#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

void *xaligned_alloc(size_t n)
{
    void *p = NULL;
    n = (n + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, n ? n : 64) != 0)
        errx(EXIT_DATA, "cannot allocate %zu bytes", n);
    memset(p, 0, n);
    return p;
}
