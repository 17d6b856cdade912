/*  sl_fetch_actor: gets a job's bytes into the blob area.

    A URL is downloaded with sl_fetch (SSRF guard, limits, redirects; see
    sl_fetch.h); an upload was already streamed into the blob area by the
    edge, so it is only checked and sniffed. Either way the document type
    comes from the bytes (magic first, then the declared type and the name)
    and an unsupported type fails the job at once. If the workspace
    already holds a ready document with the same content, the job skips
    straight to store as a `duplicate`: re-ingesting identical content
    parses nothing and creates nothing.
*/
#include "sl_fetch.h"
#include "sl_sniff.h"
#include "sl_blob.h"
#include "sl_log.h"
#include "sl_node.h"
#include "sl_store_node.h"
#include "sl_util.h"

#include <czmq.h>

typedef struct {
    sl_node_t *node;
    sl_blob_t *blob;
    sl_store_t *store;
    sl_fetch_opts_t opts;
} fetch_t;

static void
s_progress (void *arg, size_t done, size_t total)
{
    sl_ctx_t *ctx = (sl_ctx_t *) arg;
    if (total)
        sl_ctx_progress (ctx, (int) (100 * done / total), "%zu of %zu KiB", done >> 10, total >> 10);
    else
        sl_ctx_progress (ctx, 0, "%zu KiB", done >> 10);
}

//  An uploaded blob: check it is there and sniff its head.
static int
s_adopt_blob (fetch_t *self, const msgpack_object *body, sl_fetch_result_t *res, char *err, size_t errlen)
{
    char path [1200], declared [128] = "";
    memset (res, 0, sizeof *res);
    if (sl_mp_get_str (body, "blob", res->sha256, sizeof res->sha256)
    ||  sl_blob_path (self->blob, res->sha256, path, sizeof path)) {
        snprintf (err, errlen, "upload reference is not a valid sha256");
        return SL_FETCH_PERMANENT;
    }
    sl_mp_get_str (body, "filename", res->filename, sizeof res->filename);
    sl_mp_get_str (body, "mime", declared, sizeof declared);
    FILE *f = fopen (path, "rb");
    if (!f && errno == ENOENT) {
        //  The collector may hold an old blob aside for a moment while it
        //  re-checks it, and puts it back once it sees this job (sl_blob.h)
        zclock_sleep (200);
        f = fopen (path, "rb");
    }
    if (!f) {
        snprintf (err, errlen, "uploaded bytes are no longer in the blob area");
        return SL_FETCH_PERMANENT;
    }
    char head [SL_SNIFF_HEAD];
    size_t n = fread (head, 1, sizeof head, f);
    fseek (f, 0, SEEK_END);
    res->size = (size_t) ftell (f);
    fclose (f);
    snprintf (res->mime, sizeof res->mime, "%s",
              sl_sniff_mime (head, n, *declared ? declared : NULL, *res->filename ? res->filename : NULL));
    return 0;
}

