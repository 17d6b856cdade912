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
    Page-range fan-out (sl_parse_fanout.h has the join and its failure
    model): a PDF of more than parse.range_pages pages (default 0 = never:
    measured on two busy cores it did not pay; set it, e.g. 200, where
    several parse processes or pods run) is counted, not parsed: one "range" message per range of that
    many pages goes back to the parse service, so parse handlers of every
    process share the document. The last range to finish joins their
    pages into pages.mp in page order and alone forwards the job, as a
    whole parse would have: chunk, embed and store see no difference.
    Progress counts pages across ranges ("page 812/2000"); only the join
    reports the last page.
    Limits come from config (parse.max_pages, parse.max_seconds,
    parse.max_memory, parse.max_text_bytes, parse.max_text_mb). Every parse failure is
    permanent for that file (retrying a bomb only burns the machine
    again) except an I/O error opening it; the job fails with MuPDF's or
    our reason and the actor goes on to the next message. A full disk
    while writing pages.mp fails the job too ("disk full writing
    pages.mp"); other write errors are retried.

    Attachments (mail): the mail back-end hands each attachment over as a
    temporary file (s_on_attachment). It becomes a document of its own by
    the same path an upload takes: its bytes go into the blob area, then an
    intake/ingest request names it, so it gets a job row, events, dedupe and
    replace-on-resync like any upload. Its filename is the parent's source
    without "upload:", "/", and the attachment's name, so its source is
    "<parent source>/<name>" ("upload:inbox/m.eml/report.pdf"). Its job id
    is derived from the parent's job and the attachment's name (unique in
    the file), so a redelivered parse asks intake for the same jobs, and
    intake answers with the job it already made instead of a second one.
    The ingest body carries attachment_depth (parent's + 1; fetch passes it
    on), and an attachment deeper than parse.attachment_depth (default 3;
    0 = attachments are not extracted) is not submitted: a message in a
    message in a message ends there, whatever the file holds. It also
    carries the message's attributes ("meta", which fetch passes on), so
    an attachment is tagged as its message is; a message ingested without
    attributes leaves its attachments' own as they are.
    Each attachment is recorded on the parent's job as an event:
        {type: "attachment", name, attachment_job}      submitted
        {type: "attachment_refused", name, reason}      intake said no (4xx:
                                                        a bad name, quota),
                                                        or too deep
    and parsed carries "attachments": the number submitted.
    Failure model: intake not answering (timeout, broker busy), or answering
    429 (too many jobs pending) or 5xx, fails this parse with SL_RETRY: the
    parse runs again later and asks again with the same ids, so nothing is
    lost or doubled. A refusal for one attachment (4xx) does not fail the
    message; the event says why. A blob area that cannot take the bytes is
    a write failure like pages.mp's (disk full fails the job).
*/
#include "sl_parse.h"
#include "sl_parse_fanout.h"
#include "sl_parse_internal.h"
#include "sl_blob.h"
#include "sl_client.h"
#include "sl_log.h"
#include "sl_node.h"
#include "sl_records.h"
#include "sl_util.h"

#include <czmq.h>

typedef struct {
    sl_node_t *node;
    sl_blob_t *blob;
    sl_parse_opts_t opts;
    int attachment_depth;       //  parse.attachment_depth: deepest attachment submitted
    bool ocr;                   //  ocr.enabled: route pages that need it to ocr
    int range_pages;            //  parse.range_pages: fan a longer PDF out
} parse_t;

typedef struct {
    sl_ctx_t *ctx;
    sl_recw_t *out;
    sl_mpw_t w;
    size_t text_bytes;
    int pages;
    int need_ocr;               //  pages written with "o" (for the ocr stage)
    int write_error;            //  errno of a failed write of pages.mp
    const char *dir;            //  a range's: the job folder
    int range_first;            //  a range's first page (0: a whole parse)
    int range_step;             //  pages per range
    int range_done;             //  pages of this range written
} page_sink_t;

//  A range's progress: pages done across all ranges of the document. The
//  document's last page is reported by the join alone, so once
static void
s_range_progress (page_sink_t *sink, const sl_page_t *page)
{
    sink->range_done++;
    bool last = page->page_no == page->page_count
             || page->page_no == sink->range_first + sink->range_step - 1;
    if (sink->range_done % 8 != 0 && !last)
        return;
    sl_fanout_progress_set (sink->dir, sink->range_first, sink->range_done);
    int done = sl_fanout_progress_sum (sink->dir, page->page_count, sink->range_step);
    if (done < page->page_count)
        sl_ctx_progress (sink->ctx, 100 * done / page->page_count, "page %d/%d", done, page->page_count);
}

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
    //  A long document checks for a cancel between pages (a store read at
    //  most every SL_CANCEL_POLL_MS): the parse stops within that
    if (sl_ctx_cancelled (sink->ctx))
        return -1;
    if (sink->range_first > 0) {
        s_range_progress (sink, page);
        return 0;
    }
    sl_ctx_progress (sink->ctx, page->page_count ? 100 * page->page_no / page->page_count : 0, "page %d/%d",
                     page->page_no, page->page_count);
    return 0;
}

