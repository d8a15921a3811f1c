#!/bin/sh
# teacher-train-mpi.sh: the paper's teacher (paper.sh's teacher stage: focal loss, the split's
# train and validation records, the vocabulary) trained data-parallel over MPI ranks on the
# hosts given: hosts in, checkpoint out.  A thin layer over mpi-train.sh (issue 17).
#
#   teacher-train-mpi.sh [-H HOST,... | -f HOSTFILE] [-n RANKS] [-c CONFIG | -I HF_DIR]
#       [-v VOCAB] [-e EPOCHS] [-t THREADS] [-s SEED] [-r] [-a 'TEACHER-TRAIN OPTIONS']
#       [-m 'MPIRUN OPTIONS'] -o CKPT_DIR SPLIT_DIR
#
# e.g. bert-base on this machine and two others, 2 threads a rank:
#
#   pipelines/teacher-train-mpi.sh -H $(hostname),node2,node3 -t 2 -o teacher split
#
# SPLIT_DIR is `emo split -o SPLIT_DIR`'s output: train.rec and val.rec.  CONFIG is the
# architecture (default bert-base; a preset or a config.json); -I fine-tunes a checkpoint
# (a Hub bert-base) instead.  VOCAB defaults to $SHARED/data/bert-base-uncased/vocab.txt, as
# in paper.sh.  -e, -t and -s are teacher-train's --epochs, --threads (a rank's) and --seed
# (defaults: teacher-train's, seed 42 as paper.sh's); -r resumes from CKPT_DIR/last on the
# first host; -a adds teacher-train options, -m mpirun's (as root: --allow-run-as-root).
# SPLIT_DIR, VOCAB and HF_DIR are copied to the same paths on the other hosts (mpi-train.sh
# -i).  Rank 0 writes CKPT_DIR on its host, the first one named: list this machine first, or
# put CKPT_DIR on a shared file system.  Ranks default to one per host named (2 without
# hosts).  The same hosts' count, threads and seed give the same bytes run to run.  Exit:
# mpirun's; 2 for bad usage.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
me=teacher-train-mpi.sh
usage() {
    echo "usage: $me [-H HOST,... | -f HOSTFILE] [-n RANKS] [-c CONFIG | -I HF_DIR] [-v VOCAB] [-e EPOCHS] [-t THREADS] [-s SEED] [-r] [-a 'TEACHER-TRAIN OPTIONS'] [-m 'MPIRUN OPTIONS'] -o CKPT_DIR SPLIT_DIR" >&2
    exit 2
}
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
SHARED=${SHARED:-$here/../../shared}
vocab=$SHARED/data/bert-base-uncased/vocab.txt
config= init= out= extra= mopts= hosts= hostfile= ranks= epochs= threads= seed= resume=
while getopts H:f:n:c:I:v:e:t:s:ra:m:o:h opt; do
    case $opt in
    H) hosts=$OPTARG ;;
    f) hostfile=$OPTARG ;;
    n) ranks=$OPTARG ;;
    c) config=$OPTARG ;;
    I) init=$OPTARG ;;
    v) vocab=$OPTARG ;;
    e) epochs=$OPTARG ;;
    t) threads=$OPTARG ;;
    s) seed=$OPTARG ;;
    r) resume=--resume ;;
    a) extra=$OPTARG ;;
    m) mopts=$OPTARG ;;
    o) out=$OPTARG ;;
    h) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ] || [ -z "$out" ]; then usage; fi
[ -z "$hosts" ] || [ -z "$hostfile" ] || { echo "$me: -H and -f exclude each other" >&2; exit 2; }
[ -z "$config" ] || [ -z "$init" ] || { echo "$me: -c and -I exclude each other" >&2; exit 2; }
for v in "$ranks" "$epochs" "$threads" "$seed"; do
    case $v in *[!0-9]*) echo "$me: $v: not a number" >&2; exit 2 ;; esac
done
split=$1
for f in "$split/train.rec" "$split/val.rec" "$vocab"; do
    [ -r "$f" ] || { echo "$me: $f: cannot read" >&2; exit 1; }
done
[ -z "$init" ] || [ -d "$init" ] || { echo "$me: $init: not a directory" >&2; exit 1; }
# every path absolute: the ranks on other hosts start in another directory
split=$(abs "$split") vocab=$(abs "$vocab") out=$(abs "$out")
if [ -n "$init" ]; then
    init=$(abs "$init")
    set -- -i "$init" teacher-train --init "$init"
else
    set -- teacher-train --config "${config:-bert-base}"
fi
set -- "$@" --train "$split/train.rec" --val "$split/val.rec" --vocab "$vocab" --loss focal
[ -z "$epochs" ] || set -- "$@" --epochs "$epochs"
[ -z "$threads" ] || set -- "$@" --threads "$threads"
[ -z "$seed" ] || set -- "$@" --seed "$seed"
# shellcheck disable=SC2086
set -- "$@" $extra $resume -o "$out"
[ -z "$ranks" ] || set -- -n "$ranks" "$@"
[ -z "$mopts" ] || set -- -m "$mopts" "$@"
[ -z "$hosts" ] || set -- -H "$hosts" "$@"
[ -z "$hostfile" ] || set -- -f "$hostfile" "$@"
exec "$here/mpi-train.sh" -i "$split" -i "$vocab" "$@"
