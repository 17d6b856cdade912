/*  sl_store_actor: the last stage. Commits the job's chunks.mp and
    vectors.f32 as a document in ONE transaction (so a search never sees
    half a document), which also completes the job, then emits
    job_completed and removes the artifacts.

    Identity (sl_store.c): the document is named by the job's source, taken
    from the job row that intake wrote. If that source named another
    document, the event and the job say `replaced`; if the content was
    stored already, `duplicate_of`.

    Memory: the chunks and vectors are streamed from the artifacts into the
    transaction SL_STORE_BATCH at a time, so a 10,000-page document costs
    one batch, not the whole document; every allocation is checked and a
    document that does not fit fails its job with the reason.

    Redelivery is harmless: a job already completed commits nothing
    (SL_STORE_TERMINAL) and emits no second job_completed. A job already
    FAILED (the re-driver gave up on it, or its dead letter was replayed)
    is committed and completed: its late original copy still counts.

    A `duplicate` message (fetch found the same content already stored in
    the workspace) links the job's source to that document, with nothing
    to insert.

    Vectors of another model than the workspace's (a `sluiced --reembed`
    switched it while the job was in flight) are not an error of the job:
    the job goes back through embed, whose node embeds with its model, at
    most S_REEMBED_ROUNDS times.
*/
#include "sl_store_node.h"
#include "sl_blob.h"
#include "sl_chunking.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_records.h"
#include "sl_util.h"

#include <jansson.h>

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_REEMBED_ROUNDS 3

typedef struct {
    sl_node_t *node;
    sl_store_t *store;
    sl_blob_t *blob;
} store_stage_t;

//  The artifacts, read one batch at a time (sl_store_reader_fn)
typedef struct {
    sl_recr_t *chunks;
    FILE *vectors;
    int dim;
    bool oom;                   //  an allocation failed: the job fails, the process lives
    char *texts [SL_STORE_BATCH];
    char *sections [SL_STORE_BATCH];    //  "sec", NULL if absent
    char *contexts [SL_STORE_BATCH];    //  "x", NULL if absent
    char hashes [SL_STORE_BATCH][SL_SHA256_HEX];
    int held;                   //  texts of the last batch, freed by the next
} reader_t;

static void
s_reader_release (reader_t *r)
{
    for (int i = 0; i < r->held; i++) {
        free (r->texts [i]);
        free (r->sections [i]);
        free (r->contexts [i]);
        r->texts [i] = r->sections [i] = r->contexts [i] = NULL;
    }
    r->held = 0;
}

static void
s_reader_close (reader_t *r)
{
    s_reader_release (r);
    sl_recr_destroy (&r->chunks);
    if (r->vectors)
        fclose (r->vectors);
    r->vectors = NULL;
}

//  Open the job's artifacts: n chunks, n x dim vectors. -1 with a reason.
static int
s_reader_open (reader_t *r, const char *dir, int64_t n, int dim, char *err, size_t errlen)
{
    memset (r, 0, sizeof *r);
    r->dim = dim;
    char path [1300];
    snprintf (path, sizeof path, "%s/chunks.mp", dir);
    r->chunks = sl_recr_new (path);
    snprintf (path, sizeof path, "%s/vectors.f32", dir);
    r->vectors = fopen (path, "rb");
    struct stat st;
    if (!r->chunks || !r->vectors || fstat (fileno (r->vectors), &st)
    ||  (uint64_t) st.st_size != (uint64_t) n * (uint64_t) dim * sizeof (float)) {
        snprintf (err, errlen, "%s", !r->chunks ? "chunks artifact missing"
                  : "vectors artifact missing or of the wrong size");
        s_reader_close (r);
        return -1;
    }
    return 0;
}

