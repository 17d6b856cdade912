/*  sl_store: the system of record, and search over it.

    Jobs (the pipeline's state machine: queued -> fetching -> parsing ->
    chunking -> embedding -> storing -> completed | failed), documents with
    their chunks and vectors, the embedding cache shared by all workspaces,
    each job's event log, and named leases for one-at-a-time duties.

    Rules every function follows:
    - Idempotent writes: a redelivered create / commit / event either
      changes nothing or converges on the same row.
    - Workspace isolation: another workspace's id is simply "not found".
    - Terminal jobs stay terminal (SL_STORE_TERMINAL: drop the message),
      except that a document commit completes a failed job.
    - Thread-safe: one sl_store_t serves every thread of a process, and
      several processes may share one PostgreSQL database.
    - Rows returned in structs own their strings: release them with the
      matching *_reset / *_free. Input structs are borrowed.

    Inside (not needed to call it): sl_store.c holds the policy (commit
    rules, search ranking, re-embed) once, over a backend vtable
    (sl_store_backend.h) that SQLite (sl_store_sqlite.c) and PostgreSQL
    (sl_store_pg.c) implement with their SQL; one conformance suite
    (sl_store_test.c) proves both.
*/
#ifndef SL_STORE_H_INCLUDED
#define SL_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_util.h"

typedef struct sl_store_s sl_store_t;
struct sl_filter_s;             //  sl_filter.h

//  Return codes. Negative = the call did not do what was asked.
#define SL_STORE_OK          0
#define SL_STORE_ERROR      -1      //  database or argument error: sl_store_errmsg
#define SL_STORE_NOT_FOUND  -2      //  no such row (in this workspace)
#define SL_STORE_TERMINAL   -3      //  job already completed/failed: drop the message
#define SL_STORE_CONFLICT   -4      //  model or dimension differs from the workspace's
#define SL_STORE_BUSY       -5      //  lease held by another owner
#define SL_STORE_SUPERSEDED -6      //  a job accepted later owns the source: nothing written

#define SL_STORE_TOKEN 65                   //  workspaces, job ids: sl_token_valid, 1..64 chars
#define SL_STORE_ID (SL_ID_LEN + 1)         //  document and chunk ids (32 hex)
#define SL_STORE_FILENAME_MAX 1024          //  an upload's name, in bytes
#define SL_STORE_SOURCE 2304                //  a source: a URL of up to 2 KiB, or an upload's name
#define SL_STORE_BATCH 256                  //  chunks per reader call in a commit
#define SL_STORE_SEARCH_DOCS 100            //  documents one search may be limited to

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
    SL_STORE_CANCELLED,         //  stopped by a person: terminal, never committed or re-driven
    SL_STORE_STATE_COUNT
} sl_store_state_t;

typedef enum {
    SL_STORE_STARTED,
    SL_STORE_FINISHED
} sl_store_step_t;

//  A job row. Release with sl_store_job_reset.
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
    bool held;                  //  accepted while its workspace's intake was paused: not started
    int run;                    //  0, then one more at each retry: its messages carry it
} sl_store_job_t;

//  Job control: the transitions a person asks for (sl_store_job_control)
typedef enum {
    SL_STORE_CANCEL,            //  any unfinished state -> cancelled
    SL_STORE_RESTART,           //  failed | cancelled -> queued, its last run forgotten
    SL_STORE_RESTART_HELD,      //  the same, but held (its workspace is paused)
    SL_STORE_HOLD,              //  queued -> queued and held
    SL_STORE_RELEASE,           //  queued and held -> queued (the caller starts it)
    SL_STORE_CONTROL_COUNT
} sl_store_control_t;

//  A document being committed. Borrowed.
typedef struct {
    const char *workspace;
    const char *source;         //  names one document per workspace
    const char *sha256;         //  blob hash, 64 hex chars
    const char *mime;           //  may be NULL
    const char *title;          //  may be NULL
    int pages;
    int64_t bytes;
    const char *job_id;         //  the job committing it (completed by the commit); may be NULL
    const char *chunking;       //  JSON text of the chunking settings it was cut with
                                //  (engine/sl_chunking.h); may be NULL
    const char *attrs;          //  its attributes, a JSON object (sl_meta_parse rules) that
                                //  replaces the document's; NULL: keep what it has
    const char *pages_blob;     //  its parse output (pages.mp) kept as this blob, so it can
                                //  be cut again without a parse; NULL: keep what it has
    bool recut;                 //  a reprocess: the document exists, its chunks (vectors,
                                //  pages) are replaced by these in the same transaction
} sl_doc_meta_t;

