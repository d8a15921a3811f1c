#!/usr/bin/env bash
# results.sh OUT MODEL...: the results folder of a pipelines/paper.sh run, OUT/results/,
# regenerated from the run's files (no number is typed in):
#   RESULTS.md     teacher vs students (accuracy, weighted P/R/F1, parameters, size on disk,
#                  inference speed, epochs, distillation settings), with INT8=1 the students'
#                  int8 copies beside them (accuracy, argmax agreement, size, speed), per-class F1 and its delta
#                  vs the teacher, the most confused pairs, error rate by length, t-SNE
#                  cluster statistics, and the figures
#   NAME.report.txt, NAME.confusion.txt, teacher.tsne.stats   the tools' text reports
#   figures/       NAME.{confusion,pr-curves,length-error}.svg, teacher.tsne.svg
#   logs/          NAME.train_log.jsonl (and pretrain.train_log.jsonl with PRETRAINED=1)
# MODEL is a checkpoint directory relative to OUT (teacher, students/NAME); the first is the
# teacher.  Reads OUT/eval/NAME.{json,time,report.txt,confusion.txt,confusion.svg,figures/}
# written by paper.sh's eval stage, and with INT8=1 (environment) a student's int8 copy
# OUT/MODEL.int8 and OUT/eval/NAME.int8.{json,time,preds.rec,report.txt} (the same stage).
# SETTINGS (environment) is quoted in RESULTS.md.
# The folder is built beside OUT/results and renamed into place: it is complete or absent.
# Models whose name contains ".abl-" (ablations) appear in the first table only.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: results.sh OUT TEACHER_DIR STUDENT_DIR..." >&2; exit 2; }
out=$1
shift
teacher_dir=$1
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$here/bin:$PATH"
tmp=$(mktemp -d "$out/results.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/figures" "$tmp/logs"

# one summary object per model, one a line
for m in "$@"; do
    name=$(basename "$m")
    e="$out/eval/$name"
    for f in "$e.json" "$e.time" "$out/$m/config.json"; do
        [ -r "$f" ] || { echo "results.sh: $f: not found (has the eval stage run?)" >&2; exit 1; }
    done
    params=$(emo ckpt info "$out/$m" | jq .params)
    bytes=$(cat "$out/$m"/*.safetensors | wc -c)
    seconds=$(awk '{ printf "%.6f", $2 - $1 }' "$e.time")
    state="$out/$m/last/trainer_state.json"
    [ -r "$state" ] || state=/dev/null
    log="$out/$m/train_log.jsonl"
    [ -r "$log" ] || log=/dev/null
    int8=null
    if [ "${INT8:-0}" = 1 ] && [ "$m" != "$teacher_dir" ] && [[ $name != *.abl-* ]]; then
        for f in "$e.int8.json" "$e.int8.time" "$e.int8.preds.rec" "$e.preds.rec" "$out/$m.int8/config.json"; do
            [ -r "$f" ] || { echo "results.sh: $f: not found (has the eval stage run with INT8=1?)" >&2; exit 1; }
        done
        # the share of test records whose int8 argmax is the float one's
        agree=$(paste <(emo dump "$e.preds.rec" | jq -c '[.id, (.logits | index(max))]') \
                      <(emo dump "$e.int8.preds.rec" | jq -c '[.id, (.logits | index(max))]') |
                awk -F'\t' '$1 == $2 { k++ } END { printf "%.6f", NR ? k / NR : 0 }')
        int8=$(jq -c -n --argjson bytes "$(cat "$out/$m.int8"/*.safetensors | wc -c)" \
            --argjson seconds "$(awk '{ printf "%.6f", $2 - $1 }' "$e.int8.time")" --argjson agree "$agree" \
            --slurpfile ev "$e.int8.json" '{ bytes: $bytes, seconds: $seconds, agree: $agree, ev: $ev[0] }')
        cp "$e.int8.report.txt" "$tmp/$name.int8.report.txt"
    fi
    jq -c -n --arg name "$name" --argjson params "$params" --argjson bytes "$bytes" \
        --argjson seconds "$seconds" --slurpfile ev "$e.json" --slurpfile cfg "$out/$m/config.json" \
        --slurpfile st "$state" --slurpfile log "$log" --argjson int8 "$int8" '
        ($log | map(select(has("val_accuracy")))) as $epochs
        | { name: $name, type: $cfg[0].model_type, params: $params, bytes: $bytes, seconds: $seconds,
            ev: $ev[0], run: ($st[0].run // {}), epochs: ($epochs | length),
            best_val: ([$epochs[].val_accuracy] | max), int8: $int8 }'
    cp "$e.report.txt" "$tmp/$name.report.txt"
    cp "$e.confusion.txt" "$tmp/$name.confusion.txt"
    [ -r "$out/$m/train_log.jsonl" ] && cp "$out/$m/train_log.jsonl" "$tmp/logs/$name.train_log.jsonl"
    case $name in *.abl-*) continue ;; esac
    cp "$e.confusion.svg" "$tmp/figures/$name.confusion.svg"
    for f in pr-curves length-error; do cp "$e.figures/$f.svg" "$tmp/figures/$name.$f.svg"; done
done > "$tmp/models.jsonl"
if [ -r "$out/eval/teacher.tsne.svg" ]; then
    cp "$out/eval/teacher.tsne.svg" "$tmp/figures/"
    cp "$out/eval/teacher.tsne.stats" "$tmp/"
fi

jq -r -s --arg settings "${SETTINGS:-}" '
def f4: . * 10000 | round / 10000 | tostring | if test("\\.") then . + "0000" | .[0:(index(".") + 5)] else . + ".0000" end;
def f2: . * 100 | round / 100 | tostring | if test("\\.") then . + "00" | .[0:(index(".") + 3)] else . + ".00" end;
def pts: (. * 10000 | round / 100) as $p | (if $p > 0 then "+" else "" end) + ($p | f2);
def mb: . / 1e6 * 10 | round / 10 | tostring | if test("\\.") then . else . + ".0" end;
def mb2: . / 1e6 | f2;
def thousands: if . >= 1000 then "\((. / 1000 | floor) | thousands),\(. % 1000 | tostring | ("00" + .)[-3:])" else tostring end;
def opt: if . == null then "" else tostring end;
.[0] as $t | (map(select(.name | test("\\.abl-") | not))) as $main
| ($t.ev.classes) as $classes
| "# Results: \(length) models on the held-out test split (\($t.ev.n) records)\n",
  "Made by `pipelines/paper.sh` (\($settings)); rerun it to reproduce: every number below is read from that run'"'"'s files by `pipelines/results.sh`.",
  "Inference samples/s: test records over the wall time of `emo teacher-logits` on the test split, start-up and I/O included.\n",
  "## Teacher vs students\n",
  "| model | type | parameters | size MB | size vs teacher | accuracy | vs teacher (points) | precision (w) | recall (w) | F1 (w) | infer samples/s | speed vs teacher | epochs | best val acc | alpha | T | label loss | attn loss |",
  "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
  (.[] | . as $m | .ev.weighted_avg as $w
   | "| \(.name) | \(.type) | \(.params | thousands) | \(.bytes | mb) | \(.bytes / $t.bytes | f2) | \(.ev.accuracy | f4) | \(if .name == $t.name then "" else (.ev.accuracy - $t.ev.accuracy | pts) end) | \($w.precision | f4) | \($w.recall | f4) | \($w.f1 | f4) | \(.ev.n / .seconds | round) | \(($t.seconds / .seconds) | f2)x | \(.epochs) | \(.best_val | if . == null then "" else f4 end) | \(.run.alpha | opt) | \(.run.temperature | opt) | \(.run.loss | opt) | \(.run.attn_loss | opt) |"),
  (if any($main[]; .int8 != null) then
    "\n## int8 students (`emo ckpt quantize`)\n",
    "Each student as an int8 checkpoint: int8 linear layers (activations quantised per token at run time) and int8 embedding tables, one scale per output channel or row (emo-checkpoint(5)); the same test split, samples/s measured as above.\n",
    "| model | accuracy | int8 accuracy | int8 vs float (points) | argmax agreement | size MB | int8 size MB | int8 size vs float | infer samples/s | int8 samples/s | int8 speed vs float |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ($main[] | select(.int8 != null) | .int8 as $q
     | "| \(.name) | \(.ev.accuracy | f4) | \($q.ev.accuracy | f4) | \($q.ev.accuracy - .ev.accuracy | pts) | \($q.agree | f4) | \(.bytes | mb2) | \($q.bytes | mb2) | \($q.bytes / .bytes | f2) | \(.ev.n / .seconds | round) | \($q.ev.n / $q.seconds | round) | \((.seconds / $q.seconds) | f2)x |")
   else empty end),
  "\n## Per-class F1, and the change against the teacher (points)\n",
  "| class | support | \($main | map(.name) | join(" | ")) |",
  "|---|--:|\($main | map("--:") | join("|"))|",
  ($classes | to_entries[] | .key as $i | .value as $c
   | "| \($c) | \($t.ev.per_class[$i].support) | \($main | map(.ev.per_class[$i].f1 as $f
        | if .name == $t.name then ($f | f4) else "\($f | f4) (\($f - $t.ev.per_class[$i].f1 | pts))" end) | join(" | ")) |"),
  "| weighted | \($t.ev.n) | \($main | map(.ev.weighted_avg.f1 as $f
        | if .name == $t.name then ($f | f4) else "\($f | f4) (\($f - $t.ev.weighted_avg.f1 | pts))" end) | join(" | ")) |",
  "\n## Most confused pairs (true -> predicted: count, share of the true class)\n",
  "| rank | \($main | map(.name) | join(" | ")) |",
  "|--:|\($main | map("---") | join("|"))|",
  ($main | map([.ev.confusion | to_entries[] | .key as $i | .value | to_entries[]
               | select(.key != $i and .value > 0)
               | {t: $i, p: .key, n: .value}] | sort_by(-.n, .t, .p)) as $pairs
   | range(0; 5) as $r
   | "| \($r + 1) | \([range(0; $main | length) as $k | $pairs[$k][$r] as $x | $main[$k] as $m
        | if $x == null then "" else
            "\($classes[$x.t]) -> \($classes[$x.p]): \($x.n) (\($x.n / $m.ev.per_class[$x.t].support | f2))" end]
        | join(" | ")) |"),
  "\n(errors: \($main | map("\(.name) \(.ev.n - .ev.correct)") | join(", ")))",
  "\n## Error rate by length (tokens, [CLS] and [SEP] included)\n",
  "| length | records | \($main | map(.name) | join(" | ")) |",
  "|---|--:|\($main | map("--:") | join("|"))|",
  ($t.ev.length.buckets | to_entries[] | .key as $b | .value as $x
   | "| \($x.lo)\(if $x.hi == null then "+" elif $x.hi == $x.lo then "" else "-\($x.hi)" end) | \($x.count) | \($main | map(.ev.length.buckets[$b].error_rate | if . == null then "" else f4 end) | join(" | ")) |"),
  "\n## Figures\n",
  ($main[] | "- \(.name): [confusion](figures/\(.name).confusion.svg), [PR curves](figures/\(.name).pr-curves.svg), [length vs error](figures/\(.name).length-error.svg)"),
  "- teacher: [t-SNE of the test-split embeddings](figures/teacher.tsne.svg)"
' "$tmp/models.jsonl" > "$tmp/RESULTS.md"
if [ -r "$out/eval/baselines.jsonl" ]; then
    # paper.sh's baselines stage: what a model with no transformer gets on the same split
    jq -r -s --slurpfile m "$tmp/models.jsonl" '
        ($m[0].ev.accuracy) as $t
        | "\n## Baselines on the same test split\n",
          "| baseline | accuracy | vs teacher (points) | how |", "|---|--:|--:|---|",
          (.[] | "| \(.name) | \(.accuracy * 10000 | round / 10000) | \((.accuracy - $t) * 10000 | round / 100) | \(.note) |")' \
        "$out/eval/baselines.jsonl" >> "$tmp/RESULTS.md"
fi
if [ "${PRETRAINED:-0}" = 1 ] && [ -r "$out/pretrain/train_log.jsonl" ]; then
    # the teacher started from paper.sh's pretrain stage: what the masked-LM training reached
    cp "$out/pretrain/train_log.jsonl" "$tmp/logs/pretrain.train_log.jsonl"
    jq -r -s --slurpfile st "$out/pretrain/last/trainer_state.json" '
        map(select(has("val_loss"))) as $e | ($st[0].run // {}) as $r
        | "\n## Masked-LM pretraining of the teacher\n",
          "`emo pretrain` (\($r.config // "?")) on \([$r.files[]? | "\(.path | split("/") | last) (\(.records) records)"] | join(" + ")), \($e | length) epochs; the teacher was fine-tuned from it (`teacher-train --init`).\n",
          "| epoch | train loss | val MLM loss | masked-token accuracy |", "|--:|--:|--:|--:|",
          ($e[] | "| \(.epoch) | \(.train_loss * 10000 | round / 10000) | \(.val_loss * 10000 | round / 10000) | \(.val_accuracy * 10000 | round / 10000) |")' \
        "$out/pretrain/train_log.jsonl" >> "$tmp/RESULTS.md"
fi
if [ -r "$tmp/teacher.tsne.stats" ]; then
    # the TSV of emo tsne --stats: class n centroid_x centroid_y density silhouette d:CLASS...
    printf '\n## t-SNE of the teacher'"'"'s test-split embeddings: clusters (2-D)\n\n' >> "$tmp/RESULTS.md"
    awk -F'\t' 'NR == 1 { printf "| class | n | silhouette | density |"; for (i = 7; i <= NF; i++) printf " to %s |", substr($i, 3)
                         printf "\n|---|--:|--:|--:|"; for (i = 7; i <= NF; i++) printf "--:|"; print ""; next }
                 { printf "| %s | %d | %.4f | %.4f |", $1, $2, $6, $5; for (i = 7; i <= NF; i++) printf " %.3f |", $i; print "" }' \
        "$tmp/teacher.tsne.stats" >> "$tmp/RESULTS.md"
    printf '\n(centroid distances between classes; silhouette and density as emo-tsne(1) defines them)\n' >> "$tmp/RESULTS.md"
fi
rm "$tmp/models.jsonl"
chmod 755 "$tmp"
rm -rf "$out/results.old"
[ -e "$out/results" ] && mv "$out/results" "$out/results.old"
mv "$tmp" "$out/results"
rm -rf "$out/results.old"
trap - EXIT
