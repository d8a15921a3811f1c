#!/usr/bin/env bats
# emo teacher-logits and emo cache: plain and cache modes, GNU parallel fan-out, the man page
# examples of emo-teacher-logits(1), emo-cache(1) and emo-cache(5), and every damaged-cache case.
load helpers

setup_file() {
    cd "$BATS_FILE_TMPDIR"
    "$FIXTURES/train/make-records.sh" 300 1 | emo pack -o train.rec
    "$FIXTURES/train/make-records.sh" 80 2 | emo pack -o val.rec
    "$FIXTURES/train/make-records.sh" 40 0 | emo pack -o part1.rec    # ids 0..39
    "$FIXTURES/train/make-records.sh" 40 4 | emo pack -o part2.rec
    emo teacher-train --train train.rec --val val.rec --config "$FIXTURES/train/tiny-bert.json" --lr 3e-3 \
        --batch 16 --epochs 2 --threads 1 -q -o teacher
}

setup() {
    cd "$BATS_TEST_TMPDIR"
    D=$BATS_FILE_TMPDIR
    ln -s "$D/teacher" teacher
    for f in train val part1 part2; do ln -s "$D/$f.rec" $f.rec; done
    ln -s "$EMO_ROOT/pipelines" pipelines
}

@test "man example emo-teacher-logits(1): logits added in input order, fields passed through" {
    run bash -c 'emo teacher-logits -m teacher val.rec > val.logits.rec'
    assert_success
    run bash -c 'emo dump val.logits.rec | head -3'
    assert_line --index 0 --regexp '^\{"id":200000,"input_ids":\[101,[0-9,]*102\],"label":"[a-z]+","logits":\[[-0-9.e]+,[-0-9.e]+,[-0-9.e]+\]\}$'
    [ "$(emo dump val.logits.rec | wc -l)" -eq 80 ]
    diff <(emo dump val.rec | sed 's/.*"id":\([0-9]*\).*/\1/') <(emo dump val.logits.rec | sed 's/.*"id":\([0-9]*\).*/\1/')
}

@test "a record's logits, embedding and attention maps do not depend on --batch, --threads or OpenBLAS's kernels" {
    emo teacher-logits -m teacher --embeddings --batch 64 --threads 2 val.rec > a.rec
    emo teacher-logits -m teacher --embeddings --batch 1 --threads 1 val.rec > b.rec
    emo teacher-logits -m teacher --embeddings --batch 7 --threads 2 val.rec > c.rec
    [ "$(emo dump a.rec | wc -l)" -eq 80 ]
    diff <(emo dump a.rec) <(emo dump b.rec)
    diff <(emo dump a.rec) <(emo dump c.rec)
    # nor on OpenBLAS's kernels (another machine's): inference does not use them
    OPENBLAS_CORETYPE=Sandybridge emo teacher-logits -m teacher --embeddings --batch 5 val.rec > d.rec
    diff <(emo dump a.rec) <(emo dump d.rec)
    mkdir c1 c2
    emo teacher-logits -m teacher -o c1 --attn-layers all --batch 64 --threads 2 val.rec
    emo teacher-logits -m teacher -o c2 --attn-layers all --batch 3 --threads 1 val.rec
    ids=$(emo dump val.rec | jq -r .id | paste -sd,)
    diff <(emo cache --get "$ids" --attn c1 | emo dump) <(emo cache --get "$ids" --attn c2 | emo dump)
}

@test "--embeddings adds the pooled output (H floats)" {
    run bash -c 'emo teacher-logits -m teacher --embeddings val.rec | emo dump | head -1'
    assert_success
    n=$(echo "$output" | sed 's/.*"embedding":\[\([^]]*\)\].*/\1/' | tr ',' '\n' | wc -l)
    [ "$n" -eq 32 ]
}

@test "man example emo-teacher-logits(1): build the cache, then emo cache --verify" {
    run emo teacher-logits -m teacher -o cache train.rec
    assert_success
    assert_output ""
    run emo cache --verify cache
    assert_success
    assert_line "records	300"
    assert_line "layers	1"
    assert_line "heads	2"
    assert_line "verify	ok"
}

