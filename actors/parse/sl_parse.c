/*  sl_parse: format dispatch, and the MuPDF back-end for paginated and
    reflowable documents (PDF, EPUB, XPS, CBZ, FB2, MOBI). See sl_parse.h.

    One fz_context per call, so documents never share MuPDF state and a
    failure in one cannot poison the next. Every MuPDF call runs inside
    fz_try; every object is dropped in fz_always. State that must survive a
    longjmp out of fz_try lives in the heap-allocated s_job_t, reached
    through a pointer, not in locals that setjmp could clobber.

    Limits are enforced from inside MuPDF, by the allocator it calls:
      - memory: each block carries a 16-byte header with its size, so the
        allocator knows the live total; a request beyond max_memory fails,
        MuPDF throws, and we report "memory limit ... exceeded". The refusal
        is sticky (every later request fails too), because MuPDF swallows
        some errors and carries on; a sticky flag makes sure a document that
        crossed the line fails rather than returning half-extracted text.
        MuPDF's cache (the "store") is capped at a quarter of the limit so
        that its normal eviction, not our refusal, keeps it in bounds.
      - time: every 1024 allocations the allocator compares the monotonic
        clock with the deadline; past it, it refuses like above and raises
        the fz_cookie abort flag, which the PDF interpreter polls between
        operators. The deadline is also checked between pages.

    Locking: MuPDF's harfbuzz and openjpeg glue keep a global "current
    context" pointer guarded by FZ_LOCK_FREETYPE, and MuPDF's own docs say
    that lock must be shared by every context in the process. So
    FZ_LOCK_FREETYPE maps to one process-wide mutex; FZ_LOCK_ALLOC and
    FZ_LOCK_GLYPHCACHE guard only per-context structures (store, glyph
    cache: our contexts are never cloned) and get per-call mutexes, so
    parse threads do not contend on every malloc. MuPDF's lazily built AES
    tables are built once, under pthread_once, before any context exists.
*/
#include "sl_parse_internal.h"
#include "sl_log.h"
#include "sl_util.h"

#include <mupdf/fitz.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define SL_PARSE_MAX_PAGES      5000
#define SL_PARSE_MAX_SECONDS    300
#define SL_PARSE_MAX_MEMORY     ((size_t) 1 << 30)
#define SL_PARSE_MAX_TEXT       ((size_t) 64 << 20)

//  Reflowable formats (EPUB, FB2, MOBI) are laid out on a small page so
//  "pages" are chunks of a few hundred words, like a paperback's.
#define SL_LAYOUT_W     400.0f
#define SL_LAYOUT_H     600.0f
#define SL_LAYOUT_EM    11.0f

#define S_HEADER        16      //  keeps malloc's 16-byte alignment
#define S_WARNINGS_LOGGED 5

void
sl_parse_opts_defaults (sl_parse_opts_t *opts)
{
    assert (opts);
    opts->max_pages = SL_PARSE_MAX_PAGES;
    opts->max_seconds = SL_PARSE_MAX_SECONDS;
    opts->max_memory = SL_PARSE_MAX_MEMORY;
    opts->max_text_bytes = SL_PARSE_MAX_TEXT;
    opts->max_text_total = SL_PARSE_MAX_TEXT;
}

//  --------------------------------------------------------------------------
//  Formats

typedef enum { S_MUPDF, S_HTML, S_TEXT, S_MARKDOWN, S_OFFICE, S_MAIL } s_engine_t;

typedef struct {
    const char *mime;
    const char *format;         //  our name, reported in info->format
    s_engine_t engine;
    const char *magic;          //  what MuPDF recognises the handler by
} s_format_t;

