/* Stratified split: the largest-remainder rule on hand-worked cases, exact split totals,
 * every class within one record of its share, determinism per seed, and the id map. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/stratify.h"
#include "util/util.h"

static void apportion_cases(void)
{
    uint64_t out[4];
    /* 10 by 70/15/15: quotas 7, 1.5, 1.5 -> 7,2,1 (tie of remainders goes to val) */
    apportion(10, (const uint64_t[]){ 70, 15, 15 }, 3, out);
    CHECK(out[0] == 7 && out[1] == 2 && out[2] == 1, "10: %llu %llu %llu", (unsigned long long)out[0],
          (unsigned long long)out[1], (unsigned long long)out[2]);
    /* 18000 by 70/15/15 */
    apportion(18000, (const uint64_t[]){ 70, 15, 15 }, 3, out);
    CHECK(out[0] == 12600 && out[1] == 2700 && out[2] == 2700, "18000");
    /* 7 over weights 1,1,1,1: quotas 1.75 each -> 2,2,2,1 */
    apportion(7, (const uint64_t[]){ 1, 1, 1, 1 }, 4, out);
    CHECK(out[0] == 2 && out[1] == 2 && out[2] == 2 && out[3] == 1, "ties to lower index");
    /* 5 over 1,3,6: quotas 0.5, 1.5, 3 -> floors 0,1,3; the one left goes to the tie at index 0 */
    apportion(5, (const uint64_t[]){ 1, 3, 6 }, 3, out);
    CHECK(out[0] == 1 && out[1] == 1 && out[2] == 3, "5 over 1,3,6: %llu %llu %llu", (unsigned long long)out[0],
          (unsigned long long)out[1], (unsigned long long)out[2]);
    apportion(0, (const uint64_t[]){ 0, 0 }, 2, out);
    CHECK(out[0] == 0 && out[1] == 0, "zero weights");
}

static void totals_cases(void)
{
    /* scikit-learn's sizes for the two-step 70/15/15 split (checked with sklearn 1.2.1) */
    const uint64_t r[NSPLIT] = { 700000000, 150000000, 150000000 };
    uint64_t t[NSPLIT];
    split_totals(416809, r, t);
    CHECK(t[0] == 291765 && t[1] == 62522 && t[2] == 62522, "416809: %llu %llu %llu", (unsigned long long)t[0],
          (unsigned long long)t[1], (unsigned long long)t[2]);
    split_totals(18000, r, t);
    CHECK(t[0] == 12600 && t[1] == 2700 && t[2] == 2700, "18000");
    split_totals(10, r, t);   /* test ceil(1.5) = 2, val ceil(8 * 15/85 = 1.41) = 2 */
    CHECK(t[0] == 6 && t[1] == 2 && t[2] == 2, "10: %llu %llu %llu", (unsigned long long)t[0],
          (unsigned long long)t[1], (unsigned long long)t[2]);
    split_totals(10, (const uint64_t[]){ 1, 0, 0 }, t);
    CHECK(t[0] == 10 && t[1] == 0 && t[2] == 0, "all train");
}

static void counts_properties(void)
{
    const uint64_t ratio[NSPLIT] = { 70, 15, 15 };
    uint64_t class_n[] = { 2434, 2149, 6066, 1482, 5216, 653, 2, 3, 17 };
    size_t K = sizeof class_n / sizeof *class_n;
    uint64_t counts[9 * NSPLIT], N = 0, tot[NSPLIT] = { 0 };
    for (size_t c = 0; c < K; c++)
        N += class_n[c];
    stratify_counts(class_n, K, ratio, counts);
    int rows_ok = 1, share_ok = 1;
    for (size_t c = 0; c < K; c++) {
        uint64_t sum = 0;
        for (int s = 0; s < NSPLIT; s++) {
            sum += counts[c * NSPLIT + s];
            tot[s] += counts[c * NSPLIT + s];
            double share = (double)class_n[c] * (double)ratio[s] / 100.0;
            if ((double)counts[c * NSPLIT + s] < share - 2.0001 || (double)counts[c * NSPLIT + s] > share + 2.0001)
                share_ok = 0;
        }
        rows_ok &= sum == class_n[c];
    }
    uint64_t want[NSPLIT];
    split_totals(N, ratio, want);
    CHECK(rows_ok, "each class's records all go somewhere");
    CHECK(tot[0] == want[0] && tot[1] == want[1] && tot[2] == want[2], "split totals %llu %llu %llu",
          (unsigned long long)tot[0], (unsigned long long)tot[1], (unsigned long long)tot[2]);
    CHECK(share_ok, "every class within two records of its exact share");
    /* the shared corpus (train+val): same counts as sklearn (tests/tools/split.bats) */
    CHECK(counts[0 * NSPLIT + SPLIT_TEST] == 365 && counts[0 * NSPLIT + SPLIT_TRAIN] == 1704, "anger");
}

static void assign_properties(void)
{
    size_t n = 1000, K = 3;
    uint32_t *cls = xmalloc(n * sizeof *cls);
    uint64_t class_n[3] = { 0 };
    for (size_t i = 0; i < n; i++) {
        cls[i] = (uint32_t)(i % 7 == 0 ? 2 : i % 2);
        class_n[cls[i]]++;
    }
    uint64_t counts[3 * NSPLIT];
    stratify_counts(class_n, K, (const uint64_t[]){ 70, 15, 15 }, counts);
    uint8_t *a = xmalloc(n), *b = xmalloc(n), *c = xmalloc(n);
    stratify_assign(cls, n, K, counts, 42, a);
    stratify_assign(cls, n, K, counts, 42, b);
    stratify_assign(cls, n, K, counts, 43, c);
    uint64_t got[3 * NSPLIT] = { 0 };
    for (size_t i = 0; i < n; i++)
        got[cls[i] * NSPLIT + a[i]]++;
    CHECK(!memcmp(got, counts, sizeof got), "assignment follows the counts");
    CHECK(!memcmp(a, b, n), "same seed, same assignment");
    CHECK(memcmp(a, c, n) != 0, "another seed, another assignment");
    free(cls);
    free(a);
    free(b);
    free(c);
}

static void idmap_cases(void)
{
    idmap m = { 0 };
    int dup = 0, wrong = 0;
    for (uint64_t i = 0; i < 100000; i++)
        dup += idmap_put(&m, i * 7919, (uint8_t)(i % 3)) != 0;
    for (uint64_t i = 0; i < 100000; i++)
        wrong += idmap_get(&m, i * 7919) != (int)(i % 3);
    CHECK(dup == 0 && wrong == 0 && m.n == 100000, "idmap: %d dup, %d wrong", dup, wrong);
    CHECK(idmap_get(&m, 5) == -1 && idmap_put(&m, 7919, 2) == 2, "absent id; duplicate reported");
    CHECK(idmap_put(&m, UINT64_MAX, 1) == 0 && idmap_get(&m, UINT64_MAX) == 1, "max id");
    idmap_free(&m);
}

int main(void)
{
    apportion_cases();
    totals_cases();
    counts_properties();
    assign_properties();
    idmap_cases();
    return check_done("test_stratify");
}