@test "cache logits equal plain-mode logits; attention rows are probabilities" {
    emo teacher-logits -m teacher -o cache val.rec
    emo teacher-logits -m teacher val.rec | emo dump | grep '"id":200005,' | sed 's/.*"logits":\(\[[^]]*\]\).*/\1/' > plain
    emo cache --get 200005 --attn cache | emo dump > got
    sed 's/.*"logits":\(\[[^]]*\]\).*/\1/' got > cached
    diff plain cached
    # every row of every head sums to 1 within the f16 error
    len=$(sed 's/.*"len":\([0-9]*\).*/\1/' got)
    sed 's/.*"attention":\[\([^]]*\)\].*/\1/' got | tr ',' '\n' |
        awk -v l="$len" '{ s += $1 } NR % l == 0 { if (s < 0.995 || s > 1.005) bad++; s = 0; rows++ }
                         END { exit !(bad == 0 && rows == 2 * l) }'
}

@test "--attn-layers all|none|list and --attn-codec u8" {
    emo teacher-logits -m teacher -o all --attn-layers all val.rec
    run emo cache all
    assert_line "layers	0,1"
    emo teacher-logits -m teacher -o none --attn-layers none val.rec
    run emo cache none
    assert_line "layers	"
    emo teacher-logits -m teacher -o u8 --attn-layers 0 --attn-codec u8 val.rec
    run emo cache --verify u8
    assert_line "codec	u8"
    run --separate-stderr emo teacher-logits -m teacher -o bad --attn-layers 0,7 val.rec
    assert_failure 2
    [[ "$stderr" == *"--attn-layers"* ]]
}

@test "man example emo-teacher-logits(1): GNU parallel fan-out, parts merged at open" {
    run pipelines/teacher-logits-parallel.sh -m teacher -o cache -j 2 part1.rec part2.rec
    assert_success
    assert_file_exists cache/part1.manifest.json
    assert_file_exists cache/part2.manifest.json
    run emo cache --verify cache
    assert_line "records	80"
    # a rerun only does what is missing
    rm cache/part2*
    run --separate-stderr pipelines/teacher-logits-parallel.sh -m teacher -o cache -j 2 part1.rec part2.rec
    assert_success
    run emo cache cache
    assert_line "records	80"
}

@test "parallel fan-out through -S (here ':' = this machine, with --return)" {
    run pipelines/teacher-logits-parallel.sh -m teacher -o cache -S : part1.rec part2.rec
    assert_success
    run emo cache --verify cache
    assert_line "records	80"
    run ls
    refute_output --partial ".part"
}

@test "man example emo-cache(1): --verify and --get" {
    emo teacher-logits -m teacher -o cache part1.rec
    run emo cache --verify cache
    assert_success
    run bash -c 'emo cache --get 7,12 cache | emo dump'
    assert_success
    assert_line --index 0 --regexp '^\{"id":7,"len":[0-9]+,"logits":\[[^]]*\]\}$'
    assert_line --index 1 --regexp '^\{"id":12,'
}

