/* Atomic outputs: a temp file (or directory) beside the target, renamed into place on
 * success.  Open temps are tracked so that exit() or a fatal signal removes them:
 * a failing tool never leaves a partial file under the final name. */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/util.h"

#define MAX_PENDING 64

/* Paths to remove if the process dies before committing; kept as plain strings so the
 * signal handler touches no allocator. */
static char *pending[MAX_PENDING];
static int   pending_is_dir[MAX_PENDING];
static int   handlers_installed;
/* Output directories this process created (xmkdir_p), in creation order. */
static char *created[MAX_PENDING];
static int   ncreated;

static void cleanup_pending(void)
{
    for (int i = 0; i < MAX_PENDING; i++) {
        if (!pending[i])
            continue;
        if (pending_is_dir[i])
            remove_tree(pending[i]);
        else
            unlink(pending[i]);
        pending[i] = NULL;
    }
    /* deepest first; rmdir leaves any that something was written into */
    while (ncreated > 0)
        rmdir(created[--ncreated]);
}

static void on_fatal_signal(int sig)
{
    cleanup_pending();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_cleanup(void)
{
    if (!handlers_installed) {
        handlers_installed = 1;
        atexit(cleanup_pending);
        /* Leave handlers a tool installed itself (training tools catch SIGINT/SIGTERM). */
        int sigs[] = { SIGINT, SIGTERM, SIGHUP };
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
            struct sigaction old;
            sigaction(sigs[i], NULL, &old);
            if (old.sa_handler == SIG_DFL)
                signal(sigs[i], on_fatal_signal);
        }
    }
}

/* Registers path for removal at exit; -1 if MAX_PENDING are registered already. */
static int track_or_fail(char *path, int is_dir)
{
    install_cleanup();
    for (int i = 0; i < MAX_PENDING; i++) {
        if (!pending[i]) {
            pending[i] = path;
            pending_is_dir[i] = is_dir;
            return 0;
        }
    }
    return -1;
}

static void track(char *path, int is_dir)
{
    if (track_or_fail(path, is_dir))
        errx(EXIT_DATA, "too many open output files");
}

static void untrack(const char *path)
{
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i] == path)
            pending[i] = NULL;
}

/* "<dir of path>/.<base of path>.tmpXXXXXX" */
static char *temp_name_for(const char *path)
{
    char *a = xstrdup(path), *b = xstrdup(path);
    const char *dir = dirname(a), *base = basename(b);
    size_t n = strlen(dir) + strlen(base) + 16;
    char *t = xmalloc(n);
    snprintf(t, n, "%s/.%s.tmpXXXXXX", dir, base);
    free(a);
    free(b);
    return t;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static int fsync_parent(const char *path)
{
    char *a = xstrdup(path);
    int r = fsync_dir(dirname(a));
    free(a);
    return r;
}

/* Ends the clean-up registration and frees the names (LeakSanitizer: one pair per output
 * file, per shard, per checkpoint).  They are NULL after, so callers that free() them
 * still may; a failed commit keeps path for the caller's message. */
static void atomic_release(atomic_file *af, int keep_path)
{
    if (af->tmp)
        untrack(af->tmp);
    af->active = 0;
    free(af->tmp);
    af->tmp = NULL;
    if (!keep_path) {
        free(af->path);
        af->path = NULL;
    }
}

FILE *atomic_open_err(atomic_file *af, const char *path, char *err, size_t errlen)
{
    memset(af, 0, sizeof *af);
    af->path = xstrdup(path);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            errbuf_fail(err, errlen, "%s: is a directory", path);
            goto fail;
        }
        af->fp = fopen(path, "w");
        if (!af->fp) {
            errbuf_fail(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
        af->direct = 1;
        af->active = 1;
        return af->fp;
    }
    /* Through a symlink (a linked output, /dev/stdout redirected to a file) replace the
     * file it points to, not the link. */
    struct stat lst;
    char *real = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) ? realpath(path, NULL) : NULL;
    if (real) {
        free(af->path);
        af->path = real;
    }
    af->tmp = temp_name_for(af->path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        errbuf_fail(err, errlen, "%s: cannot create temporary file: %s", path, strerror(errno));
        goto fail;
    }
    fchmod(fd, 0644);
    if (track_or_fail(af->tmp, 0)) {
        errbuf_fail(err, errlen, "too many open output files");
        goto fail_fd;
    }
    af->active = 1;
    af->fp = fdopen(fd, "w");
    if (!af->fp) {
        errbuf_fail(err, errlen, "%s: %s", path, strerror(errno));
        untrack(af->tmp);
        af->active = 0;
        goto fail_fd;
    }
    return af->fp;
fail_fd:
    close(fd);
    unlink(af->tmp);
fail:
    free(af->path);
    free(af->tmp);
    af->path = af->tmp = NULL;
    return NULL;
}

