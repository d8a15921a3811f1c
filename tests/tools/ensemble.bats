#!/usr/bin/env bats
# pipelines/ensemble.sh: tiny teachers of different seeds by GNU parallel (local job slots,
# and "machines" through tests/fixtures/fanout/fakessh), their caches, the merged cache and
# the accuracy report; a rerun redoes nothing; a failed job leaves no ensemble.
load helpers

setup_file() {
    cd "$BATS_FILE_TMPDIR"
    "$FIXTURES/train/make-records.sh" 200 1 | emo pack -o train.rec
    "$FIXTURES/train/make-records.sh" 60 2 | emo pack -o val.rec
    "$FIXTURES/train/make-records.sh" 40 3 | emo pack -o extra.rec      # unlabelled-like, own ids
    "$FIXTURES/train/make-records.sh" 50 4 | emo pack -o test.rec
}

setup() {
    D=$BATS_FILE_TMPDIR
    cd "$BATS_TEST_TMPDIR"
    P=$EMO_ROOT/pipelines
    TOPTS="--max-steps 5 --lr 3e-3 --batch 16"
    CFG=$FIXTURES/train/tiny-bert.json
}

@test "ensemble.sh -h prints its usage; bad arguments exit 2" {
    run "$P/ensemble.sh" -h
    assert_success
    assert_output --partial "ensemble.sh -t TRAIN -v VAL -o OUT"
    run "$P/ensemble.sh" -t "$D/train.rec" -o out
    assert_failure 2
    run "$P/ensemble.sh" -t "$D/train.rec" -v "$D/val.rec" -o out -n x
    assert_failure 2
    run "$P/ensemble.sh" -t "$D/train.rec" -v missing.rec -o out
    assert_failure 1
}

@test "ensemble.sh -n 3 -j 2: teachers, caches, the merged cache and the accuracies" {
    run --separate-stderr "$P/ensemble.sh" -t "$D/train.rec" -v "$D/val.rec" -o out -n 3 -b 5 -j 2 -c "$CFG" \
        -a "$TOPTS" "$D/extra.rec"
    assert_success
    assert_line --index 0 "model	val_accuracy"
    [ "${#lines[@]}" -eq 5 ]
    [[ "${lines[1]}" =~ ^teacher-5$'\t'0\.[0-9]{4}$ ]]
    [[ "${lines[4]}" =~ ^ensemble$'\t'[01]\.[0-9]{4}$ ]]
    cmp <(printf '%s\n' "${lines[@]}") out/accuracy.tsv
    for s in 5 6 7; do
        assert_file_exists out/teacher-$s/model.safetensors
        run emo cache out/cache-$s
        assert_line "records	300"
    done
    # the seeds differ, so do the teachers
    ! cmp -s out/teacher-5/model.safetensors out/teacher-6/model.safetensors
    # the ensemble is emo cache merge of the three caches; its accuracy is eval's on its logits
    emo cache merge -o again out/cache-5 out/cache-6 out/cache-7
    cmp <(emo cache --get 100003,200007,300001 out/ensemble | emo dump) <(emo cache --get 100003,200007,300001 again | emo dump)
    acc=$(emo cache --join "$D/val.rec" out/ensemble | emo eval --json | jq '.accuracy * 10000 | round')
    [ "$(grep ^ensemble out/accuracy.tsv | cut -f2 | sed 's/\.//; s/^0*//')" = "$acc" ]
    # a student distils from it
    run --separate-stderr emo student-distill --train "$D/train.rec" --val "$D/val.rec" --teacher-cache out/ensemble \
        --config "$FIXTURES/train/tiny-distilbert.json" --max-steps 2 --threads 1 -q -o student
    assert_success
    # a rerun trains nothing, and gives the same report
    cp out/accuracy.tsv first.tsv
    run --separate-stderr "$P/ensemble.sh" -t "$D/train.rec" -v "$D/val.rec" -o out -n 3 -b 5 -j 2 -c "$CFG" \
        -a "$TOPTS" "$D/extra.rec"
    assert_success
    [[ "$stderr" != *"training"* ]]
    cmp first.tsv out/accuracy.tsv
}

@test "ensemble.sh -e TEST: the test accuracy of each teacher and of the ensemble too" {
    run --separate-stderr "$P/ensemble.sh" -t "$D/train.rec" -v "$D/val.rec" -e "$D/test.rec" -o out -n 2 -j 2 \
        -c "$CFG" -a "$TOPTS"
    assert_success
    assert_line --index 0 "model	val_accuracy	test_accuracy"
    [[ "${lines[3]}" =~ ^ensemble$'\t'[01]\.[0-9]{4}$'\t'[01]\.[0-9]{4}$ ]]
    run emo cache out/cache-1
    assert_line "records	310"
    acc=$(emo cache --join "$D/test.rec" out/ensemble | emo eval --json | jq '.accuracy * 10000 | round')
    [ "$(grep ^ensemble out/accuracy.tsv | cut -f3 | sed 's/\.//; s/^0*//')" = "$acc" ]
}

@test "ensemble.sh -S h1,h2: the teachers trained on the machines equal local ones, nothing stays there" {
    export PARALLEL_SSH=$FIXTURES/fanout/fakessh FAKESSH_ROOT=$BATS_TEST_TMPDIR/machines
    mkdir machines
    "$P/ensemble.sh" -t "$D/train.rec" -v "$D/val.rec" -o local -n 2 -j 2 -c "$CFG" -a "$TOPTS" > local.tsv 2>/dev/null
    run --separate-stderr "$P/ensemble.sh" -t "$D/train.rec" -v "$D/val.rec" -o remote -n 2 -S h1,h2 -c "$CFG" -a "$TOPTS"
    assert_success
    cmp local.tsv remote/accuracy.tsv
    for s in 1 2; do
        cmp local/teacher-$s/model.safetensors remote/teacher-$s/model.safetensors
    done
    cmp <(emo cache --get 100000,200059 local/ensemble | emo dump) <(emo cache --get 100000,200059 remote/ensemble | emo dump)
    [ -z "$(find machines -type f)" ]
}

@test "ensemble.sh: a failed teacher stops the run, no ensemble, no half-made teacher" {
    run --separate-stderr "$P/ensemble.sh" -t "$D/train.rec" -v "$D/val.rec" -o out -n 2 -j 2 -c "$CFG" \
        -a "$TOPTS --loss nonsense"
    assert_failure
    assert_file_not_exists out/ensemble
    assert_file_not_exists out/accuracy.tsv
    assert_file_not_exists out/teacher-1
    assert_file_not_exists out/cache-1
}
