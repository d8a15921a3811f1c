#!/usr/bin/env bash
# bench/experiments/distill-recipe.sh [WORK]: issue 13's acceptance run.  Does distillation pay: a
# student at most a quarter of the teacher's inference cost and a fifth of its float
# checkpoint size, against the same student on the labels alone, and what each lever gives.
#
#   1. pipelines/paper.sh up to the cache: the shared corpus split 70/15/15 (seed 42), a
#      bert-mini teacher pretrained for P_EPOCHS masked-LM epochs on the 46,733 unlabelled
#      tweets plus the training split, fine-tuned T_EPOCHS epochs (focal loss, lr 1e-4), its
#      soft targets and u8 attention maps over the training split and the unlabelled tweets.
#   2. the student: ALBERT-style (one shared layer run twice, H 128, 2 heads, embeddings
#      factorised to E 64), its vocabulary trimmed to the tokens of the training split and
#      the unlabelled tweets (emo ckpt trim-vocab: the same token ids for every one of them,
#      so the teacher's cache serves it unchanged); records re-tokenized with that
#      vocabulary.
#   3. students, S_EPOCHS epochs each, seed 42, everything else at the tools' defaults:
#        recipe        KD + focal + attention at student-distill's defaults, over train + unlabelled
#        recipe-long   the recipe for twice S_EPOCHS epochs
#        labels-only   focal loss on the training split alone (no teacher), same epochs
#        labels-only-steps  the same with as many optimizer steps as the recipe takes over
#                      train + unlabelled (S_EPOCHS x 59,333 / 12,600 epochs, rounded up):
#                      the same compute, early-stopped on validation like the rest
#        no-unlabeled  the recipe over the training split alone
#        no-attn       the recipe without the attention term
#        full-vocab    the recipe in bert-base-uncased's 30,522-token vocabulary
#        ensemble      the recipe with soft targets averaged over N_TEACHERS teachers (the
#                      teacher and N_TEACHERS-1 more fine-tuned from the same masked-LM
#                      model with seeds 43, 44, ...; emo cache merge: probabilities averaged
#                      at T=1); the ensemble's own test accuracy is reported
#        mlm-init      the recipe from the student's own masked-LM pretraining (S_P_EPOCHS
#                      epochs of emo pretrain over the distillation texts, in its trimmed
#                      vocabulary) instead of random weights; fine-tuned at MLM_INIT_LR
#   4. every model on the held-out test split (emo teacher-logits | emo eval --json),
#      inference samples/s (median of 3 runs of emo teacher-logits over the test split,
#      one thread, same run), checkpoint size on disk, parameters.
# Writes WORK/results.jsonl (one line a model) and prints the table.  STUDENTS="recipe
# labels-only" trains only those (a later run with the default trains the rest); EVAL=0
# skips step 4, so that two runs with different STUDENTS can train side by side.
# WORK/paper may be a copy of a `make demo` run's work/demo with the same knobs
# (P_EPOCHS=1 T_EPOCHS=3) and tools: its stages are then up to date.  Every step is
# skipped when its output exists (a rerun continues).  Model selection is on the
# validation split only; the test split is read by step 4 alone.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$here/bin:$PATH"
W=${1:-work/distill-recipe}
P_EPOCHS=${P_EPOCHS:-2}
T_EPOCHS=${T_EPOCHS:-5}
S_EPOCHS=${S_EPOCHS:-5}
THREADS=${THREADS:-2}
# the students to train (a rerun adds the others): all five by default
STUDENTS=${STUDENTS:-recipe recipe-long labels-only labels-only-steps no-unlabeled no-attn full-vocab ensemble mlm-init}
EVAL=${EVAL:-1}
N_TEACHERS=${N_TEACHERS:-3}
S_P_EPOCHS=${S_P_EPOCHS:-1}
MLM_INIT_LR=${MLM_INIT_LR:-5e-4}
mkdir -p "$W"
W=$(cd "$W" && pwd)
log() { printf '%s distill-recipe: %s\n' "$(date +%T)" "$*" >&2; }

# 1. data, pretraining, teacher, cache (paper.sh's stages, make-style)
if [ ! -s "$W/paper/.stamps/cache" ]; then
    log "paper.sh up to the cache"
    # P_STEPS= : whole masked-LM epochs (paper.sh caps them at 500 steps for make demo);
    # T_OPTS: the fine-tuning lr of bench/results/pretrain-accuracy (paper.sh's default is 3e-4)
    TEACHER=bert-mini PRETRAIN=1 P_EPOCHS=$P_EPOCHS P_STEPS= T_OPTS="--lr 1e-4" T_EPOCHS=$T_EPOCHS DISTILL_UNLABELED=1 \
        ATTN_CODEC=u8 THREADS=$THREADS UNTIL=cache "$here/pipelines/paper.sh" "$W/paper"
