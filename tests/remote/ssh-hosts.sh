#!/usr/bin/env bash
# The GNU parallel recipes over real ssh logins (not part of make check: it needs machines).
#
#   tests/remote/ssh-hosts.sh [HOST,HOST...]      (default: $EMO_HOSTS, else w1,w2)
#
# Each HOST is an ssh destination that logs in without a password (BatchMode) and has
# `emo` on its PATH (`make install` there); the checkpoint is made under a directory every
# host can read at the same path ($EMO_SHARED_TMP, default /tmp: one machine, or a shared
# file system).  Runs clean-tokenize-parallel.sh, teacher-logits-parallel.sh -p and -o and
# eval-parallel.sh with -S HOSTS, compares each with the single run on this machine, and
# checks that no file stays in the logins' home directories.  Then mpi-train.sh -H HOSTS
# trains a teacher on 2 ranks there (rank 0 on the first HOST, writing its -o directory
# under $EMO_SHARED_TMP), which must be `mpirun -np 2` on this machine to the bit, and a
# rank killed there must end the job with an error, no hang, no rank left running (the
# hosts need Open MPI's orted on their PATH).  Prints "N passed, N failed".
#
# One machine can stand in for several: sshd on a loopback port and one user per "host",
# each an alias in ~/.ssh/config (the commands are in pipelines/README.md).
set -euo pipefail   # every step must work; the checks below report, they do not exit
cd "$(dirname "$0")/../.."
hosts=${1:-${EMO_HOSTS:-w1,w2}}
P=$PWD/pipelines
S=$(cd "${SHARED:-../shared}/data" && pwd)
V=$S/bert-base-uncased/vocab.txt
C=$S/emotion/train.txt
PATH=$PWD/bin:$PATH
pass=0 fail=0
ok() { echo "ok $*"; pass=$((pass + 1)); }
bad() { echo "not ok $*"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
nonempty() { [ "$(emo dump "$1" | wc -l)" -gt 0 ]; }
home_clean() {   # no file left under any login's home, other than dot files
    local h
    for h in ${hosts//,/ }; do
        [ -z "$(ssh -o BatchMode=yes "$h" 'find . -path ./.\* -prune -o -type f -print' 2>/dev/null)" ] || return 1
    done
}
for h in ${hosts//,/ }; do
    ssh -o BatchMode=yes "$h" 'command -v emo' > /dev/null ||
        { echo "ssh-hosts.sh: $h: no password-less login, or no emo on its PATH" >&2; exit 2; }
done
w=$(mktemp -d "${EMO_SHARED_TMP:-/tmp}/emo-ssh.XXXXXX")
chmod 755 "$w"
trap 'rm -rf "$w"' EXIT
cd "$w" || exit 1
head -3000 "$C" > corpus.txt

emo clean -q --format semicolon corpus.txt | emo tokenize --vocab "$V" > single.rec
nonempty single.rec
"$P/clean-tokenize-parallel.sh" -v "$V" -n 700 -S "$hosts" -o par.rec corpus.txt
check "clean-tokenize-parallel.sh -S $hosts: the single run's records" \
    diff <(emo dump single.rec) <(emo dump par.rec)
check "clean-tokenize-parallel.sh: nothing left on the hosts" home_clean

emo split -q --seed 1 -o split single.rec
emo teacher-train -q --train split/train.rec --val split/val.rec --config bert-tiny --epochs 1 \
    --threads 2 -o teacher
chmod -R a+rX teacher
"$P/shard.sh" -n 333 -o shards single.rec
emo teacher-logits -m teacher --threads 2 single.rec > preds1.rec
nonempty preds1.rec
"$P/teacher-logits-parallel.sh" -m "$w/teacher" -p preds2.rec -S "$hosts" shards/*.rec
check "teacher-logits-parallel.sh -p -S $hosts: the single run's predictions to the bit" \
    diff <(emo dump preds1.rec) <(emo dump preds2.rec)
mkdir cache1
emo teacher-logits -m teacher -o cache1 --threads 2 single.rec
"$P/teacher-logits-parallel.sh" -m "$w/teacher" -o cache2 -S "$hosts" shards/*.rec
ids=$(emo dump single.rec | jq -r .id | paste -sd,)
check "teacher-logits-parallel.sh -o -S $hosts: the single run's cache contents" \
    diff <(emo cache --get "$ids" --attn cache1 | emo dump) <(emo cache --get "$ids" --attn cache2 | emo dump)
check "teacher-logits-parallel.sh: nothing left on the hosts" home_clean

emo eval -m "$w/teacher" preds1.rec > report1.txt
"$P/eval-parallel.sh" -m "$w/teacher" -n 500 -S "$hosts" single.rec > report2.txt
check "eval-parallel.sh -S $hosts: the single run's report byte for byte" \
    eval '[ -s report1.txt ] && cmp report1.txt report2.txt'
check "eval-parallel.sh: nothing left on the hosts" home_clean

# MPI: 2 ranks on the logins, the first one rank 0 and so the writer of -o (a directory every
# login may write in: on one machine standing in for several, rank 0 is another user)
ro=
[ "$(id -u)" != 0 ] || ro=--allow-run-as-root
mkdir -m 1777 mpi
T=(teacher-train -q --train "$w/split/train.rec" --val "$w/split/val.rec" --config bert-tiny --vocab "$V"
    --batch 32 --threads 1 --seed 3)
timeout 600 mpirun $ro --oversubscribe -np 2 emo "${T[@]}" --epochs 1 -o mpi/here
st=0
timeout 600 "$P/mpi-train.sh" -n 2 -H "$hosts" -i split -m "$ro" "${T[@]}" --epochs 1 -o "$w/mpi/there" || st=$?
check "mpi-train.sh -H $hosts: exit 0 (got $st)" [ "$st" = 0 ]
check "mpi-train.sh -H $hosts: the checkpoint of mpirun -np 2 here, to the bit" \
    cmp mpi/here/model.safetensors mpi/there/model.safetensors
no_rank() {   # no emo or orted process of the logins' users left after 10 s (rank 0 stays
    local h i    # a zombie for a second or two after mpirun returns, until its orted ends)
    for i in $(seq 10); do
        for h in ${hosts//,/ }; do
            [ -z "$(ssh -o BatchMode=yes "$h" 'pgrep -u "$(id -u)" -a "^(emo|orted)"')" ] || { sleep 1; continue 2; }
        done
        return 0
    done
    return 1
}
# -g 10: a dead rank's survivor waits twice the SIGTERM-to-SIGKILL grace (mpi-train.sh)
SECONDS=0 st=0
EMO_TEST_KILL_AT_STEP=10 EMO_TEST_KILL_RANK=1 timeout 300 "$P/mpi-train.sh" -n 2 -g 10 -H "$hosts" -m "$ro" \
    "${T[@]}" --epochs 50 -o "$w/mpi/killed" 2> mpi/killed.err || st=$?
check "mpi-train.sh -g 10 -H $hosts: a rank killed there ends the job with an error (exit $st) in $SECONDS s" \
    eval '[ "$st" != 0 ] && [ "$st" != 124 ] && [ "$SECONDS" -lt 90 ] && grep -q "rank 1.*signal 9" mpi/killed.err'
check "mpi-train.sh: no rank left running on the hosts" no_rank
check "mpi-train.sh: nothing left on the hosts" home_clean
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
