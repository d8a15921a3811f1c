#!/usr/bin/env bats
# The fault matrix of /work/shared/ECOSYSTEM.md §3 run across every tool that reads record
# streams: zero-byte input, empty stream, truncated stream, missing trailer, wrong field
# type, hostile length, unknown option, stdout and -o on a full disk, a reader that closes
# early, and no partial output.  Table-driven: every failure names the tool and the case.
load helpers

# tool -> command that reads the FILE appended to it and writes stdout.  -g: bats sources
# this file inside a function, and a plain declare would make the table local (and every
# loop below vacuous).
declare -gA CMD
CMD[dump]="emo dump"
CMD[tokenize]="emo tokenize --vocab $FIXTURES/models/bert/vocab.txt"
CMD[augment]="emo augment --classes joy --command cat"
CMD[tsne]="emo tsne -q --perplexity 3 --iter 30 --threads 1"
CMD[teacher-logits]="emo teacher-logits -m $BATS_FILE_TMPDIR/teacher --threads 1"
CMD[eval]="emo eval --labels joy,anger,fear"
CMD[confusion]="emo confusion --labels joy,anger,fear"
# tools that take -o FILE (an atomic output file)
OUT_O=(dump tokenize augment tsne)
# tools whose output on an empty stream is a valid empty stream
PASS_EMPTY=(dump tokenize augment teacher-logits)

setup_file() {
    cd "$BATS_FILE_TMPDIR"
    # 30 records with every contract field; labels cycle joy, anger, fear
    awk 'BEGIN { split("joy anger fear", name, " ");
      for (i = 0; i < 30; i++) { k = i % 3;
        printf "{\"id\":%d,\"text\":\"i feel %s today %d\",\"label\":\"%s\",\"split\":\"train\",", i, name[k+1], i, name[k+1];
        printf "\"input_ids\":[101,%d,%d,102],\"logits\":[%d,%d,%d],", 10 + k, 20 + i % 50, k == 0, k == 1, k == 2;
        printf "\"embedding\":[%d,%d,%d,%d.%d]}\n", 5 * (k == 0), 5 * (k == 1), 5 * (k == 2), i % 7, i } }' > good.jsonl
    emo pack -o good.rec good.jsonl
    : > zero.rec
    : | emo pack > emptystream.rec
    head -c -3 good.rec > trunc.rec
    # the trailer is fixmap(2) + "emo.end" (8 bytes) + positive fixint 30 + "xxh64" (6 bytes)
    # + uint64 (9 bytes): 25 bytes
    head -c -25 good.rec > notrailer.rec
    # a stream written before the trailer had its checksum: the same bytes, {"emo.end": 30}
    { cat notrailer.rec; printf '\x81\xa7emo.end\x1e'; } > oldformat.rec
    # one byte of record 15's text changed ("today 14" -> "todaz 14"): valid msgpack still
    LC_ALL=C sed 's/today 14/todaz 14/' good.rec > flip.rec
    ! cmp -s good.rec flip.rec
    printf '{"id":"x","text":5,"label":7,"input_ids":"a","logits":"b","embedding":"c"}\n' | emo pack > wrongtype.rec
    # header map (13 bytes), then a map32 declaring 4 G entries
    head -c 13 good.rec > hostile.rec
    printf '\xdf\xff\xff\xff\xff' >> hostile.rec
    for i in $(seq 100); do cat good.jsonl; done | emo pack > big.rec
    emo ckpt init --labels joy,anger,fear -o teacher bert-tiny 2> /dev/null
}

# run in an empty directory of its own (bats keeps its stderr files in BATS_TEST_TMPDIR)
setup() {
    mkdir "$BATS_TEST_TMPDIR/w"
    cd "$BATS_TEST_TMPDIR/w"
    D=$BATS_FILE_TMPDIR
    [ "${#CMD[@]}" -eq 7 ] && [ "${#OUT_O[@]}" -eq 4 ]
}

in_list() { local x=$1; shift; for y; do [ "$x" = "$y" ] && return 0; done; return 1; }

