/*  sluice_client: the C client of Sluice for internal callers, speaking the
    broker protocol over ZeroMQ (docs/protocol.md §5) rather than HTTP.

    What it does
        connect to a broker endpoint (CURVE-encrypted when the broker
        requires it), submit documents by URL, by bytes, by file or from a
        reader callback (bytes travel in 1 MiB parts through the broker's
        `upload` service, never as one giant message, and never need the
        server's data folder), read a job, follow a job's events (the same
        events, with the same seq numbers, as the HTTP edge's SSE stream),
        search, list and delete documents.

    Results
        Every call returns a sluice_rc_t. SLUICE_OK is success, SLUICE_BUSY
        means the server is saturated and did nothing: retry after
        sluice_client_retry_ms (). Negative values are errors; the client
        keeps the server's status (HTTP-like: 400, 404, 413, 503...) and a
        message a person can act on until the next call
        (sluice_client_status, sluice_client_message).

    Timeouts
        Every call that talks to the server takes timeout_ms (<= 0 means
        the client's default, 10 s, see sluice_client_set_timeout). For
        uploads it bounds each round trip (one 1 MiB part), so a large
        upload is never cut off for being large, only for stalling. A
        SLUICE_TIMEOUT means no answer came in time: the request may or may
        not have been carried out. Ingest calls are safe to repeat with the
        same job id (see sluice_client_ingest_url).

    Memory
        Objects returned through a pointer argument (sluice_job_t,
        sluice_event_t, sluice_hits_t, sluice_docs_t, sluice_watch_t) are
        the caller's: destroy each with its _destroy function, which nulls
        the caller's pointer and is safe on NULL. const char * results
        belong to the object they came from and live as long as it does.
        Buffers returned as void ** are freed with sluice_free ().

    Threads
        A sluice_client_t, and the watches made from it, must be used by
        one thread at a time (ZeroMQ sockets are not thread-safe). Use one
        client per thread: a client is one socket and one TCP connection.
        Different clients may be used concurrently from different threads.
        Result objects (jobs, events, hits, documents) are plain values: any
        thread may read them, and destroy them once.
        The library disables czmq's default SIGINT/SIGTERM handler, so the
        application's own signal handling is left alone.

    Versioning
        SLUICE_VERSION_* give the library version. Within one major version
        the functions below keep their signatures and meaning; new
        functions and new sluice_rc_t values may be added (treat an unknown
        negative value as an error).
*/
#ifndef SLUICE_CLIENT_H_INCLUDED
#define SLUICE_CLIENT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_VERSION_MAJOR 0
#define SLUICE_VERSION_MINOR 1
#define SLUICE_VERSION_PATCH 0

//  Size of a buffer that holds any job or document id (64 chars + NUL).
#define SLUICE_ID_SIZE 65

#if defined(__GNUC__) && defined(SLUICE_BUILDING)
#   define SLUICE_EXPORT __attribute__ ((visibility ("default")))
#else
#   define SLUICE_EXPORT
#endif

typedef enum {
    SLUICE_OK = 0,
    SLUICE_BUSY = 1,            //  saturated, nothing done: retry after sluice_client_retry_ms ()
    SLUICE_END = 2,             //  sluice_watch_next: every watched job finished, all events given
    SLUICE_TIMEOUT = -1,        //  no answer in time; the request may or may not have been done
    SLUICE_EINVAL = -2,         //  bad argument, found before sending anything
    SLUICE_ENOTFOUND = -3,      //  no such job, document or upload in this workspace (404)
    SLUICE_EREFUSED = -4,       //  the server refused the request (400, 409, 413, 415...)
    SLUICE_EUNAVAILABLE = -5,   //  no worker serves the service right now (503)
    SLUICE_EAUTH = -6,          //  the security handshake failed: key refused or wrong broker key
    SLUICE_EIO = -7,            //  a local file could not be read
    SLUICE_EPROTOCOL = -8,      //  an answer that could not be understood
    SLUICE_EINTERNAL = -9       //  the server failed (500)
} sluice_rc_t;

typedef struct _sluice_client_t sluice_client_t;
typedef struct _sluice_watch_t sluice_watch_t;
typedef struct _sluice_job_t sluice_job_t;
typedef struct _sluice_event_t sluice_event_t;
typedef struct _sluice_hits_t sluice_hits_t;
typedef struct _sluice_docs_t sluice_docs_t;

