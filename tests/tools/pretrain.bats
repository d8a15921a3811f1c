#!/usr/bin/env bats
# emo pretrain: the man page examples, the chain pretrain -> teacher-train --init, kill -9 /
# SIGTERM + --resume, the NaN guard, epoch snapshots, the masking options and bad input.
# Models are tiny (tests/fixtures/train/tiny-bert.json, vocabulary
# tests/fixtures/pretrain/vocab.txt) so every run takes a fraction of a second; the man
# examples use bert-tiny and the real vocabulary on a few hundred shared tweets.
load helpers

setup_file() {
    cd "$BATS_FILE_TMPDIR"
    "$FIXTURES/train/make-records.sh" 300 1 | emo pack -o a.rec
    # records without labels (and without ids) are fine: labels are ignored
    "$FIXTURES/train/make-records.sh" 100 2 | sed 's/,"label":"[a-z]*"//; s/"id":[0-9]*,//' | emo pack -o b.rec
    "$FIXTURES/train/make-records.sh" 200 3 | emo pack -o val.rec
}

setup() {
    cd "$BATS_TEST_TMPDIR"
    D=$BATS_FILE_TMPDIR
    TINY=$FIXTURES/train/tiny-bert.json
    VOCAB=$FIXTURES/pretrain/vocab.txt
    # 400 records, 40 held out, batch 16: 23 steps per epoch
    ARGS="--train $D/a.rec $D/b.rec --config $TINY --vocab $VOCAB --holdout 40 --lr 3e-3 --batch 16 --threads 1 --seed 5 -q"
}

tweets() {   # tweets N OUT.rec: N shared unlabeled tweets, tokenized as the man page's last example
    [ -r "$SHARED/data/emotion/unlabeled.txt" ] || skip "no shared data at $SHARED"
    head -n "$1" "$SHARED/data/emotion/unlabeled.txt" > unlabeled.txt
    V=$SHARED/data/bert-base-uncased/vocab.txt
    emo clean --format lines --keep-stopwords unlabeled.txt 2>/dev/null | emo tokenize --vocab $V -o "$2"
}

@test "man example emo-pretrain(1): tokenize, pretrain from scratch with epoch snapshots, then fine-tune from it" {
    tweets 300 unlabeled.rec
    head -n 200 "$SHARED/data/emotion/train.txt" | emo clean --format semicolon --keep-stopwords -q |
        emo tokenize --vocab "$SHARED/data/bert-base-uncased/vocab.txt" -o train.rec
    V=$SHARED/data/bert-base-uncased/vocab.txt
    run --separate-stderr emo pretrain --train unlabeled.rec train.rec --config bert-tiny --vocab $V \
        --epochs 3 --keep-epochs -o mlm
    assert_success
    for f in config.json model.safetensors vocab.txt train_log.jsonl epoch-1/model.safetensors \
        epoch-3/config.json last/trainer_state.json; do
        assert_file_exists "mlm/$f"
    done
    grep -q '"BertForMaskedLM"' mlm/config.json
    grep -q '"epoch":3,.*"val_loss":.*"val_accuracy":' mlm/train_log.jsonl
    [[ "$stderr" == *"epoch 3/3: train loss "*", val MLM loss "*", masked-token accuracy "* ]]
    # the masked-LM loss falls from about ln(30522) = 10.3
    first=$(grep '"epoch":1,' mlm/train_log.jsonl | sed 's/.*"val_loss":\([0-9.e-]*\).*/\1/')
    last=$(grep '"epoch":3,' mlm/train_log.jsonl | sed 's/.*"val_loss":\([0-9.e-]*\).*/\1/')
    awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a && a < 10.3) }'
    cmp mlm/epoch-3/model.safetensors mlm/last/model.safetensors
    ! cmp -s mlm/epoch-1/model.safetensors mlm/epoch-3/model.safetensors
    run --separate-stderr emo teacher-train --train train.rec --val train.rec --init mlm/epoch-1 --epochs 1 -o teacher
    assert_success
    grep -q '"BertForSequenceClassification"' teacher/config.json
}

