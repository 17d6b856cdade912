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
#include "sl_vindex_internal.h"
#include "sl_ann.h"

#include <assert.h>
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

//  Graph settings (sl_ann.h): m 16 and ef_construction 100 as hnswlib
//  recommends for recall; ef_search is sl_vindex_set_ef's
#define S_ANN_M         16
#define S_ANN_EF_BUILD  100
#define S_ANN_CAND_MAX  4096    //  most candidates a filtered search asks for

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
    int32_t *tags;              //  capacity: row -> tag (its document), -1 none
    s_slot_t *slots;            //  nslots: id -> row
    size_t nslots;              //  power of two
    size_t min_rows;            //  graph at this size and above; 0 never
    sl_ann_t *ann;              //  the graph, or NULL: exact
    int ef_search;              //  the graph's search width
    bool dirty;                 //  graph changed since last written or read
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
        int32_t *tags = realloc (self->tags, capacity * sizeof (int32_t));
        if (!tags)
            return -1;
        self->tags = tags;
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

//  --------------------------------------------------------------------------
//  The graph (approximate mode). The caller holds the write lock.

//  A graph of every row, or NULL if out of memory
static sl_ann_t *
s_graph_build (sl_vindex_t *self)
{
    sl_ann_t *ann = sl_ann_new (self->dim, S_ANN_M, S_ANN_EF_BUILD, self->ef_search);
    for (size_t row = 0; ann && row < self->size; row++)
        if (sl_ann_add (ann, self->ids [row], self->data + row * (size_t) self->dim))
            sl_ann_destroy (&ann);
    return ann;
}

//  Apply the size policy after a change (see the header). Returns 0, or -1
//  if a graph that was wanted could not be built (the index stays exact).
static int
s_graph_fit (sl_vindex_t *self)
{
    bool keep = self->min_rows > 0 && self->size * 2 >= self->min_rows;
    bool want = self->min_rows > 0 && self->size >= self->min_rows;
    if (self->ann && !keep)
        sl_ann_destroy (&self->ann);
    if (self->ann && sl_ann_removed (self->ann) > sl_ann_size (self->ann)) {
        sl_ann_destroy (&self->ann);
        want = keep;            //  too many removed waypoints: rebuild
    }
    if (!self->ann && want) {
        self->ann = s_graph_build (self);
        self->dirty = self->ann != NULL;
    }
    return want && !self->ann ? -1 : 0;
}

//  The graph follows the row just added or replaced; a failure drops it
static void
s_graph_add (sl_vindex_t *self, int64_t id, const float *vec)
{
    if (self->ann && sl_ann_add (self->ann, id, vec))
        sl_ann_destroy (&self->ann);
    self->dirty |= self->ann != NULL;
    s_graph_fit (self);
}

sl_vindex_t *
sl_vindex_new (int dim)
{
    assert (dim >= 1);
    sl_vindex_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->dim = dim;
    self->ef_search = SL_VINDEX_EF_DEFAULT;
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
    sl_ann_destroy (&self->ann);
    free (self->data);
    free (self->ids);
    free (self->tags);
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
    return sl_vindex_add_tagged (self, id, vec, -1);
}

int
sl_vindex_add_tagged (sl_vindex_t *self, int64_t id, const float *vec, int32_t tag)
{
    assert (self);
    assert (vec);
    size_t width = (size_t) self->dim * sizeof (float);
    pthread_rwlock_wrlock (&self->lock);
    int rc = 0;
    ssize_t slot = s_find (self, id);
    if (slot >= 0) {
        memcpy (self->data + (size_t) self->slots [slot].row * (size_t) self->dim, vec, width);
        self->tags [self->slots [slot].row] = tag;
    }
    else
    if (s_reserve (self) == 0) {
        memcpy (self->data + self->size * (size_t) self->dim, vec, width);
        self->ids [self->size] = id;
        self->tags [self->size] = tag;
        s_slot_put (self->slots, self->nslots, id, (int64_t) self->size);
        self->size++;
    }
    else
        rc = -1;
    if (rc == 0)
        s_graph_add (self, id, vec);
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
        self->tags [row] = self->tags [last];
        ssize_t moved = s_find (self, self->ids [row]);
        assert (moved >= 0);
        self->slots [moved].row = (int64_t) row;
    }
    self->size--;
    if (self->ann) {
        sl_ann_remove (self->ann, id);
        self->dirty = true;
    }
    s_graph_fit (self);
    pthread_rwlock_unlock (&self->lock);
    return 0;
}

