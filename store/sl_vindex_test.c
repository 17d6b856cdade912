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
#include <unistd.h>

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

//  --------------------------------------------------------------------------
//  Approximate mode (an HNSW graph above min_rows), against exact search

#define A_DIM     48
#define A_CLUSTERS 20
#define A_PER     100
#define A_N       (A_CLUSTERS * A_PER)
#define A_MIN     500

//  Clustered unit vectors (embeddings cluster by topic; uniform noise is
//  the worst case of every graph index): row r is in cluster r / A_PER,
//  its id r + 1
static float *
s_clustered (void)
{
    float *centres = malloc ((size_t) A_CLUSTERS * A_DIM * sizeof (float));
    float *data = malloc ((size_t) A_N * A_DIM * sizeof (float));
    assert (centres && data);
    for (int c = 0; c < A_CLUSTERS; c++)
        s_random_vector (centres + (size_t) c * A_DIM, A_DIM);
    for (int r = 0; r < A_N; r++) {
        float *v = data + (size_t) r * A_DIM;
        s_random_vector (v, A_DIM);
        double norm = 0;
        for (int i = 0; i < A_DIM; i++) {
            v [i] = centres [(size_t) (r / A_PER) * A_DIM + i] + 0.3f * v [i];
            norm += (double) v [i] * v [i];
        }
        for (int i = 0; i < A_DIM; i++)
            v [i] = (float) (v [i] / sqrt (norm));
    }
    free (centres);
    return data;
}

//  Two indexes of the same rows: one approximate, one exact (the reference)
static void
s_pair (const float *data, sl_vindex_t **approx, sl_vindex_t **exact)
{
    *approx = sl_vindex_new (A_DIM);
    *exact = sl_vindex_new (A_DIM);
    CHECK (sl_vindex_set_approximate (*approx, A_MIN) == 0);
    for (int r = 0; r < A_N; r++) {
        CHECK (sl_vindex_add_tagged (*approx, r + 1, data + (size_t) r * A_DIM, r / A_PER) == 0);
        CHECK (sl_vindex_add_tagged (*exact, r + 1, data + (size_t) r * A_DIM, r / A_PER) == 0);
    }
}

//  recall@10 of approx against exact over queries near random rows
static double
s_recall (sl_vindex_t *approx, sl_vindex_t *exact, const float *data)
{
    int hits = 0, total = 0;
    for (int q = 0; q < 50; q++) {
        const float *query = data + (size_t) ((q * 37) % A_N) * A_DIM;
        int64_t a_ids [10], e_ids [10];
        float a_s [10], e_s [10];
        int a = sl_vindex_search (approx, query, 10, a_ids, a_s);
        int e = sl_vindex_search (exact, query, 10, e_ids, e_s);
        CHECK (a == 10 && e == 10);
        for (int i = 0; i < e; i++)
            for (int j = 0; j < a; j++)
                hits += e_ids [i] == a_ids [j];
        total += e;
    }
    return (double) hits / total;
}

static void
s_test_graph_threshold (void)
{
    sl_vindex_t *index = sl_vindex_new (A_DIM);
    float *data = s_clustered ();
    CHECK (sl_vindex_set_approximate (index, A_MIN) == 0);
    for (int r = 0; r < A_MIN - 1; r++)
        CHECK (sl_vindex_add (index, r + 1, data + (size_t) r * A_DIM) == 0);
    CHECK (!sl_vindex_approximate (index));
    CHECK (sl_vindex_add (index, A_MIN, data + (size_t) (A_MIN - 1) * A_DIM) == 0);
    CHECK (sl_vindex_approximate (index));
    //  under min_rows the graph stays (no flapping); under half it goes
    for (int r = A_MIN; r > A_MIN / 2; r--)
        CHECK (sl_vindex_remove (index, r) == 0);
    CHECK (sl_vindex_approximate (index));
    CHECK (sl_vindex_remove (index, A_MIN / 2) == 0);
    CHECK (!sl_vindex_approximate (index));
    CHECK (sl_vindex_size (index) == A_MIN / 2 - 1);
    free (data);
    sl_vindex_destroy (&index);
}

