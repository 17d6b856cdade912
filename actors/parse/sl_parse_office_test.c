/*  sl_parse_office_test: the Office and OpenDocument back-end on documents
    this test writes itself with libzip (in a temporary folder): a DOCX with
    headings, a list, a 3x3 table and a page break; an XLSX of two sheets;
    an ODT; a PPTX whose part names are out of presentation order; and the
    hostile containers, each of which must fail under its ceiling with a
    reason: zip bomb (ratio, per-entry size), billion laughs, 10,000 nested
    lists, 100,000 entries, a truncated zip, an encrypted (OLE) file.
*/
#include "sl_parse.h"
#include "sl_check.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

static char s_dir [256];

//  --------------------------------------------------------------------------
//  Writing documents

typedef struct {
    const char *name;
    const char *data;           //  NULL: size bytes of filler
    size_t size;
    bool store;                 //  no compression (ODF's mimetype)
} s_part_t;

static void
s_path (char *out, size_t cap, const char *name)
{
    snprintf (out, cap, "%s/%s", s_dir, name);
}

static void
s_zip (const char *path, const s_part_t *parts, int count)
{
    int code;
    zip_t *zip = zip_open (path, ZIP_CREATE | ZIP_TRUNCATE, &code);
    CHECK (zip);
    for (int i = 0; i < count; i++) {
        const char *data = parts [i].data;
        size_t size = data ? strlen (data) : parts [i].size;
        zip_source_t *src = zip_source_buffer (zip, data, size, 0);
        CHECK (src);
        zip_int64_t index = zip_file_add (zip, parts [i].name, src, ZIP_FL_OVERWRITE);
        CHECK (index >= 0);
        zip_set_file_compression (zip, (zip_uint64_t) index,
                                  parts [i].store ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 9);
    }
    CHECK (zip_close (zip) == 0);
}

//  --------------------------------------------------------------------------
//  Reading them

typedef struct {
    int pages;
    int page_count;
    char text [8] [4096];
    bool marked;
} s_got_t;

static int
s_page (void *arg, const sl_page_t *page)
{
    s_got_t *got = arg;
    if (got->pages < 8)
        snprintf (got->text [got->pages], sizeof got->text [0], "%.*s", (int) page->len, page->text);
    got->pages++;
    got->page_count = page->page_count;
    got->marked = page->marked;
    return 0;
}

static int
s_parse (const char *name, const char *mime, const sl_parse_opts_t *opts, s_got_t *got,
         sl_parse_info_t *info, char *err, size_t errlen)
{
    char path [512];
    s_path (path, sizeof path, name);
    memset (got, 0, sizeof *got);
    return sl_parse_file (opts, path, mime, s_page, got, info, err, errlen);
}

//  The document fails, with a reason that contains want
static void
s_refused (const char *name, const char *mime, const sl_parse_opts_t *opts, const char *want)
{
    s_got_t got;
    sl_parse_info_t info;
    char err [512];
    int rc = s_parse (name, mime, opts, &got, &info, err, sizeof err);
    if (rc == 0 || !strstr (err, want))
        fprintf (stderr, "%s: rc %d, reason '%s', wanted '%s'\n", name, rc, err, want);
    CHECK (rc == -1 && strstr (err, want));
    CHECK (got.pages == 0);     //  nothing half-read reaches the caller
}

#define DOCX "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
#define XLSX "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#define PPTX "application/vnd.openxmlformats-officedocument.presentationml.presentation"
#define ODT "application/vnd.oasis.opendocument.text"

#define W_NS "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\""
#define R_NS "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#define ODF_NS "xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" " \
    "xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" " \
    "xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\""

//  --------------------------------------------------------------------------
//  Cases

static const char *s_styles =
    "<w:styles " W_NS ">"
    "<w:style w:type=\"paragraph\" w:styleId=\"Heading1\"><w:name w:val=\"heading 1\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"Sub\"><w:name w:val=\"My sub\"/>"
    "<w:pPr><w:outlineLvl w:val=\"1\"/></w:pPr></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"ListBullet\"><w:name w:val=\"List Bullet\"/>"
    "<w:pPr><w:numPr><w:numId w:val=\"1\"/></w:numPr></w:pPr></w:style></w:styles>";

#define P(style, text) "<w:p><w:pPr><w:pStyle w:val=\"" style "\"/></w:pPr><w:r><w:t>" text "</w:t></w:r></w:p>"
#define TC(text) "<w:tc><w:p><w:r><w:t>" text "</w:t></w:r></w:p></w:tc>"

