#include <err.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/cli.h"
#include "util/util.h"

#ifndef EMO_VERSION
#define EMO_VERSION "unknown"   /* the Makefile defines it: VERSION and git describe */
#endif

/* Every tool links this file, so this runs before any tool's main: a write past the
 * file-size limit (ulimit -f) fails with EFBIG and takes the write-error path of a full
 * disk (one line, temps removed at exit) instead of SIGXFSZ killing the process with a
 * core and leaving ".NAME.tmpXXXXXX" files behind. */
__attribute__((constructor)) static void ignore_sigxfsz(void)
{
    signal(SIGXFSZ, SIG_IGN);
}

long long xparse_ll(const char *opt, const char *s, long long min, long long max)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0')
        errx(EXIT_USAGE, "option %s: '%s' is not an integer", opt, s);
    if (v < min || v > max)
        errx(EXIT_USAGE, "option %s: %s is out of range [%lld, %lld]", opt, s, min, max);
    return v;
}

double xparse_double(const char *opt, const char *s, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v))
        errx(EXIT_USAGE, "option %s: '%s' is not a number", opt, s);
    if (v < min || v > max)
        errx(EXIT_USAGE, "option %s: %s is out of range [%g, %g]", opt, s, min, max);
    return v;
}

int errbuf_fail(char *err, size_t n, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void out_close(void)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        err(EXIT_DATA, "write error on standard output");
    if (fclose(stdout) != 0)
        err(EXIT_DATA, "close standard output");
}

void refuse_tty_stdout(int force)
{
    if (!force && isatty(STDOUT_FILENO))
        errx(EXIT_USAGE, "refusing to write binary records to a terminal (use -f, or redirect)");
}

char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = xmalloc(a + b + 2);
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_usage(const cli_help *h, int code)
{
    if (code) {
        fputs(h->usage, stderr);
        exit(code);
    }
    printf("%s\nOptions:\n%s"
           "  -h, --help              print this help and exit\n"
           "      --version           print the version and exit\n"
           "\nSee emo-%s(1).\n", h->usage, h->options, h->tool);
    out_close();
    exit(0);
}

void cli_version(const cli_help *h)
{
    printf("emo%s%s (emokd) %s\n", h->tool ? "-" : "", h->tool ? h->tool : "", EMO_VERSION);
    out_close();
    exit(0);
}

FILE *cli_out_open(cli_out *o, const char *path, int records, int force)
{
    o->path = path;
    if (path) {
        o->fp = atomic_open(&o->af, path);
    } else {
        if (records)
            refuse_tty_stdout(force);
        o->fp = stdout;
    }
    return o->fp;
}

void cli_out_fail(const cli_out *o)
{
    err(EXIT_DATA, "%s", o->path ? o->path : "write error on standard output");
}

void cli_out_commit(cli_out *o)
{
    if (o->path && atomic_commit(&o->af) != 0)
        err(EXIT_DATA, "%s", o->path);
}

void cli_out_close(const cli_out *o)
{
    if (!o->path)
        out_close();
}

int cli_on_invalid(const char *arg)
{
    if (!strcmp(arg, "error"))
        return CLI_INVALID_ERROR;
    if (!strcmp(arg, "skip"))
        return CLI_INVALID_SKIP;
    if (!strcmp(arg, "replace"))
        return CLI_INVALID_REPLACE;
    errx(EXIT_USAGE, "option --on-invalid: '%s' is not error, skip or replace", arg);
}

int isa_pick(const char *who, const char *env, const char *const *names, int n, int (*has)(int))
{
    int best = 0;
    for (int i = n - 1; i > 0; i--)
        if (has(i)) {
            best = i;
            break;
        }
    const char *want_name = getenv(env);
    if (!want_name || !*want_name)
        return best;
    int want = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(want_name, names[i]))
            want = i;
    if (want >= 0 && has(want))
        return want;
    char list[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    if (want < 0)
        fprintf(stderr, "%s: %s=%s: unknown (%s); using %s\n", who, env, want_name, list, names[best]);
    else
        fprintf(stderr, "%s: %s=%s: not on this CPU; using %s\n", who, env, want_name, names[best]);
    return best;
}
