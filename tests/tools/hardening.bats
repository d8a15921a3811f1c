#!/usr/bin/env bats
# Issue 14: the faults found by a hostile-user run, one test each (each failed before its fix).
load helpers

setup() {
    cd "$BATS_TEST_TMPDIR"
}

# 60 records of 16-dimensional embeddings; record 1 holds one value near float32's maximum
huge_embedding() {
    awk 'BEGIN { srand(1); for (i = 0; i < 60; i++) {
        printf "{\"id\":%d,\"label\":\"joy\",\"embedding\":[", i;
        for (j = 0; j < 16; j++) printf "%s%s", j ? "," : "", i == 0 && j == 0 ? "1.7e38" : sprintf("%.3f", rand());
        print "]}" } }' | emo pack
}

@test "fault 1: tsne refuses embeddings whose distances overflow float32 (was a segfault)" {
    huge_embedding > huge.rec
    run --separate-stderr emo tsne -q --perplexity 3 --iter 30 --threads 1 -o out.rec huge.rec
    [ "$status" -eq 1 ] || { echo "exit $status: $stderr"; return 1; }
    [[ "$stderr" == "emo-tsne: huge.rec:record 1: field 'embedding' "*"too large"* ]]
    [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
    [ ! -e out.rec ]
}

@test "fault 2: clean strips a NUL byte from a label, as from the text" {
    printf 'i am happy;joy\0x\ni am sad;sad\0\n' > nul.txt
    run --separate-stderr emo clean -q --keep-stopwords --format semicolon -o out.rec nul.txt
    assert_success
    run emo dump out.rec
    assert_output $'{"id":1,"text":"i am happy","label":"joyx"}\n{"id":2,"text":"i am sad","label":"sad"}'
    # a label that is only NUL bytes is an empty label, dropped as such
    printf 'i am happy;\0\0\n' | emo clean --format semicolon -o out2.rec 2> err
    grep -q 'empty label 1' err
}

@test "fault 3: clean reads CR-only line ends (old Mac files) as line ends" {
    printf 'i am happy;joy\ri am sad;sadness\r' > cr.txt
    run --separate-stderr emo clean -q --keep-stopwords --format semicolon -o out.rec cr.txt
    assert_success
    run emo dump out.rec
    assert_output $'{"id":1,"text":"i am happy","label":"joy"}\n{"id":2,"text":"i am sad","label":"sadness"}'
    # the same in CSV, mixed with CRLF and LF; line numbers count each line end once
    printf 'text,label\r"a b",joy\rc d,fear\r\ne f,love\n\rg h\r' > cr.csv
    run --separate-stderr emo clean -q --keep-stopwords --format csv cr.csv
    [ "$status" -eq 1 ] && [ "$stderr" = "emo-clean: cr.csv:line 6: 1 field, expected at least 2" ] || { echo "$status $stderr"; return 1; }
}

# a tiny teacher and 60 tokenized records, for the cache faults
make_teacher() {
    "$FIXTURES/train/make-records.sh" 60 1 | emo pack -o train.rec
    emo ckpt init --labels joy,anger,fear -o teacher "$FIXTURES/train/tiny-bert.json" 2> /dev/null
}

@test "fault 6: cache --verify refuses a manifest whose record counts disagree with the index" {
    make_teacher
    mkdir cache
    emo teacher-logits -m teacher -o cache train.rec
    emo cache --verify cache > /dev/null
    cp -r cache good
    m=cache/shard.manifest.json
    jq -c '.records -= 1' good/shard.manifest.json > $m
    run --separate-stderr emo cache --verify cache
    assert_failure 1
    [ "$stderr" = "emo-cache: $m: records 59, but its index holds 60" ] || { echo "$stderr"; return 1; }
    jq -c '.shards[0].records += 1' good/shard.manifest.json > $m
    run --separate-stderr emo cache --verify cache
    assert_failure 1
    [ "$stderr" = "emo-cache: $m: shard 0 (shard-0000.zst): records 61, but the index gives it 60" ] || { echo "$stderr"; return 1; }
    jq -c 'del(.records)' good/shard.manifest.json > $m
    run --separate-stderr emo cache --verify cache
    assert_failure 1
    [ "$stderr" = "emo-cache: $m: bad index or shards entry" ] || { echo "$stderr"; return 1; }
}

# 300 records with every field the stream tools need
big_stream() {
    awk 'BEGIN { split("joy anger fear", name, " ");
      for (i = 0; i < 300; i++) { k = i % 3;
        printf "{\"id\":%d,\"text\":\"i feel %s today %d\",\"label\":\"%s\",\"split\":\"train\",", i, name[k+1], i, name[k+1];
        printf "\"input_ids\":[101,%d,%d,102],\"logits\":[%d,%d,%d],", 10 + k, 20 + i % 50, k == 0, k == 1, k == 2;
        printf "\"embedding\":[%d,%d,%d,%d.%d]}\n", 5 * (k == 0), 5 * (k == 1), 5 * (k == 2), i % 7, i } }'
}

