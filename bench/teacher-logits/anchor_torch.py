#!/usr/bin/python3
"""`emo teacher-logits` benchmark, PyTorch side (run by bench/teacher-logits/teacher-logits.sh).

  anchor_torch.py DUMP.jsonl --anchors DIR --config NAME --threads T [--batch 64]
      [--window 16]

The anchor's model (torch_bert.py BertClassifier, "hf" implementation, eval mode, no_grad)
over exactly the batches `emo teacher-logits --batch B` forms from the same records: the
input is read in windows of `window` batches, each window sorted longest first and cut into
batches, each batch padded to its longest sequence with the attention mask.  The tensors
are built before the clock starts; only the forwards are timed (the C side's time is the
whole tool: process start, reading, packing the weights, writing).  Prints one JSON line.
"""
import argparse, json, os, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("dump")
ap.add_argument("--anchors", required=True)
ap.add_argument("--config", required=True)
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--window", type=int, default=16)
ap.add_argument("--tag", default="tuned")
a = ap.parse_args()

# the anchor parses its own options at import and sets the thread variables before torch
sys.argv = ["torch_bert.py", "--threads", str(a.threads)]
sys.path.insert(0, a.anchors)
import torch_bert as tb  # noqa: E402
import torch  # noqa: E402

presets = {"bert-base": (12, 768, 12, 3072), "distil": (6, 768, 12, 3072),
           "bert-mini": (4, 256, 4, 1024), "bert-tiny": (2, 128, 2, 512)}
L, H, A, I = presets[a.config]
seqs = []
with open(a.dump) as f:
    for line in f:
        seqs.append(json.loads(line)["input_ids"])

batches, real = [], 0
cap = a.batch * a.window
for w0 in range(0, len(seqs), cap):
    win = sorted(seqs[w0:w0 + cap], key=len, reverse=True)
    for b0 in range(0, len(win), a.batch):
        chunk = win[b0:b0 + a.batch]
        T = len(chunk[0])
        ids = torch.zeros(len(chunk), T, dtype=torch.long)
        mask = torch.zeros(len(chunk), T, dtype=torch.long)
        for b, s in enumerate(chunk):
            ids[b, :len(s)] = torch.tensor(s)
            mask[b, :len(s)] = 1
            real += len(s)
        batches.append((ids, torch.zeros_like(ids), mask))

model = tb.BertClassifier(L, H, A, I, impl="hf").eval()
with torch.no_grad():
    model(*batches[0])   # warm-up
    t0 = time.perf_counter()
    for ids, tt, mask in batches:
        model(ids, tt, mask)
    t = time.perf_counter() - t0
print("JSON " + json.dumps({"bench": "teacher-logits", "tag": a.tag, "impl": "torch", "config": a.config,
                            "threads": a.threads, "batch": a.batch, "records": len(seqs),
                            "real_tokens": real, "batches": len(batches), "t_s": t,
                            "load": os.getloadavg()[0]}), flush=True)
