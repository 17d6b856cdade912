/*  sl_jobctl: job control as intake serves it. See sl_jobctl.h.
*/
#include "sl_jobctl.h"
#include "sl_blob.h"
#include "sl_chunking.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_records.h"
#include "sl_store_node.h"
#include "sl_util.h"

#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define PIPELINE_ROUTE "fetch,parse,chunk,embed,store"

static const char *s_kinds [] = { "cancel", "retry", "pause", "resume", "ws_state", "reprocess",
                                  NULL };

sl_envelope_t *
sl_jobctl_first_envelope (const char *job, const char *ws, const void *body, size_t size,
                          const char *salt, int attempts)
{
    sl_envelope_t *env = sl_envelope_new ("ingest", job, ws);
    if (!env)
        return NULL;
    sl_envelope_set_route (env, PIPELINE_ROUTE);
    char id [SL_ID_LEN + 1];
    sl_id_derive (id, job, "ingest", salt);
    sl_envelope_set_id (env, id);
    sl_envelope_set_body (env, body, size);
    sl_envelope_set_max_attempts (env, (uint32_t) attempts);
    return env;
}

bool
sl_jobctl_handles (const char *kind)
{
    for (int i = 0; s_kinds [i]; i++)
        if (streq (kind, s_kinds [i]))
            return true;
    return false;
}

