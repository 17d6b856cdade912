/*  sl_sniff_test: self-test of sl_sniff. Magic bytes for every format it
    knows (PDF after junk, ZIP containers told apart by their entries, XML
    roots, HTML), claims from headers and names and when bytes overrule
    them, and the sample documents under tests/fixtures when the source tree
    is known.
*/
#include "sl_sniff.h"

#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  --------------------------------------------------------------------------
//  Self-test

static bool
s_has_suffix_ci (const char *s, size_t len, const char *suffix)
{
    size_t slen = strlen (suffix);
    return len >= slen && strncasecmp (s + len - slen, suffix, slen) == 0;
}

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

    //  OOXML by the folder of its parts, whatever the name says
    len = 0;
    s_zip_add (zip, &len, "[Content_Types].xml", "<Types/>", 0);
    s_zip_add (zip, &len, "_rels/.rels", "<Relationships/>", 0);
    s_zip_add (zip, &len, "word/document.xml", "<w:document/>", 0);
    s_zip_add (zip, &len, "word/embeddings/x.xlsx", "PK", 0);
    s_check ("docx", zip, len, NULL, NULL, SL_MIME_DOCX);
    s_check ("docx renamed bin", zip, len, "application/octet-stream", "letter.bin", SL_MIME_DOCX);
    s_check ("docx named xlsx", zip, len, NULL, "letter.xlsx", SL_MIME_DOCX);
    assert (sl_sniff_supported (SL_MIME_DOCX));
    len = 0;
    s_zip_add (zip, &len, "[Content_Types].xml", "<Types/>", 0);
    s_zip_add (zip, &len, "ppt/presentation.xml", "<p:presentation/>", 0);
    s_zip_add (zip, &len, "ppt/slides/slide1.xml", "<p:sld/>", 0);
    s_check ("pptx", zip, len, NULL, NULL, SL_MIME_PPTX);
    len = 0;
    s_zip_add (zip, &len, "docProps/app.xml", "<Properties/>", 8);
    s_zip_add (zip, &len, "xl/workbook.xml", "<workbook/>", 8);
    s_zip_add (zip, &len, "xl/worksheets/sheet1.xml", "<worksheet/>", 8);
    s_check ("xlsx with data descriptors", zip, len, NULL, NULL, SL_MIME_XLSX);
    //  A head that shows only [Content_Types].xml: the name may say which
    len = 0;
    s_zip_add (zip, &len, "[Content_Types].xml", "<Types/>", 0);
    s_check ("ooxml head, named", zip, len, NULL, "deck.pptx", SL_MIME_PPTX);
    s_check ("ooxml head, unnamed", zip, len, NULL, NULL, SL_MIME_ZIP);
    //  OpenDocument by the type in its first entry
    static const char *odf [][2] = {
        { SL_MIME_ODT, "odt" }, { SL_MIME_ODP, "odp" }, { SL_MIME_ODS, "ods" }
    };
    for (int i = 0; i < 3; i++) {
        len = 0;
        s_zip_add (zip, &len, "mimetype", odf [i] [0], 0);
        s_zip_add (zip, &len, "content.xml", "<office:document-content/>", 0);
        s_check (odf [i] [1], zip, len, NULL, "x.bin", odf [i] [0]);
        assert (sl_sniff_supported (odf [i] [0]));
    }
    len = 0;
    s_zip_add (zip, &len, "mimetype", "application/vnd.oasis.opendocument.text-template", 0);
    s_check ("odt template is not odt", zip, len, NULL, NULL, SL_MIME_ZIP);

    len = 0;
    s_zip_add (zip, &len, "comic/", "", 0);
    s_zip_add (zip, &len, "comic/001.jpg", "\xFF\xD8\xFF jpeg", 0);
    s_zip_add (zip, &len, "comic/002.PNG", "\x89PNG", 0);
    s_zip_add (zip, &len, "ComicInfo.xml", "<ComicInfo/>", 0);
    s_check ("cbz", zip, len, NULL, NULL, SL_MIME_CBZ);
    len = 0;
    s_zip_add (zip, &len, "xl/001.jpg", "\xFF\xD8\xFF jpeg", 0);
    s_zip_add (zip, &len, "xl/002.jpg", "\xFF\xD8\xFF jpeg", 0);
    s_check ("cbz with a folder named xl", zip, len, NULL, NULL, SL_MIME_CBZ);
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

    //  Images are documents now (read by OCR)
    s_check ("png", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, NULL, "scan.bin", SL_MIME_PNG);
    s_check ("jpeg", "\xFF\xD8\xFF\xE0\0\x10JFIF", 10, NULL, NULL, SL_MIME_JPEG);
    s_check ("tiff le", "II*\0\x08\0\0\0", 8, NULL, NULL, SL_MIME_TIFF);
    s_check ("tiff be", "MM\0*\0\0\0\x08", 8, "text/plain", "a.txt", SL_MIME_TIFF);
    assert (sl_sniff_supported (SL_MIME_PNG) && sl_sniff_supported (SL_MIME_JPEG)
         && sl_sniff_supported (SL_MIME_TIFF));
    assert (!sl_sniff_supported ("image/gif"));
    //  Encrypted OOXML and legacy Office are OLE compound files
    s_check ("ole", "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0", 10, NULL, "secret.docx", SL_MIME_OLE);
    assert (!sl_sniff_supported (SL_MIME_OLE));

    //  Mail: a header block of known fields; a mailbox starts with "From "
    s_check_str ("eml", "Return-Path: <a@example.org>\r\nReceived: from mx by mx2;\r\n"
                 " Mon, 7 Dec 2026 10:00:00 +0000\r\nFrom: A <a@example.org>\r\nTo: b@example.org\r\n"
                 "Subject: Minutes\r\nMIME-Version: 1.0\r\n\r\nBody text.\r\n", NULL, "x.bin", SL_MIME_EML);
    s_check_str ("eml head cut", "From: a@example.org\nSubject: Hi\nDate: Mon, 7 Dec 2026\nContent-Ty",
                 NULL, NULL, SL_MIME_EML);
    s_check_str ("mbox", "From a@example.org Mon Dec  7 10:00:00 2026\nFrom: a@example.org\n"
                 "Subject: One\n\nBody.\n\nFrom b@example.org Mon Dec  7 11:00:00 2026\n", NULL, NULL,
                 SL_MIME_MBOX);
    assert (sl_sniff_supported (SL_MIME_EML) && sl_sniff_supported (SL_MIME_MBOX));
    s_check_str ("one header-like line is text", "Subject: my essay\n\nIt begins here.\n", NULL, NULL,
                 SL_MIME_TEXT);
    s_check_str ("prose with a colon is text", "Note: this is prose\nand more prose here\n", NULL, NULL,
                 SL_MIME_TEXT);
    s_check_str ("From line then prose", "From here we go\nto the sea, said she.\n", NULL, NULL, SL_MIME_TEXT);

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
    assert (!sl_sniff_supported ("image/webp"));
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
