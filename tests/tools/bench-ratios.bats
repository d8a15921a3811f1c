#!/usr/bin/env bats
# bench/ratios.sh, the table at the end of bench/run.sh, on canned JSON lines
# (tests/fixtures/bench/run.log: one line of each kind the benchmarks print, with round
# numbers, human lines and lines to ignore between them).
load helpers

@test "bench/ratios.sh: one row per comparison, ratio oriented ours-better > 1" {
    run --separate-stderr "$EMO_ROOT/bench/ratios.sh" "$FIXTURES/bench/run.log"
    assert_success
    assert_line --index 0 "| benchmark | point | ours | anchor | ratio | note |"
    [ "${#lines[@]}" -eq 15 ]
    assert_line "| engine masked-LM step | bert-mini s64 t2, PyTorch head gather | 690 tokens/s | 460 tokens/s | 1.50x | vs PyTorch 1.13, real tokens |"
    assert_line "| engine masked-LM step | bert-mini s64 t2, PyTorch head hf | 690 tokens/s | 230 tokens/s | 3.00x | vs PyTorch 1.13, real tokens |"
    assert_line "| pretrain (masked LM) | bert-mini b64 t2, 200 steps | 3000 tokens/s | 2000 tokens/s | 1.50x | vs PyTorch 1.13, real tokens |"
    # engine: PyTorch t_med / C t_med, paired on mode, config, batch, seq, threads
    assert_line "| engine infer | bert-tiny b64 s32 t2 | 3200 samples/s | 2560 samples/s | 1.25x | vs PyTorch 1.13 |"
    assert_line "| engine latency | bert-tiny b1 s32 t2 | 0.50 ms | 0.90 ms | 1.80x | vs PyTorch 1.13 |"
    assert_line "| engine train | bert-mini b32 s128 t1 | 64.00 samples/s | (no PyTorch point) |  |  |"
    assert_line "| tsne | n 5000 | 15.50 s | 62.00 s | 4.00x | vs scikit-learn; exact KL under the sklearn P 1.51 vs 1.52 |"
    assert_line --partial "| metrics | eval + confusion | 0.80 s | 3.20 s | 4.00x |"
    assert_line --partial "| tokenize | best of emo threads | 10.8 MB/s | 3.6 MB/s | 3.00x |"
    assert_line --partial "| foundation clean | 416809 rows |  |  | 12.50x |"
    assert_line "| foundation pipeline | 416809 rows, clean \| tokenize \| split | 8.00 s | budget 20 s | 2.50x | within budget |"
    # cache: plain / cache time (below 1: the cache costs), naive / ours size
    assert_line --partial "| cache write | 2700 records, layers all, f16 | 11.50 s | plain 10.00 s | 0.87x |"
    assert_line --partial "| cache size | 416,809 records, u8 | 6 GB | naive 120 GB | 20.00x | under 10 GB |"
}

@test "bench/ratios.sh: reads standard input; no JSON lines gives the header alone" {
    run bash -c "grep 'bench\":\"metrics' '$FIXTURES/bench/run.log' | '$EMO_ROOT/bench/ratios.sh'"
    assert_success
    [ "${#lines[@]}" -eq 3 ]
    run bash -c "echo 'nothing here' | '$EMO_ROOT/bench/ratios.sh'"
    assert_success
    [ "${#lines[@]}" -eq 2 ]
}

@test "bench/ratios.sh: an engine point slower than its anchor; the other thread count is not its pair" {
    cd "$BATS_TEST_TMPDIR"
    printf '%s\n' \
        'JSON {"tag":"c","impl":"c","mode":"train","config":"bert-mini","batch":32,"seq":32,"threads":2,"t_med":0.4,"samples_s":80}' \
        'JSON {"tag":"tuned","mode":"train","config":"bert-mini","batch":32,"seq":32,"threads":2,"t_med":0.3,"samples_s":106.7}' \
        'JSON {"tag":"tuned","mode":"train","config":"bert-mini","batch":32,"seq":32,"threads":1,"t_med":0.8,"samples_s":40}' > log
    run "$EMO_ROOT/bench/ratios.sh" log
    assert_success
    assert_line "| engine train | bert-mini b32 s32 t2 | 80.00 samples/s | 107 samples/s | 0.75x | vs PyTorch 1.13 |"
    [ "${#lines[@]}" -eq 3 ]
}

