#!/usr/bin/env bats
# emo clean: formats, each cleaning step, ids, summary, bad input (one test per case),
# and the man page's EXAMPLES.
load helpers

setup() {
    cd "$BATS_TEST_TMPDIR"
    printf ',text,label\n0,"Hello, World! I'"'"'m ""so"" happy \xf0\x9f\x98\x80",1\n7,"two\nlines, here",4\n9,,2\n' > kaggle.csv
}

@test "clean: -h prints usage on stdout" {
    run --separate-stderr emo clean -h
    assert_success
    [[ "$output" == "usage: emo clean"* ]]
}

@test "clean: semicolon file of the shared corpus, ids are line numbers" {
    run --separate-stderr bash -c "emo clean --format semicolon '$SHARED/data/emotion/train.txt' | emo dump"
    assert_success
    [ "${#lines[@]}" -eq 16000 ]
    assert_line --index 0 '{"id":1,"text":"didnt feel humiliated","label":"sadness"}'
    assert_line --index 15999 '{"id":16000,"text":"know lot feel stupid portray","label":"sadness"}'
    [[ "$stderr" == "emo-clean: read 16000, written 16000, dropped 0 "* ]]
}

@test "clean: equals an independent Python reference of the same rules on the shared corpus" {
    [ -x /usr/bin/python3 ] || skip "no /usr/bin/python3"
    for f in train val; do
        /usr/bin/python3 "$EMO_ROOT/tests/tools/ref/clean_ref.py" "$EMO_ROOT/data/stopwords-en.txt" "$SHARED/data/emotion/$f.txt" > ref.jsonl
        emo clean -q --format semicolon "$SHARED/data/emotion/$f.txt" | emo dump > c.jsonl
        run diff ref.jsonl c.jsonl
        assert_success
    done
    # and on adversarial Unicode text (no emoji): punctuation, spaces, case, apostrophes
    /usr/bin/python3 -c 'print("Don\x27t STOP\u2014me!;joy\n\u00abCaf\u00e9\u00bb\u2003na\u00efve\u2026 it\x27s;sad\n\u00bfQu\u00e9?\u00a0Stra\u00dfe ,.;x")' > adv.txt
    /usr/bin/python3 "$EMO_ROOT/tests/tools/ref/clean_ref.py" "$EMO_ROOT/data/stopwords-en.txt" adv.txt > ref.jsonl
    emo clean -q --format semicolon adv.txt | emo dump > c.jsonl
    run diff ref.jsonl c.jsonl
    assert_success
    [ "$(wc -l < c.jsonl)" -eq 3 ]
}

@test "clean: label is after the last ';'" {
    run bash -c "printf 'a;b; c ;joy\n' | emo clean -q --keep-stopwords --no-punct | emo dump"
    assert_success
    assert_output '{"id":1,"text":"a;b; c","label":"joy"}'
}

@test "clean: kaggle csv with quoting, index ids, label names, empty text dropped" {
    run --separate-stderr bash -c "emo clean --format kaggle --label-names sadness,joy,love,anger,fear,surprise kaggle.csv | emo dump"
    assert_success
    assert_line --index 0 '{"id":0,"text":"hello world im happy","label":"joy"}'
    assert_line --index 1 '{"id":7,"text":"two lines","label":"fear"}'
    [ "${#lines[@]}" -eq 2 ]
    [[ "$stderr" == *"read 3, written 2, dropped 1 (empty text 1,"* ]]
}

@test "clean: kaggle format is detected from its header" {
    run bash -c "emo clean -q kaggle.csv | emo dump"
    assert_success
    assert_line --index 0 '{"id":0,"text":"hello world im happy","label":"1"}'
}

@test "clean: --format lines reads unlabeled text into {id, text}" {
    printf 'I feel; fine\n\nso happy!!\n' > u.txt
    run bash -c "emo clean -q --format lines u.txt | emo dump"
    assert_success
    assert_output $'{"id":1,"text":"feel fine"}\n{"id":3,"text":"happy"}'
    run bash -c "emo clean -q --format lines '$SHARED/data/emotion/unlabeled.txt' | emo dump | wc -l"
    assert_output 46733
}

@test "clean: csv/tsv columns chosen by name, id from --id-col" {
    printf 'emotion\ttweet\tnum\njoy\tI am "happy"\t41\n' > t.tsv
    run bash -c "emo clean -q --format tsv --text-col tweet --label-col emotion --id-col num t.tsv | emo dump"
    assert_success
    assert_output '{"id":41,"text":"happy","label":"joy"}'
}

