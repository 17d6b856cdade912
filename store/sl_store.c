/*  sl_store: the store's policy, once for every backend. See sl_store.h
    for the API, sl_store_backend.h for the seam below.

    This file validates every argument (ids, names and hashes arrive from
    the network, so bad ones get SL_STORE_ERROR and a message, never an
    assert), derives document and chunk ids and sources, dispatches to the
    backend vtable and keeps the in-memory vector indexes. Every rule is
    here and a backend only answers narrow questions:
    - a commit (document identity, above s_commit_body), a delete
      (s_delete_body) and a re-embed switch (s_reembed_body) drive the
      backend's transaction through its tx_* steps;
    - a search asks the backend for candidates (vector keys within some
      documents, lexical keys best first) and fuses the rankings here by
      reciprocal rank fusion (s_candidates, s_cand_cmp).

    Vector indexes: one sl_vindex per workspace (a workspace has exactly one
    model, so this is one per (workspace, model)), created on first search
    and loaded from the database. Every write that changes a workspace's
    vectors bumps workspaces.generation inside its transaction and reports
    (generation before, after, chunk keys added, removed). The index keeps
    the generation it reflects:
    - a write from generation g applied to an index at g moves it to g + 1
      incrementally (append / swap-remove, no reload);
    - an index that fell behind (a write in another process, or concurrent
      writes whose updates crossed) is marked stale and reloaded by the next
      search, which compares its generation with the database's.
    Commits and deletes hold the workspace's index sync lock across the
    backend write, so in-process writes apply in commit order and a search
    that already sees a new generation waits for its update instead of
    reloading. Lock order: index sync -> pool connection -> write lock.

    Approximate search (sl_store_set_graphs): a load hands the fresh index
    to sl_vindex_open_graph, which reuses the graph file of (workspace,
    model) when it vouches for itself and reconciles it with the rows just
    loaded, or builds one; a built graph is written at once (so a crash
    after it still restarts fast), and every graph again at close.
*/
#include "sl_store_backend.h"
#include "sl_highlight.h"
#include "sl_log.h"

#include <jansson.h>
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MODEL_MAX 256         //  model ids: up to 255 chars
#define S_DIM_MAX   65536
#define S_LIST_MAX  10000       //  cap on one page of any listing
#define S_SOURCE_MAX 8192       //  sources: up to 8 KiB

//  A filter resolved to the documents it matches, as one byte per document
//  tag (see s_vector_within): reused while neither the index's generation
//  (new documents, new tags) nor the workspace's filter generation (any
//  commit, delete or re-tag, in any process) has moved
#define S_RESOLVED 4
typedef struct {
    char *key;                  //  the filter's SQL and values, and the documents
    int64_t gen, fgen;
    uint8_t *allowed;
    size_t n_tags;
} s_resolved_t;

typedef struct s_index_s {
    char workspace [SL_STORE_TOKEN];
    sl_vindex_t *index;         //  NULL until first load; then never replaced
    int64_t gen;                //  generation reflected; -1 = must reload
    char model [S_MODEL_MAX];   //  the model of the last load (graph file name)
    pthread_mutex_t sync;       //  reloads and incremental updates
    sl_docmap_t *docs;          //  its documents' tags (rows are tagged with them)
    pthread_mutex_t filters_lock;
    s_resolved_t resolved [S_RESOLVED];     //  recently resolved broad filters
    int resolved_next;
    struct s_index_s *next;
} s_index_t;

struct sl_store_s {
    const sl_store_ops_t *ops;
    void *backend;
    pthread_mutex_t index_lock; //  guards the indexes list
    s_index_t *indexes;
    char *graph_dir;            //  where graph files live, or NULL
    size_t graph_min_rows;      //  0: exact search only
    int graph_ef;               //  the graphs' search width
};

static __thread char s_errmsg [512];

void
sl_store_set_errmsg (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (s_errmsg, sizeof s_errmsg, fmt, args);
    va_end (args);
}

const char *
sl_store_errmsg (sl_store_t *self)
{
    return s_errmsg;
}

//  --------------------------------------------------------------------------
//  Names and ids

static const char *s_stage_names [SL_STORE_STAGE_COUNT] = {
    "fetch", "parse", "chunk", "embed", "store"
};
static const char *s_state_names [SL_STORE_STATE_COUNT] = {
    "queued", "fetching", "parsing", "chunking", "embedding", "storing", "completed", "failed",
    "cancelled"
};

const char *
sl_store_stage_name (sl_store_stage_t stage)
{
    return stage >= 0 && stage < SL_STORE_STAGE_COUNT ? s_stage_names [stage] : "";
}

sl_store_stage_t
sl_store_stage_parse (const char *name)
{
    for (int i = 0; name && i < SL_STORE_STAGE_COUNT; i++)
        if (strcmp (name, s_stage_names [i]) == 0)
            return (sl_store_stage_t) i;
    return SL_STORE_STAGE_NONE;
}

const char *
sl_store_state_name (sl_store_state_t state)
{
    return state >= 0 && state < SL_STORE_STATE_COUNT ? s_state_names [state] : "";
}

bool
sl_store_state_terminal (int state)
{
    return state == SL_STORE_COMPLETED || state == SL_STORE_FAILED || state == SL_STORE_CANCELLED;
}

int
sl_store_state_parse (const char *name)
{
    for (int i = 0; name && i < SL_STORE_STATE_COUNT; i++)
        if (strcmp (name, s_state_names [i]) == 0)
            return i;
    return -1;
}

void
sl_store_chunk_id (const char *document_id, int ordinal, char out [SL_STORE_ID])
{
    char number [16];
    snprintf (number, sizeof number, "%d", ordinal);
    sl_id_derive (out, "chunk", document_id, number);
}

void
sl_store_document_id (const char *workspace, const char *sha256, char out [SL_STORE_ID])
{
    sl_id_derive (out, "document", workspace, sha256);
}

//  --------------------------------------------------------------------------
//  Argument checks: a failure sets the message and returns false

static bool
s_token_ok (const char *what, const char *value)
{
    if (value && sl_token_valid (value))
        return true;
    sl_store_set_errmsg ("invalid %s '%.64s': use 1-64 characters of A-Z a-z 0-9 _ . -",
                         what, value ? value : "(null)");
    return false;
}

static bool
s_sha_ok (const char *value)
{
    bool ok = value && strlen (value) == 64;
    for (int i = 0; ok && i < 64; i++)
        ok = (value [i] >= '0' && value [i] <= '9') || (value [i] >= 'a' && value [i] <= 'f');
    if (!ok)
        sl_store_set_errmsg ("invalid sha256 '%.80s': want 64 lowercase hex characters",
                             value ? value : "(null)");
    return ok;
}

static bool
s_text_ok (const char *what, const char *value, size_t max)
{
    if (value && *value && strlen (value) <= max)
        return true;
    sl_store_set_errmsg ("%s is %s", what, !value || !*value ? "missing" : "too long");
    return false;
}

static bool
s_stage_ok (sl_store_stage_t stage)
{
    if (stage >= 0 && stage < SL_STORE_STAGE_COUNT)
        return true;
    sl_store_set_errmsg ("invalid stage %d", (int) stage);
    return false;
}

static bool
s_page_ok (int limit, int offset)
{
    if (limit >= 0 && limit <= S_LIST_MAX && offset >= 0)
        return true;
    sl_store_set_errmsg ("invalid page: limit %d (0..%d), offset %d (>= 0)",
                         limit, S_LIST_MAX, offset);
    return false;
}

//  --------------------------------------------------------------------------
//  Lifecycle

sl_store_t *
sl_store_open (const char *url, char *err, size_t errlen)
{
    assert (err && errlen > 0);
    if (!url || !*url) {
        snprintf (err, errlen, "store url is empty: use sqlite:/path/to/sluice.db");
        return NULL;
    }
    if (strncmp (url, "postgres://", 11) == 0 || strncmp (url, "postgresql://", 13) == 0) {
        sl_store_t *self = calloc (1, sizeof *self);
        assert (self);
        if (sl_store_pg_open (url, &self->ops, &self->backend, err, errlen)) {
            free (self);
            return NULL;
        }
        pthread_mutex_init (&self->index_lock, NULL);
        return self;
    }
    const char *path = url;
    if (strncmp (url, "sqlite://", 9) == 0)
        path = url + 9;             //  sqlite:///abs/path -> /abs/path
    else
    if (strncmp (url, "sqlite:", 7) == 0)
        path = url + 7;
    else
    if (strstr (url, "://")) {
        snprintf (err, errlen, "unknown store url scheme in '%s': use sqlite:/path or "
                  "postgres://host/db", url);
        return NULL;
    }
    if (!*path || strcmp (path, ":memory:") == 0) {
        snprintf (err, errlen, "store url '%s' names no database file", url);
        return NULL;
    }
    //  Create the parent directory (the data volume may be empty)
    char *parent = strdup (path);
    assert (parent);
    char *slash = strrchr (parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        if (sl_mkdirs (parent, 0755)) {
            snprintf (err, errlen, "cannot create directory %s: %s", parent, strerror (errno));
            free (parent);
            return NULL;
        }
    }
    free (parent);

    sl_store_t *self = calloc (1, sizeof *self);
    assert (self);
    if (sl_store_sqlite_open (path, &self->ops, &self->backend, err, errlen)) {
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->index_lock, NULL);
    return self;
}

void
sl_store_set_graphs (sl_store_t *self, const char *dir, size_t min_rows, int ef)
{
    assert (self);
    self->graph_ef = ef;
    free (self->graph_dir);
    self->graph_dir = dir ? strdup (dir) : NULL;
    self->graph_min_rows = min_rows;
}

//  The graph file of a workspace's model: the model id may hold any
//  character, so the name carries a hash of it (the file records the id)
static bool
s_graph_path (sl_store_t *self, const char *workspace, const char *model, char *path, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *c = model; *c; c++)
        h = (h ^ (uint8_t) *c) * 0x100000001b3ULL;
    return self->graph_dir
        && snprintf (path, size, "%s/%s.%016llx.hnsw", self->graph_dir, workspace,
                     (unsigned long long) h) < (int) size;
}

//  Write index's graph (if it has one) for the entry's model at gen
static void
s_graph_save (sl_store_t *self, s_index_t *entry, sl_vindex_t *index, int64_t gen)
{
    char path [4096];
    if (!index || gen < 0 || !*entry->model
    ||  !s_graph_path (self, entry->workspace, entry->model, path, sizeof path))
        return;
    int64_t started = sl_now_ms ();
    int rc = sl_vindex_save (index, path, entry->model, gen);
    if (rc < 0)
        sl_warn (NULL, "store: cannot write the vector graph %s: %s (the next start rebuilds it)",
                 path, strerror (errno));
    else
    if (rc == 0)
        sl_info (NULL, "store: wrote the vector graph of workspace %s (%zu vectors, generation "
                 "%lld) to %s in %lld ms", entry->workspace, sl_vindex_size (index),
                 (long long) gen, path, (long long) (sl_now_ms () - started));
}

//  Give a freshly loaded index its graph: reused from the file or built
static void
s_graph_open (sl_store_t *self, s_index_t *entry, sl_vindex_t *fresh, int64_t gen)
{
    char path [4096];
    if (self->graph_min_rows == 0)
        return;
    if (!s_graph_path (self, entry->workspace, entry->model, path, sizeof path))
        *path = 0;              //  no folder: build, never write
    int64_t file_gen, started = sl_now_ms ();
    size_t applied;
    sl_vindex_set_ef (fresh, self->graph_ef);
    int how = sl_vindex_open_graph (fresh, self->graph_min_rows, path, entry->model,
                                    &file_gen, &applied);
    int64_t took = sl_now_ms () - started;
    if (how == SL_VINDEX_REUSED)
        sl_info (NULL, "store: reused the vector graph of workspace %s from %s (generation %lld, "
                 "%zu rows changed since applied) in %lld ms", entry->workspace, path,
                 (long long) file_gen, applied, (long long) took);
    else
    if (how == SL_VINDEX_BUILT) {
        sl_info (NULL, "store: built the vector graph of workspace %s (%zu vectors) in %lld ms",
                 entry->workspace, sl_vindex_size (fresh), (long long) took);
        s_graph_save (self, entry, fresh, gen);
    }
    else
    if (how < 0)
        sl_warn (NULL, "store: out of memory building the vector graph of workspace %s: "
                 "its searches stay exact", entry->workspace);
}

void
sl_store_destroy (sl_store_t **self_p)
{
    assert (self_p);
    sl_store_t *self = *self_p;
    if (!self)
        return;
    while (self->indexes) {
        s_index_t *entry = self->indexes;
        self->indexes = entry->next;
        s_graph_save (self, entry, entry->index, entry->gen);
        sl_vindex_destroy (&entry->index);
        sl_docmap_destroy (&entry->docs);
        for (int i = 0; i < S_RESOLVED; i++) {
            free (entry->resolved [i].key);
            free (entry->resolved [i].allowed);
        }
        pthread_mutex_destroy (&entry->filters_lock);
        pthread_mutex_destroy (&entry->sync);
        free (entry);
    }
    pthread_mutex_destroy (&self->index_lock);
    self->ops->close (self->backend);
    free (self->graph_dir);
    free (self);
    *self_p = NULL;
}

const char *
sl_store_backend (sl_store_t *self)
{
    assert (self);
    return self->ops->name;
}

//  --------------------------------------------------------------------------
//  Vector indexes

//  The workspace's index entry, created (unloaded) if new. Entries live
//  until the store is destroyed, so the pointer stays valid unlocked.
static s_index_t *
s_index_entry (sl_store_t *self, const char *workspace)
{
    pthread_mutex_lock (&self->index_lock);
    s_index_t *entry = self->indexes;
    while (entry && strcmp (entry->workspace, workspace) != 0)
        entry = entry->next;
    if (!entry) {
        entry = calloc (1, sizeof *entry);
        assert (entry);
        snprintf (entry->workspace, sizeof entry->workspace, "%s", workspace);
        entry->gen = -1;
        entry->docs = sl_docmap_new ();
        assert (entry->docs);
        pthread_mutex_init (&entry->filters_lock, NULL);
        pthread_mutex_init (&entry->sync, NULL);
        entry->next = self->indexes;
        self->indexes = entry;
    }
    pthread_mutex_unlock (&self->index_lock);
    return entry;
}