//  One chunk to commit. Borrowed. Its id derives from document id and ordinal.
typedef struct {
    int ordinal;                //  unique within the document
    int page_start;
    int page_end;
    int64_t char_start;
    int64_t char_end;
    int tokens;
    const char *hash;           //  content hash (embed-cache key); NULL: sha256 of text
    const char *text;
    const char *kind;           //  "text" or "table"; NULL: "text"
    const char *section;        //  section path ("A › B"); NULL: none
    const char *context;        //  what was embedded before the text ("Title › A › B",
                                //  then a blank line); NULL: nothing. Re-embedding
                                //  embeds context + "\n\n" + text again
    bool ocr;                   //  its text came from OCR ...
    int ocr_confidence;         //  ... with this lowest page confidence, 0-100
} sl_chunk_row_t;

//  A document row. Release with sl_store_doc_reset.
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
    char *chunking;             //  JSON text of how it was cut; NULL if not recorded
    char *meta;                 //  its attributes, canonical JSON ("{}" none)
    char pages_blob [SL_SHA256_HEX];    //  its kept parse output (a blob), "" if none
} sl_store_doc_t;

//  A stored chunk. Release with sl_store_chunks_free.
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
    char kind [8];              //  "text" or "table"
    char *section;              //  "" none
    bool ocr;
    int ocr_confidence;         //  when ocr
    char *context;              //  what was embedded before its text ("" none)
} sl_store_chunk_t;

//  What a commit did. See sl_store_document_commit_stream.
typedef struct {
    char document_id [SL_STORE_ID];     //  what the source names now
    char replaced [SL_STORE_ID];        //  what it named before, if another, else ""
    char duplicate_of [SL_STORE_ID];    //  document_id if the content was stored already
    bool completed;                     //  this commit completed meta->job_id
    char superseded_by [SL_STORE_TOKEN];    //  SL_STORE_SUPERSEDED: the later job ("" unknown)
} sl_store_commit_t;

//  Gives a commit its next chunks: fills up to max rows (texts valid until
//  the next call) and their max x dim vectors; returns how many (0: no
//  more), or -1 with a reason in err.
typedef int (sl_store_reader_fn) (void *arg, sl_chunk_row_t *rows, float *vectors, int max,
                                  char *err, size_t errlen);

//  One search hit. Release with sl_store_hits_reset.
typedef struct {
    char chunk_id [SL_STORE_ID];
    char document_id [SL_STORE_ID];
    int ordinal;
    int page_start;
    int page_end;
    float score;                //  cosine similarity, whatever the mode
    int match;                  //  SL_HIT_VECTOR | SL_HIT_LEXICAL: who found it
    char *title;
    char *source;
    char *text;
    char kind [8];              //  "text" or "table"
    char *section;              //  section path, "" none
    bool ocr;                   //  text read by OCR ...
    int ocr_confidence;         //  ... with this lowest page confidence, 0-100
    int64_t key;                //  internal chunk key used by the index
    char *mime;                 //  the document's type (NULL unknown): a link's #page=
    //  Where text holds the query's words as the word index matched them
    //  (sl_highlight.h): n_highlights spans, highlights [2i] .. [2i + 1]
    //  the code point offsets [start, end), sorted, non-overlapping;
    //  every mode (a hit the vectors found still shows the words it holds)
    int *highlights;
    int n_highlights;
} sl_hit_t;

#define SL_HIT_VECTOR  1        //  among the nearest vectors
#define SL_HIT_LEXICAL 2        //  its text holds some of the query's significant words

//  Hybrid fuses the vector ranking (meaning) with the lexical one (names,
//  codes, rare words) by interpolating their normalised scores.
typedef enum {
    SL_SEARCH_HYBRID = 0,
    SL_SEARCH_VECTOR,
    SL_SEARCH_LEXICAL
} sl_search_mode_t;

