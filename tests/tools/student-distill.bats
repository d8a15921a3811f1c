#!/usr/bin/env bats
# emo student-distill: man page examples, the ablation switches, kill -9 + --resume, and bad
# input.  Tiny models (tests/fixtures/train/tiny-*.json) on synthetic records: seconds.
load helpers

setup_file() {
    cd "$BATS_FILE_TMPDIR"
    "$FIXTURES/train/make-records.sh" 300 1 | emo pack -o train.rec
    "$FIXTURES/train/make-records.sh" 90 2 | emo pack -o val.rec
    emo teacher-train --train train.rec --val val.rec --config "$FIXTURES/train/tiny-bert.json" --lr 3e-3 \
        --batch 16 --epochs 3 --threads 1 --seed 5 -q -o teacher
    mkdir cache
    emo teacher-logits -m teacher -o cache --attn-layers all --threads 1 train.rec
}

setup() {
    cd "$BATS_TEST_TMPDIR"
    D=$BATS_FILE_TMPDIR
    ARGS="--train $D/train.rec --val $D/val.rec --batch 16 --threads 1 --seed 7 -q"
}

@test "man example emo-student-distill(1): DistilBERT student from the cache (preset, 2 steps)" {
    cp "$D/train.rec" "$D/val.rec" .
    ln -s "$D/cache" cache
    run --separate-stderr emo student-distill --train train.rec --val val.rec \
        --teacher-cache cache --config distilbert-mini -o preset --max-steps 2 --threads 1 -q
    assert_success
    grep -q '"dim": *256' preset/last/config.json
}

@test "DistilBERT student from the cache: terms logged, a checkpoint like any other" {
    run --separate-stderr emo student-distill $ARGS --teacher-cache "$D/cache" \
        --config "$FIXTURES/train/tiny-distilbert.json" --epochs 2 -o student
    assert_success
    assert_file_exists student/model.safetensors
    grep -q '"model_type": *"distilbert"' student/config.json
    # each loss term is logged per epoch
    [ "$(grep -c '"train_kd"' student/train_log.jsonl)" -eq 2 ]
    grep -q '"train_label"' student/train_log.jsonl
    grep -q '"train_attn"' student/train_log.jsonl
    # the result is a checkpoint like any other: same labels in the teacher's order
    run bash -c "emo teacher-logits -m student $D/val.rec | emo dump | head -1"
    assert_success
    assert_output --partial '"logits":['
    cmp <(grep -o '"id2label".*' student/config.json | head -1) <(grep -o '"id2label".*' "$D/teacher/config.json" | head -1)
}

@test "man example emo-student-distill(1): ALBERT student, MSE alignment (preset, 2 steps)" {
    cp "$D/train.rec" "$D/val.rec" .
    ln -s "$D/cache" cache
    run --separate-stderr emo student-distill --train train.rec --val val.rec \
        --teacher-cache cache --config albert-mini --attn-loss mse -o albert --max-steps 2 --threads 1 -q
    assert_success
    grep -q '"model_type": *"albert"' albert/last/config.json
}

@test "ALBERT student, 4 heads from a 2-head teacher (head mean)" {
    run --separate-stderr emo student-distill $ARGS --teacher-cache "$D/cache" \
        --config "$FIXTURES/train/tiny-albert.json" --attn-loss mse --epochs 1 -o albert
    assert_success
    grep -q '"model_type": *"albert"' albert/config.json
}

@test "man example emo-student-distill(1): a live teacher and --init-from-teacher (student of the tiny teacher's width)" {
    cat > two-layer.json <<JSON
{"model_type":"distilbert","dim":32,"n_layers":1,"n_heads":2,"hidden_dim":64,"vocab_size":120,
 "max_position_embeddings":40,"activation":"gelu","dropout":0.1,"attention_dropout":0.1}
JSON
    run --separate-stderr emo student-distill $ARGS --teacher "$D/teacher" --init-from-teacher \
        --config two-layer.json --epochs 1 -o s
    assert_success
    assert_file_exists s/model.safetensors
}

@test "ablations: alpha, temperature, cross-entropy, no attention, no distillation" {
    for flags in "--alpha 0.5" "--alpha 1.0" "--temperature 1" "--temperature 2" "--loss ce" "--attn-loss none"; do
        run --separate-stderr emo student-distill $ARGS --teacher-cache "$D/cache" \
            --config "$FIXTURES/train/tiny-distilbert.json" --max-steps 3 $flags -o "a-${flags// /}"
        assert_success
    done
    grep -q '"alpha": 1' a---alpha1.0/last/trainer_state.json
    grep -q '"temperature": 2' a---temperature2/last/trainer_state.json
    grep -q '"attn_loss": "none"' a---attn-lossnone/last/trainer_state.json
    # alpha 0 without attention is the same student trained on the labels alone: no teacher needed
    run --separate-stderr emo student-distill $ARGS --alpha 0 --attn-loss none \
        --config "$FIXTURES/train/tiny-distilbert.json" --max-steps 3 -o nokd
    assert_success
    grep -q '"train_kd": 0' nokd/train_log.jsonl || grep -q '"alpha": 0' nokd/last/trainer_state.json
}

