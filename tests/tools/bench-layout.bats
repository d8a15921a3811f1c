#!/usr/bin/env bats
# bench/'s layout (bench/README.md, "Layout"): one folder per benchmark, anchors named
# anchor_<reference>.py, every path into bench/ that the code and the documentation name
# exists, every script parses and every C program has a make target.  Nothing is run.
load helpers

@test "bench layout: every bench/ path named outside bench/results exists" {
    cd "$EMO_ROOT"
    # paths as written in the Makefile, the READMEs, man pages, code, recipes, tests and the
    # bench scripts themselves; bench/results/ (dated notes, written with the paths of their
    # day) and bench/out/ (build output) are left out
    missing=$(grep -rIohP '(?<![\w/.$-])bench/[\w./-]*' Makefile README.md .ci bench man tools lib \
                  pipelines tests --exclude-dir=results --exclude-dir=out |
              sed 's/[.,:;]*$//' | grep -v '^bench/out\(/\|$\)' | sort -u |
              while read -r p; do [ -e "$p" ] || echo "$p"; done)
    [ -z "$missing" ] || { echo "missing: $missing"; false; }
}

@test "bench layout: every script parses, anchors are named anchor_<reference>.py" {
    cd "$EMO_ROOT"
    for f in bench/*.sh bench/*/*.sh; do bash -n "$f" || { echo "$f"; false; }; done
    for f in bench/*/*.py; do
        case ${f##*/} in anchor_*.py) ;; *) echo "not an anchor name: $f"; false ;; esac
        [ ! -x /usr/bin/python3 ] ||
            /usr/bin/python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' "$f"
    done
    # no script left at the top but the harness
    run bash -c 'ls bench/*.sh bench/*.py bench/*.c 2>/dev/null'
    assert_output "bench/ratios.sh
bench/run.sh"
}

@test "bench layout: make bench-build names every C program; make clean removes bench/out" {
    cd "$EMO_ROOT"
    run make -n -B bench-build
    assert_success
    for c in bench/*/*.c; do
        n=${c##*/}
        assert_line --partial "-o bench/out/${n%.c} $c "
    done
    run make -n clean
    assert_output --partial " bench/out "
}
