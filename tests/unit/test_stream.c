/* lib/train/stream: the file-streamed batch source of emo-pretrain.  Every training record
 * comes exactly once per epoch, held-out records never; the hold-out is the same for the
 * same seed; an epoch is the same whenever it is replayed, and replaying with a skip gives
 * exactly the remaining batches (what --resume relies on); epochs differ; batches hold
 * similar lengths, padded with pad_id. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "io/rec.h"
#include "train/stream.h"
#include "util/rng.h"
#include "util/util.h"

#define NFILES 3
#define PER_FILE 400
#define N (NFILES * PER_FILE)

static char dir[] = "/tmp/emo-test-stream.XXXXXX";

/* record ordinal o: length 2 + o % 37, ids o % 50 + t; every 3rd without id, every 5th with a label */
static char *write_file(int f)
{
    char name[32];
    snprintf(name, sizeof name, "f%d.rec", f);
    char *path = path_join(dir, name);
    FILE *fp = fopen(path, "wb");
    rec_writer *w = rec_writer_open(fp, path);
    for (int i = 0; i < PER_FILE; i++) {
        int o = f * PER_FILE + i, len = 2 + o % 37, has_id = o % 3 != 0, has_label = o % 5 == 0;
        int32_t ids[64];
        for (int t = 0; t < len; t++)
            ids[t] = o % 50 + t;
        msgpack_packer *pk = rec_begin_raw(w);
        msgpack_pack_map(pk, (uint32_t)(1 + has_id + has_label));
        if (has_id) {
            rec_pack_key(pk, "id");
            msgpack_pack_uint64(pk, 100000 + (uint64_t)o);
        }
        rec_pack_key(pk, "input_ids");
        rec_pack_ids(pk, ids, (size_t)len);
        if (has_label) {
            rec_pack_key(pk, "label");
            rec_pack_str(pk, "joy", 3);
        }
        rec_end(w);
    }
    rec_writer_close(w);
    fclose(fp);
    return path;
}

