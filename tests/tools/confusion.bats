#!/usr/bin/env bats
# emo confusion: sklearn goldens (tests/gen/make_eval_goldens_sklearn.py), text layout,
# heatmap rendering, bad input, man page examples.
load helpers

EV="$FIXTURES/eval"

setup() { cd "$BATS_TEST_TMPDIR"; }

rec() { emo pack -o "$1.rec" "$EV/$1.jsonl"; }

@test "confusion --json: counts, normalize='true' and top pairs equal sklearn's (5 sets)" {
    for s in basic neverpred absent ties field; do
        rec $s
        # shellcheck disable=SC2046
        emo confusion --json --top 1000 $(cat "$EV/$s.args") $s.rec > got.json || fail "$s: exit $?"
        d=$(jq -n --slurpfile g got.json --slurpfile e "$EV/$s.confusion.json" '
            def ab: if . < 0 then -. else . end;
            $g[0] as $g | $e[0] as $e |
            if ($g.top | length) != ($e.top | length) or
               [$g.top[] | [.true, .pred, .count]] != [$e.top[] | [.true, .pred, .count]] or
               $g.confusion != $e.confusion then 1e9
            else ([([$g.normalized[][]] | to_entries[] | (.value - [$e.normalized[][]][.key]) | ab),
                   ($g.top | to_entries[] | (.value.rate - $e.top[.key].rate) | ab)] | max) end')
        awk -v d="$d" 'BEGIN { exit !(d <= 1e-15) }' || fail "$s: max diff $d"
    done
}

@test "confusion: text layout (sklearn confusion_matrix docstring example)" {
    # y_true = [2, 0, 2, 2, 0, 1], y_pred = [0, 0, 2, 2, 0, 2] -> [[2,0,0],[0,0,1],[1,0,2]]
    printf '%s\n' '{"label":"c","logits":[1,0,0]}' '{"label":"a","logits":[1,0,0]}' \
        '{"label":"c","logits":[0,0,1]}' '{"label":"c","logits":[0,0,1]}' \
        '{"label":"a","logits":[1,0,0]}' '{"label":"b","logits":[0,0,1]}' | emo pack > in.rec
    run emo confusion in.rec
    assert_success
    assert_output "$(cat <<'EOF'
confusion matrix, 6 records (rows: true label, columns: predicted label)

true \ pred  a  b  c
a            2  0  0
b            0  0  1
c            1  0  2

normalised over true labels (each row sums to 1)

true \ pred     a     b     c
a            1.00  0.00  0.00
b            0.00  0.00  1.00
c            0.33  0.00  0.67

most confused pairs (2 errors of 6 records)

true    predicted     count      rate     share
b    -> c                 1     1.000     0.500
c    -> a                 1     0.333     0.500
EOF
)"
}

@test "confusion --svg: heatmap renders, counts or rates in the cells" {
    rec basic
    run emo confusion --svg cm.svg basic.rec
    assert_success
    rsvg-convert -o cm.png cm.svg
    [ "$(stat -c %s cm.png)" -gt 15000 ]
    grep -q '>52</text>' cm.svg           # joy -> joy count
    grep -q 'Predicted label' cm.svg
    grep -q 'fraction of true class' cm.svg
    run emo confusion --normalize --svg cmn.svg basic.rec
    assert_success
    grep -q '>0.55</text>' cmn.svg        # joy row: 52/95
    rsvg-convert -o cmn.png cmn.svg
}

@test "confusion --top limits the pair list" {
    rec basic
    run bash -c 'emo confusion --json --top 3 basic.rec | jq ".top | length"'
    assert_output 3
}

@test "confusion bad input: label not in class list; no figure written" {
    printf '%s\n' '{"label":"a","logits":[1,2]}' '{"label":"x","logits":[1,2]}' | emo pack > in.rec
    run --separate-stderr emo confusion --labels a,b --svg cm.svg in.rec
    assert_failure 1
    [ "$stderr" = "emo-confusion: in.rec:record 2: label 'x' is not in the class list (option --labels)" ]
    assert_file_not_exists cm.svg
    run bash -c 'ls -A | grep -c cm.svg'   # no temp file either
    assert_output 0
}

@test "confusion bad input: non-finite logit" {
    printf '%s\n' '{"label":"a","logits":[1e39,2]}' | emo pack > in.rec
    run --separate-stderr emo confusion in.rec
    assert_failure 1
    [ "$stderr" = "emo-confusion: in.rec:record 1: non-finite logit at record 1 (logits[0] = inf)" ]
}

@test "confusion bad input: truncated stream" {
    rec basic
    head -c 3000 basic.rec > t.rec
    run --separate-stderr emo confusion t.rec
    assert_failure 1
    [[ "$stderr" == "emo-confusion: t.rec:record "*"truncated"* ]]
}

@test "confusion bad input: empty input" {
    run --separate-stderr bash -c ': | emo confusion'
    assert_failure 1
    [[ "$stderr" == "emo-confusion: <stdin>: empty input"* ]]
}

@test "confusion usage: unknown option exits 2" {
    run --separate-stderr emo confusion --bogus
    assert_failure 2
    [[ "$stderr" == *"usage: emo confusion"* ]]
}

@test "man example emo-confusion(1): matrices, pairs and heatmap" {
    rec basic
    cp basic.rec preds.rec
    run bash -c 'emo confusion --top 5 --svg confusion.svg < preds.rec'
    assert_success
    assert_output --partial "most confused pairs"
    assert_file_exists confusion.svg
}

@test "man example emo-confusion(1): normalised heatmap and JSON" {
    rec basic
    cp basic.rec preds.rec
    run bash -c 'emo confusion --normalize --svg confusion.svg preds.rec > /dev/null && emo confusion --json preds.rec | jq -c ".top[0] | [.true, .pred, .count]"'
    assert_success
    assert_output '["joy","fear",12]'
}
