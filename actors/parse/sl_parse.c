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
    FZ_LOCK_FREETYPE maps to one process-wide mutex (engine/sl_mupdf_lock,
    shared with the ocr stage's contexts); FZ_LOCK_ALLOC and
    FZ_LOCK_GLYPHCACHE guard only per-context structures (store, glyph
    cache: our contexts are never cloned) and get per-call mutexes, so
    parse threads do not contend on every malloc. MuPDF's lazily built AES
    tables are built once, through sl_mupdf_once, before any context exists.

    OCR detection: while extracting a page's text the stext device also
    keeps image blocks (a reference and a bounding box each, no decoding),
    so one pass tells how many real characters the text layer has and how
    much of the page its largest image covers. A page with too few
    characters, or a full-page image and little text, is delivered with
    needs_ocr; image files (PNG, JPEG, TIFF) are such pages throughout.

    Outlines (bookmarks) are read once after layout, flattened in document
    order to (page, depth, title), bounded in count, depth and title
    length, sorted by page, and handed out with the page they start on.
*/
#include "sl_parse_internal.h"
#include "sl_log.h"
#include "sl_mupdf_lock.h"
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
#define SL_PARSE_OCR_MIN_CHARS  16

//  A page whose largest image covers this share of its area, with fewer
//  than S_IMAGE_TEXT real characters on it, is a scan (perhaps with a
//  stamp or a page number in real text): OCR reads it. A scan that already
//  carries an OCR text layer has far more text and is left alone.
#define S_IMAGE_COVER           0.85
#define S_IMAGE_TEXT            160

//  Outline (bookmarks) bounds: a hostile outline of millions of entries or
//  a cycle costs at most S_OUTLINE_MAX visits; deeper entries are skipped;
//  titles are cut at S_OUTLINE_TITLE bytes (a UTF-8 boundary).
#define S_OUTLINE_MAX           4000
#define S_OUTLINE_DEPTH         6
#define S_OUTLINE_TITLE         300

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
    memset (opts, 0, sizeof *opts);     //  no name, no attachment hook
    opts->max_pages = SL_PARSE_MAX_PAGES;
    opts->max_seconds = SL_PARSE_MAX_SECONDS;
    opts->max_memory = SL_PARSE_MAX_MEMORY;
    opts->max_text_bytes = SL_PARSE_MAX_TEXT;
    opts->max_text_total = SL_PARSE_MAX_TEXT;
    opts->ocr_min_chars = SL_PARSE_OCR_MIN_CHARS;
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

//  One outline entry: the page it starts on (0-based), its depth, its title
typedef struct {
    int page;
    int level;
    int order;                  //  position in the outline: ties keep it
    char *title;
} s_entry_t;

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
    bool reflowable;            //  EPUB, FB2, MOBI: laid out by us, never OCR'd
    int page_count;
    int index;                  //  0-based page being extracted
    char meta_title [512];      //  title from document metadata, or ""
    sl_parse_buf_t text;        //  the current page, reused page to page
    size_t text_cap;            //  a page's text stops growing past this

    //  OCR detection, filled by s_step_extract for the current page
    int min_chars;              //  opts->ocr_min_chars
    int real_chars;             //  alphanumerics in the text layer
    double image_cover;         //  largest image's share of the page area

    //  Outline entries, sorted by page (s_step_outline)
    s_entry_t *entries;
    int entry_count;
    int entry_next;             //  first entry not delivered yet
    sl_heading_t *heads;        //  the current page's, as delivered
} s_job_t;

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
    if (lock == FZ_LOCK_FREETYPE)
        sl_mupdf_lock ();
    else
        pthread_mutex_lock (&job->locks [lock]);
}