static void
s_write_docx (const char *name, const char *body)
{
    char path [512];
    s_path (path, sizeof path, name);
    s_part_t parts [] = {
        { "[Content_Types].xml", "<Types/>", 0, false },
        { "_rels/.rels", "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/"
          "relationships\"><Relationship Id=\"rId1\" Type=\"" R_NS "/officeDocument\" "
          "Target=\"word/document.xml\"/></Relationships>", 0, false },
        { "docProps/core.xml", "<cp:coreProperties xmlns:cp=\"x\" xmlns:dc=\"http://purl.org/dc/"
          "elements/1.1/\"><dc:title>Network Guide</dc:title></cp:coreProperties>", 0, false },
        { "word/styles.xml", s_styles, 0, false },
        { "word/document.xml", body, 0, false },
    };
    s_zip (path, parts, 5);
}

static void
s_test_docx (void)
{
    s_write_docx ("a.docx", "<w:document " W_NS "><w:body>"
        P ("Heading1", "Installation")
        "<w:p><w:r><w:t xml:space=\"preserve\">Unpack </w:t></w:r><w:r><w:t>the archive.</w:t></w:r></w:p>"
        P ("ListBullet", "first step") P ("ListBullet", "second step")
        P ("Sub", "Configuring the network")
        "<w:tbl><w:tr>" TC ("Port") TC ("Protocol") TC ("Use") "</w:tr>"
        "<w:tr>" TC ("8080") TC ("HTTP") TC ("edge | web") "</w:tr>"
        "<w:tr>" TC ("5555") TC ("ZMTP") TC ("broker") "</w:tr></w:tbl>"
        "<w:p><w:r><w:br w:type=\"page\"/></w:r></w:p>"
        "<w:p><w:r><w:t># not a heading</w:t></w:r></w:p>"
        "<w:sectPr/></w:body></w:document>");
    s_got_t got;
    sl_parse_info_t info;
    char err [512];
    CHECK (s_parse ("a.docx", DOCX, NULL, &got, &info, err, sizeof err) == 0);
    CHECK (got.pages == 2 && got.page_count == 2 && got.marked);
    CHECK (strcmp (info.format, "docx") == 0 && strcmp (info.title, "Network Guide") == 0);
    const char *p1 = got.text [0];
    CHECK (strstr (p1, "# Installation\n"));
    CHECK (strstr (p1, "Unpack the archive.\n"));
    CHECK (strstr (p1, "- first step\n- second step\n"));
    CHECK (strstr (p1, "## Configuring the network\n"));
    CHECK (strstr (p1, "| Port | Protocol | Use |\n|---|---|---|\n| 8080 | HTTP | edge \\| web |\n"
                       "| 5555 | ZMTP | broker |\n"));
    CHECK (strstr (got.text [1], "\\# not a heading"));
}

static void
s_test_docx_pages (void)
{
    //  No page breaks: pages end at paragraph boundaries past ~3,000 bytes
    static char body [200000];
    strcpy (body, "<w:document " W_NS "><w:body>");
    for (int i = 0; i < 200; i++)
        snprintf (body + strlen (body), sizeof body - strlen (body),
                  "<w:p><w:r><w:t>Paragraph %d says a hundred bytes of nothing in particular, "
                  "so that pages fill up.</w:t></w:r></w:p>", i);
    strcat (body, "</w:body></w:document>");
    s_write_docx ("long.docx", body);
    s_got_t got;
    char err [512];
    CHECK (s_parse ("long.docx", DOCX, NULL, &got, NULL, err, sizeof err) == 0);
    CHECK (got.pages >= 5 && got.pages <= 10);
    CHECK (strlen (got.text [0]) >= 3000 && strlen (got.text [0]) < 3200);
    CHECK (strncmp (got.text [1], "Paragraph ", 10) == 0);     //  whole paragraphs
}

