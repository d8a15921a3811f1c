/* The WordPiece tokenizer over any text (checked and repaired as emo tokenize does), with
 * the test vocabulary (tests/fixtures/models/bert/vocab.txt; run from the repository root
 * or set EMO_FUZZ_VOCAB). */
#include <string.h>

#include "fuzz.h"
#include "tok/bert_tok.h"

static tok_vocab *vocab;
static tok_encoder *enc;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("EMO_FUZZ_VOCAB");
    char err[512];
    vocab = tok_vocab_load(path ? path : "tests/fixtures/models/bert/vocab.txt", err, sizeof err);
    if (!vocab) {
        fprintf(stderr, "fuzz_tok: %s\n", err);
        exit(2);
    }
    enc = tok_encoder_new(vocab);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char *fixed = NULL;
    if (tok_utf8_invalid_at(text, size) != size) {
        fixed = malloc(3 * size + 1);
        size = tok_utf8_repair(text, size, fixed);
        text = fixed;
    }
    int32_t ids[64];
    tok_encode(enc, text, size, ids, 64);
    tok_encode(enc, text, size, ids, 2);
    free(fixed);
    return 0;
}
