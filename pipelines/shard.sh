#!/bin/sh
# shard.sh -n RECORDS -o DIR FILE...: cut record streams (emo-records(5)) into shards of
# RECORDS records each, DIR/shard.000000.rec, DIR/shard.000001.rec, ..., in input order,
# for GNU parallel jobs (pipelines/teacher-logits-parallel.sh).  `cat DIR/shard.*.rec` is
# the input again, record for record.  Sharded logits equal a single run's to the bit
# whatever RECORDS: teacher-logits' result for a record does not depend on its batch.
# The shards are written into a temporary directory beside DIR and renamed to DIR whole.
set -eu
# this tree's tools first (remote jobs use the machines' PATH)
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
[ ! -x "$bin/emo" ] || PATH="$bin:$PATH"
me=shard.sh
usage() { echo "usage: $me -n RECORDS -o DIR FILE..." >&2; exit 2; }
n= dir=
while getopts n:o:h opt; do
    case $opt in
    n) n=$OPTARG ;;
    o) dir=$OPTARG ;;
    h) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ -n "$n" ] && [ -n "$dir" ] && [ $# -gt 0 ] || usage
case $n in ''|*[!0-9]*|0) echo "$me: -n $n: not a positive number" >&2; exit 2 ;; esac
[ ! -e "$dir" ] || { echo "$me: $dir: exists" >&2; exit 1; }
tmp=$(mktemp -d "$dir.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
# one JSON line per record (emo dump), cut by lines, each piece packed back: the round trip
# keeps every field's type and value (float32 values print with 9 significant digits)
{ emo dump "$@" || echo "dump failed" > "$tmp/.failed"; } |
    split -l "$n" -d -a 6 --additional-suffix=.rec --filter='emo pack > "$FILE"' - "$tmp/shard."
[ ! -e "$tmp/.failed" ] || exit 1
ls "$tmp" | grep -q . || { echo "$me: no records" >&2; exit 1; }
chmod "$(printf '%03o' $((0777 & ~$(umask))))" "$tmp"
mv "$tmp" "$dir"
trap - EXIT