static const s_format_t s_formats [] = {
    { "application/pdf",                "pdf",      S_MUPDF,    "application/pdf" },
    { "application/x-pdf",              "pdf",      S_MUPDF,    "application/pdf" },
    { "application/epub+zip",           "epub",     S_MUPDF,    "application/epub+zip" },
    { "application/oxps",               "xps",      S_MUPDF,    "application/oxps" },
    { "application/vnd.ms-xpsdocument", "xps",      S_MUPDF,    "application/vnd.ms-xpsdocument" },
    { "application/xps",                "xps",      S_MUPDF,    "application/xps" },
    { "application/x-cbz",              "cbz",      S_MUPDF,    "application/x-cbz" },
    { "application/vnd.comicbook+zip",  "cbz",      S_MUPDF,    "application/vnd.comicbook+zip" },
    { "application/x-fictionbook",      "fb2",      S_MUPDF,    "application/x-fictionbook" },
    { "application/x-fictionbook+xml",  "fb2",      S_MUPDF,    "application/x-fictionbook" },
    { "text/x-fictionbook+xml",         "fb2",      S_MUPDF,    "application/x-fictionbook" },
    { "application/x-mobipocket-ebook", "mobi",     S_MUPDF,    "application/x-mobipocket-ebook" },
    { "text/html",                      "html",     S_HTML,     NULL },
    { "application/xhtml+xml",          "html",     S_HTML,     NULL },
    { "text/plain",                     "text",     S_TEXT,     NULL },
    { "text/markdown",                  "markdown", S_MARKDOWN, NULL },
    { "text/x-markdown",                "markdown", S_MARKDOWN, NULL },
    { "image/png",                      "image",    S_MUPDF,    "image/png" },
    { "image/jpeg",                     "image",    S_MUPDF,    "image/jpeg" },
    { "image/tiff",                     "image",    S_MUPDF,    "image/tiff" },
    { "application/vnd.openxmlformats-officedocument.wordprocessingml.document",                     "docx",     S_OFFICE,   NULL },
    { "application/vnd.openxmlformats-officedocument.presentationml.presentation",                     "pptx",     S_OFFICE,   NULL },
    { "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",                     "xlsx",     S_OFFICE,   NULL },
    { "application/vnd.oasis.opendocument.text",                      "odt",      S_OFFICE,   NULL },
    { "application/vnd.oasis.opendocument.presentation",                      "odp",      S_OFFICE,   NULL },
    { "application/vnd.oasis.opendocument.spreadsheet",                      "ods",      S_OFFICE,   NULL },
    { "message/rfc822",                 "eml",      S_MAIL,     NULL },
    { "application/mbox",               "mbox",     S_MAIL,     NULL },
};

