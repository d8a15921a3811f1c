#!/usr/bin/env bats
# emo ckpt trim-vocab: on 400 tweets of the shared corpus tokenized with bert-base-uncased's
# vocabulary and tiny models of that vocabulary: every corpus text tokenizes with the trimmed
# vocab.txt to ids that map back to the original ids, the trimmed model's logits are the same
# bits, other texts still tokenize; --min-count, the files copied, bad input, a student
# trained in the trimmed vocabulary against a full-vocabulary teacher's cache, the man pages'
# EXAMPLES.
load helpers

VOCAB=$SHARED/data/bert-base-uncased/vocab.txt

setup_file() {
    cd "$BATS_FILE_TMPDIR"
    head -400 "$SHARED/data/emotion/train.txt" > corpus.txt
    emo clean --format semicolon --keep-stopwords corpus.txt 2>/dev/null | emo tokenize --max-len 40 --vocab "$VOCAB" -o corpus.rec
    sed -n 401,520p "$SHARED/data/emotion/train.txt" > other.txt
    emo clean --format semicolon --keep-stopwords other.txt 2>/dev/null | emo tokenize --max-len 40 --vocab "$VOCAB" -o other.rec
    sed 's/"vocab_size": 120/"vocab_size": 30522/' "$FIXTURES/train/tiny-bert.json" > tiny-bert.json
    sed 's/"vocab_size": 120/"vocab_size": 30522/' "$FIXTURES/train/tiny-distilbert.json" > tiny-distilbert.json
    emo ckpt init --labels sadness,joy,love,anger,fear,surprise --vocab "$VOCAB" -o bert tiny-bert.json
    emo ckpt init --labels sadness,joy,love,anger,fear,surprise --vocab "$VOCAB" -o distil tiny-distilbert.json
    # a teacher and its cache in bert-base-uncased's vocabulary (keyed by record id)
    emo split --seed 1 -o split corpus.rec 2>/dev/null
    emo teacher-train --train split/train.rec --val split/val.rec --config tiny-bert.json --vocab "$VOCAB" \
        --epochs 1 --batch 16 --threads 1 -q -o teacher
    mkdir cache
    emo teacher-logits -m teacher -o cache --attn-layers all --threads 1 split/train.rec
}

setup() {
    cd "$BATS_TEST_TMPDIR"
    D=$BATS_FILE_TMPDIR
}

# map_back OLD_VOCAB NEW_VOCAB < new-ids dump > old-ids dump: each record's input_ids through
# the trimmed vocabulary's token -> the old vocabulary's id (a later duplicate wins)
map_back() {
    python3 -c '
import json, sys
old = {}
for i, t in enumerate(open(sys.argv[1], encoding="utf-8").read().split("\n")):
    old[t] = i
new = open(sys.argv[2], encoding="utf-8").read().split("\n")
for line in sys.stdin:
    r = json.loads(line)
    print(r["id"], [old[new[i]] for i in r["input_ids"]])
' "$1" "$2"
}

ids_of() { python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r["id"], r["input_ids"])'; }

@test "trim-vocab: every corpus text tokenizes to the same tokens, the logits are the same bits" {
    run --separate-stderr emo ckpt trim-vocab -m "$D/bert" --corpus "$D/corpus.rec" -o small
    assert_success
    [[ "$stderr" == *"small: kept "*" of 30522 tokens ("*" used by the 400 corpus records"* ]]
    n=$(wc -l < small/vocab.txt)
    [ "$n" -lt 5000 ]
    grep -q "\"vocab_size\": $n" small/config.json
    [ "$(head -1 small/vocab.txt)" = "[PAD]" ]
    # the ids, through the remap, are the original ids
    emo tokenize --max-len 40 --vocab small/vocab.txt "$D/corpus.rec" -o retok.rec
    emo dump retok.rec | map_back "$VOCAB" small/vocab.txt > mapped.txt
    emo dump "$D/corpus.rec" | ids_of > orig.txt
    [ "$(wc -l < orig.txt)" -eq 400 ]
    cmp orig.txt mapped.txt
    # the trimmed model on the re-tokenized corpus: the same logits, bit for bit
    emo teacher-logits -m "$D/bert" --threads 1 "$D/corpus.rec" | emo dump | sed 's/"input_ids":\[[^]]*\],//' > a.json
    emo teacher-logits -m small --threads 1 retok.rec | emo dump | sed 's/"input_ids":\[[^]]*\],//' > b.json
    grep -q '"logits":\[' a.json
    cmp a.json b.json
    # smaller: the embedding rows of the dropped tokens are gone
    [ "$(stat -c %s small/model.safetensors)" -lt "$(stat -c %s "$D/bert/model.safetensors")" ]
}

