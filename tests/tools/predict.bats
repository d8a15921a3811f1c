#!/usr/bin/env bats
# emo predict: raw text in, the training-time cleaning and tokenizer applied from the
# checkpoint, answers equal to teacher-logits | eval, every input format, streaming through
# a FIFO, and bad input.
load helpers

setup_file() {
    cd "$BATS_FILE_TMPDIR"
    P=$FIXTURES/predict
    V=$P/vocab.txt
    "$P/make-corpus.sh" 400 1 > train.txt
    "$P/make-corpus.sh" 120 2 > val.txt
    # trained with stopwords kept: the checkpoint must remember it
    emo clean -q --format semicolon --keep-stopwords train.txt | emo tokenize --vocab "$V" -o train.rec
    emo clean -q --format semicolon --keep-stopwords val.txt | emo tokenize --vocab "$V" -o val.rec
    emo teacher-train --train train.rec --val val.rec --config "$FIXTURES/train/tiny-bert.json" --lr 3e-3 \
        --batch 16 --epochs 3 --threads 1 -q --vocab "$V" -o teacher
    mkdir cache
    emo teacher-logits -m teacher -o cache train.rec
    emo student-distill --train train.rec --val val.rec --teacher-cache cache --attn-loss none \
        --config "$FIXTURES/train/tiny-distilbert.json" --lr 3e-3 --batch 16 --epochs 1 --threads 1 -q -o student
    cut -d';' -f1 val.txt > val.lines
}

setup() {
    cd "$BATS_TEST_TMPDIR"
    D=$BATS_FILE_TMPDIR
    V=$FIXTURES/predict/vocab.txt
}

@test "checkpoints of teacher-train and student-distill carry the tokenizer files and the cleaning" {
    for m in teacher student; do
        for f in vocab.txt tokenizer_config.json special_tokens_map.json emo_text.json; do
            assert_file_exists "$D/$m/$f"
        done
        run jq -c . "$D/$m/emo_text.json"
        assert_output '{"clean":{"emoji":true,"lowercase":true,"punct":true,"stopwords":false},"max_len":128}'
        run jq -r .tokenizer_class "$D/$m/tokenizer_config.json"
        assert_output BertTokenizer
        run jq -r .mask_token "$D/$m/special_tokens_map.json"
        assert_output '[MASK]'
    done
    run bash -c "emo ckpt info '$D/student' | jq -c '{vocab_file, clean, max_len}'"
    assert_success
    assert_output '{"vocab_file":true,"clean":"punct,emoji,lowercase","max_len":128}'
}

@test "answers equal teacher-logits | eval's argmax on the same records" {
    emo teacher-logits -m "$D/teacher" "$D/val.rec" | emo dump \
        | jq -r '(.logits | to_entries | max_by(.value) | .key) as $k | "\(.id) \($k)"' > want.txt
    emo predict -m "$D/teacher" --records "$D/val.rec" | emo dump | jq -r '"\(.id) \(.logits | to_entries | max_by(.value) | .key)"' > got.txt
    [ "$(wc -l < got.txt)" -eq 120 ]
    diff want.txt got.txt
    # and the labels it prints are the checkpoint's names for those classes
    emo predict -m "$D/teacher" --records "$D/val.rec" --tsv | cut -f1 > labels.txt
    emo teacher-logits -m "$D/teacher" "$D/val.rec" | emo dump | jq -r '.logits | to_entries | max_by(.value) | .key' \
        | while read -r k; do jq -r ".id2label[\"$k\"]" "$D/teacher/config.json"; done > want-labels.txt
    diff want-labels.txt labels.txt
    # the prediction stream is what emo eval reads
    run bash -c "emo predict -m '$D/teacher' --records '$D/val.rec' | emo eval"
    assert_success
    assert_output --partial accuracy
}

@test "raw text is cleaned as the training text was (stopwords kept), then tokenized with the checkpoint's vocabulary" {
    # lines in, a prediction stream out: the logits of the raw lines
    emo predict -m "$D/student" --format lines --records "$D/val.lines" | emo dump | jq -c .logits > got.txt
    # the same lines through the training pipeline by hand
    emo clean -q --format lines --keep-stopwords "$D/val.lines" | emo tokenize --vocab "$V" \
        | emo teacher-logits -m "$D/student" | emo dump | jq -c .logits > want.txt
    [ "$(wc -l < got.txt)" -eq 120 ]
    diff want.txt got.txt
    # the test can tell: removing stopwords (emo clean's default) gives other logits
    emo clean -q --format lines "$D/val.lines" | emo tokenize --vocab "$V" \
        | emo teacher-logits -m "$D/student" | emo dump | jq -c .logits > other.txt
    ! diff -q want.txt other.txt
    # the TSV carries the original text, not the cleaned one
    emo predict -m "$D/student" "$D/val.lines" | cut -f3- > texts.txt
    diff "$D/val.lines" texts.txt
}

