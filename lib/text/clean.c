/* Text cleaning (see clean.h for what each step removes).  One pass over the input:
 * words are found, cleaned into the output and taken back if they turn out empty or a
 * stopword.  ASCII bytes are classified by a table; utf8proc is called only for
 * multi-byte sequences. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "text/clean.h"
#include "util/labels.h"
#include "util/util.h"

enum { C_WS = 1, C_PUNCT = 2, C_UPPER = 4 };

/* ASCII classes: whitespace/controls, string.punctuation, A-Z. */
static const unsigned char ascii_class[128] = {
    [0x00] = C_WS, [0x01] = C_WS, [0x02] = C_WS, [0x03] = C_WS, [0x04] = C_WS, [0x05] = C_WS,
    [0x06] = C_WS, [0x07] = C_WS, [0x08] = C_WS, [0x09] = C_WS, [0x0a] = C_WS, [0x0b] = C_WS,
    [0x0c] = C_WS, [0x0d] = C_WS, [0x0e] = C_WS, [0x0f] = C_WS, [0x10] = C_WS, [0x11] = C_WS,
    [0x12] = C_WS, [0x13] = C_WS, [0x14] = C_WS, [0x15] = C_WS, [0x16] = C_WS, [0x17] = C_WS,
    [0x18] = C_WS, [0x19] = C_WS, [0x1a] = C_WS, [0x1b] = C_WS, [0x1c] = C_WS, [0x1d] = C_WS,
    [0x1e] = C_WS, [0x1f] = C_WS, [' '] = C_WS, [0x7f] = C_WS,
    ['!'] = C_PUNCT, ['"'] = C_PUNCT, ['#'] = C_PUNCT, ['$'] = C_PUNCT, ['%'] = C_PUNCT,
    ['&'] = C_PUNCT, ['\''] = C_PUNCT, ['('] = C_PUNCT, [')'] = C_PUNCT, ['*'] = C_PUNCT,
    ['+'] = C_PUNCT, [','] = C_PUNCT, ['-'] = C_PUNCT, ['.'] = C_PUNCT, ['/'] = C_PUNCT,
    [':'] = C_PUNCT, [';'] = C_PUNCT, ['<'] = C_PUNCT, ['='] = C_PUNCT, ['>'] = C_PUNCT,
    ['?'] = C_PUNCT, ['@'] = C_PUNCT, ['['] = C_PUNCT, ['\\'] = C_PUNCT, [']'] = C_PUNCT,
    ['^'] = C_PUNCT, ['_'] = C_PUNCT, ['`'] = C_PUNCT, ['{'] = C_PUNCT, ['|'] = C_PUNCT,
    ['}'] = C_PUNCT, ['~'] = C_PUNCT,
    ['A'] = C_UPPER, ['B'] = C_UPPER, ['C'] = C_UPPER, ['D'] = C_UPPER, ['E'] = C_UPPER,
    ['F'] = C_UPPER, ['G'] = C_UPPER, ['H'] = C_UPPER, ['I'] = C_UPPER, ['J'] = C_UPPER,
    ['K'] = C_UPPER, ['L'] = C_UPPER, ['M'] = C_UPPER, ['N'] = C_UPPER, ['O'] = C_UPPER,
    ['P'] = C_UPPER, ['Q'] = C_UPPER, ['R'] = C_UPPER, ['S'] = C_UPPER, ['T'] = C_UPPER,
    ['U'] = C_UPPER, ['V'] = C_UPPER, ['W'] = C_UPPER, ['X'] = C_UPPER, ['Y'] = C_UPPER,
    ['Z'] = C_UPPER,
};