# check TOOL CASE INPUT RC PATTERN: run the tool on INPUT; exit RC; stderr is exactly one
# line matching the glob PATTERN (no stderr at all if PATTERN is empty).
check() {
    local t=$1 c=$2 in=$3 rc=$4 pat=$5
    run --separate-stderr bash -c "${CMD[$t]} '$in' > out.std"
    if [ "$status" -ne "$rc" ]; then
        echo "FAIL $t / $c: exit $status, want $rc; stderr: $stderr"; return 1
    fi
    if [ -z "$pat" ]; then
        [ -z "$stderr" ] || { echo "FAIL $t / $c: unexpected stderr: $stderr"; return 1; }
        return 0
    fi
    if [ "$(printf '%s\n' "$stderr" | wc -l)" -ne 1 ] || [[ "$stderr" != $pat ]]; then
        echo "FAIL $t / $c: stderr is not one line matching '$pat':"; echo "$stderr"; return 1
    fi
}

@test "faults: zero-byte input is 'empty input', exit 1, one line" {
    for t in "${!CMD[@]}"; do
        check "$t" zero-byte "$D/zero.rec" 1 "emo-$t: $D/zero.rec: empty input*"
    done
}

@test "faults: empty stream passes through (stream tools) or is refused in one line" {
    for t in "${!CMD[@]}"; do
        if in_list "$t" "${PASS_EMPTY[@]}"; then
            # augment may warn (no split field, no records of the class) but succeeds
            [ "$t" = augment ] && CMD[$t]="${CMD[$t]} 2> /dev/null"
            check "$t" empty-stream "$D/emptystream.rec" 0 ""
            if [ "$t" != dump ]; then
                run emo dump out.std
                [ "$status" -eq 0 ] && [ -z "$output" ] || { echo "FAIL $t / empty-stream: output is not an empty stream"; return 1; }
            fi
        else
            check "$t" empty-stream "$D/emptystream.rec" 1 "emo-$t: $D/emptystream.rec: *"
        fi
    done
}

@test "faults: truncated stream (head -c -3) names record 31" {
    for t in "${!CMD[@]}"; do
        check "$t" truncated "$D/trunc.rec" 1 "emo-$t: $D/trunc.rec:record 31: truncated*"
    done
}

@test "faults: missing trailer (writer died) names the last record" {
    for t in "${!CMD[@]}"; do
        check "$t" no-trailer "$D/notrailer.rec" 1 "emo-$t: $D/notrailer.rec:record 30: stream ended without its end marker*"
    done
}

@test "faults: one byte changed in a record's text fails the stream's checksum, naming its last record" {
    for t in "${!CMD[@]}"; do
        check "$t" flipped-byte "$D/flip.rec" 1 "emo-$t: $D/flip.rec:record 30: checksum mismatch*"
    done
}

@test "faults: a stream without the trailer's checksum (older writers) reads as before" {
    for t in "${!CMD[@]}"; do
        [ "$t" = augment ] && CMD[$t]="${CMD[$t]} 2> /dev/null"
        check "$t" old-format "$D/good.rec" 0 "" && mv out.std want
        check "$t" old-format "$D/oldformat.rec" 0 ""
        cmp -s out.std want || { echo "FAIL $t / old-format: output differs from the checksummed stream's"; return 1; }
    done
}

@test "faults: wrong field type names record 1 and the field" {
    for t in "${!CMD[@]}"; do
        [ "$t" = dump ] && continue      # dump prints any record
        check "$t" wrong-type "$D/wrongtype.rec" 1 "emo-$t: $D/wrongtype.rec:record 1: field *"
    done
}

@test "faults: hostile length (map32 of 4 G entries) is refused before allocating" {
    for t in "${!CMD[@]}"; do
        CMD[$t]="ulimit -v 2000000; ${CMD[$t]}"
        check "$t" hostile-length "$D/hostile.rec" 1 "emo-$t: $D/hostile.rec:record 1: *"
    done
}

