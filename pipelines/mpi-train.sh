#!/bin/sh
# mpi-train.sh: one emo trainer (teacher-train, student-distill, pretrain) data-parallel over
# MPI ranks on this machine or several (emo-teacher-train(1), "Data-parallel training under
# mpirun"); the inputs copied first to the same paths on the other machines.
#
#   mpi-train.sh [-n RANKS] [-H HOST,... | -f HOSTFILE] [-i INPUT]... [-g SECONDS] [-m 'MPIRUN OPTIONS'] TOOL ARGS...
#
# e.g. the paper's teacher on two machines, this one first (rank 0 writes the checkpoint,
# so its -o directory is on rank 0's machine: list this machine first):
#
#   pipelines/mpi-train.sh -H $(hostname),node2 -i split -i vocab.txt \
#       teacher-train --train split/train.rec --val split/val.rec --config bert-mini \
#       --vocab vocab.txt --batch 64 --threads 2 -o teacher
#
# Every rank reads its inputs by the same path, so each -i file or directory (made
# absolute) is copied with rsync to that path on every host of -H / the hostfile other than
# this one (a shared file system needs no -i).  Then mpirun starts RANKS ranks (default: one
# per host named, or 2 without hosts) of `emo TOOL ARGS`, with PATH, OPENBLAS_CORETYPE and
# OMP/EMO variables passed on, and -g SECONDS (default 60) between the SIGTERM it forwards and
# its SIGKILL (the time a large model needs to write its checkpoint).  mpirun sends the same
# SIGTERM to the survivors when a rank dies, and they wait on the dead rank until the SIGKILL:
# such a job ends with mpirun's error after about twice SECONDS (2 minutes by default; seen
# over ssh logins on 2026-12-07).  --resume needs nothing copied: rank 0
# reads its own last/ and sends it to the others.  The hosts need emo and Open MPI on the
# same paths, and ssh without a password (pipelines/README.md).  Exit: mpirun's.
set -eu
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
[ ! -x "$bin/emo" ] || PATH="$bin:$PATH"
me=mpi-train.sh
usage() {
    echo "usage: $me [-n RANKS] [-H HOST,... | -f HOSTFILE] [-i INPUT]... [-g SECONDS] [-m 'MPIRUN OPTIONS'] TOOL ARGS..." >&2
    exit 2
}
ranks= hosts= hostfile= inputs= mopts= grace=60
while getopts n:H:f:i:g:m:h opt; do
    case $opt in
    n) ranks=$OPTARG ;;
    H) hosts=$OPTARG ;;
    f) hostfile=$OPTARG ;;
    i) inputs="$inputs $(cd "$(dirname "$OPTARG")" && pwd)/$(basename "$OPTARG")" ;;
    g) grace=$OPTARG ;;
    m) mopts=$OPTARG ;;
    h) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
[ -z "$hosts" ] || [ -z "$hostfile" ] || { echo "$me: -H and -f exclude each other" >&2; exit 2; }
case $ranks in ''|*[!0-9]*|0) [ -z "$ranks" ] || { echo "$me: -n $ranks: not a positive number" >&2; exit 2; } ;; esac
case $grace in ''|*[!0-9]*) echo "$me: -g $grace: not a number of seconds" >&2; exit 2 ;; esac
command -v mpirun > /dev/null || { echo "$me: mpirun not found (Open MPI: make deps)" >&2; exit 1; }
tool=$1
shift

# the host names: -H's list, or the hostfile's first words ("node2 slots=2")
if [ -n "$hostfile" ]; then
    [ -r "$hostfile" ] || { echo "$me: $hostfile: cannot read" >&2; exit 1; }
    names=$(sed 's/#.*//' "$hostfile" | awk 'NF { print $1 }')
else
    names=$(echo "$hosts" | tr ',' '\n' | sed 's/:.*//; /^$/d')
fi
here=$(hostname)
for h in $names; do
    case $h in localhost|127.0.0.1|"$here"|"$(hostname -f 2>/dev/null || echo "$here")") continue ;; esac
    for f in $inputs; do
        [ -e "$f" ] || { echo "$me: $f: no such file or directory" >&2; exit 1; }
        d=$(dirname "$f")
        ssh "$h" mkdir -p "$d"
        rsync -aL "$f" "$h:$d/"     # -L: a link would point nowhere there
    done
done
if [ -z "$ranks" ]; then
    ranks=$(echo "$names" | awk 'NF { n++ } END { print n ? n : 2 }')
fi
set -- -np "$ranks" --mca odls_base_sigkill_timeout "$grace" emo "$tool" "$@"
# PATH, OPENBLAS_CORETYPE and the EMO_* and OMP_* variables of this shell go to every rank
for v in $(env | sed -n 's/^\(PATH\|OPENBLAS_CORETYPE\|EMO_[A-Za-z0-9_]*\|OMP_[A-Za-z0-9_]*\)=.*/\1/p'); do
    set -- -x "$v" "$@"
done
[ -z "$hosts" ] || set -- -H "$hosts" "$@"
[ -z "$hostfile" ] || set -- --hostfile "$hostfile" "$@"
# shellcheck disable=SC2086
exec mpirun $mopts "$@"
