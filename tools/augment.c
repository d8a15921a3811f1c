/* emo-augment: paraphrase the training records of chosen classes with a user command
 * (back-translation in the paper) and emit the originals plus the new records.
 *
 * The originals are copied through as they are read; the texts of the chosen records are
 * kept, then the command (sh -c CMD) runs once per round, --times rounds, reading all the
 * texts one per line and writing one paraphrase per line.  Input and output of the child
 * are driven by one poll() loop, so neither side can block the other on a full pipe. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/rec.h"
#include "util/cli.h"
#include "util/labels.h"
#include "util/util.h"

static const cli_help help = {
    "augment",
    "usage: emo augment --classes LIST --command CMD [--times N] [--id-offset ID]\n"
    "                   [-f] [-o FILE] [FILE]\n",
    "      --classes LIST      comma-separated labels whose records are paraphrased\n"
    "      --command CMD       the paraphrasing command: texts in, one paraphrase a line out\n"
    "  -f, --force             write records to a terminal\n"
    "      --id-offset ID      first id of the new records, above every input id\n"
    "  -o, --output FILE       write FILE (atomically) instead of standard output\n"
    "      --times N           paraphrases per chosen record, 1 to 1000 (1)\n",
};

/* Fields computed from the text: stale once the text is paraphrased, so not copied. */
static const char *const derived_fields[] = { "input_ids", "logits", "embedding" };
static const char *const new_fields[] = { "id", "text", "augmented_from" };

typedef struct source {
    size_t off, len;   /* the record, msgpack, in the saved buffer */
    uint64_t id;
} source;

static int key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && !memcmp(k->via.str.ptr, s, n);
}

static int in_list(char **list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && !memcmp(list[i], s, len))
            return (int)i;
    return -1;
}

/* What a file name says about its split: 1 training (train.rec, training.rec.zst),
 * -1 held out (val, valid, validation, dev, test), 0 nothing. */
static int split_of_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strcspn(b, ".");
    static const char *const names[] = { "train", "training", "val", "valid", "validation", "dev", "test" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == n && !strncmp(b, names[i], n))
            return i < 2 ? 1 : -1;
    return 0;
}

