/* Checkpoints: a directory in Hugging Face layout (see emo-checkpoint(5))
 *     config.json  model.safetensors  vocab.txt  tokenizer_config.json
 * that transformers' from_pretrained loads unchanged, and real Hub checkpoints
 * (bert-base-uncased, distilbert-base-uncased, albert-base-v2: F32, F16 or BF16, with or
 * without a classification head) load into model_params.
 *
 * Every HF tensor is one contiguous slice of a model_params field (ckpt_entries): e.g.
 * bert.encoder.layer.3.attention.self.key.weight is rows [H, 2H) of qkv_w's layer-3
 * (3H, H) block.  Loading accepts the old LayerNorm.gamma/beta names and names without the
 * base-model prefix (a checkpoint saved from BertModel), ignores the pretraining heads
 * (cls.*, vocab_transform/vocab_layer_norm/vocab_projector, predictions.*, sop_classifier.*)
 * and position_ids/token_type_ids buffers, and initialises a missing classification head
 * (classifier, DistilBERT pre_classifier, BERT/ALBERT pooler) as transformers does:
 * weights N(0, 0.02) from a seeded rng, biases 0, reporting it in the notice.
 *
 * Masked-LM models (config mlm, model.h) carry the head of *ForMaskedLM under HF's names
 * (the tied decoder weight is word_emb and is neither written nor read):
 *   BERT        cls.predictions.transform.dense.{weight,bias},
 *               cls.predictions.transform.LayerNorm.{weight,bias}, cls.predictions.bias
 *               (read also as cls.predictions.decoder.bias)
 *   DistilBERT  vocab_transform.{weight,bias}, vocab_layer_norm.{weight,bias}, vocab_projector.bias
 *   ALBERT      predictions.dense.{weight,bias}, predictions.LayerNorm.{weight,bias},
 *               predictions.bias (read also as predictions.decoder.bias)
 * and, with K == 0, no pooler/classifier (a pooler in the file, as BertForPreTraining's,
 * is ignored silently).  config.json says <Family>ForMaskedLM.  A masked-LM head missing
 * from the file is initialised like a missing classification head (dense N(0, 0.02),
 * LayerNorm 1/0, decoder bias 0). */
#ifndef EMO_CKPT_H
#define EMO_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"
#include "model/model.h"

#define CKPT_NAME_MAX 128

typedef enum { CKPT_BODY, CKPT_POOLER, CKPT_HEAD, CKPT_MLM } ckpt_group;

typedef struct ckpt_entry {
    char name[CKPT_NAME_MAX];  /* HF tensor name */
    int field;                 /* model_params field, in struct order (0 word_emb .. 27 mlm_bias) */
    size_t offset;             /* floats from the start of the field */
    size_t numel;
    int ndim;                  /* 1 or 2 */
    int64_t shape[2];
    ckpt_group group;          /* POOLER/HEAD/MLM may be initialised when missing */
    int is_norm;               /* LayerNorm weight/bias: old names use gamma/beta */
} ckpt_entry;

/* Number of HF tensors for config c. */
size_t ckpt_num_entries(const model_config *c);
/* Fill e[ckpt_num_entries(c)] in HF state_dict order; returns the count. */
size_t ckpt_entries(const model_config *c, ckpt_entry *e);
/* Pointer to field number `field` of p (0..MODEL_NUM_PARAM_TENSORS-1). */
float *ckpt_field(const model_params *p, int field);

enum {
    CKPT_INIT_MISSING_HEAD = 1,   /* initialise a missing pooler/pre_classifier/classifier
                                   * (and masked-LM head) */
    CKPT_NEW_HEAD = 2,            /* initialise the classifier even if present (other labels) */
    CKPT_WANT_MLM = 4,            /* ckpt_model_open: the model gets the masked-LM head */
    CKPT_INT8 = 8,                /* an int8 checkpoint is read (dequantised into the float
                                   * parameters); without it, one is refused (training) */
};

/* Read every entry of c from f as "<prefix><HF name>" into p (prefix "" for weights,
 * "grad." for the reference gradients of tests/fixtures/models/<family>/expected.safetensors).
 * Missing body tensors, shape mismatches, non-float dtypes and non-finite values are errors
 * naming the tensor.  notice (may be NULL) receives "" or one line about initialised or
 * ignored tensors, for the caller to print. */
int ckpt_read_st(const st_file *f, const char *prefix, const model_config *c, model_params *p,
                 unsigned flags, uint64_t seed, char *notice, size_t noticen, char *err, size_t errn);

/* dir/model.safetensors into p (allocated by the caller for c). */
int ckpt_load_params(const char *dir, const model_config *c, model_params *p, unsigned flags,
                     uint64_t seed, char *notice, size_t noticen, char *err, size_t errn);
/* dir/config.json into *c, then a fresh block (xaligned_alloc, free() it) of
 * model_param_sizes() floats pointed to by *p, loaded with CKPT_INIT_MISSING_HEAD. */
