#!/usr/bin/python3
"""Whole-model PyTorch references for the emokd transformer engine and checkpoint code.

A pure-torch (torch 1.13, no transformers) re-implementation of Hugging Face's
BertForSequenceClassification, DistilBertForSequenceClassification and
AlbertForSequenceClassification.  Module attribute names equal HF's, so state_dict() keys are
exactly the tensor names HF writes to model.safetensors (checked by --check-keys against the
known lists below).  Code paths follow HF (transformers 4.3x, eager attention):
  * BERT/ALBERT: additive extended mask (1 - mask) * torch.finfo(float32).min, scores/sqrt(d);
    DistilBERT: q / sqrt(d), scores.masked_fill(mask == 0, finfo.min).
  * BERT "gelu" is the erf GELU, ALBERT "gelu_new" the tanh approximation; DistilBERT's head
    is pre_classifier -> ReLU -> dropout -> classifier on hidden[:, 0].
  * ALBERT: factorised embeddings (E) -> embedding_hidden_mapping_in (H, E); one shared layer
    group applied num_hidden_layers times; pooler = tanh(Linear) on [CLS].

Usage:
  /usr/bin/python3 tests/gen/torch_ref.py                 # regenerate tests/fixtures/models/*
  /usr/bin/python3 tests/gen/torch_ref.py --counts        # parameter counts of the real sizes
  /usr/bin/python3 tests/gen/torch_ref.py --compare FAMILY STATE.safetensors
        # max abs diff of a state (logits, loss, attn.N, hidden.N, pooled, grad.<name>) written
        # by the C engine against this reference, one line per tensor + a JSON summary line.
  /usr/bin/python3 tests/gen/torch_ref.py --verify-dir DIR...
        # what transformers' from_pretrained checks of a checkpoint written by emokd: every
        # config field present, safetensors format "pt", strict load_state_dict, a forward pass.

Fixtures per family (tests/fixtures/models/<family>/):
  config.json, model.safetensors (F32), vocab.txt     -- a checkpoint directory in HF layout
  batch.json      input_ids (B, T) padded with 0, attention_mask, lengths, labels, probes
                  (first values of a few tensors by HF name, to check the name mapping)
  expected.safetensors (F32; input_ids/labels also as I64):
      logits (B, K), loss (scalar, mean cross-entropy), pooled (B, H) (BERT/ALBERT pooler
      output, DistilBERT ReLU(pre_classifier)), hidden.0 (embedding output, (B, T, H))
      .. hidden.L (layer outputs), attn.0 .. attn.{L-1} (B, NH, T, T) softmax probabilities,
      grad.<hf name> for every parameter under the loss.
Expected values are computed in float64 from the float32 parameters (the float32 run's
max abs diff against them is printed, as a floor for the C engine's tolerances); the model
runs in eval mode (no dropout).
Extra checkpoints: bert-f16, bert-bf16 (model.safetensors converted; converted.safetensors
holds the exact float32 values of the rounded tensors), and <family>-nohead (a Hub-like base
checkpoint: *ForMaskedLM architectures, no classification head, MLM/SOP head tensors and an
I64 position_ids buffer to be ignored; bert-nohead also uses the old LayerNorm.gamma/beta).
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "models")
TRANSFORMERS_VERSION = "4.30.2"
LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


# ----------------------------------------------------------------------------
# activations (transformers/activations.py)

def gelu_erf(x):
    return F.gelu(x)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT = {"gelu": gelu_erf, "gelu_new": gelu_new, "relu": F.relu}


# ----------------------------------------------------------------------------
# BERT (transformers/models/bert/modeling_bert.py)

class BertEmbeddings(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c["pad_token_id"])
        s.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        s.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        s.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        s.dropout = nn.Dropout(c["hidden_dropout_prob"])
        s.register_buffer("position_ids", torch.arange(c["max_position_embeddings"]).expand((1, -1)), persistent=False)

    def forward(s, ids):
        T = ids.shape[1]
        tt = torch.zeros_like(ids)
        e = s.word_embeddings(ids) + s.token_type_embeddings(tt) + s.position_embeddings(s.position_ids[:, :T])
        return s.dropout(s.LayerNorm(e))


class BertSelfAttention(nn.Module):
    def __init__(s, c):
        super().__init__()
        H = c["hidden_size"]
        s.nh = c["num_attention_heads"]
        s.hd = H // s.nh
        s.query = nn.Linear(H, H)
        s.key = nn.Linear(H, H)
        s.value = nn.Linear(H, H)
        s.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def split(s, x):
        B, T, _ = x.shape
        return x.view(B, T, s.nh, s.hd).permute(0, 2, 1, 3)

    def forward(s, x, ext_mask, probs_out):
        q, k, v = s.split(s.query(x)), s.split(s.key(x)), s.split(s.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(s.hd)
        scores = scores + ext_mask
        probs = F.softmax(scores, dim=-1)
        probs_out.append(probs)
        ctx = torch.matmul(s.dropout(probs), v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.shape)


class BertSelfOutput(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        s.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        s.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(s, h, inp):
        return s.LayerNorm(s.dropout(s.dense(h)) + inp)


class BertAttention(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.self = BertSelfAttention(c)
        s.output = BertSelfOutput(c)

    def forward(s, x, m, probs):
        return s.output(s.self(x, m, probs), x)


class BertIntermediate(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])
        s.act = ACT[c["hidden_act"]]

    def forward(s, x):
        return s.act(s.dense(x))


class BertOutput(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = nn.Linear(c["intermediate_size"], c["hidden_size"])
        s.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        s.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(s, h, inp):
        return s.LayerNorm(s.dropout(s.dense(h)) + inp)


class BertLayer(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.attention = BertAttention(c)
        s.intermediate = BertIntermediate(c)
        s.output = BertOutput(c)

    def forward(s, x, m, probs):
        a = s.attention(x, m, probs)
        return s.output(s.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])


class BertPooler(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(s, h):
        return torch.tanh(s.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(s, c, add_pooler=True):
        super().__init__()
        s.embeddings = BertEmbeddings(c)
        s.encoder = BertEncoder(c)
        s.pooler = BertPooler(c) if add_pooler else None

    def forward(s, ids, mask, tr):
        dt = s.embeddings.word_embeddings.weight.dtype
        ext = (1.0 - mask[:, None, None, :].to(dt)) * torch.finfo(torch.float32).min
        h = s.embeddings(ids)
        tr["hidden"].append(h)
        for layer in s.encoder.layer:
            h = layer(h, ext, tr["attn"])
            tr["hidden"].append(h)
        return h, s.pooler(h) if s.pooler is not None else None


class BertForSequenceClassification(nn.Module):
    def __init__(s, c):
        super().__init__()
        K = len(c["id2label"])
        s.bert = BertModel(c)
        p = c["classifier_dropout"] if c.get("classifier_dropout") is not None else c["hidden_dropout_prob"]
        s.dropout = nn.Dropout(p)
        s.classifier = nn.Linear(c["hidden_size"], K)

    def forward(s, ids, mask, tr):
        _, pooled = s.bert(ids, mask, tr)
        tr["pooled"] = pooled
        return s.classifier(s.dropout(pooled))


# ----------------------------------------------------------------------------
# DistilBERT (transformers/models/distilbert/modeling_distilbert.py)

class DistilEmbeddings(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.word_embeddings = nn.Embedding(c["vocab_size"], c["dim"], padding_idx=c["pad_token_id"])
        s.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["dim"])
        s.LayerNorm = nn.LayerNorm(c["dim"], eps=1e-12)
        s.dropout = nn.Dropout(c["dropout"])
        s.register_buffer("position_ids", torch.arange(c["max_position_embeddings"]).expand((1, -1)), persistent=False)

    def forward(s, ids):
        T = ids.shape[1]
        e = s.word_embeddings(ids) + s.position_embeddings(s.position_ids[:, :T])
        return s.dropout(s.LayerNorm(e))


class MultiHeadSelfAttention(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.n_heads, s.dim = c["n_heads"], c["dim"]
        s.dropout = nn.Dropout(p=c["attention_dropout"])
        s.q_lin = nn.Linear(s.dim, s.dim)
        s.k_lin = nn.Linear(s.dim, s.dim)
        s.v_lin = nn.Linear(s.dim, s.dim)
        s.out_lin = nn.Linear(s.dim, s.dim)

    def forward(s, x, mask, probs_out):
        bs, T, dim = x.shape
        dph = s.dim // s.n_heads

        def shape(t):
            return t.view(bs, -1, s.n_heads, dph).transpose(1, 2)

        q = shape(s.q_lin(x)) / math.sqrt(dph)
        k = shape(s.k_lin(x))
        v = shape(s.v_lin(x))
        scores = torch.matmul(q, k.transpose(2, 3))
        m = (mask == 0).view(bs, 1, 1, T).expand_as(scores)
        scores = scores.masked_fill(m, torch.tensor(torch.finfo(scores.dtype).min))
        w = F.softmax(scores, dim=-1)
        probs_out.append(w)
        ctx = torch.matmul(s.dropout(w), v).transpose(1, 2).contiguous().view(bs, -1, s.n_heads * dph)
        return s.out_lin(ctx)


class FFN(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dropout = nn.Dropout(p=c["dropout"])
        s.lin1 = nn.Linear(c["dim"], c["hidden_dim"])
        s.lin2 = nn.Linear(c["hidden_dim"], c["dim"])
        s.activation = ACT[c["activation"]]

    def forward(s, x):
        return s.dropout(s.lin2(s.activation(s.lin1(x))))


class TransformerBlock(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.attention = MultiHeadSelfAttention(c)
        s.sa_layer_norm = nn.LayerNorm(c["dim"], eps=1e-12)
        s.ffn = FFN(c)
        s.output_layer_norm = nn.LayerNorm(c["dim"], eps=1e-12)

    def forward(s, x, mask, probs):
        sa = s.sa_layer_norm(s.attention(x, mask, probs) + x)
        return s.output_layer_norm(s.ffn(sa) + sa)


class Transformer(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.layer = nn.ModuleList([TransformerBlock(c) for _ in range(c["n_layers"])])


class DistilBertModel(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.embeddings = DistilEmbeddings(c)
        s.transformer = Transformer(c)

    def forward(s, ids, mask, tr):
        h = s.embeddings(ids)
        tr["hidden"].append(h)
        for layer in s.transformer.layer:
            h = layer(h, mask, tr["attn"])
            tr["hidden"].append(h)
        return h


class DistilBertForSequenceClassification(nn.Module):
    def __init__(s, c):
        super().__init__()
        K = len(c["id2label"])
        s.distilbert = DistilBertModel(c)
        s.pre_classifier = nn.Linear(c["dim"], c["dim"])
        s.classifier = nn.Linear(c["dim"], K)
        s.dropout = nn.Dropout(c["seq_classif_dropout"])

    def forward(s, ids, mask, tr):
        h = s.distilbert(ids, mask, tr)
        pooled = F.relu(s.pre_classifier(h[:, 0]))
        tr["pooled"] = pooled
        return s.classifier(s.dropout(pooled))


# ----------------------------------------------------------------------------
# ALBERT (transformers/models/albert/modeling_albert.py)

class AlbertEmbeddings(nn.Module):
    def __init__(s, c):
        super().__init__()
        E = c["embedding_size"]
        s.word_embeddings = nn.Embedding(c["vocab_size"], E, padding_idx=c["pad_token_id"])
        s.position_embeddings = nn.Embedding(c["max_position_embeddings"], E)
        s.token_type_embeddings = nn.Embedding(c["type_vocab_size"], E)
        s.LayerNorm = nn.LayerNorm(E, eps=c["layer_norm_eps"])
        s.dropout = nn.Dropout(c["hidden_dropout_prob"])
        s.register_buffer("position_ids", torch.arange(c["max_position_embeddings"]).expand((1, -1)), persistent=False)

    def forward(s, ids):
        T = ids.shape[1]
        tt = torch.zeros_like(ids)
        e = s.word_embeddings(ids) + s.token_type_embeddings(tt) + s.position_embeddings(s.position_ids[:, :T])
        return s.dropout(s.LayerNorm(e))


class AlbertAttention(nn.Module):
    def __init__(s, c):
        super().__init__()
        H = c["hidden_size"]
        s.nh = c["num_attention_heads"]
        s.hd = H // s.nh
        s.query = nn.Linear(H, H)
        s.key = nn.Linear(H, H)
        s.value = nn.Linear(H, H)
        s.attention_dropout = nn.Dropout(c["attention_probs_dropout_prob"])
        s.output_dropout = nn.Dropout(c["hidden_dropout_prob"])
        s.dense = nn.Linear(H, H)
        s.LayerNorm = nn.LayerNorm(H, eps=c["layer_norm_eps"])

    def split(s, x):
        B, T, _ = x.shape
        return x.view(B, T, s.nh, s.hd).permute(0, 2, 1, 3)

    def forward(s, x, ext_mask, probs_out):
        q, k, v = s.split(s.query(x)), s.split(s.key(x)), s.split(s.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(s.hd)
        scores = scores + ext_mask
        probs = F.softmax(scores, dim=-1)
        probs_out.append(probs)
        ctx = torch.matmul(s.attention_dropout(probs), v).transpose(2, 1).flatten(2)
        return s.LayerNorm(x + s.output_dropout(s.dense(ctx)))


class AlbertLayer(nn.Module):
    def __init__(s, c):
        super().__init__()
        H = c["hidden_size"]
        s.full_layer_layer_norm = nn.LayerNorm(H, eps=c["layer_norm_eps"])
        s.attention = AlbertAttention(c)
        s.ffn = nn.Linear(H, c["intermediate_size"])
        s.ffn_output = nn.Linear(c["intermediate_size"], H)
        s.activation = ACT[c["hidden_act"]]
        s.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(s, x, m, probs):
        a = s.attention(x, m, probs)
        f = s.ffn_output(s.activation(s.ffn(a)))
        return s.full_layer_layer_norm(s.dropout(f) + a)


class AlbertLayerGroup(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.albert_layers = nn.ModuleList([AlbertLayer(c) for _ in range(c["inner_group_num"])])


class AlbertTransformer(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.L = c["num_hidden_layers"]
        s.embedding_hidden_mapping_in = nn.Linear(c["embedding_size"], c["hidden_size"])
        s.albert_layer_groups = nn.ModuleList([AlbertLayerGroup(c) for _ in range(c["num_hidden_groups"])])


class AlbertModel(nn.Module):
    def __init__(s, c, add_pooler=True):
        super().__init__()
        s.embeddings = AlbertEmbeddings(c)
        s.encoder = AlbertTransformer(c)
        s.pooler = nn.Linear(c["hidden_size"], c["hidden_size"]) if add_pooler else None
        s.pooler_activation = nn.Tanh()

    def forward(s, ids, mask, tr):
        dt = s.embeddings.word_embeddings.weight.dtype
        ext = (1.0 - mask[:, None, None, :].to(dt)) * torch.finfo(torch.float32).min
        h = s.embeddings(ids)
        tr["hidden"].append(h)      # hidden.0 is the E-wide embedding output for ALBERT
        h = s.encoder.embedding_hidden_mapping_in(h)
        layer = s.encoder.albert_layer_groups[0].albert_layers[0]
        for _ in range(s.encoder.L):
            h = layer(h, ext, tr["attn"])
            tr["hidden"].append(h)
        return h, s.pooler_activation(s.pooler(h[:, 0])) if s.pooler is not None else None


class AlbertForSequenceClassification(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.albert = AlbertModel(c)
        s.dropout = nn.Dropout(c["classifier_dropout_prob"])
        s.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))

    def forward(s, ids, mask, tr):
        _, pooled = s.albert(ids, mask, tr)
        tr["pooled"] = pooled
        return s.classifier(s.dropout(pooled))


# ----------------------------------------------------------------------------
# masked-LM heads (*ForMaskedLM).  The decoder weight is the word-embedding Parameter itself
# (HF's tie_weights) and BERT/ALBERT's decoder.bias is the head's `bias` Parameter, so
# named_parameters() lists each once (word_embeddings' gradient is the tied total) while
# state_dict() also holds the tied aliases, as HF's does.  forward(ids, mask, tr) returns
# the (B, T, V) prediction scores; eval mode has no dropout anywhere.

class BertPredictionHeadTransform(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        s.transform_act_fn = ACT[c["hidden_act"]]
        s.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(s, h):
        return s.LayerNorm(s.transform_act_fn(s.dense(h)))


class BertLMPredictionHead(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.transform = BertPredictionHeadTransform(c)
        s.decoder = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        s.bias = nn.Parameter(torch.zeros(c["vocab_size"]))
        s.decoder.bias = s.bias

    def forward(s, h):
        return s.decoder(s.transform(h))


class BertOnlyMLMHead(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.predictions = BertLMPredictionHead(c)


class BertForMaskedLM(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.bert = BertModel(c, add_pooler=False)
        s.cls = BertOnlyMLMHead(c)
        s.cls.predictions.decoder.weight = s.bert.embeddings.word_embeddings.weight

    def forward(s, ids, mask, tr):
        h, _ = s.bert(ids, mask, tr)
        return s.cls.predictions(h)


class DistilBertForMaskedLM(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.distilbert = DistilBertModel(c)
        s.vocab_transform = nn.Linear(c["dim"], c["dim"])
        s.vocab_layer_norm = nn.LayerNorm(c["dim"], eps=1e-12)
        s.vocab_projector = nn.Linear(c["dim"], c["vocab_size"])
        s.activation = ACT[c["activation"]]
        s.vocab_projector.weight = s.distilbert.embeddings.word_embeddings.weight

    def forward(s, ids, mask, tr):
        h = s.distilbert(ids, mask, tr)
        return s.vocab_projector(s.vocab_layer_norm(s.activation(s.vocab_transform(h))))


class AlbertMLMHead(nn.Module):
    def __init__(s, c):
        super().__init__()
        E, H = c["embedding_size"], c["hidden_size"]
        s.LayerNorm = nn.LayerNorm(E, eps=c["layer_norm_eps"])
        s.bias = nn.Parameter(torch.zeros(c["vocab_size"]))
        s.dense = nn.Linear(H, E)
        s.decoder = nn.Linear(E, c["vocab_size"])
        s.activation = ACT[c["hidden_act"]]
        s.decoder.bias = s.bias

    def forward(s, h):
        return s.decoder(s.LayerNorm(s.activation(s.dense(h))))


class AlbertForMaskedLM(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.albert = AlbertModel(c, add_pooler=False)
        s.predictions = AlbertMLMHead(c)
        s.predictions.decoder.weight = s.albert.embeddings.word_embeddings.weight

    def forward(s, ids, mask, tr):
        h, _ = s.albert(ids, mask, tr)
        return s.predictions(h)


MLM_CLASSES = {"bert": BertForMaskedLM, "distilbert": DistilBertForMaskedLM, "albert": AlbertForMaskedLM}
# state_dict() keys that alias another tensor (tied); save_pretrained leaves them out
MLM_TIED = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "vocab_projector.weight",
            "predictions.decoder.weight", "predictions.decoder.bias"}


def hf_mlm_names(family, L):
    """Parameter names of HF's *ForMaskedLM (named_parameters, tied ones once), written out
    independently of the modules above."""
    n = [x for x in hf_names(family, L) if "pooler" not in x and "classifier" not in x]
    if family == "bert":
        n += ["cls.predictions.bias", "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
              "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias"]
    elif family == "distilbert":
        n += ["vocab_transform.weight", "vocab_transform.bias", "vocab_layer_norm.weight", "vocab_layer_norm.bias",
              "vocab_projector.bias"]
    else:
        n += ["predictions.bias", "predictions.LayerNorm.weight", "predictions.LayerNorm.bias",
              "predictions.dense.weight", "predictions.dense.bias"]
    return n


# ----------------------------------------------------------------------------
# configs (what transformers' save_pretrained writes for each model type)

def labels_json(K):
    names = LABELS[:K]
    return {str(i): n for i, n in enumerate(names)}, {n: i for i, n in enumerate(names)}


def bert_config(V, P, H, L, NH, I, K, arch="BertForSequenceClassification"):
    c = {
        "architectures": [arch], "attention_probs_dropout_prob": 0.1, "classifier_dropout": None,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": H, "initializer_range": 0.02,
        "intermediate_size": I, "layer_norm_eps": 1e-12, "max_position_embeddings": P,
        "model_type": "bert", "num_attention_heads": NH, "num_hidden_layers": L, "pad_token_id": 0,
        "position_embedding_type": "absolute", "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION, "type_vocab_size": 2, "use_cache": True,
        "vocab_size": V,
    }
    if K:
        c["id2label"], c["label2id"] = labels_json(K)
        c["problem_type"] = "single_label_classification"
    return c


def distilbert_config(V, P, H, L, NH, I, K, arch="DistilBertForSequenceClassification"):
    c = {
        "activation": "gelu", "architectures": [arch], "attention_dropout": 0.1, "dim": H,
        "dropout": 0.1, "hidden_dim": I, "initializer_range": 0.02, "max_position_embeddings": P,
        "model_type": "distilbert", "n_heads": NH, "n_layers": L, "pad_token_id": 0,
        "qa_dropout": 0.1, "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": False,
        "tie_weights_": True, "torch_dtype": "float32", "transformers_version": TRANSFORMERS_VERSION,
        "vocab_size": V,
    }
    if K:
        c["id2label"], c["label2id"] = labels_json(K)
        c["problem_type"] = "single_label_classification"
    return c


def albert_config(V, P, E, H, L, NH, I, K, arch="AlbertForSequenceClassification"):
    c = {
        "architectures": [arch], "attention_probs_dropout_prob": 0.0, "bos_token_id": 2,
        "classifier_dropout_prob": 0.1, "down_scale_factor": 1, "embedding_size": E, "eos_token_id": 3,
        "gap_size": 0, "hidden_act": "gelu_new", "hidden_dropout_prob": 0.0, "hidden_size": H,
        "initializer_range": 0.02, "inner_group_num": 1, "intermediate_size": I,
        "layer_norm_eps": 1e-12, "max_position_embeddings": P, "model_type": "albert",
        "net_structure_type": 0, "num_attention_heads": NH, "num_hidden_groups": 1,
        "num_hidden_layers": L, "num_memory_blocks": 0, "pad_token_id": 0,
        "position_embedding_type": "absolute", "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION, "type_vocab_size": 2, "vocab_size": V,
    }
    if K:
        c["id2label"], c["label2id"] = labels_json(K)
        c["problem_type"] = "single_label_classification"
    return c


def build(family, c):
    return {"bert": BertForSequenceClassification, "distilbert": DistilBertForSequenceClassification,
            "albert": AlbertForSequenceClassification}[family](c)


# Tensor names of HF's models (transformers 4.30 state_dict of *ForSequenceClassification),
# written out independently of the modules above so --check-keys can compare them.
def hf_names(family, L):
    n = []
    if family == "bert":
        n += ["bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
              "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
              "bert.embeddings.LayerNorm.bias"]
        for l in range(L):
            p = "bert.encoder.layer.%d." % l
            for m in ["attention.self.query", "attention.self.key", "attention.self.value",
                      "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                      "output.dense", "output.LayerNorm"]:
                n += [p + m + ".weight", p + m + ".bias"]
        n += ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"]
    elif family == "distilbert":
        n += ["distilbert.embeddings.word_embeddings.weight", "distilbert.embeddings.position_embeddings.weight",
              "distilbert.embeddings.LayerNorm.weight", "distilbert.embeddings.LayerNorm.bias"]
        for l in range(L):
            p = "distilbert.transformer.layer.%d." % l
            for m in ["attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
                      "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"]:
                n += [p + m + ".weight", p + m + ".bias"]
        n += ["pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"]
    else:
        n += ["albert.embeddings.word_embeddings.weight", "albert.embeddings.position_embeddings.weight",
              "albert.embeddings.token_type_embeddings.weight", "albert.embeddings.LayerNorm.weight",
              "albert.embeddings.LayerNorm.bias", "albert.encoder.embedding_hidden_mapping_in.weight",
              "albert.encoder.embedding_hidden_mapping_in.bias"]
        p = "albert.encoder.albert_layer_groups.0.albert_layers.0."
        for m in ["full_layer_layer_norm", "attention.query", "attention.key", "attention.value",
                  "attention.dense", "attention.LayerNorm", "ffn", "ffn_output"]:
            n += [p + m + ".weight", p + m + ".bias"]
        n += ["albert.pooler.weight", "albert.pooler.bias", "classifier.weight", "classifier.bias"]
    return n


# ----------------------------------------------------------------------------
# safetensors writer (format: u64 LE header length, JSON header padded with spaces to a
# multiple of 8, then the tensors back to back; order as the reference writer: by name)

DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
      torch.float64: "F64"}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:        # numpy has no bfloat16: reinterpret as int16
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name]
        b = tensor_bytes(t)
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out, base = {}, 8 + n
    npdt = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        raw = data[base + b:base + e]
        if v["dtype"] == "BF16":
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.int16).copy()).view(torch.bfloat16).float()
        else:
            t = torch.from_numpy(np.frombuffer(raw, dtype=npdt[v["dtype"]]).copy())
        out[k] = t.reshape(v["shape"])
    return out


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)


def write_vocab(path, V):
    """A BERT-like vocabulary: [PAD] 0, [unusedN], [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103."""
    toks = []
    for i in range(V):
        special = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
        toks.append(special.get(i, "[unused%d]" % i if i < 100 else "w%d" % i))
    with open(path, "w") as f:
        f.write("\n".join(toks) + "\n")


# ----------------------------------------------------------------------------
# fixtures

FAMILIES = {
    # V 110 keeps BERT's special ids (100..103) inside the vocabulary
    "bert": lambda K: bert_config(110, 16, 32, 2, 4, 64, K),
    "distilbert": lambda K: distilbert_config(110, 16, 32, 2, 4, 64, K),
    "albert": lambda K: albert_config(110, 16, 16, 32, 2, 4, 64, K),
}
BASE_ARCH = {"bert": "BertForMaskedLM", "distilbert": "DistilBertForMaskedLM", "albert": "AlbertForMaskedLM"}
LENGTHS = [7, 5, 2]
SEED = {"bert": 1, "distilbert": 2, "albert": 3}


def randomize(model, g):
    """Weights larger than HF's N(0, 0.02) init so attention and activations are not trivial."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def make_batch(family, V, K, g):
    B, T = len(LENGTHS), max(LENGTHS)
    ids = torch.zeros(B, T, dtype=torch.int64)
    mask = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(LENGTHS):
        body = torch.randint(104, V, (n - 2,), generator=g)
        ids[b, :n] = torch.cat([torch.tensor([101]), body, torch.tensor([102])])
        mask[b, :n] = 1
    labels = torch.randint(0, K, (B,), generator=g)
    return ids, mask, labels


def run(model, ids, mask, labels):
    tr = {"hidden": [], "attn": []}
    model.zero_grad()
    logits = model(ids, mask, tr)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    return logits.detach(), loss.detach(), tr, grads


def state_dict_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def max_abs(a, b):
    return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0


def make_family(family, K=6):
    c = FAMILIES[family](K)
    L = c.get("num_hidden_layers", c.get("n_layers"))
    g = torch.Generator().manual_seed(SEED[family])
    torch.manual_seed(SEED[family])
    model = build(family, c)
    randomize(model, g)
    model.eval()
    keys = list(model.state_dict().keys())
    want = hf_names(family, L)
    if sorted(keys) != sorted(want):
        sys.exit("state_dict keys differ from HF's for %s: %s" % (family, sorted(set(keys) ^ set(want))))
    ids, mask, labels = make_batch(family, c["vocab_size"], K, g)

    sd32 = state_dict_of(model)
    lg32, loss32, tr32, gr32 = run(model, ids, mask, labels)
    model.double()
    lg, loss, tr, gr = run(model, ids, mask, labels)

    d = os.path.join(OUT, family)
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), c)
    write_safetensors(os.path.join(d, "model.safetensors"), sd32, {"format": "pt"})
    write_vocab(os.path.join(d, "vocab.txt"), c["vocab_size"])
    exp = {"logits": lg.float(), "loss": loss.float(), "pooled": tr["pooled"].detach().float(),
           "input_ids": ids, "labels": labels}
    for i, h in enumerate(tr["hidden"]):
        exp["hidden.%d" % i] = h.detach().float()
    for i, a in enumerate(tr["attn"]):
        exp["attn.%d" % i] = a.detach().float()
    for n, t in gr.items():
        exp["grad." + n] = t.float()
    write_safetensors(os.path.join(d, "expected.safetensors"), exp, {"format": "pt"})

    probe_names = [n for n in want if (".1." in n or "albert_layers" in n) and ("key" in n or "k_lin" in n)]
    probe_names += [n for n in want if "value.bias" in n or "v_lin.bias" in n][:1]
    probe_names += ["classifier.weight", want[0]]
    probes = {n: [float(x) for x in sd32[n].flatten()[:4]] for n in probe_names}
    write_json(os.path.join(d, "batch.json"), {
        "input_ids": ids.tolist(), "attention_mask": mask.tolist(), "lengths": LENGTHS,
        "labels": labels.tolist(), "label_names": LABELS[:K], "probes": probes,
        "loss": float(loss), "seed": SEED[family]})

    # float32 run vs the float64 reference: the floor for the C engine's tolerances
    figs = {"family": family, "logits": max_abs(lg32, lg), "loss": abs(float(loss32) - float(loss)),
            "attn": max(max_abs(a, b) for a, b in zip(tr32["attn"], tr["attn"])),
            "grad": max(max_abs(gr32[n], gr[n]) for n in gr)}
    print("JSON " + json.dumps({"torch_f32_vs_f64_max_abs_diff": figs}))
    return c, sd32


