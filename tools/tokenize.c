/* emo-tokenize: record stream -> the same records with input_ids added ([CLS] ... [SEP],
 * truncated to --max-len, not padded).  BERT WordPiece from a vocab.txt (lib/tok/bert_tok.h)
 * or a SentencePiece model with ALBERT's preprocessing (lib/tok/spm.h). */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "io/rec.h"
#include "tok/bert_tok.h"
#include "tok/spm.h"
#include "util/util.h"

static const char *usage_text =
    "usage: emo tokenize (--vocab FILE | --spm MODEL) [--max-len N] [--on-invalid error|skip|replace]\n"
    "                    [-f] [-o FILE] [FILE...]\n";

static void usage(int code)
{
    fputs(usage_text, code ? stderr : stdout);
    if (!code)
        out_close();
    exit(code);
}

enum on_invalid { INVALID_ERROR, INVALID_SKIP, INVALID_REPLACE };

typedef struct job {
    tok_encoder *bert;
    spm_tok *spm;
    size_t max_len;
    enum on_invalid on_invalid;
    int32_t *ids;                 /* [max_len] */
    char *fixed;                  /* text with invalid sequences replaced */
    size_t fixed_cap;
    uint64_t skipped, replaced;
} job;

/* Length of the maximal subpart of an ill-formed sequence at s[0] (Unicode 3.9, as
 * Python's errors="replace"): a valid lead byte and the continuation bytes it accepts. */
static size_t maximal_subpart(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 1;
    unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    size_t k = 1;
    while (k < n && k < len && s[k] >= (k == 1 ? lo : 0x80) && s[k] <= (k == 1 ? hi : 0xbf))
        k++;
    return k;
}

/* Replace each maximal invalid subpart by U+FFFD. */
static size_t repair_utf8(job *j, const char *s, size_t len)
{
    if (len > (SIZE_MAX - 16) / 3)
        errx(EXIT_DATA, "text too large");
    if (j->fixed_cap < 3 * len + 16) {
        j->fixed_cap = 3 * len + 16;
        j->fixed = xrealloc(j->fixed, j->fixed_cap);
    }
    size_t o = 0, i = 0;
    while (i < len) {
        size_t bad = i + tok_utf8_invalid_at(s + i, len - i);
        memcpy(j->fixed + o, s + i, bad - i);
        o += bad - i;
        if (bad == len)
            break;
        memcpy(j->fixed + o, "\xef\xbf\xbd", 3);
        o += 3;
        i = bad + maximal_subpart((const unsigned char *)s + bad, len - bad);
    }
    return o;
}

static size_t encode(job *j, const char *text, size_t len)
{
    if (j->spm)
        return spm_tok_encode(j->spm, text, len, j->ids, j->max_len);
    return tok_encode(j->bert, text, len, j->ids, j->max_len);
}

static void tokenize_stream(job *j, rec_writer *w, const char *path)
{
    rec_reader *r = rec_reader_open(path);
    if (!r)
        err(EXIT_DATA, "%s", path);
    rec_t rec;
    static const char *const keys_ids[] = { "input_ids" };
    static const char *const keys_text_ids[] = { "text", "input_ids" };
    while (rec_read_or_die(r, &rec)) {
        const char *text;
        size_t len;
        int k = rec_get_str(&rec, "text", &text, &len);
        if (k == -1)
            rec_die(r, "no text field");
        if (k == -2)
            rec_die(r, "field text is not a string");
        size_t bad = tok_utf8_invalid_at(text, len);
        int fixed = 0;
        if (bad < len) {
            switch (j->on_invalid) {
            case INVALID_ERROR:
                rec_die(r, "text is not valid UTF-8 (byte %zu); --on-invalid skip|replace", bad);
            case INVALID_SKIP:
                j->skipped++;
                continue;
            case INVALID_REPLACE:
                len = repair_utf8(j, text, len);
                text = j->fixed;
                fixed = 1;
                j->replaced++;
                break;
            }
        }
        size_t n = encode(j, text, len);
        msgpack_packer *pk = rec_begin(w, &rec, fixed ? keys_text_ids : keys_ids, fixed ? 2 : 1);
        if (fixed) {
            rec_pack_key(pk, "text");
            rec_pack_str(pk, text, len);
        }
        rec_pack_key(pk, "input_ids");
        rec_pack_ids(pk, j->ids, n);
        rec_end(w);
    }
    rec_reader_close(r);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "force", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { "output", required_argument, NULL, 'o' },
        { "vocab", required_argument, NULL, 'v' },
        { "spm", required_argument, NULL, 's' },
        { "max-len", required_argument, NULL, 'm' },
        { "on-invalid", required_argument, NULL, 'i' },
        { NULL, 0, NULL, 0 },
    };
    const char *out = NULL, *vocab = NULL, *spm = NULL;
    job j = { .max_len = 128, .on_invalid = INVALID_ERROR };
    int force = 0, c;
    while ((c = getopt_long(argc, argv, "fho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': usage(0); break;
        case 'o': out = optarg; break;
        case 'v': vocab = optarg; break;
        case 's': spm = optarg; break;
        case 'm': j.max_len = (size_t)xparse_ll("--max-len", optarg, 2, 1 << 20); break;
        case 'i':
            if (!strcmp(optarg, "error"))
                j.on_invalid = INVALID_ERROR;
            else if (!strcmp(optarg, "skip"))
                j.on_invalid = INVALID_SKIP;
            else if (!strcmp(optarg, "replace"))
                j.on_invalid = INVALID_REPLACE;
            else
                errx(EXIT_USAGE, "option --on-invalid: '%s' is not error, skip or replace", optarg);
            break;
        default: usage(EXIT_USAGE);
        }
    }
    if (!vocab == !spm) {
        warnx("give exactly one of --vocab FILE and --spm MODEL");
        usage(EXIT_USAGE);
    }
    char msg[512];
    tok_vocab *v = NULL;
    if (vocab) {
        v = tok_vocab_load(vocab, msg, sizeof msg);
        if (!v)
            errx(EXIT_DATA, "%s", msg);
        j.bert = tok_encoder_new(v);
    } else {
        j.spm = spm_tok_load(spm, msg, sizeof msg);
        if (!j.spm)
            errx(EXIT_DATA, "%s", msg);
    }
    j.ids = xmalloc(j.max_len * sizeof *j.ids);

    atomic_file af;
    FILE *fp = stdout;
    if (out)
        fp = atomic_open(&af, out);
    else
        refuse_tty_stdout(force);
    rec_writer *w = rec_writer_open(fp, out);
    if (optind == argc)
        tokenize_stream(&j, w, NULL);
    for (int i = optind; i < argc; i++)
        tokenize_stream(&j, w, argv[i]);
    if (rec_writer_close(w) != 0)
        err(EXIT_DATA, "%s", out ? out : "write error on standard output");
    if (out && atomic_commit(&af) != 0)
        err(EXIT_DATA, "%s", out);
    if (j.skipped)
        warnx("skipped %llu records with invalid UTF-8", (unsigned long long)j.skipped);
    if (j.replaced)
        warnx("replaced invalid UTF-8 with U+FFFD in %llu records", (unsigned long long)j.replaced);
    if (!out)
        out_close();
    tok_encoder_free(j.bert);
    tok_vocab_free(v);
    spm_tok_free(j.spm);
    free(j.ids);
    free(j.fixed);
    return 0;
}
