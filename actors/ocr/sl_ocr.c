/*  sl_ocr: MuPDF renders a page, Tesseract reads it. See sl_ocr.h.

    The MuPDF context lives as long as the open document. Its allocator
    counts live bytes and refuses past the memory limit or the page's
    deadline (checked every 256 allocations), raising the cookie's abort
    flag so the interpreter stops between operators; unlike parse's, the
    refusal is reset for each page, because here a page fails, not the
    document. FZ_LOCK_FREETYPE is the process-wide engine/sl_mupdf_lock
    shared with parse; the other locks are this context's own.

    Every MuPDF call runs in fz_try; state that must survive a longjmp
    lives in self (heap), never in locals of the function holding fz_try.
*/
#include "sl_ocr.h"
#include "sl_log.h"
#include "sl_mupdf_lock.h"
#include "sl_util.h"

#include <mupdf/fitz.h>
#include <tesseract/capi.h>

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define S_HEADER        16              //  keeps malloc's alignment
//  A2 at 300 dpi is 35 M pixels, letter 8.4 M. Tesseract takes ~12 bytes a
//  pixel (132 MB peak RSS for a letter page at 300 dpi, model included):
//  the cap keeps one page under ~0.5 GB whatever the media box says
#define S_MAX_PIXELS    (36.0 * 1000 * 1000)
#define S_DEFAULT_TESSDATA "/usr/share/tesseract-ocr/5/tessdata"
#define S_LANG_MAX      64

typedef enum { S_OK = 0, S_OVER_MEMORY, S_OVER_TIME } s_failure_t;

struct _sl_ocr_t {
    sl_ocr_opts_t opts;
    char languages [S_LANG_MAX + 1];
    TessBaseAPI *api;

    //  MuPDF allocator accounting (see header comment)
    size_t live;
    unsigned allocs;
    int64_t deadline;
    s_failure_t failure;
    fz_cookie cookie;
    pthread_mutex_t locks [FZ_LOCK_MAX];

    fz_context *ctx;
    const char *path;           //  valid during sl_ocr_open only
    const char *magic;          //  what MuPDF opens it as (s_magic)
    fz_stream *stream;
    fz_document *doc;
    int page_count;

    //  The page being rendered (dropped in any state)
    fz_page *page;
    fz_pixmap *pix;
    fz_device *dev;
    int index;
    float scale;
};

void
sl_ocr_opts_defaults (sl_ocr_opts_t *opts)
{
    memset (opts, 0, sizeof *opts);
    opts->dpi = 300;
    opts->languages = "eng";
    opts->page_ms = 60000;
    opts->max_memory = (size_t) 1 << 30;
}

static void
s_errf (char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, errlen, fmt, args);
    va_end (args);
}

//  --------------------------------------------------------------------------
//  MuPDF allocator and locks

static bool
s_refuse (sl_ocr_t *self, size_t grow)
{
    if (self->failure != S_OK)
        return true;
    if (++self->allocs % 256 == 0 && sl_mono_ms () > self->deadline) {
        self->failure = S_OVER_TIME;
        self->cookie.abort = 1;
        return true;
    }
    if (grow > self->opts.max_memory - self->live) {
        self->failure = S_OVER_MEMORY;
        self->cookie.abort = 1;
        return true;
    }
    return false;
}

static void *
s_malloc (void *user, size_t size)
{
    sl_ocr_t *self = (sl_ocr_t *) user;
    if (size > SIZE_MAX - S_HEADER || s_refuse (self, size))
        return NULL;
    char *block = malloc (S_HEADER + size);
    if (!block)
        return NULL;
    *(size_t *) block = size;
    self->live += size;
    return block + S_HEADER;
}

static void *
s_realloc (void *user, void *old, size_t size)
{
    sl_ocr_t *self = (sl_ocr_t *) user;
    if (!old)
        return s_malloc (user, size);
    char *block = (char *) old - S_HEADER;
    size_t old_size = *(size_t *) block;
    if (size > SIZE_MAX - S_HEADER || (size > old_size && s_refuse (self, size - old_size)))
        return NULL;
    block = realloc (block, S_HEADER + size);
    if (!block)
        return NULL;
    *(size_t *) block = size;
    self->live = self->live - old_size + size;
    return block + S_HEADER;
}

