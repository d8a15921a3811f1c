#!/usr/bin/python3
"""Epoch benchmark, PyTorch side and the batch sample (run by bench/epoch/epoch.sh).

  anchor_torch.py sample DUMP.jsonl OUT --batches N --batch B --seed S
      From `emo dump` lines (input_ids, label) of the tokenized corpus: a seeded random
      shuffle cut into batches of B, the first N batches (N = 0: every full batch) written as
      "# records R" then one "label id,id,..." line per sequence (labels by sorted name).
  anchor_torch.py run SAMPLE --anchors DIR --config NAME --threads T --mode train|infer
      The anchor's model (torch_bert.py BertClassifier, imported from DIR) over the sample's
      batches, each padded to --pad (128, the paper's setup) with the attention mask, as the
      anchor's train step (zero_grad, forward with dropout, cross-entropy, backward, AdamW
      lr 5e-5 wd 0.01) or a no_grad forward.  Prints one JSON line like bench/epoch/epoch.c.
"""
import argparse, json, os, random, sys, time


def sample(a):
    recs = []
    with open(a.dump) as f:
        for line in f:
            r = json.loads(line)
            recs.append((r.get("label", ""), r["input_ids"]))
    names = sorted({lab for lab, _ in recs})
    idx = list(range(len(recs)))
    random.Random(a.seed).shuffle(idx)
    nb = len(idx) // a.batch if a.batches == 0 else min(a.batches, len(idx) // a.batch)
    with open(a.out, "w") as f:
        f.write(f"# records {len(recs)}\n")
        for i in idx[:nb * a.batch]:
            lab, ids = recs[i]
            f.write(f"{names.index(lab) % 6} {','.join(map(str, ids))}\n")


def run(a):
    # the anchor parses its own options at import and sets the thread variables before torch
    sys.argv = ["torch_bert.py", "--threads", str(a.threads)]
    sys.path.insert(0, a.anchors)
    import torch_bert as tb
    import torch
    import torch.nn as nn
    with open(a.sample) as f:
        records = int(f.readline().split()[2])
        seqs = []
        for line in f:
            lab, ids = line.split()
            seqs.append((int(lab), [int(x) for x in ids.split(",")][:a.pad]))
    B = a.batch
    nb = len(seqs) // B
    batches = []
    real = 0
    for k in range(nb):
        chunk = seqs[k * B:(k + 1) * B]
        ids = torch.zeros(B, a.pad, dtype=torch.long)
        mask = torch.zeros(B, a.pad, dtype=torch.long)
        for b, (_, s) in enumerate(chunk):
            ids[b, :len(s)] = torch.tensor(s)
            mask[b, :len(s)] = 1
            real += len(s)
        y = torch.tensor([lab for lab, _ in chunk])
        batches.append((ids, torch.zeros(B, a.pad, dtype=torch.long), mask, y))
    L, H, A, I = tb.CONFIGS[a.config]
    torch.manual_seed(0)
    model = tb.BertClassifier(L, H, A, I)
    if a.mode == "train":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
        lossf = nn.CrossEntropyLoss()

        def step(ids, tt, mask, y):
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(ids, tt, mask), y)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step(ids, tt, mask, y):
            with torch.no_grad():
                model(ids, tt, mask)
    for k in range(a.warmup):
        step(*batches[k % nb])
    total = 0.0
    for bt in batches:
        t0 = time.perf_counter()
        step(*bt)
        total += time.perf_counter() - t0
    epoch_batches = (records + B - 1) // B
    per = total / nb
    print(f"{a.config:10s} {a.mode}: {nb} batches of {B} padded to {a.pad} in {total:.3f} s "
          f"({per * 1e3:.2f} ms/batch, {nb * B / total:.0f} samples/s); epoch of {records} records "
          f"~ {per * epoch_batches:.1f} s", flush=True)
    rec = dict(bench="epoch", tag=a.tag, impl="torch", padding=f"pad{a.pad}", mode=a.mode,
               config=a.config, batch=B, threads=a.threads, batches=nb, tokens_real=real,
               tokens_padded=nb * B * a.pad, t_sample=total, t_per_batch=per,
               samples_s=nb * B / total, epoch_records=records, epoch_batches=epoch_batches,
               t_epoch_est=per * epoch_batches, load1=os.getloadavg()[0],
               ob_core=tb.OB_CORE, torch=torch.__version__)
    print("JSON " + json.dumps(rec), flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("dump")
    s.add_argument("out")
    s.add_argument("--batches", type=int, default=50)
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("sample")
    r.add_argument("--anchors", required=True)
    r.add_argument("--config", default="bert-mini")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--mode", choices=["train", "infer"], default="train")
    r.add_argument("--batch", type=int, default=32)
    r.add_argument("--pad", type=int, default=128)
    r.add_argument("--warmup", type=int, default=2)
    r.add_argument("--tag", default="tuned")
    a = ap.parse_args()
    (sample if a.cmd == "sample" else run)(a)


if __name__ == "__main__":
    main()