# xfsz CMD...: run CMD under a 4 KiB file-size limit in out/; exit 1, one line saying
# "File too large", nothing left in out/ (but what the shell itself created)
xfsz() {
    rm -rf out && mkdir out
    run --separate-stderr bash -c 'cd out && ulimit -f 4 && "$@"' xfsz "$@"
    [ "$status" -eq 1 ] || { echo "$*: exit $status: $stderr"; return 1; }
    [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] && [[ "$stderr" == "emo-"*"File too large"* ]] || { echo "$*: stderr: $stderr"; return 1; }
    [ -z "$(ls -A out | grep -vx std)" ] || { echo "$*: left $(ls -A out)"; return 1; }
}

@test "fault 8: a file-size limit (ulimit -f, SIGXFSZ) is a write error like a full disk: one line, no temps" {
    B=$BATS_TEST_TMPDIR
    big_stream > big.jsonl
    emo pack -o big.rec big.jsonl
    sed 's/^{"id":[0-9]*,"text":"\([^"]*\)","label":"\([a-z]*\)".*/\1;\2/' big.jsonl > big.txt
    emo ckpt init --labels joy,anger,fear -o teacher "$FIXTURES/train/tiny-bert.json" 2> /dev/null
    xfsz emo pack -o p.rec "$B/big.jsonl"
    xfsz emo clean --format semicolon -q -o c.rec "$B/big.txt"
    xfsz emo dump -o d.jsonl "$B/big.rec"
    xfsz emo tokenize --vocab "$FIXTURES/models/bert/vocab.txt" -o t.rec "$B/big.rec"
    xfsz emo tsne -q --perplexity 3 --iter 30 --threads 1 -o ts.rec "$B/big.rec"
    xfsz emo augment --classes joy --command cat -o a.rec "$B/big.rec"
    xfsz emo split -q -o . "$B/big.rec"
    xfsz emo teacher-logits -m "$B/teacher" --threads 1 -o l.rec "$B/big.rec"
    xfsz bash -c "emo dump '$B/big.rec' > std"
    mkdir out2 && cd out2
    run --separate-stderr bash -c "ulimit -f 4 && mkdir cache && emo teacher-logits -m '$B/teacher' --threads 1 -o cache '$B/big.rec'"
    [ "$status" -eq 1 ] && [[ "$stderr" == *"File too large"* ]] || { echo "teacher-logits -o DIR: exit $status: $stderr"; return 1; }
    [ -z "$(ls -A cache)" ] || { echo "teacher-logits -o DIR: left $(ls -A cache)"; return 1; }
}

@test "empty output directories a failing tool created are removed (split/, a cache, a checkpoint, figures)" {
    B=$BATS_TEST_TMPDIR
    big_stream | emo pack -o big.rec
    emo ckpt init --labels joy,anger,fear -o teacher "$FIXTURES/train/tiny-bert.json" 2> /dev/null
    "$FIXTURES/train/make-records.sh" 100 1 | emo pack -o train.rec
    mkdir out && cd out
    for c in "emo split -q -o s/a/b $B/big.rec" \
             "emo teacher-logits -m $B/teacher --threads 1 -o cache $B/big.rec" \
             "emo teacher-train --train $B/train.rec --val $B/train.rec --config $FIXTURES/train/tiny-bert.json --epochs 1 --threads 1 -q -o ck" \
             "emo teacher-logits -m $B/teacher --threads 1 $B/big.rec | emo eval --figures figs > /dev/null"; do
        run --separate-stderr bash -c "ulimit -f 4 && $c"
        [ "$status" -eq 1 ] && [[ "$stderr" == *"File too large"* ]] || { echo "$c: exit $status: $stderr"; return 1; }
        [ -z "$(ls -A)" ] || { echo "$c: left $(ls -AR)"; return 1; }
    done
    # a directory that was there before stays, empty
    mkdir cache
    run --separate-stderr bash -c "ulimit -f 4 && emo teacher-logits -m $B/teacher --threads 1 -o cache $B/big.rec"
    [ "$status" -eq 1 ] && [ -d cache ] && [ -z "$(ls -A cache)" ]
}