@test "faults: unknown option is a usage error (exit 2)" {
    for t in "${!CMD[@]}" split pack clean cache ckpt teacher-train student-distill; do
        run --separate-stderr emo "$t" --no-such-option
        [ "$status" -eq 2 ] || { echo "FAIL $t / unknown-option: exit $status"; return 1; }
        [[ "$stderr" == *"unrecognized option"* ]] || { echo "FAIL $t / unknown-option: $stderr"; return 1; }
    done
}

@test "faults: stdout on a full disk (> /dev/full) exits 1 with a message" {
    for t in "${!CMD[@]}"; do
        run --separate-stderr bash -c "${CMD[$t]} '$D/good.rec' > /dev/full"
        [ "$status" -eq 1 ] || { echo "FAIL $t / >dev-full: exit $status: $stderr"; return 1; }
        [[ "$stderr" == *"No space left on device"* ]] || { echo "FAIL $t / >dev-full: $stderr"; return 1; }
    done
}

# Through links in the test directory, so that a regression (a temp renamed over the
# target) replaces the link and not the machine's /dev/full or /dev/stdout.
@test "faults: -o on a full disk (link to /dev/full) exits 1 with a message, writes in place" {
    ln -s /dev/full full
    for t in "${OUT_O[@]}"; do
        run --separate-stderr bash -c "${CMD[$t]} -o full '$D/good.rec'"
        [ "$status" -eq 1 ] || { echo "FAIL $t / -o dev-full: exit $status: $stderr"; return 1; }
        [[ "$stderr" == *"No space left on device"* ]] || { echo "FAIL $t / -o dev-full: $stderr"; return 1; }
        [ -L full ] && [ -c full ] && [ "$(ls -A)" = full ] || { echo "FAIL $t / -o dev-full: link replaced: $(ls -lA)"; return 1; }
    done
    for t in pack clean; do
        run --separate-stderr emo $t -o full "$D/good.jsonl"
        [ "$status" -eq 1 ] && [ -L full ] && [ "$(ls -A)" = full ] || { echo "FAIL $t / -o dev-full: exit $status: $stderr"; return 1; }
    done
    run --separate-stderr emo split -q -o full "$D/good.rec"
    [ "$status" -eq 1 ] && [ -L full ] && [ "$(ls -A)" = full ] || { echo "FAIL split / -o dev-full: exit $status: $stderr"; return 1; }
    [[ "$stderr" == "emo-split: full"*"Not a directory" ]] || { echo "FAIL split / -o dev-full: $stderr"; return 1; }
}

@test "faults: -o through a link to /dev/stdout writes through to the pipe" {
    ln -s /dev/stdout so
    for t in "${OUT_O[@]}"; do
        ${CMD[$t]} "$D/good.rec" > want
        run bash -c "${CMD[$t]} -o so '$D/good.rec' | cmp - want"
        [ "$status" -eq 0 ] && [ -L so ] || { echo "FAIL $t / -o /dev/stdout: $output"; return 1; }
    done
}

@test "faults: -o through a link to a file replaces the file, keeps the link" {
    mkdir real
    echo old > real/out.rec
    ln -s real/out.rec out.rec
    run emo dump -o out.rec "$D/good.rec"
    assert_success
    [ -L out.rec ] && [ "$(wc -l < real/out.rec)" -eq 30 ] && [ "$(ls -A real)" = out.rec ]
}

@test "faults: bad input with -o leaves no output and no temp file" {
    for t in "${OUT_O[@]}"; do
        for c in trunc notrailer hostile; do
            run --separate-stderr bash -c "${CMD[$t]} -o out.rec '$D/$c.rec'"
            [ "$status" -eq 1 ] || { echo "FAIL $t / $c -o: exit $status"; return 1; }
            [ -z "$(ls -A)" ] || { echo "FAIL $t / $c -o: left $(ls -A)"; return 1; }
        done
    done
    run --separate-stderr emo split -q -o out "$D/trunc.rec"
    [ "$status" -eq 1 ] && [ -z "$(ls -A)" ] || { echo "FAIL split / trunc -o: exit $status, left $(ls -A)"; return 1; }
}