//  How a search ranks and what it may return, beyond the query vector.
typedef struct {
    const char *text;               //  the query's text: the lexical side's words
    sl_search_mode_t mode;
    const char *const *documents;   //  only chunks of these documents (0..SL_STORE_SEARCH_DOCS;
    int n_documents;                //  0: the whole workspace)
    //  Fusion: a candidate's words score (1 - page_weight) x its word
    //  share + page_weight x its page's word share (shares: BM25 over the
    //  query's idf sum, capped at 2); hybrid adds vector_weight x its
    //  cosine scaled to 0..1 over the candidates, the words counting
    //  1 - vector_weight. Candidates are the best `candidates` of each
    //  ranking. 0 (or out of range) for the defaults; a tiny value (1e-9)
    //  for "none"
    double vector_weight;           //  0..1
    double page_weight;             //  0..1
    int candidates;
    //  Exact forms: stems find "declaration" for "declarative"; among the
    //  best SL_SEARCH_EXACT_WINDOW candidates (or k, if more), a chunk's
    //  fused score is multiplied by 1 + exact_weight x the share of the
    //  query's words it holds as written (case folded), so the chunk that
    //  says what was asked comes first. Hybrid and lexical modes. 0 (or
    //  out of range) for the default, a tiny value for "none"
    double exact_weight;            //  0..4
    //  Only chunks of documents matching this filter (sl_filter.h; NULL:
    //  none), ANDed with documents
    const struct sl_filter_s *filter;
} sl_search_t;

//  Fusion defaults, chosen on the tune half of bench/eval (bench/RESULTS.md)
#define SL_SEARCH_VECTOR_WEIGHT_DEFAULT  0.3
#define SL_SEARCH_PAGE_WEIGHT_DEFAULT    0.4
#define SL_SEARCH_CANDIDATES_DEFAULT     100
#define SL_SEARCH_EXACT_WEIGHT_DEFAULT   0.5
#define SL_SEARCH_EXACT_WINDOW           30

//  One event of a job's log. Release with sl_store_events_free.
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
//  Open and close

//  Open "sqlite:<path>" (or a plain path; parent folders are created) or a
//  "postgres://" / "postgresql://" libpq URI, migrating its schema. NULL
//  with a message in err (passwords masked). Caller owns and destroys it.
sl_store_t *sl_store_open (const char *url, char *err, size_t errlen);

//  Close the store and null the caller's pointer; safe on NULL. No other
//  thread may be using it.
void sl_store_destroy (sl_store_t **self_p);

//  Approximate search (sl_vindex.h): a workspace's vector index walks an
//  HNSW graph at min_rows vectors and above (0: always exact), searched
//  with width ef (sl_vindex_set_ef; < 1: the default), and keeps that
//  graph in dir (one file per workspace and model, written at build and at
//  close, reused at the next load; NULL: never written). Call once,
//  before the first search.
void sl_store_set_graphs (sl_store_t *self, const char *dir, size_t min_rows, int ef);

//  search.ann_min_rows: exact search costs ~0.19 ms per 1,000 512-d rows
//  (bench/ann.sh), so it stays under 5 ms below this; the graph's one-off
//  build when a workspace crosses it takes ~10 s at ~2,000 vectors/s
#define SL_SEARCH_ANN_MIN_ROWS_DEFAULT 20000

//  Message for the calling thread's last failure (never NULL).
const char *sl_store_errmsg (sl_store_t *self);

//  Backend name: "sqlite" or "postgres".
const char *sl_store_backend (sl_store_t *self);

//  Stage and state names ("fetch", "parsing"...) <-> enums: "" / -1 / NONE if unknown.
const char *sl_store_stage_name (sl_store_stage_t stage);
sl_store_stage_t sl_store_stage_parse (const char *name);
const char *sl_store_state_name (sl_store_state_t state);
int sl_store_state_parse (const char *name);
//  completed, failed or cancelled: nothing moves the job on its own any more
bool sl_store_state_terminal (int state);

//  --------------------------------------------------------------------------
//  Jobs. Writes give NOT_FOUND for an unknown id, TERMINAL for a finished job.