static void
s_test_graph_recall (void)
{
    float *data = s_clustered ();
    sl_vindex_t *approx, *exact;
    s_pair (data, &approx, &exact);
    CHECK (sl_vindex_approximate (approx));
    CHECK (s_recall (approx, exact, data) >= 0.95);
    //  scores are the same dot products the exact index gives
    int64_t ids [10];
    float scores [10], exact_score;
    CHECK (sl_vindex_search (approx, data, 10, ids, scores) == 10);
    CHECK (sl_vindex_score (exact, ids [0], data, &exact_score) == 0);
    CHECK (fabsf (scores [0] - exact_score) < 1e-4f);
    free (data);
    sl_vindex_destroy (&approx);
    sl_vindex_destroy (&exact);
}

static void
s_test_graph_remove_readd (void)
{
    float *data = s_clustered ();
    sl_vindex_t *approx, *exact;
    s_pair (data, &approx, &exact);
    int64_t ids [10];
    float scores [10];
    //  a removed row is never returned, even for its own vector
    CHECK (sl_vindex_remove (approx, 7) == 0);
    int n = sl_vindex_search (approx, data + 6 * A_DIM, 10, ids, scores);
    CHECK (n == 10);
    for (int i = 0; i < n; i++)
        CHECK (ids [i] != 7);
    //  re-adding an id replaces its vector: found under the new one
    float moved [A_DIM];
    memcpy (moved, data + (size_t) (A_N - 1) * A_DIM, sizeof moved);
    CHECK (sl_vindex_add (approx, 7, moved) == 0);
    CHECK (sl_vindex_add (approx, 8, moved) == 0);
    CHECK (sl_vindex_size (approx) == A_N);
    n = sl_vindex_search (approx, moved, 3, ids, scores);
    bool found7 = false, found8 = false;
    for (int i = 0; i < n; i++) {
        found7 |= ids [i] == 7;
        found8 |= ids [i] == 8;
    }
    CHECK (found7 && found8);
    //  remove most rows: the graph is rebuilt (removed outnumber live) and
    //  what is left is still found, what went never comes back
    for (int r = 1; r <= A_N * 3 / 4; r++)
        sl_vindex_remove (approx, r);
    CHECK (sl_vindex_approximate (approx));
    n = sl_vindex_search (approx, data, 10, ids, scores);
    CHECK (n == 10);
    for (int i = 0; i < n; i++)
        CHECK (ids [i] > A_N * 3 / 4);
    free (data);
    sl_vindex_destroy (&approx);
    sl_vindex_destroy (&exact);
}

//  Filters on the graph equal exact filters: a set too small for the
//  graph, and a large set far from the query, where a post-filter of the
//  graph's candidates would return none
static void
s_test_graph_filters (void)
{
    float *data = s_clustered ();
    sl_vindex_t *approx, *exact;
    s_pair (data, &approx, &exact);
    const float *query = data;              //  in cluster 0
    size_t n_far = (size_t) A_N / 2;        //  clusters 10..19: > A_MIN rows
    int64_t *far = malloc (n_far * sizeof *far);
    for (size_t i = 0; i < n_far; i++)
        far [i] = (int64_t) (A_N / 2 + i + 1);
    int64_t few [5] = { 150, 420, 999, 1500, 1999 };
    uint8_t tags [A_CLUSTERS] = { 0 };
    for (int c = A_CLUSTERS / 2; c < A_CLUSTERS; c++)
        tags [c] = 1;
    //  the premise: the unfiltered top 40 hold no allowed row
    int64_t a_ids [40], e_ids [40];
    float a_s [40], e_s [40];
    int n = sl_vindex_search (approx, query, 40, a_ids, a_s);
    for (int i = 0; i < n; i++)
        CHECK (a_ids [i] <= A_N / 2);
    struct { const int64_t *set; size_t n; } cases [] = { { few, 5 }, { far, n_far } };
    for (int c = 0; c < 2; c++) {
        int a = sl_vindex_search_in (approx, query, 10, cases [c].set, cases [c].n, a_ids, a_s);
        int e = sl_vindex_search_in (exact, query, 10, cases [c].set, cases [c].n, e_ids, e_s);
        CHECK (a == e && a == (c == 0 ? 5 : 10));
        s_assert_same_topk (a, a_ids, a_s, e_ids, e_s);
    }
    int a = sl_vindex_search_tags (approx, query, 10, tags, A_CLUSTERS, a_ids, a_s);
    int e = sl_vindex_search_tags (exact, query, 10, tags, A_CLUSTERS, e_ids, e_s);
    CHECK (a == e && a == 10);
    s_assert_same_topk (a, a_ids, a_s, e_ids, e_s);
    tags [A_CLUSTERS - 1] = 0;              //  one cluster: few rows
    memset (tags, 0, sizeof tags);
    tags [3] = 1;
    a = sl_vindex_search_tags (approx, query, 10, tags, A_CLUSTERS, a_ids, a_s);
    e = sl_vindex_search_tags (exact, query, 10, tags, A_CLUSTERS, e_ids, e_s);
    CHECK (a == e && a == 10);
    s_assert_same_topk (a, a_ids, a_s, e_ids, e_s);
    free (far);
    free (data);
    sl_vindex_destroy (&approx);
    sl_vindex_destroy (&exact);
}

