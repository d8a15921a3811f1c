/* The safetensors parser: header JSON, dtypes, shapes and offsets over any bytes. */
#include <string.h>

#include "fuzz.h"
#include "io/safetensors.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so a read past the end is caught */
    void *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    st_file f;
    char err[512];
    if (st_parse(&f, buf, size, "fuzz", err, sizeof err) == 0)
        st_close(&f);
    free(buf);
    return 0;
}