void text_buf_reserve(text_buf *b, size_t n)
{
    if (n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < n)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void text_buf_free(text_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int prop_is_space(int32_t cp, const utf8proc_property_t *pr)
{
    (void)cp;
    return pr->category == UTF8PROC_CATEGORY_ZS || pr->category == UTF8PROC_CATEGORY_ZL ||
           pr->category == UTF8PROC_CATEGORY_ZP || pr->category == UTF8PROC_CATEGORY_CC;
}

static int prop_is_punct(const utf8proc_property_t *pr)
{
    switch (pr->category) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

static int prop_is_emoji(int32_t cp, const utf8proc_property_t *pr)
{
    return pr->boundclass == UTF8PROC_BOUNDCLASS_EXTENDED_PICTOGRAPHIC ||
           pr->boundclass == UTF8PROC_BOUNDCLASS_E_ZWG ||
           (cp >= 0x1F1E6 && cp <= 0x1F1FF) ||        /* regional indicators (flags) */
           (cp >= 0x1F3FB && cp <= 0x1F3FF) ||        /* skin-tone modifiers */
           cp == 0x200D || cp == 0xFE0E || cp == 0xFE0F || cp == 0x20E3 ||
           (cp >= 0xE0020 && cp <= 0xE007F);          /* tag sequences (subdivision flags) */
}

int clean_is_punct(int32_t cp)
{
    if (cp >= 0 && cp < 0x80)
        return (ascii_class[cp] & C_PUNCT) != 0;
    return prop_is_punct(utf8proc_get_property(cp));
}

int clean_is_emoji(int32_t cp)
{
    return prop_is_emoji(cp, utf8proc_get_property(cp));
}

/* ---- stopwords: a string table over the compiled-in list ------------------ */

#define SW_MAXLEN 16
static strtab sw;
static pthread_once_t sw_once = PTHREAD_ONCE_INIT;

static void sw_init(void)
{
    for (size_t i = 0; i < stopwords_en_count; i++)
        strtab_add(&sw, stopwords_en[i], strlen(stopwords_en[i]));
}

int stopword_is(const char *w, size_t n)
{
    char low[SW_MAXLEN];
    if (n == 0 || n > SW_MAXLEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c >= 0x80)
            return 0;          /* the list is ASCII */
        low[i] = (char)((ascii_class[c] & C_UPPER) ? c + 32 : c);
    }
    pthread_once(&sw_once, sw_init);
    return strtab_find(&sw, low, n) >= 0;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

int utf8_valid(const char *s, size_t n, size_t *bad)
{
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(u + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            *bad = i;
            return 0;
        }
        i += (size_t)k;
    }
    return 1;
}

void utf8_replace_invalid(const char *s, size_t n, text_buf *out)
{
    text_buf_reserve(out, 3 * n + 1);
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
    char *d = out->p;
    size_t i = 0, w = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            d[w++] = (char)u[i++];
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(u + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            memcpy(d + w, "\xef\xbf\xbd", 3);
            w += 3;
            i++;
            continue;
        }
        memcpy(d + w, s + i, (size_t)k);
        w += (size_t)k;
        i += (size_t)k;
    }
    d[w] = '\0';
    out->len = w;
}

/* ---- cleaning ---------------------------------------------------------------- */

void clean_text(const clean_opts *o, const char *s, size_t n, text_buf *out)
{
    /* Lowercasing can turn a 2-byte sequence into a 3-byte one; separators never
     * outnumber the whitespace they replace.  So 2n bytes always suffice. */
    text_buf_reserve(out, 2 * n + 8);
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
    char *d = out->p;
    size_t i = 0, w = 0;
    while (i < n) {
        /* skip whitespace to the next word */
        if (u[i] < 0x80) {
            if (ascii_class[u[i]] & C_WS) {
                i++;
                continue;
            }
        } else {
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(u + i, (utf8proc_ssize_t)(n - i), &cp);
            if (k <= 0) {          /* invalid byte (caller should have validated): drop */
                i++;
                continue;
            }
            if (prop_is_space(cp, utf8proc_get_property(cp))) {
                i += (size_t)k;
                continue;
            }
        }
        size_t word_out = w, raw_start = i;
        if (w > 0)
            d[w++] = ' ';
        size_t body = w;
        int lost_punct = 0;
        while (i < n) {
            unsigned char c = u[i];
            if (c < 0x80) {
                unsigned cls = ascii_class[c];
                if (cls & C_WS)
                    break;
                i++;
                if ((cls & C_PUNCT) && o->punct) {
                    lost_punct = 1;
                    continue;
                }
                d[w++] = (char)(o->lowercase && (cls & C_UPPER) ? c + 32 : c);
                continue;
            }
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(u + i, (utf8proc_ssize_t)(n - i), &cp);
            if (k <= 0) {
                i++;
                continue;
            }
            const utf8proc_property_t *pr = utf8proc_get_property(cp);
            if (prop_is_space(cp, pr))
                break;
            i += (size_t)k;
            if (o->emoji && prop_is_emoji(cp, pr))
                continue;
            if (o->punct && prop_is_punct(pr)) {
                lost_punct = 1;
                continue;
            }
            if (o->lowercase) {
                utf8proc_int32_t lc = utf8proc_tolower(cp);
                if (lc != cp) {
                    w += (size_t)utf8proc_encode_char(lc, (utf8proc_uint8_t *)d + w);
                    continue;
                }
            }
            memcpy(d + w, s + i - k, (size_t)k);
            w += (size_t)k;
        }
        size_t blen = w - body;
        if (blen == 0 ||
            (o->stopwords && (stopword_is(d + body, blen) ||
                              (lost_punct && stopword_is(s + raw_start, i - raw_start)))))
            w = word_out;          /* take the word (and its separator) back */
    }
    d[w] = '\0';
    out->len = w;
}
