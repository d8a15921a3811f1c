#!/usr/bin/env bats
# emo ckpt: info, init, convert on the PyTorch fixtures (tests/gen/torch_ref.py), bad input
# (one test per case, nothing partial left behind), the man pages' EXAMPLES.
load helpers

M="$FIXTURES/models"

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "ckpt: -h prints usage on stdout" {
    run --separate-stderr emo ckpt -h
    assert_success
    [[ "$output" == "usage: emo ckpt info"* ]]
}

@test "ckpt: no command, unknown command and missing -o are usage errors" {
    run --separate-stderr emo ckpt
    assert_failure 2
    run --separate-stderr emo ckpt frobnicate x
    assert_failure 2
    [[ "$stderr" == *"unknown command 'frobnicate'"* ]]
    run --separate-stderr emo ckpt init bert-tiny
    assert_failure 2
    [[ "$stderr" == *"-o DIR is required"* ]]
    run --separate-stderr emo ckpt init --new-head -o x bert-tiny
    assert_failure 2
}

@test "ckpt info: fixture checkpoint, config.json and preset" {
    run --separate-stderr emo ckpt info "$M/bert" "$M/albert/config.json" bert-tiny
    assert_success
    [ "${#lines[@]}" -eq 3 ]
    [[ "${lines[0]}" == *'"model_type":"bert"'*'"hidden_size":32'*'"num_labels":6'*'"labels":["sadness","joy","love","anger","fear","surprise"]'* ]]
    [[ "${lines[1]}" == *'"model_type":"albert"'*'"embedding_size":16'*'"hidden_act":"gelu_new"'* ]]
    [[ "${lines[2]}" == *'"num_hidden_layers":2'*'"layer_norm_eps":1e-12'*'"labels":["LABEL_0","LABEL_1"]'* ]]
}

@test "ckpt init: fresh checkpoint with labels, reproducible for a seed" {
    run --separate-stderr emo ckpt init --labels a,b,c --seed 3 --vocab "$M/bert/vocab.txt" -o one "$M/bert/config.json"
    assert_success
    assert_file_exists one/config.json
    assert_file_exists one/model.safetensors
    assert_file_exists one/vocab.txt
    assert_file_exists one/tokenizer_config.json
    run emo ckpt info one
    [[ "$output" == *'"num_labels":3'*'"labels":["a","b","c"]'* ]]
    emo ckpt init --labels a,b,c --seed 3 -o two "$M/bert/config.json"
    emo ckpt init --labels a,b,c --seed 4 -o three "$M/bert/config.json"
    cmp one/model.safetensors two/model.safetensors
    ! cmp -s one/model.safetensors three/model.safetensors
}

@test "ckpt init: --labels-file, one label per line" {
    printf 'joy\nsadness\r\n\nanger\n' > labels.txt
    run --separate-stderr emo ckpt init --labels-file labels.txt -o c distilbert-tiny
    assert_success
    run emo ckpt info c
    [[ "$output" == *'"labels":["joy","sadness","anger"]'* ]]
}

@test "ckpt convert: emokd round trip is byte-identical to torch's safetensors" {
    for f in bert distilbert albert; do
        run --separate-stderr emo ckpt convert -o "$f" "$M/$f"
        assert_success
        assert_equal "$stderr" ""
        cmp "$f/model.safetensors" "$M/$f/model.safetensors"
        cmp "$f/vocab.txt" "$M/$f/vocab.txt"
    done
}

@test "ckpt convert: F16 and BF16 become exactly torch's float32 values" {
    for t in f16 bf16; do
        run --separate-stderr emo ckpt convert -o "$t" "$M/bert-$t"
        assert_success
        cmp "$t/model.safetensors" "$M/bert-$t/converted.safetensors"
    done
}

@test "ckpt convert: Hub-like checkpoint without a head gets one, with a notice" {
    run --separate-stderr emo ckpt convert --labels x,y,z -o d "$M/distilbert-nohead"
    assert_success
    assert_equal "$stderr" "emo-ckpt: $M/distilbert-nohead/model.safetensors: initialised 4 tensors not in the checkpoint (pre_classifier.weight, pre_classifier.bias, classifier.weight, classifier.bias): train before use"
    run emo ckpt info d
    [[ "$output" == *'"num_labels":3'* ]]
}

@test "ckpt convert: other number of labels needs --new-head" {
    run --separate-stderr emo ckpt convert --labels x,y -o out "$M/albert"
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: $M/albert/model.safetensors: tensor classifier.weight has shape [6, 32], the configuration needs [2, 32] (use --new-head for a new classifier)"
    assert_not_exist out
    run --separate-stderr emo ckpt convert --new-head --labels x,y -o out "$M/albert"
    assert_success
    [[ "$stderr" == *"initialised 2 tensors for a new head"* ]]
}

