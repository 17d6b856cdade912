/*  sl_vindex: an in-memory vector index (cosine search), exact while small
    and approximate (an HNSW graph, sl_ann) once it is large.

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

    Approximate mode (sl_vindex_set_approximate): at min_rows rows and
    above, unfiltered searches walk an HNSW graph (sl_ann) built beside
    the matrix, instead of scoring every row. The matrix stays the truth:
    it answers sl_vindex_score, the filtered searches over few rows, and it
    is what the graph is rebuilt and checked from. Policy, once, here:
    - the graph is built from the matrix when the index reaches min_rows
      and dropped when it falls under min_rows / 2 (no flapping);
    - add and re-add insert or replace the row in the graph, remove marks it
      removed; when removed rows outnumber live ones the graph is rebuilt
      (hnswlib 0.6.2 cannot reuse their slots), so a rebuild costs O(live)
      after at least as many removals: amortised O(1) per removal;
    - a filtered search over at most min_rows allowed rows scores them
      exactly (what an exact index of that size would do); over more, it
      asks the graph for enough candidates to expect k allowed ones
      (2 k size / allowed, at most 4096) and, if fewer than k survive the
      filter, scores the allowed rows exactly. A filter never returns fewer
      rows than exact search would;
    - if the graph fails (out of memory) it is dropped: searches go exact.
    Memory: the graph holds its own copy of each vector plus its links
    (about dim * 4 + 200 bytes a row at m = 16), on top of the matrix.

    Persistence (sl_vindex_save / sl_vindex_open_graph): the graph is
    written to path (temp file, fsync, rename) with path.meta beside it
    (dim, model, the store generation it reflects, the graph file's size
    and checksum). Opening checks all of these; a file that is missing,
    truncated, corrupt or for another model or dim is never read by the
    library: the graph is rebuilt from the matrix instead. A good file is
    reconciled with the matrix (rows missing or changed are added, rows no
    longer present removed), so only what changed since it was written is
    applied.

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

//  Use a graph at min_rows rows and above (0: always exact, the default);
//  builds it now if the index is that large already. Returns 0, or -1 if
//  out of memory (the index stays exact).
int sl_vindex_set_approximate (sl_vindex_t *self, size_t min_rows);

//  The graph's search width: candidates kept while walking it (at least
//  k). Wider is slower and finds more of the exact top k. 1024 is the
//  least power of two that reached recall@10 >= 0.95 on 1M clustered
//  512-d vectors (0.965, p50 2.3 ms against 194 ms exact; bench/ann.sh);
//  < 1 means the default.
#define SL_VINDEX_EF_DEFAULT 1024
void sl_vindex_set_ef (sl_vindex_t *self, int ef_search);

//  True if searches currently go through the graph.
bool sl_vindex_approximate (sl_vindex_t *self);

//  Write the graph to path and path.meta, recording model and gen (the
//  store's generation the contents reflect). Returns 0, 1 if there is
//  nothing to write (no graph, or none of its rows changed since it was
//  last written or read), or -1 if a file could not be written (errno set; a
//  previous file stays as it was).
int sl_vindex_save (sl_vindex_t *self, const char *path, const char *model, int64_t gen);

//  How sl_vindex_open_graph got its graph.
typedef enum {
    SL_VINDEX_EXACT,            //  below min_rows: no graph
    SL_VINDEX_REUSED,           //  read from the file, reconciled
    SL_VINDEX_BUILT             //  no usable file: built from the matrix
} sl_vindex_graph_t;

//  Set min_rows as sl_vindex_set_approximate does, but take the graph from
//  the file at path when it is usable for model and this dim, applying the
//  rows that differ (counted into *applied, may be NULL; *file_gen gets
//  the generation the file recorded, -1 if none). Returns how the graph
//  was obtained, or -1 if out of memory (the index stays exact).
int sl_vindex_open_graph (sl_vindex_t *self, size_t min_rows, const char *path, const char *model,
                          int64_t *file_gen, size_t *applied);

//  Self test. Verbose also prints search latency on 100k x 384.
void sl_vindex_test (bool verbose);

#endif
