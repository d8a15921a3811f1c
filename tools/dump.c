/* emo-dump: record stream(s) -> JSON Lines, one object per record.  float32 values print
 * with 9 significant digits (exact round trip), float64 with 17.  Exits 1 if a stream is
 * incomplete, after printing the records it could read. */
#include <err.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "io/rec.h"
#include "util/cli.h"
#include "util/util.h"

static const cli_help help = {
    "dump",
    "usage: emo dump [-o FILE] [FILE...]\n",
    "  -o, --output FILE       write FILE (atomically) instead of standard output\n",
};

static void put_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {           /* invalid UTF-8: show U+FFFD rather than emit invalid JSON */
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        if (cp == '"' || cp == '\\')
            fprintf(f, "\\%c", (char)cp);
        else if (cp == '\n')
            fputs("\\n", f);
        else if (cp == '\t')
            fputs("\\t", f);
        else if (cp == '\r')
            fputs("\\r", f);
        else if (cp < 0x20 || cp == 0x7f)
            fprintf(f, "\\u%04x", (unsigned)cp);
        else
            fwrite(s + i, 1, (size_t)k, f);
        i += (size_t)k;
    }
    fputc('"', f);
}

static void put_obj(FILE *f, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: fputs("null", f); break;
    case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", f); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: fprintf(f, "%llu", (unsigned long long)o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(f, "%lld", (long long)o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            fputs("null", f);     /* JSON has no NaN/Inf */
        else if (o->type == MSGPACK_OBJECT_FLOAT32)
            fprintf(f, "%.9g", o->via.f64);
        else
            fprintf(f, "%.17g", o->via.f64);
        break;
    case MSGPACK_OBJECT_STR: put_str(f, o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT: {
        const unsigned char *p = (const unsigned char *)(o->type == MSGPACK_OBJECT_BIN ? o->via.bin.ptr : o->via.ext.ptr);
        uint32_t n = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.size : o->via.ext.size;
        fputc('[', f);
        for (uint32_t i = 0; i < n; i++)
            fprintf(f, i ? ",%u" : "%u", p[i]);
        fputc(']', f);
        break;
    }
    case MSGPACK_OBJECT_ARRAY:
        fputc('[', f);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                fputc(',', f);
            put_obj(f, &o->via.array.ptr[i]);
        }
        fputc(']', f);
        break;
    case MSGPACK_OBJECT_MAP:
        fputc('{', f);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i)
                fputc(',', f);
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (k->type == MSGPACK_OBJECT_STR)
                put_str(f, k->via.str.ptr, k->via.str.size);
            else {
                fputc('"', f);
                put_obj(f, k);
                fputc('"', f);
            }
            fputc(':', f);
            put_obj(f, &o->via.map.ptr[i].val);
        }
        fputc('}', f);
        break;
    }
}

static void dump(FILE *out, const char *path)
{
    rec_reader *r = rec_reader_open(path);
    if (!r)
        err(EXIT_DATA, "%s", path);
    rec_t rec;
    while (rec_read_or_die(r, &rec)) {
        msgpack_object m = { .type = MSGPACK_OBJECT_MAP };
        m.via.map.size = rec.nfields;
        m.via.map.ptr = (msgpack_object_kv *)rec.kv;
        put_obj(out, &m);
        fputc('\n', out);
    }
    rec_reader_close(r);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONGOPTS,
        { "output", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    const char *out = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'o': out = optarg; break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    refuse_output_is_input(out, argv + optind, (size_t)(argc - optind));
    cli_out o_out;
    FILE *fp = cli_out_open(&o_out, out, 0, 0);
    if (optind == argc)
        dump(fp, NULL);
    for (int i = optind; i < argc; i++)
        dump(fp, argv[i]);
    cli_out_commit(&o_out);
    cli_out_close(&o_out);
    return 0;
}
