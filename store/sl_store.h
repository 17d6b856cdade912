/*  sl_store: the system of record, and vector search over it.

    What lives here: jobs (the pipeline's state machine, queued -> fetching
    -> parsing -> chunking -> embedding -> storing -> completed | failed),
    documents with their chunks and vectors, the embedding cache shared by
    all workspaces, and the per-job event log the HTTP edge replays to SSE
    clients. Search goes through an in-memory sl_vindex per (workspace,
    model), loaded from the database on first use and kept in step with
    every commit and delete.

    Rules every function follows:
    - Idempotent writes. Messages are redelivered when a worker dies, so a
      repeated create / commit / stage event either changes nothing or
      converges on the same row. Writes rely on unique keys and upserts,
      never read-then-write, so several store processes can share one
      database (the PostgreSQL backend will).
    - Workspace isolation. Every read and write of documents, chunks and
      search takes the workspace and never crosses it: another workspace's
      document id is simply "not found".
    - Terminal jobs stay terminal. A stale message for a completed or failed
      job gets SL_STORE_TERMINAL so the caller drops it. The one exception
      is a document commit, which completes a failed job (its late original
      copy still counts; see "Document identity").

    Thread-safety: one sl_store_t is shared by every thread of a process
    (actor handlers, the HTTP edge). The SQLite backend keeps a pool of
    connections, each with its own cached prepared statements, and
    serialises this process's writers on a mutex so SQLITE_BUSY never
    surfaces; busy_timeout covers other processes.

    Backends sit behind a vtable (bottom of this file): sl_store.c validates
    arguments, keeps the vector indexes, holds the rules of a commit (it
    drives the backend's transaction step by step) and dispatches; a
    backend only speaks SQL. SQLite (sl_store_sqlite.c) is the embedded default;
    PostgreSQL (sl_store_pg.c) is chosen by a postgres:// url and lets
    several store processes share one database. Callers never change, and
    one conformance suite (sl_store_conformance) proves both backends.

    Ownership: rows returned in structs own their heap strings; release them
    with the matching *_reset / *_free function. Input structs are borrowed.
*/
#ifndef SL_STORE_H_INCLUDED
#define SL_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_util.h"
#include "sl_vindex.h"

typedef struct sl_store_s sl_store_t;

//  Return codes. Negative = the call did not do what was asked.
#define SL_STORE_OK          0
#define SL_STORE_ERROR      -1      //  database or argument error: sl_store_errmsg
#define SL_STORE_NOT_FOUND  -2      //  no such row (in this workspace)
#define SL_STORE_TERMINAL   -3      //  job already completed/failed: drop the message
#define SL_STORE_CONFLICT   -4      //  model or dimension differs from the workspace's
#define SL_STORE_BUSY       -5      //  job lease held by another owner
#define SL_STORE_SUPERSEDED -6      //  a job accepted later owns the source: nothing written

//  Workspace names and job ids: sl_token_valid strings (1..64 chars)
#define SL_STORE_TOKEN 65
#define SL_STORE_ID (SL_ID_LEN + 1)        //  document and chunk ids (32 hex)

typedef enum {
    SL_STORE_STAGE_NONE = -1,
    SL_STORE_STAGE_FETCH = 0,
    SL_STORE_STAGE_PARSE,
    SL_STORE_STAGE_CHUNK,
    SL_STORE_STAGE_EMBED,
    SL_STORE_STAGE_STORE,
    SL_STORE_STAGE_COUNT
} sl_store_stage_t;

typedef enum {
    SL_STORE_QUEUED = 0,
    SL_STORE_FETCHING,          //  stage s running <=> state s + 1
    SL_STORE_PARSING,
    SL_STORE_CHUNKING,
    SL_STORE_EMBEDDING,
    SL_STORE_STORING,
    SL_STORE_COMPLETED,
    SL_STORE_FAILED,
    SL_STORE_STATE_COUNT
} sl_store_state_t;

typedef enum {
    SL_STORE_STARTED,
    SL_STORE_FINISHED
} sl_store_step_t;

