/* emo-split: stratified train/val/test split of a record stream, by the `label` field.
 * Records pass through unchanged (all fields).  The whole input is held, as the raw
 * msgpack bytes of each record in one arena, so 416,809 tokenized tweets take about
 * their stream size plus 24 bytes each.  Rounding rule and shuffling: lib/data/stratify.h. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/stratify.h"
#include "io/rec.h"
#include "util/cli.h"
#include "util/labels.h"
#include "util/util.h"

static const cli_help help = {
    "split",
    "usage: emo split [-q] [--ratios TRAIN,VAL,TEST] [--seed N] [--assignment FILE]\n"
    "                 [--from-assignment FILE] (-o DIR | --train FILE --val FILE --test FILE)\n"
    "                 [FILE...]\n",
    "      --assignment FILE   also write the id to split assignment (TSV)\n"
    "      --from-assignment FILE  split as this assignment says\n"
    "  -o, --output DIR        write DIR/train.rec, DIR/val.rec and DIR/test.rec\n"
    "  -q, --quiet             no table\n"
    "      --ratios T,V,T      relative sizes of the splits (70,15,15)\n"
    "      --seed N            seed of the shuffle (42)\n"
    "      --test FILE         write the test split to FILE\n"
    "      --train FILE        write the training split to FILE\n"
    "      --val FILE          write the validation split to FILE\n",
};

typedef struct { uint64_t off, id; uint32_t len, cls; } held;   /* one input record */

static struct {
    char *bytes;                 /* raw msgpack of every record, back to back */
    uint64_t len, cap;
    held *rec;
    size_t n, rcap;
    strtab cls;                  /* the labels, ids by first appearance until sort_classes */
    uint64_t *cls_n;             /* (cls.n) records of each class */
    size_t cls_room;
} S;

static int arena_write(void *data, const char *buf, size_t len)
{
    (void)data;
    if (S.len + len > S.cap) {
        uint64_t cap = S.cap ? S.cap : 1 << 20;
        while (cap < S.len + len)
            cap *= 2;
        S.bytes = xrealloc(S.bytes, cap);
        S.cap = cap;
    }
    memcpy(S.bytes + S.len, buf, len);
    S.len += len;
    return 0;
}

static uint32_t class_of(const char *s, size_t n)
{
    uint32_t c = strtab_add(&S.cls, s, n);
    if (c == S.cls_room) {
        S.cls_room = S.cls_room ? 2 * S.cls_room : 16;
        S.cls_n = xreallocarray(S.cls_n, S.cls_room, sizeof *S.cls_n);
        memset(S.cls_n + c, 0, (S.cls_room - c) * sizeof *S.cls_n);
    }
    return c;
}

/* Holds every record of one input; ids are needed (and must be unique) when an
 * assignment is written or read. */
/* The first input stays open until the splits are written: its header is theirs. */
static rec_reader *first_input;

static void hold_file(const char *path, int need_id, idmap *seen)
{
    rec_reader *r = rec_reader_open(path);
    if (!r)
        err(EXIT_DATA, "%s", path);
    msgpack_packer pk;
    msgpack_packer_init(&pk, NULL, arena_write);
    rec_t rec;
    while (rec_read_or_die(r, &rec)) {
        size_t len;
        const char *label = rec_need_str(r, &rec, "label", &len);
        if (S.n == UINT32_MAX)
            rec_die(r, "more than %u records", UINT32_MAX);
        if (S.n == S.rcap) {
            S.rcap = S.rcap ? 2 * S.rcap : 4096;
            S.rec = xreallocarray(S.rec, S.rcap, sizeof *S.rec);
        }
        held *h = &S.rec[S.n++];
        h->cls = class_of(label, len);
        S.cls_n[h->cls]++;
        h->id = 0;
        if (need_id) {
            h->id = rec_need_u64(r, &rec, "id");
            if (idmap_put(seen, h->id, 0))
                rec_die(r, "duplicate id %llu (an assignment needs unique ids)", (unsigned long long)h->id);
        }
        h->off = S.len;
        msgpack_pack_map(&pk, rec.nfields);
        for (uint32_t i = 0; i < rec.nfields; i++) {
            msgpack_pack_object(&pk, rec.kv[i].key);
            msgpack_pack_object(&pk, rec.kv[i].val);
        }
        h->len = (uint32_t)(S.len - h->off);
    }
    if (!first_input)
        first_input = r;
    else
        rec_reader_close(r);
}

/* Classes in label order (so the split does not depend on which label came first). */
static void sort_classes(void)
{
    uint32_t *to = xmalloc(S.cls.n * sizeof *to);
    uint64_t *n = xmalloc(S.cls.n * sizeof *n);
    strtab_sort(&S.cls, to);
    for (size_t c = 0; c < S.cls.n; c++)
        n[to[c]] = S.cls_n[c];
    memcpy(S.cls_n, n, S.cls.n * sizeof *n);
    free(n);
    for (size_t i = 0; i < S.n; i++)
        S.rec[i].cls = to[S.rec[i].cls];
    free(to);
}