static void
s_sift_down (float *score, int64_t *id, int n, int i)
{
    while (true) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && sl_vindex_worse (score [l], id [l], score [m], id [m]))
            m = l;
        if (r < n && sl_vindex_worse (score [r], id [r], score [m], id [m]))
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
        if (!sl_vindex_worse (score [i], id [i], score [p], id [p]))
            return;
        float ts = score [i]; score [i] = score [p]; score [p] = ts;
        int64_t ti = id [i]; id [i] = id [p]; id [p] = ti;
        i = p;
    }
}

//  Heap-sort the k-heap in place, repeatedly moving the worst to the end,
//  so it reads best first; returns count
static int
s_heap_sort (float *scores, int64_t *ids, int count)
{
    for (int end = count - 1; end > 0; end--) {
        float ts = scores [0]; scores [0] = scores [end]; scores [end] = ts;
        int64_t ti = ids [0]; ids [0] = ids [end]; ids [end] = ti;
        s_sift_down (scores, ids, end, 0);
    }
    return count;
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
    if (self->ann) {
        int count = sl_ann_search (self->ann, query, k, ids, scores);
        pthread_rwlock_unlock (&self->lock);
        return count;
    }
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
        if (sl_vindex_worse (scores [0], ids [0], s, id)) {
            scores [0] = s;
            ids [0] = id;
            s_sift_down (scores, ids, count, 0);
        }
    }
    pthread_rwlock_unlock (&self->lock);
    free (all);

    return s_heap_sort (scores, ids, count);
}

//  Keep (s, id) among the best k of ids/scores (a heap, root = worst)
static inline void
s_heap_offer (float *scores, int64_t *ids, int *count, int k, float s, int64_t id)
{
    if (*count < k) {
        scores [*count] = s;
        ids [*count] = id;
        s_sift_up (scores, ids, (*count)++);
    }
    else
    if (sl_vindex_worse (scores [0], ids [0], s, id)) {
        scores [0] = s;
        ids [0] = id;
        s_sift_down (scores, ids, *count, 0);
    }
}

//  Membership in a sorted id set: a bitmap over its span when that is
//  small (chunk keys of one workspace are dense), else binary search
typedef struct {
    const int64_t *ids;
    size_t n;
    uint64_t *bits;
    int64_t base;
} s_idset_t;

static void
s_idset_init (s_idset_t *set, const int64_t *ids, size_t n)
{
    *set = (s_idset_t) { .ids = ids, .n = n };
    if (n == 0)
        return;
    uint64_t span = (uint64_t) (ids [n - 1] - ids [0]) + 1;
    if (span > ((uint64_t) 1 << 26))
        return;                 //  > 8 MiB of bits: binary search instead
    set->base = ids [0];
    set->bits = calloc ((size_t) (span + 63) / 64, sizeof (uint64_t));
    for (size_t i = 0; set->bits && i < n; i++) {
        uint64_t bit = (uint64_t) (ids [i] - set->base);
        set->bits [bit / 64] |= (uint64_t) 1 << (bit % 64);
    }
}