static void
s_free (void *user, void *ptr)
{
    sl_ocr_t *self = (sl_ocr_t *) user;
    if (!ptr)
        return;
    char *block = (char *) ptr - S_HEADER;
    self->live -= *(size_t *) block;
    free (block);
}

static void
s_lock (void *user, int lock)
{
    sl_ocr_t *self = (sl_ocr_t *) user;
    if (lock == FZ_LOCK_FREETYPE)
        sl_mupdf_lock ();
    else
        pthread_mutex_lock (&self->locks [lock]);
}

static void
s_unlock (void *user, int lock)
{
    sl_ocr_t *self = (sl_ocr_t *) user;
    if (lock == FZ_LOCK_FREETYPE)
        sl_mupdf_unlock ();
    else
        pthread_mutex_unlock (&self->locks [lock]);
}

//  MuPDF prints every warning and exception; the outcome is what counts
static void
s_quiet (void *user, const char *message)
{
    (void) user;
    sl_debug (NULL, "mupdf: %s", message);
}

//  Built once per process by whichever of parse and ocr comes first
//  (MuPDF builds its AES tables lazily, without a lock).
static void
s_global_init (void)
{
    fz_aes aes;
    unsigned char key [32] = { 0 };
    fz_aes_setkey_enc (&aes, key, 256);
    fz_aes_setkey_dec (&aes, key, 256);
}

//  --------------------------------------------------------------------------
//  Tesseract

//  Tesseract's language names: letters, digits, '_' joined by '+'. Anything
//  else (a '/' above all) is refused before it becomes part of a path.
static bool
s_languages_valid (const char *languages)
{
    size_t len = strlen (languages);
    if (len == 0 || len > S_LANG_MAX || languages [0] == '+' || languages [len - 1] == '+')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = languages [i];
        if (!isalnum ((unsigned char) c) && c != '_' && c != '+')
            return false;
        if (c == '+' && languages [i + 1] == '+')
            return false;
    }
    return true;
}

//  Check every language's trained data is there, so a missing one is
//  named (Tesseract itself only prints to stderr and fails).
static int
s_languages_installed (const char *tessdata, const char *languages, char *err, size_t errlen)
{
    char list [S_LANG_MAX + 1];
    snprintf (list, sizeof list, "%s", languages);
    char *save = NULL;
    for (char *lang = strtok_r (list, "+", &save); lang; lang = strtok_r (NULL, "+", &save)) {
        char path [1200];
        snprintf (path, sizeof path, "%s/%s.traineddata", tessdata, lang);
        if (access (path, R_OK) != 0) {
            s_errf (err, errlen, "OCR language '%s' is not installed (no %s): install "
                    "tesseract-ocr-%s, or set ocr.languages", lang, path, lang);
            return -1;
        }
    }
    return 0;
}

sl_ocr_t *
sl_ocr_new (const sl_ocr_opts_t *opts, char *err, size_t errlen)
{
    sl_ocr_opts_t defaults;
    if (!opts) {
        sl_ocr_opts_defaults (&defaults);
        opts = &defaults;
    }
    const char *languages = opts->languages && *opts->languages ? opts->languages : "eng";
    if (!s_languages_valid (languages)) {
        s_errf (err, errlen, "ocr.languages '%.80s' is not a list of Tesseract languages "
                "(names such as eng or deu joined by '+')", languages);
        return NULL;
    }
    const char *tessdata = opts->tessdata && *opts->tessdata ? opts->tessdata
                         : getenv ("TESSDATA_PREFIX") && *getenv ("TESSDATA_PREFIX")
                         ? getenv ("TESSDATA_PREFIX") : S_DEFAULT_TESSDATA;
    if (s_languages_installed (tessdata, languages, err, errlen))
        return NULL;
    sl_ocr_t *self = calloc (1, sizeof *self);
    if (!self) {
        s_errf (err, errlen, "out of memory");
        return NULL;
    }
    self->opts = *opts;
    snprintf (self->languages, sizeof self->languages, "%s", languages);
    self->opts.languages = self->languages;
    self->opts.tessdata = NULL;     //  not kept: the caller's string
    if (self->opts.dpi < 30 || self->opts.dpi > 1200)
        self->opts.dpi = self->opts.dpi < 30 ? 30 : 1200;
    if (self->opts.page_ms < 1)
        self->opts.page_ms = 1;
    if (self->opts.max_memory < ((size_t) 16 << 20))
        self->opts.max_memory = (size_t) 16 << 20;
    for (int i = 0; i < FZ_LOCK_MAX; i++)
        pthread_mutex_init (&self->locks [i], NULL);

    self->api = TessBaseAPICreate ();
    if (!self->api || TessBaseAPIInit3 (self->api, tessdata, languages) != 0) {
        s_errf (err, errlen, "cannot load OCR languages '%s' from %s (damaged trained data?)",
                languages, tessdata);
        sl_ocr_destroy (&self);
        return NULL;
    }
    //  Whole pages of documents: find the columns and blocks (the API's
    //  own default reads the image as one block of text)
    TessBaseAPISetPageSegMode (self->api, PSM_AUTO);
    //  Tesseract prints notes to stderr for every page; we report ourselves
    TessBaseAPISetVariable (self->api, "debug_file", "/dev/null");
    return self;
}

