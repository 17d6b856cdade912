/*  sl_sniff: content-type detection from magic bytes, headers and names.
    See sl_sniff.h for the order of evidence and why bytes win.

    Everything here reads untrusted bytes: every offset is checked against n
    before use, and nothing asserts on content.
*/
#include "sl_sniff.h"

#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  MuPDF accepts a PDF header this far into the file
#define S_PDF_JUNK_MAX 1024

//  What the bytes alone told us
typedef enum {
    S_KIND_NONE,                //  no magic: fall through to claims
    S_KIND_FINAL,               //  mime is decided
    S_KIND_ZIP,                 //  a ZIP we could not classify from its entries
    S_KIND_XML,                 //  XML with an unknown root element
    S_KIND_HTML                 //  HTML markup (may be upgraded to XHTML)
} s_kind_t;

//  --------------------------------------------------------------------------
//  Small string helpers

static bool
s_has_prefix_ci (const unsigned char *p, size_t n, const char *prefix)
{
    size_t len = strlen (prefix);
    return n >= len && strncasecmp ((const char *) p, prefix, len) == 0;
}

static bool
s_has_suffix_ci (const char *s, size_t len, const char *suffix)
{
    size_t slen = strlen (suffix);
    return len >= slen && strncasecmp (s + len - slen, suffix, slen) == 0;
}

static const unsigned char *
s_find (const unsigned char *p, size_t n, const char *needle)
{
    return memmem (p, n, needle, strlen (needle));
}

static uint16_t
s_le16 (const unsigned char *p)
{
    return (uint16_t) (p [0] | p [1] << 8);
}

static uint32_t
s_le32 (const unsigned char *p)
{
    return (uint32_t) p [0] | (uint32_t) p [1] << 8 | (uint32_t) p [2] << 16
         | (uint32_t) p [3] << 24;
}

