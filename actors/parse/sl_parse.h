/*  sl_parse: turn one fetched file into UTF-8 text, one page at a time.

    The parse stage sits between fetch (which stored the file and sniffed its
    MIME type) and chunk (which splits text into passages). sl_parse_file
    streams pages to a callback instead of returning the whole text, so a
    1,000-page PDF never holds more than one page of text in memory: the
    callback copies what it needs, then the page is dropped.

    Formats and engines:
      - PDF, EPUB, XPS, CBZ, FB2, MOBI go through MuPDF (sl_parse.c). Each call
        makes its own fz_context whose allocator enforces max_memory and the
        deadline, so one hostile document cannot take the process down.
      - HTML / XHTML go through gumbo (sl_parse_html.c): MuPDF's HTML layout
        engine is far too slow for text extraction.
      - Plain text and Markdown are read directly (sl_parse_text.c), with
        encoding repair.
      - Images (PNG, JPEG, TIFF including multi-page) open in MuPDF as
        documents whose every page needs OCR.
      - DOCX, PPTX, XLSX, ODT, ODP, ODS (sl_parse_office.c): libzip for the
        container, libxml2's SAX2 push parser for the XML; structure kept as
        sl_markup (headings, lists, tables); slides and sheets are pages.
      - EML and MBOX (sl_parse_mail.c, GMime): the message text is the
        document; attachments go to opts->on_attachment as documents of
        their own.

    Every input is untrusted. Failures come back as -1 and a sentence a
    person can act on; nothing in here asserts on file content. Text is
    counted as pages are delivered, and a document whose text passes
    max_text_total fails ("text limit of 64 MiB exceeded at page 812")
    before the page over the limit reaches the callback.

    Thread-safety: sl_parse_file may run in several threads at once (each
    parse actor is a thread of one process). MuPDF keeps a little global
    state (the harfbuzz and openjpeg allocator hooks, lazily built AES
    tables); sl_parse serialises those through one process-wide lock and a
    one-time init, so callers need no locking of their own.
*/
#ifndef SL_PARSE_H_INCLUDED
#define SL_PARSE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Attachment callback (mail messages): a part that is a document of its
//  own, saved by the parser to the file at path (deleted after the call
//  returns). name is the attachment's file name (sanitised, never empty),
//  mime its declared type. Return 0 to continue, non-zero to stop.
typedef int (sl_attachment_fn) (void *arg, const char *name, const char *mime, const char *path);

typedef struct {
    int max_pages;              //  default 5000; more pages fails before parsing
    int max_seconds;            //  default 300, wall time for one document
    size_t max_memory;          //  default 1 GiB of live MuPDF allocations
    size_t max_text_bytes;      //  default 64 MiB, size limit for text/HTML files
    size_t max_text_total;      //  default 64 MiB of text extracted from one
                                //  document, every format: a small PDF whose
                                //  thousands of pages draw one huge content
                                //  stream would otherwise yield gigabytes
    int ocr_min_chars;          //  default 16: a PDF/XPS/CBZ page whose text layer
                                //  has fewer real (alphanumeric) characters is
                                //  delivered with needs_ocr (0: only full-page
                                //  images and image files are)
    const char *name;           //  the document's own file name ("scan.pdf"), for
                                //  the title of a document with no title and no
                                //  text; NULL: the name of the file parsed (the
                                //  parse actor reads a blob named by its sha256)
    sl_attachment_fn *on_attachment;    //  NULL: attachments are not extracted
    void *attachment_arg;
    //  Page ranges (MuPDF formats only; others ignore them): the parse
    //  actor's fan-out splits a long PDF into ranges parsed in parallel.
    //  Pages [first_page, end_page), 1-based; 0 = from the start / to the
    //  end. Page numbers, headings and page_count stay the document's, so
    //  the pages of all ranges, joined in order, are the whole parse's.
    //  max_seconds and max_text_total then hold per range.
    int first_page;
    int end_page;
    bool count_only;            //  open and count pages, deliver none
} sl_parse_opts_t;

//  Fill opts with the defaults above.
void sl_parse_opts_defaults (sl_parse_opts_t *opts);

//  One outline entry (PDF bookmarks) that starts on a page: the chunker
//  treats it as a heading at the top of that page.
typedef struct {
    int level;                  //  1 = top level
    const char *title;          //  UTF-8, NUL-terminated
} sl_heading_t;

//  One page, as a back-end delivers it. Everything is owned by the parser
//  and valid only during the callback: copy what you keep.
typedef struct {
    int page_no;                //  1-based, in page order
    int page_count;             //  the document's total
    const char *text;           //  valid UTF-8, NUL-terminated, len bytes, no NUL
    size_t len;                 //  inside; 0 for a page with no extractable text
    bool marked;                //  text carries structure in sl_markup's grammar
                                //  (headings, table rows); see engine/sl_markup.h
    bool needs_ocr;             //  no usable text layer (none, too few real
                                //  characters, or one full-page image): the ocr
                                //  stage should read this page from the document
    const sl_heading_t *headings;   //  outline entries starting on this page
    int heading_count;
} sl_page_t;

//  Page callback. Called once per page in page order. A page MuPDF could not
//  interpret arrives with len 0. Return 0 to continue, non-zero to stop
//  (sl_parse_file then fails "stopped by caller").
typedef int (sl_page_fn) (void *arg, const sl_page_t *page);

typedef struct {
    int page_count;             //  pages in the document (after layout for EPUB/FB2)
    int pages_failed;           //  pages MuPDF could not load; delivered empty
    int pages_need_ocr;         //  pages delivered with needs_ocr
    int attachments;            //  attachments handed to on_attachment
    size_t peak_memory;         //  peak live bytes in MuPDF's allocator (0 for text/HTML)
    char title [512];           //  metadata title, else first heading/line, else file name
    char format [32];           //  "pdf", "epub", "xps", "cbz", "fb2", "mobi",
                                //  "image", "html", "text", "markdown", "docx",
                                //  "pptx", "xlsx", "odt", "odp", "ods", "eml",
                                //  "mbox"
} sl_parse_info_t;

//  Parse the file at path, whose MIME type (sniffed by fetch; parameters such
//  as "; charset=" are ignored) is mime. mime may be NULL or
//  "application/octet-stream", in which case the format is guessed from magic
//  bytes and then the file extension. opts may be NULL for defaults; info may
//  be NULL. Returns 0 on success, or -1 with a reason in err (always NUL-
//  terminated when errlen > 0); info is filled as far as parsing got. Every
//  failure is permanent for this file (retrying gives the same result) except
//  an I/O error opening it, whose reason starts with "cannot open".
int sl_parse_file (const sl_parse_opts_t *opts, const char *path, const char *mime,
                   sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen);

//  Self-test; writes every document it reads itself (in a temporary folder).
void sl_parse_test (bool verbose);

#endif
