/*  sl_store_node: the store as a node's actors see it.

    One store handle per process (sl_store_shared), opened on first use
    from store.url and shared by every actor of the process; the
    msgpack shapes of jobs and documents every store-side actor answers
    with (docs/protocol.md); and two replies actors share: a job as the
    answer to a request, an event submitted to the journal. Lives in the
    store library so that actors take the shared store from here, never
    from another actor's header.
*/
#ifndef SL_STORE_NODE_H_INCLUDED
#define SL_STORE_NODE_H_INCLUDED

#include "sl_node.h"
#include "sl_store.h"
#include "sl_mp.h"
#include <czmq.h>

//  The process's store, opened from store.url (default
//  sqlite:<data>/sluice.db) on first use. The node owns it (closed when
//  the node is destroyed); NULL with a reason in err if it cannot open.
sl_store_t *sl_store_shared (sl_node_t *node, char *err, size_t errlen);

//  The stage boundary's gate (sl_worker_config_t.admit; arg: the node):
//  false if the message's job was cancelled, after removing the job's
//  artifacts (data/jobs/<job>/); false also, leaving the artifacts alone,
//  for a message of an earlier run of a job retried since (its envelope's
//  run is below the job's). One read of the job's row in the store
//  every stage process opens, so it holds when stages are processes on
//  other hosts. True when in doubt (no store, a failed read, a job nobody
//  recorded): a cancel must never cost a job that was not cancelled.
bool sl_store_job_gate (const sl_envelope_t *env, void *node);

//  Pack a job / document as a msgpack map (the shapes in docs/protocol.md).
void sl_store_pack_job (sl_mpw_t *w, const sl_store_job_t *job);
void sl_store_pack_doc (sl_mpw_t *w, const sl_store_doc_t *doc);

//  Reply {"job": {...}} to a request.
void sl_store_reply_job (sl_ctx_t *ctx, const sl_store_job_t *job);

//  Submit an event for job (as if a stage had emitted it) through the
//  journal: the envelope is added to the handler's successors.
void sl_store_emit_event (sl_ctx_t *ctx, const char *job, const char *ws, const void *event,
                          size_t size);

//  The delete service's message for document doc_id of ws (actors/delete):
//  job id the document id (so the broker's SUBMIT ifabsent knows it), id
//  derived from (document, salt) (the time: a document deleted, ingested
//  again and deleted again gets a new message), body {id, sha256, pages_blob} (the blobs to collect once it
//  is gone, kept in the message so a redelivery after the row went still
//  knows them), at most max_attempts deliveries before the DLQ. NULL if
//  out of memory.
sl_envelope_t *sl_store_delete_envelope (const char *ws, const char *doc_id, const char *sha256,
                                         const char *pages_blob, const char *salt,
                                         int max_attempts);

#endif
