/*  sl_parse_test: self-test of sl_parse on real and hostile files.

    Real documents come from $SLUICE_SHARED_DIR/corpus (skipped with a note
    when absent); expected page counts and page text come from MuPDF's own
    command-line tool, mutool (skipped when not installed). Hostile inputs
    (bombs, broken and encrypted PDFs, odd encodings, a hand-zipped EPUB) are
    generated into a temporary directory that is removed at the end.

    Each test checks one behaviour and is named for it.
*/
#include "sl_parse.h"
#include "sl_util.h"

#include <assert.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
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
static char s_corpus [512];         //  "" when absent
static bool s_mutool;               //  mutool on PATH

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
} s_collect_t;

static int
s_collect_fn (void *arg, int page_no, int page_count, const char *text, size_t len)
{
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

static char *
s_corpus_path (const char *rel)
{
    static char buf [4][1024];
    static int turn;
    char *out = buf [turn++ % 4];
    snprintf (out, sizeof buf [0], "%s/%s", s_corpus, rel);
    return out;
}

static int
s_mutool_pages (const char *path)
{
    char cmd [2048];
    snprintf (cmd, sizeof cmd, "mutool info '%s' 2>/dev/null", path);
    FILE *pipe = popen (cmd, "r");
    assert (pipe);
    char line [1024];
    int pages = -1;
    while (fgets (line, sizeof line, pipe))
        if (sscanf (line, "Pages: %d", &pages) == 1)
            break;
    while (fgets (line, sizeof line, pipe))
        ;
    pclose (pipe);
    return pages;
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
    assert (streq (got.text [0], md));      //  Markdown is passed through
    s_collect_free (&got);

    const char *setext = "\nBig Title\n=========\n\n# later heading\n";
    s_write (path, setext, strlen (setext));
    assert (s_parse (path, "text/markdown", NULL, &got, &info, err, sizeof err) == 0);
    assert (streq (info.title, "Big Title"));
    s_collect_free (&got);

    const char *front = "---\nauthor: x\ntitle: \"From Front Matter\"\n---\n# Heading\n";
    s_write (path, front, strlen (front));
    assert (s_parse (path, NULL, NULL, &got, &info, err, sizeof err) == 0);   //  by extension
    assert (streq (info.format, "markdown"));
    assert (streq (info.title, "From Front Matter"));
    s_collect_free (&got);
}

static void
test_text_corpus (void)
{
    if (!*s_corpus)
        return;
    char err [256];
    sl_parse_info_t info;
    s_collect_t got;
    assert (s_parse (s_corpus_path ("text/euro.txt"), "text/plain", NULL, &got, &info, err, sizeof err) == 0);
    assert (strstr (got.text [0], "This package converts arbitrary national currency amounts"));
    assert (strncmp (info.title, "$Id: euro.txt", 13) == 0);
    s_collect_free (&got);
    assert (s_parse (s_corpus_path ("text/wasysym-README.md"), "text/markdown", NULL, &got, &info,
                     err, sizeof err) == 0);
    assert (streq (info.title, "Interface to the wasy fonts for LaTeX2e."));
    assert (strstr (got.text [0], "## License"));
    s_collect_free (&got);
    //  UTF-8 (soft hyphens) passes through untouched
    assert (s_parse (s_corpus_path ("text/repere-README.md"), "text/markdown", NULL, &got, &info,
                     err, sizeof err) == 0);
    assert (strstr (got.text [0], "sec\xc2\xad" "ondary"));
    assert (streq (info.title, "Package repere - Version 23.01 - January 1, 2023"));
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
    assert (strstr (text, "Daily specials\n\nFresh bread & butter, daily.\n\nSecond paragraph.\nNew line."));
    assert (strstr (text, "one\ntwo"));
    assert (strstr (text, "a1\tb1\na2\tb2"));
    assert (strstr (text, "  keep   this\n    spacing"));
    assert (text [strlen (text) - 1] == 'l');   //  "tail", no trailing breaks
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

static void
test_html_corpus (void)
{
    if (!*s_corpus)
        return;
    char err [256];
    sl_parse_info_t info;
    s_collect_t got;
    assert (s_parse (s_corpus_path ("html/The-Closure-API.html"), "text/html", NULL, &got, &info,
                     err, sizeof err) == 0);
    assert (streq (info.title, "The Closure API (libffi: the portable foreign function interface library)"));
    assert (strstr (got.text [0], "This facility is called the closure API. Closures are not supported"));
    assert (!strstr (got.text [0], "copiable-anchor"));     //  from its <style>
    assert (!strstr (got.text [0], "&ndash;") && strstr (got.text [0], "\xe2\x80\x93"));
    s_collect_free (&got);
    //  uppercase DocBook markup, title split over lines
    assert (s_parse (s_corpus_path ("html/users-and-groups.html"), "text/html", NULL, &got, &info,
                     err, sizeof err) == 0);
    assert (streq (info.title, "Users and Groups in the Debian System"));
    assert (!strstr (got.text [0], "GENERATOR"));
    s_collect_free (&got);
    const char *names [] = { "html/com_err.html", "html/zlib_how.html" };
    for (int i = 0; i < 2; i++) {
        assert (s_parse (s_corpus_path (names [i]), "text/html", NULL, &got, &info, err, sizeof err) == 0);
        assert (got.bytes > 1000 && !strstr (got.text [0], "<p>"));
        s_collect_free (&got);
    }
}

//  --------------------------------------------------------------------------
//  PDF and friends through MuPDF

static void
test_pdf_corpus_pages (void)
{
    if (!*s_corpus)
        return;
    const char *names [] = {
        "euro.pdf", "featpostmanual.pdf", "libtasn1.pdf", "mcf_example.pdf", "mcf_manual.pdf",
        "mfpguide.pdf", "momanual.pdf", "mpgraph.pdf", "mpintro.pdf", "mplibapi.pdf",
        "mpman.pdf", "shared-mime-info-spec.pdf"
    };
    char err [256], rel [64];
    sl_parse_info_t info;
    s_collect_t got;
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        snprintf (rel, sizeof rel, "pdf/%s", names [i]);
        const char *path = s_corpus_path (rel);
        assert (s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err) == 0);
        assert (streq (info.format, "pdf"));
        assert (got.pages == info.page_count && info.pages_failed == 0);
        assert (got.bytes > (size_t) info.page_count * 100);   //  real text on real pages
        assert (*info.title);
        if (s_mutool)
            assert (info.page_count == s_mutool_pages (path));
        s_collect_free (&got);
    }
}

