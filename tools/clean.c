/* emo-clean: corpus files (Kaggle CSV, text;label lines, CSV/TSV with a header) ->
 * {id, text, label} records, cleaned as in the paper: empty records dropped, punctuation,
 * emoji and NLTK stopwords removed, lowercased; each step can be switched off.
 * Streams in constant memory.  Formats: lib/text/corpus.h; cleaning: lib/text/clean.h. */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "io/rec.h"
#include "model/textcfg.h"
#include "text/clean.h"
#include "text/corpus.h"
#include "util/cli.h"
#include "util/labels.h"
#include "util/util.h"

static const cli_help help = {
    "clean",
    "usage: emo clean [-fq] [--format auto|kaggle|semicolon|csv|tsv|lines] [--text-col NAME]\n"
    "                 [--label-col NAME] [--id-col NAME] [--id-offset N] [--id-space N]\n"
    "                 [--label-names NAME,...] [--on-invalid error|skip|replace]\n"
    "                 [--keep-stopwords] [--no-drop-empty] [--no-punct] [--no-emoji]\n"
    "                 [--no-lowercase] [--no-stopwords] [-o FILE] [FILE...]\n",
    "  -f, --force             write records to a terminal\n"
    "      --format FORMAT     auto, kaggle, semicolon, csv, tsv or lines (auto)\n"
    "      --id-col NAME       take ids from this column\n"
    "      --id-offset N       add N to line-number ids\n"
    "      --id-space N        ids in space N (0-8191): N * 2^40 + the id, for ids unique across files\n"
    "      --keep-stopwords    keep stopwords (what a BERT model wants)\n"
    "      --label-col NAME    label column of a CSV or TSV file\n"
    "      --label-names LIST  class names: a numeric label k becomes the k-th (from 0)\n"
    "      --no-drop-empty     write rows with empty text or label too\n"
    "      --no-emoji          do not turn emoji into words\n"
    "      --no-lowercase      do not lowercase\n"
    "      --no-punct          do not strip punctuation\n"
    "      --no-stopwords      the same as --keep-stopwords\n"
    "      --on-invalid WHAT   invalid UTF-8: error, skip or replace (error)\n"
    "  -o, --output FILE       write FILE (atomically) instead of standard output\n"
    "  -q, --quiet             no summary\n"
    "      --text-col NAME     text column of a CSV or TSV file\n",
};

enum { DROP_EMPTY_TEXT, DROP_EMPTY_LABEL, DROP_EMPTY_CLEANED, DROP_INVALID, NDROP };
static const char *const drop_names[NDROP] = {
    "empty text", "empty label", "empty after cleaning", "invalid UTF-8",
};

/* --id-space N: id = N << ID_SPACE_SHIFT + the row's id, which must be below 2^40; N below
 * 2^13 keeps every id below 2^53 (exact in a JSON number, a double). */
#define ID_SPACE_SHIFT 40
#define ID_SPACE_MAX ((1LL << (53 - ID_SPACE_SHIFT)) - 1)

static struct {
    clean_opts clean;
    uint64_t id_space;
    int drop_empty, on_invalid, quiet;
    char **label_names;
    size_t nlabel_names;
} cfg = { .clean = { 1, 1, 1, 1 }, .drop_empty = 1 };

static uint64_t nread, nwritten, dropped[NDROP];