@test "trim-vocab: DistilBERT too; texts outside the corpus still tokenize (pieces or [UNK])" {
    run --separate-stderr emo ckpt trim-vocab -m "$D/distil" --corpus "$D/corpus.rec" -o small
    assert_success
    n=$(wc -l < small/vocab.txt)
    emo tokenize --max-len 40 --vocab small/vocab.txt "$D/other.rec" -o other.rec
    run bash -c "emo dump other.rec | python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    ids = json.loads(line)[\"input_ids\"]
    assert len(ids) >= 2 and all(0 <= i < $n for i in ids), ids
    n += 1
print(n)'"
    assert_success
    assert_output 120
    # a word the corpus never used becomes pieces of kept tokens (or [UNK]), never an error
    printf '{"id":1,"text":"xylophonists zebra"}\n' | emo pack > t.rec
    run bash -c "emo tokenize --max-len 40 --vocab small/vocab.txt t.rec | emo dump"
    assert_success
    [[ "$output" == *'"input_ids":[2,'*',3]'* ]]     # [CLS] and [SEP] of the trimmed vocabulary
    emo teacher-logits -m small --threads 1 other.rec > /dev/null
}

@test "trim-vocab: ALBERT, whose config.json names bos and eos tokens: kept and remapped, same logits" {
    emo ckpt init --labels sadness,joy,love,anger,fear,surprise --vocab "$VOCAB" -o albert albert-tiny
    run --separate-stderr emo ckpt trim-vocab -m albert --corpus "$D/corpus.rec" -o small
    assert_success
    grep -q '"bos_token_id": 1,' small/config.json       # [unused2] and [unused3], after [PAD]
    grep -q '"eos_token_id": 2,' small/config.json
    emo tokenize --max-len 40 --vocab small/vocab.txt "$D/corpus.rec" -o retok.rec
    cmp <(emo teacher-logits -m albert --threads 1 "$D/corpus.rec" | emo dump | sed 's/"input_ids":\[[^]]*\],//') \
        <(emo teacher-logits -m small --threads 1 retok.rec | emo dump | sed 's/"input_ids":\[[^]]*\],//')
}

@test "trim-vocab: --min-count keeps fewer tokens; texts then tokenize into other pieces" {
    emo ckpt trim-vocab -m "$D/bert" --corpus "$D/corpus.rec" -o one 2>/dev/null
    run --separate-stderr emo ckpt trim-vocab --min-count 3 -m "$D/bert" --corpus "$D/corpus.rec" -o three
    assert_success
    [ "$(wc -l < three/vocab.txt)" -lt "$(wc -l < one/vocab.txt)" ]
    # still every text tokenizes inside the vocabulary, specials first as before
    emo tokenize --max-len 40 --vocab three/vocab.txt "$D/corpus.rec" -o retok.rec
    emo teacher-logits -m three --threads 1 retok.rec > /dev/null
    run --separate-stderr emo ckpt trim-vocab --min-count 0 -m "$D/bert" --corpus "$D/corpus.rec" -o zero
    assert_failure 2
}

@test "trim-vocab: several corpus files and stdin; tokenizer files copied, tokenizer.json not" {
    cp -r "$D/bert" src
    echo '{"unk_token": "[UNK]"}' > src/special_tokens_map.json
    echo '{"model": {"vocab": {}}}' > src/tokenizer.json
    mkdir src/epoch-1
    run --separate-stderr bash -c "emo ckpt trim-vocab -m src --corpus '$D/corpus.rec' --corpus - -o small < '$D/other.rec'"
    assert_success
    [[ "$stderr" == *"not copied (another vocabulary or other weights): tokenizer.json"* ]]
    [[ "$stderr" == *"used by the 520 corpus records"* ]]
    cmp src/special_tokens_map.json small/special_tokens_map.json
    cmp src/tokenizer_config.json small/tokenizer_config.json
    assert_file_not_exists small/tokenizer.json
    assert_file_not_exists small/epoch-1
}

