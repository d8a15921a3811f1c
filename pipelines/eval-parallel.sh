#!/bin/sh
# eval-parallel.sh: evaluate a checkpoint on record files with the predictions fanned out by
# GNU parallel: the records are cut into shards (pipelines/shard.sh), each shard predicted by
# its own job (pipelines/teacher-logits-parallel.sh -p, on local job slots or machines), and
# emo eval reads the prediction shards in order as one stream.
#
#   eval-parallel.sh -m CKPT [-n RECORDS] [-j JOBS] [-S HOST,... | -s SSHLOGINFILE] [-t THREADS]
#                    [-a 'TEACHER-LOGITS OPTIONS'] [-e 'EVAL OPTIONS'] [-k PREDS] FILE...
#
# The report (stdout) is byte for byte the one of the single run
#   cat FILE... | emo teacher-logits -m CKPT --threads THREADS OPTIONS | emo eval -m CKPT EVAL-OPTIONS
# whatever RECORDS (default 4096): a record's logits do not depend on the batch it shares
# in teacher-logits, nor on the thread count.  -k keeps the predictions
# (records with logits) in PREDS, for emo confusion or more evaluations.
set -eu
me=eval-parallel.sh
here=$(cd "$(dirname "$0")" && pwd)
[ ! -x "$here/../bin/emo" ] || PATH="$here/../bin:$PATH"
usage() { echo "usage: $me -m CKPT [-n RECORDS] [-j JOBS] [-S HOST,... | -s SSHLOGINFILE] [-t THREADS] [-a OPTIONS] [-e EVAL_OPTIONS] [-k PREDS] FILE..." >&2; exit 2; }
ckpt= n=4096 keep= eopts= fan=
while getopts m:n:j:S:s:t:a:e:k:h opt; do
    case $opt in
    m) ckpt=$OPTARG ;;
    n) n=$OPTARG ;;
    j|S|s|t) fan="$fan -$opt $(printf '%s' "$OPTARG" | sed "s/'/'\\\\''/g; s/^/'/; s/\$/'/")" ;;
    a) fan="$fan -a '$(printf '%s' "$OPTARG" | sed "s/'/'\\\\''/g")'" ;;
    e) eopts=$OPTARG ;;
    k) keep=$OPTARG ;;
    h) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ -n "$ckpt" ] && [ $# -gt 0 ] || usage
scratch=$(mktemp -d "${TMPDIR:-/tmp}/emo-ev.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM
"$here/shard.sh" -n "$n" -o "$scratch/shards" "$@"
eval "\"\$here/teacher-logits-parallel.sh\" -m \"\$ckpt\" -p \"\$scratch/preds.rec\" $fan \"\$scratch\"/shards/shard.*.rec"
# shellcheck disable=SC2086
emo eval -m "$ckpt" $eopts "$scratch/preds.rec"
[ -z "$keep" ] || mv "$scratch/preds.rec" "$keep"