@test "clean: each step switches off on its own" {
    printf 'The CAT, sat \xf0\x9f\x98\x80;joy\n' > s.txt
    run bash -c "emo clean -q s.txt | emo dump"
    assert_output '{"id":1,"text":"cat sat","label":"joy"}'
    run bash -c "emo clean -q --keep-stopwords s.txt | emo dump"
    assert_output '{"id":1,"text":"the cat sat","label":"joy"}'
    run bash -c "emo clean -q --no-punct s.txt | emo dump"
    assert_output '{"id":1,"text":"cat, sat","label":"joy"}'
    run bash -c "emo clean -q --no-emoji s.txt | emo dump"
    assert_output '{"id":1,"text":"cat sat 😀","label":"joy"}'
    run bash -c "emo clean -q --no-lowercase s.txt | emo dump"
    assert_output '{"id":1,"text":"CAT sat","label":"joy"}'
    printf 'the;joy\n;sad\nx;\n' > e.txt
    run bash -c "emo clean -q --no-drop-empty e.txt | emo dump"
    assert_output $'{"id":1,"text":"","label":"joy"}\n{"id":2,"text":"","label":"sad"}\n{"id":3,"text":"x","label":""}'
}

@test "clean: --id-offset and several files continue the line numbering" {
    printf 'a1;x\na2;y\n' > a.txt
    printf 'b1;z\n' > b.txt
    run bash -c "emo clean -q --id-offset 10 a.txt b.txt | emo dump"
    assert_success
    assert_output $'{"id":11,"text":"a1","label":"x"}\n{"id":12,"text":"a2","label":"y"}\n{"id":13,"text":"b1","label":"z"}'
}

@test "clean: --id-space N puts ids at N * 2^40 + the id, so files cleaned separately never clash" {
    printf 'a1;x\na2;y\n' > train.txt
    printf 'u1\nu2\n' > unlabeled.txt
    run bash -c "{ emo clean -q --id-space 1 train.txt; emo clean -q --id-space 2 --format lines unlabeled.txt; } |
        emo dump"
    assert_success
    assert_output $'{"id":1099511627777,"text":"a1","label":"x"}\n{"id":1099511627778,"text":"a2","label":"y"}\n{"id":2199023255553,"text":"u1"}\n{"id":2199023255554,"text":"u2"}'
    # with --id-offset (parallel chunks) and with an id column; the largest space keeps ids below 2^53
    run bash -c "emo clean -q --id-space 8191 --id-offset 5 train.txt | emo dump | head -1"
    assert_output '{"id":9006099743113222,"text":"a1","label":"x"}'
    run bash -c "emo clean -q --format kaggle --id-space 3 kaggle.csv | emo dump | head -1"
    assert_output --partial '{"id":3298534883328,'
    run --separate-stderr emo clean -q --id-space 8192 train.txt
    assert_failure 2
    [[ "$stderr" == *"option --id-space: 8192 is out of range [0, 8191]"* ]]
    run --separate-stderr bash -c "emo clean -q --id-space 1 --id-offset 1099511627774 train.txt > o.rec"
    assert_failure 1
    assert_equal "$stderr" "emo-clean: train.txt:line 2: id 1099511627776 does not fit an id space (below 2^40) for --id-space"
}

@test "clean: summary counts drops per reason; -q silences it" {
    printf 'ok;joy\n   ;sad\nthe a;joy\nx;\n' > d.txt
    run --separate-stderr bash -c "emo clean d.txt > o.rec"
    assert_success
    assert_equal "$stderr" "emo-clean: read 4, written 1, dropped 3 (empty text 1, empty label 1, empty after cleaning 1, invalid UTF-8 0)"
    run --separate-stderr bash -c "emo clean -q d.txt > o.rec"
    assert_equal "$stderr" ""
}

@test "clean: streams in constant memory (peak RSS < 64 MB on 30 MB of input)" {
    for i in $(seq 18); do cat "$SHARED/data/emotion/train.txt"; done > big.txt
    run bash -c "/usr/bin/time -f %M emo clean -q big.txt 2>&1 >/dev/null"
    assert_success
    [ "$output" -lt 65536 ]
}

# ---- bad input: one test per case ------------------------------------------------