@test "man example emo-pretrain(1): an interrupted run continues with --resume" {
    tweets 200 unlabeled.rec
    V=$SHARED/data/bert-base-uncased/vocab.txt
    emo pretrain --train unlabeled.rec --config bert-tiny --vocab $V --epochs 2 --batch 16 -o mlm &
    pid=$!
    for _ in $(seq 400); do [ -e mlm/last ] && break; sleep 0.05; done
    kill -INT $pid
    rc=0
    wait $pid || rc=$?
    [ "$rc" -eq 130 ] || [ "$rc" -eq 0 ]
    run --separate-stderr emo pretrain --train unlabeled.rec --config bert-tiny --vocab $V --epochs 2 --batch 16 \
        -o mlm --resume
    assert_success
    grep -q '"epoch": 2,' mlm/last/trainer_state.json
}

@test "man example emo-pretrain(1): domain-adaptive pretraining from a checkpoint, whole-word masking" {
    tweets 200 unlabeled.rec
    # a stand-in for bert-base-uncased: a bert-tiny BertForMaskedLM checkpoint with its vocab.txt
    emo pretrain --train unlabeled.rec --config bert-tiny --vocab "$SHARED/data/bert-base-uncased/vocab.txt" \
        --epochs 1 -q -o bert-base-uncased
    rm -r bert-base-uncased/last bert-base-uncased/train_log.jsonl
    run --separate-stderr emo pretrain --train unlabeled.rec --init bert-base-uncased --whole-word --lr 5e-5 \
        --epochs 1 -o bert-tweets
    assert_success
    grep -q '"init": "bert-base-uncased"' bert-tweets/last/trainer_state.json
    grep -q '"whole_word": true' bert-tweets/last/trainer_state.json
    cmp bert-base-uncased/vocab.txt bert-tweets/vocab.txt
}

@test "pretrain -> teacher-train --init and student-distill --init on a tiny config" {
    run --separate-stderr emo pretrain $ARGS --epochs 2 -o mlm
    assert_success
    grep -q '"BertForMaskedLM"' mlm/config.json
    grep -q '"vocab_size": 120' mlm/config.json
    run --separate-stderr emo teacher-train --train "$D/a.rec" --val "$D/val.rec" --init mlm --epochs 2 \
        --lr 3e-3 --batch 16 --threads 1 -o teacher
    assert_success
    grep -q '"BertForSequenceClassification"' teacher/config.json
    grep -q '"anger"' teacher/config.json
    # the encoder came from mlm: its word embeddings start there (the head is new)
    [[ "$stderr" == *"classifier.weight"* ]]
    run --separate-stderr emo student-distill --train "$D/a.rec" --val "$D/val.rec" --teacher teacher \
        --config "$TINY" --init mlm --epochs 1 --batch 16 --threads 1 -o student
    assert_success
    assert_file_exists student/model.safetensors
}

@test "DistilBERT- and ALBERT-style models pretrain the same way; students start from them" {
    for fam in distilbert albert; do
        run --separate-stderr emo pretrain $ARGS --config "$FIXTURES/train/tiny-$fam.json" --epochs 1 -o $fam
        assert_success
        grep -qi "\"${fam}ForMaskedLM\"" $fam/config.json
        grep -q '"val_loss":' $fam/train_log.jsonl
    done
    emo teacher-train --train "$D/a.rec" --val "$D/val.rec" --config "$TINY" --epochs 1 --batch 16 --threads 1 \
        -q -o teacher
    run --separate-stderr emo student-distill --train "$D/a.rec" --val "$D/val.rec" --teacher teacher \
        --config "$FIXTURES/train/tiny-albert.json" --init albert --epochs 1 --batch 16 --threads 1 -o student
    assert_success
    grep -q '"AlbertForSequenceClassification"' student/config.json
}

@test "pretraining learns: the held-out masked-LM loss falls below the unigram entropy" {
    "$FIXTURES/train/make-records.sh" 2000 4 | emo pack -o big.rec
    run --separate-stderr emo pretrain --train big.rec --config "$TINY" --vocab "$VOCAB" --holdout 200 \
        --lr 5e-3 --batch 32 --threads 1 --seed 5 --epochs 5 -q -o mlm
    assert_success
    first=$(grep '"epoch":1,' mlm/train_log.jsonl | sed 's/.*"val_loss":\([0-9.e-]*\).*/\1/')
    last=$(grep '"epoch":5,' mlm/train_log.jsonl | sed 's/.*"val_loss":\([0-9.e-]*\).*/\1/')
    acc=$(grep '"epoch":5,' mlm/train_log.jsonl | sed 's/.*"val_accuracy":\([0-9.e-]*\).*/\1/')
    # make-records.sh draws tokens uniformly from 60 ids overall (entropy ln 60 = 4.09), 70%
    # of them from a 20-id range set by the record's label: a model that reads the context
    # reaches about 3.64 and a masked-token accuracy near 4-8% (chance 1.7%)
    awk -v a="$first" -v b="$last" -v c="$acc" 'BEGIN { exit !(b < a && b < 3.9 && c > 0.04) }'
}

