#!/usr/bin/python3
"""`emo predict` benchmark, PyTorch side (run by bench/predict/predict.sh).

  anchor_torch.py bulk CKPT_DIR IDS.jsonl --threads T [--batch 64] [--window 16] [--tag TAG]
      [--preds FILE]
  anchor_torch.py stream CKPT_DIR IDS.jsonl LINES --threads T

The model is the checkpoint itself: tests/gen/torch_ref.py's pure-PyTorch copy of Hugging
Face's *ForSequenceClassification (eager attention, the HF state_dict names), its weights
read from CKPT_DIR/model.safetensors, eval mode, no_grad.  IDS.jsonl is `emo dump` of the
texts through `emo clean --keep-stopwords | emo tokenize` (the checkpoint's cleaning and
vocabulary: the ids `emo predict` computes).

bulk: the batches `emo predict --batch B` forms from a regular file: windows of `window`
batches, each sorted longest first (ties in input order) and cut into batches, each padded to
its longest sequence with the attention mask.  The tensors are built before the clock starts
and only the forwards are timed (the C side's time is the whole tool).  --preds writes the
argmax label of every line, in input order.  Prints one JSON line (cpu_s: the process's CPU
time over the timed forwards, every thread).

stream: the anchor of the streaming test: reads lines from standard input (unbuffered), and
for each one runs the model on it alone (batch 1) and writes `label<TAB>probability<TAB>text`,
flushed.  Tokenization is excluded: the ids of each line are looked up in IDS.jsonl (LINES
holds the raw lines in the same order).  Before reading, one forward per sequence length that
IDS.jsonl holds (a warm-up; PyTorch's first call at a shape is slow), counted in its start-up.
"""
import argparse, json, os, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["bulk", "stream"])
ap.add_argument("ckpt")
ap.add_argument("ids")
ap.add_argument("lines", nargs="?")
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--window", type=int, default=16)
ap.add_argument("--tag", default="")
ap.add_argument("--preds")
a = ap.parse_args()

os.environ["OMP_NUM_THREADS"] = str(a.threads)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "gen"))
import torch  # noqa: E402
import torch_ref  # noqa: E402

torch.set_num_threads(a.threads)
with open(os.path.join(a.ckpt, "config.json")) as f:
    cfg = json.load(f)
model = torch_ref.build(cfg["model_type"], cfg)
model.load_state_dict({k: v.float() for k, v in torch_ref.read_safetensors(
    os.path.join(a.ckpt, "model.safetensors")).items()}, strict=True)
model.eval()
labels = [cfg["id2label"][str(k)] for k in range(len(cfg["id2label"]))]


class Drop(list):
    """The reference keeps every hidden state and attention map it is handed; not here."""
    def append(self, x):
        pass


def trace():
    return {"hidden": Drop(), "attn": Drop()}


seqs = []
with open(a.ids) as f:
    for line in f:
        seqs.append(json.loads(line)["input_ids"])

if a.mode == "bulk":
    batches, real, order = [], 0, []
    cap = a.batch * a.window
    for w0 in range(0, len(seqs), cap):
        idx = sorted(range(w0, min(w0 + cap, len(seqs))), key=lambda i: (-len(seqs[i]), i))
        for b0 in range(0, len(idx), a.batch):
            chunk = idx[b0:b0 + a.batch]
            T = len(seqs[chunk[0]])
            ids = torch.zeros(len(chunk), T, dtype=torch.long)
            mask = torch.zeros(len(chunk), T, dtype=torch.long)
            for b, i in enumerate(chunk):
                s = seqs[i]
                ids[b, :len(s)] = torch.tensor(s)
                mask[b, :len(s)] = 1
                real += len(s)
            batches.append((ids, mask))
            order.append(chunk)
    outs = []
    with torch.no_grad():
        model(*batches[0], trace())   # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        for ids, mask in batches:
            outs.append(model(ids, mask, trace()))
        t, cpu = time.perf_counter() - t0, time.process_time() - c0
    if a.preds:
        pred = [None] * len(seqs)
        for chunk, z in zip(order, outs):
            for i, k in zip(chunk, z.argmax(dim=1).tolist()):
                pred[i] = labels[k]
        with open(a.preds, "w") as f:
            f.write("\n".join(pred) + "\n")
    print("JSON " + json.dumps({"bench": "predict", "mode": "bulk", "impl": "torch", "tag": a.tag,
                                "model": os.path.basename(os.path.normpath(a.ckpt)), "threads": a.threads,
                                "batch": a.batch, "lines": len(seqs), "real_tokens": real,
                                "batches": len(batches), "t_s": t, "cpu_s": cpu, "lines_s": len(seqs) / t,
                                "load": os.getloadavg()[0]}), flush=True)
    sys.exit(0)

# stream
with open(a.lines, "rb") as f:
    raw = [line.rstrip(b"\n") for line in f]
table = {}
for text, s in zip(raw, seqs):
    table[text] = torch.tensor([s], dtype=torch.long)
out = sys.stdout.buffer
inp = sys.stdin.buffer
with torch.no_grad():
    for T in sorted({len(s) for s in seqs}):   # warm-up: every length once (start-up time)
        model(torch.full((1, T), 1000, dtype=torch.long), torch.ones(1, T, dtype=torch.long), trace())
    while True:
        line = inp.readline()
        if not line:
            break
        text = line.rstrip(b"\n")
        ids = table[text]
        p = torch.softmax(model(ids, torch.ones_like(ids), trace()), dim=1)[0]
        k = int(p.argmax())
        out.write(b"%s\t%.6f\t%s\n" % (labels[k].encode(), float(p[k]), text))
        out.flush()
