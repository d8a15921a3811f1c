#!/bin/sh
# teacher-logits-parallel.sh: emo teacher-logits over several record files (shards) with GNU
# parallel, one job per file, on local job slots (-j) or other machines (-S / -s).
#
#   teacher-logits-parallel.sh -m CKPT (-o CACHE | -p PREDS) [-j JOBS] [-S HOST,... | -s SSHLOGINFILE]
#                              [-t THREADS] [-a 'TEACHER-LOGITS OPTIONS'] FILE...
#
# -o CACHE: one teacher cache (emo-cache(5)).  Each job writes its own part (prefix = the
# file's base name); readers merge the parts' indexes when they open the directory, so there
# is no merge step.  A rerun redoes only the files whose part is missing.
# -p PREDS: plain mode, the records with their logits (and with -a --embeddings, their
# embeddings), every file's in the order of the arguments, into the file PREDS (written
# whole, then renamed) or standard output (-p -): the input of emo eval, confusion, tsne.
# A record's logits, embedding and attention maps do not depend on the batch it shares in
# teacher-logits, nor on --threads, so any sharding gives a single run's results to the bit.
#
# Split the input by records, not by bytes: pipelines/shard.sh, `emo split`, or one file per
# input chunk.  With -S or -s, `emo` must be on the machines' PATH and the checkpoint
# directory at the same path on every machine (a shared file system, or copy it first);
# each shard is copied there (--transferfile), its output copied back (--return) and both
# removed (--cleanup); GNU parallel uses ssh and rsync ($PARALLEL_SSH replaces ssh).
# An empty file, TAG/keep, is copied to each machine first (--basefile) and removed last:
# --cleanup also removes a job's emptied directories, and without it TAG/ could vanish while
# another job on the same machine copies its shard into it.
# A failed job stops the run (--halt now,fail=1) and leaves no part and no PREDS.
set -eu
# this tree's tools first (remote jobs use the machines' PATH)
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
[ ! -x "$bin/emo" ] || PATH="$bin:$PATH"
me=teacher-logits-parallel.sh
usage() { echo "usage: $me -m CKPT (-o CACHE | -p PREDS) [-j JOBS] [-S HOST,... | -s SSHLOGINFILE] [-t THREADS] [-a OPTIONS] FILE..." >&2; exit 2; }
ckpt= out= preds= jobs= hosts= loginfile= threads=1 extra=
while getopts a:m:o:p:j:S:s:t:h opt; do
    case $opt in
    a) extra=$OPTARG ;;
    m) ckpt=$OPTARG ;;
    o) out=$OPTARG ;;
    p) preds=$OPTARG ;;
    j) jobs=$OPTARG ;;
    S) hosts=$OPTARG ;;
    s) loginfile=$OPTARG ;;
    t) threads=$OPTARG ;;
    h) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
