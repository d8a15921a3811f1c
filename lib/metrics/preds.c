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
#include "util/util.h"

/* ---- name -> id hash table (open addressing, FNV-1a) --------------------- */
typedef struct slot {
    char *name;     /* NUL-terminated copy; NULL = empty slot */
    size_t len;
    int32_t id;
} slot;

typedef struct names {
    slot *slots;
    size_t cap, n;
    char **byid;    /* (n) */
    size_t byid_cap;
} names;

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static slot *names_find(names *t, const char *s, size_t n)
{
    size_t i = (size_t)fnv1a(s, n) & (t->cap - 1);
    while (t->slots[i].name && !(t->slots[i].len == n && memcmp(t->slots[i].name, s, n) == 0))
        i = (i + 1) & (t->cap - 1);
    return &t->slots[i];
}

static void names_init(names *t)
{
    memset(t, 0, sizeof *t);
    t->cap = 16;
    t->slots = xcalloc(t->cap, sizeof *t->slots);
}

static int32_t names_add(names *t, const char *s, size_t n)
{
    slot *sl = names_find(t, s, n);
    if (sl->name)
        return sl->id;
    if (2 * (t->n + 1) > t->cap) {     /* keep the load under 1/2 */
        slot *old = t->slots;
        size_t oldcap = t->cap;
        t->cap *= 2;
        t->slots = xcalloc(t->cap, sizeof *t->slots);
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].name)
                *names_find(t, old[i].name, old[i].len) = old[i];
        free(old);
        sl = names_find(t, s, n);
    }
    sl->name = xmalloc(n + 1);
    memcpy(sl->name, s, n);
    sl->name[n] = '\0';
    sl->len = n;
    sl->id = (int32_t)t->n;
    if (t->n == t->byid_cap)
        t->byid = xreallocarray(t->byid, t->byid_cap = t->byid_cap ? 2 * t->byid_cap : 16, sizeof *t->byid);
    t->byid[t->n++] = sl->name;
    return sl->id;
}

static int32_t names_get(names *t, const char *s, size_t n)
{
    slot *sl = names_find(t, s, n);
    return sl->name ? sl->id : -1;
}

static void names_free(names *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].name);
    free(t->slots);
    free(t->byid);
}

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

char **preds_parse_labels(const char *list, size_t *K)
{
    size_t cap = 8, n = 0;
    char **out = xmalloc(cap * sizeof *out);
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            errx(EXIT_USAGE, "option --labels: empty class name in '%s'", list);
        if (!valid_name(p, len))
            errx(EXIT_USAGE, "option --labels: class names must be valid UTF-8");
        for (size_t i = 0; i < n; i++)
            if (strlen(out[i]) == len && memcmp(out[i], p, len) == 0)
                errx(EXIT_USAGE, "option --labels: class '%s' given twice", out[i]);
        if (n == PREDS_MAX_CLASSES)
            errx(EXIT_USAGE, "option --labels: more than %d classes", PREDS_MAX_CLASSES);
        if (n == cap)
            out = xreallocarray(out, cap *= 2, sizeof *out);
        out[n] = xmalloc(len + 1);
        memcpy(out[n], p, len);
        out[n++][len] = '\0';
        if (!end)
            break;
        p = end + 1;
    }
    *K = n;
    return out;
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

/* The `labels` field as a list; NULL if absent.  Dies if it is not an array of strings. */
static char **field_labels(rec_reader *r, const rec_t *rec, size_t *K)
{
    const msgpack_object *o = rec_get(rec, "labels");
    if (!o)
        return NULL;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0 ||
        o->via.array.size > PREDS_MAX_CLASSES)
        rec_die(r, "field 'labels' is not a non-empty array of at most %d strings", PREDS_MAX_CLASSES);
    char **out = xcalloc(o->via.array.size, sizeof *out);
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_STR || !valid_name(e->via.str.ptr, e->via.str.size))
            rec_die(r, "field 'labels' element %u is not a valid UTF-8 string", i);
        out[i] = xmalloc(e->via.str.size + 1);
        memcpy(out[i], e->via.str.ptr, e->via.str.size);
        out[i][e->via.str.size] = '\0';
    }
    *K = o->via.array.size;
    return out;
}

static int same_labels(const rec_t *rec, char *const *classes, size_t K)
{
    const msgpack_object *o = rec_get(rec, "labels");
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != K)
        return 0;
    for (uint32_t i = 0; i < K; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_STR || e->via.str.size != strlen(classes[i]) ||
            memcmp(e->via.str.ptr, classes[i], e->via.str.size) != 0)
            return 0;
    }
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- reading ------------------------------------------------------------- */