//  Name of a result code ("SLUICE_BUSY"); "SLUICE_?" for unknown values.
SLUICE_EXPORT const char *sluice_rc_name (int rc);

//  The library's version numbers (any pointer may be NULL).
SLUICE_EXPORT void sluice_version (int *major, int *minor, int *patch);

//  Free a buffer the library returned through a void ** argument.
SLUICE_EXPORT void sluice_free (void *data);

//  --------------------------------------------------------------------------
//  Client

//  Create a client for the broker at endpoint ("tcp://host:5555"). Nothing
//  is sent until sluice_client_connect. Returns NULL if endpoint is not a
//  ZeroMQ endpoint. Caller owns the result and must destroy it.
SLUICE_EXPORT sluice_client_t *sluice_client_new (const char *endpoint);

//  Close the sockets and free the client. Destroy its watches first; a
//  watch still open is detached (its calls then return SLUICE_EINVAL) and
//  must still be destroyed. Nulls *self_p; safe on NULL.
SLUICE_EXPORT void sluice_client_destroy (sluice_client_t **self_p);

//  Before connect: use CURVE with certificate files as written by
//  `sluiced --keygen`: client_cert is this client's secret certificate
//  (PATH_secret), broker_cert the broker's public one. SLUICE_OK, or
//  SLUICE_EIO if a file cannot be read.
SLUICE_EXPORT sluice_rc_t sluice_client_set_curve (sluice_client_t *self, const char *client_cert,
                                                   const char *broker_cert);

//  Before connect: use CURVE with Z85 keys (40 characters each).
//  SLUICE_OK, or SLUICE_EINVAL if a key is malformed.
SLUICE_EXPORT sluice_rc_t sluice_client_set_curve_keys (sluice_client_t *self, const char *public_key,
                                                        const char *secret_key, const char *broker_key);

//  Workspace for every later call (default "default"). SLUICE_OK, or
//  SLUICE_EINVAL if ws is not 1..64 of [A-Za-z0-9_.-].
SLUICE_EXPORT sluice_rc_t sluice_client_set_workspace (sluice_client_t *self, const char *ws);

//  Default timeout for calls given timeout_ms <= 0 (initially 10000 ms).
SLUICE_EXPORT void sluice_client_set_timeout (sluice_client_t *self, int timeout_ms);

//  Before connect: the broker's event endpoint. By default it is derived
//  from a tcp endpoint (port + 1); other transports must set it.
SLUICE_EXPORT sluice_rc_t sluice_client_set_events_endpoint (sluice_client_t *self, const char *endpoint);

//  Open the connection and check that the broker answers (and accepts
//  this client's key). SLUICE_OK, SLUICE_TIMEOUT (not reachable in time;
//  the client keeps trying in the background), SLUICE_EAUTH, SLUICE_EINVAL.
SLUICE_EXPORT sluice_rc_t sluice_client_connect (sluice_client_t *self, int timeout_ms);

//  About the last call: the server's HTTP-like status (0 after success),
//  its message ("" after success), and for SLUICE_BUSY how long to wait.
SLUICE_EXPORT int sluice_client_status (sluice_client_t *self);
SLUICE_EXPORT const char *sluice_client_message (sluice_client_t *self);
SLUICE_EXPORT int64_t sluice_client_retry_ms (sluice_client_t *self);

//  --------------------------------------------------------------------------
//  Submitting documents
//
//  job_id is in and out: pass "" to let the client name the job, or a name
//  of your own (1..64 of [A-Za-z0-9_.-]) to make the call idempotent: after
//  a SLUICE_TIMEOUT, calling again with the id written back gives the same
//  job instead of a second one. On SLUICE_OK it holds the job's id.

//  Ingest the document at url (http, https).
SLUICE_EXPORT sluice_rc_t sluice_client_ingest_url (sluice_client_t *self, const char *url,
                                                    char job_id [SLUICE_ID_SIZE], int timeout_ms);

//  Ingest size bytes (sent in 1 MiB parts). filename and mime may be NULL;
//  the server sniffs the type either way.
SLUICE_EXPORT sluice_rc_t sluice_client_ingest_bytes (sluice_client_t *self, const void *data, size_t size,
                                                      const char *filename, const char *mime,
                                                      char job_id [SLUICE_ID_SIZE], int timeout_ms);

