// SentencePiece tokenizer with ALBERT's preprocessing: see spm.h.  A thin extern "C" shim
// over libsentencepiece; Unicode handling through utf8proc as in bert_tok.c.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>
#include <utf8proc.h>

#include "tok/spm.h"

namespace {

const char *const kSpecialNames[] = {"[CLS]", "[SEP]", "<pad>", "<unk>", "[MASK]"};
const int kNumSpecials = 5;

}  // namespace

struct spm_tok {
    sentencepiece::SentencePieceProcessor sp;
    int cls, sep;
    int special_id[kNumSpecials];  // -1 if the model lacks that piece
};

namespace {

// Python str.isspace, which str.split() uses.
bool py_isspace(int32_t c)
{
    return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

void put_utf8(std::string &s, int32_t c)
{
    utf8proc_uint8_t b[4];
    utf8proc_ssize_t n = utf8proc_encode_char(c, b);
    s.append(reinterpret_cast<const char *>(b), static_cast<size_t>(n));
}

// Python's str.lower on one character (U+0130 is the only multi-character mapping).
void lower_into(std::vector<int32_t> &out, int32_t c)
{
    if (c == 0x130) {
        out.push_back('i');
        out.push_back(0x307);
    } else {
        out.push_back(utf8proc_tolower(c));
    }
}

// Unicode Cased, approximated by the cased letter categories (Other_Lowercase and
// Other_Uppercase, e.g. U+00AA or U+2160, are left out).
bool is_cased(int32_t c)
{
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

// Unicode Case_Ignorable: Mn Me Cf Lm Sk, and Word_Break MidLetter/MidNumLet/Single_Quote.
bool is_case_ignorable(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
        return true;
    default:
        break;
    }
    static const int32_t mid[] = {0x27, 0x2e, 0x3a, 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019,
                                  0x2024, 0x2027, 0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a};
    for (int32_t m : mid)
        if (c == m)
            return true;
    return false;
}

// Python's str.lower() Final_Sigma context for U+03A3 at s[i]: a cased letter before it
// and none after it (case-ignorable characters skipped both ways).
bool final_sigma(const std::vector<int32_t> &s, size_t i)
{
    size_t j = i;
    while (j > 0 && is_case_ignorable(s[j - 1]))
        j--;
    if (j == 0 || !is_cased(s[j - 1]))
        return false;
    j = i + 1;
    while (j < s.size() && is_case_ignorable(s[j]))
        j++;
    return j == s.size() || !is_cased(s[j]);
}

std::vector<int32_t> decode(const char *text, size_t len)
{
    std::vector<int32_t> cps;
    cps.reserve(len);
    const utf8proc_uint8_t *s = reinterpret_cast<const utf8proc_uint8_t *>(text);
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(s + i, static_cast<utf8proc_ssize_t>(len - i), &c);
        if (n <= 0) {
            c = 0xfffd;
            n = 1;
        }
        cps.push_back(c);
        i += static_cast<size_t>(n);
    }
    return cps;
}

// tokenization_albert.py preprocess_text, after PreTrainedTokenizer.tokenize's
// character-by-character lowercasing.
std::string preprocess(const char *text, size_t len)
{
    std::vector<int32_t> in = decode(text, len), low;
    low.reserve(in.size());
    for (int32_t c : in)
        lower_into(low, c);
    // " ".join(s.strip().split())
    std::vector<int32_t> sp;
    sp.reserve(low.size());
    bool pending_space = false;
    for (int32_t c : low) {
        if (py_isspace(c)) {
            pending_space = !sp.empty();
            continue;
        }
        if (pending_space)
            sp.push_back(' ');
        pending_space = false;
        sp.push_back(c);
    }
    // .replace("``", '"').replace("''", '"')
    std::vector<int32_t> q;
    q.reserve(sp.size());
    for (size_t i = 0; i < sp.size(); i++) {
        if (sp[i] == '`' && i + 1 < sp.size() && sp[i + 1] == '`') {
            q.push_back('"');
            i++;
        } else {
            q.push_back(sp[i]);
        }
    }
    std::vector<int32_t> r;
    r.reserve(q.size());
    for (size_t i = 0; i < q.size(); i++) {
        if (q[i] == '\'' && i + 1 < q.size() && q[i + 1] == '\'') {
            r.push_back('"');
            i++;
        } else {
            r.push_back(q[i]);
        }
    }
    // NFKD, drop unicodedata.combining(c) != 0, then .lower() of the whole string
    std::vector<int32_t> k;
    k.reserve(r.size());
    utf8proc_int32_t d[64];
    for (int32_t c : r) {
        utf8proc_ssize_t nd = utf8proc_decompose_char(
            c, d, 64, static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT), nullptr);
        if (nd <= 0 || nd > 64) {
            d[0] = c;
            nd = 1;
        }
        for (utf8proc_ssize_t j = 0; j < nd; j++)
            if (utf8proc_get_property(d[j])->combining_class == 0)
                k.push_back(d[j]);
    }
    std::string out;
    out.reserve(k.size());
    std::vector<int32_t> l;
    for (size_t i = 0; i < k.size(); i++) {
        l.clear();
        if (k[i] == 0x3a3 && final_sigma(k, i))
            l.push_back(0x3c2);
        else
            lower_into(l, k[i]);
        for (int32_t x : l)
            put_utf8(out, x);
    }
    return out;
}

