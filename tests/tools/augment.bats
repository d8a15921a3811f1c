#!/usr/bin/env bats
# emo augment: paraphrasing through a user command, fresh ids, held-out refusal, and every
# way the command can fail (exit status, signal, wrong line count, slow, huge input).
load helpers

setup() {
    cd "$BATS_TEST_TMPDIR"
    printf '%s\n' \
        '{"id":1,"text":"i feel sad today","label":"sadness","input_ids":[101,1,102]}' \
        '{"id":7,"text":"what a surprise","label":"surprise","input_ids":[101,2,102],"logits":[0.5,1.5],"source":"kaggle"}' \
        '{"id":3,"text":"i love you\nso much","label":"love","embedding":[0.25]}' \
        '{"id":4,"text":"i am happy","label":"joy"}' \
        '{"id":5,"text":"no label here"}' > train.jsonl
    emo pack -o train.rec train.jsonl
}

# dump one field of every record, one per line
field() { emo dump "$1" | sed -n "s/.*\"$2\":\\([^,}]*\\).*/\\1/p"; }

@test "augment: -h prints usage on stdout" {
    run --separate-stderr emo augment -h
    assert_success
    assert_output --partial "usage: emo augment --classes LIST --command CMD"
    [ -z "$stderr" ]
}

@test "augment: unknown option, missing --classes/--command, bad --times are usage errors" {
    run --separate-stderr emo augment --nope
    assert_failure 2
    run --separate-stderr emo augment --command cat train.rec
    assert_failure 2
    [[ "$stderr" == *"--classes and --command are required"* ]]
    run --separate-stderr emo augment --classes love train.rec
    assert_failure 2
    run --separate-stderr emo augment --classes love --command cat --times 0 train.rec
    assert_failure 2
    [[ "$stderr" == *"--times"* ]]
    run --separate-stderr emo augment --classes , --command cat train.rec
    assert_failure 2
}

@test "augment: originals first, then paraphrases with fresh ids and augmented_from" {
    run --separate-stderr bash -c "emo augment --classes surprise,love --times 2 --command 'tr a-z A-Z' < train.rec | emo dump"
    assert_success
    assert_equal "${#lines[@]}" 9
    assert_line --index 0 '{"id":1,"text":"i feel sad today","label":"sadness","input_ids":[101,1,102]}'
    assert_line --index 4 '{"id":5,"text":"no label here"}'
    # derived fields dropped, others copied; ids continue after the max input id (7)
    assert_line --index 5 '{"label":"surprise","source":"kaggle","id":8,"text":"WHAT A SURPRISE","augmented_from":7}'
    assert_line --index 6 '{"label":"love","id":9,"text":"I LOVE YOU SO MUCH","augmented_from":3}'
    assert_line --index 7 '{"label":"surprise","source":"kaggle","id":10,"text":"WHAT A SURPRISE","augmented_from":7}'
    assert_line --index 8 '{"label":"love","id":11,"text":"I LOVE YOU SO MUCH","augmented_from":3}'
    [ -z "$stderr" ]    # named train.rec: no warning
}

@test "augment: a stream of unknown split (pipe, other name) gets a warning" {
    run --separate-stderr bash -c "cat train.rec | emo augment --classes joy --command cat | emo dump | wc -l"
    assert_success
    assert_output 6
    [[ "$stderr" == "emo-augment: <stdin> has no split field and no train file name: make sure it is the training split"* ]]
    cp train.rec all.rec
    run --separate-stderr bash -c "emo augment --classes joy --command cat all.rec | emo dump | wc -l"
    [[ "$stderr" == *"all.rec has no split field"* ]]
}

@test "augment: rev and sed commands, --id-offset" {
    run bash -c "emo augment --classes joy --command rev train.rec 2>/dev/null | emo dump | tail -1"
    assert_output '{"label":"joy","id":8,"text":"yppah ma i","augmented_from":4}'
    run bash -c "emo augment --classes joy --command 'sed s/happy/glad/' --id-offset 1000 train.rec 2>/dev/null | emo dump | tail -1"
    assert_output '{"label":"joy","id":1000,"text":"i am glad","augmented_from":4}'
}

@test "augment: --id-offset not above the input ids is refused" {
    run --separate-stderr emo augment --classes joy --command cat --id-offset 7 -o out.rec train.rec
    assert_failure 1
    [[ "$stderr" == *"--id-offset 7 is not above the largest input id 7"* ]]
    assert_file_not_exists out.rec
}