# same_file CMD...: the command must refuse (exit 2, one line naming an output as the same
# file as an input) and leave every file here as it was
same_file() {
    local before after
    before=$(ls -lAi --time-style=+%s.%N; cksum *.* 2> /dev/null)
    run --separate-stderr "$@"
    after=$(ls -lAi --time-style=+%s.%N; cksum *.* 2> /dev/null)
    [ "$status" -eq 2 ] || { echo "$*: exit $status: $stderr"; return 1; }
    [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] && [[ "$stderr" == "emo-"*": the same file as the input "*"; refusing to overwrite an input" ]] || { echo "$*: stderr: $stderr"; return 1; }
    [ "$before" = "$after" ] || { echo "$*: files changed"; diff <(echo "$before") <(echo "$after"); return 1; }
}

@test "fault 9: an output that is an input (same name, a symlink, a hard link, stdin) is refused" {
    mkdir w && cd w     # run keeps its stderr file in the test directory
    big_stream | head -30 > j.jsonl
    emo pack -o v.rec j.jsonl
    sed 's/^{"id":[0-9]*,"text":"\([^"]*\)","label":"\([a-z]*\)".*/\1;\2/' j.jsonl > c.txt
    ln -s v.rec link.rec
    ln v.rec hard.rec
    same_file emo clean --format semicolon -o c.txt c.txt
    same_file emo pack -o j.jsonl j.jsonl
    same_file emo dump -o v.rec j.jsonl v.rec
    same_file emo dump -o link.rec v.rec
    same_file emo dump -o hard.rec v.rec
    same_file bash -c 'emo dump -o v.rec < v.rec'
    same_file bash -c 'emo dump -o v.rec - < v.rec'
    same_file emo tokenize --vocab "$FIXTURES/models/bert/vocab.txt" -o v.rec v.rec
    same_file emo augment --classes joy --command cat -o link.rec v.rec
    same_file emo tsne -q --perplexity 3 --iter 30 -o v.rec v.rec
    same_file emo tsne -q --perplexity 3 --iter 30 --svg hard.rec v.rec
    same_file emo tsne -q --perplexity 3 --iter 30 --stats v.rec v.rec
    same_file emo confusion --labels joy,anger,fear --svg v.rec v.rec
    same_file emo split -q --train v.rec --val a.rec --test b.rec v.rec
    same_file emo split -q --train a.rec --val b.rec --test c.rec --assignment v.rec --from-assignment v.rec v.rec
    same_file emo split -q -o . --assignment link.rec v.rec
    cp v.rec train.rec
    same_file emo split -q -o . train.rec
    emo ckpt init --labels joy,anger,fear -o ck "$FIXTURES/train/tiny-bert.json" 2> /dev/null
    same_file emo ckpt convert -o ck ck
    same_file emo ckpt trim-vocab -m ck --corpus v.rec -o ck
    same_file emo teacher-train --train v.rec --val v.rec --init ck --epochs 1 -q -o ck
    same_file emo student-distill --train v.rec --val v.rec --teacher ck --config "$FIXTURES/train/tiny-bert.json" --epochs 1 -q -o ck
    # devices in and out, and an output that does not exist yet, are fine
    emo dump -o /dev/null < v.rec
    emo dump -o new.jsonl v.rec
}

@test "fault 10: a second teacher-logits writing the same part of a cache at once is refused" {
    make_teacher
    "$FIXTURES/train/make-records.sh" 60 2 | emo pack -o other.rec
    mkdir cache
    mkfifo slow
    # the first writer reads its input through a FIFO fed in two halves, a pause between
    emo teacher-logits -m teacher --threads 1 -o cache slow 2> first.err &
    first=$!
    { head -c 2000 train.rec; sleep 2; tail -c +2001 train.rec; } > slow &
    sleep 1
    run --separate-stderr emo teacher-logits -m teacher --threads 1 -o cache other.rec
    wait $first
    [ "$status" -eq 1 ] || { echo "second writer: exit $status: $stderr"; return 1; }
    [ "$stderr" = "emo-teacher-logits: cache: part 'shard' is being written by another process (wait for it, or choose another prefix)" ] || { echo "$stderr"; return 1; }
    [ ! -s first.err ] || { cat first.err; return 1; }
    run emo cache --verify cache
    assert_success
    assert_line $'records\t60'
    [ "$(ls -A cache | sort | tr '\n' ' ')" = "shard-0000.zst shard.idx shard.manifest.json " ]
}