//  Ingest the file at path, streamed from disk in 1 MiB parts. mime may be
//  NULL. SLUICE_EIO if the file cannot be read.
SLUICE_EXPORT sluice_rc_t sluice_client_ingest_file (sluice_client_t *self, const char *path, const char *mime,
                                                     char job_id [SLUICE_ID_SIZE], int timeout_ms);

//  The same with attributes for the document: meta_json is a JSON object's
//  text ({"team": "legal", "year": 2024}, see POST /v1/ingest "meta"),
//  checked by the server (a refusal is SLUICE_EREFUSED, status 400, with
//  the reason in sluice_client_message); NULL: none.
//  Without meta a document ingested again keeps its attributes; with meta
//  they are replaced.
SLUICE_EXPORT sluice_rc_t sluice_client_ingest_url_meta (sluice_client_t *self, const char *url,
                                                         const char *meta_json,
                                                         char job_id [SLUICE_ID_SIZE], int timeout_ms);

//  A source of bytes: copy up to max bytes into buf; return the count, 0
//  at the end, or -1 on error (the upload is abandoned with SLUICE_EIO).
typedef ssize_t (sluice_read_fn) (void *arg, void *buf, size_t max);

//  Ingest bytes pulled from read (size = total bytes, or -1 if unknown).
SLUICE_EXPORT sluice_rc_t sluice_client_ingest_stream (sluice_client_t *self, sluice_read_fn *read, void *arg,
                                                       int64_t size, const char *filename, const char *mime,
                                                       char job_id [SLUICE_ID_SIZE], int timeout_ms);
//  The same with attributes (meta_json as for sluice_client_ingest_url_meta).
SLUICE_EXPORT sluice_rc_t sluice_client_ingest_stream_meta (sluice_client_t *self, sluice_read_fn *read,
                                                            void *arg, int64_t size, const char *filename,
                                                            const char *mime, const char *meta_json,
                                                            char job_id [SLUICE_ID_SIZE], int timeout_ms);

//  --------------------------------------------------------------------------
//  Jobs

//  Read job job_id into *job_p (caller destroys).
SLUICE_EXPORT sluice_rc_t sluice_client_job (sluice_client_t *self, const char *job_id, sluice_job_t **job_p,
                                             int timeout_ms);

//  Cancel job_id: it stops at its next stage boundary, what it made is
//  removed and nothing of it is stored; *job_p (may be NULL) gets it as it
//  is now ("cancelled"). A job that has finished is refused (status 409,
//  the message names its state); another workspace's job is not found.
SLUICE_EXPORT sluice_rc_t sluice_client_cancel (sluice_client_t *self, const char *job_id,
                                                sluice_job_t **job_p, int timeout_ms);

//  Run a failed or cancelled job again from its start; 409 for a job that
//  is running or completed, 410 if its upload was collected meanwhile.
SLUICE_EXPORT sluice_rc_t sluice_client_retry (sluice_client_t *self, const char *job_id,
                                               sluice_job_t **job_p, int timeout_ms);

//  Follow job_id until it completes, fails or is cancelled, then read it
//  into *job_p (may be NULL). timeout_ms bounds the whole wait here.
//  SLUICE_OK when the job is terminal (check sluice_job_state:
//  "completed", "failed" or "cancelled").
SLUICE_EXPORT sluice_rc_t sluice_client_wait (sluice_client_t *self, const char *job_id, sluice_job_t **job_p,
                                              int timeout_ms);

SLUICE_EXPORT const char *sluice_job_id (const sluice_job_t *self);
//  queued, fetching, parsing, chunking, embedding, storing, completed, failed
SLUICE_EXPORT const char *sluice_job_state (const sluice_job_t *self);
//  Current (or failing) stage, or NULL.
SLUICE_EXPORT const char *sluice_job_stage (const sluice_job_t *self);
SLUICE_EXPORT int sluice_job_percent (const sluice_job_t *self);
SLUICE_EXPORT bool sluice_job_terminal (const sluice_job_t *self);
SLUICE_EXPORT const char *sluice_job_source (const sluice_job_t *self);
//  The document made (completed jobs), or NULL.
SLUICE_EXPORT const char *sluice_job_document_id (const sluice_job_t *self);
//  Why the job failed, or NULL.
SLUICE_EXPORT const char *sluice_job_error (const sluice_job_t *self);
//  The whole job as JSON (fields in docs/protocol.md §4).
SLUICE_EXPORT const char *sluice_job_json (const sluice_job_t *self);
SLUICE_EXPORT void sluice_job_destroy (sluice_job_t **self_p);

