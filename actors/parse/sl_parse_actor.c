/*  sl_parse_actor: turns the job's blob into pages.mp, page by page.

    Each page's text is written as a record the moment the back-end hands
    it over:
        p   int     page number, 1-based
        t   str     the page's text
        m   true    the text is marked (sl_markup: headings, table rows)
        o   true    no usable text layer: the ocr stage reads this page
                    (it rewrites the record with "c", its mean confidence
                    0-100, and drops "o")
        h   array   [[level, title], ...] outline entries starting here
    The record is written so the actor holds one page at a time however long the
    document; a stage_progress event ("page 40/212") goes out as it goes.
    When some pages were written with "o" and OCR is on (ocr.enabled,
    default true), the parsed message goes through the ocr stage before
    chunk (sl_ctx_forward_via), carrying "ocr_pages": how many; a document
    without any page needing OCR never meets that stage. With OCR off, such
    pages keep what little text they had, and a document with no text at
    all fails saying OCR is off and how to turn it on.
    Limits come from config (parse.max_pages, parse.max_seconds,
    parse.max_memory, parse.max_text_bytes, parse.max_text_mb). Every parse failure is
    permanent for that file (retrying a bomb only burns the machine
    again) except an I/O error opening it; the job fails with MuPDF's or
    our reason and the actor goes on to the next message. A full disk
    while writing pages.mp fails the job too ("disk full writing
    pages.mp"); other write errors are retried.
*/
#include "sl_parse.h"
#include "sl_blob.h"
#include "sl_log.h"
#include "sl_node.h"
#include "sl_records.h"
#include "sl_util.h"

#include <czmq.h>

typedef struct {
    sl_node_t *node;
    sl_blob_t *blob;
    sl_parse_opts_t opts;
    bool ocr;                   //  ocr.enabled: route pages that need it to ocr
} parse_t;

typedef struct {
    sl_ctx_t *ctx;
    sl_recw_t *out;
    sl_mpw_t w;
    size_t text_bytes;
    int pages;
    int need_ocr;               //  pages written with "o" (for the ocr stage)
    int write_error;            //  errno of a failed write of pages.mp
} page_sink_t;

static int
s_on_page (void *arg, const sl_page_t *page)
{
    page_sink_t *sink = (page_sink_t *) arg;
    int fields = 2 + (page->marked ? 1 : 0) + (page->needs_ocr ? 1 : 0) + (page->heading_count > 0 ? 1 : 0);
    msgpack_pack_map (&sink->w.pk, (size_t) fields);
    sl_mpw_kv_int (&sink->w, "p", page->page_no);
    sl_mpw_key (&sink->w, "t");
    msgpack_pack_str (&sink->w.pk, page->len);
    msgpack_pack_str_body (&sink->w.pk, page->text, page->len);
    if (page->marked) {
        sl_mpw_key (&sink->w, "m");
        msgpack_pack_true (&sink->w.pk);
    }
    if (page->needs_ocr) {
        sl_mpw_key (&sink->w, "o");
        msgpack_pack_true (&sink->w.pk);
        sink->need_ocr++;
    }
    if (page->heading_count > 0) {
        sl_mpw_key (&sink->w, "h");
        msgpack_pack_array (&sink->w.pk, (size_t) page->heading_count);
        for (int i = 0; i < page->heading_count; i++) {
            msgpack_pack_array (&sink->w.pk, 2);
            msgpack_pack_int (&sink->w.pk, page->headings [i].level);
            sl_mpw_str (&sink->w, page->headings [i].title);
        }
    }
    if (sl_recw_write_mpw (sink->out, &sink->w)) {
        sink->write_error = sl_recw_error (sink->out);
        return -1;
    }
    sink->text_bytes += page->len;
    sink->pages = page->page_no;
    sl_ctx_progress (sink->ctx, page->page_count ? 100 * page->page_no / page->page_count : 0, "page %d/%d",
                     page->page_no, page->page_count);
    return 0;
}

//  Writing what (an artifact) failed with errno error. A full disk fails
//  the job with a reason that says so: retrying at once would meet the same
//  full disk, and the collector may take a while to make room. Anything
//  else may pass: retry.
static sl_outcome_t
s_write_failed (sl_ctx_t *ctx, int error, const char *what)
{
    if (sl_disk_full (error)) {
        sl_ctx_set_error (ctx, "disk full writing %s (%s)", what, strerror (error));
        return SL_FAIL;
    }
    sl_ctx_set_error (ctx, "parse: cannot write %s: %s", what, strerror (error ? error : EIO));
    return SL_RETRY;
}

