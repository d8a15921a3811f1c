/* Streaming latency of a line classifier behind a pipe, for bench/predict/predict.sh: the driver
 * writes one line at a time into the command's standard input and timestamps each answer
 * line as it comes out of its standard output (read unbuffered, poll(2)).
 *
 *   bench/out/predict_stream [-i MS] [-n N] [-t TAG] LINES -- COMMAND [ARG...]
 *
 * The command is started, the first line of LINES is written at once and its answer awaited:
 * start-up = from just before the start to that first answer (process start, loading the
 * model, the first forward).  Then lines 2..N+1 are written on a fixed schedule, one every MS
 * milliseconds (default 10), whatever the answers do (open loop), and the latency of line i
 * is the time from its write to the end of answer line i (the command answers every line,
 * in order).  Standard input is closed at the end and the command waited for.  Prints one
 * JSON line: start-up, p50, p90, p99 and max of the latency in milliseconds, and the lines
 * that found an answer still pending when they were written (the command was behind). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *sorted, int n, double p)
{
    int i = (int)(p * (n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static void die(const char *msg)
{
    perror(msg);
    exit(1);
}

/* Reads what the command has written; counts complete answer lines into *answered and
 * stamps them.  Returns 0 at end of file. */
static int drain(int fd, int *answered, double *stamp, int nstamp)
{
    char buf[65536];
    ssize_t k = read(fd, buf, sizeof buf);
    if (k < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 1;
        die("read");
    }
    if (k == 0)
        return 0;
    double t = now();
    for (ssize_t i = 0; i < k; i++)
        if (buf[i] == '\n') {
            if (*answered < nstamp)
                stamp[*answered] = t;
            (*answered)++;
        }
    return 1;
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        s += k;
        n -= (size_t)k;
    }
}

int main(int argc, char **argv)
{
    double interval = 0.010;
    int nwant = 500, c;
    const char *tag = "";
    while ((c = getopt(argc, argv, "+i:n:t:")) != -1) {
        switch (c) {
        case 'i': interval = atof(optarg) / 1e3; break;
        case 'n': nwant = atoi(optarg); break;
        case 't': tag = optarg; break;
        default: goto usage;
        }
    }
    if (argc - optind < 3 || strcmp(argv[optind + 1], "--")) {
usage:
        fprintf(stderr, "usage: predict_stream [-i MS] [-n N] [-t TAG] LINES -- COMMAND [ARG...]\n");
        return 2;
    }
    FILE *f = fopen(argv[optind], "r");
    if (!f)
        die(argv[optind]);
    char **lines = malloc(sizeof(char *) * (size_t)(nwant + 1));
    size_t *lens = malloc(sizeof(size_t) * (size_t)(nwant + 1));
    int n = 0;
    char *l = NULL;
    size_t lc = 0;
    ssize_t ll;
    while (n < nwant + 1 && (ll = getline(&l, &lc, f)) > 0) {
        if (l[ll - 1] != '\n')
            continue;   /* a last line without its newline would not be answered yet */
        lines[n] = malloc((size_t)ll);
        memcpy(lines[n], l, (size_t)ll);
        lens[n++] = (size_t)ll;
    }
    fclose(f);
    free(l);
    if (n < 2) {
        fprintf(stderr, "predict_stream: fewer than 2 lines\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        die("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    double *sent = calloc((size_t)n, sizeof(double)), *got = calloc((size_t)n, sizeof(double));
    double t_start = now();
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[optind + 2], &fa, NULL, argv + optind + 2, environ);
    if (rc) {
        errno = rc;
        die(argv[optind + 2]);
    }
    close(in[0]);
    close(out[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    int answered = 0, behind = 0;
    struct pollfd pf = { out[0], POLLIN, 0 };
    sent[0] = now();
    write_all(in[1], lines[0], lens[0]);
    while (answered < 1) {
        if (poll(&pf, 1, -1) < 0 && errno != EINTR)
            die("poll");
        if (!drain(out[0], &answered, got, n)) {
            fprintf(stderr, "predict_stream: the command ended before its first answer\n");
            return 1;
        }
    }
    double startup = got[0] - t_start;
    /* lines 1..n-1 on the schedule */
    double t0 = now() + interval;
    int next = 1, eof = 0;
    while (!eof && answered < n) {
        double t = now();
        if (next < n && t >= t0 + (next - 1) * interval) {
            behind += answered < next;
            sent[next] = now();
            write_all(in[1], lines[next], lens[next]);
            next++;
            continue;
        }
        struct timespec ts, *tp = NULL;
        if (next < n) {
            double wait = t0 + (next - 1) * interval - t;
            ts.tv_sec = (time_t)wait;
            ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
            tp = &ts;
        }
        int k = ppoll(&pf, 1, tp, NULL);
        if (k < 0 && errno != EINTR)
            die("poll");
        if (k > 0)
            eof = !drain(out[0], &answered, got, n);
    }
    close(in[1]);
    char buf[4096];
    while (!eof) {   /* anything after the last answer, until the command closes */
        fcntl(out[0], F_SETFL, 0);
        eof = read(out[0], buf, sizeof buf) <= 0;
    }
    int status;
    waitpid(pid, &status, 0);
    if (answered < n || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "predict_stream: %d answers for %d lines, exit status %d\n", answered, n, status);
        return 1;
    }
    int m = n - 1;
    double *lat = malloc(sizeof(double) * (size_t)m), mean = 0;
    for (int i = 1; i < n; i++) {
        lat[i - 1] = (got[i] - sent[i]) * 1e3;
        mean += lat[i - 1];
    }
    qsort(lat, (size_t)m, sizeof *lat, cmp);
    double la[3] = { 0 };
    getloadavg(la, 3);
    printf("JSON {\"bench\":\"predict\",\"mode\":\"stream\",\"tag\":\"%s\",\"lines\":%d,\"interval_ms\":%.3f,"
           "\"startup_ms\":%.3f,\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f,\"mean_ms\":%.4f,"
           "\"behind\":%d,\"load\":%.2f}\n",
           tag, m, interval * 1e3, startup * 1e3, pct(lat, m, 0.5), pct(lat, m, 0.9), pct(lat, m, 0.99),
           lat[m - 1], mean / m, behind, la[0]);
    return 0;
}
