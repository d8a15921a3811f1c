#!/bin/sh
# ensemble.sh: an ensemble teacher.  N teachers of one configuration, trained with
# different seeds by GNU parallel (local job slots, or other machines), each writes its
# teacher cache; the caches are merged into the ensemble's (emo cache merge: per id the log of
# the teachers' mean probability); each teacher's and the ensemble's validation accuracy is
# reported.
#
#   ensemble.sh -t TRAIN -v VAL -o OUT [-e TEST] [-n N] [-b SEED] [-c CONFIG] [-j JOBS]
#               [-S HOST,... | -s SSHLOGINFILE] [-T THREADS] [-a 'TEACHER-TRAIN OPTIONS']
#               [-l 'TEACHER-LOGITS OPTIONS'] [-m 'MERGE OPTIONS'] [FILE...]
#
# -n N teachers (3), seeds SEED .. SEED+N-1 (-b, 1), each `emo teacher-train --train TRAIN
# --val VAL --config CONFIG --seed S --threads THREADS` (CONFIG: a preset or a config.json;
# default bert-mini) plus -a's options, then `emo teacher-logits -o` over TRAIN, VAL and the
# FILEs (e.g. the unlabelled records to distil on) and TEST plus -l's options (default
# --attn-layers all).  Writes
#   OUT/teacher-S/    each teacher's checkpoint
#   OUT/cache-S/      each teacher's cache (TRAIN, VAL, the FILEs and TEST)
#   OUT/ensemble/     the merged cache, with -m's options (--attn none: logits only)
#   OUT/accuracy.tsv  "model<TAB>val_accuracy[<TAB>test_accuracy]" per teacher and for the
#                     ensemble, also printed: emo cache --join VAL CACHE | emo eval, the
#                     teachers' and the ensemble's predictions read from their caches alike
#                     (the test accuracy with -e TEST: held-out records no teacher trains
#                     or stops on)
# The student then distils from OUT/ensemble (emo student-distill --teacher-cache).
# A rerun redoes only the teachers whose cache is not complete, then the merge and the
# report.  The record ids must be unique over TRAIN, VAL and the FILEs (emo split's files
# are; give unlabelled records their own range: emo clean --id-offset).
#
# With -S or -s, `emo` must be on the machines' PATH: TRAIN, VAL, the FILEs and a CONFIG
# file are copied to each machine once (--basefile), a job's teacher and cache come back as
# one tar file (--return) and everything is removed there (--cleanup); paths inside -a or -l
# must exist on the machines.  A failed job stops the run (--halt now,fail=1); the teachers
# done are kept, no ensemble is written.
set -eu
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
[ ! -x "$bin/emo" ] || PATH="$bin:$PATH"
me=ensemble.sh
usage() {
    echo "usage: $me -t TRAIN -v VAL -o OUT [-e TEST] [-n N] [-b SEED] [-c CONFIG] [-j JOBS] [-S HOST,... | -s SSHLOGINFILE]" >&2
    echo "       [-T THREADS] [-a 'TEACHER-TRAIN OPTIONS'] [-l 'TEACHER-LOGITS OPTIONS'] [-m 'MERGE OPTIONS'] [FILE...]" >&2
    exit 2
}
train= val= test= out= n=3 seed=1 config=bert-mini jobs= hosts= loginfile= threads=1 topts= lopts="--attn-layers all" mopts=
while getopts t:v:e:o:n:b:c:j:S:s:T:a:l:m:h opt; do
    case $opt in
    e) test=$OPTARG ;;
    t) train=$OPTARG ;;
    v) val=$OPTARG ;;
    o) out=$OPTARG ;;
    n) n=$OPTARG ;;
    b) seed=$OPTARG ;;
    c) config=$OPTARG ;;
    j) jobs=$OPTARG ;;
    S) hosts=$OPTARG ;;
    s) loginfile=$OPTARG ;;
    T) threads=$OPTARG ;;
    a) topts=$OPTARG ;;
    l) lopts=$OPTARG ;;
    m) mopts=$OPTARG ;;
    h) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ -n "$train" ] && [ -n "$val" ] && [ -n "$out" ] || usage
