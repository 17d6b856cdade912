/*  sl_ann: hnswlib behind a C face. See sl_ann.h.

    The only C++ file of the store: it holds the library's objects and
    turns every exception into a return code, so no C frame ever unwinds.
*/
#include "sl_ann.h"

#include <hnswlib/hnswlib.h>

#include <cassert>
#include <cstring>
#include <new>
#include <sys/stat.h>

typedef hnswlib::HierarchicalNSW<float> s_hnsw_t;

struct sl_ann_s {
    int dim;
    int ef_search;
    hnswlib::InnerProductSpace *space;  //  outlives hnsw, which points into it
    s_hnsw_t *hnsw;
};

static sl_ann_t *
s_shell (int dim, int ef_search)
{
    sl_ann_t *self = new (std::nothrow) sl_ann_t ();
    if (!self)
        return NULL;
    self->dim = dim;
    self->ef_search = ef_search;
    self->space = new (std::nothrow) hnswlib::InnerProductSpace ((size_t) dim);
    if (!self->space) {
        delete self;
        return NULL;
    }
    return self;
}

extern "C" sl_ann_t *
sl_ann_new (int dim, int m, int ef_construction, int ef_search)
{
    assert (dim >= 1 && m >= 2 && ef_construction >= 1 && ef_search >= 1);
    sl_ann_t *self = s_shell (dim, ef_search);
    if (!self)
        return NULL;
    try {
        self->hnsw = new s_hnsw_t (self->space, 1024, (size_t) m, (size_t) ef_construction);
        self->hnsw->setEf ((size_t) ef_search);
    }
    catch (...) {
        sl_ann_destroy (&self);
    }
    return self;
}

extern "C" void
sl_ann_destroy (sl_ann_t **self_p)
{
    assert (self_p);
    sl_ann_t *self = *self_p;
    if (!self)
        return;
    delete self->hnsw;
    delete self->space;
    delete self;
    *self_p = NULL;
}

extern "C" int
sl_ann_add (sl_ann_t *self, int64_t id, const float *vec)
{
    assert (self && vec);
    try {
        s_hnsw_t *h = self->hnsw;
        //  hnswlib has a fixed room; double it (amortised O(1) per add)
        if (h->cur_element_count >= h->max_elements_
        &&  h->label_lookup_.find ((hnswlib::labeltype) id) == h->label_lookup_.end ())
            h->resizeIndex (h->max_elements_ * 2);
        h->addPoint (vec, (hnswlib::labeltype) id);
        return 0;
    }
    catch (...) {
        return -1;
    }
}

extern "C" int
sl_ann_remove (sl_ann_t *self, int64_t id)
{
    assert (self);
    s_hnsw_t *h = self->hnsw;
    auto found = h->label_lookup_.find ((hnswlib::labeltype) id);
    if (found == h->label_lookup_.end () || h->isMarkedDeleted (found->second))
        return -1;
    h->markDeletedInternal (found->second);
    return 0;
}

extern "C" size_t
sl_ann_size (sl_ann_t *self)
{
    assert (self);
    return self->hnsw->cur_element_count - self->hnsw->num_deleted_;
}

extern "C" size_t
sl_ann_removed (sl_ann_t *self)
{
    assert (self);
    return self->hnsw->num_deleted_;
}

extern "C" bool
sl_ann_holds (sl_ann_t *self, int64_t id, const float *vec)
{
    assert (self && vec);
    s_hnsw_t *h = self->hnsw;
    auto found = h->label_lookup_.find ((hnswlib::labeltype) id);
    if (found == h->label_lookup_.end () || h->isMarkedDeleted (found->second))
        return false;
    return memcmp (h->getDataByInternalId (found->second), vec,
                   (size_t) self->dim * sizeof (float)) == 0;
}

extern "C" void
sl_ann_each (sl_ann_t *self, void (*fn) (int64_t id, void *arg), void *arg)
{
    assert (self && fn);
    s_hnsw_t *h = self->hnsw;
    for (auto &entry: h->label_lookup_)
        if (!h->isMarkedDeleted (entry.second))
            fn ((int64_t) entry.first, arg);
}