//  An event of the job, through the journal, sent with the reply.
//  run: the job's run it is about (the request that makes it is no
//  message of the job, so the worker cannot stamp it)
static void
s_event (sl_ctx_t *ctx, const char *job, const char *ws, const char *type, const char *stage,
         bool retry, int run)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 2 + (stage ? 1 : 0) + (retry ? 1 : 0) + (run ? 1 : 0));
    sl_mpw_kv_str (&w, "type", type);
    if (run)
        sl_mpw_kv_int (&w, "run", run);
    if (stage)
        sl_mpw_kv_str (&w, "stage", stage);
    if (retry)
        sl_mpw_kv_bool (&w, "retry", true);
    sl_mpw_kv_int (&w, "ts", sl_now_ms ());
    sl_store_emit_event (ctx, job, ws, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

void
sl_jobctl_held_event (sl_ctx_t *ctx, const char *job, const char *ws)
{
    s_event (ctx, job, ws, "job_held", NULL, false, 0);
}

//  Send the job on from its start: its stored ingest body, a new message
//  id (salted with why and the time, so the broker never takes it for a
//  message it completed before). 0, or -1 if its options are unreadable.
static int
s_start (sl_ctx_t *ctx, const sl_store_job_t *job, const char *why, int attempts)
{
    json_error_t error;
    json_t *options = job->options ? json_loads (job->options, 0, &error) : NULL;
    sl_mpw_t w;
    sl_mpw_init (&w);
    int rc = !options || sl_json_to_mp (options, &w) ? -1 : 0;
    json_decref (options);
    if (rc == 0) {
        char salt [48];
        snprintf (salt, sizeof salt, "%s.%lld", why, (long long) sl_now_ms ());
        sl_envelope_t *first = sl_jobctl_first_envelope (job->id, job->workspace, w.buf.data,
                                                         w.buf.size, salt, attempts);
        //  every message of this run carries its number (sl_store_job_gate)
        sl_envelope_set_run (first, (uint32_t) job->run);
        sl_ctx_submit (ctx, &first);
        s_event (ctx, job->id, job->workspace, "job_started", NULL, streq (why, "retry"),
                 job->run);
    }
    sl_mpw_reset (&w);
    return rc;
}

//  A store refusal as the caller's answer: the store's reason is written
//  for a person already
static sl_outcome_t
s_refuse (sl_ctx_t *ctx, sl_store_t *store, int rc)
{
    if (rc == SL_STORE_NOT_FOUND)
        sl_ctx_reply_error (ctx, 404, "%s", sl_store_errmsg (store));
    else
    if (rc == SL_STORE_TERMINAL || rc == SL_STORE_CONFLICT)
        sl_ctx_reply_error (ctx, 409, "%s", sl_store_errmsg (store));
    else {
        sl_ctx_set_error (ctx, "store: %s", sl_store_errmsg (store));
        return SL_RETRY;
    }
    return SL_DONE;
}

static sl_outcome_t
s_cancel (sl_ctx_t *ctx, sl_store_t *store, sl_blob_t *blobs, const char *id, const char *ws)
{
    sl_store_job_t job;
    int rc = sl_store_job_control (store, id, ws, SL_STORE_CANCEL, &job);
    if (rc != SL_STORE_OK) {
        sl_store_job_reset (&job);
        return s_refuse (ctx, store, rc);
    }
    //  What the stages made so far goes now; a stage still writing loses
    //  the rest at its boundary (the gate removes it again)
    if (blobs)
        sl_blob_job_remove (blobs, id);
    s_event (ctx, id, ws, "job_cancelled",
             job.stage == SL_STORE_STAGE_NONE ? NULL : sl_store_stage_name (job.stage), false,
             job.run);
    sl_store_reply_job (ctx, &job);
    sl_info (id, "cancelled (it was %s)", job.stage == SL_STORE_STAGE_NONE ? "queued"
                                                     : sl_store_stage_name (job.stage));
    sl_store_job_reset (&job);
    return SL_DONE;
}

//  The upload a job was made from, if any, must still be in the blob area
//  for it to run again. 0, or -1 with a reply sent.
static int
s_blob_still_there (sl_ctx_t *ctx, sl_store_t *store, sl_blob_t *blobs, const char *id,
                    const char *ws)
{
    sl_store_job_t job;
    memset (&job, 0, sizeof job);
    int rc = sl_store_job_get (store, id, &job);
    if (rc == SL_STORE_OK && !streq (job.workspace, ws))
        rc = SL_STORE_NOT_FOUND;
    json_error_t error;
    json_t *options = rc == SL_STORE_OK && job.options ? json_loads (job.options, 0, &error) : NULL;
    const char *blob = json_string_value (json_object_get (options, "blob"));
    bool retryable = job.state == SL_STORE_FAILED || job.state == SL_STORE_CANCELLED;
    bool gone = retryable && blob && blobs && sl_blob_touch (blobs, blob) != 0;
    if (gone)
        sl_ctx_reply_error (ctx, 410, "job %s was made from an upload that is no longer in the "
                            "blob area (uploads of failed jobs are collected after "
                            "storage.gc_grace_s): ingest the file again", id);
    json_decref (options);
    sl_store_job_reset (&job);
    return gone ? -1 : 0;
}

static sl_outcome_t
s_retry (sl_ctx_t *ctx, sl_store_t *store, sl_blob_t *blobs, const char *id, const char *ws,
         int attempts)
{
    if (s_blob_still_there (ctx, store, blobs, id, ws))
        return SL_DONE;
    bool paused = false;
    sl_store_workspace_paused (store, ws, &paused);
    sl_store_job_t job;
    int rc = sl_store_job_control (store, id, ws, paused ? SL_STORE_RESTART_HELD : SL_STORE_RESTART,
                                   &job);
    if (rc != SL_STORE_OK) {
        sl_store_job_reset (&job);
        return s_refuse (ctx, store, rc);
    }
    //  Its old artifacts (a failed job keeps them until the collector
    //  comes) must not be read as this run's
    if (blobs)
        sl_blob_job_remove (blobs, id);
    if (paused)
        s_event (ctx, id, ws, "job_held", NULL, false, job.run);
    else
    if (s_start (ctx, &job, "retry", attempts)) {
        sl_store_job_fail (store, id, SL_STORE_STAGE_NONE, "cannot retry: job options unreadable");
        sl_ctx_reply_error (ctx, 500, "job %s cannot be retried: its recorded options are "
                            "unreadable; ingest the document again", id);
        sl_store_job_reset (&job);
        return SL_DONE;
    }
    sl_store_reply_job (ctx, &job);
    sl_info (id, "retried%s", paused ? " (held: the workspace is paused)" : "");
    sl_store_job_reset (&job);
    return SL_DONE;
}

//  {"workspace", "paused", "held"} as the reply
static void
s_reply_state (sl_ctx_t *ctx, const char *ws, bool paused, int64_t held, int64_t started)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, started >= 0 ? 4 : 3);
    sl_mpw_kv_str (&w, "workspace", ws);
    sl_mpw_kv_bool (&w, "paused", paused);
    sl_mpw_kv_int (&w, "held", held);
    if (started >= 0)
        sl_mpw_kv_int (&w, "started", started);
    sl_ctx_reply (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

//  Held jobs of the workspace, oldest first, up to limit: release each
//  (one guarded write: of two resumes, one releases it) and start it.
//  *held gets how many are still held after this pass.
static int64_t
s_release_held (sl_ctx_t *ctx, sl_store_t *store, const char *ws, int limit, int attempts,
                int64_t *held)
{
    int64_t started = 0;
    *held = 0;
    for (int offset = 0; ; offset += 500) {
        sl_store_job_t *jobs = NULL;
        int count = 0;
        if (sl_store_job_list (store, ws, "queued", 500, offset, &jobs, &count) != SL_STORE_OK)
            break;
        //  newest first: walk each page backwards for the oldest
        for (int i = count - 1; i >= 0; i--) {
            if (!jobs [i].held)
                continue;
            sl_store_job_t row;
            memset (&row, 0, sizeof row);
            if (started < limit
            &&  sl_store_job_control (store, jobs [i].id, ws, SL_STORE_RELEASE, &row) == SL_STORE_OK
            &&  s_start (ctx, &row, "resume", attempts) == 0)
                started++;
            else
                (*held)++;
            sl_store_job_reset (&row);
        }
        sl_store_jobs_free (&jobs, count);
        if (count < 500)
            break;
    }
    return started;
}

static sl_outcome_t
s_pause (sl_ctx_t *ctx, sl_store_t *store, const char *ws, bool pause, int attempts)
{
    if (sl_store_workspace_set_paused (store, ws, pause) != SL_STORE_OK) {
        sl_ctx_set_error (ctx, "store: %s", sl_store_errmsg (store));
        return SL_RETRY;
    }
    int64_t held = 0, started = -1;
    if (pause) {
        sl_info (NULL, "workspace %s: intake paused (new jobs are held)", ws);
        s_release_held (ctx, store, ws, 0, attempts, &held);
    }
    else {
        started = s_release_held (ctx, store, ws, SL_JOBCTL_RESUME_MAX, attempts, &held);
        sl_info (NULL, "workspace %s: intake resumed, %lld held jobs started, %lld still held",
                 ws, (long long) started, (long long) held);
    }
    s_reply_state (ctx, ws, pause, held, started);
    return SL_DONE;
}

//  The kept pages of a document into the new job's folder as pages.mp:
//  a hard link (the blob area and the jobs folder share a file system;
//  nobody writes pages.mp in place, OCR replaces it by rename), else a
//  copy. 0, or -1 with errno.
static int
s_place_pages (sl_blob_t *blobs, const char *sha, const char *job)
{
    char from [1200], dir [1200], to [1300];
    if (sl_blob_path (blobs, sha, from, sizeof from) || sl_blob_job_dir (blobs, job, dir, sizeof dir))
        return -1;
    snprintf (to, sizeof to, "%s/pages.mp", dir);
    unlink (to);
    if (link (from, to) == 0)
        return 0;
    int in = open (from, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open (to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char buf [65536];
    ssize_t n = 0;
    while (out >= 0 && (n = read (in, buf, sizeof buf)) > 0)
        if (write (out, buf, (size_t) n) != n) {
            n = -1;
            break;
        }
    int rc = in >= 0 && out >= 0 && n == 0 ? 0 : -1;
    int saved = errno;
    if (in >= 0)
        close (in);
    if (out >= 0 && close (out) != 0)
        rc = -1;
    errno = saved;
    return rc;
}

//  The body the first stage gets, as if the stage before had just made
//  it: the document's facts, the chunking (for "chunk" the workspace's
//  now, for "embed" the one its chunks were cut with), what the store must
//  do, and for "embed" the chunk count
static void
s_reprocess_body (sl_mpw_t *w, sl_store_t *store, const sl_store_doc_t *doc, const char *ws,
                  const char *from, int64_t chunks)
{
    char text [1100] = "", err [256];
    sl_chunking_t own;
    sl_chunking_from_config (&own, NULL);
    bool embed = streq (from, "embed");
    bool chunking = embed ? doc->chunking && sl_chunking_apply_text (&own, doc->chunking, err, sizeof err) == 1
                  : sl_store_workspace_chunking (store, ws, text, sizeof text) == SL_STORE_OK
                    && sl_chunking_apply_text (&own, text, err, sizeof err) == 1;
    msgpack_pack_map (&w->pk, 8 + (chunking ? 1 : 0) + (doc->mime ? 1 : 0) + (embed ? 1 : 0));
    sl_mpw_kv_str (w, "sha256", doc->sha256);
    sl_mpw_kv_int (w, "size", doc->bytes);
    sl_mpw_kv_str (w, "source", doc->source ? doc->source : "");
    sl_mpw_kv_str (w, "title", doc->title ? doc->title : "");
    sl_mpw_kv_int (w, "pages", doc->pages);
    sl_mpw_kv_int (w, "attachments", 0);
    sl_mpw_kv_str (w, "reprocess", from);
    sl_mpw_kv_str (w, "document", doc->id);
    if (doc->mime)
        sl_mpw_kv_str (w, "mime", doc->mime);
    if (embed)
        sl_mpw_kv_int (w, "chunks", chunks);
    if (chunking) {
        sl_mpw_key (w, "chunking");
        sl_chunking_pack (&own, w);
    }
}

//  One stored chunk as chunk writes it in chunks.mp (sl_chunk_actor.c)
static int
s_chunk_record (sl_recw_t *out, sl_mpw_t *w, const sl_store_chunk_t *c)
{
    bool context = c->context && *c->context;
    msgpack_pack_map (&w->pk, 10 + (context ? 1 : 0) + (c->ocr ? 1 : 0));
    sl_mpw_kv_int (w, "o", c->ordinal);
    sl_mpw_kv_int (w, "ps", c->page_start);
    sl_mpw_kv_int (w, "pe", c->page_end);
    sl_mpw_kv_int (w, "cs", c->char_start);
    sl_mpw_kv_int (w, "ce", c->char_end);
    sl_mpw_kv_int (w, "tk", c->tokens);
    sl_mpw_kv_str (w, "h", c->hash ? c->hash : "");
    sl_mpw_kv_str (w, "t", c->text ? c->text : "");
    sl_mpw_kv_str (w, "k", c->kind);
    sl_mpw_kv_str (w, "sec", c->section ? c->section : "");
    if (context)
        sl_mpw_kv_str (w, "x", c->context);
    if (c->ocr)
        sl_mpw_kv_int (w, "oc", c->ocr_confidence);
    return sl_recw_write_mpw (out, w);
}

//  The document's stored chunks into the job's folder as chunks.mp, so
//  embed starts from them as they were cut. The count, or -1 (errno).
static int64_t
s_place_chunks (sl_store_t *store, sl_blob_t *blobs, const char *ws, const char *doc_id,
                const char *job)
{
    char dir [1200], path [1300];
    if (sl_blob_job_dir (blobs, job, dir, sizeof dir))
        return -1;
    snprintf (path, sizeof path, "%s/chunks.mp", dir);
    sl_recw_t *out = sl_recw_new (path);
    sl_mpw_t w;
    sl_mpw_init (&w);
    int64_t n = 0;
    int rc = out ? 0 : -1;
    for (int offset = 0; rc == 0; offset += 1000) {
        sl_store_chunk_t *chunks = NULL;
        int count = 0;
        if (sl_store_chunks_list (store, ws, doc_id, 1000, offset, &chunks, &count, NULL)) {
            errno = EIO;
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < count; i++, n++)
            rc = s_chunk_record (out, &w, &chunks [i]);
        sl_store_chunks_free (&chunks, count);
        if (count < 1000)
            break;
    }
    sl_mpw_reset (&w);
    if (rc == 0 && sl_recw_commit (&out) == 0)
        return n;
    sl_recw_abort (&out);
    return -1;
}

//  The job's options (an ingest body, JSON text, malloc'd) from the body
//  chunk gets: the blob, the source, the chunking and "reprocess"
static char *
s_reprocess_options (const sl_mpw_t *w, const char *blob)
{
    char err [128];
    json_t *from = sl_json_from_msgpack (w->buf.data, w->buf.size, err, sizeof err);
    json_t *options = json_object ();
    const char *keep [] = { "source", "chunking", "reprocess", "document", NULL };
    for (int i = 0; keep [i]; i++)
        if (json_object_get (from, keep [i]))
            json_object_set (options, keep [i], json_object_get (from, keep [i]));
    json_object_set_new (options, "blob", json_string (blob));
    char *text = json_dumps (options, JSON_COMPACT);
    json_decref (from);
    json_decref (options);
    return text;
}

//  The first message of a reprocess job: as if the stage before the one
//  it starts at had just sent it
static void
s_reprocess_submit (sl_ctx_t *ctx, const char *job, const char *ws, bool embed,
                    const sl_mpw_t *body, int attempts)
{
    sl_envelope_t *first = sl_envelope_new (embed ? "chunked" : "parsed", job, ws);
    sl_envelope_set_route (first, embed ? "embed,store" : "chunk,embed,store");
    char mid [SL_ID_LEN + 1];
    sl_id_derive (mid, job, "reprocess", "0");
    sl_envelope_set_id (first, mid);
    sl_envelope_set_body (first, body->buf.data, body->buf.size);
    sl_envelope_set_max_attempts (first, (uint32_t) attempts);
    sl_ctx_submit (ctx, &first);
    s_event (ctx, job, ws, "job_started", NULL, false, 0);
}

//  Make the job for document doc and start it (or hold it, paused): what
//  its first stage reads goes into its folder first. 0, or -1 (errno)
static int
s_reprocess_start (sl_ctx_t *ctx, sl_store_t *store, sl_blob_t *blobs, const char *ws,
                   const sl_store_doc_t *doc, const char *from, int attempts)
{
    bool embed = streq (from, "embed");
    char job [SL_ID_LEN + 1];
    sl_id_new (job);
    int64_t chunks = embed ? s_place_chunks (store, blobs, ws, doc->id, job) : 0;
    if (chunks < 0) {
        sl_blob_job_remove (blobs, job);
        return -1;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    s_reprocess_body (&w, store, doc, ws, from, chunks);
    //  Its options are an ingest of the document's own bytes that says
    //  "reprocess": a re-drive (a lost message) fetches and parses it
    //  again, and still recuts it (fetch passes it on)
    char *options = s_reprocess_options (&w, doc->sha256);
    sl_store_job_t row;
    memset (&row, 0, sizeof row);
    int rc = !options || sl_store_job_create (store, job, ws, doc->source, doc->sha256, doc->mime,
                                              options)
          || sl_store_job_get (store, job, &row)
          || (!row.held && !embed && s_place_pages (blobs, doc->pages_blob, job)) ? -1 : 0;
    free (options);
    if (rc)
        sl_store_job_fail (store, job, SL_STORE_STAGE_NONE, "reprocess: cannot place its input");
    else
    if (row.held)
        sl_jobctl_held_event (ctx, job, ws);    //  resume starts it from its options
    else
        s_reprocess_submit (ctx, job, ws, embed, &w, attempts);
    if (rc == 0) {
        sl_store_reply_job (ctx, &row);
        sl_info (job, "reprocessing document %s from %s%s", doc->id, from, row.held ? " (held)" : "");
    }
    sl_mpw_reset (&w);
    sl_store_job_reset (&row);
    return rc;
}

//  reprocess {document, from: "chunk"}: a new job whose route starts at
//  chunk, over the document's kept parse output; its commit replaces the
//  document's chunks (sl_doc_meta_t.recut). In a paused workspace it is
//  held like any new job, and resume starts it from its options: fetched
//  and parsed again, still a recut (fetch passes "reprocess" on)
static sl_outcome_t
s_reprocess (sl_ctx_t *ctx, sl_store_t *store, sl_blob_t *blobs, const char *ws, int attempts)
{
    const msgpack_object *body = sl_ctx_body (ctx);
    char id [SL_STORE_TOKEN] = "", from [16] = "";
    if (!body || sl_mp_get_str (body, "document", id, sizeof id) || !sl_token_valid (id)) {
        sl_ctx_reply_error (ctx, 400, "reprocess needs {\"document\": \"<document id>\", "
                            "\"from\": \"chunk\"}");
        return SL_DONE;
    }
    sl_mp_get_str (body, "from", from, sizeof from);
    bool embed = streq (from, "embed");
    if (!embed && !streq (from, "chunk")) {
        sl_ctx_reply_error (ctx, 400, "reprocess from '%.16s' is not possible: from \"chunk\" "
                            "cuts the document again with the workspace's settings and embeds it, "
                            "from \"embed\" embeds its chunks again as they are", from);
        return SL_DONE;
    }
    sl_store_doc_t doc;
    int rc = sl_store_document_get (store, ws, id, &doc);
    sl_outcome_t outcome = SL_DONE;
    if (rc == SL_STORE_NOT_FOUND)
        sl_ctx_reply_error (ctx, 404, "no document %s in this workspace", id);
    else
    if (rc != SL_STORE_OK || !blobs) {
        sl_ctx_set_error (ctx, "store: %s", rc ? sl_store_errmsg (store) : "no blob area");
        outcome = SL_RETRY;
    }
    else
    if (!embed && (!*doc.pages_blob || sl_blob_touch (blobs, doc.pages_blob) != 0))
        sl_ctx_reply_error (ctx, 409, "document %s has no kept parse output (it was stored "
                            "before pages were kept, or they were lost): ingest it again, or "
                            "reprocess it from \"embed\"", id);
    else
    if (s_reprocess_start (ctx, store, blobs, ws, &doc, from, attempts)) {
        sl_ctx_set_error (ctx, "reprocess: cannot start: %s", strerror (errno));
        outcome = SL_RETRY;
    }
    sl_store_doc_reset (&doc);
    return outcome;
}

sl_outcome_t
sl_jobctl_handle (sl_ctx_t *ctx, sl_store_t *store, sl_blob_t *blobs, int attempts)
{
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const char *kind = sl_envelope_kind (env);
    const char *ws = sl_envelope_workspace (env);
    if (!*ws) {
        sl_ctx_reply_error (ctx, 400, "request has no workspace");
        return SL_DONE;
    }
    if (streq (kind, "pause") || streq (kind, "resume"))
        return s_pause (ctx, store, ws, streq (kind, "pause"), attempts);
    if (streq (kind, "ws_state")) {
        bool paused = false;
        int64_t held = 0;
        sl_store_workspace_paused (store, ws, &paused);
        s_release_held (ctx, store, ws, 0, attempts, &held);
        s_reply_state (ctx, ws, paused, held, -1);
        return SL_DONE;
    }
    if (streq (kind, "reprocess"))
        return s_reprocess (ctx, store, blobs, ws, attempts);
    char id [SL_STORE_TOKEN] = "";
    const msgpack_object *body = sl_ctx_body (ctx);
    if (!body || sl_mp_get_str (body, "job", id, sizeof id) || !sl_token_valid (id)) {
        sl_ctx_reply_error (ctx, 400, "%s needs {\"job\": \"<job id>\"}", kind);
        return SL_DONE;
    }
    if (streq (kind, "cancel"))
        return s_cancel (ctx, store, blobs, id, ws);
    return s_retry (ctx, store, blobs, id, ws, attempts);
}