@test "kill -9 mid-epoch, then --resume: final weights and epoch snapshots equal an uninterrupted run" {
    emo pretrain $ARGS --epochs 3 --keep-epochs -o whole
    # step 30 is inside epoch 2: the last complete checkpoint is the end of epoch 1 (23 steps)
    run env EMO_TEST_KILL_AT_STEP=30 emo pretrain $ARGS --epochs 3 --keep-epochs -o cut
    assert_failure 137
    grep -q '"global_step": 23' cut/last/trainer_state.json
    assert_file_exists cut/epoch-1/model.safetensors
    assert_file_not_exists cut/epoch-2
    run --separate-stderr emo pretrain $ARGS --epochs 3 --keep-epochs -o cut --resume
    assert_success
    [[ "$stderr" == *"resuming from step 23"* ]]
    for e in 1 2 3; do cmp whole/epoch-$e/model.safetensors cut/epoch-$e/model.safetensors; done
    cmp whole/model.safetensors cut/model.safetensors
    cmp whole/last/model.safetensors cut/last/model.safetensors
    cmp whole/last/optimizer.bin cut/last/optimizer.bin
    diff <(sed 's/,"\(samples_per_s\|elapsed_s\)":[^}]*//' whole/train_log.jsonl) \
        <(sed 's/,"\(samples_per_s\|elapsed_s\)":[^}]*//' cut/train_log.jsonl)
}

@test "SIGTERM mid-epoch checkpoints and exits 143; --resume replays the stream to the same weights" {
    emo pretrain $ARGS --epochs 300 -o run &
    pid=$!
    for _ in $(seq 400); do [ -e run/last ] && break; sleep 0.05; done
    kill -TERM $pid
    rc=0
    wait $pid || rc=$?
    assert_equal "$rc" 143
    step=$(sed -n 's/.*"global_step": \([0-9]*\).*/\1/p' run/last/trainer_state.json)
    pos=$(sed -n 's/.*"batch_in_epoch": \([0-9]*\).*/\1/p' run/last/trainer_state.json)
    target=$((step + 30))
    run --separate-stderr emo pretrain $ARGS --epochs 300 -o run --resume --max-steps $target
    assert_success
    emo pretrain $ARGS --epochs 300 -o whole --max-steps $target
    cmp whole/last/model.safetensors run/last/model.safetensors
    cmp whole/last/optimizer.bin run/last/optimizer.bin
}

@test "a NaN loss stops naming the step; the last checkpoint is kept" {
    run --separate-stderr env EMO_TEST_NAN_AT_STEP=26 emo pretrain $ARGS --epochs 3 -o t
    assert_failure 1
    [[ "$stderr" == "emo-pretrain: non-finite loss at step 26 (epoch 2, batch 3; record ids "* ]]
    grep -q '"global_step": 23' t/last/trainer_state.json
}

@test "the same seed gives the same weights; another seed other weights" {
    emo pretrain $ARGS --epochs 1 -o a
    emo pretrain $ARGS --epochs 1 -o b
    cmp a/model.safetensors b/model.safetensors
    emo pretrain $ARGS --epochs 1 --seed 6 -o c
    ! cmp -s a/model.safetensors c/model.safetensors
}

@test "masking options: rates, whole words, and the hold-out's masked-token count" {
    emo pretrain $ARGS --epochs 1 -o p15
    emo pretrain $ARGS --epochs 1 --mask-prob 0.5 --mask-replace 1 --mask-random 0 -o p50
    emo pretrain $ARGS --epochs 1 --whole-word -o wwm
    n15=$(sed 's/.*"val_masked_tokens":\([0-9.]*\).*/\1/' p15/train_log.jsonl | tail -1)
    n50=$(sed 's/.*"val_masked_tokens":\([0-9.]*\).*/\1/' p50/train_log.jsonl | tail -1)
    awk -v a="$n15" -v b="$n50" 'BEGIN { exit !(b > 2.5 * a) }'
    grep -q '"whole_word": true' wwm/last/trainer_state.json
    ! cmp -s p15/model.safetensors wwm/model.safetensors
    run --separate-stderr emo pretrain $ARGS --mask-replace 0.9 --mask-random 0.2 -o x
    assert_failure 2
    [[ "$stderr" == *"exceed 1"* ]]
    assert_file_not_exists x
}