//  A job row. Strings are owned: release with sl_store_job_reset.
typedef struct {
    char id [SL_STORE_TOKEN];
    char workspace [SL_STORE_TOKEN];
    char *source;               //  see sl_store_source_name
    char sha256 [SL_SHA256_HEX];    //  blob hash; "" until known
    char *mime;                 //  NULL until known
    sl_store_state_t state;
    sl_store_stage_t stage;     //  current (last started) stage
    int percent;
    int attempts;
    sl_store_stage_t error_stage;
    char *error;                //  NULL unless failed
    char document_id [SL_STORE_ID];     //  "" until completed
    char replaced [SL_STORE_ID];        //  the document its source named before, or ""
    char duplicate_of [SL_STORE_ID];    //  = document_id if the content was stored already
    int64_t created_ms;
    int64_t updated_ms;
    int64_t started_ms [SL_STORE_STAGE_COUNT];     //  0 = never
    int64_t finished_ms [SL_STORE_STAGE_COUNT];    //  0 = never
    char *lease_owner;          //  NULL if no lease
    int64_t lease_until_ms;
    char *options;              //  JSON text or NULL
} sl_store_job_t;

//  What the store stage knows about a document being committed. Borrowed.
typedef struct {
    const char *workspace;
    const char *source;         //  names one document per workspace (see commit)
    const char *sha256;         //  blob hash, 64 hex chars
    const char *mime;           //  may be NULL
    const char *title;          //  may be NULL
    int pages;
    int64_t bytes;
    const char *job_id;         //  the job committing it (completed by the commit); may be NULL
} sl_doc_meta_t;

//  One chunk to commit. Borrowed. The chunk id is derived by the store from
//  the document id and ordinal (sl_store_chunk_id).
typedef struct {
    int ordinal;                //  unique within the document
    int page_start;
    int page_end;
    int64_t char_start;
    int64_t char_end;
    int tokens;
    const char *hash;           //  content hash (embed-cache key); NULL: sha256 of text
    const char *text;
} sl_chunk_row_t;

//  A document row. Strings are owned: release with sl_store_doc_reset.
typedef struct {
    char id [SL_STORE_ID];
    char workspace [SL_STORE_TOKEN];
    char sha256 [SL_SHA256_HEX];
    char *source;
    char *mime;
    char *title;
    char *model_id;
    char *job_id;
    char state [16];            //  "ready"
    int pages;
    int64_t bytes;
    int chunks;
    int64_t created_ms;
    int64_t updated_ms;
} sl_store_doc_t;

//  A stored chunk. Strings are owned: release with sl_store_chunks_free.
typedef struct {
    char id [SL_STORE_ID];
    char document_id [SL_STORE_ID];
    int ordinal;
    int page_start;
    int page_end;
    int64_t char_start;
    int64_t char_end;
    int tokens;
    char *hash;
    char *text;
} sl_store_chunk_t;

//  One search hit. Strings are owned: release with sl_store_hits_reset.
typedef struct {
    char chunk_id [SL_STORE_ID];
    char document_id [SL_STORE_ID];
    int ordinal;
    int page_start;
    int page_end;
    float score;                //  cosine similarity (dot of unit vectors)
    int match;                  //  SL_HIT_VECTOR | SL_HIT_LEXICAL: who found it
    char *title;
    char *source;
    char *text;
    int64_t key;                //  internal chunk key used by the index
} sl_hit_t;

//  Which ranking found a hit (bits of sl_hit_t.match)
#define SL_HIT_VECTOR  1        //  among the nearest vectors
#define SL_HIT_LEXICAL 2        //  its text holds every significant query word

//  How a search ranks. Hybrid fuses the vector and the lexical ranking
//  (reciprocal rank fusion): a pretrained encoder finds passages by meaning
//  but is weak on names, codes and rare words, which the lexical side finds
//  exactly. Whatever the mode, a hit's score is its cosine similarity.
typedef enum {
    SL_SEARCH_HYBRID = 0,
    SL_SEARCH_VECTOR,
    SL_SEARCH_LEXICAL
} sl_search_mode_t;