static sl_outcome_t
s_fetch (sl_ctx_t *ctx, void *state)
{
    fetch_t *self = (fetch_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const msgpack_object *body = sl_ctx_body (ctx);
    const char *ws = sl_envelope_workspace (env);
    char url [2048] = "", err [1024] = "", source [2300] = "";
    sl_fetch_result_t res;
    int rc;
    if (sl_mp_get_str (body, "url", url, sizeof url) == 0) {
        sl_fetch_opts_t opts = self->opts;
        opts.progress = s_progress;
        opts.progress_arg = ctx;
        rc = sl_fetch_url (&opts, self->blob, url, &res, err, sizeof err);
        snprintf (source, sizeof source, "%s", url);
    }
    else {
        rc = s_adopt_blob (self, body, &res, err, sizeof err);
        snprintf (source, sizeof source, "upload:%s", *res.filename ? res.filename : res.sha256);
    }
    if (rc == SL_FETCH_RETRY) {
        sl_ctx_set_error (ctx, "%s", err);
        return SL_RETRY;
    }
    if (rc) {
        sl_ctx_set_error (ctx, "%s", err);
        return SL_FAIL;
    }
    char src_override [2300] = "";
    if (sl_mp_get_str (body, "source", src_override, sizeof src_override) == 0 && *src_override)
        snprintf (source, sizeof source, "%s", src_override);
    if (strcmp (res.mime, SL_MIME_OLE) == 0) {
        sl_ctx_set_error (ctx, "%s%sis an OLE compound file: a password-protected Office document or a "
                          "legacy .doc/.xls/.ppt; save it without a password as DOCX, XLSX, PPTX or "
                          "OpenDocument and ingest it again", res.filename, *res.filename ? " " : "");
        return SL_FAIL;
    }
    if (!sl_sniff_supported (res.mime)) {
        sl_ctx_set_error (ctx, "unsupported document type %s%s%s (Sluice reads PDF, EPUB, XPS, CBZ, FB2, "
                          "HTML, Markdown, plain text, DOCX, PPTX, XLSX, ODT, ODP, ODS, PNG, JPEG, TIFF, "
                          "EML and MBOX)", res.mime, *res.filename ? " for " : "", res.filename);
        return SL_FAIL;
    }
    sl_store_job_set_blob (self->store, sl_envelope_job (env), res.sha256, res.mime);
    sl_mpw_t w;
    sl_mpw_init (&w);
    sl_store_doc_t doc;
    memset (&doc, 0, sizeof doc);
    //  A reprocess that went the long way (its job re-driven from its
    //  options after a lost message) is parsed and cut again on purpose:
    //  it is no duplicate, and says so to the stages after
    char reprocess [16] = "";
    sl_mp_get_str (body, "reprocess", reprocess, sizeof reprocess);
    bool recut = streq (reprocess, "chunk") || streq (reprocess, "embed");
    if (!recut && sl_store_document_find (self->store, ws, res.sha256, &doc) == SL_STORE_OK) {
        //  Same bytes already indexed here: no parse, no new chunks
        msgpack_pack_map (&w.pk, 2);
        sl_mpw_kv_str (&w, "document_id", doc.id);
        sl_mpw_kv_str (&w, "sha256", res.sha256);
        sl_envelope_t *dup = sl_envelope_new ("duplicate", sl_envelope_job (env), ws);
        sl_envelope_route_append (dup, "store");
        char id [SL_ID_LEN + 1];
        sl_id_derive (id, sl_envelope_id (env), "fwd", "duplicate");
        sl_envelope_set_id (dup, id);
        sl_envelope_set_body (dup, w.buf.data, w.buf.size);
        sl_ctx_submit (ctx, &dup);
        sl_info (sl_envelope_job (env), "content already stored as document %s", doc.id);
        sl_store_doc_reset (&doc);
        sl_mpw_reset (&w);
        return SL_DONE;
    }
    //  A mail attachment's depth goes on to parse, which bounds the
    //  nesting of attachments by it (sl_parse_actor.c)
    int64_t depth = 0;
    bool attachment = sl_mp_get_int (body, "attachment_depth", &depth) == 0 && depth > 0;
    //  The workspace's chunking settings, stamped by intake, go on to
    //  chunk as they came (engine/sl_chunking.h)
    const msgpack_object *chunking = sl_mp_get (body, "chunking");
    if (chunking && chunking->type != MSGPACK_OBJECT_MAP)
        chunking = NULL;
    //  The ingest's attributes (checked by intake, at most 16 KiB) go on
    //  to parse, which gives them to a mail's attachments; the store takes
    //  the document's own from the job row, not from here
    const msgpack_object *meta = sl_mp_get (body, "meta");
    if (meta && meta->type != MSGPACK_OBJECT_MAP)
        meta = NULL;
    msgpack_pack_map (&w.pk, 5 + (attachment ? 1 : 0) + (chunking ? 1 : 0) + (meta ? 1 : 0)
                           + (recut ? 1 : 0));
    if (recut)
        sl_mpw_kv_str (&w, "reprocess", reprocess);
    sl_mpw_kv_str (&w, "sha256", res.sha256);
    sl_mpw_kv_int (&w, "size", (int64_t) res.size);
    sl_mpw_kv_str (&w, "mime", res.mime);
    sl_mpw_kv_str (&w, "filename", res.filename);
    sl_mpw_kv_str (&w, "source", source);
    if (attachment)
        sl_mpw_kv_int (&w, "attachment_depth", depth);
    if (chunking) {
        sl_mpw_key (&w, "chunking");
        msgpack_pack_object (&w.pk, *chunking);
    }
    if (meta) {
        sl_mpw_key (&w, "meta");
        msgpack_pack_object (&w.pk, *meta);
    }
    sl_ctx_forward (ctx, "fetched", w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    return SL_DONE;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    fetch_t *self = calloc (1, sizeof *self);
    self->node = node;
    self->blob = sl_node_blob (node, err, errlen);
    self->store = self->blob ? sl_store_shared (node, err, errlen) : NULL;
    if (!self->store) {
        free (self);
        return NULL;
    }
    sl_config_t *cfg = sl_node_config (node);
    sl_fetch_opts_defaults (&self->opts);
    self->opts.connect_timeout_ms = sl_config_int (cfg, "fetch.connect_timeout_ms", self->opts.connect_timeout_ms);
    self->opts.total_timeout_ms = sl_config_int (cfg, "fetch.total_timeout_ms", self->opts.total_timeout_ms);
    self->opts.max_bytes = (size_t) sl_config_size (cfg, "fetch.max_bytes", (int64_t) self->opts.max_bytes);
    self->opts.max_redirects = sl_config_int (cfg, "fetch.max_redirects", self->opts.max_redirects);
    self->opts.allow_cidrs = sl_config_get (cfg, "fetch.allow_cidrs", NULL);
    self->opts.file_roots = sl_config_get (cfg, "fetch.file_roots", NULL);
    return self;
}

static void
s_stop (void **state_p)
{
    free (*state_p);
    *state_p = NULL;
}

const sl_actor_def_t sl_fetch_actor = {
    .name = "fetch", .default_concurrency = 4, .stage_events = true,
    .start = s_start, .handler = s_fetch, .stop = s_stop
};
