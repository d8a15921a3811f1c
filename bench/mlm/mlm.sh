#!/usr/bin/env bash
# Masked-LM training step (issue 8): the C engine beside PyTorch, same model, same batches,
# same run.  bert-mini, batch 32, lengths uniform in [seq/4, seq], 15% of the real
# non-special tokens masked.  See bench/README.md ("Masked-LM step").
#
#   bench/mlm/mlm.sh [min_time_s] [threads] [config] [seq]     (default: 20 2 bert-mini 64)
# Env: TORCH_HEADS ("hf gather").  Last line: the speed-ups in real tokens/s.
set -eu
cd "$(dirname "$0")/../.."
min_time=${1:-20}
threads=${2:-2}
config=${3:-bert-mini}
seq=${4:-64}
mkdir -p bench/out
make -s bench/out/mlm_step
batches=bench/out/mlm-batches.bin
bench/out/mlm_step --write-batches "$batches" --config "$config" --batch 32 --seq "$seq" --nb 8
TUNE=(OMP_WAIT_POLICY=PASSIVE
      GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184)
out=bench/out/mlm.txt
env "${TUNE[@]}" bench/out/mlm_step --batches "$batches" --config "$config" --threads "$threads" \
    --min-time "$min_time" | tee "$out"
for h in ${TORCH_HEADS:-hf gather}; do
  env "${TUNE[@]}" /usr/bin/python3 bench/mlm/anchor_torch.py --batches "$batches" --config "$config" \
      --threads "$threads" --min-time "$min_time" --head "$h" --tag "torch-$h" | tee -a "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l[5:]) for l in open(sys.argv[1]) if l.startswith("JSON ")]
c = next(r for r in rows if r["impl"] == "c")
out = {"config": c["config"], "seq": c["seq"], "threads": c["threads"], "c_real_tokens_s": round(c["real_tokens_s"])}
for r in rows:
    if r["impl"] == "torch":
        out["speedup_vs_torch_" + r["head"]] = round(c["real_tokens_s"] / r["real_tokens_s"], 3)
print("JSON " + json.dumps({"mlm_speedup": out}))
PY