//  Search query terms: what the lexical side matches. A term is a run of
//  ASCII letters/digits and non-ASCII characters other than common
//  punctuation (whole UTF-8 letters), lower-cased; one-character ASCII terms and duplicates go, and
//  so do common English function words unless nothing else is left.
#define SL_STORE_TERMS    16
#define SL_STORE_TERM_MAX 64
int sl_store_query_terms (const char *text, char terms [SL_STORE_TERMS][SL_STORE_TERM_MAX]);

//  One event of a job's log. Strings are owned: sl_store_events_free.
typedef struct {
    int64_t seq;                //  1, 2, 3... per job
    char *type;
    char *data;                 //  JSON text or NULL
    int64_t ts;
} sl_store_event_t;

typedef struct {
    int64_t jobs [SL_STORE_STATE_COUNT];   //  jobs by state
    int64_t workspaces;
    int64_t documents;
    int64_t chunks;
    int64_t vectors;
    int64_t cache_entries;
} sl_store_stats_t;

//  --------------------------------------------------------------------------
//  Lifecycle

//  Open the store at url: "sqlite:/path/to/sluice.db", "sqlite:///abs/path"
//  or a plain path (parent directories are created), or a libpq URI
//  "postgres://user[:password]@host[:port]/dbname[?param=value...]" (also
//  "postgresql://"). Applies pending schema migrations. On failure returns
//  NULL and writes a message to err (passwords masked). Caller owns the
//  store and must destroy it.
sl_store_t *sl_store_open (const char *url, char *err, size_t errlen);

//  Close the store and null the caller's pointer; safe on NULL. No other
//  thread may be using it.
void sl_store_destroy (sl_store_t **self_p);

//  Message for the last failure in the calling thread (never NULL).
const char *sl_store_errmsg (sl_store_t *self);

//  Backend name: "sqlite" or "postgres".
const char *sl_store_backend (sl_store_t *self);

//  Names <-> enums ("fetch", "parsing", ...). Parse returns -1 / NONE if
//  unknown; names of out-of-range values are "".
const char *sl_store_stage_name (sl_store_stage_t stage);
sl_store_stage_t sl_store_stage_parse (const char *name);
const char *sl_store_state_name (sl_store_state_t state);
int sl_store_state_parse (const char *name);

//  Deterministic chunk id: the same document and ordinal always give the
//  same id, so redelivered commits collide instead of duplicating.
void sl_store_chunk_id (const char *document_id, int ordinal, char out [SL_STORE_ID]);

//  Deterministic document id for content sha256 in workspace.
void sl_store_document_id (const char *workspace, const char *sha256, char out [SL_STORE_ID]);

//  --------------------------------------------------------------------------
//  Jobs. Every job_* write returns SL_STORE_NOT_FOUND for an unknown id and
//  SL_STORE_TERMINAL if the job is completed or failed (nothing changed).

//  Create job id in state queued (the workspace is created if new).
//  sha256, mime and options_json may be NULL. If the id exists, returns 0
//  and changes nothing.
int sl_store_job_create (sl_store_t *self, const char *job_id, const char *workspace,
                         const char *source, const char *sha256, const char *mime,
                         const char *options_json);

//  Read job id into job (caller resets it). 0 or NOT_FOUND / ERROR.
int sl_store_job_get (sl_store_t *self, const char *job_id, sl_store_job_t *job);

//  Record the fetched blob's sha256 (and mime, if not NULL).
int sl_store_job_set_blob (sl_store_t *self, const char *job_id, const char *sha256,
                           const char *mime);

//  Record that stage started (state := stage's running state, stage :=
//  stage, first start time kept) or finished (finish time; state
//  unchanged). Also sets updated_ms = now_ms.
int sl_store_job_stage (sl_store_t *self, const char *job_id, sl_store_stage_t stage,
                        sl_store_step_t step, int64_t now_ms);

//  Set percent (clamped to 0..100).
int sl_store_job_progress (sl_store_t *self, const char *job_id, int percent);

//  Mark the job failed at stage with reason; releases any lease.
int sl_store_job_fail (sl_store_t *self, const char *job_id, sl_store_stage_t stage,
                       const char *reason);