static bool
s_idset_has (const s_idset_t *set, int64_t id)
{
    if (set->n == 0 || id < set->ids [0] || id > set->ids [set->n - 1])
        return false;
    if (set->bits) {
        uint64_t bit = (uint64_t) (id - set->base);
        return (set->bits [bit / 64] >> (bit % 64)) & 1;
    }
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->ids [mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < set->n && set->ids [lo] == id;
}

//  Is id allowed by a filter? (the graph's candidates are checked by it)
typedef bool (s_allow_fn) (sl_vindex_t *self, int64_t id, const void *filter);

static bool
s_allow_in (sl_vindex_t *self, int64_t id, const void *filter)
{
    return s_idset_has ((const s_idset_t *) filter, id);
}

typedef struct {
    const uint8_t *allowed;
    size_t n_tags;
} s_tagset_t;

static bool
s_allow_tag (sl_vindex_t *self, int64_t id, const void *filter)
{
    const s_tagset_t *set = (const s_tagset_t *) filter;
    ssize_t slot = s_find (self, id);
    int32_t tag = slot >= 0 ? self->tags [self->slots [slot].row] : -1;
    return tag >= 0 && (size_t) tag < set->n_tags && set->allowed [tag];
}

//  A filtered search through the graph when about n_allowed of the rows
//  pass the filter: ask for enough candidates to expect k allowed ones.
//  Returns the allowed count kept (best first; < k means: go exact), or
//  -1 if out of memory. The read lock is held.
static int
s_graph_filtered (sl_vindex_t *self, const float *query, int k, size_t n_allowed,
                  s_allow_fn *allow, const void *filter, int64_t *ids, float *scores)
{
    double want = 2.0 * k * (double) self->size / (double) (n_allowed ? n_allowed : 1);
    int cand = want > S_ANN_CAND_MAX ? S_ANN_CAND_MAX : (int) want;
    cand = cand < k ? k : cand;
    int64_t *cids = malloc ((size_t) cand * sizeof *cids);
    float *cscores = malloc ((size_t) cand * sizeof *cscores);
    int n = cids && cscores ? sl_ann_search (self->ann, query, cand, cids, cscores) : -1;
    int count = 0;
    for (int i = 0; i < n && count < k; i++)
        if (allow (self, cids [i], filter)) {
            ids [count] = cids [i];
            scores [count++] = cscores [i];
        }
    free (cids);
    free (cscores);
    return n < 0 ? -1 : count;
}

int
sl_vindex_search_in (sl_vindex_t *self, const float *query, int k, const int64_t *allowed,
                     size_t n_allowed, int64_t *ids, float *scores)
{
    assert (self);
    assert (query);
    if (k <= 0 || n_allowed == 0)
        return 0;
    assert (ids && scores && allowed);
    pthread_rwlock_rdlock (&self->lock);
    size_t n = self->size;
    int count = 0, rc = 0;
    if (self->ann && n_allowed > self->min_rows) {
        s_idset_t set;
        s_idset_init (&set, allowed, n_allowed);
        count = s_graph_filtered (self, query, k, n_allowed, s_allow_in, &set, ids, scores);
        free (set.bits);
        if (count == k) {
            pthread_rwlock_unlock (&self->lock);
            return count;
        }
        count = 0;              //  too few survived the filter: exact below
    }
    if (n_allowed * 4 < n) {
        //  Few rows allowed: score just those, no pass over the matrix
        for (size_t i = 0; i < n_allowed; i++) {
            ssize_t slot = s_find (self, allowed [i]);
            if (slot < 0)
                continue;
            const float *row = self->data + (size_t) self->slots [slot].row * (size_t) self->dim;
            float s = cblas_sdot (self->dim, row, 1, query, 1);
            s_heap_offer (scores, ids, &count, k, s, allowed [i]);
        }
    }
    else
    if (n > 0) {
        //  Many: one sgemv as an unfiltered search does, and only allowed
        //  rows enter the heap
        float *all = malloc (n * sizeof (float));
        s_idset_t set;
        s_idset_init (&set, allowed, n_allowed);
        if (all) {
            cblas_sgemv (CblasRowMajor, CblasNoTrans, (int) n, self->dim, 1.0f,
                         self->data, self->dim, query, 1, 0.0f, all, 1);
            for (size_t row = 0; row < n; row++)
                if (s_idset_has (&set, self->ids [row]))
                    s_heap_offer (scores, ids, &count, k, all [row], self->ids [row]);
        }
        else
            rc = -1;
        free (set.bits);
        free (all);
    }
    pthread_rwlock_unlock (&self->lock);
    if (rc)
        return -1;
    return s_heap_sort (scores, ids, count);
}

//  search_tags with a graph: count the allowed rows; few are scored one by
//  one, many go through the graph, and exact one by one if too few of its
//  candidates pass. The read lock is held.
static int
s_graph_tags (sl_vindex_t *self, const float *query, int k, const uint8_t *allowed,
              size_t n_tags, int64_t *ids, float *scores)
{
    size_t n_allowed = 0;
    for (size_t row = 0; row < self->size; row++) {
        int32_t tag = self->tags [row];
        n_allowed += tag >= 0 && (size_t) tag < n_tags && allowed [tag];
    }
    if (n_allowed > self->min_rows) {
        s_tagset_t set = { allowed, n_tags };
        int count = s_graph_filtered (self, query, k, n_allowed, s_allow_tag, &set, ids, scores);
        if (count == k || count < 0)
            return count;
    }
    int count = 0;
    for (size_t row = 0; row < self->size; row++) {
        int32_t tag = self->tags [row];
        if (tag >= 0 && (size_t) tag < n_tags && allowed [tag]) {
            const float *vec = self->data + row * (size_t) self->dim;
            s_heap_offer (scores, ids, &count, k, cblas_sdot (self->dim, vec, 1, query, 1),
                          self->ids [row]);
        }
    }
    return s_heap_sort (scores, ids, count);
}

int
sl_vindex_search_tags (sl_vindex_t *self, const float *query, int k, const uint8_t *allowed,
                       size_t n_tags, int64_t *ids, float *scores)
{
    assert (self);
    assert (query);
    if (k <= 0 || n_tags == 0)
        return 0;
    assert (ids && scores && allowed);
    pthread_rwlock_rdlock (&self->lock);
    if (self->ann) {
        int count = s_graph_tags (self, query, k, allowed, n_tags, ids, scores);
        pthread_rwlock_unlock (&self->lock);
        return count;
    }
    size_t n = self->size;
    int count = 0, rc = 0;
    float *all = n ? malloc (n * sizeof (float)) : NULL;
    if (n && !all)
        rc = -1;
    else
    if (n) {
        cblas_sgemv (CblasRowMajor, CblasNoTrans, (int) n, self->dim, 1.0f,
                     self->data, self->dim, query, 1, 0.0f, all, 1);
        for (size_t row = 0; row < n; row++) {
            int32_t tag = self->tags [row];
            if (tag >= 0 && (size_t) tag < n_tags && allowed [tag])
                s_heap_offer (scores, ids, &count, k, all [row], self->ids [row]);
        }
    }
    pthread_rwlock_unlock (&self->lock);
    free (all);
    if (rc)
        return -1;
    return s_heap_sort (scores, ids, count);
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
    S_SWAP (tags);
    S_SWAP (size);
    S_SWAP (capacity);
    S_SWAP (data);
    S_SWAP (ids);
    S_SWAP (slots);
    S_SWAP (nslots);
    S_SWAP (min_rows);
    S_SWAP (ann);
    S_SWAP (ef_search);
    S_SWAP (dirty);
    #undef S_SWAP
    pthread_rwlock_unlock (&self->lock);
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

//  --------------------------------------------------------------------------
//  Approximate mode and its file

int
sl_vindex_set_approximate (sl_vindex_t *self, size_t min_rows)
{
    assert (self);
    pthread_rwlock_wrlock (&self->lock);
    self->min_rows = min_rows;
    int rc = s_graph_fit (self);
    pthread_rwlock_unlock (&self->lock);
    return rc;
}

void
sl_vindex_set_ef (sl_vindex_t *self, int ef_search)
{
    assert (self);
    pthread_rwlock_wrlock (&self->lock);
    self->ef_search = ef_search >= 1 ? ef_search : SL_VINDEX_EF_DEFAULT;
    if (self->ann)
        sl_ann_set_ef (self->ann, self->ef_search);
    pthread_rwlock_unlock (&self->lock);
}

bool
sl_vindex_approximate (sl_vindex_t *self)
{
    assert (self);
    pthread_rwlock_rdlock (&self->lock);
    bool approximate = self->ann != NULL;
    pthread_rwlock_unlock (&self->lock);
    return approximate;
}

#define S_META_MAGIC "sluice-vindex-graph 1"

//  A checksum of a file's bytes (64-bit words, murmur-style mixing) and
//  its size. Returns 0, or -1 if it cannot be read.
static int
s_file_sum (const char *path, uint64_t *sum, uint64_t *bytes)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t block = 1 << 20;
    uint8_t *buf = malloc (block);
    uint64_t h = 0x9E3779B97F4A7C15ULL, total = 0;
    ssize_t got = buf ? 1 : -1;
    while (got > 0) {
        //  fill the block, so words never straddle two reads
        size_t have = 0;
        while (have < block && (got = read (fd, buf + have, block - have)) > 0)
            have += (size_t) got;
        memset (buf + have, 0, (8 - have % 8) % 8);
        for (size_t i = 0; i < have; i += 8) {
            uint64_t w;
            memcpy (&w, buf + i, 8);
            h = (h ^ (w * 0x87c37b91114253d5ULL)) * 0x4cf5ad432745937fULL;
            h ^= h >> 31;
        }
        total += have;
    }
    free (buf);
    close (fd);
    *sum = h ^ total;
    *bytes = total;
    return got < 0 ? -1 : 0;
}

//  Make a written file durable: fsync it (its bytes before the rename
//  that publishes them)
static int
s_fsync_path (const char *path)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

//  Write text to path via a temp file, fsync, rename
static int
s_write_atomic (const char *path, const char *text)
{
    char tmp [4096];
    if (snprintf (tmp, sizeof tmp, "%s.tmp", path) >= (int) sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *file = fopen (tmp, "we");
    if (!file)
        return -1;
    bool ok = fputs (text, file) >= 0;
    ok = fflush (file) == 0 && ok;
    ok = fsync (fileno (file)) == 0 && ok;
    ok = fclose (file) == 0 && ok;
    if (!ok || rename (tmp, path)) {
        unlink (tmp);
        return -1;
    }
    return 0;
}

int
sl_vindex_save (sl_vindex_t *self, const char *path, const char *model, int64_t gen)
{
    assert (self && path && model);
    char tmp [4096], meta_path [4096];
    if (snprintf (tmp, sizeof tmp, "%s.tmp", path) >= (int) sizeof tmp
    ||  snprintf (meta_path, sizeof meta_path, "%s.meta", path) >= (int) sizeof meta_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    //  Read lock: searches go on while the graph is written, writes wait
    pthread_rwlock_rdlock (&self->lock);
    int dim = self->dim;
    int rc = self->ann && __atomic_load_n (&self->dirty, __ATOMIC_RELAXED)
           ? sl_ann_write (self->ann, tmp) : 1;
    if (rc == 0)                //  a change after this waits for the lock
        __atomic_store_n (&self->dirty, false, __ATOMIC_RELAXED);
    pthread_rwlock_unlock (&self->lock);
    if (rc)
        return rc;
    uint64_t sum, bytes;
    if (s_fsync_path (tmp) || s_file_sum (tmp, &sum, &bytes) || rename (tmp, path)) {
        unlink (tmp);
        return -1;
    }
    char meta [1024];
    snprintf (meta, sizeof meta, S_META_MAGIC "\ndim %d\nmodel %.255s\ngeneration %lld\n"
              "bytes %llu\nsum %016llx\n", dim, model, (long long) gen,
              (unsigned long long) bytes, (unsigned long long) sum);
    return s_write_atomic (meta_path, meta);
}

//  The graph in path if path.meta vouches for it (this dim and model, the
//  file's size and checksum), else NULL: a file is never half trusted
static sl_ann_t *
s_graph_read (int dim, int ef_search, const char *path, const char *model, int64_t *file_gen)
{
    char meta_path [4096], meta [1024] = "", meta_model [256];
    if (snprintf (meta_path, sizeof meta_path, "%s.meta", path) >= (int) sizeof meta_path)
        return NULL;
    FILE *file = fopen (meta_path, "re");
    if (!file)
        return NULL;
    size_t len = fread (meta, 1, sizeof meta - 1, file);
    fclose (file);
    meta [len] = 0;
    int meta_dim;
    long long gen;
    unsigned long long bytes, sum;
    if (sscanf (meta, S_META_MAGIC "\ndim %d\nmodel %255s\ngeneration %lld\nbytes %llu\nsum %llx",
                &meta_dim, meta_model, &gen, &bytes, &sum) != 5
    ||  meta_dim != dim || strcmp (meta_model, model) != 0)
        return NULL;
    uint64_t file_sum, file_bytes;
    if (s_file_sum (path, &file_sum, &file_bytes) || file_bytes != bytes || file_sum != sum)
        return NULL;
    *file_gen = gen;
    return sl_ann_read (path, dim, ef_search);
}

typedef struct {
    sl_vindex_t *self;
    int64_t *gone;              //  graph ids the matrix no longer has
    size_t n_gone, cap;
    bool failed;
} s_stale_t;

static void
s_collect_stale (int64_t id, void *arg)
{
    s_stale_t *stale = (s_stale_t *) arg;
    if (stale->failed || s_find (stale->self, id) >= 0)
        return;
    if (stale->n_gone == stale->cap) {
        size_t cap = stale->cap ? stale->cap * 2 : 256;
        int64_t *gone = realloc (stale->gone, cap * sizeof *gone);
        if (!gone) {
            stale->failed = true;
            return;
        }
        stale->gone = gone;
        stale->cap = cap;
    }
    stale->gone [stale->n_gone++] = id;
}

//  Make a graph read from a file hold exactly the matrix's rows: add what
//  is missing or changed, remove what is gone. Returns rows applied, or -1.
static ssize_t
s_graph_reconcile (sl_vindex_t *self, sl_ann_t *ann)
{
    ssize_t applied = 0;
    for (size_t row = 0; row < self->size; row++) {
        const float *vec = self->data + row * (size_t) self->dim;
        if (!sl_ann_holds (ann, self->ids [row], vec)) {
            if (sl_ann_add (ann, self->ids [row], vec))
                return -1;
            applied++;
        }
    }
    s_stale_t stale = { .self = self };
    sl_ann_each (ann, s_collect_stale, &stale);
    for (size_t i = 0; i < stale.n_gone; i++)
        sl_ann_remove (ann, stale.gone [i]);
    free (stale.gone);
    if (stale.failed || sl_ann_size (ann) != self->size)
        return -1;
    return applied + (ssize_t) stale.n_gone;
}

int
sl_vindex_open_graph (sl_vindex_t *self, size_t min_rows, const char *path, const char *model,
                      int64_t *file_gen, size_t *applied)
{
    assert (self && path && model);
    int64_t gen = -1;
    ssize_t changed = 0;
    pthread_rwlock_wrlock (&self->lock);
    sl_ann_destroy (&self->ann);
    self->min_rows = min_rows;
    int how = SL_VINDEX_EXACT;
    if (min_rows > 0 && self->size >= min_rows) {
        self->ann = s_graph_read (self->dim, self->ef_search, path, model, &gen);
        if (self->ann && (changed = s_graph_reconcile (self, self->ann)) < 0)
            sl_ann_destroy (&self->ann);
        how = self->ann ? SL_VINDEX_REUSED : SL_VINDEX_BUILT;
        self->dirty = changed > 0;
        if (s_graph_fit (self))
            how = -1;
    }
    pthread_rwlock_unlock (&self->lock);
    if (file_gen)
        *file_gen = gen;
    if (applied)
        *applied = changed > 0 ? (size_t) changed : 0;
    return how;
}
