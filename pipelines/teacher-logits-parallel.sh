#!/bin/sh
# teacher-logits-parallel.sh: build one teacher cache (emo-cache(5)) from several record
# files with GNU parallel, one emo teacher-logits job per file, locally (-j) or on other
# machines (-S).  Each job writes its own part (prefix = the file's base name); readers
# merge the parts' indexes when they open the directory, so there is no merge step.
#
#   teacher-logits-parallel.sh -m CKPT -o CACHE [-j JOBS] [-S HOST,...] [-t THREADS]
#                              [-a 'TEACHER-LOGITS OPTIONS'] FILE...
#
# Split the input by file, not by bytes: a record stream has no resync point
# (`emo split`, or one file per input chunk).  With -S, the checkpoint directory must be at
# the same path on every machine (a shared file system, or copy it first); every job's part
# is written in a scratch directory on its machine and copied back (--return), so CACHE
# need not be shared.  A failed job stops the run (--halt now,fail=1) and leaves no part;
# rerunning the script redoes only the files whose part is missing.
set -eu
usage() { echo "usage: teacher-logits-parallel.sh -m CKPT -o CACHE [-j JOBS] [-S HOST,...] [-t THREADS] [-a OPTIONS] FILE..." >&2; exit 2; }
ckpt= out= jobs= hosts= threads=1 extra=
while getopts a:m:o:j:S:t:h opt; do
    case $opt in
    a) extra=$OPTARG ;;
    m) ckpt=$OPTARG ;;
    o) out=$OPTARG ;;
    j) jobs=$OPTARG ;;
    S) hosts=$OPTARG ;;
    t) threads=$OPTARG ;;
    h) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ -n "$ckpt" ] && [ -n "$out" ] && [ $# -gt 0 ] || usage
case $ckpt in /*) ;; *) ckpt=$(cd "$ckpt" && pwd) ;; esac
mkdir -p "$out"
# One part per input file, named after it; skip files whose part is finished.
todo=$(mktemp)
trap 'rm -f "$todo"' EXIT
for f in "$@"; do
    [ -r "$f" ] || { echo "teacher-logits-parallel.sh: $f: cannot read" >&2; exit 1; }
    p=$(basename "$f" | sed 's/\.[^.]*$//; s/[^A-Za-z0-9_.-]/_/g')
    [ -e "$out/$p.manifest.json" ] || printf '%s\n' "$f" >> "$todo"
done
[ -s "$todo" ] || { echo "teacher-logits-parallel.sh: every part is already in $out" >&2; exit 0; }
prefix='$(basename {} | sed "s/\.[^.]*$//; s/[^A-Za-z0-9_.-]/_/g")'
if [ -z "$hosts" ]; then
    parallel --halt now,fail=1 ${jobs:+-j "$jobs"} \
        "emo teacher-logits -m '$ckpt' -o '$out' --prefix $prefix --threads $threads $extra {}" ::::  "$todo"
else
    # remote: write the part into {/.}.part in the job's work dir and bring it back
    parallel --halt now,fail=1 ${jobs:+-j "$jobs"} -S "$hosts" --transferfile {} --return {/.}.part --cleanup \
        "mkdir -p {/.}.part && emo teacher-logits -m '$ckpt' -o {/.}.part --prefix $prefix --threads $threads $extra {}" \
        ::::  "$todo"
    while read -r f; do
        d=$(basename "$f" | sed 's/\.[^.]*$//').part
        mv "$d"/* "$out"/ && rmdir "$d"
    done < "$todo"
fi
