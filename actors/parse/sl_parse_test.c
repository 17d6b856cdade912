/*  sl_parse_test: self-test of sl_parse on generated and hostile files.

    Every document is written by the test itself into a temporary directory
    that is removed at the end, so the test needs nothing outside the
    repository: PDF manuals whose every page's text it knows (classic and
    stream cross-references, UTF-16 titles, a copy saved and encrypted by
    MuPDF's own writer), READMEs and HTML pages shaped like the ones
    documentation tools write, and hostile inputs (bombs, broken PDFs, odd
    encodings, a hand-zipped EPUB).

    Each test checks one behaviour and is named for it.
*/
#include "sl_parse.h"
#include "sl_util.h"

#include <mupdf/fitz.h>
#include <mupdf/pdf.h>

#include <assert.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define streq(a, b) (strcmp ((a), (b)) == 0)

static bool s_verbose;
static char s_tmp [256];            //  scratch directory

//  --------------------------------------------------------------------------
//  Helpers

static bool
s_utf8_valid (const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *) text;
    for (size_t i = 0; i < len; ) {
        unsigned char b = s [i];
        int need = b < 0x80 ? 0 : b >= 0xC2 && b <= 0xDF ? 1 : b >= 0xE0 && b <= 0xEF ? 2
                 : b >= 0xF0 && b <= 0xF4 ? 3 : -1;
        if (need < 0 || i + (size_t) need >= len + (need ? 0 : 1))
            return false;
        for (int k = 1; k <= need; k++)
            if ((s [i + k] & 0xC0) != 0x80)
                return false;
        if ((b == 0xE0 && s [i + 1] < 0xA0) || (b == 0xED && s [i + 1] > 0x9F)
        ||  (b == 0xF0 && s [i + 1] < 0x90) || (b == 0xF4 && s [i + 1] > 0x8F))
            return false;
        i += (size_t) need + 1;
    }
    return true;
}

//  What the page callback saw.
typedef struct {
    int pages;                  //  callbacks so far
    int page_count;
    char **text;                //  copy of each page
    size_t bytes;
    int stop_at;                //  ask to stop after this page (0: never)
    sl_sha256_t *sha;           //  optional digest of all text
    bool marked;                //  the last page was marked (sl_markup)
} s_collect_t;

static int
s_collect_fn (void *arg, const sl_page_t *page)
{
    int page_no = page->page_no, page_count = page->page_count;
    const char *text = page->text;
    size_t len = page->len;
    (void) page_no; (void) page_count; (void) text; (void) len;
    s_collect_t *self = (s_collect_t *) arg;
    //  The contract the lead's actor relies on
    assert (page_no == self->pages + 1);
    assert (page_count > 0 && page_no <= page_count);
    assert (self->page_count == 0 || self->page_count == page_count);
    assert (text && strlen (text) == len);
    assert (s_utf8_valid (text, len));
    self->pages = page_no;
    if (!self->text) {
        self->page_count = page_count;
        self->text = calloc ((size_t) page_count, sizeof (char *));
        assert (self->text);
    }
    self->text [page_no - 1] = strdup (text);
    self->bytes += len;
    self->marked = page->marked;
    if (self->sha)
        sl_sha256_update (self->sha, text, len + 1);
    return self->stop_at && page_no == self->stop_at;
}

static void
s_collect_free (s_collect_t *self)
{
    for (int i = 0; i < self->page_count && self->text; i++)
        free (self->text [i]);
    free (self->text);
    memset (self, 0, sizeof *self);
}

//  Parse with the collector; returns sl_parse_file's result.
static int
s_parse (const char *path, const char *mime, const sl_parse_opts_t *opts,
         s_collect_t *got, sl_parse_info_t *info, char *err, size_t errlen)
{
    memset (got, 0, sizeof *got);
    int rc = sl_parse_file (opts, path, mime, s_collect_fn, got, info, err, errlen);
    if (s_verbose)
        printf ("  %s (%s): rc=%d pages=%d/%d failed=%d peak=%.1f MiB title=\"%s\"%s%s\n",
                strrchr (path, '/') + 1, mime ? mime : "-", rc, got->pages, info->page_count,
                info->pages_failed, info->peak_memory / 1048576.0, info->title,
                rc ? " err=" : "", rc ? err : "");
    return rc;
}

static void
s_write (const char *path, const void *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    assert (file);
    assert (fwrite (data, 1, size, file) == size);
    assert (fclose (file) == 0);
}

static void
s_path (char *buf, size_t cap, const char *name)
{
    snprintf (buf, cap, "%s/%s", s_tmp, name);
}