//  --------------------------------------------------------------------------
//  Events
//
//  A watch follows one or more jobs: it subscribes to their live events
//  first, then reads what was stored before, so nothing falls between; it
//  drops duplicates by seq and fetches what a gap (a lost live message)
//  left out. Events come in seq order per job, each exactly once.

//  Create a watch on this client's broker (no jobs yet). Caller destroys
//  it before the client. SLUICE_OK or SLUICE_EINVAL (not connected, or no
//  event endpoint known).
SLUICE_EXPORT sluice_rc_t sluice_watch_new (sluice_client_t *client, sluice_watch_t **watch_p);

//  Add a job, resuming after event seq after_seq (0 = from its first
//  event). Checks that the job exists: SLUICE_ENOTFOUND otherwise.
SLUICE_EXPORT sluice_rc_t sluice_watch_add (sluice_watch_t *self, const char *job_id, int64_t after_seq,
                                            int timeout_ms);

//  Convenience: a new watch on one job.
SLUICE_EXPORT sluice_rc_t sluice_client_watch (sluice_client_t *self, const char *job_id, int64_t after_seq,
                                               sluice_watch_t **watch_p, int timeout_ms);

//  Wait up to timeout_ms (0 = just look) for the next event of any watched
//  job. SLUICE_OK with *event_p (caller destroys), SLUICE_TIMEOUT if none
//  came, SLUICE_END once every job has finished and all its events were
//  given. A job's last event is job_completed or job_failed.
SLUICE_EXPORT sluice_rc_t sluice_watch_next (sluice_watch_t *self, sluice_event_t **event_p, int timeout_ms);

//  Jobs of this watch that have not finished yet.
SLUICE_EXPORT int sluice_watch_pending (sluice_watch_t *self);

SLUICE_EXPORT void sluice_watch_destroy (sluice_watch_t **self_p);

//  Called for each event; return 0 to go on, non-zero to stop following.
typedef int (sluice_event_fn) (const sluice_event_t *event, void *arg);

//  Follow job_id from after_seq, calling fn for each event, until the job
//  finishes (SLUICE_OK), fn returns non-zero (SLUICE_OK), or timeout_ms
//  passes in total (SLUICE_TIMEOUT).
SLUICE_EXPORT sluice_rc_t sluice_client_follow (sluice_client_t *self, const char *job_id, int64_t after_seq,
                                                sluice_event_fn *fn, void *arg, int timeout_ms);

//  Per-job sequence number (1, 2, 3...), the SSE stream's event id.
SLUICE_EXPORT int64_t sluice_event_seq (const sluice_event_t *self);
//  job_started, stage_started, stage_progress, stage_completed,
//  stage_retry, dead_letter, job_completed, job_failed (new types may come)
SLUICE_EXPORT const char *sluice_event_type (const sluice_event_t *self);
SLUICE_EXPORT const char *sluice_event_job (const sluice_event_t *self);
//  Stage, progress message, failure reason, document id: NULL if absent.
SLUICE_EXPORT const char *sluice_event_stage (const sluice_event_t *self);
SLUICE_EXPORT const char *sluice_event_message (const sluice_event_t *self);
SLUICE_EXPORT const char *sluice_event_reason (const sluice_event_t *self);
SLUICE_EXPORT const char *sluice_event_document_id (const sluice_event_t *self);
//  Percent (stage_progress), or -1 if absent.
SLUICE_EXPORT int sluice_event_percent (const sluice_event_t *self);
//  ms since the epoch.
SLUICE_EXPORT int64_t sluice_event_ts (const sluice_event_t *self);
//  True for job_completed and job_failed.
SLUICE_EXPORT bool sluice_event_terminal (const sluice_event_t *self);
//  The event as one flat JSON object (the SSE `data:` line).
SLUICE_EXPORT const char *sluice_event_json (const sluice_event_t *self);
SLUICE_EXPORT void sluice_event_destroy (sluice_event_t **self_p);

//  --------------------------------------------------------------------------
//  Search and documents

