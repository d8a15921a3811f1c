/* emo-pack: JSON Lines -> record stream.  Arrays of non-negative integers become token-id
 * arrays, arrays holding any non-integer number become float32 vectors. */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "io/rec.h"
#include "util/cli.h"
#include "util/util.h"

static const cli_help help = {
    "pack",
    "usage: emo pack [-f] [-o FILE] [FILE...]\n",
    "  -f, --force             write records to a terminal\n"
    "  -o, --output FILE       write FILE (atomically) instead of standard output\n",
};

static void pack_json(msgpack_packer *pk, json_t *v);

static void pack_array(msgpack_packer *pk, json_t *a)
{
    size_t n = json_array_size(a), i;
    json_t *e;
    int all_uint = n > 0, all_num = n > 0;
    json_array_foreach(a, i, e) {
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            all_uint = 0;
        if (!json_is_number(e))
            all_num = 0;
    }
    msgpack_pack_array(pk, n);
    json_array_foreach(a, i, e) {
        if (all_uint)
            msgpack_pack_uint64(pk, (uint64_t)json_integer_value(e));
        else if (all_num)
            msgpack_pack_float(pk, (float)json_number_value(e));
        else
            pack_json(pk, e);
    }
}

static void pack_json(msgpack_packer *pk, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        msgpack_pack_map(pk, json_object_size(v));
        json_object_foreach(v, k, e) {
            rec_pack_key(pk, k);
            pack_json(pk, e);
        }
        break;
    }
    case JSON_ARRAY: pack_array(pk, v); break;
    case JSON_STRING: rec_pack_str(pk, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (i >= 0)
            msgpack_pack_uint64(pk, (uint64_t)i);
        else
            msgpack_pack_int64(pk, i);
        break;
    }
    case JSON_REAL: msgpack_pack_double(pk, json_real_value(v)); break;
    case JSON_TRUE: msgpack_pack_true(pk); break;
    case JSON_FALSE: msgpack_pack_false(pk); break;
    case JSON_NULL: msgpack_pack_nil(pk); break;
    }
}

static void pack_file(rec_writer *w, const char *path)
{
    FILE *in = stdin;
    const char *name = "<stdin>";
    if (path && strcmp(path, "-")) {
        in = fopen(path, "r");
        if (!in)
            err(EXIT_DATA, "%s", path);
        name = path;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        size_t n = (size_t)len;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        json_error_t je;
        json_t *v = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
        if (!v)
            errx(EXIT_DATA, "%s:line %lu: invalid JSON: %s", name, lineno, je.text);
        if (!json_is_object(v))
            errx(EXIT_DATA, "%s:line %lu: a record must be a JSON object", name, lineno);
        if (json_object_get(v, "emo.stream") || json_object_get(v, "emo.end"))
            errx(EXIT_DATA, "%s:line %lu: field names emo.stream and emo.end are reserved", name, lineno);
        pack_json(rec_begin_raw(w), v);
        rec_end(w);
        json_decref(v);
    }
    if (ferror(in))
        err(EXIT_DATA, "%s", name);
    free(line);
    if (in != stdin)
        fclose(in);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "force", no_argument, NULL, 'f' },
        CLI_LONGOPTS,
        { "output", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    const char *out = NULL;
    int force = 0, c;
    while ((c = getopt_long(argc, argv, "fho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': cli_usage(&help, 0); break;
        case CLI_VERSION: cli_version(&help);
        case 'o': out = optarg; break;
        default: cli_usage(&help, EXIT_USAGE);
        }
    }
    refuse_output_is_input(out, argv + optind, (size_t)(argc - optind));
    cli_out o_out;
    FILE *fp = cli_out_open(&o_out, out, 1, force);
    rec_writer *w = rec_writer_open(fp, out);
    if (optind == argc)
        pack_file(w, NULL);
    for (int i = optind; i < argc; i++)
        pack_file(w, argv[i]);
    if (rec_writer_close(w) != 0)
        cli_out_fail(&o_out);
    cli_out_commit(&o_out);
    cli_out_close(&o_out);
    return 0;
}
