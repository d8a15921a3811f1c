/* Text cleaning: each step alone and together, Unicode punctuation/emoji/case, the
 * stopword list (compiled copy == data/stopwords-en.txt, 179 words) and UTF-8 checks. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "text/clean.h"
#include "util/util.h"

static text_buf out;

static void expect(int punct, int emoji, int lower, int stop, const char *in, const char *want)
{
    clean_opts o = { .punct = punct, .emoji = emoji, .lowercase = lower, .stopwords = stop };
    clean_text(&o, in, strlen(in), &out);
    CHECK(out.len == strlen(want) && !strcmp(out.p, want), "[%s] -> [%s], want [%s] (steps %d%d%d%d)", in,
          out.p, want, punct, emoji, lower, stop);
}

static void stopword_file(void)
{
    const char *root = getenv("EMO_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/stopwords-en.txt", root ? root : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f)
        return;
    char line[64];
    size_t n = 0, mismatch = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (n >= stopwords_en_count || strcmp(line, stopwords_en[n]))
            mismatch++;
        n++;
    }
    fclose(f);
    CHECK(n == 179 && stopwords_en_count == 179 && mismatch == 0,
          "stopwords: file %zu words, compiled %zu, %zu differ (run tests/gen/stopwords.sh)", n,
          stopwords_en_count, mismatch);
    size_t members = 0;
    for (size_t i = 0; i < stopwords_en_count; i++)
        members += stopword_is(stopwords_en[i], strlen(stopwords_en[i]));
    CHECK(members == 179, "every listed word is found: %zu", members);
}

int main(void)
{
    /* all steps on (the paper's cleaning) */
    expect(1, 1, 1, 1, "Hello, World! I'm  SO happy \xf0\x9f\x98\x80\xf0\x9f\x8e\x89", "hello world im happy");
    expect(1, 1, 1, 1, "Don't stop me!", "stop");               /* stopword as written, or after punct */
    expect(1, 1, 1, 1, "The THE the. a", "");
    expect(1, 1, 1, 1, "  \t\n ", "");
    /* emoji: pictographs, skin tone, flags, ZWJ family, keycap, VS16 */
    expect(1, 1, 1, 1, "ok\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd go \xf0\x9f\x87\xab\xf0\x9f\x87\xb7 "
                       "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 x "
                       "\xe2\x9d\xa4\xef\xb8\x8f 1\xef\xb8\x8f\xe2\x83\xa3", "ok go x 1");
    /* Unicode punctuation (guillemets, em dash, ellipsis, curly quote) and ASCII symbols */
    expect(1, 1, 1, 1, "\xc2\xab" "Bonjour" "\xc2\xbb \xe2\x80\x94 \xc3\xa7" "a va\xe2\x80\xa6 l\xe2\x80\x99" "ami",
           "bonjour \xc3\xa7" "a va lami");
    expect(1, 1, 1, 1, "$5 + 3 = 8 ~ok_now \xe2\x82\xac" "5", "5 3 8 oknow \xe2\x82\xac" "5");
    /* full-Unicode lowercase */
    expect(1, 1, 1, 1, "\xc3\x89" "COLE \xce\xa3\xce\x9f\xce\xa6\xce\x8a\xce\x91 \xd0\x9f\xd0\xa0\xd0\x98",
           "\xc3\xa9" "cole \xcf\x83\xce\xbf\xcf\x86\xce\xaf\xce\xb1 \xd0\xbf\xd1\x80\xd0\xb8");
    /* each step off on its own */
    expect(0, 1, 1, 1, "Hello, World!", "hello, world!");
    expect(1, 0, 1, 1, "so happy \xf0\x9f\x98\x80!", "happy \xf0\x9f\x98\x80");
    expect(1, 1, 0, 1, "Hello The World", "Hello World");      /* stopwords still case-insensitive */
    expect(1, 1, 1, 0, "I am SO happy", "i am so happy");
    expect(0, 0, 0, 0, "  I,  am\t\n\xe2\x80\x83SO \xf0\x9f\x98\x80 ", "I, am SO \xf0\x9f\x98\x80");
    /* a word that is only punctuation or emoji leaves no double space */
    expect(1, 1, 1, 0, "a - b \xf0\x9f\x98\x80 c", "a b c");

    CHECK(clean_is_emoji(0x1F600) && clean_is_emoji(0x2764) && clean_is_emoji(0xA9) && !clean_is_emoji('A') &&
              !clean_is_emoji(0x4E2D) && !clean_is_emoji(0xE9),
          "emoji classes");
    CHECK(clean_is_punct('!') && clean_is_punct('$') && clean_is_punct(0x2014) && clean_is_punct(0xBF) &&
              !clean_is_punct('a') && !clean_is_punct(0x20AC),
          "punct classes");
    CHECK(stopword_is("Shouldn't", 9) && stopword_is("I", 1) && !stopword_is("feel", 4) && !stopword_is("", 0) &&
              !stopword_is("yourselvesxxxxxxxxx", 19),
          "stopword lookup");

    size_t bad = 99;
    CHECK(utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, &bad), "valid UTF-8");
    CHECK(!utf8_valid("ab\xc0\x80", 4, &bad) && bad == 2, "overlong: %zu", bad);
    CHECK(!utf8_valid("\xed\xa0\x80", 3, &bad) && bad == 0, "surrogate");
    CHECK(!utf8_valid("x\xf4\x90\x80\x80", 5, &bad) && bad == 1, "past U+10FFFF");
    CHECK(!utf8_valid("x\xe2\x82", 3, &bad) && bad == 1, "truncated sequence");
    CHECK(!utf8_valid("\xff", 1, &bad) && bad == 0, "0xff");
    text_buf fix = { 0 };
    utf8_replace_invalid("a\xff" "b\xc3\xa9\xe2\x82", 7, &fix);
    CHECK(!strcmp(fix.p, "a\xef\xbf\xbd" "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd"), "replace: %s", fix.p);

    /* a 1 MB word: linear, and the buffer bound holds for 2-to-3-byte lowercasing (U+023A) */
    size_t n = 1u << 20;
    char *big = xmalloc(n + 1);
    for (size_t i = 0; i < n; i += 2)
        memcpy(big + i, "\xc8\xba", 2);
    big[n] = '\0';
    clean_opts all = { 1, 1, 1, 1 };
    clean_text(&all, big, n, &out);
    CHECK(out.len == n / 2 * 3 && !memcmp(out.p, "\xe2\xb1\xa5", 3), "U+023A lowercases to U+2C65: %zu", out.len);
    free(big);

    stopword_file();
    text_buf_free(&fix);
    text_buf_free(&out);
    return check_done("test_clean");
}