//  Mark the job completed with its document; percent := 100, lease
//  released. A second completion returns SL_STORE_TERMINAL.
int sl_store_job_complete (sl_store_t *self, const char *job_id, const char *document_id);

//  Count one more attempt; *attempts_out (may be NULL) gets the new count.
int sl_store_job_attempt (sl_store_t *self, const char *job_id, int *attempts_out);

//  Take or renew the job's lease for owner until until_ms. Succeeds if the
//  job has no lease, owner already holds it, or it expired before now_ms;
//  else SL_STORE_BUSY. One UPDATE, so concurrent claimers cannot both win.
int sl_store_job_lease (sl_store_t *self, const char *job_id, const char *owner,
                        int64_t now_ms, int64_t until_ms);

//  List a workspace's jobs, newest first, optionally only in state (a
//  state name, or NULL for all). *jobs_p is an array of *count_p rows that
//  the caller frees with sl_store_jobs_free.
int sl_store_job_list (sl_store_t *self, const char *workspace, const char *state,
                       int limit, int offset, sl_store_job_t **jobs_p, int *count_p);

//  List up to limit non-terminal jobs (any workspace) last updated before
//  older_than_ms, oldest first: candidates to re-drive after a crash.
int sl_store_jobs_unfinished (sl_store_t *self, int64_t older_than_ms, int limit,
                              sl_store_job_t **jobs_p, int *count_p);

//  Free one job's strings and zero it.
void sl_store_job_reset (sl_store_job_t *job);

//  Free an array from a job listing and null the pointer.
void sl_store_jobs_free (sl_store_job_t **jobs_p, int count);

//  --------------------------------------------------------------------------
//  Documents

//  Find the ready document with this content in workspace (so the caller
//  can skip re-ingesting it). doc may be NULL. 0 or NOT_FOUND / ERROR.
int sl_store_document_find (sl_store_t *self, const char *workspace, const char *sha256,
                            sl_store_doc_t *doc);

//  Document identity. A document is its content: its id is derived from
//  (workspace, sha256), so the same bytes are stored once per workspace. A
//  source (a URL, "upload:<name>", see sl_store_source_name) names exactly
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
typedef struct {
    char document_id [SL_STORE_ID];     //  what the source names now
    char replaced [SL_STORE_ID];        //  what it named before, if another, else ""
    char duplicate_of [SL_STORE_ID];    //  document_id if the content was stored already
    bool completed;                     //  this commit completed meta->job_id
    char superseded_by [SL_STORE_TOKEN];    //  SL_STORE_SUPERSEDED: the later job ("" unknown)
} sl_store_commit_t;

//  Gives the next chunks of a document being committed: fills up to max
//  rows (texts must stay valid until the next call) and their vectors
//  (max x dim floats); returns how many (0: no more), or -1 with a reason
//  in err. Called inside the commit's transaction, so a document of any
//  size is committed atomically holding one batch in memory.
typedef int (sl_store_reader_fn) (void *arg, sl_chunk_row_t *rows, float *vectors, int max,
                                  char *err, size_t errlen);

//  Commit a document of n chunks read through reader in batches of at
//  most SL_STORE_BATCH (see identity above). A reader failure rolls
//  everything back: SL_STORE_ERROR with the reader's reason. n may be 0
//  (reader is then not called; model_id may be NULL, dim 0). result gets
//  the outcome (zeroed first).
#define SL_STORE_BATCH 256
int sl_store_document_commit_stream (sl_store_t *self, const sl_doc_meta_t *meta, int n,
                                     int dim, const char *model_id, sl_store_reader_fn *reader,
                                     void *arg, sl_store_commit_t *result);

//  The same from arrays: n chunks and their n x dim vectors (L2-normalised,
//  from model_id); doc_id_out gets result.document_id.
int sl_store_document_commit (sl_store_t *self, const sl_doc_meta_t *meta,
                              const sl_chunk_row_t *chunks, int n, const float *vectors,
                              int dim, const char *model_id, char doc_id_out [SL_STORE_ID]);

