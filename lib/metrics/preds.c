/* Reading a whole prediction set (see preds.h). */
#include <err.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "io/rec.h"
#include "metrics/preds.h"
#include "metrics/metrics.h"
#include "model/config.h"
#include "util/labels.h"
#include "util/util.h"

/* Class names go into JSON, SVG and aligned text: they must be valid UTF-8 without NUL. */
static int valid_name(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0 || cp == 0)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

/* ---- class list ----------------------------------------------------------- */

void preds_parse_labels(const char *list, strtab *out)
{
    memset(out, 0, sizeof *out);
    size_t len;
    for (const char *q = list, *p; (p = list_next(&q, ',', &len));) {
        if (len == 0)
            errx(EXIT_USAGE, "option --labels: empty class name in '%s'", list);
        if (!valid_name(p, len))
            errx(EXIT_USAGE, "option --labels: class names must be valid UTF-8");
        if (strtab_find(out, p, len) >= 0)
            errx(EXIT_USAGE, "option --labels: class '%.*s' given twice", (int)len, p);
        if (out->n == PREDS_MAX_CLASSES)
            errx(EXIT_USAGE, "option --labels: more than %d classes", PREDS_MAX_CLASSES);
        strtab_add(out, p, len);
    }
}

const char *preds_class_source_name(enum preds_class_source s)
{
    switch (s) {
    case PREDS_FROM_OPTION: return "option --labels";
    case PREDS_FROM_FIELD: return "labels field";
    case PREDS_FROM_SORTED: return "sorted unique labels";
    case PREDS_FROM_CHECKPOINT: return "checkpoint id2label";
    }
    return "?";
}

/* The `labels` field into classes (empty); 0 if absent.  Dies if it is not an array of
 * distinct valid strings. */
static int field_labels(rec_reader *r, const rec_t *rec, strtab *classes)
{
    const msgpack_object *o = rec_get(rec, "labels");
    if (!o)
        return 0;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0 ||
        o->via.array.size > PREDS_MAX_CLASSES)
        rec_die(r, "field 'labels' is not a non-empty array of at most %d strings", PREDS_MAX_CLASSES);
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_STR || !valid_name(e->via.str.ptr, e->via.str.size))
            rec_die(r, "field 'labels' element %u is not a valid UTF-8 string", i);
    }
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        if (strtab_find(classes, e->via.str.ptr, e->via.str.size) >= 0)
            rec_die(r, "field 'labels' names class '%.*s' twice", (int)e->via.str.size, e->via.str.ptr);
        strtab_add(classes, e->via.str.ptr, e->via.str.size);
    }
    return 1;
}

static int same_labels(const rec_t *rec, const strtab *classes)
{
    const msgpack_object *o = rec_get(rec, "labels");
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != classes->n)
        return 0;
    for (uint32_t i = 0; i < classes->n; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_STR || e->via.str.size != classes->len[i] ||
            memcmp(e->via.str.ptr, classes->name[i], e->via.str.size) != 0)
            return 0;
    }
    return 1;
}

/* ---- reading ------------------------------------------------------------- */

int preds_class_list(const char *labels_opt, const char *model_dir, strtab *classes,
                     enum preds_class_source *src)
{
    memset(classes, 0, sizeof *classes);
    if (labels_opt && model_dir)
        errx(EXIT_USAGE, "give either --labels or -m, not both");
    if (labels_opt) {
        *src = PREDS_FROM_OPTION;
        preds_parse_labels(labels_opt, classes);
        return 1;
    }
    if (!model_dir)
        return 0;
    model_config c;
    char e[512];
    if (model_config_resolve(model_dir, &c, e, sizeof e) != 0)
        errx(EXIT_DATA, "%s", e);
    for (int k = 0; k < c.K; k++) {
        if (strtab_find(classes, c.labels[k], strlen(c.labels[k])) >= 0)
            errx(EXIT_USAGE, "class '%s' given twice", c.labels[k]);
        strtab_add(classes, c.labels[k], strlen(c.labels[k]));
    }
    *src = PREDS_FROM_CHECKPOINT;
    return 1;
}

