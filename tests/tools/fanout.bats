#!/usr/bin/env bats
# The GNU parallel recipes in pipelines/: clean-tokenize-parallel.sh, shard.sh,
# teacher-logits-parallel.sh -p, eval-parallel.sh.  Each is run with several local job slots
# and through "machines" (-S h1,h2 and --sshloginfile), and compared with the single-process
# run.  The machines are directories: tests/fixtures/fanout/fakessh stands in for ssh
# ($PARALLEL_SSH), running each command in FAKESSH_ROOT/HOST, so parallel's rsync
# --transferfile, --return and --cleanup really copy files there and back.
load helpers

setup_file() {
    cd "$BATS_FILE_TMPDIR"
    "$FIXTURES/train/make-records.sh" 300 1 | emo pack -o train.rec
    "$FIXTURES/train/make-records.sh" 80 2 | emo pack -o val.rec
    emo teacher-train --train train.rec --val val.rec --config "$FIXTURES/train/tiny-bert.json" --lr 3e-3 \
        --batch 16 --epochs 1 --threads 1 -q -o teacher
}

setup() {
    D=$BATS_FILE_TMPDIR
    cd "$BATS_TEST_TMPDIR"
    P=$EMO_ROOT/pipelines
    export PARALLEL_SSH=$FIXTURES/fanout/fakessh FAKESSH_ROOT=$BATS_TEST_TMPDIR/machines
    mkdir machines
}

# no file is left on the machines (parallel --cleanup)
machines_clean() { [ -z "$(find machines -type f)" ]; }

corpus() {
    [ -r "$SHARED/data/emotion/train.txt" ] || skip "no shared corpus in $SHARED"
    V=$SHARED/data/bert-base-uncased/vocab.txt
    head -250 "$SHARED/data/emotion/train.txt" > corpus.txt
}

@test "clean-tokenize-parallel.sh -j 3: the records of a single run, and emo split's files byte for byte" {
    corpus
    emo clean -q --format semicolon corpus.txt | emo tokenize --vocab "$V" > single.rec
    run "$P/clean-tokenize-parallel.sh" -v "$V" -n 40 -j 3 -o par.rec corpus.txt
    assert_success
    diff <(emo dump single.rec) <(emo dump par.rec)
    [ "$(emo dump par.rec | wc -l)" -eq 250 ]
    emo split --seed 7 -q -o s1 single.rec
    emo split --seed 7 -q -o s2 par.rec
    for f in train val test; do cmp s1/$f.rec s2/$f.rec; done
}

@test "clean-tokenize-parallel.sh: the Kaggle CSV (header in the first chunk only, index ids)" {
    corpus
    awk -F';' 'BEGIN { print ",text,label"; split("sadness joy love anger fear surprise", n, " ");
                       for (i = 1; i <= 6; i++) k[n[i]] = i - 1 }
               { printf "%d,%s,%d\n", 7 * NR, $1, k[$2] }' corpus.txt > text.csv
    emo clean -q --format kaggle --label-names sadness,joy,love,anger,fear,surprise text.csv |
        emo tokenize --vocab "$V" > single.rec
    "$P/clean-tokenize-parallel.sh" -v "$V" -n 60 -j 2 text.csv > par.rec
    diff <(emo dump single.rec) <(emo dump par.rec)
    run bash -c 'emo dump par.rec | tail -1 | jq .id'
    assert_output 1750
}

@test "clean-tokenize-parallel.sh -S h1,h2: chunks and vocabulary travel, records come back, nothing stays" {
    corpus
    emo clean -q --format semicolon corpus.txt | emo tokenize --vocab "$V" > single.rec
    run "$P/clean-tokenize-parallel.sh" -v "$V" -n 40 -S h1,h2 -o par.rec corpus.txt
    assert_success
    diff <(emo dump single.rec) <(emo dump par.rec)
    [ -d machines/h1 ] && [ -d machines/h2 ]
    machines_clean
}

@test "clean-tokenize-parallel.sh: a failing chunk fails the run and writes no output" {
    corpus
    sed -i '100s/;/ \xff;/' corpus.txt      # invalid UTF-8 on line 100
    run --separate-stderr "$P/clean-tokenize-parallel.sh" -v "$V" -n 40 -j 3 -o par.rec corpus.txt
    assert_failure
    [[ "$stderr" == *"line 20"* ]]          # line 20 of the third chunk: the chunk's own numbering
    assert_file_not_exists par.rec
    assert_equal "$(ls -A | grep -v separate-stderr | tr "\n" " ")" "corpus.txt machines "
}

