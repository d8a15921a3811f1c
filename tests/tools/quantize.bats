#!/usr/bin/env bats
# emo ckpt quantize / dequantize and int8 inference (issue 16): a tiny trained teacher and
# student quantized (int8 linear layers and embedding tables), their int8 logits against the
# float ones (tolerance, argmax), the same bits on every qgemm and qact path, emo predict and
# emo eval on the int8 model, the size of a preset's int8 file, the round trip, the refusals
# and damaged files (one line each, exit 1).
load helpers

setup_file() {
    cd "$BATS_FILE_TMPDIR"
    P=$FIXTURES/predict
    V=$P/vocab.txt
    "$P/make-corpus.sh" 400 1 > train.txt
    "$P/make-corpus.sh" 120 2 > val.txt
    emo clean -q --format semicolon train.txt | emo tokenize --vocab "$V" -o train.rec
    emo clean -q --format semicolon val.txt | emo tokenize --vocab "$V" -o val.rec
    emo teacher-train --train train.rec --val val.rec --config "$FIXTURES/train/tiny-bert.json" --lr 3e-3 \
        --batch 16 --epochs 3 --threads 1 -q --vocab "$V" -o teacher
    mkdir cache
    emo teacher-logits -m teacher -o cache train.rec
    emo student-distill --train train.rec --val val.rec --teacher-cache cache --attn-loss none \
        --config "$FIXTURES/train/tiny-distilbert.json" --lr 3e-3 --batch 16 --epochs 2 --threads 1 -q -o student
    emo ckpt quantize -m teacher -o teacher8 2> teacher8.log
    emo ckpt quantize -m student -o student8 2> /dev/null
    cut -d';' -f1 val.txt > val.lines
}

setup() {
    cd "$BATS_TEST_TMPDIR"
    D=$BATS_FILE_TMPDIR
}

# max |int8 - float| logit over a split, and the share of equal argmaxes, as "maxdiff agree"
compare() {
    paste <(emo dump "$1" | jq -c .logits) <(emo dump "$2" | jq -c .logits) | jq -rs -R '
        split("\n") | map(select(length > 0) | split("\t") | map(fromjson)) |
        [ (map([.[0], .[1]] | transpose | map(.[0] - .[1] | fabs) | max) | max),
          (map(select((.[0] | index(max)) == (.[1] | index(max)))) | length) / length ] | @tsv'
}

