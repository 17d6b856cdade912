/*  sl_store_backend: what the store's own files share, and no caller needs.

    The seam between the policy (sl_store.c) and a backend
    (sl_store_sqlite.c, sl_store_pg.c), in the way Redis's ae.c sits over
    ae_epoll.c / ae_kqueue.c: every rule (validation, what a commit
    replaces, how search ranks and fuses, when a re-embed may switch) is in
    sl_store.c, once; a backend only runs its SQL behind the ops below and
    answers what the policy asks (candidates, rows, counts), never decides.

    Thread-safety: one sl_store_t is shared by every thread of a process.
    The SQLite backend keeps a pool of connections, each with its own
    cached prepared statements, and serialises this process's writers on a
    mutex so SQLITE_BUSY never surfaces (busy_timeout covers other
    processes); the PostgreSQL one keeps a pool of libpq connections and
    relies on row locks, so several store processes can share a database.
    Writes rely on unique keys and upserts, never read-then-write.

    Also here: the error-buffer plumbing (one message per thread), the
    helpers the policy and the backends share (deterministic ids, query
    terms), and what the backends' self-tests share (the conformance suite,
    store/sl_store_test.c).
*/
#ifndef SL_STORE_BACKEND_H_INCLUDED
#define SL_STORE_BACKEND_H_INCLUDED

#include "sl_store.h"
#include "sl_docmap.h"
#include "sl_filter.h"
#include "sl_vindex.h"

//  Deterministic chunk id: the same document and ordinal always give the
//  same id, so redelivered commits collide instead of duplicating.
void sl_store_chunk_id (const char *document_id, int ordinal, char out [SL_STORE_ID]);

//  Deterministic document id for content sha256 in workspace.
void sl_store_document_id (const char *workspace, const char *sha256, char out [SL_STORE_ID]);

//  Search query terms: what the lexical side matches. A term is a run of
//  ASCII letters/digits and non-ASCII characters other than common
//  punctuation (whole UTF-8 letters), lower-cased; one-character ASCII
//  terms and duplicates go, and so do common English function words
//  unless nothing else is left. Returns the count.
#define SL_STORE_TERMS    16
#define SL_STORE_TERM_MAX 64
//  Lexical ranking (both backends): a chunk holding every query word has
//  its BM25 score multiplied by SL_STORE_ALL_WORDS_BOOST; one where two
//  consecutive query words stand at most SL_STORE_NEAR_DISTANCE words
//  apart ("exception handling", "handling of exceptions") by
//  SL_STORE_NEAR_BOOST too; a word of the chunk's section path counts
//  SL_STORE_SECTION_WEIGHT of one in its text (a heading is repeated on
//  every chunk under it, so at full weight it drowns the text). Chosen on
//  the tune half of bench/eval (bench/RESULTS.md)
#define SL_STORE_ALL_WORDS_BOOST 1.3
#define SL_STORE_NEAR_BOOST      1.1
#define SL_STORE_NEAR_DISTANCE   2
#define SL_STORE_SECTION_WEIGHT  0.5
int sl_store_query_terms (const char *text, char terms [SL_STORE_TERMS][SL_STORE_TERM_MAX]);

//  --------------------------------------------------------------------------
//  The backend interface. sl_store.c has validated every argument before a
//  backend sees it. Each op returns the SL_STORE_* codes of sl_store.h and
//  reports errors with sl_store_set_errmsg.

//  A write that changed a workspace's vectors, so the in-memory index can
//  follow without reloading. The workspace's generation counter is bumped
//  by every such write, inside its transaction.
typedef struct {
    char doc_id [SL_STORE_ID];
    bool changed;               //  false: nothing was written
    int64_t gen_before;         //  workspace generation the write started from
    int64_t gen_after;
    int64_t *added;             //  chunk keys, one per committed chunk (malloc)
    int n_added;
    int64_t *removed;           //  chunk keys deleted (malloc)
    int n_removed;
} sl_store_change_t;