case $n in ''|*[!0-9]*) usage ;; esac
case $seed in ''|*[!0-9]*) usage ;; esac
[ "$n" -ge 1 ] || usage
[ -z "$test" ] || set -- "$@" "$test"      # cached like the FILEs
case $loginfile in ''|/*) ;; *) loginfile=$PWD/$loginfile ;; esac
for f in "$train" "$val" "$@"; do
    [ -r "$f" ] || { echo "$me: $f: cannot read" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

# The seeds still to do: those without a complete cache (a part's manifest is written last).
todo=
s=$seed
while [ "$s" -lt $((seed + n)) ]; do
    if ! ls "$out/cache-$s"/*.manifest.json > /dev/null 2>&1; then
        rm -rf "$out/teacher-$s" "$out/cache-$s"
        todo="$todo $s"
    fi
    s=$((s + 1))
done

# job DIR TRAIN VAL CONFIG INPUTS: the command that trains teacher {} into DIR/teacher-{} and
# writes its cache of INPUTS (train, val, FILEs) into DIR/cache-{}
job() {
    echo "mkdir -p $1/cache-{} &&
     emo teacher-train --train $2 --val $3 --config $4 --seed {} --threads $threads -q $topts -o $1/teacher-{} &&
     emo teacher-logits -m $1/teacher-{} -o $1/cache-{} --threads $threads $lopts $5"
}
if [ -n "$todo" ]; then
    echo "$me: training $(echo $todo | wc -w) teacher(s), seeds$todo" >&2
    if [ -z "$hosts$loginfile" ]; then
        t="'$(abs "$train")'" v="'$(abs "$val")'"
        inputs="$t $v"
        for f in "$@"; do inputs="$inputs '$(abs "$f")'"; done
        cfg=$config
        [ ! -f "$config" ] || cfg="'$(abs "$config")'"
        parallel --halt now,fail=1 ${jobs:+-j "$jobs"} \
            "$(job "'$out'" "$t" "$v" "$cfg" "$inputs") || { rm -rf '$out'/teacher-{} '$out'/cache-{}; exit 1; }" ::: $todo
    else
        # the inputs under TAG/ in a scratch directory, by relative paths: on the machines
        # TAG/ lands under the login's home
        scratch=$(mktemp -d "${TMPDIR:-/tmp}/emo-ens.XXXXXX")
        trap 'rm -rf "$scratch"' EXIT
        trap 'exit 1' HUP INT TERM
        tag=$(basename "$scratch")
        ln -s "$(abs "$train")" "$scratch/train.rec"
        ln -s "$(abs "$val")" "$scratch/val.rec"
        inputs="$tag/train.rec $tag/val.rec"
        k=0
        for f in "$@"; do
            k=$((k + 1))
            ln -s "$(abs "$f")" "$scratch/extra-$k.rec"
            inputs="$inputs $tag/extra-$k.rec"
        done
        cfg=$config
        if [ -f "$config" ]; then
            ln -s "$(abs "$config")" "$scratch/config.json"
            cfg=$tag/config.json
        fi
        bases=
        for f in $inputs; do bases="$bases --basefile $f"; done
        [ "$cfg" = "$config" ] || bases="$bases --basefile $cfg"
        cd "$scratch/.."
        # rsync must copy what the links point to (-L); a job's outputs come back as one tar
        PARALLEL_RSYNC_OPTS=-rLDzR \
        parallel --halt now,fail=1 ${jobs:+-j "$jobs"} ${hosts:+-S "$hosts"} ${loginfile:+--sshloginfile "$loginfile"} \
            $bases --return "$tag/{}.tar" --cleanup \
            "($(job "$tag/{}" "$tag/train.rec" "$tag/val.rec" "$cfg" "$inputs")) && tar -C $tag/{} -cf $tag/{}.tar . && rm -rf $tag/{} ||
             { rm -rf $tag/{} $tag/{}.tar; exit 1; }" ::: $todo
        for s in $todo; do
            mkdir "$tag/$s"
            tar -C "$tag/$s" -xf "$tag/$s.tar"
            mv "$tag/$s/teacher-$s" "$out"/
            mv "$tag/$s/cache-$s" "$out"/     # the manifests with it: the cache is complete
        done
        cd - > /dev/null
    fi
fi

# the ensemble: merged beside OUT/ensemble, then put in its place
caches=
s=$seed
while [ "$s" -lt $((seed + n)) ]; do
    caches="$caches $out/cache-$s"
    s=$((s + 1))
done
rm -rf "$out/.ensemble.new"
emo cache merge $mopts -o "$out/.ensemble.new" $caches
rm -rf "$out/ensemble"
mv "$out/.ensemble.new" "$out/ensemble"

# validation accuracy of each teacher and of the ensemble, from their caches
accuracy() {
    emo cache --join "$2" "$1" | emo eval --json | grep -o '"accuracy": *[0-9.eE+-]*' |
        awk -F: '{ printf "%.4f", $2 }'
}
{
    printf 'model\tval_accuracy%s\n' "${test:+	test_accuracy}"
    s=$seed
    while [ "$s" -le $((seed + n)) ]; do
        c=$out/cache-$s name=teacher-$s
        [ "$s" -lt $((seed + n)) ] || c=$out/ensemble name=ensemble
        printf '%s\t%s' "$name" "$(accuracy "$c" "$val")"
        [ -z "$test" ] || printf '\t%s' "$(accuracy "$c" "$test")"
        printf '\n'
        s=$((s + 1))
    done
} > "$out/.accuracy.tsv"
mv "$out/.accuracy.tsv" "$out/accuracy.tsv"
cat "$out/accuracy.tsv"
