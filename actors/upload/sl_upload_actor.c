/*  sl_upload_actor: the `upload` service, chunked uploads over the broker's
    REQUEST path for callers that do not share the data folder (the C and
    Python bindings). docs/protocol.md §5 has the wire format:

        upload/begin  {size?, filename?, mime?}     -> {upload_id, part_max, max_bytes, idle_s}
        upload/part   {upload_id, seq, data: bin}   -> {upload_id, seq, received, duplicate}
        upload/commit {upload_id, sha256?}          -> {blob, size, filename, mime}
        upload/abort  {upload_id}                   -> {aborted: true}
        upload/put    {data: bin, filename?, mime?, sha256?} -> {blob, size, filename, mime}

    put is the one-round-trip form for documents of one part (<= 1 MiB),
    most documents: no record, no lock, stored like an edge upload.

    The work is sl_upload (this folder), whose state lives in the blob area,
    so any number of upload processes can serve parts of the same upload.
    Settings: upload.max_bytes (256m), upload.idle_s (60), upload.max_open
    (256). A sweeper thread removes uploads idle for upload.idle_s, checking
    every quarter of that (at least once a second, at most every 15 s).
*/
#include "sl_upload.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_node.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    sl_upload_t *uploads;
    int64_t max_bytes;
    int64_t idle_s;
    pthread_t sweeper;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
} upload_actor_t;

static void
s_reply_err (sl_ctx_t *ctx, const sl_upload_err_t *err)
{
    if (err->status == 429) {
        //  Say when to come back: the client maps this to BUSY
        sl_mpw_t w;
        sl_mpw_init (&w);
        msgpack_pack_map (&w.pk, 1);
        sl_mpw_key (&w, "error");
        msgpack_pack_map (&w.pk, 3);
        sl_mpw_kv_int (&w, "code", 429);
        sl_mpw_kv_str (&w, "message", err->message);
        sl_mpw_kv_int (&w, "retry_ms", 1000);
        sl_ctx_reply (ctx, w.buf.data, w.buf.size);
        sl_mpw_reset (&w);
    }
    else
        sl_ctx_reply_error (ctx, err->status, "%s", err->message);
}

