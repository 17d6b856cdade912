/*  sl_parse_odf: OpenDocument (ODT, ODP, ODS) as marked pages.

    Everything is in content.xml (one streaming pass) and the title in
    meta.xml. The three formats share one walker, as they share their text
    and table elements:

      - text:h is a heading (text:outline-level, default 1), text:p a
        paragraph, a paragraph inside text:list an item ("- ", indented by
        nesting); notes, annotations and tracked changes are left out;
      - table:table is a table: table:number-rows-repeated and
        number-columns-repeated are expanded for cells that have text only
        (a sheet's trailing empty rows repeat a million times), within the
        table ceilings of sl_parse_office.h;
      - ODT: pages end where an automatic paragraph style says
        fo:break-before/after="page", else at the first paragraph boundary
        past 3,000 bytes (as DOCX);
      - ODP: one page per draw:page; the title frame's text is the heading,
        then the body, then presentation:notes after a "Notes:" line;
      - ODS: one page per table:table, its name the heading, its used range
        one table.
*/
#include "sl_parse_office.h"
#include "sl_markup.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_BREAK_STYLES  1000    //  page-breaking styles kept (looked up per paragraph)

typedef enum { S_ODT, S_ODP, S_ODS } s_mode_t;

typedef struct {
    sl_office_t *office;
    s_mode_t mode;
    int skip;                   //  depth inside a subtree left out
    //  Paragraph
    int para, level, list;
    bool break_before, break_after;
    sl_parse_buf_t text;
    //  Automatic styles that break pages (ODT)
    char **breaks;              //  "name\0" + 'b'efore / 'a'fter flag
    int nbreaks, cap_breaks;
    char style [128];           //  the style being read
    //  Tables
    int tbl;
    uint32_t row, col;
    long row_rep, col_rep;
    sl_parse_buf_t cell;
    sl_office_table_t row_cells;    //  the row being read, repeated at its end
    sl_office_table_t table;
    //  ODP
    int title_frame;
    bool notes;
    sl_parse_buf_t title, body, notes_text;
} s_odf_t;

//  --------------------------------------------------------------------------
//  Page-breaking automatic styles

static void
s_break_add (s_odf_t *odf, const char *name, char flag)
{
    if (odf->nbreaks >= S_MAX_BREAK_STYLES || !*name)
        return;
    if (odf->nbreaks == odf->cap_breaks) {
        odf->cap_breaks = odf->cap_breaks ? odf->cap_breaks * 2 : 16;
        odf->breaks = realloc (odf->breaks, (size_t) odf->cap_breaks * sizeof *odf->breaks);
        assert (odf->breaks);
    }
    size_t len = strlen (name);
    char *entry = malloc (len + 2);
    assert (entry);
    memcpy (entry, name, len);
    entry [len] = 0;
    entry [len + 1] = flag;
    odf->breaks [odf->nbreaks++] = entry;
}

//  'b', 'a' or 0 for a paragraph of style name
static char
s_break_of (s_odf_t *odf, const char *name)
{
    for (int i = 0; i < odf->nbreaks; i++)
        if (strcmp (odf->breaks [i], name) == 0)
            return odf->breaks [i] [strlen (name) + 1];
    return 0;
}

//  --------------------------------------------------------------------------
//  Paragraphs

static void
s_para_start (s_odf_t *odf, sl_parse_xml_t *xml, bool heading)
{
    if (++odf->para > 1) {
        sl_office_append (odf->office, &odf->text, " ", 1);
        return;
    }
    sl_parse_buf_reset (&odf->text);
    odf->level = 0;
    if (heading) {
        long level = sl_parse_xml_attr_int (xml, "outline-level", 1);
        odf->level = level < 1 ? 1 : level > 6 ? 6 : (int) level;
    }
    char style [128];
    sl_parse_xml_attr (xml, "style-name", style, sizeof style);
    char flag = odf->mode == S_ODT ? s_break_of (odf, style) : 0;
    odf->break_before = flag == 'b';
    odf->break_after = flag == 'a';
}

static void
s_para_end (s_odf_t *odf)
{
    if (--odf->para > 0)
        return;
    sl_office_t *self = odf->office;
    const char *text = odf->text.data ? odf->text.data : "";
    size_t len = odf->text.size;
    if (odf->tbl > 0) {
        sl_office_append (self, &odf->cell, text, len);
        sl_office_append (self, &odf->cell, " ", 1);
        return;
    }
    if (odf->mode == S_ODP && odf->title_frame && !odf->notes) {
        sl_office_append (self, &odf->title, " ", 1);
        sl_office_append (self, &odf->title, text, len);
        return;
    }
    if (odf->break_before && self->page.size && odf->mode == S_ODT)
        sl_office_end_page (self);
    if (odf->level)
        sl_office_heading (self, odf->level, text, len);
    else
    if (odf->list)
        sl_office_item (self, odf->list - 1, text, len);
    else
        sl_office_para (self, text, len);
    if (odf->mode == S_ODT && (odf->break_after || self->page.size >= SL_OFFICE_PAGE_BYTES))
        sl_office_end_page (self);
}