@test "man example emo-cache(5): zstd -t accepts the shards; the manifest lists them" {
    emo teacher-logits -m teacher -o cache train.rec
    run zstd -q -t cache/*.zst
    assert_success
    run grep '"file"' cache/shard.manifest.json
    assert_line --partial '"file": "shard-0000.zst"'
    assert_line --partial '"file": "shard.idx"'
}

@test "damaged cache: flipped byte names shard and frame" {
    emo teacher-logits -m teacher -o cache train.rec
    printf '\x55' | dd of=cache/shard-0000.zst bs=1 seek=200 conv=notrunc 2>/dev/null
    run --separate-stderr emo cache --verify cache
    assert_failure 1
    [[ "$stderr" =~ ^emo-cache:\ cache/shard-0000.zst:\ frame\ 0:\ (checksum\ mismatch|corrupt) ]]
}

@test "damaged cache: truncated shard is refused at open" {
    emo teacher-logits -m teacher -o cache train.rec
    truncate -s -5 cache/shard-0000.zst
    run --separate-stderr emo cache cache
    assert_failure 1
    [[ "$stderr" == "emo-cache: cache/shard-0000.zst: size "*"truncated or replaced?)" ]]
}

@test "damaged cache: missing shard is refused at open" {
    emo teacher-logits -m teacher -o cache train.rec
    rm cache/shard-0000.zst
    run --separate-stderr emo cache cache
    assert_failure 1
    assert_equal "$stderr" "emo-cache: cache: missing shards: shard-0000.zst"
}

@test "duplicate ids across parts; id missing from the cache" {
    # two jobs writing at the same time (or on two machines) do not see each other's part
    emo teacher-logits -m teacher -o cache --prefix a part1.rec
    mkdir other
    emo teacher-logits -m teacher -o other --prefix b part1.rec
    mv other/* cache/
    run --separate-stderr emo cache cache
    assert_failure 1
    [[ "$stderr" == "emo-cache: duplicate id 0 in cache/a-0000.zst and cache/b-0000.zst (ids must be unique over all parts of a cache)" ]]
    rm cache/b.*
    run --separate-stderr emo cache --get 99999 cache
    assert_failure 1
    [[ "$stderr" == *"id 99999 is not in the cache"* ]]
}

@test "ids clashing in a cache are refused where they enter, naming both places, and nothing is left behind" {
    # the same id in two inputs of one run (train.txt and unlabeled.txt cleaned separately)
    run --separate-stderr emo teacher-logits -m teacher -o c1 part1.rec val.rec part1.rec
    assert_failure 1
    [[ "$stderr" == "emo-teacher-logits: part1.rec:record 1: id 0 again: part1.rec:record 1 has it too; ids must be unique over all inputs of a cache (emo clean --id-space)" ]]
    [ ! -e c1 ] || [ -z "$(ls -A c1)" ]
    # an id already in a finished part of the directory
    emo teacher-logits -m teacher -o c2 --prefix a val.rec
    { emo dump part1.rec | head -3; emo dump val.rec | sed -n 5p; } | emo pack -o mixed.rec
    run --separate-stderr emo teacher-logits -m teacher -o c2 --prefix b mixed.rec
    assert_failure 1
    id=$(emo dump val.rec | sed -n '5s/^{"id":\([0-9]*\).*/\1/p')
    [[ "$stderr" == "emo-teacher-logits: mixed.rec:record 4: id $id is already in the cache (c2/a-0000.zst); ids must be unique over all parts of a cache (emo clean --id-space)" ]]
    [ ! -e c2/b.manifest.json ] && [ ! -e c2/b-0000.zst ]
    # ids that do not clash: the parts go together
    emo teacher-logits -m teacher -o c2 --prefix c part1.rec
    run --separate-stderr emo cache c2
    assert_success
}

@test "a finished part is not overwritten; a failed run leaves no part" {
    emo teacher-logits -m teacher -o cache val.rec
    run --separate-stderr emo teacher-logits -m teacher -o cache val.rec
    assert_failure 1
    [[ "$stderr" == *"cache/shard.manifest.json: exists already"* ]]
    # the bad record comes after 200 good ones
    { emo dump val.rec; emo dump train.rec | head -150; echo '{"id":9,"input_ids":[101,999,102]}'; } | emo pack -o bad.rec
    run --separate-stderr emo teacher-logits -m teacher -o c2 bad.rec
    assert_failure 1
    [[ "$stderr" == "emo-teacher-logits: bad.rec:record 231: token id 999 is outside the model's vocabulary of 120"* ]]
    # not even the directory the run created
    [ ! -e c2 ]
}

@test "progress: a live line of records and records/s on a terminal, nothing otherwise" {
    command -v script >/dev/null || skip "script(1) is not installed"
    run script -qec "emo teacher-logits -m teacher --batch 8 val.rec > out.rec" /dev/null
    assert_success
    [[ "$output" == *$'\r\e[Kval.rec: '*' records, '*' records/s, 0:00:0'* ]]
    [[ "$output" == *$'\r\e[K' ]]     # erased at the end
    [ "$(emo dump out.rec | wc -l)" -eq 80 ]
    run --separate-stderr emo teacher-logits -m teacher --batch 8 -o cache val.rec
    assert_success
    [ -z "$stderr" ]
}

@test "bad input: a label the checkpoint does not know; a checkpoint without head" {
    echo '{"id":1,"input_ids":[101,5,102],"label":"love"}' | emo pack -o l.rec
    run --separate-stderr emo teacher-logits -m teacher l.rec
    assert_failure 1
    [[ "$stderr" == "emo-teacher-logits: l.rec:record 1: label 'love' is not one of the checkpoint's labels" ]]
    run --separate-stderr emo teacher-logits -m "$EMO_ROOT/tests/fixtures/models/bert-nohead" l.rec
    assert_failure 1
    [[ "$stderr" == *"not a trained classifier"* ]]
}
