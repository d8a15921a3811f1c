#!/usr/bin/env bats
# The dispatcher, emo-records(5), and checks over all man pages.
load helpers

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "man example emo(1): emo --help" {
    run emo --help
    assert_success
    assert_output --partial "teacher-train"
}

@test "man example emo(1): pack | dump" {
    run bash -c "echo '{\"id\":1,\"text\":\"so happy\",\"label\":\"joy\"}' | emo pack | emo dump"
    assert_success
    assert_output '{"id":1,"text":"so happy","label":"joy"}'
}

@test "man example emo-records(5): one.rec, dump, cat" {
    run bash -c "echo '{\"id\":1,\"text\":\"so happy\",\"label\":\"joy\"}' | emo pack > one.rec"
    assert_success
    run emo dump one.rec
    assert_output '{"id":1,"text":"so happy","label":"joy"}'
    run bash -c 'cat one.rec one.rec | emo dump'
    assert_output $'{"id":1,"text":"so happy","label":"joy"}\n{"id":1,"text":"so happy","label":"joy"}'
}

@test "emo --version and tool exit status pass through" {
    run emo --version
    assert_success
    assert_output --regexp '^emo [0-9]+\.[0-9]+'
    run bash -c ': | emo dump'
    assert_failure 1
}

@test "every man page lints clean" {
    run bash -c 'mandoc -Tlint -Wwarning "$0"/man/man*/*.[157]' "$EMO_ROOT"
    assert_success
    assert_output ""
}

@test "every tool answers -h on stdout with exit 0 and a bad option with exit 2" {
    for t in "$EMO_ROOT"/bin/emo-*; do
        case "$t" in *.d) continue ;; esac
        run --separate-stderr "$t" -h
        [ "$status" -eq 0 ] || fail "$(basename "$t") -h exited $status"
        [ -n "$output" ] || fail "$(basename "$t") -h printed nothing on stdout"
        run --separate-stderr "$t" --no-such-option-xyz
        [ "$status" -eq 2 ] || fail "$(basename "$t") bad option exited $status"
        [ -n "$stderr" ] || fail "$(basename "$t") bad option said nothing on stderr"
    done
}

@test "make install puts tools and man pages under DESTDIR/PREFIX" {
    run make -C "$EMO_ROOT" -s install DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/opt/emo
    assert_success
    assert_file_executable "$BATS_TEST_TMPDIR/root/opt/emo/bin/emo"
    assert_file_executable "$BATS_TEST_TMPDIR/root/opt/emo/bin/emo-dump"
    assert_file_exists "$BATS_TEST_TMPDIR/root/opt/emo/share/man/man5/emo-records.5"
    run "$BATS_TEST_TMPDIR/root/opt/emo/bin/emo" dump -h
    assert_success
}

@test "man example emo(7): clean | tokenize | split on the shared corpus" {
    head -600 "$SHARED/data/emotion/train.txt" > train.txt
    ln -s "$SHARED/data/bert-base-uncased/vocab.txt" vocab.txt
    run --separate-stderr bash -c 'emo clean --format semicolon --keep-stopwords train.txt \
      | emo tokenize --vocab vocab.txt \
      | emo split -o split'
    assert_success
    for s in train val test; do assert_file_exists "split/$s.rec"; done
    n=$(cat split/*.rec | emo dump | wc -l)
    [ "$n" -eq 600 ]
    run bash -c 'emo dump split/val.rec | head -1'
    assert_output --partial '"input_ids":[101,'
}
