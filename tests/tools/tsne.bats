#!/usr/bin/env bats
# emo tsne: output contract, figure, statistics, determinism, and one test per bad input.
load helpers

setup() {
    cd "$BATS_TEST_TMPDIR"
    emo pack -o emb.rec "$FIXTURES/tsne/blobs.jsonl"
}

# emb.rec with the first record replaced by the JSON object $1
with_first() {
    { echo "$1"; tail -n +2 "$FIXTURES/tsne/blobs.jsonl"; } | emo pack > "$2"
}

@test "tsne: -h prints usage on stdout" {
    run --separate-stderr emo tsne -h
    assert_success
    [[ "$output" == "usage: emo tsne"* ]]
}

@test "tsne: unknown option is a usage error" {
    run --separate-stderr emo tsne --nope
    assert_failure 2
    [[ "$stderr" == *"unrecognized option"* ]]
    run --separate-stderr emo tsne --perplexity 0 emb.rec
    assert_failure 2
    [[ "$stderr" == *"--perplexity"* ]]
}

@test "man example: emo tsne --seed 1 --svg tsne.svg --stats stats.tsv < emb.rec > tsne.rec" {
    run --separate-stderr bash -c 'emo tsne --seed 1 --svg tsne.svg --stats stats.tsv < emb.rec > tsne.rec'
    assert_success
    [[ "$stderr" == *"150 points, dim 8, perplexity 30, 1250 iterations: KL "* ]]
    [[ "$stderr" == *"exact KL"* ]]
    # the table: header and one row per class plus "all"
    [[ "$stderr" == *"silhouette"* && "$stderr" == *"anger"* && "$stderr" == *"all"* ]]
    # every field passed through, a 2-float tsne field added
    run bash -c 'emo dump tsne.rec | head -1'
    assert_output --regexp '^\{"id":0,"label":"[a-z]+","text":"tweet 0","embedding":\[[^]]*\],"tsne":\[[-0-9.e]+,[-0-9.e]+\]\}$'
    run bash -c 'emo dump tsne.rec | wc -l'
    assert_output 150
    # the figure renders, and has title, axis labels and a legend entry per class
    run rsvg-convert -o tsne.png tsne.svg
    assert_success
    assert_file_exists tsne.png
    run bash -c 'head -c 8 tsne.png | od -An -c | tr -d " "'
    assert_output --partial 'PNG'
    run grep -c 't-SNE of &lt;stdin&gt;\|t-SNE 1\|t-SNE 2\|anger (50)\|fear (50)\|joy (50)' tsne.svg
    [ "$output" -ge 6 ]
    # TSV statistics: header + 3 classes; well-separated blobs give a high silhouette
    run awk -F'\t' 'NR == 1 { print $1, $2, $6, $7, $8, $9; next } { if ($6 < 0.5 || $6 > 1) bad = 1 }
                    END { print NR - 1, bad + 0 }' stats.tsv
    assert_line --index 0 'class n silhouette d:anger d:fear d:joy'
    assert_line --index 1 '3 0'
}

@test "man example: emo tsne -q --perplexity 10 --drop-embedding emb.rec | emo dump" {
    run --separate-stderr bash -c 'emo tsne -q --perplexity 10 --drop-embedding emb.rec | emo dump'
    assert_success
    [ -z "$stderr" ]
    assert_line --index 0 --regexp '^\{"id":0,"label":"[a-z]+","text":"tweet 0","tsne":\[[-0-9.e]+,[-0-9.e]+\]\}$'
    [ "${#lines[@]}" -eq 150 ]
}

@test "man example: emo tsne --stats stats.json --silhouette-input -o tsne.rec emb.rec" {
    run --separate-stderr emo tsne --stats stats.json --silhouette-input -o tsne.rec emb.rec
    assert_success
    assert_file_exists tsne.rec
    [[ "$stderr" == *"sil.input"* ]]
    run jq -r '[(.classes | length), (.classes[0] | has("silhouette_input")), (.kl_divergence > 0),
                (.kl_exact > 0), .n, .dim, (.silhouette > 0.5)] | @tsv' stats.json
    assert_output $'3\ttrue\ttrue\ttrue\t150\t8\ttrue'
}

@test "tsne: same seed gives identical bytes for 1 and 2 threads; --exact runs" {
    emo tsne -q --seed 7 --threads 1 --iter 300 emb.rec > a.rec
    emo tsne -q --seed 7 --threads 2 --iter 300 emb.rec > b.rec
    cmp a.rec b.rec
    run --separate-stderr emo tsne --exact --iter 300 -o c.rec emb.rec
    assert_success
    [[ "$stderr" == *"(exact)"* ]]
}