static void
s_test_xlsx (void)
{
    char path [512];
    s_path (path, sizeof path, "b.xlsx");
    s_part_t parts [] = {
        { "[Content_Types].xml", "<Types/>", 0, false },
        { "xl/workbook.xml", "<workbook xmlns:r=\"" R_NS "\"><sheets>"
          "<sheet name=\"Prices\" sheetId=\"1\" r:id=\"rId2\"/>"
          "<sheet name=\"Empty\" sheetId=\"2\" r:id=\"rId3\"/></sheets></workbook>", 0, false },
        { "xl/_rels/workbook.xml.rels", "<Relationships>"
          "<Relationship Id=\"rId3\" Type=\"" R_NS "/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
          "<Relationship Id=\"rId2\" Type=\"" R_NS "/worksheet\" Target=\"/xl/worksheets/sheet2.xml\"/>"
          "<Relationship Id=\"rId9\" Type=\"" R_NS "/sharedStrings\" Target=\"sharedStrings.xml\"/>"
          "</Relationships>", 0, false },
        { "xl/sharedStrings.xml", "<sst><si><t>Item</t></si><si><t>Price</t></si>"
          "<si><r><t>ferro</t></r><r><t>wick</t></r><rPh><t>x</t></rPh></si></sst>", 0, false },
        { "xl/worksheets/sheet2.xml", "<worksheet><sheetData>"
          "<row r=\"2\"><c r=\"B2\" t=\"s\"><v>0</v></c><c r=\"C2\" t=\"s\"><v>1</v></c></row>"
          "<row r=\"3\"><c r=\"B3\" t=\"s\"><v>2</v></c><c r=\"C3\"><v>7341.25</v></c>"
          "<c r=\"D3\" t=\"b\"><v>1</v></c><c r=\"E3\" t=\"inlineStr\"><is><t>inline</t></is></c></row>"
          "<row r=\"5\"><c r=\"B5\" t=\"s\"><v>99</v></c><c r=\"C5\"><f>C3*2</f><v>14682.5</v></c>"
          "<c r=\"D5\"><v>0.07000000000000001</v></c><c r=\"E5\"><v>1.5E-3</v></c></row>"
          "</sheetData></worksheet>", 0, false },
        { "xl/worksheets/sheet1.xml", "<worksheet><sheetData/></worksheet>", 0, false },
    };
    s_zip (path, parts, 6);
    s_got_t got;
    sl_parse_info_t info;
    char err [512];
    CHECK (s_parse ("b.xlsx", XLSX, NULL, &got, &info, err, sizeof err) == 0);
    CHECK (got.pages == 2 && got.marked);
    CHECK (strcmp (info.title, "Prices") == 0);
    CHECK (strstr (got.text [0], "# Prices\n"));
    CHECK (strstr (got.text [0], "| Item | Price |  |  |\n|---|---|---|---|\n"
                                 "| ferrowick | 7341.25 | TRUE | inline |\n|  | 14682.5 | 0.07 | 1.5E-3 |\n"));
    CHECK (strcmp (got.text [1], "# Empty\n\n") == 0);
}

static void
s_test_odt (void)
{
    char path [512];
    s_path (path, sizeof path, "c.odt");
    s_part_t parts [] = {
        { "mimetype", ODT, 0, true },
        { "meta.xml", "<office:document-meta " ODF_NS " xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
          "<office:meta><dc:title>Plinkerton</dc:title></office:meta></office:document-meta>", 0, false },
        { "content.xml", "<office:document-content " ODF_NS " xmlns:style=\"s\" xmlns:fo=\"f\">"
          "<office:automatic-styles><style:style style:name=\"P9\"><style:paragraph-properties "
          "fo:break-before=\"page\"/></style:style></office:automatic-styles>"
          "<office:body><office:text>"
          "<text:h text:outline-level=\"2\">About<text:s/>it</text:h>"
          "<text:p>Body<text:tab/>text<text:note><text:note-body><text:p>footnote</text:p>"
          "</text:note-body></text:note>.</text:p>"
          "<text:list><text:list-item><text:p>outer</text:p><text:list><text:list-item>"
          "<text:p>inner</text:p></text:list-item></text:list></text:list-item></text:list>"
          "<table:table><table:table-row><table:table-cell><text:p>Key</text:p></table:table-cell>"
          "<table:table-cell><text:p>Value</text:p></table:table-cell></table:table-row>"
          "<table:table-row table:number-rows-repeated=\"2\"><table:table-cell table:number-columns-"
          "repeated=\"2\"><text:p>x</text:p></table:table-cell></table:table-row>"
          "<table:table-row table:number-rows-repeated=\"1048000\"><table:table-cell table:number-"
          "columns-repeated=\"16000\"/></table:table-row></table:table>"
          "<text:p text:style-name=\"P9\">Second page.</text:p>"
          "</office:text></office:body></office:document-content>", 0, false },
    };
    s_zip (path, parts, 3);
    s_got_t got;
    sl_parse_info_t info;
    char err [512];
    CHECK (s_parse ("c.odt", ODT, NULL, &got, &info, err, sizeof err) == 0);
    CHECK (got.pages == 2 && strcmp (info.title, "Plinkerton") == 0);
    const char *p1 = got.text [0];
    CHECK (strstr (p1, "## About it\n"));
    CHECK (strstr (p1, "Body text.\n") && !strstr (p1, "footnote"));
    CHECK (strstr (p1, "- outer\n  - inner\n\n"));
    CHECK (strstr (p1, "| Key | Value |\n|---|---|\n| x | x |\n| x | x |\n\n"));
    CHECK (strcmp (got.text [1], "Second page.\n\n") == 0);
}