//  Create job id, queued (and its workspace if new), held if the
//  workspace's intake is paused (read in the same transaction); sha256, mime and
//  options_json may be NULL. An id that exists: 0, nothing changed.
int sl_store_job_create (sl_store_t *self, const char *job_id, const char *workspace,
                         const char *source, const char *sha256, const char *mime,
                         const char *options_json);

//  Read job id into job (caller resets it).
int sl_store_job_get (sl_store_t *self, const char *job_id, sl_store_job_t *job);

//  Record the fetched blob's sha256 (and mime, if not NULL).
int sl_store_job_set_blob (sl_store_t *self, const char *job_id, const char *sha256,
                           const char *mime);

//  Record that stage started (the job enters its running state) or finished, at now_ms.
int sl_store_job_stage (sl_store_t *self, const char *job_id, sl_store_stage_t stage,
                        sl_store_step_t step, int64_t now_ms);

//  Set the job's percent (clamped to 0..100).
int sl_store_job_progress (sl_store_t *self, const char *job_id, int percent);

//  Fail the job at stage with reason, releasing its lease.
int sl_store_job_fail (sl_store_t *self, const char *job_id, sl_store_stage_t stage,
                       const char *reason);

//  Complete the job with its document (percent 100, lease released); twice: TERMINAL.
int sl_store_job_complete (sl_store_t *self, const char *job_id, const char *document_id);

//  Count one more attempt; *attempts_out (may be NULL) gets the new count.
int sl_store_job_attempt (sl_store_t *self, const char *job_id, int *attempts_out);

//  Take or renew the job's lease for owner until until_ms; BUSY while
//  another owner holds it unexpired.
int sl_store_job_lease (sl_store_t *self, const char *job_id, const char *owner,
                        int64_t now_ms, int64_t until_ms);

//  A workspace's jobs, newest first, in state (a name; NULL: all). Free
//  with sl_store_jobs_free.
int sl_store_job_list (sl_store_t *self, const char *workspace, const char *state,
                       int limit, int offset, sl_store_job_t **jobs_p, int *count_p);

//  Up to limit unfinished jobs (any workspace) untouched since
//  older_than_ms, oldest first: the re-driver's candidates.
int sl_store_jobs_unfinished (sl_store_t *self, int64_t older_than_ms, int limit,
                              sl_store_job_t **jobs_p, int *count_p);

//  Job control (a person's request, through intake). One guarded write,
//  ordered by the database against a racing commit: a cancel accepted
//  before the commit's transaction locked the job means the commit writes
//  nothing (TERMINAL, "was cancelled"); a commit first means the cancel
//  finds the job completed. job (may be NULL; caller resets it) gets the
//  row as it is after the call, whatever the outcome. Returns OK;
//  NOT_FOUND (no such job in workspace: another workspace's job is not
//  found); TERMINAL (cancel of a completed/failed job; errmsg says which);
//  CONFLICT (restart of a job that is not failed or cancelled, hold or
//  release of a job not in that state; errmsg says its state).
int sl_store_job_control (sl_store_t *self, const char *job_id, const char *workspace,
                          sl_store_control_t what, sl_store_job_t *job);

//  Is workspace's intake paused (false for an unknown workspace)? Set it
//  (the workspace is created if new): kept in the store, so it survives
//  restarts and is the same for every intake process.
int sl_store_workspace_paused (sl_store_t *self, const char *workspace, bool *paused);
int sl_store_workspace_set_paused (sl_store_t *self, const char *workspace, bool paused);

//  Free one job's strings and zero it.
void sl_store_job_reset (sl_store_job_t *job);

//  Free a job listing and null the pointer.
void sl_store_jobs_free (sl_store_job_t **jobs_p, int count);

//  --------------------------------------------------------------------------
//  Documents and chunks. A document is its content (its id derives from
//  workspace and sha256); a source names one document of its workspace.

//  Find the ready document with this content in workspace; doc may be NULL.
int sl_store_document_find (sl_store_t *self, const char *workspace, const char *sha256,
                            sl_store_doc_t *doc);