@test "clean bad input: invalid UTF-8 names file and line" {
    printf 'fine;joy\ncaf\xe9;joy\n' > u.txt
    run --separate-stderr emo clean -o out.rec u.txt
    assert_failure 1
    [[ "$stderr" == "emo-clean: u.txt:line 2: invalid UTF-8"* ]]
    assert_file_not_exists out.rec
}

@test "clean bad input: --on-invalid skip drops, replace writes U+FFFD" {
    printf 'fine;joy\ncaf\xe9 ole;joy\n' > u.txt
    run --separate-stderr bash -c "emo clean --on-invalid skip u.txt | emo dump"
    assert_success
    assert_output '{"id":1,"text":"fine","label":"joy"}'
    [[ "$stderr" == *"invalid UTF-8 1)" ]]
    run bash -c "emo clean -q --on-invalid replace u.txt | emo dump"
    assert_line --index 1 '{"id":2,"text":"caf� ole","label":"joy"}'
}

@test "clean bad input: a 1 MB line is cleaned in linear time" {
    { head -c 1048576 /dev/zero | tr '\0' a; echo ';joy'; echo 'b;sad'; } > long.txt
    run --separate-stderr bash -c "timeout 10 emo clean long.txt | emo dump | wc -c"
    assert_success
    assert_output "$((1048576 + 33 + 34))"
}

@test "clean bad input: empty input is an error" {
    run --separate-stderr bash -c ': | emo clean -o out.rec'
    assert_failure 1
    assert_equal "$stderr" "emo-clean: <stdin>: empty input"
    assert_file_not_exists out.rec
}

@test "clean bad input: unterminated CSV quote names the line the field started on" {
    printf ',text,label\n0,ok,1\n1,"never closed,2\n2,more,3\n' > q.csv
    run --separate-stderr emo clean -o out.rec q.csv
    assert_failure 1
    [[ "$stderr" == "emo-clean: q.csv:line 3: unterminated quoted field"* ]]
    assert_file_not_exists out.rec
}

@test "clean bad input: garbled (binary) input names file and line" {
    printf '{"id":1}\n' | emo pack > x.rec
    run --separate-stderr emo clean -o out.rec x.rec
    assert_failure 1
    assert_equal "$stderr" "emo-clean: x.rec:line 1: cannot tell the format from the first line; give --format"
    head -c 4096 /dev/urandom > noise.bin
    run --separate-stderr emo clean --format semicolon -o out.rec noise.bin
    assert_failure 1
    [[ "$stderr" == "emo-clean: noise.bin:line "*": "* ]]
    assert_file_not_exists out.rec
}

@test "clean bad input: nothing on stdout when the input cannot be opened or is empty" {
    run --separate-stderr bash -c 'emo clean no-such.txt | wc -c'
    assert_output 0
    run --separate-stderr bash -c ': | emo clean | wc -c'
    assert_output 0
}

@test "clean bad input: a full disk is reported, exit 1" {
    run --separate-stderr bash -c "emo clean -q '$SHARED/data/emotion/val.txt' > /dev/full"
    assert_failure 1
    assert_equal "$stderr" "emo-clean: write error on standard output: No space left on device"
}

@test "clean bad input: unknown option is a usage error" {
    run --separate-stderr emo clean --no-such-step
    assert_failure 2
    [[ "$stderr" == *"unrecognized option"* ]]
    [[ "$stderr" == *"usage: emo clean"* ]]
}

@test "clean bad input: bad option values are usage errors" {
    run --separate-stderr emo clean --format xml
    assert_failure 2
    run --separate-stderr emo clean --on-invalid ignore
    assert_failure 2
    run --separate-stderr emo clean --id-offset -3
    assert_failure 2
}

@test "clean bad input: line without ';' names file and line" {
    printf 'a;joy\nno separator\n' > n.txt
    run --separate-stderr emo clean --format semicolon n.txt
    assert_failure 1
    [[ "$stderr" == "emo-clean: n.txt:line 2: no ';'"* ]]
}

@test "clean bad input: missing column is named" {
    printf 'tweet,emotion\nhi,joy\n' > c.csv
    run --separate-stderr emo clean --format csv c.csv
    assert_failure 1
    [[ "$stderr" == "emo-clean: c.csv:line 1: no column 'text' in the header"* ]]
}