//  Lowercase extension of the last path component ("" if none) into ext.
static void
s_extension (const char *filename, char *ext, size_t cap)
{
    ext [0] = 0;
    if (!filename)
        return;
    const char *base = filename;
    for (const char *p = filename; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    const char *dot = strrchr (base, '.');
    if (!dot || dot == base || strlen (dot + 1) >= cap)
        return;
    size_t i = 0;
    for (const char *p = dot + 1; *p; p++)
        ext [i++] = (char) tolower ((unsigned char) *p);
    ext [i] = 0;
}

//  Declared Content-Type, lowercased, without parameters or spaces.
static void
s_declared (const char *declared, char *out, size_t cap)
{
    out [0] = 0;
    if (!declared)
        return;
    while (*declared == ' ' || *declared == '\t')
        declared++;
    size_t i = 0;
    for (; *declared && *declared != ';' && i + 1 < cap; declared++)
        if (*declared != ' ' && *declared != '\t')
            out [i++] = (char) tolower ((unsigned char) *declared);
    out [i] = 0;
}

//  --------------------------------------------------------------------------
//  ZIP containers, classified by the entry names in their local headers.
//  The head holds only the first entries, which is enough: EPUB puts
//  "mimetype" first by rule, XPS writers put [Content_Types].xml and the
//  document sequence early, and a comic's first entries are its pages.

typedef struct {
    bool epub;                  //  mimetype entry says application/epub+zip
    bool content_types;         //  [Content_Types].xml (OPC package)
    bool fdseq;                 //  an XPS FixedDocumentSequence part
    int images;
    int others;
} s_zip_t;

static bool
s_is_image_name (const char *name, size_t len)
{
    static const char *exts [] = {
        ".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".jxr", NULL
    };
    for (int i = 0; exts [i]; i++)
        if (s_has_suffix_ci (name, len, exts [i]))
            return true;
    return false;
}

static void
s_zip_entry (s_zip_t *zip, const unsigned char *head, size_t n, size_t at)
{
    uint16_t method = s_le16 (head + at + 8);
    size_t name_len = s_le16 (head + at + 26);
    size_t extra_len = s_le16 (head + at + 28);
    if (at + 30 + name_len > n)
        return;                 //  name cut off by the end of the head
    const char *name = (const char *) head + at + 30;
    size_t data = at + 30 + name_len + extra_len;
    static const char epub [] = "application/epub+zip";
    if (name_len == 8 && memcmp (name, "mimetype", 8) == 0) {
        if (method == 0 && data + sizeof epub - 1 <= n
        &&  memcmp (head + data, epub, sizeof epub - 1) == 0)
            zip->epub = true;
        return;
    }
    if (name_len == 19 && memcmp (name, "[Content_Types].xml", 19) == 0)
        zip->content_types = true;
    else
    if (s_has_suffix_ci (name, name_len, ".fdseq")
    ||  memmem (name, name_len, "FixedDocumentSequence", 21)
    ||  memmem (name, name_len, "FixedDocSeq", 11))
        zip->fdseq = true;
    else
    if (name_len == 0 || name [name_len - 1] == '/'
    ||  (name_len >= 9 && memcmp (name, "__MACOSX/", 9) == 0)
    ||  s_has_suffix_ci (name, name_len, "ComicInfo.xml")
    ||  s_has_suffix_ci (name, name_len, "Thumbs.db"))
        ;                       //  directories and comic metadata: neutral
    else
    if (s_is_image_name (name, name_len))
        zip->images++;
    else
        zip->others++;
}

static void
s_zip_scan (s_zip_t *zip, const unsigned char *head, size_t n)
{
    size_t at = 0;
    int guard = 0;
    while (at + 30 <= n && guard++ < 4096) {
        if (memcmp (head + at, "PK\3\4", 4) == 0) {
            s_zip_entry (zip, head, n, at);
            uint16_t flags = s_le16 (head + at + 6);
            uint32_t size = s_le32 (head + at + 18);
            size_t skip = 30 + (size_t) s_le16 (head + at + 26) + s_le16 (head + at + 28);
            //  Sizes are known up front unless a data descriptor follows
            //  (flag bit 3) or it is ZIP64; then search for the next header
            if (!(flags & 8) && size != 0xFFFFFFFF) {
                if ((uint64_t) at + skip + size > n)
                    break;
                at += skip + size;
                continue;
            }
            at += 4;
        }
        else
        if (memcmp (head + at, "PK\1\2", 4) == 0 || memcmp (head + at, "PK\5\6", 4) == 0)
            break;              //  central directory: no more entries
        else
            at++;
        const unsigned char *next = s_find (head + at, n - at, "PK\3\4");
        if (!next)
            break;
        at = (size_t) (next - head);
    }
}

static const char *
s_zip_mime (const unsigned char *head, size_t n, const char *ext, const char *declared)
{
    s_zip_t zip = { 0 };
    s_zip_scan (&zip, head, n);
    bool oxps = strcmp (ext, "oxps") == 0 || strcmp (declared, SL_MIME_OXPS) == 0;
    if (zip.epub)
        return SL_MIME_EPUB;
    if (zip.content_types && zip.fdseq)
        return oxps ? SL_MIME_OXPS : SL_MIME_XPS;
    if (zip.images > 0 && zip.others == 0 && !zip.content_types)
        return SL_MIME_CBZ;
    //  The bytes are a ZIP; a claim may say which kind when the head did
    //  not show enough entries
    if (strcmp (ext, "epub") == 0 || strcmp (declared, SL_MIME_EPUB) == 0)
        return SL_MIME_EPUB;
    if (strcmp (ext, "cbz") == 0 || strcmp (declared, SL_MIME_CBZ) == 0
    ||  strcmp (declared, "application/x-cbz") == 0)
        return SL_MIME_CBZ;
    if (oxps)
        return SL_MIME_OXPS;
    if (strcmp (ext, "xps") == 0 || strcmp (declared, SL_MIME_XPS) == 0)
        return SL_MIME_XPS;
    return SL_MIME_ZIP;
}

//  --------------------------------------------------------------------------
//  Markup

//  True if p starts with "<tag" followed by a tag-ending character.
static bool
s_tag (const unsigned char *p, size_t n, const char *tag)
{
    size_t len = strlen (tag);
    if (!s_has_prefix_ci (p, n, tag))
        return false;
    if (n == len)
        return true;            //  head ends right after the tag name
    unsigned char c = p [len];
    return c == ' ' || c == '>' || c == '\t' || c == '\n' || c == '\r' || c == '/';
}

static s_kind_t
s_markup (const unsigned char *head, size_t n, const char **mime)
{
    const unsigned char *p = head, *end = head + n;
    bool xml_decl = false;
    //  Skip BOM, whitespace, comments and processing instructions
    if (end - p >= 3 && p [0] == 0xEF && p [1] == 0xBB && p [2] == 0xBF)
        p += 3;
    while (p < end) {
        if (isspace (*p))
            p++;
        else
        if (s_has_prefix_ci (p, (size_t) (end - p), "<!--")) {
            const unsigned char *close = s_find (p + 4, (size_t) (end - p - 4), "-->");
            if (!close)
                return S_KIND_NONE;
            p = close + 3;
        }
        else
        if (s_has_prefix_ci (p, (size_t) (end - p), "<?")) {
            if (s_has_prefix_ci (p, (size_t) (end - p), "<?xml"))
                xml_decl = true;
            const unsigned char *close = s_find (p + 2, (size_t) (end - p - 2), "?>");
            if (!close)
                return xml_decl ? S_KIND_XML : S_KIND_NONE;
            p = close + 2;
        }
        else
            break;
    }
    size_t left = (size_t) (end - p);
    if (left == 0 || *p != '<')
        return xml_decl ? S_KIND_XML : S_KIND_NONE;
    if (s_tag (p, left, "<FictionBook")) {
        *mime = SL_MIME_FB2;
        return S_KIND_FINAL;
    }
    if (s_tag (p, left, "<!doctype html") || s_tag (p, left, "<html")) {
        if (xml_decl) {
            *mime = SL_MIME_XHTML;
            return S_KIND_FINAL;
        }
        return S_KIND_HTML;
    }
    if (xml_decl) {
        //  An FB2 may carry a DOCTYPE or stylesheet PI before its root
        if (s_find (p, left, "<FictionBook")) {
            *mime = SL_MIME_FB2;
            return S_KIND_FINAL;
        }
        return S_KIND_XML;
    }
    //  Tags that start HTML documents in the wild (WHATWG mime sniffing)
    static const char *tags [] = {
        "<head", "<body", "<title", "<meta", "<script", "<iframe", "<h1", "<div",
        "<font", "<table", "<a", "<style", "<b", "<br", "<p", NULL
    };
    for (int i = 0; tags [i]; i++)
        if (s_tag (p, left, tags [i]))
            return S_KIND_HTML;
    return S_KIND_NONE;
}

//  --------------------------------------------------------------------------
//  Text or binary

//  Length of the UTF-8 sequence at p (1..4), 0 if invalid, -1 if it is cut
//  off by the end of the buffer (a head often ends mid-character).
static int
s_utf8_len (const unsigned char *p, size_t left)
{
    unsigned char c = p [0];
    int len;
    uint32_t min;
    if (c < 0x80)
        return 1;
    else
    if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; }
    else
    if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; }
    else
    if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; }
    else
        return 0;
    uint32_t code = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((size_t) i >= left)
            return -1;
        if ((p [i] & 0xC0) != 0x80)
            return 0;
        code = code << 6 | (p [i] & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
        return 0;               //  overlong, out of range, or a surrogate
    return len;
}