@test "the model is right on held-out text (the tool answers, not a constant)" {
    emo predict -m "$D/teacher" "$D/val.lines" | cut -f1 > pred.txt
    cut -d';' -f2 "$D/val.txt" > gold.txt
    right=$(paste pred.txt gold.txt | awk '$1 == $2' | wc -l)
    [ "$right" -ge 100 ]      # of 120; a constant answer gets about 40
}

@test "a checkpoint without the recorded cleaning gets the defaults and one notice" {
    cp -r "$D/teacher" hub
    rm hub/emo_text.json
    run --separate-stderr emo predict -m hub "$D/val.lines"
    assert_success
    [ "${#lines[@]}" -eq 120 ]
    [ "$(printf '%s\n' "$stderr" | grep -c 'using the defaults')" -eq 1 ]
    rm hub/vocab.txt
    run --separate-stderr emo predict -m hub "$D/val.lines"
    assert_failure 1
    [[ "$stderr" == *"no vocab.txt in the checkpoint (give --vocab FILE)"* ]]
    run --separate-stderr emo predict -m hub --vocab "$V" -q "$D/val.lines"
    assert_success
    [ -z "$stderr" ]
}

@test "streaming: an answer comes out before the input ends (FIFO)" {
    mkfifo in.fifo
    # (file descriptor 3 is bats's own; opened read-write, the FIFO does not wait for a
    # reader, so a tool that died early fails the test instead of hanging it)
    emo predict -m "$D/teacher" in.fifo > out.txt 2> err.txt 3>&- &
    pid=$!
    exec 5<> in.fifo
    echo "so happy and glad" >&5
    for _ in $(seq 100); do [ -s out.txt ] && break; sleep 0.1; done
    run cat out.txt err.txt
    assert_output --regexp $'^[a-z]+\t[0-9.]+\tso happy and glad$'
    echo "tears and grief" >&5
    for _ in $(seq 100); do [ "$(wc -l < out.txt)" -eq 2 ] && break; sleep 0.1; done
    [ "$(wc -l < out.txt)" -eq 2 ]
    kill -0 $pid      # still waiting for more input
    exec 5>&-
    wait $pid
}

@test "streaming: lines answered one at a time (one thread each) equal the file's batched answers" {
    head -n 12 "$D/val.lines" > lines.txt
    emo predict -m "$D/teacher" --threads 2 lines.txt > batched.txt
    mkfifo in.fifo
    emo predict -m "$D/teacher" --threads 2 in.fifo > streamed.txt 3>&- &
    pid=$!
    exec 5<> in.fifo      # read-write, as above: a tool that died early fails, not hangs
    i=0
    while IFS= read -r line; do
        i=$((i + 1))
        printf '%s\n' "$line" >&5
        for _ in $(seq 100); do [ "$(wc -l < streamed.txt)" -eq $i ] && break; sleep 0.05; done
    done < lines.txt
    exec 5>&-
    wait $pid
    cmp batched.txt streamed.txt
}

@test "CSV: --text-column by name or number, --keep-columns, output header and quoting" {
    printf 'id,body,src\n1,"so happy, glad",a\n2,tears and grief,b\n' > in.csv
    run emo predict -m "$D/teacher" --text-column body in.csv
    assert_success
    assert_line --index 0 'label,probability,body'
    assert_line --index 1 --regexp '^[a-z]+,[0-9.]+,"so happy, glad"$'
    run emo predict -m "$D/teacher" --text-column 2 --keep-columns in.csv
    assert_line --index 0 'label,probability,id,body,src'
    assert_line --index 2 --regexp '^[a-z]+,[0-9.]+,2,tears and grief,b$'
    printf 'id\tbody\n1\tsad tears\n' > in.tsv
    run emo predict -m "$D/teacher" --format tsv --text-column body --json in.tsv
    assert_output --regexp '^\{"line":2,"body":"sad tears","prediction":"[a-z]+","probability":[0-9.e-]+\}$'
}

