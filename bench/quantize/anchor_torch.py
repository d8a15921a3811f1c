#!/usr/bin/python3
"""emo ckpt quantize benchmark, PyTorch side (run by bench/quantize/quantize.sh).

  anchor_torch.py CKPT_DIR BATCH SEQ --threads T [--min-time S] [--min-iters N]

The model is the float checkpoint itself: tests/gen/torch_ref.py's pure-PyTorch copy of
Hugging Face's *ForSequenceClassification (nn.Linear layers, eager attention), its weights
read from CKPT_DIR/model.safetensors, eval mode, no_grad.  Timed: the float model, then
torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8) under every
quantized engine this torch has (Debian's 1.13: onednn and qnnpack, no fbgemm), each on the
same BATCH x SEQ random ids (all SEQ long), two warm-up forwards, then until min-time
seconds and min-iters forwards.  One JSON line per variant: median wall ms and samples/s,
median CPU ms (the process's, every thread), and the int8 model's argmax agreement with
the float model on the timed batch.
"""
import argparse, copy, json, os, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("ckpt")
ap.add_argument("batch", type=int)
ap.add_argument("seq", type=int)
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--min-time", type=float, default=1.5)
ap.add_argument("--min-iters", type=int, default=3)
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


class Drop(list):
    """The reference keeps every hidden state and attention map it is handed; not here."""
    def append(self, x):
        pass


def trace():
    return {"hidden": Drop(), "attn": Drop()}


g = torch.Generator().manual_seed(1234)
ids = torch.randint(1000, cfg["vocab_size"], (a.batch, a.seq), generator=g)
ids[:, 0] = 101
mask = torch.ones_like(ids)


def timed(m):
    walls, cpus = [], []
    with torch.no_grad():
        for _ in range(2):
            out = m(ids, mask, trace())
        t_start = time.perf_counter()
        while True:
            w0, c0 = time.perf_counter(), time.process_time()
            out = m(ids, mask, trace())
            w1, c1 = time.perf_counter(), time.process_time()
            walls.append(w1 - w0)
            cpus.append(c1 - c0)
            if len(walls) >= a.min_iters and w1 - t_start >= a.min_time:
                break
    walls.sort()
    cpus.sort()
    return walls[len(walls) // 2], cpus[len(cpus) // 2], out


def load1():
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except OSError:
        return -1.0


name = os.path.basename(os.path.normpath(a.ckpt))
wall, cpu, ref = timed(model)
row = dict(side="torch", model=name, variant="float32", batch=a.batch, seq=a.seq, threads=a.threads)
print(json.dumps(dict(row, median_ms=round(1e3 * wall, 4), cpu_ms=round(1e3 * cpu, 4),
                      samples_per_s=round(a.batch / wall, 1), load1=load1())), flush=True)
for engine in torch.backends.quantized.supported_engines:
    if engine == "none":
        continue
    torch.backends.quantized.engine = engine
    q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
    wall, cpu, out = timed(q)
    agree = (out.argmax(1) == ref.argmax(1)).float().mean().item()
    print(json.dumps(dict(row, variant="dynamic int8 " + engine, median_ms=round(1e3 * wall, 4),
                          cpu_ms=round(1e3 * cpu, 4), samples_per_s=round(a.batch / wall, 1),
                          argmax_agreement=round(agree, 4), load1=load1())), flush=True)