static char s_graph_dir [] = "/tmp/sl_vindex_test.XXXXXX";

static void
s_truncate (const char *path)
{
    FILE *file = fopen (path, "r+");
    CHECK (file);
    CHECK (fseek (file, 0, SEEK_END) == 0);
    long size = ftell (file);
    CHECK (ftruncate (fileno (file), size / 2) == 0);
    fclose (file);
}

//  A fresh index of the first n rows opened with the file at path
static int
s_reopen (const float *data, int n, const char *path, const char *model, size_t *applied,
          sl_vindex_t **index_p)
{
    sl_vindex_t *index = sl_vindex_new (A_DIM);
    for (int r = 0; r < n; r++)
        CHECK (sl_vindex_add (index, r + 1, data + (size_t) r * A_DIM) == 0);
    int64_t gen;
    int how = sl_vindex_open_graph (index, A_MIN, path, model, &gen, applied);
    CHECK (how == SL_VINDEX_BUILT || gen >= 42);
    CHECK (sl_vindex_approximate (index));
    *index_p = index;
    return how;
}

static void
s_test_graph_file (void)
{
    CHECK (mkdtemp (s_graph_dir));
    char path [64], meta [80];
    snprintf (path, sizeof path, "%s/ws.hnsw", s_graph_dir);
    snprintf (meta, sizeof meta, "%s.meta", path);
    float *data = s_clustered ();
    sl_vindex_t *approx, *exact, *again;
    s_pair (data, &approx, &exact);
    CHECK (sl_vindex_save (exact, path, "m1", 42) == 1);        //  no graph
    CHECK (sl_vindex_save (approx, path, "m1", 42) == 0);
    //  the same rows: reused as is, and searches as the original did
    size_t applied;
    CHECK (s_reopen (data, A_N, path, "m1", &applied, &again) == SL_VINDEX_REUSED);
    CHECK (applied == 0);
    CHECK (sl_vindex_save (again, path, "m1", 42) == 1);        //  nothing changed
    int64_t a_ids [10], b_ids [10];
    float a_s [10], b_s [10];
    CHECK (sl_vindex_search (approx, data, 10, a_ids, a_s) == 10);
    CHECK (sl_vindex_search (again, data, 10, b_ids, b_s) == 10);
    CHECK (memcmp (a_ids, b_ids, sizeof a_ids) == 0);
    sl_vindex_destroy (&again);
    //  rows gone since (the last 10), one changed: only those applied
    sl_vindex_t *fewer = sl_vindex_new (A_DIM);
    for (int r = 0; r < A_N - 10; r++)
        CHECK (sl_vindex_add (fewer, r + 1, data + (size_t) (r == 0 ? 1 : r) * A_DIM) == 0);
    int64_t gen;
    CHECK (sl_vindex_open_graph (fewer, A_MIN, path, "m1", &gen, &applied) == SL_VINDEX_REUSED);
    CHECK (applied == 11 && gen == 42 && sl_vindex_size (fewer) == A_N - 10);
    CHECK (sl_vindex_save (fewer, path, "m1", 43) == 0);        //  changed: written
    CHECK (sl_vindex_save (fewer, path, "m1", 43) == 1);        //  and then clean
    int n = sl_vindex_search (fewer, data + (size_t) (A_N - 1) * A_DIM, 10, b_ids, b_s);
    for (int i = 0; i < n; i++)
        CHECK (b_ids [i] <= A_N - 10);
    sl_vindex_destroy (&fewer);
    CHECK (s_reopen (data, A_N, path, "m1", &applied, &again) == SL_VINDEX_REUSED);
    CHECK (applied == 11);      //  the file of fewer, back to all rows
    sl_vindex_destroy (&again);
    //  another model, another dim: never trusted, rebuilt
    CHECK (s_reopen (data, A_N, path, "m2", NULL, &again) == SL_VINDEX_BUILT);
    sl_vindex_destroy (&again);
    sl_vindex_t *wide = sl_vindex_new (A_DIM + 1);
    float row [A_DIM + 1] = { 1 };
    for (int r = 0; r < A_MIN; r++)
        CHECK (sl_vindex_add (wide, r + 1, row) == 0);
    CHECK (sl_vindex_open_graph (wide, A_MIN, path, "m1", NULL, NULL) == SL_VINDEX_BUILT);
    sl_vindex_destroy (&wide);
    //  below min_rows: exact, the file is not read
    sl_vindex_t *small = sl_vindex_new (A_DIM);
    CHECK (sl_vindex_open_graph (small, A_MIN, path, "m1", NULL, NULL) == SL_VINDEX_EXACT);
    sl_vindex_destroy (&small);
    //  a truncated graph, a garbled meta, a missing file: rebuilt
    s_truncate (path);
    CHECK (s_reopen (data, A_N, path, "m1", NULL, &again) == SL_VINDEX_BUILT);
    CHECK (sl_vindex_save (again, path, "m1", 42) == 0);
    sl_vindex_destroy (&again);
    CHECK (s_reopen (data, A_N, path, "m1", NULL, &again) == SL_VINDEX_REUSED);
    sl_vindex_destroy (&again);
    FILE *file = fopen (meta, "w");
    CHECK (file && fputs ("sluice-vindex-graph 1\ndim 48\nmodel m1\n", file) >= 0);
    fclose (file);
    CHECK (s_reopen (data, A_N, path, "m1", NULL, &again) == SL_VINDEX_BUILT);
    sl_vindex_destroy (&again);
    CHECK (unlink (path) == 0 && unlink (meta) == 0);
    CHECK (s_reopen (data, A_N, path, "m1", NULL, &again) == SL_VINDEX_BUILT);
    sl_vindex_destroy (&again);
    //  an unwritable place: -1, nothing half written (a re-add: something to write)
    CHECK (sl_vindex_add (approx, 1, data) == 0);
    CHECK (sl_vindex_save (approx, "/nonexistent/dir/ws.hnsw", "m1", 1) == -1);
    CHECK (rmdir (s_graph_dir) == 0);
    //  swap moves the graph with the contents
    sl_vindex_swap (exact, approx);
    CHECK (sl_vindex_approximate (exact) && !sl_vindex_approximate (approx));
    free (data);
    sl_vindex_destroy (&approx);
    sl_vindex_destroy (&exact);
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
    CASE ("graph built at min_rows, dropped under half of it", s_test_graph_threshold ());
    CASE ("graph recall@10 >= 0.95 against exact on clustered vectors", s_test_graph_recall ());
    CASE ("graph: removed never returned, re-add replaces, rebuild after many removals",
          s_test_graph_remove_readd ());
    CASE ("graph: filtered searches equal exact ones where a post-filter finds too few",
          s_test_graph_filters ());
    CASE ("graph file: reused, changes applied, other model/dim, truncated, garbled, missing",
          s_test_graph_file ());
    if (verbose)            //  a benchmark, not a behaviour
        CASE ("latency figure (verbose only)", s_test_latency ());
    printf ("OK\n");
}