/* All batches of epoch e after skipping `skip`: rows (ordinals) in order, and a digest of ids */
static size_t run_epoch(token_stream *s, uint64_t e, uint64_t skip, uint32_t *rows, uint64_t *digest, int *bad)
{
    train_source src;
    token_stream_source(s, &src);
    char err[256];
    batch b = { 0 };
    size_t n = 0, nb = 0;
    uint64_t h = 1469598103934665603ULL;
    CHECK(src.begin_epoch(src.ctx, e, skip, err, sizeof err) == 0, "%s", err);
    while (src.next_batch(src.ctx, &b, err, sizeof err) == 1) {
        nb++;
        for (int i = 0; i < b.B; i++) {
            uint32_t o = b.rows[i];
            rows[n++] = o;
            if (b.lens[i] != 2 + (int)(o % 37) || b.labels[i] != -1 ||
                b.rec_ids[i] != (o % 3 ? 100000 + (uint64_t)o : o) || (i && b.lens[i] > b.lens[i - 1]))
                (*bad)++;
            for (int t = 0; t < b.T; t++) {
                int32_t v = b.ids[(size_t)i * (size_t)b.T + (size_t)t];
                if (v != (t < b.lens[i] ? (int32_t)(o % 50) + t : 7))
                    (*bad)++;
                h = (h ^ (uint64_t)v) * 1099511628211ULL;
            }
        }
        if (b.T != b.lens[0])
            (*bad)++;
    }
    batch_free(&b);
    CHECK(nb + skip == src.nbatches, "epoch %llu: %zu + %llu batches, nbatches %llu", (unsigned long long)e, nb,
          (unsigned long long)skip, (unsigned long long)src.nbatches);
    *digest = h;
    return n;
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    char *paths[NFILES];
    for (int f = 0; f < NFILES; f++)
        paths[f] = write_file(f);
    token_stream_opts o = { .V = 100, .P = 40, .B = 16, .seed = 42, .pad_id = 7, .shuffle = 64, .holdout = 50 };
    dataset held;
    token_stream *s = token_stream_open((const char *const *)paths, NFILES, &o, &held);
    CHECK(token_stream_total(s) == N && token_stream_train_records(s) == N - 50, "counts %llu",
          (unsigned long long)token_stream_total(s));
    CHECK(token_stream_file_records(s, 1) == PER_FILE, "per-file count");
    CHECK(held.n == 50, "held-out %zu", held.n);
    char seen_held[N] = { 0 };
    int bad = 0;
    for (size_t i = 0; i < held.n; i++) {
        /* held-out ids: the record's id, else its ordinal; find the ordinal back */
        uint64_t id = held.rec_id[i], o_ = id >= 100000 ? id - 100000 : id;
        if (o_ >= N || held.len[i] != 2 + (int)(o_ % 37) || held.tok[held.off[i]] != (int32_t)(o_ % 50))
            bad++;
        else
            seen_held[o_] = 1;
    }
    CHECK(bad == 0, "held-out records are the records");

    static uint32_t rows[N], rows2[N];
    uint64_t d0, d0b, d1, dskip;
    size_t n = run_epoch(s, 0, 0, rows, &d0, &bad);
    CHECK(n == N - 50, "epoch 0: %zu records", n);
    char count[N] = { 0 };
    int dup = 0, held_seen = 0;
    for (size_t i = 0; i < n; i++) {
        dup += count[rows[i]]++ > 0;
        held_seen += seen_held[rows[i]];
    }
    CHECK(dup == 0 && held_seen == 0, "each training record once (%d twice), held-out never (%d)", dup, held_seen);
    int in_order = 0;
    for (size_t i = 1; i < n; i++)
        in_order += rows[i] == rows[i - 1] + 1;
    CHECK(in_order < (int)n / 4, "shuffled: %d of %zu rows follow their predecessor", in_order, n);

    n = run_epoch(s, 0, 0, rows2, &d0b, &bad);
    CHECK(d0 == d0b && !memcmp(rows, rows2, n * sizeof *rows), "an epoch replays identically");
    /* skip 5 batches: the rest is the tail of the full epoch */
    size_t nskip = run_epoch(s, 0, 5, rows2, &dskip, &bad);
    CHECK(nskip == n - 5 * 16 && !memcmp(rows + 5 * 16, rows2, nskip * sizeof *rows), "skip 5 = the tail");
    size_t n1 = run_epoch(s, 1, 0, rows2, &d1, &bad);
    CHECK(n1 == n && d1 != d0 && memcmp(rows, rows2, n * sizeof *rows), "epoch 1 differs from epoch 0");
    CHECK(bad == 0, "%d bad batch entries (lengths, padding, ids, order)", bad);

    /* the hold-out: same seed, same records; another seed, others */
    dataset held2;
    token_stream *s2 = token_stream_open((const char *const *)paths, NFILES, &o, &held2);
    CHECK(held2.n == held.n && !memcmp(held2.rec_id, held.rec_id, held.n * sizeof *held.rec_id),
          "the same hold-out");
    token_stream_free(s2);
    dataset_free(&held2);
    o.seed = 43;
    s2 = token_stream_open((const char *const *)paths, NFILES, &o, &held2);
    CHECK(memcmp(held2.rec_id, held.rec_id, held.n * sizeof *held.rec_id), "another seed, another hold-out");
    token_stream_free(s2);
    dataset_free(&held2);
    /* no hold-out; a shuffle buffer of 1 keeps the input order before the pools */
    o.holdout = 0;
    o.shuffle = 1;
    s2 = token_stream_open((const char *const *)paths, NFILES, &o, &held2);
    CHECK(held2.n == 0, "no hold-out");
    n = run_epoch(s2, 0, 0, rows2, &d1, &bad);
    CHECK(n == N, "all %d records trained on (%zu)", N, n);
    /* pools of 50 batches: the first pool holds exactly the first 800 records */
    int first_pool = 1;
    for (size_t i = 0; i < 800; i++)
        first_pool &= rows2[i] < 800;
    CHECK(first_pool, "pools are consecutive stretches of the shuffle buffer's output");
    token_stream_free(s2);

    token_stream_free(s);
    dataset_free(&held);
    for (int f = 0; f < NFILES; f++) {
        unlink(paths[f]);
        free(paths[f]);
    }
    rmdir(dir);
    return check_done("test_stream");
}
