#!/usr/bin/python3
"""Goldens for lib/nn/loss.c: loss values and gradients from PyTorch 1.13 autograd.

Run from the repository root with the Debian python that has torch:
    /usr/bin/python3 tests/gen/torch_losses.py
Writes tests/fixtures/loss/losses.json (committed; `make check` does not need torch).

Inputs are drawn in float32 (the C code's input type) and the references are computed
in float64 from exactly those values, so the goldens are the exact math up to double
rounding.  Every formula here is the documented convention of lib/nn/loss.h.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
OUT = os.path.join("tests", "fixtures", "loss", "losses.json")


def f32(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32) * scale).double()


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def focal(z, y, alpha, gamma, eps):
    """-sum_k ytilde_k alpha (1-p_k)^gamma log p_k, mean over labelled rows."""
    keep = y >= 0
    z, y = z[keep], y[keep]
    K = z.shape[1]
    logp = F.log_softmax(z, dim=1)
    p = logp.exp()
    yt = (1 - eps) * F.one_hot(y, K).double() + eps / K
    return -(yt * alpha * (1 - p) ** gamma * logp).sum(1).mean()


def kd(zs, zt, T):
    return F.kl_div(F.log_softmax(zs / T, 1), F.softmax(zt / T, 1), reduction="batchmean") * T * T


def masked_attention(B, NH, T, lens):
    """Masked softmax probabilities, zeros on padded keys, garbage in padded rows."""
    scores = torch.randn(B, NH, T, T, dtype=torch.float32).double() * 1.5
    mask = torch.zeros(B, 1, 1, T, dtype=torch.float64)
    for b, n in enumerate(lens):
        mask[b, ..., n:] = -1e4
    p = torch.softmax(scores + mask, dim=-1).float().double()
    for b, n in enumerate(lens):
        p[b, :, n:, :] = torch.rand(NH, T - n, T).double()
    return p


def attn_loss(s, t, lens, mode):
    B, NH, T, _ = s.shape
    if s.shape[1] != t.shape[1]:       # head-count mismatch: average heads on both sides
        s, t = s.mean(1, keepdim=True), t.mean(1, keepdim=True)
        NH = 1
    # per-row distances averaged over heads and valid query rows: MSE sums a row's squared
    # differences; KL divides a row's KL by log(len) (rows of 1-token records left out)
    m = torch.zeros(B, 1, T, T, dtype=torch.float64)
    rows = torch.zeros(B, 1, T, 1, dtype=torch.float64)
    for b, n in enumerate(lens):
        if mode == "mse":
            m[b, :, :n, :n] = 1
            rows[b, :, :n] = 1
        elif n >= 2:
            m[b, :, :n, :n] = 1 / math.log(n)
            rows[b, :, :n] = 1
    if mode == "mse":
        return (((s - t) ** 2) * m).sum() / (NH * rows.sum())
    kl = F.kl_div(torch.log(s.clamp_min(1e-12)), t, reduction="none") * m
    return kl.sum() / (NH * rows.sum())


cases = []


def add(case, loss, x):
    loss.backward()
    case["loss"] = float(loss)
    case["grad"] = flat(x.grad)
    cases.append(case)


for B, K, eps, tag in [(4, 6, 0.0, "plain"), (5, 6, 0.1, "smoothed"), (3, 28, 0.2, "goemotions-K")]:
    z = f32(B, K, scale=2.0).requires_grad_()
    y = torch.randint(0, K, (B,))
    y[1] = -100                           # an unlabelled row
    loss = F.cross_entropy(z, y, label_smoothing=eps, ignore_index=-100)
    add({"kind": "ce", "name": "ce " + tag, "B": B, "eps": eps, "input": flat(z),
         "labels": [int(v) if v >= 0 else -1 for v in y]}, loss, z)

for B, K, alpha, gamma, eps, tag in [(4, 6, 0.25, 2.0, 0.0, "paper no smoothing"),
                                     (6, 6, 0.25, 2.0, 0.1, "paper smoothed"),
                                     (3, 5, 1.0, 0.5, 0.1, "gamma .5"),
                                     (3, 5, 0.5, 0.0, 0.0, "gamma 0")]:
    z = f32(B, K, scale=2.0).requires_grad_()
    y = torch.randint(0, K, (B,))
    y[0] = -1
    loss = focal(z, y, alpha, gamma, eps)
    add({"kind": "focal", "name": "focal " + tag, "B": B, "alpha": alpha, "gamma": gamma,
         "eps": eps, "input": flat(z), "labels": [int(v) for v in y]}, loss, z)

for B, K, T in [(4, 6, 1.0), (5, 6, 1.5), (3, 7, 4.0)]:
    zs = f32(B, K, scale=2.0).requires_grad_()
    zt = f32(B, K, scale=3.0)
    add({"kind": "kd", "name": "kd T=%g" % T, "B": B, "T": T, "input": flat(zs),
         "target": flat(zt)}, kd(zs, zt, T), zs)

for B, K, T, alpha, eps, gamma, fa in [(6, 6, 1.5, 0.8, 0.1, 2.0, 0.25), (4, 6, 3.0, 0.5, 0.0, 1.0, 1.0)]:
    zs = f32(B, K, scale=2.0).requires_grad_()
    zt = f32(B, K, scale=3.0)
    y = torch.randint(0, K, (B,))
    y[2] = -1
    k = kd(zs, zt, T)
    f = focal(zs, y, fa, gamma, eps)
    loss = alpha * k + (1 - alpha) * f
    add({"kind": "distill", "name": "distill T=%g alpha=%g" % (T, alpha), "B": B, "T": T,
         "alpha": alpha, "eps": eps, "gamma": gamma, "focal_alpha": fa, "kd": float(k),
         "focal": float(f), "input": flat(zs), "target": flat(zt),
         "labels": [int(v) for v in y]}, loss, zs)

for mode in ["mse", "kl"]:
    for B, NHs, NHt, T, lens in [(3, 2, 2, 6, [6, 4, 1]), (2, 2, 3, 5, [3, 5])]:
        s = masked_attention(B, NHs, T, lens).requires_grad_()
        t = masked_attention(B, NHt, T, lens)
        add({"kind": "attn", "name": "attn %s NH %d/%d" % (mode, NHs, NHt), "mode": mode,
             "B": B, "T": T, "NHs": NHs, "NHt": NHt, "lens": lens, "input": flat(s),
             "target": flat(t)}, attn_loss(s, t, lens, mode), s)

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as fp:
    json.dump({"generator": "tests/gen/torch_losses.py", "torch": torch.__version__,
               "cases": cases}, fp, separators=(",", ":"))
    fp.write("\n")
print("wrote %s: %d cases" % (OUT, len(cases)))

# ---- AdamW + LambdaLR linear schedule + clip_grad_norm_ -> tests/fixtures/loss/adamw.json
# HF get_linear_schedule_with_warmup, copied (transformers is not installed here).


def linear_schedule(warmup, total):
    def lr_lambda(current_step):
        if current_step < warmup:
            return float(current_step) / float(max(1, warmup))
        return max(0.0, float(total - current_step) / float(max(1, total - warmup)))
    return lr_lambda


def adamw_run(shapes, decayed, base_lr, wd, warmup, total, steps, max_norm, gscales):
    """HF Trainer's set-up: two groups (decay / no decay), clip, step, schedule step."""
    torch.manual_seed(99)
    params = [torch.nn.Parameter(torch.randn(*s) * 0.5) for s in shapes]
    p0 = torch.cat([p.detach().reshape(-1) for p in params]).clone()
    groups = [{"params": [p for p, d in zip(params, decayed) if d], "weight_decay": wd},
              {"params": [p for p, d in zip(params, decayed) if not d], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=base_lr, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_schedule(warmup, total))
    rec = {"grads": [], "lrs": [], "norms": [], "params": []}
    for k in range(steps):
        grads = [torch.randn(*s) * gscales[k] for s in shapes]
        rec["grads"].append(flat(torch.cat([g.reshape(-1) for g in grads])))
        for p, g in zip(params, grads):
            p.grad = g.clone()
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        rec["norms"].append(float(norm))
        rec["lrs"].append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        rec["params"].append(flat(torch.cat([p.detach().reshape(-1) for p in params])))
    st = [opt.state[p] for p in params]
    rec["m"] = flat(torch.cat([s["exp_avg"].reshape(-1) for s in st]))
    rec["v"] = flat(torch.cat([s["exp_avg_sq"].reshape(-1) for s in st]))
    rec["step"] = int(st[0]["step"])
    offs, off = [], 0
    for s, d in zip(shapes, decayed):
        n = 1
        for x in s:
            n *= x
        if d:
            offs.append([off, n])
        off += n
    rec.update({"p0": flat(p0), "decay_ranges": offs, "base_lr": base_lr, "wd": wd,
                "warmup": warmup, "total": total, "max_norm": max_norm})
    return rec


# weight (5,4), bias (5), LayerNorm weight (4), LayerNorm bias (4), classifier (3,4), bias (3)
shapes = [(5, 4), (5,), (4,), (4,), (3, 4), (3,)]
decayed = [True, False, False, False, True, False]
runs = [
    # warm-up 2 of 7 steps, the schedule reaches 0; gradients large enough to be clipped
    # on some steps (scale 2) and not on others (scale 0.05)
    dict(name="warmup+decay, clipping", base_lr=5e-2, wd=0.01, warmup=2, total=7, steps=8,
         max_norm=1.0, gscales=[2, 0.05, 2, 0.05, 1, 3, 0.05, 1]),
    dict(name="no warmup, strong decay, no clipping", base_lr=1e-3, wd=0.1, warmup=0,
         total=5, steps=5, max_norm=1e9, gscales=[1, 1, 1, 1, 1]),
]
adamw_cases = []
for r in runs:
    rec = adamw_run(shapes, decayed, r["base_lr"], r["wd"], r["warmup"], r["total"],
                    r["steps"], r["max_norm"], r["gscales"])
    rec["name"] = r["name"]
    adamw_cases.append(rec)
sched_checks = []
for warmup, total in [(0, 10), (3, 10), (10, 10), (4, 3), (1, 1)]:
    f = linear_schedule(warmup, total)
    for k in range(0, total + 3):
        sched_checks.append([warmup, total, k, 2e-5 * f(k)])

OUT2 = os.path.join("tests", "fixtures", "loss", "adamw.json")
with open(OUT2, "w") as fp:
    json.dump({"generator": "tests/gen/torch_losses.py", "torch": torch.__version__,
               "runs": adamw_cases, "schedule": sched_checks}, fp, separators=(",", ":"))
    fp.write("\n")
print("wrote %s: %d runs" % (OUT2, len(adamw_cases)))
