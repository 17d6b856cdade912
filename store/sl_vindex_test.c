/*  sl_vindex_test: self-test of sl_vindex.

    Search is exact: empty index and k edge cases, replacing an id in place,
    scores equal to what search gives, ties to the smaller id, swap; top-k
    equals a brute-force reference on 10k x 384 before and after removals;
    concurrent searches while a writer adds and removes; a latency figure in
    verbose mode (a benchmark, not a behaviour).
*/
#include "sl_vindex.h"
#include "sl_vindex_internal.h"
#include <assert.h>
#include <cblas.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <math.h>
#include <time.h>

#include "sl_check.h"

static uint64_t s_rng_state = 0x9E3779B97F4A7C15ULL;

static float
s_rand_unit (void)
{
    //  xorshift64*: reproducible across runs, good enough for test vectors
    s_rng_state ^= s_rng_state >> 12;
    s_rng_state ^= s_rng_state << 25;
    s_rng_state ^= s_rng_state >> 27;
    uint64_t r = s_rng_state * 0x2545F4914F6CDD1DULL;
    return (float) ((double) (r >> 11) / (double) (1ULL << 53)) * 2.0f - 1.0f;
}

static void
s_random_vector (float *v, int dim)
{
    double norm = 0;
    for (int i = 0; i < dim; i++) {
        v [i] = s_rand_unit ();
        norm += (double) v [i] * v [i];
    }
    float inv = (float) (1.0 / sqrt (norm));
    for (int i = 0; i < dim; i++)
        v [i] *= inv;
}

//  Reference top-k by plain loops over the live rows of a shadow copy
static int
s_brute_topk (const float *data, const int64_t *ids, const bool *live, size_t n, int dim,
              const float *q, int k, int64_t *out_ids, float *out_scores)
{
    int count = 0;
    for (size_t r = 0; r < n; r++) {
        if (!live [r])
            continue;
        float s = 0;
        for (int d = 0; d < dim; d++)
            s += data [r * (size_t) dim + (size_t) d] * q [d];
        //  insertion into a sorted (best first) array
        if (count < k || sl_vindex_worse (out_scores [count - 1], out_ids [count - 1], s, ids [r])) {
            int pos = count < k ? count++ : k - 1;
            while (pos > 0 && sl_vindex_worse (out_scores [pos - 1], out_ids [pos - 1], s, ids [r])) {
                out_scores [pos] = out_scores [pos - 1];
                out_ids [pos] = out_ids [pos - 1];
                pos--;
            }
            out_scores [pos] = s;
            out_ids [pos] = ids [r];
        }
    }
    return count;
}

//  BLAS and the loop sum in different orders: equal ids, or a near-tie
static void
s_assert_same_topk (int n, const int64_t *a_ids, const float *a_s,
                    const int64_t *b_ids, const float *b_s)
{
    for (int i = 0; i < n; i++) {
        CHECK (fabsf (a_s [i] - b_s [i]) < 1e-4f);
        if (a_ids [i] != b_ids [i])
            CHECK (fabsf (a_s [i] - b_s [i]) < 1e-5f);
    }
    for (int i = 1; i < n; i++)
        CHECK (a_s [i - 1] >= a_s [i]);
}

typedef struct {
    sl_vindex_t *index;
    const float *queries;
    int dim;
    int rounds;
    int failures;
} s_reader_t;

static void *
s_reader (void *arg)
{
    s_reader_t *r = arg;
    int64_t ids [10];
    float scores [10];
    for (int i = 0; i < r->rounds; i++) {
        int n = sl_vindex_search (r->index, r->queries + (size_t) (i % 8) * (size_t) r->dim, 10, ids, scores);
        if (n < 0 || n > 10)
            r->failures++;
        for (int j = 1; j < n; j++)
            if (scores [j - 1] < scores [j])
                r->failures++;
    }
    return NULL;
}

