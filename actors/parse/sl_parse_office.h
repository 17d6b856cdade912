/*  sl_parse_office: what the Office (sl_parse_ooxml.c) and OpenDocument
    (sl_parse_odf.c) walkers share. Internal to the parse back-end: the
    entry point sl_parse_office is declared in sl_parse_internal.h.

    sl_office_t is one document being turned into marked pages: the open
    container, the page being written, the pages already finished, the
    text ceiling and the first failure. Walkers write through sl_markup's
    writers with sl_office_put as the put function, into self->out (the
    page, or a scratch buffer when a slide's title must come first).

    Pages are kept until the document is read, then delivered with their
    total known (a DOCX or ODT has no page count until its end). That costs
    no more than the text ceiling: every byte any buffer here holds is
    counted against max_text_total, and the first byte over it fails the
    document ("text limit of 64 MiB exceeded at page 3").

    Tables are collected cell by cell (row, column, text) and written when
    they end: the used range becomes rows of equal width, empty rows are
    dropped, and the first non-empty row is the header. Spreadsheets that
    repeat a row or cell (OpenDocument's number-rows-repeated) expand only
    cells with text, and only up to SL_OFFICE_MAX_CELLS per table and
    SL_OFFICE_MAX_COLS columns.
*/
#ifndef SL_PARSE_OFFICE_H_INCLUDED
#define SL_PARSE_OFFICE_H_INCLUDED

#include "sl_parse_internal.h"
#include "sl_parse_xml.h"
#include "sl_parse_zip.h"

#include <stdbool.h>
#include <stdint.h>

//  A flowing document (DOCX, ODT) has no pages: one ends at an explicit
//  page break, or at the first paragraph boundary past this many bytes, so
//  a page stays a useful unit to cite
#define SL_OFFICE_PAGE_BYTES    3000
#define SL_OFFICE_MAX_COLS      512         //  columns kept per table
#define SL_OFFICE_MAX_CELLS     2000000     //  cells with text per table
#define SL_OFFICE_MAX_ENTRIES   10000       //  entries in one container
#define SL_OFFICE_RATIO         100         //  zip bomb: expansion ceiling ...
#define SL_OFFICE_RATIO_FLOOR   ((size_t) 1 << 20)  //  ... past 1 MiB

typedef struct {
    const sl_parse_opts_t *opts;
    sl_parse_info_t *info;
    sl_parse_zip_t *zip;
    int64_t deadline;
    sl_parse_buf_t page;            //  the page being written
    sl_parse_buf_t *out;            //  where writers write (usually &page)
    char **pages;                   //  finished pages
    size_t *lens;
    int count, cap;
    size_t total;                   //  bytes written out (pages, slide bodies)
    bool item;                      //  the last line written was a list item
    char heading [256];             //  first heading: title fallback
    char title [512];               //  from document properties
    bool failed;
    char err [512];
} sl_office_t;

//  sl_markup_put_fn: append to self->out, within the text ceiling; the
//  bytes count against it for good (self->total).
void sl_office_put (void *self, const char *s, size_t n);

//  Append to a walker's scratch buffer (a paragraph, a cell): it may not
//  grow past what the ceiling leaves, but is not counted in total (its
//  text is counted when written out). Returns false (and the document has
//  failed) when over it.
bool sl_office_append (sl_office_t *self, sl_parse_buf_t *buf, const char *s, size_t n);

//  Record the first failure. Returns -1.
int sl_office_fail (sl_office_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  Open a part for reading; NULL (and the document failed) if it cannot.
sl_parse_xml_t *sl_office_xml (sl_office_t *self, const char *entry);

//  Next node of xml: 1, 0 at the end, -1 with the document failed (the
//  reader's reason, or an earlier failure of the walker).
int sl_office_next (sl_office_t *self, sl_parse_xml_t *xml);

//  Set self->title from the Dublin Core title in part (meta.xml for
//  OpenDocument, docProps/core.xml for OOXML) when the part exists.
void sl_office_dc_title (sl_office_t *self, const char *part);

//  Finish the page being written (even if empty).
void sl_office_end_page (sl_office_t *self);

//  Structure writers: a heading (remembered as the title fallback), a list
//  item at nesting depth (0 = top), a paragraph of body text.
void sl_office_heading (sl_office_t *self, int level, const char *text, size_t len);
void sl_office_item (sl_office_t *self, int depth, const char *text, size_t len);
void sl_office_para (sl_office_t *self, const char *text, size_t len);

//  Resolve a relationship target against the folder of the part that
//  names it ("word", "media/a.png" -> "word/media/a.png"; "/x/y" is
//  absolute; ".." climbs). out is "" if the target leaves the container.
void sl_office_resolve (const char *dir, const char *target, char *out, size_t cap);

//  The folder of a part name ("ppt/slides/slide1.xml" -> "ppt/slides").
void sl_office_dirname (const char *part, char *out, size_t cap);

//  A table being collected
typedef struct {
    uint32_t row, col;
    size_t off, len;                //  in the table's text buffer
} sl_office_cell_t;

typedef struct {
    sl_office_cell_t *cells;
    size_t count, cap;
    sl_parse_buf_t text;
} sl_office_table_t;

//  Add one cell (ignored if it has no text or col is past the column cap).
void sl_office_table_cell (sl_office_table_t *table, sl_office_t *self,
                           uint32_t row, uint32_t col, const char *text, size_t len);

//  Write the table as rows into self->out, then empty it for reuse.
void sl_office_table_emit (sl_office_table_t *table, sl_office_t *self);

void sl_office_table_free (sl_office_table_t *table);

//  Back-ends
int sl_office_docx (sl_office_t *self);
int sl_office_pptx (sl_office_t *self);
int sl_office_xlsx (sl_office_t *self);
//  ODF: format is "odt", "odp" or "ods"
int sl_office_odf (sl_office_t *self, const char *format);

#endif