@test "clean bad input: short row names file and line" {
    printf 'text,label\nhi,joy\nlonely\n' > c.csv
    run --separate-stderr emo clean --format csv c.csv
    assert_failure 1
    [[ "$stderr" == "emo-clean: c.csv:line 3: 1 field, expected at least 2" ]]
}

@test "clean bad input: label not in --label-names" {
    printf ',text,label\n0,hi,1\n1,yo,9\n' > k.csv
    run --separate-stderr emo clean --label-names a,b,c k.csv
    assert_failure 1
    [[ "$stderr" == "emo-clean: k.csv:line 3: label '9' is not an index 0..2 into --label-names" ]]
}

@test "clean bad input: format cannot be guessed" {
    printf 'just words\n' > w.txt
    run --separate-stderr emo clean w.txt
    assert_failure 1
    [[ "$stderr" == *"give --format"* ]]
}

@test "clean bad input: missing file" {
    run --separate-stderr emo clean no-such-file.txt
    assert_failure 1
    [[ "$stderr" == "emo-clean: no-such-file.txt: No such file or directory" ]]
}

@test "clean bad input: binary records refused on a terminal" {
    run --separate-stderr bash -c "script -qec 'emo clean $SHARED/data/emotion/val.txt' /dev/null"
    [[ "$output" == *"refusing to write binary records to a terminal"* ]]
}

# ---- man page EXAMPLES -------------------------------------------------------------

@test "man example: emo clean --format semicolon train.txt > train.rec" {
    cp "$SHARED/data/emotion/train.txt" .
    run --separate-stderr bash -c 'emo clean --format semicolon train.txt > train.rec'
    assert_success
    run bash -c 'emo dump train.rec | wc -l'
    assert_output 16000
}

@test "man example: kaggle text.csv with label names into clean.rec" {
    cp kaggle.csv text.csv
    run --separate-stderr emo clean --format kaggle --label-names sadness,joy,love,anger,fear,surprise -o clean.rec text.csv
    assert_success
    run bash -c 'emo dump clean.rec'
    assert_line --index 1 '{"id":7,"text":"two lines","label":"fear"}'
}

@test "man example: keep stopwords for BERT, columns by name" {
    printf 'tweet,emotion\n"I am SO happy, really",joy\n' > tweets.csv
    run --separate-stderr bash -c 'emo clean --keep-stopwords --text-col tweet --label-col emotion tweets.csv > bert.rec'
    assert_success
    run emo dump bert.rec
    assert_output '{"id":1,"text":"i am so happy really","label":"joy"}'
}

@test "man example: parallel --pipepart over the Kaggle CSV keeps the index ids and names the labels" {
    { echo ',text,label'; for i in $(seq 0 2999); do echo "$i,tweet number $i,$((i % 6))"; done; } > text.csv
    # the command as emo-clean(1) prints it, in blocks of 20k instead of 10M
    cmd=$(mandoc -Tutf8 "$EMO_ROOT/man/man1/emo-clean.1" | col -bx \
          | sed -n '/^ *\$ parallel --pipepart/,/clean.rec$/p' | sed 's/^ *\$ //; s/--block 10M/--block 20k/')
    [[ "$cmd" == *"--label-names sadness,joy,love,anger,fear,surprise"* ]]
    run bash -c "$cmd"
    assert_success
    run bash -c 'emo clean -q --label-names sadness,joy,love,anger,fear,surprise text.csv | emo dump > one.jsonl
                 emo dump clean.rec | cmp - one.jsonl && wc -l < one.jsonl'
    assert_success
    assert_output 3000
    run grep -c '"label":"joy"' one.jsonl
    assert_output 500
}

@test "man example: parallel --pipe -N with --id-offset gives the ids of a single run" {
    cp "$SHARED/data/emotion/train.txt" .
    run bash -c 'parallel --pipe -N 5000 -k '"'"'emo clean -q --format semicolon --id-offset $(( ({#}-1)*5000 ))'"'"' < train.txt > clean.rec'
    assert_success
    run bash -c 'emo clean -q --format semicolon train.txt | emo dump | cmp - <(emo dump clean.rec) && echo same'
    assert_output same
}

@test "man example: emo clean --format semicolon train.txt | emo dump | head -3" {
    cp "$SHARED/data/emotion/train.txt" .
    run bash -c 'emo clean -q --format semicolon train.txt | emo dump | head -3'
    assert_success
    assert_line --index 2 '{"id":3,"text":"im grabbing minute post feel greedy wrong","label":"anger"}'
}
