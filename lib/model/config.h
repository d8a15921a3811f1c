/* model_config from and to Hugging Face config.json, and named presets.
 *
 * Reading follows transformers' config classes: each model_type has its own field names
 * (bert: hidden_size, num_hidden_layers, ...; distilbert: dim, n_layers, n_heads,
 * hidden_dim, activation, ...; albert: embedding_size plus BERT's names) and a field that
 * is absent takes the class default (AlbertConfig's defaults are xxlarge, so written
 * configs always carry every field).  Configurations the engine cannot run are refused
 * with a message naming the field: DistilBERT sinusoidal_pos_embds, ALBERT with more than
 * one hidden group or inner layer, relative position embeddings, unknown activations.
 * id2label gives K and the label names; without it K = num_labels (default 2, LABEL_i).
 *
 * Writing gives the config.json that transformers' from_pretrained loads unchanged:
 * model_type, architectures ["<Family>ForSequenceClassification"] (["<Family>ForMaskedLM"]
 * with mlm), every field explicit, id2label/label2id (none when K == 0), torch_dtype
 * "float32", keys sorted, indent 2 (as save_pretrained).
 * Reading never sets mlm (whether a model gets the masked-LM head is the caller's choice,
 * ckpt_model_open's CKPT_WANT_MLM); it records architectures[0] in arch_class.
 *
 * Presets (model_config_preset): bert-base, distilbert-base, albert-base-v2 (real sizes),
 * bert-mini (L4 H256 A4 I1024), bert-tiny (L2 H128 A2 I512), distilbert-mini (L2),
 * distilbert-tiny (L1) at bert-mini/tiny widths, albert-mini, albert-tiny (E128, one shared
 * layer; H/L/NH/I as bert-mini/tiny).  All use V 30522 (the BERT uncased vocabulary, for
 * every family) and P 512, K 2 (LABEL_0, LABEL_1) until the caller sets the labels. */
#ifndef EMO_MODEL_CONFIG_H
#define EMO_MODEL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "model/model.h"

#define MODEL_TRANSFORMERS_VERSION "4.30.2"

/* "bert", "distilbert", "albert" (HF model_type) and the HF class written to architectures. */
const char *model_arch_name(model_arch a);
const char *model_arch_class(model_arch a);
/* The HF class of the model c describes: model_arch_class, or <Family>ForMaskedLM if mlm. */
const char *model_config_class(const model_config *c);
/* 1 if an architectures class carries a masked-LM head (*ForMaskedLM, *ForPreTraining). */
int model_config_class_has_mlm(const char *arch_class);
/* "gelu", "gelu_new", "relu" */
const char *model_act_name(model_act a);

/* Parse config.json text; name is used in messages ("<name>: field: reason"). */
int model_config_parse(model_config *c, const char *json, size_t len, const char *name,
                       char *err, size_t errn);
int model_config_load(const char *path, model_config *c, char *err, size_t errn);
/* Consistency: positive sizes, H divisible by NH, 1 <= K <= LABELS_MAX (0 allowed
 * with mlm), label names non-empty and distinct. */
int model_config_check(const model_config *c, char *err, size_t errn);

/* Write config.json text to fp (returns 0, or -1 on a write error). */
int model_config_write_fp(FILE *fp, const model_config *c);
/* Write atomically to path. */
int model_config_save(const char *path, const model_config *c, char *err, size_t errn);

/* Fill c from a preset name; -1 if there is no such preset. */
int model_config_preset(const char *name, model_config *c);
/* NULL-terminated list of preset names. */
const char *const *model_config_preset_names(void);
/* spec is a preset name, a config.json path, or a checkpoint directory (its config.json). */
int model_config_resolve(const char *spec, model_config *out, char *err, size_t errn);

/* Set K labels; names NULL (or a NULL entry) gives "LABEL_<i>".  -1 if K or a name does
 * not fit (K > LABELS_MAX, name >= LABEL_BYTES bytes). */
int model_config_set_labels(model_config *c, int K, const char *const *names);

/* Parameter counts.  MODEL_COUNT_BASE counts HF's base model (BertModel incl. pooler,
 * DistilBertModel, AlbertModel incl. pooler; no pooler when K == 0); MODEL_COUNT_ALL adds
 * the classification head (classifier; DistilBERT also pre_classifier) and the masked-LM
 * head (without the tied decoder weight) = model_param_sizes() total. */
enum { MODEL_COUNT_BASE, MODEL_COUNT_ALL };
size_t model_config_count_params(const model_config *c, int which);

#endif