//  Follow a committed change; entry->sync is held.
static void
s_index_apply (s_index_t *entry, const sl_store_change_t *change, const float *vectors, int dim)
{
    int64_t gen = __atomic_load_n (&entry->gen, __ATOMIC_ACQUIRE);
    if (!entry->index || gen < 0)
        return;                 //  never loaded: the first search loads all
    if (gen != change->gen_before) {
        if (gen < change->gen_after)
            __atomic_store_n (&entry->gen, -1, __ATOMIC_RELEASE);   //  missed a write
        return;
    }
    for (int i = 0; i < change->n_removed; i++)
        sl_vindex_remove (entry->index, change->removed [i]);
    bool ok = change->n_added == 0 || sl_vindex_dim (entry->index) == dim;
    int32_t tag = change->n_added > 0 ? sl_docmap_tag (entry->docs, change->doc_id) : -1;
    ok = ok && (change->n_added == 0 || tag >= 0);
    for (int i = 0; ok && i < change->n_added; i++)
        ok = sl_vindex_add_tagged (entry->index, change->added [i],
                                   vectors + (size_t) i * (size_t) dim, tag) == 0;
    __atomic_store_n (&entry->gen, ok ? change->gen_after : -1, __ATOMIC_RELEASE);
}

//  Make the entry reflect at least generation gen, reloading if behind.
static int
s_index_sync (sl_store_t *self, s_index_t *entry, const char *model_id, int dim, int64_t gen)
{
    if (__atomic_load_n (&entry->gen, __ATOMIC_ACQUIRE) >= gen)
        return 0;
    int rc = 0;
    pthread_mutex_lock (&entry->sync);
    if (entry->gen < gen) {
        sl_vindex_t *fresh = sl_vindex_new (dim);
        int64_t loaded = -1;
        if (!fresh) {
            sl_store_set_errmsg ("out of memory creating the index of %s", entry->workspace);
            rc = SL_STORE_ERROR;
        }
        else
            rc = self->ops->vectors_load (self->backend, entry->workspace, model_id, fresh,
                                          entry->docs, &loaded);
        if (rc == 0) {
            snprintf (entry->model, sizeof entry->model, "%s", model_id);
            s_graph_open (self, entry, fresh, loaded);
            if (entry->index)
                sl_vindex_swap (entry->index, fresh);
            else {
                __atomic_store_n (&entry->index, fresh, __ATOMIC_RELEASE);
                fresh = NULL;
            }
            __atomic_store_n (&entry->gen, loaded, __ATOMIC_RELEASE);
            sl_debug (NULL, "store: loaded %zu vectors of workspace %s (generation %lld)",
                      sl_vindex_size (entry->index), entry->workspace, (long long) loaded);
        }
        sl_vindex_destroy (&fresh);
    }
    pthread_mutex_unlock (&entry->sync);
    return rc;
}

static void
s_change_free (sl_store_change_t *change)
{
    free (change->added);
    free (change->removed);
    change->added = change->removed = NULL;
}

//  --------------------------------------------------------------------------
//  Jobs

int
sl_store_job_create (sl_store_t *self, const char *job_id, const char *workspace,
                     const char *source, const char *sha256, const char *mime,
                     const char *options_json)
{
    assert (self);
    if (!s_token_ok ("job id", job_id) || !s_token_ok ("workspace", workspace)
    ||  !s_text_ok ("source", source, S_SOURCE_MAX) || (sha256 && !s_sha_ok (sha256)))
        return SL_STORE_ERROR;
    return self->ops->job_create (self->backend, job_id, workspace, source, sha256, mime,
                                  options_json, sl_now_ms ());
}

int
sl_store_job_get (sl_store_t *self, const char *job_id, sl_store_job_t *job)
{
    assert (self);
    assert (job);
    memset (job, 0, sizeof *job);
    if (!s_token_ok ("job id", job_id))
        return SL_STORE_ERROR;
    return self->ops->job_get (self->backend, job_id, job);
}

int
sl_store_job_set_blob (sl_store_t *self, const char *job_id, const char *sha256,
                       const char *mime)
{
    assert (self);
    if (!s_token_ok ("job id", job_id) || !s_sha_ok (sha256))
        return SL_STORE_ERROR;
    return self->ops->job_set_blob (self->backend, job_id, sha256, mime, sl_now_ms ());
}

//  Record that stage started (state := stage's running state, stage :=
//  stage, first start time kept) or finished (finish time; state
//  unchanged). Also sets updated_ms = now_ms.
int
sl_store_job_stage (sl_store_t *self, const char *job_id, sl_store_stage_t stage,
                    sl_store_step_t step, int64_t now_ms)
{
    assert (self);
    if (!s_token_ok ("job id", job_id) || !s_stage_ok (stage))
        return SL_STORE_ERROR;
    if (step != SL_STORE_STARTED && step != SL_STORE_FINISHED) {
        sl_store_set_errmsg ("invalid stage step %d", (int) step);
        return SL_STORE_ERROR;
    }
    return self->ops->job_stage (self->backend, job_id, stage, step, now_ms);
}

int
sl_store_job_progress (sl_store_t *self, const char *job_id, int percent)
{
    assert (self);
    if (!s_token_ok ("job id", job_id))
        return SL_STORE_ERROR;
    percent = percent < 0 ? 0 : percent > 100 ? 100 : percent;
    return self->ops->job_progress (self->backend, job_id, percent, sl_now_ms ());
}

int
sl_store_job_fail (sl_store_t *self, const char *job_id, sl_store_stage_t stage,
                   const char *reason)
{
    assert (self);
    if (!s_token_ok ("job id", job_id)
    ||  (stage != SL_STORE_STAGE_NONE && !s_stage_ok (stage)))
        return SL_STORE_ERROR;
    return self->ops->job_fail (self->backend, job_id, stage,
                                reason && *reason ? reason : "unknown error", sl_now_ms ());
}

int
sl_store_job_complete (sl_store_t *self, const char *job_id, const char *document_id)
{
    assert (self);
    if (!s_token_ok ("job id", job_id) || !s_token_ok ("document id", document_id))
        return SL_STORE_ERROR;
    return self->ops->job_complete (self->backend, job_id, document_id, sl_now_ms ());
}

int
sl_store_job_attempt (sl_store_t *self, const char *job_id, int *attempts_out)
{
    assert (self);
    if (!s_token_ok ("job id", job_id))
        return SL_STORE_ERROR;
    return self->ops->job_attempt (self->backend, job_id, attempts_out, sl_now_ms ());
}

//  Take or renew the job's lease for owner until until_ms. Succeeds if the
//  job has no lease, owner already holds it, or it expired before now_ms;
//  else SL_STORE_BUSY. One UPDATE, so concurrent claimers cannot both win.
int
sl_store_job_lease (sl_store_t *self, const char *job_id, const char *owner, int64_t now_ms,
                    int64_t until_ms)
{
    assert (self);
    if (!s_token_ok ("job id", job_id) || !s_text_ok ("lease owner", owner, 256))
        return SL_STORE_ERROR;
    return self->ops->job_lease (self->backend, job_id, owner, now_ms, until_ms);
}

int
sl_store_job_list (sl_store_t *self, const char *workspace, const char *state, int limit,
                   int offset, sl_store_job_t **jobs_p, int *count_p)
{
    assert (self);
    assert (jobs_p && count_p);
    *jobs_p = NULL;
    *count_p = 0;
    if (!s_token_ok ("workspace", workspace) || !s_page_ok (limit, offset))
        return SL_STORE_ERROR;
    if (state && sl_store_state_parse (state) < 0) {
        sl_store_set_errmsg ("unknown job state '%.32s'", state);
        return SL_STORE_ERROR;
    }
    return self->ops->job_list (self->backend, workspace, state, limit, offset, jobs_p, count_p);
}

//  List up to limit non-terminal jobs (any workspace) last updated before
//  older_than_ms, oldest first: candidates to re-drive after a crash.
int
sl_store_jobs_unfinished (sl_store_t *self, int64_t older_than_ms, int limit,
                          sl_store_job_t **jobs_p, int *count_p)
{
    assert (self);
    assert (jobs_p && count_p);
    *jobs_p = NULL;
    *count_p = 0;
    if (!s_page_ok (limit, 0))
        return SL_STORE_ERROR;
    return self->ops->jobs_unfinished (self->backend, older_than_ms, limit, jobs_p, count_p);
}

//  Why a job-control write changed nothing: the job is elsewhere, or in a
//  state the transition does not start from
static int
s_control_refused (sl_store_t *self, const char *job_id, const char *workspace,
                   sl_store_control_t what, sl_store_job_t *row)
{
    int rc = self->ops->job_get (self->backend, job_id, row);
    if (rc == SL_STORE_OK && strcmp (row->workspace, workspace) != 0) {
        sl_store_job_reset (row);
        rc = SL_STORE_NOT_FOUND;
    }
    if (rc == SL_STORE_NOT_FOUND) {
        sl_store_set_errmsg ("no job %s in this workspace", job_id);
        return rc;
    }
    if (rc != SL_STORE_OK)
        return rc;
    const char *state = sl_store_state_name (row->state);
    if (what == SL_STORE_CANCEL) {
        sl_store_set_errmsg ("job %s is already %s: only a job that has not finished can be "
                             "cancelled%s", job_id, state, row->state == SL_STORE_FAILED
                             ? " (retry it instead: POST /v1/jobs/{id}/retry)" : "");
        return SL_STORE_TERMINAL;
    }
    if (what == SL_STORE_RESTART || what == SL_STORE_RESTART_HELD)
        sl_store_set_errmsg ("job %s is %s: only a failed or cancelled job can be retried%s",
                             job_id, state, row->state == SL_STORE_COMPLETED
                             ? " (to cut its document again, reprocess the document)" : "");
    else
        sl_store_set_errmsg ("job %s is %s%s", job_id, state, row->held ? " and held" : "");
    return SL_STORE_CONFLICT;
}

int
sl_store_job_control (sl_store_t *self, const char *job_id, const char *workspace,
                      sl_store_control_t what, sl_store_job_t *job)
{
    assert (self);
    sl_store_job_t row;
    memset (&row, 0, sizeof row);
    if (!s_token_ok ("job id", job_id) || !s_token_ok ("workspace", workspace)
    ||  what < 0 || what >= SL_STORE_CONTROL_COUNT)
        return SL_STORE_ERROR;
    int rc = self->ops->job_control (self->backend, job_id, workspace, what, sl_now_ms ());
    if (rc == SL_STORE_OK) {
        if (job && self->ops->job_get (self->backend, job_id, &row) != SL_STORE_OK)
            sl_store_job_reset (&row);
    }
    else
    if (rc == SL_STORE_CONFLICT)
        rc = s_control_refused (self, job_id, workspace, what, &row);
    if (job)
        *job = row;
    else
        sl_store_job_reset (&row);
    return rc;
}

int
sl_store_workspace_paused (sl_store_t *self, const char *workspace, bool *paused)
{
    assert (self && paused);
    *paused = false;
    if (!s_token_ok ("workspace", workspace))
        return SL_STORE_ERROR;
    return self->ops->workspace_paused (self->backend, workspace, -1, paused, sl_now_ms ());
}

int
sl_store_workspace_set_paused (sl_store_t *self, const char *workspace, bool paused)
{
    assert (self);
    bool now;
    if (!s_token_ok ("workspace", workspace))
        return SL_STORE_ERROR;
    return self->ops->workspace_paused (self->backend, workspace, paused ? 1 : 0, &now,
                                        sl_now_ms ());
}

void
sl_store_job_reset (sl_store_job_t *job)
{
    if (!job)
        return;
    free (job->source);
    free (job->mime);
    free (job->error);
    free (job->lease_owner);
    free (job->options);
    memset (job, 0, sizeof *job);
}

void
sl_store_jobs_free (sl_store_job_t **jobs_p, int count)
{
    assert (jobs_p);
    for (int i = 0; *jobs_p && i < count; i++)
        sl_store_job_reset (&(*jobs_p) [i]);
    free (*jobs_p);
    *jobs_p = NULL;
}

//  --------------------------------------------------------------------------
//  Documents

int
sl_store_document_find (sl_store_t *self, const char *workspace, const char *sha256,
                        sl_store_doc_t *doc)
{
    assert (self);
    if (doc)
        memset (doc, 0, sizeof *doc);
    if (!s_token_ok ("workspace", workspace) || !s_sha_ok (sha256))
        return SL_STORE_ERROR;
    return self->ops->document_find (self->backend, workspace, sha256, doc);
}

//  Length of the UTF-8 sequence at p (at most len bytes) if it is a valid
//  character that is not a control character (C0, DEL, C1), else 0
static size_t
s_utf8_char (const unsigned char *p, size_t len)
{
    if (p [0] < 0x20 || p [0] == 0x7f)
        return 0;
    if (p [0] < 0x80)
        return 1;
    size_t size = p [0] >= 0xc2 && p [0] <= 0xdf ? 2
                : p [0] >= 0xe0 && p [0] <= 0xef ? 3
                : p [0] >= 0xf0 && p [0] <= 0xf4 ? 4 : 0;
    if (size == 0 || size > len)
        return 0;
    uint32_t code = p [0] & (0x7f >> size);
    for (size_t i = 1; i < size; i++) {
        if ((p [i] & 0xc0) != 0x80)
            return 0;
        code = (code << 6) | (p [i] & 0x3f);
    }
    //  overlong forms, surrogates, beyond Unicode, C1 controls
    if ((size == 3 && code < 0x800) || (size == 4 && code < 0x10000) || code > 0x10ffff
    ||  (code >= 0xd800 && code <= 0xdfff) || (code >= 0x80 && code <= 0x9f))
        return 0;
    return size;
}

