/*  sl_vindex: exact in-memory vector index. See sl_vindex.h.

    Layout: data is a capacity x dim row-major matrix whose first size rows
    are live; ids[row] is the id of each row. The id -> row map is an open
    addressing table with linear probing and backward-shift deletion (no
    tombstones, so probe chains never rot after many removals), kept at most
    half full.

    Search cost is one sgemv over size x dim floats plus O(n log k) for the
    heap. It is memory-bandwidth bound: 100k x 384 is 150 MB read per query,
    about 10 ms on one core of a typical server.
*/
#include "sl_vindex.h"

#include <assert.h>
#include <cblas.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

typedef struct {
    int64_t id;
    int64_t row;                //  -1: empty slot
} s_slot_t;

struct sl_vindex_s {
    int dim;
    size_t size;                //  live rows
    size_t capacity;            //  allocated rows
    float *data;                //  capacity x dim
    int64_t *ids;               //  capacity: row -> id
    s_slot_t *slots;            //  nslots: id -> row
    size_t nslots;              //  power of two
    pthread_rwlock_t lock;
};

//  splitmix64 finaliser: chunk keys are sequential, so spread them out
static inline size_t
s_hash (int64_t id)
{
    uint64_t x = (uint64_t) id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t) x;
}

//  Slot holding id, or -1.
static ssize_t
s_find (sl_vindex_t *self, int64_t id)
{
    size_t mask = self->nslots - 1;
    for (size_t i = s_hash (id) & mask;; i = (i + 1) & mask) {
        if (self->slots [i].row < 0)
            return -1;
        if (self->slots [i].id == id)
            return (ssize_t) i;
    }
}

//  Insert an id known to be absent; the table has room.
static void
s_slot_put (s_slot_t *slots, size_t nslots, int64_t id, int64_t row)
{
    size_t mask = nslots - 1;
    size_t i = s_hash (id) & mask;
    while (slots [i].row >= 0)
        i = (i + 1) & mask;
    slots [i].id = id;
    slots [i].row = row;
}

//  Empty slot i and shift later members of its probe chain back, so every
//  remaining id stays reachable from its home slot without tombstones.
static void
s_slot_delete (sl_vindex_t *self, size_t i)
{
    size_t mask = self->nslots - 1;
    size_t j = i;
    self->slots [i].row = -1;
    while (true) {
        j = (j + 1) & mask;
        if (self->slots [j].row < 0)
            return;
        size_t home = s_hash (self->slots [j].id) & mask;
        //  Entry j may move to the hole i only if its home is not in the
        //  cyclic range (i, j]: otherwise moving it would put it before home.
        bool home_in_range = i <= j ? (home > i && home <= j)
                                    : (home > i || home <= j);
        if (!home_in_range) {
            self->slots [i] = self->slots [j];
            self->slots [j].row = -1;
            i = j;
        }
    }
}

static s_slot_t *
s_slots_new (size_t nslots)
{
    s_slot_t *slots = malloc (nslots * sizeof *slots);
    if (slots)
        for (size_t i = 0; i < nslots; i++)
            slots [i].row = -1;
    return slots;
}

//  Make room for one more row (matrix and map). Returns 0 or -1.
static int
s_reserve (sl_vindex_t *self)
{
    if (self->size + 1 > self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 64;
        //  sgemv takes the row count as an int
        if (capacity > (size_t) INT_MAX)
            capacity = (size_t) INT_MAX;
        if (capacity <= self->size
        ||  capacity > SIZE_MAX / sizeof (float) / (size_t) self->dim)
            return -1;
        float *data = realloc (self->data, capacity * (size_t) self->dim * sizeof (float));
        if (!data)
            return -1;
        self->data = data;
        int64_t *ids = realloc (self->ids, capacity * sizeof (int64_t));
        if (!ids)
            return -1;          //  data grew, harmless: capacity unchanged
        self->ids = ids;
        self->capacity = capacity;
    }
    if ((self->size + 1) * 2 > self->nslots) {
        size_t nslots = self->nslots * 2;
        s_slot_t *slots = s_slots_new (nslots);
        if (!slots)
            return -1;
        for (size_t row = 0; row < self->size; row++)
            s_slot_put (slots, nslots, self->ids [row], (int64_t) row);
        free (self->slots);
        self->slots = slots;
        self->nslots = nslots;
    }
    return 0;
}