@test "ckpt: a failed write leaves the previous checkpoint intact" {
    emo ckpt convert -o out "$M/bert"
    run --separate-stderr emo ckpt convert --vocab "$SHARED/data/bert-base-uncased/vocab.txt" -o out "$M/albert"
    assert_failure 1
    [[ "$stderr" == *"30522 tokens, more than the model's vocab_size 110"* ]]
    cmp out/model.safetensors "$M/bert/model.safetensors"
    run bash -c 'ls -a | grep -c tmp'
    assert_output 0
}

# ---- bad input: one test per case --------------------------------------------------

@test "ckpt bad input: unknown preset lists the presets" {
    run --separate-stderr emo ckpt info bert-huge
    assert_failure 1
    [[ "$stderr" == "emo-ckpt: bert-huge: not a preset (bert-base, "*"albert-tiny), config.json or checkpoint directory" ]]
}

@test "ckpt bad input: missing directory" {
    run --separate-stderr emo ckpt convert -o out nowhere
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: nowhere: not a checkpoint directory"
    assert_not_exist out
}

@test "ckpt bad input: directory without model.safetensors" {
    mkdir d && cp "$M/bert/config.json" d/
    run --separate-stderr emo ckpt convert -o out d
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: d/model.safetensors: No such file or directory"
    assert_not_exist out
}

@test "ckpt bad input: only pytorch_model.bin (a pickle) is there" {
    mkdir d && cp "$M/bert/config.json" d/ && : > d/pytorch_model.bin
    run --separate-stderr emo ckpt convert -o out d
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: d/model.safetensors: missing; only a single model.safetensors is read, not pytorch_model.bin (save it with safe_serialization=True, max_shard_size large enough)"
    assert_not_exist out
}

@test "ckpt bad input: truncated model.safetensors" {
    cp -r "$M/bert" d && truncate -s -5 d/model.safetensors
    run --separate-stderr emo ckpt convert -o out d
    assert_failure 1
    [[ "$stderr" == "emo-ckpt: d/model.safetensors: tensor "*"beyond the data buffer"* ]]
    assert_not_exist out
}

@test "ckpt bad input: header length beyond the file" {
    cp -r "$M/bert" d && printf '\xff\xff\xff\x00' | dd of=d/model.safetensors conv=notrunc status=none
    run --separate-stderr emo ckpt convert -o out d
    assert_failure 1
    [[ "$stderr" == "emo-ckpt: d/model.safetensors: header length "*"runs past the end of the file"* ]]
}

@test "ckpt bad input: unknown dtype" {
    cp -r "$M/bert" d && sed -i 's/"F32"/"F99"/' d/model.safetensors
    run --separate-stderr emo ckpt convert -o out d
    assert_failure 1
    [[ "$stderr" == *": unknown dtype 'F99'" ]]
}

@test "ckpt bad input: shape in config.json disagrees with the tensors" {
    cp -r "$M/bert" d && sed -i 's/"intermediate_size": 64/"intermediate_size": 48/' d/config.json
    run --separate-stderr emo ckpt convert -o out d
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: d/model.safetensors: tensor bert.encoder.layer.0.intermediate.dense.weight has shape [64, 32], the configuration needs [48, 32]"
}

@test "ckpt bad input: missing tensor" {
    cp -r "$M/bert" d && sed -i 's/encoder.layer.1.output.dense.bias/encoder.layer.1.output.dense.bia_/' d/model.safetensors
    run --separate-stderr emo ckpt convert -o out d
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: d/model.safetensors: tensor bert.encoder.layer.1.output.dense.bias is missing"
}

@test "ckpt bad input: non-finite weight" {
    cp -r "$M/bert" d
    # the last 4 bytes are the last tensor's last value: make it +inf
    n=$(stat -c %s d/model.safetensors)
    printf '\x00\x00\x80\x7f' | dd of=d/model.safetensors bs=1 seek=$((n - 4)) conv=notrunc status=none
    run --separate-stderr emo ckpt convert -o out d
    assert_failure 1
    [[ "$stderr" == *": non-finite value at index "* ]]
}

@test "ckpt bad input: DistilBERT with sinusoidal position embeddings" {
    cp -r "$M/distilbert" d && sed -i 's/"sinusoidal_pos_embds": false/"sinusoidal_pos_embds": true/' d/config.json
    run --separate-stderr emo ckpt info d
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: d/config.json: sinusoidal_pos_embds: true is not supported (learned position embeddings only)"
}

