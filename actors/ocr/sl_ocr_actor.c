/*  sl_ocr_actor: the ocr stage. Reads the scanned pages parse flagged.

    Parse routes a `parsed` message through here (before chunk) only when
    some page of the document was written to pages.mp with "o" (no usable
    text layer). This stage streams pages.mp record by record into a new
    pages.mp (written beside it, renamed over it on commit, so a reader
    never sees half of one): a record without "o" is copied as it is; a
    record with "o" is rendered and read by sl_ocr, and comes out with
        t   the OCR'd text (unmarked body text)
        c   Tesseract's mean word confidence, 0-100
    and without "o". A page that fails (time or memory limit, a page MuPDF
    cannot render) keeps the text it had and gets
        e   the reason, a sentence
    and a warning in the log: the page fails, not the document. The
    document fails only when no page has any text at all, with a reason
    that names OCR. Progress goes out as "ocr page 2/3"; the last event
    says how many were read and how many failed.

    Idempotent: a redelivered message (this worker died after the rename)
    finds no "o" left and forwards at once.

    Tesseract is CPU-heavy and its load is slow, so each handler thread
    borrows an sl_ocr_t (one TessBaseAPI) from a pool that keeps them
    loaded; ocr.concurrency (default 1) threads, so at most that many.
    Config: ocr.dpi (300), ocr.languages ("eng"), ocr.tessdata (Tesseract's
    default), ocr.page_seconds (60), ocr.max_memory (1 GiB).
    Metric: sluice_ocr_pages_total{outcome="read"|"failed"}.
*/
#include "sl_ocr.h"
#include "sl_blob.h"
#include "sl_log.h"
#include "sl_metrics.h"
#include "sl_node.h"
#include "sl_records.h"
#include "sl_util.h"

#include <czmq.h>
#include <pthread.h>

#define S_POOL_MAX 64

typedef struct {
    sl_node_t *node;
    sl_blob_t *blob;
    sl_metrics_t *metrics;
    sl_ocr_opts_t opts;
    char languages [128];
    char tessdata [1024];
    pthread_mutex_t lock;
    sl_ocr_t *pool [S_POOL_MAX];    //  loaded and idle
    int pooled;
} ocr_t;

//  What one message's pass over pages.mp found.
typedef struct {
    int todo;                   //  pages with "o" (from the message, else counted)
    int read;
    int failed;
    int with_text;              //  pages whose text is not empty, OCR'd or not
    char first_error [512];
    bool opened;                //  the document was opened (or tried)
    int open_rc;                //  its page count, or -1
    char open_error [512];
} s_pass_t;

//  --------------------------------------------------------------------------
//  Pool of loaded Tesseract instances

static sl_ocr_t *
s_borrow (ocr_t *self, char *err, size_t errlen)
{
    pthread_mutex_lock (&self->lock);
    sl_ocr_t *ocr = self->pooled > 0 ? self->pool [--self->pooled] : NULL;
    pthread_mutex_unlock (&self->lock);
    return ocr ? ocr : sl_ocr_new (&self->opts, err, errlen);
}

static void
s_give_back (ocr_t *self, sl_ocr_t **ocr_p)
{
    sl_ocr_close (*ocr_p);
    pthread_mutex_lock (&self->lock);
    if (self->pooled < S_POOL_MAX) {
        self->pool [self->pooled++] = *ocr_p;
        *ocr_p = NULL;
    }
    pthread_mutex_unlock (&self->lock);
    sl_ocr_destroy (ocr_p);
}

//  --------------------------------------------------------------------------
//  One page record

static bool
s_flagged (const msgpack_object *record)
{
    bool flag = false;
    const msgpack_object *o = sl_mp_get (record, "o");
    return o && sl_mp_bool (o, &flag) == 0 && flag;
}

//  Write record with its text replaced (error NULL: OCR'd, with its
//  confidence) or with a failure reason (error set: the text it had is
//  kept). Always drops "o". *kept_p gets the length of the text written.
static int
s_write_page (sl_recw_t *out, const msgpack_object *record, const char *text, size_t len,
              int confidence, const char *error, size_t *kept_p)
{
    static const char *except [] = { "t", "o", "c", "e", NULL };
    if (error) {
        text = "";
        len = 0;
        sl_mp_bytes (sl_mp_get (record, "t"), &text, &len);
    }
    *kept_p = len;
    sl_mpw_t w;
    sl_mpw_init (&w);
    sl_mpw_map_extend (&w, record, except, 2);
    sl_mpw_key (&w, "t");
    msgpack_pack_str (&w.pk, len);
    msgpack_pack_str_body (&w.pk, text, len);
    if (error)
        sl_mpw_kv_str (&w, "e", error);
    else
        sl_mpw_kv_int (&w, "c", confidence);
    int rc = sl_recw_write_mpw (out, &w);
    sl_mpw_reset (&w);
    return rc;
}