static sl_outcome_t
s_parse (sl_ctx_t *ctx, void *state)
{
    parse_t *self = (parse_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const msgpack_object *body = sl_ctx_body (ctx);
    char sha [SL_SHA256_HEX] = "", mime [128] = "", path [1200], dir [1200], out_path [1300];
    if (sl_mp_get_str (body, "sha256", sha, sizeof sha) || sl_blob_path (self->blob, sha, path, sizeof path)) {
        sl_ctx_set_error (ctx, "parse: message lacks a valid sha256");
        return SL_FAIL;
    }
    sl_mp_get_str (body, "mime", mime, sizeof mime);
    if (sl_blob_job_dir (self->blob, sl_envelope_job (env), dir, sizeof dir))
        return s_write_failed (ctx, errno, "the job's artifact folder");
    snprintf (out_path, sizeof out_path, "%s/pages.mp", dir);
    page_sink_t sink = { .ctx = ctx, .out = sl_recw_new (out_path) };
    if (!sink.out)
        return s_write_failed (ctx, errno, "pages.mp");
    sl_mpw_init (&sink.w);
    sl_parse_info_t info;
    memset (&info, 0, sizeof info);
    char err [1024] = "";
    int rc = sl_parse_file (&self->opts, path, *mime ? mime : NULL, s_on_page, &sink, &info, err, sizeof err);
    sl_mpw_reset (&sink.w);
    bool via_ocr = rc == 0 && sink.need_ocr > 0 && self->ocr;
    if (rc == 0 && sink.text_bytes == 0 && !via_ocr) {
        if (sink.need_ocr > 0)
            snprintf (err, sizeof err, "no extractable text in %d page(s): %d look scanned and OCR is off "
                      "(set ocr.enabled=true to read them)", info.page_count, sink.need_ocr);
        else
            snprintf (err, sizeof err, "no extractable text in %d page(s)", info.page_count);
        rc = -1;
    }
    if (rc && sink.write_error) {
        sl_recw_abort (&sink.out);
        return s_write_failed (ctx, sink.write_error, "pages.mp");
    }
    if (rc) {
        sl_recw_abort (&sink.out);
        sl_ctx_set_error (ctx, "%s", err);
        return strncmp (err, "cannot open", 11) == 0 ? SL_RETRY : SL_FAIL;
    }
    if (sl_recw_commit (&sink.out))
        return s_write_failed (ctx, errno, "pages.mp");
    if (info.pages_failed)
        sl_warn (sl_envelope_job (env), "%d of %d pages could not be read and were skipped",
                 info.pages_failed, info.page_count);
    if (sink.need_ocr > 0 && !self->ocr)
        sl_warn (sl_envelope_job (env), "%d of %d pages look scanned but OCR is off (ocr.enabled): "
                 "indexed with the little text they have", sink.need_ocr, info.page_count);
    sl_mpw_t w;
    sl_mpw_init (&w);
    const char *except [] = { "title", "pages", "format", "ocr_pages", NULL };
    sl_mpw_map_extend (&w, body, except, via_ocr ? 4 : 3);
    sl_mpw_kv_str (&w, "title", info.title);
    sl_mpw_kv_int (&w, "pages", info.page_count);
    sl_mpw_kv_str (&w, "format", info.format);
    if (via_ocr) {
        sl_mpw_kv_int (&w, "ocr_pages", sink.need_ocr);
        sl_ctx_forward_via (ctx, "ocr", "parsed", w.buf.data, w.buf.size);
    }
    else
        sl_ctx_forward (ctx, "parsed", w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    return SL_DONE;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    parse_t *self = calloc (1, sizeof *self);
    self->node = node;
    self->blob = sl_node_blob (node, err, errlen);
    if (!self->blob) {
        free (self);
        return NULL;
    }
    sl_config_t *cfg = sl_node_config (node);
    sl_parse_opts_defaults (&self->opts);
    self->opts.max_pages = (int) sl_config_int (cfg, "parse.max_pages", self->opts.max_pages);
    self->opts.max_seconds = (int) sl_config_int (cfg, "parse.max_seconds", self->opts.max_seconds);
    self->opts.max_memory = (size_t) sl_config_size (cfg, "parse.max_memory", (int64_t) self->opts.max_memory);
    self->opts.max_text_bytes = (size_t) sl_config_size (cfg, "parse.max_text_bytes", (int64_t) self->opts.max_text_bytes);
    self->opts.ocr_min_chars = (int) sl_config_int (cfg, "ocr.min_chars", self->opts.ocr_min_chars);
    self->ocr = sl_config_bool (cfg, "ocr.enabled", true);
    int64_t text_mb = sl_config_int (cfg, "parse.max_text_mb", (int64_t) (self->opts.max_text_total >> 20));
    if (text_mb > 0)
        self->opts.max_text_total = (size_t) text_mb << 20;
    return self;
}

static void
s_stop (void **state_p)
{
    free (*state_p);
    *state_p = NULL;
}

const sl_actor_def_t sl_parse_actor = {
    .name = "parse", .default_concurrency = 2, .stage_events = true,
    .start = s_start, .handler = s_parse, .stop = s_stop
};
