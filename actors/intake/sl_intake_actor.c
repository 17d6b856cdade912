/*  sl_intake_actor: the front door of every ingest job.

    A job is recorded in the store (state queued, with the ingest request
    kept as its options) BEFORE the caller hears "accepted", and the first
    pipeline envelope leaves with the same REPLY, so an accepted job is
    never only in someone's memory. When more than jobs.max_pending jobs
    are unfinished the answer is 429: backpressure that survives restarts,
    unlike a queue bound. A workspace over its storage quota gets 413, a
    data folder short of space 507 (s_admit, sl_quota).

    The re-driver thread wakes every jobs.redrive_interval_s and looks at
    the jobs nobody has touched for jobs.stale_s (no event, no stage
    change). Such a job is either waiting (its message sits in a broker
    queue behind a backlog, or no worker serves its stage right now: it
    will move, however long that takes) or lost (its holder died and the
    broker lost it, or the broker crashed without its snapshot). Only the
    broker knows which, so the re-driver leases the job (one intake process
    per job) and submits a fresh ingest message with SUBMIT "ifabsent": the
    broker queues it only if it holds no live message of the job, in the
    same step as it checks. Held: the job waits, no attempt is spent, and
    it is asked about again a stale period later. Queued: the job is
    re-driven from fetch and an attempt is counted. Either way a job never
    has two messages in the pipeline. A job lost jobs.max_attempts times is
    failed with the stage it was stuck in (unless, by then, the broker holds
    its message after all) instead of looping forever on a document that
    kills its parser. Outcomes are counted in sluice_redrive_total{outcome}.
    In the embedded mode, where one process is the whole system, jobs left
    unfinished by a previous run that crashed are looked at at once on
    start (after a clean stop the broker's snapshot carries them on, and
    when they go quiet the broker answers that it holds them).
*/
#include "sl_store_node.h"
#include "sl_blob.h"
#include "sl_chunking.h"
#include "sl_client.h"
#include "sl_json.h"
#include "sl_filter.h"
#include "sl_jobctl.h"
#include "sl_log.h"
#include "sl_metrics.h"
#include "sl_mp.h"
#include "sl_proto.h"
#include "sl_quota.h"
#include "sl_util.h"

#include <czmq.h>
#include <pthread.h>
#include <sys/stat.h>

#define PIPELINE_ROUTE "fetch,parse,chunk,embed,store"

typedef struct {
    sl_node_t *node;
    sl_store_t *store;
    int64_t max_pending;
    int64_t stale_ms;
    int64_t interval_ms;
    int max_attempts;
    int message_attempts;       //  deliveries of one pipeline message before it is dead-lettered
    bool embedded;
    char owner [128];
    pthread_t thread;
    volatile bool stopping;
    pthread_mutex_t pending_lock;
    int64_t pending;
    int64_t pending_at;
    sl_metrics_t *metrics;      //  the node's: sluice_redrive_total{outcome}
} intake_t;

//  Build the first pipeline envelope of a job from its ingest body.
static sl_envelope_t *
s_ingest_envelope (const char *job, const char *ws, const void *body, size_t size, const char *salt)
{
    sl_envelope_t *env = sl_envelope_new ("ingest", job, ws);
    if (!env)
        return NULL;
    sl_envelope_set_route (env, PIPELINE_ROUTE);
    char id [SL_ID_LEN + 1];
    sl_id_derive (id, job, "ingest", salt);
    sl_envelope_set_id (env, id);
    sl_envelope_set_body (env, body, size);
    return env;
}

//  Called under the node's registry lock: must not ask the registry for
//  anything else (the store), or it would wait on itself
static void *
s_quota_open (sl_node_t *node, char *err, size_t errlen)
{
    return sl_quota_new (sl_node_config (node), sl_node_data_dir (node));
}

static void
s_quota_close (void **item)
{
    sl_quota_destroy ((sl_quota_t **) item);
}

