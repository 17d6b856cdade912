/*  sl_store_node: one store handle per process, and the msgpack shapes of
    jobs and documents that every store-side actor answers with. See
    sl_store_node.h. */
#include "sl_store_node.h"
#include "sl_blob.h"

#include <jansson.h>
#include "sl_json.h"
#include "sl_util.h"
#include "sl_log.h"
#include "sl_vindex.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void *
s_open (sl_node_t *node, char *err, size_t errlen)
{
    char url [1200];
    snprintf (url, sizeof url, "sqlite:%s/sluice.db", sl_node_data_dir (node));
    sl_config_t *config = sl_node_config (node);
    const char *configured = sl_config_get (config, "store.url", url);
    sl_store_t *store = sl_store_open (configured, err, errlen);
    //  approximate search (docs/config.md): graphs beside the database
    char dir [1200];
    snprintf (dir, sizeof dir, "%s/vindex", sl_node_data_dir (node));
    const char *graph_dir = sl_config_get (config, "search.ann_dir", dir);
    int64_t min_rows = sl_config_int (config, "search.ann_min_rows", SL_SEARCH_ANN_MIN_ROWS_DEFAULT);
    if (store && min_rows < 0)
        sl_warn (NULL, "store: search.ann_min_rows is %lld: a count of vectors cannot be "
                 "negative; searches stay exact (set 0 for that, or e.g. 20000)",
                 (long long) min_rows);
    if (store && mkdir (graph_dir, 0700) && errno != EEXIST)
        sl_warn (NULL, "store: cannot create %s (%s): vector graphs will be rebuilt at "
                 "every start", graph_dir, strerror (errno));
    int64_t ef = sl_config_int (config, "search.ann_ef", SL_VINDEX_EF_DEFAULT);
    if (store && (ef < 1 || ef > 10000)) {
        sl_warn (NULL, "store: search.ann_ef is %lld: the graph's search width must be 1 to "
                 "10000; using %d", (long long) ef, SL_VINDEX_EF_DEFAULT);
        ef = SL_VINDEX_EF_DEFAULT;
    }
    if (store)
        sl_store_set_graphs (store, graph_dir, min_rows > 0 ? (size_t) min_rows : 0, (int) ef);
    return store;
}

static void
s_close (void **item)
{
    sl_store_destroy ((sl_store_t **) item);
}

sl_store_t *
sl_store_shared (sl_node_t *node, char *err, size_t errlen)
{
    return sl_node_shared (node, "store", s_open, s_close, err, errlen);
}

static void
s_kv_str_or_nil (sl_mpw_t *w, const char *key, const char *value)
{
    sl_mpw_key (w, key);
    sl_mpw_str (w, value && *value ? value : NULL);
}

bool
sl_store_job_gate (const sl_envelope_t *env, void *node)
{
    char err [256];
    sl_store_t *store = sl_store_shared ((sl_node_t *) node, err, sizeof err);
    if (!store)
        return true;
    const char *job = sl_envelope_job (env);
    sl_store_job_t row;
    memset (&row, 0, sizeof row);
    bool found = sl_store_job_get (store, job, &row) == SL_STORE_OK;
    //  A message of an earlier run: that run was cancelled or failed and
    //  the job was retried since. Its artifacts are the new run's now, so
    //  the message goes without touching them
    bool superseded = found && (int64_t) sl_envelope_run (env) < row.run;
    bool cancelled = found && !superseded && row.state == SL_STORE_CANCELLED;
    sl_store_job_reset (&row);
    if (cancelled) {
        sl_blob_t *blobs = sl_node_blob ((sl_node_t *) node, err, sizeof err);
        if (blobs)
            sl_blob_job_remove (blobs, job);
    }
    return !cancelled && !superseded;
}

