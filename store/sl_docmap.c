/*  sl_docmap: document ids -> tags. See sl_docmap.h.

    Open addressing with linear probing over string keys (document ids
    are 32 hex characters, but any string works), at most half full; no
    deletion, so no tombstones.
*/
#include "sl_docmap.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *id;                   //  NULL: empty
    int32_t tag;
} s_entry_t;

struct sl_docmap_s {
    s_entry_t *slots;
    size_t nslots;              //  power of two
    int32_t count;
    pthread_rwlock_t lock;
};

//  FNV-1a: ids are random hex already, any spread will do
static size_t
s_hash (const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211ULL;
    return (size_t) h;
}

sl_docmap_t *
sl_docmap_new (void)
{
    sl_docmap_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->nslots = 64;
    self->slots = calloc (self->nslots, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    pthread_rwlock_init (&self->lock, NULL);
    return self;
}

void
sl_docmap_destroy (sl_docmap_t **self_p)
{
    assert (self_p);
    sl_docmap_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nslots; i++)
        free (self->slots [i].id);
    free (self->slots);
    pthread_rwlock_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static s_entry_t *
s_slot (s_entry_t *slots, size_t nslots, const char *id)
{
    size_t mask = nslots - 1;
    for (size_t i = s_hash (id) & mask;; i = (i + 1) & mask)
        if (!slots [i].id || strcmp (slots [i].id, id) == 0)
            return &slots [i];
}

static int
s_grow (sl_docmap_t *self)
{
    size_t nslots = self->nslots * 2;
    s_entry_t *slots = calloc (nslots, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < self->nslots; i++)
        if (self->slots [i].id)
            *s_slot (slots, nslots, self->slots [i].id) = self->slots [i];
    free (self->slots);
    self->slots = slots;
    self->nslots = nslots;
    return 0;
}

int32_t
sl_docmap_find (sl_docmap_t *self, const char *doc_id)
{
    assert (self && doc_id);
    pthread_rwlock_rdlock (&self->lock);
    s_entry_t *entry = s_slot (self->slots, self->nslots, doc_id);
    int32_t tag = entry->id ? entry->tag : -1;
    pthread_rwlock_unlock (&self->lock);
    return tag;
}

int32_t
sl_docmap_tag (sl_docmap_t *self, const char *doc_id)
{
    int32_t tag = sl_docmap_find (self, doc_id);
    if (tag >= 0)
        return tag;
    pthread_rwlock_wrlock (&self->lock);
    s_entry_t *entry = s_slot (self->slots, self->nslots, doc_id);
    if (!entry->id && ((size_t) self->count + 1) * 2 > self->nslots) {
        if (s_grow (self) == 0)
            entry = s_slot (self->slots, self->nslots, doc_id);
        else
            entry = NULL;
    }
    if (entry && !entry->id && self->count < INT32_MAX) {
        entry->id = strdup (doc_id);
        if (entry->id)
            entry->tag = self->count++;
    }
    tag = entry && entry->id ? entry->tag : -1;
    pthread_rwlock_unlock (&self->lock);
    return tag;
}

int32_t
sl_docmap_size (sl_docmap_t *self)
{
    assert (self);
    pthread_rwlock_rdlock (&self->lock);
    int32_t count = self->count;
    pthread_rwlock_unlock (&self->lock);
    return count;
}