@test "shard.sh: shards of N records whose concatenation is the input; bad input leaves nothing" {
    run "$P/shard.sh" -n 64 -o shards "$D/train.rec" "$D/val.rec"
    assert_success
    assert_equal "$(ls shards | tr '\n' ' ')" "shard.000000.rec shard.000001.rec shard.000002.rec shard.000003.rec shard.000004.rec shard.000005.rec "
    [ "$(emo dump shards/shard.000000.rec | wc -l)" -eq 64 ]
    diff <(emo dump "$D/train.rec" "$D/val.rec") <(cat shards/*.rec | emo dump)
    run --separate-stderr "$P/shard.sh" -n 64 -o shards "$D/train.rec"
    assert_failure 1
    printf 'junk' > bad.rec
    run --separate-stderr "$P/shard.sh" -n 64 -o shards2 "$D/train.rec" bad.rec
    assert_failure 1
    [[ "$stderr" == *"bad.rec:record 1"* ]]
    run ls
    refute_output --partial shards2
}

@test "teacher-logits-parallel.sh -p: sharded predictions equal a single run's to the bit (-j 3, -S, --sshloginfile)" {
    # shards of 50 records: batches unlike the single run's (which has --batch 8 and 1 thread)
    "$P/shard.sh" -n 50 -o shards "$D/train.rec" "$D/val.rec"
    cat "$D/train.rec" "$D/val.rec" | emo teacher-logits -m "$D/teacher" --batch 8 --threads 1 > single.rec
    "$P/teacher-logits-parallel.sh" -m "$D/teacher" -p par.rec -j 3 -a "--batch 4" shards/*.rec
    diff <(emo dump single.rec) <(emo dump par.rec)
    "$P/teacher-logits-parallel.sh" -m "$D/teacher" -p rem.rec -S h1,h2 -a "--batch 4" shards/*.rec
    diff <(emo dump single.rec) <(emo dump rem.rec)
    printf 'h1\nh2\nh3\n' > logins
    "$P/teacher-logits-parallel.sh" -m "$D/teacher" -p - -s logins -a "--batch 4" shards/*.rec > slf.rec
    diff <(emo dump single.rec) <(emo dump slf.rec)
    [ -d machines/h3 ]
    machines_clean
}

@test "teacher-logits-parallel.sh -o through machines: the cache of a single run, part by part" {
    # 30 small shards on 2 machines of 2 slots: jobs on one machine start and end together
    # (this caught --cleanup removing a directory another job was copying into, 7 runs in 40)
    "$P/shard.sh" -n 10 -o shards "$D/train.rec"
    mkdir single
    emo teacher-logits -m "$D/teacher" -o single --batch 16 --threads 1 "$D/train.rec"
    "$P/teacher-logits-parallel.sh" -m "$D/teacher" -o par -S h1,h2 -a "--batch 4" shards/*.rec
    run emo cache --verify par
    assert_line "records	300"
    assert_line "verify	ok"
    ids=$(emo dump "$D/train.rec" | jq -r .id | paste -sd,)
    diff <(emo cache --get "$ids" --attn single | emo dump) <(emo cache --get "$ids" --attn par | emo dump)
    machines_clean
    run ls -A par
    refute_output --partial ".tmp"
}

@test "teacher-logits-parallel.sh: a failing job fails the run and leaves no predictions" {
    "$P/shard.sh" -n 64 -o shards "$D/train.rec"
    printf 'junk' > shards/shard.000009.rec
    run --separate-stderr "$P/teacher-logits-parallel.sh" -m "$D/teacher" -p par.rec -j 3 shards/*.rec
    assert_failure
    [[ "$stderr" == *"shard.000009.rec"* ]]
    assert_file_not_exists par.rec
}

@test "eval-parallel.sh: the report and the JSON of a single run, byte for byte (-j 3 and -S)" {
    cat "$D/train.rec" "$D/val.rec" | emo teacher-logits -m "$D/teacher" --batch 4 --threads 1 > preds.rec
    emo eval -m "$D/teacher" preds.rec > single.txt
    emo eval -m "$D/teacher" --json preds.rec > single.json
    run "$P/eval-parallel.sh" -m "$D/teacher" -n 70 -j 3 -a "--batch 4" -k kept.rec "$D/train.rec" "$D/val.rec"
    assert_success
    diff single.txt <(printf '%s\n' "$output")
    diff <(emo dump preds.rec) <(emo dump kept.rec)
    "$P/eval-parallel.sh" -m "$D/teacher" -n 64 -S h1,h2 -a "--batch 4" -e --json "$D/train.rec" "$D/val.rec" > par.json
    cmp single.json par.json
    machines_clean
}
