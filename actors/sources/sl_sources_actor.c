/*  sl_sources_actor: a workspace's sources, kept in sync.

    A source is a folder (under fetch.file_roots, walked recursively), a
    list of URLs, a sitemap (sitemap.xml, indexes followed once) or a
    bounded crawl of one site (robots.txt honoured, depth and page limits), with
    an optional schedule (sl_schedule: "every 15m" or five-field cron) and
    attributes (meta) every document it brings gets. The service answers
    REQUESTs (the edge's /v1/sources, the CLI, the clients):

        source_add {source}            source_list {}
        source_get {id}                source_update {id, source}
        source_delete {id}             source_sync {id}
        source_runs {id, limit}

    and a scheduler thread syncs the sources that are due, in any
    workspace, one at a time per process.

    A sync (a "run") compares the source's listing with the evidence kept
    for each item (sl_store "Sources": one row per item), cheapest first:
    a file's mtime and size; a URL's ETag / Last-Modified, asked with a
    conditional HEAD through fetch's address guard (304: unchanged); a
    sitemap entry's <lastmod>; a crawled page's content hash (the crawl
    reads every page for its links anyway). What is new or changed is submitted to
    intake as an ordinary ingest job (retries, events and the ledger
    apply), named after the run and the item, so a run resumed after a
    crash asks for the same jobs and intake answers with the ones it made;
    content last: fetch's dedupe by content short-circuits a file whose
    bytes did not change (touched, copied back) to store, never parsed. The
    document of an item is named by its URL (file://<path> for a folder's
    file): a changed file replaces its document (docs/architecture.md,
    "Identity"). Once the run's jobs have ended, items that vanished are
    forgotten: their name stops naming the document, which goes unless
    another name still names it (a renamed file stored as a copy). A
    listing that fails (the folder is gone, the sitemap is not XML) fails
    the run and deletes nothing.

    State machine of a run: queued (asked for by source_sync) -> running
    -> completed | failed. Counts are derived from the items' evidence,
    which records the run that last touched each item and what it did
    (new, changed, deleted) and how its job ended, so they are exact even
    for a run resumed by another process.

    One sync of a source at a time, in the whole deployment: a run holds
    the store lease "src.<id>" (sl_store_lease), renewed as it goes; a
    process that dies leaves the run "running" and its lease expires
    (sources.lease_s); the source is still due, so the next scheduler to
    take the lease finds the run running and resumes it under the same id.
    Jobs the dead process had submitted are its intake's: the re-driver
    re-submits the ones its broker lost (jobs.stale_s).

    Failure model: a request with a bad field is refused with a sentence
    (400); another workspace's source is 404; a duplicate (same kind and
    target in the workspace) is 409. A URL the address guard refuses is
    refused when registered (400) and again by every fetch.
*/
#include "sl_store_node.h"
#include "sl_blob.h"
#include "sl_client.h"
#include "sl_fetch.h"
#include "sl_filter.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_metrics.h"
#include "sl_crawl.h"
#include "sl_schedule.h"
#include "sl_sitemap.h"
#include "sl_util.h"

#include <czmq.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>

#define S_NEVER 253402300799000LL       //  9999-12-31: a source without a schedule
#define S_PATH_MAX 4096

typedef struct {
    sl_node_t *node;
    sl_store_t *store;
    sl_blob_t *blobs;
    sl_fetch_opts_t opts;           //  fetch's limits and guard, as the fetch stage reads them
    const char *file_roots;
    char owner [128];
    int64_t poll_ms;
    int64_t lease_ms;
    int max_items;
    int max_urls;
    int keep_runs;
    int delete_attempts;            //  delete.message_attempts
    int64_t max_sitemap_bytes;
    pthread_t thread;
    volatile bool stopping;
    sl_metrics_t *metrics;
} sources_t;

//  --------------------------------------------------------------------------
//  Small helpers

//  Forget a source name (sl_store_source_forget); if that left its
//  document deleting, hand the delete service its message: with the
//  request's reply (ctx) or through the run's client. A message that does
//  not reach the broker is sent later by the delete service's re-driver.
//  OK, doc_out the document the name named ("" if none).
static int
s_forget (sources_t *self, const char *ws, const char *name, char doc_out [SL_STORE_ID],
          sl_ctx_t *ctx, sl_client_t *client)
{
    int rc = sl_store_source_forget (self->store, ws, name, doc_out);
    sl_store_doc_t row;
    memset (&row, 0, sizeof row);
    if (rc != SL_STORE_OK || !*doc_out
    ||  sl_store_document_get (self->store, ws, doc_out, &row) != SL_STORE_OK
    ||  strcmp (row.state, "deleting") != 0) {
        sl_store_doc_reset (&row);
        return rc;
    }
    char salt [32];
    snprintf (salt, sizeof salt, "%lld", (long long) sl_now_ms ());
    sl_envelope_t *env = sl_store_delete_envelope (ws, doc_out, row.sha256, row.pages_blob, salt,
                                                   self->delete_attempts);
    sl_store_doc_reset (&row);
    if (env && ctx)
        sl_ctx_submit (ctx, &env);
    else
    if (env && client) {
        sl_client_result_t res;
        if (sl_client_submit (client, env, 5000, &res) != SL_CLIENT_OK)
            sl_warn (NULL, "deletion of document %s not handed over now (%s): the delete "
                     "service's re-driver sends it", doc_out, res.reason);
    }
    sl_envelope_destroy (&env);
    return rc;
}

//  Reply with a JSON value (reference stolen).
static void
s_reply (sl_ctx_t *ctx, json_t *value)
{
    size_t size = 0;
    char *packed = sl_json_to_msgpack (value, &size);
    sl_ctx_reply (ctx, packed, size);
    free (packed);
    json_decref (value);
}

static const char *
s_str (const json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "";
}

//  A store row (JSON text, freed) as a value; NULL if unreadable.
static json_t *
s_load (char *text)
{
    json_t *value = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    return value;
}

static void
s_lease_name (const char *id, char name [64])
{
    snprintf (name, 64, "src.%s", id);
}

//  The name the store gives the document of url (as intake names it).
static int
s_doc_source (const char *url, char *out, size_t size)
{
    char why [256];
    return sl_store_source_name (url, NULL, 0, NULL, out, size, why, sizeof why);
}

//  file:// URL of an absolute path: unreserved bytes and '/' as they are,
//  the rest percent-encoded
static void
s_file_url (const char *path, char *out, size_t size)
{
    size_t n = (size_t) snprintf (out, size, "file://");
    for (const unsigned char *p = (const unsigned char *) path; *p && n + 4 < size; p++) {
        if (isalnum (*p) || strchr ("/-._~", *p))
            out [n++] = (char) *p;
        else
            n += (size_t) snprintf (out + n, size - n, "%%%02X", *p);
    }
    out [n] = 0;
}

//  --------------------------------------------------------------------------
//  Checking a source