@test "fault 2: a trainer refuses a label holding a NUL byte from any source, naming the record" {
    # two records built byte by byte (emo pack refuses \u0000): labels "sad" and "joy\0x"
    { printf '\x81\xaaemo.stream\x01'
      printf '\x83\xa2id\x01\xa5label\xa3sad\xa9input_ids\x93\x65\x07\x66'
      printf '\x83\xa2id\x02\xa5label\xa5joy\x00x\xa9input_ids\x93\x65\x08\x66'
      printf '\x81\xa7emo.end\x02'; } > nul.rec
    run --separate-stderr emo teacher-train --train nul.rec --val nul.rec --config "$FIXTURES/train/tiny-bert.json" \
        --epochs 1 --threads 1 -q -o ck
    assert_failure 1
    [ "$stderr" = "emo-teacher-train: nul.rec:record 2: field 'label' holds a NUL byte" ] || { echo "$stderr"; return 1; }
    [ ! -e ck ]
}

@test "records: a byte changed in a record's value fails the trailer's xxh64 (it passed silently before)" {
    printf '%s\n' '{"id":1,"text":"i am happy","label":"joy"}' '{"id":2,"text":"i am sad","label":"sadness"}' |
        emo pack -o a.rec
    LC_ALL=C sed 's/happy/hapPy/' a.rec > text.rec
    LC_ALL=C sed 's/\xa2id\x02/\xa2id\x03/' a.rec > id.rec       # id 2 -> 3, a positive fixint
    for f in text.rec id.rec; do
        ! cmp -s a.rec $f
        run --separate-stderr emo dump $f
        assert_failure 1
        [ "$stderr" = "emo-dump: $f:record 2: checksum mismatch: the 2 records of this segment (or its header) are not the bytes written (stream damaged)" ] || { echo "$stderr"; return 1; }
    done
    # each segment of a concatenation carries its own checksum
    cat a.rec a.rec > aa.rec
    run emo dump aa.rec
    assert_success
    [ "${#lines[@]}" -eq 4 ]
    cat a.rec text.rec > at.rec
    run --separate-stderr emo dump at.rec
    assert_failure 1
    [[ "$stderr" == "emo-dump: at.rec:record 4: checksum mismatch: the 2 records of this segment"* ]]
    # a stream of an older writer ({"emo.end": 2}, no xxh64) reads unchecked
    { head -c -25 a.rec; printf '\x81\xa7emo.end\x02'; } > old.rec
    run emo dump old.rec
    assert_success
    [ "$output" = "$(emo dump a.rec)" ]
}

@test "records: past 1 Mi values a record must average 2 bytes a value (a reader holds 24 bytes for each)" {
    # input_ids: an array32 of 1048586 positive fixints (1 byte each), then the same as uint8 128
    { printf '\x81\xaaemo.stream\x01\x81\xa9input_ids\xdd\x00\x10\x00\x0a'
      head -c 1048586 /dev/zero | tr '\0' '\1'; printf '\x81\xa7emo.end\x01'; } > dense.rec
    run --separate-stderr emo dump dense.rec
    assert_failure 1
    [ "$stderr" = "emo-dump: dense.rec:record 1: 1048589 values in 1048602 bytes, more than one for every 2 bytes (a reader would hold 24 bytes for each; see emo-records(5), Limits)" ] || { echo "$stderr"; return 1; }
    { printf '\x81\xaaemo.stream\x01\x81\xa9input_ids\xdd\x00\x10\x00\x0a'
      head -c 1048586 /dev/zero | tr '\0' '\200' | LC_ALL=C sed 's/\x80/\xcc\x80/g'; printf '\x81\xa7emo.end\x01'; } > wide.rec
    run emo dump wide.rec
    assert_success
    [ "$(printf '%s' "$output" | tr -cd , | wc -c)" -eq 1048585 ]
}