@test "faults: a reader that closes early (| head -c 10) ends the tool quietly" {
    for t in "${!CMD[@]}"; do
        f=-f; case $t in dump|eval|confusion) f= ;; esac
        run --separate-stderr bash -c "timeout 60 ${CMD[$t]} $f '$D/big.rec' | head -c 10 | wc -c; exit \${PIPESTATUS[0]}"
        # 0: finished before head left; 141: SIGPIPE; 124 would be a hang
        [ "$status" -eq 0 ] || [ "$status" -eq 141 ] || { echo "FAIL $t / head -c 10: exit $status: $stderr"; return 1; }
        [ "$output" -eq 10 ] || { echo "FAIL $t / head -c 10: read $output bytes"; return 1; }
    done
}

@test "faults: trainers name the damaged training file" {
    for c in zero trunc notrailer hostile; do
        run --separate-stderr emo teacher-train --train "$D/$c.rec" --val "$D/good.rec" --config bert-tiny \
            --epochs 1 --threads 1 -q -o ckpt
        [ "$status" -eq 1 ] || { echo "FAIL teacher-train / $c: exit $status: $stderr"; return 1; }
        [[ "$stderr" == "emo-teacher-train: $D/$c.rec"* ]] || { echo "FAIL teacher-train / $c: $stderr"; return 1; }
        [ -z "$(ls -A)" ] || { echo "FAIL teacher-train / $c: left $(ls -A)"; return 1; }
        run --separate-stderr emo student-distill --train "$D/$c.rec" --val "$D/good.rec" --teacher "$D/teacher" \
            --config bert-tiny --epochs 1 --threads 1 -q -o ckpt
        [ "$status" -eq 1 ] || { echo "FAIL student-distill / $c: exit $status: $stderr"; return 1; }
        [[ "$stderr" == "emo-student-distill: $D/$c.rec"* ]] || { echo "FAIL student-distill / $c: $stderr"; return 1; }
        [ -z "$(ls -A)" ] || { echo "FAIL student-distill / $c: left $(ls -A)"; return 1; }
    done
}

# records whose label and text hold a 0xFF byte, built byte by byte (pack refuses them)
badutf_rec() {
    printf '\x81\xaaemo.stream\x01'
    for i in 1 2 3 4 5 6; do
        lab='j\xffy'; [ $i -gt 3 ] && lab=kkk
        printf "\x84\xa2id\\x0$i\xa5label\xa3$lab\xa4text\xa3a\xffb\xa9embedding\x92\\x0$((i % 2))\\x0$i"
    done
    printf '\x81\xa7emo.end\x06'
}

@test "faults: invalid UTF-8 is refused naming the record (line for JSON), or replaced in SVG" {
    badutf_rec > bad.rec
    for t in eval confusion tokenize; do
        check "$t" invalid-utf8 bad.rec 1 "emo-$t: bad.rec:record 1: *UTF-8*"
    done
    printf '{"id":1,"text":"ok"}\n{"id":2,"text":"a\xffb"}\n' > bad.jsonl
    run --separate-stderr emo pack -o out.rec bad.jsonl
    [ "$status" -eq 1 ] && [[ "$stderr" == "emo-pack: bad.jsonl:line 2: "* ]] && [ ! -e out.rec ] || { echo "FAIL pack / invalid-utf8: $status $stderr"; return 1; }
    printf 'ok;joy\na\xffb;joy\n' > bad.txt
    run --separate-stderr emo clean --format semicolon -o out.rec bad.txt
    [ "$status" -eq 1 ] && [[ "$stderr" == "emo-clean: bad.txt:line 2: "* ]] && [ ! -e out.rec ] || { echo "FAIL clean / invalid-utf8: $status $stderr"; return 1; }
    # t-SNE plots labels as they come: the SVG gets U+FFFD, never a raw 0xFF byte
    run --separate-stderr emo tsne -q --perplexity 1 --iter 10 --svg t.svg -o t.rec bad.rec
    [ "$status" -eq 0 ] && grep -q $'j\xef\xbf\xbdy' t.svg && ! grep -q $'\xff' t.svg || { echo "FAIL tsne / invalid-utf8 svg: $status $stderr"; return 1; }
}