static void
s_test_pptx (void)
{
    char path [512];
    s_path (path, sizeof path, "d.pptx");
#define SP(ph, text) "<p:sp><p:nvSpPr><p:nvPr>" ph "</p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>" \
    text "</a:t></a:r></a:p></p:txBody></p:sp>"
#define SLD(tree) "<p:sld xmlns:a=\"a\" xmlns:p=\"p\"><p:cSld><p:spTree>" tree "</p:spTree></p:cSld></p:sld>"
    s_part_t parts [] = {
        { "ppt/presentation.xml", "<p:presentation xmlns:p=\"p\" xmlns:r=\"" R_NS "\"><p:sldIdLst>"
          "<p:sldId id=\"256\" r:id=\"rId7\"/><p:sldId id=\"257\" r:id=\"rId6\"/></p:sldIdLst>"
          "</p:presentation>", 0, false },
        { "ppt/_rels/presentation.xml.rels", "<Relationships>"
          "<Relationship Id=\"rId6\" Type=\"" R_NS "/slide\" Target=\"slides/slide1.xml\"/>"
          "<Relationship Id=\"rId7\" Type=\"" R_NS "/slide\" Target=\"slides/slide2.xml\"/>"
          "</Relationships>", 0, false },
        { "ppt/slides/slide2.xml", SLD (SP ("", "body first") SP ("<p:ph type=\"title\"/>", "Opening")
                                        SP ("<p:ph type=\"sldNum\"/>", "17")), 0, false },
        { "ppt/slides/slide1.xml", SLD (SP ("<p:ph type=\"ctrTitle\"/>", "Closing")), 0, false },
        { "ppt/slides/_rels/slide1.xml.rels", "<Relationships><Relationship Id=\"rId1\" Type=\""
          R_NS "/notesSlide\" Target=\"../notesSlides/n1.xml\"/></Relationships>", 0, false },
        { "ppt/notesSlides/n1.xml", "<p:notes xmlns:a=\"a\" xmlns:p=\"p\"><p:cSld><p:spTree>"
          SP ("<p:ph type=\"body\"/>", "say thanks") "</p:spTree></p:cSld></p:notes>", 0, false },
    };
    s_zip (path, parts, 6);
    s_got_t got;
    char err [512];
    CHECK (s_parse ("d.pptx", PPTX, NULL, &got, NULL, err, sizeof err) == 0);
    CHECK (got.pages == 2);
    CHECK (strcmp (got.text [0], "# Opening\n\nbody first\n\n") == 0);
    CHECK (strcmp (got.text [1], "# Closing\n\nNotes:\nsay thanks\n\n") == 0);
}

//  Without a MIME type the format comes from the name (as fetch could not
//  tell); a DOCX renamed .bin is read by the type fetch sniffed
static void
s_test_guess (void)
{
    s_got_t got;
    char err [512];
    CHECK (s_parse ("a.docx", NULL, NULL, &got, NULL, err, sizeof err) == 0 && got.pages == 2);
    char from [512], to [512];
    s_path (from, sizeof from, "a.docx");
    s_path (to, sizeof to, "a.bin");
    CHECK (link (from, to) == 0);
    CHECK (s_parse ("a.bin", DOCX, NULL, &got, NULL, err, sizeof err) == 0 && got.pages == 2);
}

