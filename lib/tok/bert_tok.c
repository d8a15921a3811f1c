/* BERT uncased tokenizer: see bert_tok.h for the pipeline this reproduces.
 *
 * One pass over the text, character by character.  ASCII bytes go through a 128-entry
 * class table; other characters through utf8proc (category, lowercase, canonical
 * decomposition, combining class).  The current word is kept in a fixed buffer: a word
 * longer than 100 code points becomes [UNK] whatever it holds, so once it overflows only
 * its length is counted.  Memory is therefore constant and time linear in the input. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tok/bert_tok.h"
#include "util/util.h"

#define MAX_WORD_CPS 100          /* BertTokenizer max_input_chars_per_word */
#define WORD_BYTES (4 * (MAX_WORD_CPS + 1))
#define RUN_CAP (MAX_WORD_CPS + 1)

/* ---- vocabulary ------------------------------------------------------------ */

/* A slot carries the first 16 bytes of its key (zero-padded) and the key's length, so a
 * lookup of a key up to 16 bytes (nearly every WordPiece candidate) touches one 32-byte
 * slot and no other memory. */
typedef struct slot {
    uint64_t k0, k1;              /* key bytes 0-15, zero-padded */
    uint32_t hash;
    int32_t id;                   /* -1: empty */
    uint32_t len;                 /* key length (for "cont": without the "##") */
    uint32_t off;                 /* arena offset of the key */
} slot;

typedef struct table {
    slot *s;
    size_t mask;
} table;

struct tok_vocab {
    char *arena;                  /* all tokens, each NUL-terminated */
    uint32_t *off;                /* [n] arena offset of token id */
    uint32_t *len;                /* [n] byte length of token id */
    size_t n;
    /* Open addressing, linear probing, load <= 1/2.  "full" holds every token by its whole
     * text; "cont" holds the "##x" tokens keyed by x, so WordPiece continuations are
     * looked up without building "##" + piece. */
    table full, cont;
    size_t max_full, max_cont;    /* longest key in bytes, bounds the WordPiece search */
    tok_specials sp;
};

static void load16(const char *key, size_t n, uint64_t *k0, uint64_t *k1)
{
    uint64_t w[2] = { 0, 0 };
    memcpy(w, key, n < 16 ? n : 16);
    *k0 = w[0];
    *k1 = w[1];
}

/* Multiply-xorshift over 8-byte words; the first 16 bytes come pre-loaded. */
static uint32_t hash_key(uint64_t k0, uint64_t k1, const char *key, size_t n)
{
    uint64_t h = (uint64_t)n * 0x9e3779b97f4a7c15ull;
    h = (h ^ k0) * 0xff51afd7ed558ccdull;
    h = (h ^ (h >> 32) ^ k1) * 0xc4ceb9fe1a85ec53ull;
    for (size_t i = 16; i < n; i += 8) {
        uint64_t w = 0;
        memcpy(&w, key + i, n - i < 8 ? n - i : 8);
        h = (h ^ (h >> 29) ^ w) * 0xff51afd7ed558ccdull;
    }
    h ^= h >> 32;
    return (uint32_t)h;
}

static int32_t table_find(const tok_vocab *v, const table *t, const char *key, size_t n)
{
    uint64_t k0, k1;
    load16(key, n, &k0, &k1);
    uint32_t h = hash_key(k0, k1, key, n);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const slot *s = &t->s[i];
        if (s->id < 0)
            return -1;
        if (s->hash == h && s->len == n && s->k0 == k0 && s->k1 == k1 &&
            (n <= 16 || !memcmp(v->arena + s->off + 16, key + 16, n - 16)))
            return s->id;
    }
}

static void table_init(table *t, size_t nkeys)
{
    size_t size = 16;
    while (size < 2 * nkeys)
        size *= 2;
    t->mask = size - 1;
    t->s = xmalloc(size * sizeof *t->s);
    for (size_t k = 0; k < size; k++)
        t->s[k].id = -1;
}

