/*  sl_store_actor: the last stage. Reads the job's chunks.mp and
    vectors.f32 from its artifact folder, commits document + chunks +
    vectors in ONE transaction (so a search never sees half a document,
    and a changed document at the same source replaces the old one
    atomically), completes the job, emits job_completed and removes the
    artifacts.

    Redelivery is harmless: the commit is idempotent on (workspace,
    sha256), and completing an already-completed job reports TERMINAL, in
    which case no second job_completed is emitted.
    A `duplicate` message (fetch found the same content already stored in
    the workspace) completes the job with the existing document.
*/
#include "sl_store_actors.h"
#include "sl_blob.h"
#include "sl_log.h"
#include "sl_records.h"
#include "sl_util.h"

#include <stdio.h>
#include <sys/stat.h>

typedef struct {
    sl_node_t *node;
    sl_store_t *store;
    sl_blob_t *blob;
} store_stage_t;

typedef struct {
    sl_chunk_row_t *rows;
    char **texts;
    char (*hashes) [SL_SHA256_HEX];
    int count;
    int cap;
} chunks_t;

static void
s_chunks_free (chunks_t *c)
{
    for (int i = 0; i < c->count; i++)
        free (c->texts [i]);
    free (c->rows);
    free (c->texts);
    free (c->hashes);
    memset (c, 0, sizeof *c);
}

static int
s_chunks_load (const char *path, chunks_t *c, char *err, size_t errlen)
{
    sl_recr_t *r = sl_recr_new (path);
    if (!r) {
        snprintf (err, errlen, "chunks artifact missing: %.300s", path);
        return -1;
    }
    sl_mp_t *mp;
    int rc;
    while ((rc = sl_recr_next (r, &mp, err, errlen)) == 1) {
        if (c->count == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 256;
            c->rows = realloc (c->rows, (size_t) c->cap * sizeof *c->rows);
            c->texts = realloc (c->texts, (size_t) c->cap * sizeof *c->texts);
            c->hashes = realloc (c->hashes, (size_t) c->cap * sizeof *c->hashes);
        }
        const msgpack_object *o = sl_mp_root (mp);
        int64_t ord = 0, ps = 0, pe = 0, cs = 0, ce = 0, tk = 0;
        sl_mp_get_int (o, "o", &ord);
        sl_mp_get_int (o, "ps", &ps);
        sl_mp_get_int (o, "pe", &pe);
        sl_mp_get_int (o, "cs", &cs);
        sl_mp_get_int (o, "ce", &ce);
        sl_mp_get_int (o, "tk", &tk);
        sl_chunk_row_t *row = &c->rows [c->count];
        c->texts [c->count] = sl_mp_strdup (sl_mp_get (o, "t"));
        if (sl_mp_get_str (o, "h", c->hashes [c->count], SL_SHA256_HEX) || !c->texts [c->count]) {
            free (c->texts [c->count]);
            sl_mp_destroy (&mp);
            snprintf (err, errlen, "chunks artifact has a malformed record");
            rc = -1;
            break;
        }
        *row = (sl_chunk_row_t) { .ordinal = (int) ord, .page_start = (int) ps, .page_end = (int) pe,
                                  .char_start = cs, .char_end = ce, .tokens = (int) tk,
                                  .hash = c->hashes [c->count], .text = c->texts [c->count] };
        c->count++;
        sl_mp_destroy (&mp);
    }
    sl_recr_destroy (&r);
    //  Pointers into the arrays moved with realloc: fix them up
    for (int i = 0; i < c->count; i++) {
        c->rows [i].hash = c->hashes [i];
        c->rows [i].text = c->texts [i];
    }
    return rc < 0 ? -1 : 0;
}