int ckpt_load(const char *dir, model_config *c, float **block, model_params *p, uint64_t seed,
              char *notice, size_t noticen, char *err, size_t errn);
/* The same straight into a new model's own weights (no second copy): NULL with a message
 * in err on failure; model_get_config() gives the config.  The inference loader: an int8
 * checkpoint's codes go to the model too (model_int8_set), which then runs them in int8. */
model *ckpt_load_model(const char *dir, uint64_t seed, char *notice, size_t noticen, char *err,
                       size_t errn);

/* Write the entries of p as F32 "<prefix><name>" tensors plus `extra` (logits, ...) to path,
 * atomically. */
int ckpt_save_tensors(const char *path, const model_config *c, const model_params *p,
                      const char *prefix, const st_out *extra, size_t nextra, char *err, size_t errn);
/* Write config.json, model.safetensors and, if vocab_path is not NULL, vocab.txt (a copy)
 * and tokenizer_config.json (BertTokenizer, lower case) into the existing directory dir,
 * each file atomically (a vocabulary longer than vocab_size is refused before anything is
 * written).  For callers that add files of their own inside an atomic_dir, or that keep a
 * best model in place (train_task.save_model); load it back with ckpt_load_params. */
int ckpt_write_dir(const char *dir, const model_config *c, const model_params *p,
                   const char *vocab_path, char *err, size_t errn);
/* ckpt_write_dir into a temporary directory renamed over dir as a whole. */
int ckpt_save(const char *dir, const model_config *c, const model_params *p,
              const char *vocab_path, char *err, size_t errn);

/* ---- for the tools: the engine's model from a spec --------------------------------
 * spec is a preset name, a config.json or a checkpoint directory (model_config_resolve).
 * K > 0 sets the labels (names NULL or a NULL entry: LABEL_<i>); K 0 keeps the spec's.
 * Without CKPT_WANT_MLM the model is a classifier (mlm 0), whatever the spec: a
 * *ForMaskedLM / BertForPreTraining checkpoint gives its encoder, its MLM/NSP heads are
 * ignored and a missing pooler/classifier is initialised.
 * With CKPT_WANT_MLM the model gets the masked-LM head (mlm 1; loaded from a checkpoint
 * directory that has it, else initialised) and K is taken literally: 0 gives a
 * *ForMaskedLM model without pooler and classifier (a spec's classifier is then ignored),
 * K > 0 also keeps a classification head with those labels.
 * A checkpoint directory's weights are loaded (flags as ckpt_read_st; CKPT_INIT_MISSING_HEAD
 * is always added, CKPT_NEW_HEAD replaces a classifier made for other labels); a preset or
 * a config.json gets transformers' initialisation (model_init_weights) from seed.
 * NULL on error, with the message in err; notice as ckpt_read_st. */
model *ckpt_model_open(const char *spec, int K, const char *const *labels, unsigned flags, uint64_t seed,
                       char *notice, size_t noticen, char *err, size_t errn);
/* ckpt_save / ckpt_write_dir of a model's config and weights. */
int ckpt_model_save(const model *m, const char *dir, const char *vocab_path, char *err, size_t errn);
int ckpt_model_write_dir(const model *m, const char *dir, const char *vocab_path, char *err, size_t errn);
/* ckpt_model_save plus DIR/emo_run.json holding the text run_json (emo ckpt init's record
 * that the weights are random), written in the same atomic directory. */
int ckpt_model_save_run(const model *m, const char *dir, const char *vocab_path, const char *run_json,
                        char *err, size_t errn);

/* ---- int8 checkpoints (lib/model/ckpt_int8.c, emo-checkpoint(5)) ----------------------
 * ckpt_quantize: src (a float classifier checkpoint) to dst with every linear layer's weight
 * as "<name>" I8 (codes in the scheme's range) plus "<name>_scale" F32 (one per output row),
 * and the embedding tables as "<name>" I8 (codes in [-127, 127]) plus "<name>_scale" F32 (one
 * per row), except the MODEL_Q8_KEEP_* parts in keep; LayerNorms and biases F32;
 * config.json with "quantization"; vocab.txt, tokenizer files, emo_text.json and
 * emo_run.json copied.  ckpt_dequantize: an int8 checkpoint back to float32 (scale * code).
 * Atomic (nothing left on failure), never over src.  0, or -1 with the message in err. */
int ckpt_quantize(const char *src, const char *dst, unsigned keep, int scheme, char *err, size_t errn);
int ckpt_dequantize(const char *src, const char *dst, char *err, size_t errn);

/* 0 if vocab_path has exactly V lines (token id = line - 1), else -1 with
 * "<file>: N tokens, but the model's vocab_size is V" or a read error in err. */
int ckpt_vocab_check(const char *vocab_path, int V, char *err, size_t errn);

/* dir/vocab.txt if it exists (free() it), else NULL. */
char *ckpt_vocab_path(const char *dir);

#endif