void
sl_store_pack_job (sl_mpw_t *w, const sl_store_job_t *job)
{
    //  A job a source's sync made names the run and the source (its
    //  options keep what intake was asked: actors/sources)
    json_t *options = job->options ? json_loads (job->options, 0, NULL) : NULL;
    const char *run = json_string_value (json_object_get (options, "source_run"));
    const char *source_id = json_string_value (json_object_get (options, "source_id"));
    msgpack_pack_map (&w->pk, 20 + (run ? 1 : 0) + (source_id ? 1 : 0));
    if (run)
        sl_mpw_kv_str (w, "source_run", run);
    if (source_id)
        sl_mpw_kv_str (w, "source_id", source_id);
    json_decref (options);
    sl_mpw_kv_str (w, "id", job->id);
    sl_mpw_kv_str (w, "workspace", job->workspace);
    sl_mpw_kv_str (w, "state", sl_store_state_name (job->state));
    sl_mpw_kv_int (w, "run", job->run);
    s_kv_str_or_nil (w, "stage", job->stage == SL_STORE_STAGE_NONE ? NULL : sl_store_stage_name (job->stage));
    sl_mpw_kv_int (w, "percent", job->state == SL_STORE_COMPLETED ? 100 : job->percent);
    s_kv_str_or_nil (w, "source", job->source);
    s_kv_str_or_nil (w, "mime", job->mime);
    s_kv_str_or_nil (w, "sha256", job->sha256);
    sl_mpw_kv_int (w, "attempts", job->attempts);
    s_kv_str_or_nil (w, "error_stage", job->error_stage == SL_STORE_STAGE_NONE ? NULL
                                       : sl_store_stage_name (job->error_stage));
    s_kv_str_or_nil (w, "error", job->error);
    s_kv_str_or_nil (w, "document_id", job->document_id);
    //  what its commit did to the source's previous document, and whether
    //  the content was stored already (docs/architecture.md, "Identity")
    s_kv_str_or_nil (w, "replaced", job->replaced);
    s_kv_str_or_nil (w, "duplicate_of", job->duplicate_of);
    sl_mpw_kv_int (w, "created", job->created_ms);
    sl_mpw_kv_int (w, "updated", job->updated_ms);
    sl_mpw_key (w, "stages");
    int n = 0;
    for (int s = 0; s < SL_STORE_STAGE_COUNT; s++)
        n += job->started_ms [s] != 0;
    msgpack_pack_map (&w->pk, (size_t) n);
    for (int s = 0; s < SL_STORE_STAGE_COUNT; s++) {
        if (!job->started_ms [s])
            continue;
        sl_mpw_key (w, sl_store_stage_name ((sl_store_stage_t) s));
        msgpack_pack_map (&w->pk, 3);
        sl_mpw_kv_int (w, "started", job->started_ms [s]);
        sl_mpw_key (w, "finished");
        if (job->finished_ms [s])
            msgpack_pack_int64 (&w->pk, job->finished_ms [s]);
        else
            msgpack_pack_nil (&w->pk);
        sl_mpw_key (w, "duration_ms");
        if (job->finished_ms [s])
            msgpack_pack_int64 (&w->pk, job->finished_ms [s] - job->started_ms [s]);
        else
            msgpack_pack_nil (&w->pk);
    }
    sl_mpw_kv_bool (w, "terminal", sl_store_state_terminal ((int) job->state));
    //  accepted while its workspace's intake was paused: starts on resume
    sl_mpw_kv_bool (w, "held", job->held);
}

void
sl_store_pack_doc (sl_mpw_t *w, const sl_store_doc_t *doc)
{
    msgpack_pack_map (&w->pk, 15);
    sl_mpw_kv_str (w, "id", doc->id);
    s_kv_str_or_nil (w, "title", doc->title);
    s_kv_str_or_nil (w, "source", doc->source);
    s_kv_str_or_nil (w, "mime", doc->mime);
    sl_mpw_kv_str (w, "sha256", doc->sha256);
    sl_mpw_kv_int (w, "pages", doc->pages);
    sl_mpw_kv_int (w, "chunks", doc->chunks);
    sl_mpw_kv_int (w, "bytes", doc->bytes);
    s_kv_str_or_nil (w, "model", doc->model_id);
    sl_mpw_kv_str (w, "state", doc->state);
    s_kv_str_or_nil (w, "job_id", doc->job_id);
    sl_mpw_kv_int (w, "created", doc->created_ms);
    sl_mpw_kv_int (w, "updated", doc->updated_ms);
    //  how it was cut (engine/sl_chunking.h): an object, nil if not recorded
    sl_mpw_key (w, "chunking");
    json_t *chunking = doc->chunking ? json_loads (doc->chunking, 0, NULL) : NULL;
    if (json_is_object (chunking))
        sl_json_to_mp (chunking, w);     //  ints and booleans: cannot fail
    else
        msgpack_pack_nil (&w->pk);
    json_decref (chunking);
    //  its attributes as the object they are (the store keeps them as
    //  canonical JSON text, checked on the way in)
    sl_mpw_key (w, "meta");
    json_t *meta = doc->meta ? json_loads (doc->meta, 0, NULL) : NULL;
    if (json_is_object (meta))
        sl_json_to_mp (meta, w);    //  depth 2 at most: cannot fail
    else
        msgpack_pack_map (&w->pk, 0);
    json_decref (meta);
}

void
sl_store_reply_job (sl_ctx_t *ctx, const sl_store_job_t *job)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 1);
    sl_mpw_key (&w, "job");
    sl_store_pack_job (&w, job);
    sl_ctx_reply (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

void
sl_store_emit_event (sl_ctx_t *ctx, const char *job, const char *ws, const void *event, size_t size)
{
    sl_envelope_t *env = sl_envelope_new ("event", job, ws);
    if (!env)
        return;
    sl_envelope_route_append (env, "journal");
    sl_envelope_set_max_attempts (env, 10);
    sl_envelope_set_body (env, event, size);
    sl_ctx_submit (ctx, &env);
}

sl_envelope_t *
sl_store_delete_envelope (const char *ws, const char *doc_id, const char *sha256,
                          const char *pages_blob, const char *salt, int max_attempts)
{
    sl_envelope_t *env = sl_envelope_new ("delete", doc_id, ws);
    if (!env)
        return NULL;
    sl_envelope_set_route (env, "delete");
    char id [SL_ID_LEN + 1];
    sl_id_derive (id, doc_id, "delete", salt);
    sl_envelope_set_id (env, id);
    sl_envelope_set_max_attempts (env, (uint32_t) (max_attempts < 1 ? 1 : max_attempts));
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 3);
    sl_mpw_kv_str (&w, "id", doc_id);
    sl_mpw_kv_str (&w, "sha256", sha256 ? sha256 : "");
    sl_mpw_kv_str (&w, "pages_blob", pages_blob ? pages_blob : "");
    sl_envelope_set_body (env, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    return env;
}
