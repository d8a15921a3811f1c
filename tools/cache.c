/* emo-cache: inspect a teacher cache (emo-cache(5)): a summary, a full check, the stored
 * targets of chosen ids as a record stream, or a record stream with the cache's logits
 * added (--join, predictions for emo eval); merge several teachers' caches into an ensemble
 * teacher's (lib/io/cache_merge.h). */
#include <dirent.h>
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/cache_merge.h"
#include "io/rec.h"
#include "io/shard.h"
#include "util/cli.h"
#include "util/labels.h"
#include "util/util.h"

static const cli_help help = {
    "cache",
    "usage: emo cache [--verify] DIR\n"
    "       emo cache --get ID[,ID...] [--attn] [-f] DIR\n"
    "       emo cache --join FILE [-f] DIR\n"
    "       emo cache merge [--attn first|none] [--prefix P] -o OUT CACHE...\n",
    "      --attn              with --get: include the attention maps\n"
    "      --attn first|none   (merge) the first cache's attention maps (first), or none\n"
    "  -f, --force             write records to a terminal\n"
    "      --get ID[,ID...]    write the stored targets of these ids as records\n"
    "      --join FILE         FILE's records (- stdin) with the cache's logits and labels added\n"
    "  -o, --output OUT        (merge) the new cache directory\n"
    "      --prefix P          (merge) the name of the merged part (ensemble)\n"
    "      --verify            also decompress every frame and check every checksum\n",
};

/* Bytes of every file of the directory that belongs to a part: *.zst, *.idx, *.manifest.json */
static uint64_t dir_bytes(const char *dir, uint64_t *nshards)
{
    uint64_t total = 0;
    *nshards = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        int zst = n > 4 && !strcmp(e->d_name + n - 4, ".zst");
        if (e->d_name[0] == '.' || !(zst || (n > 4 && !strcmp(e->d_name + n - 4, ".idx")) ||
                                     (n > 14 && !strcmp(e->d_name + n - 14, ".manifest.json"))))
            continue;
        char *p = path_join(dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0)
            total += (uint64_t)st.st_size;
        *nshards += (uint64_t)zst;
        free(p);
    }
    if (d)
        closedir(d);
    return total;
}

static void put(rec_writer *w, shard_reader *r, uint64_t id, int attn, float *buf, size_t cap)
{
    const shard_meta *m = shard_reader_meta(r);
    float logits[LABELS_MAX];
    int len = 0, k = shard_reader_get(r, id, logits, attn ? buf : NULL, cap, &len);
    if (k)
        errx(EXIT_DATA, "%s", shard_reader_error(r));
    msgpack_packer *pk = rec_begin_raw(w);
    msgpack_pack_map(pk, attn ? 4 : 3);
    rec_pack_key(pk, "id");
    msgpack_pack_uint64(pk, id);
    rec_pack_key(pk, "len");
    msgpack_pack_int(pk, len);
    rec_pack_key(pk, "logits");
    rec_pack_f32v(pk, logits, (size_t)m->K);
    if (attn) {
        rec_pack_key(pk, "attention");   /* (NL, NH, len, len) flattened */
        rec_pack_f32v(pk, buf, (size_t)m->NL * (size_t)m->NH * (size_t)len * (size_t)len);
    }
    rec_end(w);
}

/* FILE's records with `logits` (the cache's, by id) and `labels` (the cache's class names,
 * so emo eval reads the logits in the right order): predictions of the cache's teacher. */
static void join(const char *path, shard_reader *r, const char *dir)
{
    const shard_meta *m = shard_reader_meta(r);
    rec_reader *in = rec_reader_open(path);
    if (!in)
        err(EXIT_DATA, "%s", path ? path : "<stdin>");
    rec_writer *w = rec_writer_open(stdout, NULL);
    static const char *const keys[] = { "logits", "labels" };
    float logits[LABELS_MAX];
    rec_t rec;
    while (rec_read_or_die(in, &rec)) {
        uint64_t id = rec_need_u64(in, &rec, "id");
        int len = 0, k = shard_reader_get(r, id, logits, NULL, 0, &len);
        if (k == -2)
            rec_die(in, "id %llu is not in the cache %s", (unsigned long long)id, dir);
        if (k)
            errx(EXIT_DATA, "%s", shard_reader_error(r));
        const msgpack_object *ids = rec_get(&rec, "input_ids");
        if (ids && ids->type == MSGPACK_OBJECT_ARRAY && ids->via.array.size != (uint32_t)len)
            rec_die(in, "id %llu: %u tokens, %d in the cache %s (another tokenisation?)", (unsigned long long)id,
                    ids->via.array.size, len, dir);
        msgpack_packer *pk = rec_begin(w, &rec, keys, 2);
        rec_pack_key(pk, "logits");
        rec_pack_f32v(pk, logits, (size_t)m->K);
        rec_pack_key(pk, "labels");
        msgpack_pack_array(pk, (size_t)m->K);
        for (int c = 0; c < m->K; c++)
            rec_pack_str(pk, m->labels[c], strlen(m->labels[c]));
        rec_end(w);
    }
    rec_reader_close(in);
    if (rec_writer_close(w))
        err(EXIT_DATA, "write error on standard output");
}