static double
s_elapsed_ms (struct timespec *t0)
{
    struct timespec t1;
    clock_gettime (CLOCK_MONOTONIC, &t1);
    return (double) (t1.tv_sec - t0->tv_sec) * 1e3 + (double) (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

//  Empty index and k edge cases
static void
s_test_edge_cases (void)
{
    sl_vindex_t *index = sl_vindex_new (4);
    CHECK (index);
    float q [4] = { 1, 0, 0, 0 };
    int64_t ids [3];
    float scores [3];
    CHECK (sl_vindex_search (index, q, 3, ids, scores) == 0);
    CHECK (sl_vindex_search (index, q, 0, NULL, NULL) == 0);
    CHECK (sl_vindex_remove (index, 7) == -1);
    CHECK (!sl_vindex_has (index, 7));
    sl_vindex_destroy (&index);
    CHECK (index == NULL);
    sl_vindex_destroy (&index);
}

//  k > n returns all n rows, best first; duplicate id replaces in place
static void
s_test_small_index (void)
{
    sl_vindex_t *index = sl_vindex_new (2);
    float v [5][2] = { { 1, 0 }, { 0, 1 }, { 0.6f, 0.8f }, { 0.8f, 0.6f }, { -1, 0 } };
    for (int i = 0; i < 5; i++)
        CHECK (sl_vindex_add (index, 100 + i, v [i]) == 0);
    CHECK (sl_vindex_size (index) == 5);
    float q [2] = { 1, 0 };
    int64_t ids [8];
    float scores [8];
    CHECK (sl_vindex_search (index, q, 8, ids, scores) == 5);
    int64_t want [5] = { 100, 103, 102, 101, 104 };
    for (int i = 0; i < 5; i++)
        CHECK (ids [i] == want [i]);
    CHECK (fabsf (scores [0] - 1.0f) < 1e-6f && fabsf (scores [4] + 1.0f) < 1e-6f);

    //  score of one row equals what search gives it; absent is -1
    float one = 0;
    CHECK (sl_vindex_score (index, 102, q, &one) == 0 && fabsf (one - 0.6f) < 1e-6f);
    CHECK (sl_vindex_score (index, 99, q, &one) == -1);

    float flipped [2] = { -1, 0 };
    CHECK (sl_vindex_add (index, 100, flipped) == 0);     //  replace
    CHECK (sl_vindex_size (index) == 5);
    CHECK (sl_vindex_search (index, q, 1, ids, scores) == 1);
    CHECK (ids [0] == 103);
    //  ties: 100 and 104 now hold the same vector; smaller id first
    float minus [2] = { -1, 0 };
    CHECK (sl_vindex_search (index, minus, 2, ids, scores) == 2);
    CHECK (ids [0] == 100 && ids [1] == 104);

    //  swap exchanges contents, including dim
    sl_vindex_t *fresh = sl_vindex_new (3);
    float v3 [3] = { 0, 0, 1 };
    CHECK (sl_vindex_add (fresh, 9, v3) == 0);
    sl_vindex_swap (index, fresh);
    CHECK (sl_vindex_dim (index) == 3 && sl_vindex_size (index) == 1);
    CHECK (sl_vindex_has (index, 9) && !sl_vindex_has (index, 100));
    CHECK (sl_vindex_dim (fresh) == 2 && sl_vindex_size (fresh) == 5);
    sl_vindex_destroy (&fresh);
    sl_vindex_destroy (&index);
}

//  Exact top-k equals brute force on 10k x 384, before and after removals
static void
s_test_exact_topk (void)
{
    const int dim = 384;
    const size_t n = 10000;
    const int k = 10;
    float *data = malloc (n * (size_t) dim * sizeof (float));
    int64_t *ids = malloc (n * sizeof (int64_t));
    bool *live = malloc (n * sizeof (bool));
    CHECK (data && ids && live);
    sl_vindex_t *index = sl_vindex_new (dim);
    for (size_t r = 0; r < n; r++) {
        s_random_vector (data + r * (size_t) dim, dim);
        ids [r] = (int64_t) (r * 7 + 1);       //  sparse, not row numbers
        live [r] = true;
        CHECK (sl_vindex_add (index, ids [r], data + r * (size_t) dim) == 0);
    }
    CHECK (sl_vindex_size (index) == n);

    float query [384];
    int64_t got_ids [10], want_ids [10];
    float got_s [10], want_s [10];
    for (int round = 0; round < 2; round++) {
        for (int q = 0; q < 20; q++) {
            s_random_vector (query, dim);
            //  every fifth query is a stored vector: it must come first
            if (q % 5 == 0) {
                size_t r = (size_t) (q * 397) % n;
                while (!live [r])
                    r = (r + 1) % n;
                memcpy (query, data + r * (size_t) dim, sizeof query);
            }
            int got = sl_vindex_search (index, query, k, got_ids, got_s);
            int want = s_brute_topk (data, ids, live, n, dim, query, k, want_ids, want_s);
            CHECK (got == k && want == k);
            s_assert_same_topk (k, got_ids, got_s, want_ids, want_s);
            if (q % 5 == 0)
                CHECK (fabsf (got_s [0] - 1.0f) < 1e-4f);
        }
        if (round == 0) {
            //  remove 3000 rows (ids from everywhere, including the last
            //  rows so swap-remove moves and self-moves both happen)
            for (size_t r = 0; r < n; r += 3) {
                CHECK (sl_vindex_remove (index, ids [r]) == 0);
                CHECK (sl_vindex_remove (index, ids [r]) == -1);
                live [r] = false;
            }
            size_t left = 0;
            for (size_t r = 0; r < n; r++)
                left += live [r];
            CHECK (sl_vindex_size (index) == left);
            for (size_t r = 0; r < n; r++)
                CHECK (sl_vindex_has (index, ids [r]) == live [r]);
        }
    }
    //  a removed vector is never returned, even for its own query
    memcpy (query, data, sizeof query);
    int got = sl_vindex_search (index, query, k, got_ids, got_s);
    for (int i = 0; i < got; i++)
        CHECK (got_ids [i] != ids [0]);

    //  concurrent searches while a writer adds and removes
    float queries [8 * 384];
    for (int i = 0; i < 8; i++)
        s_random_vector (queries + i * dim, dim);
    s_reader_t readers [2] = {
        { index, queries, dim, 200, 0 }, { index, queries, dim, 200, 0 }
    };
    pthread_t threads [2];
    for (int i = 0; i < 2; i++)
        CHECK (pthread_create (&threads [i], NULL, s_reader, &readers [i]) == 0);
    for (size_t r = 0; r < n; r += 3) {
        CHECK (sl_vindex_add (index, ids [r], data + r * (size_t) dim) == 0);
        live [r] = true;
    }
    for (size_t r = 1; r < n; r += 5) {
        CHECK (sl_vindex_remove (index, ids [r]) == 0);
        live [r] = false;
    }
    for (int i = 0; i < 2; i++) {
        pthread_join (threads [i], NULL);
        CHECK (readers [i].failures == 0);
    }
    s_random_vector (query, dim);
    got = sl_vindex_search (index, query, k, got_ids, got_s);
    int want = s_brute_topk (data, ids, live, n, dim, query, k, want_ids, want_s);
    CHECK (got == want);
    s_assert_same_topk (k, got_ids, got_s, want_ids, want_s);

    sl_vindex_destroy (&index);
    free (data);
    free (ids);
    free (live);
}

//  Latency figure (verbose only: a benchmark, not a behaviour)
static void
s_test_latency (void)
{
    const int dim = 384;
    const size_t n = 100000;
    sl_vindex_t *index = sl_vindex_new (dim);
    float v [384];
    for (size_t r = 0; r < n; r++) {
        s_random_vector (v, dim);
        CHECK (sl_vindex_add (index, (int64_t) r, v) == 0);
    }
    int64_t ids [10];
    float scores [10];
    s_random_vector (v, dim);
    sl_vindex_search (index, v, 10, ids, scores);      //  warm up
    struct timespec t0;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    const int rounds = 50;
    for (int i = 0; i < rounds; i++)
        CHECK (sl_vindex_search (index, v, 10, ids, scores) == 10);
    printf ("   search 100k x 384, k=10: %.2f ms/query\n", s_elapsed_ms (&t0) / rounds);
    sl_vindex_destroy (&index);
}

//  Search within an allowed set equals brute force over that set: a few
//  rows (scored one by one), most rows (one pass, bitmap), sparse ids far
//  apart (binary search), ids absent from the index, nothing allowed
static void
s_test_search_in (void)
{
    enum { N = 2000, DIM = 16, K = 10 };
    sl_vindex_t *index = sl_vindex_new (DIM);
    float *data = malloc (sizeof (float) * N * DIM);
    int64_t ids [N];
    bool live [N];
    for (int r = 0; r < N; r++) {
        ids [r] = r % 2 ? (int64_t) r * 100000007 : r + 1;     //  dense and far-apart ids
        s_random_vector (data + (size_t) r * DIM, DIM);
        CHECK (sl_vindex_add (index, ids [r], data + (size_t) r * DIM) == 0);
    }
    float q [DIM];
    s_random_vector (q, DIM);
    int64_t *allowed = malloc (sizeof (int64_t) * (N + 1));
    for (int every = 1; every <= 64; every *= 4) {
        size_t n_allowed = 0;
        for (int r = 0; r < N; r++) {
            live [r] = r % every == 0;
            if (live [r])
                allowed [n_allowed++] = ids [r];
        }
        allowed [n_allowed++] = -5;     //  not in the index: skipped
        //  ascending, as the store gives them
        for (size_t i = 1; i < n_allowed; i++)
            for (size_t j = i; j > 0 && allowed [j - 1] > allowed [j]; j--) {
                int64_t t = allowed [j]; allowed [j] = allowed [j - 1]; allowed [j - 1] = t;
            }
        int64_t got_ids [K], ref_ids [K];
        float got_s [K], ref_s [K];
        int got = sl_vindex_search_in (index, q, K, allowed, n_allowed, got_ids, got_s);
        int ref = s_brute_topk (data, ids, live, N, DIM, q, K, ref_ids, ref_s);
        CHECK (got == ref);
        s_assert_same_topk (got, got_ids, got_s, ref_ids, ref_s);
    }
    int64_t one [1] = { ids [0] }, out [K];
    float out_s [K];
    CHECK (sl_vindex_search_in (index, q, K, one, 0, out, out_s) == 0);
    CHECK (sl_vindex_search_in (index, q, K, one, 1, out, out_s) == 1 && out [0] == ids [0]);
    free (allowed);
    free (data);
    sl_vindex_destroy (&index);
}

//  Search by tags equals brute force over the rows of allowed tags; untagged
//  rows and tags past the table never match; a re-add moves a row's tag
static void
s_test_search_tags (void)
{
    enum { N = 3000, DIM = 16, K = 10, TAGS = 50 };
    sl_vindex_t *index = sl_vindex_new (DIM);
    float *data = malloc (sizeof (float) * N * DIM);
    int64_t ids [N];
    int32_t tags [N];
    bool live [N];
    for (int r = 0; r < N; r++) {
        ids [r] = r + 1;
        tags [r] = r % 7 == 0 ? -1 : r % (TAGS + 5);      //  some untagged, some past TAGS
        s_random_vector (data + (size_t) r * DIM, DIM);
        CHECK (sl_vindex_add_tagged (index, ids [r], data + (size_t) r * DIM, tags [r]) == 0);
    }
    //  removals swap rows: tags must follow their rows
    for (int r = 0; r < N; r += 11)
        CHECK (sl_vindex_remove (index, ids [r]) == 0);
    uint8_t allowed [TAGS] = { 0 };
    for (int t = 0; t < TAGS; t += 3)
        allowed [t] = 1;
    for (int r = 0; r < N; r++)
        live [r] = r % 11 != 0 && tags [r] >= 0 && tags [r] < TAGS && allowed [tags [r]];
    float q [DIM];
    s_random_vector (q, DIM);
    int64_t got_ids [K], ref_ids [K];
    float got_s [K], ref_s [K];
    int got = sl_vindex_search_tags (index, q, K, allowed, TAGS, got_ids, got_s);
    int ref = s_brute_topk (data, ids, live, N, DIM, q, K, ref_ids, ref_s);
    CHECK (got == ref && got == K);
    s_assert_same_topk (got, got_ids, got_s, ref_ids, ref_s);
    //  re-tag the best row out of the allowed set: it is gone from the results
    int best = (int) got_ids [0] - 1;
    CHECK (sl_vindex_add_tagged (index, ids [best], data + (size_t) best * DIM, 1) == 0);
    got = sl_vindex_search_tags (index, q, K, allowed, TAGS, got_ids, got_s);
    for (int i = 0; i < got; i++)
        CHECK (got_ids [i] != ids [best]);
    CHECK (sl_vindex_search_tags (index, q, K, allowed, 0, got_ids, got_s) == 0);
    free (data);
    sl_vindex_destroy (&index);
}

void
sl_vindex_test (bool verbose)
{
    printf (" * sl_vindex: ");
    if (verbose)
        printf ("\n");
    CASE ("empty index and k edge cases", s_test_edge_cases ());
    CASE ("small index: k > n, duplicate id replaced in place, score, ties, swap", s_test_small_index ());
    CASE ("exact top-k equals brute force, before and after removals, under concurrency", s_test_exact_topk ());
    CASE ("search within an allowed set equals brute force over it", s_test_search_in ());
    CASE ("search by tags equals brute force over the allowed tags' rows", s_test_search_tags ());
    if (verbose)            //  a benchmark, not a behaviour
        CASE ("latency figure (verbose only)", s_test_latency ());
    printf ("OK\n");
}
