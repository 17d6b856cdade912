/*  sl_sniff: decide what a downloaded document really is.

    The fetch stage calls this on the first bytes of a body so that the parse
    stage can pick a parser from one canonical MIME string. The bytes are
    trusted over what the server or the file name claims: a ".pdf" link that
    serves an HTML error page is HTML, not a broken PDF. Order of evidence:

      1. magic bytes: PDF (%PDF- anywhere in the first 1024 bytes, as MuPDF
         tolerates leading junk), ZIP containers told apart by their entry
         names (EPUB, CBZ, XPS/OXPS; DOCX, PPTX, XLSX by their word/, ppt/,
         xl/ parts; ODT, ODP, ODS by the type in their first entry,
         "mimetype"), images (PNG, JPEG, TIFF), FB2, HTML, XHTML, mail (an
         RFC 5322 header block of known fields: EML; a "From " line then
         one: MBOX), a few common binary formats (gzip, OLE) so errors can
         name them;
      2. the declared Content-Type (parameters and case ignored);
      3. the file name's extension (.md, .txt, .html, ...);
      4. a text/binary heuristic: valid UTF-8 or mostly printable Latin-1 is
         text/plain, anything else is application/octet-stream.

    Claims from 2 and 3 never override the bytes: a binary head cannot
    become text, and only bytes can make a PDF or a ZIP container.

    Pure functions, no state, thread-safe. Returned strings are static
    constants (compare them with strcmp against the SL_MIME_ macros).
*/
#ifndef SL_SNIFF_H_INCLUDED
#define SL_SNIFF_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Canonical MIME types sl_sniff_mime returns for supported documents
#define SL_MIME_PDF         "application/pdf"
#define SL_MIME_EPUB        "application/epub+zip"
#define SL_MIME_CBZ         "application/vnd.comicbook+zip"
#define SL_MIME_XPS         "application/vnd.ms-xpsdocument"
#define SL_MIME_OXPS        "application/oxps"
#define SL_MIME_FB2         "application/x-fictionbook+xml"
#define SL_MIME_HTML        "text/html"
#define SL_MIME_XHTML       "application/xhtml+xml"
#define SL_MIME_MARKDOWN    "text/markdown"
#define SL_MIME_TEXT        "text/plain"
#define SL_MIME_PNG         "image/png"
#define SL_MIME_JPEG        "image/jpeg"
#define SL_MIME_TIFF        "image/tiff"
#define SL_MIME_DOCX        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
#define SL_MIME_PPTX        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
#define SL_MIME_XLSX        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#define SL_MIME_ODT         "application/vnd.oasis.opendocument.text"
#define SL_MIME_ODP         "application/vnd.oasis.opendocument.presentation"
#define SL_MIME_ODS         "application/vnd.oasis.opendocument.spreadsheet"
#define SL_MIME_EML         "message/rfc822"
#define SL_MIME_MBOX        "application/mbox"
//  ... and for things the pipeline cannot ingest
#define SL_MIME_BINARY      "application/octet-stream"
#define SL_MIME_EMPTY       "application/x-empty"
#define SL_MIME_ZIP         "application/zip"
#define SL_MIME_XML         "application/xml"
//  An OLE compound file: a password-protected (encrypted) OOXML document,
//  or a legacy binary .doc / .xls / .ppt
#define SL_MIME_OLE         "application/x-ole-storage"

//  How many leading bytes of a document sl_sniff_mime wants to see; fewer
//  work (short documents), more are ignored.
#define SL_SNIFF_HEAD 16384

//  Return the canonical MIME type of a document from its first n bytes
//  (head may be NULL if n is 0), the declared Content-Type (may be NULL,
//  parameters allowed) and a file name or path (may be NULL). Never NULL;
//  the string is static.
const char *sl_sniff_mime (const void *head, size_t n, const char *declared_mime,
                           const char *filename);

//  True if the pipeline has a parser for this canonical MIME type.
bool sl_sniff_supported (const char *mime);

void sl_sniff_test (bool verbose);

#endif