static void
test_pdf_phrase_on_page (void)
{
    if (!*s_corpus)
        return;
    //  Found with `mutool draw -F txt -o - mpman.pdf 37` (and 50 of momanual)
    struct { const char *file; const char *phrase; int page; const char *title; } cases [] = {
        { "pdf/mpman.pdf", "Figure 28: Example of envelope", 37, "MetaPost: A User's Manual" },
        { "pdf/momanual.pdf", "nccircle draws a circle, or part of a circle", 50, "METAOBJ Manual" },
    };
    char err [256];
    sl_parse_info_t info;
    s_collect_t got;
    for (int i = 0; i < 2; i++) {
        assert (s_parse (s_corpus_path (cases [i].file), "application/pdf", NULL, &got, &info,
                         err, sizeof err) == 0);
        int first;
        assert (s_pages_with (&got, cases [i].phrase, &first) == 1);
        assert (first == cases [i].page);
        assert (streq (info.title, cases [i].title));
        s_collect_free (&got);
    }
    //  Title from UTF-16 metadata
    assert (s_parse (s_corpus_path ("pdf/mpintro.pdf"), "application/pdf", NULL, &got, &info,
                     err, sizeof err) == 0);
    assert (streq (info.title, "A Beginner's Guide to MetaPost for Creating High-Quality Graphics"));
    s_collect_free (&got);
    //  No metadata title: the first line of page 1
    assert (s_parse (s_corpus_path ("pdf/shared-mime-info-spec.pdf"), NULL, NULL, &got, &info,
                     err, sizeof err) == 0);
    assert (streq (info.format, "pdf"));
    char first_line [256];
    snprintf (first_line, sizeof first_line, "%.*s",
              (int) strcspn (got.text [0], "\n"), got.text [0]);
    assert (*info.title && streq (info.title, first_line));
    s_collect_free (&got);

    //  Stop after page 3
    memset (&got, 0, sizeof got);
    got.stop_at = 3;
    assert (sl_parse_file (NULL, s_corpus_path ("pdf/mpman.pdf"), "application/pdf", s_collect_fn,
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

    if (!*s_corpus)
        return;
    //  The first 30% of a real PDF
    FILE *file = fopen (s_corpus_path ("pdf/mpman.pdf"), "rb");
    assert (file);
    static unsigned char buf [2 << 20];
    size_t size = fread (buf, 1, sizeof buf, file);
    fclose (file);
    s_path (path, sizeof path, "truncated.pdf");
    s_write (path, buf, size * 3 / 10);
    int rc = s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err);
    if (rc == 0) {
        //  repaired: some pages, fewer than the real 114, or missing ones empty
        assert (got.pages == info.page_count && info.page_count > 0);
        assert (info.page_count < 114 || info.pages_failed > 0);
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
    if (!*s_corpus || !s_mutool)
        return;
    char path [512], cmd [2048], err [256];
    sl_parse_info_t info;
    s_collect_t got;
    s_path (path, sizeof path, "locked.pdf");
    snprintf (cmd, sizeof cmd, "mutool clean -E aes-256 -U user -O owner '%s' '%s' 2>/dev/null",
              s_corpus_path ("pdf/euro.pdf"), path);
    assert (system (cmd) == 0);
    assert (s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err) == -1);
    assert (strstr (err, "password-protected"));
    assert (got.pages == 0);

    //  Owner password only: anyone may read, so we must too
    s_path (path, sizeof path, "owner-only.pdf");
    snprintf (cmd, sizeof cmd, "mutool clean -E aes-128 -O owner '%s' '%s' 2>/dev/null",
              s_corpus_path ("pdf/euro.pdf"), path);
    assert (system (cmd) == 0);
    assert (s_parse (path, "application/pdf", NULL, &got, &info, err, sizeof err) == 0);
    assert (got.pages == 15 && strstr (got.text [0], "euro"));
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
    if (!*s_corpus || !s_mutool)
        return;
    //  9 copies of mpman.pdf: 1026 pages. We hold one page of text at a
    //  time, and MuPDF's caches are capped at a quarter of max_memory, so
    //  the long document must parse under the same small ceiling as one copy.
    char path [512], cmd [8192], err [256];
    s_path (path, sizeof path, "big.pdf");
    size_t at = (size_t) snprintf (cmd, sizeof cmd, "mutool merge -o '%s'", path);
    for (int i = 0; i < 9; i++)
        at += (size_t) snprintf (cmd + at, sizeof cmd - at, " '%s'", s_corpus_path ("pdf/mpman.pdf"));
    snprintf (cmd + at, sizeof cmd - at, " 2>/dev/null");
    assert (system (cmd) == 0);
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    opts.max_memory = 24 << 20;
    sl_parse_info_t small, big;
    s_collect_t got;
    assert (s_parse (s_corpus_path ("pdf/mpman.pdf"), "application/pdf", &opts, &got, &small,
                     err, sizeof err) == 0);
    size_t small_bytes = got.bytes;
    s_collect_free (&got);
    int64_t start = sl_mono_ms ();
    assert (s_parse (path, "application/pdf", &opts, &got, &big, err, sizeof err) == 0);
    int64_t took = sl_mono_ms () - start;
    assert (big.page_count == 1026 && got.pages == 1026);
    assert (got.bytes == 9 * small_bytes);
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
    assert (s_parse (path, "image/png", NULL, &got, &info, err, sizeof err) == -1);
    assert (streq (err, "unsupported MIME type image/png"));
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

static void
test_threads (void)
{
    if (!*s_corpus)
        return;
    char epub [512];
    s_path (epub, sizeof epub, "book.epub");        //  from test_epub_reflow
    s_thread_job_t jobs [] = {
        { s_corpus_path ("pdf/mpman.pdf"), "application/pdf", "", -9 },
        { s_corpus_path ("pdf/momanual.pdf"), "application/pdf", "", -9 },
        { epub, "application/epub+zip", "", -9 },
        { s_corpus_path ("pdf/mpman.pdf"), "application/pdf", "", -9 },
    };
    int count = (int) (sizeof jobs / sizeof jobs [0]);
    char solo [4][SL_SHA256_HEX];
    for (int i = 0; i < count; i++) {
        s_thread_main (&jobs [i]);
        assert (jobs [i].rc == 0);
        memcpy (solo [i], jobs [i].digest, SL_SHA256_HEX);
    }
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

//  Benchmark figure, printed only: the largest corpus PDF, us vs mutool,
//  best of three runs each (the machine is shared).
static int
s_count_fn (void *arg, int page_no, int page_count, const char *text, size_t len)
{
    *(size_t *) arg += len;
    return 0;
}

static void
s_report_speed (void)
{
    if (!*s_corpus || !s_verbose)
        return;
    const char *path = s_corpus_path ("pdf/momanual.pdf");
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
    printf ("  speed: momanual.pdf, %d pages in %" PRId64 " ms = %.0f pages/s",
            info.page_count, ours, info.page_count * 1000.0 / (double) (ours ? ours : 1));
    if (s_mutool) {
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
    const char *shared = getenv ("SLUICE_SHARED_DIR");
    struct stat st;
    if (shared && snprintf (s_corpus, sizeof s_corpus, "%s/corpus", shared) > 0
    &&  stat (s_corpus, &st) == 0 && S_ISDIR (st.st_mode)) {
        //  corpus present
    }
    else {
        printf ("(corpus not found: set SLUICE_SHARED_DIR; skipping corpus tests) ");
        s_corpus [0] = 0;
    }
    s_mutool = system ("mutool -v >/dev/null 2>&1") == 0;
    if (!s_mutool)
        printf ("(mutool not installed: skipping its cross-checks) ");

    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    assert (opts.max_pages == 5000 && opts.max_seconds == 300);
    assert (opts.max_memory == (size_t) 1 << 30 && opts.max_text_bytes == (size_t) 64 << 20);

    test_text_encodings ();
    test_text_binary_refused ();
    test_text_pages_and_limits ();
    test_markdown_title ();
    test_text_corpus ();
    test_html_visible_text ();
    test_html_hostile ();
    test_html_corpus ();
    test_pdf_corpus_pages ();
    test_pdf_phrase_on_page ();
    test_pdf_broken ();
    test_pdf_encrypted ();
    test_pdf_decompression_bomb ();
    test_pdf_page_count_bomb ();
    test_text_ceiling ();
    test_pdf_time_limit ();
    test_pdf_memory_flat ();
    test_epub_reflow ();
    test_threads ();
    s_report_speed ();

    nftw (s_tmp, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    printf ("OK\n");
}
