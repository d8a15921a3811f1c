#!/usr/bin/env bats
# emo-tokenize: ids against known BertTokenizer output, pass-through, truncation, every
# bad-input case (one test each), and the EXAMPLES of emo-tokenize(1).
load helpers

VOCAB=$SHARED/data/bert-base-uncased/vocab.txt

setup() { cd "$BATS_TEST_TMPDIR"; }

# raw_stream OUT RECORD-BYTES... : header + records (printf escapes) + trailer with count
raw_stream() {
    local out=$1; shift
    { printf '\x81\xaaemo.stream\x01'
      for r in "$@"; do printf "$r"; done
      printf '\x81\xa7emo.end'; printf "\\x$(printf %02x $#)"; } > "$out"
}

@test "tokenize: ids of BertTokenizer for a tweet, other fields passed through" {
    printf '%s\n' '{"id":1,"text":"Hello, World! I feel humiliated","label":"joy","extra":[1,2]}' | emo pack > in.rec
    run bash -c "emo tokenize --vocab '$VOCAB' < in.rec | emo dump"
    assert_success
    assert_output '{"id":1,"text":"Hello, World! I feel humiliated","label":"joy","extra":[1,2],"input_ids":[101,7592,1010,2088,999,1045,2514,26608,102]}'
}

@test "tokenize: existing input_ids are replaced, not duplicated" {
    printf '%s\n' '{"id":1,"text":"hello","input_ids":[5,6]}' | emo pack > in.rec
    run bash -c "emo tokenize --vocab '$VOCAB' < in.rec | emo dump"
    assert_success
    assert_output '{"id":1,"text":"hello","input_ids":[101,7592,102]}'
}

@test "tokenize: --max-len keeps [CLS] first pieces [SEP]" {
    printf '%s\n' '{"id":1,"text":"a b c d e f g h"}' | emo pack > in.rec
    run bash -c "emo tokenize --vocab '$VOCAB' --max-len 5 < in.rec | emo dump"
    assert_success
    assert_output '{"id":1,"text":"a b c d e f g h","input_ids":[101,1037,1038,1039,102]}'
    run bash -c "emo tokenize --vocab '$VOCAB' --max-len 2 < in.rec | emo dump"
    assert_output '{"id":1,"text":"a b c d e f g h","input_ids":[101,102]}'
}

@test "tokenize: default --max-len is 128" {
    /usr/bin/env printf '{"id":1,"text":"%s"}\n' "$(yes word | head -300 | tr '\n' ' ')" | emo pack > in.rec
    run bash -c "emo tokenize --vocab '$VOCAB' < in.rec | emo dump | grep -o '[0-9]*' | wc -l"
    # id + 128 ids
    assert_output 129
}

@test "tokenize: several input files make one stream; -o writes atomically" {
    printf '%s\n' '{"id":1,"text":"a"}' | emo pack > a.rec
    printf '%s\n' '{"id":2,"text":"b"}' | emo pack > b.rec
    run emo tokenize --vocab "$VOCAB" -o out.rec a.rec b.rec
    assert_success
    run emo dump out.rec
    assert_output $'{"id":1,"text":"a","input_ids":[101,1037,102]}\n{"id":2,"text":"b","input_ids":[101,1038,102]}'
    run bash -c 'ls -A | grep -c tmp'
    assert_output 0
}

@test "tokenize: empty stream (header and trailer, no records) gives an empty stream" {
    raw_stream e.rec
    run bash -c "emo tokenize --vocab '$VOCAB' < e.rec | emo dump"
    assert_success
    assert_output ''
}

@test "tokenize: a 1 MB text with no spaces is [CLS] [UNK] [SEP], quickly" {
    { printf '{"id":1,"text":"'; head -c 1048576 /dev/zero | tr '\0' a; printf '"}\n'; } | emo pack > big.rec
    run bash -c "timeout 10 emo tokenize --vocab '$VOCAB' < big.rec | emo dump | grep -o 'input_ids.*'"
    assert_success
    assert_output 'input_ids":[101,100,102]}'
}

@test "tokenize -h prints usage to stdout" {
    run --separate-stderr emo tokenize -h
    assert_success
    [[ "$output" == usage:* ]]
    [ -z "$stderr" ]
}

# ---- bad input: one clear line, exit 1 or 2, no partial output ------------------------

@test "bad input: unknown option is a usage error" {
    run --separate-stderr emo tokenize --vocab "$VOCAB" --bogus
    assert_failure 2
    [[ "$stderr" == *"unrecognized option"* ]]
}