//  The source of an ingest, written to source (size >= SL_STORE_SOURCE):
//  - url (not NULL/""): the URL itself;
//  - else filename (the caller's name for the upload, maybe a relative
//    path "d/a/n.txt"): "upload:<filename>" normalised: "." components and
//    empty ones ("a//b", a leading "/") dropped. Refused (-1, reason in
//    err) unless valid UTF-8 without control characters, at most
//    SL_STORE_FILENAME_MAX bytes, with no ".." component, naming something;
//  - else (an unnamed upload): "upload:/<job_id>", its own document:
//    named uploads never start with "/", so it collides with nothing
//    (job_id NULL: "", to check a request before its job id is known).
int
sl_store_source_name (const char *url, const char *filename, size_t filename_len,
                      const char *job_id, char *source, size_t size, char *err, size_t errlen)
{
    assert (source && size > 0);
    *source = 0;
    if (url && *url) {
        if ((size_t) snprintf (source, size, "%s", url) < size)
            return 0;
        snprintf (err, errlen, "the URL is too long (%zu bytes, at most %zu)", strlen (url),
                  size - 1);
        return -1;
    }
    if (!filename || filename_len == 0) {
        //  Unnamed: a source of its own. Named sources never start with "/"
        if (!job_id)
            return 0;               //  "": to be named once the job id is known
        if (sl_token_valid (job_id)
        &&  (size_t) snprintf (source, size, "upload:/%s", job_id) < size)
            return 0;
        snprintf (err, errlen, "an unnamed upload needs a valid job id");
        return -1;
    }
    if (filename_len > SL_STORE_FILENAME_MAX) {
        snprintf (err, errlen, "filename is too long (%zu bytes, at most %d)", filename_len,
                  SL_STORE_FILENAME_MAX);
        return -1;
    }
    const unsigned char *p = (const unsigned char *) filename;
    for (size_t i = 0, step; i < filename_len; i += step)
        if (!(step = s_utf8_char (p + i, filename_len - i))) {
            snprintf (err, errlen, "filename is not valid UTF-8 text, or holds a control "
                      "character (byte %zu)", i);
            return -1;
        }
    //  Normalise by path components: "a//b", "./a", "/a/" name "a/b", "a",
    //  "a"; ".." would name something outside the folder sent
    size_t shown = filename_len < 200 ? filename_len : 200;
    while (shown < filename_len && shown > 0 && (p [shown] & 0xc0) == 0x80)
        shown--;                //  quote whole characters: messages must stay UTF-8
    size_t out = (size_t) snprintf (source, size, "upload:");
    size_t prefix = out;
    for (size_t i = 0; i < filename_len; ) {
        size_t end = i;
        while (end < filename_len && filename [end] != '/')
            end++;
        size_t part = end - i;
        if (part == 2 && filename [i] == '.' && filename [i + 1] == '.') {
            snprintf (err, errlen, "filename '%.*s' has a '..' component: send the path "
                      "relative to the folder, without '..'", (int) shown, filename);
            *source = 0;
            return -1;
        }
        if (part > 0 && !(part == 1 && filename [i] == '.')) {
            if (out + (out > prefix) + part >= size) {
                snprintf (err, errlen, "filename is too long");
                *source = 0;
                return -1;
            }
            if (out > prefix)
                source [out++] = '/';
            memcpy (source + out, filename + i, part);
            out += part;
        }
        i = end + 1;
    }
    source [out] = 0;
    if (out == prefix) {
        snprintf (err, errlen, "filename '%.*s' names no file", (int) shown, filename);
        *source = 0;
        return -1;
    }
    return 0;
}

//  Vectors of the chunks a commit adds, kept for the in-memory index
//  (which will hold them anyway) only while the index is loaded; if they
//  cannot be kept the index is reloaded instead, the commit goes on.
typedef struct {
    bool keep;
    float *vectors;
    int64_t *keys;
    size_t count;
    size_t cap;
} s_staged_t;

static void
s_stage (s_staged_t *staged, const int64_t *keys, const float *vectors, int n, int dim)
{
    if (!staged->keep)
        return;
    if (staged->count + (size_t) n > staged->cap) {
        size_t cap = staged->cap ? staged->cap : SL_STORE_BATCH;
        while (cap < staged->count + (size_t) n)
            cap *= 2;
        float *grown = realloc (staged->vectors, cap * (size_t) dim * sizeof (float));
        if (grown)
            staged->vectors = grown;
        int64_t *grown_keys = grown ? realloc (staged->keys, cap * sizeof (int64_t)) : NULL;
        if (grown_keys)
            staged->keys = grown_keys;
        if (!grown || !grown_keys) {
            free (staged->vectors);
            free (staged->keys);
            memset (staged, 0, sizeof *staged);     //  keep = false: reload later
            return;
        }
        staged->cap = cap;
    }
    memcpy (staged->vectors + staged->count * (size_t) dim, vectors,
            (size_t) n * (size_t) dim * sizeof (float));
    memcpy (staged->keys + staged->count, keys, (size_t) n * sizeof (int64_t));
    staged->count += (size_t) n;
}

//  One batch of a commit: what the reader fills and what the store derives
typedef struct {
    int cap;
    sl_chunk_row_t *rows;
    float *vectors;
    char (*ids) [SL_STORE_ID];
    char (*computed) [SL_SHA256_HEX];
    const char **hashes;
    int64_t *keys;
} s_batch_t;

static void
s_batch_free (s_batch_t *b)
{
    free (b->rows);
    free (b->vectors);
    free (b->ids);
    free (b->computed);
    free (b->hashes);
    free (b->keys);
    memset (b, 0, sizeof *b);
}

//  Batches hold at most SL_STORE_BATCH chunks and 16 MiB of vectors
static int
s_batch_new (s_batch_t *b, int n, int dim)
{
    memset (b, 0, sizeof *b);
    int cap = (int) ((16u << 20) / ((size_t) dim * sizeof (float)));
    cap = cap < 1 ? 1 : cap > SL_STORE_BATCH ? SL_STORE_BATCH : cap;
    b->cap = cap < n ? cap : n;
    b->rows = malloc ((size_t) b->cap * sizeof *b->rows);
    b->vectors = malloc ((size_t) b->cap * (size_t) dim * sizeof (float));
    b->ids = malloc ((size_t) b->cap * sizeof *b->ids);
    b->computed = malloc ((size_t) b->cap * sizeof *b->computed);
    b->hashes = malloc ((size_t) b->cap * sizeof *b->hashes);
    b->keys = malloc ((size_t) b->cap * sizeof *b->keys);
    if (b->rows && b->vectors && b->ids && b->computed && b->hashes && b->keys)
        return 0;
    s_batch_free (b);
    sl_store_set_errmsg ("out of memory for a batch of %d chunks (dim %d)", cap, dim);
    return SL_STORE_ERROR;
}

//  Insert the document's n chunks, batch by batch, as the reader gives them
static int
s_commit_chunks (sl_store_t *self, void *tx, const char *doc_id, int n, int dim,
                 const char *model_id, sl_store_reader_fn *reader, void *arg,
                 s_staged_t *staged)
{
    s_batch_t b;
    if (s_batch_new (&b, n, dim))
        return SL_STORE_ERROR;
    int rc = SL_STORE_OK, done = 0;
    while (rc == SL_STORE_OK && done < n) {
        char err [400] = "";
        int want = n - done < b.cap ? n - done : b.cap;
        int got = reader (arg, b.rows, b.vectors, want, err, sizeof err);
        if (got < 0 || got == 0 || got > want) {
            if (got < 0)
                sl_store_set_errmsg ("%s", *err ? err : "reading the chunks failed");
            else
            if (got == 0)
                sl_store_set_errmsg ("the document has %d chunks, %d expected", done, n);
            else
                sl_store_set_errmsg ("the reader gave %d chunks, %d were asked for", got, want);
            rc = SL_STORE_ERROR;
            break;
        }
        for (int i = 0; rc == SL_STORE_OK && i < got; i++) {
            const sl_chunk_row_t *chunk = &b.rows [i];
            if (!chunk->text) {
                sl_store_set_errmsg ("chunk %d has no text", done + i);
                rc = SL_STORE_ERROR;
                break;
            }
            sl_store_chunk_id (doc_id, chunk->ordinal, b.ids [i]);
            if (chunk->hash && *chunk->hash)
                b.hashes [i] = chunk->hash;
            else {
                sl_sha256_hex (chunk->text, strlen (chunk->text), b.computed [i]);
                b.hashes [i] = b.computed [i];
            }
        }
        if (rc == SL_STORE_OK)
            rc = self->ops->tx_chunks_insert (tx, doc_id, b.rows,
                                              (const char (*) [SL_STORE_ID]) b.ids, b.hashes,
                                              got, b.vectors, dim, model_id, b.keys);
        if (rc == SL_STORE_OK)
            s_stage (staged, b.keys, b.vectors, got, dim);
        done += got;
    }
    s_batch_free (&b);
    return rc;
}

//  Document identity: the rules of a commit. A document is its content:
//  its id is derived from (workspace, sha256), so the same bytes are
//  stored once per workspace. A source (a URL, "upload:<name>", see sl_store_source_name) names exactly
//  one document of the workspace; a document may be named by several
//  sources (the same file in two folders) and lives as long as one does.
//  documents.source is the oldest source still naming it.
//
//  Committing (workspace, source, content) in ONE transaction:
//  - the job (meta->job_id, if any) is read first: a job already completed
//    gets SL_STORE_TERMINAL and nothing is written (a redelivery); a FAILED
//    job is committed and completed (its late original copy, after the
//    re-driver gave up or a dead letter was replayed, still counts);
//  - if the source names a document made by a job accepted LATER than
//    this one, nothing is written: SL_STORE_SUPERSEDED, result->superseded_by
//    names that job (an older version never overwrites a newer one,
//    whatever order the commits arrive in);
//  - if the source named another document, it stops naming it; that
//    document is deleted with its chunks and vectors unless another source
//    still names it; result->replaced is its id;
//  - if the content is stored already, nothing of it is written again and
//    result->duplicate_of = result->document_id; else document, chunks and
//    vectors are inserted (the workspace's model recorded on first commit;
//    SL_STORE_CONFLICT if model_id or dim differ from the workspace's);
//  - the source names the document; the job is completed with document_id,
//    replaced and duplicate_of, and result->completed says this commit did
//    it (emit job_completed then). Different sources never replace each
//    other.
//
//  s_commit_body is that policy, inside the backend's transaction.
//  Vectors of model_id and dim may go into a workspace that embeds with
//  ws_model ("" none yet) and ws_dim (0 none yet): else CONFLICT
static int
s_model_check (const char *ws, const char *ws_model, int ws_dim, const char *model_id, int dim)
{
    if (*ws_model && strcmp (model_id, ws_model) != 0) {
        sl_store_set_errmsg ("workspace %s embeds with model %s, not %s: use a new "
                             "workspace to change models", ws, ws_model, model_id);
        return SL_STORE_CONFLICT;
    }
    if (ws_dim > 0 && dim != ws_dim) {
        sl_store_set_errmsg ("workspace %s stores %d-dimensional vectors, not %d", ws, ws_dim, dim);
        return SL_STORE_CONFLICT;
    }
    return SL_STORE_OK;
}

