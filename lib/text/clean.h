/* Text cleaning as in the paper: remove punctuation, remove emoji, lowercase, remove NLTK
 * English stopwords; plus UTF-8 validation.  Unicode properties come from utf8proc;
 * ASCII bytes take a table-driven fast path.
 *
 * What each step removes:
 *   punctuation  code points of category P* (Pc Pd Ps Pe Pi Pf Po) and the ASCII symbols
 *                $ + < = > ^ ` | ~ (so all of Python's string.punctuation); removed,
 *                not replaced ("don't" -> "dont", as in the shared corpus).
 *   emoji        Extended_Pictographic code points (utf8proc boundclass; this includes
 *                (c) (r) TM and other old pictographs), regional indicators U+1F1E6-1F1FF,
 *                skin-tone modifiers U+1F3FB-1F3FF, and the emoji joiners and selectors
 *                U+200D (ZWJ), U+FE0E/U+FE0F, U+20E3 (keycap), U+E0020-E007F (tags).
 *   lowercase    utf8proc_tolower on every code point (simple case mapping, all scripts).
 *   stopwords    a whitespace-separated word is dropped when, compared case-insensitively,
 *                it is a stopword as written or after punctuation removal ("Don't", "me!").
 * Words are always re-joined with single spaces: runs of whitespace (ASCII space and
 * controls, Unicode Zs/Zl/Zp, other Cc) collapse, leading/trailing whitespace goes. */
#ifndef EMO_CLEAN_H
#define EMO_CLEAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct clean_opts {
    int punct, emoji, lowercase, stopwords;   /* 1 = the step is on */
} clean_opts;

/* Growable byte buffer, reused across records. */
typedef struct text_buf {
    char *p;
    size_t len, cap;
} text_buf;

void text_buf_reserve(text_buf *b, size_t n);
void text_buf_free(text_buf *b);

/* Cleans s[0,n) (valid UTF-8) into out (replacing its contents; NUL-terminated). */
void clean_text(const clean_opts *o, const char *s, size_t n, text_buf *out);

/* 1 if s[0,n) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF);
 * else 0 with *bad set to the offset of the first bad byte. */
int utf8_valid(const char *s, size_t n, size_t *bad);
/* Copies s to out with every byte that does not start a valid sequence replaced by
 * U+FFFD. */
void utf8_replace_invalid(const char *s, size_t n, text_buf *out);

int clean_is_punct(int32_t cp);
int clean_is_emoji(int32_t cp);
/* Case-insensitive membership in the NLTK list. */
int stopword_is(const char *w, size_t n);

extern const char *const stopwords_en[];
extern const size_t stopwords_en_count;

#endif
