#!/usr/bin/env bash
# What the int8 schemes of lib/nn/qgemm.h cost in accuracy on trained checkpoints, before
# the int8 forward exists: every linear layer's weights and input rows rounded to the
# scheme's grid inside the float engine (bench/qgemm/qgemm_fakequant.h, "fake quantisation",
# equal to the int8 kernels' output to a few ulps), against the float forward on the same
# records.  Per checkpoint and scheme (float, w7, a7, s8): test accuracy, agreement of the
# argmax with the float model, the logits' relative RMS error, the largest logit change.
#   bench/qgemm/qgemm-accuracy.sh RECORDS CKPT...     (THREADS=1; labelled token records)
set -eu
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: bench/qgemm/qgemm-accuracy.sh RECORDS CKPT..." >&2; exit 2; }
rec=$1; shift
make -s all bench/out/qgemm_fq_logits
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ckpt in "$@"; do
    for s in float w7 a7 s8; do
        EMO_FQ=$s bench/out/qgemm_fq_logits -m "$ckpt" --threads "${THREADS:-1}" "$rec" | bin/emo dump > "$tmp/$s.jsonl"
    done
    python3 - "$ckpt" "$tmp" <<'PY'
import json, math, sys
ckpt, tmp = sys.argv[1], sys.argv[2]
cfg = json.load(open(ckpt + "/config.json"))
names = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
def load(s): return [json.loads(line) for line in open(f"{tmp}/{s}.jsonl")]
def top(l): return max(range(len(l)), key=lambda i: l[i])
base = load("float")
for s in ["float", "w7", "a7", "s8"]:
    d = load(s)
    agree = sum(top(a["logits"]) == top(b["logits"]) for a, b in zip(base, d))
    right = sum(names[top(b["logits"])] == b["label"] for b in d)
    se = sum((x - y) ** 2 for a, b in zip(base, d) for x, y in zip(a["logits"], b["logits"]))
    sn = sum(x * x for a in base for x in a["logits"])
    dmax = max(abs(x - y) for a, b in zip(base, d) for x, y in zip(a["logits"], b["logits"]))
    print("JSON " + json.dumps({"bench": "qgemm-accuracy", "ckpt": ckpt, "scheme": s, "records": len(d),
          "accuracy": round(right / len(d), 5), "argmax_agreement": round(agree / len(d), 5),
          "logit_rel_rms": round(math.sqrt(se / sn), 5), "logit_max_abs_diff": round(dmax, 4)}))
PY
done