sl_vindex_t *
sl_vindex_new (int dim)
{
    assert (dim >= 1);
    sl_vindex_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->dim = dim;
    self->nslots = 64;
    self->slots = s_slots_new (self->nslots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    pthread_rwlock_init (&self->lock, NULL);
    return self;
}

void
sl_vindex_destroy (sl_vindex_t **self_p)
{
    assert (self_p);
    sl_vindex_t *self = *self_p;
    if (!self)
        return;
    pthread_rwlock_destroy (&self->lock);
    free (self->data);
    free (self->ids);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

int
sl_vindex_dim (sl_vindex_t *self)
{
    assert (self);
    pthread_rwlock_rdlock (&self->lock);
    int dim = self->dim;
    pthread_rwlock_unlock (&self->lock);
    return dim;
}

size_t
sl_vindex_size (sl_vindex_t *self)
{
    assert (self);
    pthread_rwlock_rdlock (&self->lock);
    size_t size = self->size;
    pthread_rwlock_unlock (&self->lock);
    return size;
}

bool
sl_vindex_has (sl_vindex_t *self, int64_t id)
{
    assert (self);
    pthread_rwlock_rdlock (&self->lock);
    bool has = s_find (self, id) >= 0;
    pthread_rwlock_unlock (&self->lock);
    return has;
}

int
sl_vindex_add (sl_vindex_t *self, int64_t id, const float *vec)
{
    assert (self);
    assert (vec);
    size_t width = (size_t) self->dim * sizeof (float);
    pthread_rwlock_wrlock (&self->lock);
    int rc = 0;
    ssize_t slot = s_find (self, id);
    if (slot >= 0)
        memcpy (self->data + (size_t) self->slots [slot].row * (size_t) self->dim, vec, width);
    else
    if (s_reserve (self) == 0) {
        memcpy (self->data + self->size * (size_t) self->dim, vec, width);
        self->ids [self->size] = id;
        s_slot_put (self->slots, self->nslots, id, (int64_t) self->size);
        self->size++;
    }
    else
        rc = -1;
    pthread_rwlock_unlock (&self->lock);
    return rc;
}

int
sl_vindex_remove (sl_vindex_t *self, int64_t id)
{
    assert (self);
    pthread_rwlock_wrlock (&self->lock);
    ssize_t slot = s_find (self, id);
    if (slot < 0) {
        pthread_rwlock_unlock (&self->lock);
        return -1;
    }
    size_t row = (size_t) self->slots [slot].row;
    size_t last = self->size - 1;
    s_slot_delete (self, (size_t) slot);
    if (row != last) {
        //  Move the last row into the hole and repoint its map entry
        memcpy (self->data + row * (size_t) self->dim,
                self->data + last * (size_t) self->dim, (size_t) self->dim * sizeof (float));
        self->ids [row] = self->ids [last];
        ssize_t moved = s_find (self, self->ids [row]);
        assert (moved >= 0);
        self->slots [moved].row = (int64_t) row;
    }
    self->size--;
    pthread_rwlock_unlock (&self->lock);
    return 0;
}

//  Heap order: a is "worse" than b (lower score; on equal score the larger
//  id loses, so results are deterministic).
static inline bool
s_worse (float sa, int64_t ia, float sb, int64_t ib)
{
    return sa < sb || (sa == sb && ia > ib);
}

static void
s_sift_down (float *score, int64_t *id, int n, int i)
{
    while (true) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && s_worse (score [l], id [l], score [m], id [m]))
            m = l;
        if (r < n && s_worse (score [r], id [r], score [m], id [m]))
            m = r;
        if (m == i)
            return;
        float ts = score [i]; score [i] = score [m]; score [m] = ts;
        int64_t ti = id [i]; id [i] = id [m]; id [m] = ti;
        i = m;
    }
}