/* Insert or overwrite (a later duplicate line wins, as in transformers' load_vocab). */
static void table_put(tok_vocab *v, table *t, size_t skip, int32_t id)
{
    const char *key = v->arena + v->off[id] + skip;
    size_t n = v->len[id] - skip;
    uint64_t k0, k1;
    load16(key, n, &k0, &k1);
    uint32_t h = hash_key(k0, k1, key, n);
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        slot *s = &t->s[i];
        if (s->id < 0 || (s->hash == h && s->len == n && s->k0 == k0 && s->k1 == k1 &&
                          !memcmp(v->arena + s->off, key, n))) {
            *s = (slot){ .k0 = k0, .k1 = k1, .hash = h, .id = id, .len = (uint32_t)n,
                         .off = (uint32_t)(v->off[id] + skip) };
            return;
        }
    }
}

static tok_vocab *load_fail(tok_vocab *v, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static tok_vocab *load_fail(tok_vocab *v, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    tok_vocab_free(v);
    return NULL;
}

tok_vocab *tok_vocab_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    tok_vocab *v = xcalloc(1, sizeof *v);
    size_t cap = 1 << 18, used = 0;
    v->arena = xmalloc(cap);
    for (;;) {
        if (used == cap) {
            if (cap >= (size_t)1 << 30) {
                fclose(f);
                return load_fail(v, err, errlen, "%s: vocabulary file larger than 1 GB", path);
            }
            cap *= 2;
            v->arena = xrealloc(v->arena, cap);
        }
        size_t k = fread(v->arena + used, 1, cap - used, f);
        used += k;
        if (k == 0)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr)
        return load_fail(v, err, errlen, "%s: read error", path);
    if (used == 0)
        return load_fail(v, err, errlen, "%s: empty vocabulary file", path);
    size_t bad = tok_utf8_invalid_at(v->arena, used);
    if (bad < used)
        return load_fail(v, err, errlen, "%s: invalid UTF-8 at byte %zu (not a vocab.txt?)", path, bad);
    if (memchr(v->arena, '\0', used))
        return load_fail(v, err, errlen, "%s: contains a NUL byte (not a vocab.txt?)", path);
    /* Python's text mode reads "\n", "\r\n" and "\r" as line ends (universal newlines);
     * rstrip("\n") then leaves the token.  A final line without a newline still counts. */
    size_t nlines = 0, i = 0;
    size_t ocap = 1024;
    v->off = xmalloc(ocap * sizeof *v->off);
    v->len = xmalloc(ocap * sizeof *v->len);
    while (i < used) {
        size_t s = i;
        while (i < used && v->arena[i] != '\n' && v->arena[i] != '\r')
            i++;
        size_t e = i;
        if (i < used && v->arena[i] == '\r' && i + 1 < used && v->arena[i + 1] == '\n')
            i++;
        if (i < used)
            i++;
        if (nlines == ocap) {
            ocap *= 2;
            v->off = xreallocarray(v->off, ocap, sizeof *v->off);
            v->len = xreallocarray(v->len, ocap, sizeof *v->len);
        }
        if (nlines >= INT32_MAX / 4)
            return load_fail(v, err, errlen, "%s: too many lines", path);
        v->arena[e] = '\0';       /* e < used or e == used: the buffer may need one byte more */
        v->off[nlines] = (uint32_t)s;
        v->len[nlines] = (uint32_t)(e - s);
        nlines++;
        if (e == used)
            break;
    }
    /* the last token may end exactly at used: make room for its terminator */
    v->arena = xrealloc(v->arena, used + 1);
    v->arena[used] = '\0';
    v->n = nlines;
    size_t ncont = 0;
    for (size_t id = 0; id < nlines; id++)
        ncont += v->len[id] >= 2 && !memcmp(v->arena + v->off[id], "##", 2);
    table_init(&v->full, nlines);
    table_init(&v->cont, ncont);
    for (size_t id = 0; id < nlines; id++) {
        table_put(v, &v->full, 0, (int32_t)id);
        if (v->len[id] > v->max_full)
            v->max_full = v->len[id];
        if (v->len[id] >= 2 && !memcmp(v->arena + v->off[id], "##", 2)) {
            table_put(v, &v->cont, 2, (int32_t)id);
            if (v->len[id] - 2 > v->max_cont)
                v->max_cont = v->len[id] - 2;
        }
    }
    v->sp.cls = tok_vocab_id(v, "[CLS]", 5);
    v->sp.sep = tok_vocab_id(v, "[SEP]", 5);
    v->sp.pad = tok_vocab_id(v, "[PAD]", 5);
    v->sp.unk = tok_vocab_id(v, "[UNK]", 5);
    v->sp.mask = tok_vocab_id(v, "[MASK]", 6);
    const char *missing = v->sp.cls < 0 ? "[CLS]" : v->sp.sep < 0 ? "[SEP]"
                        : v->sp.pad < 0 ? "[PAD]" : v->sp.unk < 0 ? "[UNK]" : NULL;
    if (missing)
        return load_fail(v, err, errlen, "%s: no %s token in the vocabulary (not a BERT vocab.txt?)",
                         path, missing);
    return v;
}

