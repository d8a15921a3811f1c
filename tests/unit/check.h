/* Minimal unit-test support: CHECK records file:line and the message of every failure;
 * check_done() prints a summary and returns the exit status (non-zero on any failure). */
#ifndef EMO_CHECK_H
#define EMO_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_total, check_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        check_total++;                                                          \
        if (!(cond)) {                                                          \
            check_failed++;                                                     \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* Max |a-b| over n values; CHECKs it against tol and reports the worst index. */
#define CHECK_CLOSE(label, a, b, n, tol)                                        \
    do {                                                                        \
        double worst_ = 0; long at_ = -1;                                       \
        for (long i_ = 0; i_ < (long)(n); i_++) {                               \
            double d_ = fabs((double)(a)[i_] - (double)(b)[i_]);                \
            if (!(d_ <= worst_)) { worst_ = d_; at_ = i_; }                     \
        }                                                                       \
        CHECK(worst_ <= (tol), "%s: max abs diff %.3g at %ld (%.9g vs %.9g), tol %.3g", \
              (label), worst_, at_, at_ >= 0 ? (double)(a)[at_] : 0.0,          \
              at_ >= 0 ? (double)(b)[at_] : 0.0, (double)(tol));                \
    } while (0)

static inline int check_done(const char *name)
{
    fprintf(stderr, "%s: %d checks, %d failed\n", name, check_total, check_failed);
    return check_failed ? 1 : 0;
}

#endif
