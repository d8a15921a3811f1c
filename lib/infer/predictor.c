/* Raw text -> class probabilities with a checkpoint's own cleaning and tokenizer
 * (predictor.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/predictor.h"
#include "model/ckpt.h"
#include "model/model.h"
#include "text/clean.h"
#include "tok/bert_tok.h"
#include "util/util.h"

struct predictor {
    model *m;
    const model_config *c;
    tok_vocab *vocab;
    tok_encoder *enc;
    textcfg text;
    int max_len;
    text_buf cleaned;
    int32_t *scratch;     /* max_len + 1 ids: one more than kept tells truncation */
};

predictor *predictor_open(const char *dir, const char *vocab, char *notice, size_t noticen, char *err,
                          size_t errn)
{
    if (notice && noticen)
        notice[0] = 0;
    predictor *p = xcalloc(1, sizeof *p);
    char e[1024], n[1024] = "";
    p->m = ckpt_load_model(dir, 0, n, sizeof n, e, sizeof e);
    if (!p->m) {
        errbuf_fail(err, errn, "%s", e);
        goto fail;
    }
    if (*n) {
        errbuf_fail(err, errn, "%s: %s (not a trained classifier?)", dir, n);
        goto fail;
    }
    p->c = model_get_config(p->m);
    char *vp = vocab ? xstrdup(vocab) : ckpt_vocab_path(dir);
    if (!vp) {
        errbuf_fail(err, errn, "%s: no vocab.txt in the checkpoint (give --vocab FILE)", dir);
        goto fail;
    }
    p->vocab = tok_vocab_load(vp, e, sizeof e);
    free(vp);
    if (!p->vocab) {
        errbuf_fail(err, errn, "%s", e);
        goto fail;
    }
    if (tok_vocab_size(p->vocab) > (size_t)p->c->V) {
        errbuf_fail(err, errn, "%s: the vocabulary has %zu tokens, the model %d", dir, tok_vocab_size(p->vocab),
                    p->c->V);
        goto fail;
    }
    textcfg rec;
    if (textcfg_load(dir, &rec, e, sizeof e) < 0) {
        errbuf_fail(err, errn, "%s", e);
        goto fail;
    }
    textcfg_default(&p->text);
    const char *missing = !rec.has_clean && !rec.max_len ? "cleaning and max_len"
                          : !rec.has_clean ? "cleaning" : !rec.max_len ? "max_len" : NULL;
    if (rec.has_clean)
        p->text.clean = rec.clean;
    if (rec.max_len)
        p->text.max_len = rec.max_len;
    p->text.has_clean = 1;
    if (missing && notice && noticen) {
        char steps[128];
        textcfg_clean_str(&p->text.clean, steps, sizeof steps);
        snprintf(notice, noticen, "%s: no %s recorded (%s): using the defaults, cleaning %s, max_len %d", dir,
                 missing, TEXTCFG_FILE, steps, p->text.max_len);
    }
    p->max_len = p->text.max_len < p->c->P ? p->text.max_len : p->c->P;
    p->enc = tok_encoder_new(p->vocab);
    p->scratch = xmalloc(sizeof(int32_t) * (size_t)(p->max_len + 1));
    return p;
fail:
    predictor_free(p);
    return NULL;
}

void predictor_free(predictor *p)
{
    if (!p)
        return;
    model_free(p->m);
    tok_encoder_free(p->enc);
    tok_vocab_free(p->vocab);
    text_buf_free(&p->cleaned);
    free(p->scratch);
    free(p);
}

const model_config *predictor_config(const predictor *p) { return p->c; }
const textcfg *predictor_text(const predictor *p) { return &p->text; }
int predictor_max_len(const predictor *p) { return p->max_len; }

size_t predictor_encode_clean(predictor *p, const char *text, size_t len, int32_t *ids, int *truncated)
{
    /* one id more than kept: [CLS] + max_len - 1 pieces + [SEP] means pieces were cut */
    size_t n = tok_encode(p->enc, text, len, p->scratch, (size_t)p->max_len + 1);
    *truncated = n > (size_t)p->max_len;
    if (*truncated) {
        n = (size_t)p->max_len;
        p->scratch[n - 1] = tok_vocab_specials(p->vocab)->sep;
    }
    memcpy(ids, p->scratch, n * sizeof *ids);
    return n;
}

size_t predictor_encode(predictor *p, const char *text, size_t len, int32_t *ids, int *truncated)
{
    clean_text(&p->text.clean, text, len, &p->cleaned);
    return predictor_encode_clean(p, p->cleaned.p, p->cleaned.len, ids, truncated);
}

int predictor_run(predictor *p, const int32_t *ids, const int32_t *lens, int B, int T, float *logits,
                  float *probs, char *err, size_t errn)
{
    if (model_forward(p->m, ids, lens, B, T, MODEL_INFER, NULL))
        return errbuf_fail(err, errn, "%s", model_error(p->m));
    int K = p->c->K;
    memcpy(logits, model_logits(p->m), sizeof(float) * (size_t)B * (size_t)K);
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * K;
        float mx = z[0];
        for (int k = 0; k < K; k++) {
            if (!isfinite(z[k]))
                return errbuf_fail(err, errn, "row %d: non-finite logit", b);
            mx = z[k] > mx ? z[k] : mx;
        }
        if (!probs)
            continue;
        double s = 0;
        for (int k = 0; k < K; k++)
            s += exp((double)z[k] - mx);
        for (int k = 0; k < K; k++)
            probs[(size_t)b * K + k] = (float)(exp((double)z[k] - mx) / s);
    }
    return 0;
}
