/* The corpus reader of emo clean: RFC 4180 CSV/TSV, semicolon and line files, format
 * sniffing; the first byte picks the format, the rest is the file. */
#include "fuzz.h"
#include "text/corpus.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int formats[] = { CORPUS_AUTO, CORPUS_KAGGLE, CORPUS_SEMICOLON, CORPUS_CSV, CORPUS_TSV,
                                   CORPUS_LINES };
    if (size == 0)
        return 0;
    corpus_opts o = { .format = formats[data[0] % 6], .text_col = "text", .label_col = "label",
                      .id_col = data[0] & 8 ? "id" : NULL };
    char path[64], err[600];
    int fd = fuzz_file(data + 1, size - 1, path, sizeof path);
    corpus_reader *c = corpus_open(path, &o, err, sizeof err);
    if (c) {
        corpus_row row;
        while (corpus_next(c, &row) == 1)
            ;
        corpus_close(c);
    }
    close(fd);
    return 0;
}
