/*  sl_query_actor: answers questions about a workspace over REQUEST/REPLY
    (the table in docs/protocol.md §4). Every operation takes the
    workspace from the envelope, never from the body, so a caller cannot
    reach into another workspace by naming its ids: those are 404 here.
    Search embeds the query with the process's embedder and refuses to
    compare vectors from different models.
*/
#include "sl_store_node.h"
#include "sl_blob.h"
#include "sl_chunking.h"
#include "sl_filter.h"
#include "sl_embed_shared.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_K 100

typedef struct {
    sl_node_t *node;
    sl_store_t *store;
    double vector_weight;       //  search.* fusion settings
    double page_weight;
    double exact_weight;
    int candidates;
    int delete_attempts;        //  delete.message_attempts: deliveries before the DLQ
} query_t;

//  A chunk's structure, in hits and chunk lists: kind ("text", "table"),
//  section (path, "" none), ocr (its text was read by OCR) and
//  ocr_confidence (lowest page confidence 0-100, null when not OCR'd).
//  Four map entries.
static void
s_pack_structure (sl_mpw_t *w, const char *kind, const char *section, bool ocr, int confidence)
{
    sl_mpw_kv_str (w, "kind", *kind ? kind : "text");
    sl_mpw_kv_str (w, "section", section ? section : "");
    sl_mpw_kv_bool (w, "ocr", ocr);
    sl_mpw_key (w, "ocr_confidence");
    if (ocr)
        msgpack_pack_int (&w->pk, confidence);
    else
        msgpack_pack_nil (&w->pk);
}

//  Where a hit's answer is: highlights, [[start, end], ...] in code points
//  of text (the words the ranking matched, sl_highlight.h), and mime, the
//  document's type (the edge's document_url opens a PDF at its page).
//  Two map entries.
static void
s_pack_answer (sl_mpw_t *w, const sl_hit_t *hit)
{
    sl_mpw_key (w, "highlights");
    msgpack_pack_array (&w->pk, (size_t) hit->n_highlights);
    for (int i = 0; i < hit->n_highlights; i++) {
        msgpack_pack_array (&w->pk, 2);
        msgpack_pack_int (&w->pk, hit->highlights [2 * i]);
        msgpack_pack_int (&w->pk, hit->highlights [2 * i + 1]);
    }
    sl_mpw_key (w, "mime");
    sl_mpw_str (w, hit->mime);
}

static void
s_limits (const msgpack_object *body, int64_t *limit, int64_t *offset, int64_t max)
{
    *limit = 50;
    *offset = 0;
    sl_mp_get_int (body, "limit", limit);
    sl_mp_get_int (body, "offset", offset);
    if (*limit < 1)
        *limit = 1;
    if (*limit > max)
        *limit = max;
    if (*offset < 0)
        *offset = 0;
}

static void
s_reply (sl_ctx_t *ctx, sl_mpw_t *w)
{
    sl_ctx_reply (ctx, w->buf.data, w->buf.size);
    sl_mpw_reset (w);
}

static void
s_store_error (query_t *self, sl_ctx_t *ctx, int rc, const char *what)
{
    if (rc == SL_STORE_NOT_FOUND)
        sl_ctx_reply_error (ctx, 404, "%s not found", what);
    else
        sl_ctx_reply_error (ctx, 500, "store: %s", sl_store_errmsg (self->store));
}

//  The job named by body.job, if it belongs to ws (another workspace's job
//  is "not found": its existence is not the caller's business).
static int
s_job_in_ws (query_t *self, const char *ws, const msgpack_object *body, char id [SL_STORE_TOKEN],
             sl_store_job_t *job)
{
    memset (job, 0, sizeof *job);
    int rc = sl_mp_get_str (body, "job", id, SL_STORE_TOKEN) ? SL_STORE_NOT_FOUND
           : sl_store_job_get (self->store, id, job);
    if (rc == SL_STORE_OK && strcmp (job->workspace, ws) != 0)
        rc = SL_STORE_NOT_FOUND;
    return rc;
}