static int
s_rm (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

//  A PDF file from object bodies (1-based; obj[i] is object i+1), with a
//  correct xref table; stream/stream_len become the data of object
//  stream_obj.
static void
s_write_pdf (const char *path, const char **objs, int count,
             int stream_obj, const void *stream, size_t stream_len)
{
    FILE *file = fopen (path, "wb");
    assert (file);
    long *offsets = calloc ((size_t) count, sizeof (long));
    fprintf (file, "%%PDF-1.7\n%%\xe2\xe3\xcf\xd3\n");
    for (int i = 0; i < count; i++) {
        offsets [i] = ftell (file);
        fprintf (file, "%d 0 obj\n%s\n", i + 1, objs [i]);
        if (i + 1 == stream_obj) {
            fprintf (file, "stream\n");
            fwrite (stream, 1, stream_len, file);
            fprintf (file, "\nendstream\n");
        }
        fprintf (file, "endobj\n");
    }
    long xref = ftell (file);
    fprintf (file, "xref\n0 %d\n0000000000 65535 f \n", count + 1);
    for (int i = 0; i < count; i++)
        fprintf (file, "%010ld 00000 n \n", offsets [i]);
    fprintf (file, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%ld\n%%%%EOF\n", count + 1, xref);
    assert (fclose (file) == 0);
    free (offsets);
}

//  zlib-compress `repeat` copies of chunk, with a prefix and suffix.
static unsigned char *
s_deflate_repeat (const char *prefix, const void *chunk, size_t chunk_len, size_t repeat,
                  const char *suffix, size_t *out_len)
{
    z_stream z = { 0 };
    assert (deflateInit (&z, 1) == Z_OK);
    size_t cap = 1 << 20, len = 0;
    unsigned char *out = malloc (cap);
    assert (out);
    for (size_t i = 0; i < repeat + 2; i++) {
        const void *in = i == 0 ? prefix : i == repeat + 1 ? suffix : chunk;
        size_t in_len = i == 0 ? strlen (prefix) : i == repeat + 1 ? strlen (suffix) : chunk_len;
        int flush = i == repeat + 1 ? Z_FINISH : Z_NO_FLUSH;
        z.next_in = (unsigned char *) in;
        z.avail_in = (uInt) in_len;
        int rc;
        do {
            if (cap - len < 65536) {
                cap *= 2;
                out = realloc (out, cap);
                assert (out);
            }
            z.next_out = out + len;
            z.avail_out = (uInt) (cap - len);
            rc = deflate (&z, flush);
            assert (rc != Z_STREAM_ERROR);
            len = cap - z.avail_out;
        } while (z.avail_in > 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    }
    deflateEnd (&z);
    *out_len = len;
    return out;
}

//  A one-page PDF whose page content is the given compressed stream.
static void
s_write_content_pdf (const char *path, const char *pages_dict,
                     const unsigned char *content, size_t content_len, const char *contents_ref)
{
    char stream_dict [128];
    snprintf (stream_dict, sizeof stream_dict, "<< /Length %zu /Filter /FlateDecode >>", content_len);
    char *page;
    int rc = asprintf (&page, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %s"
                              " /Resources << /Font << /F1 5 0 R >> >> >>", contents_ref);
    assert (rc > 0);
    const char *objs [] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        pages_dict,
        page,
        stream_dict,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    };
    s_write_pdf (path, objs, 5, 4, content, content_len);
    free (page);
}

//  A stored (uncompressed) ZIP, enough for an EPUB.
static void
s_write_zip (const char *path, const char **names, const char **bodies, int count)
{
    FILE *file = fopen (path, "wb");
    assert (file);
    long offsets [16];
    assert (count <= 16);
    #define PUT16(v) do { fputc ((v) & 255, file); fputc (((v) >> 8) & 255, file); } while (0)
    #define PUT32(v) do { PUT16 ((v) & 0xFFFF); PUT16 (((uint32_t) (v) >> 16) & 0xFFFF); } while (0)
    for (int i = 0; i < count; i++) {
        offsets [i] = ftell (file);
        uint32_t size = (uint32_t) strlen (bodies [i]);
        uint32_t crc = (uint32_t) crc32 (0, (const Bytef *) bodies [i], size);
        PUT32 (0x04034b50); PUT16 (20); PUT16 (0); PUT16 (0); PUT16 (0); PUT16 (0x21);
        PUT32 (crc); PUT32 (size); PUT32 (size);
        PUT16 ((uint32_t) strlen (names [i])); PUT16 (0);
        fputs (names [i], file);
        fwrite (bodies [i], 1, size, file);
    }
    long cd = ftell (file);
    for (int i = 0; i < count; i++) {
        uint32_t size = (uint32_t) strlen (bodies [i]);
        uint32_t crc = (uint32_t) crc32 (0, (const Bytef *) bodies [i], size);
        PUT32 (0x02014b50); PUT16 (20); PUT16 (20); PUT16 (0); PUT16 (0); PUT16 (0); PUT16 (0x21);
        PUT32 (crc); PUT32 (size); PUT32 (size);
        PUT16 ((uint32_t) strlen (names [i])); PUT16 (0); PUT16 (0); PUT16 (0); PUT16 (0);
        PUT32 (0); PUT32 ((uint32_t) offsets [i]);
        fputs (names [i], file);
    }
    long end = ftell (file);
    PUT32 (0x06054b50); PUT16 (0); PUT16 (0); PUT16 (count); PUT16 (count);
    PUT32 ((uint32_t) (end - cd)); PUT32 ((uint32_t) cd); PUT16 (0);
    #undef PUT16
    #undef PUT32
    assert (fclose (file) == 0);
}

//  How many pages hold needle; *first is the first such page (1-based).
static int
s_pages_with (const s_collect_t *got, const char *needle, int *first)
{
    int hits = 0;
    *first = 0;
    for (int i = 0; i < got->pages; i++)
        if (got->text [i] && strstr (got->text [i], needle)) {
            if (!hits)
                *first = i + 1;
            hits++;
        }
    return hits;
}

//  --------------------------------------------------------------------------
//  Generated PDFs: manuals whose every line the test knows
//
//  Page p of a manual shows S_LINES lines of Helvetica 10 pt: a heading
//  ("<name> - page p"), then filler sentences picked from a word list by a
//  generator seeded with the manual's name and the page, so each page says
//  something different and the test can rebuild any page's text. A manual
//  may put a chosen line (a "fact") in the middle of a chosen page.

#define S_LINES 30

typedef struct {
    int page;
    const char *line;
} s_fact_t;

typedef struct {
    const char *name;           //  in each page's heading; seeds the filler
    int pages;
    const char *title;          //  /Title object as written ("(..)", "<FEFF..>"); NULL: no /Info
    bool compress;              //  Flate content streams
    bool objstm;                //  PDF 1.5: dictionaries in an object stream, an xref stream
    int copies;                 //  > 1: all pages this many times over, each copy with its own
                                //  objects and fonts, as `mutool merge` writes them
    s_fact_t facts [3];         //  ends at page 0
} s_manual_t;

static const char *s_words [] = {
    "path", "pen", "margin", "label", "layer", "grid", "token", "macro", "vertex", "segment",
    "buffer", "stroke", "colour", "unit", "scale", "origin", "axis", "legend", "caption", "glyph",
    "baseline", "column", "frame", "viewport", "mask", "shade", "pattern", "arrow", "bracket",
    "node", "spline", "knot", "tension", "slope", "angle", "offset", "matrix", "vector", "picture",
    "output", "header", "section", "index", "counter", "loop", "branch", "option", "mode", "style",
    "canvas", "border", "corner", "marker", "symbol", "anchor", "handle", "ruler", "cursor", "the",
    "a", "is", "of", "and", "then", "every", "each", "draws", "fills", "moves", "keeps", "sets",
};

typedef struct {
    char *data;
    size_t size;
    size_t cap;
} s_bytes_t;

static void
s_bytes_put (s_bytes_t *self, const void *data, size_t len)
{
    if (self->size + len + 1 > self->cap) {
        self->cap = (self->size + len + 1) * 2;
        self->data = realloc (self->data, self->cap);
        assert (self->data);
    }
    memcpy (self->data + self->size, data, len);
    self->size += len;
    self->data [self->size] = 0;
}

static void
s_bytes_printf (s_bytes_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_bytes_printf (s_bytes_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text;
    int len = vasprintf (&text, format, args);
    va_end (args);
    assert (len >= 0);
    s_bytes_put (self, text, (size_t) len);
    free (text);
}

//  Line `line` (0-based) of page `page` of manual m.
static void
s_manual_line (const s_manual_t *m, int page, int line, char *buf, size_t cap)
{
    if (line == 0) {
        snprintf (buf, cap, "%s - page %d", m->name, page);
        return;
    }
    for (int i = 0; line == S_LINES / 2 && i < 3 && m->facts [i].page; i++)
        if (m->facts [i].page == page) {
            snprintf (buf, cap, "%s", m->facts [i].line);
            return;
        }
    uint64_t x = 1469598103934665603ull;
    for (const char *s = m->name; *s; s++)
        x = (x ^ (unsigned char) *s) * 1099511628211ull;
    x ^= (uint64_t) (page * 1000 + line) * 0x9E3779B97F4A7C15ull;
    size_t at = 0;
    buf [0] = 0;
    while (at < 70) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        const char *word = s_words [x % (sizeof s_words / sizeof s_words [0])];
        at += (size_t) snprintf (buf + at, cap - at, "%s%s", at ? " " : "", word);
    }
    snprintf (buf + at, cap - at, ".");
}

//  What sl_parse must give for page `page`: its lines, one a line.
static char *
s_manual_text (const s_manual_t *m, int page)
{
    s_bytes_t text = { 0 };
    char line [160];
    for (int i = 0; i < S_LINES; i++) {
        s_manual_line (m, page, i, line, sizeof line);
        s_bytes_printf (&text, "%s%s", i ? "\n" : "", line);
    }
    return text.data;
}

static void
s_deflate_into (s_bytes_t *out, const void *data, size_t len)
{
    uLongf cap = compressBound ((uLong) len);
    unsigned char *packed = malloc (cap);
    assert (packed);
    assert (compress2 (packed, &cap, data, (uLong) len, 6) == Z_OK);
    s_bytes_put (out, packed, cap);
    free (packed);
}

//  Write manual m. As single-pass writers do, content streams come first
//  and the page tree and catalog last: a truncated copy has lost them.
static void
s_write_manual (const char *path, const s_manual_t *m)
{
    int copies = m->copies > 1 ? m->copies : 1;
    int n = m->pages * copies;
    //  objects: contents 1..n, then the dictionaries: fonts (one a copy),
    //  pages, the page tree, the catalog, the info; then, for objstm, the
    //  object stream and the xref stream
    int font0 = n + 1, page0 = font0 + copies, tree = page0 + n, catalog = tree + 1;
    int info = m->title ? catalog + 1 : 0;
    int last_dict = info ? info : catalog, objstm = last_dict + 1, xref_obj = objstm + 1;
    int size = m->objstm ? xref_obj + 1 : last_dict + 1;
    long *offsets = calloc ((size_t) size, sizeof (long));
    assert (offsets);
    s_bytes_t out = { 0 };
    s_bytes_printf (&out, "%%PDF-%s\n%%\xe2\xe3\xcf\xd3\n", m->objstm ? "1.5" : "1.4");

    char line [160];
    for (int i = 0; i < n; i++) {
        s_bytes_t ops = { 0 };
        s_bytes_printf (&ops, "BT\n/F1 10 Tf\n13 TL\n72 730 Td\n");
        for (int k = 0; k < S_LINES; k++) {
            s_manual_line (m, i % m->pages + 1, k, line, sizeof line);
            assert (!strpbrk (line, "()\\"));     //  written as a literal string, unescaped
            s_bytes_printf (&ops, "(%s) Tj T*\n", line);
        }
        s_bytes_printf (&ops, "ET\n");
        offsets [i + 1] = (long) out.size;
        if (m->compress) {
            s_bytes_t packed = { 0 };
            s_deflate_into (&packed, ops.data, ops.size);
            s_bytes_printf (&out, "%d 0 obj\n<< /Length %zu /Filter /FlateDecode >>\nstream\n",
                            i + 1, packed.size);
            s_bytes_put (&out, packed.data, packed.size);
            free (packed.data);
        }
        else {
            s_bytes_printf (&out, "%d 0 obj\n<< /Length %zu >>\nstream\n", i + 1, ops.size);
            s_bytes_put (&out, ops.data, ops.size);
        }
        s_bytes_printf (&out, "\nendstream\nendobj\n");
        free (ops.data);
    }
    //  The dictionaries, object font0 .. last_dict
    int dicts = last_dict - font0 + 1;
    s_bytes_t *dict = calloc ((size_t) dicts, sizeof *dict);
    assert (dict);
    for (int c = 0; c < copies; c++)
        s_bytes_printf (&dict [c], "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica"
                                   " /Encoding /WinAnsiEncoding >>");
    for (int i = 0; i < n; i++)
        s_bytes_printf (&dict [page0 - font0 + i], "<< /Type /Page /Parent %d 0 R"
                        " /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >>"
                        " /Contents %d 0 R >>", tree, font0 + i / m->pages, i + 1);
    s_bytes_t *kids = &dict [tree - font0];
    s_bytes_printf (kids, "<< /Type /Pages /Count %d /Kids [", n);
    for (int i = 0; i < n; i++)
        s_bytes_printf (kids, "%s%d 0 R", i ? " " : "", page0 + i);
    s_bytes_printf (kids, "] >>");
    s_bytes_printf (&dict [catalog - font0], "<< /Type /Catalog /Pages %d 0 R >>", tree);
    if (info)
        s_bytes_printf (&dict [info - font0], "<< /Title %s /Producer (sl_parse_test) >>", m->title);

    if (m->objstm) {
        //  All dictionaries in one compressed object stream: a header of
        //  "number offset" pairs, then the objects
        s_bytes_t head = { 0 }, body = { 0 };
        for (int d = 0; d < dicts; d++) {
            s_bytes_printf (&head, "%d %zu ", font0 + d, body.size);
            s_bytes_put (&body, dict [d].data, dict [d].size);
            s_bytes_put (&body, "\n", 1);
        }
        s_bytes_put (&head, body.data, body.size);
        s_bytes_t packed = { 0 };
        s_deflate_into (&packed, head.data, head.size);
        offsets [objstm] = (long) out.size;
        s_bytes_printf (&out, "%d 0 obj\n<< /Type /ObjStm /N %d /First %zu /Length %zu"
                        " /Filter /FlateDecode >>\nstream\n", objstm, dicts,
                        head.size - body.size, packed.size);
        s_bytes_put (&out, packed.data, packed.size);
        s_bytes_printf (&out, "\nendstream\nendobj\n");
        free (packed.data);
        free (head.data);
        free (body.data);
        //  The cross-reference stream, /W [1 4 2], unfiltered
        offsets [xref_obj] = (long) out.size;
        s_bytes_t xref = { 0 };
        for (int num = 0; num < size; num++) {
            unsigned char e [7] = { 0 };
            uint32_t field = 0;
            unsigned index = 0;
            if (num == 0)
                index = 0xFFFF;
            else
            if (num >= font0 && num <= last_dict) {
                e [0] = 2;
                field = (uint32_t) objstm;
                index = (unsigned) (num - font0);
            }
            else {
                e [0] = 1;
                field = (uint32_t) offsets [num];
            }
            for (int b = 0; b < 4; b++)
                e [1 + b] = (unsigned char) (field >> (24 - 8 * b));
            e [5] = (unsigned char) (index >> 8);
            e [6] = (unsigned char) index;
            s_bytes_put (&xref, e, 7);
        }
        s_bytes_printf (&out, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root %d 0 R",
                        xref_obj, size, catalog);
        if (info)
            s_bytes_printf (&out, " /Info %d 0 R", info);
        s_bytes_printf (&out, " /Length %zu >>\nstream\n", xref.size);
        s_bytes_put (&out, xref.data, xref.size);
        s_bytes_printf (&out, "\nendstream\nendobj\nstartxref\n%ld\n%%%%EOF\n", offsets [xref_obj]);
        free (xref.data);
    }
    else {
        for (int d = 0; d < dicts; d++) {
            offsets [font0 + d] = (long) out.size;
            s_bytes_printf (&out, "%d 0 obj\n%s\nendobj\n", font0 + d, dict [d].data);
        }
        long xref = (long) out.size;
        s_bytes_printf (&out, "xref\n0 %d\n0000000000 65535 f \n", size);
        for (int num = 1; num < size; num++)
            s_bytes_printf (&out, "%010ld 00000 n \n", offsets [num]);
        s_bytes_printf (&out, "trailer\n<< /Size %d /Root %d 0 R", size, catalog);
        if (info)
            s_bytes_printf (&out, " /Info %d 0 R", info);
        s_bytes_printf (&out, " >>\nstartxref\n%ld\n%%%%EOF\n", xref);
    }
    for (int d = 0; d < dicts; d++)
        free (dict [d].data);
    free (dict);
    free (offsets);
    s_write (path, out.data, out.size);
    free (out.data);
}

//  Open a PDF with MuPDF and save it again: as MuPDF's writer lays it out
//  (garbage-collected, compressed), and encrypted with `method` when not
//  PDF_ENCRYPT_NONE. Asserts it worked.
static void
s_resave_pdf (const char *in, const char *out, int method, const char *user, const char *owner)
{
    fz_context *ctx = fz_new_context (NULL, NULL, FZ_STORE_DEFAULT);
    assert (ctx);
    pdf_document *doc = NULL;
    bool failed = false;
    fz_var (doc);
    fz_try (ctx) {
        doc = pdf_open_document (ctx, in);
        pdf_write_options opts = pdf_default_write_options;
        opts.do_garbage = 1;
        opts.do_compress = 1;
        opts.do_encrypt = method;
        opts.permissions = -1;
        snprintf (opts.upwd_utf8, sizeof opts.upwd_utf8, "%s", user ? user : "");
        snprintf (opts.opwd_utf8, sizeof opts.opwd_utf8, "%s", owner ? owner : "");
        pdf_save_document (ctx, doc, out, &opts);
    }
    fz_always (ctx)
        pdf_drop_document (ctx, doc);
    fz_catch (ctx)
        failed = true;
    fz_drop_context (ctx);
    assert (!failed);
}

//  The manuals the PDF tests read, written once into s_tmp by s_make_manuals.
//  Between them: classic and stream cross-references, compressed and plain
//  content, a title as a plain string, as UTF-16BE in hex with a BOM, as
//  UTF-16BE in an escaped literal string (the way pdfTeX writes it), none
//  at all, and a file laid out by MuPDF's own writer.
static const s_manual_t s_drafting = {
    "Drafting Language Manual", 114, "(Drafting: A User's Manual)", true, false, 0, {
        { 36, "Figure 27: Example of hatching" },
        { 37, "Figure 28: Example of envelope" },
        { 38, "Figure 29: Example of envelope with a dashed pen" } }
};
static const s_manual_t s_plotter = {
    "Plotter Objects", 136, "(PLOTOBJ Manual)", true, true, 0, {
        { 49, "ncbox draws a box around an object" },
        { 50, "nccircle draws a circle, or part of a circle" },
        { 51, "ncline draws a line between two circles" } }
};
//  "Caf\u00e9 \u2013 A Beginner's Guide \U0001D11E" in UTF-16BE, with a surrogate pair
static const s_manual_t s_intro = {
    "Beginner's Guide", 13,
    "<FEFF00430061006600E9002020130020004100200042006500670069006E006E00650072"
    "002700730020004700750069006400650020D834DD1E>", false, false, 0, { { 0 } }
};
#define S_INTRO_TITLE "Caf\xc3\xa9 \xe2\x80\x93 A Beginner's Guide \xf0\x9d\x84\x9e"
static const s_manual_t s_untitled = {
    "Shared Database Specification", 17, NULL, true, true, 0, { { 0 } }
};
//  "The euro package" as pdfTeX writes UTF-16: octal escapes in a literal
static const s_manual_t s_euro = {
    "The euro package", 15,
    "(\\376\\377\\000T\\000h\\000e\\000 \\000e\\000u\\000r\\000o\\000 \\000p\\000a\\000c\\000k"
    "\\000a\\000g\\000e)", true, false, 0, { { 0 } }
};
static char s_drafting_pdf [512], s_plotter_pdf [512], s_intro_pdf [512],
            s_untitled_pdf [512], s_euro_pdf [512];

static void
s_make_manuals (void)
{
    s_path (s_drafting_pdf, sizeof s_drafting_pdf, "drafting.pdf");
    s_write_manual (s_drafting_pdf, &s_drafting);
    s_path (s_plotter_pdf, sizeof s_plotter_pdf, "plotter.pdf");
    s_write_manual (s_plotter_pdf, &s_plotter);
    s_path (s_intro_pdf, sizeof s_intro_pdf, "intro.pdf");
    s_write_manual (s_intro_pdf, &s_intro);
    //  named without .pdf: the bytes alone say what it is
    s_path (s_untitled_pdf, sizeof s_untitled_pdf, "untitled.dat");
    s_write_manual (s_untitled_pdf, &s_untitled);
    char raw [512];
    s_path (raw, sizeof raw, "euro-raw.pdf");
    s_write_manual (raw, &s_euro);
    s_path (s_euro_pdf, sizeof s_euro_pdf, "euro.pdf");
    s_resave_pdf (raw, s_euro_pdf, PDF_ENCRYPT_NONE, NULL, NULL);
}

//  Every page of got is exactly what page N of manual m says.
static void
s_assert_manual_text (const s_collect_t *got, const s_manual_t *m)
{
    for (int i = 0; i < got->pages; i++) {
        char *expect = s_manual_text (m, i % m->pages + 1);
        if (!got->text [i] || strcmp (got->text [i], expect) != 0) {
            fprintf (stderr, "sl_parse_test: %s page %d:\n--- got\n%s\n--- expected\n%s\n",
                     m->name, i + 1, got->text [i] ? got->text [i] : "(null)", expect);
            assert (false);
        }
        free (expect);
    }
}

//  --------------------------------------------------------------------------
//  Text and Markdown

static void
test_text_encodings (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;

    //  Latin-1 (not UTF-8 at all) is decoded as Windows-1252
    s_path (path, sizeof path, "latin1.txt");
    const char latin1 [] = "Caf\xe9 cr\xe8me br\xfbl\xe9\x65 \x93quoted\x94\r\nsecond line\r\n";
    s_write (path, latin1, sizeof latin1 - 1);
    assert (s_parse (path, "text/plain", NULL, &got, &info, err, sizeof err) == 0);
    assert (got.pages == 1 && info.page_count == 1);
    assert (streq (info.format, "text"));
    assert (strcmp (got.text [0],
        "Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\x65 \xe2\x80\x9cquoted\xe2\x80\x9d\nsecond line\n") == 0);
    assert (strcmp (info.title, "Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\x65 \xe2\x80\x9cquoted\xe2\x80\x9d") == 0);
    s_collect_free (&got);

    //  UTF-8 with a BOM and one damaged byte: BOM gone, U+FFFD for the damage
    s_path (path, sizeof path, "damaged.txt");
    const char damaged [] = "\xef\xbb\xbf" "na\xc3\xafve caf\xc3\xa9 \xff end\rlast";
    s_write (path, damaged, sizeof damaged - 1);
    assert (s_parse (path, "text/plain; charset=utf-8", NULL, &got, &info, err, sizeof err) == 0);
    assert (strcmp (got.text [0], "na\xc3\xafve caf\xc3\xa9 \xef\xbf\xbd end\nlast") == 0);
    s_collect_free (&got);

    //  UTF-16LE with BOM
    s_path (path, sizeof path, "utf16.txt");
    const char utf16 [] = "\xff\xfe" "h\0\xe9\0l\0l\0o\0\n\0";
    s_write (path, utf16, sizeof utf16 - 1);
    assert (s_parse (path, "text/plain", NULL, &got, &info, err, sizeof err) == 0);
    assert (strcmp (got.text [0], "h\xc3\xa9llo\n") == 0);
    s_collect_free (&got);
}

static void
test_text_binary_refused (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;

    //  NUL bytes: an ELF binary, say
    s_path (path, sizeof path, "binary.txt");
    unsigned char bin [4096];
    for (size_t i = 0; i < sizeof bin; i++)
        bin [i] = (unsigned char) (i * 7);
    s_write (path, bin, sizeof bin);
    assert (s_parse (path, "text/plain", NULL, &got, &info, err, sizeof err) == -1);
    assert (strstr (err, "binary content, not text"));
    assert (got.pages == 0);

    //  no NULs, but mostly control characters
    for (size_t i = 0; i < sizeof bin; i++)
        bin [i] = (unsigned char) (i % 3 ? 1 + i % 8 : 'a');
    s_write (path, bin, sizeof bin);
    assert (s_parse (path, "text/plain", NULL, &got, &info, err, sizeof err) == -1);
    assert (strstr (err, "binary content, not text"));
}

static void
test_text_pages_and_limits (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);

    //  form feeds split pages; the blank tail after the last one is no page
    s_path (path, sizeof path, "pages.txt");
    const char *pages = "first page\n\fsecond page\n\f\fafter an empty page\n\f\n";
    s_write (path, pages, strlen (pages));
    assert (s_parse (path, "text/plain", &opts, &got, &info, err, sizeof err) == 0);
    assert (info.page_count == 4 && got.pages == 4);
    assert (strcmp (got.text [0], "first page\n") == 0);
    assert (strcmp (got.text [1], "second page\n") == 0);
    assert (strcmp (got.text [2], "") == 0);
    assert (strcmp (got.text [3], "after an empty page\n") == 0);
    assert (streq (info.title, "first page"));
    s_collect_free (&got);

    //  the caller can stop
    memset (&got, 0, sizeof got);
    got.stop_at = 2;
    assert (sl_parse_file (&opts, path, "text/plain", s_collect_fn, &got, &info, err, sizeof err) == -1);
    assert (streq (err, "stopped by caller") && got.pages == 2);
    s_collect_free (&got);

    //  page and size limits
    opts.max_pages = 3;
    assert (s_parse (path, "text/plain", &opts, &got, &info, err, sizeof err) == -1);
    assert (streq (err, "document has 4 pages, limit is 3") && got.pages == 0);
    opts.max_pages = 5000;
    opts.max_text_bytes = 16;
    assert (s_parse (path, "text/plain", &opts, &got, &info, err, sizeof err) == -1);
    assert (strstr (err, "text file exceeds") && strstr (err, "limit"));

    //  empty and missing files
    s_path (path, sizeof path, "empty.txt");
    s_write (path, "", 0);
    assert (s_parse (path, "text/plain", NULL, &got, &info, err, sizeof err) == -1);
    assert (streq (err, "empty file"));
    s_path (path, sizeof path, "missing.txt");
    assert (s_parse (path, "text/plain", NULL, &got, &info, err, sizeof err) == -1);
    assert (strncmp (err, "cannot open", 11) == 0);
}

static void
test_markdown_title (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;

    s_path (path, sizeof path, "doc.md");
    const char *md = "```\n# not a title (in a code fence)\n```\n\n##  The *Real* Title ##\n\ntext # here\n";
    s_write (path, md, strlen (md));
    assert (s_parse (path, "text/markdown", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.format, "markdown"));
    assert (streq (info.title, "The *Real* Title"));
    //  Markdown is marked as it is, but for code: "# not a title" is escaped
    assert (got.marked);
    assert (streq (got.text [0], "```\n\\# not a title (in a code fence)\n```\n\n"
                                 "##  The *Real* Title ##\n\ntext # here\n"));
    s_collect_free (&got);

    const char *setext = "\nBig Title\n=========\n\n# later heading\n";
    s_write (path, setext, strlen (setext));
    assert (s_parse (path, "text/markdown", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.title, "Big Title"));
    assert (streq (got.text [0], "\n# Big Title\n\n# later heading\n"));     //  setext as ATX
    s_collect_free (&got);
    //  code fences keep escaping across lines, rows and backslashes too;
    //  a table outside is left as rows
    const char *code = "Intro\n\n~~~sh\n# foo\n| pipe\n\\back\n  # indented\n~~~\n# After\n| a | b |\n";
    s_write (path, code, strlen (code));
    assert (s_parse (path, "text/markdown", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (got.text [0], "Intro\n\n~~~sh\n\\# foo\n\\| pipe\n\\\\back\n  # indented\n~~~\n"
                                 "# After\n| a | b |\n"));
    s_collect_free (&got);

    const char *front = "---\nauthor: x\ntitle: \"From Front Matter\"\n---\n# Heading\n";
    s_write (path, front, strlen (front));
    assert (s_parse (path, NULL, NULL, &got, &info, err, sizeof err) == 0);   //  by extension
    assert (streq (info.format, "markdown"));
    assert (streq (info.title, "From Front Matter"));
    //  front matter is text: its closing "---" makes no setext heading
    assert (streq (got.text [0], "---\nauthor: x\ntitle: \"From Front Matter\"\n---\n# Heading\n"));
    s_collect_free (&got);
    //  a first line "---" that never closes is a thematic break: the
    //  heading after it is one
    const char *rule = "---\n# Real heading\ntext\n";
    s_write (path, rule, strlen (rule));
    assert (s_parse (path, "text/markdown", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (got.text [0], rule));
    s_collect_free (&got);
    //  a "---" under a list item is a thematic break, not a heading
    const char *list = "- item\n---\n1. first\n===\n";
    s_write (path, list, strlen (list));
    assert (s_parse (path, "text/markdown", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (got.text [0], list));
    s_collect_free (&got);
}

//  READMEs as packages ship them: an RCS keyword line over a setext
//  heading, an ATX-titled Markdown file, and a Markdown file whose first
//  line is its title, followed by a thematic break (not a setext underline,
//  not front matter) and words with soft hyphens (U+00AD) in them.
static const char *s_readme_txt =
    "$Id: sluice.txt,v 1.5 2005/03/07 14:22:19 m Exp $\n"
    "\n"
    "sluice.sty\n"
    "==========\n"
    "\n"
    "This package converts arbitrary flow rates between units\n"
    "using the cubic metre as base unit, and typesets them\n"
    "in almost any desired way. Write e.g. \\FLOW{17.6} to get\n"
    "something like `17,60 m\\textthreesuperior/s' automatically.\n"
    "\n"
    "author          = \"A. N. Author\"\n"
    "version         = \"1.1\"\n"
    "address         = \"Lock Street 52\n"
    "                   A-5212 WEIRTOWN\"\n"
    "keywords        = \"sluice\"\n"
    "\n"
    "\n"
    "\n"
    "Processing the documentation\n"
    "============================\n"
    "\n"
    "    $ latex sluice.dtx\n"
    "    $ tex sluice.ins\n";
static const char *s_readme_md =
    "# Interface to the sluice fonts for LaTeX2e.\n"
    "\n"
    "## License\n"
    "\n"
    "This material is subject to the LaTeX Project Public License 1.3c.\n"
    "\n"
    "## Changes:\n"
    "\n"
    "1.0b \n"
    ":   Corrected mathcode of integrals (now 1) (=mathop)\n"
    "    and the \\dh and \\Dh definitions for T1 encoding\n";
static const char *s_readme_hyphens =
    "Package sluice - Version 23.01 - January 1, 2023\n"
    "\n"
    "---\n"
    "\n"
    "This package provides macros for sec\xc2\xad" "ondary school math\xc2\xad" "e\xc2\xad"
    "mat\xc2\xad" "ics teachers to draw figures in a coordinate system.\n"
    "- axis, grids\n"
    "- points, vectors\n"
    "\n"
    "---\n"
    "\n"
    "Author : Ol\xc3\xa9ron P\xc3\xa9" "ault\n";

static void
test_text_readmes (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    //  Plain text: passed through as it is, titled by its first line
    s_path (path, sizeof path, "sluice.txt");
    s_write (path, s_readme_txt, strlen (s_readme_txt));
    assert (s_parse (path, "text/plain", NULL, &got, &info, err, sizeof err) == 0);
    assert (got.pages == 1 && streq (got.text [0], s_readme_txt));
    assert (strstr (got.text [0], "This package converts arbitrary flow rates"));
    assert (streq (info.title, "$Id: sluice.txt,v 1.5 2005/03/07 14:22:19 m Exp $"));
    s_collect_free (&got);
    //  Markdown: titled by its first ATX heading, passed through
    s_path (path, sizeof path, "fonts-README.md");
    s_write (path, s_readme_md, strlen (s_readme_md));
    assert (s_parse (path, "text/markdown", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.title, "Interface to the sluice fonts for LaTeX2e."));
    assert (strstr (got.text [0], "## License") && streq (got.text [0], s_readme_md));
    s_collect_free (&got);
    //  UTF-8 (soft hyphens) passes through untouched
    s_path (path, sizeof path, "sluice-README.md");
    s_write (path, s_readme_hyphens, strlen (s_readme_hyphens));
    assert (s_parse (path, "text/markdown", NULL, &got, &info, err, sizeof err) == 0);
    assert (strstr (got.text [0], "sec\xc2\xad" "ondary"));
    assert (streq (got.text [0], s_readme_hyphens));
    assert (streq (info.title, "Package sluice - Version 23.01 - January 1, 2023"));
    s_collect_free (&got);
}

//  --------------------------------------------------------------------------
//  HTML

static void
test_html_visible_text (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    s_path (path, sizeof path, "page.html");
    const char *html =
        "<!DOCTYPE html><html><head><title>  Caf&eacute;\n   Menu </title>"
        "<style>body { color: red } .STYLE_LEAK {}</style>"
        "<script>var SCRIPT_LEAK = 1;</script></head>"
        "<body><noscript>NOSCRIPT_LEAK</noscript><template><p>TEMPLATE_LEAK</p></template>"
        "<h1>Daily   <em>specials</em></h1>"
        "<p>Fresh\n   bread &amp; butter,\tdaily.</p><p>Second paragraph.<br>New line.</p>"
        "<ul><li>one</li><li>two</li></ul>"
        "<table><tr><td>a1</td><td>b1</td></tr><tr><td>a2</td><td>b2</td></tr></table>"
        "<pre>  keep   this\n    spacing</pre>"
        "<div>tail<script>SCRIPT_LEAK_2()</script></div><!-- COMMENT_LEAK --></body></html>";
    s_write (path, html, strlen (html));
    assert (s_parse (path, "text/html; charset=utf-8", NULL, &got, &info, err, sizeof err) == 0);
    assert (info.page_count == 1 && got.pages == 1);
    assert (streq (info.format, "html"));
    assert (streq (info.title, "Caf\xc3\xa9 Menu"));
    const char *text = got.text [0];
    if (s_verbose)
        printf ("  --- html text ---\n%s\n  ---\n", text);
    assert (!strstr (text, "LEAK") && !strstr (text, "color: red") && !strstr (text, "Menu"));
    //  marked: a heading, paragraphs, list items, table rows (header rule)
    assert (got.marked);
    assert (strstr (text, "# Daily specials\nFresh bread & butter, daily.\n\nSecond paragraph.\nNew line.\n\n"));
    assert (strstr (text, "\n- one\n- two\n\n"));
    assert (strstr (text, "\n| a1 | b1 |\n|---|---|\n| a2 | b2 |\n\n"));
    assert (strstr (text, "\nkeep   this\nspacing\n"));    //  sl_markup_para trims lines
    assert (strcmp (text + strlen (text) - 6, "tail\n\n") == 0);
    s_collect_free (&got);

    //  headings h1-h6, thead as header, th/td, colspan bounded, a table in
    //  a cell read as text, text that would read as markup escaped
    const char *tables =
        "<html><body><h2>Setup <i>guide</i></h2><h6>Deep</h6><p># not a heading</p><p>| not a row</p>"
        "<table><caption>Prices</caption><thead><tr><th>Item</th><th>Cost | net</th></tr></thead>"
        "<tbody><tr><td colspan=\"3\">wide</td></tr><tr><td colspan=\"100000\">huge</td></tr>"
        "<tr><td>x<table><tr><td>in</td><td>ner</td></tr></table></td><td><p>two</p><p>paras</p></td></tr>"
        "</tbody></table><p>after</p></body></html>";
    s_write (path, tables, strlen (tables));
    assert (s_parse (path, "text/html", NULL, &got, &info, err, sizeof err) == 0);
    text = got.text [0];
    if (s_verbose)
        printf ("  --- html tables ---\n%s\n  ---\n", text);
    assert (strncmp (text, "## Setup guide\n###### Deep\n\\# not a heading\n\n\\| not a row\n\n", 58) == 0);
    assert (strstr (text, "Prices\n\n| Item | Cost \\| net |\n|---|---|\n| wide |  |  |\n"));
    assert (strstr (text, "\n| x in ner | two paras |\n\nafter\n\n"));
    const char *huge = strstr (text, "| huge |");
    assert (huge && strchr (huge, '\n') - huge == 8 + 3 * 31);       //  32 cells, not 100,000
    s_collect_free (&got);

    //  no <title>: the first <h1> names it; Latin-1 bytes are repaired
    const char latin1 [] = "<html><body><p>intro</p><h1>Ol\xe9 <b>Title</b></h1><p>caf\xe9</p></body></html>";
    s_write (path, latin1, sizeof latin1 - 1);
    assert (s_parse (path, "text/html", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.title, "Ol\xc3\xa9 Title"));
    assert (strstr (got.text [0], "caf\xc3\xa9"));
    s_collect_free (&got);
}

//  Build "<html><body>" + depth x open_tag + "deep text" into path.
static void
s_write_nested_html (const char *path, const char *open_tag, size_t depth)
{
    size_t size = depth * strlen (open_tag) + 64;
    char *html = malloc (size);
    assert (html);
    size_t len = (size_t) sprintf (html, "<html><body>");
    for (size_t i = 0; i < depth; i++)
        len += (size_t) sprintf (html + len, "%s", open_tag);
    len += (size_t) sprintf (html + len, "deep text");
    s_write (path, html, len);
    free (html);
}

static void
test_html_hostile (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);

    //  20,000 nested elements: deep enough to hurt a recursive walk; more
    //  only costs time, as gumbo checks scope by scanning the open elements
    s_path (path, sizeof path, "deep.html");
    s_write_nested_html (path, "<div>", 20000);
    int64_t start = sl_mono_ms ();
    int rc = s_parse (path, "text/html", NULL, &got, &info, err, sizeof err);
    if (s_verbose)
        printf ("  deep html: %" PRId64 " ms, arena %.1f MiB\n", sl_mono_ms () - start,
                info.peak_memory / 1048576.0);
    assert (rc == 0 && strstr (got.text [0], "deep text"));
    s_collect_free (&got);

    //  the same under a 4 MiB memory limit fails cleanly
    opts.max_memory = 4 << 20;
    assert (s_parse (path, "text/html", &opts, &got, &info, err, sizeof err) == -1);
    assert (streq (err, "memory limit of 4 MiB exceeded on page 1"));
    assert (got.pages == 0);
    opts.max_memory = (size_t) 1 << 30;

    //  nested formatting elements are quadratic in gumbo (the HTML5
    //  "active formatting elements" list): the deadline must cut it short
    s_path (path, sizeof path, "slow.html");
    s_write_nested_html (path, "<b>", 300000);
    opts.max_seconds = 1;
    start = sl_mono_ms ();
    assert (s_parse (path, "text/html", &opts, &got, &info, err, sizeof err) == -1);
    int64_t took = sl_mono_ms () - start;
    assert (streq (err, "parse time limit of 1 s exceeded at page 1"));
    assert (took < 3000 && got.pages == 0);
}

//  Pages shaped like the HTML that documentation generators write: GNU
//  Texinfo (a licence in a comment before <title>, CSS wrapped in a comment
//  inside <style>, typographic entities), the DocBook stylesheets (every
//  tag uppercase, each tag's ">" on the next line, attributes one a line),
//  and a hand-written HTML 4 page (doctype over two lines, Latin-1 bytes,
//  text straight in <body>, code in <pre> with &lt; and &gt;).
static const char *s_texinfo_head =
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" "
    "\"http://www.w3.org/TR/html4/loose.dtd\">\n"
    "<html>\n"
    "<!-- Created by GNU Texinfo 6.8, https://www.gnu.org/software/texinfo/ -->\n"
    "<head>\n"
    "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n"
    "<!-- \n"
    "This manual is for sluice, a document ingestion engine.\n"
    "\n"
    "Permission is hereby granted, free of charge, to any person obtaining\n"
    "a copy of this software (the \"Software\"), to deal in the Software.\n"
    " -->\n"
    "<title>%s</title>\n"
    "\n"
    "<meta name=\"description\" content=\"%s\">\n"
    "<meta name=\"Generator\" content=\"makeinfo\">\n"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
    "\n"
    "<link href=\"index.html\" rel=\"start\" title=\"Top\">\n"
    "<link href=\"Gate-Example.html\" rel=\"next\" title=\"Gate Example\">\n"
    "<style type=\"text/css\">\n"
    "<!--\n"
    "a.copiable-anchor {visibility: hidden; text-decoration: none; line-height: 0em}\n"
    "div.example {margin-left: 3.2em}\n"
    "span:hover a.copiable-anchor {visibility: visible}\n"
    "-->\n"
    "</style>\n"
    "\n"
    "\n"
    "</head>\n"
    "\n"
    "<body lang=\"en\">\n"
    "<div class=\"section\" id=\"top\">\n"
    "<div class=\"header\">\n"
    "<p>\n"
    "Next: <a href=\"Gate-Example.html\" accesskey=\"n\" rel=\"next\">Gate Example</a>, "
    "Up: <a href=\"index.html\" accesskey=\"u\" rel=\"up\">Top</a> &nbsp; "
    "[<a href=\"Index.html\" title=\"Index\" rel=\"index\">Index</a>]</p>\n"
    "</div>\n"
    "<hr>\n";

static char *
s_texinfo_page (const char *title, const char *body)
{
    char *head, *page;
    assert (asprintf (&head, s_texinfo_head, title, title) > 0);
    assert (asprintf (&page, "%s%s\n</div>\n\n\n\n</body>\n</html>\n", head, body) > 0);
    free (head);
    return page;
}

static const char *s_docbook_page =
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\""
    "\"http://www.w3.org/TR/html4/loose.dtd\">\n"
    "<HTML\n><HEAD\n><TITLE\n>Users and Groups in the Sluice System</TITLE\n><META\n"
    "NAME=\"GENERATOR\"\nCONTENT=\"Modular DocBook HTML Stylesheet Version 1.79\"></HEAD\n"
    "><BODY\nCLASS=\"BOOK\"\nBGCOLOR=\"#FFFFFF\"\nTEXT=\"#000000\"\nLINK=\"#0000FF\"\n"
    "><DIV\nCLASS=\"BOOK\"\n><A\nNAME=\"USERS-AND-GROUPS\"\n></A\n><DIV\nCLASS=\"TITLEPAGE\"\n"
    "><H1\nCLASS=\"TITLE\"\n><A\nNAME=\"AEN2\"\n>Users and Groups in the Sluice System</A\n></H1\n"
    "><H3\nCLASS=\"AUTHOR\"\n><A\nNAME=\"AEN6\"\n></A\n>Ada Lockkeeper</H3\n"
    "><P\nCLASS=\"COPYRIGHT\"\n>Copyright &copy; 2024 Ada Lockkeeper</P\n"
    "><HR></DIV\n><DIV\nCLASS=\"TOC\"\n><DL\n><DT\n><B\n>Table of Contents</B\n></DT\n"
    "><DT\n>1. <A\nHREF=\"#STATIC\"\n>Static ids</A\n></DT\n></DL\n></DIV\n"
    "><DIV\nCLASS=\"CHAPTER\"\n><HR><H1\n><A\nNAME=\"STATIC\"\n></A\n>Chapter 1. Static ids</H1\n"
    "><P\n>The sluice daemon runs as its own user, with a user id below one\n"
    "thousand and no login shell.</P\n><P\n>Every operator belongs to the\n"
    "<TT\nCLASS=\"LITERAL\"\n>sluice</TT\n> group, which may read the data folder.</P\n"
    "></DIV\n></DIV\n></BODY\n></HTML\n>\n";

static const char *s_html4_page =
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.0 Transitional//EN\"\n"
    "  \"http://www.w3.org/TR/REC-html40/loose.dtd\">\n"
    "<html>\n"
    "<head>\n"
    "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">\n"
    "<title>Sluice Usage Example</title>\n"
    "<!--  Copyright (c) 2004, 2005 A. Author.  -->\n"
    "</head>\n"
    "<body bgcolor=\"#FFFFFF\" text=\"#000000\" link=\"#0000FF\" vlink=\"#00A000\">\n"
    "<h2 align=\"center\"> Sluice Usage Example </h2>\n"
    "We often get questions about how the <tt>open()</tt> and <tt>drain()</tt> functions\n"
    "should be used. Users wonder when they should open the gate, when they should\n"
    "close it, what to do with a <tt>Z_BUF_ERROR</tt>, and so on: caf\xe9 talk &amp; more.\n"
    "<pre><b>\n"
    "#include &lt;stdio.h&gt;\n"
    "#include &lt;string.h&gt;\n"
    "#include \"sluice.h\"\n"
    "</b></pre><!-- -->\n"
    "%s"
    "<hr>\n"
    "<i>Last modified 11 December 2005</i>\n"
    "</body>\n"
    "</html>\n";

static void
test_html_generators (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    //  Texinfo, with a style sheet and an &ndash;
    char *page = s_texinfo_page ("The Gate API (sluice: a document ingestion engine)",
        "<span id=\"The-Gate-API-1\"></span><h3 class=\"section\">2.5 The Gate API</h3>\n\n"
        "<p><code>sluice</code> also provides a way to write a generic handler &ndash; a\n"
        "handler that can accept and decode any kind of document.\n</p>\n"
        "<p>This facility is called the <em>gate API</em>.  Gates are not\n"
        "supported on all platforms; you can check the <code>SL_GATES</code>\n"
        "define to determine whether they are supported.\n</p>\n");
    s_path (path, sizeof path, "The-Gate-API.html");
    s_write (path, page, strlen (page));
    free (page);
    assert (s_parse (path, "text/html", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.title, "The Gate API (sluice: a document ingestion engine)"));
    assert (strstr (got.text [0], "This facility is called the gate API. Gates are not supported"));
    assert (!strstr (got.text [0], "copiable-anchor"));     //  from its <style>
    assert (!strstr (got.text [0], "Permission is hereby"));  //  from the comment
    assert (!strstr (got.text [0], "&ndash;")
            && strstr (got.text [0], "generic handler \xe2\x80\x93 a handler"));
    s_collect_free (&got);

    //  Texinfo's typographic entities
    s_bytes_t body = { 0 };
    for (int i = 1; i <= 12; i++)
        s_bytes_printf (&body, "<p>Error table %d: the &lsquo;com_err&rsquo; library prints "
                        "&ldquo;unknown code&rdquo; for codes &lt; 0 &amp; &gt; 255 &mdash; "
                        "see <a href=\"#t%d\">table&nbsp;%d</a>.\n</p>\n", i, i, i);
    page = s_texinfo_page ("A Common Error Description Library for Sluice", body.data);
    free (body.data);
    s_path (path, sizeof path, "com_err.html");
    s_write (path, page, strlen (page));
    free (page);
    assert (s_parse (path, "text/html", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.title, "A Common Error Description Library for Sluice"));
    assert (got.bytes > 1000 && !strstr (got.text [0], "<p>") && !strstr (got.text [0], "<a"));
    assert (strstr (got.text [0], "Error table 12: the \xe2\x80\x98" "com_err\xe2\x80\x99 library prints "
                    "\xe2\x80\x9c" "unknown code\xe2\x80\x9d for codes < 0 & > 255 \xe2\x80\x94 see table"));
    assert (!strstr (got.text [0], "&lsquo;") && !strstr (got.text [0], "&mdash;")
            && !strstr (got.text [0], "&nbsp;") && !strstr (got.text [0], "&amp;"));
    s_collect_free (&got);

    //  Uppercase DocBook markup, title split over lines
    s_path (path, sizeof path, "users-and-groups.html");
    s_write (path, s_docbook_page, strlen (s_docbook_page));
    assert (s_parse (path, "text/html", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.title, "Users and Groups in the Sluice System"));
    assert (!strstr (got.text [0], "GENERATOR") && !strstr (got.text [0], "DocBook"));
    assert (!strstr (got.text [0], "CLASS") && !strstr (got.text [0], "<P"));
    assert (strstr (got.text [0], "Users and Groups in the Sluice System"));
    assert (strstr (got.text [0], "Ada Lockkeeper"));
    assert (strstr (got.text [0], "The sluice daemon runs as its own user, with a user id below one "
                                  "thousand and no login shell."));
    assert (strstr (got.text [0], "Every operator belongs to the sluice group"));
    s_collect_free (&got);

    //  Hand-written HTML 4, Latin-1
    body = (s_bytes_t) { 0 };
    for (int i = 1; i <= 8; i++)
        s_bytes_printf (&body, "Step %d of the example opens the gate, drains the basin and checks "
                        "the return code of every call before it goes on.\n<p>\n", i);
    assert (asprintf (&page, s_html4_page, body.data) > 0);
    free (body.data);
    s_path (path, sizeof path, "sluice_how.html");
    s_write (path, page, strlen (page));
    free (page);
    assert (s_parse (path, "text/html", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.title, "Sluice Usage Example"));
    assert (got.bytes > 1000 && !strstr (got.text [0], "<p>") && !strstr (got.text [0], "<b>")
            && !strstr (got.text [0], "<tt>") && !strstr (got.text [0], "<pre>"));
    assert (strstr (got.text [0], "We often get questions about how the open() and drain() functions "
                                  "should be used."));
    assert (strstr (got.text [0], "caf\xc3\xa9 talk & more."));
    assert (strstr (got.text [0], "#include <stdio.h>\n#include <string.h>\n#include \"sluice.h\""));
    assert (strstr (got.text [0], "Step 8 of the example"));
    assert (!strstr (got.text [0], "Copyright"));
    s_collect_free (&got);
}

//  --------------------------------------------------------------------------
//  PDF and friends through MuPDF

static void
test_pdf_manual_pages (void)
{
    //  Every manual: all pages, each exactly as written, the metadata title
    struct { const s_manual_t *manual; const char *path; const char *title; } cases [] = {
        { &s_drafting, s_drafting_pdf, "Drafting: A User's Manual" },
        { &s_plotter, s_plotter_pdf, "PLOTOBJ Manual" },
        { &s_intro, s_intro_pdf, S_INTRO_TITLE },
        { &s_untitled, s_untitled_pdf, "Shared Database Specification - page 1" },
        { &s_euro, s_euro_pdf, "The euro package" },
    };
    char err [256];
    sl_parse_info_t info;
    s_collect_t got;
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        assert (s_parse (cases [i].path, "application/pdf", NULL, &got, &info, err, sizeof err) == 0);
        assert (streq (info.format, "pdf"));
        assert (info.page_count == cases [i].manual->pages);
        assert (got.pages == info.page_count && info.pages_failed == 0);
        s_assert_manual_text (&got, cases [i].manual);
        assert (got.bytes > (size_t) info.page_count * 100);   //  real text on real pages
        assert (streq (info.title, cases [i].title));
        s_collect_free (&got);
    }
}

static void
test_pdf_phrase_on_page (void)
{
    struct { const char *path; const char *phrase; int page; const char *title; } cases [] = {
        { s_drafting_pdf, "Figure 28: Example of envelope", 37, "Drafting: A User's Manual" },
        { s_plotter_pdf, "nccircle draws a circle, or part of a circle", 50, "PLOTOBJ Manual" },
    };
    char err [256];
    sl_parse_info_t info;
    s_collect_t got;
    for (int i = 0; i < 2; i++) {
        assert (s_parse (cases [i].path, "application/pdf", NULL, &got, &info, err, sizeof err) == 0);
        int first;
        assert (s_pages_with (&got, cases [i].phrase, &first) == 1);
        assert (first == cases [i].page);
        assert (streq (info.title, cases [i].title));
        s_collect_free (&got);
    }
    //  Title from UTF-16 metadata (hex, with a BOM and a surrogate pair)
    assert (s_parse (s_intro_pdf, "application/pdf", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.title, S_INTRO_TITLE));
    s_collect_free (&got);
    //  No metadata title: the first line of page 1 (type from the bytes)
    assert (s_parse (s_untitled_pdf, NULL, NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.format, "pdf"));
    char first_line [256];
    snprintf (first_line, sizeof first_line, "%.*s",
              (int) strcspn (got.text [0], "\n"), got.text [0]);
    assert (*info.title && streq (info.title, first_line));
    assert (streq (info.title, "Shared Database Specification - page 1"));
    s_collect_free (&got);

    //  Stop after page 3
    memset (&got, 0, sizeof got);
    got.stop_at = 3;
    assert (sl_parse_file (NULL, s_drafting_pdf, "application/pdf", s_collect_fn,
                           &got, &info, err, sizeof err) == -1);
    assert (streq (err, "stopped by caller") && got.pages == 3);
    s_collect_free (&got);
}

static void
test_pdf_broken (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;

    s_path (path, sizeof path, "zero.pdf");
    s_write (path, "", 0);
    assert (s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err) == -1);
    assert (streq (err, "empty file"));

    s_path (path, sizeof path, "random.pdf");
    unsigned char noise [20000];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof noise; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        noise [i] = (unsigned char) x;
    }
    s_write (path, noise, sizeof noise);
    assert (s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err) == -1);
    assert (strncmp (err, "cannot parse PDF: ", 18) == 0 && strlen (err) > 20);
    assert (got.pages == 0);

    //  HTML sent as application/pdf
    s_path (path, sizeof path, "notpdf.pdf");
    const char *html = "<html><body><p>I am not a PDF</p></body></html>\n";
    s_write (path, html, strlen (html));
    assert (s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err) == -1);
    assert (strncmp (err, "cannot parse PDF: ", 18) == 0);

    //  The first 30% of a 114-page PDF: its content streams, without the
    //  page tree, the catalog and the cross-reference table that follow
    FILE *file = fopen (s_drafting_pdf, "rb");
    assert (file);
    static unsigned char buf [2 << 20];
    size_t size = fread (buf, 1, sizeof buf, file);
    assert (size > 0 && size < sizeof buf && feof (file));
    fclose (file);
    s_path (path, sizeof path, "truncated.pdf");
    s_write (path, buf, size * 3 / 10);
    int rc = s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err);
    if (rc == 0) {
        //  repaired: some pages, fewer than the real 114, or missing ones empty
        assert (got.pages == info.page_count && info.page_count > 0);
        assert (info.page_count < s_drafting.pages || info.pages_failed > 0);
    }
    else {
        assert (strncmp (err, "cannot parse PDF: ", 18) == 0 && strlen (err) > 20);
        assert (got.pages == 0);
    }
    if (s_verbose)
        printf ("  truncated PDF: %s\n", rc == 0 ? "repaired" : err);
    s_collect_free (&got);
}

