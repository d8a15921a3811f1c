#!/bin/sh
# ratios.sh [LOG...]: the table of ratios at the end of bench/run.sh, from the `JSON {...}`
# lines of the benchmarks' output (files, or standard input); other lines are ignored.
# One row per comparison made in the run, ours beside its anchor measured in the same run
# (scripts under bench/):
#   engine (engine/engine.sh)     C engine vs PyTorch 1.13 "tuned", per mode/config/batch/seq/
#                                 threads (train and infer: samples/s; latency: ms per batch-1
#                                 call); with rounds, the median of the rounds' ratios (ours and
#                                 the anchor columns: the median times)
#   pretrain (pretrain/pretrain.sh)  emo pretrain vs PyTorch 1.13 on the same batches, real
#                                 tokens/s
#   masked-LM step (mlm/mlm.sh)   the engine's MLM step vs PyTorch's (HF all-position and
#                                 gathered heads), real tokens/s
#   tsne (tsne/tsne.sh)           emo tsne vs scikit-learn 1.2 TSNE, seconds, with both final KLs
#   metrics (metrics/metrics.sh)  emo eval + confusion vs scikit-learn, seconds
#   tokenize (tokenize/tokenize.sh)  emo tokenize vs Hugging Face tokenizers (Rust), best MB/s
#   foundation (foundation/foundation.sh)  clean and split vs the Python anchor (wall speedup
#                                 only), and the clean|tokenize|split pipeline against its 20 s
#                                 budget
#   onnxruntime (onnxruntime/onnxruntime.sh)  engine inference/latency vs ONNX Runtime 1.17.3, ms
#   teacher-logits (teacher-logits/teacher-logits.sh)  the whole `emo teacher-logits` command
#                                 vs the PyTorch anchor's forwards over the same batches, seconds
#   cache (cache/cache-overhead.sh, cache/cache-size.sh)  cache mode vs plain inference
#                                 (seconds), full-corpus cache size vs the naive fp32 layout (GB)
#   epoch (epoch/epoch.sh)        real-corpus epoch, C dynamic padding vs PyTorch padded to 128
#   train peak RSS (engine/memory.sh)  C engine vs PyTorch, MB
#   AdamW (optim/optim.sh)        adamw_step vs the scalar loop it replaced (not an anchor)
#   int8 linear (qgemm/qgemm.sh)  the dynamic int8 layer (quantisation + int8 GEMM) per path
#                                 vs the engine's float GEMM on AVX2 (not an anchor), best of reps
#   predict (predict/predict.sh)  bulk: emo predict lines/s vs PyTorch forwards on the same
#                                 batches, vs the five-process pipeline, vs fastText predict-prob
#                                 (medians of paired rounds); stream: p50 latency vs the PyTorch
#                                 per-line loop, with the latency beyond the b1 forward
# "ratio" is always oriented so that > 1 means ours is better (faster, or smaller):
# anchor time / our time, our rate / anchor rate, anchor size / our size.
set -eu
command -v jq > /dev/null || { echo "ratios.sh: jq not found" >&2; exit 1; }
cat "$@" | sed -n 's/^JSON //p' | jq -r -s '
def r2: if . == null then "" else (. * 100 | round / 100 | tostring | if test("\\.") then . + "00" | .[0:(index(".") + 3)] else . + ".00" end) end;
def num: if . == null then "" elif . >= 100 then (round | tostring) else r2 end;
def row(b; p; o; a; r; n): "| \(b) | \(p) | \(o) | \(a) | \(if r == null then "" else (r | r2) + "x" end) | \(n) |";
# the engine pairs: a C point and the torch "tuned" point with the same key
def key: "\(.mode) \(.config) b\(.batch) s\(.seq) t\(.threads)";
def point: "\(.config) b\(.batch) s\(.seq) t\(.threads)";
. as $all
| ([ $all[] | select(.tag == "tuned" and .t_med != null) | {key: key, value: .} ] | from_entries) as $torch
# bench/engine/engine.sh with rounds prints one summary per point (median of the rounds ratios):
# then those rows replace the pairing of single points
| ([ $all[] | select(.tag == "ratio" and .bench == "engine") ] | length > 0) as $rounds
| "| benchmark | point | ours | anchor | ratio | note |",
  "|---|---|--:|--:|--:|---|",
  ( $all[] |
    if .tag == "ratio" and .bench == "engine" then
        row("engine \(.mode)"; point;
            if .mode == "latency" then "\(.c_t_med * 1000 | r2) ms" else "\(.batch / .c_t_med | num) samples/s" end;
            if .mode == "latency" then "\(.torch_t_med * 1000 | r2) ms" else "\(.batch / .torch_t_med | num) samples/s" end;
            .speedup_median; "vs PyTorch 1.13, median of \(.rounds) rounds")
    elif .tag == "c" and .impl == "c" and .t_med != null and (.mode | IN("train", "infer", "latency")) and ($rounds | not) then
        (key as $k | $torch[$k]) as $t
        | if $t == null then row("engine \(.mode)"; point; "\(.samples_s | num) samples/s"; "(no PyTorch point)"; null; "")
          elif .mode == "latency" then
              row("engine latency"; point; "\(.t_med * 1000 | r2) ms"; "\($t.t_med * 1000 | r2) ms"; $t.t_med / .t_med; "vs PyTorch 1.13")
          else
              row("engine \(.mode)"; point; "\(.samples_s | num) samples/s"; "\($t.samples_s | num) samples/s"; $t.t_med / .t_med; "vs PyTorch 1.13")
          end
    elif .tag == "ratio" and .mode == "mlm-train" then
        (. as $r | [$all[] | select(.tag == "c" and .mode == "mlm-train" and .config == $r.config
                                    and .threads == $r.threads and .batch == $r.batch)] | last) as $c
        | row("pretrain (masked LM)"; "\(.config) b\(.batch) t\(.threads), \(.steps) steps";
              if $c == null then "" else "\($c.tokens_s | num) tokens/s" end;
              if $c == null then "" else "\($c.tokens_s / .speedup | num) tokens/s" end; .speedup; "vs PyTorch 1.13, real tokens")
    elif .mlm_speedup != null then
        .mlm_speedup as $m | ($m | keys[] | select(startswith("speedup_vs_torch_"))) as $k
        | row("engine masked-LM step"; "\($m.config) s\($m.seq) t\($m.threads), PyTorch head \($k | ltrimstr("speedup_vs_torch_"))";
              "\($m.c_real_tokens_s | num) tokens/s"; "\($m.c_real_tokens_s / $m[$k] | num) tokens/s"; $m[$k];
              "vs PyTorch 1.13, real tokens")
    elif .tag == "ratio" and .bench == "tsne" then
        row("tsne"; "n \(.n // "?")"; "\(.c_s | r2) s"; "\(.sklearn_s | r2) s"; .speedup;
            if .kl_exact_c != null then
                "vs scikit-learn; exact KL under the sklearn P \(.kl_exact_c * 10000 | round / 10000) vs \(.kl_exact_sklearn * 10000 | round / 10000)"
            else "vs scikit-learn; final KL \(.kl_c * 10000 | round / 10000) vs \(.kl_sklearn * 10000 | round / 10000)" end)
    elif .tag == "ratio" and .bench == "metrics" then
        row("metrics"; "eval + confusion"; "\(.c_t | r2) s"; "\(.sklearn_t | r2) s"; .speedup; "vs scikit-learn")
    elif .tag == "tokenize" and .impl == "ratio" then
        row("tokenize"; "best of emo threads"; "\(.emo_best_mb_s) MB/s"; "\(.hf_best_mb_s) MB/s"; .speedup; "vs HF tokenizers (Rust)")
    elif .tag == "foundation" and .impl == "ratio" then
        row("foundation \(.mode)"; "\(.rows) rows"; ""; ""; .speedup_wall; "vs Python anchor (wall\(if .speedup_cpu == null then "" else "; CPU \(.speedup_cpu | r2)x" end))")
    elif .tag == "foundation" and .mode == "pipeline" then
        row("foundation pipeline"; "\(.rows) rows, \(.stages | gsub("[|]"; " \\| "))"; "\(.t_wall | r2) s"; "budget \(.budget_s) s"; .budget_s / .t_wall;
            if .within_budget then "within budget" else "OVER budget" end)
    elif .bench == "onnxruntime" then
        row("vs ONNX Runtime \(.mode)"; "\(.config) b\(.batch) s\(.seq) t\(.threads), \(.env)";
            "\(.c_t * 1000 | r2) ms"; "\(.ort_t * 1000 | r2) ms"; .speedup; "ONNX Runtime 1.17.3 (its own AVX-512 kernels)")
    elif .bench == "teacher-logits" and .tag == "ratio" then
        row("teacher-logits"; "\(.config) b\(.batch) t\(.threads), \(.records) real tweets"; "\(.c_s | r2) s"; "\(.torch_s | r2) s";
            .speedup_median; "vs PyTorch 1.13 forwards on the same batches, median of \(.reps)")
    elif .bench == "cache-overhead" then
        row("cache write"; "\(.records) records, layers \(.layers), \(.codec)"; "\(.cache_s | r2) s"; "plain \(.plain_s | r2) s";
            (if .ratio then 1 / .ratio else .plain_s / .cache_s end);
            "target >= 0.83x (at most +20%); median of paired runs")
    elif .bench == "cache-size" then
        row("cache size"; "416,809 records, \(.codec)"; "\(.full_corpus_GB) GB"; "naive \(.naive_fp32_pad128_GB) GB";
            .naive_fp32_pad128_GB / .full_corpus_GB; if .full_corpus_GB < 10 then "under 10 GB" else "OVER 10 GB" end)
    elif .bench == "epoch" and .summary == true then
        row("epoch \(.mode)"; "\(.config) b32, real corpus, \(.reps) reps"; ""; ""; .speedup_median;
            "C dynamic padding vs PyTorch padded to 128 (median)")
    elif .bench == "memory" and .ratio != null then
        row("train peak RSS"; "\(.config) b32 s\(.seq), \(.ratio | split("/")[0])"; "\(.c_mb | num) MB";
            "\(.torch_mb | num) MB"; .torch_mb / .c_mb; "vs PyTorch 1.13 (lower malloc setting)")
    elif .bench == "adamw" then
        row("AdamW step"; "\(.config) t\(.threads)"; "\(.t_adamw_ms | r2) ms"; "scalar \(.t_scalar_ms | r2) ms";
            .speedup; if .same_bits then "same bits" else "BITS DIFFER" end)
    elif .bench == "qgemm" and (.kernel | test("^int8 [a-z0-9]+$")) then
        row("int8 linear"; "M\(.M) K\(.K) N\(.N) t\(.threads), \(.kernel | ltrimstr("int8 "))"; "\(.ms | r2) ms";
            "float avx2 \(.float_avx2_ms | r2) ms"; .x_float_avx2; "scheme \(.scheme), quantisation included")
    elif .bench == "predict" and .tag == "ratio" and .mode == "bulk" then
        "\(.model) b\(.batch) t\(.threads), \(.lines) tweets" as $p
        | "\(.lines / .c_s | num) lines/s" as $o
        | "median of \(.reps)" as $n
        | row("predict bulk"; "\($p), vs PyTorch forwards"; $o; "\(.lines / .torch_s | num) lines/s"; .vs_torch;
              "target 1.5x; \($n); accuracy \(.accuracy)")
        , row("predict bulk"; "\($p), vs clean \\| tokenize \\| teacher-logits \\| dump"; $o;
              "\(.lines / .pipeline_s | num) lines/s"; .vs_pipeline; "target 1x; \($n)")
        , row("predict bulk"; "\($p), vs fastText predict-prob"; $o; "\(.lines / .fasttext_s | num) lines/s"; .vs_fasttext;
              "accuracy \(.accuracy) vs fastText \(.fasttext_accuracy); \($n)")
    elif .bench == "predict" and .tag == "ratio" and .mode == "stream" then
        row("predict stream"; "\(.model), a line every \(.interval_ms) ms, p50"; "\(.c_p50_ms | r2) ms"; "\(.torch_p50_ms | r2) ms";
            .vs_torch_p50; "vs a PyTorch loop; beyond the b1 forward (\(.forward_b1_ms | r2) ms): p50 \(.c_beyond_p50_ms | r2), p99 \(.c_beyond_p99_ms | r2) ms (targets 1, 3); start-up \(.c_startup_ms | num) ms\(if .c_startup_cpu_ms then " (CPU \(.c_startup_cpu_ms | num) ms)" else "" end) (target 50)")
    else empty end )'