//  Check and normalise the definition in; fills key (what makes two
//  sources the same). 0, or an HTTP status with the reason in why.
static int
s_check_target (sources_t *self, json_t *in, char *key, size_t keysize, char *why, size_t whylen)
{
    const char *kind = s_str (in, "kind");
    if (streq (kind, "folder")) {
        const char *path = s_str (in, "path");
        char real [PATH_MAX];
        struct stat st;
        if (!*path || *path != '/' || strlen (path) >= PATH_MAX) {
            snprintf (why, whylen, "a folder source needs 'path', an absolute path below "
                      "fetch.file_roots");
            return 400;
        }
        if (!self->file_roots || !*self->file_roots) {
            snprintf (why, whylen, "folder sources need fetch.file_roots (the folders the server "
                      "may read); it is not set on this server");
            return 400;
        }
        if (!realpath (path, real) || stat (real, &st) || !S_ISDIR (st.st_mode)) {
            snprintf (why, whylen, "folder %.300s does not exist on the server (or is not a folder)",
                      path);
            return 400;
        }
        if (!sl_fetch_path_allowed (real, self->file_roots)) {
            snprintf (why, whylen, "folder %.300s is outside fetch.file_roots (%.300s): choose a "
                      "folder below one of them, or ask the operator to add it", path,
                      self->file_roots);
            return 400;
        }
        json_object_set_new (in, "path", json_string (real));
        snprintf (key, keysize, "folder:%s", real);
        return 0;
    }
    if (streq (kind, "urls")) {
        json_t *urls = json_object_get (in, "urls");
        size_t count = json_array_size (urls);
        if (!json_is_array (urls) || count == 0 || count > (size_t) self->max_urls) {
            snprintf (why, whylen, "a urls source needs 'urls', a list of 1 to %d http(s) URLs",
                      self->max_urls);
            return 400;
        }
        size_t index;
        json_t *url;
        json_array_foreach (urls, index, url) {
            const char *text = json_string_value (url);
            if (!text) {
                snprintf (why, whylen, "urls[%zu] is not a string", index);
                return 400;
            }
            if (sl_fetch_check_url (&self->opts, text, why, whylen))
                return 400;
            for (size_t j = 0; j < index; j++)
                if (streq (text, json_string_value (json_array_get (urls, j)))) {
                    snprintf (why, whylen, "%.300s is listed twice", text);
                    return 400;
                }
        }
        //  The key: the list's hash, so the same list twice is a duplicate
        sl_sha256_t *hash = sl_sha256_new ();
        json_array_foreach (urls, index, url)
            sl_sha256_update (hash, json_string_value (url), json_string_length (url) + 1);
        char hex [SL_SHA256_HEX];
        sl_sha256_final (&hash, hex);
        snprintf (key, keysize, "urls:%s", hex);
        return 0;
    }
    if (streq (kind, "sitemap")) {
        const char *url = s_str (in, "url");
        if (!*url) {
            snprintf (why, whylen, "a sitemap source needs 'url', the http(s) URL of its "
                      "sitemap.xml (or sitemap index)");
            return 400;
        }
        if (sl_fetch_check_url (&self->opts, url, why, whylen))
            return 400;
        snprintf (key, keysize, "sitemap:%s", url);
        return 0;
    }
    if (streq (kind, "crawl")) {
        const char *url = s_str (in, "url");
        json_t *depth = json_object_get (in, "max_depth");
        json_t *pages = json_object_get (in, "max_pages");
        if (!*url) {
            snprintf (why, whylen, "a crawl source needs 'url', the http(s) page it starts from");
            return 400;
        }
        if ((depth && (!json_is_integer (depth) || json_integer_value (depth) < 0
                       || json_integer_value (depth) > 10))
        ||  (pages && (!json_is_integer (pages) || json_integer_value (pages) < 1
                       || json_integer_value (pages) > self->max_items))) {
            snprintf (why, whylen, "max_depth must be an integer 0..10 and max_pages 1..%d "
                      "(sources.max_items)", self->max_items);
            return 400;
        }
        if (sl_fetch_check_url (&self->opts, url, why, whylen))
            return 400;
        if (!depth)
            json_object_set_new (in, "max_depth", json_integer (2));
        if (!pages)
            json_object_set_new (in, "max_pages", json_integer (100));
        snprintf (key, keysize, "crawl:%s", url);
        return 0;
    }
    snprintf (why, whylen, "kind must be folder, urls, sitemap or crawl, not '%.40s'", kind);
    return 400;
}

//  The fields anyone may change: schedule, meta, name. 0 or 400 with why.
static int
s_check_settings (json_t *in, char *why, size_t whylen)
{
    json_t *schedule = json_object_get (in, "schedule");
    if (schedule && !json_is_null (schedule)) {
        sl_schedule_t *parsed = json_is_string (schedule)
            ? sl_schedule_new (json_string_value (schedule), why, whylen) : NULL;
        if (!json_is_string (schedule))
            snprintf (why, whylen, "schedule must be a string such as \"every 15m\" or "
                      "\"0 3 * * *\", or null for syncs on demand only");
        if (!parsed)
            return 400;
        sl_schedule_destroy (&parsed);
    }
    json_t *meta = json_object_get (in, "meta");
    if (meta && !json_is_null (meta)) {
        sl_meta_t *checked = sl_meta_from_json (meta, why, whylen);
        if (!checked)
            return 400;
        sl_meta_destroy (&checked);
    }
    json_t *name = json_object_get (in, "name");
    if (name && !json_is_null (name) && (!json_is_string (name) || json_string_length (name) > 200)) {
        snprintf (why, whylen, "name must be a string of at most 200 bytes");
        return 400;
    }
    return 0;
}

//  When the source is next due after a run that began at from_ms.
static int64_t
s_next_due (const json_t *source, int64_t from_ms)
{
    const char *text = json_string_value (json_object_get (source, "schedule"));
    char why [300];
    sl_schedule_t *schedule = text ? sl_schedule_new (text, why, sizeof why) : NULL;
    int64_t next = schedule ? sl_schedule_next (schedule, from_ms) : S_NEVER;
    sl_schedule_destroy (&schedule);
    return next < 0 ? S_NEVER : next;
}

//  --------------------------------------------------------------------------
//  Requests

static json_t *
s_source_view (sources_t *self, const char *id, json_t *row, int64_t next_ms)
{
    json_object_set_new (row, "next_sync", next_ms >= S_NEVER ? json_null () : json_integer (next_ms));
    json_t *runs = NULL;
    char *text = NULL;
    if (sl_store_source_runs (self->store, id, 1, &text) == SL_STORE_OK)
        runs = s_load (text);
    json_object_set (row, "last_run", json_array_size (runs) ? json_array_get (runs, 0) : json_null ());
    json_decref (runs);
    return row;
}

static void
s_store_error (sources_t *self, sl_ctx_t *ctx, int rc, const char *id)
{
    if (rc == SL_STORE_NOT_FOUND)
        sl_ctx_reply_error (ctx, 404, "no source %.64s in this workspace", id);
    else
        sl_ctx_reply_error (ctx, 503, "store: %s", sl_store_errmsg (self->store));
}

