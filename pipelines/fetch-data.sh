#!/bin/sh
# fetch-data.sh [DIR]: download the public dair-ai emotion corpus (Saravia et al. 2018; the
# `text;label` files train.txt, val.txt, test.txt: 16,000 + 2,000 + 2,000 tweets, 6 labels)
# into DIR (default data/emotion) and check each file's sha256 against data/emotion.sha256.
# Every file is downloaded into a temporary directory beside DIR and checked before any is
# moved in, so a failed download or a checksum mismatch leaves DIR as it was.  Files already
# in DIR with the right checksum are not downloaded again.
#
# Environment: EMOTION_URL  a base URL (or an absolute directory) holding the three files,
#                           instead of the dataset's original Dropbox links (a mirror);
#              EMOTION_SHA256  the checksum list (default data/emotion.sha256).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-data/emotion}
sums=${EMOTION_SHA256:-$here/data/emotion.sha256}
me=fetch-data.sh
[ $# -le 1 ] || { echo "usage: $me [DIR]" >&2; exit 2; }
[ -r "$sums" ] || { echo "$me: $sums: cannot read" >&2; exit 1; }
command -v curl > /dev/null || { echo "$me: curl not found (apt-get install curl)" >&2; exit 1; }

url_of() {   # the original links of the dataset (the Hugging Face loader used them)
    if [ -n "${EMOTION_URL:-}" ]; then
        case $EMOTION_URL in /*) echo "file://${EMOTION_URL%/}/$1" ;; *) echo "${EMOTION_URL%/}/$1" ;; esac
        return
    fi
    case $1 in
    train.txt) echo "https://www.dropbox.com/s/1pzkadrvffbqw6o/train.txt?dl=1" ;;
    val.txt)   echo "https://www.dropbox.com/s/2mzialpsgf9k5l3/val.txt?dl=1" ;;
    test.txt)  echo "https://www.dropbox.com/s/ikkqxfdbdec3fuj/test.txt?dl=1" ;;
    *) echo "$me: $1: no known URL (set EMOTION_URL)" >&2; return 1 ;;
    esac
}
sha() { sha256sum < "$1" | cut -d' ' -f1; }

mkdir -p "$(dirname "$dir")"
tmp=$(mktemp -d "${dir%/}.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
todo=
while read -r want name; do
    [ -n "$name" ] || continue
    if [ -f "$dir/$name" ] && [ "$(sha "$dir/$name")" = "$want" ]; then
        echo "$me: $dir/$name: up to date" >&2
        continue
    fi
    u=$(url_of "$name")
    echo "$me: $u -> $dir/$name" >&2
    curl -fsSL --retry 2 -o "$tmp/$name" "$u" || { echo "$me: $u: download failed" >&2; exit 1; }
    got=$(sha "$tmp/$name")
    if [ "$got" != "$want" ]; then
        echo "$me: $u: sha256 $got, expected $want" >&2
        exit 1
    fi
    todo="$todo $name"
done < "$sums"
# every file checked: move them in (one rename each)
mkdir -p "$dir"
for name in $todo; do mv -f "$tmp/$name" "$dir/$name"; done
echo "$me: $dir: $(wc -l < "$sums") files, sha256 ok" >&2