@test "bad input: neither --vocab nor --spm" {
    run --separate-stderr emo tokenize
    assert_failure 2
    [[ "$stderr" == "emo-tokenize: give exactly one of --vocab FILE and --spm MODEL"* ]]
}

@test "bad input: --max-len out of range" {
    run --separate-stderr emo tokenize --vocab "$VOCAB" --max-len 1
    assert_failure 2
    [[ "$stderr" == "emo-tokenize: option --max-len: 1 is out of range"* ]]
}

@test "bad input: --on-invalid with an unknown policy" {
    run --separate-stderr emo tokenize --vocab "$VOCAB" --on-invalid drop
    assert_failure 2
    [[ "$stderr" == "emo-tokenize: option --on-invalid: 'drop' is not error, skip or replace" ]]
}

@test "bad input: missing vocab file" {
    printf '%s\n' '{"id":1,"text":"a"}' | emo pack > in.rec
    run --separate-stderr emo tokenize --vocab nope.txt -o out.rec in.rec
    assert_failure 1
    assert_equal "$stderr" "emo-tokenize: nope.txt: No such file or directory"
    assert_file_not_exists out.rec
}

@test "bad input: vocab file that is not a BERT vocab" {
    printf 'hello\nworld\n' > v.txt
    run --separate-stderr emo tokenize --vocab v.txt -o out.rec /dev/null
    assert_failure 1
    assert_equal "$stderr" "emo-tokenize: v.txt: no [CLS] token in the vocabulary (not a BERT vocab.txt?)"
    assert_file_not_exists out.rec
}

@test "bad input: empty vocab file" {
    : > v.txt
    run --separate-stderr emo tokenize --vocab v.txt /dev/null
    assert_failure 1
    assert_equal "$stderr" "emo-tokenize: v.txt: empty vocabulary file"
}

@test "bad input: binary vocab file (invalid UTF-8)" {
    printf '[CLS]\n\xff\xfe\n' > v.txt
    run --separate-stderr emo tokenize --vocab v.txt /dev/null
    assert_failure 1
    assert_equal "$stderr" "emo-tokenize: v.txt: invalid UTF-8 at byte 6 (not a vocab.txt?)"
}

@test "bad input: record without a text field names the record" {
    printf '%s\n' '{"id":1,"text":"a"}' '{"id":2,"label":"joy"}' | emo pack > in.rec
    run --separate-stderr emo tokenize --vocab "$VOCAB" -o out.rec in.rec
    assert_failure 1
    assert_equal "$stderr" "emo-tokenize: in.rec:record 2: no text field"
    assert_file_not_exists out.rec
}

@test "bad input: text that is not a string" {
    printf '%s\n' '{"id":1,"text":42}' | emo pack > in.rec
    run --separate-stderr emo tokenize --vocab "$VOCAB" -o out.rec in.rec
    assert_failure 1
    assert_equal "$stderr" "emo-tokenize: in.rec:record 1: field text is not a string"
    assert_file_not_exists out.rec
}

@test "bad input: text stored as msgpack bin, not str" {
    raw_stream in.rec '\x82\xa2id\x01\xa4text\xc4\x02hi'
    run --separate-stderr emo tokenize --vocab "$VOCAB" -o out.rec in.rec
    assert_failure 1
    assert_equal "$stderr" "emo-tokenize: in.rec:record 1: field text is not a string"
    assert_file_not_exists out.rec
}

@test "bad input: hostile declared length is refused without allocating" {
    printf '%s\n' '{"id":1,"text":"a"}' | emo pack | head -c 13 > h.rec
    printf '\xdb\xff\xff\xff\xf0' >> h.rec
    run --separate-stderr bash -c "ulimit -v 1000000; emo tokenize --vocab '$VOCAB' -o out.rec h.rec"
    assert_failure 1
    [[ "$stderr" == *"limit"* ]]
    assert_file_not_exists out.rec
}

@test "bad input: write error (disk full) is reported, exit 1" {
    printf '%s\n' '{"id":1,"text":"a"}' | emo pack > in.rec
    run --separate-stderr bash -c "emo tokenize --vocab '$VOCAB' -f in.rec > /dev/full"
    assert_failure 1
    [[ "$stderr" == "emo-tokenize: write error on standard output"* ]]
}