@test "augment: the command sees EMO_AUGMENT_ROUND and EMO_AUGMENT_TIMES" {
    run bash -c "emo augment --classes joy --times 3 --command 'sed \"s|^|\$EMO_AUGMENT_ROUND/\$EMO_AUGMENT_TIMES |\"' train.rec 2>/dev/null | emo dump | tail -3"
    assert_success
    assert_line --index 0 --partial '"text":"1/3 i am happy"'
    assert_line --index 1 --partial '"text":"2/3 i am happy"'
    assert_line --index 2 --partial '"text":"3/3 i am happy"'
}

@test "augment: a command that drops a line is an error; no output file" {
    run --separate-stderr emo augment --classes surprise,love,joy --command 'sed 1d' -o out.rec train.rec
    assert_failure 1
    [[ "$stderr" == *"command printed 2 lines for 3 input lines in round 1"* ]]
    assert_file_not_exists out.rec
    run bash -c 'ls -A | grep -c out.rec'
    assert_output 0
}

@test "augment: a command that adds a line is an error" {
    run --separate-stderr emo augment --classes joy --command 'cat; echo extra' -o out.rec train.rec
    assert_failure 1
    [[ "$stderr" == *"command printed more than 1 lines for 1 input lines"* ]]
    assert_file_not_exists out.rec
}

@test "augment: false (non-zero exit) is an error" {
    run --separate-stderr emo augment --classes joy --command false -o out.rec train.rec
    assert_failure 1
    [[ "$stderr" == *"command exited with status 1 in round 1: false"* ]]
    assert_file_not_exists out.rec
}

@test "augment: a command killed by a signal is an error" {
    run --separate-stderr emo augment --classes joy --command 'cat; kill -TERM $$' -o out.rec train.rec
    assert_failure 1
    [[ "$stderr" == *"command killed by signal 15"* ]]
    assert_file_not_exists out.rec
}

@test "augment: a missing command is an error" {
    run --separate-stderr emo augment --classes joy --command 'no-such-command-xyz' -o out.rec train.rec
    assert_failure 1
    [[ "$stderr" == *"status 127"*"not found"* ]]
}

@test "augment: on stdout, a failing command leaves a stream without end marker" {
    run --separate-stderr bash -c "emo augment --classes joy --command false train.rec | emo dump"
    assert_failure 1
    [[ "$stderr" == *"without its end marker"* ]]
}

@test "augment: a slow command" {
    run bash -c "emo augment --classes surprise,love,joy --times 2 --command 'sleep 0.3; while IFS= read -r l; do sleep 0.05; printf \"%s!\\n\" \"\$l\"; done' train.rec 2>/dev/null | emo dump | tail -1"
    assert_success
    assert_output '{"label":"joy","id":13,"text":"i am happy!","augmented_from":4}'
}

@test "augment: 20000 long texts through commands that stream or buffer do not deadlock" {
    awk 'BEGIN { t = sprintf("%0200d", 0); for (i = 1; i <= 20000; i++) printf "{\"id\":%d,\"text\":\"tweet %d %s\",\"label\":\"love\"}\n", i, i, t }' > big.jsonl
    emo pack -o big.rec big.jsonl
    run timeout 60 emo augment --classes love --command cat -o a.rec big.rec
    assert_success
    run timeout 60 emo augment --classes love --command 'tac | tac' -o b.rec big.rec
    assert_success
    run bash -c 'emo dump b.rec | wc -l; emo dump b.rec | tail -1 | cut -c1-40'
    assert_line --index 0 40000
    assert_line --index 1 '{"label":"love","id":40000,"text":"tweet'
    cmp a.rec b.rec
}

@test "augment: a command that stops reading early is a line-count error, not a crash" {
    awk 'BEGIN { for (i = 1; i <= 20000; i++) printf "{\"id\":%d,\"text\":\"tweet number %d is a long enough line\",\"label\":\"love\"}\n", i, i }' > big.jsonl
    emo pack -o big.rec big.jsonl
    run --separate-stderr timeout 60 emo augment --classes love --command 'head -n 1' -o out.rec big.rec
    assert_failure 1
    [[ "$stderr" == *"command printed 1 lines for 20000 input lines"* ]]
    assert_file_not_exists out.rec
}

@test "augment: a split field other than train is refused, naming the record" {
    printf '%s\n' '{"id":1,"text":"a","label":"joy","split":"train"}' '{"id":2,"text":"b","label":"joy","split":"val"}' > v.jsonl
    emo pack -o v.rec v.jsonl
    run --separate-stderr emo augment --classes joy --command cat -o out.rec v.rec
    assert_failure 1
    [[ "$stderr" == "emo-augment: v.rec:record 2: split is 'val': only the training split may be augmented"* ]]
    assert_file_not_exists out.rec
}