//  OCR one flagged page and write its record. -1 only when pages.mp
//  cannot be written; a page that cannot be read is written with "e".
static int
s_ocr_record (ocr_t *self, sl_ctx_t *ctx, sl_ocr_t *ocr, const char *doc, const char *mime,
              const msgpack_object *record, sl_recw_t *out, s_pass_t *pass)
{
    const char *job = sl_envelope_job (sl_ctx_envelope (ctx));
    int64_t page = 0;
    sl_mp_get_int (record, "p", &page);
    if (!pass->opened) {
        pass->opened = true;
        pass->open_rc = sl_ocr_open (ocr, doc, mime, pass->open_error, sizeof pass->open_error);
    }
    char err [512] = "";
    char *text = NULL;
    size_t len = 0;
    int confidence = 0;
    int rc = -1;
    if (pass->open_rc < 0)
        snprintf (err, sizeof err, "%s", pass->open_error);
    else
        rc = sl_ocr_page (ocr, (int) page, &text, &len, &confidence, err, sizeof err);
    int done = pass->read + pass->failed + 1;
    if (rc == 0) {
        pass->read++;
        sl_metrics_add (self->metrics, "sluice_ocr_pages_total", "outcome=\"read\"", 1);
        sl_debug (job, "ocr page %lld: %zu bytes, confidence %d", (long long) page, len, confidence);
    }
    else {
        pass->failed++;
        sl_metrics_add (self->metrics, "sluice_ocr_pages_total", "outcome=\"failed\"", 1);
        sl_warn (job, "OCR failed on page %lld: %s", (long long) page, err);
        if (!*pass->first_error)
            snprintf (pass->first_error, sizeof pass->first_error, "%s", err);
    }
    int todo = pass->todo > done ? pass->todo : done;
    sl_ctx_progress (ctx, done * 100 / todo >= 100 ? 99 : done * 100 / todo, "ocr page %d/%d", done, todo);
    size_t kept = 0;
    int written = s_write_page (out, record, text ? text : "", len, confidence, rc == 0 ? NULL : err, &kept);
    if (kept > 0)
        pass->with_text++;
    free (text);
    return written;
}

//  --------------------------------------------------------------------------
//  Handler

//  Stream pages.mp at in_path to out, OCR'ing flagged records. Returns 0,
//  or -1 with err set (a corrupt pages.mp, a failed write).
static int
s_pass (ocr_t *self, sl_ctx_t *ctx, const char *doc, const char *mime, sl_recr_t *in, sl_recw_t *out,
        s_pass_t *pass, char *err, size_t errlen)
{
    char why [512];
    sl_ocr_t *ocr = NULL;
    sl_mp_t *mp;
    int more, rc = 0;
    while (rc == 0 && (more = sl_recr_next (in, &mp, err, errlen)) == 1) {
        const msgpack_object *record = sl_mp_root (mp);
        if (record->type != MSGPACK_OBJECT_MAP) {
            snprintf (err, errlen, "pages.mp holds a record that is not a map");
            rc = -1;
        }
        else
        if (s_flagged (record)) {
            if (!ocr && !(ocr = s_borrow (self, why, sizeof why))) {
                snprintf (err, errlen, "%s", why);
                rc = -1;
            }
            else
                rc = s_ocr_record (self, ctx, ocr, doc, mime, record, out, pass);
        }
        else {
            const char *text = "";
            size_t len = 0;
            if (sl_mp_bytes (sl_mp_get (record, "t"), &text, &len) == 0 && len > 0)
                pass->with_text++;
            sl_mpw_t w;
            sl_mpw_init (&w);
            msgpack_pack_object (&w.pk, *record);
            rc = sl_recw_write_mpw (out, &w);
            sl_mpw_reset (&w);
        }
        sl_mp_destroy (&mp);
    }
    if (rc == 0 && more < 0)
        rc = -1;
    if (ocr)
        s_give_back (self, &ocr);
    return rc;
}