static const struct {
    const char *ext;
    const char *mime;
} s_extensions [] = {
    { "pdf", "application/pdf" },       { "epub", "application/epub+zip" },
    { "xps", "application/oxps" },      { "oxps", "application/oxps" },
    { "cbz", "application/x-cbz" },     { "fb2", "application/x-fictionbook" },
    { "mobi", "application/x-mobipocket-ebook" },
    { "html", "text/html" },            { "htm", "text/html" },
    { "xhtml", "application/xhtml+xml" },
    { "txt", "text/plain" },            { "text", "text/plain" },
    { "md", "text/markdown" },          { "markdown", "text/markdown" },
    { "png", "image/png" },             { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" },           { "tif", "image/tiff" },
    { "tiff", "image/tiff" },
    { "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },           { "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
    { "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },           { "odt", "application/vnd.oasis.opendocument.text" },
    { "odp", "application/vnd.oasis.opendocument.presentation" },             { "ods", "application/vnd.oasis.opendocument.spreadsheet" },
    { "eml", "message/rfc822" },        { "mbox", "application/mbox" },
};

static const s_format_t *
s_format_by_mime (const char *mime)
{
    for (size_t i = 0; i < sizeof s_formats / sizeof s_formats [0]; i++)
        if (strcasecmp (s_formats [i].mime, mime) == 0)
            return &s_formats [i];
    return NULL;
}

//  Guess a MIME type for a file fetch could not classify: magic bytes
//  first (they do not lie about PDFs and EPUBs), then the extension.
static const char *
s_guess_mime (const char *path)
{
    unsigned char head [1024];
    size_t n = 0;
    FILE *file = fopen (path, "rb");
    if (file) {
        n = fread (head, 1, sizeof head, file);
        fclose (file);
    }
    if (n >= 5 && memmem (head, n, "%PDF-", 5))
        return "application/pdf";
    if (n >= 58 && memcmp (head, "PK\3\4", 4) == 0
    &&  memcmp (head + 30, "mimetypeapplication/epub+zip", 28) == 0)
        return "application/epub+zip";
    if (n >= 12 && memmem (head, n, "<FictionBook", 12))
        return "application/x-fictionbook";
    const char *dot = strrchr (path, '.');
    const char *slash = strrchr (path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof s_extensions / sizeof s_extensions [0]; i++)
            if (strcasecmp (dot + 1, s_extensions [i].ext) == 0)
                return s_extensions [i].mime;
    //  markup at the start of the file is HTML whatever the name says
    size_t i = 0;
    while (i < n && (head [i] == ' ' || head [i] == '\t' || head [i] == '\r' || head [i] == '\n'))
        i++;
    if (n - i >= 5 && (strncasecmp ((char *) head + i, "<!doctype html", n - i < 14 ? n - i : 14) == 0
                   ||  strncasecmp ((char *) head + i, "<html", 5) == 0))
        return "text/html";
    return NULL;
}

//  --------------------------------------------------------------------------
//  MuPDF job: allocator, locks, warnings

typedef enum { S_OK = 0, S_OVER_MEMORY, S_OVER_TIME } s_failure_t;

typedef struct {
    //  Limits, enforced by the allocator (see header comment)
    size_t limit;
    size_t live;
    size_t peak;
    unsigned allocs;
    int64_t deadline;
    s_failure_t failure;        //  sticky once set
    fz_cookie cookie;

    pthread_mutex_t locks [FZ_LOCK_MAX];
    int warnings;

    //  MuPDF objects, dropped by s_job_drop in any state
    fz_context *ctx;
    fz_stream *stream;
    fz_document *doc;
    fz_page *page;
    fz_stext_page *stext;
    fz_device *dev;

    const s_format_t *format;
    const char *path;
    bool needs_password;
    int page_count;
    int index;                  //  0-based page being extracted
    char meta_title [512];      //  title from document metadata, or ""
    sl_parse_buf_t text;        //  the current page, reused page to page
    size_t text_cap;            //  a page's text stops growing past this
} s_job_t;

static pthread_mutex_t s_global_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t s_global_once = PTHREAD_ONCE_INIT;

static void
s_global_init (void)
{
    //  crypt-aes builds its tables on first use behind an unlocked flag;
    //  build them now, while only one thread can be here.
    fz_aes aes;
    unsigned char key [32] = { 0 };
    fz_aes_setkey_enc (&aes, key, 256);
    fz_aes_setkey_dec (&aes, key, 256);
}

static void
s_lock (void *user, int lock)
{
    s_job_t *job = (s_job_t *) user;
    pthread_mutex_lock (lock == FZ_LOCK_FREETYPE ? &s_global_lock : &job->locks [lock]);
}

static void
s_unlock (void *user, int lock)
{
    s_job_t *job = (s_job_t *) user;
    pthread_mutex_unlock (lock == FZ_LOCK_FREETYPE ? &s_global_lock : &job->locks [lock]);
}

//  Decide whether the allocator may grow live memory by grow bytes.
static bool
s_refuse (s_job_t *job, size_t grow)
{
    if (job->failure != S_OK)
        return true;
    if (++job->allocs % 1024 == 0 && sl_mono_ms () > job->deadline) {
        job->failure = S_OVER_TIME;
        job->cookie.abort = 1;
        return true;
    }
    if (grow > job->limit - job->live) {
        job->failure = S_OVER_MEMORY;
        job->cookie.abort = 1;
        return true;
    }
    return false;
}

static void *
s_malloc (void *user, size_t size)
{
    s_job_t *job = (s_job_t *) user;
    if (size > SIZE_MAX - S_HEADER || s_refuse (job, size))
        return NULL;
    char *block = malloc (S_HEADER + size);
    if (!block)
        return NULL;
    *(size_t *) block = size;
    job->live += size;
    if (job->live > job->peak)
        job->peak = job->live;
    return block + S_HEADER;
}

static void *
s_realloc (void *user, void *old, size_t size)
{
    s_job_t *job = (s_job_t *) user;
    if (!old)
        return s_malloc (user, size);
    char *block = (char *) old - S_HEADER;
    size_t old_size = *(size_t *) block;
    if (size > SIZE_MAX - S_HEADER || (size > old_size && s_refuse (job, size - old_size)))
        return NULL;
    block = realloc (block, S_HEADER + size);
    if (!block)
        return NULL;
    *(size_t *) block = size;
    job->live = job->live - old_size + size;
    if (job->live > job->peak)
        job->peak = job->live;
    return block + S_HEADER;
}

static void
s_free (void *user, void *ptr)
{
    s_job_t *job = (s_job_t *) user;
    if (!ptr)
        return;
    char *block = (char *) ptr - S_HEADER;
    job->live -= *(size_t *) block;
    free (block);
}

//  MuPDF reports repairs and recoverable damage as warnings, and prints
//  every exception as it is thrown; both would flood stderr on a broken
//  file. Keep a few at debug level; the outcome is what the caller sees.
static void
s_warning (void *user, const char *message)
{
    s_job_t *job = (s_job_t *) user;
    if (job->warnings++ < S_WARNINGS_LOGGED)
        sl_debug (NULL, "mupdf warning: %s", message);
}

static void
s_error (void *user, const char *message)
{
    sl_debug (NULL, "mupdf error: %s", message);
}

static void
s_job_drop_page (s_job_t *job)
{
    fz_context *ctx = job->ctx;
    //  drop calls never throw, and NULL is fine for each
    fz_drop_device (ctx, job->dev);
    job->dev = NULL;
    fz_drop_stext_page (ctx, job->stext);
    job->stext = NULL;
    fz_drop_page (ctx, job->page);
    job->page = NULL;
}

static void
s_job_drop (s_job_t *job)
{
    if (job->ctx) {
        s_job_drop_page (job);
        fz_drop_document (job->ctx, job->doc);
        job->doc = NULL;
        fz_drop_stream (job->ctx, job->stream);
        job->stream = NULL;
        fz_drop_context (job->ctx);
        job->ctx = NULL;
    }
    for (int i = 0; i < FZ_LOCK_MAX; i++)
        pthread_mutex_destroy (&job->locks [i]);
    sl_parse_buf_free (&job->text);
}

//  --------------------------------------------------------------------------
//  MuPDF back-end

static const char *
s_upper_format (const s_job_t *job, char *buf, size_t cap)
{
    size_t i = 0;
    for (; job->format->format [i] && i + 1 < cap; i++)
        buf [i] = (char) toupper ((unsigned char) job->format->format [i]);
    buf [i] = 0;
    return buf;
}

//  The steps below run inside s_try's fz_try: they may throw, and keep
//  all their results in the job.

//  Open the document; an empty user password is tried on the way.
static void
s_step_open (s_job_t *job)
{
    fz_context *ctx = job->ctx;
    fz_register_document_handlers (ctx);
    job->stream = fz_open_file (ctx, job->path);
    job->doc = fz_open_document_with_stream (ctx, job->format->magic, job->stream);
    job->needs_password = fz_needs_password (ctx, job->doc);
}

//  Lay out reflowable formats, count pages, read the metadata title. Layout
//  and counting can be slow and can throw (a broken page tree).
static void
s_step_layout (s_job_t *job)
{
    fz_context *ctx = job->ctx;
    if (fz_is_document_reflowable (ctx, job->doc))
        fz_layout_document (ctx, job->doc, SL_LAYOUT_W, SL_LAYOUT_H, SL_LAYOUT_EM);
    job->page_count = fz_count_pages (ctx, job->doc);
    if (fz_lookup_metadata (ctx, job->doc, FZ_META_INFO_TITLE,
                            job->meta_title, sizeof job->meta_title) <= 0)
        job->meta_title [0] = 0;
}

//  Page text: blank line between blocks, newline between lines, trailing
//  spaces trimmed, control characters as spaces. Stops once the text passes
//  cap bytes: the page is over the document's text limit anyway, and one
//  page drawing a form thousands of times must not build gigabytes first.
static void
s_stext_to_text (fz_stext_page *stext, sl_parse_buf_t *out, size_t cap)
{
    sl_parse_buf_reset (out);
    for (fz_stext_block *block = stext->first_block; block && out->size <= cap; block = block->next) {
        if (block->type != FZ_STEXT_BLOCK_TEXT)
            continue;
        size_t block_start = out->size;
        if (out->size > 0)
            sl_parse_buf_append (out, "\n\n", 2);
        bool empty = true;
        for (fz_stext_line *line = block->u.t.first_line; line && out->size <= cap; line = line->next) {
            size_t line_start = out->size;
            if (!empty)
                sl_parse_buf_append (out, "\n", 1);
            size_t content = out->size;
            for (fz_stext_char *ch = line->first_char; ch && out->size <= cap; ch = ch->next) {
                uint32_t cp = (uint32_t) ch->c;
                if (cp < 0x20 || cp == 0x7F)
                    cp = ' ';
                if (cp == ' ' && out->size == content)
                    continue;   //  leading space
                sl_parse_buf_putc (out, cp);
            }
            while (out->size > content && out->data [out->size - 1] == ' ')
                out->size--;
            if (out->size == content)
                out->size = line_start;
            else
                empty = false;
            out->data [out->size] = 0;
        }
        if (empty) {
            out->size = block_start;
            if (out->data)
                out->data [out->size] = 0;
        }
    }
    if (!out->data)
        sl_parse_buf_append (out, "", 0);
}

//  Extract page job->index into job->text.
static void
s_step_extract (s_job_t *job)
{
    fz_context *ctx = job->ctx;
    job->page = fz_load_page (ctx, job->doc, job->index);
    job->stext = fz_new_stext_page (ctx, fz_bound_page (ctx, job->page));
    //  Text clipped away outside the page is not what a reader sees
    fz_stext_options options = { .flags = FZ_STEXT_MEDIABOX_CLIP };
    job->dev = fz_new_stext_device (ctx, job->stext, &options);
    fz_run_page (ctx, job->page, job->dev, fz_identity, &job->cookie);
    fz_close_device (ctx, job->dev);
    s_stext_to_text (job->stext, &job->text, job->text_cap);
}

//  Run one step under fz_try, always dropping page-level objects after it.
//  Returns 0, or -1 with fz_caught_message (ctx) saying why. Kept apart so
//  no caller local lives across the setjmp.
static int
s_try (s_job_t *job, void (*step) (s_job_t *job))
{
    int rc = 0;
    fz_try (job->ctx)
        step (job);
    fz_always (job->ctx)
        s_job_drop_page (job);
    fz_catch (job->ctx)
        rc = -1;
    return rc;
}

static void
s_limit_error (const s_job_t *job, const sl_parse_opts_t *opts, int page_no,
               char *err, size_t errlen)
{
    char where [64];
    if (page_no > 0)
        snprintf (where, sizeof where, "%s page %d",
                  job->failure == S_OVER_TIME ? "at" : "on", page_no);
    else
        snprintf (where, sizeof where, "while opening the document");
    if (job->failure == S_OVER_TIME)
        sl_parse_errf (err, errlen, "parse time limit of %d s exceeded %s", opts->max_seconds, where);
    else {
        char limit [32];
        sl_parse_size_str (opts->max_memory, limit, sizeof limit);
        sl_parse_errf (err, errlen, "memory limit of %s exceeded %s", limit, where);
    }
}

static int
s_parse_mupdf (const sl_parse_opts_t *opts, const char *path, const s_format_t *format,
               sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen)
{
    pthread_once (&s_global_once, s_global_init);
    s_job_t *job = calloc (1, sizeof *job);
    if (!job) {
        sl_parse_errf (err, errlen, "out of memory");
        return -1;
    }
    job->format = format;
    job->path = path;
    job->limit = opts->max_memory;
    job->text_cap = opts->max_text_total;
    job->deadline = sl_mono_ms () + (int64_t) opts->max_seconds * 1000;
    for (int i = 0; i < FZ_LOCK_MAX; i++)
        pthread_mutex_init (&job->locks [i], NULL);
    char name [16];
    s_upper_format (job, name, sizeof name);

    fz_alloc_context alloc = { job, s_malloc, s_realloc, s_free };
    fz_locks_context locks = { job, s_lock, s_unlock };
    size_t max_store = opts->max_memory / 4;
    if (max_store > FZ_STORE_DEFAULT)
        max_store = FZ_STORE_DEFAULT;
    job->ctx = fz_new_context (&alloc, &locks, max_store);
    if (!job->ctx) {
        if (job->failure != S_OK)
            s_limit_error (job, opts, 0, err, errlen);
        else
            sl_parse_errf (err, errlen, "cannot create a MuPDF context: out of memory");
        s_job_drop (job);
        free (job);
        return -1;
    }
    fz_context *ctx = job->ctx;
    fz_set_warning_callback (ctx, s_warning, job);
    fz_set_error_callback (ctx, s_error, job);

    int rc = s_try (job, s_step_open);
    if (rc) {
        if (job->failure != S_OK)
            s_limit_error (job, opts, 0, err, errlen);
        else
            sl_parse_errf (err, errlen, "cannot parse %s: %s", name, fz_caught_message (ctx));
        goto done;
    }
    if (job->needs_password) {
        sl_parse_errf (err, errlen, "password-protected %s: cannot extract text without the password", name);
        rc = -1;
        goto done;
    }
    rc = s_try (job, s_step_layout);
    if (rc || job->failure != S_OK) {
        if (job->failure != S_OK)
            s_limit_error (job, opts, 0, err, errlen);
        else
            sl_parse_errf (err, errlen, "cannot parse %s: %s", name, fz_caught_message (ctx));
        rc = -1;
        goto done;
    }
    if (job->meta_title [0])
        sl_parse_set_title (info->title, sizeof info->title,
                            job->meta_title, strlen (job->meta_title), 500);
    int page_count = job->page_count;
    if (page_count > opts->max_pages) {
        sl_parse_errf (err, errlen, "document has %d pages, limit is %d", page_count, opts->max_pages);
        rc = -1;
        goto done;
    }
    if (page_count <= 0) {
        sl_parse_errf (err, errlen, "cannot parse %s: document has no pages", name);
        rc = -1;
        goto done;
    }
    info->page_count = page_count;

    char first_error [256] = "";
    for (job->index = 0; job->index < page_count; job->index++) {
        int page_no = job->index + 1;
        if (sl_mono_ms () > job->deadline) {
            job->failure = S_OVER_TIME;
            s_limit_error (job, opts, page_no, err, errlen);
            rc = -1;
            break;
        }
        bool page_failed = s_try (job, s_step_extract) != 0;
        if (page_failed && !*first_error)
            snprintf (first_error, sizeof first_error, "%s", fz_caught_message (ctx));
        if (job->peak > info->peak_memory)
            info->peak_memory = job->peak;
        if (job->failure != S_OK) {
            s_limit_error (job, opts, page_no, err, errlen);
            rc = -1;
            break;
        }
        if (page_failed) {
            //  A damaged page should not cost the document: deliver it
            //  empty so page numbers stay true, and go on.
            info->pages_failed++;
            sl_parse_buf_reset (&job->text);
            sl_parse_buf_append (&job->text, "", 0);
        }
        if (page_no == 1 && !info->title [0])
            sl_parse_title_from_text (info, job->text.data, job->text.size);
        if (info->pages_failed == page_count) {
            sl_parse_errf (err, errlen, "cannot parse %s: %s", name, first_error);
            rc = -1;
            break;
        }
        sl_page_t page = { .page_no = page_no, .page_count = page_count,
                           .text = job->text.data, .len = job->text.size };
        if (fn && fn (arg, &page)) {
            sl_parse_errf (err, errlen, "stopped by caller");
            rc = -1;
            break;
        }
    }
done:
    if (job->peak > info->peak_memory)
        info->peak_memory = job->peak;
    if (!info->title [0])
        sl_parse_title_from_path (info, path);
    s_job_drop (job);
    free (job);
    return rc;
}

//  --------------------------------------------------------------------------

//  The text ceiling, between a back-end and the caller's page callback, so
//  it holds for every format the same way.
typedef struct {
    sl_page_fn *fn;
    void *arg;
    size_t limit;
    size_t total;
    int over_at;                //  page that passed the limit, 0 if none
} s_ceiling_t;

static int
s_ceiling_page (void *arg, const sl_page_t *page)
{
    s_ceiling_t *ceiling = (s_ceiling_t *) arg;
    if (page->len > ceiling->limit - ceiling->total) {
        ceiling->over_at = page->page_no;
        return -1;
    }
    ceiling->total += page->len;
    return ceiling->fn ? ceiling->fn (ceiling->arg, page) : 0;
}

static int
s_parse_engine (const sl_parse_opts_t *opts, const s_format_t *format, const char *path,
                sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen)
{
    switch (format->engine) {
        case S_MUPDF:
            return s_parse_mupdf (opts, path, format, fn, arg, info, err, errlen);
        case S_HTML:
            return sl_parse_html (opts, path, fn, arg, info, err, errlen);
        case S_TEXT:
            return sl_parse_text (opts, path, false, fn, arg, info, err, errlen);
        case S_MARKDOWN:
            return sl_parse_text (opts, path, true, fn, arg, info, err, errlen);
        case S_OFFICE:
            return sl_parse_office (opts, path, format->format, fn, arg, info, err, errlen);
        case S_MAIL:
            return sl_parse_mail (opts, path, strcmp (format->format, "mbox") == 0,
                                  fn, arg, info, err, errlen);
    }
    return -1;
}

int
sl_parse_file (const sl_parse_opts_t *opts, const char *path, const char *mime,
               sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen)
{
    assert (path);
    sl_parse_opts_t defaults;
    if (!opts) {
        sl_parse_opts_defaults (&defaults);
        opts = &defaults;
    }
    assert (opts->max_pages > 0 && opts->max_seconds > 0);
    assert (opts->max_memory > 0 && opts->max_text_bytes > 0 && opts->max_text_total > 0);
    sl_parse_info_t scratch;
    if (!info)
        info = &scratch;
    memset (info, 0, sizeof *info);
    if (err && errlen)
        *err = 0;

    struct stat st;
    if (stat (path, &st) != 0) {
        sl_parse_errf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return -1;
    }
    if (!S_ISREG (st.st_mode)) {
        sl_parse_errf (err, errlen, "cannot open %s: not a regular file", path);
        return -1;
    }
    if (st.st_size == 0) {
        sl_parse_errf (err, errlen, "empty file");
        return -1;
    }
    //  "text/html; charset=utf-8" -> "text/html"
    char type [128] = "";
    if (mime) {
        size_t n = strcspn (mime, "; \t");
        if (n >= sizeof type)
            n = sizeof type - 1;
        memcpy (type, mime, n);
        type [n] = 0;
    }
    if (!*type || strcasecmp (type, "application/octet-stream") == 0) {
        const char *guess = s_guess_mime (path);
        if (!guess) {
            sl_parse_errf (err, errlen, "unsupported MIME type %s: cannot tell the format",
                           *type ? type : "(none)");
            return -1;
        }
        snprintf (type, sizeof type, "%s", guess);
    }
    const s_format_t *format = s_format_by_mime (type);
    if (!format) {
        sl_parse_errf (err, errlen, "unsupported MIME type %s", type);
        return -1;
    }
    snprintf (info->format, sizeof info->format, "%s", format->format);
    s_ceiling_t ceiling = { .fn = fn, .arg = arg, .limit = opts->max_text_total };
    int rc = s_parse_engine (opts, format, path, s_ceiling_page, &ceiling, info, err, errlen);
    if (rc && ceiling.over_at) {
        char limit [32];
        sl_parse_size_str (opts->max_text_total, limit, sizeof limit);
        sl_parse_errf (err, errlen, "text limit of %s exceeded at page %d", limit, ceiling.over_at);
    }
    return rc;
}
