#!/usr/bin/env bats
# pipelines/paper.sh on a tiny corpus (300 tweets of the shared corpus, a vocabulary of its
# words, 32-wide models, one epoch): the results folder (with the students' int8 copies),
# make-style skipping (which stages run again after a change), the Kaggle CSV corpus; and
# pipelines/fetch-data.sh's checksums.
load helpers

# paper OUT [VAR=VALUE...]: the tiny experiment, stderr (the stage log) to OUT.log
paper() {
    local out=$1
    shift
    env CORPUS="$D/corpus" VOCAB="$D/vocab.txt" MAX_LEN=64 TEACHER="$D/tiny-bert.json" \
        STUDENTS="$D/tiny-distilbert.json $D/tiny-albert.json" T_EPOCHS=1 S_EPOCHS=1 THREADS=1 \
        TSNE_PERPLEXITY=5 T_OPTS="--lr 3e-3 --batch 16" S_OPTS="--lr 3e-3 --batch 16" PRETRAIN=0 \
        DISTILL_UNLABELED=0 BASELINES=0 ATTN_LAYERS=all ATTN_CODEC=f16 TRIM_VOCAB=0 "$@" \
        "${PAPER:-$EMO_ROOT/pipelines/paper.sh}" "$out" > "$out.stdout" 2> "$out.log"
}
# ran OUT.log: the stages that ran, sorted, one line
ran() { sed -n 's/^[0-9:]* paper.sh: \([^ ]*\): run.*/\1/p' "$1" | sort | tr '\n' ' '; }