static void
test_pdf_encrypted (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    s_path (path, sizeof path, "locked.pdf");
    s_resave_pdf (s_euro_pdf, path, PDF_ENCRYPT_AES_256, "user", "owner");
    assert (s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err) == -1);
    assert (strstr (err, "password-protected"));
    assert (got.pages == 0);

    //  Owner password only: anyone may read, so we must too
    s_path (path, sizeof path, "owner-only.pdf");
    s_resave_pdf (s_euro_pdf, path, PDF_ENCRYPT_AES_128, NULL, "owner");
    assert (s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err) == 0);
    assert (got.pages == 15 && strstr (got.text [0], "euro"));
    s_assert_manual_text (&got, &s_euro);
    assert (streq (info.title, "The euro package"));
    s_collect_free (&got);
}

static void
test_pdf_decompression_bomb (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    opts.max_memory = 64 << 20;

    //  A page whose content is one string of 256 MiB of zeros: about 1 MiB
    //  on disk, and MuPDF's lexer must hold the whole string.
    static const char zeros [1 << 20];
    size_t len;
    unsigned char *content = s_deflate_repeat ("BT /F1 12 Tf 72 700 Td (", zeros, sizeof zeros, 256,
                                               ") Tj ET\n", &len);
    s_path (path, sizeof path, "bomb.pdf");
    s_write_content_pdf (path, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", content, len, "4 0 R");
    free (content);
    int64_t start = sl_mono_ms ();
    assert (s_parse (path, "application/pdf", &opts, &got, &info, err, sizeof err) == -1);
    int64_t took = sl_mono_ms () - start;
    if (s_verbose)
        printf ("  bomb (%zu bytes on disk) failed in %" PRId64 " ms, peak %.1f MiB\n",
                len, took, info.peak_memory / 1048576.0);
    assert (streq (err, "memory limit of 64 MiB exceeded on page 1"));
    assert (info.peak_memory <= opts.max_memory);
    assert (got.pages == 0);
}

//  A text bomb: one content stream of about 256 KiB of text, shared by
//  2000 pages (a 40 KiB file that would extract half a gigabyte). The
//  ceiling stops it at the page that passes the limit, whichever format.
static void
test_text_ceiling (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    assert (opts.max_text_total == (size_t) 64 << 20);
    opts.max_text_total = 1 << 20;

    //  One text object per line, each moved down by the CTM: MuPDF grows a
    //  text object's glyph array linearly, so one object of 256K glyphs
    //  would cost quadratic copying (minutes under ASan's realloc)
    char line [1200];
    size_t n = 0;
    n += (size_t) snprintf (line, sizeof line, "1 0 0 1 0 -1.2 cm BT /F1 1 Tf 5 990 Td (");
    while (n < 1040)
        n += (size_t) snprintf (line + n, sizeof line - n, "word%zu ", n % 97);
    n += (size_t) snprintf (line + n, sizeof line - n, ") Tj ET\n");
    size_t len;
    unsigned char *content = s_deflate_repeat ("", line, n, 256, "", &len);
    enum { PAGES = 2000 };
    char *kids = malloc (PAGES * 16 + 64);
    size_t k = (size_t) sprintf (kids, "<< /Type /Pages /Count %d /Kids [", PAGES);
    for (int i = 0; i < PAGES; i++)
        k += (size_t) sprintf (kids + k, "%d 0 R ", 5 + i);
    sprintf (kids + k, "] >>");
    char stream_dict [128];
    snprintf (stream_dict, sizeof stream_dict, "<< /Length %zu /Filter /FlateDecode >>", len);
    const char **objs = calloc (4 + PAGES, sizeof *objs);
    objs [0] = "<< /Type /Catalog /Pages 2 0 R >>";
    objs [1] = kids;
    objs [2] = stream_dict;
    objs [3] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
    for (int i = 0; i < PAGES; i++)
        objs [4 + i] = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 1000 1000] /Contents 3 0 R"
                       " /Resources << /Font << /F1 4 0 R >> >> >>";
    s_path (path, sizeof path, "text-bomb.pdf");
    s_write_pdf (path, objs, 4 + PAGES, 3, content, len);
    free (objs);
    free (kids);
    free (content);
    int64_t start = sl_mono_ms ();
    assert (s_parse (path, "application/pdf", &opts, &got, &info, err, sizeof err) == -1);
    int64_t took = sl_mono_ms () - start;
    if (s_verbose)
        printf ("  text bomb: %s after %d pages in %" PRId64 " ms\n", err, got.pages, took);
    assert (info.page_count == PAGES);
    assert (got.pages >= 3 && got.pages <= 4);
    char expect [64];
    snprintf (expect, sizeof expect, "text limit of 1 MiB exceeded at page %d", got.pages + 1);
    assert (streq (err, expect));
    size_t total = 0;
    for (int i = 0; i < got.pages; i++)
        total += strlen (got.text [i]);
    assert (total <= (size_t) 1 << 20 && total > (size_t) 3 * 200000);
    s_collect_free (&got);

    //  Plain text: the same ceiling
    s_path (path, sizeof path, "long.txt");
    char *text = malloc (200000);
    for (size_t i = 0; i < 200000; i++)
        text [i] = i % 80 == 79 ? '\n' : (char) ('a' + i % 26);
    s_write (path, text, 200000);
    free (text);
    opts.max_text_total = 64 << 10;
    assert (s_parse (path, "text/plain", &opts, &got, &info, err, sizeof err) == -1);
    assert (strncmp (err, "text limit of 64.0 KiB exceeded at page ", 40) == 0);
    s_collect_free (&got);
    opts.max_text_total = 1 << 20;
    assert (s_parse (path, "text/plain", &opts, &got, &info, err, sizeof err) == 0);
    s_collect_free (&got);
}