def make_converted(family, c, sd32, dtype, tag):
    d = os.path.join(OUT, "%s-%s" % (family, tag))
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), dict(c, torch_dtype={"f16": "float16", "bf16": "bfloat16"}[tag]))
    low = {k: v.to(dtype) for k, v in sd32.items()}
    write_safetensors(os.path.join(d, "model.safetensors"), low, {"format": "pt"})
    write_safetensors(os.path.join(d, "converted.safetensors"), {k: v.float() for k, v in low.items()}, {"format": "pt"})
    write_vocab(os.path.join(d, "vocab.txt"), c["vocab_size"])


def make_nohead(family):
    """Like a Hub base checkpoint: MaskedLM architecture, no id2label, no classification head."""
    c = FAMILIES[family](0)
    c["architectures"] = [BASE_ARCH[family]]
    cc = dict(c)
    cc["id2label"] = {"0": "LABEL_0", "1": "LABEL_1"}
    g = torch.Generator().manual_seed(10 + SEED[family])
    model = build(family, cc)
    randomize(model, g)
    sd = state_dict_of(model)
    H = c.get("hidden_size", c.get("dim"))
    E = c.get("embedding_size", H)
    V = c["vocab_size"]
    del sd["classifier.weight"], sd["classifier.bias"]
    extra = {}
    if family == "bert":
        # old TF-converted names and the MLM + NSP heads of BertForPreTraining
        sd = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
              for k, v in sd.items()}
        extra = {"cls.predictions.bias": torch.zeros(V), "cls.predictions.transform.dense.weight": torch.zeros(H, H),
                 "cls.predictions.transform.dense.bias": torch.zeros(H),
                 "cls.predictions.transform.LayerNorm.gamma": torch.ones(H),
                 "cls.predictions.transform.LayerNorm.beta": torch.zeros(H),
                 "cls.seq_relationship.weight": torch.zeros(2, H), "cls.seq_relationship.bias": torch.zeros(2),
                 "bert.embeddings.position_ids": torch.arange(c["max_position_embeddings"]).unsqueeze(0)}
    elif family == "distilbert":
        del sd["pre_classifier.weight"], sd["pre_classifier.bias"]
        extra = {"vocab_transform.weight": torch.zeros(H, H), "vocab_transform.bias": torch.zeros(H),
                 "vocab_layer_norm.weight": torch.ones(H), "vocab_layer_norm.bias": torch.zeros(H),
                 "vocab_projector.bias": torch.zeros(V)}
    else:
        extra = {"predictions.bias": torch.zeros(V), "predictions.dense.weight": torch.zeros(E, H),
                 "predictions.dense.bias": torch.zeros(E), "predictions.LayerNorm.weight": torch.ones(E),
                 "predictions.LayerNorm.bias": torch.zeros(E), "predictions.decoder.bias": torch.zeros(V),
                 "sop_classifier.classifier.weight": torch.zeros(2, H),
                 "sop_classifier.classifier.bias": torch.zeros(2),
                 "albert.embeddings.position_ids": torch.arange(c["max_position_embeddings"]).unsqueeze(0)}
    sd.update(extra)
    d = os.path.join(OUT, family + "-nohead")
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), c)
    write_safetensors(os.path.join(d, "model.safetensors"), sd, {"format": "pt"})
    write_vocab(os.path.join(d, "vocab.txt"), V)