void tok_vocab_free(tok_vocab *v)
{
    if (!v)
        return;
    free(v->arena);
    free(v->off);
    free(v->len);
    free(v->full.s);
    free(v->cont.s);
    free(v);
}

size_t tok_vocab_size(const tok_vocab *v) { return v->n; }
const tok_specials *tok_vocab_specials(const tok_vocab *v) { return &v->sp; }

int32_t tok_vocab_id(const tok_vocab *v, const char *token, size_t len)
{
    return table_find(v, &v->full, token, len);
}

const char *tok_vocab_token(const tok_vocab *v, int32_t id)
{
    if (id < 0 || (size_t)id >= v->n)
        return NULL;
    return v->arena + v->off[id];
}

/* ---- UTF-8 ------------------------------------------------------------------- */

size_t tok_utf8_invalid_at(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        /* skip ASCII 8 bytes at a time */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xbf;        /* bounds of the second byte */
        if (c >= 0xc2 && c <= 0xdf)
            n = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            if (c == 0xe0)
                lo = 0xa0;                    /* overlong */
            if (c == 0xed)
                hi = 0x9f;                    /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            if (c == 0xf0)
                lo = 0x90;
            if (c == 0xf4)
                hi = 0x8f;                    /* > U+10FFFF */
        } else
            return i;
        if (i + n > len)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        i += n;
    }
    return len;
}

/* Length of the maximal subpart of an ill-formed sequence at s[0] (Unicode 3.9): a valid
 * lead byte and the continuation bytes it accepts. */
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

size_t tok_utf8_repair(const char *s, size_t len, char *out)
{
    size_t o = 0, i = 0;
    while (i < len) {
        size_t bad = i + tok_utf8_invalid_at(s + i, len - i);
        memcpy(out + o, s + i, bad - i);
        o += bad - i;
        if (bad == len)
            break;
        memcpy(out + o, "\xef\xbf\xbd", 3);
        o += 3;
        i = bad + maximal_subpart((const unsigned char *)s + bad, len - bad);
    }
    return o;
}

/* Decodes one character of valid UTF-8; an invalid byte decodes as U+FFFD (dropped). */
static int32_t decode(const unsigned char *s, size_t len, size_t *i)
{
    size_t k = *i;
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(s + k, (utf8proc_ssize_t)(len - k), &cp);
    if (n <= 0) {
        *i = k + 1;
        return 0xfffd;
    }
    *i = k + (size_t)n;
    return cp;
}

/* ---- encoder ----------------------------------------------------------------- */

enum { C_WORD, C_WS, C_DROP, C_PUNCT, C_BRACKET };

static unsigned char ascii_class[128];
static char ascii_lower[128];