static float *
s_vectors_load (const char *path, int n, int dim, char *err, size_t errlen)
{
    FILE *f = fopen (path, "rb");
    struct stat st;
    if (!f || fstat (fileno (f), &st) || (size_t) st.st_size != (size_t) n * (size_t) dim * sizeof (float)) {
        snprintf (err, errlen, "vectors artifact missing or of the wrong size (%d x %d expected)", n, dim);
        if (f)
            fclose (f);
        return NULL;
    }
    float *v = malloc ((size_t) st.st_size ? (size_t) st.st_size : 1);
    if (fread (v, 1, (size_t) st.st_size, f) != (size_t) st.st_size) {
        snprintf (err, errlen, "cannot read vectors artifact");
        free (v);
        v = NULL;
    }
    fclose (f);
    return v;
}

static void
s_completed_event (sl_ctx_t *ctx, const char *doc_id, int pages, int chunks, const char *title, bool duplicate)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 7);
    sl_mpw_kv_str (&w, "type", "job_completed");
    sl_mpw_kv_str (&w, "document_id", doc_id);
    sl_mpw_kv_int (&w, "pages", pages);
    sl_mpw_kv_int (&w, "chunks", chunks);
    sl_mpw_key (&w, "title");
    sl_mpw_str (&w, title);
    sl_mpw_kv_bool (&w, "duplicate", duplicate);
    sl_mpw_kv_int (&w, "ts", sl_now_ms ());
    sl_ctx_event_after (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

static sl_outcome_t
s_duplicate (store_stage_t *self, sl_ctx_t *ctx, const msgpack_object *body)
{
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    char doc_id [SL_STORE_ID];
    if (sl_mp_get_str (body, "document_id", doc_id, sizeof doc_id)) {
        sl_ctx_set_error (ctx, "duplicate message without document_id");
        return SL_FAIL;
    }
    sl_store_doc_t doc;
    memset (&doc, 0, sizeof doc);
    if (sl_store_document_get (self->store, sl_envelope_workspace (env), doc_id, &doc) != SL_STORE_OK) {
        sl_ctx_set_error (ctx, "document %s vanished before the job completed", doc_id);
        return SL_FAIL;
    }
    sl_store_job_stage (self->store, sl_envelope_job (env), SL_STORE_STAGE_STORE, SL_STORE_FINISHED, sl_now_ms ());
    int rc = sl_store_job_complete (self->store, sl_envelope_job (env), doc_id);
    if (rc == SL_STORE_OK)
        s_completed_event (ctx, doc_id, doc.pages, doc.chunks, doc.title, true);
    sl_store_doc_reset (&doc);
    sl_blob_job_remove (self->blob, sl_envelope_job (env));
    return SL_DONE;
}

//  Does a store error say the database's disk is full? SQLite: SQLITE_FULL
//  ("database or disk is full"); PostgreSQL: SQLSTATE 53100 (disk_full),
//  or an ENOSPC message. Then the commit fails the job with a reason that
//  says so: retrying at once would meet the same full disk.
static bool
s_disk_full (const char *message)
{
    return strstr (message, "disk is full") || strstr (message, "SQLSTATE 53100")
        || strstr (message, "No space left on device");
}

static sl_outcome_t
s_store (sl_ctx_t *ctx, void *state)
{
    store_stage_t *self = (store_stage_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const msgpack_object *body = sl_ctx_body (ctx);
    const char *job = sl_envelope_job (env);
    if (streq (sl_envelope_kind (env), "duplicate"))
        return s_duplicate (self, ctx, body);

    char sha [SL_SHA256_HEX] = "", mime [128] = "", source [2300] = "", title [512] = "", model [128] = "";
    int64_t pages = 0, bytes = 0, nchunks = 0, dim = 0;
    if (sl_mp_get_str (body, "sha256", sha, sizeof sha) || sl_mp_get_str (body, "model", model, sizeof model)
    ||  sl_mp_get_int (body, "chunks", &nchunks) || sl_mp_get_int (body, "dim", &dim)) {
        sl_ctx_set_error (ctx, "store: message lacks sha256/model/chunks/dim");
        return SL_FAIL;
    }
    sl_mp_get_str (body, "mime", mime, sizeof mime);
    sl_mp_get_str (body, "source", source, sizeof source);
    sl_mp_get_str (body, "title", title, sizeof title);
    sl_mp_get_int (body, "pages", &pages);
    sl_mp_get_int (body, "size", &bytes);

    char dir [1200], path [1300], err [512] = "";
    if (sl_blob_job_dir (self->blob, job, dir, sizeof dir)) {
        sl_ctx_set_error (ctx, "store: bad job id");
        return SL_FAIL;
    }
    chunks_t chunks = { 0 };
    snprintf (path, sizeof path, "%s/chunks.mp", dir);
    if (s_chunks_load (path, &chunks, err, sizeof err) || chunks.count != nchunks) {
        //  Artifacts gone: a duplicate delivery after the first one
        //  completed and cleaned up. If the job is done, so are we.
        sl_store_job_t row;
        memset (&row, 0, sizeof row);
        bool done = sl_store_job_get (self->store, job, &row) == SL_STORE_OK && row.state == SL_STORE_COMPLETED;
        sl_store_job_reset (&row);
        s_chunks_free (&chunks);
        if (done)
            return SL_DONE;
        sl_ctx_set_error (ctx, "store: %s", *err ? err : "chunk count mismatch");
        return SL_RETRY;
    }
    snprintf (path, sizeof path, "%s/vectors.f32", dir);
    float *vectors = s_vectors_load (path, chunks.count, (int) dim, err, sizeof err);
    if (!vectors) {
        s_chunks_free (&chunks);
        sl_ctx_set_error (ctx, "store: %s", err);
        return SL_RETRY;
    }
    sl_ctx_progress (ctx, 50, "committing %d chunks", chunks.count);
    sl_doc_meta_t meta = {
        .workspace = sl_envelope_workspace (env), .source = source, .sha256 = sha,
        .mime = *mime ? mime : NULL, .title = *title ? title : NULL, .pages = (int) pages,
        .bytes = bytes, .job_id = job
    };
    char doc_id [SL_STORE_ID];
    int rc = sl_store_document_commit (self->store, &meta, chunks.rows, chunks.count, vectors,
                                       (int) dim, model, doc_id);
    free (vectors);
    int count = chunks.count;
    s_chunks_free (&chunks);
    if (rc == SL_STORE_CONFLICT) {
        sl_ctx_set_error (ctx, "workspace uses a different embedding model than %s: %s", model,
                          sl_store_errmsg (self->store));
        return SL_FAIL;
    }
    if (rc != SL_STORE_OK && s_disk_full (sl_store_errmsg (self->store))) {
        sl_ctx_set_error (ctx, "disk full writing the database (%s)", sl_store_errmsg (self->store));
        return SL_FAIL;
    }
    if (rc != SL_STORE_OK) {
        sl_ctx_set_error (ctx, "store: %s", sl_store_errmsg (self->store));
        return SL_RETRY;
    }
    //  This stage's finish is recorded before the job turns terminal
    sl_store_job_stage (self->store, job, SL_STORE_STAGE_STORE, SL_STORE_FINISHED, sl_now_ms ());
    rc = sl_store_job_complete (self->store, job, doc_id);
    if (rc == SL_STORE_OK || rc == SL_STORE_NOT_FOUND)
        s_completed_event (ctx, doc_id, (int) pages, count, *title ? title : NULL, false);
    sl_blob_job_remove (self->blob, job);
    sl_info (job, "stored document %s: %lld pages, %d chunks", doc_id, (long long) pages, count);
    return SL_DONE;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    store_stage_t *self = calloc (1, sizeof *self);
    self->node = node;
    self->store = sl_store_shared (node, err, errlen);
    self->blob = sl_node_blob (node, err, errlen);
    if (!self->store || !self->blob) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_stop (void **state_p)
{
    free (*state_p);
    *state_p = NULL;
}

const sl_actor_def_t sl_store_actor = {
    .name = "store", .default_concurrency = 2, .stage_events = true,
    .start = s_start, .handler = s_store, .stop = s_stop
};