@test "--holdout 0: no validation, the last epoch is the model" {
    run --separate-stderr emo pretrain $ARGS --holdout 0 --epochs 2 -o t
    assert_success
    ! grep -q val_loss t/train_log.jsonl
    cmp t/model.safetensors t/last/model.safetensors
}

@test "help and bad usage" {
    run emo pretrain -h
    assert_success
    assert_output --partial "usage: emo pretrain --train FILE"
    run --separate-stderr emo pretrain --train "$D/a.rec" --vocab "$VOCAB" -o t
    assert_failure 2
    run --separate-stderr emo pretrain $ARGS --loss ce -o t
    assert_failure 2
    run --separate-stderr emo pretrain $ARGS --early-stop-metric f1 -o t
    assert_failure 2
    [[ "$stderr" == *"not f1"* ]]
}

@test "bad input: a record without input_ids" {
    printf '%s\n' '{"id":1,"input_ids":[101,20,102]}' '{"id":2,"text":"hello"}' | emo pack -o bad.rec
    run --separate-stderr emo pretrain --train bad.rec --config "$TINY" --vocab "$VOCAB" -o t
    assert_failure 1
    assert_equal "$stderr" "emo-pretrain: bad.rec:record 2: no input_ids (records from emo tokenize carry them)"
    assert_file_not_exists t
}

@test "bad input: empty input_ids" {
    echo '{"id":1,"input_ids":[]}' | emo pack -o bad.rec
    run --separate-stderr emo pretrain --train "$D/a.rec" bad.rec --config "$TINY" --vocab "$VOCAB" -o t
    assert_failure 1
    assert_equal "$stderr" "emo-pretrain: bad.rec:record 1: empty input_ids"
    assert_file_not_exists t
}

@test "bad input: input_ids not an array of ids" {
    echo '{"id":1,"input_ids":"101 5 102"}' | emo pack -o bad.rec
    run --separate-stderr emo pretrain --train bad.rec --config "$TINY" --vocab "$VOCAB" -o t
    assert_failure 1
    assert_equal "$stderr" "emo-pretrain: bad.rec:record 1: field 'input_ids' is not an array of token ids"
}

@test "bad input: a token id outside the vocabulary" {
    printf '%s\n' '{"id":1,"input_ids":[101,20,102]}' '{"id":2,"input_ids":[101,500,102]}' | emo pack -o bad.rec
    run --separate-stderr emo pretrain --train bad.rec --config "$TINY" --vocab "$VOCAB" -o t
    assert_failure 1
    assert_equal "$stderr" "emo-pretrain: bad.rec:record 2: token id 500 is outside the model's vocabulary of 120 (tokenized with another vocabulary?)"
    assert_file_not_exists t
}

@test "bad input: a record longer than the model's positions" {
    ids=$(seq -s, 1 45)
    echo "{\"id\":7,\"input_ids\":[$ids]}" | emo pack -o long.rec
    run --separate-stderr emo pretrain --train "$D/a.rec" long.rec --config "$TINY" --vocab "$VOCAB" -o t
    assert_failure 1
    assert_equal "$stderr" "emo-pretrain: long.rec:record 1: 45 tokens, longer than the model's 40 positions (emo tokenize --max-len)"
    assert_file_not_exists t
}

@test "bad input: empty input" {
    : | emo pack -o empty.rec
    run --separate-stderr emo pretrain --train empty.rec --config "$TINY" --vocab "$VOCAB" -o t
    assert_failure 1
    assert_equal "$stderr" "emo-pretrain: empty.rec: no records"
    assert_file_not_exists t
}

@test "bad input: a truncated stream" {
    head -c 300 "$D/a.rec" > cut.rec
    run --separate-stderr emo pretrain --train cut.rec --config "$TINY" --vocab "$VOCAB" -o t
    assert_failure 1
    [[ "$stderr" == "emo-pretrain: cut.rec:"* ]]
    assert_file_not_exists t
}

