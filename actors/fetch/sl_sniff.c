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
    const char *odf;            //  mimetype entry names an OpenDocument type
    int word, ppt, xl;          //  OOXML parts under word/, ppt/, xl/
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
        static const char *odf [] = { SL_MIME_ODT, SL_MIME_ODP, SL_MIME_ODS, NULL };
        for (int i = 0; method == 0 && odf [i]; i++) {
            size_t len = strlen (odf [i]);
            //  exact: "...opendocument.text-template" is another type
            if (data + len <= n && memcmp (head + data, odf [i], len) == 0
            &&  (s_le32 (head + at + 18) == len || s_le32 (head + at + 18) == 0))
                zip->odf = odf [i];
        }
        return;
    }
    //  OOXML parts are XML under word/, ppt/ or xl/ (a comic's xl/001.jpg
    //  is still an image)
    bool part = s_has_suffix_ci (name, name_len, ".xml") || s_has_suffix_ci (name, name_len, ".rels");
    if (part && name_len > 5 && memcmp (name, "word/", 5) == 0)
        zip->word++;
    else
    if (part && name_len > 4 && memcmp (name, "ppt/", 4) == 0)
        zip->ppt++;
    else
    if (part && name_len > 3 && memcmp (name, "xl/", 3) == 0)
        zip->xl++;
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
    if (zip.odf)
        return zip.odf;
    //  OOXML: the folder with the most parts names the kind (a DOCX may
    //  embed a workbook under word/embeddings, never the other way round)
    if (zip.word || zip.ppt || zip.xl) {
        if (zip.word >= zip.ppt && zip.word >= zip.xl)
            return SL_MIME_DOCX;
        return zip.ppt >= zip.xl ? SL_MIME_PPTX : SL_MIME_XLSX;
    }
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
    static const struct { const char *ext; const char *mime; } office [] = {
        { "docx", SL_MIME_DOCX }, { "pptx", SL_MIME_PPTX }, { "xlsx", SL_MIME_XLSX },
        { "odt", SL_MIME_ODT }, { "odp", SL_MIME_ODP }, { "ods", SL_MIME_ODS }, { NULL, NULL }
    };
    for (int i = 0; office [i].ext; i++)
        if (strcmp (ext, office [i].ext) == 0 || strcmp (declared, office [i].mime) == 0)
            return office [i].mime;
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
//  Mail

//  Length of a header field name ("Subject") if line [0..len) starts with
//  one followed by ':', else 0 (RFC 5322: printable ASCII but ':' and space).
static size_t
s_field_name (const unsigned char *line, size_t len)
{
    size_t i = 0;
    while (i < len && line [i] > 32 && line [i] < 127 && line [i] != ':')
        i++;
    return i > 0 && i < len && line [i] == ':' ? i : 0;
}

//  Count the known fields of the header block starting at p (until a blank
//  line or the end of the head); false if a line in it is not a header
//  line (a field or a folded continuation).
static bool
s_header_block (const unsigned char *p, size_t n, int *known)
{
    static const char *fields [] = {
        "from", "to", "cc", "subject", "date", "mime-version", "received", "return-path",
        "message-id", "delivered-to", "reply-to", "content-type", "x-mailer", "sender", NULL
    };
    *known = 0;
    size_t at = 0;
    int lines = 0;
    while (at < n && lines < 200) {
        const unsigned char *eol = memchr (p + at, '\n', n - at);
        size_t len = eol ? (size_t) (eol - (p + at)) : n - at;
        const unsigned char *line = p + at;
        if (len && line [len - 1] == '\r')
            len--;
        if (len == 0)
            break;              //  end of the header block
        if (!eol)
            break;              //  a line cut off by the end of the head
        lines++;
        if (line [0] == ' ' || line [0] == '\t') {
            if (lines == 1)
                return false;   //  a continuation needs a field before it
        }
        else {
            size_t name = s_field_name (line, len);
            if (!name)
                return false;
            for (int i = 0; fields [i]; i++)
                if (strlen (fields [i]) == name && strncasecmp ((const char *) line, fields [i], name) == 0)
                    (*known)++;
        }
        at += (size_t) (eol - (p + at)) + 1;
    }
    return lines > 0;
}

//  EML: the head is a header block with at least two known fields. MBOX:
//  a "From " separator line, then such a block.
static const char *
s_mail (const unsigned char *head, size_t n)
{
    if (!s_is_text (head, n))
        return NULL;
    int known;
    if (n > 5 && memcmp (head, "From ", 5) == 0) {
        const unsigned char *eol = memchr (head, '\n', n);
        if (eol && s_header_block (eol + 1, n - (size_t) (eol + 1 - head), &known) && known >= 2)
            return SL_MIME_MBOX;
        return NULL;
    }
    if (s_header_block (head, n, &known) && known >= 2)
        return SL_MIME_EML;
    return NULL;
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
        { "\x89PNG\r\n\x1a\n", 8, SL_MIME_PNG },
        { "\xFF\xD8\xFF", 3, SL_MIME_JPEG },
        { "II*\0", 4, SL_MIME_TIFF },
        { "MM\0*", 4, SL_MIME_TIFF },
        { "GIF87a", 6, "image/gif" },
        { "GIF89a", 6, "image/gif" },
        { "\x1F\x8B", 2, "application/gzip" },
        { "7z\xBC\xAF\x27\x1C", 6, "application/x-7z-compressed" },
        { "Rar!\x1A\x07", 6, "application/vnd.rar" },
        { "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8, SL_MIME_OLE },
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
    if ((*mime = s_mail (head, n)) != NULL)
        return S_KIND_FINAL;

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
    //  Mail whose head the bytes did not show as headers (a message that
    //  starts with a long comment, an mbox with junk before its first
    //  "From "): a claim or the extension may name the text a message
    if (strcmp (declared, SL_MIME_EML) == 0 || strcmp (ext, "eml") == 0)
        return SL_MIME_EML;
    if (strcmp (declared, SL_MIME_MBOX) == 0 || strcmp (ext, "mbox") == 0)
        return SL_MIME_MBOX;
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
        SL_MIME_HTML, SL_MIME_XHTML, SL_MIME_MARKDOWN, SL_MIME_TEXT, SL_MIME_PNG, SL_MIME_JPEG,
        SL_MIME_TIFF, SL_MIME_DOCX, SL_MIME_PPTX, SL_MIME_XLSX, SL_MIME_ODT, SL_MIME_ODP,
        SL_MIME_ODS, SL_MIME_EML, SL_MIME_MBOX, NULL
    };
    if (!mime)
        return false;
    for (int i = 0; supported [i]; i++)
        if (strcmp (mime, supported [i]) == 0)
            return true;
    return false;
}
