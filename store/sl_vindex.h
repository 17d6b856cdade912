/*  sl_vindex: an exact in-memory vector index (brute-force cosine search).

    The store keeps one index per (workspace, model). Rows live in one
    contiguous row-major n x dim float matrix so a search is a single
    cblas_sgemv (all n dot products at memory bandwidth) followed by a
    k-sized min-heap that keeps the best k. Vectors are expected to be
    L2-normalised by the embedder, so the dot product is the cosine.

    Each row carries a caller-chosen int64 id (the store uses the chunk's
    integer row key); an id -> row hash map makes remove O(1): the last row
    is moved into the hole ("swap-remove"), so the matrix stays dense.

    Adding an id that is already present REPLACES its vector in place (size
    unchanged). Redelivered messages and an index reload racing an
    incremental update then converge on the same contents instead of
    duplicating rows or failing.

    Thread-safety: every function may be called from any thread. A
    read-write lock lets searches run concurrently; add, remove, load and
    swap take it exclusively. Memory for the matrix is owned by the index.
*/
#ifndef SL_VINDEX_H_INCLUDED
#define SL_VINDEX_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_vindex_s sl_vindex_t;

//  Create an empty index for vectors of dim floats (dim >= 1). Caller owns
//  the index and must destroy it. Returns NULL if out of memory.
sl_vindex_t *sl_vindex_new (int dim);

//  Destroy the index and null the caller's pointer; safe on NULL.
//  No other thread may be using the index.
void sl_vindex_destroy (sl_vindex_t **self_p);

//  Dimension the index was created with (or swapped to).
int sl_vindex_dim (sl_vindex_t *self);

//  Number of rows.
size_t sl_vindex_size (sl_vindex_t *self);

//  True if id is present.
bool sl_vindex_has (sl_vindex_t *self, int64_t id);

//  Add vec (dim floats, copied) under id; if id is present, its vector is
//  replaced. Returns 0, or -1 if out of memory (index unchanged).
int sl_vindex_add (sl_vindex_t *self, int64_t id, const float *vec);

//  The same, tagging the row with tag (>= 0: the store's document number,
//  sl_docmap; -1: none), for sl_vindex_search_tags. sl_vindex_add is
//  this with tag -1. Re-adding an id replaces its tag too.
int sl_vindex_add_tagged (sl_vindex_t *self, int64_t id, const float *vec, int32_t tag);

//  Remove id (swap-remove). Returns 0, or -1 if id is not present.
int sl_vindex_remove (sl_vindex_t *self, int64_t id);

//  Write the best min(k, size) rows for query (dim floats) into ids and
//  scores (arrays of at least k), best first; ties go to the smaller id.
//  Returns the count written, or -1 if out of memory.
int sl_vindex_search (sl_vindex_t *self, const float *query, int k, int64_t *ids, float *scores);

//  The same over only the rows whose id is in allowed [0..n_allowed),
//  sorted ascending (ids absent from the index are skipped): a filtered
//  search. Few allowed rows are scored one by one; many go through the
//  same single pass as an unfiltered search, so a filter never costs more
//  than that pass. Returns the count written, or -1 if out of memory.
int sl_vindex_search_in (sl_vindex_t *self, const float *query, int k, const int64_t *allowed,
                         size_t n_allowed, int64_t *ids, float *scores);

//  The same over the rows whose tag t has allowed [t] != 0 (t < n_tags;
//  untagged rows never match): a search filtered to many documents, one
//  byte per document, in the single pass of an unfiltered search.
int sl_vindex_search_tags (sl_vindex_t *self, const float *query, int k, const uint8_t *allowed,
                          size_t n_tags, int64_t *ids, float *scores);

//  Dot product of query with id's vector into *score: how a hit that came
//  from somewhere else (the lexical index) gets the same similarity as the
//  rows search returns. Returns 0, or -1 if id is not present.
int sl_vindex_score (sl_vindex_t *self, int64_t id, const float *query, float *score);

//  Exchange the entire contents (rows, ids, dim) of self and other in one
//  step, so searches on self see either the old or the new contents, never
//  a mix. other must be private to the caller (typically freshly built).
void sl_vindex_swap (sl_vindex_t *self, sl_vindex_t *other);

//  Self test. Verbose also prints search latency on 100k x 384.
void sl_vindex_test (bool verbose);

#endif