//  Commit content already stored (the fetch stage found meta->sha256 in the
//  workspace): the same rules, with nothing to insert. SL_STORE_NOT_FOUND
//  if the document is gone (deleted meanwhile).
int sl_store_document_link (sl_store_t *self, const sl_doc_meta_t *meta,
                            sl_store_commit_t *result);

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
#define SL_STORE_FILENAME_MAX 1024
#define SL_STORE_SOURCE 2304      //  a URL of up to 2 KiB, or an upload's name
int sl_store_source_name (const char *url, const char *filename, size_t filename_len,
                          const char *job_id, char *source, size_t size, char *err,
                          size_t errlen);

//  Read document doc_id of workspace. 0 or NOT_FOUND / ERROR.
int sl_store_document_get (sl_store_t *self, const char *workspace, const char *doc_id,
                           sl_store_doc_t *doc);

//  List a workspace's documents, newest first; *total_p (may be NULL) gets
//  the workspace's document count. Free with sl_store_docs_free.
int sl_store_document_list (sl_store_t *self, const char *workspace, int limit, int offset,
                            sl_store_doc_t **docs_p, int *count_p, int64_t *total_p);

//  List a document's chunks by ordinal; NOT_FOUND if the document is not in
//  workspace. *total_p (may be NULL) gets its chunk count. Free with
//  sl_store_chunks_free.
int sl_store_chunks_list (sl_store_t *self, const char *workspace, const char *doc_id,
                          int limit, int offset, sl_store_chunk_t **chunks_p, int *count_p,
                          int64_t *total_p);

//  Delete a document with its chunks and vectors in one transaction and
//  write its blob's sha256 to sha256_out, so the caller can delete the blob
//  once sl_store_blob_referenced says nothing else needs it.
int sl_store_document_delete (sl_store_t *self, const char *workspace, const char *doc_id,
                              char sha256_out [SL_SHA256_HEX]);

//  1 if any document (any workspace) or any unfinished job uses blob
//  sha256, 0 if none, SL_STORE_ERROR on failure.
int sl_store_blob_referenced (sl_store_t *self, const char *sha256);

//  Copy the workspace's embedding model id (recorded at first commit) to
//  model_out. NOT_FOUND if the workspace does not exist or has no model.
int sl_store_workspace_model (sl_store_t *self, const char *workspace, char *model_out,
                              size_t size, int *dim_out);

//  Page through the workspace's chunks for re-embedding: up to limit
//  (1..10000) chunks whose key is > after_key (0 for the first page: keys
//  are positive), in key order. keys gets the
//  chunk keys (the ids the vector index uses), texts malloc'd copies of
//  their texts (free with sl_store_texts_free); *count the number written.
//  NOT_FOUND if the workspace does not exist.
int sl_store_workspace_chunks (sl_store_t *self, const char *workspace, int64_t after_key,
                               int limit, int64_t *keys, char **texts, int *count);

//  Free texts [0..count) from sl_store_workspace_chunks (not the array).
void sl_store_texts_free (char **texts, int count);

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
int sl_store_workspace_reembed (sl_store_t *self, const char *workspace, const char *model_id,
                                int dim, int64_t *missing);

void sl_store_doc_reset (sl_store_doc_t *doc);
void sl_store_docs_free (sl_store_doc_t **docs_p, int count);
void sl_store_chunks_free (sl_store_chunk_t **chunks_p, int count);

//  --------------------------------------------------------------------------
//  Embedding cache: (model_id, content hash) -> vector, shared by all
//  workspaces so the same text is embedded once.

//  Look up n hashes; for each found, copy dim floats to out + i * dim and
//  set found[i]. Entries stored with another dim count as misses. Returns
//  the number found, or SL_STORE_ERROR.
int sl_store_cache_get (sl_store_t *self, const char *model_id, const char **hashes, int n,
                        int dim, float *out, bool *found);

//  Store n vectors (n x dim) in one transaction; existing entries are kept.
int sl_store_cache_put (sl_store_t *self, const char *model_id, const char **hashes, int n,
                        const float *vectors, int dim);

//  --------------------------------------------------------------------------
//  Housekeeping: what the storage collector (sl_janitor) and the storage
//  quota (sl_quota) ask