static int
s_commit_body (sl_store_t *self, void *tx, const sl_doc_meta_t *meta, const char *doc_id,
               int n, int dim, const char *model_id, sl_store_reader_fn *reader, void *arg,
               bool link_only, const sl_meta_t *attrs, sl_store_change_t *change,
               s_staged_t *staged, sl_store_commit_t *result)
{
    const sl_store_ops_t *ops = self->ops;
    const char *ws = meta->workspace;
    //  1. The workspace: its writers queue here, so every decision below
    //  sees the commits before it
    char ws_model [S_MODEL_MAX] = "";
    int ws_dim = 0;
    int64_t gen = 0, now = sl_now_ms ();
    int rc = ops->tx_workspace (tx, ws, n > 0 ? model_id : NULL, dim, now, ws_model,
                                sizeof ws_model, &ws_dim, &gen);
    if (rc != SL_STORE_OK)
        return rc;
    change->gen_before = change->gen_after = gen;
    now = sl_now_ms ();

    //  2. The job: completed means this is a redelivery; failed is fine (a
    //  late copy of a job the re-driver or the dead-letter queue gave up on)
    bool have_job = false;
    int64_t since = now;
    if (meta->job_id) {
        sl_store_state_t state;
        char job_doc [SL_STORE_ID] = "";
        rc = ops->tx_job (tx, meta->job_id, &state, &since, job_doc);
        if (rc == SL_STORE_NOT_FOUND)
            since = now;
        else
        if (rc != SL_STORE_OK)
            return rc;
        else
        if (state == SL_STORE_COMPLETED) {
            snprintf (result->document_id, sizeof result->document_id, "%s", job_doc);
            sl_store_set_errmsg ("job %s is already completed", meta->job_id);
            return SL_STORE_TERMINAL;
        }
        else
        if (state == SL_STORE_CANCELLED) {
            //  The cancel was accepted first: nothing of the job is written
            sl_store_set_errmsg ("job %s was cancelled", meta->job_id);
            return SL_STORE_TERMINAL;
        }
        else
            have_job = true;
    }

    //  3. What the source names now. A job accepted later made it so: this
    //  older version must not overwrite it
    char old_doc [SL_STORE_ID] = "", old_job [SL_STORE_TOKEN] = "";
    int64_t old_since = 0;
    rc = ops->tx_source_get (tx, ws, meta->source, old_doc, &old_since, old_job);
    if (rc != SL_STORE_OK && rc != SL_STORE_NOT_FOUND)
        return rc;
    bool named = rc == SL_STORE_OK;
    bool other = named && strcmp (old_doc, doc_id) != 0;
    if (other && have_job && old_since > since) {
        snprintf (result->superseded_by, sizeof result->superseded_by, "%s", old_job);
        sl_store_set_errmsg ("superseded: %.200s was ingested again by job %s, accepted after "
                             "job %s", meta->source, *old_job ? old_job : "(unknown)",
                             meta->job_id);
        return SL_STORE_SUPERSEDED;
    }
    rc = ops->tx_doc_exists (tx, ws, doc_id);
    if (rc < 0)
        return rc;
    bool exists = rc > 0;
    //  The same bytes, stored, but that document is being deleted (its id
    //  is the content's): naming it would lose this ingest when the delete
    //  service finishes, so the commit waits (the store stage retries the
    //  message) until the row is gone
    if (exists && ops->tx_doc_deleting (tx, ws, doc_id) == 1) {
        sl_store_set_errmsg ("document %s (the same content) is still being deleted: the commit "
                             "is retried; should the job fail with this, ingest it again once "
                             "the deletion is done", doc_id);
        return SL_STORE_BUSY;
    }
    if (link_only && !exists) {
        sl_store_set_errmsg ("document %s is no longer in workspace %s", doc_id, ws);
        return SL_STORE_NOT_FOUND;
    }

    //  4. The document the source named stops being named by it, and goes
    //  if no other source names it
    if (other) {
        char first [S_SOURCE_MAX + 1] = "";
        rc = ops->tx_source_unlink (tx, ws, meta->source, old_doc, first, sizeof first);
        if (rc == SL_STORE_OK && !*first) {
            rc = ops->tx_doc_remove (tx, ws, old_doc, NULL, change);
            if (rc == SL_STORE_NOT_FOUND)
                rc = SL_STORE_OK;       //  gone already: nothing to remove
            change->changed = true;
        }
        else
        if (rc == SL_STORE_OK)
            rc = ops->tx_doc_set_source (tx, old_doc, meta->source, first, now);
        if (rc != SL_STORE_OK)
            return rc;
        snprintf (result->replaced, sizeof result->replaced, "%s", old_doc);
    }

    //  5. The content: stored once; a duplicate writes nothing of it,
    //  except a reprocess (recut), whose new chunks replace the old ones
    if (n > 0 && (!exists || meta->recut)
    &&  (rc = s_model_check (ws, ws_model, ws_dim, model_id, dim)) != SL_STORE_OK)
        return rc;
    if (exists && meta->recut && n > 0) {
        rc = ops->tx_doc_update (tx, ws, doc_id, true, n, model_id, meta->chunking,
                                 meta->pages_blob, now, change);
        change->changed = true;
        if (rc || (rc = s_commit_chunks (self, tx, doc_id, n, dim, model_id, reader, arg, staged))
        ||  (rc = ops->tx_pages_build (tx, doc_id)))
            return rc;
    }
    else
    if (exists) {
        snprintf (result->duplicate_of, sizeof result->duplicate_of, "%s", doc_id);
        //  its parse output, if it had none kept (stored before it was)
        if (meta->pages_blob
        &&  (rc = ops->tx_doc_update (tx, ws, doc_id, false, 0, NULL, NULL, meta->pages_blob, now,
                                      change)) != SL_STORE_OK)
            return rc;
    }
    else {
        rc = ops->tx_doc_insert (tx, meta, doc_id, n, n > 0 ? model_id : NULL, now);
        if (rc < 0)
            return rc;
        if (rc == 0)
            snprintf (result->duplicate_of, sizeof result->duplicate_of, "%s", doc_id);
        else {
            change->changed = true;
            if (meta->pages_blob
            &&  (rc = ops->tx_doc_update (tx, ws, doc_id, false, 0, NULL, NULL, meta->pages_blob,
                                          now, change)) != SL_STORE_OK)
                return rc;
            if (n > 0
            &&  ((rc = s_commit_chunks (self, tx, doc_id, n, dim, model_id, reader, arg, staged))
                 || (rc = ops->tx_pages_build (tx, doc_id))))
                return rc;
        }
    }

    //  6. The source names it; the job completes with it, in this same
    //  transaction, so the job row and the documents always agree
    rc = ops->tx_source_set (tx, ws, meta->source, doc_id, have_job ? meta->job_id : NULL,
                             since, now);
    if (rc != SL_STORE_OK)
        return rc;
    //  Attributes sent with the ingest replace the document's, whether its
    //  content was new or stored already; none sent keeps what it has
    if (attrs && (rc = ops->tx_doc_attrs (tx, ws, doc_id, attrs)) != SL_STORE_OK)
        return rc;
    snprintf (result->document_id, sizeof result->document_id, "%s", doc_id);
    snprintf (change->doc_id, sizeof change->doc_id, "%s", doc_id);
    if (have_job) {
        rc = ops->tx_job_complete (tx, meta->job_id, doc_id, result->replaced,
                                   result->duplicate_of, now);
        if (rc < 0)
            return rc;
        result->completed = rc > 0;
    }
    //  Sources, documents or attributes may have moved: resolved filters
    //  of this workspace are stale (s_filter_cache)
    if ((rc = ops->tx_filters_bump (tx, ws)) != SL_STORE_OK)
        return rc;
    if (change->changed)
        return ops->tx_bump (tx, ws, &change->gen_after);
    return SL_STORE_OK;
}

//  Validate, lock the index, run the policy in one transaction, let the
//  index follow
static int
s_commit (sl_store_t *self, const sl_doc_meta_t *meta, int n, int dim, const char *model_id,
          sl_store_reader_fn *reader, void *arg, bool link_only, sl_store_commit_t *result)
{
    assert (self);
    assert (meta);
    assert (result);
    memset (result, 0, sizeof *result);
    if (!s_token_ok ("workspace", meta->workspace)
    ||  !s_text_ok ("source", meta->source, S_SOURCE_MAX) || !s_sha_ok (meta->sha256)
    ||  (meta->job_id && !s_token_ok ("job id", meta->job_id))
    ||  (meta->pages_blob && !s_sha_ok (meta->pages_blob)))
        return SL_STORE_ERROR;
    if (n < 0 || (n > 0 && (!reader || dim < 1 || dim > S_DIM_MAX))) {
        sl_store_set_errmsg ("invalid commit: %d chunks, dim %d%s", n, dim,
                             n > 0 && !reader ? ", no chunks to read" : "");
        return SL_STORE_ERROR;
    }
    if (n > 0 && !s_text_ok ("model id", model_id, S_MODEL_MAX - 1))
        return SL_STORE_ERROR;
    if (n == 0)
        dim = 0;                //  nothing embedded: record no dimension
    sl_meta_t *attrs = NULL;
    if (meta->attrs) {
        char why [256];
        if (!(attrs = sl_meta_parse (meta->attrs, -1, why, sizeof why))) {
            sl_store_set_errmsg ("%s", why);
            return SL_STORE_ERROR;
        }
    }

    char doc_id [SL_STORE_ID];
    sl_store_document_id (meta->workspace, meta->sha256, doc_id);
    //  Hold the index sync across the write: updates apply in commit order,
    //  and no reload runs meanwhile, so "loaded" stays true to the end
    s_index_t *entry = s_index_entry (self, meta->workspace);
    sl_store_change_t change = { .gen_before = -1 };
    pthread_mutex_lock (&entry->sync);
    s_staged_t staged = {
        .keep = entry->index && __atomic_load_n (&entry->gen, __ATOMIC_ACQUIRE) >= 0
    };
    void *tx = NULL;
    int rc = self->ops->tx_begin (self->backend, &tx);
    if (rc == SL_STORE_OK) {
        rc = s_commit_body (self, tx, meta, doc_id, n, dim, model_id, reader, arg, link_only,
                            attrs, &change, &staged, result);
        rc = self->ops->tx_end (self->backend, tx, rc);
    }
    if (rc == SL_STORE_OK && change.changed) {
        if (n > 0 && !staged.keep)
            __atomic_store_n (&entry->gen, -1, __ATOMIC_RELEASE);     //  reload
        else {
            change.added = staged.keys;
            change.n_added = (int) staged.count;
            staged.keys = NULL;
            s_index_apply (entry, &change, staged.vectors, dim);
        }
    }
    pthread_mutex_unlock (&entry->sync);
    sl_meta_destroy (&attrs);
    free (staged.vectors);
    free (staged.keys);
    s_change_free (&change);
    if (rc != SL_STORE_OK) {
        //  nothing was written: only the reason for refusing stays
        char document [SL_STORE_ID], later [SL_STORE_TOKEN];
        snprintf (document, sizeof document, "%s",
                  rc == SL_STORE_TERMINAL ? result->document_id : "");
        snprintf (later, sizeof later, "%s", result->superseded_by);
        memset (result, 0, sizeof *result);
        snprintf (result->document_id, sizeof result->document_id, "%s", document);
        snprintf (result->superseded_by, sizeof result->superseded_by, "%s", later);
    }
    return rc;
}

//  Commit a document of n chunks read through reader in batches of at
//  most SL_STORE_BATCH (see identity above). A reader failure rolls
//  everything back: SL_STORE_ERROR with the reader's reason. n may be 0
//  (reader is then not called; model_id may be NULL, dim 0). result gets
//  the outcome (zeroed first).
int
sl_store_document_commit_stream (sl_store_t *self, const sl_doc_meta_t *meta, int n, int dim,
                                 const char *model_id, sl_store_reader_fn *reader, void *arg,
                                 sl_store_commit_t *result)
{
    return s_commit (self, meta, n, dim, model_id, reader, arg, false, result);
}

int
sl_store_document_link (sl_store_t *self, const sl_doc_meta_t *meta, sl_store_commit_t *result)
{
    return s_commit (self, meta, 0, 0, NULL, NULL, NULL, true, result);
}

//  Chunks and vectors from arrays, for sl_store_document_commit
typedef struct {
    const sl_chunk_row_t *chunks;
    const float *vectors;
    int n;
    int dim;
    int next;
} s_arrays_t;

static int
s_arrays_read (void *arg, sl_chunk_row_t *rows, float *vectors, int max, char *err,
               size_t errlen)
{
    s_arrays_t *self = arg;
    int count = self->n - self->next < max ? self->n - self->next : max;
    memcpy (rows, self->chunks + self->next, (size_t) count * sizeof *rows);
    memcpy (vectors, self->vectors + (size_t) self->next * (size_t) self->dim,
            (size_t) count * (size_t) self->dim * sizeof (float));
    self->next += count;
    return count;
}

int
sl_store_document_commit (sl_store_t *self, const sl_doc_meta_t *meta,
                          const sl_chunk_row_t *chunks, int n, const float *vectors, int dim,
                          const char *model_id, char doc_id_out [SL_STORE_ID])
{
    assert (doc_id_out);
    *doc_id_out = 0;
    if (n > 0 && (!chunks || !vectors)) {
        sl_store_set_errmsg ("invalid commit: %d chunks, dim %d, missing chunks or vectors",
                             n, dim);
        return SL_STORE_ERROR;
    }
    s_arrays_t arrays = { chunks, vectors, n, dim, 0 };
    sl_store_commit_t result;
    int rc = s_commit (self, meta, n, dim, model_id, s_arrays_read, &arrays, false, &result);
    snprintf (doc_id_out, SL_STORE_ID, "%s", result.document_id);
    return rc;
}

int
sl_store_document_get (sl_store_t *self, const char *workspace, const char *doc_id,
                       sl_store_doc_t *doc)
{
    assert (self);
    assert (doc);
    memset (doc, 0, sizeof *doc);
    if (!s_token_ok ("workspace", workspace) || !s_token_ok ("document id", doc_id))
        return SL_STORE_ERROR;
    return self->ops->document_get (self->backend, workspace, doc_id, doc);
}

int
sl_store_document_list (sl_store_t *self, const char *workspace, int limit, int offset,
                        sl_store_doc_t **docs_p, int *count_p, int64_t *total_p)
{
    assert (self);
    assert (docs_p && count_p);
    *docs_p = NULL;
    *count_p = 0;
    if (total_p)
        *total_p = 0;
    if (!s_token_ok ("workspace", workspace) || !s_page_ok (limit, offset))
        return SL_STORE_ERROR;
    return self->ops->document_list (self->backend, workspace, limit, offset, docs_p, count_p,
                                     total_p);
}

//  The policy of a delete, inside the backend's transaction: the
//  workspace locked as a commit locks it, then the document goes with its
//  chunks and vectors and the generation moves on
static int
s_delete_body (sl_store_t *self, void *tx, const char *workspace, const char *doc_id,
               char sha256_out [SL_SHA256_HEX], sl_store_change_t *change)
{
    const sl_store_ops_t *ops = self->ops;
    int rc = ops->tx_workspace_lock (tx, workspace);
    if (rc == SL_STORE_OK)
        rc = ops->tx_doc_remove (tx, workspace, doc_id, sha256_out, change);
    if (rc == SL_STORE_NOT_FOUND)
        sl_store_set_errmsg ("no document %s in workspace %s", doc_id, workspace);
    if (rc != SL_STORE_OK)
        return rc;
    snprintf (change->doc_id, sizeof change->doc_id, "%s", doc_id);
    change->changed = true;
    if ((rc = ops->tx_filters_bump (tx, workspace)) != SL_STORE_OK)
        return rc;
    rc = ops->tx_bump (tx, workspace, &change->gen_after);
    change->gen_before = change->gen_after - 1;
    return rc;
}

int
sl_store_chunks_list (sl_store_t *self, const char *workspace, const char *doc_id, int limit,
                      int offset, sl_store_chunk_t **chunks_p, int *count_p, int64_t *total_p)
{
    assert (self);
    assert (chunks_p && count_p);
    *chunks_p = NULL;
    *count_p = 0;
    if (total_p)
        *total_p = 0;
    if (!s_token_ok ("workspace", workspace) || !s_token_ok ("document id", doc_id)
    ||  !s_page_ok (limit, offset))
        return SL_STORE_ERROR;
    return self->ops->chunks_list (self->backend, workspace, doc_id, limit, offset, chunks_p,
                                   count_p, total_p);
}

int
sl_store_document_delete (sl_store_t *self, const char *workspace, const char *doc_id,
                          char sha256_out [SL_SHA256_HEX])
{
    assert (self);
    assert (sha256_out);
    *sha256_out = 0;
    if (!s_token_ok ("workspace", workspace) || !s_token_ok ("document id", doc_id))
        return SL_STORE_ERROR;
    s_index_t *entry = s_index_entry (self, workspace);
    sl_store_change_t change = { .gen_before = -1 };
    pthread_mutex_lock (&entry->sync);
    void *tx = NULL;
    int rc = self->ops->tx_begin (self->backend, &tx);
    if (rc == SL_STORE_OK)
        rc = self->ops->tx_end (self->backend, tx, s_delete_body (self, tx, workspace, doc_id,
                                                                  sha256_out, &change));
    if (rc != SL_STORE_OK)
        *sha256_out = 0;
    if (rc == SL_STORE_OK && change.changed)
        s_index_apply (entry, &change, NULL, 0);
    pthread_mutex_unlock (&entry->sync);
    s_change_free (&change);
    return rc;
}

