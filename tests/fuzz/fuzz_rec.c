/* The record reader (emo-records(5)) and its field getters over any bytes. */
#include "fuzz.h"
#include "io/rec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    rec_reader *r = rec_reader_open(path);
    if (r) {
        rec_t rec;
        float f[64];
        int32_t ids[64];
        size_t n;
        uint64_t u;
        const char *s;
        while (rec_read(r, &rec) == 1) {
            rec_get_u64(&rec, "id", &u);
            rec_get_str(&rec, "text", &s, &n);
            rec_get_str(&rec, "label", &s, &n);
            rec_get_f32v(&rec, "embedding", f, 64, &n);
            rec_get_f32v(&rec, "logits", f, 64, &n);
            rec_get_ids(&rec, "input_ids", ids, 64, &n);
            rec_get(&rec, "split");
        }
        rec_reader_error(r);
        rec_reader_close(r);
    }
    close(fd);
    return 0;
}
