/*  sl_markup: the document structure parse hands to chunk, written inside
    the page text itself.

    Why inside the text: pages.mp already carries one UTF-8 string per page,
    every back-end already builds that string, and a person reading an
    artifact (or a hit) can read this form as it is: it is the subset of
    Markdown that headings and pipe tables use. No second channel of byte
    offsets has to be kept in step with the text.

    A page is *marked* when its pages.mp record has "m": true (the format's
    parser wrote structure: HTML, Markdown, DOCX, ODT, PPTX, ODP, XLSX, ODS,
    EML). In a page that is not marked (PDF text, plain text, OCR), every line
    is body text, so a PDF line that begins with "# apt install" stays text.
    In a marked page, lines (separated by "\n") are:

      "# Title" .. "###### Title"   a heading of level 1..6 (one space after
                                    the hashes; the title is the rest)
      "| a | b | c |"               a table row; cells separated by " | ";
                                    a "|" inside a cell is written "\|";
                                    a run of row lines is one table, whose
                                    first row is its header
      "|---|---|"                   Markdown's header separator: a row made
                                    only of '|', '-', ':' and spaces; readers
                                    skip it
      "\" + text                    a literal body line that would otherwise
                                    read as markup ("\# not a heading");
                                    readers drop the backslash
      ""                            a paragraph break
      anything else                 body text (single newlines are soft)

    PDF outlines do not go through this: a PDF's record carries
    "h": [[level, "title"], ...] for the outline entries that start on that
    page, and the chunker treats them as headings at the top of the page.

    Pure functions, no state, thread-safe.
*/
#ifndef SL_MARKUP_H_INCLUDED
#define SL_MARKUP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    SL_LINE_TEXT,               //  body text (content = the line, unescaped)
    SL_LINE_BLANK,              //  empty or only spaces: paragraph break
    SL_LINE_HEADING,            //  content = title, *level = 1..6
    SL_LINE_ROW,                //  table row; split cells with sl_markup_cell_next
    SL_LINE_RULE                //  header separator row: skip
} sl_line_kind_t;

//  Classify one line of a marked page (line[0..len), no "\n"). Sets
//  *content / *content_len to the part to use (title, row, unescaped text)
//  and *level for headings (level may be NULL).
sl_line_kind_t sl_markup_line (const char *line, size_t len, int *level,
                               const char **content, size_t *content_len);

//  Iterate the cells of a row line (as returned by sl_markup_line). *pos
//  starts at 0. Returns true with the cell's raw text in *cell/*cell_len
//  (trimmed; "\|" still escaped: use sl_markup_unescape_cell to copy),
//  false when the row has no more cells.
bool sl_markup_cell_next (const char *row, size_t len, size_t *pos,
                          const char **cell, size_t *cell_len);

//  Copy cell[0..len) into out (capacity cap, NUL-terminated), turning "\|"
//  back into "|". Returns the bytes written (without NUL).
size_t sl_markup_unescape_cell (const char *cell, size_t len, char *out, size_t cap);

//  Writers. put(arg, bytes, n) appends to the caller's buffer; each writer
//  emits whole lines ending in "\n".
typedef void (sl_markup_put_fn) (void *arg, const char *s, size_t n);

//  "#.. title\n" (level clamped to 1..6; newlines in title become spaces).
//  An empty title writes nothing.
void sl_markup_heading (sl_markup_put_fn *put, void *arg, int level, const char *title, size_t len);

//  One table row "| c1 | c2 |\n": '|' in a cell escaped, newlines and tabs
//  in a cell become spaces, spaces trimmed.
void sl_markup_row (sl_markup_put_fn *put, void *arg, const char **cells, const size_t *lens, int n);

//  The separator row "|---|---|\n" for n columns (write it after a header).
void sl_markup_rule (sl_markup_put_fn *put, void *arg, int n);

//  A paragraph of body text followed by a blank line; each of its lines that
//  would read as markup is escaped with a leading backslash. Empty text
//  writes nothing.
void sl_markup_para (sl_markup_put_fn *put, void *arg, const char *text, size_t len);

void sl_markup_test (bool verbose);

#endif