static void parse_ratios(const char *s, uint64_t ratio[NSPLIT])
{
    size_t n;
    char **t = xlist_split(s, ',', &n);
    double v[NSPLIT], sum = 0;
    for (int k = 0; k < NSPLIT; k++) {
        if ((size_t)k >= n)
            errx(EXIT_USAGE, "option --ratios: '%s' needs three numbers TRAIN,VAL,TEST", s);
        v[k] = xparse_double("--ratios", t[k], 0, 1e6);
        sum += v[k];
    }
    if (n > NSPLIT || sum <= 0)
        errx(EXIT_USAGE, "option --ratios: '%s' needs three numbers TRAIN,VAL,TEST with a positive sum", s);
    /* integer weights summing to about 1e9: exact arithmetic, and N * weight fits in 64 bits */
    for (int k = 0; k < NSPLIT; k++)
        ratio[k] = (uint64_t)(v[k] / sum * 1e9 + 0.5);
    free(t);
}

static void print_table(const uint64_t *counts, uint64_t seed, int imported)
{
    int w = 5;
    for (size_t c = 0; c < S.cls.n; c++)
        if ((int)S.cls.len[c] > w)
            w = S.cls.len[c] > 24 ? 24 : (int)S.cls.len[c];
    if (imported)
        fprintf(stderr, "emo-split: %zu records, %zu classes, imported assignment\n", S.n, S.cls.n);
    else
        fprintf(stderr, "emo-split: %zu records, %zu classes, seed %llu\n", S.n, S.cls.n, (unsigned long long)seed);
    fprintf(stderr, "%-*s %8s %8s %8s %8s\n", w, "label", "train", "val", "test", "total");
    uint64_t tot[NSPLIT + 1] = { 0 };
    for (size_t c = 0; c < S.cls.n; c++) {
        const uint64_t *k = counts + c * NSPLIT;
        fprintf(stderr, "%-*.*s %8llu %8llu %8llu %8llu\n", w, w, S.cls.name[c], (unsigned long long)k[0],
                (unsigned long long)k[1], (unsigned long long)k[2], (unsigned long long)S.cls_n[c]);
        for (int s = 0; s < NSPLIT; s++)
            tot[s] += k[s];
        tot[NSPLIT] += S.cls_n[c];
    }
    fprintf(stderr, "%-*s %8llu %8llu %8llu %8llu\n", w, "total", (unsigned long long)tot[0],
            (unsigned long long)tot[1], (unsigned long long)tot[2], (unsigned long long)tot[3]);
}

/* Writes all three streams to temp files, and renames them into place only when all
 * three are complete. */
static void write_splits(char *const path[NSPLIT], const uint8_t *split)
{
    atomic_file af[NSPLIT];
    FILE *fp[NSPLIT];
    rec_writer *w[NSPLIT];
    for (int s = 0; s < NSPLIT; s++) {
        fp[s] = atomic_open(&af[s], path[s]);
        setvbuf(fp[s], NULL, _IOFBF, 1 << 20);
        w[s] = rec_writer_open_meta(fp[s], path[s], rec_reader_header(first_input), NULL, 0, NULL);
    }
    for (size_t i = 0; i < S.n; i++) {
        /* the held bytes are one complete record map: write them as they are */
        int s = split[i];
        rec_write_packed(w[s], S.bytes + S.rec[i].off, S.rec[i].len);
        rec_end(w[s]);
    }
    for (int s = 0; s < NSPLIT; s++)
        if (rec_writer_close(w[s]) != 0)
            err(EXIT_DATA, "%s", path[s]);
    for (int s = 0; s < NSPLIT; s++)
        if (atomic_commit(&af[s]) != 0)
            err(EXIT_DATA, "%s", path[s]);
}

static void write_assignment(const char *path, const uint8_t *split)
{
    atomic_file af;
    FILE *fp = atomic_open(&af, path);
    fputs("id\tsplit\n", fp);
    for (size_t i = 0; i < S.n; i++)
        fprintf(fp, "%llu\t%s\n", (unsigned long long)S.rec[i].id, split_names[split[i]]);
    if (atomic_commit(&af) != 0)
        err(EXIT_DATA, "%s", path);
}