// First and last code points of a UTF-8 piece, and the one before the last.
int32_t cp_at(const std::string &s, size_t i)
{
    utf8proc_int32_t c = -1;
    utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t *>(s.data()) + i,
                     static_cast<utf8proc_ssize_t>(s.size() - i), &c);
    return c;
}

size_t prev_boundary(const std::string &s, size_t i)
{
    do
        i--;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xc0) == 0x80);
    return i;
}

const std::string kUnderline = "\xe2\x96\x81";  // U+2581, SentencePiece's word boundary

// ALBERT _tokenize: pieces ending in digit + ',' are split so the comma stands alone.
void encode_segment(spm_tok *t, const char *text, size_t len, std::vector<int> &ids)
{
    std::string pre = preprocess(text, len);
    std::vector<std::string> pieces;
    t->sp.Encode(pre, &pieces);
    for (const std::string &piece : pieces) {
        size_t n = piece.size();
        bool digit_comma = false;
        if (n >= 2 && piece[n - 1] == ',') {
            size_t b = prev_boundary(piece, n - 1);
            utf8proc_category_t cat = utf8proc_category(cp_at(piece, b));
            digit_comma = cat == UTF8PROC_CATEGORY_ND;
        }
        if (!digit_comma) {
            ids.push_back(t->sp.PieceToId(piece));
            continue;
        }
        std::string body = piece.substr(0, n - 1), stripped;
        for (size_t p = 0; p < body.size();) {
            if (body.compare(p, kUnderline.size(), kUnderline) == 0)
                p += kUnderline.size();
            else
                stripped += body[p++];
        }
        std::vector<std::string> cur;
        t->sp.Encode(stripped, &cur);
        if (piece.compare(0, kUnderline.size(), kUnderline) != 0 && !cur.empty() &&
            cur[0].compare(0, kUnderline.size(), kUnderline) == 0) {
            if (cur[0].size() == kUnderline.size())
                cur.erase(cur.begin());
            else
                cur[0] = cur[0].substr(kUnderline.size());
        }
        for (const std::string &c : cur)
            ids.push_back(t->sp.PieceToId(c));
        ids.push_back(t->sp.PieceToId(","));
    }
}

}  // namespace

extern "C" {

spm_tok *spm_tok_load(const char *model_path, char *err, size_t errlen)
{
    spm_tok *t = new spm_tok;
    auto st = t->sp.Load(model_path);
    if (!st.ok()) {
        std::snprintf(err, errlen, "%s: cannot load SentencePiece model: %s", model_path,
                      st.ToString().c_str());
        delete t;
        return nullptr;
    }
    for (int k = 0; k < kNumSpecials; k++) {
        int id = t->sp.PieceToId(kSpecialNames[k]);
        bool is_unk_name = !std::strcmp(kSpecialNames[k], "<unk>");
        t->special_id[k] = (t->sp.IsUnknown(id) && !is_unk_name) ? -1 : id;
    }
    t->cls = t->special_id[0];
    t->sep = t->special_id[1];
    if (t->cls < 0 || t->sep < 0) {
        std::snprintf(err, errlen, "%s: model has no %s piece (not an ALBERT spiece.model?)",
                      model_path, t->cls < 0 ? "[CLS]" : "[SEP]");
        delete t;
        return nullptr;
    }
    return t;
}

void spm_tok_free(spm_tok *t) { delete t; }

char *spm_tok_preprocess(const char *text, size_t len, size_t *outlen)
{
    std::string s = preprocess(text, len);
    char *p = static_cast<char *>(std::malloc(s.size() + 1));
    if (!p) {
        std::fprintf(stderr, "out of memory\n");
        std::exit(1);
    }
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
    *outlen = s.size();
    return p;
}

size_t spm_tok_encode(spm_tok *t, const char *text, size_t len, int32_t *ids, size_t max_len)
{
    if (max_len < 2)
        max_len = 2;
    std::vector<int> all;
    size_t seg = 0, i = 0;
    while (i < len) {
        int hit = -1;
        size_t hitlen = 0;
        if (text[i] == '[' || text[i] == '<') {
            for (int k = 0; k < kNumSpecials; k++) {
                size_t n = std::strlen(kSpecialNames[k]);
                if (t->special_id[k] >= 0 && len - i >= n && !std::memcmp(text + i, kSpecialNames[k], n)) {
                    hit = k;
                    hitlen = n;
                    break;
                }
            }
        }
        if (hit < 0) {
            i++;
            continue;
        }
        encode_segment(t, text + seg, i - seg, all);
        all.push_back(t->special_id[hit]);
        i += hitlen;
        seg = i;
    }
    encode_segment(t, text + seg, len - seg, all);
    size_t n = 0;
    ids[n++] = t->cls;
    for (size_t k = 0; k < all.size() && n < max_len - 1; k++)
        ids[n++] = all[k];
    ids[n++] = t->sep;
    return n;
}

}  // extern "C"
