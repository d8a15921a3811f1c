/* emo-cache: inspect a teacher cache (emo-cache(5)): a summary, a full check, or the
 * stored targets of chosen ids as a record stream. */
#include <dirent.h>
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/rec.h"
#include "io/shard.h"
#include "util/cli.h"
#include "util/util.h"

static const cli_help help = {
    "cache",
    "usage: emo cache [--verify] DIR\n"
    "       emo cache --get ID[,ID...] [--attn] [-f] DIR\n",
    "      --attn              with --get: include the attention maps\n"
    "  -f, --force             write records to a terminal\n"
    "      --get ID[,ID...]    write the stored targets of these ids as records\n"
    "      --verify            also decompress every frame and check every checksum\n",
};

static void usage(int code)
{
    cli_usage(&help, code);
}

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
    float logits[MODEL_MAX_LABELS];
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

int main(int argc, char **argv)
{
    enum { O_VERIFY = 256, O_GET, O_ATTN };
    static const struct option longopts[] = {
        { "verify", no_argument, NULL, O_VERIFY }, { "get", required_argument, NULL, O_GET },
        { "attn", no_argument, NULL, O_ATTN }, { "force", no_argument, NULL, 'f' },
        CLI_LONGOPTS, { NULL, 0, NULL, 0 },
    };
    int verify = 0, attn = 0, force = 0, c;
    const char *get = NULL;
    while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': usage(0); break;
        case CLI_VERSION: cli_version(&help);
        case O_VERIFY: verify = 1; break;
        case O_GET: get = optarg; break;
        case O_ATTN: attn = 1; break;
        default: usage(EXIT_USAGE);
        }
    }
    if (optind + 1 != argc || (get && verify) || (attn && !get))
        usage(EXIT_USAGE);
    const char *dir = argv[optind];
    char e[1024];
    shard_reader *r = shard_reader_open(dir, 4, e, sizeof e);
    if (!r)
        errx(EXIT_DATA, "%s", e);
    const shard_meta *m = shard_reader_meta(r);
    if (verify && shard_reader_verify(r))
        errx(EXIT_DATA, "%s", shard_reader_error(r));
    if (get) {
        refuse_tty_stdout(force);
        rec_writer *w = rec_writer_open(stdout, NULL);
        float *buf = NULL;      /* grows with the longest record asked for */
        size_t bufcap = 0;
        for (const char *p = get; *p;) {
            char *end;
            uint64_t id = strtoull(p, &end, 10);
            if (end == p || (*end && *end != ','))
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