//  Commit a document of n chunks, read through reader, with its vectors in one
//  transaction: the job completes, the source names it, what it named before
//  goes unless another source names it, a later job's version is never
//  overwritten (SUPERSEDED). The rules in full: sl_store.c, "Document identity".
int sl_store_document_commit_stream (sl_store_t *self, const sl_doc_meta_t *meta, int n,
                                     int dim, const char *model_id, sl_store_reader_fn *reader,
                                     void *arg, sl_store_commit_t *result);

//  The same from arrays of n chunks and n x dim vectors; doc_id_out gets the document id.
int sl_store_document_commit (sl_store_t *self, const sl_doc_meta_t *meta,
                              const sl_chunk_row_t *chunks, int n, const float *vectors,
                              int dim, const char *model_id, char doc_id_out [SL_STORE_ID]);

//  Commit content already stored (same rules, nothing to insert); NOT_FOUND if it is gone.
int sl_store_document_link (sl_store_t *self, const sl_doc_meta_t *meta,
                            sl_store_commit_t *result);

//  The source of an ingest into source (size >= SL_STORE_SOURCE): the url,
//  else "upload:<filename>" normalised (-1, reason in err, if unsafe),
//  else "upload:/<job_id>" (an unnamed upload is its own document).
int sl_store_source_name (const char *url, const char *filename, size_t filename_len,
                          const char *job_id, char *source, size_t size, char *err,
                          size_t errlen);

//  Read document doc_id of workspace.
int sl_store_document_get (sl_store_t *self, const char *workspace, const char *doc_id,
                           sl_store_doc_t *doc);

//  A workspace's documents, newest first; *total_p (may be NULL) gets
//  their count. Free with sl_store_docs_free.
int sl_store_document_list (sl_store_t *self, const char *workspace, int limit, int offset,
                            sl_store_doc_t **docs_p, int *count_p, int64_t *total_p);

//  A document's chunks by ordinal; *total_p (may be NULL) gets their
//  count. Free with sl_store_chunks_free.
int sl_store_chunks_list (sl_store_t *self, const char *workspace, const char *doc_id,
                          int limit, int offset, sl_store_chunk_t **chunks_p, int *count_p,
                          int64_t *total_p);

//  Delete a document with its chunks and vectors; sha256_out gets its blob's hash.
int sl_store_document_delete (sl_store_t *self, const char *workspace, const char *doc_id,
                              char sha256_out [SL_SHA256_HEX]);

//  Deletion in two steps (the delete service, actors/delete/).
//  Tombstone: one short transaction marks the document `deleting`; from
//  its commit on no search (any mode, any filter) returns its chunks, and
//  document_get/list show it with that state. *already true if it was
//  marked before (nothing written). NOT_FOUND if there is no such
//  document in workspace (another workspace's id is absent here).
int sl_store_document_tombstone (sl_store_t *self, const char *workspace, const char *doc_id,
                                 bool *already);

//  Purge: one bounded transaction removing at most batch of the
//  document's chunks (with their vectors and word rows) and pages, so no
//  transaction holds the writer long; the step that finds none left
//  removes the document row (its attributes, its sources) and sets *done,
//  with sha256_out its blob's hash. Marks the document deleting first if
//  it was not. NOT_FOUND if it is gone already (a repeated purge).
int sl_store_document_purge (sl_store_t *self, const char *workspace, const char *doc_id,
                             int batch, char sha256_out [SL_SHA256_HEX], bool *done);

//  Documents marked deleting, oldest first, at most limit: a JSON array
//  of [workspace, id] pairs (malloc'd) for the delete service's re-driver.
int sl_store_documents_deleting (sl_store_t *self, int limit, char **json_out);

//  1 if any document or unfinished job uses blob sha256, 0 if none.
int sl_store_blob_referenced (sl_store_t *self, const char *sha256);

//  Re-tag document doc_id of workspace: its attributes become meta_json
//  (merge false, PUT) or meta_json merged over them (merge true, PATCH: a
//  key set to null goes), checked by sl_meta_parse's rules (ERROR with
//  the reason). Searches see the change as soon as this returns.
//  *meta_out (may be NULL) gets the attributes now (caller frees).
int sl_store_document_meta (sl_store_t *self, const char *workspace, const char *doc_id,
                            const char *meta_json, bool merge, char **meta_out);