void preds_read_or_die(preds_t *p, char *const *paths, size_t npaths, const strtab *class_list,
                       enum preds_class_source src)
{
    memset(p, 0, sizeof *p);
    strtab *classes = &p->classes;   /* the known class list, or the labels seen so far (sorted later) */
    int have_list = 0;
    if (class_list) {
        for (size_t k = 0; k < class_list->n; k++)
            strtab_add(classes, class_list->name[k], class_list->len[k]);
        have_list = 1;
        p->class_source = src;
    }
    size_t K_logits = 0, cap = 0;
    char *last_name = xstrdup("<stdin>");
    for (size_t f = 0; f < (npaths ? npaths : 1); f++) {
        const char *path = npaths ? paths[f] : NULL;
        rec_reader *r = rec_reader_open(path);
        if (!r)
            err(EXIT_DATA, "%s", path);
        free(last_name);
        last_name = xstrdup(rec_reader_name(r));
        rec_t rec;
        while (rec_read_or_die(r, &rec)) {
            if (p->N == 0 && !have_list) {
                if (field_labels(r, &rec, classes)) {
                    have_list = 1;
                    p->class_source = PREDS_FROM_FIELD;
                } else {
                    p->class_source = PREDS_FROM_SORTED;
                }
            } else if (p->class_source == PREDS_FROM_FIELD && rec_get(&rec, "labels") &&
                       !same_labels(&rec, classes)) {
                rec_die(r, "field 'labels' differs from the first record's");
            }

            size_t len;
            const char *label = rec_need_str(r, &rec, "label", &len);
            if (!valid_name(label, len))
                rec_die(r, "field 'label' is not valid UTF-8 (or contains a NUL)");
            const msgpack_object *lo = rec_get(&rec, "logits");
            if (!lo)
                rec_die(r, "missing field 'logits'");
            if (lo->type != MSGPACK_OBJECT_ARRAY)
                rec_die(r, "field 'logits' is not an array of numbers");
            size_t nl = lo->via.array.size;
            if (nl == 0 || nl > PREDS_MAX_CLASSES)
                rec_die(r, "field 'logits' has %zu values (expected 1 to %d)", nl, PREDS_MAX_CLASSES);
            if (p->N == 0) {
                K_logits = nl;
            } else if (nl != K_logits) {
                rec_die(r, "field 'logits' has %zu values but earlier records have %zu", nl, K_logits);
            }
            if (have_list && nl != classes->n)
                rec_die(r, "field 'logits' has %zu values but the class list (%s) has %zu classes",
                        nl, preds_class_source_name(p->class_source), classes->n);
            int32_t id;
            if (have_list) {
                id = (int32_t)strtab_find(classes, label, len);
                if (id < 0)
                    rec_die(r, "label '%.*s' is not in the class list (%s)", (int)(len > 200 ? 200 : len),
                            label, preds_class_source_name(p->class_source));
            } else {
                id = (int32_t)strtab_add(classes, label, len);
            }

            if (p->N == cap) {
                cap = cap ? 2 * cap : 1024;
                p->truth = xreallocarray(p->truth, cap, sizeof *p->truth);
                p->length = xreallocarray(p->length, cap, sizeof *p->length);
                p->logits = xreallocarray(p->logits, cap, K_logits * sizeof *p->logits);
            }
            float *row = p->logits + p->N * K_logits;
            size_t got = rec_need_f32v(r, &rec, "logits", row, K_logits);
            (void)got;
            for (size_t k = 0; k < K_logits; k++)
                if (!isfinite(row[k]))
                    rec_die(r, "non-finite logit at record %llu (logits[%zu] = %g)",
                            (unsigned long long)rec.index, k, (double)row[k]);
            p->truth[p->N] = id;

            const msgpack_object *ids = rec_get(&rec, "input_ids");
            const char *text;
            size_t tlen;
            if (ids && ids->type == MSGPACK_OBJECT_ARRAY) {
                p->length[p->N] = ids->via.array.size;
                p->length_sources |= PREDS_LEN_IDS;
            } else if (rec_get_str(&rec, "text", &text, &tlen) == 0) {
                p->length[p->N] = word_count(text, tlen);
                p->length_sources |= PREDS_LEN_WORDS;
            } else {
                p->length[p->N] = -1;
                p->length_sources |= PREDS_LEN_UNKNOWN;
            }
            p->N++;
        }
        rec_reader_close(r);
    }

    if (p->N == 0)
        errx(EXIT_DATA, "%s: no records (empty prediction set)", last_name);
    p->K = have_list ? classes->n : K_logits;
    if (!have_list) {
        if (classes->n != K_logits)
            errx(EXIT_DATA, "%s: logits have %zu values but the records name %zu classes; "
                 "pass --labels with the model's classes in logit order", last_name, K_logits, classes->n);
        /* sorted names; remap the provisional ids (order of first appearance) */
        uint32_t *remap = xmalloc(p->K * sizeof *remap);
        strtab_sort(classes, remap);
        for (size_t i = 0; i < p->N; i++)
            p->truth[i] = (int32_t)remap[p->truth[i]];
        free(remap);
    }
    free(last_name);
}

void preds_free(preds_t *p)
{
    strtab_free(&p->classes);
    free(p->truth);
    free(p->logits);
    free(p->length);
    memset(p, 0, sizeof *p);
}
