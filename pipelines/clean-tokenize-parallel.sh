#!/bin/sh
# clean-tokenize-parallel.sh: `emo clean | emo tokenize` over chunks of a big corpus with GNU
# parallel, on local job slots (-j) or other machines (-S / -s); the output records equal a
# single `emo clean FILE | emo tokenize` run's, with the same ids, in the same order.
#
#   clean-tokenize-parallel.sh -v VOCAB [-o OUT] [-n LINES] [-j JOBS] [-S HOST,... | -s SSHLOGINFILE]
#       [-f kaggle|semicolon|lines] [-l LABEL_NAMES] [-c 'CLEAN OPTIONS'] [-t 'TOKENIZE OPTIONS'] FILE
#
# FILE is cut into chunks of LINES lines (default 100000); each job cleans and tokenizes one
# chunk into one record stream, and the streams are concatenated in chunk order (a record
# stream may hold several segments: `cat` of streams is a stream).  Ids stay those of a
# single run: the Kaggle CSV's come from its index column, a line file's are line numbers
# (each chunk is told with --id-offset how many lines precede it).  The format is found
# from the first line (",text,label": kaggle, with LABEL_NAMES, default
# sadness,joy,love,anger,fear,surprise; a ";": semicolon) unless -f names it.  Rows must not
# span lines (a CSV with quoted newlines cannot be cut by lines).
#
# With -S or -s the jobs run on those machines (`emo` on their PATH): each chunk and the
# vocabulary are copied there (--transferfile, --basefile), the chunk's records copied back
# (--return) and both removed (--cleanup).  GNU parallel uses ssh and rsync ($PARALLEL_SSH
# replaces ssh).  A failed job stops the run (--halt now,fail=1) and no output is written.
set -eu
# this tree's tools first (remote jobs use the machines' PATH)
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
[ ! -x "$bin/emo" ] || PATH="$bin:$PATH"
me=clean-tokenize-parallel.sh
usage() {
    echo "usage: $me -v VOCAB [-o OUT] [-n LINES] [-j JOBS] [-S HOST,... | -s SSHLOGINFILE] [-f FORMAT] [-l LABEL_NAMES] [-c CLEAN_OPTS] [-t TOKENIZE_OPTS] FILE" >&2
    exit 2
}
vocab= out= lines=100000 jobs= hosts= loginfile= format= labels=sadness,joy,love,anger,fear,surprise copts= topts=
while getopts v:o:n:j:S:s:f:l:c:t:h opt; do
    case $opt in
    v) vocab=$OPTARG ;;
    o) out=$OPTARG ;;
    n) lines=$OPTARG ;;
    j) jobs=$OPTARG ;;
    S) hosts=$OPTARG ;;
    s) loginfile=$OPTARG ;;
    f) format=$OPTARG ;;
    l) labels=$OPTARG ;;
    c) copts=$OPTARG ;;
    t) topts=$OPTARG ;;
    h) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
case $loginfile in ''|/*) ;; *) loginfile=$PWD/$loginfile ;; esac   # the jobs start elsewhere
[ -n "$vocab" ] && [ $# -eq 1 ] || usage
[ -n "$out" ] || [ ! -t 1 ] || { echo "$me: records are binary: redirect stdout or give -o" >&2; exit 2; }
case $lines in ''|*[!0-9]*|0) echo "$me: -n $lines: not a positive number" >&2; exit 2 ;; esac
in=$1
[ -r "$in" ] && [ -s "$in" ] || { echo "$me: $in: cannot read, or empty" >&2; exit 1; }
[ -r "$vocab" ] || { echo "$me: $vocab: cannot read" >&2; exit 1; }
if [ -z "$format" ]; then
    first=$(head -n 1 "$in")
    case $first in
    ,text,label*) format=kaggle ;;
    *\;*) format=semicolon ;;
    *) echo "$me: $in: cannot tell the format from the first line (give -f)" >&2; exit 2 ;;
    esac
fi
case $format in
kaggle) fopts="--format kaggle --label-names $labels" ;;
semicolon|lines) fopts="--format $format" ;;
*) echo "$me: -f $format: kaggle, semicolon or lines (chunks of other formats lose their header)" >&2; exit 2 ;;
esac

# The work happens in TAG/ under a scratch directory, named by relative paths, so that on
# another machine the files land in TAG/ under the login's home: one run cannot meet another.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/emo-ct.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM
tag=$(basename "$scratch")
cp "$vocab" "$scratch/vocab.txt"
split -l "$lines" -d -a 6 --additional-suffix=.txt "$in" "$scratch/chunk."
# chunk i starts after i*LINES lines: its --id-offset (the Kaggle ids ignore it)
ls "$scratch" | sed -n 's/^chunk\.0*\([0-9]\{1,\}\)\.txt$/\1/p' | sort -n |
    awk -v tag="$tag" -v n="$lines" '{ printf "%s/chunk.%06d.txt\t%d\n", tag, $1, $1 * n }' > "$scratch/jobs"

cd "$scratch/.."
cmd="emo clean -q $fopts --id-offset {2} $copts {1} | emo tokenize --vocab $tag/vocab.txt $topts > {1.}.rec"
if [ -z "$hosts$loginfile" ]; then
    parallel --halt now,fail=1 ${jobs:+-j "$jobs"} --colsep '\t' "$cmd" :::: "$tag/jobs"
else
    parallel --halt now,fail=1 ${jobs:+-j "$jobs"} --colsep '\t' ${hosts:+-S "$hosts"} \
        ${loginfile:+--sshloginfile "$loginfile"} --basefile "$tag/vocab.txt" \
        --transferfile {1} --return {1.}.rec --cleanup "$cmd" :::: "$tag/jobs"
fi
cd - > /dev/null
# every chunk's records, in chunk order
set --
while IFS="$(printf '\t')" read -r chunk _; do
    r="$scratch/$(basename "$chunk" .txt).rec"
    [ -s "$r" ] || { echo "$me: $chunk: no records came back" >&2; exit 1; }
    set -- "$@" "$r"
done < "$scratch/jobs"
if [ -n "$out" ]; then   # beside OUT, then renamed: OUT appears complete or not at all
    tmpo=$(mktemp "$(dirname "$out")/.$(basename "$out").XXXXXX")
    trap 'rm -rf "$scratch" "$tmpo"' EXIT
    cat "$@" > "$tmpo"
    chmod "$(printf '%03o' $((0666 & ~$(umask))))" "$tmpo"
    mv "$tmpo" "$out"
else
    cat "$@"
fi