@test "kill -9 mid-epoch, then --resume: final weights equal an uninterrupted run" {
    A="$ARGS --teacher-cache $D/cache --config $FIXTURES/train/tiny-distilbert.json --epochs 2 --patience 0"
    run emo student-distill $A -o full
    assert_success
    run env EMO_TEST_KILL_AT_STEP=25 emo student-distill $A -o cut
    assert_failure
    [ -d cut/last ]
    run --separate-stderr emo student-distill $A -o cut --resume
    assert_success
    [[ "$stderr" == *"resuming from step"* ]]
    cmp full/model.safetensors cut/model.safetensors
    cmp full/last/optimizer.bin cut/last/optimizer.bin
}

@test "bad input: records missing from the cache are named before training starts" {
    "$FIXTURES/train/make-records.sh" 20 9 | emo pack -o other.rec
    run --separate-stderr emo student-distill --train other.rec --val "$D/val.rec" --teacher-cache "$D/cache" \
        --config "$FIXTURES/train/tiny-distilbert.json" -q -o s
    assert_failure 1
    [[ "$stderr" == "emo-student-distill: other.rec: $D/cache: 20 of 20 ids are not in the cache (first: id 900000)" ]]
    assert_file_not_exists s/model.safetensors
}

@test "bad input: a mapped teacher layer missing from the cache" {
    mkdir c1
    emo teacher-logits -m "$D/teacher" -o c1 --attn-layers 0 --threads 1 "$D/train.rec"
    run --separate-stderr emo student-distill $ARGS --teacher-cache c1 \
        --config "$FIXTURES/train/tiny-distilbert.json" --layer-map 0:1 -o s
    assert_failure 2
    [[ "$stderr" == *"teacher layer 1 (for student layer 0) is not in the cache"* ]]
}

# tiny_like PRESET > config.json: a tiny random model of PRESET's architecture, depth and heads
tiny_like() {
    emo ckpt info "$1" | jq '{model_type, L: .num_hidden_layers, NH: .num_attention_heads} |
        (.NH * 4) as $H |
        if .model_type == "distilbert" then
            {model_type, dim: $H, n_layers: .L, n_heads: .NH, hidden_dim: 32, vocab_size: 120,
             max_position_embeddings: 40}
        else
            {model_type, hidden_size: $H, embedding_size: 16, num_hidden_layers: .L, num_attention_heads: .NH,
             intermediate_size: 32, vocab_size: 120, max_position_embeddings: 40, type_vocab_size: 2}
        end'
}

@test "defaults that compose: every preset teacher's default cache serves every preset student's default map" {
    "$FIXTURES/train/make-records.sh" 6 1 | emo pack -o tr.rec
    "$FIXTURES/train/make-records.sh" 6 2 | emo pack -o va.rec
    # the presets, as the "not a preset" message lists them
    presets=$(emo ckpt info no-such-preset 2>&1 | sed 's/.*not a preset (\([^)]*\)).*/\1/; s/,//g')
    [ "$(echo "$presets" | wc -w)" -ge 9 ]
    for p in $presets; do tiny_like "$p" > "$p.json"; done
    for t in $presets; do
        emo ckpt init --labels joy,anger,fear --seed 3 -o "t-$t" "$t.json"
        mkdir "c-$t"
        emo teacher-logits -m "t-$t" -o "c-$t" --threads 1 tr.rec
        for s in $presets; do
            run --separate-stderr emo student-distill --train tr.rec --val va.rec --teacher-cache "c-$t" \
                --config "$s.json" --max-steps 1 --batch 4 --threads 1 -o "s-$t-$s"
            [ "$status" -eq 0 ] || { echo "teacher $t, student $s: $stderr"; false; }
        done
    done
}