static bool
s_is_control (unsigned char c)
{
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f'
                     && c != '\v' && c != 0x1B)
        || c == 0x7F;
}

static bool
s_is_text (const unsigned char *p, size_t n)
{
    if (memchr (p, 0, n))
        return false;           //  no text format we accept contains NUL
    size_t control = 0;
    bool utf8 = true;
    for (size_t i = 0; i < n; ) {
        if (s_is_control (p [i]))
            control++;
        int len = s_utf8_len (p + i, n - i);
        if (len < 0)
            break;              //  cut-off final character: fine
        if (len == 0) {
            utf8 = false;
            break;
        }
        i += (size_t) len;
    }
    if (!utf8) {
        //  Latin-1 / windows-1252: C1 bytes left undefined in 1252 count as
        //  binary, the rest are printable letters and punctuation
        control = 0;
        for (size_t i = 0; i < n; i++)
            if (s_is_control (p [i]) || p [i] == 0x81 || p [i] == 0x8D || p [i] == 0x8F
            ||  p [i] == 0x90 || p [i] == 0x9D)
                control++;
    }
    //  A little noise (form feeds aside, a stray BEL) is tolerated
    return control * 100 <= n;
}

//  --------------------------------------------------------------------------

static s_kind_t
s_magic (const unsigned char *head, size_t n, const char *ext, const char *declared,
         const char **mime)
{
    if (s_has_prefix_ci (head, n, "%PDF-")) {
        *mime = SL_MIME_PDF;
        return S_KIND_FINAL;
    }
    if (n >= 4 && (memcmp (head, "PK\3\4", 4) == 0 || memcmp (head, "PK\5\6", 4) == 0)) {
        *mime = s_zip_mime (head, n, ext, declared);
        return S_KIND_FINAL;
    }
    static const struct { const char *magic; size_t len; const char *mime; } binary [] = {
        { "\x89PNG\r\n\x1a\n", 8, "image/png" },
        { "\xFF\xD8\xFF", 3, "image/jpeg" },
        { "GIF87a", 6, "image/gif" },
        { "GIF89a", 6, "image/gif" },
        { "\x1F\x8B", 2, "application/gzip" },
        { "7z\xBC\xAF\x27\x1C", 6, "application/x-7z-compressed" },
        { "Rar!\x1A\x07", 6, "application/vnd.rar" },
        { "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8, "application/x-ole-storage" },
        { NULL, 0, NULL }
    };
    for (int i = 0; binary [i].magic; i++)
        if (n >= binary [i].len && memcmp (head, binary [i].magic, binary [i].len) == 0) {
            *mime = binary [i].mime;
            return S_KIND_FINAL;
        }
    s_kind_t kind = s_markup (head, n, mime);
    if (kind != S_KIND_NONE)
        return kind;

    //  PDF after leading junk (MuPDF searches for the header). Ask for a
    //  version number and an object after it, so a text that merely
    //  mentions "%PDF-" stays text.
    size_t window = n < S_PDF_JUNK_MAX ? n : S_PDF_JUNK_MAX;
    const unsigned char *pdf = s_find (head, window, "%PDF-");
    if (pdf) {
        size_t at = (size_t) (pdf - head);
        if (at + 8 <= n && isdigit (pdf [5]) && pdf [6] == '.' && isdigit (pdf [7])
        &&  s_find (pdf, n - at, " obj")) {
            *mime = SL_MIME_PDF;
            return S_KIND_FINAL;
        }
    }
    return S_KIND_NONE;
}

const char *
sl_sniff_mime (const void *head_, size_t n, const char *declared_mime, const char *filename)
{
    const unsigned char *head = head_;
    assert (head || n == 0);
    if (n == 0)
        return SL_MIME_EMPTY;
    char ext [16], declared [128];
    s_extension (filename, ext, sizeof ext);
    s_declared (declared_mime, declared, sizeof declared);

    const char *mime = NULL;
    s_kind_t kind = s_magic (head, n, ext, declared, &mime);
    if (kind == S_KIND_FINAL)
        return mime;

    bool claims_xhtml = strcmp (declared, SL_MIME_XHTML) == 0
                     || strcmp (ext, "xhtml") == 0 || strcmp (ext, "xht") == 0;
    if (kind == S_KIND_HTML)
        return claims_xhtml ? SL_MIME_XHTML : SL_MIME_HTML;
    if (kind == S_KIND_XML) {
        //  XML whose root we did not see in the head: a claim may name it
        if (claims_xhtml || strcmp (declared, SL_MIME_HTML) == 0)
            return SL_MIME_XHTML;
        if (strcmp (declared, SL_MIME_FB2) == 0 || strcmp (declared, "application/x-fictionbook") == 0
        ||  strcmp (ext, "fb2") == 0)
            return SL_MIME_FB2;
        return SL_MIME_XML;
    }
    //  No magic. Claims can only pick among text formats, and only for bytes
    //  that are text.
    if (!s_is_text (head, n))
        return SL_MIME_BINARY;
    if (strcmp (declared, SL_MIME_HTML) == 0)
        return SL_MIME_HTML;
    if (strcmp (declared, SL_MIME_MARKDOWN) == 0 || strcmp (declared, "text/x-markdown") == 0)
        return SL_MIME_MARKDOWN;
    if (strcmp (declared, SL_MIME_TEXT) == 0)
        return SL_MIME_TEXT;
    if (strcmp (ext, "md") == 0 || strcmp (ext, "markdown") == 0 || strcmp (ext, "mkd") == 0
    ||  strcmp (ext, "mdown") == 0)
        return SL_MIME_MARKDOWN;
    if (strcmp (ext, "html") == 0 || strcmp (ext, "htm") == 0)
        return SL_MIME_HTML;
    return SL_MIME_TEXT;
}

bool
sl_sniff_supported (const char *mime)
{
    static const char *supported [] = {
        SL_MIME_PDF, SL_MIME_EPUB, SL_MIME_CBZ, SL_MIME_XPS, SL_MIME_OXPS, SL_MIME_FB2,
        SL_MIME_HTML, SL_MIME_XHTML, SL_MIME_MARKDOWN, SL_MIME_TEXT, NULL
    };
    if (!mime)
        return false;
    for (int i = 0; supported [i]; i++)
        if (strcmp (mime, supported [i]) == 0)
            return true;
    return false;
}

//  --------------------------------------------------------------------------
//  Self-test

//  Append one stored ZIP local entry to buf at *len. flags bit 3 writes
//  sizes as zero, as streaming zippers do.
static void
s_zip_add (unsigned char *buf, size_t *len, const char *name, const char *data, uint16_t flags)
{
    size_t name_len = strlen (name), data_len = strlen (data);
    unsigned char *p = buf + *len;
    memset (p, 0, 30);
    memcpy (p, "PK\3\4", 4);
    p [4] = 20;
    p [6] = (unsigned char) flags;
    uint32_t size = (flags & 8) ? 0 : (uint32_t) data_len;
    for (int i = 0; i < 4; i++) {
        p [18 + i] = (unsigned char) (size >> (8 * i));
        p [22 + i] = (unsigned char) (size >> (8 * i));
    }
    p [26] = (unsigned char) name_len;
    memcpy (p + 30, name, name_len);
    memcpy (p + 30 + name_len, data, data_len);
    *len += 30 + name_len + data_len;
}

static void
s_check (const char *what, const void *head, size_t n, const char *declared,
         const char *filename, const char *expect)
{
    const char *mime = sl_sniff_mime (head, n, declared, filename);
    if (strcmp (mime, expect) != 0) {
        fprintf (stderr, "sl_sniff: %s: got %s, expected %s\n", what, mime, expect);
        assert (false);
    }
}

static void
s_check_str (const char *what, const char *text, const char *declared,
             const char *filename, const char *expect)
{
    s_check (what, text, strlen (text), declared, filename, expect);
}

//  Documents as their writers start them, made here: PDFs by pdfTeX,
//  dvipdfm and others (a binary comment or none, then objects with
//  compressed streams: NULs and control bytes within the first bytes),
//  HTML from Texinfo, DocBook and by hand (doctypes of every vintage,
//  uppercase, split over lines, comments first), READMEs in plain text and
//  Markdown (RCS keywords, soft hyphens, Latin letters).
typedef struct {
    const char *name;           //  its extension says what it must sniff as
    const char *head;           //  the file's first bytes ...
    size_t stream;              //  ... then up to this many bytes of a compressed stream
} s_document_t;

static const s_document_t s_documents [] = {
    { "manual.pdf", "%PDF-1.5\n%\xD0\xD4\xC5\xD8\n1 0 obj\n<<\n/Length 586       \n"
                    "/Filter /FlateDecode\n>>\nstream\n", SL_SNIFF_HEAD },
    { "euro.pdf", "%PDF-1.4\n5 0 obj\n<< /S /GoTo /D (section.1) >>\nendobj\n8 0 obj\n"
                  "(Introduction)\nendobj\n9 0 obj\n<< /Length 1434 /Filter /FlateDecode >>\n"
                  "stream\n", 4000 },
    { "objects.pdf", "%PDF-1.3\n5 0 obj\n<</Length 6 0 R/Filter /FlateDecode>>\nstream\n", 900 },
    { "example.pdf", "%PDF-1.5\n%\xCC\xD5\xC1\xD4\xC5\xD8\xD0\xC4\xC6\n3 0 obj\n<</Filter/FlateDecode"
                     "/Length 2391>>stream\n", SL_SNIFF_HEAD },
    { "generated.pdf", "%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Length 2048 /Filter /FlateDecode >>\n"
                       "stream\n", 2048 },
    { "texinfo.html",
      "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" "
      "\"http://www.w3.org/TR/html4/loose.dtd\">\n<html>\n"
      "<!-- Created by GNU Texinfo 6.8, https://www.gnu.org/software/texinfo/ -->\n<head>\n"
      "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n<!-- \n"
      "This manual is for sluice.\n\nPermission is hereby granted, free of charge.\n -->\n"
      "<title>The Gate API (sluice)</title>\n</head>\n<body lang=\"en\">\n<p>Text.</p>\n", 0 },
    { "docbook.html",
      "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\""
      "\"http://www.w3.org/TR/html4/loose.dtd\">\n<HTML\n><HEAD\n><TITLE\n>Users and Groups</TITLE\n"
      "><META\nNAME=\"GENERATOR\"\nCONTENT=\"Modular DocBook HTML Stylesheet Version 1.79\"></HEAD\n"
      "><BODY\nCLASS=\"BOOK\"\n><P\n>Text.</P\n></BODY\n></HTML\n>\n", 0 },
    { "handmade.html",
      "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.0 Transitional//EN\"\n"
      "  \"http://www.w3.org/TR/REC-html40/loose.dtd\">\n<html>\n<head>\n"
      "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">\n"
      "<title>Usage Example</title>\n</head>\n<body>\nCaf\xE9 &amp; more.\n</body>\n</html>\n", 0 },
    { "modern.html", "\n<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<title>T</title></head><body><p>Text.</p></body></html>\n", 0 },
    { "euro.txt",
      "$Id: euro.txt,v 1.5 2005/03/07 14:22:19 m Exp $\n\neuro.sty\n========\n\n"
      "This package converts arbitrary national currency amounts\nusing the Euro as base unit. "
      "Write e.g. \\ATS{17.6} to get\nsomething like `17,60 \\\"oS  (1,28 Euro)' automatically.\n"
      "\n\n\nauthor          = \"A. N. Author\"\n", 0 },
    { "gmp-README.txt",
      "\nThe gmp package allows integration between MetaPost\npictures and LaTeX. \n\n"
      "Copyright (C) 2011 by A. N. Author \n<author at example dot org>\n"
      "-------------------------------------------------------\n\no run \"latex gmp.ins\"\n", 0 },
    { "fonts-README.md",
      "# Interface to the wasy fonts for LaTeX2e.\n\n## License\n\nThis material is subject "
      "to the LaTeX Project Public License 1.3c.\n\n1.0b \n:   Corrected mathcode (=mathop)\n", 0 },
    { "repere-README.md",
      "Package repere - Version 23.01 - January 1, 2023\n\n---\n\nThis package provides macros "
      "for sec\xC2\xAD" "ondary school math\xC2\xAD" "e\xC2\xAD" "mat\xC2\xAD" "ics teachers.\n"
      "- axis, grids\n\n---\n\nAuthor : Ol\xC3\xA9ron P\xC3\xA9" "ault\n", 0 },
};

//  Every document must sniff as its extension says.
static int
s_check_documents (bool verbose)
{
    static unsigned char head [SL_SNIFF_HEAD];
    uint32_t x = 2463534242u;
    int checked = 0;
    for (size_t i = 0; i < sizeof s_documents / sizeof s_documents [0]; i++) {
        const s_document_t *doc = &s_documents [i];
        size_t n = strlen (doc->head);
        memcpy (head, doc->head, n);
        for (size_t k = 0; k < doc->stream && n < sizeof head; k++) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            head [n++] = (unsigned char) x;
        }
        const char *name = doc->name;
        size_t len = strlen (name);
        const char *expect = s_has_suffix_ci (name, len, ".pdf")? SL_MIME_PDF
                           : s_has_suffix_ci (name, len, ".html")? SL_MIME_HTML
                           : s_has_suffix_ci (name, len, ".md")? SL_MIME_MARKDOWN
                           : SL_MIME_TEXT;
        //  Bytes alone for PDF and HTML; text needs its name for markdown
        bool text = strcmp (expect, SL_MIME_MARKDOWN) == 0 || strcmp (expect, SL_MIME_TEXT) == 0;
        s_check (name, head, n, NULL, text ? name : NULL, expect);
        //  A hostile name and header never turn them into something else
        if (!text)
            s_check (name, head, n, "application/zip", "x.epub", expect);
        checked++;
    }
    if (verbose)
        printf ("   documents: %d checked\n", checked);
    return checked;
}

