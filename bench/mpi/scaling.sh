#!/usr/bin/env bash
# The scaling model of data-parallel training over N machines of this kind (issue 17), from
# what bench/mpi/mpi.sh measured here.
#
#   bench/mpi/scaling.sh [bench/out/mpi.txt]
#
# A machine is one rank of 2 threads; its compute rate r (samples/s) is the 1 x 2 process's
# figure.  A step of global batch B on N machines computes B/N samples each, t_c = B / (N r),
# and all-reduces the gradients: a ring moves 2 (N-1)/N x 4 P bytes through each machine's
# link and takes 2 (N-1) latency hops, t_a = 2 (N-1)/N 4 P / L + 2 (N-1) lat (P parameters,
# every one dense: the word embeddings' gradient is all-reduced whole, as DDP does).
# Efficiency: t_c / (t_c + exposed), with exposed = t_a when nothing overlaps, or, when the
# all-reduce runs during the backward pass as lib/dist's does, the embeddings' part t_a(E)
# (their gradients are final only when the backward ends) + max(0, t_a(P - E) - f t_c)
# (f = 2/3, the backward's share of a step).  The table gives the global batch B at which 8 and 32
# machines keep 90%, for links of 10, 25 and 100 Gbit/s (lat 30 us).  The check: the same
# model for N = 2 over the measured cost of one all-reduce on this machine (the anchor's
# gloo all_reduce alone, shared memory) against the measured 2 x 1 / 1 x 2 ratio.
set -eu
log=$(realpath "${1:-bench/out/mpi.txt}")
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 - "$log" <<'PY'
import json, math, subprocess, sys

rows = [json.loads(l[5:]) for l in open(sys.argv[1] if len(sys.argv) > 1 else "bench/out/mpi.txt")
        if l.startswith("JSON ")]
F, LAT, TARGET = 2 / 3, 30e-6, 0.9


def params(config):
    """(all parameters, those of the embeddings: the gradients final only at the backward's end)"""
    out = subprocess.run(["sh", "-c", f'd=$(mktemp -d) && bin/emo ckpt init --labels a,b,c,d,e,f -o "$d/m" {config} '
                          f'>/dev/null 2>&1 && bin/emo ckpt info "$d/m" && cat "$d/m/config.json"; rm -rf "$d"'],
                         capture_output=True, text=True, check=True).stdout
    dec = json.JSONDecoder()
    info, end = dec.raw_decode(out)
    c, _ = dec.raw_decode(out[end:].lstrip())
    e = c.get("embedding_size", c.get("dim", c.get("hidden_size")))
    emb = (c["vocab_size"] + c["max_position_embeddings"] + c.get("type_vocab_size", 0) + 2) * e
    if "embedding_size" in c:      # ALBERT's projection to the hidden size
        emb += (e + 1) * c["hidden_size"]
    return info["params"], emb


def t_allreduce(p, n, link_bytes_s):
    return 2 * (n - 1) / n * 4 * p / link_bytes_s + 2 * (n - 1) * LAT


def exposed(p, emb, n, link_bytes_s, tc, overlap):
    """the all-reduce time a step waits for: all of it, or, overlapped as lib/dist does, the
    embeddings' part (it can leave only when the backward ends) and what of the rest the
    backward (F of the step) does not hide"""
    if not overlap:
        return t_allreduce(p, n, link_bytes_s)
    return t_allreduce(emb, n, link_bytes_s) + max(0.0, t_allreduce(p - emb, n, link_bytes_s) - F * tc)


def batch_for(p, emb, n, rate, link_bytes_s, overlap):
    # the least compute per step t_c with t_c / (t_c + exposed) >= 0.9 (exposed falls as t_c grows)
    lo, hi = 0.0, 1.0
    while hi / (hi + exposed(p, emb, n, link_bytes_s, hi, overlap)) < TARGET:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if mid / (mid + exposed(p, emb, n, link_bytes_s, mid, overlap)) >= TARGET:
            hi = mid
        else:
            lo = mid
    return hi * n * rate


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


shapes = sorted({(r["config"], r["batch"], r["seq"]) for r in rows})
print("| preset | seq | parameters | all-reduce bytes/step (ring, N large) | compute/machine (samples/s) "
      "| B for 90%, 8 machines: 10 / 25 / 100 Gbit/s | 32 machines | overlapped, 8 | overlapped, 32 |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
checks = []
for cfg, b, s in shapes:
    pick = lambda impl, ranks, th: [r["samples_s"] for r in rows if (r["config"], r["batch"], r["seq"]) == (cfg, b, s)
                                     and r["impl"] == impl and r["ranks"] == ranks and r["threads"] == th]
    one, two = pick("emo", 1, 2), pick("emo", 2, 1)
    if not one:
        continue
    rate, (p, emb) = median(one), params(cfg)
    links = [g * 1e9 / 8 for g in (10, 25, 100)]
    cell = lambda n, ov: " / ".join(f"{batch_for(p, emb, n, rate, L, ov):,.0f}" for L in links)
    print(f"| {cfg} | {s} | {p:,} | {8 * p / 1e6:.0f} MB | {rate:.1f} | {cell(8, False)} | {cell(32, False)} "
          f"| {cell(8, True)} | {cell(32, True)} |")
    alone = [r["allreduce_ms_alone"] for r in rows if r["impl"] != "emo" and (r["config"], r["batch"], r["seq"]) == (cfg, b, s)
             and r.get("allreduce_ms_alone") is not None]
    if two and alone:
        ta, tc = median(alone) / 1e3, b / (2 * rate)
        # the measured all-reduce as the link: its embeddings' share exposed when overlapped
        pred = (tc / (tc + ta), tc / (tc + ta * emb / p + max(0.0, ta * (p - emb) / p - F * tc)))
        checks.append(f"- {cfg} b{b} s{s}, N = 2 on this machine: one all-reduce {1e3 * ta:.1f} ms, compute "
                      f"{1e3 * tc:.1f} ms a step: the model predicts {pred[0]:.2f} (no overlap) to {pred[1]:.2f} "
                      f"(overlapped) of the 1 x 2 rate; measured 2 x 1 / 1 x 2 = {median(two) / rate:.2f}")
print()
print("\n".join(checks))
PY