static void
s_reply_done (sl_ctx_t *ctx, const sl_upload_done_t *done)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 4);
    sl_mpw_kv_str (&w, "blob", done->blob);
    sl_mpw_kv_int (&w, "size", (int64_t) done->size);
    sl_mpw_kv_str (&w, "filename", done->filename);
    sl_mpw_kv_str (&w, "mime", done->mime);
    sl_ctx_reply (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

static void
s_begin (upload_actor_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    int64_t size = -1;
    const msgpack_object *o = sl_mp_get (body, "size");
    if (o && o->type != MSGPACK_OBJECT_NIL && (sl_mp_int (o, &size) || size < 0)) {
        sl_ctx_reply_error (ctx, 400, "size must be a non-negative integer");
        return;
    }
    char filename [1024] = "", mime [256] = "";
    o = sl_mp_get (body, "filename");
    if (o && o->type != MSGPACK_OBJECT_NIL && sl_mp_str (o, filename, sizeof filename)) {
        sl_ctx_reply_error (ctx, 400, "filename must be a string of at most 1023 bytes");
        return;
    }
    o = sl_mp_get (body, "mime");
    if (o && o->type != MSGPACK_OBJECT_NIL && sl_mp_str (o, mime, sizeof mime)) {
        sl_ctx_reply_error (ctx, 400, "mime must be a short string");
        return;
    }
    char id [SL_ID_LEN + 1];
    sl_upload_err_t err;
    if (sl_upload_begin (self->uploads, ws, size, filename, mime, NULL, id, &err)) {
        s_reply_err (ctx, &err);
        return;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 4);
    sl_mpw_kv_str (&w, "upload_id", id);
    sl_mpw_kv_int (&w, "part_max", SL_UPLOAD_PART_MAX);
    sl_mpw_kv_int (&w, "max_bytes", self->max_bytes);
    sl_mpw_kv_int (&w, "idle_s", self->idle_s);
    sl_ctx_reply (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

static void
s_part (upload_actor_t *self, sl_ctx_t *ctx, const char *ws, const char *id, const msgpack_object *body)
{
    int64_t seq;
    const char *data;
    size_t size;
    if (sl_mp_get_int (body, "seq", &seq) || seq < 0) {
        sl_ctx_reply_error (ctx, 400, "part needs 'seq', a non-negative integer");
        return;
    }
    if (sl_mp_bytes (sl_mp_get (body, "data"), &data, &size)) {
        sl_ctx_reply_error (ctx, 400, "part needs 'data' (bin)");
        return;
    }
    uint64_t received;
    bool duplicate;
    sl_upload_err_t err;
    if (sl_upload_part (self->uploads, ws, id, seq, data, size, &received, &duplicate, &err)) {
        s_reply_err (ctx, &err);
        return;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 4);
    sl_mpw_kv_str (&w, "upload_id", id);
    sl_mpw_kv_int (&w, "seq", seq);
    sl_mpw_kv_int (&w, "received", (int64_t) received);
    sl_mpw_kv_bool (&w, "duplicate", duplicate);
    sl_ctx_reply (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

static void
s_commit (upload_actor_t *self, sl_ctx_t *ctx, const char *ws, const char *id, const msgpack_object *body)
{
    char sha [SL_SHA256_HEX] = "";
    const msgpack_object *o = sl_mp_get (body, "sha256");
    if (o && o->type != MSGPACK_OBJECT_NIL && sl_mp_str (o, sha, sizeof sha)) {
        sl_ctx_reply_error (ctx, 400, "sha256 must be 64 lowercase hex characters");
        return;
    }
    sl_upload_done_t done;
    sl_upload_err_t err;
    if (sl_upload_commit (self->uploads, ws, id, sha, &done, &err)) {
        s_reply_err (ctx, &err);
        return;
    }
    s_reply_done (ctx, &done);
    sl_info (NULL, "upload %s committed as blob %.16s (%llu bytes)", id, done.blob,
             (unsigned long long) done.size);
}

static void
s_put (upload_actor_t *self, sl_ctx_t *ctx, const msgpack_object *body)
{
    const char *data;
    size_t size;
    if (sl_mp_bytes (sl_mp_get (body, "data"), &data, &size)) {
        sl_ctx_reply_error (ctx, 400, "put needs 'data' (bin)");
        return;
    }
    char filename [1024] = "", mime [256] = "", sha [SL_SHA256_HEX] = "";
    const msgpack_object *o;
    if (((o = sl_mp_get (body, "filename")) && o->type != MSGPACK_OBJECT_NIL && sl_mp_str (o, filename, sizeof filename))
    ||  ((o = sl_mp_get (body, "mime")) && o->type != MSGPACK_OBJECT_NIL && sl_mp_str (o, mime, sizeof mime))
    ||  ((o = sl_mp_get (body, "sha256")) && o->type != MSGPACK_OBJECT_NIL && sl_mp_str (o, sha, sizeof sha))) {
        sl_ctx_reply_error (ctx, 400, "filename, mime and sha256 must be short strings");
        return;
    }
    sl_upload_done_t done;
    sl_upload_err_t err;
    if (sl_upload_put (self->uploads, data, size, sha, filename, mime, &done, &err))
        s_reply_err (ctx, &err);
    else
        s_reply_done (ctx, &done);
}

static sl_outcome_t
s_handle (sl_ctx_t *ctx, void *state)
{
    upload_actor_t *self = (upload_actor_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const char *kind = sl_envelope_kind (env);
    const char *ws = sl_envelope_workspace (env);
    const msgpack_object *body = sl_ctx_body (ctx);
    if (!*ws) {
        sl_ctx_reply_error (ctx, 400, "request has no workspace");
        return SL_DONE;
    }
    if (!body || body->type != MSGPACK_OBJECT_MAP) {
        sl_ctx_reply_error (ctx, 400, "upload/%s needs a map body", kind);
        return SL_DONE;
    }
    if (strcmp (kind, "begin") == 0) {
        s_begin (self, ctx, ws, body);
        return SL_DONE;
    }
    if (strcmp (kind, "put") == 0) {
        s_put (self, ctx, body);
        return SL_DONE;
    }
    char id [SL_ID_LEN + 1];
    if (sl_mp_get_str (body, "upload_id", id, sizeof id)) {
        sl_ctx_reply_error (ctx, 400, "upload/%s needs 'upload_id' (as returned by upload/begin)", kind);
        return SL_DONE;
    }
    if (strcmp (kind, "part") == 0)
        s_part (self, ctx, ws, id, body);
    else
    if (strcmp (kind, "commit") == 0)
        s_commit (self, ctx, ws, id, body);
    else
    if (strcmp (kind, "abort") == 0) {
        sl_upload_err_t err;
        if (sl_upload_abort (self->uploads, ws, id, &err))
            s_reply_err (ctx, &err);
        else {
            sl_mpw_t w;
            sl_mpw_init (&w);
            msgpack_pack_map (&w.pk, 1);
            sl_mpw_kv_bool (&w, "aborted", true);
            sl_ctx_reply (ctx, w.buf.data, w.buf.size);
            sl_mpw_reset (&w);
        }
    }
    else
        sl_ctx_reply_error (ctx, 400, "unknown upload operation '%s' (begin, part, commit, abort, put)", kind);
    return SL_DONE;
}

static void *
s_sweeper (void *arg)
{
    upload_actor_t *self = (upload_actor_t *) arg;
    sl_log_set_role ("upload");
    int64_t every_ms = self->idle_s * 1000 / 4;
    if (every_ms < 1000)
        every_ms = 1000;
    if (every_ms > 15000)
        every_ms = 15000;
    pthread_mutex_lock (&self->lock);
    while (!self->stopping) {
        pthread_mutex_unlock (&self->lock);
        int removed = sl_upload_sweep (self->uploads, NULL);
        if (removed)
            sl_info (NULL, "removed %d upload(s) idle for %llds or more", removed, (long long) self->idle_s);
        pthread_mutex_lock (&self->lock);
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_sec += every_ms / 1000;
        until.tv_nsec += (every_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (!self->stopping)
            pthread_cond_timedwait (&self->cond, &self->lock, &until);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    sl_blob_t *blobs = sl_node_blob (node, err, errlen);
    if (!blobs)
        return NULL;
    sl_config_t *cfg = sl_node_config (node);
    upload_actor_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->max_bytes = sl_config_size (cfg, "upload.max_bytes", 256LL << 20);
    self->idle_s = sl_config_int (cfg, "upload.idle_s", 60);
    if (self->max_bytes < 0)
        self->max_bytes = 0;
    if (self->idle_s < 1)
        self->idle_s = 1;
    int64_t max_open = sl_config_int (cfg, "upload.max_open", 256);
    self->uploads = sl_upload_new (blobs, "tmp", (uint64_t) self->max_bytes, self->idle_s,
                                   max_open > 0 && max_open < 1000000 ? (int) max_open : 0);
    if (!self->uploads) {
        snprintf (err, errlen, "cannot use %s/tmp for uploads", sl_node_data_dir (node));
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->cond, NULL);
    if (pthread_create (&self->sweeper, NULL, s_sweeper, self)) {
        snprintf (err, errlen, "cannot start the upload sweeper thread");
        sl_upload_destroy (&self->uploads);
        free (self);
        return NULL;
    }
    return self;
}

static void
s_stop (void **state_p)
{
    upload_actor_t *self = (upload_actor_t *) *state_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->sweeper, NULL);
    pthread_cond_destroy (&self->cond);
    pthread_mutex_destroy (&self->lock);
    sl_upload_destroy (&self->uploads);
    free (self);
    *state_p = NULL;
}

const sl_actor_def_t sl_upload_actor = {
    .name = "upload", .default_concurrency = 4,
    .start = s_start, .handler = s_handle, .stop = s_stop
};