fi
P=$W/paper
labels=$(jq -r '[.id2label | to_entries | sort_by(.key | tonumber)[] | .value] | join(",")' "$P/teacher/config.json")

# 2. the student's shape and vocabulary
cat > "$W/albert-e64.json" <<'EOF'
{
  "architectures": ["AlbertForSequenceClassification"], "model_type": "albert",
  "attention_probs_dropout_prob": 0.1, "classifier_dropout_prob": 0.1, "embedding_size": 64,
  "hidden_act": "gelu_new", "hidden_dropout_prob": 0.1, "hidden_size": 128, "inner_group_num": 1,
  "intermediate_size": 512, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
  "num_attention_heads": 2, "num_hidden_groups": 1, "num_hidden_layers": 2, "pad_token_id": 0,
  "type_vocab_size": 2, "vocab_size": 30522
}
EOF
V=${VOCAB:-$here/../shared/data/bert-base-uncased/vocab.txt}
if [ ! -e "$W/init-full/config.json" ]; then
    emo ckpt init --labels "$labels" --vocab "$V" --seed 42 -o "$W/init-full" "$W/albert-e64.json"
fi
if [ ! -e "$W/init-trim/config.json" ]; then
    emo ckpt trim-vocab -m "$W/init-full" --corpus "$P/distill.rec" -o "$W/init-trim"
fi
for s in distill train val test; do
    src=$P/split/$s.rec
    [ "$s" = distill ] && src=$P/distill.rec
    [ -s "$W/trim-$s.rec" ] || emo tokenize --vocab "$W/init-trim/vocab.txt" -o "$W/trim-$s.rec" "$src"
done

# 3. the students
student() {   # student NAME INIT TRAIN VAL FLAGS...
    local name=$1 init=$2 train=$3 val=$4
    shift 4
    [ -e "$W/$name/config.json" ] && return 0
    case " $STUDENTS " in *" $name "*) ;; *) return 0 ;; esac
    log "student $name"
    emo student-distill --train "$train" --val "$val" --init "$init" --epochs "$S_EPOCHS" --seed 42 \
        --threads "$THREADS" -q "$@" -o "$W/$name"
}
student recipe "$W/init-trim" "$W/trim-distill.rec" "$W/trim-val.rec" --teacher-cache "$P/cache"
S_EPOCHS=$((2 * S_EPOCHS)) student recipe-long "$W/init-trim" "$W/trim-distill.rec" "$W/trim-val.rec" \
    --teacher-cache "$P/cache"
student labels-only "$W/init-trim" "$W/trim-train.rec" "$W/trim-val.rec" --alpha 0 --attn-loss none
n_distill=$(emo dump "$W/trim-distill.rec" | wc -l) n_train=$(emo dump "$W/trim-train.rec" | wc -l)
S_EPOCHS_SAME=$(( (S_EPOCHS * n_distill + n_train - 1) / n_train ))
S_EPOCHS=$S_EPOCHS_SAME student labels-only-steps "$W/init-trim" "$W/trim-train.rec" "$W/trim-val.rec" \
    --alpha 0 --attn-loss none
student no-unlabeled "$W/init-trim" "$W/trim-train.rec" "$W/trim-val.rec" --teacher-cache "$P/cache"
student no-attn "$W/init-trim" "$W/trim-distill.rec" "$W/trim-val.rec" --teacher-cache "$P/cache" --attn-loss none
student full-vocab "$W/init-full" "$P/distill.rec" "$P/split/val.rec" --teacher-cache "$P/cache"