void sl_store_doc_reset (sl_store_doc_t *doc);
void sl_store_docs_free (sl_store_doc_t **docs_p, int count);
void sl_store_chunks_free (sl_store_chunk_t **chunks_p, int count);

//  --------------------------------------------------------------------------
//  Workspaces and re-embedding

//  The workspace's embedding model and dim; NOT_FOUND if none yet.
int sl_store_workspace_model (sl_store_t *self, const char *workspace, char *model_out,
                              size_t size, int *dim_out);

//  Page through the workspace's chunks in key order: up to limit (1..10000)
//  with key > after_key (0 first); keys, and texts the caller frees.
int sl_store_workspace_chunks (sl_store_t *self, const char *workspace, int64_t after_key,
                               int limit, int64_t *keys, char **texts, int *count);

//  Free texts [0..count) from sl_store_workspace_chunks (not the array).
void sl_store_texts_free (char **texts, int count);

//  Switch the workspace to model_id/dim from the embedding cache in one
//  transaction; CONFLICT (with *missing) if some chunk has no cached vector yet.
int sl_store_workspace_reembed (sl_store_t *self, const char *workspace, const char *model_id,
                                int dim, int64_t *missing);

//  The workspace's own chunking settings (JSON text, engine/sl_chunking.h)
//  into out (size bytes); "" if it has none, so the server's apply.
//  NOT_FOUND if there is no such workspace.
int sl_store_workspace_chunking (sl_store_t *self, const char *workspace, char *out,
                                 size_t size);

//  Give the workspace its own chunking settings (json: a JSON object of at
//  most 1 KiB, checked by the caller with sl_chunking; NULL: back to the
//  server's), creating the workspace if it is new. Documents keep what
//  they were cut with; jobs accepted from now on are stamped with these.
int sl_store_workspace_set_chunking (sl_store_t *self, const char *workspace, const char *json);

//  Bytes of the workspace's documents as ingested (0 if none).
int sl_store_workspace_bytes (sl_store_t *self, const char *workspace, int64_t *bytes_out);

//  --------------------------------------------------------------------------
//  Search

//  Top-k chunks for a query vector of the workspace's model and dim, best
//  first, ranked as how says; CONFLICT on another model or dim, 0 hits if
//  nothing is embedded yet. Release hits with sl_store_hits_reset.
int sl_store_search_text (sl_store_t *self, const char *workspace, const char *model_id,
                          const float *query, int dim, const sl_search_t *how, int k,
                          sl_hit_t *hits, int *n_hits);

//  The same in vector mode over the whole workspace.
int sl_store_search (sl_store_t *self, const char *workspace, const char *model_id,
                     const float *query, int dim, int k, sl_hit_t *hits, int *n_hits);

void sl_store_hits_reset (sl_hit_t *hits, int n);

//  "hybrid", "vector", "lexical" <-> modes; parse gives -1 for anything else.
const char *sl_search_mode_name (sl_search_mode_t mode);
int sl_search_mode_parse (const char *name);

//  --------------------------------------------------------------------------
//  Events: each job's log, which the edge replays to SSE clients

//  Append an event (data_json may be NULL) with the job's next sequence
//  number, which *seq_out (may be NULL) gets.
int sl_store_event_append (sl_store_t *self, const char *job_id, const char *type,
                           const char *data_json, int64_t ts, int64_t *seq_out);

//  Up to limit events of job_id after after_seq, in order (the SSE replay).
int sl_store_events_list (sl_store_t *self, const char *job_id, int64_t after_seq, int limit,
                          sl_store_event_t **events_p, int *count_p);

void sl_store_events_free (sl_store_event_t **events_p, int count);

//  --------------------------------------------------------------------------
//  Leases: duties one process at a time should do (like "janitor")

//  Take or renew lease name for owner until until_ms; BUSY while another
//  owner holds it unexpired.
int sl_store_lease (sl_store_t *self, const char *name, const char *owner, int64_t now_ms,
                    int64_t until_ms);

//  Give the lease back if owner holds it (else nothing changes).
int sl_store_lease_release (sl_store_t *self, const char *name, const char *owner);

//  --------------------------------------------------------------------------
//  Embedding cache: (model_id, content hash) -> vector, for every workspace