extern "C" int
sl_ann_search (sl_ann_t *self, const float *query, int k, int64_t *ids, float *scores)
{
    assert (self && query && ids && scores);
    if (k <= 0)
        return 0;
    try {
        //  searchKnn keeps max (ef, k) candidates and yields the worst first
        auto heap = self->hnsw->searchKnn (query, (size_t) k);
        int n = (int) heap.size ();
        for (int i = n - 1; i >= 0; i--) {
            ids [i] = (int64_t) heap.top ().second;
            scores [i] = 1.0f - heap.top ().first;      //  distance is 1 - dot
            heap.pop ();
        }
        return n;
    }
    catch (...) {
        return -1;
    }
}

extern "C" void
sl_ann_set_ef (sl_ann_t *self, int ef_search)
{
    assert (self && ef_search >= 1);
    self->ef_search = ef_search;
    self->hnsw->setEf ((size_t) ef_search);
}

//  The bytes saveIndex writes: its header fields, the rows, and each
//  row's upper-level links with their length
static size_t
s_file_size (s_hnsw_t *h)
{
    size_t size = 10 * sizeof (size_t) + sizeof (int) + sizeof (hnswlib::tableint)
                + sizeof (double) + h->cur_element_count * h->size_data_per_element_;
    for (size_t i = 0; i < h->cur_element_count; i++)
        size += sizeof (unsigned int) + (h->element_levels_ [i] > 0
                ? h->size_links_per_element_ * (size_t) h->element_levels_ [i] : 0);
    return size;
}

extern "C" int
sl_ann_write (sl_ann_t *self, const char *path)
{
    assert (self && path);
    try {
        //  saveIndex reports no write error (a full disk, no folder): the
        //  file must have every byte it was meant to
        self->hnsw->saveIndex (path);
        struct stat st;
        return stat (path, &st) == 0 && (size_t) st.st_size == s_file_size (self->hnsw) ? 0 : -1;
    }
    catch (...) {
        return -1;
    }
}

//  A file of another dimension or shape would make hnswlib read past its
//  rows: check the layout the header declares against the one dim implies.
static bool
s_layout_ok (s_hnsw_t *h, int dim)
{
    size_t data_size = (size_t) dim * sizeof (float);
    size_t links0 = h->maxM0_ * sizeof (hnswlib::tableint) + sizeof (hnswlib::linklistsizeint);
    return h->offsetData_ == links0
        && h->label_offset_ == links0 + data_size
        && h->size_data_per_element_ == links0 + data_size + sizeof (hnswlib::labeltype)
        && h->cur_element_count <= h->max_elements_
        && (h->cur_element_count == 0 || h->enterpoint_node_ < h->cur_element_count);
}

extern "C" sl_ann_t *
sl_ann_read (const char *path, int dim, int ef_search)
{
    assert (path && dim >= 1);
    sl_ann_t *self = s_shell (dim, ef_search);
    if (!self)
        return NULL;
    try {
        self->hnsw = new s_hnsw_t (self->space, path);
        s_hnsw_t *h = self->hnsw;
        //  hnswlib 0.6.2's loading constructor leaves num_deleted_
        //  uninitialised before counting into it: count afresh
        h->num_deleted_ = 0;
        for (size_t i = 0; i < h->cur_element_count; i++)
            h->num_deleted_ += h->isMarkedDeleted ((hnswlib::tableint) i);
        if (!s_layout_ok (h, dim))
            sl_ann_destroy (&self);
        else
            h->setEf ((size_t) ef_search);
    }
    catch (...) {
        sl_ann_destroy (&self);
    }
    return self;
}

extern "C" size_t
sl_ann_memory (sl_ann_t *self)
{
    assert (self);
    s_hnsw_t *h = self->hnsw;
    size_t upper = 0;
    for (size_t i = 0; i < h->cur_element_count; i++)
        upper += h->element_levels_ [i] * h->size_links_per_element_;
    //  label map: a node of key, value and next pointer, plus a bucket
    size_t map = h->label_lookup_.size () * 40;
    return h->max_elements_ * h->size_data_per_element_ + upper + map
         + h->max_elements_ * (sizeof (void *) + sizeof (int) + sizeof (std::mutex));
}