//  The tombstone, inside the backend's transaction: the workspace locked
//  as a commit locks it, the state changed, and the generation bumped
//  without an incremental update, so every process's vector index sees
//  itself behind and reloads without the document's rows (the load reads
//  only documents that are ready) at its next search
static int
s_tombstone_body (sl_store_t *self, void *tx, const char *workspace, const char *doc_id,
                  int *was)
{
    const sl_store_ops_t *ops = self->ops;
    int64_t gen = 0;
    int rc = ops->tx_workspace_lock (tx, workspace);
    if (rc == SL_STORE_OK)
        rc = ops->tx_doc_tombstone (tx, workspace, doc_id, sl_now_ms (), was);
    if (rc == SL_STORE_NOT_FOUND)
        sl_store_set_errmsg ("no document %s in workspace %s", doc_id, workspace);
    if (rc != SL_STORE_OK || *was)
        return rc;
    if ((rc = ops->tx_filters_bump (tx, workspace)) != SL_STORE_OK)
        return rc;
    return ops->tx_bump (tx, workspace, &gen);
}

int
sl_store_document_tombstone (sl_store_t *self, const char *workspace, const char *doc_id,
                             bool *already)
{
    assert (self);
    assert (already);
    *already = false;
    if (!s_token_ok ("workspace", workspace) || !s_token_ok ("document id", doc_id))
        return SL_STORE_ERROR;
    s_index_t *entry = s_index_entry (self, workspace);
    int was = 0;
    pthread_mutex_lock (&entry->sync);
    void *tx = NULL;
    int rc = self->ops->tx_begin (self->backend, &tx);
    if (rc == SL_STORE_OK)
        rc = self->ops->tx_end (self->backend, tx,
                                s_tombstone_body (self, tx, workspace, doc_id, &was));
    pthread_mutex_unlock (&entry->sync);
    *already = rc == SL_STORE_OK && was;
    return rc;
}

//  One purge step, inside the backend's transaction: the document is
//  (still, or again: a purge implies the tombstone) deleting, then at most
//  batch of its chunks and pages go; a step that finds none left removes
//  the document row itself, as a synchronous delete would
static int
s_purge_body (sl_store_t *self, void *tx, const char *workspace, const char *doc_id, int batch,
              char sha256_out [SL_SHA256_HEX], sl_store_change_t *change, bool *done)
{
    int was = 0;
    int rc = s_tombstone_body (self, tx, workspace, doc_id, &was);
    int removed = 0;
    if (rc == SL_STORE_OK)
        rc = self->ops->tx_doc_purge (tx, doc_id, batch, &removed);
    if (rc != SL_STORE_OK || removed > 0)
        return rc;
    *done = true;
    return s_delete_body (self, tx, workspace, doc_id, sha256_out, change);
}

int
sl_store_document_purge (sl_store_t *self, const char *workspace, const char *doc_id, int batch,
                         char sha256_out [SL_SHA256_HEX], bool *done)
{
    assert (self);
    assert (sha256_out && done);
    *sha256_out = 0;
    *done = false;
    if (!s_token_ok ("workspace", workspace) || !s_token_ok ("document id", doc_id))
        return SL_STORE_ERROR;
    if (batch < 1 || batch > 100000) {
        sl_store_set_errmsg ("purge batch %d is out of range (1..100000)", batch);
        return SL_STORE_ERROR;
    }
    s_index_t *entry = s_index_entry (self, workspace);
    sl_store_change_t change = { .gen_before = -1 };
    pthread_mutex_lock (&entry->sync);
    void *tx = NULL;
    int rc = self->ops->tx_begin (self->backend, &tx);
    if (rc == SL_STORE_OK)
        rc = self->ops->tx_end (self->backend, tx, s_purge_body (self, tx, workspace, doc_id,
                                                                 batch, sha256_out, &change, done));
    if (rc != SL_STORE_OK) {
        *sha256_out = 0;
        *done = false;
    }
    if (rc == SL_STORE_OK && change.changed)
        s_index_apply (entry, &change, NULL, 0);
    pthread_mutex_unlock (&entry->sync);
    s_change_free (&change);
    return rc;
}

int
sl_store_documents_deleting (sl_store_t *self, int limit, char **json_out)
{
    assert (self);
    assert (json_out);
    *json_out = NULL;
    if (limit < 1)
        limit = 1;
    return self->ops->docs_deleting (self->backend, limit, json_out);
}

//  A re-tag, inside the backend's transaction: the workspace locked as a
//  commit locks it, so a PATCH merges over the attributes the last
//  writer left (never a lost update), then the rows are replaced. The
//  vectors do not change, so neither does the generation: searches read
//  the attribute rows themselves and follow at once.
static int
s_meta_body (sl_store_t *self, void *tx, const char *workspace, const char *doc_id,
             const char *meta_json, bool merge, char **meta_out)
{
    const sl_store_ops_t *ops = self->ops;
    char *current = NULL;
    int rc = ops->tx_workspace_lock (tx, workspace);
    if (rc == SL_STORE_OK)
        rc = ops->tx_doc_meta_get (tx, workspace, doc_id, &current);
    if (rc == SL_STORE_NOT_FOUND)
        sl_store_set_errmsg ("no document %s in workspace %s", doc_id, workspace);
    sl_meta_t *meta = NULL;
    if (rc == SL_STORE_OK) {
        char why [256];
        meta = merge ? sl_meta_merge (current, meta_json, why, sizeof why)
                     : sl_meta_parse (meta_json, -1, why, sizeof why);
        if (!meta) {
            sl_store_set_errmsg ("%s", why);
            rc = SL_STORE_ERROR;
        }
    }
    if (rc == SL_STORE_OK)
        rc = ops->tx_doc_attrs (tx, workspace, doc_id, meta);
    if (rc == SL_STORE_OK)
        rc = ops->tx_filters_bump (tx, workspace);
    if (rc == SL_STORE_OK && meta_out)
        *meta_out = strdup (meta->json);
    sl_meta_destroy (&meta);
    free (current);
    return rc;
}

int
sl_store_document_meta (sl_store_t *self, const char *workspace, const char *doc_id,
                        const char *meta_json, bool merge, char **meta_out)
{
    assert (self);
    if (meta_out)
        *meta_out = NULL;
    if (!s_token_ok ("workspace", workspace) || !s_token_ok ("document id", doc_id))
        return SL_STORE_ERROR;
    if (!meta_json) {
        sl_store_set_errmsg ("meta is missing");
        return SL_STORE_ERROR;
    }
    void *tx = NULL;
    int rc = self->ops->tx_begin (self->backend, &tx);
    if (rc == SL_STORE_OK)
        rc = self->ops->tx_end (self->backend, tx, s_meta_body (self, tx, workspace, doc_id,
                                                                meta_json, merge, meta_out));
    if (rc != SL_STORE_OK && meta_out) {
        free (*meta_out);
        *meta_out = NULL;
    }
    return rc;
}

int
sl_store_blob_referenced (sl_store_t *self, const char *sha256)
{
    assert (self);
    if (!s_sha_ok (sha256))
        return SL_STORE_ERROR;
    return self->ops->blob_referenced (self->backend, sha256);
}

int
sl_store_workspace_model (sl_store_t *self, const char *workspace, char *model_out,
                          size_t size, int *dim_out)
{
    assert (self);
    assert (model_out && size > 0);
    *model_out = 0;
    if (!s_token_ok ("workspace", workspace))
        return SL_STORE_ERROR;
    int dim = 0;
    int rc = self->ops->workspace_info (self->backend, workspace, model_out, size, &dim, NULL);
    if (rc == SL_STORE_OK && !*model_out) {
        sl_store_set_errmsg ("workspace %s has no embedded documents yet", workspace);
        rc = SL_STORE_NOT_FOUND;
    }
    if (dim_out)
        *dim_out = rc == SL_STORE_OK ? dim : 0;
    return rc;
}

//  Page through the workspace's chunks for re-embedding: up to limit
//  (1..10000) chunks whose key is > after_key (0 for the first page: keys
//  are positive), in key order. keys gets the
//  chunk keys (the ids the vector index uses), texts malloc'd copies of
//  their texts (free with sl_store_texts_free); *count the number written.
//  NOT_FOUND if the workspace does not exist.
int
sl_store_workspace_chunks (sl_store_t *self, const char *workspace, int64_t after_key,
                           int limit, int64_t *keys, char **texts, int *count)
{
    assert (self);
    assert (count);
    *count = 0;
    if (!s_token_ok ("workspace", workspace))
        return SL_STORE_ERROR;
    if (limit < 1 || limit > S_LIST_MAX || !keys || !texts) {
        sl_store_set_errmsg ("invalid chunk page: limit %d (1..%d)", limit, S_LIST_MAX);
        return SL_STORE_ERROR;
    }
    return self->ops->workspace_chunks (self->backend, workspace, after_key, limit, keys, texts,
                                        count);
}

void
sl_store_texts_free (char **texts, int count)
{
    for (int i = 0; texts && i < count; i++) {
        free (texts [i]);
        texts [i] = NULL;
    }
}

//  The policy of a re-embed, inside the backend's transaction: the switch
//  happens only if the cache holds a vector for every chunk
static int
s_reembed_body (sl_store_t *self, void *tx, const char *workspace, const char *model_id, int dim,
                int64_t *missing)
{
    const sl_store_ops_t *ops = self->ops;
    int rc = ops->tx_workspace_lock (tx, workspace);
    if (rc == SL_STORE_NOT_FOUND)
        sl_store_set_errmsg ("no workspace %s", workspace);
    if (rc == SL_STORE_OK)
        rc = ops->tx_cache_missing (tx, workspace, model_id, dim, missing);
    if (rc != SL_STORE_OK)
        return rc;
    if (*missing > 0) {
        sl_store_set_errmsg ("%lld chunk(s) of workspace %s have no vector of %s yet (documents "
                             "were added during the re-embed): embed them and switch again",
                             (long long) *missing, workspace, model_id);
        return SL_STORE_CONFLICT;
    }
    int64_t gen = 0;
    rc = ops->tx_vectors_from_cache (tx, workspace, model_id, dim, sl_now_ms ());
    return rc == SL_STORE_OK ? ops->tx_bump (tx, workspace, &gen) : rc;
}

//  Switch the workspace to model_id (dim) using the embedding cache: every
//  chunk of the workspace must already have a vector of that model and dim
//  in the cache (sl_store_cache_put under the chunk's content hash), so a
//  re-embed can put its vectors there in batches and never hold them all.
//  In one transaction serialised with commits: replaces every vector of
//  the workspace, makes model_id/dim its model, bumps the generation (every
//  process's index reloads on its next search). If some chunk has no such
//  vector (a document was committed meanwhile) nothing changes and the
//  answer is SL_STORE_CONFLICT, with *missing (if not NULL) set to how many
//  lack one: embed those and call again. An empty workspace just changes
//  its model. NOT_FOUND if no workspace.
int
sl_store_workspace_reembed (sl_store_t *self, const char *workspace, const char *model_id,
                            int dim, int64_t *missing)
{
    assert (self);
    int64_t none = 0;
    if (!missing)
        missing = &none;
    *missing = 0;
    if (!s_token_ok ("workspace", workspace) || !s_text_ok ("model id", model_id, S_MODEL_MAX - 1))
        return SL_STORE_ERROR;
    if (dim < 1 || dim > S_DIM_MAX) {
        sl_store_set_errmsg ("invalid re-embed: dim %d", dim);
        return SL_STORE_ERROR;
    }
    //  Hold the index sync across the write, like commits; the index is
    //  then stale (other model, maybe other dim): the next search reloads
    s_index_t *entry = s_index_entry (self, workspace);
    pthread_mutex_lock (&entry->sync);
    void *tx = NULL;
    int rc = self->ops->tx_begin (self->backend, &tx);
    if (rc == SL_STORE_OK)
        rc = self->ops->tx_end (self->backend, tx, s_reembed_body (self, tx, workspace, model_id,
                                                                   dim, missing));
    if (rc == SL_STORE_OK)
        __atomic_store_n (&entry->gen, -1, __ATOMIC_RELEASE);
    pthread_mutex_unlock (&entry->sync);
    return rc;
}

void
sl_store_doc_reset (sl_store_doc_t *doc)
{
    if (!doc)
        return;
    free (doc->source);
    free (doc->mime);
    free (doc->title);
    free (doc->model_id);
    free (doc->job_id);
    free (doc->chunking);
    free (doc->meta);
    memset (doc, 0, sizeof *doc);
}

void
sl_store_docs_free (sl_store_doc_t **docs_p, int count)
{
    assert (docs_p);
    for (int i = 0; *docs_p && i < count; i++)
        sl_store_doc_reset (&(*docs_p) [i]);
    free (*docs_p);
    *docs_p = NULL;
}

void
sl_store_chunks_free (sl_store_chunk_t **chunks_p, int count)
{
    assert (chunks_p);
    for (int i = 0; *chunks_p && i < count; i++) {
        free ((*chunks_p) [i].hash);
        free ((*chunks_p) [i].text);
        free ((*chunks_p) [i].section);
        free ((*chunks_p) [i].context);
    }
    free (*chunks_p);
    *chunks_p = NULL;
}

//  --------------------------------------------------------------------------
//  Embedding cache

static bool
s_batch_ok (const char *model_id, const char **hashes, int n, int dim, const void *vectors)
{
    if (!s_text_ok ("model id", model_id, S_MODEL_MAX - 1))
        return false;
    if (n < 0 || (n > 0 && (!hashes || !vectors || dim < 1 || dim > S_DIM_MAX))) {
        sl_store_set_errmsg ("invalid cache batch: %d entries, dim %d", n, dim);
        return false;
    }
    for (int i = 0; i < n; i++)
        if (!s_text_ok ("cache hash", hashes [i], 128))
            return false;
    return true;
}

int
sl_store_cache_get (sl_store_t *self, const char *model_id, const char **hashes, int n,
                    int dim, float *out, bool *found)
{
    assert (self);
    for (int i = 0; found && i < n; i++)
        found [i] = false;
    if (!s_batch_ok (model_id, hashes, n, dim, out) || (n > 0 && !found))
        return SL_STORE_ERROR;
    if (n == 0)
        return 0;
    return self->ops->cache_get (self->backend, model_id, hashes, n, dim, out, found);
}