static void init_tables(void)
{
    if (ascii_class['a'] == C_WORD && ascii_class[' '] == C_WS)
        return;                   /* idempotent; written with the same values by any thread */
    for (int c = 0; c < 128; c++) {
        unsigned char k = C_WORD;
        if (c < 32 || c == 127)
            k = C_DROP;           /* Cc; \v \f included: control beats whitespace in _clean_text */
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            k = C_WS;
        if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
            k = C_PUNCT;
        if (c == '[')
            k = C_BRACKET;
        ascii_class[c] = k;
        ascii_lower[c] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
}

struct tok_encoder {
    const tok_vocab *v;
    /* current word: UTF-8 of its first MAX_WORD_CPS + 1 code points */
    char word[WORD_BYTES];
    size_t wlen, wcps;
    /* pending run of kept non-starters (combining class > 0, not Mn), awaiting NFD's
     * canonical reordering */
    int32_t run_cp[RUN_CAP];
    uint8_t run_ccc[RUN_CAP];
    size_t nrun;
    /* output */
    int32_t *ids;
    size_t n, cap;                /* cap: room for pieces, [SEP] excluded */
    tok_unk_fn on_unk;            /* tok_encoder_on_unk */
    void *on_unk_ctx;
};

tok_encoder *tok_encoder_new(const tok_vocab *v)
{
    init_tables();
    tok_encoder *e = xcalloc(1, sizeof *e);
    e->v = v;
    return e;
}

void tok_encoder_free(tok_encoder *e) { free(e); }

void tok_encoder_on_unk(tok_encoder *e, tok_unk_fn fn, void *ctx)
{
    e->on_unk = fn;
    e->on_unk_ctx = ctx;
}

static int is_cjk(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static void word_append(tok_encoder *e, int32_t cp)
{
    if (++e->wcps > MAX_WORD_CPS + 1) {
        e->wcps = MAX_WORD_CPS + 1;   /* overlong: only the fact matters */
        return;
    }
    e->wlen += (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)e->word + e->wlen);
}

/* Stable insertion by combining class: canonical ordering restricted to the kept marks
 * (dropping the Mn marks of a run commutes with the stable sort). */
static void run_push(tok_encoder *e, int32_t cp, uint8_t ccc)
{
    if (e->nrun == RUN_CAP) {         /* the word is already over 100 code points */
        e->wcps = MAX_WORD_CPS + 1;
        return;
    }
    size_t k = e->nrun++;
    while (k > 0 && e->run_ccc[k - 1] > ccc) {
        e->run_cp[k] = e->run_cp[k - 1];
        e->run_ccc[k] = e->run_ccc[k - 1];
        k--;
    }
    e->run_cp[k] = cp;
    e->run_ccc[k] = ccc;
}

static void run_flush(tok_encoder *e)
{
    for (size_t k = 0; k < e->nrun; k++)
        word_append(e, e->run_cp[k]);
    e->nrun = 0;
}

static int emit(tok_encoder *e, int32_t id)
{
    if (e->n < e->cap)
        e->ids[e->n++] = id;
    return e->n == e->cap;
}

/* Greedy longest-match-first WordPiece over the current word; the whole word becomes
 * [UNK] if some position matches no piece. */
static void wordpiece(tok_encoder *e)
{
    const tok_vocab *v = e->v;
    int32_t pieces[MAX_WORD_CPS];
    size_t np = 0, start = 0, len = e->wlen;
    const char *w = e->word;
    while (start < len) {
        size_t maxk = start ? v->max_cont : v->max_full;
        size_t end = len - start > maxk ? start + maxk : len;
        while (end < len && end > start && ((unsigned char)w[end] & 0xc0) == 0x80)
            end--;                    /* cut at a character boundary */
        int32_t id = -1;
        while (end > start) {
            id = table_find(v, start ? &v->cont : &v->full, w + start, end - start);
            if (id >= 0)
                break;
            end--;
            while (end > start && ((unsigned char)w[end] & 0xc0) == 0x80)
                end--;
        }
        if (id < 0) {
            if (e->on_unk)
                e->on_unk(e->on_unk_ctx, pieces, np);
            emit(e, v->sp.unk);
            return;
        }
        pieces[np++] = id;
        start = end;
    }
    for (size_t k = 0; k < np; k++)
        if (emit(e, pieces[k]))
            return;
}

static void end_word(tok_encoder *e)
{
    if (e->nrun)
        run_flush(e);
    if (e->wcps == 0)
        return;
    if (e->wcps > MAX_WORD_CPS)
        emit(e, e->v->sp.unk);
    else
        wordpiece(e);
    e->wlen = e->wcps = 0;
}

/* One code point after lowercasing, before NFD. */
static void normalized_char(tok_encoder *e, int32_t cp)
{
    utf8proc_int32_t d[32];
    utf8proc_ssize_t nd = utf8proc_decompose_char(cp, d, 32, UTF8PROC_DECOMPOSE, NULL);
    if (nd <= 0 || nd > 32) {
        d[0] = cp;
        nd = 1;
    }
    for (utf8proc_ssize_t k = 0; k < nd; k++) {
        const utf8proc_property_t *p = utf8proc_get_property(d[k]);
        if (p->combining_class != 0) {
            if (p->category != UTF8PROC_CATEGORY_MN)
                run_push(e, d[k], (uint8_t)p->combining_class);
            continue;
        }
        if (e->nrun)
            run_flush(e);
        if (p->category == UTF8PROC_CATEGORY_MN)
            continue;
        int punct = d[k] < 128 ? ascii_class[d[k]] >= C_PUNCT
                               : (p->category >= UTF8PROC_CATEGORY_PC && p->category <= UTF8PROC_CATEGORY_PO);
        if (punct) {
            end_word(e);
            word_append(e, d[k]);
            end_word(e);
        } else {
            word_append(e, d[k]);
        }
    }
}

static void slow_char(tok_encoder *e, int32_t cp)
{
    if (cp == 0xfffd)
        return;
    utf8proc_category_t cat = utf8proc_category(cp);
    if (cat == UTF8PROC_CATEGORY_ZS || cp == 0x2028 || cp == 0x2029) {
        /* Zs is whitespace in _clean_text; U+2028/9 (Zl, Zp) survive it but str.split()
         * splits on them */
        end_word(e);
        return;
    }
    if (cat >= UTF8PROC_CATEGORY_CC && cat <= UTF8PROC_CATEGORY_CO)
        return;                       /* Cc Cf Cs Co */
    if (cat == UTF8PROC_CATEGORY_CN)
        return;
    if (is_cjk(cp)) {
        end_word(e);
        normalized_char(e, cp);
        end_word(e);
        return;
    }
    if (cp == 0x130) {                /* str.lower: U+0130 -> "i" U+0307 (SpecialCasing) */
        normalized_char(e, 'i');
        normalized_char(e, 0x307);
        return;
    }
    normalized_char(e, utf8proc_tolower(cp));
}

/* Is there a literal special token at text[i] (text[i] == '[')?  Returns its length. */
static size_t special_at(const tok_encoder *e, const char *t, size_t len, size_t i, int32_t *id)
{
    static const char *const names[] = { "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]" };
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        size_t n = strlen(names[k]);
        if (len - i >= n && !memcmp(t + i, names[k], n)) {
            int32_t x = tok_vocab_id(e->v, names[k], n);
            if (x >= 0) {
                *id = x;
                return n;
            }
        }
    }
    return 0;
}