//  Take or renew the lease called name (a duty one process at a time should
//  do, like "janitor") for owner until until_ms. Succeeds if nobody holds
//  it, owner already does, or it expired before now_ms; else SL_STORE_BUSY.
//  One statement, so concurrent claimers cannot both win.
int sl_store_lease (sl_store_t *self, const char *name, const char *owner, int64_t now_ms,
                    int64_t until_ms);

//  Give the lease back if owner holds it (else nothing changes), so another
//  process may take it at once. 0 or ERROR.
int sl_store_lease_release (sl_store_t *self, const char *name, const char *owner);

//  Bytes of the workspace's documents (the files as ingested: the sum of
//  their bytes); 0 for a workspace with none or no such workspace.
int sl_store_workspace_bytes (sl_store_t *self, const char *workspace, int64_t *bytes_out);

//  Size of the embedding cache: entries, and bytes counted as each entry's
//  vector (dim x 4) plus its key (model id and hash); the database's own
//  page and index overhead comes on top.
int sl_store_cache_usage (sl_store_t *self, int64_t *entries_out, int64_t *bytes_out);

//  Bound the embedding cache: evict every entry created before before_ms
//  (0: none by age), then the oldest entries until it holds at most
//  max_bytes as sl_store_cache_usage counts (0: no size bound), in
//  batches of at most 1000 (short transactions). *entries_out and
//  *bytes_out (may be NULL) get what was evicted. A text evicted is only
//  embedded again when it is next needed.
int sl_store_cache_trim (sl_store_t *self, int64_t max_bytes, int64_t before_ms,
                         int64_t *entries_out, int64_t *bytes_out);

//  --------------------------------------------------------------------------
//  Event log

//  Append an event to job_id's log with the next sequence number (1, 2, ...,
//  assigned atomically); *seq_out (may be NULL) gets it. data_json may be
//  NULL.
int sl_store_event_append (sl_store_t *self, const char *job_id, const char *type,
                           const char *data_json, int64_t ts, int64_t *seq_out);

//  List up to limit events of job_id with seq > after_seq, in order (the
//  SSE replay after Last-Event-ID). Free with sl_store_events_free.
int sl_store_events_list (sl_store_t *self, const char *job_id, int64_t after_seq, int limit,
                          sl_store_event_t **events_p, int *count_p);

void sl_store_events_free (sl_store_event_t **events_p, int count);

//  --------------------------------------------------------------------------
//  Search and metrics

//  Top-k chunks of workspace for query (dim floats, L2-normalised, embedded
//  with model_id). hits is an array of k; *n_hits gets the count written,
//  best first. SL_STORE_CONFLICT if model_id or dim differ from the
//  workspace's; NOT_FOUND if the workspace does not exist; a workspace with
//  nothing embedded yet gives 0 hits. Release hits with sl_store_hits_reset.
int sl_store_search (sl_store_t *self, const char *workspace, const char *model_id,
                     const float *query, int dim, int k, sl_hit_t *hits, int *n_hits);

//  How a search ranks and what it may return, beyond the query vector.
#define SL_STORE_SEARCH_DOCS 100
typedef struct {
    const char *text;               //  the query's text: the lexical side's words
    sl_search_mode_t mode;
    const char *const *documents;   //  only chunks of these documents of the
    int n_documents;                //  workspace (0..SL_STORE_SEARCH_DOCS; 0: all)
} sl_search_t;

//  Search with a text and a mode (see sl_search_mode_t), optionally within
//  some documents ("ask this PDF"; an id that is not a document of the
//  workspace matches nothing). Same results and errors as sl_store_search,
//  which is this in vector mode over the whole workspace.
int sl_store_search_text (sl_store_t *self, const char *workspace, const char *model_id,
                          const float *query, int dim, const sl_search_t *how, int k,
                          sl_hit_t *hits, int *n_hits);

//  "hybrid", "vector", "lexical"; parse gives -1 for anything else.
const char *sl_search_mode_name (sl_search_mode_t mode);
int sl_search_mode_parse (const char *name);