@test "reader closing early (SIGPIPE) ends quietly" {
    { printf '{"id":1,"text":"'; head -c 300000 /dev/zero | tr '\0' a | sed 's/a\{50\}/& /g'; printf '"}\n'; } > one.jsonl
    for i in $(seq 20); do cat one.jsonl; done | emo pack > in.rec
    run --separate-stderr bash -c "emo tokenize --vocab '$VOCAB' in.rec | head -c 10 > /dev/null; echo \${PIPESTATUS[0]}"
    [ -z "$stderr" ]
    [[ "$output" == 0 || "$output" == 141 ]]
}

@test "bad input: invalid UTF-8 in text names record and byte" {
    raw_stream in.rec '\x82\xa2id\x01\xa4text\xa1a' '\x82\xa2id\x02\xa4text\xa3a\xffb'
    run --separate-stderr emo tokenize --vocab "$VOCAB" -o out.rec in.rec
    assert_failure 1
    assert_equal "$stderr" "emo-tokenize: in.rec:record 2: text is not valid UTF-8 (byte 1); --on-invalid skip|replace"
    assert_file_not_exists out.rec
}

@test "bad input: --on-invalid skip drops the record and says so" {
    raw_stream in.rec '\x82\xa2id\x01\xa4text\xa1a' '\x82\xa2id\x02\xa4text\xa3a\xffb'
    run --separate-stderr bash -c "emo tokenize --vocab '$VOCAB' --on-invalid skip in.rec | emo dump"
    assert_success
    assert_output '{"id":1,"text":"a","input_ids":[101,1037,102]}'
    [[ "$stderr" == "emo-tokenize: skipped 1 records with invalid UTF-8" ]]
}

@test "bad input: --on-invalid replace writes U+FFFD, which BERT cleaning drops" {
    raw_stream in.rec '\x82\xa2id\x02\xa4text\xa5a\xffb\xe2\x82'
    run --separate-stderr bash -c "emo tokenize --vocab '$VOCAB' --on-invalid replace in.rec | emo dump"
    assert_success
    # "a<FF>b<E2 82>" -> "a\ufffdb\ufffd" -> "ab"
    assert_output '{"id":2,"text":"a�b�","input_ids":[101,11113,102]}'
}

@test "bad input: truncated stream" {
    printf '%s\n' '{"id":1,"text":"a"}' '{"id":2,"text":"b"}' | emo pack > a.rec
    head -c -3 a.rec > t.rec
    run --separate-stderr emo tokenize --vocab "$VOCAB" -o out.rec t.rec
    assert_failure 1
    [[ "$stderr" == "emo-tokenize: t.rec:record 3: truncated"* ]]
    assert_file_not_exists out.rec
}

@test "bad input: stream without its trailer" {
    printf '%s\n' '{"id":1,"text":"a"}' | emo pack > a.rec
    head -c -25 a.rec > t.rec
    run --separate-stderr emo tokenize --vocab "$VOCAB" -o out.rec t.rec
    assert_failure 1
    [[ "$stderr" == *"without its end marker"* ]]
    assert_file_not_exists out.rec
}

@test "bad input: empty input" {
    run --separate-stderr bash -c ": | emo tokenize --vocab '$VOCAB' -o out.rec"
    assert_failure 1
    [[ "$stderr" == "emo-tokenize: <stdin>: empty input"* ]]
    assert_file_not_exists out.rec
}

@test "bad input: binary records are refused on a terminal" {
    printf '%s\n' '{"id":1,"text":"a"}' | emo pack > in.rec
    run --separate-stderr script -qec "emo tokenize --vocab '$VOCAB' in.rec" /dev/null
    assert_failure
    [[ "$output" == *"refusing to write binary records to a terminal"* ]]
}

# ---- --spm --------------------------------------------------------------------------

train_spm() {
    cut -d';' -f1 "$SHARED/data/emotion/val.txt" > corpus.txt
    spm_train --input=corpus.txt --model_prefix=spiece --vocab_size=300 --model_type=unigram \
        --pad_id=0 --unk_id=1 --bos_id=-1 --eos_id=-1 --control_symbols='[CLS],[SEP],[MASK]' \
        --character_coverage=1.0 --num_threads=1 --minloglevel=2 > /dev/null 2>&1
}

@test "tokenize --spm: [CLS]=2 ... [SEP]=3, pieces as spm_encode gives them" {
    train_spm
    printf '%s\n' '{"id":1,"text":"I  feel ``Happy`` today"}' | emo pack > in.rec
    run bash -c "emo tokenize --spm spiece.model < in.rec | emo dump"
    assert_success
    want=$(printf 'i feel "happy" today\n' | spm_encode --model=spiece.model --output_format=id | tr ' ' ',')
    assert_output "{\"id\":1,\"text\":\"I  feel \`\`Happy\`\` today\",\"input_ids\":[2,$want,3]}"
}