//  The k (1..100) chunks that best match query, best first: hybrid search
//  (the nearest vectors fused with the chunks that hold every significant
//  query word).
SLUICE_EXPORT sluice_rc_t sluice_client_search (sluice_client_t *self, const char *query, int k,
                                                sluice_hits_t **hits_p, int timeout_ms);
//  The same with a ranking chosen: mode "hybrid" (or NULL), "vector" or
//  "lexical"; anything else is SLUICE_EINVAL.
SLUICE_EXPORT sluice_rc_t sluice_client_search_mode (sluice_client_t *self, const char *query, int k,
                                                     const char *mode, sluice_hits_t **hits_p,
                                                     int timeout_ms);
//  The same within some documents only (up to 100 ids from
//  sluice_client_documents; an id that is not a document of the workspace
//  matches nothing). n_documents 0: the whole workspace.
SLUICE_EXPORT sluice_rc_t sluice_client_search_within (sluice_client_t *self, const char *query, int k,
                                                       const char *mode, const char *const *documents,
                                                       size_t n_documents, sluice_hits_t **hits_p,
                                                       int timeout_ms);
//  The same limited by the documents' attributes and source: filter_json a
//  JSON object's text ({"team": "legal", "year": {"gte": 2020}}, see POST
//  /v1/search "filter"), source_prefix (only sources starting with it),
//  mimes [0..n_mimes) (only these types); each NULL / 0 for none. The
//  server checks them: a refusal is SLUICE_EREFUSED (400) with its reason
//  in sluice_client_message.
SLUICE_EXPORT sluice_rc_t sluice_client_search_filter (sluice_client_t *self, const char *query, int k,
                                                       const char *mode, const char *filter_json,
                                                       const char *source_prefix, const char *const *mimes,
                                                       size_t n_mimes, sluice_hits_t **hits_p,
                                                       int timeout_ms);
SLUICE_EXPORT size_t sluice_hits_size (const sluice_hits_t *self);
SLUICE_EXPORT double sluice_hits_score (const sluice_hits_t *self, size_t index);
SLUICE_EXPORT const char *sluice_hits_text (const sluice_hits_t *self, size_t index);
SLUICE_EXPORT const char *sluice_hits_document_id (const sluice_hits_t *self, size_t index);
SLUICE_EXPORT const char *sluice_hits_chunk_id (const sluice_hits_t *self, size_t index);
//  Title and source of the hit's document, or NULL.
SLUICE_EXPORT const char *sluice_hits_title (const sluice_hits_t *self, size_t index);
SLUICE_EXPORT const char *sluice_hits_source (const sluice_hits_t *self, size_t index);
SLUICE_EXPORT int sluice_hits_page_start (const sluice_hits_t *self, size_t index);
SLUICE_EXPORT int sluice_hits_page_end (const sluice_hits_t *self, size_t index);
//  Which ranking found the hit: "vector", "lexical" or "both". The score is
//  the cosine similarity to the query whatever found it.
SLUICE_EXPORT const char *sluice_hits_match (const sluice_hits_t *self, size_t index);
//  "text", or "table": the text is Markdown rows of one table, one per
//  line, its header row first (every piece of a long table repeats it).
SLUICE_EXPORT const char *sluice_hits_kind (const sluice_hits_t *self, size_t index);
//  The section path the hit's text sits under, outer heading first, joined
//  by " › " ("Installation › Configuring the network"); "" for none.
SLUICE_EXPORT const char *sluice_hits_section (const sluice_hits_t *self, size_t index);
//  The lowest OCR confidence (0-100) of the pages its text was read from
//  by OCR, or -1 if it was not OCR'd.
SLUICE_EXPORT int sluice_hits_ocr_confidence (const sluice_hits_t *self, size_t index);
//  Where the hit's text holds the words the lexical ranking matched (as the
//  index stems them): returns how many spans, *spans (may be NULL) gets
//  them, (*spans) [2i] and [2i + 1] the i-th's [start, end) in Unicode
//  code points of the text (not bytes), sorted; owned by the hits.
SLUICE_EXPORT size_t sluice_hits_highlights (const sluice_hits_t *self, size_t index, const int **spans);
//  The hit's document type ("application/pdf"...), or NULL if unknown.
SLUICE_EXPORT const char *sluice_hits_mime (const sluice_hits_t *self, size_t index);
//  The HTTP edge's link to the hit's document, at its page for a PDF:
//  "/v1/documents/<id>/content#page=3". Read the bytes here with
//  sluice_client_document_content.
SLUICE_EXPORT const char *sluice_hits_document_url (const sluice_hits_t *self, size_t index);
//  The embedding model that ranked them.
SLUICE_EXPORT const char *sluice_hits_model (const sluice_hits_t *self);
SLUICE_EXPORT const char *sluice_hits_json (const sluice_hits_t *self);
SLUICE_EXPORT void sluice_hits_destroy (sluice_hits_t **self_p);

