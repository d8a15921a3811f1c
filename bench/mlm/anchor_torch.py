#!/usr/bin/python3
"""PyTorch side of bench/mlm/mlm.sh: the same masked-LM training step on the same batches.

The model is tests/gen/torch_ref.py's BertForMaskedLM (a from-scratch re-implementation of
Hugging Face's, eager attention; transformers is not installed here), bert-mini sizes,
train mode (dropout 0.1).  Batches come from `mlm_step --write-batches` and are padded to
the batch's longest sequence (HF's DataCollatorForLanguageModeling with dynamic padding).
  --head hf      HF's BertForMaskedLM: prediction scores at every position, then
                 cross-entropy with ignore_index -100 (what a transformers user runs)
  --head gather  the head only at the masked positions (what the C engine does)
Step: zero_grad, forward, loss, backward, clip_grad_norm_(1.0), AdamW (HF's decay groups).
"""
import argparse
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "gen"))
import torch_ref  # noqa: E402

CONFIGS = {"bert-mini": (4, 256, 4, 1024), "bert-tiny": (2, 128, 2, 512), "bert-base": (12, 768, 12, 3072)}


def read_batches(path):
    data = open(path, "rb").read()
    nb, B, S, V = struct.unpack("<4i", data[:16])
    off, out = 16, []

    def take(n):
        nonlocal off
        a = np.frombuffer(data, dtype="<i4", count=n, offset=off)
        off += 4 * n
        return a

    for _ in range(nb):
        lens = take(B)
        ids = take(B * S).reshape(B, S)
        M = int(take(1)[0])
        pos = take(M)
        lab = take(M)
        T = int(lens.max())
        ids_t = torch.from_numpy(ids[:, :T].astype(np.int64))
        mask = (torch.arange(T)[None, :] < torch.from_numpy(lens.astype(np.int64))[:, None]).long()
        b_idx = torch.from_numpy((pos // S).astype(np.int64))
        t_idx = torch.from_numpy((pos % S).astype(np.int64))
        flat = b_idx * T + t_idx
        full = torch.full((B * T,), -100, dtype=torch.int64)
        full[flat] = torch.from_numpy(lab.astype(np.int64))
        out.append({"ids": ids_t, "mask": mask, "flat": flat, "labels": torch.from_numpy(lab.astype(np.int64)),
                    "full_labels": full, "real": int(lens.sum())})
    return nb, B, S, V, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", required=True)
    ap.add_argument("--config", default="bert-mini")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=10)
    ap.add_argument("--head", choices=["hf", "gather"], default="hf")
    ap.add_argument("--tag", default="torch")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    nb, B, S, V, batches = read_batches(a.batches)
    L, H, NH, I = CONFIGS[a.config]
    c = torch_ref.bert_config(V, 512, H, L, NH, I, 0, arch="BertForMaskedLM")
    model = torch_ref.BertForMaskedLM(c)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "LayerNorm" in n:
                p.fill_(1.0 if n.endswith("weight") else 0.0)
            elif n.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0, 0.02)
    model.train()
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias") and "LayerNorm" not in n]
    nodecay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=1e-4)
    head = model.cls.predictions
    ts, real_timed, it, t_start, loss = [], 0, 0, None, None
    while True:
        b = batches[it % nb]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        tr = {"hidden": [], "attn": []}
        if a.head == "hf":
            scores = model(b["ids"], b["mask"], tr)
            loss = F.cross_entropy(scores.view(-1, V), b["full_labels"])
        else:
            h, _ = model.bert(b["ids"], b["mask"], tr)
            scores = head(h.reshape(-1, H)[b["flat"]])
            loss = F.cross_entropy(scores, b["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if it >= 2:
            if t_start is None:
                t_start = t0
            ts.append(dt)
            real_timed += b["real"]
            if len(ts) >= nb and len(ts) % nb == 0 and time.perf_counter() - t_start >= a.min_time:
                break
        it += 1
    med = statistics.median(ts)
    tok_s = real_timed / sum(ts)
    print("%s %s b%d s%d: MLM step median %.1f ms (min %.1f max %.1f n=%d), %.0f real tokens/s, last loss %.3f"
          % (a.tag, a.config, B, S, med * 1e3, min(ts) * 1e3, max(ts) * 1e3, len(ts), tok_s, float(loss)))
    print("JSON " + json.dumps({"tag": a.tag, "impl": "torch", "mode": "mlm_train", "head": a.head, "config": a.config,
                                "batch": B, "seq": S, "threads": a.threads, "iters": len(ts), "t_med": med,
                                "t_min": min(ts), "real_tokens_s": tok_s, "loss_last": float(loss),
                                "torch": torch.__version__}))


if __name__ == "__main__":
    main()