static void
s_sift_up (float *score, int64_t *id, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!s_worse (score [i], id [i], score [p], id [p]))
            return;
        float ts = score [i]; score [i] = score [p]; score [p] = ts;
        int64_t ti = id [i]; id [i] = id [p]; id [p] = ti;
        i = p;
    }
}

int
sl_vindex_search (sl_vindex_t *self, const float *query, int k, int64_t *ids, float *scores)
{
    assert (self);
    assert (query);
    if (k <= 0)
        return 0;
    assert (ids && scores);
    pthread_rwlock_rdlock (&self->lock);
    size_t n = self->size;
    if (n == 0) {
        pthread_rwlock_unlock (&self->lock);
        return 0;
    }
    float *all = malloc (n * sizeof (float));
    if (!all) {
        pthread_rwlock_unlock (&self->lock);
        return -1;
    }
    cblas_sgemv (CblasRowMajor, CblasNoTrans, (int) n, self->dim, 1.0f,
                 self->data, self->dim, query, 1, 0.0f, all, 1);

    //  The output arrays are the heap: root = worst of the best k so far
    int count = 0;
    for (size_t row = 0; row < n; row++) {
        float s = all [row];
        int64_t id = self->ids [row];
        if (count < k) {
            scores [count] = s;
            ids [count] = id;
            s_sift_up (scores, ids, count++);
        }
        else
        if (s_worse (scores [0], ids [0], s, id)) {
            scores [0] = s;
            ids [0] = id;
            s_sift_down (scores, ids, count, 0);
        }
    }
    pthread_rwlock_unlock (&self->lock);
    free (all);

    //  Heap-sort in place: repeatedly move the worst to the end -> best first
    for (int end = count - 1; end > 0; end--) {
        float ts = scores [0]; scores [0] = scores [end]; scores [end] = ts;
        int64_t ti = ids [0]; ids [0] = ids [end]; ids [end] = ti;
        s_sift_down (scores, ids, end, 0);
    }
    return count;
}

void
sl_vindex_swap (sl_vindex_t *self, sl_vindex_t *other)
{
    assert (self);
    assert (other);
    assert (self != other);
    pthread_rwlock_wrlock (&self->lock);
    #define S_SWAP(field) do { __typeof__ (self->field) tmp = self->field; \
        self->field = other->field; other->field = tmp; } while (0)
    S_SWAP (dim);
    S_SWAP (size);
    S_SWAP (capacity);
    S_SWAP (data);
    S_SWAP (ids);
    S_SWAP (slots);
    S_SWAP (nslots);
    #undef S_SWAP
    pthread_rwlock_unlock (&self->lock);
}

//  --------------------------------------------------------------------------
//  Self test