static void
s_test_zip_bomb (void)
{
    //  64 MiB of whitespace deflates to ~64 KiB: refused by ratio at 1 MiB
    size_t size = (size_t) 64 << 20;
    char *filler = malloc (size + 1);
    CHECK (filler);
    memset (filler, ' ', size);
    memcpy (filler, "<w:document><w:body>", 20);
    filler [size] = 0;
    s_write_docx ("bomb.docx", filler);
    s_refused ("bomb.docx", DOCX, NULL, "expands more than 100 times its compressed size");
    //  The same bomb lying about its size (local header and directory both
    //  claim 1 KiB): counted as it inflates, refused all the same
    char path [512];
    s_path (path, sizeof path, "bomb.docx");
    FILE *file = fopen (path, "r+b");
    CHECK (file);
    static unsigned char zipbuf [1 << 20];
    size_t n = fread (zipbuf, 1, sizeof zipbuf, file);
    int patched = 0;
    for (size_t i = 0; i + 46 + 17 < n; i++) {
        bool local = memcmp (zipbuf + i, "PK\3\4", 4) == 0;
        bool central = memcmp (zipbuf + i, "PK\1\2", 4) == 0;
        size_t name = local ? 30 : 46, size = local ? 22 : 24;
        if ((local || central) && memcmp (zipbuf + i + name, "word/document.xml", 17) == 0) {
            memcpy (zipbuf + i + size, "\0\4\0\0", 4);
            patched++;
        }
    }
    CHECK (patched == 2);
    rewind (file);
    CHECK (fwrite (zipbuf, 1, n, file) == n);
    fclose (file);
    s_refused ("bomb.docx", DOCX, NULL, "expands beyond the size its directory declares");
    //  Incompressible enough to pass the ratio, too large for the entry
    //  ceiling (4 x max_text_bytes)
    unsigned seed = 7;
    size = (size_t) 3 << 20;
    const char *prefix = "<w:document><w:body><w:p><w:r><w:t>";
    memcpy (filler, prefix, strlen (prefix));
    for (size_t i = strlen (prefix); i < size; i++)
        filler [i] = (char) ('a' + rand_r (&seed) % 26);
    filler [size] = 0;
    s_write_docx ("big.docx", filler);
    free (filler);
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    opts.max_text_bytes = (size_t) 512 << 10;
    s_refused ("big.docx", DOCX, &opts, "expands beyond 2 MiB (the per-entry limit)");
}

//  Random letters: incompressible enough to pass the ratio ceiling
static char *
s_letters (size_t size, const char *open, const char *close)
{
    char *text = malloc (size + 1);
    CHECK (text);
    unsigned seed = 11;
    for (size_t i = 0; i < size; i++)
        text [i] = (char) ('a' + rand_r (&seed) % 26);
    memcpy (text, open, strlen (open));
    memcpy (text + size - strlen (close), close, strlen (close));
    text [size] = 0;
    return text;
}

static void
s_test_zip_total (void)
{
    //  Three parts under the per-entry ceiling (1 MiB with max_text_bytes
    //  of 256 KiB), over the container's (2 MiB) together
    char *strings = s_letters (900000, "<sst><si><t>", "</t></si></sst>");
    char *sheet = s_letters (900000, "<worksheet><x>", "</x><sheetData/></worksheet>");
    char path [512];
    s_path (path, sizeof path, "total.xlsx");
    s_part_t parts [] = {
        { "xl/workbook.xml", "<workbook xmlns:r=\"" R_NS "\"><sheets>"
          "<sheet name=\"A\" r:id=\"rId1\"/><sheet name=\"B\" r:id=\"rId2\"/></sheets></workbook>", 0, false },
        { "xl/_rels/workbook.xml.rels", "<Relationships>"
          "<Relationship Id=\"rId1\" Type=\"" R_NS "/worksheet\" Target=\"worksheets/a.xml\"/>"
          "<Relationship Id=\"rId2\" Type=\"" R_NS "/worksheet\" Target=\"worksheets/b.xml\"/>"
          "<Relationship Id=\"rId3\" Type=\"" R_NS "/sharedStrings\" Target=\"strings.xml\"/>"
          "</Relationships>", 0, false },
        { "xl/strings.xml", strings, 0, false },
        { "xl/worksheets/a.xml", sheet, 0, false },
        { "xl/worksheets/b.xml", sheet, 0, false },
    };
    s_zip (path, parts, 5);
    free (strings);
    free (sheet);
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    opts.max_text_bytes = (size_t) 256 << 10;
    s_refused ("total.xlsx", XLSX, &opts, "expands beyond 2 MiB in total (the container limit)");
    //  The same workbook, one page allowed: two sheets are too many
    opts.max_text_bytes = (size_t) 64 << 20;
    opts.max_pages = 1;
    s_refused ("total.xlsx", XLSX, &opts, "more than 1 sheets (the page limit)");
}

