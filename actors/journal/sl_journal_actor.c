/*  sl_journal_actor: the job's memory of what happened to it.

    Every event a stage emits (stage_started, stage_progress,
    stage_completed, stage_retry, job_started, job_completed) and every
    dead letter the broker reports arrives here as an `event` envelope. The
    journal, in this order:
      1. moves the job row along (state, stage timestamps, percent, or
         failed with stage + reason for a dead letter, which it renames
         job_failed);
      2. appends the event to the job's log with the next sequence number;
      3. publishes it live on the job's topic with that number.
    Persisting before publishing is what lets the HTTP edge replay history
    to a late or reconnecting SSE client and then continue live without a
    gap or a duplicate: both sides speak in the same sequence numbers.
    Progress and retry events for a job that already completed, failed or
    was cancelled are dropped (a slow duplicate delivery must not report
    progress after the end); stage_started/stage_completed are kept,
    because the last stage completes the job in the database before its
    own stage events, emitted earlier, have reached the journal, except
    for a cancelled job (a handler that was running when the cancel came:
    the log ends with job_cancelled); and so are parse's
    attachment/attachment_refused (the record of a mail's attachments).
    An event of an earlier run of a job that was retried since (its "run"
    below the job row's) moves nothing (s_stale).
*/
#include "sl_store_node.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_util.h"

//  Overall percent from a stage's own percent: five equal slices.
static int
s_overall (sl_store_stage_t stage, int64_t percent)
{
    if (stage == SL_STORE_STAGE_NONE)
        return 0;
    if (percent < 0)
        percent = 0;
    if (percent > 100)
        percent = 100;
    return (int) (((int64_t) stage * 100 + percent) / SL_STORE_STAGE_COUNT);
}

//  A stage's own events of a cancelled job (a handler that was running
//  when the cancel came, or a message that raced it) say nothing true any
//  more: the job's log ends with job_cancelled
static bool
s_cancelled (sl_store_t *store, const char *job, int rc)
{
    if (rc != SL_STORE_TERMINAL)
        return false;
    sl_store_job_t row;
    memset (&row, 0, sizeof row);
    bool cancelled = sl_store_job_get (store, job, &row) == SL_STORE_OK
                  && row.state == SL_STORE_CANCELLED;
    sl_store_job_reset (&row);
    return cancelled;
}

//  An event of an earlier run of a job retried since (its "run" is below
//  the job's; no "run" is run 0) must not move the job row: a handler of
//  the cancelled run, still at work when the retry came, would report its
//  stage, or fail the new run with a dead letter. Of those only the run's
//  own start and cancel are logged (with their run, so a follower can tell
//  them from the new run's); the rest is dropped.
static bool
s_stale (sl_store_t *store, const char *job, const char *type, const msgpack_object *event)
{
    int64_t run = 0;
    sl_mp_get_int (event, "run", &run);
    sl_store_job_t row;
    memset (&row, 0, sizeof row);
    bool stale = sl_store_job_get (store, job, &row) == SL_STORE_OK && run < row.run;
    sl_store_job_reset (&row);
    return stale && !streq (type, "job_started") && !streq (type, "job_cancelled");
}