//  --------------------------------------------------------------------------
//  Tables

static void
s_table_start (s_odf_t *odf, sl_parse_xml_t *xml)
{
    if (odf->tbl++ > 0)
        return;
    odf->row = 0;
    if (odf->mode == S_ODS) {
        char name [256];
        sl_parse_xml_attr (xml, "name", name, sizeof name);
        sl_office_heading (odf->office, 1, name, strlen (name));
    }
}

static void
s_table_end (s_odf_t *odf)
{
    if (--odf->tbl > 0)
        return;
    sl_office_t *self = odf->office;
    sl_office_table_emit (&odf->table, self);
    if (odf->mode == S_ODS || (odf->mode == S_ODT && self->page.size >= SL_OFFICE_PAGE_BYTES))
        sl_office_end_page (self);
}

static long
s_repeat (sl_parse_xml_t *xml, const char *attr)
{
    long n = sl_parse_xml_attr_int (xml, attr, 1);
    return n < 1 ? 1 : n > 100000000 ? 100000000 : n;
}

static void
s_row_end (s_odf_t *odf)
{
    //  Repeats of a row with text expand up to the table's cell ceiling
    sl_office_table_t *cells = &odf->row_cells;
    for (long k = 0; k < odf->row_rep && cells->count && !odf->office->failed; k++)
        for (size_t i = 0; i < cells->count; i++)
            sl_office_table_cell (&odf->table, odf->office, odf->row + (uint32_t) k,
                                  cells->cells [i].col, cells->text.data + cells->cells [i].off,
                                  cells->cells [i].len);
    cells->count = 0;
    sl_parse_buf_reset (&cells->text);
    uint64_t next = (uint64_t) odf->row + (uint64_t) odf->row_rep;
    odf->row = next > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t) next;
}

static void
s_cell_end (s_odf_t *odf)
{
    const char *text = odf->cell.data ? odf->cell.data : "";
    for (long k = 0; k < odf->col_rep && odf->cell.size; k++) {
        if (odf->col + (uint64_t) k >= SL_OFFICE_MAX_COLS)
            break;
        sl_office_table_cell (&odf->row_cells, odf->office, 0, odf->col + (uint32_t) k,
                              text, odf->cell.size);
    }
    uint64_t next = (uint64_t) odf->col + (uint64_t) odf->col_rep;
    odf->col = next > SL_OFFICE_MAX_COLS ? SL_OFFICE_MAX_COLS : (uint32_t) next;
}

//  --------------------------------------------------------------------------
//  Slides (ODP)

static void
s_slide_start (s_odf_t *odf)
{
    sl_parse_buf_reset (&odf->title);
    sl_parse_buf_reset (&odf->body);
    sl_parse_buf_reset (&odf->notes_text);
    odf->office->out = &odf->body;
}

static void
s_slide_end (s_odf_t *odf)
{
    sl_office_t *self = odf->office;
    self->out = &self->page;
    if (odf->title.size)
        sl_office_heading (self, 1, odf->title.data, odf->title.size);
    if (odf->body.size)
        sl_parse_buf_append (&self->page, odf->body.data, odf->body.size);
    if (odf->notes_text.size) {
        sl_office_put (self, "Notes:\n", 7);
        sl_parse_buf_append (&self->page, odf->notes_text.data, odf->notes_text.size);
    }
    sl_office_end_page (self);
}

//  --------------------------------------------------------------------------
//  The walk

static bool
s_skipped (const char *name)
{
    return !strcmp (name, "note") || !strcmp (name, "annotation")
        || !strcmp (name, "tracked-changes") || !strcmp (name, "forms")
        || !strcmp (name, "page-thumbnail");
}

