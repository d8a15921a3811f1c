#!/usr/bin/env bats
# The dispatcher, emo-records(5), and checks over all man pages.
load helpers

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "man emo opens emo(1), which sends to the overview: man 7 emo; README says so" {
    run bash -c 'mandoc -Tutf8 "$0" | col -bx | sed -n "/^DESCRIPTION/,/^ *emo runs/p"' "$EMO_ROOT/man/man1/emo.1"
    assert_output --partial 'emo(7)'
    assert_output --partial '$ man 7 emo'
    run grep -n '`man emo`[^\x27]* is the overview' "$EMO_ROOT/README.md"
    assert_failure
    grep -q '`man 7 emo`' "$EMO_ROOT/README.md"
}

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
    assert_output --regexp '^emo \(emokd\) [0-9]+\.[0-9]+'
    run bash -c ': | emo dump'
    assert_failure 1
}

@test "emo gives a tool OpenBLAS's SkylakeX kernels on an AVX-512 CPU when OPENBLAS_CORETYPE is unset, keeps a value set" {
    # emo-ckpt loads OpenBLAS, which names its kernels on stderr at load with OPENBLAS_VERBOSE=2
    run --separate-stderr env OPENBLAS_CORETYPE=Haswell OPENBLAS_VERBOSE=2 emo ckpt --version
    assert_success
    [[ "$stderr" == *"Core: "* ]] || skip "this OpenBLAS does not name its kernels (not a DYNAMIC_ARCH build)"
    [[ "$stderr" == *"Core: Haswell"* ]] || fail "OPENBLAS_CORETYPE=Haswell through emo: $stderr"
    flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
    for f in avx512f avx512bw avx512dq avx512vl; do
        [[ "$flags" == *" $f "* ]] || skip "the CPU has no $f"
    done
    run --separate-stderr env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 emo ckpt --version
    assert_success
    [[ "$stderr" == *"Core: SkylakeX"* ]] || fail "OPENBLAS_CORETYPE unset, through emo: $stderr"
}

@test "every man page lints clean" {
    run bash -c 'mandoc -Tlint -Wwarning "$0"/man/man*/*.[157]' "$EMO_ROOT"
    assert_success
    assert_output ""
    run make -s -C "$EMO_ROOT" man-lint
    assert_success
    assert_output "man pages ok"
}

@test "every man page: no groff warning, no words rendered as flags, no quotes nested by mistake" {
    for m in "$EMO_ROOT"/man/man*/*.[157]; do
        run --separate-stderr groff -ww -mandoc -Tutf8 "$m"
        [ -z "$stderr" ] || fail "groff -ww: $stderr"
        # '.Pq ... Fl -x words' makes every following word a flag: '--resume -with -other'
        text=$(mandoc -Tutf8 "$m" | col -b)
        run grep -nE "(^|[ (])-[a-z]{2,}([ ,.;:)']|$)|’’" <<< "$text"
        [ "$status" -eq 1 ] || fail "$(basename "$m") renders: $output"
    done
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

@test "README, emo-pretrain(1) and emo(7) clean text for BERT alike: every emo clean keeps stopwords" {
    n=0
    for f in README.md man/man1/emo-pretrain.1 man/man7/emo.7; do
        while IFS= read -r line; do
            n=$((n + 1))
            [[ "$line" == *" --keep-stopwords "* ]] || fail "$f: '$line' drops stopwords, the split keeps them"
        done < <(grep -E '^ *(\$ )?emo clean ' "$EMO_ROOT/$f")
    done
    [ "$n" -ge 3 ]
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

@test "every tool: --version names it and the version, --help and the man page list every option" {
    ver=$(sed -n 's/^VERSION *:*= *//p' "$EMO_ROOT/config.mk")
    [ -n "$ver" ]
    for t in "$EMO_ROOT"/bin/emo "$EMO_ROOT"/bin/emo-*; do
        case "$t" in *.d) continue ;; esac
        name=$(basename "$t")
        run --separate-stderr "$t" --version
        [ "$status" -eq 0 ] || fail "$name --version exited $status"
        [ -z "$stderr" ] || fail "$name --version wrote on stderr: $stderr"
        [[ "$output" == "$name (emokd) $ver"* ]] || fail "$name --version printed '$output'"
        [ "${#lines[@]}" -eq 1 ] || fail "$name --version printed ${#lines[@]} lines"
        run --separate-stderr "$t" --help
        [ "$status" -eq 0 ] || fail "$name --help exited $status"
        [ -z "$stderr" ] || fail "$name --help wrote on stderr: $stderr"
        help=$output
        src="$EMO_ROOT/tools/${name#emo-}.c"
        [ "$name" = emo ] && { opts="help version"; } || opts=$(longopts_of "$src")
        [ "$(echo "$opts" | wc -w)" -ge 2 ] || fail "no getopt_long table found in $src"
        man=$(mandoc -Tutf8 "$EMO_ROOT/man/man1/$name.1" | col -b)
        for o in $opts; do
            grep -Eq -- "^ +(-[a-zA-Z], )?--$o([ =]|$)" <<< "$help" \
                || fail "$name --help has no line for --$o"
            grep -Eq -- "--$o([^a-z0-9-]|$)" <<< "$man" || fail "$name(1) does not document --$o"
        done
    done
}

@test "the version is taken at build time, and a tarball without .git builds with VERSION alone" {
    git -C "$EMO_ROOT" rev-parse --git-dir > /dev/null 2>&1 || skip "not a git checkout"
    run emo-dump --version
    assert_output --partial "+$(git -C "$EMO_ROOT" describe --always)"
    mkdir src
    git -C "$EMO_ROOT" ls-files -z | tar -C "$EMO_ROOT" --null -T - -c | tar -x -C src
    run make -s -C src lib/util/cli.o
    assert_success
    grep -aq "^$(sed -n 's/^VERSION *:*= *//p' "$EMO_ROOT/config.mk")\$" <(strings src/lib/util/cli.o) \
        || fail "cli.o of the tarball does not hold the plain VERSION"
}