static void
s_add (sources_t *self, sl_ctx_t *ctx, const char *ws, json_t *body)
{
    json_t *in = json_object_get (body, "source");
    char key [S_PATH_MAX + 16], why [1024];
    if (!json_is_object (in)) {
        sl_ctx_reply_error (ctx, 400, "send the source as a JSON object: {\"kind\": \"folder\", "
                            "\"path\": \"/srv/docs\", \"schedule\": \"every 15m\"}");
        return;
    }
    in = json_deep_copy (in);
    int status = s_check_target (self, in, key, sizeof key, why, sizeof why);
    if (!status)
        status = s_check_settings (in, why, sizeof why);
    if (status) {
        json_decref (in);
        sl_ctx_reply_error (ctx, status, "%s", why);
        return;
    }
    //  Only the known fields are kept
    char id [SL_ID_LEN + 1];
    sl_id_new (id);
    int64_t now = sl_now_ms ();
    json_t *row = json_pack ("{s:s, s:s, s:s, s:I, s:I}", "id", id, "workspace", ws,
                             "kind", s_str (in, "kind"), "created", (json_int_t) now,
                             "updated", (json_int_t) now);
    const char *fields [] = { "path", "urls", "url", "max_depth", "max_pages", "schedule", "meta",
                              "name", NULL };
    for (int i = 0; fields [i]; i++) {
        json_t *value = json_object_get (in, fields [i]);
        if (value && !json_is_null (value))
            json_object_set (row, fields [i], value);
    }
    json_decref (in);
    char *text = json_dumps (row, JSON_COMPACT);
    //  A new source syncs at once, then on its schedule
    int rc = sl_store_source_put (self->store, ws, id, key, text, now, true);
    free (text);
    if (rc == SL_STORE_CONFLICT) {
        json_decref (row);
        sl_ctx_reply_error (ctx, 409, "this workspace already has a source for %.300s: change "
                            "or sync that one", strchr (key, ':') + 1);
        return;
    }
    if (rc != SL_STORE_OK) {
        json_decref (row);
        s_store_error (self, ctx, rc, id);
        return;
    }
    sl_info (NULL, "source %s added to workspace %s: %s", id, ws, key);
    s_reply (ctx, json_pack ("{s:o}", "source", s_source_view (self, id, row, now)));
}

static json_t *
s_row (sources_t *self, sl_ctx_t *ctx, const char *ws, const char *id, int64_t *next)
{
    char *text = NULL;
    int rc = sl_store_source_get (self->store, ws, id, &text, next);
    if (rc != SL_STORE_OK) {
        s_store_error (self, ctx, rc, id);
        return NULL;
    }
    return s_load (text);
}

static void
s_get (sources_t *self, sl_ctx_t *ctx, const char *ws, json_t *body)
{
    const char *id = s_str (body, "id");
    int64_t next = 0;
    json_t *row = s_row (self, ctx, ws, id, &next);
    if (row)
        s_reply (ctx, json_pack ("{s:o}", "source", s_source_view (self, id, row, next)));
}

static void
s_list (sources_t *self, sl_ctx_t *ctx, const char *ws, json_t *body)
{
    char *text = NULL;
    int rc = sl_store_source_list (self->store, ws, 0, &text);
    if (rc != SL_STORE_OK) {
        s_store_error (self, ctx, rc, "");
        return;
    }
    json_t *rows = s_load (text);
    size_t index;
    json_t *row;
    json_array_foreach (rows, index, row) {
        int64_t next = json_integer_value (json_object_get (row, "next_ms"));
        json_object_del (row, "next_ms");
        s_source_view (self, s_str (row, "id"), row, next);
    }
    s_reply (ctx, json_pack ("{s:o}", "sources", rows ? rows : json_array ()));
}