//  Storage admission: may workspace ws take a new job for blob
//  (an upload already in the blob area, or NULL for a URL)? Refreshes the
//  blob's mtime first, so the collector (sl_janitor) sees it adopted, and
//  refuses (400) a blob that is gone; then checks the storage quota and
//  the data folder's free space (sl_quota). Returns 0 to accept, else an
//  HTTP status (400, 413 over quota, 507 disk full) with the reason in err.
static int
s_admit (sl_node_t *node, const char *ws, const char *blob, char *err, size_t errlen)
{
    int64_t incoming = 0;
    if (blob && *blob) {
        //  The job is about to rely on this blob: say so to the collector,
        //  and if the collector took it a moment ago, say so to the caller
        sl_blob_t *blobs = sl_node_blob (node, err, errlen);
        char path [1200];
        struct stat st;
        if (!blobs || sl_blob_touch (blobs, blob) != 0 || sl_blob_path (blobs, blob, path, sizeof path)
        ||  stat (path, &st) != 0) {
            snprintf (err, errlen, "blob %.16s… is not in the blob area (uploads not used within "
                      "storage.gc_grace_s are collected): upload it again", blob);
            return 400;
        }
        incoming = (int64_t) st.st_size;
    }
    sl_store_t *store = sl_store_shared (node, err, errlen);
    sl_quota_t *quota = (sl_quota_t *) sl_node_shared (node, "quota", s_quota_open, s_quota_close,
                                                       err, errlen);
    return store && quota ? sl_quota_check (quota, store, ws, incoming, err, errlen) : 0;
}

//  Unfinished jobs. Counting every job by state on every ingest made
//  intake slower as the jobs table grew, so the count is refreshed at most
//  once a second and estimated in between (+1 per accepted job) — except
//  near the limit, where it is always counted exactly before refusing.
static int64_t
s_pending (intake_t *self)
{
    int64_t now = sl_mono_ms ();
    pthread_mutex_lock (&self->pending_lock);
    if (now - self->pending_at >= 1000 || self->pending + 1 >= self->max_pending) {
        sl_store_stats_t stats;
        if (sl_store_stats (self->store, &stats) == SL_STORE_OK) {
            self->pending = 0;
            for (int s = SL_STORE_QUEUED; s <= SL_STORE_STORING; s++)
                self->pending += stats.jobs [s];
        }
        self->pending_at = now;
    }
    int64_t n = ++self->pending;            //  count this one until the next refresh
    pthread_mutex_unlock (&self->pending_lock);
    return n - 1;
}