@test "ckpt bad input: ALBERT with two hidden groups" {
    cp -r "$M/albert" d && sed -i 's/"num_hidden_groups": 1/"num_hidden_groups": 2/' d/config.json
    run --separate-stderr emo ckpt info d
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: d/config.json: num_hidden_groups: 2 (only 1 shared group is supported)"
}

@test "ckpt bad input: broken config.json" {
    cp -r "$M/bert" d && printf '{"model_type": "bert",' > d/config.json
    run --separate-stderr emo ckpt info d
    assert_failure 1
    [[ "$stderr" == "emo-ckpt: d/config.json:line 1: "* ]]
}

@test "ckpt bad input: duplicate labels" {
    run --separate-stderr emo ckpt init --labels joy,sad,joy -o out bert-tiny
    assert_failure 1
    assert_equal "$stderr" "emo-ckpt: --labels: label 'joy' given to classes 0 and 2"
    assert_not_exist out
}

@test "ckpt bad input: output parent directory missing" {
    run --separate-stderr emo ckpt init -o no/such/out "$M/bert/config.json"
    assert_failure 1
    [[ "$stderr" == "emo-ckpt: no/such/out: cannot write in its parent directory: "* ]]
}

# ---- man page examples ---------------------------------------------------------------

@test "man example emo-ckpt(1): info of the presets" {
    run --separate-stderr emo ckpt info bert-base distilbert-base albert-base-v2
    assert_success
    [[ "${lines[0]}" == *'"base_params":109482240'* ]]
    [[ "${lines[1]}" == *'"base_params":66362880'* ]]
    [[ "${lines[2]}" == *'"base_params":11750400'* ]]
}

@test "man example emo-ckpt(1): BERT-mini teacher with six emotion classes" {
    run --separate-stderr emo ckpt init --labels sadness,joy,love,anger,fear,surprise \
        --vocab "$SHARED/data/bert-base-uncased/vocab.txt" -o teacher0 bert-mini
    assert_success
    run emo ckpt info teacher0
    [[ "$output" == *'"hidden_size":256'*'"num_labels":6'* ]]
    cmp teacher0/vocab.txt "$SHARED/data/bert-base-uncased/vocab.txt"
}

@test "man example emo-ckpt(1): downloaded checkpoint with a new six-class head" {
    cp -r "$M/bert-nohead" bert-base-uncased
    run --separate-stderr emo ckpt convert --labels sadness,joy,love,anger,fear,surprise \
        -o bert6 bert-base-uncased
    assert_success
    [[ "$stderr" == *"initialised 2 tensors not in the checkpoint (classifier.weight, classifier.bias)"* ]]
    run emo ckpt info bert6
    [[ "$output" == *'"num_labels":6'* ]]
}

@test "man example emo-checkpoint(5): inspect the tensors with Python's standard library" {
    emo ckpt convert -o ckpt "$M/bert"
    run python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb");
n=struct.unpack("<Q",f.read(8))[0]; print(json.dumps(json.loads(f.read(n)),indent=1))' \
        ckpt/model.safetensors
    assert_success
    assert_output --partial '"bert.encoder.layer.1.attention.self.key.weight": {'
    assert_output --partial '"format": "pt"'
}

@test "ckpt info: a masked-LM checkpoint is described as one" {
    run --separate-stderr emo ckpt info "$M/bert-mlm" "$M/albert-nohead" "$M/bert"
    assert_success
    [[ "${lines[0]}" == *'"num_labels":0'*'"labels":[]'*'"architecture":"BertForMaskedLM"'*'"mlm_head":true'* ]]
    [[ "${lines[1]}" == *'"num_labels":0'*'"architecture":"AlbertForMaskedLM"'*'"mlm_head":true'* ]]
    [[ "${lines[2]}" == *'"num_labels":6'*'"architecture":"BertForSequenceClassification"'*'"mlm_head":false'* ]]
    # bert-mlm: V 110, H 32, L 2, I 64, P 16: base (no pooler) + dense + LayerNorm + decoder bias
    [[ "${lines[0]}" == *'"base_params":'$((110*32 + 16*32 + 2*32 + 2*32 + 2*(4*(32*32+32) + 2*32 + 32*64+64 + 64*32+32 + 2*32)))*'"params":'$((110*32 + 16*32 + 2*32 + 2*32 + 2*(4*(32*32+32) + 2*32 + 32*64+64 + 64*32+32 + 2*32) + 32*32+32 + 2*32 + 110))* ]]
}