@test "trim-vocab bad input: a corpus tokenized with another vocabulary is refused, nothing written" {
    head -50 "$D/corpus.txt" > c.txt
    emo clean --format semicolon --keep-stopwords c.txt 2>/dev/null | emo tokenize --vocab "$FIXTURES/pretrain/vocab.txt" -o other-vocab.rec
    mkdir out
    run --separate-stderr emo ckpt trim-vocab -m "$D/bert" --corpus other-vocab.rec -o out/small
    assert_failure 1
    [[ "$stderr" == "emo-ckpt: other-vocab.rec:record 1: input_ids are not "*"vocab.txt's tokenization of text"* ]]
    run ls -A out
    assert_output ''
}

@test "trim-vocab bad input: ids past the vocabulary, no input_ids, no vocab.txt, usage" {
    printf '{"id":1,"input_ids":[101,40000,102]}\n' | emo pack > big.rec
    run --separate-stderr emo ckpt trim-vocab -m "$D/bert" --corpus big.rec -o small
    assert_failure 1
    [[ "$stderr" == *"big.rec:record 1: token id 40000 is outside the checkpoint's vocabulary of 30522"* ]]
    printf '{"id":1,"text":"hello"}\n' | emo pack > text.rec
    run --separate-stderr emo ckpt trim-vocab -m "$D/bert" --corpus text.rec -o small
    assert_failure 1
    [[ "$stderr" == *"text.rec:record 1: no input_ids"* ]]
    cp -r "$D/bert" novocab && rm novocab/vocab.txt
    run --separate-stderr emo ckpt trim-vocab -m novocab --corpus "$D/corpus.rec" -o small
    assert_failure 1
    [[ "$stderr" == *"novocab: no vocab.txt"* ]]
    run --separate-stderr emo ckpt trim-vocab -m "$D/bert" -o small
    assert_failure 2
    # an output that is the input is a usage error, as in every tool (refuse_output_is_input)
    run --separate-stderr emo ckpt trim-vocab -m "$D/bert" --corpus "$D/corpus.rec" -o "$D/bert"
    assert_failure 2
    [[ "$stderr" == *"the same file as the input"*"refusing to overwrite an input"* ]]
    assert_file_not_exists small
    # an int8 checkpoint: its I8 tables and weights are not dropped as buffers, it is refused
    emo ckpt quantize -m "$D/bert" -o q8 2> /dev/null
    run --separate-stderr emo ckpt trim-vocab -m q8 --corpus "$D/corpus.rec" -o small
    assert_failure 1
    [[ "$stderr" == *"is int8 (an emo ckpt quantize checkpoint): trim the float checkpoint, then quantize" ]]
    assert_file_not_exists small
}

@test "trim-vocab: a student trained in the trimmed vocabulary from a full-vocabulary teacher's cache" {
    ln -s "$D/split" split
    ln -s "$D/cache" cache
    # the student's vocabulary: what train + val use; its records re-tokenized with it
    emo ckpt init --vocab "$VOCAB" -o s0 "$D/tiny-distilbert.json"
    emo ckpt trim-vocab -m s0 --corpus split/train.rec --corpus split/val.rec -o s0t 2>/dev/null
    emo tokenize --max-len 40 --vocab s0t/vocab.txt split/train.rec -o train.t.rec
    emo tokenize --max-len 40 --vocab s0t/vocab.txt split/val.rec -o val.t.rec
    run --separate-stderr emo student-distill --train train.t.rec --val val.t.rec --teacher-cache cache \
        --config s0t --vocab s0t/vocab.txt --max-steps 2 --batch 16 --threads 1 -q -o student
    assert_success
    cmp s0t/vocab.txt student/last/vocab.txt
    grep -q "\"vocab_size\": $(wc -l < s0t/vocab.txt)" student/last/config.json
    # --init of a trimmed checkpoint (e.g. a pretrained student, trimmed)
    run --separate-stderr emo student-distill --train train.t.rec --val val.t.rec --teacher-cache cache \
        --init s0t --lr 1e-3 --max-steps 2 --batch 16 --threads 1 -q -o student2
    assert_success
    cmp s0t/vocab.txt student2/last/vocab.txt
    # the records in the full vocabulary do not fit the trimmed student
    run --separate-stderr emo student-distill --train split/train.rec --val split/val.rec --teacher-cache cache \
        --init s0t --max-steps 1 --threads 1 -q -o student3
    assert_failure 1
    [[ "$stderr" == *"outside the student's vocabulary"* ]]
}