static int
s_reader_read (void *arg, sl_chunk_row_t *rows, float *vectors, int max, char *err,
               size_t errlen)
{
    reader_t *r = (reader_t *) arg;
    s_reader_release (r);
    if (max > SL_STORE_BATCH)
        max = SL_STORE_BATCH;
    int count = 0;
    while (count < max) {
        sl_mp_t *mp;
        int rc = sl_recr_next (r->chunks, &mp, err, errlen);
        if (rc < 0) {
            r->oom = strstr (err, "out of memory") != NULL;
            return -1;
        }
        if (rc == 0)
            break;
        const msgpack_object *o = sl_mp_root (mp);
        int64_t ord = 0, ps = 0, pe = 0, cs = 0, ce = 0, tk = 0;
        sl_mp_get_int (o, "o", &ord);
        sl_mp_get_int (o, "ps", &ps);
        sl_mp_get_int (o, "pe", &pe);
        sl_mp_get_int (o, "cs", &cs);
        sl_mp_get_int (o, "ce", &ce);
        sl_mp_get_int (o, "tk", &tk);
        const msgpack_object *t = sl_mp_get (o, "t");
        bool is_text = t && (t->type == MSGPACK_OBJECT_STR || t->type == MSGPACK_OBJECT_BIN);
        char *text = is_text ? sl_mp_strdup (t) : NULL;
        bool hashed = sl_mp_get_str (o, "h", r->hashes [count], SL_SHA256_HEX) == 0;
        //  structure (chunk's record format): kind, section, context, OCR
        char kind [8] = "";
        int64_t oc = -1;
        bool table = sl_mp_get_str (o, "k", kind, sizeof kind) == 0 && strcmp (kind, "table") == 0;
        bool ocr = sl_mp_get_int (o, "oc", &oc) == 0 && oc >= 0 && oc <= 100;
        const msgpack_object *sec = sl_mp_get (o, "sec"), *x = sl_mp_get (o, "x");
        r->sections [count] = sec ? sl_mp_strdup (sec) : NULL;
        r->contexts [count] = x ? sl_mp_strdup (x) : NULL;
        sl_mp_destroy (&mp);
        if (!text || !hashed) {
            free (text);
            free (r->sections [count]);
            free (r->contexts [count]);
            r->sections [count] = r->contexts [count] = NULL;
            r->oom = is_text && hashed;
            snprintf (err, errlen, r->oom ? "out of memory for the text of chunk %lld"
                                          : "chunks artifact has a malformed record (chunk %lld)",
                      (long long) ord);
            return -1;
        }
        r->texts [count] = text;
        r->held = count + 1;
        rows [count] = (sl_chunk_row_t) {
            .ordinal = (int) ord, .page_start = (int) ps, .page_end = (int) pe,
            .char_start = cs, .char_end = ce, .tokens = (int) tk,
            .hash = r->hashes [count], .text = text,
            .kind = table ? "table" : "text", .section = r->sections [count],
            .context = r->contexts [count], .ocr = ocr, .ocr_confidence = ocr ? (int) oc : 0
        };
        count++;
    }
    if (count > 0 && fread (vectors, sizeof (float) * (size_t) r->dim, (size_t) count, r->vectors)
                     != (size_t) count) {
        snprintf (err, errlen, "cannot read the vectors artifact");
        return -1;
    }
    return count;
}