static void
s_job_get (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    char id [SL_STORE_TOKEN];
    sl_store_job_t job;
    int rc = s_job_in_ws (self, ws, body, id, &job);
    if (rc != SL_STORE_OK)
        s_store_error (self, ctx, rc, "job");
    else
        sl_store_reply_job (ctx, &job);
    sl_store_job_reset (&job);
}

static void
s_jobs_list (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    int64_t limit, offset;
    s_limits (body, &limit, &offset, 1000);
    char state [32] = "";
    sl_mp_get_str (body, "state", state, sizeof state);
    if (*state && sl_store_state_parse (state) < 0) {
        sl_ctx_reply_error (ctx, 400, "unknown job state '%s'", state);
        return;
    }
    sl_store_job_t *jobs = NULL;
    int count = 0;
    int rc = sl_store_job_list (self->store, ws, *state ? state : NULL, (int) limit, (int) offset, &jobs, &count);
    if (rc != SL_STORE_OK) {
        s_store_error (self, ctx, rc, "jobs");
        return;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 1);
    sl_mpw_key (&w, "jobs");
    msgpack_pack_array (&w.pk, (size_t) count);
    for (int i = 0; i < count; i++)
        sl_store_pack_job (&w, &jobs [i]);
    sl_store_jobs_free (&jobs, count);
    s_reply (ctx, &w);
}