static void
test_pdf_page_count_bomb (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    size_t len;
    unsigned char *content = s_deflate_repeat ("BT /F1 12 Tf 72 700 Td (hello) Tj ET\n", "", 0, 0, "", &len);
    s_path (path, sizeof path, "count.pdf");
    s_write_content_pdf (path, "<< /Type /Pages /Kids [3 0 R] /Count 250000 >>", content, len, "4 0 R");
    int64_t start = sl_mono_ms ();
    assert (s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err) == -1);
    assert (streq (err, "document has 250000 pages, limit is 5000"));
    assert (got.pages == 0 && sl_mono_ms () - start < 1000);

    //  And the honest version of the same file parses
    s_write_content_pdf (path, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", content, len, "4 0 R");
    assert (s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err) == 0);
    assert (got.pages == 1 && streq (got.text [0], "hello"));
    assert (streq (info.title, "hello"));
    s_collect_free (&got);
    free (content);
}

static void
test_pdf_time_limit (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    opts.max_seconds = 1;
    //  One 1 MiB stream of path operators, referenced 4000 times from the
    //  page's /Contents: 4 GiB of drawing to interpret, from 50 KB of file.
    static char ops [1 << 20];
    const char *op = "10 10 m 20 20 l S\n";
    for (size_t i = 0; i + strlen (op) < sizeof ops; i += strlen (op))
        memcpy (ops + i, op, strlen (op));
    for (size_t i = sizeof ops - sizeof ops % strlen (op); i < sizeof ops; i++)
        ops [i] = ' ';
    size_t len;
    unsigned char *content = s_deflate_repeat ("", ops, sizeof ops, 1, "", &len);
    size_t refs = 4000;
    char *contents = malloc (refs * 6 + 8);
    assert (contents);
    size_t at = (size_t) sprintf (contents, "[");
    for (size_t i = 0; i < refs; i++)
        at += (size_t) sprintf (contents + at, "4 0 R ");
    sprintf (contents + at, "]");
    s_path (path, sizeof path, "slow.pdf");
    s_write_content_pdf (path, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", content, len, contents);
    free (contents);
    free (content);
    int64_t start = sl_mono_ms ();
    assert (s_parse (path, "application/pdf", &opts, &got, &info, err, sizeof err) == -1);
    int64_t took = sl_mono_ms () - start;
    if (s_verbose)
        printf ("  slow PDF stopped after %" PRId64 " ms\n", took);
    assert (streq (err, "parse time limit of 1 s exceeded at page 1"));
    assert (took < 5000);
    assert (got.pages == 0);
}

static void
test_pdf_memory_flat (void)
{
    //  9 copies of the drafting manual, each with its own objects and fonts
    //  as `mutool merge` writes them: 1026 pages. We hold one page of text
    //  at a time, and MuPDF's caches are capped at a quarter of max_memory,
    //  so the long document must parse under the same small ceiling as one
    //  copy. These pages are lean (one built-in font, no images: one copy
    //  peaks under 1 MiB), so the ceiling is 4 MiB: keeping every page's
    //  structured text (over 100 KiB a page) would pass it within a few
    //  dozen pages.
    s_manual_t nine = s_drafting;
    nine.copies = 9;
    char path [512], err [256];
    s_path (path, sizeof path, "big.pdf");
    s_write_manual (path, &nine);
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    opts.max_memory = 4 << 20;
    sl_parse_info_t small, big;
    s_collect_t got;
    assert (s_parse (s_drafting_pdf, "application/pdf", &opts, &got, &small, err, sizeof err) == 0);
    size_t small_bytes = got.bytes;
    s_collect_free (&got);
    int64_t start = sl_mono_ms ();
    int rc = s_parse (path, "application/pdf", &opts, &got, &big, err, sizeof err);
    int64_t took = sl_mono_ms () - start;
    if (rc)
        fprintf (stderr, "sl_parse_test: big.pdf: %s\n", err);
    assert (rc == 0);
    assert (big.page_count == 1026 && got.pages == 1026 && big.pages_failed == 0);
    assert (got.bytes == 9 * small_bytes);
    s_assert_manual_text (&got, &nine);
    if (s_verbose)
        printf ("  1026 pages in %" PRId64 " ms, %.1f MiB of text, peak MuPDF memory %.1f MiB"
                " (114 pages: %.1f MiB)\n", took, got.bytes / 1048576.0,
                big.peak_memory / 1048576.0, small.peak_memory / 1048576.0);
    assert (big.peak_memory <= opts.max_memory);
    s_collect_free (&got);
}

static const char *s_epub_xhtml_head =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>Chapter</title></head><body>"
    "<h1>Chapter One</h1>";

static void
s_make_epub (const char *path, int paragraphs)
{
    size_t cap = 200 + (size_t) paragraphs * 200;
    char *xhtml = malloc (cap);
    assert (xhtml);
    size_t at = (size_t) snprintf (xhtml, cap, "%s", s_epub_xhtml_head);
    for (int i = 1; i <= paragraphs; i++)
        at += (size_t) snprintf (xhtml + at, cap - at,
            "<p>Paragraph %d of the sluice test book, with enough words to wrap a line or two.</p>", i);
    snprintf (xhtml + at, cap - at, "</body></html>\n");
    const char *names [] = { "mimetype", "META-INF/container.xml", "content.opf", "c1.xhtml" };
    const char *bodies [] = {
        "application/epub+zip",
        "<?xml version=\"1.0\"?><container version=\"1.0\" "
        "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles>"
        "<rootfile full-path=\"content.opf\" media-type=\"application/oebps-package+xml\"/>"
        "</rootfiles></container>",
        "<?xml version=\"1.0\"?><package version=\"2.0\" xmlns=\"http://www.idpf.org/2007/opf\" "
        "unique-identifier=\"id\"><metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
        "<dc:title>Sluice Test Book</dc:title><dc:identifier id=\"id\">sluice-1</dc:identifier>"
        "<dc:language>en</dc:language></metadata><manifest>"
        "<item id=\"c1\" href=\"c1.xhtml\" media-type=\"application/xhtml+xml\"/></manifest>"
        "<spine><itemref idref=\"c1\"/></spine></package>",
        xhtml
    };
    s_write_zip (path, names, bodies, 4);
    free (xhtml);
}

static void
test_epub_reflow (void)
{
    char path [512], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    s_path (path, sizeof path, "book.epub");
    s_make_epub (path, 200);
    assert (s_parse (path, "application/epub+zip", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.format, "epub"));
    assert (info.page_count > 5 && got.pages == info.page_count);
    assert (streq (info.title, "Sluice Test Book"));
    int first;
    assert (s_pages_with (&got, "Paragraph 1 of the sluice", &first) == 1 && first == 1);
    assert (s_pages_with (&got, "Paragraph 200 of the sluice", &first) == 1 && first == got.pages);
    s_collect_free (&got);

    //  Sniffed from magic bytes when fetch could not tell
    s_path (path, sizeof path, "book.bin");
    s_make_epub (path, 3);
    assert (s_parse (path, "application/octet-stream", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.format, "epub") && strstr (got.text [0], "Paragraph 3 of"));
    s_collect_free (&got);

    //  FB2 is a single XML file
    s_path (path, sizeof path, "book.fb2");
    const char *fb2 =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<FictionBook xmlns=\"http://www.gribuser.ru/xml/fictionbook/2.0\"><description><title-info>"
        "<book-title>Fiction Title</book-title></title-info></description>"
        "<body><section><p>A fictional paragraph about sluice gates.</p></section></body></FictionBook>\n";
    s_write (path, fb2, strlen (fb2));
    assert (s_parse (path, "application/x-fictionbook", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.format, "fb2") && got.pages >= 1);
    assert (strstr (got.text [0], "A fictional paragraph about sluice gates."));
    s_collect_free (&got);

    //  Unknown types are refused, not guessed at
    assert (s_parse (path, "image/x-unknown", NULL, &got, &info, err, sizeof err) == -1);
    assert (streq (err, "unsupported MIME type image/x-unknown"));
}

//  Several documents parsed at once in threads of one process, as parse
//  actors do, must give exactly the single-threaded text.
typedef struct {
    const char *path;
    const char *mime;
    char digest [SL_SHA256_HEX];
    int rc;
} s_thread_job_t;

static void *
s_thread_main (void *arg)
{
    s_thread_job_t *job = (s_thread_job_t *) arg;
    s_collect_t got = { 0 };
    got.sha = sl_sha256_new ();
    sl_parse_info_t info;
    char err [256];
    job->rc = sl_parse_file (NULL, job->path, job->mime, s_collect_fn, &got, &info, err, sizeof err);
    sl_sha256_final (&got.sha, job->digest);
    s_collect_free (&got);
    return NULL;
}

//  --------------------------------------------------------------------------
//  OCR detection, image files, outline headings (MuPDF back-end)

//  What a page callback saw of each page: the OCR flag and its headings.
#define S_OCR_PAGES 16

typedef struct {
    int pages;
    bool needs_ocr [S_OCR_PAGES];
    size_t len [S_OCR_PAGES];
    int heading_count [S_OCR_PAGES];
    int level [S_OCR_PAGES][4];
    char title [S_OCR_PAGES][4][512];
} s_flags_t;

static int
s_flags_fn (void *arg, const sl_page_t *page)
{
    s_flags_t *self = (s_flags_t *) arg;
    int i = page->page_no - 1;
    assert (i >= 0 && i < S_OCR_PAGES);
    self->pages = page->page_no;
    self->needs_ocr [i] = page->needs_ocr;
    self->len [i] = page->len;
    self->heading_count [i] = page->heading_count;
    for (int h = 0; h < page->heading_count && h < 4; h++) {
        self->level [i][h] = page->headings [h].level;
        snprintf (self->title [i][h], sizeof self->title [i][h], "%s", page->headings [h].title);
    }
    return 0;
}

//  A PDF of objects that may each carry a (text) stream: bodies [i] is
//  object i+1's dictionary, streams [i] its stream or NULL. Object 1 is
//  the catalog.
static void
s_write_pdf_objects (const char *path, const char **bodies, const char **streams, int count)
{
    FILE *file = fopen (path, "wb");
    assert (file);
    long *offsets = calloc ((size_t) count, sizeof (long));
    assert (offsets);
    fprintf (file, "%%PDF-1.7\n");
    for (int i = 0; i < count; i++) {
        offsets [i] = ftell (file);
        if (streams [i])
            fprintf (file, "%d 0 obj\n<< /Length %zu >>\nstream\n%s\nendstream\nendobj\n",
                     i + 1, strlen (streams [i]) + 1, streams [i]);
        else
            fprintf (file, "%d 0 obj\n%s\nendobj\n", i + 1, bodies [i]);
    }
    long xref = ftell (file);
    fprintf (file, "xref\n0 %d\n0000000000 65535 f \n", count + 1);
    for (int i = 0; i < count; i++)
        fprintf (file, "%010ld 00000 n \n", offsets [i]);
    fprintf (file, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%ld\n%%%%EOF\n", count + 1, xref);
    assert (fclose (file) == 0);
    free (offsets);
}

//  Content: an 8x8 gray image drawn over w x h points at (x, y), then text.
static char *
s_image_content (int x, int y, int w, int h, const char *text)
{
    char hex [129];
    for (int i = 0; i < 64; i++)
        snprintf (hex + 2 * i, 3, "%02x", (i * 37) & 0xFF);
    char *out;
    int rc;
    if (w > 0)
        rc = asprintf (&out, "q %d 0 0 %d %d %d cm BI /W 8 /H 8 /CS /G /BPC 8 /F /AHx ID %s> EI Q\n"
                       "BT /F1 4 Tf 36 700 Td (%s) Tj ET", w, h, x, y, hex, text);
    else
        rc = asprintf (&out, "BT /F1 4 Tf 36 700 Td (%s) Tj ET", text);
    assert (rc > 0);
    return out;
}

//  Five pages: what the text layer and the images say decides the flag.
static void
test_pdf_needs_ocr (void)
{
    const char *long_text = "This page has a proper text layer with far more than sixteen letters on it";
    const char *ocrd_text = "A scan that was already OCR'd carries an invisible text layer of many words "
                            "over its picture, and that layer is good enough to index as it is, "
                            "so it must not be read a second time by the OCR stage, which is slow";
    char *contents [5] = {
        s_image_content (0, 0, 0, 0, long_text),            //  1: text
        s_image_content (0, 0, 0, 0, "Page 2 -"),           //  2: too few characters
        s_image_content (0, 0, 612, 792, "Scan 3"),         //  3: full-page image
        s_image_content (72, 72, 200, 200, long_text),      //  4: a figure and text
        s_image_content (0, 0, 612, 792, ocrd_text),        //  5: scan with a text layer
    };
    const char *bodies [13] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Count 5 /Kids [3 0 R 4 0 R 5 0 R 6 0 R 7 0 R] >>",
    };
    const char *streams [13] = { NULL };
    char *pages [5];
    for (int i = 0; i < 5; i++) {
        int rc = asprintf (&pages [i], "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
                           " /Resources << /Font << /F1 13 0 R >> >> >>", 8 + i);
        assert (rc > 0);
        bodies [2 + i] = pages [i];
        streams [7 + i] = contents [i];
    }
    bodies [12] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
    char path [512];
    s_path (path, sizeof path, "needs_ocr.pdf");
    s_write_pdf_objects (path, bodies, streams, 13);
    for (int i = 0; i < 5; i++) {
        free (pages [i]);
        free (contents [i]);
    }
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    assert (opts.ocr_min_chars == 16);
    s_flags_t got = { 0 };
    sl_parse_info_t info;
    char err [256];
    assert (sl_parse_file (&opts, path, "application/pdf", s_flags_fn, &got, &info, err, sizeof err) == 0);
    if (s_verbose)
        for (int i = 0; i < got.pages; i++)
            printf ("  needs_ocr page %d: %d (%zu bytes)\n", i + 1, got.needs_ocr [i], got.len [i]);
    assert (got.pages == 5 && info.pages_need_ocr == 2);
    assert (!got.needs_ocr [0] && got.needs_ocr [1] && got.needs_ocr [2]);
    assert (!got.needs_ocr [3] && !got.needs_ocr [4]);
    assert (got.len [1] > 0);       //  what little text there was is delivered
    //  ocr_min_chars 0: only the full-page image is a scan
    opts.ocr_min_chars = 0;
    memset (&got, 0, sizeof got);
    assert (sl_parse_file (&opts, path, "application/pdf", s_flags_fn, &got, &info, err, sizeof err) == 0);
    assert (info.pages_need_ocr == 1 && got.needs_ocr [2] && !got.needs_ocr [1]);
    if (s_verbose)
        printf ("  needs_ocr: pages 2 and 3 of 5 flagged\n");
}

//  A PNG written by MuPDF is a document of one page that needs OCR.
static void
test_image_documents (void)
{
    char path [512];
    s_path (path, sizeof path, "scan.png");
    fz_context *ctx = fz_new_context (NULL, NULL, FZ_STORE_DEFAULT);
    assert (ctx);
    fz_pixmap *pix = NULL;
    fz_try (ctx) {
        pix = fz_new_pixmap (ctx, fz_device_gray (ctx), 200, 100, NULL, 0);
        fz_clear_pixmap_with_value (ctx, pix, 255);
        fz_save_pixmap_as_png (ctx, pix, path);
    }
    fz_always (ctx)
        fz_drop_pixmap (ctx, pix);
    fz_catch (ctx)
        assert (!"cannot write a PNG");
    fz_drop_context (ctx);
    s_flags_t got = { 0 };
    sl_parse_info_t info;
    char err [256];
    assert (sl_parse_file (NULL, path, "image/png", s_flags_fn, &got, &info, err, sizeof err) == 0);
    assert (streq (info.format, "image") && info.page_count == 1 && info.pages_need_ocr == 1);
    assert (got.pages == 1 && got.needs_ocr [0] && got.len [0] == 0);
    //  without a MIME type, by its name
    memset (&got, 0, sizeof got);
    assert (sl_parse_file (NULL, path, NULL, s_flags_fn, &got, &info, err, sizeof err) == 0);
    assert (got.needs_ocr [0]);
}

//  A two-page 8-bit grayscale TIFF, uncompressed, written by hand (MuPDF
//  reads TIFF but does not write it).
static void
s_write_tiff (const char *path, int w, int h)
{
    FILE *file = fopen (path, "wb");
    assert (file);
    #define PUT16(v) do { fputc ((v) & 255, file); fputc (((v) >> 8) & 255, file); } while (0)
    #define PUT32(v) do { PUT16 ((v) & 0xFFFF); PUT16 (((uint32_t) (v) >> 16) & 0xFFFF); } while (0)
    const int entries = 9;
    const uint32_t ifd_size = 2 + 12 * (uint32_t) entries + 4;
    const uint32_t pixels = (uint32_t) (w * h);
    fputs ("II*", file);
    fputc (0, file);
    PUT32 (8);                              //  first IFD right after the header
    for (int pg = 0; pg < 2; pg++) {
        uint32_t ifd = 8 + (uint32_t) pg * (ifd_size + pixels);
        uint32_t data = ifd + ifd_size;
        uint32_t next = pg == 0 ? data + pixels : 0;
        const uint16_t tags [9] = { 256, 257, 258, 259, 262, 273, 277, 278, 279 };
        const uint32_t values [9] = { (uint32_t) w, (uint32_t) h, 8, 1, 1, data, 1, (uint32_t) h, pixels };
        PUT16 (entries);
        for (int i = 0; i < entries; i++) {
            PUT16 (tags [i]);
            PUT16 (tags [i] == 273 || tags [i] == 279 || tags [i] == 256 || tags [i] == 257 ? 4 : 3);
            PUT32 (1);
            if (tags [i] == 273 || tags [i] == 279 || tags [i] == 256 || tags [i] == 257)
                PUT32 (values [i]);
            else {
                PUT16 (values [i]);
                PUT16 (0);
            }
        }
        PUT32 (next);
        for (uint32_t k = 0; k < pixels; k++)
            fputc (k % 7 ? 255 : 0, file);
    }
    #undef PUT16
    #undef PUT32
    assert (fclose (file) == 0);
}

//  A multi-page TIFF is a document of as many pages, each needing OCR.
static void
test_tiff_pages (void)
{
    char path [512];
    s_path (path, sizeof path, "scan.tif");
    s_write_tiff (path, 64, 48);
    s_flags_t got = { 0 };
    sl_parse_info_t info;
    char err [256] = "";
    int rc = sl_parse_file (NULL, path, "image/tiff", s_flags_fn, &got, &info, err, sizeof err);
    if (rc)
        fprintf (stderr, "scan.tif: %s\n", err);
    assert (rc == 0 && streq (info.format, "image"));
    assert (info.page_count == 2 && got.pages == 2 && info.pages_need_ocr == 2);
    assert (got.needs_ocr [0] && got.needs_ocr [1]);
}

//  Outline entries come with the page they start on; depth, count and
//  title length are bounded; entries without a page are dropped.
static void
test_pdf_outline_headings (void)
{
    char long_title [1100];
    memset (long_title, 'x', 1000);
    memcpy (long_title, "(Long ", 6);
    long_title [1000] = ')';
    long_title [1001] = 0;
    char long_item [1300];
    snprintf (long_item, sizeof long_item, "<< /Title %s /Parent 7 0 R /Prev 10 0 R /Dest [5 0 R /Fit] >>", long_title);
    //  1 catalog, 2 pages, 3-5 pages, 6 font, 7 outlines root,
    //  8 "Chapter One" (p1) with child 9 "Section 1.1" (p2) whose child
    //  12 is 5 levels deeper than allowed through 13..16,
    //  10 "Chapter Two" (p3), 11 long title (p3), 17 "Nowhere" (no dest)
    const char *bodies [18] = {
        "<< /Type /Catalog /Pages 2 0 R /Outlines 7 0 R >>",
        "<< /Type /Pages /Count 3 /Kids [3 0 R 4 0 R 5 0 R] >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 6 0 R >> >> /Contents 18 0 R >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 6 0 R >> >> /Contents 18 0 R >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 6 0 R >> >> /Contents 18 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        "<< /Type /Outlines /First 8 0 R /Last 17 0 R /Count 5 >>",
        "<< /Title (Chapter One) /Parent 7 0 R /Next 10 0 R /First 9 0 R /Last 9 0 R /Count 1 /Dest [3 0 R /Fit] >>",
        "<< /Title (  Section\t1.1  ) /Parent 8 0 R /First 12 0 R /Last 12 0 R /Count 1 /Dest [4 0 R /XYZ 0 700 0] >>",
        "<< /Title (Chapter Two) /Parent 7 0 R /Prev 8 0 R /Next 11 0 R /Dest [5 0 R /Fit] >>",
        NULL,
        "<< /Title (Level 3) /Parent 9 0 R /First 13 0 R /Last 13 0 R /Count 1 /Dest [4 0 R /Fit] >>",
        "<< /Title (Level 4) /Parent 12 0 R /First 14 0 R /Last 14 0 R /Count 1 /Dest [4 0 R /Fit] >>",
        "<< /Title (Level 5) /Parent 13 0 R /First 15 0 R /Last 15 0 R /Count 1 /Dest [4 0 R /Fit] >>",
        "<< /Title (Level 6) /Parent 14 0 R /First 16 0 R /Last 16 0 R /Count 1 /Dest [4 0 R /Fit] >>",
        "<< /Title (Level 7) /Parent 15 0 R /Dest [4 0 R /Fit] >>",
        "<< /Title (Nowhere) /Parent 7 0 R /Prev 11 0 R >>",
        NULL,
    };
    bodies [10] = long_item;
    //  11 links on to 17 (Nowhere)
    char long_linked [1400];
    snprintf (long_linked, sizeof long_linked, "<< /Title %s /Parent 7 0 R /Prev 10 0 R /Next 17 0 R /Dest [5 0 R /Fit] >>",
              long_title);
    bodies [10] = long_linked;
    const char *streams [18] = { NULL };
    streams [17] = "BT /F1 10 Tf 72 700 Td (A page of the outlined manual with a text layer of its own.) Tj ET";
    char path [512];
    s_path (path, sizeof path, "outline.pdf");
    s_write_pdf_objects (path, bodies, streams, 18);
    s_flags_t got = { 0 };
    sl_parse_info_t info;
    char err [256];
    int rc = sl_parse_file (NULL, path, "application/pdf", s_flags_fn, &got, &info, err, sizeof err);
    if (rc)
        fprintf (stderr, "outline.pdf: %s\n", err);
    assert (rc == 0 && got.pages == 3 && info.pages_need_ocr == 0);
    assert (got.heading_count [0] == 1 && got.level [0][0] == 1 && streq (got.title [0][0], "Chapter One"));
    //  page 2: Section 1.1 (level 2, whitespace tidied), then levels 3..6; level 7 is too deep
    assert (got.heading_count [1] == 5);
    assert (got.level [1][0] == 2 && streq (got.title [1][0], "Section 1.1"));
    assert (got.level [1][1] == 3 && streq (got.title [1][1], "Level 3"));
    assert (got.heading_count [2] == 2);
    assert (got.level [2][0] == 1 && streq (got.title [2][0], "Chapter Two"));
    assert (got.level [2][1] == 1 && strncmp (got.title [2][1], "Long xxx", 8) == 0);
    assert (strlen (got.title [2][1]) <= 300);
    _Static_assert (sizeof got.title [0][0] > 300, "title buffer holds a trimmed title");
}

static void
test_threads (void)
{
    char epub [512];
    s_path (epub, sizeof epub, "book.epub");        //  from test_epub_reflow
    s_thread_job_t jobs [] = {
        { s_drafting_pdf, "application/pdf", "", -9 },
        { s_plotter_pdf, "application/pdf", "", -9 },
        { epub, "application/epub+zip", "", -9 },
        { s_drafting_pdf, "application/pdf", "", -9 },
    };
    int count = (int) (sizeof jobs / sizeof jobs [0]);
    char solo [4][SL_SHA256_HEX];
    for (int i = 0; i < count; i++) {
        s_thread_main (&jobs [i]);
        assert (jobs [i].rc == 0);
        memcpy (solo [i], jobs [i].digest, SL_SHA256_HEX);
    }
    assert (streq (solo [0], solo [3]) && !streq (solo [0], solo [1]));
    pthread_t threads [4];
    for (int i = 0; i < count; i++)
        assert (pthread_create (&threads [i], NULL, s_thread_main, &jobs [i]) == 0);
    for (int i = 0; i < count; i++)
        pthread_join (threads [i], NULL);
    for (int i = 0; i < count; i++) {
        assert (jobs [i].rc == 0);
        assert (streq (jobs [i].digest, solo [i]));
    }
}

//  Benchmark figure, printed only: the plotter manual, us vs mutool,
//  best of three runs each (the machine is shared).
static int
s_count_fn (void *arg, const sl_page_t *page)
{
    int page_no = page->page_no, page_count = page->page_count;
    const char *text = page->text;
    size_t len = page->len;
    (void) page_no; (void) page_count; (void) text; (void) len;
    *(size_t *) arg += len;
    return 0;
}

static void
s_report_speed (void)
{
    if (!s_verbose)
        return;
    const char *path = s_plotter_pdf;
    char err [256];
    sl_parse_info_t info;
    int64_t ours = INT64_MAX, theirs = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        size_t bytes = 0;
        int64_t start = sl_mono_ms ();
        assert (sl_parse_file (NULL, path, "application/pdf", s_count_fn, &bytes, &info,
                               err, sizeof err) == 0);
        int64_t took = sl_mono_ms () - start;
        ours = took < ours ? took : ours;
    }
    printf ("  speed: plotter.pdf, %d pages in %" PRId64 " ms = %.0f pages/s",
            info.page_count, ours, info.page_count * 1000.0 / (double) (ours ? ours : 1));
    if (system ("mutool -v >/dev/null 2>&1") == 0) {
        char cmd [1024];
        snprintf (cmd, sizeof cmd, "mutool draw -q -F txt -o /dev/null '%s' 2>/dev/null", path);
        for (int i = 0; i < 3; i++) {
            int64_t start = sl_mono_ms ();
            assert (system (cmd) == 0);
            int64_t took = sl_mono_ms () - start;
            theirs = took < theirs ? took : theirs;
        }
        printf ("; mutool draw -F txt: %" PRId64 " ms = %.0f pages/s (process start included)",
                theirs, info.page_count * 1000.0 / (double) (theirs ? theirs : 1));
    }
    printf ("\n");
}

