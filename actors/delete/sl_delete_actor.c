/*  sl_delete_actor: the delete service (role and queue `delete`).

    A deletion is accepted by query/doc_delete: one short transaction marks
    the document `deleting` (every search skips it from that commit on) and
    this service's message goes to the broker with the reply, so a deletion
    has what a pipeline stage has: at-least-once delivery, its own queue,
    `delete.concurrency` handlers, redelivery when a handler dies, and,
    after `delete.message_attempts` deliveries that failed, a dead letter of
    its own (GET /v1/dlq, replayable).

    A delivery purges the document in transactions of at most
    `delete.batch` (500) chunks and pages each, the document row last
    (sl_store_document_purge), so however large the document no
    transaction holds the writer long and searches keep answering between
    them. Then its blob and its kept parse output are collected when no
    other document (or unfinished job) references them (sl_blob_collect
    asking sl_store_blob_referenced: the collector's one policy).

    Failure model:
    - a redelivered message (a handler died mid-way, kill -9) starts the
      purge again where the last committed batch left it; a document
      already gone is "done" (NOT_FOUND is success here), the blobs named
      in the message are collected again (a no-op if they went);
    - a message the broker lost (it died without its snapshot, or the
      accepting process died between its commit and the reply) is sent
      again by the re-driver: at start and every `delete.redrive_s` (30)
      it lists documents marked deleting and submits their message with
      SUBMIT ifabsent, which the broker refuses while it holds one queued
      or in flight: never two at once. A dead letter does not count as
      held, so a document is re-driven at most once per `delete.stale_s`
      (300) by a process: a deletion the store keeps refusing gets a new
      try (and, failing, a new letter) that often, not every pass;
    - a store error retries the message (at the back of the queue); after
      `delete.message_attempts` it is dead-lettered with the reason, and
      the document stays deleting (invisible) until a person replays it.
*/
#include "sl_store_node.h"
#include "sl_blob.h"
#include "sl_client.h"
#include "sl_log.h"
#include "sl_util.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_node_t *node;
    sl_store_t *store;
    int batch;                  //  delete.batch: chunks (and pages) a transaction
    int attempts;               //  delete.message_attempts
    int64_t interval_ms;        //  delete.redrive_s
    int64_t stale_ms;           //  delete.stale_s
    zhash_t *redriven;          //  document id -> when this process last re-drove it (re-driver thread only)
    atomic_bool stopping;
    pthread_t thread;
    bool threaded;
} delete_t;

//  For sl_blob_collect: 1 if nothing holds the blob any more
static int
s_blob_unused (void *store, const char *sha256)
{
    int rc = sl_store_blob_referenced ((sl_store_t *) store, sha256);
    return rc < 0 ? -1 : rc == 0;
}

//  Collect a blob the deleted document named, if nothing else names it;
//  collected rather than removed, so an upload of the same bytes being
//  accepted right now keeps them (sl_blob.h, "Collection")
static void
s_collect (delete_t *self, const char *sha256)
{
    if (!*sha256)
        return;
    char err [256];
    sl_blob_t *blob = sl_node_blob (self->node, err, sizeof err);
    if (blob)
        sl_blob_collect (blob, sha256, INT64_MAX, s_blob_unused, self->store, NULL);
}

