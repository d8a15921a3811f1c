/* safetensors files (Hugging Face's weight format): an 8-byte little-endian header length
 * N, N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end)}, optional
 * "__metadata__": {string: string}}, then the data buffer, tensors row-major little-endian.
 *
 * The reader maps the file and validates the whole header before any tensor is touched:
 * header length within the file and <= 100 MB, JSON object without duplicate keys, known
 * dtype, non-negative shape whose element count x dtype size equals the byte span, offsets
 * inside the buffer, and spans that tile the buffer without overlap or hole (as the reference
 * implementation requires).  Every failure is one message naming the file and the tensor;
 * nothing here prints or exits.
 *
 * The writer writes F32 tensors (and I8 ones: the int8 checkpoints of emo ckpt quantize) with
 * __metadata__ {"format":"pt"} (what transformers writes), tensors in name order, the header
 * padded with spaces to a multiple of 8 bytes. */
#ifndef EMO_SAFETENSORS_H
#define EMO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ST_MAX_HEADER (100u << 20)
#define ST_MAX_DIMS 8

typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64, ST_NDTYPES
} st_dtype;

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end;       /* byte span in the data buffer */
} st_tensor;

typedef struct st_file {
    char *path;
    void *map;                 /* whole file, read-only */
    size_t map_len;
    const uint8_t *data;       /* data buffer (after the header) */
    uint64_t data_len;
    st_tensor *t;              /* tensors in header order */
    size_t n;
    char *format;              /* __metadata__.format or NULL */
} st_file;

/* "F32", "BF16", ... and the element size in bytes. */
const char *st_dtype_name(st_dtype d);
size_t st_dtype_size(st_dtype d);

/* Open and validate; 0, or -1 with "<path>: <reason>" in err (f is then empty). */
int st_open(st_file *f, const char *path, char *err, size_t errn);
/* Validate a file image already in memory (used by st_open and the tests); buf must stay
 * valid while f is used.  name is used in messages. */
int st_parse(st_file *f, const void *buf, size_t len, const char *name, char *err, size_t errn);
void st_close(st_file *f);

/* NULL if absent. */
const st_tensor *st_find(const st_file *f, const char *name);

/* Copy tensor t converted to float32 (from F32, F16, BF16 or F64) into out[t->numel]. */
int st_to_f32(const st_file *f, const st_tensor *t, float *out, char *err, size_t errn);
/* Copy an integer tensor (I64, I32, I16, I8, U8, U16, U32, BOOL) into out[t->numel]. */
int st_to_i64(const st_file *f, const st_tensor *t, int64_t *out, char *err, size_t errn);
/* Look a tensor up by name, require the given shape (ndim dims) and convert it to float32.
 * A missing tensor or another shape is an error naming the tensor and both shapes. */
int st_get_f32(const st_file *f, const char *name, int ndim, const int64_t *shape, float *out,
               char *err, size_t errn);
/* "[3, 32]" */
void st_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);

/* IEEE half and bfloat16 to float32 (exact, including subnormals, infinities and NaN). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);

/* ---- writing ------------------------------------------------------------ */
typedef struct st_out {
    const char *name;
    const float *data;         /* numel = product of shape (1 for ndim 0) */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const int8_t *i8;          /* not NULL: an I8 tensor of these bytes (data unused) */
} st_out;

/* Write n F32 (or I8) tensors to fp (names must be unique; they are sorted in the file).
 * Returns 0, or -1 with a message (a duplicate name, a write error). */
int st_write_fp(FILE *fp, const st_out *t, size_t n, char *err, size_t errn);
/* Same, atomically to path (temp file + rename; nothing is left on failure). */
int st_write(const char *path, const st_out *t, size_t n, char *err, size_t errn);

#endif