case $loginfile in ''|/*) ;; *) loginfile=$PWD/$loginfile ;; esac   # the jobs start elsewhere
[ -n "$ckpt" ] && [ $# -gt 0 ] || usage
case "${out:+o}${preds:+p}" in o|p) ;; *) usage ;; esac   # exactly one of -o, -p
[ "$preds" != - ] || [ ! -t 1 ] || { echo "$me: records are binary: redirect stdout" >&2; exit 2; }
[ -d "$ckpt" ] || { echo "$me: $ckpt: not a checkpoint directory" >&2; exit 1; }
case $ckpt in /*) ;; *) ckpt=$(cd "$ckpt" && pwd) ;; esac
for f in "$@"; do
    [ -r "$f" ] || { echo "$me: $f: cannot read" >&2; exit 1; }
done
part_of() { basename "$1" | sed 's/\.[^.]*$//; s/[^A-Za-z0-9_.-]/_/g'; }

# The jobs see their shard as TAG/NAME.rec under a scratch directory (a link to the file), by
# a relative path: on another machine it lands in TAG/ under the login's home.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/emo-tl.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM
tag=$(basename "$scratch")
for f in "$@"; do
    p=$(part_of "$f")
    [ ! -e "$scratch/$p.rec" ] || { echo "$me: $f: two inputs named $p" >&2; exit 1; }
    case $f in /*) ln -s "$f" "$scratch/$p.rec" ;; *) ln -s "$PWD/$f" "$scratch/$p.rec" ;; esac
    if [ -n "$out" ] && [ -e "$out/$p.manifest.json" ]; then continue; fi   # part done
    echo "$tag/$p.rec" >> "$scratch/todo"
done
if [ -n "$out" ]; then
    mkdir -p "$out"
    case $out in /*) ;; *) out=$(cd "$out" && pwd) ;; esac
    [ -s "$scratch/todo" ] || { echo "$me: every part is already in $out" >&2; exit 0; }
fi

remote=
[ -z "$hosts$loginfile" ] || remote=1
: > "$scratch/keep"
cd "$scratch/.."
# The shards are links under TAG/: rsync must copy what they point to (-L), not the links
# (parallel's default -rlDzR would send links to paths that exist only here)
rsync_opts=-rLDzR
if [ -n "$out" ] && [ -z "$remote" ]; then
    parallel --halt now,fail=1 ${jobs:+-j "$jobs"} \
        "emo teacher-logits -m '$ckpt' -o '$out' --prefix {/.} --threads $threads $extra {}" :::: "$tag/todo"
elif [ -n "$out" ]; then
    # each part is written into {.}.part in the job's home and comes back as one tar file
    PARALLEL_RSYNC_OPTS=$rsync_opts \
    parallel --halt now,fail=1 ${jobs:+-j "$jobs"} ${hosts:+-S "$hosts"} ${loginfile:+--sshloginfile "$loginfile"} \
        --basefile "$tag/keep" --transferfile {} --return {.}.tar --cleanup \
        "mkdir -p {.}.part && emo teacher-logits -m '$ckpt' -o {.}.part --prefix {/.} --threads $threads $extra {} &&
         tar -C {.}.part -cf {.}.tar . && rm -rf {.}.part || { rm -rf {.}.part {.}.tar; exit 1; }" :::: "$tag/todo"
    # unpacked beside the cache, the manifest (what readers look for) moved in last
    while read -r f; do
        p=$(basename "$f" .rec)
        rm -rf "$out/.$p.tmp"
        mkdir "$out/.$p.tmp"
        tar -C "$out/.$p.tmp" -xf "${f%.rec}.tar"
        for x in "$out/.$p.tmp"/*; do
            case $x in *.manifest.json) ;; *) mv "$x" "$out"/ ;; esac
        done
        mv "$out/.$p.tmp"/*.manifest.json "$out"/
        rmdir "$out/.$p.tmp"
    done < "$tag/todo"
else
    cmd="emo teacher-logits -m '$ckpt' --threads $threads $extra {} > {.}.logits"
    if [ -z "$remote" ]; then
        parallel --halt now,fail=1 ${jobs:+-j "$jobs"} "$cmd" :::: "$tag/todo"
    else
        PARALLEL_RSYNC_OPTS=$rsync_opts \
        parallel --halt now,fail=1 ${jobs:+-j "$jobs"} ${hosts:+-S "$hosts"} ${loginfile:+--sshloginfile "$loginfile"} \
            --basefile "$tag/keep" --transferfile {} --return {.}.logits --cleanup "$cmd || { rm -f {.}.logits; exit 1; }" :::: "$tag/todo"
    fi
    set --
    while read -r f; do
        [ -s "${f%.rec}.logits" ] || { echo "$me: $f: no records came back" >&2; exit 1; }
        set -- "$@" "$scratch/$(basename "$f" .rec).logits"
    done < "$tag/todo"
    cd - > /dev/null
    if [ "$preds" = - ]; then
        cat "$@"
    else   # beside PREDS, then renamed: PREDS appears complete or not at all
        tmpo=$(mktemp "$(dirname "$preds")/.$(basename "$preds").XXXXXX")
        trap 'rm -rf "$scratch" "$tmpo"' EXIT
        cat "$@" > "$tmpo"
        chmod "$(printf '%03o' $((0666 & ~$(umask))))" "$tmpo"
        mv "$tmpo" "$preds"
    fi
fi