int main(int argc, char **argv)
{
    enum { O_RATIOS = 256, O_SEED, O_TRAIN, O_VAL, O_TEST, O_ASSIGN, O_FROM };
    static const struct option longopts[] = {
        { "assignment", required_argument, NULL, O_ASSIGN },
        { "from-assignment", required_argument, NULL, O_FROM },
        CLI_LONGOPTS,
        { "output", required_argument, NULL, 'o' },
        { "quiet", no_argument, NULL, 'q' },
        { "ratios", required_argument, NULL, O_RATIOS },
        { "seed", required_argument, NULL, O_SEED },
        { "test", required_argument, NULL, O_TEST },
        { "train", required_argument, NULL, O_TRAIN },
        { "val", required_argument, NULL, O_VAL },
        { NULL, 0, NULL, 0 },
    };
    uint64_t ratio[NSPLIT] = { 700000000, 150000000, 150000000 }, seed = 42;
    const char *dir = NULL, *out[NSPLIT] = { NULL }, *assign_out = NULL, *assign_in = NULL;
    int quiet = 0, c;
    while ((c = getopt_long(argc, argv, "ho:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'o': dir = optarg; break;
        case 'q': quiet = 1; break;
        case O_RATIOS: parse_ratios(optarg, ratio); break;
        case O_SEED: seed = (uint64_t)xparse_ll("--seed", optarg, 0, INT64_MAX); break;
        case O_TRAIN: out[SPLIT_TRAIN] = optarg; break;
        case O_VAL: out[SPLIT_VAL] = optarg; break;
        case O_TEST: out[SPLIT_TEST] = optarg; break;
        case O_ASSIGN: assign_out = optarg; break;
        case O_FROM: assign_in = optarg; break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    char *paths[NSPLIT];
    for (int s = 0; s < NSPLIT; s++) {
        if (dir && out[s])
            errx(EXIT_USAGE, "give -o DIR or --train/--val/--test, not both");
        if (!dir && !out[s]) {
            warnx("no output for the %s split (give -o DIR or --train, --val and --test)", split_names[s]);
            cli_usage(&help, EXIT_USAGE);
        }
        if (dir) {
            char name[16];
            snprintf(name, sizeof name, "%s.rec", split_names[s]);
            paths[s] = path_join(dir, name);
        } else {
            paths[s] = xstrdup(out[s]);
        }
    }

    char *from[] = { (char *)assign_in };
    for (int s = 0; s < NSPLIT; s++) {
        refuse_output_is_input(paths[s], argv + optind, (size_t)(argc - optind));
        if (assign_in)
            refuse_output_is_input(paths[s], from, 1);
    }
    refuse_output_is_input(assign_out, argv + optind, (size_t)(argc - optind));
    if (assign_in)
        refuse_output_is_input(assign_out, from, 1);

    idmap imported = { 0 }, seen = { 0 };
    char msg[600];
    if (assign_in && assignment_read(assign_in, &imported, msg, sizeof msg) < 0)
        errx(EXIT_DATA, "%s", msg);
    int need_id = assign_out || assign_in;
    if (optind == argc)
        hold_file(NULL, need_id, &seen);
    for (int i = optind; i < argc; i++)
        hold_file(argv[i], need_id, &seen);
    const char *input = optind < argc ? argv[optind] : "<stdin>";
    if (S.n == 0)
        errx(EXIT_DATA, "%s: no records to split", input);
    sort_classes();

    uint64_t *counts = xcalloc(S.cls.n * NSPLIT, sizeof *counts);
    uint8_t *split = xmalloc(S.n);
    if (assign_in) {
        for (size_t i = 0; i < S.n; i++) {
            int s = idmap_get(&imported, S.rec[i].id);
            if (s < 0)
                errx(EXIT_DATA, "%s: id %llu (record %zu of the input) is not in the assignment", assign_in,
                     (unsigned long long)S.rec[i].id, i + 1);
            split[i] = (uint8_t)s;
            counts[S.rec[i].cls * NSPLIT + (size_t)s]++;
        }
        if (imported.n > S.n && !quiet)   /* input ids are unique, so S.n of them matched */
            warnx("%s: %zu ids of the assignment are not in the input", assign_in, imported.n - S.n);
    } else {
        uint64_t *class_n = xmalloc(S.cls.n * sizeof *class_n);
        for (size_t k = 0; k < S.cls.n; k++) {
            if (S.cls_n[k] < 2)
                errx(EXIT_DATA, "%s: class '%s' has only 1 record; a stratified split needs at least 2 per class",
                     input, S.cls.name[k]);
            class_n[k] = S.cls_n[k];
        }
        stratify_counts(class_n, S.cls.n, ratio, counts);
        uint32_t *cls = xmalloc(S.n * sizeof *cls);
        for (size_t i = 0; i < S.n; i++)
            cls[i] = S.rec[i].cls;
        stratify_assign(cls, S.n, S.cls.n, counts, seed, split);
        free(cls);
        free(class_n);
    }

    if (dir)
        xmkdir_p(dir);
    write_splits(paths, split);
    if (assign_out)
        write_assignment(assign_out, split);
    if (!quiet)
        print_table(counts, seed, assign_in != NULL);
    for (int s = 0; s < NSPLIT; s++)
        free(paths[s]);
    free(counts);
    free(split);
    idmap_free(&imported);
    idmap_free(&seen);
    return 0;
}
