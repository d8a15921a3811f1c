/* Cleaning and tokenizer settings in stream headers and checkpoints (textcfg.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "io/rec.h"
#include "model/textcfg.h"
#include "util/util.h"

static const char *const step_names[4] = { "punct", "emoji", "lowercase", "stopwords" };

static int *step(clean_opts *c, int i)
{
    return i == 0 ? &c->punct : i == 1 ? &c->emoji : i == 2 ? &c->lowercase : &c->stopwords;
}

static int step_on(const clean_opts *c, int i)
{
    return i == 0 ? c->punct : i == 1 ? c->emoji : i == 2 ? c->lowercase : c->stopwords;
}

void textcfg_default(textcfg *t)
{
    memset(t, 0, sizeof *t);
    t->clean = (clean_opts){ 1, 1, 1, 1 };
    t->max_len = TEXTCFG_DEFAULT_MAX_LEN;
}

static int str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && !memcmp(o->via.str.ptr, s, n);
}

static const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
    if (!m || m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++)
        if (str_is(&m->via.map.ptr[i].key, key))
            return &m->via.map.ptr[i].val;
    return NULL;
}

void textcfg_from_header(textcfg *t, const msgpack_object *hdr)
{
    memset(t, 0, sizeof *t);
    const msgpack_object *c = rec_header_get(hdr, "clean");
    if (c && c->type == MSGPACK_OBJECT_MAP) {
        int all = 1;
        for (int i = 0; i < 4; i++) {
            const msgpack_object *v = map_get(c, step_names[i]);
            all &= v && v->type == MSGPACK_OBJECT_BOOLEAN;
            if (v && v->type == MSGPACK_OBJECT_BOOLEAN)
                *step(&t->clean, i) = v->via.boolean;
        }
        t->has_clean = all;
    }
    const msgpack_object *k = rec_header_get(hdr, "tokenizer");
    const msgpack_object *v = map_get(k, "max_len");
    if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 >= 2 && v->via.u64 <= (1u << 20))
        t->max_len = (int)v->via.u64;
    v = map_get(k, "vocab_size");
    if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 < (1u << 30))
        t->vocab_size = (long)v->via.u64;
}

void textcfg_pack_clean(msgpack_packer *pk, const clean_opts *c)
{
    msgpack_pack_map(pk, 4);
    for (int i = 0; i < 4; i++) {
        rec_pack_key(pk, step_names[i]);
        if (step_on(c, i))
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
    }
}

void textcfg_pack_tokenizer(msgpack_packer *pk, int max_len, long vocab_size)
{
    msgpack_pack_map(pk, vocab_size ? 2 : 1);
    rec_pack_key(pk, "max_len");
    msgpack_pack_int(pk, max_len);
    if (vocab_size) {
        rec_pack_key(pk, "vocab_size");
        msgpack_pack_long(pk, vocab_size);
    }
}

int textcfg_load(const char *dir, textcfg *t, char *err, size_t errn)
{
    memset(t, 0, sizeof *t);
    char *p = path_join(dir, TEXTCFG_FILE);
    if (access(p, F_OK) != 0) {
        free(p);
        return 0;
    }
    json_error_t je;
    json_t *root = json_load_file(p, 0, &je);
    int rc = 1;
    if (!root || !json_is_object(root)) {
        rc = errbuf_fail(err, errn, "%s: %s", p, root ? "not a JSON object" : je.text);
        goto out;
    }
    json_t *c = json_object_get(root, "clean");
    if (c) {
        if (!json_is_object(c)) {
            rc = errbuf_fail(err, errn, "%s: clean: not an object", p);
            goto out;
        }
        for (int i = 0; i < 4; i++) {
            json_t *v = json_object_get(c, step_names[i]);
            if (!json_is_boolean(v)) {
                rc = errbuf_fail(err, errn, "%s: clean.%s: missing or not a boolean", p, step_names[i]);
                goto out;
            }
            *step(&t->clean, i) = json_is_true(v);
        }
        t->has_clean = 1;
    }
    json_t *m = json_object_get(root, "max_len");
    if (m) {
        if (!json_is_integer(m) || json_integer_value(m) < 2 || json_integer_value(m) > (1 << 20)) {
            rc = errbuf_fail(err, errn, "%s: max_len: not an integer in [2, %d]", p, 1 << 20);
            goto out;
        }
        t->max_len = (int)json_integer_value(m);
    }
out:
    json_decref(root);
    free(p);
    return rc;
}

int textcfg_save(const char *dir, const textcfg *t, char *err, size_t errn)
{
    if (!t->has_clean && !t->max_len)
        return 0;
    json_t *root = json_object();
    if (t->has_clean) {
        json_t *c = json_object();
        for (int i = 0; i < 4; i++)
            json_object_set_new(c, step_names[i], json_boolean(step_on(&t->clean, i)));
        json_object_set_new(root, "clean", c);
    }
    if (t->max_len)
        json_object_set_new(root, "max_len", json_integer(t->max_len));
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    char *p = path_join(dir, TEXTCFG_FILE);
    atomic_file af;
    FILE *fp = atomic_open(&af, p);
    fputs(s, fp);
    fputc('\n', fp);
    int rc = atomic_commit(&af) == 0 ? 0 : errbuf_fail(err, errn, "%s: %s", p, strerror(errno));
    free(s);
    free(p);
    free(af.path);
    free(af.tmp);
    return rc;
}

void textcfg_clean_str(const clean_opts *c, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < 4; i++)
        if (step_on(c, i))
            k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "%s%s", k ? "," : "", step_names[i]);
    if (!k)
        snprintf(buf, n, "none");
}
