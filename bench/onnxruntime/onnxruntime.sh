#!/usr/bin/env bash
# The moonshot of the engine issue: inference throughput (batch 64, seq 32 and 128) and
# batch-1 latency (seq 32) against ONNX Runtime 1.17.3, side by side in one run, on the
# anchors' four shapes.  ONNX Runtime ships its own kernels (AVX-512 where the CPU has them)
# and ignores OpenBLAS's variables; the engine is run twice, with the environment as set
# (OPENBLAS_CORETYPE=Haswell: AVX2 kernels on both our side and OpenBLAS's) and with the two
# OpenBLAS variables unset (AVX-512: OpenBLAS picks Cooperlake and our packed GEMM follows).
#
#   bench/onnxruntime/onnxruntime.sh [threads=2] [configs=bert-base,distil,bert-mini,bert-tiny]
#
# Needs onnxruntime-node once, outside the project (npm registry): ORT_NODE_DIR=/path with
#   mkdir -p "$ORT_NODE_DIR" && cd "$ORT_NODE_DIR" && npm install --ignore-scripts onnxruntime-node@1.17.3
# (default ORT_NODE_DIR /work/scratch/ort).  The models are the anchors' export_onnx.py
# (random weights, HF BERT structure) written to a temp dir.  Lines: the anchors' JSON, then
# one `JSON {"bench":"onnxruntime",...}` per point and environment with ours / ORT time.
set -eu
cd "$(dirname "$0")/../.."
threads=${1:-2}
configs=${2:-bert-base,distil,bert-mini,bert-tiny}
anchors=${ANCHORS:-../shared/anchors}
ort=${ORT_NODE_DIR:-/work/scratch/ort}
[ -d "$ort/node_modules/onnxruntime-node" ] || {
    echo "onnxruntime.sh: no onnxruntime-node in $ort (see the header)" >&2; exit 1; }
mkdir -p bench/out
make -s bench/out/engine
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
/usr/bin/python3 "$anchors/export_onnx.py" "$w/models" > /dev/null
# the ORT script runs all four shapes; keep the asked ones
out=bench/out/onnxruntime.txt
: > "$out"
NODE_PATH="$ort/node_modules" node "$anchors/ort_bench.js" "$w/models" "$threads" | tee -a "$out"
TUNE=(GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184)
for envname in haswell avx512; do
    if [ "$envname" = haswell ]; then E=(env OPENBLAS_CORETYPE=Haswell); else E=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE); fi
    "${E[@]}" "${TUNE[@]}" bench/out/engine --threads "$threads" --mode infer --configs "$configs" --seqs 32,128 \
        --tag "c-$envname" --warmup 2 --min-iters 3 --max-iters 30 --min-time 3 | tee -a "$out"
    "${E[@]}" "${TUNE[@]}" bench/out/engine --threads "$threads" --mode latency --configs "$configs" --seqs 32 \
        --tag "c-$envname" --warmup 5 --min-iters 10 --max-iters 300 --min-time 3 | tee -a "$out"
done
sed -n 's/^JSON //p' "$out" | jq -c -s --arg configs "$configs" '
    def key: "\(.mode) \(.config) \(.batch) \(.seq)";
    ([.[] | select(.tag == "ort") | {key: key, value: .}] | from_entries) as $ort
    | .[] | select(.tag | startswith("c-")) | . as $c | $ort[$c | key] as $o | select($o != null)
    | {bench: "onnxruntime", env: ($c.tag | ltrimstr("c-")), ob_core: $c.ob_core, mode: $c.mode,
       config: $c.config, batch: $c.batch, seq: $c.seq, threads: $c.threads,
       c_t: $c.t_med, ort_t: $o.t_med, speedup: ($o.t_med / $c.t_med)}' | sed 's/^/JSON /' | tee -a "$out"