/* The regular file standard input is redirected from (Linux /proc), or NULL. */
static char *stdin_file(void)
{
    struct stat st;
    static char buf[4096];
    if (fstat(STDIN_FILENO, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    ssize_t n = readlink("/proc/self/fd/0", buf, sizeof buf - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

static void set_cloexec(int fd)
{
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        err(EXIT_DATA, "fcntl");
}

/* Runs `sh -c cmd` with `in` on its standard input and returns everything it wrote on
 * its standard output (*outlen bytes).  A non-zero exit or death by a signal exits 1. */
static char *run_command(const char *cmd, const char *in, size_t inlen, size_t *outlen,
                         int round, int times)
{
    int to[2], from[2];
    if (pipe(to) < 0 || pipe(from) < 0)
        err(EXIT_DATA, "pipe");
    set_cloexec(to[1]);
    set_cloexec(from[0]);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        err(EXIT_DATA, "fork");
    if (pid == 0) {
        if (dup2(to[0], STDIN_FILENO) < 0 || dup2(from[1], STDOUT_FILENO) < 0)
            _exit(127);
        close(to[0]);
        close(from[1]);
        char r[24], t[24];
        snprintf(r, sizeof r, "%d", round);
        snprintf(t, sizeof t, "%d", times);
        setenv("EMO_AUGMENT_ROUND", r, 1);
        setenv("EMO_AUGMENT_TIMES", t, 1);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    /* a command that stops reading early must not kill us with SIGPIPE */
    struct sigaction ign = { .sa_handler = SIG_IGN }, old;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old);
    if (fcntl(to[1], F_SETFL, O_NONBLOCK) < 0)
        err(EXIT_DATA, "fcntl");
    size_t cap = inlen + 4096, len = 0, sent = 0;
    char *out = xmalloc(cap);
    int wfd = to[1];
    if (inlen == 0) {
        close(wfd);
        wfd = -1;
    }
    for (;;) {
        struct pollfd p[2] = { { from[0], POLLIN, 0 }, { wfd, POLLOUT, 0 } };
        if (poll(p, wfd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            err(EXIT_DATA, "poll");
        }
        if (wfd >= 0 && p[1].revents) {
            ssize_t w = write(wfd, in + sent, inlen - sent);
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                sent = inlen;   /* EPIPE: the command quit reading; judged by its output */
            else if (w > 0)
                sent += (size_t)w;
            if (sent == inlen) {
                close(wfd);
                wfd = -1;
            }
        }
        if (p[0].revents) {
            if (cap - len < 65536)
                out = xrealloc(out, cap *= 2);
            ssize_t r = read(from[0], out + len, cap - len);
            if (r < 0 && errno != EINTR && errno != EAGAIN)
                err(EXIT_DATA, "reading from the command");
            if (r == 0)
                break;
            if (r > 0)
                len += (size_t)r;
        }
    }
    if (wfd >= 0)
        close(wfd);
    close(from[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            err(EXIT_DATA, "waitpid");
    sigaction(SIGPIPE, &old, NULL);
    if (WIFSIGNALED(status))
        errx(EXIT_DATA, "command killed by signal %d (%s) in round %d: %s", WTERMSIG(status),
             strsignal(WTERMSIG(status)), round, cmd);
    if (WEXITSTATUS(status) != 0)
        errx(EXIT_DATA, "command exited with status %d in round %d%s: %s", WEXITSTATUS(status),
             round, WEXITSTATUS(status) == 127 ? " (not found?)" : "", cmd);
    *outlen = len;
    return out;
}

/* Splits out[len] into lines in place (\n, an optional \r before it, and a last line
 * without \n); fills starts/lens (room for max) and returns the count, up to max + 1. */
static size_t split_lines(char *out, size_t len, char **starts, size_t *lens, size_t max)
{
    size_t n = 0, i = 0;
    while (i < len) {
        char *nl = memchr(out + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - out) : len;
        if (n < max) {
            size_t l = e - i;
            if (l && out[i + l - 1] == '\r')
                l--;
            starts[n] = out + i;
            lens[n] = l;
        }
        n++;
        if (n > max)
            break;
        i = e + 1;
    }
    return n;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "classes", required_argument, NULL, 'c' },
        { "command", required_argument, NULL, 'C' },
        { "force", no_argument, NULL, 'f' },
        CLI_LONGOPTS,
        { "id-offset", required_argument, NULL, 'i' },
        { "output", required_argument, NULL, 'o' },
        { "times", required_argument, NULL, 'n' },
        { NULL, 0, NULL, 0 },
    };
    const char *out = NULL, *cmd = NULL, *classes_arg = NULL;
    int force = 0, times = 1, c, have_offset = 0;
    uint64_t id_offset = 0;
    while ((c = getopt_long(argc, argv, "fho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': classes_arg = optarg; break;
        case 'C': cmd = optarg; break;
        case 'f': force = 1; break;
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'i': id_offset = (uint64_t)xparse_ll("--id-offset", optarg, 0, INT64_MAX); have_offset = 1; break;
        case 'n': times = (int)xparse_ll("--times", optarg, 1, 1000); break;
        case 'o': out = optarg; break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (!classes_arg || !cmd || argc - optind > 1) {
        if (!classes_arg || !cmd)
            warnx("--classes and --command are required");
        cli_usage(&help, EXIT_USAGE);
    }
    size_t nclasses;
    char **classes = xlist_split(classes_arg, ',', &nclasses);
    if (nclasses == 0)
        errx(EXIT_USAGE, "--classes: no class names in '%s'", classes_arg);
    const char *in = optind < argc ? argv[optind] : NULL;
    /* the input's file name, even through `< split/val.rec` */
    const char *fname = in && strcmp(in, "-") ? in : stdin_file();
    int name_split = fname ? split_of_name(fname) : 0;
    if (name_split < 0)
        errx(EXIT_DATA, "%s: looks like a validation/test split; only the training split may be augmented", fname);

    refuse_output_is_input(out, argv + optind, (size_t)(argc - optind));
    rec_reader *r = rec_reader_open(in);
    if (!r)
        err(EXIT_DATA, "%s", in);
    cli_out o_out;
    FILE *fp = cli_out_open(&o_out, out, 1, force);
    if (out)
        set_cloexec(fileno(fp));
    rec_writer *w = rec_writer_open_meta(fp, out, rec_reader_header(r), NULL, 0, NULL);

    /* pass 1: copy the originals through, keep the chosen records and their texts */
    msgpack_sbuffer saved;
    msgpack_sbuffer_init(&saved);
    msgpack_packer spk;
    msgpack_packer_init(&spk, &saved, msgpack_sbuffer_write);
    source *src = NULL;
    size_t nsrc = 0, *per_class = xcalloc(nclasses, sizeof *per_class);
    char *texts = NULL;          /* the command's input: one escaped text per line */
    size_t tlen = 0, tcap = 0;
    uint64_t max_id = 0;
    int any = 0, split_known = name_split > 0;
    rec_t rec;
    while (rec_read_or_die(r, &rec)) {
        uint64_t id = rec_need_u64(r, &rec, "id");
        if (!any || id > max_id)
            max_id = id;
        any = 1;
        const char *s;
        size_t slen;
        int rc = rec_get_str(&rec, "split", &s, &slen);
        if (rc == 0) {
            split_known = 1;
            if (slen != 5 || memcmp(s, "train", 5))
                rec_die(r, "split is '%.*s': only the training split may be augmented", (int)slen, s);
        }
        rec_write_copy(w, &rec);
        rc = rec_get_str(&rec, "label", &s, &slen);
        if (rc == -2)
            rec_die(r, "field label: expected a string");
        int k = rc == 0 ? in_list(classes, nclasses, s, slen) : -1;
        if (k < 0 || rec_get(&rec, "augmented_from"))   /* paraphrase originals only */
            continue;
        per_class[k]++;
        const char *text = rec_need_str(r, &rec, "text", &slen);
        src = xreallocarray(src, nsrc + 1, sizeof *src);
        src[nsrc].off = saved.size;
        src[nsrc].id = id;
        msgpack_pack_map(&spk, rec.nfields);
        for (uint32_t i = 0; i < rec.nfields; i++) {
            msgpack_pack_object(&spk, rec.kv[i].key);
            msgpack_pack_object(&spk, rec.kv[i].val);
        }
        src[nsrc].len = saved.size - src[nsrc].off;
        nsrc++;
        if (tcap - tlen < slen + 1)
            texts = xrealloc(texts, tcap = 2 * tcap + slen + 1);
        for (size_t i = 0; i < slen; i++)   /* one text per line: newlines become spaces */
            texts[tlen++] = text[i] == '\n' || text[i] == '\r' || text[i] == '\0' ? ' ' : text[i];
        texts[tlen++] = '\n';
    }
    rec_reader_close(r);
    if (!split_known)
        warnx("%s has no split field and no train file name: make sure it is the training split "
              "(augmenting val/test leaks paraphrases into evaluation)", in ? in : "<stdin>");
    for (size_t k = 0; k < nclasses; k++)
        if (!per_class[k])
            warnx("no records of class '%s' to augment", classes[k]);
    uint64_t next_id = max_id + (any ? 1 : 0);
    if (have_offset) {
        if (any && id_offset <= max_id)
            errx(EXIT_DATA, "--id-offset %llu is not above the largest input id %llu",
                 (unsigned long long)id_offset, (unsigned long long)max_id);
        next_id = id_offset;
    }

    /* pass 2: one command run per round, one new record per paraphrase */
    char **line = xreallocarray(NULL, nsrc + 1, sizeof *line);
    size_t *llen = xreallocarray(NULL, nsrc + 1, sizeof *llen), empty = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    msgpack_object_kv *kv = NULL;
    for (int round = 1; nsrc && round <= times; round++) {
        size_t olen;
        char *o = run_command(cmd, texts, tlen, &olen, round, times);
        size_t n = split_lines(o, olen, line, llen, nsrc);
        if (n != nsrc)
            errx(EXIT_DATA, "command printed %s%zu lines for %zu input lines in round %d "
                 "(it must write exactly one line per input line): %s",
                 n > nsrc ? "more than " : "", n > nsrc ? nsrc : n, nsrc, round, cmd);
        for (size_t i = 0; i < nsrc; i++) {
            if (llen[i] == 0) {
                empty++;
                continue;
            }
            size_t off = src[i].off;
            if (msgpack_unpack_next(&u, saved.data, src[i].off + src[i].len, &off) != MSGPACK_UNPACK_SUCCESS)
                errx(EXIT_DATA, "internal error: saved record %zu", i);
            const msgpack_object_map *m = &u.data.via.map;
            kv = xreallocarray(kv, m->size + 1, sizeof *kv);
            rec_t pass = { kv, 0, 0 };
            for (uint32_t f = 0; f < m->size; f++) {
                int drop = 0;
                for (size_t d = 0; d < sizeof derived_fields / sizeof *derived_fields; d++)
                    drop |= key_is(&m->ptr[f].key, derived_fields[d]);
                if (!drop)
                    kv[pass.nfields++] = m->ptr[f];
            }
            msgpack_packer *pk = rec_begin(w, &pass, new_fields, 3);
            rec_pack_key(pk, "id");
            msgpack_pack_uint64(pk, next_id++);
            rec_pack_key(pk, "text");
            rec_pack_str(pk, line[i], llen[i]);
            rec_pack_key(pk, "augmented_from");
            msgpack_pack_uint64(pk, src[i].id);
            rec_end(w);
        }
        free(o);
    }
    if (empty)
        warnx("%zu empty paraphrases skipped", empty);
    msgpack_unpacked_destroy(&u);
    if (rec_writer_close(w) != 0)
        cli_out_fail(&o_out);
    cli_out_commit(&o_out);
    cli_out_close(&o_out);
    free(kv), free(line), free(llen), free(src), free(texts), free(per_class), free(classes);
    msgpack_sbuffer_destroy(&saved);
    return 0;
}