static sl_outcome_t
s_delete (sl_ctx_t *ctx, void *state)
{
    delete_t *self = (delete_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const char *ws = sl_envelope_workspace (env);
    const msgpack_object *body = sl_ctx_body (ctx);
    char id [SL_STORE_ID], sha [SL_SHA256_HEX] = "", pages [SL_SHA256_HEX] = "";
    if (!body || sl_mp_get_str (body, "id", id, sizeof id)) {
        sl_ctx_set_error (ctx, "delete: message without a document id");
        return SL_FAIL;
    }
    sl_mp_get_str (body, "sha256", sha, sizeof sha);
    sl_mp_get_str (body, "pages_blob", pages, sizeof pages);
    bool done = false;
    int batches = 0;
    while (!done) {
        char gone [SL_SHA256_HEX];
        int rc = sl_store_document_purge (self->store, ws, id, self->batch, gone, &done);
        if (rc == SL_STORE_NOT_FOUND)
            break;              //  gone already: a redelivery, or a replace took it
        if (rc != SL_STORE_OK) {
            sl_ctx_set_error (ctx, "deleting document %s: %s", id, sl_store_errmsg (self->store));
            sl_warn (NULL, "deleting document %s of %s: %s (will retry)", id, ws,
                     sl_store_errmsg (self->store));
            return SL_RETRY;
        }
        batches++;
    }
    s_collect (self, sha);
    s_collect (self, pages);
    sl_info (NULL, "deleted document %s from %s (%d transaction%s)", id, ws, batches,
             batches == 1 ? "" : "s");
    return SL_DONE;
}

//  One pass: every document marked deleting gets its message again unless
//  the broker holds one
static void
s_redrive_pass (delete_t *self, sl_client_t *client)
{
    //  Bounded memory: past 10,000 remembered documents start afresh (at
    //  worst one early re-drive each, which ifabsent keeps harmless)
    if (zhash_size (self->redriven) > 10000) {
        zhash_destroy (&self->redriven);
        if (!(self->redriven = zhash_new ()))
            return;
    }
    char *text = NULL;
    if (sl_store_documents_deleting (self->store, 100, &text) != SL_STORE_OK)
        return;
    json_t *list = json_loads (text, 0, NULL);
    free (text);
    size_t index;
    json_t *pair;
    json_array_foreach (list, index, pair) {
        const char *ws = json_string_value (json_array_get (pair, 0));
        const char *id = json_string_value (json_array_get (pair, 1));
        //  A dead letter does not count as held: a deletion the store keeps
        //  refusing would get a new message (and letter) every pass, so
        //  each document is re-driven at most once per delete.stale_s
        int64_t *last = id ? (int64_t *) zhash_lookup (self->redriven, id) : NULL;
        int64_t now = sl_now_ms ();
        if (last && now - *last < self->stale_ms)
            continue;
        sl_store_doc_t doc;
        memset (&doc, 0, sizeof doc);
        if (!ws || !id || sl_store_document_get (self->store, ws, id, &doc) != SL_STORE_OK)
            continue;
        if (!last) {
            last = malloc (sizeof *last);
            if (!last || zhash_insert (self->redriven, id, last)) {
                free (last);
                sl_store_doc_reset (&doc);
                continue;
            }
            zhash_freefn (self->redriven, id, free);
        }
        *last = now;
        //  A new id each time: the broker would take a reused one for a
        //  retry of the message it completed and queue nothing
        char salt [32];
        snprintf (salt, sizeof salt, "%lld", (long long) sl_now_ms ());
        sl_envelope_t *env = sl_store_delete_envelope (ws, id, doc.sha256, doc.pages_blob, salt,
                                                       self->attempts);
        sl_store_doc_reset (&doc);
        sl_client_result_t res;
        if (env && sl_client_submit_if_absent (client, env, 5000, &res) == SL_CLIENT_OK)
            sl_info (NULL, "deletion of document %s from %s re-driven: the broker held no "
                     "message of it", id, ws);
        sl_envelope_destroy (&env);
    }
    json_decref (list);
}

static void *
s_redriver (void *args)
{
    delete_t *self = (delete_t *) args;
    sl_log_set_role ("delete-redrive");
    sl_client_t *client = sl_client_new (sl_node_broker (self->node),
                                         sl_node_curve_client (self->node),
                                         sl_node_curve_server (self->node));
    self->redriven = zhash_new ();
    while (client && self->redriven && !atomic_load (&self->stopping)) {
        s_redrive_pass (self, client);
        for (int64_t t = 0; t < self->interval_ms && !atomic_load (&self->stopping); t += 100)
            zclock_sleep (100);
    }
    sl_client_destroy (&client);
    zhash_destroy (&self->redriven);
    return NULL;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    sl_config_t *cfg = sl_node_config (node);
    int64_t batch = sl_config_int (cfg, "delete.batch", 500);
    int64_t attempts = sl_config_int (cfg, "delete.message_attempts", 5);
    int64_t redrive_s = sl_config_int (cfg, "delete.redrive_s", 30);
    int64_t stale_s = sl_config_int (cfg, "delete.stale_s", 300);
    if (batch < 1 || batch > 100000) {
        snprintf (err, errlen, "delete.batch = %lld is out of range: give 1..100000 chunks a "
                  "transaction (default 500)", (long long) batch);
        return NULL;
    }
    if (attempts < 1 || attempts > 100 || redrive_s < 1 || stale_s < 1) {
        snprintf (err, errlen, "delete.message_attempts must be 1..100, delete.redrive_s and "
                  "delete.stale_s at least 1 (got %lld, %lld and %lld)", (long long) attempts,
                  (long long) redrive_s, (long long) stale_s);
        return NULL;
    }
    sl_store_t *store = sl_store_shared (node, err, errlen);
    if (!store)
        return NULL;
    delete_t *self = calloc (1, sizeof *self);
    self->node = node;
    self->store = store;
    self->batch = (int) batch;
    self->attempts = (int) attempts;
    self->interval_ms = redrive_s * 1000;
    self->stale_ms = stale_s * 1000;
    atomic_init (&self->stopping, false);
    self->threaded = pthread_create (&self->thread, NULL, s_redriver, self) == 0;
    return self;
}

static void
s_stop (void **state_p)
{
    delete_t *self = (delete_t *) *state_p;
    if (self) {
        atomic_store (&self->stopping, true);
        if (self->threaded)
            pthread_join (self->thread, NULL);
        free (self);
        *state_p = NULL;
    }
}

const sl_actor_def_t sl_delete_actor = {
    .name = "delete", .default_concurrency = 2,
    .start = s_start, .handler = s_delete, .stop = s_stop
};