static void
s_events (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    char id [SL_STORE_TOKEN];
    sl_store_job_t job;
    int rc = s_job_in_ws (self, ws, body, id, &job);
    bool terminal = sl_store_state_terminal ((int) job.state);
    sl_store_job_reset (&job);
    if (rc != SL_STORE_OK) {
        s_store_error (self, ctx, rc, "job");
        return;
    }
    int64_t after = 0;
    sl_mp_get_int (body, "after", &after);
    sl_store_event_t *events = NULL;
    int count = 0;
    rc = sl_store_events_list (self->store, id, after, 1000, &events, &count);
    if (rc != SL_STORE_OK) {
        s_store_error (self, ctx, rc, "events");
        return;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_key (&w, "events");
    msgpack_pack_array (&w.pk, (size_t) count);
    for (int i = 0; i < count; i++) {
        //  {seq, type, ts, job, ...data}: the same shape as the live events
        json_error_t error;
        json_t *data = events [i].data ? json_loads (events [i].data, 0, &error) : NULL;
        if (!json_is_object (data)) {
            json_decref (data);
            data = json_object ();
        }
        json_object_set_new (data, "seq", json_integer (events [i].seq));
        json_object_set_new (data, "type", json_string (events [i].type));
        json_object_set_new (data, "ts", json_integer (events [i].ts));
        json_object_set_new (data, "job", json_string (id));
        sl_json_to_mp (data, &w);
        json_decref (data);
    }
    sl_mpw_kv_bool (&w, "terminal", terminal);
    sl_store_events_free (&events, count);
    s_reply (ctx, &w);
}

static void
s_doc_list (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    int64_t limit, offset, total = 0;
    s_limits (body, &limit, &offset, 1000);
    sl_store_doc_t *docs = NULL;
    int count = 0;
    int rc = sl_store_document_list (self->store, ws, (int) limit, (int) offset, &docs, &count, &total);
    if (rc != SL_STORE_OK) {
        s_store_error (self, ctx, rc, "documents");
        return;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_key (&w, "documents");
    msgpack_pack_array (&w.pk, (size_t) count);
    for (int i = 0; i < count; i++)
        sl_store_pack_doc (&w, &docs [i]);
    sl_mpw_kv_int (&w, "total", total);
    sl_store_docs_free (&docs, count);
    s_reply (ctx, &w);
}

static void
s_doc_get (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    char id [SL_STORE_ID];
    sl_store_doc_t doc;
    memset (&doc, 0, sizeof doc);
    int rc = sl_mp_get_str (body, "id", id, sizeof id) ? SL_STORE_NOT_FOUND
           : sl_store_document_get (self->store, ws, id, &doc);
    if (rc != SL_STORE_OK)
        s_store_error (self, ctx, rc, "document");
    else {
        sl_mpw_t w;
        sl_mpw_init (&w);
        msgpack_pack_map (&w.pk, 1);
        sl_mpw_key (&w, "document");
        sl_store_pack_doc (&w, &doc);
        s_reply (ctx, &w);
    }
    sl_store_doc_reset (&doc);
}

static void
s_doc_chunks (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    char id [SL_STORE_ID];
    int64_t limit, offset, total = 0;
    s_limits (body, &limit, &offset, 1000);
    sl_store_chunk_t *chunks = NULL;
    int count = 0;
    int rc = sl_mp_get_str (body, "id", id, sizeof id) ? SL_STORE_NOT_FOUND
           : sl_store_chunks_list (self->store, ws, id, (int) limit, (int) offset, &chunks, &count, &total);
    if (rc != SL_STORE_OK) {
        s_store_error (self, ctx, rc, "document");
        return;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 2);
    sl_mpw_key (&w, "chunks");
    msgpack_pack_array (&w.pk, (size_t) count);
    for (int i = 0; i < count; i++) {
        msgpack_pack_map (&w.pk, 12);
        sl_mpw_kv_str (&w, "id", chunks [i].id);
        sl_mpw_kv_int (&w, "ordinal", chunks [i].ordinal);
        sl_mpw_kv_int (&w, "page_start", chunks [i].page_start);
        sl_mpw_kv_int (&w, "page_end", chunks [i].page_end);
        sl_mpw_kv_int (&w, "char_start", chunks [i].char_start);
        sl_mpw_kv_int (&w, "char_end", chunks [i].char_end);
        sl_mpw_kv_int (&w, "tokens", chunks [i].tokens);
        sl_mpw_kv_str (&w, "text", chunks [i].text);
        s_pack_structure (&w, chunks [i].kind, chunks [i].section, chunks [i].ocr,
                          chunks [i].ocr_confidence);
    }
    sl_mpw_kv_int (&w, "total", total);
    sl_store_chunks_free (&chunks, count);
    s_reply (ctx, &w);
}

//  doc_content {id, offset, limit}: up to limit (1..SL_QUERY_CONTENT_PART,
//  the default) bytes of the document's stored blob from offset, for
//  clients that reach Sluice through the broker (the HTTP edge serves the
//  blob itself): {sha256, mime, source, size, offset, data, more}. Another
//  workspace's document is 404; a blob gone (collected, lost) is 410
#define SL_QUERY_CONTENT_PART (1 << 20)

static void
s_doc_content (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    char id [SL_STORE_ID], err [256], path [1024];
    int64_t offset = 0, limit = SL_QUERY_CONTENT_PART;
    sl_mp_get_int (body, "offset", &offset);
    sl_mp_get_int (body, "limit", &limit);
    if (offset < 0 || limit < 1 || limit > SL_QUERY_CONTENT_PART) {
        sl_ctx_reply_error (ctx, 400, "offset must be >= 0 and limit 1..%d", SL_QUERY_CONTENT_PART);
        return;
    }
    sl_store_doc_t doc;
    memset (&doc, 0, sizeof doc);
    int rc = sl_mp_get_str (body, "id", id, sizeof id) ? SL_STORE_NOT_FOUND
           : sl_store_document_get (self->store, ws, id, &doc);
    sl_blob_t *blob = rc == SL_STORE_OK ? sl_node_blob (self->node, err, sizeof err) : NULL;
    int fd = blob && sl_blob_path (blob, doc.sha256, path, sizeof path) == 0
           ? open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    struct stat st;
    char *data = NULL;
    ssize_t got = -1;
    if (fd >= 0 && fstat (fd, &st) == 0 && S_ISREG (st.st_mode)
    &&  (data = malloc ((size_t) limit)) != NULL)
        got = offset >= st.st_size ? 0 : pread (fd, data, (size_t) limit, (off_t) offset);
    if (fd >= 0)
        close (fd);
    if (rc != SL_STORE_OK)
        s_store_error (self, ctx, rc, "document");
    else
    if (got < 0)
        sl_ctx_reply_error (ctx, 410, "the stored bytes of document %s are gone (collected or "
                            "lost); ingest the document again to read it", id);
    else {
        sl_mpw_t w;
        sl_mpw_init (&w);
        msgpack_pack_map (&w.pk, 7);
        sl_mpw_kv_str (&w, "sha256", doc.sha256);
        sl_mpw_key (&w, "mime");
        sl_mpw_str (&w, doc.mime);
        sl_mpw_key (&w, "source");
        sl_mpw_str (&w, doc.source);
        sl_mpw_kv_int (&w, "size", st.st_size);
        sl_mpw_kv_int (&w, "offset", offset);
        sl_mpw_key (&w, "data");
        sl_mpw_bin (&w, data, (size_t) got);
        sl_mpw_kv_bool (&w, "more", offset + got < st.st_size);
        s_reply (ctx, &w);
    }
    free (data);
    sl_store_doc_reset (&doc);
}

//  A deletion is accepted here and done by the delete service
//  (actors/delete): one short transaction marks the document deleting,
//  which every search skips from its commit on, and the delete message
//  goes to the broker with the reply. The tombstone is the durable
//  record: had the message been lost, the delete service's re-driver
//  sends it again. A document already deleting answers the same, and
//  sends nothing more (its message is queued, running, or dead-lettered
//  for a person to replay).
static void
s_doc_delete (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    char id [SL_STORE_ID];
    sl_store_doc_t doc;
    memset (&doc, 0, sizeof doc);
    bool already = false;
    int rc = sl_mp_get_str (body, "id", id, sizeof id) ? SL_STORE_NOT_FOUND
           : sl_store_document_get (self->store, ws, id, &doc);
    if (rc == SL_STORE_OK)
        rc = sl_store_document_tombstone (self->store, ws, id, &already);
    if (rc != SL_STORE_OK) {
        sl_store_doc_reset (&doc);
        s_store_error (self, ctx, rc, "document");
        return;
    }
    if (!already) {
        //  The time in the salt: the same bytes ingested again after this
        //  deletion are the same document id, and a later deletion must not
        //  reuse this message's id (the broker would drop it as done)
        char salt [32];
        snprintf (salt, sizeof salt, "%lld", (long long) sl_now_ms ());
        sl_envelope_t *env = sl_store_delete_envelope (ws, id, doc.sha256, doc.pages_blob, salt,
                                                       self->delete_attempts);
        if (env)
            sl_ctx_submit (ctx, &env);
        sl_info (NULL, "deletion of document %s from %s accepted", id, ws);
    }
    sl_store_doc_reset (&doc);
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 4);
    sl_mpw_kv_bool (&w, "deleted", true);
    sl_mpw_kv_bool (&w, "accepted", true);
    sl_mpw_kv_str (&w, "id", id);
    sl_mpw_kv_str (&w, "state", "deleting");
    s_reply (ctx, &w);
}

//  The search's documents filter: an array of document ids, or absent.
//  Returns how many, or -1 if it is not an array of at most
//  SL_STORE_SEARCH_DOCS valid ids.
static int
s_search_documents (const msgpack_object *body, char (*ids) [SL_TOKEN_MAX + 1],
                    const char **ptrs)
{
    const msgpack_object *docs = sl_mp_get (body, "documents");
    if (!docs || docs->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (docs->type != MSGPACK_OBJECT_ARRAY || docs->via.array.size > SL_STORE_SEARCH_DOCS)
        return -1;
    for (uint32_t i = 0; i < docs->via.array.size; i++) {
        const msgpack_object *id = &docs->via.array.ptr [i];
        if (id->type != MSGPACK_OBJECT_STR || id->via.str.size > SL_TOKEN_MAX)
            return -1;
        memcpy (ids [i], id->via.str.ptr, id->via.str.size);
        ids [i][id->via.str.size] = 0;
        if (!sl_token_valid (ids [i]))
            return -1;
        ptrs [i] = ids [i];
    }
    return (int) docs->via.array.size;
}

//  The search's filter fields (filter, source_prefix, mime; sl_filter.h),
//  checked here too: the query service trusts no caller. 0 with *filter_p
//  (NULL: none), or -1 after replying 400 with the reason.
static int
s_search_filter (const msgpack_object *body, sl_filter_t **filter_p, sl_ctx_t *ctx)
{
    *filter_p = NULL;
    if (!sl_mp_get (body, "filter") && !sl_mp_get (body, "source_prefix")
    &&  !sl_mp_get (body, "mime"))
        return 0;
    json_t *request = sl_json_from_mp (body);
    //  filter may come as the JSON text of an object (from clients without
    //  a JSON library: libsluice)
    json_t *text = json_object_get (request, "filter");
    if (json_is_string (text)) {
        json_t *parsed = json_loads (json_string_value (text), JSON_REJECT_DUPLICATES, NULL);
        json_object_set_new (request, "filter", parsed ? parsed : json_string ("not JSON"));
    }
    char err [300];
    int rc = sl_filter_from_request (request, filter_p, err, sizeof err);
    json_decref (request);
    if (rc)
        sl_ctx_reply_error (ctx, 400, "%s", err);
    return rc;
}

//  Re-tag: body {id, meta (object), merge (PATCH) or not (PUT)}; replies
//  with the document as it is now
static void
s_doc_meta (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    char id [SL_STORE_ID];
    const msgpack_object *meta = sl_mp_get (body, "meta");
    bool merge = false;
    const msgpack_object *m = sl_mp_get (body, "merge");
    if (m && m->type == MSGPACK_OBJECT_BOOLEAN)
        merge = m->via.boolean;
    if (sl_mp_get_str (body, "id", id, sizeof id)) {
        s_store_error (self, ctx, SL_STORE_NOT_FOUND, "document");
        return;
    }
    //  a map, or the JSON text of one (libsluice)
    json_t *object = meta && meta->type == MSGPACK_OBJECT_STR
                   ? json_loadb (meta->via.str.ptr, meta->via.str.size, JSON_REJECT_DUPLICATES, NULL)
                   : meta ? sl_json_from_mp (meta) : NULL;
    char *text = json_is_object (object) ? json_dumps (object, JSON_COMPACT) : NULL;
    json_decref (object);
    if (!text) {
        sl_ctx_reply_error (ctx, 400, "meta must be a JSON object such as {\"team\": \"legal\"}");
        return;
    }
    int rc = sl_store_document_meta (self->store, ws, id, text, merge, NULL);
    free (text);
    //  The store's refusals of the attributes themselves all begin "meta"
    //  (sl_filter.h); anything else is the database's failure
    if (rc == SL_STORE_ERROR && strncmp (sl_store_errmsg (self->store), "meta", 4) == 0) {
        sl_ctx_reply_error (ctx, 400, "%s", sl_store_errmsg (self->store));
        return;
    }
    if (rc != SL_STORE_OK) {
        s_store_error (self, ctx, rc, "document");
        return;
    }
    s_doc_get (self, ctx, ws, body);
}

static void
s_search (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    char *query = sl_mp_strdup (sl_mp_get (body, "query"));
    int64_t k = 10;
    sl_mp_get_int (body, "k", &k);
    //  hybrid unless asked: older clients send no mode
    char *mode_name = sl_mp_strdup (sl_mp_get (body, "mode"));
    int mode = mode_name ? sl_search_mode_parse (mode_name) : SL_SEARCH_HYBRID;
    free (mode_name);
    if (mode < 0) {
        sl_ctx_reply_error (ctx, 400, "mode must be hybrid, vector or lexical");
        free (query);
        return;
    }
    char doc_ids [SL_STORE_SEARCH_DOCS][SL_TOKEN_MAX + 1];
    const char *doc_ptrs [SL_STORE_SEARCH_DOCS];
    int n_docs = s_search_documents (body, doc_ids, doc_ptrs);
    if (n_docs < 0) {
        sl_ctx_reply_error (ctx, 400, "documents must be an array of at most %d document ids",
                            SL_STORE_SEARCH_DOCS);
        free (query);
        return;
    }
    if (!query || !*query || strlen (query) > 8192) {
        sl_ctx_reply_error (ctx, 400, "search needs a non-empty 'query' of at most 8192 bytes");
        free (query);
        return;
    }
    if (k < 1 || k > MAX_K) {
        sl_ctx_reply_error (ctx, 400, "k must be between 1 and %d", MAX_K);
        free (query);
        return;
    }
    sl_filter_t *filter = NULL;
    if (s_search_filter (body, &filter, ctx)) {
        free (query);
        return;
    }
    char err [512] = "";
    sl_embedder_t *embedder = sl_embedder_shared (self->node, err, sizeof err);
    if (!embedder) {
        sl_ctx_reply_error (ctx, 503, "no embedder: %s", err);
        sl_filter_destroy (&filter);
        free (query);
        return;
    }
    int dim = sl_embedder_dim (embedder);
    float *vec = calloc ((size_t) dim, sizeof (float));
    const char *texts [1] = { query };
    size_t lens [1] = { strlen (query) };
    if (sl_embedder_embed (embedder, texts, lens, 1, vec, err, sizeof err)) {
        sl_ctx_reply_error (ctx, 500, "cannot embed the query: %s", err);
        sl_filter_destroy (&filter);
        free (vec);
        free (query);
        return;
    }
    sl_hit_t hits [MAX_K];
    memset (hits, 0, sizeof hits);
    int n = 0;
    sl_search_t how = { .text = query, .mode = (sl_search_mode_t) mode,
                        .documents = doc_ptrs, .n_documents = n_docs,
                        .vector_weight = self->vector_weight,
                        .page_weight = self->page_weight,
                        .exact_weight = self->exact_weight,
                        .candidates = self->candidates, .filter = filter };
    int rc = sl_store_search_text (self->store, ws, sl_embedder_model_id (embedder), vec, dim,
                                   &how, (int) k, hits, &n);
    sl_filter_destroy (&filter);
    free (vec);
    free (query);
    if (rc == SL_STORE_CONFLICT) {
        sl_ctx_reply_error (ctx, 409, "this workspace was embedded with another model (%s); "
                            "re-embed it or query with the same model", sl_store_errmsg (self->store));
        return;
    }
    if (rc != SL_STORE_OK && rc != SL_STORE_NOT_FOUND) {
        s_store_error (self, ctx, rc, "workspace");
        return;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 3);
    sl_mpw_key (&w, "hits");
    msgpack_pack_array (&w.pk, (size_t) n);
    for (int i = 0; i < n; i++) {
        msgpack_pack_map (&w.pk, 16);
        sl_mpw_key (&w, "score");
        msgpack_pack_double (&w.pk, hits [i].score);
        int match = hits [i].match;
        sl_mpw_kv_str (&w, "match", match == (SL_HIT_VECTOR | SL_HIT_LEXICAL) ? "both"
                                  : match == SL_HIT_LEXICAL ? "lexical" : "vector");
        sl_mpw_kv_str (&w, "chunk_id", hits [i].chunk_id);
        sl_mpw_kv_str (&w, "document_id", hits [i].document_id);
        sl_mpw_kv_int (&w, "ordinal", hits [i].ordinal);
        sl_mpw_key (&w, "title");
        sl_mpw_str (&w, hits [i].title);
        sl_mpw_key (&w, "source");
        sl_mpw_str (&w, hits [i].source);
        sl_mpw_kv_int (&w, "page_start", hits [i].page_start);
        sl_mpw_kv_int (&w, "page_end", hits [i].page_end);
        sl_mpw_key (&w, "text");
        sl_mpw_str (&w, hits [i].text);
        s_pack_structure (&w, hits [i].kind, hits [i].section, hits [i].ocr, hits [i].ocr_confidence);
        s_pack_answer (&w, &hits [i]);
    }
    sl_mpw_kv_str (&w, "model", sl_embedder_model_id (embedder));
    sl_mpw_kv_str (&w, "mode", sl_search_mode_name ((sl_search_mode_t) mode));
    sl_store_hits_reset (hits, n);
    s_reply (ctx, &w);
}

static void
s_status (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    sl_store_stats_t stats;
    if (sl_store_stats (self->store, &stats) != SL_STORE_OK) {
        sl_ctx_reply_error (ctx, 503, "store: %s", sl_store_errmsg (self->store));
        return;
    }
    char err [512] = "";
    sl_embedder_t *embedder = sl_embedder_shared (self->node, err, sizeof err);
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 9);
    sl_mpw_kv_str (&w, "store", "ok");
    sl_mpw_kv_str (&w, "backend", sl_store_backend (self->store));
    sl_mpw_key (&w, "model");
    sl_mpw_str (&w, embedder ? sl_embedder_model_id (embedder) : NULL);
    sl_mpw_key (&w, "provider");
    sl_mpw_str (&w, embedder ? sl_embedder_provider (embedder) : NULL);
    sl_mpw_kv_int (&w, "dim", embedder ? sl_embedder_dim (embedder) : 0);
    sl_mpw_kv_str (&w, "embedder_error", *err ? err : sl_embedder_fallback_note ());
    sl_mpw_key (&w, "jobs");
    msgpack_pack_map (&w.pk, SL_STORE_STATE_COUNT);
    for (int s = 0; s < SL_STORE_STATE_COUNT; s++)
        sl_mpw_kv_int (&w, sl_store_state_name ((sl_store_state_t) s), stats.jobs [s]);
    sl_mpw_kv_int (&w, "documents", stats.documents);
    sl_mpw_kv_int (&w, "chunks", stats.chunks);
    s_reply (ctx, &w);
}

//  The workspace's chunking: its own settings, else the server's. *own
//  says which; -1 if the store cannot say (replied)
static int
s_ws_chunking (query_t *self, sl_ctx_t *ctx, const char *ws, sl_chunking_t *out, bool *own)
{
    sl_chunking_from_config (out, sl_node_config (self->node));
    char json [1100] = "";
    int rc = sl_store_workspace_chunking (self->store, ws, json, sizeof json);
    if (rc != SL_STORE_OK && rc != SL_STORE_NOT_FOUND) {
        s_store_error (self, ctx, rc, "workspace");
        return -1;
    }
    char err [256];
    *own = sl_chunking_apply_text (out, json, err, sizeof err) == 1;
    return 0;
}

//  GET /v1/workspace: the caller's workspace, its model and how its
//  documents are cut
static void
s_ws_reply (query_t *self, sl_ctx_t *ctx, const char *ws)
{
    sl_chunking_t chunking;
    bool own = false;
    if (s_ws_chunking (self, ctx, ws, &chunking, &own))
        return;
    char model [256] = "";
    int dim = 0;
    int rc = sl_store_workspace_model (self->store, ws, model, sizeof model, &dim);
    if (rc != SL_STORE_OK && rc != SL_STORE_NOT_FOUND) {
        s_store_error (self, ctx, rc, "workspace");
        return;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 5);
    sl_mpw_kv_str (&w, "workspace", ws);
    sl_mpw_key (&w, "model");
    sl_mpw_str (&w, *model ? model : NULL);
    sl_mpw_kv_int (&w, "dim", dim);
    sl_mpw_key (&w, "chunking");
    sl_chunking_pack (&chunking, &w);
    //  "workspace": its own settings; "server": the chunk.* configuration
    sl_mpw_kv_str (&w, "chunking_source", own ? "workspace" : "server");
    s_reply (ctx, &w);
}

static void
s_ws_get (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    (void) body;
    s_ws_reply (self, ctx, ws);
}

//  PUT /v1/workspace/chunking ({"chunking": {...}}: the fields given
//  change, over what applies now) and DELETE ({"chunking": nil}: back to
//  the server's). Refused: a bad setting, a target the model cannot take
static void
s_ws_set_chunking (query_t *self, sl_ctx_t *ctx, const char *ws, const msgpack_object *body)
{
    const msgpack_object *change = sl_mp_get (body, "chunking");
    char *json = NULL;
    if (change && change->type != MSGPACK_OBJECT_NIL) {
        sl_chunking_t chunking;
        bool own;
        if (s_ws_chunking (self, ctx, ws, &chunking, &own))
            return;
        char err [256] = "";
        if (sl_chunking_apply_mp (&chunking, change, err, sizeof err)) {
            sl_ctx_reply_error (ctx, 400, "%s", err);
            return;
        }
        sl_embedder_t *embedder = sl_embedder_shared (self->node, err, sizeof err);
        int max = embedder ? sl_embedder_max_tokens (embedder) : 0;
        if (max > 0 && chunking.target_tokens > max) {
            sl_ctx_reply_error (ctx, 400, "chunking: target_tokens %d is more than model %s "
                                "takes (%d tokens)", chunking.target_tokens,
                                sl_embedder_model_id (embedder), max);
            return;
        }
        json = sl_chunking_to_text (&chunking);
    }
    int rc = sl_store_workspace_set_chunking (self->store, ws, json);
    free (json);
    if (rc != SL_STORE_OK)
        s_store_error (self, ctx, rc, "workspace");
    else
        s_ws_reply (self, ctx, ws);
}

static sl_outcome_t
s_query (sl_ctx_t *ctx, void *state)
{
    query_t *self = (query_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const char *kind = sl_envelope_kind (env);
    const char *ws = sl_envelope_workspace (env);
    const msgpack_object *body = sl_ctx_body (ctx);
    if (!*ws) {
        sl_ctx_reply_error (ctx, 400, "request has no workspace");
        return SL_DONE;
    }
    struct { const char *kind; void (*fn) (query_t *, sl_ctx_t *, const char *, const msgpack_object *); } ops [] = {
        { "job_get", s_job_get }, { "jobs_list", s_jobs_list }, { "events", s_events },
        { "doc_list", s_doc_list }, { "doc_get", s_doc_get }, { "doc_chunks", s_doc_chunks },
        { "doc_delete", s_doc_delete }, { "search", s_search }, { "status", s_status },
        { "ws_get", s_ws_get }, { "ws_chunking", s_ws_set_chunking },
        { "doc_content", s_doc_content },
        { "doc_meta", s_doc_meta },
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops [0]; i++)
        if (streq (kind, ops [i].kind)) {
            ops [i].fn (self, ctx, ws, body);
            return SL_DONE;
        }
    sl_ctx_reply_error (ctx, 400, "unknown query '%s'", kind);
    return SL_DONE;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    sl_store_t *store = sl_store_shared (node, err, errlen);
    if (!store)
        return NULL;
    query_t *self = calloc (1, sizeof *self);
    self->node = node;
    self->store = store;
    //  fusion settings (docs/config.md); out of range: the store's default
    sl_config_t *config = sl_node_config (node);
    self->vector_weight = sl_config_double (config, "search.vector_weight",
                                            SL_SEARCH_VECTOR_WEIGHT_DEFAULT);
    self->page_weight = sl_config_double (config, "search.page_weight",
                                          SL_SEARCH_PAGE_WEIGHT_DEFAULT);
    self->exact_weight = sl_config_double (config, "search.exact_weight",
                                           SL_SEARCH_EXACT_WEIGHT_DEFAULT);
    self->candidates = (int) sl_config_int (config, "search.candidates",
                                            SL_SEARCH_CANDIDATES_DEFAULT);
    self->delete_attempts = (int) sl_config_int (config, "delete.message_attempts", 5);
    return self;
}

static void
s_stop (void **state_p)
{
    free (*state_p);
    *state_p = NULL;
}

const sl_actor_def_t sl_query_actor = {
    .name = "query", .default_concurrency = 2,
    .start = s_start, .handler = s_query, .stop = s_stop
};
