/* One progress line on a terminal (util.h). */
#include <stdio.h>
#include <unistd.h>

#include "util/util.h"

void rec_progress_start(rec_progress *p)
{
    p->on = isatty(STDERR_FILENO);
    p->t0 = now_seconds();
    p->last = 0;
    p->done = 0;
}

void rec_progress_add(rec_progress *p, const char *what, uint64_t n)
{
    p->done += n;
    double now = now_seconds(), el = now - p->t0;
    if (!p->on || (p->last > 0 && now - p->last < 0.2))
        return;
    p->last = now;
    long t = (long)el;
    fprintf(stderr, "\r\033[K%s: %llu records, %.1f records/s, %ld:%02ld:%02ld", what, (unsigned long long)p->done,
            el > 0 ? (double)p->done / el : 0.0, t / 3600, t / 60 % 60, t % 60);
}

void rec_progress_end(rec_progress *p)
{
    if (p->on)
        fputs("\r\033[K", stderr);
}
