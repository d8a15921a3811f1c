#!/usr/bin/env bats
load helpers

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "pack then dump round-trips JSON Lines" {
    printf '%s\n' '{"id":1,"text":"caf\u00e9 \"x\"","label":"joy","input_ids":[101,7592,102],"logits":[0.5,-2,3.25]}' \
                  '{"id":2,"text":"b","label":"sadness","extra":{"k":[1,"a"]}}' > in.jsonl
    run emo pack -o a.rec in.jsonl
    assert_success
    run emo dump a.rec
    assert_success
    assert_line --index 0 '{"id":1,"text":"café \"x\"","label":"joy","input_ids":[101,7592,102],"logits":[0.5,-2,3.25]}'
    assert_line --index 1 '{"id":2,"text":"b","label":"sadness","extra":{"k":[1,"a"]}}'
}

@test "pack: \u0000 in a string is valid JSON, kept; the tokenizer drops U+0000 as Hugging Face's does" {
    printf '%s\n' '{"id":1,"text":"a\u0000b happy","label":"joy"}' '{"id":2,"text":"ab happy","label":"joy"}' \
                  '{"id":3,"text":"\u0000","label":"joy"}' > in.jsonl
    run emo pack -o a.rec in.jsonl
    assert_success
    run emo dump a.rec
    assert_line --index 0 '{"id":1,"text":"a\u0000b happy","label":"joy"}'
    # BertTokenizer's _clean_text removes U+0000 before splitting: 'a\0b' is the word 'ab'
    run bash -c 'emo tokenize --vocab "$0" a.rec | emo dump' "$SHARED/data/bert-base-uncased/vocab.txt"
    assert_success
    assert_line --index 0 '{"id":1,"text":"a\u0000b happy","label":"joy","input_ids":[101,11113,3407,102]}'
    assert_line --index 1 '{"id":2,"text":"ab happy","label":"joy","input_ids":[101,11113,3407,102]}'
    assert_line --index 2 '{"id":3,"text":"\u0000","label":"joy","input_ids":[101,102]}'
}

@test "cat of two streams is a stream" {
    echo '{"id":1}' | emo pack > a.rec
    echo '{"id":2}' | emo pack > b.rec
    run bash -c 'cat a.rec b.rec | emo dump'
    assert_success
    assert_output $'{"id":1}\n{"id":2}'
}

@test "dump: truncated stream is an error naming the record" {
    printf '{"id":1}\n{"id":2}\n' | emo pack > a.rec
    head -c -3 a.rec > t.rec
    run --separate-stderr emo dump t.rec
    assert_failure 1
    [[ "$stderr" == "emo-dump: t.rec:record 3: truncated"* ]]
}

@test "dump: stream without end marker (writer died) is an error" {
    printf '{"id":1}\n' | emo pack > a.rec
    # drop the trailer map: fixmap(2) "emo.end" uint "xxh64" uint64 -> 1+8+1+6+9 bytes
    head -c -25 a.rec > t.rec
    run --separate-stderr emo dump t.rec
    assert_failure 1
    [[ "$stderr" == *"without its end marker"* ]]
}

@test "dump: empty input is an error" {
    run --separate-stderr bash -c ': | emo dump'
    assert_failure 1
    [[ "$stderr" == "emo-dump: <stdin>: empty input"* ]]
}

@test "dump: hostile length is refused without allocating" {
    printf '{"id":1}\n' | emo pack | head -c 13 > h.rec
    printf '\xdd\xff\xff\xff\xff' >> h.rec
    run --separate-stderr bash -c 'ulimit -v 400000; emo dump h.rec'
    assert_failure 1
    [[ "$stderr" == *"limit"* ]]
}

@test "pack: invalid JSON names file and line; no output file left" {
    printf '{"id":1}\n{"id":\n' > bad.jsonl
    run --separate-stderr emo pack -o out.rec bad.jsonl
    assert_failure 1
    [[ "$stderr" == "emo-pack: bad.jsonl:line 2: invalid JSON"* ]]
    assert_file_not_exists out.rec
    run bash -c 'ls -A | grep -c out.rec'
    assert_output 0
}

@test "pack: unknown option is a usage error" {
    run --separate-stderr emo pack --nope
    assert_failure 2
    [[ "$stderr" == *"unrecognized option"* ]]
}

@test "emo dispatcher: --help lists tools, unknown tool is usage error" {
    run emo --help
    assert_success
    assert_output --partial "pack"
    run --separate-stderr emo no-such-tool
    assert_failure 2
    [[ "$stderr" == *"no such tool"* ]]
}

@test "-o onto a FIFO or device writes through it instead of replacing it" {
    mkfifo pipe
    cat pipe > got.rec &
    echo '{"id":1}' | emo pack -o pipe
    wait
    [ -p pipe ]
    run emo dump got.rec
    assert_output '{"id":1}'
    run --separate-stderr bash -c "echo '{\"id\":1}' | emo pack -o /dev/full"
    assert_failure 1
    [[ "$stderr" == "emo-pack: /dev/full: No space left on device" ]]
    [ -c /dev/full ]
}