int
sl_store_cache_put (sl_store_t *self, const char *model_id, const char **hashes, int n,
                    const float *vectors, int dim)
{
    assert (self);
    if (!s_batch_ok (model_id, hashes, n, dim, vectors))
        return SL_STORE_ERROR;
    if (n == 0)
        return 0;
    return self->ops->cache_put (self->backend, model_id, hashes, n, vectors, dim, sl_now_ms ());
}

//  --------------------------------------------------------------------------
//  Housekeeping

#define S_EVICT_BATCH 1000

int
sl_store_lease (sl_store_t *self, const char *name, const char *owner, int64_t now_ms,
                int64_t until_ms)
{
    assert (self);
    if (!s_token_ok ("lease name", name) || !s_text_ok ("lease owner", owner, 256))
        return SL_STORE_ERROR;
    if (until_ms <= 0) {
        sl_store_set_errmsg ("lease until %lld: not a time", (long long) until_ms);
        return SL_STORE_ERROR;
    }
    return self->ops->lease (self->backend, name, owner, now_ms, until_ms);
}

int
sl_store_lease_release (sl_store_t *self, const char *name, const char *owner)
{
    assert (self);
    if (!s_token_ok ("lease name", name) || !s_text_ok ("lease owner", owner, 256))
        return SL_STORE_ERROR;
    return self->ops->lease (self->backend, name, owner, 0, 0);
}

int
sl_store_workspace_chunking (sl_store_t *self, const char *workspace, char *out, size_t size)
{
    assert (self);
    assert (out && size > 0);
    *out = 0;
    if (!s_token_ok ("workspace", workspace))
        return SL_STORE_ERROR;
    return self->ops->workspace_chunking (self->backend, workspace, out, size);
}

int
sl_store_workspace_set_chunking (sl_store_t *self, const char *workspace, const char *json)
{
    assert (self);
    if (!s_token_ok ("workspace", workspace)
    ||  (json && !s_text_ok ("chunking settings", json, 1024)))
        return SL_STORE_ERROR;
    return self->ops->workspace_set_chunking (self->backend, workspace, json, sl_now_ms ());
}

int
sl_store_workspace_bytes (sl_store_t *self, const char *workspace, int64_t *bytes_out)
{
    assert (self);
    assert (bytes_out);
    *bytes_out = 0;
    if (!s_token_ok ("workspace", workspace))
        return SL_STORE_ERROR;
    return self->ops->workspace_bytes (self->backend, workspace, bytes_out);
}

int
sl_store_cache_usage (sl_store_t *self, int64_t *entries_out, int64_t *bytes_out)
{
    assert (self);
    assert (entries_out && bytes_out);
    *entries_out = *bytes_out = 0;
    return self->ops->cache_usage (self->backend, entries_out, bytes_out);
}

//  Bound the embedding cache: evict every entry created before before_ms
//  (0: none by age), then the oldest entries until it holds at most
//  max_bytes as sl_store_cache_usage counts (0: no size bound), in
//  batches of at most 1000 (short transactions). *entries_out and
//  *bytes_out (may be NULL) get what was evicted. A text evicted is only
//  embedded again when it is next needed.
int
sl_store_cache_trim (sl_store_t *self, int64_t max_bytes, int64_t before_ms,
                     int64_t *entries_out, int64_t *bytes_out)
{
    assert (self);
    int64_t entries = 0, bytes = 0, n, b;
    if (max_bytes < 0 || before_ms < 0) {
        sl_store_set_errmsg ("cache trim: negative bound");
        return SL_STORE_ERROR;
    }
    int rc = SL_STORE_OK;
    //  By age: whatever is older than the cutoff, batch after batch
    while (rc == SL_STORE_OK && before_ms > 0) {
        rc = self->ops->cache_evict (self->backend, before_ms, S_EVICT_BATCH, &n, &b);
        if (rc == SL_STORE_OK) {
            entries += n;
            bytes += b;
        }
        if (n < S_EVICT_BATCH)
            break;
    }
    //  By size: the oldest, as many as the average entry says are over
    int64_t count = 0, size = 0;
    if (rc == SL_STORE_OK && max_bytes > 0)
        rc = self->ops->cache_usage (self->backend, &count, &size);
    while (rc == SL_STORE_OK && max_bytes > 0 && size > max_bytes && count > 0) {
        int64_t average = size / count > 0 ? size / count : 1;
        int64_t want = (size - max_bytes + average - 1) / average;
        if (want > S_EVICT_BATCH)
            want = S_EVICT_BATCH;
        rc = self->ops->cache_evict (self->backend, INT64_MAX, (int) (want > 0 ? want : 1), &n, &b);
        if (rc != SL_STORE_OK || n == 0)
            break;
        entries += n;
        bytes += b;
        count -= n;
        size -= b;
    }
    if (entries_out)
        *entries_out = entries;
    if (bytes_out)
        *bytes_out = bytes;
    return rc;
}

//  --------------------------------------------------------------------------
//  Events

int
sl_store_event_append (sl_store_t *self, const char *job_id, const char *type,
                       const char *data_json, int64_t ts, int64_t *seq_out)
{
    assert (self);
    if (!s_token_ok ("job id", job_id) || !s_text_ok ("event type", type, 64))
        return SL_STORE_ERROR;
    return self->ops->event_append (self->backend, job_id, type, data_json, ts, seq_out);
}

int
sl_store_events_list (sl_store_t *self, const char *job_id, int64_t after_seq, int limit,
                      sl_store_event_t **events_p, int *count_p)
{
    assert (self);
    assert (events_p && count_p);
    *events_p = NULL;
    *count_p = 0;
    if (!s_token_ok ("job id", job_id) || !s_page_ok (limit, 0))
        return SL_STORE_ERROR;
    return self->ops->events_list (self->backend, job_id, after_seq, limit, events_p, count_p);
}

void
sl_store_events_free (sl_store_event_t **events_p, int count)
{
    assert (events_p);
    for (int i = 0; *events_p && i < count; i++) {
        free ((*events_p) [i].type);
        free ((*events_p) [i].data);
    }
    free (*events_p);
    *events_p = NULL;
}

//  --------------------------------------------------------------------------
//  Search: vector, lexical, or both fused

//  Hybrid fusion: a candidate scores (1 - vector_weight) x its word share
//  (its BM25 over the query terms' idf sum, about how much of the query
//  it holds, capped at S_SHARE_MAX; 0 if the word side did not find it) +
//  vector_weight x its cosine scaled to 0..1 between the lowest and
//  highest cosine among the candidates. Each ranking gives its best
//  `candidates`. Interpolating scores keeps how far ahead a chunk is on
//  each side, which rank fusion throws away, and a share (not the score
//  over the best one) keeps a chunk holding only an incidental word of
//  the question ("still", "cover") from counting as a full word match:
//  on bench/eval's tune half this beat reciprocal rank fusion at every
//  setting tried (bench/RESULTS.md). Defaults in sl_store.h; config keys
//  search.vector_weight and search.candidates
#define S_SHARE_MAX 2.0
#define S_FUSION_MAX 1000       //  upper bound of candidates

//  Words too common to say what a query is about; dropped unless a query
//  has nothing else, so "the kitten" needs "kitten", not "the". Lucene's
//  English stop set, plus the words questions are made of ("how do I ...")
static const char *s_stopwords [] = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "did", "do", "does", "for",
    "from", "has", "have", "how", "if", "in", "into", "is", "it", "its", "my", "no", "not",
    "of", "on", "or", "our", "such", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with",
    "you", "your", NULL
};

static bool
s_stopword (const char *term)
{
    for (int i = 0; s_stopwords [i]; i++)
        if (strcmp (term, s_stopwords [i]) == 0)
            return true;
    return false;
}