static void
s_test_encrypted_entry (bool verbose)
{
    char path [512];
    s_path (path, sizeof path, "locked.docx");
    int code;
    zip_t *zip = zip_open (path, ZIP_CREATE | ZIP_TRUNCATE, &code);
    CHECK (zip);
    const char *body = "<w:document><w:body/></w:document>";
    zip_int64_t index = zip_file_add (zip, "word/document.xml",
                                      zip_source_buffer (zip, body, strlen (body), 0), 0);
    CHECK (index >= 0);
    if (zip_file_set_encryption (zip, (zip_uint64_t) index, ZIP_EM_AES_256, "secret") != 0) {
        zip_discard (zip);      //  this libzip was built without crypto
        if (verbose)
            printf ("     (skipped: libzip cannot encrypt here)\n");
        return;
    }
    CHECK (zip_close (zip) == 0);
    s_refused ("locked.docx", DOCX, NULL, "is encrypted: remove the password");
}

static void
s_test_table_ceiling (void)
{
    //  One row with text, repeated three million times
    char path [512];
    s_path (path, sizeof path, "rows.ods");
    s_part_t parts [] = {
        { "mimetype", "application/vnd.oasis.opendocument.spreadsheet", 0, true },
        { "content.xml", "<office:document-content " ODF_NS "><office:body><office:spreadsheet>"
          "<table:table table:name=\"S\"><table:table-row table:number-rows-repeated=\"3000000\">"
          "<table:table-cell><text:p>x</text:p></table:table-cell></table:table-row></table:table>"
          "</office:spreadsheet></office:body></office:document-content>", 0, false },
    };
    s_zip (path, parts, 2);
    s_refused ("rows.ods", "application/vnd.oasis.opendocument.spreadsheet", NULL,
               "a table has more than 2000000 cells with text");
}

static void
s_test_billion_laughs (void)
{
    char path [512];
    s_path (path, sizeof path, "lol.odt");
    static char content [8192];
    strcpy (content, "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for (int i = 1; i < 10; i++) {
        snprintf (content + strlen (content), sizeof content - strlen (content), "<!ENTITY lol%d \"", i);
        for (int k = 0; k < 10; k++)
            if (i == 1)
                strcat (content, "&lol;");
            else
                snprintf (content + strlen (content), sizeof content - strlen (content), "&lol%d;", i - 1);
        strcat (content, "\">");
    }
    strcat (content, "]><office:document-content " ODF_NS "><office:body><office:text>"
                     "<text:p>&lol9;</text:p></office:text></office:body></office:document-content>");
    s_part_t parts [] = { { "mimetype", ODT, 0, true }, { "content.xml", content, 0, false } };
    s_zip (path, parts, 2);
    s_refused ("lol.odt", ODT, NULL, "entit");
    //  The same declarations without a reference: the DTD alone is refused
    char *refs = strstr (content, "&lol9;");
    memcpy (refs, "hello!", 6);
    s_zip (path, parts, 2);
    s_refused ("lol.odt", ODT, NULL, "document type declaration");
}

static void
s_test_deep_lists (void)
{
    char path [512];
    s_path (path, sizeof path, "deep.odt");
    const char *open = "<text:list><text:list-item>", *close = "</text:list-item></text:list>";
    size_t cap = 10000 * (strlen (open) + strlen (close)) + 1024;
    char *content = malloc (cap);
    CHECK (content);
    strcpy (content, "<office:document-content " ODF_NS "><office:body><office:text>");
    char *p = content + strlen (content);
    for (int i = 0; i < 10000; i++, p += strlen (open))
        memcpy (p, open, strlen (open));
    p += sprintf (p, "<text:p>deep</text:p>");
    for (int i = 0; i < 10000; i++, p += strlen (close))
        memcpy (p, close, strlen (close));
    strcpy (p, "</office:text></office:body></office:document-content>");
    s_part_t parts [] = { { "mimetype", ODT, 0, true }, { "content.xml", content, 0, false } };
    s_zip (path, parts, 2);
    free (content);
    s_refused ("deep.odt", ODT, NULL, "nests elements deeper than 200 levels");
}

