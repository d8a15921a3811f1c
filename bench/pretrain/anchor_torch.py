#!/usr/bin/python3
"""PyTorch side of bench/pretrain/pretrain.sh: masked-LM training of a BERT (HF BertForMaskedLM
layout) on the exact batches emo pretrain trains on (EMO_PRETRAIN_DUMP_BATCHES: masked ids,
lengths, masked positions and targets, per batch), timed over the whole epoch.

The model is the anchors' HF-style BERT (../shared/anchors/torch_bert.py: separate Q/K/V
Linear, additive finfo.min padding mask, post-LN, GELU erf, dropout 0.1) with
BertForMaskedLM's head: dense(H,H) -> GELU -> LayerNorm -> decoder tied to the word
embeddings + bias.  Like emo pretrain, the head runs on the masked positions only
(hidden states gathered first: the efficient PyTorch formulation; HF's BertForMaskedLM
would project all B*T positions onto the vocabulary).  Loss: cross-entropy, mean over the
batch's masked tokens.  AdamW (weight decay 0.01, none on biases/LayerNorm), linear
warm-up (6%) and decay, clip_grad_norm_ 1.0: emo pretrain's defaults.

Usage: anchor_torch.py --batches FILE --config bert-mini --threads 2 [--tag tuned]
Prints a human line and a 'JSON {...}' line.
"""
import argparse, os, sys, json, time, math, platform
import numpy as np

CONFIGS = {"bert-base": (12, 768, 12, 3072), "bert-mini": (4, 256, 4, 1024), "bert-tiny": (2, 128, 2, 512)}
VOCAB, MAXPOS, NTYPES = 30522, 512, 2

ap = argparse.ArgumentParser()
ap.add_argument("--batches", required=True)
ap.add_argument("--config", default="bert-mini")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--lr", type=float, default=5e-4)
ap.add_argument("--warmup-ratio", type=float, default=0.06)
ap.add_argument("--tag", default="tuned")
args = ap.parse_args()

os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(args.threads)
torch.manual_seed(0)


def read_batches(path):
    a = np.fromfile(path, dtype="<i4")
    out, i = [], 0
    while i < len(a):
        B, T, M = (int(x) for x in a[i:i + 3])
        i += 3
        ids = a[i:i + B * T].reshape(B, T); i += B * T
        lens = a[i:i + B]; i += B
        pos = a[i:i + M]; i += M
        tgt = a[i:i + M]; i += M
        mask = (np.arange(T)[None, :] < lens[:, None]).astype(np.int64)
        out.append((torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask),
                    torch.from_numpy(pos.astype(np.int64)), torch.from_numpy(tgt.astype(np.int64)),
                    int(lens.sum()), B, T, M))
    return out


class Embeddings(nn.Module):
    def __init__(s, H):
        super().__init__()
        s.word = nn.Embedding(VOCAB, H, padding_idx=0)
        s.pos = nn.Embedding(MAXPOS, H)
        s.ttype = nn.Embedding(NTYPES, H)
        s.ln = nn.LayerNorm(H, eps=1e-12)
        s.drop = nn.Dropout(0.1)

    def forward(s, ids):
        S = ids.shape[1]
        pos = torch.arange(S)[None, :]
        return s.drop(s.ln(s.word(ids) + s.pos(pos) + s.ttype(torch.zeros_like(ids))))


class BertLayer(nn.Module):
    def __init__(s, H, A, I):
        super().__init__()
        s.A, s.d = A, H // A
        s.q, s.k, s.v, s.o = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
        s.ln1 = nn.LayerNorm(H, eps=1e-12)
        s.up, s.down = nn.Linear(H, I), nn.Linear(I, H)
        s.ln2 = nn.LayerNorm(H, eps=1e-12)
        s.adrop, s.drop1, s.drop2 = nn.Dropout(0.1), nn.Dropout(0.1), nn.Dropout(0.1)

    def forward(s, x, ext_mask):
        B, S, H = x.shape
        sh = lambda t: t.view(B, S, s.A, s.d).transpose(1, 2)
        q, k, v = sh(s.q(x)), sh(s.k(x)), sh(s.v(x))
        sc = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(s.d) + ext_mask
        p = s.adrop(torch.softmax(sc, dim=-1))
        ctx = torch.matmul(p, v).transpose(1, 2).reshape(B, S, H)
        x = s.ln1(x + s.drop1(s.o(ctx)))
        return s.ln2(x + s.drop2(s.down(F.gelu(s.up(x)))))


class BertForMaskedLM(nn.Module):
    def __init__(s, L, H, A, I):
        super().__init__()
        s.emb = Embeddings(H)
        s.layers = nn.ModuleList([BertLayer(H, A, I) for _ in range(L)])
        s.dense = nn.Linear(H, H)
        s.ln = nn.LayerNorm(H, eps=1e-12)
        s.bias = nn.Parameter(torch.zeros(VOCAB))
        for m in s.modules():   # HF _init_weights
            if isinstance(m, (nn.Linear, nn.Embedding)):
                m.weight.data.normal_(0, 0.02)
            if isinstance(m, nn.Linear):
                m.bias.data.zero_()

    def forward(s, ids, mask, pos):
        x = s.emb(ids)
        ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for l in s.layers:
            x = l(x, ext)
        h = x.reshape(-1, x.shape[-1]).index_select(0, pos)          # (M, H)
        t = s.ln(F.gelu(s.dense(h)))
        return F.linear(t, s.emb.word.weight, s.bias)                  # (M, V), tied decoder


def main():
    batches = read_batches(args.batches)
    L, H, A, I = CONFIGS[args.config]
    model = BertForMaskedLM(L, H, A, I)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr)
    total = len(batches)
    warm = math.ceil(args.warmup_ratio * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    tokens = sum(b[4] for b in batches)
    masked = sum(b[7] for b in batches)
    t0 = time.perf_counter()
    loss_first = loss_last = None
    for ids, mask, pos, tgt, ntok, B, T, M in batches:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(ids, mask, pos), tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_last = float(loss)
        loss_first = loss_first if loss_first is not None else loss_last
    t = time.perf_counter() - t0
    rec = dict(tag=args.tag, impl="torch", mode="mlm-train", config=args.config, batch=batches[0][5],
               threads=args.threads, steps=total, tokens=tokens, masked=masked, t_total=t,
               tokens_s=tokens / t, samples_s=sum(b[5] for b in batches) / t, loss_first=loss_first,
               loss_last=loss_last, torch=torch.__version__)
    print(f"torch {args.config} b{rec['batch']}: {total} steps in {t:.1f} s, {tokens / t:.0f} real tokens/s, "
          f"loss {loss_first:.3f} -> {loss_last:.3f}", flush=True)
    print("JSON " + json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
