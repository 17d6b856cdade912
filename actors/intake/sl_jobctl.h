/*  sl_jobctl: job control, the requests intake serves besides ingest.

    A person may stop a job, run a failed one again, and hold a
    workspace's new work for a while. Every decision is a row in the store
    (sl_store_job_control), so any intake process may answer, a restart
    forgets nothing, and a commit racing a cancel is ordered by the
    database, not by who asked first.

    Requests (REQUEST intake/<kind>, the workspace is the envelope's):
      cancel {job}   unfinished -> cancelled. The job's artifacts are
                     removed now; a stage that receives one of its
                     messages later drops it at the boundary (the worker
                     runtime's gate, sl_store_job_gate), a long parse stops
                     between pages, the store stage's commit writes nothing
                     (the job row is locked by the commit, so a commit
                     either finished before the cancel, which then answers
                     409 "already completed", or writes nothing after it).
                     Event job_cancelled {stage: where it was}.
                     404 no such job in this workspace; 409 it has finished
                     (completed, failed, cancelled) with the state in the
                     reason.
      retry {job}    failed | cancelled -> queued, from its start, with the
                     same source (the URL again, or the same uploaded blob)
                     and options; attempts start again from 0; event
                     job_started {retry: true}. 409 for a job that is
                     running or completed; 410 when its upload is no longer
                     in the blob area (collected after storage.gc_grace_s).
                     In a paused workspace the retried job is held.
      pause {}       the workspace's intake is paused: new ingests (and
                     retries) are accepted and recorded, but held (not
                     started; event job_held); running jobs go on.
      resume {}      not paused any more; up to SL_JOBCTL_RESUME_MAX held
                     jobs start, oldest first (event job_started); the reply
                     says how many are still held (call again).
      ws_state {}    {paused, held}.
      reprocess {document, from}
                     a new job over a stored document, without fetch or
                     parse: from "chunk" its kept parse output (the blob
                     documents.pages_blob names, hard-linked as pages.mp)
                     goes through chunk with the workspace's chunking now,
                     embed and store; from "embed" its stored chunks are
                     written back as chunks.mp and go through embed and
                     store. The commit replaces the document's chunks,
                     vectors and pages (sl_doc_meta_t.recut). 404 unknown
                     document, 409 no kept pages (stored before they were
                     kept: ingest it again), 400 another "from". Held in a
                     paused workspace; its options are an ingest of the
                     document's own bytes marked "reprocess", so a re-drive
                     (or a resume) goes the long way and still recuts.
    Failure model: each request changes one row (or one flag) and then
    submits what follows with its REPLY; a crash between the two leaves a
    queued job with no message, which the re-driver sends again after
    jobs.stale_s, as for any lost message. A held job is never re-driven.
*/
#ifndef SL_JOBCTL_H_INCLUDED
#define SL_JOBCTL_H_INCLUDED

#include "sl_store.h"
#include "sl_worker.h"

#define SL_JOBCTL_RESUME_MAX 1000

struct sl_blob_s;

//  The first pipeline envelope of job: its ingest body (msgpack), route
//  fetch .. store, an id derived from the job and salt (a new salt, a new
//  message), attempts deliveries before it is dead-lettered.
sl_envelope_t *sl_jobctl_first_envelope (const char *job, const char *ws, const void *body,
                                         size_t size, const char *salt, int attempts);

//  Is kind one of the requests above?
bool sl_jobctl_handles (const char *kind);

//  Answer one of them. blobs: the node's blob area.
sl_outcome_t sl_jobctl_handle (sl_ctx_t *ctx, sl_store_t *store, struct sl_blob_s *blobs,
                               int attempts);

//  The event a job accepted into a paused workspace gets instead of
//  job_started (submitted with the ctx's reply).
void sl_jobctl_held_event (sl_ctx_t *ctx, const char *job, const char *ws);

#endif