@test "bad input: a corrupt cache shard" {
    cp -r "$D/cache" c2
    f=$(ls c2/*.zst | head -1)
    printf '\xff\xff\xff\xff' | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null
    run --separate-stderr emo student-distill $ARGS --teacher-cache c2 \
        --config "$FIXTURES/train/tiny-distilbert.json" --max-steps 2 -o s
    assert_failure 1
    [[ "$stderr" == emo-student-distill:*c2/* ]]
}

@test "usage errors: no teacher, both teachers, init conflicts, ALBERT from teacher, bad layer map" {
    T="$FIXTURES/train/tiny-distilbert.json"
    run --separate-stderr emo student-distill $ARGS --config "$T" -o s
    assert_failure 2
    [[ "$stderr" == *"needs --teacher-cache DIR or --teacher CKPT_DIR"* ]]
    run --separate-stderr emo student-distill $ARGS --config "$T" --teacher "$D/teacher" --teacher-cache "$D/cache" -o s
    assert_failure 2
    run --separate-stderr emo student-distill $ARGS --config "$T" --teacher-cache "$D/cache" --init-from-teacher -o s
    assert_failure 2
    run --separate-stderr emo student-distill $ARGS --config "$FIXTURES/train/tiny-albert.json" \
        --teacher "$D/teacher" --init-from-teacher -o s
    assert_failure 2
    [[ "$stderr" == *"DistilBERT-style student"* ]]
    run --separate-stderr emo student-distill $ARGS --config "$T" --teacher-cache "$D/cache" --layer-map 0:9 -o s
    assert_failure 2
    [[ "$stderr" == *"layer map"* ]]
    run --separate-stderr emo student-distill $ARGS --config "$T" --teacher-cache "$D/cache" --attn-loss cosine -o s
    assert_failure 2
}

@test "a kept student that predicts a single class is said on stderr (one warning line, exit 0)" {
    run --separate-stderr emo student-distill $ARGS --teacher-cache "$D/cache" \
        --config "$FIXTURES/train/tiny-distilbert.json" --lr 1 --epochs 1 -o bad
    assert_success
    [[ "$stderr" == "emo-student-distill: warning: the kept model (epoch 1) predicts a single class on the validation set (accuracy "*", majority class "*"); was --lr 1 right?" ]]
}

@test "a student --init from a small or emo-pretrained checkpoint defaults to lr 1e-4; from emo ckpt init's random weights, 5e-4" {
    emo ckpt init --labels joy,anger,fear -o small "$FIXTURES/train/tiny-distilbert.json"
    # emo ckpt init says its weights are random: the from-scratch defaults
    grep -q '"tool": "ckpt init"' small/emo_run.json
    run --separate-stderr emo student-distill --train $D/train.rec --val $D/val.rec --batch 16 --threads 1 \
        --teacher-cache "$D/cache" --init small --max-steps 1 -o r
    assert_success
    [[ "$stderr" == *"lr 0.0005 (random weights from emo ckpt init: the from-scratch defaults)"* ]]
    grep -q '"lr": 0.00050000000000000001' r/last/trainer_state.json
    # the same weights as a Hub checkpoint (no emo_run.json): a small pretrained model
    rm small/emo_run.json
    run --separate-stderr emo student-distill --train $D/train.rec --val $D/val.rec --batch 16 --threads 1 \
        --teacher-cache "$D/cache" --init small --max-steps 1 -o s
    assert_success
    [[ "$stderr" == *"lr 0.0001 (a small model (hidden size 32 <= 256))"* ]]
    grep -q '"lr": 0.0001' s/last/trainer_state.json
}

@test "labelled and unlabelled files in their own id spaces distil together; a cache whose parts share ids is refused" {
    V=$FIXTURES/pretrain/vocab.txt
    awk 'BEGIN { split("joy anger fear", n, " "); for (i = 0; i < 30; i++) { k = i % 3;
        printf "w%d w%d w%d;%s\n", 10 + 20 * k + i % 20, 10 + 20 * k + (i * 7) % 20, 10 + i % 60, n[k + 1] } }' > train.txt
    awk 'BEGIN { for (i = 0; i < 30; i++) printf "w%d w%d\n", 10 + i, 20 + i }' > unlabeled.txt
    # cleaned separately, both number from line 1; cached by two jobs that cannot see each other
    emo clean -q --keep-stopwords train.txt | emo tokenize --vocab "$V" -o t.rec
    emo clean -q --keep-stopwords --format lines unlabeled.txt | emo tokenize --vocab "$V" -o u.rec
    mkdir c1 other
    emo teacher-logits -m "$D/teacher" -o c1 --prefix t --threads 1 t.rec
    emo teacher-logits -m "$D/teacher" -o other --prefix u --threads 1 u.rec
    mv other/* c1/
    run --separate-stderr emo student-distill $ARGS --teacher-cache c1 --train t.rec \
        --config "$FIXTURES/train/tiny-distilbert.json" --max-steps 1 -o s1
    assert_failure 1
    [[ "$stderr" == "emo-student-distill: duplicate id 1 in c1/t-0000.zst and c1/u-0000.zst (ids must be unique over all parts of a cache)" ]]
    [ ! -e s1/last ]
    # one run over both: refused at once, naming both records
    mkdir c2
    run --separate-stderr emo teacher-logits -m "$D/teacher" -o c2 --threads 1 t.rec u.rec
    assert_failure 1
    [[ "$stderr" == "emo-teacher-logits: u.rec:record 1: id 1 again: t.rec:record 1 has it too; ids must be unique over all inputs of a cache (emo clean --id-space)" ]]
    # emo-clean(1)'s recipe: one id space per file
    emo clean -q --keep-stopwords --id-space 1 train.txt | emo tokenize --vocab "$V" -o t.rec
    emo clean -q --keep-stopwords --id-space 2 --format lines unlabeled.txt | emo tokenize --vocab "$V" -o u.rec
    emo teacher-logits -m "$D/teacher" -o c2 --threads 1 t.rec u.rec
    cat t.rec u.rec > tu.rec
    run --separate-stderr emo student-distill $ARGS --teacher-cache c2 --train tu.rec \
        --config "$FIXTURES/train/tiny-distilbert.json" --epochs 1 -o s2
    assert_success
    grep -q '"train_records": 60' s2/last/trainer_state.json
}