//  Look up n hashes: each found goes to out + i * dim, found[i] set.
//  Returns how many were found, or ERROR.
int sl_store_cache_get (sl_store_t *self, const char *model_id, const char **hashes, int n,
                        int dim, float *out, bool *found);

//  Store n vectors (n x dim) in one transaction; existing entries are kept.
int sl_store_cache_put (sl_store_t *self, const char *model_id, const char **hashes, int n,
                        const float *vectors, int dim);

//  Entries, and bytes (vectors and keys, without the database's own overhead).
int sl_store_cache_usage (sl_store_t *self, int64_t *entries_out, int64_t *bytes_out);

//  Evict entries created before before_ms (0: none by age), then the
//  oldest down to max_bytes (0: no bound); *entries_out, *bytes_out (may
//  be NULL) get what went.
int sl_store_cache_trim (sl_store_t *self, int64_t max_bytes, int64_t before_ms,
                         int64_t *entries_out, int64_t *bytes_out);

//  --------------------------------------------------------------------------
//  Sources (actors/sources): a workspace's registered sources, the evidence
//  of each item a source holds (a folder's file, a URL), and the source's
//  sync runs. The rows are JSON text the sources service writes and reads
//  (their shape is its business, documented in actors/sources/sl_source.h);
//  the store keeps them, scoped to the workspace, with the two columns it
//  must query: a source's key (what makes two sources the same: kind and
//  target) and when it is next due.

//  Record source id of workspace with its key and row (JSON text). create:
//  a new source, CONFLICT if the workspace has one with this key (or this
//  id); else an update of the existing row, NOT_FOUND if none.
int sl_store_source_put (sl_store_t *self, const char *workspace, const char *id,
                         const char *key, const char *json, int64_t next_ms, bool create);

//  *json_out (caller frees) gets the source's row, *next_out (may be NULL)
//  when it is next due; NOT_FOUND if the workspace has no such source.
int sl_store_source_get (sl_store_t *self, const char *workspace, const char *id,
                         char **json_out, int64_t *next_out);

//  *json_out (caller frees) gets a JSON array of the rows of workspace's
//  sources (workspace NULL: every workspace's) due at or before due_ms
//  (0: all), oldest first, each with "next_ms" set to when it is due.
int sl_store_source_list (sl_store_t *self, const char *workspace, int64_t due_ms,
                          char **json_out);

//  Delete the source with its items and runs (not its documents: the
//  sources service deletes those first). NOT_FOUND if none.
int sl_store_source_delete (sl_store_t *self, const char *workspace, const char *id);

//  The source is next due at next_ms.
int sl_store_source_set_next (sl_store_t *self, const char *id, int64_t next_ms);

//  *json_out (caller frees) gets the source's items as one JSON object,
//  item key -> its evidence ({} if none).
int sl_store_source_items (sl_store_t *self, const char *id, char **json_out);

//  Record item key's evidence (JSON text) for the source; evidence NULL
//  forgets the item.
int sl_store_source_item_put (sl_store_t *self, const char *id, const char *key,
                              const char *evidence);

//  Record (insert or replace) run run_id of source id, its row as JSON text.
int sl_store_source_run_put (sl_store_t *self, const char *id, const char *run_id,
                             const char *json, int64_t started_ms);

//  *json_out (caller frees) gets a JSON array of the source's last limit
//  runs, newest first.
int sl_store_source_runs (sl_store_t *self, const char *id, int limit, char **json_out);

//  Keep the source's newest keep runs (>= 1), delete the older ones.
int sl_store_source_runs_trim (sl_store_t *self, const char *id, int keep);

//  The source name stops naming its document, as a re-ingest under another
//  name would: unless another source still names it (a renamed file whose
//  copy was stored under its new name keeps it), the document is marked
//  deleting (sl_store_document_tombstone: hidden at once) for the delete
//  service to remove. doc_out (may be NULL) gets the document it named (""
//  if none). OK if the source named nothing.
int sl_store_source_forget (sl_store_t *self, const char *workspace, const char *source,
                            char doc_out [SL_STORE_ID]);

//  --------------------------------------------------------------------------
//  Metrics

//  Row counts for metrics.
int sl_store_stats (sl_store_t *self, sl_store_stats_t *stats);

#endif