//  The ingest's attributes (sl_filter.h): body.meta, a map or the JSON
//  text of one (from clients without a JSON library: libsluice). 0 with
//  *meta_p (NULL if none), or -1 with the reason in why.
static int
s_meta (const msgpack_object *body, sl_meta_t **meta_p, char *why, size_t whylen)
{
    const msgpack_object *meta = sl_mp_get (body, "meta");
    *meta_p = NULL;
    if (!meta || meta->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (meta->type == MSGPACK_OBJECT_STR)
        *meta_p = sl_meta_parse (meta->via.str.ptr, (ptrdiff_t) meta->via.str.size, why, whylen);
    else {
        json_t *object = sl_json_from_mp (meta);
        *meta_p = sl_meta_from_json (object, why, whylen);
        json_decref (object);
    }
    return *meta_p ? 0 : -1;
}

static sl_outcome_t
s_intake (sl_ctx_t *ctx, void *state)
{
    intake_t *self = (intake_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const msgpack_object *body = sl_ctx_body (ctx);
    const char *ws = sl_envelope_workspace (env);
    if (sl_jobctl_handles (sl_envelope_kind (env))) {
        char why [256];
        return sl_jobctl_handle (ctx, self->store, sl_node_blob (self->node, why, sizeof why),
                                 self->message_attempts);
    }
    char url [2048] = "", blob [SL_SHA256_HEX] = "", mime [128] = "";
    sl_mp_get_str (body, "url", url, sizeof url);
    sl_mp_get_str (body, "blob", blob, sizeof blob);
    sl_mp_get_str (body, "mime", mime, sizeof mime);
    if (!*ws) {
        sl_ctx_reply_error (ctx, 400, "request has no workspace");
        return SL_DONE;
    }
    if (!body || (!*url && !*blob) || (*url && *blob)) {
        sl_ctx_reply_error (ctx, 400, "ingest needs exactly one of 'url' or 'blob'");
        return SL_DONE;
    }
    if (*url && strncmp (url, "http://", 7) && strncmp (url, "https://", 8) && strncmp (url, "file://", 7)) {
        sl_ctx_reply_error (ctx, 400, "unsupported URL scheme in '%.100s' (http, https, file)", url);
        return SL_DONE;
    }
    //  The document's identity: the URL, or the caller's name for the
    //  upload (maybe a folder-relative path), checked before anything is
    //  counted or recorded; an unnamed upload is named after its job below
    const msgpack_object *name = sl_mp_get (body, "filename");
    const char *filename = NULL;
    size_t filename_len = 0;
    char source [SL_STORE_SOURCE], why [400];
    if (name && name->type != MSGPACK_OBJECT_NIL && sl_mp_bytes (name, &filename, &filename_len)) {
        sl_ctx_reply_error (ctx, 400, "'filename' must be a string");
        return SL_DONE;
    }
    if (sl_store_source_name (url, *url ? NULL : filename, filename_len, NULL, source,
                              sizeof source, why, sizeof why)) {
        sl_ctx_reply_error (ctx, 400, "%s", why);
        return SL_DONE;
    }
    //  Attributes are checked here too, not only at the HTTP edge: clients
    //  of the broker come here directly, and the store's commit must never
    //  meet attributes it refuses
    sl_meta_t *checked = NULL;
    if (s_meta (body, &checked, why, sizeof why)) {
        sl_ctx_reply_error (ctx, 400, "%s", why);
        return SL_DONE;
    }
    sl_meta_destroy (&checked);     //  read again below, where the job is made
    char err [512] = "";
    sl_blob_t *blobs = sl_node_blob (self->node, err, sizeof err);
    if (*blob && (!blobs || !sl_blob_exists (blobs, blob))) {
        sl_ctx_reply_error (ctx, 400, "blob %.16s… is not in the blob area", blob);
        return SL_DONE;
    }
    int refused = s_admit (self->node, ws, blob, err, sizeof err);
    if (refused) {
        sl_ctx_reply_error (ctx, refused, "%s", err);
        return SL_DONE;
    }
    int64_t pending = s_pending (self);
    if (pending >= self->max_pending) {
        pthread_mutex_lock (&self->pending_lock);
        self->pending--;
        pthread_mutex_unlock (&self->pending_lock);
        sl_ctx_reply_error (ctx, 429, "%lld jobs are unfinished (limit %lld): retry later",
                            (long long) pending, (long long) self->max_pending);
        return SL_DONE;
    }
    //  The caller may name the job (the edge does): a request retried after
    //  a lost reply then finds the same job instead of creating a second
    char job [SL_TOKEN_MAX + 1];
    if (*sl_envelope_job (env))
        snprintf (job, sizeof job, "%s", sl_envelope_job (env));
    else
        sl_id_new (job);
    sl_store_job_t existing;
    memset (&existing, 0, sizeof existing);
    if (sl_store_job_get (self->store, job, &existing) == SL_STORE_OK) {
        if (streq (existing.workspace, ws))
            //  A retry: the job is running (or the re-driver will see to it)
            sl_store_reply_job (ctx, &existing);
        else
            sl_ctx_reply_error (ctx, 409, "job id %s is already taken", job);
        sl_store_job_reset (&existing);
        return SL_DONE;
    }
    if (!*source && sl_store_source_name (NULL, NULL, 0, job, source, sizeof source, why,
                                          sizeof why)) {
        pthread_mutex_lock (&self->pending_lock);
        self->pending--;            //  not accepted after all
        pthread_mutex_unlock (&self->pending_lock);
        sl_ctx_reply_error (ctx, 400, "%s", why);
        return SL_DONE;
    }
    //  The job's source goes into the ingest body (replacing any the
    //  caller sent), so the stages know the name the store will give the
    //  document: parse names a mail attachment after its message's source
    //  The workspace's own chunking settings, if it has any, are stamped
    //  on the job (kept in its options, so a re-driven job is cut as it
    //  was first asked to be); whatever the caller sent under that name
    //  goes
    char chunking_json [1100] = "", chunking_err [256];
    sl_chunking_t own;
    sl_chunking_from_config (&own, NULL);
    bool chunking = sl_store_workspace_chunking (self->store, ws, chunking_json,
                                                 sizeof chunking_json) == SL_STORE_OK
                 && sl_chunking_apply_text (&own, chunking_json, chunking_err,
                                            sizeof chunking_err) == 1;
    sl_mpw_t named;
    sl_mpw_init (&named);
    s_meta (body, &checked, why, sizeof why);
    const char *except [] = { "source", "meta", "chunking", NULL };
    sl_mpw_map_extend (&named, body, except, 1 + (checked ? 1 : 0) + (chunking ? 1 : 0));
    sl_mpw_kv_str (&named, "source", source);
    if (chunking) {
        sl_mpw_key (&named, "chunking");
        sl_chunking_pack (&own, &named);
    }
    if (checked) {
        //  as a map, whatever form it came in: the job's options keep it so
        sl_mpw_key (&named, "meta");
        sl_json_to_mp ((json_t *) checked->object, &named);
        sl_meta_destroy (&checked);
    }
    size_t size = named.buf.size;
    const void *raw = named.buf.data;
    char *options = sl_json_text_from_mp (raw, size);
    int rc = sl_store_job_create (self->store, job, ws, source, *blob ? blob : NULL,
                                  *mime ? mime : NULL, options);
    free (options);
    if (rc != SL_STORE_OK) {
        sl_mpw_reset (&named);
        sl_error (job, "cannot record job: %s", sl_store_errmsg (self->store));
        sl_ctx_set_error (ctx, "store: %s", sl_store_errmsg (self->store));
        return SL_RETRY;
    }
    //  A paused workspace keeps what it is given, but starts nothing: the
    //  store made the job held (the re-driver leaves it alone) until resume
    sl_store_job_t row;
    memset (&row, 0, sizeof row);
    if (sl_store_job_get (self->store, job, &row) == SL_STORE_OK && row.held) {
        sl_mpw_reset (&named);
        sl_jobctl_held_event (ctx, job, ws);
        sl_store_reply_job (ctx, &row);
        sl_store_job_reset (&row);
        sl_info (job, "accepted %s into workspace %s, held: its intake is paused", source, ws);
        return SL_DONE;
    }
    sl_store_job_reset (&row);
    sl_envelope_t *first = s_ingest_envelope (job, ws, raw, size, "0");
    sl_mpw_reset (&named);
    sl_envelope_set_max_attempts (first, (uint32_t) self->message_attempts);
    sl_ctx_submit (ctx, &first);
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 3);
    sl_mpw_kv_str (&w, "type", "job_started");
    sl_mpw_kv_str (&w, "source", source);
    sl_mpw_kv_int (&w, "ts", sl_now_ms ());
    sl_store_emit_event (ctx, job, ws, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);

    sl_store_job_get (self->store, job, &row);
    sl_store_reply_job (ctx, &row);
    sl_store_job_reset (&row);
    sl_info (job, "accepted %s into workspace %s", source, ws);
    return SL_DONE;
}

//  ---------------------------------------------------------------------
//  Re-driver

//  What happened to one stale job, counted in sluice_redrive_total.
typedef enum {
    S_REDRIVEN,         //  the broker held nothing of it: sent again, attempt + 1
    S_HELD,             //  the broker still holds its message: it waits, left alone
    S_ABANDONED,        //  lost jobs.max_attempts times: failed
    S_ERROR,            //  no answer from the broker: tried again next pass
    S_PASSED            //  leased by another process, or just finished
} s_redrive_t;

static const char *s_redrive_names [] = { "redriven", "held", "abandoned", "error" };

//  The broker vouches for the job: its message waits in a queue (a backlog,
//  no worker for that stage right now) or a worker is on it. Nothing was
//  lost and no attempt is counted. The job's updated time moves so it
//  leaves the stale listing for another stale period: each waiting job is
//  asked about once per jobs.stale_s, and the listing reaches the ones
//  behind it instead of returning the same oldest jobs every pass.
static s_redrive_t
s_still_held (intake_t *self, sl_store_job_t *job, const char *why)
{
    sl_debug (job->id, "not re-driven: %s", why);
    sl_store_job_t row;
    memset (&row, 0, sizeof row);
    if (sl_store_job_get (self->store, job->id, &row) == SL_STORE_OK)
        sl_store_job_progress (self->store, job->id, row.percent);
    sl_store_job_reset (&row);
    return S_HELD;
}

//  The job was lost once more than jobs.max_attempts allows. Its failure
//  goes to the journal as a dead_letter event submitted "ifabsent", so a
//  job whose message turned up in the broker after all (a worker ACKed
//  late) is left to finish rather than failed under it.
static s_redrive_t
s_fail_abandoned (intake_t *self, sl_client_t *client, sl_store_job_t *job, int attempt)
{
    char reason [512];
    const char *stage = job->stage == SL_STORE_STAGE_NONE ? "fetch" : sl_store_stage_name (job->stage);
    snprintf (reason, sizeof reason, "abandoned after %d attempts: the job stopped making progress "
              "during %s each time (a worker crashed or ran out of memory?)", attempt, stage);
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 4);
    sl_mpw_kv_str (&w, "type", "dead_letter");
    sl_mpw_kv_str (&w, "stage", stage);
    sl_mpw_kv_str (&w, "reason", reason);
    sl_mpw_kv_int (&w, "ts", sl_now_ms ());
    sl_envelope_t *env = sl_envelope_new ("event", job->id, job->workspace);
    sl_envelope_route_append (env, "journal");
    sl_envelope_set_max_attempts (env, 10);
    sl_envelope_set_body (env, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    sl_client_result_t res;
    sl_client_rc_t rc = sl_client_submit_if_absent (client, env, 5000, &res);
    sl_envelope_destroy (&env);
    if (rc == SL_CLIENT_ERROR && res.code == SL_ERR_HELD)
        return s_still_held (self, job, res.reason);
    if (rc == SL_CLIENT_TIMEOUT || rc == SL_CLIENT_BUSY) {
        sl_warn (job->id, "cannot fail abandoned job now: %s", res.reason);
        return S_ERROR;     //  no answer: the broker may hold it; ask again next pass
    }
    if (rc != SL_CLIENT_OK)
        sl_store_job_fail (self->store, job->id, job->stage, reason);     //  at least record it
    sl_store_job_attempt (self->store, job->id, NULL);
    sl_warn (job->id, "%s", reason);
    return S_ABANDONED;
}

//  A stale job (no event for jobs.stale_s) is either waiting, with its
//  message held by the broker, or lost, with none. Only the broker can
//  tell, so the new ingest message is submitted "ifabsent": the broker
//  queues it only if it holds no live message of the job, in the same step
//  as it checks. A refusal means the job waits; no attempt is spent on it.
static s_redrive_t
s_redrive_one (intake_t *self, sl_client_t *client, sl_store_job_t *job)
{
    int64_t now = sl_now_ms ();
    if (sl_store_job_lease (self->store, job->id, self->owner, now, now + self->stale_ms) != SL_STORE_OK)
        return S_PASSED;        //  another process has it, or it just finished
    //  The attempt this would be, counted only once the broker took it
    int attempt = job->attempts + 1;
    if (attempt >= self->max_attempts)
        return s_fail_abandoned (self, client, job, attempt);
    json_error_t error;
    json_t *options = job->options ? json_loads (job->options, 0, &error) : NULL;
    sl_mpw_t w;
    sl_mpw_init (&w);
    if (!options || sl_json_to_mp (options, &w)) {
        sl_store_job_fail (self->store, job->id, SL_STORE_STAGE_NONE, "cannot re-drive: job options unreadable");
        json_decref (options);
        sl_mpw_reset (&w);
        return S_ABANDONED;
    }
    json_decref (options);
    //  The time in the salt makes every re-drive a new message id: had the
    //  store refused to count an attempt after the broker took the message,
    //  the next re-drive would reuse the id, and the broker would take it
    //  for a retry of a message it completed long ago and queue nothing
    char salt [48];
    snprintf (salt, sizeof salt, "%d.%lld", attempt, (long long) now);
    sl_envelope_t *env = s_ingest_envelope (job->id, job->workspace, w.buf.data, w.buf.size, salt);
    sl_envelope_set_max_attempts (env, (uint32_t) self->message_attempts);
    sl_envelope_set_run (env, (uint32_t) job->run);
    sl_mpw_reset (&w);
    sl_client_result_t res;
    sl_client_rc_t rc = sl_client_submit_if_absent (client, env, 5000, &res);
    sl_envelope_destroy (&env);
    if (rc == SL_CLIENT_ERROR && res.code == SL_ERR_HELD)
        return s_still_held (self, job, res.reason);
    if (rc != SL_CLIENT_OK) {
        sl_warn (job->id, "re-drive submit failed: %s", res.reason);
        return S_ERROR;
    }
    //  Counting moves the job's updated time too: the next look at it is a
    //  stale period away
    sl_store_job_attempt (self->store, job->id, NULL);
    sl_info (job->id, "re-driven (attempt %d): no progress since %lld ms ago and the broker "
             "holds no message of it", attempt, (long long) (now - job->updated_ms));
    return S_REDRIVEN;
}

//  One pass over the unfinished jobs untouched since cutoff, at most a
//  page of them. Returns how many were listed.
static int
s_redrive_pass (intake_t *self, sl_client_t *client, int64_t cutoff)
{
    sl_store_job_t *jobs = NULL;
    int count = 0;
    if (sl_store_jobs_unfinished (self->store, cutoff, 100, &jobs, &count) != SL_STORE_OK)
        return 0;
    for (int i = 0; i < count && !self->stopping; i++) {
        s_redrive_t outcome = s_redrive_one (self, client, &jobs [i]);
        if (outcome != S_PASSED) {
            char labels [32];
            snprintf (labels, sizeof labels, "outcome=\"%s\"", s_redrive_names [outcome]);
            sl_metrics_add (self->metrics, "sluice_redrive_total", labels, 1);
        }
    }
    sl_store_jobs_free (&jobs, count);
    return count;
}

//  A broker pair: has the broker we reach changed since we last asked
//  (its "epoch": a failover, or a restart)? Then the messages the old one
//  held in memory are gone, and every unfinished job must be asked about
//  now rather than once it has been quiet for jobs.stale_s: the new
//  broker holds what workers brought with them (sl_broker.c, s_adopt), so
//  SUBMIT ifabsent still tells a job in flight from a lost one.
static bool
s_broker_changed (sl_client_t *client, char *epoch, size_t cap)
{
    char *data = NULL;
    size_t size = 0;
    char now [SL_ID_LEN + 1] = "";
    if (sl_client_stats (client, 2000, &data, &size, NULL) == SL_CLIENT_OK) {
        sl_mp_t *mp = sl_mp_decode (data, size, NULL, 0);
        if (mp)
            sl_mp_get_str (sl_mp_root (mp), "epoch", now, sizeof now);
        sl_mp_destroy (&mp);
    }
    free (data);
    if (!*now)
        return false;           //  no answer, or a single broker
    bool changed = *epoch && strcmp (epoch, now) != 0;
    snprintf (epoch, cap, "%s", now);
    return changed;
}

static void *
s_redriver (void *args)
{
    intake_t *self = (intake_t *) args;
    sl_log_set_role ("redrive");
    const char *broker = sl_node_broker (self->node);
    sl_client_t *client = sl_client_new (broker, sl_node_curve_client (self->node),
                                         sl_node_curve_server (self->node));
    bool pair = strchr (broker, ',') != NULL;
    char epoch [SL_ID_LEN + 1] = "";
    int64_t started = sl_now_ms ();
    bool first = true, failover = false;
    while (!self->stopping && client) {
        //  First pass of an embedded node: everything unfinished is an
        //  orphan of the previous run. After a failover: everything
        //  unfinished, page after page (each job asked about leaves the
        //  listing). Later passes: only what went quiet.
        if (failover) {
            int64_t cutoff = sl_now_ms ();
            sl_warn (NULL, "the broker changed (failover or restart): asking about every unfinished job now");
            //  Bounded: jobs another intake leases stay in the listing
            for (int page = 0; page < 100 && !self->stopping; page++)
                if (s_redrive_pass (self, client, cutoff) < 100)
                    break;
            failover = false;
        }
        else {
            int64_t cutoff = first && self->embedded ? started : sl_now_ms () - self->stale_ms;
            s_redrive_pass (self, client, cutoff);
        }
        first = false;
        for (int64_t t = 0; t < self->interval_ms && !self->stopping && !failover; t += 100) {
            zclock_sleep (100);
            if (pair && t % 1000 == 0)
                failover = s_broker_changed (client, epoch, sizeof epoch);
        }
    }
    sl_client_destroy (&client);
    return NULL;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    sl_store_t *store = sl_store_shared (node, err, errlen);
    if (!store)
        return NULL;
    sl_config_t *cfg = sl_node_config (node);
    intake_t *self = calloc (1, sizeof *self);
    self->node = node;
    self->store = store;
    pthread_mutex_init (&self->pending_lock, NULL);
    self->max_pending = sl_config_int (cfg, "jobs.max_pending", 10000);
    self->stale_ms = sl_config_int (cfg, "jobs.stale_s", 120) * 1000;
    self->interval_ms = sl_config_int (cfg, "jobs.redrive_interval_s", 10) * 1000;
    self->max_attempts = (int) sl_config_int (cfg, "jobs.max_attempts", 3);
    self->message_attempts = (int) sl_config_int (cfg, "jobs.message_attempts", 5);
    self->embedded = sl_config_bool (cfg, "jobs.redrive_orphans", false);
    char host [64] = "host";
    gethostname (host, sizeof host);
    snprintf (self->owner, sizeof self->owner, "%s:%d", host, getpid ());
    //  Every outcome's series exists from the start: "0 re-driven" is an
    //  answer a dashboard (or a test) can read, an absent series is not
    self->metrics = sl_node_metrics (node);
    sl_metrics_declare (self->metrics, "sluice_redrive_total", SL_COUNTER,
                        "Stale jobs the re-driver looked at, by outcome: redriven (the broker held "
                        "no message of it: sent again), held (the broker still holds its message: "
                        "it waits, no attempt spent), abandoned (failed after jobs.max_attempts), error");
    for (size_t i = 0; i < sizeof s_redrive_names / sizeof s_redrive_names [0]; i++) {
        char labels [32];
        snprintf (labels, sizeof labels, "outcome=\"%s\"", s_redrive_names [i]);
        sl_metrics_add (self->metrics, "sluice_redrive_total", labels, 0);
    }
    if (sl_config_bool (cfg, "jobs.redrive", true))
        pthread_create (&self->thread, NULL, s_redriver, self);
    return self;
}

static void
s_stop (void **state_p)
{
    intake_t *self = (intake_t *) *state_p;
    if (self) {
        self->stopping = true;
        if (self->thread)
            pthread_join (self->thread, NULL);
        free (self);
        *state_p = NULL;
    }
}

//  Four handlers: an accept is short and mostly waits on SQLite and the
//  broker, and four overlap those waits (A/B on the accept-only bench:
//  +11 to +46 % req/s over two, and less CPU per accept)
const sl_actor_def_t sl_intake_actor = {
    .name = "intake", .default_concurrency = 4,
    .start = s_start, .handler = s_intake, .stop = s_stop
};
