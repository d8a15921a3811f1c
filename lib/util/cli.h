/* --help and --version, the same in every tool (the GNU convention).  A tool declares
 * its help once:
 *
 *     static const cli_help help = {
 *         "pack",
 *         "usage: emo pack [-f] [-o FILE] [FILE...]\n",
 *         "  -f, --force        write records to a terminal\n"
 *         "  -o, --output FILE  write FILE (atomically) instead of standard output\n",
 *     };
 *
 * ends its getopt_long table with CLI_LONGOPTS, and answers 'h' with cli_usage(&help, 0),
 * CLI_VERSION with cli_version(&help) and a bad option with cli_usage(&help, EXIT_USAGE). */
#ifndef EMO_CLI_H
#define EMO_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "util/util.h"

typedef struct cli_help {
    const char *tool;      /* "pack": the program is emo-pack; NULL: emo itself */
    const char *usage;     /* the man page's SYNOPSIS, "usage: emo pack ...\n" lines */
    const char *options;   /* one line per option, "  -o, --output FILE  what it does\n";
                              -h/--help and --version are added after them */
} cli_help;

enum { CLI_VERSION = 2000 };   /* getopt_long value of --version, above any tool's own */

#define CLI_LONGOPTS { "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, CLI_VERSION }

/* code 0: the usage, the options and the man page to stdout, exit 0; otherwise the usage
 * to stderr, exit code. */
_Noreturn void cli_usage(const cli_help *h, int code);
/* "emo-TOOL (emokd) VERSION" to stdout, exit 0.  VERSION is config.mk's and, built in a
 * git checkout, the commit's `git describe --always --dirty`: 0.1.0+f3b212d-dirty. */
_Noreturn void cli_version(const cli_help *h);

/* ---- -o FILE or standard output ------------------------------------------------------
 * A tool that writes one stream:
 *
 *     cli_out o;
 *     FILE *fp = cli_out_open(&o, out, 1, force);
 *     ... write, then on a failed write or rec_writer_close: cli_out_fail(&o);
 *     cli_out_commit(&o);      (the file is in place)
 *     cli_out_close(&o);       (standard output flushed and closed) */
typedef struct cli_out {
    FILE *fp;
    const char *path;      /* -o FILE; NULL: standard output */
    atomic_file af;
} cli_out;

/* path written atomically (atomic_open: exit 1 if it cannot be), or NULL: standard output,
 * where records (binary output) refuses a terminal unless force is set. */
FILE *cli_out_open(cli_out *o, const char *path, int records, int force);
/* After a write error: exit 1 with "emo-x: FILE: reason" or "emo-x: write error on
 * standard output: reason" (errno's). */
_Noreturn void cli_out_fail(const cli_out *o);
/* Renames the file into place (exit 1 with "emo-x: FILE: reason" if it cannot); nothing for
 * standard output. */
void cli_out_commit(cli_out *o);
/* Flushes and closes standard output (out_close: a write error exits 1); nothing for a file. */
void cli_out_close(const cli_out *o);

/* ---- shared option values ------------------------------------------------------------ */

/* --on-invalid WHAT of the text tools (emo clean, emo tokenize): what invalid UTF-8 does */
enum { CLI_INVALID_ERROR, CLI_INVALID_SKIP, CLI_INVALID_REPLACE };
/* "error", "skip" or "replace"; else exit 2 "option --on-invalid: 'x' is not error, skip or replace". */
int cli_on_invalid(const char *arg);

#endif