setup_file() {
    [ -r "$SHARED/data/emotion/train.txt" ] || return 0
    D=$BATS_FILE_TMPDIR
    export D
    cd "$D"
    mkdir corpus
    head -240 "$SHARED/data/emotion/train.txt" > corpus/train.txt
    head -60 "$SHARED/data/emotion/val.txt" > corpus/val.txt
    # the corpus' words seen twice or more, after the special tokens
    { printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'
      cut -d';' -f1 corpus/*.txt | tr ' ' '\n' | grep -v '^$' | sort | uniq -c | sort -k1,1nr -k2 |
          awk '$1 >= 2 { print $2 }'; } > vocab.txt
    local v m
    v=$(wc -l < vocab.txt)
    for m in bert distilbert albert; do
        sed "s/\"vocab_size\": 120/\"vocab_size\": $v/; s/\"max_position_embeddings\": 40/\"max_position_embeddings\": 64/" \
            "$FIXTURES/train/tiny-$m.json" > "tiny-$m.json"
    done
    paper "$D/base"
}

setup() {
    [ -r "$SHARED/data/emotion/train.txt" ] || skip "no shared corpus in $SHARED"
    D=$BATS_FILE_TMPDIR
    cd "$BATS_TEST_TMPDIR"
}

@test "paper.sh: every stage runs once; the results folder holds the tables and figures" {
    assert_equal "$(ran "$D/base.log")" \
        "cache data eval-teacher eval-tiny-albert eval-tiny-distilbert results student-tiny-albert student-tiny-distilbert teacher tsne "
    r=$D/base/results
    for f in RESULTS.md teacher.report.txt tiny-albert.confusion.txt teacher.tsne.stats logs/teacher.train_log.jsonl; do
        assert_file_exists "$r/$f"
    done
    for m in teacher tiny-distilbert tiny-albert; do
        for f in confusion pr-curves length-error; do assert_file_exists "$r/figures/$m.$f.svg"; done
    done
    assert_file_exists "$r/figures/teacher.tsne.svg"
    rsvg-convert -o le.png "$r/figures/tiny-albert.length-error.svg"
    [ -s le.png ]
    for s in "## Teacher vs students" "## Per-class F1" "## Most confused pairs" "## Error rate by length" "## t-SNE"; do
        grep -q "^$s" "$r/RESULTS.md"
    done
    cmp "$r/RESULTS.md" "$D/base/RESULTS.md"
}

@test "paper.sh: the table's numbers are the eval stage's (accuracy, weighted F1, parameters, size)" {
    r=$D/base/results/RESULTS.md
    for m in teacher tiny-distilbert tiny-albert; do
        j=$D/base/eval/$m.json
        dir=$D/base/students/$m
        [ $m = teacher ] && dir=$D/base/teacher
        acc=$(jq -r '.accuracy * 10000 | round / 10000' "$j")
        f1=$(jq -r '.weighted_avg.f1 * 10000 | round / 10000' "$j")
        params=$(emo ckpt info "$dir" | jq .params)
        row=$(grep "^| $m |" "$r" | head -1)
        [ -n "$row" ]
        # columns: model type parameters size size-vs-teacher accuracy delta P R F1
        ratio=$(jq -n --argjson a "$(wc -c < "$dir/model.safetensors")" \
            --argjson b "$(wc -c < "$D/base/teacher/model.safetensors")" '$a / $b * 100 | round / 100')
        run awk -F' *\\| *' -v acc="$acc" -v f1="$f1" -v p="$params" -v r="$ratio" '{ gsub(",", "", $4);
            exit !($4 == p && $6 + 0 == r + 0 && $7 + 0 == acc + 0 && $11 + 0 == f1 + 0) }' <<< "$row"
        assert_success
    done
    # the per-class delta is student F1 - teacher F1, in points
    t=$(jq '.per_class[] | select(.label == "joy") | .f1' "$D/base/eval/teacher.json")
    s=$(jq '.per_class[] | select(.label == "joy") | .f1' "$D/base/eval/tiny-albert.json")
    want=$(awk -v t="$t" -v s="$s" 'BEGIN { d = (s - t) * 100; printf "%s%.2f", (d > 0.0049 ? "+" : ""), d }')
    grep "^| joy |" "$r" | grep -q -- "($want) |\$"
}

@test "paper.sh: each student's int8 copy (emo ckpt quantize) beside it: accuracy within a few points, size, samples/s" {
    r=$D/base/results/RESULTS.md
    grep -q '^## int8 students (`emo ckpt quantize`)$' "$r"
    grep -qx '| model | accuracy | int8 accuracy | int8 vs float (points) | argmax agreement | size MB | int8 size MB | int8 size vs float | infer samples/s | int8 samples/s | int8 speed vs float |' "$r"
    [ "$(sed -n '/^## int8 students/,/^## Per-class/p' "$r" | grep -c '^| tiny-')" -eq 2 ]
    for m in tiny-distilbert tiny-albert; do
        jq -e '.quantization.method == "emo-dynamic-int8"' "$D/base/students/$m.int8/config.json"
        [ "$(emo dump "$D/base/eval/$m.int8.preds.rec" | wc -l)" -eq "$(emo dump "$D/base/split/test.rec" | wc -l)" ]
        row=$(sed -n '/^## int8 students/,/^## Per-class/p' "$r" | grep "^| $m |")
        acc=$(jq -r '.accuracy * 10000 | round / 10000' "$D/base/eval/$m.json")
        acc8=$(jq -r '.accuracy * 10000 | round / 10000' "$D/base/eval/$m.int8.json")
        ratio=$(jq -n --argjson a "$(wc -c < "$D/base/students/$m.int8/model.safetensors")" \
            --argjson b "$(wc -c < "$D/base/students/$m/model.safetensors")" '$a / $b * 100 | round / 100')
        echo "$m: accuracy $acc, int8 $acc8; int8 size $ratio of float; $row" >&3
        # columns: model accuracy int8-accuracy delta agreement MB int8-MB size-ratio samples/s int8-samples/s speed
        run awk -F' *\\| *' -v acc="$acc" -v acc8="$acc8" -v r="$ratio" '{
            d = $4 - $3; if (d < 0) d = -d
            exit !($3 + 0 == acc + 0 && $4 ~ /^[01]\.[0-9][0-9][0-9][0-9]$/ && $4 + 0 == acc8 + 0 && d <= 0.05 &&
                   $6 + 0 >= 0.9 && $9 + 0 == r + 0 && r < 1 && $10 + 0 > 0 && $11 + 0 > 0 && $12 ~ /^[0-9.]+x$/) }' <<< "$row"
        assert_success
    done
    assert_file_exists "$D/base/results/tiny-albert.int8.report.txt"
    grep -q 'INT8=1' "$r"
}

@test "paper.sh: INT8=0 redoes the students' evaluations without the int8 copies, and the results without their table" {
    cp -a "$D/base" out
    paper "$PWD/out" INT8=0
    assert_equal "$(ran out.log)" "eval-tiny-albert eval-tiny-distilbert results "
    ! grep -q '^## int8 students' out/results/RESULTS.md
    grep -q '^## Teacher vs students' out/results/RESULTS.md
    [ ! -e out/students/tiny-albert.int8 ] && [ ! -e out/eval/tiny-albert.int8.json ]
    run paper "$PWD/out" INT8=2
    assert_failure
    grep -q 'INT8=2: 0 or 1' out.log
}

@test "paper.sh: a rerun with nothing changed runs no stage and rewrites nothing; moving OUT changes nothing" {
    cp -a "$D/base" out
    find out -newer "$D/base.log" > before
    paper "$PWD/out"
    assert_equal "$(ran out.log)" ""
    [ "$(grep -c ': up to date$' out.log)" -eq 10 ]
    find out -newer "$D/base.log" | diff before -
    cmp out/RESULTS.md out.stdout
}

@test "paper.sh: changing S_EPOCHS redoes the students, their evals and the results only" {
    cp -a "$D/base" out
    paper "$PWD/out" S_EPOCHS=2
    assert_equal "$(ran out.log)" \
        "eval-tiny-albert eval-tiny-distilbert results student-tiny-albert student-tiny-distilbert "
    [ "$(grep -c '"val_accuracy"' out/students/tiny-albert/train_log.jsonl)" -eq 2 ]
    grep -q 'S_EPOCHS=2' out/results/RESULTS.md
    # and back: the students run again (one stamp per stage, not a history)
    paper "$PWD/out"
    assert_equal "$(ran out.log)" \
        "eval-tiny-albert eval-tiny-distilbert results student-tiny-albert student-tiny-distilbert "
}

@test "paper.sh: changing the teacher's options redoes the teacher and everything after it, not the data" {
    cp -a "$D/base" out
    paper "$PWD/out" T_OPTS="--lr 2e-3 --batch 16"
    assert_equal "$(ran out.log)" \
        "cache eval-teacher eval-tiny-albert eval-tiny-distilbert results student-tiny-albert student-tiny-distilbert teacher tsne "
}

@test "paper.sh: the corpus' content counts, not its time stamp" {
    cp -a "$D/base" out
    cp -a "$D/corpus" corpus
    touch corpus/train.txt
    paper "$PWD/out" CORPUS="$PWD/corpus"
    assert_equal "$(ran out.log)" ""
    echo "i feel wonderful today;joy" >> corpus/val.txt
    paper "$PWD/out" CORPUS="$PWD/corpus"
    assert_equal "$(ran out.log)" \
        "cache data eval-teacher eval-tiny-albert eval-tiny-distilbert results student-tiny-albert student-tiny-distilbert teacher tsne "
    [ "$(emo dump out/split/*.rec | wc -l)" -eq 301 ]
}

@test "paper.sh: a rebuilt tool redoes the stages that run it" {
    # a source tree whose emo-eval differs by one byte (still the same program)
    mkdir -p root/pipelines root/bin
    cp "$EMO_ROOT"/pipelines/*.sh root/pipelines/
    for b in "$EMO_ROOT"/bin/*; do ln -s "$b" root/bin/; done
    rm root/bin/emo-eval
    cp "$EMO_ROOT/bin/emo-eval" root/bin/
    cp -a "$D/base" out
    PAPER=root/pipelines/paper.sh paper "$PWD/out"
    assert_equal "$(ran out.log)" ""
    printf '\0' >> root/bin/emo-eval
    PAPER=root/pipelines/paper.sh paper "$PWD/out"
    assert_equal "$(ran out.log)" "eval-teacher eval-tiny-albert eval-tiny-distilbert results "
}

@test "paper.sh: a failing stage stops the run and leaves no stamp; the rerun does it" {
    cp -a "$D/base" out
    run paper "$PWD/out" S_OPTS="--lr -1"
    assert_failure
    assert_file_not_exists out/.stamps/student-tiny-distilbert
    assert_file_exists out/.stamps/teacher
    # the rerun redoes that student only: its key is the one its evaluation was made from,
    # and with the same seed and threads it trains the same weights again
    paper "$PWD/out"
    assert_equal "$(ran out.log)" "student-tiny-distilbert "
    cmp out/students/tiny-distilbert/model.safetensors "$D/base/students/tiny-distilbert/model.safetensors"
}

@test "paper.sh: CORPUS=text.csv reads the Kaggle CSV (index ids, numeric labels named)" {
    # the first 300 shared tweets in the Kaggle layout: ,text,label with labels 0..5
    awk -F';' 'BEGIN { print ",text,label"; split("sadness joy love anger fear surprise", n, " ");
                       for (i = 1; i <= 6; i++) k[n[i]] = i - 1 }
               { printf "%d,%s,%d\n", 1000 + NR, $1, k[$2] }' "$D"/corpus/train.txt "$D"/corpus/val.txt > text.csv
    paper "$PWD/out" CORPUS="$PWD/text.csv" STUDENTS="$D/tiny-albert.json"
    assert_file_exists out/results/RESULTS.md
    run bash -c 'emo dump out/split/train.rec out/split/val.rec out/split/test.rec | jq -r .label | sort | uniq -c | wc -l'
    assert_output 6
    run bash -c 'emo dump out/split/*.rec | jq .id | sort -n | sed -n "1p;\$p"'
    assert_output $'1001\n1300'
    grep -q 'CORPUS=text.csv' out/results/RESULTS.md
}

@test "paper.sh: PRETRAIN=1 pretrains the teacher's shape (masked LM), then fine-tunes from it; cached like the rest" {
    cp -a "$D/base" out
    head -200 "$SHARED/data/emotion/unlabeled.txt" > unlabeled.txt
    paper "$PWD/out" PRETRAIN=1 UNLABELED="$PWD/unlabeled.txt" P_EPOCHS=1 T_OPTS="--batch 16"
    assert_equal "$(ran out.log)" \
        "cache eval-teacher eval-tiny-albert eval-tiny-distilbert pretrain results student-tiny-albert student-tiny-distilbert teacher tsne unlabeled "
    # the pretraining read the unlabelled tweets and the training split, not val or test
    run jq -c '[.run.files[] | .records]' out/pretrain/last/trainer_state.json
    assert_output "[200,210]"
    [ "$(jq -r .run.init out/teacher/last/trainer_state.json)" = "$PWD/out/pretrain" ]
    # fine-tuned at peak lr 3e-4 with 10% warm-up when T_OPTS names no --lr
    [ "$(jq -r .run.lr out/teacher/last/trainer_state.json)" = 0.0003 ]
    [ "$(jq -r .run.warmup_ratio out/teacher/last/trainer_state.json)" = 0.1 ]
    grep -q '^## Masked-LM pretraining of the teacher' out/results/RESULTS.md
    grep -q 'PRETRAIN=1 UNLABELED=unlabeled.txt P_EPOCHS=1' out/results/RESULTS.md
    paper "$PWD/out" PRETRAIN=1 UNLABELED="$PWD/unlabeled.txt" P_EPOCHS=1 T_OPTS="--batch 16"
    assert_equal "$(ran out.log)" ""
    # the unlabelled file's content is an input of the pretrain stage
    echo "one more tweet about nothing" >> unlabeled.txt
    paper "$PWD/out" PRETRAIN=1 UNLABELED="$PWD/unlabeled.txt" P_EPOCHS=1 T_OPTS="--batch 16" UNTIL=teacher
    assert_equal "$(ran out.log)" "pretrain teacher unlabeled "
    # and back to no pretraining: the teacher from scratch again, no pretraining section
    paper "$PWD/out"
    assert_equal "$(ran out.log)" \
        "cache eval-teacher eval-tiny-albert eval-tiny-distilbert results student-tiny-albert student-tiny-distilbert teacher tsne "
    ! grep -q 'Masked-LM' out/results/RESULTS.md
    cmp out/teacher/model.safetensors "$D/base/teacher/model.safetensors"
}

@test "paper.sh: --max-steps cutting an epoch short: the weights reached are the model" {
    cp -a "$D/base" out
    paper "$PWD/out" S_OPTS="--lr 3e-3 --batch 16 --max-steps 3"
    cmp out/students/tiny-albert/model.safetensors out/students/tiny-albert/last/model.safetensors
    assert_file_not_exists out/students/tiny-albert/optimizer.bin
    grep -q '^| tiny-albert | albert |' out/results/RESULTS.md
}

@test "paper.sh: UNTIL=STAGE stops after that stage" {
    cp -a "$D/base" out
    paper "$PWD/out" UNTIL=cache S_EPOCHS=3
    assert_equal "$(ran out.log)" ""
    grep -q 'stopping after cache' out.log
    run grep -c 'up to date' out.log
    assert_output 3
}

@test "paper.sh: the default corpus is data/emotion when present, else \$SHARED/data/emotion" {
    mkdir -p root/pipelines root/data/emotion shared/data/emotion
    cp "$EMO_ROOT"/pipelines/*.sh root/pipelines/
    ln -s "$EMO_ROOT/bin" root/bin
    head -150 "$D/corpus/train.txt" > shared/data/emotion/train.txt
    PAPER=root/pipelines/paper.sh paper "$PWD/out1" CORPUS= SHARED="$PWD/shared" UNTIL=data
    [ "$(emo dump out1/split/*.rec | wc -l)" -eq 150 ]
    cp "$D/corpus/train.txt" "$D/corpus/val.txt" root/data/emotion/
    PAPER=root/pipelines/paper.sh paper "$PWD/out2" CORPUS= SHARED="$PWD/shared" UNTIL=data
    [ "$(emo dump out2/split/*.rec | wc -l)" -eq 300 ]
}

@test "paper.sh: a second run in the same OUT is refused while the first runs" {
    cp -a "$D/base" out
    exec 8>> out/.stamps/lock
    flock -n 8
    run paper "$PWD/out"
    exec 8>&-
    assert_failure 1
    grep -q 'another paper.sh is running there' out.log
    paper "$PWD/out"
    grep -q 'results: up to date' out.log
}

@test "paper.sh: a missing corpus is one clear error" {
    run --separate-stderr paper "$PWD/out" CORPUS="$PWD/nowhere"
    assert_failure 1
    run cat out.log
    assert_output --partial "nowhere"
}

# ---- fetch-data ----------------------------------------------------------------------------

# a mirror of three small files and their checksum list
mirror() {
    mkdir -p mirror
    printf 'i feel fine;joy\n' > mirror/train.txt
    printf 'i feel low;sadness\n' > mirror/val.txt
    printf 'i am scared;fear\n' > mirror/test.txt
    (cd mirror && sha256sum train.txt val.txt test.txt) > sums
}

@test "fetch-data: downloads from EMOTION_URL, checks every sha256, then skips what is there" {
    mirror
    run env EMOTION_URL="file://$PWD/mirror" EMOTION_SHA256=sums "$EMO_ROOT/pipelines/fetch-data.sh" data/emotion
    assert_success
    (cd data/emotion && sha256sum -c ../../sums)
    assert_equal "$(ls data)" "emotion"
    # present and right: nothing is downloaded (the mirror is gone)
    run env EMOTION_URL="file://$PWD/gone" EMOTION_SHA256=sums "$EMO_ROOT/pipelines/fetch-data.sh" data/emotion
    assert_success
    assert_output --partial "up to date"
}

@test "fetch-data: a checksum mismatch fails and leaves nothing, not even the good files" {
    mirror
    printf 'tampered;joy\n' > mirror/test.txt
    run --separate-stderr env EMOTION_URL="$PWD/mirror" EMOTION_SHA256=sums "$EMO_ROOT/pipelines/fetch-data.sh" data/emotion
    assert_failure 1
    [[ "$stderr" == *"test.txt: sha256 "*", expected "* ]]
    assert_equal "$(ls data)" ""
}

@test "fetch-data: a failed download fails and leaves nothing" {
    mirror
    rm mirror/val.txt
    run --separate-stderr env EMOTION_URL="file://$PWD/mirror" EMOTION_SHA256=sums "$EMO_ROOT/pipelines/fetch-data.sh" data/emotion
    assert_failure 1
    [[ "$stderr" == *"val.txt: download failed"* ]]
    assert_equal "$(ls data)" ""
}

@test "fetch-data: the built-in checksums are those of the shared train and val files" {
    run env EMOTION_URL="file://$SHARED/data/emotion" "$EMO_ROOT/pipelines/fetch-data.sh" data/emotion
    # test.txt is not in ../shared: the run fails on it, after train and val passed their check
    assert_failure 1
    [[ "$output" == *"test.txt: download failed"* ]]
    [[ "$output" != *"train.txt: sha256"* ]]
    [[ "$output" != *"val.txt: sha256"* ]]
    assert_equal "$(ls data)" ""
    grep -q '^3ab03d945a6cb783d818ccd06dafd52d2ed8b4f62f0f85a09d7d11870865b190  train.txt$' "$EMO_ROOT/data/emotion.sha256"
    grep -q '^60f531690d20127339e7f054edc299a82c627b5ec0dd5d552d53d544e0cfcc17  test.txt$' "$EMO_ROOT/data/emotion.sha256"
}

@test "paper.sh: DISTILL_UNLABELED=1 caches the teacher over the unlabelled tweets too and the students learn from them; BASELINES=1" {
    cp -a "$D/base" out
    head -150 "$SHARED/data/emotion/unlabeled.txt" > unlabeled.txt
    paper "$PWD/out" DISTILL_UNLABELED=1 UNLABELED="$PWD/unlabeled.txt" BASELINES=1
    assert_equal "$(ran out.log)" \
        "baselines cache eval-tiny-albert eval-tiny-distilbert results student-tiny-albert student-tiny-distilbert unlabeled "
    # one cache: the 210 training records and the 150 tweets, ids clear of each other
    run bash -c "emo cache out/cache | head -1"
    assert_output "$(printf 'records\t360')"
    [ "$(emo dump out/unlabeled.rec | jq -s 'map(.id) | min')" -eq $(( (1 << 40) + 1 )) ]
    # the students saw both, the tweets without labels
    [ "$(emo dump out/distill.rec | jq -s 'length')" -eq 360 ]
    [ "$(emo dump out/distill.rec | jq -s 'map(select(has("label") | not)) | length')" -eq 150 ]
    grep -q 'DISTILL_UNLABELED=1 UNLABELED=unlabeled.txt' out/results/RESULTS.md
    # the baselines, computed here: the majority class of the training split, on the test split
    grep -q '^## Baselines on the same test split' out/results/RESULTS.md
    maj=$(emo dump out/split/train.rec | jq -r .label | sort | uniq -c | sort -k1,1nr -k2 | awk 'NR == 1 { print $2 }')
    k=$(emo dump out/split/test.rec | jq -r .label | grep -cx "$maj")
    n=$(emo dump out/split/test.rec | jq -s length)
    [ "$(jq -s --argjson k "$k" --argjson n "$n" '(.[0].accuracy * 1e6 | round) == ($k / $n * 1e6 | round)' out/eval/baselines.jsonl)" = true ]
    if command -v fasttext > /dev/null; then grep -q '^| fastText | ' out/results/RESULTS.md; fi
}

@test "paper.sh: TRIM_VOCAB=1 gives each student the vocabulary of the texts it learns from; its records, val and test use it" {
    # bert-base-uncased's layout: ids 2 and 3 are [unused1] [unused2], which the texts never
    # use, but an ALBERT config names them (bos_token_id 2, eos_token_id 3): trim-vocab keeps
    # them for the ALBERT-style student alone, so the two students' vocabularies differ
    { printf '[PAD]\n[UNK]\n[unused1]\n[unused2]\n'; tail -n +3 "$D/vocab.txt"; } > vocab2.txt
    v=$(wc -l < vocab2.txt)
    for m in bert distilbert albert; do
        jq --argjson v "$v" '.vocab_size = $v' "$D/tiny-$m.json" > "tiny-$m.json"
    done
    paper "$PWD/out" TRIM_VOCAB=1 VOCAB="$PWD/vocab2.txt" TEACHER="$PWD/tiny-bert.json" \
        STUDENTS="$PWD/tiny-distilbert.json $PWD/tiny-albert.json"
    grep -q 'student-tiny-albert: done' out.log
    tv=$(emo ckpt info out/teacher | jq .vocab_size)
    for m in tiny-distilbert tiny-albert; do
        sv=$(emo ckpt info "out/students/$m" | jq .vocab_size)
        [ "$sv" -lt "$tv" ]
        [ "$(wc -l < "out/students/$m/vocab.txt")" -eq "$sv" ]
        # the saved vocabulary is the one its records were made with
        for s in distill val test; do
            cmp <(emo tokenize --vocab "out/students/$m/vocab.txt" --max-len 64 "out/students/$m.data/$s.rec" |
                      emo dump | jq -c .input_ids) <(emo dump "out/students/$m.data/$s.rec" | jq -c .input_ids)
        done
        # trained from emo ckpt init's random weights: the from-scratch warm-up, S_OPTS's lr
        jq -e '.warmup_ratio > 0' "out/students/$m/emo_run.json"
        [ ! -e "out/students/$m.init" ]
        # the same token sequences, other ids: every distilled text keeps its length and the teacher's cache
        diff <(emo dump out/distill.rec | jq -c '[.id, (.input_ids | length)]') \
             <(emo dump "out/students/$m.data/distill.rec" | jq -c '[.id, (.input_ids | length)]')
        ! cmp -s <(emo dump out/distill.rec | jq -c .input_ids) <(emo dump "out/students/$m.data/distill.rec" | jq -c .input_ids)
        # evaluated on the whole test split in its own vocabulary
        [ "$(emo dump "out/eval/$m.preds.rec" | jq -s length)" -eq "$(emo dump out/split/test.rec | jq -s length)" ]
    done
    [ "$(wc -l < out/students/tiny-albert/vocab.txt)" -eq $(( $(wc -l < out/students/tiny-distilbert/vocab.txt) + 2 )) ]
    grep -q 'TRIM_VOCAB=1' out/results/RESULTS.md
    # it answers raw text alone, as its evaluation did
    emo dump out/split/test.rec | jq -r .text | head -20 > t.txt
    emo predict -m out/students/tiny-albert t.txt | cut -f1 > p.txt
    diff p.txt <(emo teacher-logits -m out/students/tiny-albert out/students/tiny-albert.data/test.rec |
        emo dump | head -20 | jq -r '.logits | to_entries | max_by(.value) | .key' |
        while read -r k; do jq -r --arg k "$k" '.id2label[$k]' out/students/tiny-albert/config.json; done)
}

@test "paper.sh: a second domain, any CSV with a header (TEXT_COL, LABEL_COL, its own label set), runs unchanged" {
    # product reviews, not tweets: three other labels, the text in column "body", extra columns
    awk 'BEGIN { srand(7); print "review_id,stars,body,site"
        split("great excellent love perfect recommend", p, " "); split("broken awful refund waste terrible", n, " ")
        split("okay average fine decent normal", m, " "); split("good bad meh", lab, " ")
        for (i = 1; i <= 300; i++) { k = int(rand() * 3) + 1; t = ""
            for (j = 0; j < 6; j++) { w = rand() < 0.6 ? (k == 1 ? p[int(rand()*5)+1] : k == 2 ? n[int(rand()*5)+1] : m[int(rand()*5)+1]) : "the"
                t = t (j ? " " : "") w }
            printf "%d,%s,\"%s, really\",shop%d\n", 1000 + i, lab[k], t, i % 3 } }' > reviews.csv
    { printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'; echo great excellent love perfect recommend broken awful refund waste \
        terrible okay average fine decent normal the really | tr ' ' '\n'; } > rv-vocab.txt
    v=$(wc -l < rv-vocab.txt)
    for m in bert distilbert; do sed "s/\"vocab_size\": [0-9]*/\"vocab_size\": $v/" "$D/tiny-$m.json" > "rv-$m.json"; done
    paper "$PWD/out" CORPUS="$PWD/reviews.csv" TEXT_COL=body LABEL_COL=stars VOCAB="$PWD/rv-vocab.txt" \
        TEACHER="$PWD/rv-bert.json" STUDENTS="$PWD/rv-distilbert.json" T_EPOCHS=3 S_EPOCHS=3
    # the label set is the CSV's, the split holds every row
    [ "$(emo dump out/split/train.rec out/split/val.rec out/split/test.rec | jq -r .label | sort -u | tr '\n' ' ')" = "bad good meh " ]
    [ "$(emo dump out/split/train.rec out/split/val.rec out/split/test.rec | jq -s length)" -eq 300 ]
    [ "$(jq -r '.id2label | [.[]] | sort | join(",")' out/teacher/config.json)" = bad,good,meh ]
    grep -q '^## Teacher vs students' out/results/RESULTS.md
    grep -q 'CORPUS=reviews.csv' out/results/RESULTS.md
    # and the student classifies the same CSV layout by column name
    run emo predict -m out/students/rv-distilbert --text-column body --keep-columns reviews.csv
    assert_success
    assert_line --index 0 'label,probability,review_id,stars,body,site'
    [ "${#lines[@]}" -eq 301 ]
}