void
sl_sniff_test (bool verbose)
{
    if (verbose)
        printf (" * sl_sniff:\n");

    //  PDF: magic at the start, or after junk as MuPDF tolerates
    s_check_str ("pdf", "%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", NULL, NULL, SL_MIME_PDF);
    char junk [1200];
    memset (junk, 'J', 500);
    strcpy (junk + 500, "%PDF-1.4\n1 0 obj << >> endobj\n");
    s_check_str ("pdf after junk", junk, NULL, NULL, SL_MIME_PDF);
    memset (junk, 'J', 1100);
    strcpy (junk + 1100, "%PDF-1.4\n1 0 obj << >> endobj\n");
    s_check_str ("pdf too far", junk, NULL, NULL, SL_MIME_TEXT);
    s_check_str ("text mentioning %PDF-", "A PDF starts with the bytes %PDF-1.4 and then...\n",
                 NULL, NULL, SL_MIME_TEXT);

    //  Magic beats claims: a ".pdf" that is an HTML error page is HTML
    s_check_str ("html named pdf", "<!DOCTYPE html><html><body>404</body></html>",
                 "application/pdf", "report.pdf", SL_MIME_HTML);
    s_check_str ("text named pdf", "just some words\n", "application/pdf", "x.pdf", SL_MIME_TEXT);
    unsigned char bin [256];
    for (int i = 0; i < 256; i++)
        bin [i] = (unsigned char) i;
    s_check ("binary named pdf", bin, sizeof bin, "application/pdf", "x.pdf", SL_MIME_BINARY);

    //  ZIP containers
    static unsigned char zip [8192];
    size_t len = 0;
    s_zip_add (zip, &len, "mimetype", "application/epub+zip", 0);
    s_zip_add (zip, &len, "META-INF/container.xml", "<container/>", 0);
    s_check ("epub", zip, len, NULL, NULL, SL_MIME_EPUB);
    s_check ("epub named zip", zip, len, "application/zip", "book.zip", SL_MIME_EPUB);
    s_check ("epub cut in mimetype", zip, 40, NULL, NULL, SL_MIME_ZIP);
    s_check ("epub cut, named", zip, 40, NULL, "book.epub", SL_MIME_EPUB);

    len = 0;
    s_zip_add (zip, &len, "[Content_Types].xml", "<Types/>", 0);
    s_zip_add (zip, &len, "_rels/.rels", "<Relationships/>", 0);
    s_zip_add (zip, &len, "FixedDocumentSequence.fdseq", "<FixedDocumentSequence/>", 0);
    s_zip_add (zip, &len, "Documents/1/FixedDocument.fdoc", "<FixedDocument/>", 0);
    s_check ("xps", zip, len, NULL, NULL, SL_MIME_XPS);
    s_check ("oxps", zip, len, NULL, "paper.oxps", SL_MIME_OXPS);

    len = 0;
    s_zip_add (zip, &len, "[Content_Types].xml", "<Types/>", 0);
    s_zip_add (zip, &len, "word/document.xml", "<w:document/>", 0);
    s_check ("docx is not supported", zip, len, NULL, "letter.docx", SL_MIME_ZIP);
    assert (!sl_sniff_supported (sl_sniff_mime (zip, len, NULL, NULL)));

    len = 0;
    s_zip_add (zip, &len, "comic/", "", 0);
    s_zip_add (zip, &len, "comic/001.jpg", "\xFF\xD8\xFF jpeg", 0);
    s_zip_add (zip, &len, "comic/002.PNG", "\x89PNG", 0);
    s_zip_add (zip, &len, "ComicInfo.xml", "<ComicInfo/>", 0);
    s_check ("cbz", zip, len, NULL, NULL, SL_MIME_CBZ);
    len = 0;
    s_zip_add (zip, &len, "notes.txt", "hello", 0);
    s_check ("plain zip", zip, len, NULL, NULL, SL_MIME_ZIP);
    s_check ("zip named cbz", zip, len, NULL, "x.cbz", SL_MIME_CBZ);
    s_check ("zip declared cbz", zip, len, "application/vnd.comicbook+zip", NULL, SL_MIME_CBZ);
    //  Streaming zippers leave sizes zero (data descriptor): entries are
    //  still found by searching for the next header
    len = 0;
    s_zip_add (zip, &len, "[Content_Types].xml", "<Types/>", 8);
    s_zip_add (zip, &len, "FixedDocSeq.fdseq", "<FixedDocumentSequence/>", 8);
    s_check ("xps with data descriptors", zip, len, NULL, NULL, SL_MIME_XPS);
    //  Hostile: a header claiming a name longer than the buffer
    unsigned char bad_zip [40] = "PK\3\4";
    bad_zip [26] = 0xFF;
    bad_zip [27] = 0xFF;
    bad_zip [18] = 0xFF;
    s_check ("truncated zip", bad_zip, sizeof bad_zip, NULL, NULL, SL_MIME_ZIP);
    s_check ("empty zip", "PK\5\6", 4, NULL, NULL, SL_MIME_ZIP);

    //  FB2, HTML, XHTML
    s_check_str ("fb2", "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<FictionBook xmlns="
                 "\"http://www.gribuser.ru/xml/fictionbook/2.0\">", NULL, NULL, SL_MIME_FB2);
    s_check_str ("fb2 with stylesheet", "<?xml version=\"1.0\"?><?xml-stylesheet href=\"a\"?>"
                 "<!DOCTYPE x><FictionBook>", NULL, NULL, SL_MIME_FB2);
    s_check_str ("fb2 bare", "<FictionBook>", NULL, NULL, SL_MIME_FB2);
    s_check_str ("html doctype", "<!DOCTYPE html>\n<html>", NULL, NULL, SL_MIME_HTML);
    s_check_str ("html bom ws", "\xEF\xBB\xBF \r\n\t<HTML lang=en>", NULL, NULL, SL_MIME_HTML);
    s_check_str ("html after comment", "<!-- generated -->\n<html>", NULL, NULL, SL_MIME_HTML);
    s_check_str ("html fragment", "<p>Hello</p>", NULL, NULL, SL_MIME_HTML);
    s_check_str ("html head only", "<html", NULL, NULL, SL_MIME_HTML);
    s_check_str ("not a tag", "<people>are here</people>", NULL, NULL, SL_MIME_TEXT);
    s_check_str ("xhtml", "<?xml version=\"1.0\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0"
                 " Strict//EN\" \"x\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\">",
                 NULL, NULL, SL_MIME_XHTML);
    s_check_str ("html declared xhtml", "<html><body/></html>", "application/xhtml+xml",
                 NULL, SL_MIME_XHTML);
    s_check_str ("html named xhtml", "<html><body/></html>", NULL, "ch1.xhtml", SL_MIME_XHTML);
    s_check_str ("rss", "<?xml version=\"1.0\"?><rss version=\"2.0\">", "text/xml", NULL,
                 SL_MIME_XML);
    assert (!sl_sniff_supported (SL_MIME_XML));
    s_check_str ("unterminated comment", "<!-- and never closed", NULL, NULL, SL_MIME_TEXT);

    //  Declared Content-Type, parameters and case ignored
    s_check_str ("declared markdown", "# Title\n\nSome *text*.\n",
                 "text/markdown; charset=utf-8", NULL, SL_MIME_MARKDOWN);
    s_check_str ("declared html", "Hello there, plain words\n", " TEXT/HTML ; charset=x",
                 "a.txt", SL_MIME_HTML);
    s_check_str ("declared plain beats ext", "# Title\n", "text/plain", "a.md", SL_MIME_TEXT);
    s_check_str ("octet-stream declared", "# Title\n", "application/octet-stream", "a.md",
                 SL_MIME_MARKDOWN);
    s_check ("png declared text", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, "text/plain", "a.txt",
             "image/png");
    s_check ("binary declared text", bin, sizeof bin, "text/plain", "a.txt", SL_MIME_BINARY);
    s_check ("gzip", "\x1F\x8B\x08\0\0\0", 6, NULL, "a.html", "application/gzip");

    //  Extension
    s_check_str ("md", "# Title\n", NULL, "README.md", SL_MIME_MARKDOWN);
    s_check_str ("MD in path", "# Title\n", NULL, "/docs/v1.2/NOTES.MARKDOWN", SL_MIME_MARKDOWN);
    s_check_str ("txt", "# Title\n", NULL, "notes.txt", SL_MIME_TEXT);
    s_check_str ("dot dir", "# Title\n", NULL, "/a.md/README", SL_MIME_TEXT);
    s_check_str ("hidden file", "# Title\n", NULL, ".md", SL_MIME_TEXT);
    s_check_str ("html ext", "plain words\n", NULL, "page.htm", SL_MIME_HTML);
    s_check ("md on binary", bin, sizeof bin, NULL, "a.md", SL_MIME_BINARY);

    //  Text or binary
    s_check_str ("utf-8", "Fran\xC3\xA7ois a \xC3\xA9t\xC3\xA9 l\xC3\xA0 \xE2\x82\xAC\n", NULL,
                 NULL, SL_MIME_TEXT);
    s_check_str ("utf-8 cut mid-char", "caf\xC3\xA9 \xE2\x82", NULL, NULL, SL_MIME_TEXT);
    s_check_str ("latin-1", "Caf\xE9 cr\xE8me br\xFBl\xE9" "e, \xE0 la fran\xE7" "aise.\n", NULL,
                 NULL, SL_MIME_TEXT);
    s_check ("nul byte", "text\0more text", 14, NULL, "a.txt", SL_MIME_BINARY);
    s_check_str ("control heavy", "\x01\x02\x03\x04 text \x05\x06\x07\x08", NULL, NULL,
                 SL_MIME_BINARY);
    s_check_str ("overlong utf-8 is latin-1", "\xC0\xAF etc", NULL, NULL, SL_MIME_TEXT);
    s_check ("empty", NULL, 0, "text/plain", "a.txt", SL_MIME_EMPTY);
    s_check ("utf-16 bom", "\xFF\xFEh\0i\0", 6, "text/plain", NULL, SL_MIME_BINARY);
    assert (!sl_sniff_supported (SL_MIME_EMPTY));
    assert (!sl_sniff_supported (SL_MIME_BINARY));

    //  Supported
    const char *yes [] = { SL_MIME_PDF, SL_MIME_EPUB, SL_MIME_CBZ, SL_MIME_XPS, SL_MIME_OXPS,
                           SL_MIME_FB2, SL_MIME_HTML, SL_MIME_XHTML, SL_MIME_MARKDOWN,
                           SL_MIME_TEXT, NULL };
    for (int i = 0; yes [i]; i++)
        assert (sl_sniff_supported (yes [i]));
    assert (!sl_sniff_supported (NULL));
    assert (!sl_sniff_supported ("image/png"));
    assert (!sl_sniff_supported ("text/html; charset=utf-8"));

    //  Random bytes never crash and always give some answer
    unsigned int seed = 12345;
    static unsigned char noise [4096];
    for (int round = 0; round < 3000; round++) {
        size_t size = (size_t) rand_r (&seed) % sizeof noise;
        for (size_t i = 0; i < size; i++)
            noise [i] = (unsigned char) rand_r (&seed);
        //  Bias some rounds toward interesting prefixes
        static const char *prefixes [] = { "PK\3\4", "<?xml ", "<!-- ", "%PDF-", "\xEF\xBB\xBF<" };
        if (round % 2 && size > 8) {
            const char *prefix = prefixes [round % 5];
            memcpy (noise, prefix, strlen (prefix) < size ? strlen (prefix) : size);
        }
        const char *mime = sl_sniff_mime (noise, size, "text/plain", "x.md");
        assert (mime && *mime);
    }

    //  Documents as their writers start them
    assert (s_check_documents (verbose) == (int) (sizeof s_documents / sizeof s_documents [0]));
    if (verbose)
        printf ("   OK\n");
}