FILE *atomic_open(atomic_file *af, const char *path)
{
    char msg[PATH_MAX + 128];
    FILE *fp = atomic_open_err(af, path, msg, sizeof msg);
    if (!fp)
        errx(EXIT_DATA, "%s", msg);
    return fp;
}

int atomic_commit(atomic_file *af)
{
    if (!af->active)
        return -1;
    int e = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp))
        e = errno ? errno : EIO;
    /* devices and pipes cannot be fsynced (EINVAL); there is nothing to make durable */
    if (!e && !af->direct && fsync(fileno(af->fp)) != 0)
        e = errno;
    if (fclose(af->fp) != 0 && !e)
        e = errno;
    af->fp = NULL;
    if (!e && !af->direct && rename(af->tmp, af->path) != 0)
        e = errno;
    if (!e && !af->direct)
        fsync_parent(af->path);
    if (e && !af->direct)
        unlink(af->tmp);
    atomic_release(af, e != 0);
    errno = e;
    return e ? -1 : 0;
}

void atomic_abort(atomic_file *af)
{
    if (!af->active)
        return;
    if (af->fp)
        fclose(af->fp);
    af->fp = NULL;
    if (!af->direct)
        unlink(af->tmp);
    atomic_release(af, 0);
}

int file_copy(const char *from, const char *to, char *err, size_t errn)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return errbuf_fail(err, errn, "%s: %s", from, strerror(errno));
    atomic_file af;
    FILE *out = atomic_open_err(&af, to, err, errn);
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t k;
    int rc = 0;
    while (!rc && (k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, out) != k)
            rc = errbuf_fail(err, errn, "%s: %s", to, strerror(errno));
    if (!rc && ferror(in))
        rc = errbuf_fail(err, errn, "%s: %s", from, strerror(errno));
    fclose(in);
    if (rc) {
        atomic_abort(&af);
    } else if (atomic_commit(&af) != 0) {
        rc = errbuf_fail(err, errn, "%s: %s", to, strerror(errno));
        free(af.path);
    }
    return rc;
}

const char *atomic_dir_open(atomic_dir *ad, const char *path)
{
    memset(ad, 0, sizeof *ad);
    /* Commit replaces what is at path: never a file or a device (-o /dev/full). */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
        errx(EXIT_DATA, "%s: exists and is not a directory", path);
    ad->path = xstrdup(path);
    ad->tmp = temp_name_for(path);
    if (!mkdtemp(ad->tmp))
        err(EXIT_DATA, "%s: cannot create temporary directory", path);
    chmod(ad->tmp, 0755);
    track(ad->tmp, 1);
    ad->active = 1;
    return ad->tmp;
}

/* Like release_names: NULL after, so callers that free() them still may. */
static void free_dir_names(atomic_dir *ad)
{
    free(ad->path);
    free(ad->tmp);
    ad->path = ad->tmp = NULL;
}

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Swaps two paths in one step (Linux 3.15, renameat2); -1 with errno, ENOSYS, EINVAL or
 * EOPNOTSUPP where the kernel or the file system cannot.  Through syscall(): glibc
 * before 2.28 has no wrapper. */
static int rename_exchange(const char *a, const char *b)
{
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
    (void)a;
    (void)b;
    errno = ENOSYS;
    return -1;
#endif
}