size_t tok_encode(tok_encoder *e, const char *text, size_t len, int32_t *ids, size_t max_len)
{
    const tok_vocab *v = e->v;
    const unsigned char *s = (const unsigned char *)text;
    if (max_len < 2)
        max_len = 2;
    e->ids = ids;
    e->cap = max_len - 1;
    e->n = 0;
    e->wlen = e->wcps = e->nrun = 0;
    emit(e, v->sp.cls);
    size_t i = 0;
    while (i < len && e->n < e->cap) {
        unsigned c = s[i];
        if (c >= 0x80) {
            slow_char(e, decode(s, len, &i));
            continue;
        }
        switch (ascii_class[c]) {
        case C_WORD:
            if (e->nrun)
                run_flush(e);
            if (e->wcps < MAX_WORD_CPS + 1)
                e->word[e->wlen++] = ascii_lower[c];
            if (e->wcps < MAX_WORD_CPS + 1)
                e->wcps++;
            break;
        case C_WS:
            end_word(e);
            break;
        case C_DROP:
            break;
        case C_BRACKET: {
            int32_t id;
            size_t n = special_at(e, text, len, i, &id);
            if (n) {
                end_word(e);
                emit(e, id);
                i += n;
                continue;
            }
            end_word(e);              /* an ordinary '[' */
            word_append(e, (int32_t)c);
            end_word(e);
            break;
        }
        case C_PUNCT:
            end_word(e);
            word_append(e, (int32_t)c);
            end_word(e);
            break;
        }
        i++;
    }
    end_word(e);
    ids[e->n++] = v->sp.sep;
    return e->n;
}
