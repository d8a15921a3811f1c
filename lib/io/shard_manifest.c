/* Teacher cache: the manifest's cache-wide fields as JSON (what every part of a cache must
 * agree on) and the hex spelling of its checksums.  Format in shard.h and emo-cache(5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "io/shard_impl.h"
#include "util/util.h"

static const char *codec_name(shard_codec c) { return c == SHARD_ATTN_F16 ? "f16" : "u8"; }

json_t *shard_meta_to_json(const shard_meta *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "format", json_string("emo-cache"));
    json_object_set_new(o, "version", json_integer(SHARD_FORMAT_VERSION));
    json_object_set_new(o, "teacher", json_string(m->teacher));
    json_object_set_new(o, "teacher_hash", json_string(m->teacher_hash));
    json_object_set_new(o, "K", json_integer(m->K));
    json_t *labels = json_array();
    for (int k = 0; k < m->K; k++)
        json_array_append_new(labels, json_string(m->labels[k]));
    json_object_set_new(o, "labels", labels);
    json_t *layers = json_array();
    for (int i = 0; i < m->NL; i++)
        json_array_append_new(layers, json_integer(m->layers[i]));
    json_object_set_new(o, "layers", layers);
    json_object_set_new(o, "NH", json_integer(m->NH));
    json_object_set_new(o, "attn_codec", json_string(codec_name(m->codec)));
    json_object_set_new(o, "attn_kind", json_string(m->attn_kind));
    return o;
}

static int copy_str(char *dst, size_t cap, json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int shard_meta_from_json(shard_meta *m, json_t *o, char *why, size_t whycap)
{
    memset(m, 0, sizeof *m);
    json_t *v = json_object_get(o, "format");
    if (!json_is_string(v) || strcmp(json_string_value(v), "emo-cache"))
        return errbuf_fail(why, whycap, "not an emo-cache manifest (\"format\" is not \"emo-cache\")"), -1;
    v = json_object_get(o, "version");
    if (!json_is_integer(v) || json_integer_value(v) != SHARD_FORMAT_VERSION)
        return errbuf_fail(why, whycap, "unsupported cache format version (this build reads %d)", SHARD_FORMAT_VERSION), -1;
    if (copy_str(m->teacher, sizeof m->teacher, json_object_get(o, "teacher")) ||
        copy_str(m->teacher_hash, sizeof m->teacher_hash, json_object_get(o, "teacher_hash")) ||
        copy_str(m->attn_kind, sizeof m->attn_kind, json_object_get(o, "attn_kind")))
        return errbuf_fail(why, whycap, "missing or overlong teacher, teacher_hash or attn_kind"), -1;
    v = json_object_get(o, "K");
    json_t *labels = json_object_get(o, "labels");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > LABELS_MAX ||
        !json_is_array(labels) || json_array_size(labels) != (size_t)json_integer_value(v))
        return errbuf_fail(why, whycap, "bad K or labels"), -1;
    m->K = (int)json_integer_value(v);
    for (int k = 0; k < m->K; k++)
        if (copy_str(m->labels[k], LABEL_BYTES, json_array_get(labels, (size_t)k)))
            return errbuf_fail(why, whycap, "bad label %d", k), -1;
    json_t *layers = json_object_get(o, "layers");
    if (!json_is_array(layers) || json_array_size(layers) > SHARD_MAX_LAYERS)
        return errbuf_fail(why, whycap, "bad layers"), -1;
    m->NL = (int)json_array_size(layers);
    for (int i = 0; i < m->NL; i++) {
        json_t *e = json_array_get(layers, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 1000)
            return errbuf_fail(why, whycap, "bad layer number"), -1;
        m->layers[i] = (int)json_integer_value(e);
    }
    v = json_object_get(o, "NH");
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1024 ||
        (m->NL > 0 && json_integer_value(v) == 0))
        return errbuf_fail(why, whycap, "bad NH"), -1;
    m->NH = (int)json_integer_value(v);
    v = json_object_get(o, "attn_codec");
    if (json_is_string(v) && !strcmp(json_string_value(v), "f16"))
        m->codec = SHARD_ATTN_F16;
    else if (json_is_string(v) && !strcmp(json_string_value(v), "u8"))
        m->codec = SHARD_ATTN_U8;
    else
        return errbuf_fail(why, whycap, "unknown attn_codec"), -1;
    return 0;
}

/* Which field two parts disagree on, or NULL. */
const char *shard_meta_differs(const shard_meta *a, const shard_meta *b)
{
    if (strcmp(a->teacher_hash, b->teacher_hash))
        return "teacher_hash";
    if (a->K != b->K)
        return "K";
    for (int k = 0; k < a->K; k++)
        if (strcmp(a->labels[k], b->labels[k]))
            return "labels";
    if (a->NL != b->NL || memcmp(a->layers, b->layers, sizeof(int) * (size_t)a->NL))
        return "layers";
    if (a->NH != b->NH)
        return "NH";
    if (a->codec != b->codec)
        return "attn_codec";
    if (strcmp(a->attn_kind, b->attn_kind))
        return "attn_kind";
    return NULL;
}

char *shard_hex64(uint64_t v)
{
    char *s = xmalloc(17);
    snprintf(s, 17, "%016llx", (unsigned long long)v);
    return s;
}

int shard_parse_hex64(const char *s, uint64_t *v)
{
    if (strlen(s) != 16)
        return -1;
    char *end;
    *v = strtoull(s, &end, 16);
    return *end ? -1 : 0;
}
