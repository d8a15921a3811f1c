/* Shared plumbing for every emo tool: allocation that exits on failure,
 * checked number parsing, stdout shutdown, atomic output files.
 * Helpers that exit on failure carry an x prefix and live only here. */
#ifndef EMO_UTIL_H
#define EMO_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes shared by all tools. */
enum { EXIT_DATA = 1, EXIT_USAGE = 2 };

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* reallocarray that exits on overflow or failure */
void *xreallocarray(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
/* 64-byte aligned, zeroed; free with free().  Blocks of 4 MiB and more come in 2 MiB
 * pages where the kernel allows it (see aligned_zalloc). */
void *xaligned_alloc(size_t n);
/* The same, returning NULL on failure (for library code, which does not exit). */
void *aligned_zalloc(size_t n);

/* Parse an option argument; on failure print "<prog>: option --name: bad value 'x' (reason)"
 * and exit 2. */
long long xparse_ll(const char *opt, const char *s, long long min, long long max);
double xparse_double(const char *opt, const char *s, double min, double max);

/* Print a message into err (n bytes, if err is not NULL) and return -1, for library
 * functions that report through an error buffer: `return errbuf_fail(err, n, "...", ...);` */
int errbuf_fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Flush and close stdout; a write error (EPIPE excepted, ENOSPC...) exits 1. */
void out_close(void);
/* Refuse to write binary records to a terminal unless force is set (zstd's rule). */
void refuse_tty_stdout(int force);

/* ------------------------------------------------------------------------
 * Atomic output: write "<dir>/.<name>.tmpXXXXXX" in the target's directory, then
 * fsync + rename over the target.  Every open temp file is unlinked at exit or on
 * SIGINT/SIGTERM/SIGHUP unless committed, so a failing tool leaves nothing partial. */
typedef struct atomic_file {
    FILE *fp;
    char *path;      /* final name */
    char *tmp;       /* temporary name in the same directory; NULL when direct */
    int   active;
    int   direct;    /* the target is not a regular file (/dev/null, a FIFO, a terminal):
                        written in place, since renaming over it would replace the device */
} atomic_file;

/* Opens the temp file; exits 1 with a message if it cannot. */
FILE *atomic_open(atomic_file *af, const char *path);
/* The same for library code, which does not exit: NULL with the message atomic_open would
 * print ("PATH: cannot create temporary file: reason") in err (errlen bytes); af holds
 * nothing then (no names, no temp file). */
FILE *atomic_open_err(atomic_file *af, const char *path, char *err, size_t errlen);
/* Flush, fsync, rename, fsync the directory.  Returns 0, or -1 with errno (temp removed).
 * Frees af->path and af->tmp (NULL after; a failed commit keeps path for messages). */
int atomic_commit(atomic_file *af);
/* Remove the temp file (idempotent); frees the names like atomic_commit. */
void atomic_abort(atomic_file *af);
/* Copies the file from to the path to through atomic_open_err: to is the whole copy, or on
 * failure what it was before.  0, or -1 with "PATH: reason" in err (errn bytes). */
int file_copy(const char *from, const char *to, char *err, size_t errn);

/* Same for a whole directory: creates "<parent>/.<name>.tmpXXXXXX/"; commit renames it
 * into place, replacing an existing directory of that name. Returns the temp dir path. */
typedef struct atomic_dir {
    char *path;
    char *tmp;
    int   active;
} atomic_dir;
/* The returned temp path is ad->tmp: valid until commit or abort, which free the names
 * (a failed commit keeps them; the temp dir is still removed at exit). */
const char *atomic_dir_open(atomic_dir *ad, const char *path);
/* Replaces an existing directory in one step (renameat2 RENAME_EXCHANGE); where the
 * file system cannot, moves it aside to "<tmp>.old" first. */
int atomic_dir_commit(atomic_dir *ad);
/* For a tool resuming in dir after a kill: every ".NAME.tmpXXXXXX.old" whose NAME is
 * missing (killed between the two renames of a commit without the exchange) is renamed
 * back to NAME.  Returns how many; call it before removing stale temps. */
int atomic_dir_recover(const char *dir);
void atomic_dir_abort(atomic_dir *ad);
/* mkdir -p for an output directory; exits 1 with a message on failure.  The directories
 * it created are removed at exit (or on SIGINT/SIGTERM/SIGHUP) if they are still empty,
 * so a tool that fails before writing its outputs leaves no empty directory behind. */
void xmkdir_p(const char *dir);

/* Exits 2 with "<out>: the same file as the input <in>; refusing to overwrite an input"
 * if out names an existing regular file or directory that is one of the nin inputs
 * (device and inode: through symbolic and hard links).  An input NULL or "-", or nin 0,
 * is standard input.  Call it for every output before anything is written. */
void refuse_output_is_input(const char *out, char *const *in, size_t nin);

/* An exclusive lock held through the file path (created; flock, so a killed holder
 * releases it): returns its descriptor, or -1 with errno (EWOULDBLOCK: another process
 * holds it).  The file is removed by lock_release, at exit and on SIGINT/SIGTERM/SIGHUP. */
int lock_acquire(const char *path);
void lock_release(int fd, const char *path);

/* rm -rf, used for temp dirs; returns 0 or -1 */
int remove_tree(const char *path);

/* Path join into a fresh string */
char *path_join(const char *dir, const char *name);

/* Monotonic seconds */
double now_seconds(void);

/* A kernel's instruction-set path, chosen at run time: of paths 0..n-1 (0 portable, higher
 * better) the best that has(i) says this CPU runs, unless the environment variable env names
 * one (by names[i]) that it runs.  A name unknown or not on this CPU is said on stderr
 * ("who: ENV=NAME: ...; using BEST") and ignored. */
int isa_pick(const char *who, const char *env, const char *const *names, int n, int (*has)(int));

/* Progress of a tool that runs records through a model, as the trainers show theirs: on a
 * terminal's stderr one line "<what>: N records, R records/s, H:MM:SS", redrawn at most
 * every 0.2 s and erased by progress_end; nothing when stderr is not a terminal. */
typedef struct rec_progress {
    int on;
    double t0, last;
    uint64_t done;
} rec_progress;
void rec_progress_start(rec_progress *p);
void rec_progress_add(rec_progress *p, const char *what, uint64_t n);
void rec_progress_end(rec_progress *p);

#endif
