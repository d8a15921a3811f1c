#!/bin/sh
# Seeds of the cache fuzz target (fuzz_cache.c): real caches that emo teacher-logits makes
# from the fixture BERT for three records, packed as the target reads its input (a flags
# byte, then every file of the cache directory after a line "@@emo-fuzz@@ NAME").
#     tests/fuzz/make-cache-seeds.sh      (after make; writes tests/fuzz/corpus/cache/*.bin)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/tests/fuzz/corpus/cache
PATH=$root/bin:$PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
ln -s "$root/tests/fixtures/models/bert" bert    # the manifests name the teacher "bert"
printf '%s\n' '{"id":1,"input_ids":[101,23,26,15,20,102],"label":"joy"}' \
    '{"id":2,"input_ids":[101,45,102],"label":"anger"}' \
    '{"id":7,"input_ids":[101,57,21,65,61,102],"label":"fear"}' | emo pack -o a.rec
printf '%s\n' '{"id":9,"input_ids":[101,30,31,102],"label":"joy"}' | emo pack -o b.rec

# pack FLAGS_OCTAL DIR OUT: the flags byte, then each file of DIR
pack() {
    { printf "\\$1"; for f in "$2"/*; do printf '\n@@emo-fuzz@@ %s\n' "${f##*/}"; cat "$f"; done; } > "$3"
}
tl() { emo teacher-logits -m bert --threads 1 "$@"; }

tl -o f16 --attn-layers 0 a.rec
pack 000 f16 "$out/f16-layer0.bin"
tl -o u8 --attn-layers all --attn-codec u8 a.rec
pack 003 u8 "$out/u8-all-fix.bin"        # flags: fix sizes and checksums, 2 frames kept
tl -o none --attn-layers none a.rec
pack 001 none "$out/logits-only-fix.bin"
tl -o two --prefix p1 --attn-layers 0 a.rec
tl -o two --prefix p2 --attn-layers 0 b.rec
pack 001 two "$out/two-parts-fix.bin"
