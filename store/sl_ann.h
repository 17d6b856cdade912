/*  sl_ann: an approximate nearest-neighbour graph (HNSW), the library
    below sl_vindex's approximate mode. A thin C face over hnswlib
    (header-only C++, Debian libhnswlib-dev 0.6.2), so the rest of Sluice
    stays C and the library can be exchanged behind these few calls.

    Why hnswlib and not FAISS: measured on the same clustered unit vectors
    (bench/ann.sh), both HNSW implementations give the same recall at the
    same ef, but hnswlib removes (mark-delete, the row stays a waypoint of
    the graph and is never returned), replaces a label's vector in place on
    re-add, and takes the caller's 64-bit ids as labels; FAISS 1.7.3's
    IndexHNSW can do none of these (no remove_ids, sequential ids only) and
    Debian ships it without the C API library, as a 20 MB static archive
    that pulls OpenMP into every process.

    Vectors are compared by inner product: the store's vectors are unit
    length, so that is the cosine. Scores returned are dot products.

    Failure model: every call catches the library's C++ exceptions (out of
    memory, a corrupt file) and returns -1 / NULL; nothing throws into C.
    Thread-safety: searches may run concurrently with each other; add,
    remove and write need the caller's exclusive lock (sl_vindex holds it).
*/
#ifndef SL_ANN_H_INCLUDED
#define SL_ANN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_ann_s sl_ann_t;

//  Create an empty graph for vectors of dim floats. m: links per node
//  (16); ef_construction: candidate list while inserting (100); ef_search:
//  the least candidate list while searching (a search for k > ef_search
//  uses k). Room grows as rows are added. Returns NULL if out of memory.
sl_ann_t *sl_ann_new (int dim, int m, int ef_construction, int ef_search);

//  Destroy the graph and null the caller's pointer; safe on NULL.
void sl_ann_destroy (sl_ann_t **self_p);

//  Add vec under id; an id present (even removed) gets the new vector.
//  Returns 0, or -1 if out of memory.
int sl_ann_add (sl_ann_t *self, int64_t id, const float *vec);

//  Mark id removed: searches never return it. Returns 0, or -1 if absent.
int sl_ann_remove (sl_ann_t *self, int64_t id);

//  Live rows, and removed rows still held as waypoints (the caller
//  rebuilds when these pile up: hnswlib 0.6.2 cannot reuse their slots).
size_t sl_ann_size (sl_ann_t *self);
size_t sl_ann_removed (sl_ann_t *self);

//  True if id is live and its vector equals vec (dim floats, bitwise).
bool sl_ann_holds (sl_ann_t *self, int64_t id, const float *vec);

//  Call fn (id, arg) for every live id, in no order.
void sl_ann_each (sl_ann_t *self, void (*fn) (int64_t id, void *arg), void *arg);

//  The approximately best min(k, size) rows for query, best first, into
//  ids and scores. Returns the count, or -1 on failure.
int sl_ann_search (sl_ann_t *self, const float *query, int k, int64_t *ids, float *scores);

//  Set the least candidate list of later searches (>= 1). Not while a
//  search runs: the caller's exclusive lock.
void sl_ann_set_ef (sl_ann_t *self, int ef_search);

//  Write the graph to path (the library's format; the caller adds the
//  integrity check and the atomic rename). Returns 0 or -1.
int sl_ann_write (sl_ann_t *self, const char *path);

//  Read a graph written by sl_ann_write for vectors of dim floats. Returns
//  NULL if the file is unreadable or not a graph of that dim.
sl_ann_t *sl_ann_read (const char *path, int dim, int ef_search);

//  Bytes of memory the graph holds (vectors, links, label map), roughly.
size_t sl_ann_memory (sl_ann_t *self);

#ifdef __cplusplus
}
#endif

#endif