# masked positions (b, t) of the MLM fixtures: never padding; (0, 0) is [CLS], (2, 1) [SEP]
MLM_POS = [(0, 0), (0, 2), (0, 5), (1, 1), (1, 3), (2, 1)]


def make_mlm(family):
    """<family>-mlm: a *ForMaskedLM checkpoint (no pooler, no classifier, no id2label) and
    the masked-LM logits, loss and every parameter gradient on the fixture batch with six
    masked positions.  The three files spell the tied tensors differently, as checkpoints in
    the wild do: BERT the whole state_dict (decoder.weight and decoder.bias aliases too),
    DistilBERT without vocab_projector.weight (save_pretrained), ALBERT with
    predictions.decoder.bias instead of predictions.bias."""
    c = FAMILIES[family](0)
    c["architectures"] = [BASE_ARCH[family]]
    L = c.get("num_hidden_layers", c.get("n_layers"))
    V = c["vocab_size"]
    g = torch.Generator().manual_seed(20 + SEED[family])
    model = MLM_CLASSES[family](c)
    randomize(model, g)
    model.eval()
    names = [n for n, _ in model.named_parameters()]
    want = hf_mlm_names(family, L)
    if sorted(names) != sorted(want):
        sys.exit("named_parameters differ from HF's for %s-mlm: %s" % (family, sorted(set(names) ^ set(want))))
    ids, mask, _ = make_batch(family, V, 2, g)
    B, T = ids.shape
    pos = torch.tensor([b * T + t for b, t in MLM_POS])
    labels = ids.view(-1)[pos].clone()
    labels[1] = 0                                   # one label is [PAD]: its decoder row still learns
    ids.view(-1)[pos[1:4]] = 103                    # [MASK] at three of them, as the 80% rule would
    full_labels = torch.full((B * T,), -100, dtype=torch.int64)
    full_labels[pos] = labels

    def run_mlm():
        tr = {"hidden": [], "attn": []}
        model.zero_grad()
        scores = model(ids, mask, tr)               # (B, T, V), HF computes every position
        loss = F.cross_entropy(scores.view(-1, V), full_labels)    # ignore_index -100: masked only
        loss.backward()
        grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
        return scores.view(-1, V)[pos].detach(), loss.detach(), grads

    sd = state_dict_of(model)
    lg32, loss32, gr32 = run_mlm()
    model.double()
    lg, loss, gr = run_mlm()
    model.float()

    if family == "distilbert":
        del sd["vocab_projector.weight"]
    elif family == "albert":
        del sd["predictions.decoder.weight"], sd["predictions.bias"]
    d = os.path.join(OUT, family + "-mlm")
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), c)
    write_safetensors(os.path.join(d, "model.safetensors"), sd, {"format": "pt"})
    write_vocab(os.path.join(d, "vocab.txt"), V)
    exp = {"input_ids": ids, "mlm_positions": pos, "mlm_labels": labels, "mlm_logits": lg.float(),
           "loss": loss.float()}
    for n, t in gr.items():
        exp["grad." + n] = t.float()
    write_safetensors(os.path.join(d, "expected.safetensors"), exp, {"format": "pt"})
    figs = {"family": family + "-mlm", "mlm_logits": max_abs(lg32, lg), "loss": abs(float(loss32) - float(loss)),
            "grad": max(max_abs(gr32[n], gr[n]) for n in gr)}
    print("JSON " + json.dumps({"torch_f32_vs_f64_max_abs_diff": figs}))