char **preds_class_list(const char *labels_opt, const char *model_dir, size_t *K,
                        enum preds_class_source *src)
{
    if (labels_opt && model_dir)
        errx(EXIT_USAGE, "give either --labels or -m, not both");
    if (labels_opt) {
        *src = PREDS_FROM_OPTION;
        return preds_parse_labels(labels_opt, K);
    }
    if (!model_dir)
        return NULL;
    model_config c;
    char e[512];
    if (model_config_resolve(model_dir, &c, e, sizeof e) != 0)
        errx(EXIT_DATA, "%s", e);
    char **out = xcalloc((size_t)c.K, sizeof *out);
    for (int k = 0; k < c.K; k++)
        out[k] = xstrdup(c.labels[k]);
    *K = (size_t)c.K;
    *src = PREDS_FROM_CHECKPOINT;
    return out;
}

void preds_read_or_die(preds_t *p, char *const *paths, size_t npaths, char *const *class_list,
                       size_t nclasses, enum preds_class_source src)
{
    memset(p, 0, sizeof *p);
    names classes;        /* known class list, or the labels seen so far (sorted later) */
    names_init(&classes);
    int have_list = 0;
    if (class_list) {
        for (size_t k = 0; k < nclasses; k++) {
            if (names_get(&classes, class_list[k], strlen(class_list[k])) >= 0)
                errx(EXIT_USAGE, "class '%s' given twice", class_list[k]);
            names_add(&classes, class_list[k], strlen(class_list[k]));
        }
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
                size_t K;
                char **list = field_labels(r, &rec, &K);
                if (list) {
                    for (size_t k = 0; k < K; k++) {
                        if (names_get(&classes, list[k], strlen(list[k])) >= 0)
                            rec_die(r, "field 'labels' names class '%s' twice", list[k]);
                        names_add(&classes, list[k], strlen(list[k]));
                        free(list[k]);
                    }
                    free(list);
                    have_list = 1;
                    p->class_source = PREDS_FROM_FIELD;
                } else {
                    p->class_source = PREDS_FROM_SORTED;
                }
            } else if (p->class_source == PREDS_FROM_FIELD && rec_get(&rec, "labels") &&
                       !same_labels(&rec, classes.byid, classes.n)) {
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
            if (have_list && nl != classes.n)
                rec_die(r, "field 'logits' has %zu values but the class list (%s) has %zu classes",
                        nl, preds_class_source_name(p->class_source), classes.n);
            int32_t id;
            if (have_list) {
                id = names_get(&classes, label, len);
                if (id < 0)
                    rec_die(r, "label '%.*s' is not in the class list (%s)", (int)(len > 200 ? 200 : len),
                            label, preds_class_source_name(p->class_source));
            } else {
                id = names_add(&classes, label, len);
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
    p->K = have_list ? classes.n : K_logits;
    p->classes = xcalloc(p->K, sizeof *p->classes);
    if (have_list) {
        for (size_t k = 0; k < p->K; k++)
            p->classes[k] = xstrdup(classes.byid[k]);
    } else {
        if (classes.n != K_logits)
            errx(EXIT_DATA, "%s: logits have %zu values but the records name %zu classes; "
                 "pass --labels with the model's classes in logit order", last_name, K_logits, classes.n);
        /* sorted names; remap the provisional ids (order of first appearance) */
        char **sorted = xmalloc(p->K * sizeof *sorted);
        memcpy(sorted, classes.byid, p->K * sizeof *sorted);
        qsort(sorted, p->K, sizeof *sorted, cmp_str);
        int32_t *remap = xmalloc(p->K * sizeof *remap);
        for (size_t k = 0; k < p->K; k++) {
            p->classes[k] = xstrdup(sorted[k]);
            remap[names_get(&classes, sorted[k], strlen(sorted[k]))] = (int32_t)k;
        }
        for (size_t i = 0; i < p->N; i++)
            p->truth[i] = remap[p->truth[i]];
        free(remap);
        free(sorted);
    }
    free(last_name);
    names_free(&classes);
}

void preds_free(preds_t *p)
{
    for (size_t k = 0; k < p->K; k++)
        free(p->classes[k]);
    free(p->classes);
    free(p->truth);
    free(p->logits);
    free(p->length);
    memset(p, 0, sizeof *p);
}