//  Apply the event to the job row. Returns false to drop the event.
static bool
s_apply (sl_store_t *store, const char *job, const char *type, const msgpack_object *event,
         char *final_type, size_t cap)
{
    char stage_name [32] = "", reason [1024] = "";
    sl_mp_get_str (event, "stage", stage_name, sizeof stage_name);
    sl_mp_get_str (event, "reason", reason, sizeof reason);
    //  OCR runs between parse and chunk for documents with scanned pages;
    //  the job row has no columns of its own for it, so it counts as
    //  parsing there: its events keep the job fresh for the re-driver,
    //  and a failure in it is a failure while parsing (the reason says OCR)
    sl_store_stage_t stage = sl_store_stage_parse (streq (stage_name, "ocr") ? "parse" : stage_name);
    int64_t percent = 0;
    sl_mp_get_int (event, "percent", &percent);
    int64_t now = sl_now_ms ();
    snprintf (final_type, cap, "%s", type);
    int rc = SL_STORE_OK;
    if (streq (type, "stage_started") && stage != SL_STORE_STAGE_NONE) {
        //  Kept even if the job turned terminal meanwhile: the store stage
        //  completes the job in the database while its own stage_started is
        //  still on its way here, yet it was emitted before job_completed
        return !s_cancelled (store, job, sl_store_job_stage (store, job, stage, SL_STORE_STARTED, now));
    }
    else
    if (streq (type, "stage_completed") && stage != SL_STORE_STAGE_NONE) {
        //  Kept even when the job just turned terminal: the last stage
        //  completes the job before its own stage_completed arrives
        rc = sl_store_job_stage (store, job, stage, SL_STORE_FINISHED, now);
        if (rc == SL_STORE_OK && stage != SL_STORE_STAGE_STORE)
            sl_store_job_progress (store, job, s_overall (stage, 100));
        return !s_cancelled (store, job, rc);
    }
    else
    if (streq (type, "stage_progress") && stage != SL_STORE_STAGE_NONE)
        rc = sl_store_job_progress (store, job, s_overall (stage, percent));
    else
    if (streq (type, "dead_letter")) {
        rc = sl_store_job_fail (store, job, stage, *reason ? reason : "failed");
        snprintf (final_type, cap, "job_failed");
    }
    else
    if (streq (type, "job_completed") || streq (type, "job_failed") || streq (type, "job_cancelled"))
        return true;            //  the terminal event itself is always kept
    else
    if (streq (type, "attachment") || streq (type, "attachment_refused"))
        //  Kept too: parse records a mail attachment it submitted before it
        //  forwards, but the event may arrive after the job completed
        return true;
    else {
        //  stage_retry, job_started and unknown types: log only, unless terminal
        sl_store_job_t row;
        memset (&row, 0, sizeof row);
        if (sl_store_job_get (store, job, &row) == SL_STORE_OK
        &&  sl_store_state_terminal ((int) row.state))
            rc = SL_STORE_TERMINAL;
        sl_store_job_reset (&row);
    }
    return rc != SL_STORE_TERMINAL;
}

static sl_outcome_t
s_journal (sl_ctx_t *ctx, void *state)
{
    sl_store_t *store = (sl_store_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const msgpack_object *event = sl_ctx_body (ctx);
    const char *job = sl_envelope_job (env);
    char type [64];
    if (!*job || !event || event->type != MSGPACK_OBJECT_MAP
    ||  sl_mp_get_str (event, "type", type, sizeof type) || !sl_envelope_name_valid (type)) {
        sl_ctx_set_error (ctx, "journal: event without job or type");
        return SL_FAIL;
    }
    char final_type [64];
    if (s_stale (store, job, type, event))
        return SL_DONE;         //  an earlier run's: it says nothing of the job now
    if (!s_apply (store, job, type, event, final_type, sizeof final_type))
        return SL_DONE;         //  job already terminal: drop quietly
    //  Persist data without "type" (stored in its own column)
    int64_t ts = sl_now_ms ();
    sl_mp_get_int (event, "ts", &ts);
    sl_mpw_t w;
    sl_mpw_init (&w);
    const char *except [] = { "type", NULL };
    sl_mpw_map_extend (&w, event, except, 0);
    char *data = sl_json_text_from_mp (w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    int64_t seq = 0;
    int rc = sl_store_event_append (store, job, final_type, data, ts, &seq);
    free (data);
    if (rc != SL_STORE_OK) {
        sl_ctx_set_error (ctx, "journal: %s", sl_store_errmsg (store));
        return SL_RETRY;
    }
    //  Publish live: the event plus its sequence number and job id
    const char *replace [] = { "type", "seq", "job", NULL };
    sl_mpw_map_extend (&w, event, replace, 3);
    sl_mpw_kv_str (&w, "type", final_type);
    sl_mpw_kv_int (&w, "seq", seq);
    sl_mpw_kv_str (&w, "job", job);
    sl_ctx_publish (ctx, job, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    return SL_DONE;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    return sl_store_shared (node, err, errlen);
}

const sl_actor_def_t sl_journal_actor = {
    .name = "journal", .default_concurrency = 1,
    .start = s_start, .handler = s_journal
};