# ----------------------------------------------------------------------------

def counts():
    """Parameter counts of the real sizes (base models without / with the heads)."""
    cfgs = {"bert-base-uncased": ("bert", bert_config(30522, 512, 768, 12, 12, 3072, 6)),
            "distilbert-base-uncased": ("distilbert", distilbert_config(30522, 512, 768, 6, 12, 3072, 6)),
            "albert-base-v2": ("albert", albert_config(30000, 512, 128, 768, 12, 12, 3072, 6))}
    for name, (fam, c) in cfgs.items():
        m = build(fam, c)
        base = getattr(m, fam)
        nb = sum(p.numel() for p in base.parameters())
        nf = sum(p.numel() for p in m.parameters())
        print("JSON " + json.dumps({"model": name, "base_params": nb, "seqcls_params_K6": nf}))


def compare(family, path):
    """Max abs diff of a state written by the C engine against the fixture's expectations."""
    exp = read_safetensors(os.path.join(OUT, family, "expected.safetensors"))
    got = read_safetensors(path)
    lens = json.load(open(os.path.join(OUT, family, "batch.json")))["lengths"]
    worst = {}
    for k in sorted(got):
        if k not in exp:
            print("%-70s not in the reference" % k)
            continue
        g, e = got[k].reshape(exp[k].shape), exp[k]
        if k.startswith("attn."):
            # padded query rows: HF computes values that affect nothing; compare real rows only
            g, e = g.clone(), e.clone()
            for b, n in enumerate(lens):
                g[b, :, n:, :] = 0
                e[b, :, n:, :] = 0
        d = max_abs(g, e)
        group = k.split(".")[0]
        worst[group] = max(worst.get(group, 0.0), d)
        print("%-70s max abs diff %.3g" % (k, d))
    print("JSON " + json.dumps({"family": family, "max_abs_diff": worst}))