static void
s_start (s_odf_t *odf, sl_parse_xml_t *xml)
{
    const char *name = sl_parse_xml_name (xml);
    if (odf->skip || s_skipped (name)) {
        odf->skip++;
        return;
    }
    sl_office_t *self = odf->office;
    if (!strcmp (name, "p") || !strcmp (name, "h"))
        s_para_start (odf, xml, name [0] == 'h');
    else
    if (!strcmp (name, "s") && odf->para) {
        long n = sl_parse_xml_attr_int (xml, "c", 1);
        for (long i = 0; i < n && i < 64; i++)
            sl_office_append (self, &odf->text, " ", 1);
    }
    else
    if (!strcmp (name, "tab") && odf->para)
        sl_office_append (self, &odf->text, "\t", 1);
    else
    if (!strcmp (name, "line-break") && odf->para)
        sl_office_append (self, &odf->text, "\n", 1);
    else
    if (!strcmp (name, "list"))
        odf->list++;
    else
    if (!strcmp (name, "table"))
        s_table_start (odf, xml);
    else
    if (!strcmp (name, "table-row") && odf->tbl == 1) {
        odf->row_rep = s_repeat (xml, "number-rows-repeated");
        odf->col = 0;
    }
    else
    if ((!strcmp (name, "table-cell") || !strcmp (name, "covered-table-cell")) && odf->tbl == 1) {
        odf->col_rep = s_repeat (xml, "number-columns-repeated");
        sl_parse_buf_reset (&odf->cell);
    }
    else
    if (!strcmp (name, "style") && odf->mode == S_ODT)
        sl_parse_xml_attr (xml, "name", odf->style, sizeof odf->style);
    else
    if (!strcmp (name, "paragraph-properties") && odf->mode == S_ODT && odf->style [0]) {
        char value [32];
        if (sl_parse_xml_attr (xml, "break-before", value, sizeof value) && !strcmp (value, "page"))
            s_break_add (odf, odf->style, 'b');
        else
        if (sl_parse_xml_attr (xml, "break-after", value, sizeof value) && !strcmp (value, "page"))
            s_break_add (odf, odf->style, 'a');
    }
    else
    if (odf->mode == S_ODP && !strcmp (name, "page") && !odf->notes)
        s_slide_start (odf);
    else
    if (odf->mode == S_ODP && !strcmp (name, "notes")) {
        odf->notes = true;
        self->out = &odf->notes_text;
    }
    else
    if (odf->mode == S_ODP && !strcmp (name, "frame")) {
        char class [32];
        sl_parse_xml_attr (xml, "class", class, sizeof class);
        if (odf->title_frame || !strcmp (class, "title"))
            odf->title_frame++;
    }
}

static void
s_end (s_odf_t *odf, sl_parse_xml_t *xml)
{
    if (odf->skip) {
        odf->skip--;
        return;
    }
    const char *name = sl_parse_xml_name (xml);
    if ((!strcmp (name, "p") || !strcmp (name, "h")) && odf->para)
        s_para_end (odf);
    else
    if (!strcmp (name, "list") && odf->list)
        odf->list--;
    else
    if (!strcmp (name, "table") && odf->tbl)
        s_table_end (odf);
    else
    if (!strcmp (name, "table-row") && odf->tbl == 1)
        s_row_end (odf);
    else
    if ((!strcmp (name, "table-cell") || !strcmp (name, "covered-table-cell")) && odf->tbl == 1)
        s_cell_end (odf);
    else
    if (!strcmp (name, "style"))
        odf->style [0] = 0;
    else
    if (odf->mode == S_ODP && !strcmp (name, "notes") && odf->notes) {
        odf->notes = false;
        odf->office->out = &odf->body;
    }
    else
    if (odf->mode == S_ODP && !strcmp (name, "page") && !odf->notes)
        s_slide_end (odf);
    else
    if (odf->mode == S_ODP && !strcmp (name, "frame") && odf->title_frame)
        odf->title_frame--;
}

int
sl_office_odf (sl_office_t *self, const char *format)
{
    sl_office_dc_title (self, "meta.xml");
    s_odf_t odf = { .office = self };
    odf.mode = !strcmp (format, "odp") ? S_ODP : !strcmp (format, "ods") ? S_ODS : S_ODT;
    sl_parse_xml_t *xml = sl_office_xml (self, "content.xml");
    while (xml && sl_office_next (self, xml) > 0) {
        switch (sl_parse_xml_type (xml)) {
            case SL_XML_START:
                s_start (&odf, xml);
                break;
            case SL_XML_END:
                s_end (&odf, xml);
                break;
            case SL_XML_TEXT:
                if (odf.para && !odf.skip) {
                    const char *text = sl_parse_xml_text (xml);
                    sl_office_append (self, &odf.text, text, strlen (text));
                }
                break;
        }
    }
    sl_parse_xml_destroy (&xml);
    self->out = &self->page;
    for (int i = 0; i < odf.nbreaks; i++)
        free (odf.breaks [i]);
    free (odf.breaks);
    sl_parse_buf_free (&odf.text);
    sl_parse_buf_free (&odf.cell);
    sl_parse_buf_free (&odf.title);
    sl_parse_buf_free (&odf.body);
    sl_parse_buf_free (&odf.notes_text);
    sl_office_table_free (&odf.row_cells);
    sl_office_table_free (&odf.table);
    return self->failed ? -1 : 0;
}