static int merge(int argc, char **argv)
{
    enum { O_ATTN_MODE = 256, O_PREFIX };
    static const struct option merge_opts[] = {
        { "attn", required_argument, NULL, O_ATTN_MODE }, { "output", required_argument, NULL, 'o' },
        { "prefix", required_argument, NULL, O_PREFIX }, CLI_LONGOPTS, { NULL, 0, NULL, 0 },
    };
    const char *out = NULL, *prefix = "ensemble";
    int attn = CACHE_MERGE_ATTN_FIRST, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "ho:", merge_opts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_usage(&help, 0); break;
        case 'o': out = optarg; break;
        case CLI_VERSION: cli_version(&help);
        case O_ATTN_MODE:
            if (!strcmp(optarg, "first"))
                attn = CACHE_MERGE_ATTN_FIRST;
            else if (!strcmp(optarg, "none"))
                attn = CACHE_MERGE_ATTN_NONE;
            else
                errx(EXIT_USAGE, "option --attn: '%s' is not first or none", optarg);
            break;
        case O_PREFIX: prefix = optarg; break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (!out || optind >= argc) {
        warnx("merge needs -o OUT and at least one cache");
        cli_usage(&help, EXIT_USAGE);
    }
    refuse_output_is_input(out, argv + optind, (size_t)(argc - optind));
    char e[2048];
    if (cache_merge(out, (const char *const *)argv + optind, argc - optind, attn, prefix, e, sizeof e))
        errx(EXIT_DATA, "%s", e);
    return 0;
}

int main(int argc, char **argv)
{
    enum { O_VERIFY = 256, O_GET, O_ATTN, O_JOIN };
    static const struct option longopts[] = {
        { "verify", no_argument, NULL, O_VERIFY }, { "get", required_argument, NULL, O_GET },
        { "attn", no_argument, NULL, O_ATTN }, { "force", no_argument, NULL, 'f' },
        { "join", required_argument, NULL, O_JOIN }, CLI_LONGOPTS, { NULL, 0, NULL, 0 },
    };
    /* "emo cache merge ...": a subcommand; a cache directory named merge is ./merge */
    if (argc > 1 && !strcmp(argv[1], "merge"))
        return merge(argc - 1, argv + 1);
    int verify = 0, attn = 0, force = 0, c;
    const char *get = NULL, *join_path = NULL;
    while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case O_VERIFY: verify = 1; break;
        case O_GET: get = optarg; break;
        case O_ATTN: attn = 1; break;
        case O_JOIN: join_path = optarg; break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    if (optind + 1 != argc || (get && verify) || (attn && !get) || (join_path && (get || verify)))
        cli_usage(&help, EXIT_USAGE);
    const char *dir = argv[optind];
    char e[1024];
    shard_reader *r = shard_reader_open(dir, 4, e, sizeof e);
    if (!r)
        errx(EXIT_DATA, "%s", e);
    const shard_meta *m = shard_reader_meta(r);
    if (verify && shard_reader_verify(r))
        errx(EXIT_DATA, "%s", shard_reader_error(r));
    if (join_path) {
        refuse_tty_stdout(force);
        join(strcmp(join_path, "-") ? join_path : NULL, r, dir);
    } else if (get) {
        refuse_tty_stdout(force);
        rec_writer *w = rec_writer_open(stdout, NULL);
        float *buf = NULL;      /* grows with the longest record asked for */
        size_t bufcap = 0;
        size_t idlen;
        /* "1,2," is 1 and 2: a last empty item ends the list */
        for (const char *q = get, *p; (p = list_next(&q, ',', &idlen)) && (idlen || q);) {
            char *end;
            uint64_t id = strtoull(p, &end, 10);
            if (end == p || end != p + idlen)
                errx(EXIT_USAGE, "option --get: '%s' is not a list of ids", get);
            int len = shard_reader_len(r, id);
            if (len < 0)
                errx(EXIT_DATA, "%s: id %llu is not in the cache", dir, (unsigned long long)id);
            size_t need = (size_t)m->NL * (size_t)m->NH * (size_t)len * (size_t)len;
            if (need > bufcap) {
                free(buf);
                bufcap = need;
                buf = xmalloc((bufcap ? bufcap : 1) * sizeof *buf);
            }
            put(w, r, id, attn, buf, bufcap);
            p = *end ? end + 1 : end;
        }
        free(buf);
        if (rec_writer_close(w))
            err(EXIT_DATA, "write error on standard output");
    } else {
        uint64_t nshards, bytes = dir_bytes(dir, &nshards);
        uint64_t n = shard_reader_count(r);
        printf("records\t%llu\nlabels\t", (unsigned long long)n);
        for (int k = 0; k < m->K; k++)
            printf("%s%s", k ? "," : "", m->labels[k]);
        printf("\nlayers\t");
        for (int i = 0; i < m->NL; i++)
            printf("%s%d", i ? "," : "", m->layers[i]);
        printf("\nheads\t%d\ncodec\t%s\nshards\t%llu\nbytes\t%llu\nbytes_per_record\t%.1f\n", m->NH,
               m->codec == SHARD_ATTN_F16 ? "f16" : "u8", (unsigned long long)nshards, (unsigned long long)bytes,
               n ? (double)bytes / (double)n : 0.0);
        if (verify)
            printf("verify\tok\n");
    }
    shard_reader_close(r);
    out_close();
    return 0;
}