void
sl_ocr_destroy (sl_ocr_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sl_ocr_t *self = *self_p;
    sl_ocr_close (self);
    if (self->api) {
        TessBaseAPIEnd (self->api);
        TessBaseAPIDelete (self->api);
    }
    for (int i = 0; i < FZ_LOCK_MAX; i++)
        pthread_mutex_destroy (&self->locks [i]);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Documents

//  What MuPDF should open the file as: magic bytes first (a PNG uploaded
//  as octet-stream is still a PNG), then the sniffed MIME type.
static const char *
s_magic (const char *path, const char *mime)
{
    unsigned char head [8] = { 0 };
    size_t n = 0;
    FILE *file = fopen (path, "rb");
    if (file) {
        n = fread (head, 1, sizeof head, file);
        fclose (file);
    }
    if (n >= 5 && memcmp (head, "%PDF-", 5) == 0)
        return "application/pdf";
    if (n >= 8 && memcmp (head, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (n >= 3 && memcmp (head, "\xff\xd8\xff", 3) == 0)
        return "image/jpeg";
    if (n >= 4 && (memcmp (head, "II*\0", 4) == 0 || memcmp (head, "MM\0*", 4) == 0))
        return "image/tiff";
    return mime && *mime ? mime : "application/pdf";
}

static void
s_drop_page (sl_ocr_t *self)
{
    fz_context *ctx = self->ctx;
    fz_drop_device (ctx, self->dev);
    self->dev = NULL;
    fz_drop_pixmap (ctx, self->pix);
    self->pix = NULL;
    fz_drop_page (ctx, self->page);
    self->page = NULL;
}

void
sl_ocr_close (sl_ocr_t *self)
{
    if (!self->ctx)
        return;
    s_drop_page (self);
    fz_drop_document (self->ctx, self->doc);
    self->doc = NULL;
    fz_drop_stream (self->ctx, self->stream);
    self->stream = NULL;
    fz_drop_context (self->ctx);
    self->ctx = NULL;
    self->page_count = 0;
}

//  The steps below run inside s_try: they may throw, and keep their
//  results in self.

static void
s_step_open (sl_ocr_t *self)
{
    fz_context *ctx = self->ctx;
    fz_register_document_handlers (ctx);
    self->stream = fz_open_file (ctx, self->path);
    self->doc = fz_open_document_with_stream (ctx, self->magic, self->stream);
    if (fz_needs_password (ctx, self->doc))
        fz_throw (ctx, FZ_ERROR_GENERIC, "the document is password-protected");
    self->page_count = fz_count_pages (ctx, self->doc);
}

//  Render page self->index to an 8-bit gray pixmap at the OCR resolution,
//  scaled down if it would pass S_MAX_PIXELS.
static void
s_step_render (sl_ocr_t *self)
{
    fz_context *ctx = self->ctx;
    self->page = fz_load_page (ctx, self->doc, self->index);
    fz_rect bounds = fz_bound_page (ctx, self->page);
    float scale = (float) self->opts.dpi / 72.0f;
    double w = (double) (bounds.x1 - bounds.x0) * scale, h = (double) (bounds.y1 - bounds.y0) * scale;
    if (!(w >= 1 && h >= 1))
        fz_throw (ctx, FZ_ERROR_GENERIC, "the page has no area");
    if (w * h > S_MAX_PIXELS)
        scale *= (float) sqrt (S_MAX_PIXELS / (w * h));
    self->scale = scale;
    fz_matrix ctm = fz_scale (scale, scale);
    fz_irect box = fz_round_rect (fz_transform_rect (bounds, ctm));
    self->pix = fz_new_pixmap_with_bbox (ctx, fz_device_gray (ctx), box, NULL, 0);
    fz_clear_pixmap_with_value (ctx, self->pix, 255);
    self->dev = fz_new_draw_device (ctx, ctm, self->pix);
    fz_run_page (ctx, self->page, self->dev, fz_identity, &self->cookie);
    fz_close_device (ctx, self->dev);
}

typedef void (s_step_fn) (sl_ocr_t *self);

//  Run one step under fz_try. 0, or -1 with fz_caught_message saying why.
static int
s_try (sl_ocr_t *self, s_step_fn *step)
{
    int rc = 0;
    fz_try (self->ctx)
        step (self);
    fz_catch (self->ctx)
        rc = -1;
    return rc;
}

int
sl_ocr_open (sl_ocr_t *self, const char *path, const char *mime, char *err, size_t errlen)
{
    assert (self && path);
    sl_ocr_close (self);
    sl_mupdf_once (s_global_init);
    self->failure = S_OK;
    self->live = 0;
    //  Opening is not a page: it gets the page time, but at least 30 s
    self->deadline = sl_mono_ms () + (self->opts.page_ms > 30000 ? self->opts.page_ms : 30000);
    memset (&self->cookie, 0, sizeof self->cookie);
    fz_alloc_context alloc = { self, s_malloc, s_realloc, s_free };
    fz_locks_context locks = { self, s_lock, s_unlock };
    size_t max_store = self->opts.max_memory / 4;
    if (max_store > FZ_STORE_DEFAULT)
        max_store = FZ_STORE_DEFAULT;
    self->ctx = fz_new_context (&alloc, &locks, max_store);
    if (!self->ctx) {
        s_errf (err, errlen, "cannot create a MuPDF context: out of memory");
        return -1;
    }
    fz_set_warning_callback (self->ctx, s_quiet, self);
    fz_set_error_callback (self->ctx, s_quiet, self);
    self->path = path;
    self->magic = s_magic (path, mime);
    int rc = s_try (self, s_step_open);
    self->path = NULL;
    if (rc || self->page_count <= 0) {
        if (self->failure == S_OVER_TIME)
            s_errf (err, errlen, "OCR time limit exceeded opening the document");
        else
        if (self->failure == S_OVER_MEMORY)
            s_errf (err, errlen, "OCR memory limit exceeded opening the document");
        else
            s_errf (err, errlen, "cannot open the document for OCR: %s",
                    rc ? fz_caught_message (self->ctx) : "it has no pages");
        sl_ocr_close (self);
        return -1;
    }
    return self->page_count;
}

//  --------------------------------------------------------------------------
//  Pages

//  Tesseract's text, tidied: trailing spaces on each line go, runs of
//  more than one blank line become one, and the ends are trimmed. The
//  result is what a page's "t" holds, unmarked body text.
static char *
s_tidy (const char *raw, size_t *len_p)
{
    size_t n = strlen (raw);
    char *out = malloc (n + 1);
    if (!out)
        return NULL;
    size_t len = 0;
    int newlines = 0;
    for (size_t i = 0; i < n; i++) {
        char c = raw [i];
        if (c == '\f' || c == '\r' || c == '\t' || c == '\v')
            c = c == '\t' ? ' ' : '\n';
        if (c == '\n') {
            while (len > 0 && out [len - 1] == ' ')
                len--;
            if (len > 0 && newlines < 2)
                out [len++] = '\n';
            newlines++;
            continue;
        }
        if (c == ' ' && (len == 0 || out [len - 1] == '\n'))
            continue;           //  leading spaces of a line
        newlines = 0;
        out [len++] = c;
    }
    while (len > 0 && (out [len - 1] == '\n' || out [len - 1] == ' '))
        len--;
    out [len] = 0;
    *len_p = len;
    return out;
}

//  Why rendering failed, as a sentence.
static void
s_render_error (sl_ocr_t *self, int page_no, char *err, size_t errlen)
{
    if (self->failure == S_OVER_TIME)
        s_errf (err, errlen, "OCR time limit of %d s exceeded rendering page %d",
                (self->opts.page_ms + 999) / 1000, page_no);
    else
    if (self->failure == S_OVER_MEMORY) {
        s_errf (err, errlen, "OCR memory limit of %zu MiB exceeded rendering page %d",
                self->opts.max_memory >> 20, page_no);
    }
    else
        s_errf (err, errlen, "cannot render page %d for OCR: %s", page_no, fz_caught_message (self->ctx));
}

//  Recognise the rendered pixmap. 0 with *raw_p (Tesseract's string, free
//  with TessDeleteText) and *confidence, or -1 with err set.
static int
s_recognise (sl_ocr_t *self, int page_no, int64_t started, char **raw_p, int *confidence,
             char *err, size_t errlen)
{
    fz_pixmap *pix = self->pix;
    int64_t left = started + self->opts.page_ms - sl_mono_ms ();
    if (left <= 0) {
        s_errf (err, errlen, "OCR time limit of %d s exceeded at page %d",
                (self->opts.page_ms + 999) / 1000, page_no);
        return -1;
    }
    TessBaseAPISetImage (self->api, fz_pixmap_samples (self->ctx, pix), fz_pixmap_width (self->ctx, pix),
                         fz_pixmap_height (self->ctx, pix), 1, fz_pixmap_stride (self->ctx, pix));
    TessBaseAPISetSourceResolution (self->api, (int) lroundf (self->scale * 72.0f));
    ETEXT_DESC *monitor = TessMonitorCreate ();
    TessMonitorSetDeadlineMSecs (monitor, (int) (left > INT32_MAX ? INT32_MAX : left));
    int rc = TessBaseAPIRecognize (self->api, monitor);
    TessMonitorDelete (monitor);
    //  Past the deadline Tesseract stops early and says nothing of it;
    //  the clock decides. A late page fails whatever it returned.
    if (sl_mono_ms () > started + self->opts.page_ms) {
        s_errf (err, errlen, "OCR time limit of %d s exceeded at page %d",
                (self->opts.page_ms + 999) / 1000, page_no);
        TessBaseAPIClear (self->api);
        return -1;
    }
    char *raw = rc == 0 ? TessBaseAPIGetUTF8Text (self->api) : NULL;
    if (!raw) {
        s_errf (err, errlen, "OCR could not read page %d (Tesseract failed to recognise it)", page_no);
        TessBaseAPIClear (self->api);
        return -1;
    }
    int mean = TessBaseAPIMeanTextConf (self->api);
    *confidence = mean < 0 ? 0 : mean > 100 ? 100 : mean;
    *raw_p = raw;
    TessBaseAPIClear (self->api);
    return 0;
}

int
sl_ocr_page (sl_ocr_t *self, int page_no, char **text_p, size_t *len_p, int *confidence,
             char *err, size_t errlen)
{
    assert (self && text_p && len_p && confidence);
    *text_p = NULL;
    *len_p = 0;
    *confidence = 0;
    if (!self->ctx) {
        s_errf (err, errlen, "no document open for OCR");
        return -1;
    }
    if (page_no < 1 || page_no > self->page_count) {
        s_errf (err, errlen, "page %d is not in the document (%d pages)", page_no, self->page_count);
        return -1;
    }
    //  A page fails alone: limits start afresh for each
    int64_t started = sl_mono_ms ();
    self->failure = S_OK;
    self->allocs = 0;
    self->deadline = started + self->opts.page_ms;
    memset (&self->cookie, 0, sizeof self->cookie);
    self->index = page_no - 1;
    int rc = s_try (self, s_step_render);
    if (rc == 0 && self->failure != S_OK)
        rc = -1;                //  MuPDF swallowed a refusal: the pixmap is partial
    if (rc)
        s_render_error (self, page_no, err, errlen);
    char *raw = NULL;
    if (rc == 0)
        rc = s_recognise (self, page_no, started, &raw, confidence, err, errlen);
    s_drop_page (self);
    if (rc) {
        //  What a failed page left in MuPDF's cache is not needed again
        fz_empty_store (self->ctx);
        return -1;
    }
    *text_p = s_tidy (raw, len_p);
    TessDeleteText (raw);
    if (!*text_p) {
        s_errf (err, errlen, "out of memory");
        return -1;
    }
    return 0;
}
