/* The teacher-cache reader (emo-cache(5)): manifests, index files and shards (seek tables,
 * zstd frames, records), through the public shard.h API as emo-student-distill and
 * `emo cache --verify` use it.
 *
 * Input: a flags byte, then files, each introduced by a line
 *     "\n@@emo-fuzz@@ NAME\n"
 * and running to the next such line or the end.  NAME must be a plain file name (no '/',
 * not "." or "..", at most 64 bytes) or the file is skipped; at most 8 files.  Flags:
 *     bit 0      before opening, set every manifest's index and shard "size" and "xxh64"
 *                to those of the files given, so mutations of an index or a shard get past
 *                the whole-file checks the reader makes first;
 *     bits 1-2   frames the reader keeps decompressed, minus one (the LRU).
 * The files are written to a scratch directory (made once, under $TMPDIR or /tmp) and
 * removed after each input.  tests/fuzz/make-cache-seeds.sh makes the seeds from real
 * caches of emo teacher-logits. */
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <xxhash.h>

#include "fuzz.h"
#include "io/shard.h"

#define SEP "\n@@emo-fuzz@@ "
#define MAX_FILES 8
#define MAX_NAME 64
#define MAX_ATTN_FLOATS (1u << 20)   /* attention buffers this fuzzer allocates at most */

static char dir[4096];

static void rm_dir(void)
{
    if (dir[0])
        rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/emo-fuzz-cache-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir))
        abort();
    atexit(rm_dir);
    return 0;
}

typedef struct file {
    char name[MAX_NAME + 1];
    const uint8_t *data;
    size_t size;
} file;

static const uint8_t *find_sep(const uint8_t *p, const uint8_t *end)
{
    size_t k = strlen(SEP);
    for (; (size_t)(end - p) >= k; p++)
        if (!memcmp(p, SEP, k))
            return p;
    return NULL;
}

/* Split the input into files; returns how many. */
static int split(const uint8_t *p, const uint8_t *end, file *f)
{
    int n = 0;
    const uint8_t *s = find_sep(p, end);
    while (s && n < MAX_FILES) {
        const uint8_t *name = s + strlen(SEP);
        const uint8_t *nl = memchr(name, '\n', (size_t)(end - name));
        if (!nl)
            break;
        const uint8_t *next = find_sep(nl + 1, end);
        const uint8_t *stop = next ? next : end;
        size_t k = (size_t)(nl - name);
        bool ok = k >= 1 && k <= MAX_NAME && memchr(name, '/', k) == NULL && memchr(name, '\0', k) == NULL &&
                  !(k == 1 && name[0] == '.') && !(k == 2 && name[0] == '.' && name[1] == '.');
        for (int i = 0; ok && i < n; i++)
            ok = strlen(f[i].name) != k || memcmp(f[i].name, name, k);
        if (ok) {
            memcpy(f[n].name, name, k);
            f[n].name[k] = '\0';
            f[n].data = nl + 1;
            f[n].size = (size_t)(stop - (nl + 1));
            n++;
        }
        s = next;
    }
    return n;
}

static const file *by_name(const file *f, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(f[i].name, name))
            return &f[i];
    return NULL;
}

/* Point the entry's size and xxh64 at the file it names, if given. */
static void fix_entry(json_t *e, const file *f, int n)
{
    json_t *name = json_object_get(e, "file");
    const file *g = json_is_string(name) ? by_name(f, n, json_string_value(name)) : NULL;
    if (!g)
        return;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH64(g->data, g->size, 0));
    json_object_set_new(e, "size", json_integer((json_int_t)g->size));
    json_object_set_new(e, "xxh64", json_string(hex));
}

static int write_file(const char *name, const void *data, size_t size)
{
    char path[sizeof dir + MAX_NAME + 2];
    snprintf(path, sizeof path, "%s/%.64s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    int bad = size && fwrite(data, 1, size, fp) != size;
    return fclose(fp) || bad ? -1 : 0;
}

static void exercise(shard_reader *r)
{
    const shard_meta *m = shard_reader_meta(r);
    uint64_t n = shard_reader_count(r);
    float logits[LABELS_MAX];
    uint64_t ids[4];
    int32_t lens[4];
    int nb = 0, T = 0;
    for (uint64_t i = 0; i < n && i < 64; i++) {
        uint64_t id = shard_reader_id(r, i);
        int l = shard_reader_len(r, id), got = 0;
        shard_reader_where(r, id);
        size_t need = (size_t)m->NL * (size_t)m->NH * (size_t)l * (size_t)l;
        float *attn = need && need <= MAX_ATTN_FLOATS ? malloc(need * sizeof *attn) : NULL;
        if (shard_reader_get(r, id, logits, attn, attn ? need : 0, &got) == 0 && nb < 4) {
            ids[nb] = id;
            lens[nb++] = got;
            T = got > T ? got : T;
        }
        free(attn);
    }
    shard_reader_get(r, UINT64_MAX - 1, logits, NULL, 0, NULL);
    shard_reader_check_ids(r, ids, lens, (size_t)nb);
    /* a batch of the records that read, padded to the longest */
    size_t per = (size_t)nb * (size_t)m->NH * (size_t)T * (size_t)T;
    if (nb && (size_t)m->NL * per <= MAX_ATTN_FLOATS) {
        float *bl = malloc((size_t)nb * LABELS_MAX * sizeof *bl);
        float *attn[SHARD_MAX_LAYERS];
        for (int i = 0; i < m->NL; i++)
            attn[i] = malloc((per ? per : 1) * sizeof(float));
        shard_reader_get_batch(r, ids, lens, nb, T, bl, m->NL ? attn : NULL);
        for (int i = 0; i < m->NL; i++)
            free(attn[i]);
        free(bl);
    }
    shard_reader_verify(r);
    shard_reader_error(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    file f[MAX_FILES];
    int n = split(data + 1, data + size, f);
    char *fixed[MAX_FILES] = { 0 };
    for (int i = 0; i < n; i++) {
        const void *p = f[i].data;
        size_t k = f[i].size;
        size_t nl = strlen(f[i].name), ml = strlen(".manifest.json");
        if ((flags & 1) && nl > ml && !strcmp(f[i].name + nl - ml, ".manifest.json")) {
            json_t *o = json_loadb((const char *)p, k, JSON_REJECT_DUPLICATES, NULL);
            json_t *sh = json_object_get(o, "shards");
            if (o) {
                fix_entry(json_object_get(o, "index"), f, n);
                for (size_t j = 0; j < json_array_size(sh); j++)
                    fix_entry(json_array_get(sh, j), f, n);
                fixed[i] = json_dumps(o, JSON_COMPACT);
                json_decref(o);
            }
            if (fixed[i]) {
                p = fixed[i];
                k = strlen(fixed[i]);
            }
        }
        write_file(f[i].name, p, k);
    }

    char err[1024];
    shard_reader *r = shard_reader_open(dir, 1 + (int)(flags >> 1 & 3), err, sizeof err);
    if (r) {
        exercise(r);
        shard_reader_close(r);
    }

    for (int i = 0; i < n; i++) {
        char path[sizeof dir + MAX_NAME + 2];
        snprintf(path, sizeof path, "%s/%.64s", dir, f[i].name);
        unlink(path);
        free(fixed[i]);
    }
    return 0;
}
