"""PyTorch DistributedDataParallel (gloo) anchor of bench/mpi/mpi.sh: the anchor's bert
(torch_bert.py BertClassifier, imported from --anchors) trained data-parallel on N
processes of T threads, each taking B/N rows of a global batch of B random sequences of S
tokens; AdamW, cross-entropy.  Prints one "JSON {...}" line: samples/s of the global batch
over the timed steps (after warm-up) and the share of rank 0's step time spent in DDP's
all-reduce wait (from the autograd profiler is too heavy: measured as the time of a
separate all_reduce of the gradient bytes, so it is an estimate, labelled as such).

  /usr/bin/python3 anchor_torch_ddp.py --anchors DIR --config bert-mini --ranks 2 --threads 1 \
      --batch 32 --seq 32 --steps 20 --warmup 3
"""
import argparse, json, os, sys, time

def worker(rank, a):
    sys.argv = ["torch_bert.py", "--threads", str(a.threads)]
    sys.path.insert(0, a.anchors)
    import torch_bert as tb
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(a.port)
    dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    torch.manual_seed(0)
    L, H, A, I = tb.CONFIGS[a.config]
    model = tb.BertClassifier(L, H, A, I)
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(ddp.parameters(), lr=5e-5, weight_decay=0.01)
    lossf = nn.CrossEntropyLoss()
    b = a.batch // a.ranks
    g = torch.Generator().manual_seed(rank)
    ids = torch.randint(1000, 20000, (b, a.seq), generator=g)
    tt = torch.zeros_like(ids)
    mask = torch.ones_like(ids)
    y = torch.randint(0, 6, (b,), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(ddp(ids, tt, mask), y)
        loss.backward()
        opt.step()
    for _ in range(a.warmup):
        step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dist.barrier()
    t = time.perf_counter() - t0
    # the all-reduce alone, on a buffer of the gradients' size (an estimate of its cost)
    flat = torch.zeros(sum(p.numel() for p in model.parameters()))
    t1 = time.perf_counter()
    for _ in range(5):
        dist.all_reduce(flat)
    tar = (time.perf_counter() - t1) / 5
    if rank == 0:
        rec = dict(bench="mpi", impl="torch-ddp-gloo", config=a.config, ranks=a.ranks, threads=a.threads,
                   batch=a.batch, seq=a.seq, steps=a.steps, t=t, samples_s=a.steps * a.batch / t,
                   step_ms=1e3 * t / a.steps, allreduce_ms_alone=1e3 * tar, load1=os.getloadavg()[0],
                   torch=torch.__version__)
        print("JSON " + json.dumps(rec), flush=True)
    # destroy_process_group() can hang when one rank leaves before the other (seen with
    # gloo in torch 1.13): meet, then leave without tearing the group down
    dist.barrier()
    os._exit(0)

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--anchors", required=True)
    p.add_argument("--config", default="bert-mini")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--port", type=int, default=29517)
    a = p.parse_args()
    import torch.multiprocessing as mp
    mp.spawn(worker, args=(a,), nprocs=a.ranks, join=True)

if __name__ == "__main__":
    main()