//  Bytes of the separator at p, 0 if p starts a word character. ASCII
//  punctuation and spaces separate, and so do the non-ASCII punctuation and
//  symbols a full-text tokenizer drops (Latin-1 signs, NBSP, × and ÷; the
//  U+2000..U+2BFF block of dashes, quotes, currency, arrows, maths; CJK
//  marks; emoji), so "naïve—thing" is two terms and "€" none: a term the
//  index holds no token for would match nothing. Other UTF-8 stays in words.
static int
s_separator (const unsigned char *p)
{
    if (*p < 0x80)
        return (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
               ? 0 : 1;
    bool c1 = p [1] >= 0x80 && p [1] <= 0xBF;
    if (p [0] == 0xC2 && p [1] >= 0xA0 && p [1] <= 0xBF)
        return 2;               //  U+00A0..U+00BF
    if (p [0] == 0xC3 && (p [1] == 0x97 || p [1] == 0xB7))
        return 2;               //  U+00D7, U+00F7
    bool c2 = c1 && p [2] >= 0x80 && p [2] <= 0xBF;
    if (c2 && ((p [0] == 0xE2 && p [1] <= 0xAF) || (p [0] == 0xE3 && p [1] == 0x80)))
        return 3;               //  U+2000..U+2BFF, U+3000..U+303F
    if (c2 && p [0] == 0xF0 && p [1] == 0x9F && p [3] >= 0x80 && p [3] <= 0xBF)
        return 4;               //  U+1F000..U+1FFFF
    return 0;
}

int
sl_store_query_terms (const char *text, char terms [SL_STORE_TERMS][SL_STORE_TERM_MAX])
{
    int n = 0, kept = 0;
    bool stop [SL_STORE_TERMS];
    const unsigned char *p = (const unsigned char *) (text ? text : "");
    while (*p && n < SL_STORE_TERMS) {
        int sep;
        while (*p && (sep = s_separator (p)) > 0)
            p += sep;
        const unsigned char *start = p;
        while (*p && s_separator (p) == 0)
            p++;
        size_t len = (size_t) (p - start);
        //  one ASCII letter says nothing; longer than a term slot is noise
        if (len == 0 || (len == 1 && *start < 0x80) || len >= SL_STORE_TERM_MAX)
            continue;
        char term [SL_STORE_TERM_MAX];
        for (size_t i = 0; i < len; i++) {
            unsigned char c = start [i];
            //  ASCII and Latin-1 capitals (U+00C0..U+00DE but U+00D7,
            //  bytes C3 80..C3 9E) lower-case in place; the indexes fold
            //  case too, and a C-locale PostgreSQL folds no further
            if (c >= 'A' && c <= 'Z')
                c += 32;
            else
            if (i > 0 && start [i - 1] == 0xC3 && c >= 0x80 && c <= 0x9E && c != 0x97)
                c += 32;
            term [i] = (char) c;
        }
        term [len] = 0;
        bool dup = false;
        for (int i = 0; i < n && !dup; i++)
            dup = strcmp (terms [i], term) == 0;
        if (dup)
            continue;
        memcpy (terms [n], term, len + 1);
        stop [n] = s_stopword (term);
        kept += !stop [n];
        n++;
    }
    if (kept == 0)
        return n;               //  only function words: they are the query
    int out = 0;
    for (int i = 0; i < n; i++)
        if (!stop [i]) {
            if (out != i)
                memcpy (terms [out], terms [i], SL_STORE_TERM_MAX);
            out++;
        }
    return out;
}

const char *
sl_search_mode_name (sl_search_mode_t mode)
{
    return mode == SL_SEARCH_VECTOR ? "vector" : mode == SL_SEARCH_LEXICAL ? "lexical" : "hybrid";
}

int
sl_search_mode_parse (const char *name)
{
    for (int mode = SL_SEARCH_HYBRID; name && mode <= SL_SEARCH_LEXICAL; mode++)
        if (strcmp (name, sl_search_mode_name ((sl_search_mode_t) mode)) == 0)
            return mode;
    return -1;
}

//  One candidate of a ranking before fusion
typedef struct {
    int64_t key;
    float score;                //  cosine, if known
    bool has_score;
    double words;               //  word share (0: not found by the word side)
    double page;                //  its page's word share (0: page not among the best)
    double fused;               //  what the final order is by
    int match;
} s_cand_t;

//  Add key, found by the ranking match with a cosine (score) or a word
//  share (words)
static int
s_cand_add (s_cand_t *cands, int n, int64_t key, int match, const float *score, double words)
{
    int i = 0;
    while (i < n && cands [i].key != key)
        i++;
    if (i == n)
        cands [n++] = (s_cand_t) { .key = key };
    cands [i].match |= match;
    if (score) {
        cands [i].score = *score;
        cands [i].has_score = true;
    }
    if (words > cands [i].words)
        cands [i].words = words;
    return n;
}

//  Give each candidate its fused score, as the mode says
static void
s_cand_fuse (s_cand_t *cands, int n, const sl_search_t *how)
{
    float lo = 0, hi = 0;
    for (int i = 0; i < n; i++) {
        if (i == 0 || cands [i].score < lo)
            lo = cands [i].score;
        if (i == 0 || cands [i].score > hi)
            hi = cands [i].score;
    }
    for (int i = 0; i < n; i++) {
        s_cand_t *c = &cands [i];
        double words = (1 - how->page_weight) * (c->words < S_SHARE_MAX ? c->words : S_SHARE_MAX)
                     + how->page_weight * (c->page < S_SHARE_MAX ? c->page : S_SHARE_MAX);
        double cosine = hi > lo ? (c->score - lo) / (hi - lo) : 0;
        c->fused = how->mode == SL_SEARCH_VECTOR ? c->score
                 : how->mode == SL_SEARCH_LEXICAL ? words
                 : (1 - how->vector_weight) * words + how->vector_weight * cosine;
    }
}

//  Best fused first; ties (one rank each in different rankings) go to the
//  higher cosine, then the older chunk, so results are stable
static int
s_cand_cmp (const void *a, const void *b)
{
    const s_cand_t *x = a, *y = b;
    if (x->fused != y->fused)
        return x->fused > y->fused ? -1 : 1;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

//  The cache key of a search's scope: the filter's SQL with its values, and
//  the documents. malloc'd, NULL if it cannot be built (then no caching)
static char *
s_scope_key (const sl_search_t *how)
{
    size_t size = 65536;
    char *key = malloc (size);
    const char **params = malloc (SL_FILTER_PARAMS_MAX * sizeof *params);
    int n = 0;
    bool ok = key && params;
    if (ok) {
        *key = 0;
        ok = !how->filter || sl_filter_sql (how->filter, false, 1, 2, key, size, params,
                                            SL_FILTER_PARAMS_MAX, &n) == 0;
    }
    size_t used = ok ? strlen (key) : 0;
    for (int i = 0; ok && i < n; i++) {
        int wrote = snprintf (key + used, size - used, "\x1f%s", params [i]);
        ok = wrote >= 0 && (size_t) wrote < size - used;
        used += ok ? (size_t) wrote : 0;
    }
    for (int i = 0; ok && i < how->n_documents; i++) {
        int wrote = snprintf (key + used, size - used, "\x1e%s", how->documents [i]);
        ok = wrote >= 0 && (size_t) wrote < size - used;
        used += ok ? (size_t) wrote : 0;
    }
    free (params);
    if (!ok) {
        free (key);
        return NULL;
    }
    return key;
}

//  A copy of the resolved mask for key at (gen, fgen), or NULL
static uint8_t *
s_resolved_get (s_index_t *entry, const char *key, int64_t gen, int64_t fgen, size_t *n_tags)
{
    uint8_t *copy = NULL;
    pthread_mutex_lock (&entry->filters_lock);
    for (int i = 0; i < S_RESOLVED && !copy; i++) {
        s_resolved_t *r = &entry->resolved [i];
        if (r->key && r->gen == gen && r->fgen == fgen && strcmp (r->key, key) == 0
        &&  (copy = malloc (r->n_tags ? r->n_tags : 1))) {
            memcpy (copy, r->allowed, r->n_tags);
            *n_tags = r->n_tags;
        }
    }
    pthread_mutex_unlock (&entry->filters_lock);
    return copy;
}

static void
s_resolved_put (s_index_t *entry, const char *key, int64_t gen, int64_t fgen,
                const uint8_t *allowed, size_t n_tags)
{
    char *k = strdup (key);
    uint8_t *copy = malloc (n_tags ? n_tags : 1);
    if (!k || !copy) {
        free (k);
        free (copy);
        return;
    }
    memcpy (copy, allowed, n_tags);
    pthread_mutex_lock (&entry->filters_lock);
    s_resolved_t *r = &entry->resolved [entry->resolved_next];
    entry->resolved_next = (entry->resolved_next + 1) % S_RESOLVED;
    free (r->key);
    free (r->allowed);
    *r = (s_resolved_t) { .key = k, .gen = gen, .fgen = fgen, .allowed = copy, .n_tags = n_tags };
    pthread_mutex_unlock (&entry->filters_lock);
}

//  The vector ranking within some documents or a filter. The backend
//  resolves them with its indexes to the matching documents and their
//  chunk counts. Few chunks (a quarter of the index or less): their keys
//  are fetched and scored one by one. Many: the index ranks in the single
//  pass an unfiltered search makes, checking one byte per row (is its
//  document's tag allowed?), so a broad filter costs no more than none;
//  that mask is kept (s_resolved_t) while nothing that could change it
//  has happened, so a filter used again skips the database. Returns the
//  count, or -1 (message set).
static int
s_vector_within (sl_store_t *self, s_index_t *entry, sl_vindex_t *index, const float *query,
                 const sl_search_t *how, int want, int64_t *keys_out, float *scores_out)
{
    const char *workspace = entry->workspace;
    int64_t gen = __atomic_load_n (&entry->gen, __ATOMIC_ACQUIRE), fgen = -1;
    char *key = s_scope_key (how);
    size_t n_tags = 0;
    uint8_t *allowed = NULL;
    if (key && self->ops->filters_gen (self->backend, workspace, &fgen) == SL_STORE_OK)
        allowed = s_resolved_get (entry, key, gen, fgen, &n_tags);
    int n = -1;
    bool failed = false;
    if (!allowed) {
        char (*ids) [SL_STORE_ID] = NULL;
        int count = 0;
        int64_t chunks = 0;
        if (self->ops->filter_docs (self->backend, workspace, how->documents, how->n_documents,
                                    how->filter, &ids, &count, &chunks) != SL_STORE_OK)
            failed = true;
        else
        if (count == 0)
            n = 0;
        else
        if (chunks * 4 < (int64_t) sl_vindex_size (index)) {
            //  Few chunks: their keys, each scored
            int64_t *keys = NULL;
            int nkeys = 0;
            if (self->ops->document_keys (self->backend, workspace, how->documents,
                                          how->n_documents, how->filter, &keys, &nkeys)
                == SL_STORE_OK)
                n = sl_vindex_search_in (index, query, want, keys, (size_t) nkeys, keys_out,
                                         scores_out);
            else
                failed = true;
            free (keys);
        }
        else {
            //  Many: the documents' tags
            n_tags = (size_t) sl_docmap_size (entry->docs);
            allowed = calloc (n_tags ? n_tags : 1, 1);
            for (int i = 0; allowed && i < count; i++) {
                int32_t tag = sl_docmap_find (entry->docs, ids [i]);
                if (tag >= 0 && (size_t) tag < n_tags)
                    allowed [tag] = 1;
            }
            if (allowed && key && fgen >= 0)
                s_resolved_put (entry, key, gen, fgen, allowed, n_tags);
        }
        free (ids);
    }
    if (allowed)
        n = sl_vindex_search_tags (index, query, want, allowed, n_tags, keys_out, scores_out);
    free (allowed);
    free (key);
    if (n < 0 && !failed)
        sl_store_set_errmsg ("out of memory searching workspace %s", workspace);
    return n;
}

//  Give the candidates that hold some query word their pages' word
//  shares: a page holding all the question's words across its chunks says
//  more than one chunk holding some of them (on bench/eval, chunk and page
//  evidence together beat either alone). A chunk holding none of the words
//  gets nothing from its page: it is shown as a hit, and should answer
//  with its own text
static int
s_page_shares (sl_store_t *self, const char *workspace, char terms [SL_STORE_TERMS][SL_STORE_TERM_MAX],
               int nterms, const sl_search_t *how, s_cand_t *cands, int n)
{
    int64_t *keys = NULL;
    double *shares = NULL;
    int count = 0;
    int rc = self->ops->page_lexical (self->backend, workspace,
                                      (const char (*) [SL_STORE_TERM_MAX]) terms, nterms,
                                      how->documents, how->n_documents, how->filter,
                                      how->candidates, &keys, &shares, &count);
    for (int i = 0; rc == SL_STORE_OK && i < count; i++)
        for (int j = 0; j < n; j++)
            if (cands [j].key == keys [i]) {
                if (cands [j].words > 0)
                    cands [j].page = shares [i];
                break;
            }
    free (keys);
    free (shares);
    return rc;
}

//  Collect candidates of the rankings the search asks for; *count gets how
//  many.
static int
s_candidates (sl_store_t *self, s_index_t *entry, sl_vindex_t *index, const float *query,
              const sl_search_t *how, int want, s_cand_t *cands, int *count)
{
    const char *workspace = entry->workspace;
    int n = 0;
    int64_t *keys = malloc ((size_t) want * sizeof *keys);
    float *scores = malloc ((size_t) want * sizeof *scores);
    int rc = keys && scores ? SL_STORE_OK : SL_STORE_ERROR;
    if (rc != SL_STORE_OK)
        sl_store_set_errmsg ("out of memory searching workspace %s", workspace);
    if (rc == SL_STORE_OK && how->mode != SL_SEARCH_LEXICAL) {
        bool within = how->n_documents > 0 || how->filter;
        int found = within
                  ? s_vector_within (self, entry, index, query, how, want, keys, scores)
                  : sl_vindex_search (index, query, want, keys, scores);
        if (found < 0) {
            rc = SL_STORE_ERROR;
            if (!within)
                sl_store_set_errmsg ("out of memory searching workspace %s", workspace);
        }
        for (int i = 0; i < found; i++)
            n = s_cand_add (cands, n, keys [i], SL_HIT_VECTOR, &scores [i], 0);
    }
    char terms [SL_STORE_TERMS][SL_STORE_TERM_MAX];
    int nterms = how->mode != SL_SEARCH_VECTOR ? sl_store_query_terms (how->text, terms) : 0;
    //  Only function words ("the", "what is it"): they match nearly every
    //  chunk, a scan that says nothing; hybrid leaves it to the vectors
    if (how->mode == SL_SEARCH_HYBRID && nterms > 0 && s_stopword (terms [0]))
        nterms = 0;
    if (rc == SL_STORE_OK && nterms > 0) {
        int found = 0;
        double *words = malloc ((size_t) want * sizeof *words);
        rc = words ? self->ops->lexical (self->backend, workspace,
                                         (const char (*) [SL_STORE_TERM_MAX]) terms, nterms,
                                         how->documents, how->n_documents, how->filter, want,
                                         keys, words, &found)
                   : SL_STORE_ERROR;
        if (!words)
            sl_store_set_errmsg ("out of memory searching workspace %s", workspace);
        for (int i = 0; rc == SL_STORE_OK && i < found; i++)
            n = s_cand_add (cands, n, keys [i], SL_HIT_LEXICAL, NULL, words [i]);
        free (words);
        if (rc == SL_STORE_OK)
            rc = s_page_shares (self, workspace, terms, nterms, how, cands, n);
    }
    free (keys);
    free (scores);
    *count = n;
    return rc;
}

//  Highlights: the spans of each hit's text holding the words the lexical
//  ranking matched, found as the backend's index finds them (its
//  tokenizer and stemmer, sl_highlight.h): Porter for SQLite's FTS5,
//  Snowball English for PostgreSQL's sluice_words. A hybrid query of
//  function words alone ranks no words (s_candidates), so it marks none.
//  Out of memory: hits without highlights, never a failed search
static void
s_highlight (sl_store_t *self, const sl_search_t *how, sl_hit_t *hits, int n)
{
    char terms [SL_STORE_TERMS][SL_STORE_TERM_MAX];
    int nterms = sl_store_query_terms (how->text, terms);
    if (nterms == 0 || (how->mode == SL_SEARCH_HYBRID && s_stopword (terms [0])))
        return;
    const char *stemmer = strcmp (self->ops->name, "postgres") == 0 ? "english" : "porter";
    sl_highlight_t *marker = sl_highlight_new (how->text, stemmer);
    int *spans = marker ? malloc (2 * SL_HIGHLIGHT_SPANS_MAX * sizeof *spans) : NULL;
    for (int i = 0; spans && i < n; i++) {
        int found = sl_highlight_spans (marker, hits [i].text, spans, SL_HIGHLIGHT_SPANS_MAX);
        if (found == 0)
            continue;
        hits [i].highlights = malloc ((size_t) found * 2 * sizeof *spans);
        if (!hits [i].highlights)
            continue;
        memcpy (hits [i].highlights, spans, (size_t) found * 2 * sizeof *spans);
        hits [i].n_highlights = found;
    }
    free (spans);
    sl_highlight_destroy (&marker);
}

//  Does text hold term (lower case, as sl_store_query_terms makes it) as
//  a whole word, folded the same way?
static bool
s_holds_word (const char *text, const char *term)
{
    size_t len = strlen (term);
    const unsigned char *p = (const unsigned char *) text;
    while (*p) {
        int sep;
        while (*p && (sep = s_separator (p)) > 0)
            p += sep;
        const unsigned char *start = p;
        while (*p && s_separator (p) == 0)
            p++;
        if ((size_t) (p - start) != len)
            continue;
        size_t i = 0;
        for (; i < len; i++) {
            unsigned char c = start [i];
            if (c >= 'A' && c <= 'Z')
                c += 32;
            else
            if (i > 0 && start [i - 1] == 0xC3 && c >= 0x80 && c <= 0x9E && c != 0x97)
                c += 32;
            if (c != (unsigned char) term [i])
                break;
        }
        if (i == len)
            return true;
    }
    return false;
}

//  The share of the query's words a hit's text holds as written
static double
s_exact_share (const char *text, char terms [][SL_STORE_TERM_MAX], int n_terms)
{
    if (!text || n_terms == 0)
        return 0;
    int found = 0;
    for (int i = 0; i < n_terms; i++)
        found += s_holds_word (text, terms [i]);
    return (double) found / n_terms;
}

typedef struct {
    sl_hit_t hit;
    double fused;
    int rank;
} s_ranked_t;

static int
s_ranked_cmp (const void *a, const void *b)
{
    const s_ranked_t *x = a, *y = b;
    if (x->fused != y->fused)
        return x->fused > y->fused ? -1 : 1;
    return x->rank - y->rank;
}

//  The best k of the ranked candidates, filled from the store. In hybrid
//  and lexical modes the best SL_SEARCH_EXACT_WINDOW are read first and
//  reordered by exact forms (sl_search_t.exact_weight): their text is
//  needed for that, so the window costs one read of its rows, no more.
//  Returns the hits written, or a negative store error.
static int
s_hits_ranked (sl_store_t *self, const char *workspace, const sl_search_t *how, s_cand_t *cands, int n,
               int k, sl_hit_t *hits)
{
    char terms [SL_STORE_TERMS][SL_STORE_TERM_MAX];
    int n_terms = how->mode == SL_SEARCH_VECTOR || !how->text ? 0 : sl_store_query_terms (how->text, terms);
    int window = n_terms ? (k > SL_SEARCH_EXACT_WINDOW ? k : SL_SEARCH_EXACT_WINDOW) : k;
    if (window > n)
        window = n;
    s_ranked_t *pool = calloc ((size_t) window, sizeof *pool);
    if (!pool) {
        sl_store_set_errmsg ("out of memory ranking hits");
        return SL_STORE_ERROR;
    }
    sl_hit_t *fill = calloc ((size_t) window, sizeof *fill);
    if (!fill) {
        free (pool);
        sl_store_set_errmsg ("out of memory ranking hits");
        return SL_STORE_ERROR;
    }
    for (int i = 0; i < window; i++) {
        fill [i].key = cands [i].key;
        fill [i].score = cands [i].score;
        fill [i].match = cands [i].match;
    }
    int kept = self->ops->hits_fill (self->backend, workspace, fill, window);
    if (kept < 0) {
        sl_store_hits_reset (fill, window);
        free (fill);
        free (pool);
        return kept;
    }
    for (int i = 0; i < kept; i++) {
        //  hits_fill keeps the order and drops what vanished: find each
        //  one's candidate again by key (the window is small)
        int c = 0;
        while (c < window && cands [c].key != fill [i].key)
            c++;
        pool [i].hit = fill [i];
        pool [i].rank = c;
        pool [i].fused = c < window ? cands [c].fused : 0;
        if (n_terms)
            pool [i].fused *= 1 + how->exact_weight * s_exact_share (fill [i].text, terms, n_terms);
    }
    free (fill);
    if (n_terms)
        qsort (pool, (size_t) kept, sizeof *pool, s_ranked_cmp);
    int out = kept < k ? kept : k;
    for (int i = 0; i < kept; i++) {
        if (i < out)
            hits [i] = pool [i].hit;
        else
            sl_store_hits_reset (&pool [i].hit, 1);
    }
    free (pool);
    return out;
}

int
sl_store_search (sl_store_t *self, const char *workspace, const char *model_id,
                 const float *query, int dim, int k, sl_hit_t *hits, int *n_hits)
{
    sl_search_t how = { .mode = SL_SEARCH_VECTOR };
    return sl_store_search_text (self, workspace, model_id, query, dim, &how, k, hits, n_hits);
}

int
sl_store_search_text (sl_store_t *self, const char *workspace, const char *model_id,
                      const float *query, int dim, const sl_search_t *how_in, int k,
                      sl_hit_t *hits, int *n_hits)
{
    assert (how_in);
    assert (self);
    assert (n_hits);
    *n_hits = 0;
    sl_search_t fusion = *how_in;
    const sl_search_t *how = &fusion;
    if (!(fusion.vector_weight > 0 && fusion.vector_weight <= 1))
        fusion.vector_weight = SL_SEARCH_VECTOR_WEIGHT_DEFAULT;
    if (!(fusion.page_weight > 0 && fusion.page_weight <= 1))
        fusion.page_weight = SL_SEARCH_PAGE_WEIGHT_DEFAULT;
    if (!(fusion.exact_weight > 0 && fusion.exact_weight <= 4))
        fusion.exact_weight = SL_SEARCH_EXACT_WEIGHT_DEFAULT;
    if (fusion.candidates <= 0)
        fusion.candidates = SL_SEARCH_CANDIDATES_DEFAULT;
    if (fusion.candidates > S_FUSION_MAX)
        fusion.candidates = S_FUSION_MAX;
    if (k > 0 && hits)
        memset (hits, 0, (size_t) k * sizeof *hits);
    if (!s_token_ok ("workspace", workspace) || !s_text_ok ("model id", model_id, S_MODEL_MAX - 1))
        return SL_STORE_ERROR;
    if (!query || dim < 1 || dim > S_DIM_MAX || k < 0 || k > S_LIST_MAX || (k > 0 && !hits)
    ||  how->mode < SL_SEARCH_HYBRID || how->mode > SL_SEARCH_LEXICAL
    ||  how->n_documents < 0 || how->n_documents > SL_STORE_SEARCH_DOCS
    ||  (how->n_documents > 0 && !how->documents)) {
        sl_store_set_errmsg ("invalid search: dim %d, k %d (0..%d), mode %d, %d documents (0..%d)",
                             dim, k, S_LIST_MAX, (int) how->mode, how->n_documents,
                             SL_STORE_SEARCH_DOCS);
        return SL_STORE_ERROR;
    }
    for (int i = 0; i < how->n_documents; i++)
        if (!s_token_ok ("document id", how->documents [i]))
            return SL_STORE_ERROR;
    char ws_model [S_MODEL_MAX];
    int ws_dim = 0;
    int64_t gen = 0;
    int rc = self->ops->workspace_info (self->backend, workspace, ws_model, sizeof ws_model,
                                        &ws_dim, &gen);
    if (rc != SL_STORE_OK)
        return rc;
    if (!*ws_model)
        return SL_STORE_OK;     //  nothing embedded yet
    if (strcmp (ws_model, model_id) != 0) {
        sl_store_set_errmsg ("workspace %s is embedded with model %s; the query was embedded "
                             "with %s", workspace, ws_model, model_id);
        return SL_STORE_CONFLICT;
    }
    if (dim != ws_dim) {
        sl_store_set_errmsg ("workspace %s holds %d-dimensional vectors; the query has %d",
                             workspace, ws_dim, dim);
        return SL_STORE_CONFLICT;
    }
    if (k == 0)
        return SL_STORE_OK;

    s_index_t *entry = s_index_entry (self, workspace);
    if ((rc = s_index_sync (self, entry, ws_model, ws_dim, gen)) != SL_STORE_OK)
        return rc;
    sl_vindex_t *index = __atomic_load_n (&entry->index, __ATOMIC_ACQUIRE);
    assert (index);             //  set before any generation >= 0 is published

    //  Vector mode wants exactly k; fusion looks deeper so that a chunk
    //  ranked well by one side and fairly by the other can win
    int want = how->mode == SL_SEARCH_VECTOR ? k
             : (k * 4 > how->candidates ? k * 4 : how->candidates);
    if (want > S_LIST_MAX)
        want = S_LIST_MAX;
    s_cand_t *cands = calloc ((size_t) want * 2, sizeof *cands);
    int n = 0;
    rc = cands ? s_candidates (self, entry, index, query, how, want, cands, &n)
               : SL_STORE_ERROR;
    if (!cands)
        sl_store_set_errmsg ("out of memory searching workspace %s", workspace);
    if (rc == SL_STORE_OK) {
        //  a lexical-only hit gets its cosine from the index, so every
        //  score means the same thing (0 if its vector is not loaded yet)
        for (int i = 0; i < n; i++)
            if (!cands [i].has_score && sl_vindex_score (index, cands [i].key, query,
                                                         &cands [i].score) != 0)
                cands [i].score = 0;
        s_cand_fuse (cands, n, how);
        qsort (cands, (size_t) n, sizeof *cands, s_cand_cmp);
    }
    int kept = rc == SL_STORE_OK && n > 0 ? s_hits_ranked (self, workspace, how, cands, n, k, hits) : 0;
    free (cands);
    if (rc != SL_STORE_OK)
        return rc;
    if (kept < 0)
        return kept;
    *n_hits = kept;
    if (kept == 0)
        return SL_STORE_OK;
    s_highlight (self, how, hits, kept);
    return SL_STORE_OK;
}

void
sl_store_hits_reset (sl_hit_t *hits, int n)
{
    for (int i = 0; hits && i < n; i++) {
        free (hits [i].title);
        free (hits [i].source);
        free (hits [i].text);
        free (hits [i].section);
        free (hits [i].mime);
        free (hits [i].highlights);
        memset (&hits [i], 0, sizeof hits [i]);
    }
}

//  --------------------------------------------------------------------------
//  Metrics

int
sl_store_stats (sl_store_t *self, sl_store_stats_t *stats)
{
    assert (self);
    assert (stats);
    return self->ops->stats (self->backend, stats);
}

//  --------------------------------------------------------------------------
//  Sources: rows the sources service owns (sl_store.h, "Sources"). The
//  store checks what it can without knowing their shape: ids are tokens,
//  rows are JSON objects of bounded size, so a caller's bug is an error
//  here rather than a row no reader can parse.

#define S_SOURCE_ROW_MAX (1 << 20)      //  a source row (a URL list of 100 URLs fits easily)

static bool
s_json_row_ok (const char *what, const char *json, size_t max)
{
    if (!json || strlen (json) > max) {
        sl_store_set_errmsg ("%s is %s", what, json ? "too long" : "missing");
        return false;
    }
    json_error_t error;
    json_t *value = json_loads (json, 0, &error);
    bool ok = json_is_object (value);
    json_decref (value);
    if (!ok)
        sl_store_set_errmsg ("%s is not a JSON object", what);
    return ok;
}

int
sl_store_source_put (sl_store_t *self, const char *workspace, const char *id, const char *key,
                     const char *json, int64_t next_ms, bool create)
{
    assert (self);
    if (!s_token_ok ("workspace", workspace) || !s_token_ok ("source id", id)
    ||  !s_text_ok ("source key", key, S_SOURCE_MAX)
    ||  !s_json_row_ok ("source row", json, S_SOURCE_ROW_MAX))
        return SL_STORE_ERROR;
    return self->ops->source_put (self->backend, workspace, id, key, json, next_ms, create,
                                  sl_now_ms ());
}

int
sl_store_source_get (sl_store_t *self, const char *workspace, const char *id, char **json_out,
                     int64_t *next_out)
{
    assert (self);
    assert (json_out);
    *json_out = NULL;
    int64_t next = 0;
    if (!s_token_ok ("workspace", workspace) || !s_token_ok ("source id", id))
        return SL_STORE_ERROR;
    int rc = self->ops->source_get (self->backend, workspace, id, json_out, &next);
    if (next_out)
        *next_out = next;
    return rc;
}

int
sl_store_source_list (sl_store_t *self, const char *workspace, int64_t due_ms, char **json_out)
{
    assert (self);
    assert (json_out);
    *json_out = NULL;
    if (workspace && !s_token_ok ("workspace", workspace))
        return SL_STORE_ERROR;
    return self->ops->source_list (self->backend, workspace, due_ms, json_out);
}

int
sl_store_source_delete (sl_store_t *self, const char *workspace, const char *id)
{
    assert (self);
    if (!s_token_ok ("workspace", workspace) || !s_token_ok ("source id", id))
        return SL_STORE_ERROR;
    return self->ops->source_delete (self->backend, workspace, id);
}

int
sl_store_source_set_next (sl_store_t *self, const char *id, int64_t next_ms)
{
    assert (self);
    if (!s_token_ok ("source id", id))
        return SL_STORE_ERROR;
    return self->ops->source_set_next (self->backend, id, next_ms);
}

int
sl_store_source_items (sl_store_t *self, const char *id, char **json_out)
{
    assert (self);
    assert (json_out);
    *json_out = NULL;
    if (!s_token_ok ("source id", id))
        return SL_STORE_ERROR;
    return self->ops->source_items (self->backend, id, json_out);
}

int
sl_store_source_item_put (sl_store_t *self, const char *id, const char *key, const char *evidence)
{
    assert (self);
    if (!s_token_ok ("source id", id) || !s_text_ok ("item key", key, S_SOURCE_MAX)
    ||  (evidence && !s_json_row_ok ("item evidence", evidence, 4096)))
        return SL_STORE_ERROR;
    return self->ops->source_item_put (self->backend, id, key, evidence);
}

int
sl_store_source_run_put (sl_store_t *self, const char *id, const char *run_id, const char *json,
                         int64_t started_ms)
{
    assert (self);
    if (!s_token_ok ("source id", id) || !s_token_ok ("run id", run_id)
    ||  !s_json_row_ok ("run row", json, 65536))
        return SL_STORE_ERROR;
    return self->ops->source_run_put (self->backend, id, run_id, json, started_ms);
}

int
sl_store_source_runs (sl_store_t *self, const char *id, int limit, char **json_out)
{
    assert (self);
    assert (json_out);
    *json_out = NULL;
    if (!s_token_ok ("source id", id) || !s_page_ok (limit, 0))
        return SL_STORE_ERROR;
    return self->ops->source_runs (self->backend, id, limit, json_out);
}

int
sl_store_source_runs_trim (sl_store_t *self, const char *id, int keep)
{
    assert (self);
    if (!s_token_ok ("source id", id))
        return SL_STORE_ERROR;
    if (keep < 1) {
        sl_store_set_errmsg ("keep at least one run, not %d", keep);
        return SL_STORE_ERROR;
    }
    return self->ops->source_runs_trim (self->backend, id, keep);
}

//  Inside the transaction: as step 4 of a commit does for a replaced
//  document, the source stops naming it, and it goes only if no other
//  source names it.
static int
s_forget_body (sl_store_t *self, void *tx, const char *workspace, const char *source,
               char doc [SL_STORE_ID])
{
    const sl_store_ops_t *ops = self->ops;
    int64_t since = 0;
    char job [SL_STORE_TOKEN] = "";
    int rc = ops->tx_workspace_lock (tx, workspace);
    if (rc == SL_STORE_NOT_FOUND)
        return SL_STORE_OK;             //  no workspace: nothing is named
    if (rc == SL_STORE_OK)
        rc = ops->tx_source_get (tx, workspace, source, doc, &since, job);
    if (rc == SL_STORE_NOT_FOUND) {
        *doc = 0;
        return SL_STORE_OK;
    }
    char first [S_SOURCE_MAX + 1] = "";
    if (rc == SL_STORE_OK)
        rc = ops->tx_source_unlink (tx, workspace, source, doc, first, sizeof first);
    if (rc == SL_STORE_OK && *first)
        return ops->tx_doc_set_source (tx, doc, source, first, sl_now_ms ());
    //  The last name gone: the document is marked deleting (hidden at
    //  once) and the delete service removes it in bounded batches
    int was = 0;
    if (rc == SL_STORE_OK)
        rc = s_tombstone_body (self, tx, workspace, doc, &was);
    return rc == SL_STORE_NOT_FOUND ? SL_STORE_OK : rc;
}

int
sl_store_source_forget (sl_store_t *self, const char *workspace, const char *source,
                        char doc_out [SL_STORE_ID])
{
    assert (self);
    char doc [SL_STORE_ID] = "";
    if (doc_out)
        *doc_out = 0;
    if (!s_token_ok ("workspace", workspace) || !s_text_ok ("source", source, S_SOURCE_MAX))
        return SL_STORE_ERROR;
    s_index_t *entry = s_index_entry (self, workspace);
    pthread_mutex_lock (&entry->sync);
    void *tx = NULL;
    int rc = self->ops->tx_begin (self->backend, &tx);
    if (rc == SL_STORE_OK)
        rc = self->ops->tx_end (self->backend, tx, s_forget_body (self, tx, workspace, source, doc));
    pthread_mutex_unlock (&entry->sync);
    if (rc == SL_STORE_OK && doc_out)
        snprintf (doc_out, SL_STORE_ID, "%s", doc);
    return rc;
}