wants() { case " $STUDENTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# the ensemble: more teachers from the same masked-LM model, their caches merged
if wants ensemble && [ ! -e "$W/ensemble/config.json" ]; then
    caches=("$P/cache")
    for ((k = 1; k < N_TEACHERS; k++)); do
        t=$W/teacher-s$((42 + k))
        if [ ! -e "$t/config.json" ]; then
            log "teacher seed $((42 + k))"
            emo teacher-train --train "$P/split/train.rec" --val "$P/split/val.rec" --init "$P/pretrain" \
                --lr 1e-4 --epochs "$T_EPOCHS" --seed $((42 + k)) --threads "$THREADS" -q -o "$t"
        fi
        if [ ! -e "$t.cache.done" ]; then
            rm -rf "$t.cache" && mkdir -p "$t.cache"
            emo teacher-logits -m "$t" -o "$t.cache" --attn-codec u8 --threads "$THREADS" \
                "$P/split/train.rec" "$P/unlabeled.rec"
            touch "$t.cache.done"
        fi
        caches+=("$t.cache")
    done
    [ -e "$W/ensemble.cache.done" ] || {
        rm -rf "$W/ensemble.cache"
        emo cache merge -o "$W/ensemble.cache" "${caches[@]}"
        touch "$W/ensemble.cache.done"
    }
fi
student ensemble "$W/init-trim" "$W/trim-distill.rec" "$W/trim-val.rec" --teacher-cache "$W/ensemble.cache"
# the student's own masked-LM pretraining, in its trimmed vocabulary
if wants mlm-init && [ ! -e "$W/mlm-init/config.json" ] && [ ! -e "$W/student-mlm/config.json" ]; then
    log "student masked-LM pretraining"
    emo pretrain --train "$W/trim-distill.rec" --init "$W/init-trim" --epochs "$S_P_EPOCHS" --seed 42 \
        --threads "$THREADS" -q -o "$W/student-mlm"
fi
student mlm-init "$W/student-mlm" "$W/trim-distill.rec" "$W/trim-val.rec" --teacher-cache "$P/cache" \
    --lr "$MLM_INIT_LR"
[ "$EVAL" = 1 ] || exit 0

# 4. the test split: accuracy, speed, size
: > "$W/results.jsonl.tmp"
# the ensemble's own accuracy: its merged logits joined to the test split's records
if [ -e "$W/ensemble.cache.done" ] && [ ! -s "$W/ensemble-teacher.test.json" ]; then
    tcaches=()
    for ((k = 0; k < N_TEACHERS; k++)); do
        t=$P/teacher
        [ "$k" = 0 ] || t=$W/teacher-s$((42 + k))
        rm -rf "$W/test-cache-$k" && mkdir -p "$W/test-cache-$k"
        emo teacher-logits -m "$t" -o "$W/test-cache-$k" --attn-layers none --threads "$THREADS" "$P/split/test.rec"
        tcaches+=("$W/test-cache-$k")
    done
    rm -rf "$W/test-ensemble"
    emo cache merge -o "$W/test-ensemble" "${tcaches[@]}"
    emo cache --join "$P/split/test.rec" "$W/test-ensemble" | emo eval --json > "$W/ensemble-teacher.test.json"
fi
for m in teacher recipe recipe-long labels-only labels-only-steps no-unlabeled no-attn full-vocab ensemble mlm-init; do
    dir=$W/$m test=$W/trim-test.rec
    case $m in teacher) dir=$P/teacher test=$P/split/test.rec ;; full-vocab) test=$P/split/test.rec ;; esac
    [ -e "$dir/config.json" ] || continue
    emo teacher-logits -m "$dir" --threads 1 "$test" | emo eval --json > "$W/$m.test.json"
    times=()
    for _ in 1 2 3; do
        s=$(date +%s.%N)
        emo teacher-logits -m "$dir" --threads 1 "$test" > /dev/null
        times+=("$(echo "$(date +%s.%N) - $s" | bc)")
    done
    sec=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 2p)
    jq -c -n --arg m "$m" --slurpfile ev "$W/$m.test.json" --argjson info "$(emo ckpt info "$dir")" \
        --argjson bytes "$(wc -c < "$dir/model.safetensors")" --argjson sec "$sec" \
        '{model: $m, accuracy: $ev[0].accuracy, f1_weighted: $ev[0].weighted_avg.f1, params: $info.params,
          vocab_size: $info.vocab_size, bytes: $bytes, samples_per_s: ($ev[0].n / $sec)}' >> "$W/results.jsonl.tmp"
done
mv "$W/results.jsonl.tmp" "$W/results.jsonl"
jq -r -s '.[0] as $t | "| model | test accuracy | vs teacher (points) | F1 (w) | parameters | vocab | size MB | share of teacher size | samples/s (1 thread) | cost share |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    (.[] | "| \(.model) | \(.accuracy * 10000 | round / 10000) | \((.accuracy - $t.accuracy) * 10000 | round / 100) | \(.f1_weighted * 10000 | round / 10000) | \(.params) | \(.vocab_size) | \(.bytes / 1e6 * 10 | round / 10) | \(.bytes / $t.bytes * 1000 | round / 1000) | \(.samples_per_s | round) | \($t.samples_per_s / .samples_per_s * 1000 | round / 1000) |")' \
    "$W/results.jsonl"
if [ -s "$W/ensemble-teacher.test.json" ]; then
    jq -r --argjson n "$N_TEACHERS" '"ensemble of \($n) teachers (the soft targets of the ensemble student): test accuracy \(.accuracy * 10000 | round / 10000), F1 (w) \(.weighted_avg.f1 * 10000 | round / 10000)"' \
        "$W/ensemble-teacher.test.json"
fi
