/* Replays a fuzz target over files, without libFuzzer: `replay-NAME FILE...` calls
 * LLVMFuzzerTestOneInput on each file's bytes (make check runs it over
 * tests/fuzz/corpus/NAME/, the seeds and every reproducer of a crash once found). */
#include <string.h>

#include "fuzz.h"
#include "util/util.h"

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 2;
        }
        size_t cap = 1 << 16, n = 0, k;
        uint8_t *buf = xmalloc(cap);
        while ((k = fread(buf + n, 1, cap - n, f)) > 0)
            if ((n += k) == cap)
                buf = xrealloc(buf, cap *= 2);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    return 0;
}