@test "bench/ratios.sh: epoch, training peak RSS and AdamW rows" {
    cd "$BATS_TEST_TMPDIR"
    printf '%s\n' \
        'JSON {"bench": "epoch", "summary": true, "config": "bert-mini", "mode": "train", "reps": 3, "speedup_median": 16.0, "speedup_min": 12.0, "speedup_max": 20.0}' \
        'JSON {"bench": "epoch", "ratio": "torch_pad128/c_dynamic", "config": "bert-mini", "mode": "train", "rep": "rep1", "speedup": 12.0}' \
        'JSON {"bench":"memory","impl":"c","mode":"train","config":"bert-base","seq":128,"maxrss_mb":3000.0}' \
        'JSON {"bench":"memory","ratio":"c-full/torch-min","config":"bert-base","seq":128,"c_mb":4000.0,"torch_mb":6000.0,"ratio_rss":0.667}' \
        'JSON {"bench":"adamw","config":"bert-mini","params":11172102,"threads":2,"reps":10,"t_scalar_ms":50.0,"t_adamw_ms":8.0,"speedup":6.25,"same_bits":false}' > log
    run --separate-stderr "$EMO_ROOT/bench/ratios.sh" log
    assert_success
    [ "${#lines[@]}" -eq 5 ]
    assert_line "| epoch train | bert-mini b32, real corpus, 3 reps |  |  | 16.00x | C dynamic padding vs PyTorch padded to 128 (median) |"
    assert_line "| train peak RSS | bert-base b32 s128, c-full | 4000 MB | 6000 MB | 1.50x | vs PyTorch 1.13 (lower malloc setting) |"
    assert_line "| AdamW step | bert-mini t2 | 8.00 ms | scalar 50.00 ms | 6.25x | BITS DIFFER |"
}

@test "bench/ratios.sh: int8 linear rows, one per path, the GEMM-only and quantisation-only lines left out" {
    cd "$BATS_TEST_TMPDIR"
    printf '%s\n' \
        'JSON {"bench":"qgemm","kernel":"float avx2","M":2048,"K":256,"N":1024,"threads":2,"reps":5,"scheme":"w7","ms":8.0,"gops":1,"float_avx2_ms":8.0,"x_float_avx2":1.0,"cpu_ms":8.0,"cpu_x_float_avx2":1.0,"load1":1}' \
        'JSON {"bench":"qgemm","kernel":"int8 avx2","M":2048,"K":256,"N":1024,"threads":2,"reps":5,"scheme":"w7","ms":4.0,"gops":1,"float_avx2_ms":8.0,"x_float_avx2":2.0,"cpu_ms":4.0,"cpu_x_float_avx2":2.0,"load1":1}' \
        'JSON {"bench":"qgemm","kernel":"int8 avx2 gemm","M":2048,"K":256,"N":1024,"threads":2,"reps":5,"scheme":"w7","ms":3.0,"gops":1,"float_avx2_ms":8.0,"x_float_avx2":2.67,"cpu_ms":3.0,"cpu_x_float_avx2":2.67,"load1":1}' \
        'JSON {"bench":"qgemm","kernel":"int8 avx2 quant","M":2048,"K":256,"N":1024,"threads":2,"reps":5,"scheme":"w7","ms":1.0,"gops":1,"float_avx2_ms":8.0,"x_float_avx2":8.0,"cpu_ms":1.0,"cpu_x_float_avx2":8.0,"load1":1}' > log
    run --separate-stderr "$EMO_ROOT/bench/ratios.sh" log
    assert_success
    [ "${#lines[@]}" -eq 3 ]
    assert_line "| int8 linear | M2048 K256 N1024 t2, avx2 | 4.00 ms | float avx2 8.00 ms | 2.00x | scheme w7, quantisation included |"
}

@test "bench/ratios.sh: engine rounds: the median rows replace the pairing of single points" {
    cd "$BATS_TEST_TMPDIR"
    printf '%s\n' \
        'JSON {"round":1,"tag":"c","impl":"c","mode":"latency","config":"bert-mini","batch":1,"seq":32,"threads":2,"t_med":0.001,"samples_s":1000}' \
        'JSON {"round":1,"tag":"tuned","mode":"latency","config":"bert-mini","batch":1,"seq":32,"threads":2,"t_med":0.003,"samples_s":333}' \
        'JSON {"tag":"ratio","bench":"engine","mode":"latency","config":"bert-mini","batch":1,"seq":32,"threads":2,"rounds":3,"speedup_median":2.5,"ratios":[3,2.5,2],"c_t_med":0.0012,"torch_t_med":0.003}' \
        'JSON {"tag":"ratio","bench":"engine","mode":"infer","config":"bert-mini","batch":64,"seq":32,"threads":2,"rounds":3,"speedup_median":2.0,"ratios":[2,1.5,2.2],"c_t_med":0.05,"torch_t_med":0.1}' > log
    run "$EMO_ROOT/bench/ratios.sh" log
    assert_success
    [ "${#lines[@]}" -eq 4 ]
    assert_line "| engine latency | bert-mini b1 s32 t2 | 1.20 ms | 3.00 ms | 2.50x | vs PyTorch 1.13, median of 3 rounds |"
    assert_line "| engine infer | bert-mini b64 s32 t2 | 1280 samples/s | 640 samples/s | 2.00x | vs PyTorch 1.13, median of 3 rounds |"
}