typedef struct {
    const char *name;
    void (*close) (void *backend);
    int (*job_create) (void *backend, const char *job_id, const char *workspace,
                       const char *source, const char *sha256, const char *mime,
                       const char *options_json, int64_t now_ms);
    int (*job_get) (void *backend, const char *job_id, sl_store_job_t *job);
    int (*job_set_blob) (void *backend, const char *job_id, const char *sha256,
                         const char *mime, int64_t now_ms);
    int (*job_stage) (void *backend, const char *job_id, sl_store_stage_t stage,
                      sl_store_step_t step, int64_t now_ms);
    int (*job_progress) (void *backend, const char *job_id, int percent, int64_t now_ms);
    int (*job_fail) (void *backend, const char *job_id, sl_store_stage_t stage,
                     const char *reason, int64_t now_ms);
    int (*job_complete) (void *backend, const char *job_id, const char *document_id,
                         int64_t now_ms);
    int (*job_attempt) (void *backend, const char *job_id, int *attempts_out, int64_t now_ms);
    int (*job_lease) (void *backend, const char *job_id, const char *owner, int64_t now_ms,
                      int64_t until_ms);
    int (*job_list) (void *backend, const char *workspace, const char *state, int limit,
                     int offset, sl_store_job_t **jobs_p, int *count_p);
    int (*jobs_unfinished) (void *backend, int64_t older_than_ms, int limit,
                            sl_store_job_t **jobs_p, int *count_p);
    //  One job-control transition of a job of workspace (sl_store.h), one
    //  guarded UPDATE: OK if it moved, CONFLICT if the job is not in a
    //  state that allows it (or not there: the policy tells which)
    int (*job_control) (void *backend, const char *job_id, const char *workspace,
                        sl_store_control_t what, int64_t now_ms);
    //  set < 0: read whether the workspace's intake is paused (false if no
    //  such workspace); 0 / 1: record it (the workspace is created if new)
    int (*workspace_paused) (void *backend, const char *workspace, int set, bool *paused,
                             int64_t now_ms);
    int (*document_find) (void *backend, const char *workspace, const char *sha256,
                          sl_store_doc_t *doc);
    //  A commit is a write transaction driven by sl_store.c (which holds
    //  the policy, see sl_store_document_commit_stream) through the tx_*
    //  ops below, each on the transaction's tx handle.
    //  Begin a write transaction; *tx_p gets its handle.
    int (*tx_begin) (void *backend, void **tx_p);
    //  Commit it if rc is SL_STORE_OK, else roll back; release the handle.
    //  Returns the final rc (an error if the commit itself failed).
    int (*tx_end) (void *backend, void *tx, int rc);
    //  Serialise the workspace's writers until the transaction ends (its
    //  row is created if new), record model_id/dim as its model if it has
    //  none and model_id is not NULL, and report its model ("" if none),
    //  dim and generation.
    int (*tx_workspace) (void *tx, const char *workspace, const char *model_id, int dim,
                         int64_t now_ms, char *model_out, size_t size, int *dim_out,
                         int64_t *gen_out);
    //  The job's state and accept time, locked until the end; NOT_FOUND
    //  if no such job. doc_out gets its document_id ("" if none).
    int (*tx_job) (void *tx, const char *job_id, sl_store_state_t *state_out,
                   int64_t *created_out, char doc_out [SL_STORE_ID]);
    //  The document the source names, the accept time of the job that
    //  named it (since) and that job's id; NOT_FOUND if none.
    int (*tx_source_get) (void *tx, const char *workspace, const char *source,
                          char doc_out [SL_STORE_ID], int64_t *since_out,
                          char job_out [SL_STORE_TOKEN]);
    //  Make the source name doc_id (insert or update), since := the later
    //  of its current since and since_ms.
    int (*tx_source_set) (void *tx, const char *workspace, const char *source,
                          const char *doc_id, const char *job_id, int64_t since_ms,
                          int64_t now_ms);
    //  The source stops naming doc_id; first_out (size bytes) gets the
    //  oldest source still naming doc_id, "" if none.
    int (*tx_source_unlink) (void *tx, const char *workspace, const char *source,
                             const char *doc_id, char *first_out, size_t size);
    //  1 if the document exists in the workspace, 0 if not
    int (*tx_doc_exists) (void *tx, const char *workspace, const char *doc_id);
    //  Insert the document row (source: its first source, n chunks);
    //  1 if inserted, 0 if that id existed
    int (*tx_doc_insert) (void *tx, const sl_doc_meta_t *meta, const char *doc_id, int n,
                          const char *model_id, int64_t now_ms);
    //  Delete the document (cascading to chunks, vectors, sources),
    //  appending its chunk keys to change->removed; sha256_out (may be
    //  NULL) gets its blob's hash. NOT_FOUND if no such document
    int (*tx_doc_remove) (void *tx, const char *workspace, const char *doc_id,
                          char *sha256_out, sl_store_change_t *change);
    //  Mark the document deleting (searches skip it from this commit on);
    //  *was_out 1 if it already was (nothing written). NOT_FOUND if absent
    int (*tx_doc_tombstone) (void *tx, const char *workspace, const char *doc_id,
                             int64_t now_ms, int *was_out);
    //  1 if the document is marked deleting, 0 if not, NOT_FOUND if absent
    int (*tx_doc_deleting) (void *tx, const char *workspace, const char *doc_id);
    //  Delete at most limit chunks (with their vectors and word rows) and
    //  at most limit pages of doc_id; *removed_out how many rows went
    int (*tx_doc_purge) (void *tx, const char *doc_id, int limit, int *removed_out);
    //  Update a document of workspace: drop: delete its chunks (their
    //  vectors and its pages; keys appended to change->removed) and record
    //  n chunks; model_id, chunking, pages_blob: record each unless NULL
    int (*tx_doc_update) (void *tx, const char *workspace, const char *doc_id, bool drop, int n,
                          const char *model_id, const char *chunking, const char *pages_blob,
                          int64_t now_ms, sl_store_change_t *change);
    //  Serialise the workspace's writers until the transaction ends, as
    //  tx_workspace does, without creating it: NOT_FOUND if no workspace
    int (*tx_workspace_lock) (void *tx, const char *workspace);
    //  *missing gets how many chunks of the workspace have no vector of
    //  model_id and dim in the embedding cache
    int (*tx_cache_missing) (void *tx, const char *workspace, const char *model_id, int dim,
                             int64_t *missing);
    //  Replace every vector of the workspace with the cached one of
    //  model_id and dim, and make that the model of the workspace and of
    //  its documents
    int (*tx_vectors_from_cache) (void *tx, const char *workspace, const char *model_id,
                                  int dim, int64_t now_ms);
    //  documents.source := source where it is old_source
    int (*tx_doc_set_source) (void *tx, const char *doc_id, const char *old_source,
                              const char *source, int64_t now_ms);
    //  Insert n chunks (ids, resolved hashes) and their vectors; keys_out
    //  gets the n chunk keys
    int (*tx_chunks_insert) (void *tx, const char *doc_id, const sl_chunk_row_t *chunks,
                             const char (*chunk_ids) [SL_STORE_ID], const char **hashes, int n,
                             const float *vectors, int dim, const char *model_id,
                             int64_t *keys_out);
    //  Complete the job unless it is completed already (failed -> completed
    //  allowed): document, replaced and duplicate_of ("" = NULL), store
    //  stage finished, error cleared, lease released. 1 if it changed, 0 if not
    int (*tx_job_complete) (void *tx, const char *job_id, const char *doc_id,
                            const char *replaced, const char *duplicate_of, int64_t now_ms);
    //  Build the document's pages (the text of its chunks, page by page)
    //  once its chunks are in
    int (*tx_pages_build) (void *tx, const char *doc_id);
    //  Bump the workspace's generation; *gen_out gets the new one
    int (*tx_bump) (void *tx, const char *workspace, int64_t *gen_out);
    int (*document_get) (void *backend, const char *workspace, const char *doc_id,
                         sl_store_doc_t *doc);
    int (*document_list) (void *backend, const char *workspace, int limit, int offset,
                          sl_store_doc_t **docs_p, int *count_p, int64_t *total_p);
    int (*chunks_list) (void *backend, const char *workspace, const char *doc_id, int limit,
                        int offset, sl_store_chunk_t **chunks_p, int *count_p,
                        int64_t *total_p);
    int (*blob_referenced) (void *backend, const char *sha256);
    //  model_out "" and *dim_out 0 if no model yet; NOT_FOUND if no workspace
    int (*workspace_info) (void *backend, const char *workspace, char *model_out,
                           size_t size, int *dim_out, int64_t *gen_out);
    //  Add every vector of (workspace, model_id) of dimension dim to index
    //  (empty, private), each tagged with its document's tag in docs
    //  (sl_docmap_tag), and report the generation they are consistent with.
    int (*vectors_load) (void *backend, const char *workspace, const char *model_id,
                         sl_vindex_t *index, sl_docmap_t *docs, int64_t *gen_out);
    //  Fill title/source/text/ids of hits[0..n) from their key; drop hits
    //  whose chunk is gone or outside workspace. Returns the count kept.
    int (*hits_fill) (void *backend, const char *workspace, sl_hit_t *hits, int n);
    //  Up to limit chunk keys of workspace whose text holds any of terms
    //  [0..nterms) (see sl_store_query_terms), stemmed as the index is,
    //  best BM25 (or the backend's closest) first, every-term chunks boosted;
    //  *count gets how many were written. shares [i] (may be NULL) gets
    //  keys [i]'s score (the one the order is by) over the query terms'
    //  idf sum: about how much of the query it holds, 1 for a chunk of
    //  average length holding each term once (more with repeats and the
    //  all-words boost), so scores compare across queries.
    //  documents/n_documents and filter as in sl_search_t (NULL/0: the
    //  whole workspace; filter NULL: none), in the query's SQL
    int (*lexical) (void *backend, const char *workspace, const char (*terms) [SL_STORE_TERM_MAX],
                    int nterms, const char *const *documents, int n_documents,
                    const sl_filter_t *filter, int limit, int64_t *keys, double *shares,
                    int *count);
    //  The chunks of the best `pages` pages of the workspace for terms (as
    //  lexical, pages being the text of their chunks, indexed alike, BM25
    //  with the pages' own statistics), each with its page's share (as
    //  lexical's), within documents and filter as lexical: *keys_p and
    //  *shares_p malloc'd, *count of them
    int (*page_lexical) (void *backend, const char *workspace,
                         const char (*terms) [SL_STORE_TERM_MAX], int nterms,
                         const char *const *documents, int n_documents,
                         const sl_filter_t *filter, int pages, int64_t **keys_p,
                         double **shares_p, int *count);
    //  Keys of every chunk of the workspace's documents among documents
    //  (n_documents 0: all) that match filter (NULL: all), ascending
    //  (*keys_p malloc'd, NULL if none)
    int (*document_keys) (void *backend, const char *workspace, const char *const *documents,
                          int n_documents, const sl_filter_t *filter, int64_t **keys_p,
                          int *count);
    //  The ids of the workspace's documents among documents (n_documents
    //  0: all) that match filter (*ids_p malloc'd, NULL if none), and
    //  *chunks_out the sum of their chunk counts
    int (*filter_docs) (void *backend, const char *workspace, const char *const *documents,
                        int n_documents, const sl_filter_t *filter,
                        char (**ids_p) [SL_STORE_ID], int *count, int64_t *chunks_out);
    //  *out gets the workspace's filter generation: bumped by every
    //  transaction that may change which documents a filter matches
    //  (commits, deletes, re-tags), so a resolved filter can be reused
    //  until it moves. NOT_FOUND if no workspace
    int (*filters_gen) (void *backend, const char *workspace, int64_t *out);
    //  Bump the workspace's filter generation inside the transaction
    int (*tx_filters_bump) (void *tx, const char *workspace);
    //  The document's attributes become meta's (documents.meta := its
    //  canonical text, its rows in doc_attrs replaced); NOT_FOUND if the
    //  workspace has no such document
    int (*tx_doc_attrs) (void *tx, const char *workspace, const char *doc_id,
                         const sl_meta_t *meta);
    //  *json_out (malloc'd) gets the document's attributes as stored
    //  (NULL: none); NOT_FOUND if no such document
    int (*tx_doc_meta_get) (void *tx, const char *workspace, const char *doc_id,
                            char **json_out);
    int (*cache_get) (void *backend, const char *model_id, const char **hashes, int n,
                      int dim, float *out, bool *found);
    int (*cache_put) (void *backend, const char *model_id, const char **hashes, int n,
                      const float *vectors, int dim, int64_t now_ms);
    int (*event_append) (void *backend, const char *job_id, const char *type,
                         const char *data_json, int64_t ts, int64_t *seq_out);
    int (*events_list) (void *backend, const char *job_id, int64_t after_seq, int limit,
                        sl_store_event_t **events_p, int *count_p);
    int (*stats) (void *backend, sl_store_stats_t *stats);
    //  texts [i] malloc'd; NOT_FOUND if no workspace
    int (*workspace_chunks) (void *backend, const char *workspace, int64_t after_key,
                             int limit, int64_t *keys, char **texts, int *count);
    //  until_ms 0: release the lease if owner holds it (always OK)
    int (*lease) (void *backend, const char *name, const char *owner, int64_t now_ms,
                  int64_t until_ms);
    int (*workspace_bytes) (void *backend, const char *workspace, int64_t *bytes);
    //  "" into out if the workspace has no chunking of its own; NOT_FOUND
    //  if no such workspace
    int (*workspace_chunking) (void *backend, const char *workspace, char *out, size_t size);
    //  json NULL: none of its own; the workspace row is created if new
    int (*workspace_set_chunking) (void *backend, const char *workspace, const char *json,
                                   int64_t now_ms);
    int (*cache_usage) (void *backend, int64_t *entries, int64_t *bytes);
    //  Sources (sl_store.h, "Sources"); arguments checked by sl_store.c.
    //  create: INSERT, CONFLICT if the key or id exists; else UPDATE of
    //  (workspace, id), NOT_FOUND if none
    int (*source_put) (void *backend, const char *workspace, const char *id, const char *key,
                       const char *json, int64_t next_ms, bool create, int64_t now_ms);
    int (*source_get) (void *backend, const char *workspace, const char *id, char **json_out,
                       int64_t *next_out);
    //  workspace NULL: all; due_ms 0: any
    int (*source_list) (void *backend, const char *workspace, int64_t due_ms, char **json_out);
    int (*source_delete) (void *backend, const char *workspace, const char *id);
    int (*source_set_next) (void *backend, const char *id, int64_t next_ms);
    int (*source_items) (void *backend, const char *id, char **json_out);
    //  evidence NULL: delete the item
    int (*source_item_put) (void *backend, const char *id, const char *key, const char *evidence);
    int (*source_run_put) (void *backend, const char *id, const char *run_id, const char *json,
                           int64_t started_ms);
    int (*source_runs) (void *backend, const char *id, int limit, char **json_out);
    int (*source_runs_trim) (void *backend, const char *id, int keep);
    //  Documents marked deleting, oldest first, at most limit: a JSON
    //  array of [workspace, id] pairs (malloc'd)
    int (*docs_deleting) (void *backend, int limit, char **json_out);
    //  Delete up to limit entries created before before_ms, oldest first,
    //  in one transaction; report how many and their size (as cache_usage)
    int (*cache_evict) (void *backend, int64_t before_ms, int limit, int64_t *entries,
                        int64_t *bytes);
} sl_store_ops_t;