int atomic_dir_commit(atomic_dir *ad)
{
    if (!ad->active)
        return -1;
    char *old = NULL;
    struct stat st;
    int exists = stat(ad->path, &st) == 0;
    /* Replacing a directory: swap the two in one step, then remove the old one (now under
     * the temp name; a kill before that leaves only a stale temp). */
    if (exists && rename_exchange(ad->tmp, ad->path) == 0) {
        fsync_parent(ad->path);
        remove_tree(ad->tmp);       /* still tracked: a signal meanwhile removes it too */
        untrack(ad->tmp);
        ad->active = 0;
        free_dir_names(ad);
        return 0;
    }
    if (exists && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
        return -1;
    /* Without the exchange: a directory cannot be renamed over a non-empty one, so the
     * old one is moved aside to "<tmp>.old" first.  A kill between the two renames
     * leaves no directory under the final name; atomic_dir_recover() puts the old one
     * back. */
    if (exists) {
        size_t n = strlen(ad->tmp) + 8;
        old = xmalloc(n);
        snprintf(old, n, "%s.old", ad->tmp);
        if (rename(ad->path, old) != 0) {
            int e = errno;
            free(old);
            errno = e;
            return -1;
        }
    }
    if (rename(ad->tmp, ad->path) != 0) {
        int e = errno;
        if (old)
            rename(old, ad->path);
        free(old);
        errno = e;
        return -1;
    }
    untrack(ad->tmp);
    ad->active = 0;
    fsync_parent(ad->path);
    if (old) {
        remove_tree(old);
        free(old);
    }
    free_dir_names(ad);
    return 0;
}

void atomic_dir_abort(atomic_dir *ad)
{
    if (!ad->active)
        return;
    remove_tree(ad->tmp);
    untrack(ad->tmp);
    ad->active = 0;
    free_dir_names(ad);
}

void xmkdir_p(const char *dir)
{
    if (!*dir)
        errx(EXIT_USAGE, "an empty directory name");
    install_cleanup();
    char *p = xstrdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) == 0) {
            if (ncreated == MAX_PENDING)
                errx(EXIT_DATA, "%s: too deep", dir);
            created[ncreated++] = xstrdup(p);
        } else if (errno != EEXIST) {
            err(EXIT_DATA, "%s", p);
        }
        *s = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        err(EXIT_DATA, "%s", dir);
    if (!S_ISDIR(st.st_mode))
        errx(EXIT_DATA, "%s: Not a directory", dir);
    free(p);
}

int lock_acquire(const char *path)
{
    for (;;) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        /* A holder that released removed the file first: the lock is on an unlinked
         * inode, or another process has a new file there.  Try again. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            track(xstrdup(path), 0);
            return fd;
        }
        close(fd);
    }
}

void lock_release(int fd, const char *path)
{
    if (fd < 0)
        return;
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i] && !pending_is_dir[i] && !strcmp(pending[i], path)) {
            char *p = pending[i];
            pending[i] = NULL;
            unlink(p);      /* before unlocking: see lock_acquire */
            free(p);
            break;
        }
    close(fd);
}

void refuse_output_is_input(const char *out, char *const *in, size_t nin)
{
    struct stat so, si;
    if (!out || stat(out, &so) != 0 || !(S_ISREG(so.st_mode) || S_ISDIR(so.st_mode)))
        return;
    for (size_t i = 0; i < (nin ? nin : 1); i++) {
        const char *name = nin && in[i] && strcmp(in[i], "-") ? in[i] : NULL;
        if (name ? stat(name, &si) != 0 : fstat(STDIN_FILENO, &si) != 0)
            continue;
        if (si.st_dev == so.st_dev && si.st_ino == so.st_ino)
            errx(EXIT_USAGE, "%s: the same file as the input %s; refusing to overwrite an input", out,
                 name ? name : "<stdin>");
    }
}

int atomic_dir_recover(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* ".NAME.tmpXXXXXX.old" */
        size_t len = strlen(e->d_name);
        if (e->d_name[0] != '.' || len < 16 || strcmp(e->d_name + len - 4, ".old") ||
            memcmp(e->d_name + len - 14, ".tmp", 4))
            continue;
        char name[NAME_MAX + 1];
        memcpy(name, e->d_name + 1, len - 15);
        name[len - 15] = '\0';
        char *from = path_join(dir, e->d_name), *to = path_join(dir, name);
        struct stat st;
        if (lstat(to, &st) != 0 && errno == ENOENT && rename(from, to) == 0)
            n++;
        free(from);
        free(to);
    }
    closedir(d);
    if (n)
        fsync_dir(dir);
    return n;
}

int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    char buf[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(buf, sizeof buf, "%s/%s", path, e->d_name);
        remove_tree(buf);
    }
    closedir(d);
    return rmdir(path);
}