//  ---------------------------------------------------------------------
//  Attachments: documents of their own, through intake (see above)

#define S_INTAKE_TIMEOUT_MS 15000

typedef struct {
    parse_t *self;
    sl_ctx_t *ctx;
    char prefix [2400];         //  the attachments' filenames start with this
    int64_t depth;              //  the parent's attachment_depth (0: an upload)
    sl_client_t *client;        //  made at the first attachment
    int submitted;
    int error;                  //  errno of a failed blob write
    bool retry;                 //  intake unreachable or full: retry the parse
    char reason [600];          //  why, when the parse is stopped
} attach_t;

//  One event on the parent's job about attachment name
static void
s_attachment_event (attach_t *att, const char *type, const char *name, const char *key, const char *value)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 4);
    sl_mpw_kv_str (&w, "type", type);
    sl_mpw_kv_str (&w, "name", name);
    sl_mpw_kv_str (&w, key, value);
    sl_mpw_kv_int (&w, "ts", sl_now_ms ());
    sl_ctx_event (att->ctx, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

//  Ask intake for the attachment's job. 0 when intake answered (accepted,
//  or refused with a 4xx: an event says so), -1 to stop the parse.
static int
s_attachment_ingest (attach_t *att, const char *name, const char *mime, const char *sha, size_t size)
{
    const sl_envelope_t *env = sl_ctx_envelope (att->ctx);
    char job [SL_ID_LEN + 1], filename [2700];
    sl_id_derive (job, sl_envelope_job (env), "attachment", name);
    snprintf (filename, sizeof filename, "%s/%s", att->prefix, name);
    //  The message's attributes are its attachments' too (a filter on
    //  them finds the attachment); intake checks them again
    const msgpack_object *meta = sl_mp_get (sl_ctx_body (att->ctx), "meta");
    if (meta && meta->type != MSGPACK_OBJECT_MAP)
        meta = NULL;
    sl_mpw_t w;
    sl_mpw_init (&w);
    msgpack_pack_map (&w.pk, 6 + (meta ? 1 : 0));
    sl_mpw_kv_str (&w, "blob", sha);
    sl_mpw_kv_int (&w, "size", (int64_t) size);
    sl_mpw_kv_str (&w, "mime", mime);
    sl_mpw_kv_str (&w, "filename", filename);
    sl_mpw_kv_int (&w, "attachment_depth", att->depth + 1);
    sl_mpw_kv_str (&w, "attachment_of", sl_envelope_job (env));
    if (meta) {
        sl_mpw_key (&w, "meta");
        msgpack_pack_object (&w.pk, *meta);
    }
    sl_envelope_t *req = sl_envelope_new ("ingest", job, sl_envelope_workspace (env));
    sl_envelope_route_append (req, "intake");
    sl_envelope_set_body (req, w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    if (!att->client)
        att->client = sl_client_new (sl_node_broker (att->self->node), sl_node_curve_client (att->self->node),
                                     sl_node_curve_server (att->self->node));
    char *reply = NULL;
    size_t reply_size = 0;
    sl_client_result_t res;
    memset (&res, 0, sizeof res);
    sl_client_rc_t rc = att->client ? sl_client_request (att->client, req, S_INTAKE_TIMEOUT_MS, &reply,
                                                         &reply_size, &res)
                                    : SL_CLIENT_ERROR;
    sl_envelope_destroy (&req);
    if (rc != SL_CLIENT_OK) {
        snprintf (att->reason, sizeof att->reason, "attachment '%s': intake did not take it (%s): "
                  "the message will be parsed again", name, att->client ? res.reason : "no broker connection");
        att->retry = true;
        free (reply);
        return -1;
    }
    char err [256];
    sl_mp_t *mp = sl_mp_decode (reply, reply_size, err, sizeof err);
    bool readable = mp != NULL;
    const msgpack_object *error = mp ? sl_mp_get (sl_mp_root (mp), "error") : NULL;
    int64_t code = 0;
    char message [512] = "";
    if (error) {
        sl_mp_get_int (error, "code", &code);
        sl_mp_get_str (error, "message", message, sizeof message);
    }
    sl_mp_destroy (&mp);
    free (reply);               //  after: the decoded strings point into it
    if (error && (code == 429 || code >= 500)) {
        snprintf (att->reason, sizeof att->reason, "attachment '%s': intake answered %lld (%s): "
                  "the message will be parsed again", name, (long long) code, message);
        att->retry = true;
        return -1;
    }
    if (error || !readable) {
        s_attachment_event (att, "attachment_refused", name, "reason", error ? message : "intake's answer was unreadable");
        sl_warn (sl_envelope_job (env), "attachment '%s' refused: %s", name, message);
        return 0;
    }
    att->submitted++;
    s_attachment_event (att, "attachment", name, "attachment_job", job);
    return 0;
}

static int
s_on_attachment (void *arg, const char *name, const char *mime, const char *path)
{
    attach_t *att = (attach_t *) arg;
    if (att->depth + 1 > att->self->attachment_depth) {
        char why [160];
        snprintf (why, sizeof why, "attachments nested more than %d deep are not extracted "
                  "(parse.attachment_depth)", att->self->attachment_depth);
        s_attachment_event (att, "attachment_refused", name, "reason", why);
        return 0;
    }
    char sha [SL_SHA256_HEX];
    size_t size = 0;
    if (sl_blob_import_file (att->self->blob, path, 0, sha, &size)) {
        att->error = errno ? errno : EIO;
        snprintf (att->reason, sizeof att->reason, "attachment '%s'", name);
        return -1;
    }
    return s_attachment_ingest (att, name, mime, sha, size);
}

//  Ready att for the parse of this message, and opts to hand attachments
//  to it (unless parse.attachment_depth is 0). The attachments' filenames
//  are the parent's source without "upload:", so their sources read
//  "<parent source>/<name>".
static void
s_attach_begin (attach_t *att, parse_t *self, sl_ctx_t *ctx, sl_parse_opts_t *opts)
{
    memset (att, 0, sizeof *att);
    att->self = self;
    att->ctx = ctx;
    *opts = self->opts;
    if (self->attachment_depth <= 0)
        return;
    const msgpack_object *body = sl_ctx_body (ctx);
    char source [2400] = "";
    sl_mp_get_str (body, "source", source, sizeof source);
    sl_mp_get_int (body, "attachment_depth", &att->depth);
    snprintf (att->prefix, sizeof att->prefix, "%s",
              strncmp (source, "upload:", 7) == 0 ? source + 7 : *source ? source : sl_envelope_job (sl_ctx_envelope (ctx)));
    opts->on_attachment = s_on_attachment;
    opts->attachment_arg = att;
}

//  Hand the parsed document on: to ocr first if ocr_pages > 0, else to chunk
static void
s_forward_parsed (sl_ctx_t *ctx, const msgpack_object *body, const char *title, int pages,
                  const char *format, int attachments, int ocr_pages)
{
    sl_mpw_t w;
    sl_mpw_init (&w);
    //  meta stops here: only attachments needed it, the store has the job's
    const char *except [] = { "title", "pages", "format", "attachments", "ocr_pages", "meta",
                              "range", "range_pages", NULL };
    sl_mpw_map_extend (&w, body, except, ocr_pages > 0 ? 5 : 4);
    sl_mpw_kv_str (&w, "title", title);
    sl_mpw_kv_int (&w, "pages", pages);
    sl_mpw_kv_str (&w, "format", format);
    sl_mpw_kv_int (&w, "attachments", attachments);
    if (ocr_pages > 0) {
        sl_mpw_kv_int (&w, "ocr_pages", ocr_pages);
        sl_ctx_forward_via (ctx, "ocr", "parsed", w.buf.data, w.buf.size);
    }
    else
        sl_ctx_forward (ctx, "parsed", w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

//  ---------------------------------------------------------------------
//  Page-range fan-out (see the header and sl_parse_fanout.h)

//  Pages of a PDF, or 0 (not a PDF, or unreadable: the whole parse then
//  says why). Cheap: MuPDF reads the page tree, not the pages.
static int
s_count_pages (parse_t *self, const char *path, const char *mime)
{
    if (self->range_pages <= 0 || strncmp (mime, "application/pdf", 15) != 0)
        return 0;
    sl_parse_opts_t opts = self->opts;
    opts.count_only = true;
    sl_parse_info_t info;
    char err [256];
    return sl_parse_file (&opts, path, mime, NULL, NULL, &info, err, sizeof err) == 0 ? info.page_count : 0;
}

//  One "range" message per step pages back to parse, then on along the route
static sl_outcome_t
s_fan_out (sl_ctx_t *ctx, int pages, int step)
{
    const msgpack_object *body = sl_ctx_body (ctx);
    const char *except [] = { "range", "range_pages", "pages", NULL };
    int ranges = sl_fanout_ranges (pages, step);
    for (int k = 0; k < ranges; k++) {
        int first = 1 + k * step;
        int end = first + step <= pages + 1 ? first + step : pages + 1;
        sl_mpw_t w;
        sl_mpw_init (&w);
        sl_mpw_map_extend (&w, body, except, 3);
        sl_mpw_key (&w, "range");
        msgpack_pack_array (&w.pk, 2);
        msgpack_pack_int (&w.pk, first);
        msgpack_pack_int (&w.pk, end);
        sl_mpw_kv_int (&w, "range_pages", step);
        sl_mpw_kv_int (&w, "pages", pages);
        int rc = sl_ctx_forward_via (ctx, "parse", "range", w.buf.data, w.buf.size);
        sl_mpw_reset (&w);
        if (rc) {
            sl_ctx_set_error (ctx, "parse: cannot fan the document out: its route is full");
            return SL_FAIL;
        }
    }
    sl_info (sl_envelope_job (sl_ctx_envelope (ctx)), "%d pages: fanned out in %d ranges of %d pages",
             pages, ranges, step);
    sl_ctx_progress (ctx, 0, "page 0/%d", pages);
    return SL_DONE;
}

//  A range message's [first, end), step and pages, checked against each
//  other (a range the fan-out could not have made is refused). 0 or -1.
static int
s_range_of (const msgpack_object *body, int *first, int *end, int *step, int *pages)
{
    const msgpack_object *range = sl_mp_get (body, "range");
    int64_t v_step = 0, v_pages = 0;
    if (!range || range->type != MSGPACK_OBJECT_ARRAY || range->via.array.size != 2
        || range->via.array.ptr [0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
        || range->via.array.ptr [1].type != MSGPACK_OBJECT_POSITIVE_INTEGER
        || sl_mp_get_int (body, "range_pages", &v_step) || sl_mp_get_int (body, "pages", &v_pages))
        return -1;
    uint64_t a = range->via.array.ptr [0].via.u64, b = range->via.array.ptr [1].via.u64;
    if (a > INT32_MAX || b > INT32_MAX || !sl_fanout_range_valid ((int) a, (int) b, v_step, v_pages))
        return -1;
    *first = (int) a;
    *end = (int) b;
    *step = (int) v_step;
    *pages = (int) v_pages;
    return 0;
}

//  All ranges are in and this range holds the join: check the document as
//  a whole parse would, write pages.mp and forward the job, once
static sl_outcome_t
s_join (sl_ctx_t *ctx, parse_t *self, const char *dir, int pages, int step, const char *format)
{
    const char *job = sl_envelope_job (sl_ctx_envelope (ctx));
    sl_fanout_range_t total;
    sl_fanout_complete (dir, pages, step, &total);
    if (total.over_at || (size_t) total.text_bytes > self->opts.max_text_total) {
        int page = sl_fanout_text_over (dir, pages, step, self->opts.max_text_total);
        if (page < 0)
            return sl_ctx_write_failed (ctx, errno ? errno : EIO, "the page ranges' pages");
        char limit [32];
        sl_parse_size_str (self->opts.max_text_total, limit, sizeof limit);
        sl_ctx_set_error (ctx, "text limit of %s exceeded at page %d", limit, page);
        return SL_FAIL;
    }
    bool via_ocr = total.need_ocr > 0 && self->ocr;
    if (total.text_bytes == 0 && !via_ocr) {
        if (total.need_ocr > 0)
            sl_ctx_set_error (ctx, "no extractable text in %d page(s): %d look scanned and OCR is off "
                              "(set ocr.enabled=true to read them)", pages, total.need_ocr);
        else
            sl_ctx_set_error (ctx, "no extractable text in %d page(s)", pages);
        return SL_FAIL;
    }
    if (sl_fanout_join (dir, pages, step))
        return sl_ctx_write_failed (ctx, errno, "pages.mp (joining page ranges)");
    sl_info (job, "joined %d ranges of %d pages", sl_fanout_ranges (pages, step), pages);
    sl_ctx_progress (ctx, 100, "page %d/%d", pages, pages);
    s_forward_parsed (ctx, sl_ctx_body (ctx), total.title, pages, format, 0, via_ocr ? total.need_ocr : 0);
    return SL_DONE;
}

//  Parse one range into pages.r<first>.mp, mark it done, join if last
static sl_outcome_t
s_parse_range (sl_ctx_t *ctx, parse_t *self, const char *path, const char *mime, const char *dir)
{
    const msgpack_object *body = sl_ctx_body (ctx);
    const char *job = sl_envelope_job (sl_ctx_envelope (ctx));
    int first, end, step, pages;
    if (s_range_of (body, &first, &end, &step, &pages)) {
        sl_ctx_set_error (ctx, "parse: malformed page range message (range, range_pages, pages disagree)");
        return SL_FAIL;
    }
    char out_path [1300];
    sl_fanout_pages_path (dir, first, out_path, sizeof out_path);
    page_sink_t sink = { .ctx = ctx, .out = sl_recw_new (out_path), .dir = dir,
                         .range_first = first, .range_step = step };
    if (!sink.out)
        return sl_ctx_write_failed (ctx, errno, "pages.mp");
    sl_mpw_init (&sink.w);
    sl_parse_opts_t opts = self->opts;
    opts.first_page = first;
    opts.end_page = end;
    char filename [512] = "", err [1024] = "";
    sl_mp_get_str (body, "filename", filename, sizeof filename);
    opts.name = *filename ? filename : NULL;
    sl_parse_info_t info;
    sl_info (job, "parsing pages %d-%d of %d", first, end - 1, pages);
    int rc = sl_parse_file (&opts, path, *mime ? mime : NULL, s_on_page, &sink, &info, err, sizeof err);
    sl_mpw_reset (&sink.w);
    if (rc == 0 && info.page_count != pages) {
        snprintf (err, sizeof err, "the document has %d pages, its page ranges were cut for %d",
                  info.page_count, pages);
        rc = -1;
    }
    //  The text limit is the document's: keep the pages before it and let
    //  the join say at which page the whole document passed it
    int over_at = 0;
    const char *at = strstr (err, " exceeded at page ");
    if (rc && !sink.write_error && strncmp (err, "text limit of ", 14) == 0 && at
        && sscanf (at, " exceeded at page %d", &over_at) == 1 && over_at >= first && over_at < end)
        rc = 0;
    if (rc || sl_ctx_cancelled (ctx)) {
        sl_recw_abort (&sink.out);
        if (sl_ctx_cancelled (ctx))
            return SL_DONE;
        if (sink.write_error)
            return sl_ctx_write_failed (ctx, sink.write_error, "pages.mp");
        //  The library's sentence as a whole parse gives it (its page
        //  numbers are the document's)
        sl_ctx_set_error (ctx, "%s", err);
        return strncmp (err, "cannot open", 11) == 0 ? SL_RETRY : SL_FAIL;
    }
    if (sl_recw_commit (&sink.out))
        return sl_ctx_write_failed (ctx, errno, "pages.mp");
    sl_fanout_range_t mine = { .need_ocr = sink.need_ocr, .text_bytes = (long long) sink.text_bytes,
                               .over_at = over_at };
    snprintf (mine.title, sizeof mine.title, "%s", info.title);
    if (sl_fanout_mark (dir, first, &mine))
        return sl_ctx_write_failed (ctx, errno, "the page range's marker");
    sl_info (job, "parsed pages %d-%d of %d", first, end - 1, pages);
    sl_fanout_range_t total;
    if (!sl_fanout_complete (dir, pages, step, &total))
        return SL_DONE;         //  a range still running will join
    int claim = sl_fanout_claim (dir, first);
    if (claim < 0)
        return sl_ctx_write_failed (ctx, errno, "the join of page ranges");
    return claim ? s_join (ctx, self, dir, pages, step, info.format) : SL_DONE;
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
        return sl_ctx_write_failed (ctx, errno, "the job's artifact folder");
    if (sl_mp_get (body, "range"))
        return s_parse_range (ctx, self, path, mime, dir);
    int pages = s_count_pages (self, path, mime);
    if (self->range_pages > 0 && pages > self->range_pages)
        return s_fan_out (ctx, pages, self->range_pages);
    snprintf (out_path, sizeof out_path, "%s/pages.mp", dir);
    page_sink_t sink = { .ctx = ctx, .out = sl_recw_new (out_path) };
    if (!sink.out)
        return sl_ctx_write_failed (ctx, errno, "pages.mp");
    sl_mpw_init (&sink.w);
    sl_parse_info_t info;
    memset (&info, 0, sizeof info);
    char err [1024] = "";
    sl_parse_opts_t opts;
    attach_t att;
    s_attach_begin (&att, self, ctx, &opts);
    //  The blob is named by its sha256: a document with no title and no
    //  text (a scan) is titled by the name it came with instead
    char filename [512] = "";
    sl_mp_get_str (body, "filename", filename, sizeof filename);
    opts.name = *filename ? filename : NULL;
    int rc = sl_parse_file (&opts, path, *mime ? mime : NULL, s_on_page, &sink, &info, err, sizeof err);
    sl_client_destroy (&att.client);
    sl_mpw_reset (&sink.w);
    if (sl_ctx_cancelled (ctx)) {
        sl_recw_abort (&sink.out);
        sl_info (sl_envelope_job (env), "cancelled at page %d: parse stopped", sink.pages);
        return SL_DONE;         //  the runtime drops the message and what it made
    }
    if (rc && (att.retry || att.error)) {
        sl_recw_abort (&sink.out);
        if (att.error)
            return sl_ctx_write_failed (ctx, att.error, att.reason);
        sl_ctx_set_error (ctx, "%s", att.reason);
        return SL_RETRY;
    }
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
        return sl_ctx_write_failed (ctx, sink.write_error, "pages.mp");
    }
    if (rc) {
        sl_recw_abort (&sink.out);
        sl_ctx_set_error (ctx, "%s", err);
        return strncmp (err, "cannot open", 11) == 0 ? SL_RETRY : SL_FAIL;
    }
    if (sl_recw_commit (&sink.out))
        return sl_ctx_write_failed (ctx, errno, "pages.mp");
    if (info.pages_failed)
        sl_warn (sl_envelope_job (env), "%d of %d pages could not be read and were skipped",
                 info.pages_failed, info.page_count);
    if (sink.need_ocr > 0 && !self->ocr)
        sl_warn (sl_envelope_job (env), "%d of %d pages look scanned but OCR is off (ocr.enabled): "
                 "indexed with the little text they have", sink.need_ocr, info.page_count);
    s_forward_parsed (ctx, body, info.title, info.page_count, info.format, att.submitted,
                      via_ocr ? sink.need_ocr : 0);
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
    self->attachment_depth = (int) sl_config_int (cfg, "parse.attachment_depth", 3);
    self->range_pages = (int) sl_config_int (cfg, "parse.range_pages", 0);
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