void sl_store_hits_reset (sl_hit_t *hits, int n);

//  Row counts for metrics.
int sl_store_stats (sl_store_t *self, sl_store_stats_t *stats);

void sl_store_test (bool verbose);

//  Self-test of the PostgreSQL backend: starts a throwaway server with
//  tests/pg_server.sh; skips (prints why) if PostgreSQL is not installed.
void sl_store_pg_test (bool verbose);

//  --------------------------------------------------------------------------
//  Backend interface: for backend implementations only, not for callers.
//  sl_store.c has validated every argument before a backend sees it. Each
//  op returns the SL_STORE_* codes above and reports errors with
//  sl_store_set_errmsg.

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
    //  appending its chunk keys to change->removed
    int (*tx_doc_remove) (void *tx, const char *workspace, const char *doc_id,
                          sl_store_change_t *change);
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
    //  Bump the workspace's generation; *gen_out gets the new one
    int (*tx_bump) (void *tx, const char *workspace, int64_t *gen_out);
    int (*document_get) (void *backend, const char *workspace, const char *doc_id,
                         sl_store_doc_t *doc);
    int (*document_list) (void *backend, const char *workspace, int limit, int offset,
                          sl_store_doc_t **docs_p, int *count_p, int64_t *total_p);
    int (*chunks_list) (void *backend, const char *workspace, const char *doc_id, int limit,
                        int offset, sl_store_chunk_t **chunks_p, int *count_p,
                        int64_t *total_p);
    int (*document_delete) (void *backend, const char *workspace, const char *doc_id,
                            char sha256_out [SL_SHA256_HEX], sl_store_change_t *change);
    int (*blob_referenced) (void *backend, const char *sha256);
    //  model_out "" and *dim_out 0 if no model yet; NOT_FOUND if no workspace
    int (*workspace_info) (void *backend, const char *workspace, char *model_out,
                           size_t size, int *dim_out, int64_t *gen_out);
    //  Add every vector of (workspace, model_id) of dimension dim to index
    //  (empty, private) and report the generation they are consistent with.
    int (*vectors_load) (void *backend, const char *workspace, const char *model_id,
                         sl_vindex_t *index, int64_t *gen_out);
    //  Fill title/source/text/ids of hits[0..n) from their key; drop hits
    //  whose chunk is gone or outside workspace. Returns the count kept.
    int (*hits_fill) (void *backend, const char *workspace, sl_hit_t *hits, int n);
    //  Up to limit chunk keys of workspace whose text holds every one of
    //  terms [0..nterms) (see sl_store_query_terms), best text match first;
    //  *count gets how many were written.
    //  documents/n_documents as in sl_search_t (NULL/0: the whole workspace)
    int (*lexical) (void *backend, const char *workspace, const char (*terms) [SL_STORE_TERM_MAX],
                    int nterms, const char *const *documents, int n_documents, int limit,
                    int64_t *keys, int *count);
    //  Keys of every chunk of these documents of the workspace (*keys_p
    //  malloc'd, NULL if none)
    int (*document_keys) (void *backend, const char *workspace, const char *const *documents,
                          int n_documents, int64_t **keys_p, int *count);
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
    //  All in one transaction that locks the workspace like a commit:
    //  vectors from the embedding cache; CONFLICT (and *missing) unless
    //  every chunk has one; bumps the generation
    int (*workspace_reembed) (void *backend, const char *workspace, const char *model_id,
                              int dim, int64_t now_ms, int64_t *missing);
    //  until_ms 0: release the lease if owner holds it (always OK)
    int (*lease) (void *backend, const char *name, const char *owner, int64_t now_ms,
                  int64_t until_ms);
    int (*workspace_bytes) (void *backend, const char *workspace, int64_t *bytes);
    int (*cache_usage) (void *backend, int64_t *entries, int64_t *bytes);
    //  Delete up to limit entries created before before_ms, oldest first,
    //  in one transaction; report how many and their size (as cache_usage)
    int (*cache_evict) (void *backend, int64_t before_ms, int limit, int64_t *entries,
                        int64_t *bytes);
} sl_store_ops_t;

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

#endif
