/* lib/util/labels: the list splitter (strict and strtok's readings), the label set's
 * limits and messages, and the string table against a linear scan over many strings,
 * through growth, lookups of absent strings, strings holding a NUL, and the sort. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/labels.h"

/* Joins the items list_next gives as "[a][][b]" */
static void items(const char *list, int sep, char *out, size_t n)
{
    size_t k = 0, len;
    out[0] = '\0';
    for (const char *q = list, *t; (t = list_next(&q, sep, &len));)
        k += (size_t)snprintf(out + k, n - k, "[%.*s]", (int)len, t);
}

static void test_lists(void)
{
    char got[256];
    items("a,b,c", ',', got, sizeof got);
    CHECK(!strcmp(got, "[a][b][c]"), "a,b,c: %s", got);
    items("a,,b", ',', got, sizeof got);
    CHECK(!strcmp(got, "[a][][b]"), "a,,b: %s", got);
    items("", ',', got, sizeof got);
    CHECK(!strcmp(got, "[]"), "empty list: %s", got);
    items(",a,", ',', got, sizeof got);
    CHECK(!strcmp(got, "[][a][]"), ",a,: %s", got);
    items("x\ny\r\n", '\n', got, sizeof got);
    CHECK(!strcmp(got, "[x][y\r][]"), "lines: %s", got);
    const char *done = NULL;
    size_t len = 7;
    CHECK(list_next(&done, ',', &len) == NULL && len == 7, "an exhausted list gives NULL");

    size_t n;
    char **t = xlist_split(",,sadness,,joy,", ',', &n);
    CHECK(n == 2 && !strcmp(t[0], "sadness") && !strcmp(t[1], "joy"), "split skips empty items: %zu", n);
    free(t);
    t = xlist_split(",,,", ',', &n);
    CHECK(n == 0, "separators alone: %zu items", n);
    free(t);
    t = xlist_split("", ',', &n);
    CHECK(n == 0, "empty: %zu items", n);
    free(t);
}

static void test_labelset(void)
{
    labelset ls;
    char err[128], buf[64];
    CHECK(labelset_parse(&ls, "sadness,joy,love", err, sizeof err) == 0 && ls.K == 3, "parse: %s", err);
    CHECK(labelset_find(&ls, "joy", 3) == 1 && labelset_find(&ls, "jo", 2) == -1 && labelset_find(&ls, "joyx", 3) == 1,
          "find by length");
    CHECK(labelset_parse(&ls, "a,b,a", err, sizeof err) == -1 && !strcmp(err, "label 'a' given twice"), "dup: %s", err);
    CHECK(labelset_parse(&ls, "a,,b", err, sizeof err) == -1 &&
          !strcmp(err, "label '' is empty or longer than 63 bytes"), "empty: %s", err);
    CHECK(labelset_parse(&ls, "a,", err, sizeof err) == -1, "a trailing comma is an empty name");
    char longname[80];
    memset(longname, 'x', 64);
    longname[64] = '\0';
    CHECK(labelset_parse(&ls, longname, err, sizeof err) == -1, "64 bytes: too long");
    longname[63] = '\0';
    CHECK(labelset_parse(&ls, longname, err, sizeof err) == 0 && strlen(ls.names[0]) == 63, "63 bytes fit");
    char many[LABELS_MAX * 4 + 8] = "";
    for (int k = 0; k <= LABELS_MAX; k++)
        sprintf(many + strlen(many), "%s%d", k ? "," : "", k);
    CHECK(labelset_parse(&ls, many, err, sizeof err) == -1 && !strcmp(err, "more than 64 labels"), "65: %s", err);
    *strrchr(many, ',') = '\0';
    CHECK(labelset_parse(&ls, many, err, sizeof err) == 0 && ls.K == LABELS_MAX, "64 labels fit: %s", err);

    labelset_parse(&ls, "sadness,joy,love,anger", err, sizeof err);
    labelset_format(&ls, buf, sizeof buf);
    CHECK(!strcmp(buf, "sadness, joy, love, anger"), "format: %s", buf);
    labelset_format(&ls, buf, 10);
    CHECK(strlen(buf) == 9, "format cut to the buffer: '%s'", buf);
    int newid[LABELS_MAX];
    labelset_sort(&ls, newid);
    CHECK(!strcmp(ls.names[0], "anger") && !strcmp(ls.names[3], "sadness") && newid[0] == 3 && newid[3] == 0 &&
          newid[1] == 1 && newid[2] == 2, "sort: %s %s %d %d", ls.names[0], ls.names[3], newid[0], newid[3]);
}

static void test_strtab(void)
{
    CHECK(fnv1a("", 0) == 14695981039346656037ULL && fnv1a("a", 1) == 0xaf63dc4c8601ec8cULL, "FNV-1a 64 vectors");
    strtab t = { 0 };
    CHECK(strtab_find(&t, "x", 1) == -1, "empty table");
    enum { N = 5000 };
    char s[32];
    for (int i = 0; i < N; i++) {          /* ids by first appearance; every string twice */
        int v = (i * 7919) % N;
        snprintf(s, sizeof s, "w%d", v);
        uint32_t id = strtab_add(&t, s, strlen(s));
        CHECK(id == (uint32_t)i, "new string %s: id %u, want %d", s, id, i);
        CHECK(strtab_add(&t, s, strlen(s)) == id, "second add of %s", s);
    }
    CHECK(t.n == N, "%zu strings", t.n);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        int v = (i * 7919) % N;
        snprintf(s, sizeof s, "w%d", v);
        bad += strtab_find(&t, s, strlen(s)) != i || strcmp(t.name[i], s) || t.len[i] != strlen(s);
        snprintf(s, sizeof s, "v%d", v);
        bad += strtab_find(&t, s, strlen(s)) != -1;
    }
    CHECK(bad == 0, "%d lookups wrong", bad);
    /* a string holding a NUL is its own string, by length */
    uint32_t a = strtab_add(&t, "ab\0c", 4), b = strtab_add(&t, "ab", 2);
    CHECK(a == N && b == N + 1 && strtab_find(&t, "ab\0c", 4) == N, "NUL inside: %u %u", a, b);

    uint32_t *remap = malloc(t.n * sizeof *remap);
    char **before = malloc(t.n * sizeof *before);
    for (size_t i = 0; i < t.n; i++)
        before[i] = strdup(t.name[i]);
    size_t n = t.n;
    strtab_sort(&t, remap);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += strcmp(t.name[remap[i]], before[i]) != 0;
        bad += strtab_find(&t, t.name[i], t.len[i]) != (int64_t)i;
        if (i)
            bad += strcmp(t.name[i - 1], t.name[i]) > 0 && !(t.len[i - 1] > strlen(t.name[i - 1]));
    }
    CHECK(bad == 0, "sort: %d wrong", bad);
    CHECK(!strcmp(t.name[0], "ab") && t.len[0] == 2 && t.len[1] == 4, "the shorter first: %s %zu", t.name[0], t.len[1]);
    for (size_t i = 0; i < n; i++)
        free(before[i]);
    free(before);
    free(remap);
    strtab_free(&t);
    CHECK(t.n == 0 && t.name == NULL && strtab_find(&t, "w1", 2) == -1, "freed");
}

int main(void)
{
    test_lists();
    test_labelset();
    test_strtab();
    return check_done("test_labels");
}