static void
s_unlock (void *user, int lock)
{
    s_job_t *job = (s_job_t *) user;
    if (lock == FZ_LOCK_FREETYPE)
        sl_mupdf_unlock ();
    else
        pthread_mutex_unlock (&job->locks [lock]);
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
    for (int i = 0; i < job->entry_count; i++)
        free (job->entries [i].title);
    free (job->entries);
    job->entries = NULL;
    free (job->heads);
    job->heads = NULL;
    job->entry_count = 0;
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
    job->reflowable = fz_is_document_reflowable (ctx, job->doc);
    if (job->reflowable)
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

//  A character that carries meaning: a letter or digit, in any script.
//  Spaces, punctuation, symbols, private-use glyphs and U+FFFD (what a
//  font without a Unicode map gives) are not text a reader could search.
static bool
s_real_char (int c)
{
    if (c < 0)
        return false;
    if (c < 0x80)
        return isalnum (c) != 0;
    if (c < 0xC0 || c == 0xD7 || c == 0xF7)
        return false;           //  Latin-1 punctuation and signs
    if (c >= 0x2000 && c <= 0x2BFF)
        return false;           //  punctuation, arrows, maths, box drawing
    if ((c >= 0xE000 && c <= 0xF8FF) || c == 0xFFFD || c >= 0xF0000)
        return false;           //  private use, replacement character
    return true;
}

//  Count the text layer's real characters and measure the largest image,
//  for the OCR decision (see s_page_needs_ocr).
static void
s_measure_page (s_job_t *job, fz_stext_page *stext)
{
    job->real_chars = 0;
    job->image_cover = 0;
    fz_rect page = stext->mediabox;
    double area = (double) (page.x1 - page.x0) * (double) (page.y1 - page.y0);
    for (fz_stext_block *block = stext->first_block; block; block = block->next) {
        if (block->type == FZ_STEXT_BLOCK_IMAGE && area > 0) {
            fz_rect box = fz_intersect_rect (block->bbox, page);
            if (!fz_is_empty_rect (box)) {
                double cover = (double) (box.x1 - box.x0) * (double) (box.y1 - box.y0) / area;
                if (cover > job->image_cover)
                    job->image_cover = cover;
            }
        }
        else
        if (block->type == FZ_STEXT_BLOCK_TEXT)
            for (fz_stext_line *line = block->u.t.first_line; line; line = line->next)
                for (fz_stext_char *ch = line->first_char; ch; ch = ch->next)
                    if (s_real_char (ch->c))
                        job->real_chars++;
    }
}

//  Extract page job->index into job->text.
static void
s_step_extract (s_job_t *job)
{
    fz_context *ctx = job->ctx;
    job->page = fz_load_page (ctx, job->doc, job->index);
    job->stext = fz_new_stext_page (ctx, fz_bound_page (ctx, job->page));
    //  Text clipped away outside the page is not what a reader sees.
    //  Images are kept as blocks (a reference and a box, never decoded) so
    //  a scanned page can be told from a text page in the same pass.
    fz_stext_options options = { .flags = FZ_STEXT_MEDIABOX_CLIP | FZ_STEXT_PRESERVE_IMAGES };
    job->dev = fz_new_stext_device (ctx, job->stext, &options);
    fz_run_page (ctx, job->page, job->dev, fz_identity, &job->cookie);
    fz_close_device (ctx, job->dev);
    s_measure_page (job, job->stext);
    s_stext_to_text (job->stext, &job->text, job->text_cap);
}

//  Does the page just extracted need OCR? Image files always do; a page
//  of another format does when its text layer has fewer than min_chars
//  real characters, or when it is one full-page image with little text.
static bool
s_page_needs_ocr (const s_job_t *job)
{
    if (strcmp (job->format->format, "image") == 0)
        return true;
    //  Reflowed formats (EPUB, FB2, MOBI) are text by nature: a short last
    //  page of a chapter is not a scan, and a cover picture is not text
    if (job->reflowable)
        return false;
    if (job->real_chars < job->min_chars)
        return true;
    return job->image_cover >= S_IMAGE_COVER && job->real_chars < S_IMAGE_TEXT;
}

//  --------------------------------------------------------------------------
//  Outline (bookmarks) -> headings per page

static int
s_entry_cmp (const void *a, const void *b)
{
    const s_entry_t *x = (const s_entry_t *) a, *y = (const s_entry_t *) b;
    if (x->page != y->page)
        return x->page < y->page ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

//  Walk the outline depth first, keeping entries that resolve to a page.
//  visits counts every node seen, kept or not, so a cyclic or enormous
//  outline costs at most S_OUTLINE_MAX steps.
static void
s_outline_walk (s_job_t *job, fz_outline *node, int level, int *visits)
{
    fz_context *ctx = job->ctx;
    for (; node && *visits < S_OUTLINE_MAX; node = node->next) {
        (*visits)++;
        //  An entry without a link goes nowhere (MuPDF still says page 0);
        //  a link out of the document (a web address) is no page either
        int page = -1;
        if (node->uri && !fz_is_external_link (ctx, node->uri) && node->page.page >= 0)
            page = fz_page_number_from_location (ctx, job->doc, node->page);
        char title [S_OUTLINE_TITLE + 8];
        if (page >= 0 && page < job->page_count && node->title
        &&  sl_parse_set_title (title, sizeof title, node->title, strlen (node->title), S_OUTLINE_TITLE)) {
            s_entry_t *entry = &job->entries [job->entry_count];
            entry->title = strdup (title);
            if (entry->title) {
                entry->page = page;
                entry->level = level;
                entry->order = job->entry_count;
                job->entry_count++;
            }
        }
        if (level < S_OUTLINE_DEPTH)
            s_outline_walk (job, node->down, level + 1, visits);
    }
}

//  Load the outline into job->entries, sorted by page. An outline MuPDF
//  cannot read costs the headings, never the document (see caller).
static void
s_step_outline (s_job_t *job)
{
    fz_context *ctx = job->ctx;
    fz_outline *outline = fz_load_outline (ctx, job->doc);
    if (!outline)
        return;
    fz_try (ctx) {
        job->entries = calloc (S_OUTLINE_MAX, sizeof *job->entries);
        job->heads = calloc (S_OUTLINE_MAX, sizeof *job->heads);
        if (!job->entries || !job->heads)
            fz_throw (ctx, FZ_ERROR_GENERIC, "out of memory for the outline");
        int visits = 0;
        s_outline_walk (job, outline, 1, &visits);
    }
    fz_always (ctx)
        fz_drop_outline (ctx, outline);
    fz_catch (ctx)
        fz_rethrow (ctx);
    qsort (job->entries, (size_t) job->entry_count, sizeof *job->entries, s_entry_cmp);
}

//  The outline entries that start on page index (0-based), as headings in
//  job->heads. Returns how many.
static int
s_page_headings (s_job_t *job, int index)
{
    sl_heading_t *heads = job->heads;
    int count = 0;
    while (job->entry_next < job->entry_count && job->entries [job->entry_next].page < index)
        job->entry_next++;
    while (job->entry_next < job->entry_count && job->entries [job->entry_next].page == index) {
        heads [count].level = job->entries [job->entry_next].level;
        heads [count].title = job->entries [job->entry_next].title;
        count++;
        job->entry_next++;
    }
    return count;
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
    sl_mupdf_once (s_global_init);
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
    job->min_chars = opts->ocr_min_chars;
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
    //  Headings are a bonus: an outline MuPDF cannot read costs them, not
    //  the document (unless a limit was crossed reading it)
    if (s_try (job, s_step_outline) != 0 && job->failure == S_OK) {
        sl_debug (NULL, "outline ignored: %s", fz_caught_message (ctx));
        for (int i = 0; i < job->entry_count; i++)
            free (job->entries [i].title);
        job->entry_count = 0;
    }
    if (job->failure != S_OK) {
        s_limit_error (job, opts, 0, err, errlen);
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
    if (opts->count_only)
        goto done;
    int first = opts->first_page > 0 ? opts->first_page - 1 : 0;
    int end = opts->end_page > 0 && opts->end_page - 1 < page_count ? opts->end_page - 1 : page_count;
    if (first >= end) {
        sl_parse_errf (err, errlen, "page range %d-%d is outside the document's %d pages",
                       opts->first_page, opts->end_page - 1, page_count);
        rc = -1;
        goto done;
    }

    char first_error [256] = "";
    for (job->index = first; job->index < end; job->index++) {
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
        if (info->pages_failed == end - first) {
            sl_parse_errf (err, errlen, "cannot parse %s: %s", name, first_error);
            rc = -1;
            break;
        }
        sl_page_t page = { .page_no = page_no, .page_count = page_count,
                           .text = job->text.data, .len = job->text.size,
                           .needs_ocr = !page_failed && s_page_needs_ocr (job) };
        page.heading_count = job->heads ? s_page_headings (job, job->index) : 0;
        page.headings = job->heads;
        if (page.needs_ocr)
            info->pages_need_ocr++;
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
        sl_parse_title_from_path (info, opts, path);
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