# Fields each transformers config class reads for these models; a written config.json must
# carry all of them (a missing one silently takes the class default, xxlarge for ALBERT).
HF_FIELDS = {
    "bert": ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
             "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
             "type_vocab_size", "layer_norm_eps", "vocab_size", "pad_token_id", "classifier_dropout",
             "position_embedding_type"],
    "distilbert": ["dim", "n_layers", "n_heads", "hidden_dim", "activation", "dropout", "attention_dropout",
                   "seq_classif_dropout", "max_position_embeddings", "vocab_size", "pad_token_id",
                   "sinusoidal_pos_embds"],
    "albert": ["embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
               "type_vocab_size", "layer_norm_eps", "vocab_size", "pad_token_id", "classifier_dropout_prob",
               "num_hidden_groups", "inner_group_num", "position_embedding_type"],
}
ARCH = {"bert": "BertForSequenceClassification", "distilbert": "DistilBertForSequenceClassification",
        "albert": "AlbertForSequenceClassification"}


def verify_dir(d):
    """What from_pretrained would check of a checkpoint written by emokd: config fields,
    safetensors metadata, strict state_dict load; then a forward pass (against the fixture's
    expected logits when the weights are a fixture's)."""
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    fam = c["model_type"]
    mlm = c.get("architectures") == [BASE_ARCH[fam]]
    # a *ForMaskedLM has no classifier: id2label is optional (HF then defaults to 2 labels)
    missing = [k for k in HF_FIELDS[fam] + ([] if mlm else ["id2label", "label2id"]) + ["architectures", "torch_dtype"]
               if k not in c]
    if missing:
        sys.exit("%s: config.json lacks %s" % (d, missing))
    if c["architectures"] != [ARCH[fam]] and not mlm:
        sys.exit("%s: architectures %s" % (d, c["architectures"]))
    if "id2label" in c and {v: int(k) for k, v in c["id2label"].items()} != c["label2id"]:
        sys.exit("%s: label2id does not invert id2label" % d)
    path = os.path.join(d, "model.safetensors")
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n)).get("__metadata__", {})
    if meta.get("format") != "pt":                  # transformers refuses other formats
        sys.exit("%s: __metadata__.format is %r" % (path, meta.get("format")))
    model = MLM_CLASSES[fam](c) if mlm else build(fam, c)
    sd = read_safetensors(path)
    if mlm:
        # from_pretrained: the tied aliases may be absent (tie_weights fills them), nothing else
        res_ = model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
        if res_.unexpected_keys or set(res_.missing_keys) - MLM_TIED:
            sys.exit("%s: unexpected %s, missing %s" % (path, res_.unexpected_keys, res_.missing_keys))
    else:
        model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    model.eval()
    with open(os.path.join(d, "vocab.txt")) as f:
        nvocab = sum(1 for _ in f)
    tok = json.load(open(os.path.join(d, "tokenizer_config.json")))
    res = {"dir": d, "family": fam, "tensors": len(sd), "vocab_lines": nvocab, "vocab_size": c["vocab_size"],
           "tokenizer_class": tok.get("tokenizer_class")}
    fx = os.path.join(OUT, fam + ("-mlm" if mlm else ""))
    same = False
    if os.path.exists(os.path.join(fx, "model.safetensors")):
        ref = read_safetensors(os.path.join(fx, "model.safetensors"))
        if mlm:
            # the fixture spells the tied tensors its own way: compare the loaded parameters
            rm = MLM_CLASSES[fam](c)
            rm.load_state_dict({k: v.float() for k, v in ref.items()}, strict=False)
            mine = dict(model.named_parameters())
            same = all(torch.equal(p, mine[n]) for n, p in rm.named_parameters())
        else:
            same = ref.keys() == sd.keys() and all(torch.equal(ref[k], sd[k].float()) for k in sd)
    with torch.no_grad():
        if same and mlm:
            exp = read_safetensors(os.path.join(fx, "expected.safetensors"))
            ids = exp["input_ids"]
            scores = model(ids, (ids != 0).long(), {"hidden": [], "attn": []})
            res["mlm_logits_max_abs_diff_vs_fixture"] = max_abs(scores.view(-1, c["vocab_size"])[exp["mlm_positions"]],
                                                                exp["mlm_logits"])
        elif same:
            b = json.load(open(os.path.join(fx, "batch.json")))
            exp = read_safetensors(os.path.join(fx, "expected.safetensors"))
            logits = model(torch.tensor(b["input_ids"]), torch.tensor(b["attention_mask"]), {"hidden": [], "attn": []})
            res["logits_max_abs_diff_vs_fixture"] = max_abs(logits, exp["logits"])
        else:
            ids = torch.randint(0, c["vocab_size"], (2, 5))
            logits = model(ids, torch.ones_like(ids), {"hidden": [], "attn": []})
            res["logits_finite"] = bool(torch.isfinite(logits).all())
    print("JSON " + json.dumps({"verify": res}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", action="store_true")
    ap.add_argument("--compare", nargs=2, metavar=("FAMILY", "STATE"))
    ap.add_argument("--verify-dir", nargs="+", metavar="DIR")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.counts:
        counts()
        return
    if a.compare:
        compare(*a.compare)
        return
    if a.verify_dir:
        for d in a.verify_dir:
            verify_dir(d)
        return
    made = {}
    for fam in FAMILIES:
        made[fam] = make_family(fam)
        make_nohead(fam)
        make_mlm(fam)
    c, sd = made["bert"]
    make_converted("bert", c, sd, torch.float16, "f16")
    make_converted("bert", c, sd, torch.bfloat16, "bf16")


if __name__ == "__main__":
    main()