@test "bench/ratios.sh: the teacher-logits row" {
    cd "$BATS_TEST_TMPDIR"
    echo 'JSON {"bench":"teacher-logits","tag":"ratio","config":"bert-mini","threads":2,"batch":64,"records":4000,"reps":3,"c_s":2.0,"torch_s":3.0,"speedup_median":1.5,"speedups":[1.5,1.4,1.6]}' > log
    run "$EMO_ROOT/bench/ratios.sh" log
    assert_success
    assert_line "| teacher-logits | bert-mini b64 t2, 4000 real tweets | 2.00 s | 3.00 s | 1.50x | vs PyTorch 1.13 forwards on the same batches, median of 3 |"
}

@test "bench/ratios.sh: the ONNX Runtime rows" {
    cd "$BATS_TEST_TMPDIR"
    echo 'JSON {"bench":"onnxruntime","env":"avx512","ob_core":"Cooperlake","mode":"latency","config":"bert-mini","batch":1,"seq":32,"threads":2,"c_t":0.001,"ort_t":0.002,"speedup":2.0}' > log
    run "$EMO_ROOT/bench/ratios.sh" log
    assert_success
    assert_line "| vs ONNX Runtime latency | bert-mini b1 s32 t2, avx512 | 1.00 ms | 2.00 ms | 2.00x | ONNX Runtime 1.17.3 (its own AVX-512 kernels) |"
}

@test "bench/ratios.sh: the cache row takes the median of the paired ratios, not the ratio of the medians" {
    run bash -c "echo 'JSON {\"tag\":\"c\",\"bench\":\"cache-overhead\",\"records\":9,\"layers\":\"all\",\"codec\":\"u8\",\"threads\":2,\"plain_s\":10,\"cache_s\":11,\"ratio\":1.25,\"ratio_of_medians\":1.1}' | '$EMO_ROOT/bench/ratios.sh'"
    assert_success
    assert_line --partial "| cache write | 9 records, layers all, u8 | 11.00 s | plain 10.00 s | 0.80x |"
}

@test "bench/ratios.sh: the predict rows (bulk against three anchors, streaming latency)" {
    cd "$BATS_TEST_TMPDIR"
    printf '%s\n' \
        'JSON {"bench":"predict","mode":"bulk","impl":"c","tag":"rep1","model":"bert-tiny","t_s":5.0}' \
        'JSON {"bench":"predict","mode":"bulk","tag":"ratio","model":"bert-tiny","threads":2,"batch":64,"lines":50000,"reps":3,"c_s":5.0,"pipeline_s":6.0,"torch_s":10.0,"fasttext_s":1.0,"vs_pipeline":1.2,"vs_torch":2.0,"vs_fasttext":0.2,"accuracy":0.8956,"fasttext_accuracy":0.8585}' \
        'JSON {"bench":"predict","mode":"stream","tag":"ratio","model":"bert-tiny","lines":500,"interval_ms":10,"reps":3,"forward_b1_ms":0.2,"c_p50_ms":0.5,"c_p99_ms":1.5,"c_beyond_p50_ms":0.3,"c_beyond_p99_ms":1.3,"c_startup_ms":40.4,"torch_p50_ms":2.0,"vs_torch_p50":4.0}' > log
    run "$EMO_ROOT/bench/ratios.sh" log
    assert_success
    [ "${#lines[@]}" -eq 6 ]
    assert_line "| predict bulk | bert-tiny b64 t2, 50000 tweets, vs PyTorch forwards | 10000 lines/s | 5000 lines/s | 2.00x | target 1.5x; median of 3; accuracy 0.8956 |"
    assert_line "| predict bulk | bert-tiny b64 t2, 50000 tweets, vs clean \| tokenize \| teacher-logits \| dump | 10000 lines/s | 8333 lines/s | 1.20x | target 1x; median of 3 |"
    assert_line "| predict bulk | bert-tiny b64 t2, 50000 tweets, vs fastText predict-prob | 10000 lines/s | 50000 lines/s | 0.20x | accuracy 0.8956 vs fastText 0.8585; median of 3 |"
    assert_line "| predict stream | bert-tiny, a line every 10 ms, p50 | 0.50 ms | 2.00 ms | 4.00x | vs a PyTorch loop; beyond the b1 forward (0.20 ms): p50 0.30, p99 1.30 ms (targets 1, 3); start-up 40.40 ms (target 50) |"
}