@test "JSONL: the object passed through with the answer added; --top-k" {
    printf '{"text":"so happy","user":"x"}\n{"text":"rage and hate","n":2}\n' > in.jsonl
    run emo predict -m "$D/teacher" --text-field text --json --top-k 2 in.jsonl
    assert_success
    assert_line --index 0 --regexp '^\{"text":"so happy","user":"x","prediction":"[a-z]+","probability":[0-9.e-]+,"top":\[\{"label":"[a-z]+","probability":[0-9.e-]+\},\{"label":"[a-z]+","probability":[0-9.e-]+\}\]\}$'
    # all three classes: probabilities that sum to 1, most probable first and equal to the answer
    run bash -c "emo predict -m '$D/teacher' --text-field text --json --top-k 3 in.jsonl \
        | jq -r '([.top[].probability] | add) as \$s | [(\$s > 0.999 and \$s < 1.001), (.top[0].label == .prediction),
                 (.top[0].probability >= .top[1].probability and .top[1].probability >= .top[2].probability)] | all'"
    assert_output $'true\ntrue'
}

@test "--min-probability answers unknown; empty lines answered or skipped" {
    run emo predict -m "$D/teacher" --min-probability 1 "$D/val.lines"
    [ "$(printf '%s\n' "$output" | cut -f1 | sort -u)" = unknown ]
    printf 'so happy\n\n   \ntears\n' > e.txt
    run emo predict -m "$D/teacher" e.txt
    [ "${#lines[@]}" -eq 4 ]
    run --separate-stderr emo predict -m "$D/teacher" --skip-empty e.txt
    [ "${#lines[@]}" -eq 2 ]
    [[ "$stderr" == *"2 empty skipped"* ]]
}

@test "invalid UTF-8 is replaced and long lines truncated as in training, both counted" {
    { printf 'so happy \377 glad\n'; printf 'sad %.0s' $(seq 200); printf '\n'; } > bad.txt
    run --separate-stderr emo predict -m "$D/teacher" bad.txt
    assert_success
    [ "${#lines[@]}" -eq 2 ]
    [[ "$stderr" == *"1 with invalid UTF-8 replaced by U+FFFD"* ]]
    [[ "$stderr" == *"1 truncated to 40 tokens as in training"* ]]
}

@test "bad input: one line naming file and line, exit 1, no output file" {
    printf 'id,body\n1,x\n' > in.csv
    run --separate-stderr emo predict -m "$D/teacher" --text-column text -o out.tsv in.csv
    assert_failure 1
    assert_equal "$stderr" "emo-predict: in.csv:line 1: no column 'text' (the header has: id, body; --text-column NAME|N)"
    assert_file_not_exists out.tsv
    printf '{"text":"a"}\n[1,2]\n' > in.jsonl
    run --separate-stderr emo predict -m "$D/teacher" --text-field text -o out.json --json in.jsonl
    assert_failure 1
    assert_equal "$stderr" "emo-predict: in.jsonl:line 2: not a JSON object"
    assert_file_not_exists out.json
    ls -A | grep -v '^in\.' && false || true
    # -o onto the input is refused, the input kept
    cp "$D/val.lines" v.txt
    run emo predict -m "$D/teacher" -o v.txt v.txt
    assert_failure 2
    cmp v.txt "$D/val.lines"
    rm v.txt
    run emo predict --records "$D/val.lines"
    assert_failure 2
    run emo predict -m "$D/teacher" --top-k 2 "$D/val.lines"
    assert_failure 2
    # a masked-LM checkpoint is not a classifier
    run --separate-stderr emo predict -m /nonexistent "$D/val.lines"
    assert_failure 1
}

@test "man examples emo-predict(1): every EXAMPLES command runs as printed" {
    ln -s "$D/student" student
    cp "$D/val.lines" tweets.txt
    cp "$D/val.lines" feed.txt
    { echo 'id,body'; awk '{ printf "%d,\"%s\"\n", NR, $0 }' "$D/val.lines"; } > posts.csv
    awk '{ printf "{\"text\":\"%s\",\"n\":%d}\n", $0, NR }' "$D/val.lines" > posts.jsonl
    mkdir split
    ln -s "$D/val.rec" split/test.rec
    # the commands between .Bd -literal and .Ed, as the page prints them
    sed -n '/^\.Sh EXAMPLES/,/^\.Sh SEE ALSO/{/^\.Bd -literal/,/^\.Ed/{/^\./d;p}}' \
        "$EMO_ROOT/man/man1/emo-predict.1" > examples.sh
    [ "$(wc -l < examples.sh)" -eq 5 ]
    while IFS= read -r cmd; do
        case $cmd in
        "tail -f "*)   # a live feed never ends: its first answers must come out while it runs
            run timeout 5 bash -c "$cmd"
            assert_failure 124
            [ "${#lines[@]}" -eq 10 ] ;;   # tail -f starts with the last 10 lines
        *)
            run bash -c "$cmd"
            assert_success
            [ "${#lines[@]}" -ge 2 ] ;;
        esac
    done < examples.sh
}