static sl_outcome_t
s_ocr (sl_ctx_t *ctx, void *state)
{
    ocr_t *self = (ocr_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const msgpack_object *body = sl_ctx_body (ctx);
    char sha [SL_SHA256_HEX] = "", mime [128] = "", doc [1200], dir [1200], path [1300], err [512] = "";
    if (!body || sl_mp_get_str (body, "sha256", sha, sizeof sha) || sl_blob_path (self->blob, sha, doc, sizeof doc)) {
        sl_ctx_set_error (ctx, "ocr: message lacks a valid sha256");
        return SL_FAIL;
    }
    sl_mp_get_str (body, "mime", mime, sizeof mime);
    if (sl_blob_job_dir (self->blob, sl_envelope_job (env), dir, sizeof dir)) {
        sl_ctx_set_error (ctx, "ocr: bad job id");
        return SL_FAIL;
    }
    snprintf (path, sizeof path, "%s/pages.mp", dir);
    if (access (doc, R_OK) != 0) {
        sl_ctx_set_error (ctx, "ocr: cannot open the document %s: %s", sha, strerror (errno));
        return SL_RETRY;
    }
    s_pass_t pass;
    memset (&pass, 0, sizeof pass);
    int64_t todo = 0;
    sl_mp_get_int (body, "ocr_pages", &todo);
    pass.todo = todo > 0 && todo < INT32_MAX ? (int) todo : 0;
    sl_recr_t *in = sl_recr_new (path);
    sl_recw_t *out = in ? sl_recw_new (path) : NULL;
    if (!in || !out) {
        int error = errno;
        sl_recr_destroy (&in);
        sl_recw_abort (&out);
        sl_ctx_set_error (ctx, "ocr: cannot open pages.mp in %s: %s", dir, strerror (error));
        return SL_RETRY;
    }
    int rc = s_pass (self, ctx, doc, *mime ? mime : NULL, in, out, &pass, err, sizeof err);
    sl_recr_destroy (&in);
    int write_error = sl_recw_error (out);
    if (rc) {
        sl_recw_abort (&out);
        if (write_error)
            return sl_ctx_write_failed (ctx, write_error, "pages.mp");
        sl_ctx_set_error (ctx, "ocr: %s", err);
        return SL_RETRY;
    }
    if (pass.with_text == 0) {
        sl_recw_abort (&out);
        if (pass.failed > 0)
            sl_ctx_set_error (ctx, "OCR could not read any page: %d of %d failed (first: %s)",
                              pass.failed, pass.read + pass.failed, pass.first_error);
        else
            sl_ctx_set_error (ctx, "no text found by OCR in %d scanned page(s) (blank pages, or not "
                              "in the languages of ocr.languages = %s?)", pass.read, self->opts.languages);
        return SL_FAIL;
    }
    if (sl_recw_commit (&out))
        return sl_ctx_write_failed (ctx, errno, "pages.mp");
    if (pass.read + pass.failed > 0)
        sl_ctx_progress (ctx, 100, "ocr: read %d page(s), %d failed", pass.read, pass.failed);
    size_t size;
    const void *data = sl_envelope_body (env, &size);
    sl_ctx_forward (ctx, NULL, data, size);
    return SL_DONE;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    ocr_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->node = node;
    self->blob = sl_node_blob (node, err, errlen);
    if (!self->blob) {
        free (self);
        return NULL;
    }
    sl_config_t *cfg = sl_node_config (node);
    sl_ocr_opts_defaults (&self->opts);
    self->opts.dpi = (int) sl_config_int (cfg, "ocr.dpi", self->opts.dpi);
    snprintf (self->languages, sizeof self->languages, "%s",
              sl_config_get (cfg, "ocr.languages", self->opts.languages));
    self->opts.languages = self->languages;
    const char *tessdata = sl_config_get (cfg, "ocr.tessdata", NULL);
    if (tessdata && *tessdata) {
        snprintf (self->tessdata, sizeof self->tessdata, "%s", tessdata);
        self->opts.tessdata = self->tessdata;
    }
    int64_t seconds = sl_config_int (cfg, "ocr.page_seconds", self->opts.page_ms / 1000);
    self->opts.page_ms = (int) (seconds < 1 ? 1000 : seconds > 3600 ? 3600000 : seconds * 1000);
    //  Tests only: a page deadline below a second
    int64_t page_ms = sl_config_int (cfg, "ocr.page_ms", 0);
    if (page_ms > 0 && page_ms < self->opts.page_ms)
        self->opts.page_ms = (int) page_ms;
    self->opts.max_memory = (size_t) sl_config_size (cfg, "ocr.max_memory", (int64_t) self->opts.max_memory);
    pthread_mutex_init (&self->lock, NULL);
    //  Load Tesseract once now: a language that is not installed stops the
    //  process at start with a reason, not every job later
    sl_ocr_t *first = sl_ocr_new (&self->opts, err, errlen);
    if (!first) {
        pthread_mutex_destroy (&self->lock);
        free (self);
        return NULL;
    }
    self->pool [self->pooled++] = first;
    self->metrics = sl_node_metrics (node);
    sl_metrics_declare (self->metrics, "sluice_ocr_pages_total", SL_COUNTER,
                        "Scanned pages the ocr stage read, or failed to read, by outcome");
    sl_metrics_add (self->metrics, "sluice_ocr_pages_total", "outcome=\"read\"", 0);
    sl_metrics_add (self->metrics, "sluice_ocr_pages_total", "outcome=\"failed\"", 0);
    if (!getenv ("OMP_THREAD_LIMIT"))
        sl_info (NULL, "OMP_THREAD_LIMIT is not set: Tesseract may start several threads per page; "
                 "OMP_THREAD_LIMIT=1 with ocr.concurrency = cores is faster");
    return self;
}

static void
s_stop (void **state_p)
{
    ocr_t *self = (ocr_t *) *state_p;
    if (!self)
        return;
    for (int i = 0; i < self->pooled; i++)
        sl_ocr_destroy (&self->pool [i]);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *state_p = NULL;
}

const sl_actor_def_t sl_ocr_actor = {
    .name = "ocr", .default_concurrency = 1, .stage_events = true,
    .start = s_start, .handler = s_ocr, .stop = s_stop
};
