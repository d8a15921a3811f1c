#!/usr/bin/env bats
# emo eval: sklearn goldens (tests/gen/make_eval_goldens_sklearn.py), figures that render,
# class-list rules, bad input, man page examples.
load helpers

EV="$FIXTURES/eval"
SETS="basic neverpred absent ties field"

setup() { cd "$BATS_TEST_TMPDIR"; }

# rec SET: packs the fixture set into SET.rec
rec() { emo pack -o "$1.rec" "$EV/$1.jsonl"; }

# Largest absolute difference between emo eval --json output and the sklearn golden,
# over every number (per-class metrics, averages, confusion, AP, every PR curve point);
# 1e9 if an array length differs.
cmp_json() {
    jq -n --slurpfile got "$1" --slurpfile exp "$2" '
    def ab: if . < 0 then -. else . end;
    def md(x; y): if (x|length) != (y|length) then 1e9
                  else ([range(0; x|length) as $i | ((x[$i] - y[$i]) | ab)] | max // 0) end;
    $got[0] as $a | $exp[0] as $e |
    [ md([$a.per_class[].precision]; $e.precision), md([$a.per_class[].recall]; $e.recall),
      md([$a.per_class[].f1]; $e.f1), md([$a.per_class[].support]; $e.support),
      md([$a.accuracy]; [$e.accuracy]), md($a.micro_avg | [.precision, .recall, .f1]; $e.micro_avg),
      md($a.macro_avg | [.precision, .recall, .f1]; $e.macro_avg),
      md($a.weighted_avg | [.precision, .recall, .f1]; $e.weighted_avg),
      md([$a.confusion[][]]; [$e.confusion[][]]), md([$a.ap_macro]; [$e.ap_macro]),
      md([$a.per_class[].ap]; [$e.pr_curves[].ap]),
      (range(0; $e.pr_curves | length) as $k |
         md($a.pr_curves[$k].precision; $e.pr_curves[$k].precision),
         md($a.pr_curves[$k].recall; $e.pr_curves[$k].recall),
         md($a.pr_curves[$k].thresholds; $e.pr_curves[$k].thresholds))
    ] | max'
}

@test "eval: classification report is byte-identical to sklearn's (5 sets, digits 2 and 4)" {
    for s in $SETS; do
        rec $s
        for d in 2 4; do
            # shellcheck disable=SC2046
            emo eval --digits $d $(cat "$EV/$s.args") $s.rec > out.txt || fail "$s: exit $?"
            n=$(wc -l < "$EV/$s.report$d.txt")
            head -n "$n" out.txt > got.txt
            diff -u "$EV/$s.report$d.txt" got.txt || fail "$s digits $d differs from sklearn"
        done
    done
}

@test "eval --json: metrics, confusion, AP and every PR-curve point equal sklearn's (5 sets)" {
    for s in $SETS; do
        rec $s
        # shellcheck disable=SC2046
        emo eval --json --pr-points 0 $(cat "$EV/$s.args") $s.rec > $s.json || fail "$s: exit $?"
        d=$(cmp_json $s.json "$EV/$s.expected.json")
        awk -v d="$d" 'BEGIN { exit !(d <= 1e-12) }' || fail "$s: max abs diff $d"
    done
}

@test "eval: argmax ties take the first maximum, like numpy" {
    rec ties
    run bash -c 'emo eval --json --labels a,b,c,zzz ties.rec | jq -c "[.per_class[].predicted]"'
    assert_success
    want=$(jq -c '[range(0;4) as $k | [.pred[] | select(. == $k)] | length]' "$EV/ties.expected.json")
    assert_output "$want"
}

@test "eval: length buckets (input_ids tokens and text words), fixed edges and quantiles" {
    rec basic
    rec neverpred
    for s in basic neverpred; do
        got=$(emo eval --json --length-buckets 5,10,20 $s.rec | jq -c '[.length.buckets[] | [.lo, .hi, .count, .errors]]')
        want=$(jq -c '[.length_fixed_5_10_20[] | [.lo, .hi, .count, .errors]]' "$EV/$s.expected.json")
        [ "$got" = "$want" ] || fail "$s fixed: $got vs $want"
        got=$(emo eval --json --length-buckets q4 $s.rec | jq -c '[.length.buckets[] | [.lo, .hi, .count, .errors]]')
        want=$(jq -c '[.length_q4[] | [.lo, .hi, .count, .errors]]' "$EV/$s.expected.json")
        [ "$got" = "$want" ] || fail "$s q4: $got vs $want"
    done
    run bash -c 'emo eval --json basic.rec | jq -r .length.unit; emo eval --json neverpred.rec | jq -r .length.unit'
    assert_output $'tokens\nwords'
}

@test "eval --pr-points thins curves but keeps both ends" {
    rec basic
    emo eval --json --pr-points 10 basic.rec > t.json
    emo eval --json --pr-points 0 basic.rec > f.json
    run jq -c '[.pr_curves[0] | (.precision | length), (.thresholds | length), .precision[0], .recall[-1]]' t.json
    full=$(jq -c '[.pr_curves[0] | .precision[0], .recall[-1]]' f.json)
    assert_output "[10,9,$(echo "$full" | jq -c '.[0]'),0]"
}

@test "eval --figures: pr-curves.svg, length-error.svg, confusion.svg render to non-trivial PNGs" {
    rec basic
    run emo eval --figures figs basic.rec
    assert_success
    for f in pr-curves length-error confusion; do
        assert_file_exists figs/$f.svg
        rsvg-convert -o $f.png figs/$f.svg || fail "rsvg-convert $f"
        size=$(stat -c %s $f.png)
        [ "$size" -gt 15000 ] || fail "$f.png only $size bytes"
    done
    grep -q 'anger (AP 0.536)' figs/pr-curves.svg
    grep -q 'error rate (right axis)' figs/length-error.svg
    run bash -c 'ls -A figs'
    assert_output $'confusion.svg\nlength-error.svg\npr-curves.svg'
}

@test "svg library demo (every element) renders" {
    [ -x "$EMO_ROOT/tests/unit/bin/test_svg" ] || skip "unit tests not built (make check builds them)"
    "$EMO_ROOT/tests/unit/bin/test_svg" demo.svg
    rsvg-convert -o demo.png demo.svg
    [ "$(stat -c %s demo.png)" -gt 20000 ]
}

@test "eval --min-accuracy: exit 3 below the threshold, 0 at or above" {
    rec basic
    acc=$(emo eval --json basic.rec | jq .accuracy)
    run --separate-stderr emo eval --min-accuracy 0.9 basic.rec
    assert_failure 3
    [[ "$stderr" == *"below --min-accuracy 0.9"* ]]
    assert_output --partial "weighted avg"
    run emo eval --min-accuracy "$acc" basic.rec
    assert_success
}

@test "eval: class list from a labels field keeps its (unsorted) order" {
    rec field
    run bash -c 'emo eval --json field.rec | jq -c "[.class_source, .classes]"'
    assert_output '["labels field",["sadness","joy","love","colère","fear","surprise"]]'
}

@test "eval: default class list is the sorted unique labels" {
    rec basic
    run bash -c 'emo eval --json basic.rec | jq -c "[.class_source, .classes]"'
    assert_output '["sorted unique labels",["anger","fear","joy","love","sadness","surprise"]]'
}

@test "eval: a class absent from the truth needs --labels (clear hint)" {
    rec absent
    run --separate-stderr emo eval absent.rec
    assert_failure 1
    [[ "$stderr" == "emo-eval: absent.rec: logits have 6 values but the records name 5 classes; pass --labels"* ]]
}

@test "eval -m: class list from a checkpoint's config.json id2label" {
    rec field
    mkdir ck
    printf '%s' '{"model_type":"bert","id2label":{"0":"sadness","1":"joy","2":"love","3":"colère","4":"fear","5":"surprise"}}' > ck/config.json
    run bash -c 'emo eval --json -m ck field.rec | jq -c "[.class_source, .classes]"'
    assert_output '["checkpoint id2label",["sadness","joy","love","colère","fear","surprise"]]'
    emo eval -m ck field.rec > out.txt
    n=$(wc -l < "$EV/field.report2.txt")
    head -n "$n" out.txt | diff -u "$EV/field.report2.txt" -
}

@test "eval -m: checkpoint with other classes than the records is an error" {
    rec basic
    mkdir ck
    printf '%s' '{"model_type":"bert","id2label":{"0":"neg","1":"pos"}}' > ck/config.json
    run --separate-stderr emo eval -m ck basic.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: basic.rec:record 1: field 'logits' has 6 values but the class list (checkpoint id2label) has 2 classes" ]
    run --separate-stderr emo eval -m ck --labels a,b basic.rec
    assert_failure 2
    run --separate-stderr emo eval -m nowhere basic.rec
    assert_failure 1
}

# ---- bad input: one test each ------------------------------------------------

@test "eval bad input: record without logits" {
    printf '%s\n' '{"label":"a","logits":[1,2]}' '{"label":"b"}' | emo pack > in.rec
    run --separate-stderr emo eval --figures figs in.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: in.rec:record 2: missing field 'logits'" ]
    assert_not_exists figs
}

@test "eval bad input: record without label" {
    printf '%s\n' '{"label":"a","logits":[1,2]}' '{"logits":[1,2]}' | emo pack > in.rec
    run --separate-stderr emo eval in.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: in.rec:record 2: missing field 'label'" ]
}

@test "eval bad input: label not in the --labels class list" {
    printf '%s\n' '{"label":"a","logits":[1,2]}' '{"label":"c","logits":[1,2]}' | emo pack > in.rec
    run --separate-stderr emo eval --labels a,b in.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: in.rec:record 2: label 'c' is not in the class list (option --labels)" ]
}

@test "eval bad input: logits length differs between records" {
    printf '%s\n' '{"label":"a","logits":[1,2]}' '{"label":"b","logits":[1,2,3]}' | emo pack > in.rec
    run --separate-stderr emo eval in.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: in.rec:record 2: field 'logits' has 3 values but earlier records have 2" ]
}

@test "eval bad input: logits length differs from the class count" {
    printf '%s\n' '{"label":"a","logits":[1,2,3]}' | emo pack > in.rec
    run --separate-stderr emo eval --labels a,b in.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: in.rec:record 1: field 'logits' has 3 values but the class list (option --labels) has 2 classes" ]
}

@test "eval bad input: NaN logit" {
    printf '%s\n' '{"label":"a","logits":[1,2]}' '{"label":"b","logits":[0.125,2]}' | emo pack > ok.rec
    # 0.125 is packed as float32 ca 3e 00 00 00; make it a quiet NaN
    perl -0777 -pe 's/\xca\x3e\x00\x00\x00/\xca\x7f\xc0\x00\x00/' ok.rec > in.rec
    run --separate-stderr emo eval in.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: in.rec:record 2: non-finite logit at record 2 (logits[0] = nan)" ]
}

@test "eval bad input: infinite logit (overflows float32)" {
    printf '%s\n' '{"label":"a","logits":[1,-1e39]}' | emo pack > in.rec
    run --separate-stderr emo eval in.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: in.rec:record 1: non-finite logit at record 1 (logits[1] = -inf)" ]
}

@test "eval bad input: empty input" {
    run --separate-stderr bash -c ': | emo eval'
    assert_failure 1
    [[ "$stderr" == "emo-eval: <stdin>: empty input"* ]]
}

@test "eval bad input: truncated stream, no figure left behind" {
    rec basic
    head -c 5000 basic.rec > t.rec
    run --separate-stderr emo eval --figures figs t.rec
    assert_failure 1
    [[ "$stderr" == "emo-eval: t.rec:record "*": truncated"* ]]
    assert_not_exists figs
}

@test "eval bad input: labels field differing between records" {
    printf '%s\n' '{"label":"a","logits":[1,2],"labels":["a","b"]}' '{"label":"a","logits":[1,2],"labels":["b","a"]}' | emo pack > in.rec
    run --separate-stderr emo eval in.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: in.rec:record 2: field 'labels' differs from the first record's" ]
}

@test "eval bad input: more logits than the class limit" {
    jq -nc '{label: "a", logits: [range(0; 4097) | 0]}' | emo pack > in.rec
    run --separate-stderr emo eval in.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: in.rec:record 1: field 'logits' has 4097 values (expected 1 to 4096)" ]
}

@test "eval bad input: label that is not UTF-8" {
    printf '%s\n' '{"label":"a","logits":[1,2]}' '{"label":"b","logits":[1,2]}' | emo pack > ok.rec
    # the second label "b" (a1 62) becomes the byte 0xff
    perl -0777 -pe 's/\xa1\x62/\xa1\xff/' ok.rec > in.rec
    run --separate-stderr emo eval in.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: in.rec:record 2: field 'label' is not valid UTF-8 (or contains a NUL)" ]
}

@test "eval: several files are read as one prediction set" {
    rec basic
    rec neverpred
    cat basic.rec neverpred.rec > both.rec
    run bash -c 'diff <(emo eval --json basic.rec neverpred.rec) <(emo eval --json < both.rec)'
    assert_success
}

@test "eval bad input: stream with no records" {
    : > empty.jsonl
    emo pack -o none.rec empty.jsonl
    run --separate-stderr emo eval none.rec
    assert_failure 1
    [ "$stderr" = "emo-eval: none.rec: no records (empty prediction set)" ]
}

@test "eval usage: unknown option, bad --length-buckets, duplicate --labels exit 2" {
    run --separate-stderr emo eval --bogus
    assert_failure 2
    [[ "$stderr" == *"usage: emo eval"* ]]
    run --separate-stderr emo eval --length-buckets 10,5 /dev/null
    assert_failure 2
    [[ "$stderr" == *"--length-buckets"* ]]
    run --separate-stderr emo eval --labels a,a /dev/null
    assert_failure 2
    [[ "$stderr" == *"given twice"* ]]
}

# ---- man page examples ---------------------------------------------------------

@test "man example emo-eval(1): report, figures and JSON" {
    rec basic
    cp basic.rec preds.rec
    run bash -c 'emo eval --figures figs < preds.rec'
    assert_success
    assert_output --partial "weighted avg"
    assert_file_exists figs/pr-curves.svg
    run bash -c 'emo eval --json < preds.rec | jq .accuracy'
    assert_success
    assert_output --regexp '^0\.[0-9]+$'
}

@test "man example emo-eval(1): gate a pipeline on accuracy" {
    rec basic
    cp basic.rec preds.rec
    run --separate-stderr bash -c 'emo eval --min-accuracy 0.90 preds.rec > report.txt || echo "below target: $?"'
    assert_output "below target: 3"
}

@test "man example emo-eval(1): teacher-logits | eval -m teacher" {
    [ -x "$EMO_ROOT/bin/emo-teacher-train" ] || skip "emo teacher-train is not built"
    printf '%s\n' '{"id":1,"label":"joy","input_ids":[101,7592,102]}' '{"id":2,"label":"sadness","input_ids":[101,2026,3043,102]}' \
        '{"id":3,"label":"joy","input_ids":[101,2200,7592,999,102]}' '{"id":4,"label":"sadness","input_ids":[101,6517,102]}' | emo pack > val.rec
    emo teacher-train --train val.rec --val val.rec --config bert-tiny --epochs 1 -o teacher 2> /dev/null
    run --separate-stderr bash -c 'emo teacher-logits -m teacher val.rec | emo eval -m teacher --figures figs'
    assert_success
    assert_output --partial "weighted avg"
    assert_file_exists figs/pr-curves.svg
}

@test "man example emo-eval(1): explicit class order and fixed length buckets" {
    rec basic
    cp basic.rec preds.rec
    run emo eval --labels anger,fear,joy,love,sadness,surprise --length-buckets 10,20,30 preds.rec
    assert_success
    assert_output --partial "error rate by length (tokens)"
    assert_output --partial "31+"
}