static void
s_completed_event (sl_ctx_t *ctx, const sl_store_commit_t *result, int pages, int chunks,
                   const char *title)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 7 + (*result->replaced != 0) + (*result->duplicate_of != 0));
    sl_mpw_kv_str (&w, "type", "job_completed");
    sl_mpw_kv_str (&w, "document_id", result->document_id);
    sl_mpw_kv_int (&w, "pages", pages);
    sl_mpw_kv_int (&w, "chunks", chunks);
    sl_mpw_key (&w, "title");
    sl_mpw_str (&w, title);
    //  duplicate: kept for the clients that read it before duplicate_of
    sl_mpw_kv_bool (&w, "duplicate", *result->duplicate_of != 0);
    if (*result->duplicate_of)
        sl_mpw_kv_str (&w, "duplicate_of", result->duplicate_of);
    if (*result->replaced)
        sl_mpw_kv_str (&w, "replaced", result->replaced);
    sl_mpw_kv_int (&w, "ts", sl_now_ms ());
    sl_ctx_event_after (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

//  The attributes the ingest asked for: the job's options' "meta" (the
//  edge checked it), as JSON text (caller frees), or NULL: the commit
//  keeps the document's own
static char *
s_job_attrs (const sl_store_job_t *row)
{
    json_t *options = row->options ? json_loads (row->options, 0, NULL) : NULL;
    json_t *meta = json_object_get (options, "meta");
    char *text = json_is_object (meta) ? json_dumps (meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref (options);
    return text;
}

//  The source the document is to be named by: the job row's, written by
//  intake (sl_store_source_name); the message's only if the row is gone.
//  *state_out gets the job's state (-1 if there is no row), *attrs_out
//  (may be NULL) the attributes to commit (see s_job_attrs).
static void
s_job_source (store_stage_t *self, const char *job, const msgpack_object *body, char *source,
              size_t size, int *state_out, char **attrs_out)
{
    sl_store_job_t row;
    memset (&row, 0, sizeof row);
    *state_out = -1;
    *source = 0;
    if (attrs_out)
        *attrs_out = NULL;
    if (sl_store_job_get (self->store, job, &row) == SL_STORE_OK) {
        *state_out = (int) row.state;
        snprintf (source, size, "%s", row.source ? row.source : "");
        if (attrs_out)
            *attrs_out = s_job_attrs (&row);
    }
    sl_store_job_reset (&row);
    if (!*source)
        sl_mp_get_str (body, "source", source, size);
}

//  What the commit's outcome means for the message. Returns the outcome;
//  for SL_DONE also whether to announce job_completed.
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
s_outcome (store_stage_t *self, sl_ctx_t *ctx, int rc, const sl_store_commit_t *result,
           bool have_job, bool *announce)
{
    const char *job = sl_envelope_job (sl_ctx_envelope (ctx));
    *announce = false;
    if (rc == SL_STORE_OK) {
        //  completed by this commit, or committed for a job nobody recorded
        *announce = result->completed || !have_job;
        sl_blob_job_remove (self->blob, job);
        return SL_DONE;
    }
    if (rc == SL_STORE_TERMINAL) {
        sl_blob_job_remove (self->blob, job);
        return SL_DONE;             //  a redelivery of a completed job
    }
    if (rc == SL_STORE_SUPERSEDED) {
        sl_blob_job_remove (self->blob, job);
        sl_ctx_set_error (ctx, "%s", sl_store_errmsg (self->store));
        return SL_FAIL;
    }
    if (s_disk_full (sl_store_errmsg (self->store))) {
        sl_ctx_set_error (ctx, "disk full writing the database (%s)", sl_store_errmsg (self->store));
        return SL_FAIL;
    }
    sl_ctx_set_error (ctx, "store: %s", sl_store_errmsg (self->store));
    return SL_RETRY;
}

static sl_outcome_t
s_duplicate (store_stage_t *self, sl_ctx_t *ctx, const msgpack_object *body)
{
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const char *job = sl_envelope_job (env);
    char doc_id [SL_STORE_ID], sha [SL_SHA256_HEX], source [SL_STORE_SOURCE];
    if (sl_mp_get_str (body, "document_id", doc_id, sizeof doc_id)
    ||  sl_mp_get_str (body, "sha256", sha, sizeof sha)) {
        sl_ctx_set_error (ctx, "duplicate message without document_id or sha256");
        return SL_FAIL;
    }
    int state;
    char *attrs = NULL;
    s_job_source (self, job, body, source, sizeof source, &state, &attrs);
    if (state == SL_STORE_COMPLETED) {
        free (attrs);
        sl_blob_job_remove (self->blob, job);
        return SL_DONE;
    }
    sl_doc_meta_t meta = {
        .workspace = sl_envelope_workspace (env), .source = source, .sha256 = sha,
        .job_id = state >= 0 ? job : NULL, .attrs = attrs
    };
    sl_store_commit_t result;
    int rc = sl_store_document_link (self->store, &meta, &result);
    free (attrs);
    meta.attrs = NULL;
    if (rc == SL_STORE_NOT_FOUND) {
        sl_ctx_set_error (ctx, "document %s was deleted before the job completed: ingest "
                          "it again", doc_id);
        return SL_FAIL;
    }
    bool announce;
    sl_outcome_t outcome = s_outcome (self, ctx, rc, &result, state >= 0, &announce);
    if (announce) {
        sl_store_doc_t doc;
        memset (&doc, 0, sizeof doc);
        sl_store_document_get (self->store, meta.workspace, result.document_id, &doc);
        s_completed_event (ctx, &result, doc.pages, doc.chunks, doc.title);
        sl_store_doc_reset (&doc);
    }
    if (rc == SL_STORE_OK)
        sl_info (job, "%s names document %s (content already stored)%s%s", source,
                 result.document_id, *result.replaced ? ", replacing " : "", result.replaced);
    return outcome;
}

//  The vectors are of another model than the workspace's: a re-embed
//  switched it while this job was in flight. Send the job back through
//  embed (its node embeds with the current model) instead of failing it.
static sl_outcome_t
s_reembed (store_stage_t *self, sl_ctx_t *ctx, const msgpack_object *body, const char *model)
{
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    int64_t rounds = 0;
    sl_mp_get_int (body, "reembed", &rounds);
    if (rounds >= S_REEMBED_ROUNDS) {
        sl_ctx_set_error (ctx, "%s; embedded %lld more times, still with %s: are the embed "
                          "nodes configured with the workspace's model?",
                          sl_store_errmsg (self->store), (long long) rounds, model);
        return SL_FAIL;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    const char *except [] = { "model", "dim", "cached", "reembed", NULL };
    sl_mpw_map_extend (&w, body, except, 1);
    sl_mpw_kv_int (&w, "reembed", rounds + 1);
    sl_envelope_t *again = sl_envelope_dup (env);
    char id [SL_ID_LEN + 1], salt [24];
    snprintf (salt, sizeof salt, "%lld", (long long) rounds + 1);
    sl_id_derive (id, sl_envelope_id (env), "reembed", salt);
    sl_envelope_set_id (again, id);
    sl_envelope_set_kind (again, "chunked");
    sl_envelope_set_route (again, "embed,store");
    sl_envelope_set_attempt (again, 0);
    sl_envelope_set_body (again, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    sl_ctx_submit (ctx, &again);

    //  Say so in the job's log: the embed stage will start again
    char reason [600];
    snprintf (reason, sizeof reason, "embedding again: %s", sl_store_errmsg (self->store));
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 4);
    sl_mpw_kv_str (&w, "type", "stage_retry");
    sl_mpw_kv_str (&w, "stage", "embed");
    sl_mpw_kv_str (&w, "reason", reason);
    sl_mpw_kv_int (&w, "ts", sl_now_ms ());
    sl_ctx_event (ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    sl_info (sl_envelope_job (env), "%s", reason);
    return SL_DONE;
}


//  pages.mp into the blob area (content-addressed: the same parse output
//  is one blob), its hash into sha. Best effort: a document whose pages
//  could not be kept is stored all the same, and a reprocess of it says
//  to ingest it again
static void
s_keep_pages (store_stage_t *self, const char *dir, char sha [SL_SHA256_HEX])
{
    char path [1300];
    snprintf (path, sizeof path, "%s/pages.mp", dir);
    size_t size = 0;
    if (access (path, R_OK) == 0 && sl_blob_import_file (self->blob, path, 0, sha, &size) != 0)
        *sha = 0;
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

    char sha [SL_SHA256_HEX] = "", mime [128] = "", source [SL_STORE_SOURCE] = "", title [512] = "",
         model [128] = "";
    int64_t pages = 0, bytes = 0, nchunks = 0, dim = 0;
    if (sl_mp_get_str (body, "sha256", sha, sizeof sha) || sl_mp_get_str (body, "model", model, sizeof model)
    ||  sl_mp_get_int (body, "chunks", &nchunks) || sl_mp_get_int (body, "dim", &dim)
    ||  nchunks < 0 || nchunks > INT32_MAX || dim < 0 || dim > 65536) {
        sl_ctx_set_error (ctx, "store: message lacks sha256/model/chunks/dim");
        return SL_FAIL;
    }
    sl_mp_get_str (body, "mime", mime, sizeof mime);
    sl_mp_get_str (body, "title", title, sizeof title);
    sl_mp_get_int (body, "pages", &pages);
    sl_mp_get_int (body, "size", &bytes);
    int job_state;
    char *attrs = NULL;
    s_job_source (self, job, body, source, sizeof source, &job_state, &attrs);
    if (job_state == SL_STORE_COMPLETED) {
        //  A duplicate delivery after the first one completed
        free (attrs);
        sl_blob_job_remove (self->blob, job);
        return SL_DONE;
    }

    char dir [1200], err [512] = "";
    if (sl_blob_job_dir (self->blob, job, dir, sizeof dir)) {
        free (attrs);
        sl_ctx_set_error (ctx, "store: bad job id");
        return SL_FAIL;
    }
    reader_t *reader = calloc (1, sizeof *reader);
    if (!reader) {
        free (attrs);
        sl_ctx_set_error (ctx, "store: out of memory");
        return SL_RETRY;
    }
    if (s_reader_open (reader, dir, nchunks, (int) dim, err, sizeof err)) {
        free (attrs);
        free (reader);
        sl_ctx_set_error (ctx, "store: %s", err);
        return SL_RETRY;
    }
    sl_ctx_progress (ctx, 50, "committing %lld chunks", (long long) nchunks);
    //  How chunk cut it (engine/sl_chunking.h), recorded with the document
    const msgpack_object *cut = sl_mp_get (body, "chunking");
    sl_chunking_t used;
    sl_chunking_from_config (&used, NULL);
    char cut_err [256];
    char *chunking = cut && sl_chunking_apply_mp (&used, cut, cut_err, sizeof cut_err) == 0
                   ? sl_chunking_to_text (&used) : NULL;
    //  The parse output is kept (a blob the document names), so the
    //  document can be cut again later without a fetch or a parse
    char pages_blob [SL_SHA256_HEX] = "";
    s_keep_pages (self, dir, pages_blob);
    char reprocess [16] = "";
    sl_mp_get_str (body, "reprocess", reprocess, sizeof reprocess);
    sl_doc_meta_t meta = {
        .workspace = sl_envelope_workspace (env), .source = source, .sha256 = sha,
        .mime = *mime ? mime : NULL, .title = *title ? title : NULL, .pages = (int) pages,
        .bytes = bytes, .job_id = job_state >= 0 ? job : NULL, .chunking = chunking,
        .attrs = attrs, .pages_blob = *pages_blob ? pages_blob : NULL, .recut = *reprocess != 0
    };
    sl_store_commit_t result;
    int rc = sl_store_document_commit_stream (self->store, &meta, (int) nchunks, (int) dim,
                                              model, s_reader_read, reader, &result);
    free (chunking);
    free (attrs);
    meta.attrs = NULL;
    bool oom = reader->oom;
    s_reader_close (reader);
    free (reader);
    if (rc == SL_STORE_CONFLICT)
        return s_reembed (self, ctx, body, model);
    if (rc == SL_STORE_ERROR && oom) {
        sl_ctx_set_error (ctx, "store: %s: the document does not fit in memory",
                          sl_store_errmsg (self->store));
        return SL_FAIL;
    }
    bool announce;
    sl_outcome_t outcome = s_outcome (self, ctx, rc, &result, job_state >= 0, &announce);
    if (announce)
        s_completed_event (ctx, &result, (int) pages, (int) nchunks, *title ? title : NULL);
    if (rc == SL_STORE_OK)
        sl_info (job, "stored document %s from %s: %lld pages, %lld chunks%s%s%s",
                 result.document_id, source, (long long) pages, (long long) nchunks,
                 *result.duplicate_of ? " (content already stored)" : "",
                 *result.replaced ? ", replacing " : "", result.replaced);
    return outcome;
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
