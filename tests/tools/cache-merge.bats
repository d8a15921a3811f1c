#!/usr/bin/env bats
# emo cache merge (an ensemble teacher) and emo cache --join (a cache's predictions for
# emo eval): two tiny teachers of different seeds on synthetic records; the merged logits
# against the log of the mean probability computed here in Python, the first cache's maps
# or none, every refusal leaving nothing behind, a student distilled from the merged cache,
# and the man pages' EXAMPLES.
load helpers

setup_file() {
    cd "$BATS_FILE_TMPDIR"
    "$FIXTURES/train/make-records.sh" 200 1 | emo pack -o train.rec
    "$FIXTURES/train/make-records.sh" 60 2 | emo pack -o val.rec
    for s in 1 2; do
        emo teacher-train --train train.rec --val val.rec --config "$FIXTURES/train/tiny-bert.json" --lr 3e-3 \
            --batch 16 --epochs 1 --threads 1 --seed $s -q -o t$s
        mkdir c$s
        emo teacher-logits -m t$s -o c$s --attn-layers all --threads 1 train.rec val.rec
    done
}

setup() {
    cd "$BATS_TEST_TMPDIR"
    D=$BATS_FILE_TMPDIR
}

# logits_of DIR IDS: "id logits" lines of the cache's records
logits_of() { emo cache --get "$2" "$1" | emo dump; }

@test "cache merge: per id the log of the mean probability of the teachers" {
    run --separate-stderr emo cache merge -o ens "$D/c1" "$D/c2"
    assert_success
    run emo cache --verify ens
    assert_success
    assert_line "records	260"
    assert_line "layers	0,1"
    ids=100000,100007,100199,200000,200059
    logits_of "$D/c1" $ids > a.json
    logits_of "$D/c2" $ids > b.json
    logits_of ens $ids > m.json
    run python3 -c '
import json, math, sys
a, b, m = ([json.loads(l) for l in open(f)] for f in sys.argv[1:4])
worst = 0
for x, y, z in zip(a, b, m):
    assert x["id"] == y["id"] == z["id"] and x["len"] == z["len"]
    def sm(v):
        mx = max(v); e = [math.exp(t - mx) for t in v]; s = sum(e)
        return [t / s for t in e]
    p = [(u + w) / 2 for u, w in zip(sm(x["logits"]), sm(y["logits"]))]
    worst = max(worst, max(abs(math.log(q) - t) for q, t in zip(p, z["logits"])))
    assert abs(sum(math.exp(t) for t in z["logits"]) - 1) < 1e-5
print(len(m), worst < 1e-5, worst)' a.json b.json m.json
    assert_success
    [[ "$output" == "5 True "* ]]
}

@test "cache merge: the first cache's attention maps, or none with --attn none" {
    emo cache merge -o ens "$D/c1" "$D/c2"
    cmp <(emo cache --get 100003 --attn "$D/c1" | emo dump | sed 's/"logits":\[[^]]*\]//') \
        <(emo cache --get 100003 --attn ens | emo dump | sed 's/"logits":\[[^]]*\]//')
    grep -q "\"teacher\": \"$(cd "$D/t1" && pwd)\"" ens/ensemble.manifest.json
    run --separate-stderr emo cache merge --attn none --prefix p -o none "$D/c1" "$D/c2"
    assert_success
    assert_file_exists none/p.manifest.json
    run emo cache none
    assert_line "layers	"
    grep -q '"teacher": "ensemble of 2: ' none/p.manifest.json
    # the same logits either way
    cmp <(logits_of ens 100005,200001) <(logits_of none 100005,200001)
}

@test "cache --join: a cache's predictions evaluate as the teacher's own" {
    run bash -c "emo cache --join '$D/val.rec' '$D/c1' | emo eval --json | jq .accuracy"
    assert_success
    acc=$output
    run bash -c "emo teacher-logits -m '$D/t1' --threads 1 '$D/val.rec' | emo eval --json | jq .accuracy"
    assert_equal "$output" "$acc"
    # the labels travel with the logits: eval needs no --labels
    run bash -c "emo cache --join - '$D/c1' < '$D/val.rec' | emo dump | head -1"
    assert_output --partial '"labels":["anger","fear","joy"]'
    run --separate-stderr bash -c "printf '{\"id\":7,\"input_ids\":[101,102]}\n' | emo pack | emo cache --join - '$D/c1' > /dev/null"
    assert_failure 1
    [[ "$stderr" == "emo-cache: <stdin>:record 1: id 7 is not in the cache "* ]]
    run --separate-stderr bash -c "printf '{\"id\":100000,\"input_ids\":[101,102]}\n' | emo pack | emo cache --join - '$D/c1' > /dev/null"
    assert_failure 1
    [[ "$stderr" == *"id 100000: 2 tokens, "*" in the cache"* ]]
}

