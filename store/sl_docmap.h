/*  sl_docmap: a workspace's document ids as small integers ("tags").

    The in-memory vector index tags each row with its document's tag, so a
    search filtered to many documents checks one byte per row (is its
    document allowed?) during the same single pass an unfiltered search
    makes, instead of fetching every matching chunk key from the database
    first. Tags are handed out in order (0, 1, 2...) and never reused or
    forgotten while the map lives: a deleted document keeps its tag, so a
    reload or a later commit of the same id gets the same one, and a tag
    never names two documents.

    Thread-safe (a read-write lock): loads and commits assign, searches
    look up. Bounded by the documents this process has seen in the
    workspace.
*/
#ifndef SL_DOCMAP_H_INCLUDED
#define SL_DOCMAP_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct sl_docmap_s sl_docmap_t;

//  An empty map; NULL if out of memory.
sl_docmap_t *sl_docmap_new (void);

//  Destroy the map and null the pointer; safe on NULL.
void sl_docmap_destroy (sl_docmap_t **self_p);

//  The tag of doc_id, assigned if new; -1 if out of memory.
int32_t sl_docmap_tag (sl_docmap_t *self, const char *doc_id);

//  The tag of doc_id, or -1 if it has none.
int32_t sl_docmap_find (sl_docmap_t *self, const char *doc_id);

//  Tags assigned so far (every tag is below this).
int32_t sl_docmap_size (sl_docmap_t *self);

void sl_docmap_test (bool verbose);

#endif