static void
s_test_many_entries (void)
{
    char path [512];
    s_path (path, sizeof path, "many.docx");
    int code;
    zip_t *zip = zip_open (path, ZIP_CREATE | ZIP_TRUNCATE, &code);
    CHECK (zip);
    for (int i = 0; i < 100000; i++) {
        char name [32];
        snprintf (name, sizeof name, "word/media/e%d", i);
        zip_source_t *src = zip_source_buffer (zip, "", 0, 0);
        zip_int64_t index = zip_file_add (zip, name, src, 0);
        CHECK (index >= 0);
        zip_set_file_compression (zip, (zip_uint64_t) index, ZIP_CM_STORE, 0);
    }
    CHECK (zip_close (zip) == 0);
    s_refused ("many.docx", DOCX, NULL, "100000 zip entries, more than the limit of 10000");
}

static void
s_test_truncated (void)
{
    char path [512];
    s_path (path, sizeof path, "a.docx");
    FILE *file = fopen (path, "rb");
    CHECK (file);
    char buf [65536];
    size_t n = fread (buf, 1, sizeof buf, file);
    fclose (file);
    s_path (path, sizeof path, "cut.docx");
    file = fopen (path, "wb");
    CHECK (file && fwrite (buf, 1, n / 2, file) == n / 2);
    fclose (file);
    s_refused ("cut.docx", DOCX, NULL, "damaged or truncated zip container");
    //  A zip without the main part
    s_part_t parts [] = { { "[Content_Types].xml", "<Types/>", 0, false } };
    s_path (path, sizeof path, "hollow.docx");
    s_zip (path, parts, 1);
    s_refused ("hollow.docx", DOCX, NULL, "the part word/document.xml is missing");
    //  Malformed XML names the part and the line
    s_write_docx ("bad.docx", "<w:document " W_NS "><w:body>\n<w:p></w:body>");
    s_refused ("bad.docx", DOCX, NULL, "malformed XML in word/document.xml");
}

static void
s_test_encrypted (void)
{
    char path [512];
    s_path (path, sizeof path, "secret.docx");
    FILE *file = fopen (path, "wb");
    CHECK (file);
    static char cfb [4096] = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
    CHECK (fwrite (cfb, 1, sizeof cfb, file) == sizeof cfb);
    fclose (file);
    s_refused ("secret.docx", DOCX, NULL, "password-protected");
}

static void
s_test_text_ceiling (void)
{
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    opts.max_text_total = 1000;
    s_refused ("long.docx", DOCX, &opts, "text limit of 1000 bytes exceeded at page 1");
    opts.max_text_total = (size_t) 64 << 20;
    opts.max_pages = 3;
    s_refused ("long.docx", DOCX, &opts, "more than 3 pages");
}

void
sl_parse_office_test (bool verbose)
{
    if (verbose)
        printf (" * sl_parse_office:\n");
    snprintf (s_dir, sizeof s_dir, "/tmp/sl_parse_office_test.XXXXXX");
    CHECK (mkdtemp (s_dir));
    CASE ("docx: headings, list, 3x3 table, page break, title", s_test_docx ());
    CASE ("docx: pages of ~3,000 bytes at paragraph boundaries", s_test_docx_pages ());
    CASE ("xlsx: sheets in workbook order, shared strings, used range", s_test_xlsx ());
    CASE ("odt: heading, list nesting, repeated cells, page-break style", s_test_odt ());
    CASE ("pptx: slides in presentation order, title, notes", s_test_pptx ());
    CASE ("format from the name, or from the type fetch sniffed", s_test_guess ());
    CASE ("zip bomb: ratio and per-entry ceilings", s_test_zip_bomb ());
    CASE ("zip: the container's total ceiling; sheets over the page limit", s_test_zip_total ());
    CASE ("zip: an encrypted entry is explained", s_test_encrypted_entry (verbose));
    CASE ("a repeated row past the table ceiling", s_test_table_ceiling ());
    CASE ("billion laughs refused", s_test_billion_laughs ());
    CASE ("10,000 nested lists refused", s_test_deep_lists ());
    CASE ("100,000 zip entries refused", s_test_many_entries ());
    CASE ("truncated zip, missing part, malformed XML", s_test_truncated ());
    CASE ("encrypted OOXML (OLE) explained", s_test_encrypted ());
    CASE ("text and page ceilings", s_test_text_ceiling ());
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    CHECK (system (cmd) == 0);
    if (verbose)
        printf ("   OK\n");
}