@test "augment: split train passes without a warning" {
    printf '%s\n' '{"id":1,"text":"a","label":"joy","split":"train"}' > t.jsonl
    emo pack -o t.rec t.jsonl
    run --separate-stderr bash -c 'emo augment --classes joy --command cat t.rec | emo dump'
    assert_success
    assert_equal "${#lines[@]}" 2
    [ -z "$stderr" ]
}

@test "augment: an input file named like a held-out split is refused" {
    cp train.rec val.rec
    cp train.rec test.rec
    run --separate-stderr emo augment --classes joy --command cat val.rec
    assert_failure 1
    [[ "$stderr" == *"val.rec: looks like a validation/test split"* ]]
    run --separate-stderr emo augment --classes joy --command cat -o out.rec test.rec
    assert_failure 1
    assert_file_not_exists out.rec
    # also when standard input is redirected from it (emo split -o writes split/val.rec)
    mkdir split
    cp train.rec split/val.rec
    run --separate-stderr bash -c 'emo augment --classes joy --command cat -o out.rec < split/val.rec'
    assert_failure 1
    [[ "$stderr" == *"split/val.rec: looks like a validation/test split"* ]]
    assert_file_not_exists out.rec
}

@test "augment: absent classes warn and copy the input; the command is not run" {
    run --separate-stderr bash -c "emo augment --classes anger --command 'touch ran; cat' train.rec | emo dump"
    assert_success
    assert_equal "${#lines[@]}" 5
    [[ "$stderr" == *"no records of class 'anger' to augment"* ]]
    assert_file_not_exists ran
}

@test "augment: empty paraphrases are skipped with a warning" {
    run --separate-stderr bash -c "set -o pipefail; emo augment --classes surprise,love --command 'sed 1s/.*//' train.rec | emo dump | wc -l"
    assert_success
    assert_output 6
    [[ "$stderr" == *"1 empty paraphrases skipped"* ]]
}

@test "augment: records already augmented are not paraphrased again" {
    emo augment --classes joy --command rev -o once.rec train.rec 2>/dev/null
    run bash -c "emo augment --classes joy --command rev once.rec 2>/dev/null | emo dump | wc -l"
    assert_output 7
}

@test "augment: bad input: truncated stream, missing id, non-string label, missing text" {
    head -c -3 train.rec > t.rec
    run --separate-stderr emo augment --classes joy --command cat -o out.rec t.rec
    assert_failure 1
    [[ "$stderr" == "emo-augment: t.rec:record"* ]]
    assert_file_not_exists out.rec
    echo '{"text":"x","label":"joy"}' | emo pack > noid.rec
    run --separate-stderr emo augment --classes joy --command cat noid.rec
    assert_failure 1
    [[ "$stderr" == "emo-augment: noid.rec:record 1:"*"id"* ]]
    echo '{"id":1,"text":"x","label":3}' | emo pack > lab.rec
    run --separate-stderr emo augment --classes joy --command cat lab.rec
    assert_failure 1
    [[ "$stderr" == "emo-augment: lab.rec:record 1: field label: expected a string"* ]]
    echo '{"id":1,"label":"joy"}' | emo pack > notext.rec
    run --separate-stderr emo augment --classes joy --command cat notext.rec
    assert_failure 1
    [[ "$stderr" == "emo-augment: notext.rec:record 1:"*"text"* ]]
}

@test "augment: a valid stream of zero records gives a valid empty stream" {
    : > none.jsonl
    emo pack -o empty.rec none.jsonl
    run --separate-stderr bash -c "emo augment --classes joy --command cat empty.rec | emo dump | wc -l"
    assert_success
    assert_output 0
}

@test "man example: two upper-cased copies of surprise and love tweets" {
    emo augment --classes surprise,love --times 2 \
        --command 'tr a-z A-Z' -o train-aug.rec train.rec
    run bash -c 'emo dump train-aug.rec | wc -l'
    assert_output 9
}

@test "man example: show the new records and where they come from" {
    emo augment --classes surprise,love --times 2 --command 'tr a-z A-Z' -o train-aug.rec train.rec 2>/dev/null
    run bash -c 'emo dump train-aug.rec | grep augmented_from'
    assert_success
    assert_equal "${#lines[@]}" 4
}

@test "man example: back-translate with a script (a stand-in that keeps one line per line)" {
    mkdir split
    cp train.rec split/train.rec
    printf '#!/bin/sh\n# stand-in for a translation round trip\nsed "s/surprise/shock/"\n' > backtranslate
    chmod +x backtranslate
    run bash -c 'emo augment --classes surprise --command ./backtranslate \
        < split/train.rec > train-aug.rec'
    assert_success
    run bash -c 'emo dump train-aug.rec | tail -1'
    assert_output '{"label":"surprise","source":"kaggle","id":8,"text":"what a shock","augmented_from":7}'
}