static void parse_label_names(const char *s)
{
    size_t n;
    char **t = xlist_split(s, ',', &n);     /* kept to the end: label_names points into it */
    if (n) {                                /* a second --label-names adds to the first */
        cfg.label_names = xreallocarray(cfg.label_names, cfg.nlabel_names + n, sizeof *cfg.label_names);
        memcpy(cfg.label_names + cfg.nlabel_names, t, n * sizeof *t);
        cfg.nlabel_names += n;
    } else {
        free(t);
    }
    if (!cfg.nlabel_names)
        errx(EXIT_USAGE, "option --label-names: empty list");
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* Maps a numeric label through --label-names. */
static void map_label(const char *name, uint64_t line, const char **label, size_t *len)
{
    size_t v = 0, n = *len;
    const char *s = *label;
    int ok = n > 0 && n <= 9;
    for (size_t i = 0; ok && i < n; i++) {
        ok = s[i] >= '0' && s[i] <= '9';
        v = v * 10 + (size_t)(s[i] - '0');
    }
    if (!ok || v >= cfg.nlabel_names)
        errx(EXIT_DATA, "%s:line %llu: label '%.*s' is not an index 0..%zu into --label-names", name,
             (unsigned long long)line, (int)(n > 40 ? 40 : n), s, cfg.nlabel_names - 1);
    *label = cfg.label_names[v];
    *len = strlen(*label);
}

/* Validates a field; returns 0 to go on, -1 to drop the record.  May point *s into fix. */
static int check_utf8(const char *name, const char *what, uint64_t line, const char **s, size_t *n,
                      text_buf *fix)
{
    size_t bad;
    if (utf8_valid(*s, *n, &bad))
        return 0;
    if (cfg.on_invalid == CLI_INVALID_ERROR)
        errx(EXIT_DATA, "%s:line %llu: invalid UTF-8 in the %s field (byte %zu; --on-invalid skip|replace)",
             name, (unsigned long long)line, what, bad);
    if (cfg.on_invalid == CLI_INVALID_SKIP)
        return -1;
    utf8_replace_invalid(*s, *n, fix);
    *s = fix->p;
    *n = fix->len;
    return 0;
}

static corpus_reader *open_or_die(const char *path, const corpus_opts *o)
{
    char err[600];
    corpus_reader *c = corpus_open(path, o, err, sizeof err);
    if (!c)
        errx(EXIT_DATA, "%s", err);
    return c;
}

/* Cleans one opened input; returns its number of data lines (for the next file's ids). */
static uint64_t clean_file(rec_writer *w, corpus_reader *c, const char *path)
{
    const char *name = path && strcmp(path, "-") ? path : "<stdin>";
    static text_buf out, fix_text, fix_label;
    static const char *const keys[] = { "id", "text", "label" };
    corpus_row row;
    int k;
    while ((k = corpus_next(c, &row)) == 1) {
        nread++;
        int labelled = row.label != NULL;
        if (check_utf8(name, "text", row.line, &row.text, &row.text_len, &fix_text) < 0 ||
            (labelled && check_utf8(name, "label", row.line, &row.label, &row.label_len, &fix_label) < 0)) {
            dropped[DROP_INVALID]++;
            continue;
        }
        if (cfg.drop_empty && is_blank(row.text, row.text_len)) {
            dropped[DROP_EMPTY_TEXT]++;
            continue;
        }
        if (cfg.drop_empty && labelled && row.label_len == 0) {
            dropped[DROP_EMPTY_LABEL]++;
            continue;
        }
        if (cfg.nlabel_names && labelled && row.label_len)   /* an empty label kept by --no-drop-empty stays empty */
            map_label(name, row.line, &row.label, &row.label_len);
        clean_text(&cfg.clean, row.text, row.text_len, &out);
        if (cfg.drop_empty && out.len == 0) {
            dropped[DROP_EMPTY_CLEANED]++;
            continue;
        }
        if (cfg.id_space && row.id >> ID_SPACE_SHIFT)
            errx(EXIT_DATA, "%s:line %llu: id %llu does not fit an id space (below 2^%d) for --id-space",
                 name, (unsigned long long)row.line, (unsigned long long)row.id, ID_SPACE_SHIFT);
        msgpack_packer *pk = rec_begin(w, NULL, keys, labelled ? 3 : 2);
        rec_pack_key(pk, "id");
        msgpack_pack_uint64(pk, cfg.id_space << ID_SPACE_SHIFT | row.id);
        rec_pack_key(pk, "text");
        rec_pack_str(pk, out.p, out.len);
        if (labelled) {
            rec_pack_key(pk, "label");
            rec_pack_str(pk, row.label, row.label_len);
        }
        rec_end(w);
        nwritten++;
    }
    if (k < 0)
        errx(EXIT_DATA, "%s", corpus_error(c));
    uint64_t lines = corpus_data_lines(c);
    corpus_close(c);
    return lines;
}

static void summary(void)
{
    uint64_t total = 0;
    for (int i = 0; i < NDROP; i++)
        total += dropped[i];
    fprintf(stderr, "emo-clean: read %llu, written %llu, dropped %llu", (unsigned long long)nread,
            (unsigned long long)nwritten, (unsigned long long)total);
    for (int i = 0; i < NDROP; i++)
        fprintf(stderr, "%s%s %llu", i ? ", " : " (", drop_names[i], (unsigned long long)dropped[i]);
    fputs(")\n", stderr);
}

int main(int argc, char **argv)
{
    enum { O_FORMAT = 256, O_TEXT_COL, O_LABEL_COL, O_ID_COL, O_ID_OFFSET, O_ID_SPACE, O_LABEL_NAMES,
           O_ON_INVALID, O_NO_STOP, O_NO_DROP, O_NO_PUNCT, O_NO_EMOJI, O_NO_LOWER };
    static const struct option longopts[] = {
        { "force", no_argument, NULL, 'f' },
        { "format", required_argument, NULL, O_FORMAT },
        CLI_LONGOPTS,
        { "id-col", required_argument, NULL, O_ID_COL },
        { "id-offset", required_argument, NULL, O_ID_OFFSET },
        { "id-space", required_argument, NULL, O_ID_SPACE },
        { "keep-stopwords", no_argument, NULL, O_NO_STOP },
        { "label-col", required_argument, NULL, O_LABEL_COL },
        { "label-names", required_argument, NULL, O_LABEL_NAMES },
        { "no-drop-empty", no_argument, NULL, O_NO_DROP },
        { "no-emoji", no_argument, NULL, O_NO_EMOJI },
        { "no-lowercase", no_argument, NULL, O_NO_LOWER },
        { "no-punct", no_argument, NULL, O_NO_PUNCT },
        { "no-stopwords", no_argument, NULL, O_NO_STOP },
        { "on-invalid", required_argument, NULL, O_ON_INVALID },
        { "output", required_argument, NULL, 'o' },
        { "quiet", no_argument, NULL, 'q' },
        { "text-col", required_argument, NULL, O_TEXT_COL },
        { NULL, 0, NULL, 0 },
    };
    corpus_opts o = { .format = CORPUS_AUTO };
    const char *out = NULL;
    int force = 0, c;
    while ((c = getopt_long(argc, argv, "fho:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'o': out = optarg; break;
        case 'q': cfg.quiet = 1; break;
        case O_FORMAT:
            if ((o.format = corpus_format_parse(optarg)) < 0)
                errx(EXIT_USAGE, "option --format: unknown format '%s' (auto, kaggle, semicolon, csv, tsv, lines)", optarg);
            break;
        case O_TEXT_COL: o.text_col = optarg; break;
        case O_LABEL_COL: o.label_col = optarg; break;
        case O_ID_COL: o.id_col = optarg; break;
        case O_ID_OFFSET: o.id_offset = (uint64_t)xparse_ll("--id-offset", optarg, 0, (1LL << 53)); break;
        case O_ID_SPACE: cfg.id_space = (uint64_t)xparse_ll("--id-space", optarg, 0, ID_SPACE_MAX); break;
        case O_LABEL_NAMES: parse_label_names(optarg); break;
        case O_ON_INVALID: cfg.on_invalid = cli_on_invalid(optarg); break;
        case O_NO_STOP: cfg.clean.stopwords = 0; break;
        case O_NO_DROP: cfg.drop_empty = 0; break;
        case O_NO_PUNCT: cfg.clean.punct = 0; break;
        case O_NO_EMOJI: cfg.clean.emoji = 0; break;
        case O_NO_LOWER: cfg.clean.lowercase = 0; break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    refuse_output_is_input(out, argv + optind, (size_t)(argc - optind));
    cli_out o_out;
    FILE *fp = cli_out_open(&o_out, out, 1, force);
    setvbuf(fp, NULL, _IOFBF, 1 << 20);
    /* The first input is opened (header read, format sniffed) before the stream header
     * is written, so a missing, empty or unreadable input leaves stdout empty. */
    const char *first = optind < argc ? argv[optind] : NULL;
    corpus_reader *in = open_or_die(first, &o);
    static const char *const meta[] = { "clean" };
    msgpack_packer *hpk;
    rec_writer *w = rec_writer_open_meta(fp, out, NULL, meta, 1, &hpk);
    rec_pack_key(hpk, "clean");
    textcfg_pack_clean(hpk, &cfg.clean);
    o.id_offset += clean_file(w, in, first);         /* line ids continue across files */
    for (int i = optind + 1; i < argc; i++)
        o.id_offset += clean_file(w, open_or_die(argv[i], &o), argv[i]);
    if (rec_writer_close(w) != 0)
        cli_out_fail(&o_out);
    cli_out_commit(&o_out);
    if (!cfg.quiet)
        summary();
    cli_out_close(&o_out);
    return 0;
}
