#!/usr/bin/env bash
# int8 checkpoints (emo ckpt quantize, issue 16) against float ones and against PyTorch's
# dynamic int8, in the same run: for each preset, a random-weight checkpoint (emo ckpt init;
# speed and size do not depend on the weights) and its int8 copy; the inference forward of
# each (bench/out/quantize_fwd: what emo teacher-logits and emo predict run per batch) at
# b64 s32 (samples/s) and b1 s32 (latency), beside bench/quantize/anchor_torch.py (the same
# float checkpoint in PyTorch, float and torch.ao.quantization.quantize_dynamic qint8 under
# every engine this torch has); and model.safetensors' size ratio.
#
#   bench/quantize/quantize.sh [threads=2] [min_time=1.5] [min_iters=3]
# Env: PRESETS (default "bert-tiny distilbert-mini bert-mini bert-base"), BATCHES (default
# "64 1": b64 s32 and b1 s32).  Two warm-up
# forwards on each side, then until min_time seconds and min_iters forwards.  Results: bench/out/quantize.jsonl (one JSON line per
# point) and the table on stdout: wall and CPU time per forward (the CPU time, the process's
# every thread, is the less disturbed figure on a shared machine); "int8/float" and "vs
# torch int8" are speed-ups (>1: ours faster), torch's best engine per point by wall time.
set -eu
cd "$(dirname "$0")/../.."
threads=${1:-2}
min_time=${2:-1.5}
min_iters=${3:-3}
PRESETS=${PRESETS:-"bert-tiny distilbert-mini bert-mini bert-base"}
BATCHES=${BATCHES:-"64 1"}
make -s all bench/out/quantize_fwd
out=bench/out/quantize.jsonl
work=bench/out/quantize
mkdir -p "$work"
: > "$out"
for p in $PRESETS; do
    [ -d "$work/$p" ] || bin/emo ckpt init --labels sadness,joy,love,anger,fear,surprise -o "$work/$p" "$p"
    rm -rf "$work/$p-int8"
    bin/emo ckpt quantize -m "$work/$p" -o "$work/$p-int8" 2> /dev/null
    f=$(stat -c %s "$work/$p/model.safetensors") q=$(stat -c %s "$work/$p-int8/model.safetensors")
    echo "{\"side\":\"size\",\"model\":\"$p\",\"float_bytes\":$f,\"int8_bytes\":$q}" | tee -a "$out"
    for b in $BATCHES; do
        for d in "$p" "$p-int8"; do
            bench/out/quantize_fwd "$work/$d" "$b" 32 "$threads" "$min_time" "$min_iters" | tee -a "$out"
        done
        OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/quantize/anchor_torch.py "$work/$p" "$b" 32 \
            --threads "$threads" --min-time "$min_time" --min-iters "$min_iters" 2> /dev/null | tee -a "$out"
    done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
models = []
for r in rows:
    if r["side"] == "size":
        models.append(r["model"])
print("| model | batch | float ms (cpu) | int8 ms (cpu) | int8/float wall (cpu) | torch float ms | torch int8 best ms (cpu, engine) | vs torch int8 wall (cpu) | size int8/float |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
for m in models:
    size = next(r for r in rows if r["side"] == "size" and r["model"] == m)
    for b in (64, 1):
        pts = [r for r in rows if r.get("batch") == b and r["model"] in (m, m + "-int8")]
        if not pts:
            continue
        fl = next(r for r in pts if r["side"] == "emokd" and not r["int8"])
        q8 = next(r for r in pts if r["side"] == "emokd" and r["int8"])
        tf = next(r for r in pts if r["side"] == "torch" and r["variant"] == "float32")
        tq = min((r for r in pts if r["side"] == "torch" and r["variant"] != "float32"), key=lambda r: r["median_ms"])
        print("| %s | %d | %.2f (%.2f) | %.2f (%.2f) | %.2fx (%.2fx) | %.2f | %.2f (%.2f, %s) | %.2fx (%.2fx) | %.3f |" % (
            m, b, fl["median_ms"], fl["cpu_ms"], q8["median_ms"], q8["cpu_ms"],
            fl["median_ms"] / q8["median_ms"], fl["cpu_ms"] / q8["cpu_ms"], tf["median_ms"],
            tq["median_ms"], tq["cpu_ms"], tq["variant"].split()[-1],
            tq["median_ms"] / q8["median_ms"], tq["cpu_ms"] / q8["cpu_ms"], size["int8_bytes"] / size["float_bytes"]))
loads = [r["load1"] for r in rows if "load1" in r]
print("load average (1 min) during the run: %.1f-%.1f" % (min(loads), max(loads)))
PY