//  A backend's table: it defines every op as a static s_<op> (s_close,
//  s_job_create...) and says
//      static const sl_store_ops_t s_ops = SL_STORE_OPS ("name");
//  so an op a backend lacks is a compile error, not a NULL call.
#define SL_STORE_OPS(backend_name) { \
    .name = (backend_name), \
    .close = s_close, \
    .job_create = s_job_create, \
    .job_get = s_job_get, \
    .job_set_blob = s_job_set_blob, \
    .job_stage = s_job_stage, \
    .job_progress = s_job_progress, \
    .job_fail = s_job_fail, \
    .job_complete = s_job_complete, \
    .job_attempt = s_job_attempt, \
    .job_lease = s_job_lease, \
    .job_list = s_job_list, \
    .jobs_unfinished = s_jobs_unfinished, \
    .job_control = s_job_control, \
    .workspace_paused = s_workspace_paused, \
    .document_find = s_document_find, \
    .tx_begin = s_tx_begin, \
    .tx_end = s_tx_end, \
    .tx_workspace = s_tx_workspace, \
    .tx_job = s_tx_job, \
    .tx_source_get = s_tx_source_get, \
    .tx_source_set = s_tx_source_set, \
    .tx_source_unlink = s_tx_source_unlink, \
    .tx_doc_exists = s_tx_doc_exists, \
    .tx_doc_insert = s_tx_doc_insert, \
    .tx_doc_remove = s_tx_doc_remove, \
    .tx_doc_tombstone = s_tx_doc_tombstone, \
    .tx_doc_deleting = s_tx_doc_deleting, \
    .tx_doc_purge = s_tx_doc_purge, \
    .tx_workspace_lock = s_tx_workspace_lock, \
    .tx_cache_missing = s_tx_cache_missing, \
    .tx_vectors_from_cache = s_tx_vectors_from_cache, \
    .tx_doc_set_source = s_tx_doc_set_source, \
    .tx_chunks_insert = s_tx_chunks_insert, \
    .tx_job_complete = s_tx_job_complete, \
    .tx_doc_update = s_tx_doc_update, \
    .tx_pages_build = s_tx_pages_build, \
    .tx_bump = s_tx_bump, \
    .document_get = s_document_get, \
    .document_list = s_document_list, \
    .chunks_list = s_chunks_list, \
    .blob_referenced = s_blob_referenced, \
    .workspace_info = s_workspace_info, \
    .vectors_load = s_vectors_load, \
    .hits_fill = s_hits_fill, \
    .lexical = s_lexical, \
    .page_lexical = s_page_lexical, \
    .document_keys = s_document_keys, \
    .tx_doc_attrs = s_tx_doc_attrs, \
    .filter_docs = s_filter_docs, \
    .filters_gen = s_filters_gen, \
    .tx_filters_bump = s_tx_filters_bump, \
    .tx_doc_meta_get = s_tx_doc_meta_get, \
    .cache_get = s_cache_get, \
    .cache_put = s_cache_put, \
    .event_append = s_event_append, \
    .events_list = s_events_list, \
    .stats = s_stats, \
    .workspace_chunks = s_workspace_chunks, \
    .lease = s_lease, \
    .workspace_bytes = s_workspace_bytes, \
    .workspace_chunking = s_workspace_chunking, \
    .workspace_set_chunking = s_workspace_set_chunking, \
    .cache_usage = s_cache_usage, \
    .source_put = s_source_put, \
    .source_get = s_source_get, \
    .source_list = s_source_list, \
    .source_delete = s_source_delete, \
    .source_set_next = s_source_set_next, \
    .source_items = s_source_items, \
    .source_item_put = s_source_item_put, \
    .source_run_put = s_source_run_put, \
    .source_runs = s_source_runs, \
    .source_runs_trim = s_source_runs_trim, \
    .docs_deleting = s_docs_deleting, \
    .cache_evict = s_cache_evict, \
}