@test "quantize: I8 weights and embedding tables with F32 scales, float LayerNorms, config.json and info say so" {
    run jq -c '.quantization | {method, scheme, float, embeddings}' "$D/teacher8/config.json"
    assert_output '{"method":"emo-dynamic-int8","scheme":"w7","float":["LayerNorm","biases"],"embeddings":"int8, symmetric, per row (absmax / 127), float once loaded"}'
    hdr=$(head -c 8 "$D/teacher8/model.safetensors" | od -An -tu8 | tr -d ' ')
    run bash -c "tail -c +9 '$D/teacher8/model.safetensors' | head -c $hdr | jq -c '
        [.\"bert.encoder.layer.0.attention.self.query.weight\".dtype,
         .\"bert.encoder.layer.0.attention.self.query.weight_scale\".dtype,
         .\"bert.encoder.layer.0.attention.self.query.weight_scale\".shape,
         .\"bert.encoder.layer.1.output.dense.weight\".dtype, .\"classifier.weight\".dtype,
         .\"bert.pooler.dense.weight\".dtype, .\"bert.embeddings.word_embeddings.weight\".dtype,
         .\"bert.embeddings.word_embeddings.weight_scale\".dtype,
         .\"bert.embeddings.word_embeddings.weight_scale\".shape,
         .\"bert.embeddings.position_embeddings.weight\".dtype, .\"bert.embeddings.token_type_embeddings.weight\".dtype,
         .\"bert.embeddings.LayerNorm.weight\".dtype, .\"bert.encoder.layer.0.attention.self.query.bias\".dtype]'"
    V=$(jq .vocab_size "$D/teacher/config.json")
    assert_output '["I8","F32",[32],"I8","I8","I8","I8","F32",['"$V"'],"I8","I8","F32","F32"]'
    for f in vocab.txt tokenizer_config.json special_tokens_map.json emo_text.json; do
        cmp "$D/teacher/$f" "$D/teacher8/$f"
    done
    [ "$(stat -c %s "$D/teacher8/model.safetensors")" -lt "$(stat -c %s "$D/teacher/model.safetensors")" ]
    run cat "$D/teacher8.log"
    assert_output --regexp '^emo-ckpt: teacher8: model.safetensors [0-9.]+ MB, 0\.[0-9]+x teacher.s [0-9.]+ MB$'
    run bash -c "emo ckpt info '$D/teacher8' | jq -c .quantization; emo ckpt info '$D/teacher' | jq -c .quantization"
    assert_output $'{"method":"emo-dynamic-int8","scheme":"w7","float_linear":[],"embeddings":"int8"}\nnull'
}

@test "quantize --keep pooler,classifier leaves them F32; --scheme a7; bad --keep is a usage error" {
    emo ckpt quantize --keep pooler,classifier --scheme a7 -m "$D/student" -o s8 2> /dev/null
    run jq -c '.quantization | [.scheme, .float]' s8/config.json
    assert_output '["a7",["LayerNorm","biases","pooler","classifier"]]'
    run emo ckpt info s8
    [[ "$output" == *'"quantization":{"method":"emo-dynamic-int8","scheme":"a7","float_linear":["pooler","classifier"],"embeddings":"int8"}'* ]]
    emo teacher-logits -m s8 "$D/val.rec" > a7.rec
    emo teacher-logits -m "$D/student" "$D/val.rec" > f.rec
    read -r maxdiff agree < <(compare f.rec a7.rec)
    awk -v d="$maxdiff" -v a="$agree" 'BEGIN { exit !(d > 0 && d < 0.05 && a >= 0.98) }'
    run --separate-stderr emo ckpt quantize --keep pooler,ffn -m "$D/student" -o x
    assert_failure 2
    [[ "$stderr" == *"--keep: 'ffn'"* ]]
    run --separate-stderr emo ckpt dequantize --keep pooler -m "$D/student8" -o x
    assert_failure 2
    run --separate-stderr emo ckpt quantize -m "$D/student"
    assert_failure 2
    [ ! -e x ]
}

@test "int8 logits: within 0.05 of the float teacher's and student's, argmax on 98% of the split at least" {
    for m in teacher student; do
        emo teacher-logits -m "$D/$m" "$D/val.rec" > f.rec
        emo teacher-logits -m "$D/${m}8" "$D/val.rec" > q.rec
        [ "$(emo dump q.rec | wc -l)" -eq "$(emo dump "$D/val.rec" | wc -l)" ]
        read -r maxdiff agree < <(compare f.rec q.rec)
        echo "$m: max |diff| $maxdiff, argmax agreement $agree" >&3
        awk -v d="$maxdiff" -v a="$agree" 'BEGIN { exit !(d > 0 && d < 0.05 && a >= 0.98) }'
    done
}

@test "int8 logits: the same bits on every qgemm and qact path, batch size and thread count" {
    emo teacher-logits -m "$D/teacher8" --embeddings --batch 64 --threads 2 "$D/val.rec" > ref.rec
    for isa in scalar avx2 avxvnni avx512vnni; do
        EMO_QGEMM_ISA=$isa emo teacher-logits -m "$D/teacher8" --embeddings --batch 7 --threads 1 "$D/val.rec" \
            > $isa.rec 2> $isa.err
        diff <(emo dump ref.rec) <(emo dump $isa.rec)
        EMO_QGEMM_ISA=$isa emo teacher-logits -m "$D/student8" "$D/val.rec" > s.$isa.rec 2> /dev/null
        diff <(emo dump s.scalar.rec) <(emo dump s.$isa.rec)
    done
    for isa in scalar avx2 avx512; do   # the feed-forward GELU's (nn/qact.h)
        EMO_QACT_ISA=$isa emo teacher-logits -m "$D/teacher8" --embeddings "$D/val.rec" > act.$isa.rec 2> /dev/null
        diff <(emo dump ref.rec) <(emo dump act.$isa.rec)
    done
}

@test "quantize --keep embeddings leaves the tables F32; int8 logits within 0.05 either way, argmax on 98%" {
    emo ckpt quantize --keep embeddings -m "$D/teacher" -o t8k 2> /dev/null
    run jq -c '.quantization | [.float, .embeddings]' t8k/config.json
    assert_output '[["embeddings","LayerNorm","biases"],null]'
    run bash -c "emo ckpt info t8k | jq -c .quantization"
    assert_output '{"method":"emo-dynamic-int8","scheme":"w7","float_linear":[],"embeddings":"float"}'
    hdr=$(head -c 8 t8k/model.safetensors | od -An -tu8 | tr -d ' ')
    run bash -c "tail -c +9 t8k/model.safetensors | head -c $hdr | jq -c '
        [.\"bert.embeddings.word_embeddings.weight\".dtype, .\"bert.embeddings.word_embeddings.weight_scale\",
         .\"bert.encoder.layer.0.attention.self.query.weight\".dtype]'"
    assert_output '["F32",null,"I8"]'
    [ "$(stat -c %s "$D/teacher8/model.safetensors")" -lt "$(stat -c %s t8k/model.safetensors)" ]
    emo teacher-logits -m "$D/teacher" "$D/val.rec" > f.rec
    emo teacher-logits -m t8k "$D/val.rec" > k.rec
    emo teacher-logits -m "$D/teacher8" "$D/val.rec" > q.rec
    for x in k q; do
        read -r maxdiff agree < <(compare f.rec $x.rec)
        echo "$x: max |diff| $maxdiff, argmax agreement $agree" >&3
        awk -v d="$maxdiff" -v a="$agree" 'BEGIN { exit !(d > 0 && d < 0.05 && a >= 0.98) }'
    done
    # the tables dequantised at load: the same model as the float tables, but for their rounding
    ! cmp -s k.rec q.rec
    emo ckpt dequantize -m t8k -o t8kf 2> /dev/null
    emo ckpt quantize --keep embeddings -m t8kf -o t8k2 2> /dev/null
    cmp t8k/model.safetensors t8k2/model.safetensors
    cmp t8k/config.json t8k2/config.json
}

@test "size: a tiny preset's int8 file is at most 0.30 of the float one (> 0.5 with --keep embeddings)" {
    for p in bert-tiny albert-tiny distilbert-tiny; do
        emo ckpt init --labels a,b,c,d,e,f -o $p $p 2> /dev/null
        run --separate-stderr emo ckpt quantize -m $p -o $p.q8
        assert_success
        [[ "$stderr" =~ ^emo-ckpt:\ $p.q8:\ model.safetensors\ [0-9.]+\ MB,\ 0\.[0-2][0-9]*x ]]
        emo ckpt quantize --keep embeddings -m $p -o $p.k8 2> /dev/null
        f=$(stat -c %s $p/model.safetensors) q=$(stat -c %s $p.q8/model.safetensors)
        k=$(stat -c %s $p.k8/model.safetensors)
        echo "$p: float $f, int8 $q ($(awk -v a=$q -v b=$f 'BEGIN { printf "%.3f", a / b }')x), keeping the" \
             "embeddings $k ($(awk -v a=$k -v b=$f 'BEGIN { printf "%.3f", a / b }')x)" >&3
        awk -v f=$f -v q=$q -v k=$k 'BEGIN { exit !(q <= 0.30 * f && k > 0.5 * f) }'
        run bash -c "emo ckpt info $p.q8 | jq -c '.quantization | [.embeddings, .float_linear]'"
        assert_output '["int8",[]]'
    done
    # 30522 table rows and their scales: quantize(dequantize(q)) is q
    emo ckpt dequantize -m bert-tiny.q8 -o bert-tiny.f 2> /dev/null
    emo ckpt quantize -m bert-tiny.f -o bert-tiny.q8again 2> /dev/null
    cmp bert-tiny.q8/model.safetensors bert-tiny.q8again/model.safetensors
}

@test "emo predict and emo eval run the int8 checkpoint; predict's answers equal teacher-logits'" {
    run --separate-stderr emo predict -m "$D/student8" --records "$D/val.rec"
    assert_success
    emo predict -m "$D/student8" --records "$D/val.rec" > p.rec
    emo teacher-logits -m "$D/student8" "$D/val.rec" > t.rec
    diff <(emo dump p.rec | jq -c .logits) <(emo dump t.rec | jq -c .logits)
    run bash -c "emo eval < t.rec"
    assert_success
    assert_output --partial accuracy
    run bash -c "emo predict -m '$D/student8' '$D/val.lines' | wc -l"
    assert_output "$(wc -l < "$D/val.lines")"
}

@test "dequantize: a float checkpoint of scale x code; quantizing it again gives the same file" {
    emo ckpt dequantize -m "$D/teacher8" -o f 2> /dev/null
    run emo ckpt info f
    [[ "$output" == *'"quantization":null'* ]]
    run jq .quantization f/config.json
    assert_output null
    emo ckpt quantize -m f -o q 2> /dev/null
    cmp q/model.safetensors "$D/teacher8/model.safetensors"
    cmp q/config.json "$D/teacher8/config.json"
    # the float model of the int8 weights is a normal float checkpoint: a trainer takes it
    run --separate-stderr emo teacher-train --train "$D/train.rec" --val "$D/val.rec" --init f --epochs 1 \
        --threads 1 -q -o t2
    assert_success
}

@test "refused: quantize an int8 checkpoint, dequantize a float one, train from an int8 one" {
    run --separate-stderr emo ckpt quantize -m "$D/teacher8" -o x
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: $D/teacher8: already an int8 checkpoint (w7)"
    run --separate-stderr emo ckpt dequantize -m "$D/teacher" -o x
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: $D/teacher: not an int8 checkpoint (config.json has no \"quantization\")"
    run --separate-stderr emo teacher-train --train "$D/train.rec" --val "$D/val.rec" --init "$D/teacher8" -o x
    assert_failure 1
    [[ "$stderr" == *"$D/teacher8: an int8 checkpoint (emo ckpt quantize) is for inference only"* ]]
    run --separate-stderr emo student-distill --train "$D/train.rec" --val "$D/val.rec" --teacher-cache "$D/cache" \
        --init "$D/student8" -o x
    assert_failure 1
    [[ "$stderr" == *"$D/student8: an int8 checkpoint (emo ckpt quantize) is for inference only"* ]]
    run --separate-stderr emo pretrain --train "$D/train.rec" --init "$D/teacher8" -o x
    assert_failure 1
    [[ "$stderr" == *"is for inference only"* ]]
    run --separate-stderr emo ckpt convert -o x "$D/teacher8"
    assert_failure 1
    [ ! -e x ]
}

# sets the dtype of tensor $2 in checkpoint dir $1's header to $4 (from $3; same size)
set_dtype() {
    perl -0777 -pi -e 's/("\Q'"$2"'\E":\{"dtype":")'"$3"'"/${1}'"$4"'"/ or die "no $2"' "$1/model.safetensors"
}

@test "damaged int8 files: a scale of another dtype, codes of another dtype: one line, exit 1" {
    cp -r "$D/teacher8" a
    set_dtype a bert.encoder.layer.1.attention.output.dense.weight_scale F32 I32
    run --separate-stderr emo teacher-logits -m a "$D/val.rec"
    assert_failure 1
    assert_output ""
    assert_equal "$stderr" "emo-teacher-logits: a/model.safetensors: tensor bert.encoder.layer.1.attention.output.dense.weight_scale has dtype I32, expected F32"
    cp -r "$D/teacher8" b
    set_dtype b bert.encoder.layer.0.intermediate.dense.weight I8 U8
    run --separate-stderr emo teacher-logits -m b "$D/val.rec"
    assert_failure 1
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *"bert.encoder.layer.0.intermediate.dense.weight"* ]]
    # an I8 tensor in a checkpoint without "quantization"
    cp -r "$D/teacher8" c
    jq 'del(.quantization)' "$D/teacher8/config.json" > c/config.json
    run --separate-stderr emo predict -m c "$D/val.lines"
    assert_failure 1
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *'is int8 (I8), but config.json has no "quantization"'* ]]
    # an unknown method
    cp -r "$D/teacher8" d
    jq '.quantization.method = "gptq"' "$D/teacher8/config.json" > d/config.json
    run --separate-stderr emo teacher-logits -m d "$D/val.rec"
    assert_failure 1
    [[ "$stderr" == *"quantization: method 'gptq' is not supported (emo-dynamic-int8)"* ]]
}
