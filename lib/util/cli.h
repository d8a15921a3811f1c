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

#endif