@test "cache merge refuses other labels, other ids, other lengths; nothing is written" {
    mkdir work && cd work
    # other labels (same classes in another order)
    emo ckpt init --labels joy,anger,fear -o t3 "$FIXTURES/train/tiny-bert.json"
    mkdir c3
    emo teacher-logits -m t3 -o c3 --attn-layers none --threads 1 "$D/train.rec" "$D/val.rec"
    run --separate-stderr emo cache merge -o ens "$D/c1" c3
    assert_failure 1
    [[ "$stderr" == "emo-cache: c3: labels joy,anger,fear, but $D/c1 has anger,fear,joy"* ]]
    # fewer ids
    mkdir c4
    emo teacher-logits -m "$D/t2" -o c4 --attn-layers none --threads 1 "$D/train.rec"
    run --separate-stderr emo cache merge -o ens "$D/c1" c4
    assert_failure 1
    [[ "$stderr" == "emo-cache: c4: no id 200000, which $D/c1 has (the caches must hold the same ids: 260 and 200 records)" ]]
    run --separate-stderr emo cache merge -o ens c4 "$D/c1"
    assert_failure 1
    [[ "$stderr" == "emo-cache: $D/c1: id 200000 is not in c4"* ]]
    # other lengths (another tokenisation: one token fewer in every record)
    emo dump "$D/train.rec" "$D/val.rec" | sed 's/,102\]/]/' | emo pack > cut.rec
    mkdir c5
    emo teacher-logits -m "$D/t2" -o c5 --attn-layers none --threads 1 cut.rec
    run --separate-stderr emo cache merge -o ens "$D/c1" c5
    assert_failure 1
    [[ "$stderr" == *"c5: id 100000 has "*" tokens, "*" in $D/c1 (caches made from other records or another tokenisation?)" ]]
    # an existing cache is never replaced, an input (exit 2, as every tool) or not
    run --separate-stderr emo cache merge -o "$D/c2" "$D/c1" "$D/c2"
    assert_failure 2
    [[ "$stderr" == *"c2: the same file as the input"*"refusing to overwrite an input" ]]
    run --separate-stderr emo cache merge -o c3 "$D/c1" "$D/c2"
    assert_failure 1
    [[ "$stderr" == "emo-cache: c3: exists (merge writes a new cache directory)" ]]
    # a damaged input
    cp -r "$D/c2" c6 && rm c6/*-0000.zst
    run --separate-stderr emo cache merge -o ens "$D/c1" c6
    assert_failure 1
    assert_file_not_exists ens
    run bash -c "ls -A | grep -v -e '^t3$' -e '^c[3-6]$' -e '^cut.rec$'"
    assert_output ''
}

@test "cache merge usage errors exit 2" {
    run --separate-stderr emo cache merge "$D/c1" "$D/c2"
    assert_failure 2
    [[ "$stderr" == *"merge needs -o OUT and at least one cache"* ]]
    run --separate-stderr emo cache merge -o ens
    assert_failure 2
    run --separate-stderr emo cache merge --attn all -o ens "$D/c1"
    assert_failure 2
    [[ "$stderr" == *"option --attn: 'all' is not first or none"* ]]
    run --separate-stderr emo cache --join "$D/val.rec" --get 1 "$D/c1"
    assert_failure 2
    assert_file_not_exists ens
}

@test "a student distilled from the ensemble's cache" {
    emo cache merge -o ens "$D/c1" "$D/c2"
    run --separate-stderr emo student-distill --train "$D/train.rec" --val "$D/val.rec" --teacher-cache ens \
        --config "$FIXTURES/train/tiny-distilbert.json" --max-steps 3 --batch 16 --threads 1 -q -o s
    assert_success
    emo cache merge --attn none -o none "$D/c1" "$D/c2"
    run --separate-stderr emo student-distill --train "$D/train.rec" --val "$D/val.rec" --teacher-cache none \
        --attn-loss none --config "$FIXTURES/train/tiny-distilbert.json" --max-steps 3 --batch 16 --threads 1 -q -o s2
    assert_success
}

# ---- man page EXAMPLES (emo-cache.1) --------------------------------------------------

@test "man example emo-cache(1): merge three teachers' caches, the ensemble's accuracy" {
    ln -s "$D/c1" cache1 && ln -s "$D/c2" cache2 && ln -s "$D/c1" cache3
    cp "$D/val.rec" val.rec
    run --separate-stderr emo cache merge -o ensemble cache1 cache2 cache3
    assert_success
    run bash -c "emo cache --join val.rec ensemble | emo eval"
    assert_success
    assert_output --partial "accuracy"
}
