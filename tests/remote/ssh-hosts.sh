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
# checks that no file stays in the logins' home directories.  Prints "N passed, N failed".
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
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