@test "bad input: --spm with a file that is not a SentencePiece model" {
    printf 'not a model\n' > bad.model
    run --separate-stderr emo tokenize --spm bad.model -o out.rec /dev/null
    assert_failure 1
    [[ "$stderr" == "emo-tokenize: bad.model: cannot load SentencePiece model"* ]]
    assert_file_not_exists out.rec
}

@test "bad input: --vocab and --spm together" {
    run --separate-stderr emo tokenize --vocab "$VOCAB" --spm x.model
    assert_failure 2
    [[ "$stderr" == "emo-tokenize: give exactly one of --vocab FILE and --spm MODEL"* ]]
}

@test "tokenize --threads: output is byte-identical for 1 and 2 threads" {
    emo clean --format semicolon "$SHARED/data/emotion/val.txt" > in.rec 2>/dev/null
    emo tokenize --vocab "$VOCAB" --threads 1 -o one.rec in.rec
    emo tokenize --vocab "$VOCAB" --threads 2 -o two.rec in.rec
    cmp one.rec two.rec
    run bash -c "emo dump two.rec | grep -c input_ids"
    assert_output 2000
}

@test "bad input: --threads out of range" {
    run --separate-stderr emo tokenize --vocab "$VOCAB" --threads 1000
    assert_failure 2
    [[ "$stderr" == "emo-tokenize: option --threads: 1000 is out of range"* ]]
}

# ---- man page EXAMPLES (emo-tokenize.1), run as written with ../shared -> $SHARED -------

man_setup() {
    ln -s "$VOCAB" vocab.txt
    emo clean --format semicolon "$SHARED/data/emotion/val.txt" > clean.rec 2>/dev/null
}

@test "man example: emo clean --format semicolon train.txt | emo tokenize --vocab vocab.txt > train.rec" {
    run --separate-stderr bash -c "emo clean --format semicolon '$SHARED/data/emotion/train.txt' \
        | emo tokenize --vocab '$SHARED/data/bert-base-uncased/vocab.txt' > train.rec"
    assert_success
    run bash -c "emo dump train.rec | grep -c '\"input_ids\":\[101,'"
    assert_output 16000
}

@test "man example: emo tokenize --vocab vocab.txt --max-len 32 -o short.rec clean.rec" {
    man_setup
    run emo tokenize --vocab vocab.txt --max-len 32 -o short.rec clean.rec
    assert_success
    run bash -c "emo dump short.rec | grep -o 'input_ids\":\[[0-9,]*' | awk -F, 'NF > 32' | wc -l"
    assert_output 0
    run bash -c "emo dump short.rec | grep -o 'input_ids\":\[[0-9,]*' | awk -F, 'NF == 32' | wc -l"
    refute_output 0
}

@test "man example: emo tokenize --vocab vocab.txt clean.rec | emo dump | head -n 1" {
    man_setup
    run bash -c "emo tokenize --vocab vocab.txt clean.rec | emo dump | head -n 1"
    assert_success
    assert_output --partial '"input_ids":[101,'
    assert_output --partial ',102]}'
}

@test "man example: emo tokenize --vocab vocab.txt --on-invalid skip -o tok.rec clean.rec" {
    man_setup
    run --separate-stderr emo tokenize --vocab vocab.txt --on-invalid skip -o tok.rec clean.rec
    assert_success
    [ -z "$stderr" ]
    run bash -c "emo dump tok.rec | wc -l"
    assert_output 2000
}

@test "man example: emo tokenize --spm spiece.model -o albert.rec clean.rec" {
    man_setup
    train_spm
    run emo tokenize --spm spiece.model -o albert.rec clean.rec
    assert_success
    run bash -c "emo dump albert.rec | grep -c '\"input_ids\":\[2,.*,3\]}'"
    assert_output 2000
}

@test "man example: ls shards/*.rec | parallel 'emo tokenize ... -o {.}.tok {}'" {
    man_setup
    mkdir shards
    emo dump clean.rec | head -n 5 | emo pack -o shards/a.rec
    emo dump clean.rec | tail -n 5 | emo pack -o shards/b.rec
    run bash -c "ls shards/*.rec | parallel 'emo tokenize --vocab vocab.txt --threads 1 -o {.}.tok {}'"
    assert_success
    run bash -c "cat shards/a.tok shards/b.tok | emo dump | grep -c input_ids"
    assert_output 10
}