@test "bad input: a missing input file" {
    run --separate-stderr emo pretrain --train "$D/a.rec" nosuch.rec --config "$TINY" --vocab "$VOCAB" -o t
    assert_failure 1
    assert_equal "$stderr" "emo-pretrain: nosuch.rec: No such file or directory"
}

@test "bad input: an unknown preset" {
    run --separate-stderr emo pretrain --train "$D/a.rec" --config bert-huge --vocab "$VOCAB" -o t
    assert_failure 2
    [[ "$stderr" == "emo-pretrain: "*"bert-huge"* ]]
    [ "$(echo "$stderr" | wc -l)" -eq 1 ]
}

@test "bad input: standard input (read once per epoch) is refused" {
    run --separate-stderr bash -c "emo pretrain --train - --config $TINY --vocab $VOCAB -o t < $D/a.rec"
    assert_failure 2
    [[ "$stderr" == "emo-pretrain: -: emo pretrain reads its inputs once per epoch"* ]]
}

@test "bad input: no vocabulary, a vocabulary without [MASK], one larger than the model's" {
    run --separate-stderr emo pretrain --train "$D/a.rec" --config "$TINY" -o t
    assert_failure 2
    [[ "$stderr" == *"no vocabulary: give --vocab FILE"* ]]
    grep -v MASK "$VOCAB" > nomask.txt
    run --separate-stderr emo pretrain --train "$D/a.rec" --config "$TINY" --vocab nomask.txt -o t
    assert_failure 1
    assert_equal "$stderr" "emo-pretrain: nomask.txt: no [MASK] token"
    { cat "$VOCAB"; echo extra; } > big.txt
    run --separate-stderr emo pretrain --train "$D/a.rec" --config "$TINY" --vocab big.txt -o t
    assert_failure 1
    assert_equal "$stderr" "emo-pretrain: big.txt: 121 tokens, more than the model's vocabulary of 120"
    assert_file_not_exists t
}

@test "bad input: a hold-out as large as the input" {
    run --separate-stderr emo pretrain --train "$D/b.rec" --config "$TINY" --vocab "$VOCAB" --holdout 100 -o t
    assert_failure 2
    assert_equal "$stderr" "emo-pretrain: --holdout 100 leaves no records to train on (100 in all)"
    assert_file_not_exists t
}

@test "--resume with other options, or without a checkpoint" {
    emo pretrain $ARGS --epochs 1 -o t
    run --separate-stderr emo pretrain $ARGS --epochs 1 -o t
    assert_failure 2
    [[ "$stderr" == *"t/last exists"*"--resume"* ]]
    run --separate-stderr emo pretrain $ARGS --epochs 1 --whole-word -o t --resume
    assert_failure 2
    [[ "$stderr" == *"options differ"* ]]
    run --separate-stderr emo pretrain $ARGS --epochs 1 -o fresh --resume
    assert_failure 2
    [[ "$stderr" == *"nothing to resume"* ]]
}

@test "EMO_PRETRAIN_DUMP_BATCHES (bench/pretrain/pretrain.sh): the first epoch's masked batches, no training" {
    run --separate-stderr env EMO_PRETRAIN_DUMP_BATCHES=b.bin emo pretrain $ARGS -o t
    assert_success
    assert_file_not_exists t
    # int32 B, T, M, ids (B*T), lens (B), pos (M), target (M) per batch: 360 training records
    # in 23 batches; masked ids only at the positions; about 15% of the real tokens chosen
    run bash -c "od -An -v -t d4 b.bin | tr -s ' ' '\n' | grep -v '^$' | awk '
        function take() { return v[++i] }
        { v[NR] = \$1 } END {
            while (i < NR) {
                B = take(); T = take(); M = take(); nb++; recs += B
                for (k = 0; k < B * T; k++) id[k] = take()
                for (k = 0; k < B; k++) { len = take(); real += len }
                for (k = 0; k < M; k++) p[k] = take()
                for (k = 0; k < M; k++) { y = take(); if (id[p[k]] != 103 && id[p[k]] != y) random++ }
                chosen += M
            }
            printf \"%d %d %.3f\\n\", nb, recs, chosen / real }'"
    assert_success
    read -r nb recs share <<< "$output"
    assert_equal "$nb" 23
    assert_equal "$recs" 360
    awk -v s="$share" 'BEGIN { exit !(s > 0.10 && s < 0.18) }'
}
