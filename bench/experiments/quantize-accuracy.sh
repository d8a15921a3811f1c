#!/usr/bin/env bash
# bench/experiments/quantize-accuracy.sh CKPT:RECORDS...  what int8 costs in accuracy on
# trained checkpoints (issue 16): each checkpoint and its `emo ckpt quantize` copy (default
# scheme) run by `emo teacher-logits` over the same labelled token records (the held-out
# test split); per checkpoint: float and int8 accuracy and weighted F1, the change per class
# (F1), the share of argmax agreements, the logits' relative RMS error, and both sizes.
# Env: THREADS (1), SCHEME (the tool's default), KEEP (none: every linear layer int8).
# Prints a markdown table on stderr and one JSON line per checkpoint on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$here/bin:$PATH"
[ $# -ge 1 ] || { echo "usage: bench/experiments/quantize-accuracy.sh CKPT:RECORDS..." >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
for pair in "$@"; do
    ckpt=${pair%%:*} rec=${pair#*:}
    [ -f "$ckpt/config.json" ] && [ -f "$rec" ] || { echo "quantize-accuracy: $pair: not CKPT:RECORDS" >&2; exit 2; }
    i=$((i + 1))
    emo ckpt quantize ${SCHEME:+--scheme "$SCHEME"} ${KEEP:+--keep "$KEEP"} -m "$ckpt" -o "$tmp/q$i" 2> /dev/null
    for side in f q; do
        m=$ckpt; [ $side = q ] && m=$tmp/q$i
        emo teacher-logits -m "$m" --threads "${THREADS:-1}" "$rec" 2> /dev/null > "$tmp/$side$i.rec"
        emo eval --json -m "$m" "$tmp/$side$i.rec" > "$tmp/$side$i.json"
        emo dump "$tmp/$side$i.rec" > "$tmp/$side$i.jsonl"
    done
    python3 - "$ckpt" "$tmp" "$i" "$(stat -c %s "$ckpt/model.safetensors")" "$(stat -c %s "$tmp/q$i/model.safetensors")" <<'PY'
import json, math, sys
ckpt, tmp, i, fb, qb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
f = json.load(open(f"{tmp}/f{i}.json")); q = json.load(open(f"{tmp}/q{i}.json"))
fl = [json.loads(l)["logits"] for l in open(f"{tmp}/f{i}.jsonl")]
ql = [json.loads(l)["logits"] for l in open(f"{tmp}/q{i}.jsonl")]
top = lambda l: max(range(len(l)), key=lambda k: l[k])
agree = sum(top(a) == top(b) for a, b in zip(fl, ql)) / len(fl)
num = sum((x - y) ** 2 for a, b in zip(fl, ql) for x, y in zip(a, b))
den = sum(x * x for a in fl for x in a)
def per_class(r):
    pc = r.get("per_class") or r.get("classes") or {}
    if isinstance(pc, list):
        return {c.get("label", c.get("name")): c["f1"] for c in pc}
    return {k: v["f1"] for k, v in pc.items()}
fc, qc = per_class(f), per_class(q)
delta = {k: round(100 * (qc[k] - fc[k]), 2) for k in fc if k in qc}
row = {"model": ckpt, "records": len(fl), "float_accuracy": f["accuracy"], "int8_accuracy": q["accuracy"],
       "float_f1_weighted": f["weighted_avg"]["f1"], "int8_f1_weighted": q["weighted_avg"]["f1"],
       "argmax_agreement": agree, "logits_rel_rms": math.sqrt(num / den),
       "float_bytes": fb, "int8_bytes": qb, "f1_change_points": delta}
print("JSON " + json.dumps(row))
PY
done > "$tmp/rows"
grep '^JSON ' "$tmp/rows" | sed 's/^JSON //' | tee "$tmp/rows.jsonl" | jq -r -s '
  "| model | float acc | int8 acc | change (points) | argmax agreement | logits rel. RMS | size int8/float | F1 change per class (points) |",
  "|---|--:|--:|--:|--:|--:|--:|---|",
  (.[] | "| \(.model) | \(.float_accuracy * 10000 | round / 10000) | \(.int8_accuracy * 10000 | round / 10000) | \((.int8_accuracy - .float_accuracy) * 10000 | round / 100) | \(.argmax_agreement * 10000 | round / 100)% | \(.logits_rel_rms * 10000 | round / 100)% | \(.int8_bytes / .float_bytes * 1000 | round / 1000) | \(.f1_change_points | to_entries | map("\(.key) \(.value)") | join(", ")) |")' >&2
cat "$tmp/rows.jsonl"