@test "trim-vocab: teacher and student trimmed over one corpus: the same cache, --init-from-teacher" {
    emo ckpt trim-vocab -m "$D/teacher" --corpus "$D/split/train.rec" --corpus "$D/split/val.rec" -o teacher-small 2>/dev/null
    emo ckpt init --vocab "$VOCAB" -o s0 "$D/tiny-distilbert.json"
    emo ckpt trim-vocab -m s0 --corpus "$D/split/train.rec" --corpus "$D/split/val.rec" -o s0-small 2>/dev/null
    cmp teacher-small/vocab.txt s0-small/vocab.txt
    for f in train val; do emo tokenize --max-len 40 --vocab s0-small/vocab.txt "$D/split/$f.rec" -o $f.s.rec; done
    # the trimmed teacher's cache of the re-tokenized records is the full teacher's, bit for bit
    mkdir cache
    emo teacher-logits -m teacher-small -o cache --attn-layers all --threads 1 train.s.rec
    ids=$(emo dump train.s.rec | head -5 | python3 -c 'import json,sys; print(",".join(str(json.loads(l)["id"]) for l in sys.stdin))')
    cmp <(emo cache --get "$ids" --attn cache | emo dump) <(emo cache --get "$ids" --attn "$D/cache" | emo dump)
    # DistilBERT's initialisation from the teacher's layers, in the trimmed vocabulary
    run --separate-stderr emo student-distill --train train.s.rec --val val.s.rec --teacher teacher-small \
        --init-from-teacher --config s0-small --max-steps 2 --batch 16 --threads 1 -q -o student
    assert_success
    cmp s0-small/vocab.txt student/last/vocab.txt
    # the cache for the targets, the trimmed teacher read only for the initialisation: the
    # live teacher's student, bit for bit (logits are cached as they are; no attention term)
    for src in live cached; do
        extra=(); [ $src = cached ] && extra=(--teacher-cache cache)
        run --separate-stderr emo student-distill --train train.s.rec --val val.s.rec --teacher teacher-small \
            "${extra[@]}" --init-from-teacher --config s0-small --attn-loss none --max-steps 2 --batch 16 \
            --threads 1 -q -o st-$src
        assert_success
    done
    cmp st-live/model.safetensors st-cached/model.safetensors
}

# ---- man page EXAMPLES (emo-ckpt.1, emo-student-distill.1), with ../shared -> $SHARED -------

@test "man example emo-ckpt(1): trim a student's vocabulary to the corpus" {
    cp "$D/corpus.rec" train.rec
    cp "$D/other.rec" unlabeled.rec
    emo ckpt init --labels sadness,joy,love,anger,fear,surprise \
        --vocab "$VOCAB" -o student0 distilbert-mini
    run --separate-stderr emo ckpt trim-vocab -m student0 --corpus train.rec --corpus unlabeled.rec -o student0-small
    assert_success
    run --separate-stderr emo tokenize --vocab student0-small/vocab.txt -o train.small.rec train.rec
    assert_success
    run emo ckpt info student0-small
    [[ "$output" == *'"vocab_size":'* ]]
    [[ "$output" != *'"vocab_size":30522'* ]]
}

@test "man example emo-student-distill(1): a student in the vocabulary of its own data (2 steps)" {
    cp "$D/split/train.rec" "$D/split/val.rec" .
    ln -s "$D/cache" cache
    emo ckpt init --vocab "$VOCAB" -o s0 distilbert-mini
    emo ckpt trim-vocab -m s0 --corpus train.rec --corpus val.rec -o s0-small 2>/dev/null
    # the records were made with --max-len 40 (the tiny teacher's positions): the same here
    emo tokenize --max-len 40 --vocab s0-small/vocab.txt -o train.small.rec train.rec
    emo tokenize --max-len 40 --vocab s0-small/vocab.txt -o val.small.rec val.rec
    run --separate-stderr emo student-distill --train train.small.rec --val val.small.rec \
        --teacher-cache cache --config s0-small --vocab s0-small/vocab.txt -o small --max-steps 2 --threads 1 -q
    assert_success
    cmp s0-small/vocab.txt small/last/vocab.txt
}