//  --------------------------------------------------------------------------

void
sl_parse_test (bool verbose)
{
    s_verbose = verbose;
    setvbuf (stdout, NULL, _IOLBF, 0);     //  see progress even if an assert fires
    printf (" * sl_parse: ");
    if (verbose)
        printf ("\n");
    snprintf (s_tmp, sizeof s_tmp, "/tmp/sl_parse_test.XXXXXX");
    assert (mkdtemp (s_tmp));

    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    assert (opts.max_pages == 5000 && opts.max_seconds == 300);
    assert (opts.max_memory == (size_t) 1 << 30 && opts.max_text_bytes == (size_t) 64 << 20);

    s_make_manuals ();
    test_text_encodings ();
    test_text_binary_refused ();
    test_text_pages_and_limits ();
    test_markdown_title ();
    test_text_readmes ();
    test_html_visible_text ();
    test_html_hostile ();
    test_html_generators ();
    test_pdf_manual_pages ();
    test_pdf_phrase_on_page ();
    test_pdf_broken ();
    test_pdf_encrypted ();
    test_pdf_decompression_bomb ();
    test_pdf_page_count_bomb ();
    test_text_ceiling ();
    test_pdf_time_limit ();
    test_pdf_memory_flat ();
    test_epub_reflow ();
    test_pdf_needs_ocr ();
    test_image_documents ();
    test_tiff_pages ();
    test_pdf_outline_headings ();
    test_threads ();
    s_report_speed ();

    nftw (s_tmp, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    printf ("OK\n");
}
