#!/usr/bin/env bats
# The EXAMPLES of emo-pack(1) and emo-dump(1), run as written, plus the behaviours
# those pages promise.
load helpers

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "man example: printf ... | emo pack > one.rec" {
    run bash -c "printf '%s\n' '{\"id\":1,\"text\":\"hi\",\"label\":\"joy\"}' | emo pack > one.rec"
    assert_success
    run emo dump one.rec
    assert_output '{"id":1,"text":"hi","label":"joy"}'
}

@test "man example: emo pack -o records.rec records.jsonl" {
    printf '{"id":1,"logits":[0.5,-1],"input_ids":[101,102]}\n\n{"id":2,"x":null}\n' > records.jsonl
    run emo pack -o records.rec records.jsonl
    assert_success
    run emo dump records.rec
    assert_output $'{"id":1,"logits":[0.5,-1],"input_ids":[101,102]}\n{"id":2,"x":null}'
}

@test "man example: emo clean --format semicolon train.txt | emo dump | head -3" {
    cp "$SHARED/data/emotion/train.txt" .
    run bash -c 'emo clean --format semicolon train.txt | emo dump | head -3'
    assert_success
    assert_line --index 0 '{"id":1,"text":"didnt feel humiliated","label":"sadness"}'
}

@test "man example: emo dump split/train.rec | grep -o ... | sort | uniq -c" {
    printf '{"id":%d,"label":"%s"}\n' 1 joy 2 joy 3 sad 4 sad 5 joy 6 sad 7 joy 8 sad | emo pack > in.rec
    emo split -q --ratios 1,0,0 -o split in.rec
    run bash -c "emo dump split/train.rec | grep -o '\"label\":\"[^\"]*\"' | sort | uniq -c"
    assert_success
    assert_output $'      4 "label":"joy"\n      4 "label":"sad"'
}

@test "man example: emo dump part.rec > /dev/null && echo complete" {
    printf '{"id":1}\n{"id":2}\n' | emo pack > part.rec
    run bash -c 'emo dump part.rec > /dev/null && echo complete'
    assert_output complete
    head -c -25 part.rec > cut.rec
    cp cut.rec part.rec
    run bash -c 'emo dump part.rec > /dev/null && echo complete'
    assert_failure 1
    refute_output --partial complete
}

@test "pack: empty input gives a valid empty stream" {
    run bash -c ': | emo pack | emo dump | wc -l'
    assert_success
    assert_output 0
}

@test "pack: reserved field names and duplicate keys are refused" {
    printf '{"emo.end":1}\n' > r.jsonl
    run --separate-stderr emo pack r.jsonl
    assert_failure 1
    assert_equal "$stderr" "emo-pack: r.jsonl:line 1: field names emo.stream and emo.end are reserved"
    printf '{"a":1,"a":2}\n' > d.jsonl
    run --separate-stderr emo pack d.jsonl
    assert_failure 1
    [[ "$stderr" == "emo-pack: d.jsonl:line 1: invalid JSON"* ]]
}

@test "dump: records before a cut are printed, then exit 1; -o leaves no file" {
    printf '{"id":1}\n{"id":2}\n' | emo pack | head -c -27 > cut.rec    # the 25-byte trailer and 2 bytes of record 2
    run --separate-stderr emo dump cut.rec
    assert_failure 1
    assert_output '{"id":1}'
    run --separate-stderr emo dump -o out.jsonl cut.rec
    assert_failure 1
    assert_file_not_exists out.jsonl
}

@test "dump: float32 prints with 9 significant digits (the nearest float32 to 0.1 and -2.5e-8)" {
    printf '{"v":[0.1,-2.5e-8]}\n' | emo pack > f.rec
    run emo dump f.rec
    assert_output '{"v":[0.100000001,-2.50000003e-08]}'
}