@test "tsne: records without a label: no table, no --stats" {
    emo dump emb.rec | sed 's/"label":"[a-z]*",//' | emo pack > nolabel.rec
    run --separate-stderr emo tsne --iter 100 -o out.rec nolabel.rec
    assert_success
    [[ "$stderr" != *"silhouette"* ]]
    run --separate-stderr emo tsne --iter 100 --stats s.tsv -o out2.rec nolabel.rec
    assert_failure 1
    [ "$stderr" = "emo-tsne: nolabel.rec: --stats needs at least 2 classes (field 'label') and fewer classes than points" ]
    assert_file_not_exists out2.rec
    assert_file_not_exists s.tsv
}

@test "tsne bad input: record without embedding" {
    with_first '{"id":0,"label":"joy"}' bad.rec
    run --separate-stderr emo tsne bad.rec
    assert_failure 1
    [ "$stderr" = "emo-tsne: bad.rec:record 1: missing field 'embedding'" ]
}

@test "tsne bad input: embeddings of different lengths" {
    { head -n 3 "$FIXTURES/tsne/blobs.jsonl"; echo '{"id":3,"label":"joy","embedding":[1.5,2.5]}'; } | emo pack > bad.rec
    run --separate-stderr emo tsne bad.rec
    assert_failure 1
    [ "$stderr" = "emo-tsne: bad.rec:record 4: field 'embedding' has 2 values, but record 1 has 8" ]
}

@test "tsne bad input: NaN in an embedding" {
    # JSON has no NaN: patch the float32 1.5 (ca 3f c0 00 00) into a NaN (ca 7f c0 00 00)
    with_first '{"id":0,"label":"joy","embedding":[0.25,1.5,2.5,3.5,4.5,5.5,6.5,7.5]}' ok.rec
    perl -0777 -pe 's/\xca\x3f\xc0\x00\x00/\xca\x7f\xc0\x00\x00/' ok.rec > bad.rec
    ! cmp -s ok.rec bad.rec
    run --separate-stderr emo tsne bad.rec
    assert_failure 1
    [ "$stderr" = "emo-tsne: bad.rec:record 1: field 'embedding' value 1 is not a finite float32 (nan)" ]
}

@test "tsne bad input: fewer points than t-SNE needs" {
    head -n 4 "$FIXTURES/tsne/blobs.jsonl" | emo pack > four.rec
    run --separate-stderr emo tsne four.rec
    assert_failure 1
    [ "$stderr" = "emo-tsne: four.rec: t-SNE needs at least 5 points, got 4" ]
}

@test "tsne bad input: perplexity too large for the number of points" {
    head -n 60 "$FIXTURES/tsne/blobs.jsonl" | emo pack > sixty.rec
    run --separate-stderr emo tsne sixty.rec
    assert_failure 1
    [ "$stderr" = "emo-tsne: sixty.rec: perplexity 30 is too large for 60 points: it must be below (N-1)/3 = 19.6667" ]
    run --separate-stderr emo tsne --perplexity 19 -q -o ok.rec sixty.rec
    assert_success
}

@test "tsne bad input: empty input and a stream without records" {
    run --separate-stderr bash -c ': | emo tsne'
    assert_failure 1
    [[ "$stderr" == "emo-tsne: <stdin>: empty input"* ]]
    : | emo pack > none.rec
    run --separate-stderr emo tsne none.rec
    assert_failure 1
    [ "$stderr" = "emo-tsne: none.rec: t-SNE needs at least 5 points, got 0" ]
}

@test "tsne bad input: label that is not a string" {
    with_first '{"id":0,"label":3,"embedding":[0.25,1.5,2.5,3.5,4.5,5.5,6.5,7.5]}' bad.rec
    run --separate-stderr emo tsne bad.rec
    assert_failure 1
    [ "$stderr" = "emo-tsne: bad.rec:record 1: field 'label' is not a string" ]
}

@test "tsne bad input: no partial output files are left behind" {
    { cat "$FIXTURES/tsne/blobs.jsonl"; echo '{"id":150,"label":"joy","embedding":[1]}'; } | emo pack > bad.rec
    run --separate-stderr emo tsne -o out.rec --svg fig.svg --stats st.json bad.rec
    assert_failure 1
    [[ "$stderr" == "emo-tsne: bad.rec:record 151: field 'embedding' has 1 values"* ]]
    run bash -c 'ls -A | grep -v -e "^emb.rec$" -e "^bad.rec$" -e "^separate-stderr"'
    assert_output ""
}