//  Record the calling thread's last error message (printf format).
void sl_store_set_errmsg (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

//  Open the SQLite backend on path (parent directory exists). On success
//  sets *ops_p and *backend_p and returns 0; else writes err, returns -1.
int sl_store_sqlite_open (const char *path, const sl_store_ops_t **ops_p, void **backend_p,
                          char *err, size_t errlen);

//  Open the PostgreSQL backend on a postgres:// or postgresql:// url.
//  Same contract as sl_store_sqlite_open.
int sl_store_pg_open (const char *url, const sl_store_ops_t **ops_p, void **backend_p,
                      char *err, size_t errlen);

//  --------------------------------------------------------------------------
//  For the self-tests (store/sl_store_test.c, the PostgreSQL tests in
//  sl_store_pg.c); linked into test programs only.

//  For backend self-tests: run one query returning one integer (a row
//  count) on a private connection, i.e. what another process would see.
typedef int64_t (sl_store_count_fn) (void *arg, const char *sql);

//  The behavioural suite every backend must pass, asserting on failure.
//  store is open on an empty database at url (the suite opens a second
//  handle on url); count(arg, sql) reads the tables directly, so the
//  backend's schema must use the SQLite backend's table and column names.
void sl_store_conformance (sl_store_t *store, const char *url, sl_store_count_fn *count,
                           void *arg, bool verbose);

//  For backend self-tests: a random unit vector of dim floats (xorshift
//  state per thread, so racing test threads never share a sequence).
void sl_store_test_unit_vector (float *v, int dim);

//  Self-test of the PostgreSQL backend: starts a throwaway server with
//  tests/pg_server.sh; skips (prints why) if PostgreSQL is not installed.
void sl_store_pg_test (bool verbose);
void sl_store_test (bool verbose);

#endif