#include <math.h>
#include <time.h>

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
        if (count < k || s_worse (out_scores [count - 1], out_ids [count - 1], s, ids [r])) {
            int pos = count < k ? count++ : k - 1;
            while (pos > 0 && s_worse (out_scores [pos - 1], out_ids [pos - 1], s, ids [r])) {
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
        assert (fabsf (a_s [i] - b_s [i]) < 1e-4f);
        if (a_ids [i] != b_ids [i])
            assert (fabsf (a_s [i] - b_s [i]) < 1e-5f);
    }
    for (int i = 1; i < n; i++)
        assert (a_s [i - 1] >= a_s [i]);
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

int
sl_vindex_score (sl_vindex_t *self, int64_t id, const float *query, float *score)
{
    assert (self);
    assert (query && score);
    pthread_rwlock_rdlock (&self->lock);
    ssize_t slot = s_find (self, id);
    if (slot >= 0)
        *score = cblas_sdot (self->dim, query, 1,
                             self->data + (size_t) self->slots [slot].row * (size_t) self->dim, 1);
    pthread_rwlock_unlock (&self->lock);
    return slot >= 0 ? 0 : -1;
}

void
sl_vindex_test (bool verbose)
{
    printf (" * sl_vindex: ");
    if (verbose)
        printf ("\n");

    //  Empty index and k edge cases
    {
        sl_vindex_t *index = sl_vindex_new (4);
        assert (index);
        float q [4] = { 1, 0, 0, 0 };
        int64_t ids [3];
        float scores [3];
        assert (sl_vindex_search (index, q, 3, ids, scores) == 0);
        assert (sl_vindex_search (index, q, 0, NULL, NULL) == 0);
        assert (sl_vindex_remove (index, 7) == -1);
        assert (!sl_vindex_has (index, 7));
        sl_vindex_destroy (&index);
        assert (index == NULL);
        sl_vindex_destroy (&index);
    }

    //  k > n returns all n rows, best first; duplicate id replaces in place
    {
        sl_vindex_t *index = sl_vindex_new (2);
        float v [5][2] = { { 1, 0 }, { 0, 1 }, { 0.6f, 0.8f }, { 0.8f, 0.6f }, { -1, 0 } };
        for (int i = 0; i < 5; i++)
            assert (sl_vindex_add (index, 100 + i, v [i]) == 0);
        assert (sl_vindex_size (index) == 5);
        float q [2] = { 1, 0 };
        int64_t ids [8];
        float scores [8];
        assert (sl_vindex_search (index, q, 8, ids, scores) == 5);
        int64_t want [5] = { 100, 103, 102, 101, 104 };
        for (int i = 0; i < 5; i++)
            assert (ids [i] == want [i]);
        assert (fabsf (scores [0] - 1.0f) < 1e-6f && fabsf (scores [4] + 1.0f) < 1e-6f);

        //  score of one row equals what search gives it; absent is -1
        float one = 0;
        assert (sl_vindex_score (index, 102, q, &one) == 0 && fabsf (one - 0.6f) < 1e-6f);
        assert (sl_vindex_score (index, 99, q, &one) == -1);

        float flipped [2] = { -1, 0 };
        assert (sl_vindex_add (index, 100, flipped) == 0);     //  replace
        assert (sl_vindex_size (index) == 5);
        assert (sl_vindex_search (index, q, 1, ids, scores) == 1);
        assert (ids [0] == 103);
        //  ties: 100 and 104 now hold the same vector; smaller id first
        float minus [2] = { -1, 0 };
        assert (sl_vindex_search (index, minus, 2, ids, scores) == 2);
        assert (ids [0] == 100 && ids [1] == 104);

        //  swap exchanges contents, including dim
        sl_vindex_t *fresh = sl_vindex_new (3);
        float v3 [3] = { 0, 0, 1 };
        assert (sl_vindex_add (fresh, 9, v3) == 0);
        sl_vindex_swap (index, fresh);
        assert (sl_vindex_dim (index) == 3 && sl_vindex_size (index) == 1);
        assert (sl_vindex_has (index, 9) && !sl_vindex_has (index, 100));
        assert (sl_vindex_dim (fresh) == 2 && sl_vindex_size (fresh) == 5);
        sl_vindex_destroy (&fresh);
        sl_vindex_destroy (&index);
    }

    //  Exact top-k equals brute force on 10k x 384, before and after removals
    {
        const int dim = 384;
        const size_t n = 10000;
        const int k = 10;
        float *data = malloc (n * (size_t) dim * sizeof (float));
        int64_t *ids = malloc (n * sizeof (int64_t));
        bool *live = malloc (n * sizeof (bool));
        assert (data && ids && live);
        sl_vindex_t *index = sl_vindex_new (dim);
        for (size_t r = 0; r < n; r++) {
            s_random_vector (data + r * (size_t) dim, dim);
            ids [r] = (int64_t) (r * 7 + 1);       //  sparse, not row numbers
            live [r] = true;
            assert (sl_vindex_add (index, ids [r], data + r * (size_t) dim) == 0);
        }
        assert (sl_vindex_size (index) == n);

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
                assert (got == k && want == k);
                s_assert_same_topk (k, got_ids, got_s, want_ids, want_s);
                if (q % 5 == 0)
                    assert (fabsf (got_s [0] - 1.0f) < 1e-4f);
            }
            if (round == 0) {
                //  remove 3000 rows (ids from everywhere, including the last
                //  rows so swap-remove moves and self-moves both happen)
                for (size_t r = 0; r < n; r += 3) {
                    assert (sl_vindex_remove (index, ids [r]) == 0);
                    assert (sl_vindex_remove (index, ids [r]) == -1);
                    live [r] = false;
                }
                size_t left = 0;
                for (size_t r = 0; r < n; r++)
                    left += live [r];
                assert (sl_vindex_size (index) == left);
                for (size_t r = 0; r < n; r++)
                    assert (sl_vindex_has (index, ids [r]) == live [r]);
            }
        }
        //  a removed vector is never returned, even for its own query
        memcpy (query, data, sizeof query);
        int got = sl_vindex_search (index, query, k, got_ids, got_s);
        for (int i = 0; i < got; i++)
            assert (got_ids [i] != ids [0]);

        //  concurrent searches while a writer adds and removes
        float queries [8 * 384];
        for (int i = 0; i < 8; i++)
            s_random_vector (queries + i * dim, dim);
        s_reader_t readers [2] = {
            { index, queries, dim, 200, 0 }, { index, queries, dim, 200, 0 }
        };
        pthread_t threads [2];
        for (int i = 0; i < 2; i++)
            assert (pthread_create (&threads [i], NULL, s_reader, &readers [i]) == 0);
        for (size_t r = 0; r < n; r += 3) {
            assert (sl_vindex_add (index, ids [r], data + r * (size_t) dim) == 0);
            live [r] = true;
        }
        for (size_t r = 1; r < n; r += 5) {
            assert (sl_vindex_remove (index, ids [r]) == 0);
            live [r] = false;
        }
        for (int i = 0; i < 2; i++) {
            pthread_join (threads [i], NULL);
            assert (readers [i].failures == 0);
        }
        s_random_vector (query, dim);
        got = sl_vindex_search (index, query, k, got_ids, got_s);
        int want = s_brute_topk (data, ids, live, n, dim, query, k, want_ids, want_s);
        assert (got == want);
        s_assert_same_topk (k, got_ids, got_s, want_ids, want_s);

        sl_vindex_destroy (&index);
        free (data);
        free (ids);
        free (live);
    }

    //  Latency figure (verbose only: a benchmark, not a behaviour)
    if (verbose) {
        const int dim = 384;
        const size_t n = 100000;
        sl_vindex_t *index = sl_vindex_new (dim);
        float v [384];
        for (size_t r = 0; r < n; r++) {
            s_random_vector (v, dim);
            assert (sl_vindex_add (index, (int64_t) r, v) == 0);
        }
        int64_t ids [10];
        float scores [10];
        s_random_vector (v, dim);
        sl_vindex_search (index, v, 10, ids, scores);      //  warm up
        struct timespec t0;
        clock_gettime (CLOCK_MONOTONIC, &t0);
        const int rounds = 50;
        for (int i = 0; i < rounds; i++)
            assert (sl_vindex_search (index, v, 10, ids, scores) == 10);
        printf ("   search 100k x 384, k=10: %.2f ms/query\n", s_elapsed_ms (&t0) / rounds);
        sl_vindex_destroy (&index);
    }
    printf ("OK\n");
}
