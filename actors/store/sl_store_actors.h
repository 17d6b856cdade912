/*  sl_store_actors: the four actors that live next to the store, because
    each of them reads or writes the system of record:

      intake   records a new job durably (state queued), then starts it on
               its route; refuses with 429 when too many jobs are unfinished.
               Also re-drives jobs that went quiet (a crashed process, a lost
               broker) with leases, so exactly one process re-drives a job.
      store    the last pipeline stage: commits a document's chunks and
               vectors in one transaction and completes the job.
      journal  persists every job event with a per-job sequence number,
               moves the job's state along, and publishes the event live.
      query    answers questions: job status, event history, library,
               chunks, search, delete.

    They share one store handle per process (sl_store_shared).
*/
#ifndef SL_STORE_ACTORS_H_INCLUDED
#define SL_STORE_ACTORS_H_INCLUDED

#include "sl_node.h"
#include "sl_store.h"
#include "sl_mp.h"
#include <czmq.h>

extern const sl_actor_def_t sl_intake_actor;
extern const sl_actor_def_t sl_store_actor;
extern const sl_actor_def_t sl_journal_actor;
extern const sl_actor_def_t sl_query_actor;

//  The process's store, opened from store.url (default
//  sqlite:<data>/sluice.db) on first use.
sl_store_t *sl_store_shared (sl_node_t *node, char *err, size_t errlen);

//  Storage admission for intake: may workspace ws take a new job for blob
//  (an upload already in the blob area, or NULL for a URL)? Refreshes the
//  blob's mtime first, so the collector (sl_janitor) sees it adopted, and
//  refuses (400) a blob that is gone; then checks the storage quota and
//  the data folder's free space (sl_quota). Returns 0 to accept, else an
//  HTTP status (400, 413 over quota, 507 disk full) with the reason in err.
int sl_store_admit (sl_node_t *node, const char *ws, const char *blob, char *err, size_t errlen);

//  Pack a job / document as a msgpack map (the shapes in docs/protocol.md).
void sl_store_pack_job (sl_mpw_t *w, const sl_store_job_t *job);
void sl_store_pack_doc (sl_mpw_t *w, const sl_store_doc_t *doc);

//  Reply {"job": {...}} to a request.
void sl_store_reply_job (sl_ctx_t *ctx, const sl_store_job_t *job);

//  Submit an event for job (as if a stage had emitted it) through the
//  journal: the envelope is added to the handler's successors.
void sl_store_emit_event (sl_ctx_t *ctx, const char *job, const char *ws, const void *event, size_t size);

#endif