//  A page of the workspace's documents (limit 1..1000), newest first.
SLUICE_EXPORT sluice_rc_t sluice_client_documents (sluice_client_t *self, int limit, int offset,
                                                   sluice_docs_t **docs_p, int timeout_ms);
SLUICE_EXPORT size_t sluice_docs_size (const sluice_docs_t *self);
//  Documents in the workspace (all pages).
SLUICE_EXPORT int64_t sluice_docs_total (const sluice_docs_t *self);
SLUICE_EXPORT const char *sluice_docs_id (const sluice_docs_t *self, size_t index);
SLUICE_EXPORT const char *sluice_docs_title (const sluice_docs_t *self, size_t index);
SLUICE_EXPORT const char *sluice_docs_source (const sluice_docs_t *self, size_t index);
SLUICE_EXPORT const char *sluice_docs_mime (const sluice_docs_t *self, size_t index);
SLUICE_EXPORT const char *sluice_docs_sha256 (const sluice_docs_t *self, size_t index);
SLUICE_EXPORT int64_t sluice_docs_pages (const sluice_docs_t *self, size_t index);
SLUICE_EXPORT int64_t sluice_docs_chunks (const sluice_docs_t *self, size_t index);
SLUICE_EXPORT int64_t sluice_docs_bytes (const sluice_docs_t *self, size_t index);
//  Document index's attributes as compact JSON object text
//  ({"team":"legal","year":2024}); "{}" when it has none. Never NULL; valid
//  until sluice_docs_destroy.
SLUICE_EXPORT const char *sluice_docs_meta (const sluice_docs_t *self, size_t index);
SLUICE_EXPORT const char *sluice_docs_json (const sluice_docs_t *self);
SLUICE_EXPORT void sluice_docs_destroy (sluice_docs_t **self_p);

//  Write document doc_id's stored bytes, as ingested, to out, read in
//  parts of up to 1 MiB; *size_p (may be NULL) gets how many. SLUICE_EINVAL
//  if it holds more than max_bytes (0: no bound), SLUICE_EIO if writing to
//  out fails, SLUICE_ENOTFOUND for another workspace's document, and
//  SLUICE_EREFUSED with status 410 if the stored bytes are gone.
SLUICE_EXPORT sluice_rc_t sluice_client_document_content (sluice_client_t *self, const char *doc_id,
                                                          FILE *out, int64_t max_bytes, int64_t *size_p,
                                                          int timeout_ms);

//  Re-tag document doc_id without ingesting it again: meta_json (a JSON
//  object's text) is merged over its attributes (merge true: a key set to
//  null goes) or replaces them (merge false). SLUICE_ENOTFOUND for another
//  workspace's id; the server's refusal of the attributes comes back with
//  its reason in sluice_client_message.
SLUICE_EXPORT sluice_rc_t sluice_client_document_meta (sluice_client_t *self, const char *doc_id,
                                                       const char *meta_json, bool merge, int timeout_ms);

//  Delete document doc_id with its chunks and vectors: SLUICE_OK once the
//  deletion is accepted (from then on no search returns it; the server's
//  delete service removes it shortly after). Deleting a document whose
//  deletion runs is SLUICE_OK again; one that is gone is SLUICE_ENOTFOUND.
SLUICE_EXPORT sluice_rc_t sluice_client_document_delete (sluice_client_t *self, const char *doc_id,
                                                         int timeout_ms);

//  --------------------------------------------------------------------------
//  Anything else: one request to service/kind with a msgpack body, as in
//  docs/protocol.md §4-5. The reply (msgpack) goes into *reply (free it
//  with sluice_free); a reply {"error": ...} is turned into its result code.
SLUICE_EXPORT sluice_rc_t sluice_client_call (sluice_client_t *self, const char *service, const char *kind,
                                              const void *body, size_t body_size, void **reply,
                                              size_t *reply_size, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
