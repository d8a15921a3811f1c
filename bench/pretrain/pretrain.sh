#!/usr/bin/env bash
# Masked-LM training throughput of emo pretrain beside PyTorch 1.13, on the same model and
# the same batches (the masked ids, lengths and masked positions emo pretrain trains on,
# dumped with EMO_PRETRAIN_DUMP_BATCHES), in one run.  Issue 8's target: real tokens/s at
# least 1.5x PyTorch's.
#
#   bench/pretrain/pretrain.sh [RECORDS] [threads] [config]     (default: 1280 2 bert-mini, a smoke run)
# RECORDS tweets from ../shared/data/emotion/unlabeled.txt, one epoch, batch 64 (emo
# pretrain's default), --holdout 0.  Both sides time the whole epoch (first steps included);
# tokens = real (unpadded) tokens.  Prints JSON lines for both and a ratio line.
set -eu
cd "$(dirname "$0")/../.."
records=${1:-1280}
threads=${2:-2}
config=${3:-bert-mini}
shared=${SHARED:-../shared}
V=$shared/data/bert-base-uncased/vocab.txt
make -s bin/emo-pretrain bin/emo-clean bin/emo-tokenize
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
head -n "$records" "$shared/data/emotion/unlabeled.txt" > "$w/u.txt"
bin/emo-clean --format lines -q "$w/u.txt" | bin/emo-tokenize --vocab "$V" --max-len 128 -o "$w/u.rec"
TUNE=(OMP_WAIT_POLICY=PASSIVE
      GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184)
args=(--train "$w/u.rec" --config "$config" --vocab "$V" --epochs 1 --holdout 0 --threads "$threads" -q)
EMO_PRETRAIN_DUMP_BATCHES=$w/batches.bin bin/emo-pretrain "${args[@]}" -o "$w/dump"
env "${TUNE[@]}" /usr/bin/python3 bench/pretrain/anchor_torch.py --batches "$w/batches.bin" --config "$config" \
    --threads "$threads" | tee "$w/torch.txt"
t0=$(date +%s.%N)
env "${TUNE[@]}" bin/emo-pretrain "${args[@]}" -o "$w/c"
t1=$(date +%s.%N)
/usr/bin/python3 - "$w" "$t0" "$t1" "$threads" "$config" <<'PY'
import json, sys
w, t0, t1, threads, config = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch = json.loads([l for l in open(w + "/torch.txt") if l.startswith("JSON ")][-1][5:])
ep = [json.loads(l) for l in open(w + "/c/train_log.jsonl") if '"train_loss"' in l][-1]
c = dict(tag="c", impl="c", mode="mlm-train", config=config, batch=torch["batch"], threads=threads,
         steps=ep["step"], tokens=torch["tokens"], masked=torch["masked"], t_total=torch["tokens"] / ep["tokens_per_s"],
         tokens_s=ep["tokens_per_s"], samples_s=ep["samples_per_s"], train_loss=ep["train_loss"],
         wall_incl_start_and_checkpoint=t1 - t0)
print(f"c     {config} b{c['batch']}: {c['steps']} steps in {c['t_total']:.1f} s, {c['tokens_s']:.0f} real tokens/s")
print("JSON " + json.dumps(c))
r = dict(tag="ratio", mode="mlm-train", config=config, batch=c["batch"], threads=threads, steps=c["steps"],
         speedup=c["tokens_s"] / torch["tokens_s"])
print(f"speedup (real tokens/s, C / PyTorch): {r['speedup']:.2f}x")
print("JSON " + json.dumps(r))
PY