static void
s_update (sources_t *self, sl_ctx_t *ctx, const char *ws, json_t *body)
{
    const char *id = s_str (body, "id");
    json_t *in = json_object_get (body, "source");
    char why [1024];
    if (!json_is_object (in)) {
        sl_ctx_reply_error (ctx, 400, "send the changes as a JSON object, such as "
                            "{\"schedule\": \"every 1h\"}");
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach (in, key, value)
        if (!streq (key, "schedule") && !streq (key, "meta") && !streq (key, "name")) {
            sl_ctx_reply_error (ctx, 400, "'%.40s' cannot change (only schedule, meta and name "
                                "can): delete the source and add it again", key);
            return;
        }
    if (s_check_settings (in, why, sizeof why)) {
        sl_ctx_reply_error (ctx, 400, "%s", why);
        return;
    }
    int64_t next = 0;
    json_t *row = s_row (self, ctx, ws, id, &next);
    if (!row)
        return;
    json_object_foreach (in, key, value) {
        if (json_is_null (value))
            json_object_del (row, key);
        else
            json_object_set (row, key, value);
    }
    int64_t now = sl_now_ms ();
    json_object_set_new (row, "updated", json_integer (now));
    if (json_object_get (in, "schedule"))
        next = s_next_due (row, now);
    char source_key [S_PATH_MAX + 16];
    const char *kind = s_str (row, "kind");
    //  The key does not change: kind and target are fixed
    if (streq (kind, "folder"))
        snprintf (source_key, sizeof source_key, "folder:%s", s_str (row, "path"));
    else
    if (streq (kind, "sitemap") || streq (kind, "crawl"))
        snprintf (source_key, sizeof source_key, "%s:%s", kind, s_str (row, "url"));
    else
        source_key [0] = 0;
    char *text = json_dumps (row, JSON_COMPACT);
    int rc = SL_STORE_OK;
    if (!*source_key) {
        //  urls: keep the key the store has (the list's hash)
        char check [S_PATH_MAX + 16];
        json_t *copy = json_deep_copy (row);
        rc = s_check_target (self, copy, check, sizeof check, why, sizeof why) ? SL_STORE_ERROR
                                                                                : SL_STORE_OK;
        json_decref (copy);
        snprintf (source_key, sizeof source_key, "%s", check);
    }
    if (rc == SL_STORE_OK)
        rc = sl_store_source_put (self->store, ws, id, source_key, text, next, false);
    free (text);
    if (rc != SL_STORE_OK) {
        json_decref (row);
        s_store_error (self, ctx, rc, id);
        return;
    }
    s_reply (ctx, json_pack ("{s:o}", "source", s_source_view (self, id, row, next)));
}

//  Forget every item's document, then the source. Deleting never waits
//  for a run: a run of a source that is gone ends failed at its next write.
static void
s_delete (sources_t *self, sl_ctx_t *ctx, const char *ws, json_t *body)
{
    const char *id = s_str (body, "id");
    int64_t next = 0;
    json_t *row = s_row (self, ctx, ws, id, &next);
    if (!row)
        return;
    char *text = NULL;
    json_t *items = sl_store_source_items (self->store, id, &text) == SL_STORE_OK ? s_load (text)
                                                                                  : NULL;
    const char *key;
    json_t *evidence;
    int deleted = 0;
    json_object_foreach (items, key, evidence) {
        char name [SL_STORE_SOURCE], doc [SL_STORE_ID];
        const char *url = s_str (evidence, "u");
        if (*url && !streq (s_str (evidence, "a"), "deleted") && s_doc_source (url, name, sizeof name) == 0
        &&  s_forget (self, ws, name, doc, ctx, NULL) == SL_STORE_OK && *doc)
            deleted++;
    }
    json_decref (items);
    int rc = sl_store_source_delete (self->store, ws, id);
    json_decref (row);
    if (rc != SL_STORE_OK) {
        s_store_error (self, ctx, rc, id);
        return;
    }
    sl_info (NULL, "source %s deleted from workspace %s with %d documents", id, ws, deleted);
    s_reply (ctx, json_pack ("{s:s, s:b, s:i}", "id", id, "deleted", 1, "documents_deleted", deleted));
}

//  A run is asked for: queued, and the source due now. A run already
//  queued or running is the answer instead of a second one.
static void
s_sync (sources_t *self, sl_ctx_t *ctx, const char *ws, json_t *body)
{
    const char *id = s_str (body, "id");
    json_t *row = s_row (self, ctx, ws, id, NULL);
    if (!row)
        return;
    json_decref (row);
    char *text = NULL;
    json_t *runs = sl_store_source_runs (self->store, id, 1, &text) == SL_STORE_OK ? s_load (text)
                                                                                   : NULL;
    json_t *last = json_array_get (runs, 0);
    const char *state = s_str (last, "state");
    if (streq (state, "queued") || streq (state, "running")) {
        s_reply (ctx, json_pack ("{s:O, s:b}", "run", last, "already", 1));
        json_decref (runs);
        return;
    }
    //  Named after the run before it: two requests racing here make one run
    char run_id [SL_ID_LEN + 1];
    sl_id_derive (run_id, id, last ? s_str (last, "id") : "", "sync");
    json_decref (runs);
    int64_t now = sl_now_ms ();
    json_t *run = json_pack ("{s:s, s:s, s:s, s:s, s:I}", "id", run_id, "source_id", id,
                             "state", "queued", "trigger", "manual", "requested", (json_int_t) now);
    text = json_dumps (run, JSON_COMPACT);
    int rc = sl_store_source_run_put (self->store, id, run_id, text, now);
    free (text);
    if (rc == SL_STORE_OK)
        rc = sl_store_source_set_next (self->store, id, now);
    if (rc != SL_STORE_OK) {
        json_decref (run);
        s_store_error (self, ctx, rc, id);
        return;
    }
    s_reply (ctx, json_pack ("{s:o, s:b}", "run", run, "already", 0));
}

static void
s_runs (sources_t *self, sl_ctx_t *ctx, const char *ws, json_t *body)
{
    const char *id = s_str (body, "id");
    json_int_t limit = json_integer_value (json_object_get (body, "limit"));
    if (limit <= 0 || limit > 100)
        limit = 20;
    json_t *row = s_row (self, ctx, ws, id, NULL);
    if (!row)
        return;
    json_decref (row);
    char *text = NULL;
    int rc = sl_store_source_runs (self->store, id, (int) limit, &text);
    if (rc != SL_STORE_OK) {
        s_store_error (self, ctx, rc, id);
        return;
    }
    s_reply (ctx, json_pack ("{s:o}", "runs", s_load (text)));
}

static sl_outcome_t
s_handle (sl_ctx_t *ctx, void *state)
{
    sources_t *self = (sources_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const char *ws = sl_envelope_workspace (env);
    const char *kind = sl_envelope_kind (env);
    if (!*ws) {
        sl_ctx_reply_error (ctx, 400, "request has no workspace");
        return SL_DONE;
    }
    json_t *body = sl_ctx_body (ctx) ? sl_json_from_mp (sl_ctx_body (ctx)) : json_object ();
    struct {
        const char *kind;
        void (*fn) (sources_t *, sl_ctx_t *, const char *, json_t *);
        bool needs_id;
    } ops [] = {
        { "source_add", s_add, false }, { "source_list", s_list, false },
        { "source_get", s_get, true }, { "source_update", s_update, true },
        { "source_delete", s_delete, true }, { "source_sync", s_sync, true },
        { "source_runs", s_runs, true },
    };
    size_t i = 0;
    for (; i < sizeof ops / sizeof ops [0]; i++)
        if (streq (kind, ops [i].kind))
            break;
    if (i == sizeof ops / sizeof ops [0])
        sl_ctx_reply_error (ctx, 400, "unknown request '%.40s' for sources", kind);
    else
    if (ops [i].needs_id && !sl_token_valid (s_str (body, "id")))
        sl_ctx_reply_error (ctx, 400, "'id' must name a source");
    else
        ops [i].fn (self, ctx, ws, body);
    json_decref (body);
    return SL_DONE;
}

//  --------------------------------------------------------------------------
//  A run

typedef struct {
    sources_t *self;
    json_t *source;
    const char *id;
    const char *ws;
    char lease [64];
    char run_id [SL_ID_LEN + 1];
    json_t *run;                    //  the run's row
    json_t *items;                  //  key -> evidence, as stored
    json_t *listing;                //  key -> {u: url, m, s, lm}: what the source holds now
    sl_client_t *client;            //  to intake
    bool abandoned;                 //  stopping, or the lease went: the run stays running
    char error [1024];
} run_t;

static int
s_run_save (run_t *run)
{
    char *text = json_dumps (run->run, JSON_COMPACT);
    int rc = sl_store_source_run_put (run->self->store, run->id, run->run_id, text,
                                      json_integer_value (json_object_get (run->run, "started")));
    free (text);
    return rc;
}

//  Renew the lease: false (and the run stops) if another process has it
//  now, which only happens if this one stalled longer than the lease.
static bool
s_renew (run_t *run)
{
    int64_t now = sl_now_ms ();
    if (run->self->stopping) {
        snprintf (run->error, sizeof run->error, "the process is stopping");
        run->abandoned = true;
        return false;
    }
    if (sl_store_lease (run->self->store, run->lease, run->self->owner, now,
                        now + run->self->lease_ms) == SL_STORE_OK)
        return true;
    snprintf (run->error, sizeof run->error, "lost the source's lease to another process");
    run->abandoned = true;
    return false;
}

static int
s_item_put (run_t *run, const char *key, json_t *evidence)
{
    char *text = evidence ? json_dumps (evidence, JSON_COMPACT) : NULL;
    int rc = sl_store_source_item_put (run->self->store, run->id, key, text);
    free (text);
    if (rc != SL_STORE_OK)
        snprintf (run->error, sizeof run->error, "store: %s", sl_store_errmsg (run->self->store));
    return rc;
}

//  Add every regular file below dir (rel: its path in the source) to
//  the listing; symbolic links and dot files are not followed.
static int
s_walk (run_t *run, const char *dir, const char *rel, int depth)
{
    DIR *d = opendir (dir);
    if (!d) {
        snprintf (run->error, sizeof run->error, "cannot read folder %.300s: %s", dir,
                  strerror (errno));
        return -1;
    }
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir (d))) {
        if (entry->d_name [0] == '.')
            continue;
        char path [S_PATH_MAX], key [S_PATH_MAX];
        struct stat st;
        if ((size_t) snprintf (path, sizeof path, "%s/%s", dir, entry->d_name) >= sizeof path
        ||  (size_t) snprintf (key, sizeof key, "%s%s%s", rel, *rel ? "/" : "", entry->d_name)
            >= sizeof key || fstatat (dirfd (d), entry->d_name, &st, AT_SYMLINK_NOFOLLOW))
            continue;
        if (S_ISDIR (st.st_mode) && depth < 64)
            rc = s_walk (run, path, key, depth + 1);
        else
        if (S_ISREG (st.st_mode)) {
            //  Keys are JSON object keys: a name that is not UTF-8 cannot be one
            json_t *probe = json_string (key);
            json_decref (probe);
            if (!probe) {
                sl_warn (NULL, "source %s: skipped %.300s: its name is not UTF-8", run->id, path);
                continue;
            }
            if ((int) json_object_size (run->listing) >= run->self->max_items) {
                snprintf (run->error, sizeof run->error, "folder holds more than %d files "
                          "(sources.max_items)", run->self->max_items);
                rc = -1;
                break;
            }
            char url [S_PATH_MAX * 3 + 8];
            s_file_url (path, url, sizeof url);
            json_object_set_new (run->listing, key, json_pack ("{s:s, s:I, s:I}", "u", url,
                "m", (json_int_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
                "s", (json_int_t) st.st_size));
        }
    }
    closedir (d);
    return rc;
}

//  Fetch and read one sitemap (through fetch's guard and limits); its
//  entries go into the listing, an index's sitemaps are read in turn.
static int
s_sitemap (run_t *run, const char *url, int depth)
{
    sources_t *self = run->self;
    sl_fetch_opts_t opts = self->opts;
    opts.max_bytes = (size_t) self->max_sitemap_bytes;
    opts.file_roots = NULL;
    sl_fetch_result_t result;
    char err [512], path [1200];
    if (!s_renew (run))
        return -1;
    if (sl_fetch_url (&opts, self->blobs, url, &result, err, sizeof err)) {
        snprintf (run->error, sizeof run->error, "sitemap %.300s: %s", url, err);
        return -1;
    }
    if (sl_blob_path (self->blobs, result.sha256, path, sizeof path)) {
        snprintf (run->error, sizeof run->error, "sitemap %.300s: not in the blob area", url);
        return -1;
    }
    sl_sitemap_t *map = sl_sitemap_read (path, url, self->max_items, err, sizeof err);
    //  The sitemap is a listing, not a document: nothing else names its blob
    if (!sl_store_blob_referenced (self->store, result.sha256))
        sl_blob_remove (self->blobs, result.sha256);
    if (!map) {
        snprintf (run->error, sizeof run->error, "%s", err);
        return -1;
    }
    int rc = 0;
    if (sl_sitemap_is_index (map) && depth > 0) {
        snprintf (run->error, sizeof run->error, "sitemap index %.300s names another index: "
                  "only one level of indexes is followed", url);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < sl_sitemap_count (map); i++) {
        const char *loc = sl_sitemap_loc (map, i);
        if (strncmp (loc, "http://", 7) && strncmp (loc, "https://", 8))
            continue;           //  not ours to fetch
        if (sl_sitemap_is_index (map))
            rc = s_sitemap (run, loc, depth + 1);
        else
        if ((int) json_object_size (run->listing) >= self->max_items) {
            snprintf (run->error, sizeof run->error, "sitemap lists more than %d pages "
                      "(sources.max_items)", self->max_items);
            rc = -1;
        }
        else
            json_object_set_new (run->listing, loc, json_pack ("{s:s, s:s}", "u", loc,
                                 "lm", sl_sitemap_lastmod (map, i)));
    }
    sl_sitemap_destroy (&map);
    return rc;
}

//  A bounded crawl: breadth first from the start page, same site only
//  (sl_crawl), robots.txt honoured, at most max_pages pages and max_depth
//  links deep, every fetch through fetch's guard and limits. Each page is
//  read to find its links, so its content hash is the evidence ("h"): a
//  page whose bytes did not change is not submitted.
typedef struct {
    run_t *run;
    json_t *queue;                  //  [[url, depth], ...]
    json_t *seen;                   //  url -> true
} s_crawl_t;

static bool
s_crawl_enqueue (void *arg, const char *url)
{
    s_crawl_t *crawl = arg;
    if (!json_object_get (crawl->seen, url) && json_array_size (crawl->queue) < 100000) {
        json_object_set_new (crawl->seen, url, json_true ());
        json_array_append_new (crawl->queue, json_pack ("[s, I]", url, (json_int_t) 0));
    }
    return true;
}

//  Fetch url into the blob area; *path gets its file. 0, or the fetch's code.
static int
s_crawl_fetch (run_t *run, const char *url, size_t max_bytes, sl_fetch_result_t *result,
               char *path, size_t pathlen, char *err, size_t errlen)
{
    sl_fetch_opts_t opts = run->self->opts;
    opts.file_roots = NULL;
    if (max_bytes)
        opts.max_bytes = max_bytes;
    int rc = sl_fetch_url (&opts, run->self->blobs, url, result, err, errlen);
    if (rc == 0 && sl_blob_path (run->self->blobs, result->sha256, path, pathlen)) {
        snprintf (err, errlen, "%.300s: not in the blob area", url);
        rc = SL_FETCH_RETRY;
    }
    return rc;
}

//  A fetched page the store does not hold as a document goes again
static void
s_crawl_drop (run_t *run, const char *sha256)
{
    if (sl_store_blob_referenced (run->self->store, sha256) == 0)
        sl_blob_remove (run->self->blobs, sha256);
}

static sl_robots_t *
s_crawl_robots (run_t *run, const char *start)
{
    char url [2100], path [1200], err [512];
    if (sl_crawl_robots_url (start, url, sizeof url)) {
        snprintf (run->error, sizeof run->error, "%.300s is not an http(s) URL", start);
        return NULL;
    }
    sl_fetch_result_t result;
    int rc = s_crawl_fetch (run, url, 500 * 1024, &result, path, sizeof path, err, sizeof err);
    if (rc && result.http_status >= 400 && result.http_status < 500)
        return sl_robots_new (NULL, 0, "sluice");       //  no robots.txt: all allowed
    if (rc) {
        //  RFC 9309: an unreachable robots.txt means "do not crawl"
        snprintf (run->error, sizeof run->error, "robots.txt of %.300s could not be read, so "
                  "nothing is crawled: %s", start, err);
        return NULL;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *file = fopen (path, "rb");
    if (file) {
        text = malloc (result.size + 1);
        size = text ? fread (text, 1, result.size, file) : 0;
        fclose (file);
    }
    sl_robots_t *robots = sl_robots_new (text, size, "sluice");
    free (text);
    s_crawl_drop (run, result.sha256);
    return robots;
}

static int
s_crawl (run_t *run)
{
    const char *start = s_str (run->source, "url");
    int max_depth = (int) json_integer_value (json_object_get (run->source, "max_depth"));
    int max_pages = (int) json_integer_value (json_object_get (run->source, "max_pages"));
    if (!s_renew (run))
        return -1;
    sl_robots_t *robots = s_crawl_robots (run, start);
    if (!robots)
        return -1;
    s_crawl_t crawl = { run, json_array (), json_object () };
    json_object_set_new (crawl.seen, start, json_true ());
    json_array_append_new (crawl.queue, json_pack ("[s, I]", start, (json_int_t) 0));
    int rc = 0, pages = 0, skipped = 0;
    for (size_t next = 0; rc == 0 && next < json_array_size (crawl.queue) && pages < max_pages;
         next++) {
        json_t *entry = json_array_get (crawl.queue, next);
        const char *url = json_string_value (json_array_get (entry, 0));
        int depth = (int) json_integer_value (json_array_get (entry, 1));
        char where [2100], path [1200], err [512];
        if (sl_crawl_url_path (url, where, sizeof where) || !sl_robots_allowed (robots, where)) {
            skipped++;
            continue;
        }
        if (!s_renew (run)) {
            rc = -1;
            break;
        }
        pages++;
        sl_fetch_result_t result;
        if (s_crawl_fetch (run, url, 0, &result, path, sizeof path, err, sizeof err)) {
            json_object_set_new (run->listing, url, json_pack ("{s:s, s:s}", "u", url, "fail", err));
            continue;
        }
        json_object_set_new (run->listing, url, json_pack ("{s:s, s:s}", "u", url, "h", result.sha256));
        size_t before = json_array_size (crawl.queue);
        if (depth < max_depth && strncmp (result.mime, "text/html", 9) == 0
        &&  sl_crawl_links (path, url, 1000, s_crawl_enqueue, &crawl) > 0)
            for (size_t i = before; i < json_array_size (crawl.queue); i++)
                json_array_set_new (json_array_get (crawl.queue, i), 1, json_integer (depth + 1));
        s_crawl_drop (run, result.sha256);
    }
    json_object_set_new (run->run, "robots_skipped", json_integer (skipped));
    json_decref (crawl.queue);
    json_decref (crawl.seen);
    sl_robots_destroy (&robots);
    return rc;
}

//  What the source holds now, into run->listing. -1 with run->error.
static int
s_list_items (run_t *run)
{
    const char *kind = s_str (run->source, "kind");
    if (streq (kind, "folder")) {
        const char *path = s_str (run->source, "path");
        //  A folder that went away (an unmounted share) deletes nothing
        if (!sl_fetch_path_allowed (path, run->self->file_roots)) {
            snprintf (run->error, sizeof run->error, "folder %.300s is gone or outside "
                      "fetch.file_roots: nothing was deleted", path);
            return -1;
        }
        return s_walk (run, path, "", 0);
    }
    if (streq (kind, "urls")) {
        size_t index;
        json_t *url;
        json_array_foreach (json_object_get (run->source, "urls"), index, url)
            json_object_set_new (run->listing, json_string_value (url),
                                 json_pack ("{s:O}", "u", url));
        return 0;
    }
    if (streq (kind, "sitemap"))
        return s_sitemap (run, s_str (run->source, "url"), 0);
    if (streq (kind, "crawl"))
        return s_crawl (run);
    snprintf (run->error, sizeof run->error, "unknown kind '%.40s'", kind);
    return -1;
}

//  Is the item unchanged since its evidence? Cheap evidence only: mtime
//  and size, lastmod, or a conditional HEAD (its validators go into now).
//  1 unchanged, 0 changed or new, -1 the probe failed (reason in why).
static int
s_unchanged (run_t *run, const json_t *old, json_t *now, char *why, size_t whylen)
{
    //  Evidence counts only from an item whose last job went through
    bool valid = old && streq (s_str (old, "st"), "ok") && !streq (s_str (old, "a"), "deleted");
    if (*s_str (now, "fail")) {
        snprintf (why, whylen, "%s", s_str (now, "fail"));
        return -1;
    }
    if (*s_str (now, "h"))
        return valid && streq (s_str (old, "h"), s_str (now, "h"));
    if (json_object_get (now, "m"))
        return valid && json_equal (json_object_get (old, "m"), json_object_get (now, "m"))
                     && json_equal (json_object_get (old, "s"), json_object_get (now, "s"));
    if (*s_str (now, "lm"))
        return valid && streq (s_str (old, "lm"), s_str (now, "lm"));
    //  A URL: ask the server (the first time too, for the validators)
    sl_fetch_probe_t probe;
    if (sl_fetch_probe (&run->self->opts, s_str (now, "u"), valid ? s_str (old, "e") : NULL,
                        valid ? s_str (old, "l") : NULL, &probe, why, whylen)) {
        //  A server that does not answer HEAD: no cheap evidence, so the
        //  page goes to fetch, whose dedupe by content keeps an unchanged
        //  page from being parsed again
        if (probe.http_status == 405 || probe.http_status == 501)
            return 0;
        return -1;
    }
    json_object_set_new (now, "e", json_string (probe.etag));
    json_object_set_new (now, "l", json_string (probe.last_modified));
    return valid && probe.http_status == 304 ? 1 : 0;
}

//  Ask intake for the item's job (named after the run and the item: a
//  resumed run asks again for the same job). 0, or -1 with why (a
//  refusal: the item fails) or -2 (intake unreachable: the run stops).
static int
s_submit (run_t *run, const char *key, const char *url, char job [SL_ID_LEN + 1], char *why,
          size_t whylen)
{
    sl_id_derive (job, run->run_id, key, "source-item");
    json_t *body = json_pack ("{s:s, s:s, s:s}", "url", url, "source_id", run->id,
                              "source_run", run->run_id);
    json_t *meta = json_object_get (run->source, "meta");
    if (meta)
        json_object_set (body, "meta", meta);
    size_t size;
    char *packed = sl_json_to_msgpack (body, &size);
    json_decref (body);
    for (int attempt = 0; ; attempt++) {
        sl_envelope_t *env = sl_envelope_new ("ingest", job, run->ws);
        sl_envelope_set_route (env, "intake");
        sl_envelope_set_body (env, packed, size);
        sl_envelope_set_deadline (env, sl_now_ms () + 15000);
        char *reply = NULL;
        size_t reply_size = 0;
        sl_client_result_t res;
        sl_client_rc_t rc = sl_client_request (run->client, env, 15000, &reply, &reply_size, &res);
        sl_envelope_destroy (&env);
        json_t *answer = rc == SL_CLIENT_OK ? sl_json_from_msgpack (reply, reply_size, NULL, 0) : NULL;
        free (reply);
        json_t *error = json_object_get (answer, "error");
        int code = error ? (int) json_integer_value (json_object_get (error, "code")) : 0;
        if (rc == SL_CLIENT_OK && !error) {
            json_decref (answer);
            free (packed);
            return 0;
        }
        if (error && code >= 400 && code < 500 && code != 429) {
            snprintf (why, whylen, "%s", s_str (error, "message"));
            json_decref (answer);
            free (packed);
            return -1;
        }
        json_decref (answer);
        //  Busy or no answer: wait and ask again, keeping the lease
        if (attempt >= 20 || !s_renew (run)) {
            snprintf (run->error, sizeof run->error, "intake did not take job for %.300s: %s", url,
                      rc == SL_CLIENT_OK ? "busy" : res.reason);
            free (packed);
            return -2;
        }
        zclock_sleep (attempt < 5 ? 500 : 2000);
    }
}

//  Phase 1: every item of the listing this run has not handled yet.
static int
s_submit_changes (run_t *run)
{
    const char *key;
    json_t *now;
    json_object_foreach (run->listing, key, now) {
        json_t *old = json_object_get (run->items, key);
        if (old && streq (s_str (old, "r"), run->run_id))
            continue;           //  handled before this run was resumed
        if (!s_renew (run))
            return -1;
        char why [1024] = "", job [SL_ID_LEN + 1] = "";
        int same = s_unchanged (run, old, now, why, sizeof why);
        if (same == 1) {
            //  Keep the new validators: the next probe asks with them
            if (old && json_object_get (now, "e") && !json_equal (json_object_get (old, "e"),
                                                                  json_object_get (now, "e"))) {
                json_t *kept = json_deep_copy (old);
                json_object_set (kept, "e", json_object_get (now, "e"));
                json_object_set (kept, "l", json_object_get (now, "l"));
                if (s_item_put (run, key, kept) != SL_STORE_OK) {
                    json_decref (kept);
                    return -1;
                }
                json_object_set_new (run->items, key, kept);
            }
            continue;
        }
        bool fresh = !old || streq (s_str (old, "a"), "deleted");
        int rc = same < 0 ? -1 : s_submit (run, key, s_str (now, "u"), job, why, sizeof why);
        if (rc == -2)
            return -1;
        json_t *evidence = json_deep_copy (now);
        json_object_del (evidence, "fail");
        json_object_set_new (evidence, "r", json_string (run->run_id));
        json_object_set_new (evidence, "a", json_string (fresh ? "new" : "changed"));
        json_object_set_new (evidence, "st", json_string (rc ? "failed" : "pending"));
        if (rc)
            json_object_set_new (evidence, "err", json_string (why));
        else
            json_object_set_new (evidence, "j", json_string (job));
        if (old && *s_str (old, "d"))
            json_object_set (evidence, "d", json_object_get (old, "d"));
        if (s_item_put (run, key, evidence) != SL_STORE_OK) {
            json_decref (evidence);
            return -1;
        }
        json_object_set_new (run->items, key, evidence);
    }
    return 0;
}

//  Phase 2: wait for the run's jobs to end, recording how each did.
static int
s_wait_jobs (run_t *run)
{
    for (;;) {
        int pending = 0;
        const char *key;
        json_t *evidence;
        json_object_foreach (run->items, key, evidence) {
            if (!streq (s_str (evidence, "r"), run->run_id) || !streq (s_str (evidence, "st"), "pending"))
                continue;
            sl_store_job_t job;
            memset (&job, 0, sizeof job);
            if (sl_store_job_get (run->self->store, s_str (evidence, "j"), &job) != SL_STORE_OK) {
                pending++;
                continue;
            }
            //  completed, failed or cancelled: a cancelled job counts as failed
            if (sl_store_state_terminal (job.state)) {
                bool ok = job.state == SL_STORE_COMPLETED;
                json_object_set_new (evidence, "st", json_string (ok ? "ok" : "failed"));
                if (ok)
                    json_object_set_new (evidence, "d", json_string (job.document_id));
                else
                    json_object_set_new (evidence, "err", json_string (job.error ? job.error
                                         : job.state == SL_STORE_FAILED ? "failed" : "cancelled"));
                if (s_item_put (run, key, evidence) != SL_STORE_OK) {
                    sl_store_job_reset (&job);
                    return -1;
                }
            }
            else
                pending++;
            sl_store_job_reset (&job);
        }
        json_object_set_new (run->run, "pending", json_integer (pending));
        if (pending == 0)
            return 0;
        if (!s_renew (run))
            return -1;
        s_run_save (run);
        zclock_sleep (250);
    }
}

//  Phase 3: items the source no longer holds: their name is forgotten
//  (the document goes unless another name keeps it), a tombstone kept
//  for this run's count. Earlier runs' tombstones go.
static int
s_forget_vanished (run_t *run)
{
    const char *key;
    json_t *evidence;
    void *tmp;
    json_object_foreach_safe (run->items, tmp, key, evidence) {
        if (json_object_get (run->listing, key))
            continue;
        bool tomb = streq (s_str (evidence, "a"), "deleted");
        if (tomb && streq (s_str (evidence, "r"), run->run_id))
            continue;
        if (!s_renew (run))
            return -1;
        if (tomb) {
            if (s_item_put (run, key, NULL) != SL_STORE_OK)
                return -1;
            json_object_del (run->items, key);
            continue;
        }
        char name [SL_STORE_SOURCE], doc [SL_STORE_ID];
        if (s_doc_source (s_str (evidence, "u"), name, sizeof name) == 0
        &&  s_forget (run->self, run->ws, name, doc, NULL, run->client) != SL_STORE_OK) {
            snprintf (run->error, sizeof run->error, "store: %s", sl_store_errmsg (run->self->store));
            return -1;
        }
        json_t *gone = json_pack ("{s:s, s:s, s:s, s:s}", "u", s_str (evidence, "u"), "r",
                                  run->run_id, "a", "deleted", "st", "ok");
        if (s_item_put (run, key, gone) != SL_STORE_OK) {
            json_decref (gone);
            return -1;
        }
        json_object_set_new (run->items, key, gone);
    }
    return 0;
}

//  The run's counts, from the items' evidence (exact for a resumed run).
static void
s_count (run_t *run)
{
    int n_new = 0, n_changed = 0, n_deleted = 0, n_failed = 0, touched = 0;
    const char *key;
    json_t *evidence;
    json_object_foreach (run->items, key, evidence) {
        if (!streq (s_str (evidence, "r"), run->run_id))
            continue;
        const char *action = s_str (evidence, "a");
        n_new += streq (action, "new");
        n_changed += streq (action, "changed");
        n_deleted += streq (action, "deleted");
        n_failed += streq (s_str (evidence, "st"), "failed");
        touched += json_object_get (run->listing, key) != NULL;
    }
    json_object_set_new (run->run, "new", json_integer (n_new));
    json_object_set_new (run->run, "changed", json_integer (n_changed));
    json_object_set_new (run->run, "deleted", json_integer (n_deleted));
    json_object_set_new (run->run, "failed", json_integer (n_failed));
    json_object_set_new (run->run, "unchanged",
                         json_integer ((json_int_t) json_object_size (run->listing) - touched));
}

//  Adopt the source's queued or interrupted run, or begin a new one.
static int
s_run_begin (run_t *run)
{
    sources_t *self = run->self;
    char *text = NULL;
    json_t *runs = sl_store_source_runs (self->store, run->id, 1, &text) == SL_STORE_OK
                 ? s_load (text) : NULL;
    json_t *last = json_array_get (runs, 0);
    const char *state = s_str (last, "state");
    int64_t now = sl_now_ms ();
    if (streq (state, "queued") || streq (state, "running")) {
        run->run = json_deep_copy (last);
        if (streq (state, "running")) {
            json_object_set_new (run->run, "resumed", json_integer (
                json_integer_value (json_object_get (last, "resumed")) + 1));
            sl_warn (NULL, "source %s: resuming run %s left running by %s", run->id,
                     s_str (last, "id"), s_str (last, "owner"));
        }
    }
    else {
        char id [SL_ID_LEN + 1];
        sl_id_new (id);
        run->run = json_pack ("{s:s, s:s, s:s}", "id", id, "source_id", run->id,
                              "trigger", "schedule");
    }
    json_decref (runs);
    snprintf (run->run_id, sizeof run->run_id, "%s", s_str (run->run, "id"));
    if (!json_object_get (run->run, "started"))
        json_object_set_new (run->run, "started", json_integer (now));
    json_object_set_new (run->run, "state", json_string ("running"));
    json_object_set_new (run->run, "owner", json_string (self->owner));
    text = NULL;
    run->items = sl_store_source_items (self->store, run->id, &text) == SL_STORE_OK ? s_load (text)
                                                                                    : NULL;
    if (!run->items) {
        snprintf (run->error, sizeof run->error, "store: %s", sl_store_errmsg (self->store));
        return -1;
    }
    return s_run_save (run) == SL_STORE_OK ? 0 : -1;
}

static void
s_run (sources_t *self, json_t *source, sl_client_t *client)
{
    run_t run = { .self = self, .source = source, .id = s_str (source, "id"),
                  .ws = s_str (source, "workspace"), .client = client,
                  .listing = json_object () };
    s_lease_name (run.id, run.lease);
    int rc = s_run_begin (&run);
    int64_t started = json_integer_value (json_object_get (run.run, "started"));
    if (rc == 0)
        sl_info (NULL, "source %s: run %s begins", run.id, run.run_id);
    if (rc == 0)
        rc = s_list_items (&run);
    if (rc == 0)
        rc = s_submit_changes (&run);
    if (rc == 0)
        rc = s_wait_jobs (&run);
    if (rc == 0)
        rc = s_forget_vanished (&run);
    //  An abandoned run stays running: whoever holds the lease next resumes it
    if (run.run && !run.abandoned) {
        s_count (&run);
        json_object_set_new (run.run, "state", json_string (rc == 0 ? "completed" : "failed"));
        json_object_set_new (run.run, "finished", json_integer (sl_now_ms ()));
        json_object_del (run.run, "pending");
        if (rc)
            json_object_set_new (run.run, "error", json_string (run.error));
        s_run_save (&run);
        sl_store_source_runs_trim (self->store, run.id, self->keep_runs);
        sl_store_source_set_next (self->store, run.id, s_next_due (source, started));
        char labels [64];
        snprintf (labels, sizeof labels, "state=\"%s\"", rc == 0 ? "completed" : "failed");
        sl_metrics_add (self->metrics, "sluice_source_runs_total", labels, 1);
        sl_info (NULL, "source %s: run %s %s", run.id, run.run_id, rc == 0 ? "completed" : run.error);
    }
    json_decref (run.run);
    json_decref (run.items);
    json_decref (run.listing);
}

//  --------------------------------------------------------------------------
//  Scheduler

static void *
s_scheduler (void *args)
{
    sources_t *self = (sources_t *) args;
    sl_log_set_role ("sources");
    sl_client_t *client = sl_client_new (sl_node_broker (self->node), sl_node_curve_client (self->node),
                                         sl_node_curve_server (self->node));
    while (!self->stopping && client) {
        char *text = NULL;
        json_t *due = sl_store_source_list (self->store, NULL, sl_now_ms (), &text) == SL_STORE_OK
                    ? s_load (text) : NULL;
        size_t index;
        json_t *source;
        json_array_foreach (due, index, source) {
            if (self->stopping)
                break;
            char lease [64];
            s_lease_name (s_str (source, "id"), lease);
            int64_t now = sl_now_ms ();
            if (sl_store_lease (self->store, lease, self->owner, now, now + self->lease_ms)
                != SL_STORE_OK)
                continue;           //  another process syncs it
            s_run (self, source, client);
            //  Stopping mid-run too: the run stays running, and whoever
            //  takes the lease next (this node restarted) resumes it at once
            sl_store_lease_release (self->store, lease, self->owner);
        }
        json_decref (due);
        for (int64_t t = 0; t < self->poll_ms && !self->stopping; t += 100)
            zclock_sleep (100);
    }
    sl_client_destroy (&client);
    return NULL;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    sl_store_t *store = sl_store_shared (node, err, errlen);
    sl_blob_t *blobs = store ? sl_node_blob (node, err, errlen) : NULL;
    if (!blobs)
        return NULL;
    sl_config_t *cfg = sl_node_config (node);
    sources_t *self = calloc (1, sizeof *self);
    self->node = node;
    self->store = store;
    self->blobs = blobs;
    sl_fetch_opts_defaults (&self->opts);
    self->opts.connect_timeout_ms = sl_config_int (cfg, "fetch.connect_timeout_ms", self->opts.connect_timeout_ms);
    self->opts.total_timeout_ms = sl_config_int (cfg, "fetch.total_timeout_ms", self->opts.total_timeout_ms);
    self->opts.max_redirects = sl_config_int (cfg, "fetch.max_redirects", self->opts.max_redirects);
    self->opts.allow_cidrs = sl_config_get (cfg, "fetch.allow_cidrs", NULL);
    self->file_roots = sl_config_get (cfg, "fetch.file_roots", NULL);
    self->poll_ms = sl_config_int (cfg, "sources.poll_ms", 1000);
    self->lease_ms = sl_config_int (cfg, "sources.lease_s", 60) * 1000;
    self->max_items = (int) sl_config_int (cfg, "sources.max_items", 100000);
    self->delete_attempts = (int) sl_config_int (cfg, "delete.message_attempts", 5);
    self->max_urls = (int) sl_config_int (cfg, "sources.max_urls", 1000);
    self->keep_runs = (int) sl_config_int (cfg, "sources.keep_runs", 100);
    if (self->keep_runs < 1)
        self->keep_runs = 1;
    self->max_sitemap_bytes = sl_config_size (cfg, "sources.max_sitemap_bytes", 50 * 1024 * 1024);
    char host [64] = "host";
    gethostname (host, sizeof host);
    snprintf (self->owner, sizeof self->owner, "%s:%d", host, getpid ());
    self->metrics = sl_node_metrics (node);
    sl_metrics_declare (self->metrics, "sluice_source_runs_total", SL_COUNTER,
                        "Source sync runs this process finished, by state (completed, failed)");
    sl_metrics_add (self->metrics, "sluice_source_runs_total", "state=\"completed\"", 0);
    sl_metrics_add (self->metrics, "sluice_source_runs_total", "state=\"failed\"", 0);
    if (sl_config_bool (cfg, "sources.scheduler", true))
        pthread_create (&self->thread, NULL, s_scheduler, self);
    return self;
}

static void
s_stop (void **state_p)
{
    sources_t *self = (sources_t *) *state_p;
    if (self) {
        self->stopping = true;
        if (self->thread)
            pthread_join (self->thread, NULL);
        free (self);
        *state_p = NULL;
    }
}

const sl_actor_def_t sl_sources_actor = {
    .name = "sources", .default_concurrency = 2,
    .start = s_start, .handler = s_handle, .stop = s_stop
};
